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
