package local

import (
	"errors"
	"io/fs"
	"os"
	"sync"
)

// maxDirHandles is how many directories a root keeps open for Put. The
// gateway writes into a handful (the blob and meta-record directories);
// beyond the limit a Put opens the directory it needs and closes it after.
const maxDirHandles = 64

// dirHandles keeps the directories Put writes into open, so that a small
// Put creates its temporary file, renames it and fsyncs the directory
// through descriptors it already holds instead of walking the path through
// the os.Root for each of those steps (three opens and closes of
// directories, and the non-blocking probes Go makes on every file it
// opens). The root's rules still hold: every handle is opened through the
// os.Root, and names used relative to a handle are single path segments
// (a random temporary name, or the last segment of a name that
// backends.ValidName accepted).
//
// A handle of a destination directory is used only while a Stat of the
// directory's path through the root finds the same directory (device and
// inode): a directory removed or replaced by hand is opened anew. The
// temporary directory's handle is dropped when creating a file in it fails
// because it was removed.
type dirHandles struct {
	mu   sync.Mutex
	tmp  *os.File            // tmpDir; nil: not open
	open map[string]*dirFile // destination directories by path
	all  []*os.File          // every handle opened, closed by close
}

// dirFile is an open directory and the identity it had when opened.
type dirFile struct {
	f  *os.File
	id os.FileInfo
}

// tmpDir returns the open temporary directory of root.
func (h *dirHandles) tmpDir(root *os.Root) (*os.File, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tmp != nil {
		return h.tmp, nil
	}
	f, err := root.Open(tmpDir)
	if err != nil {
		return nil, err
	}
	h.tmp = f
	h.all = append(h.all, f)
	return f, nil
}

// dropTmp forgets the temporary directory's handle f (it was removed); the
// next tmpDir opens the one at the path.
func (h *dirHandles) dropTmp(f *os.File) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tmp == f {
		h.tmp = nil
	}
}

// dir returns an open handle of the directory dir, whose identity a Stat
// of it through root has just returned as id. release is true when the
// handle is not kept and the caller must close it.
func (h *dirHandles) dir(root *os.Root, dir string, id os.FileInfo) (f *os.File, release bool, err error) {
	h.mu.Lock()
	if d := h.open[dir]; d != nil && os.SameFile(d.id, id) {
		h.mu.Unlock()
		return d.f, false, nil
	}
	h.mu.Unlock()
	f, err = root.Open(dir)
	if err != nil {
		return nil, false, err
	}
	fid, err := f.Stat()
	if err == nil && !fid.IsDir() {
		err = &fs.PathError{Op: "open", Path: dir, Err: errors.New("not a directory")}
	}
	if err != nil {
		f.Close()
		return nil, false, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.open == nil {
		h.open = make(map[string]*dirFile)
	}
	if _, replacing := h.open[dir]; !replacing && len(h.open) >= maxDirHandles {
		return f, true, nil
	}
	// A replaced handle stays open until close: a Put may still be
	// using it.
	h.open[dir] = &dirFile{f: f, id: fid}
	h.all = append(h.all, f)
	return f, false, nil
}

// sync fsyncs dir through its kept handle if there is one for the
// directory whose identity a Stat through the root has just returned as
// id; ok is false when there is none.
func (h *dirHandles) sync(dir string, id os.FileInfo) (ok bool, err error) {
	h.mu.Lock()
	d := h.open[dir]
	h.mu.Unlock()
	if d == nil || !os.SameFile(d.id, id) {
		return false, nil
	}
	return true, d.f.Sync()
}

// close closes every handle.
func (h *dirHandles) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, f := range h.all {
		errs = append(errs, f.Close())
	}
	h.all, h.open, h.tmp = nil, nil, nil
	return errors.Join(errs...)
}
