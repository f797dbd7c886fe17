//go:build !linux

package catalog

// dropMapped does nothing where MADV_DONTNEED on a file mapping is not
// known to keep the mapping's contents.
func dropMapped(addr, n uintptr) {}
