package local

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback starts writeback of n bytes of f from off and returns
// without waiting (sync_file_range with SYNC_FILE_RANGE_WRITE). It is a
// hint: durability still comes from the fsync at the end of Put, so an
// error is ignored.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// syncFS makes every file of the file system holding dir durable
// (syncfs(2)); since Linux 5.8 it reports writeback errors of the file
// system that happened since dir was opened.
func syncFS(dir *os.File) error {
	return unix.Syncfs(int(dir.Fd()))
}

// writebackErr reports a writeback error of f that happened since it was
// opened, or since the last time one was reported (sync_file_range waits
// for any writeback in flight and checks the file's error state without
// flushing the device).
func writebackErr(f *os.File) error {
	return unix.SyncFileRange(int(f.Fd()), 0, 0,
		unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
}
