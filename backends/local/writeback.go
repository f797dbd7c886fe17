package local

import (
	"errors"
	"io"
	"os"
)

// writebackEvery is how much a Put writes before it asks the kernel to
// start writing it back.
const writebackEvery = 8 << 20

// writebackWriter writes to a file and, after every writebackEvery bytes,
// starts writeback of what it wrote without waiting for it (where the
// system can: see startWriteback). The fsync at the end of a large Put
// then finds most of the file already on its way to the disk instead of
// all of it dirty in memory, and the dirty pages of one upload never pile
// up to the kernel's limits.
type writebackWriter struct {
	f       *os.File
	off     int64 // bytes written
	started int64 // bytes whose writeback has been started
}

func (w *writebackWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.started >= writebackEvery {
		startWriteback(w.f, w.started, w.off-w.started)
		w.started = w.off
	}
	return n, err
}

var _ io.Writer = (*writebackWriter)(nil)

// errNoSyncFS is syncFS's answer where no system call syncs one file
// system.
var errNoSyncFS = errors.New("no syncfs on this system")
