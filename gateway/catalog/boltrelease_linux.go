package catalog

import "golang.org/x/sys/unix"

// dropMapped tells the kernel that the n bytes of the shared read-only file
// mapping at addr are not needed: their page table entries go, the pages
// stay in the page cache, and the next read maps them again with the same
// contents (madvise(2), MADV_DONTNEED on a file mapping).
func dropMapped(addr, n uintptr) {
	if n == 0 {
		return
	}
	_, _, _ = unix.Syscall(unix.SYS_MADVISE, addr, n, unix.MADV_DONTNEED)
}
