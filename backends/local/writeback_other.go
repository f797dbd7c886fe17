//go:build !linux

package local

import "os"

// startWriteback does nothing where sync_file_range does not exist; the
// fsync at the end of Put writes everything.
func startWriteback(*os.File, int64, int64) {}

// syncFS reports errNoSyncFS: files are fsynced one by one.
func syncFS(*os.File) error { return errNoSyncFS }

// writebackErr is never called where syncFS does not exist.
func writebackErr(*os.File) error { return nil }
