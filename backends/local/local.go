// Package local implements a backends.Backend on a local directory.
//
// # Layout
//
// An object name maps directly to a path under the root: "b/3f2a" is the file
// root/b/3f2a. There is no fan-out, so a name is never ambiguous and a
// listing is a sorted walk of the tree. Names are validated with
// backends.ValidName, and every file system call goes through an os.Root, so
// neither ".." nor a symbolic link can reach outside the root. One name
// cannot be both an object and a directory of other objects ("b/x" and
// "b/x/y"); such a Put fails. A segment longer than the file system allows
// (255 bytes on most) is ErrInvalidName.
//
// # Durability and atomicity
//
// Put writes to a fresh temporary file in root/~tmp (a directory name that is
// not a valid object name, so it is never listed), fsyncs it, renames it over
// the destination and fsyncs the destination's directory (one fsync of a
// directory serves every rename made into it before the fsync began, so
// concurrent Puts share them). Files of up to 1 MiB written while another
// one is being synced share one sync of the whole file system instead of an
// fsync each (syncfs on Linux, followed by a check of each file's own
// writeback errors; see fileSyncer); a Put still returns only once its file
// and its directory entry are durable. Readers therefore
// see the old file or the complete new one, and a crash leaves at most a
// stray temporary file. Directories that Put creates are fsynced into their
// parents. Delete fsyncs the directory it removed the file from and leaves
// empty directories in place.
//
// Stray temporary files are removed when the directory is opened, once they
// have not been written for StaleTemp, and by SweepTemp (which garbage
// collection calls with its grace period). Files that are younger may belong
// to a write in progress in another process that serves the same directory
// (gateway instances on a shared file system, or a maintenance command run
// beside serve), so they are left alone.
//
// Symbolic links that stay inside the root are followed by Get and Stat (the
// os.Root rules) but never listed; links that lead outside fail.
//
// # A directory that vanishes
//
// Every request first checks that a directory still exists at the root path
// and is the one the backend has open (same device and inode). While none
// exists (deleted, or the file system that held it not mounted) every
// request fails with ErrMissing, which wraps backends.ErrUnavailable: the
// backend never creates its root again by itself, since a path whose file
// system is not mounted would then put the data on the wrong disk. When a
// directory appears at the path again (created anew, or mounted), the next
// request opens it and carries on; objects it lacks are the replicated
// set's business (a wiped provider is refilled by the gateway). A root that
// was emptied by hand but not removed gets its temporary directory back on
// the next Put. Open never creates the root; New creates it first, for
// callers acting on an operator's request.
//
// # Listing cost
//
// List reads, sorts and binary-searches only the directories on the way to
// the first name after startAfter and then walks forward until the page is
// full. With the flat b/ and m/ directories one page costs one read of each
// directory it touches, so listing n objects in pages of p costs O(n*n/p)
// directory entries read; file systems with hashed directories (ext4, xfs)
// keep lookups fast at millions of entries.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twincrypt/twincrypt/backends"
)

// StaleTemp is the age (since its last write) after which opening the
// directory removes a temporary file: no write in progress stays silent
// that long.
const StaleTemp = time.Hour

// tmpDir holds files being written. '~' is not allowed in object names, so
// this directory can never collide with an object or appear in a listing.
const tmpDir = "~tmp"

// copyBufferSize is the buffer Put copies bodies through.
const copyBufferSize = 64 << 10

// defaultPageSize is the page size used when List is called with limit <= 0.
const defaultPageSize = 1000

// ErrMissing means that no directory exists at the backend's root path: it
// was deleted, or the file system that holds it is not mounted. It wraps
// backends.ErrUnavailable.
var ErrMissing = fmt.Errorf("directory missing: %w", backends.ErrUnavailable)

// errClosed is returned by requests made after Close.
var errClosed = errors.New("backend closed")

// Backend stores objects as files under a root directory. It is safe for
// concurrent use.
type Backend struct {
	name string
	path string // the root directory as configured

	cur atomic.Pointer[rootDir] // the directory open at path

	mu     sync.Mutex // serialises opening; guards old and closed
	old    []*rootDir // directories that path named before, closed by Close
	closed bool
}

// rootDir is one open instance of the root directory.
type rootDir struct {
	root  *os.Root
	id    os.FileInfo // its identity (device and inode), for os.SameFile
	dirs  *dirSyncer  // fsyncs of directories after renames and removals
	files *fileSyncer // fsyncs of small files, shared among concurrent Puts
}

var _ backends.Backend = (*Backend)(nil)

// New creates the directory root if needed and opens it as the backend
// called name (see Open). It is for callers acting on an operator's request
// (init, repair, recover); a server should use Open, which never creates
// the directory.
func New(name, root string) (*Backend, error) {
	if err := checkArgs(name, root); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("local backend %s: %w", name, err)
	}
	b, err := Open(name, root)
	if err != nil {
		return nil, err
	}
	if _, err := b.dir(); err != nil {
		b.Close()
		return nil, fmt.Errorf("local backend %s: %w", name, err)
	}
	return b, nil
}

// Open opens the directory root as the backend called name, without
// creating it, and removes temporary files left behind by interrupted
// writes. A missing directory is not an error: the backend then answers
// every request with ErrMissing until a directory appears at root, and
// opens it then. Any other problem with root (not a directory, no
// permission) is.
func Open(name, root string) (*Backend, error) {
	if err := checkArgs(name, root); err != nil {
		return nil, err
	}
	b := &Backend{name: name, path: root}
	if _, err := b.dir(); err != nil && !errors.Is(err, ErrMissing) {
		b.Close()
		return nil, fmt.Errorf("local backend %s: %w", name, err)
	}
	return b, nil
}

func checkArgs(name, root string) error {
	if name == "" {
		return errors.New("local backend: empty name")
	}
	if root == "" {
		return fmt.Errorf("local backend %s: empty root directory", name)
	}
	return nil
}

// dir returns the directory open at the root path, opening it when it is
// not open yet or when another directory has taken its place (deleted and
// created again, or a file system mounted there).
func (b *Backend) dir() (*rootDir, error) {
	fi, err := os.Stat(b.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %s", ErrMissing, b.path)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", backends.ErrUnavailable, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("%w: %s is not a directory", backends.ErrUnavailable, b.path)
	}
	if d := b.cur.Load(); d != nil && os.SameFile(d.id, fi) {
		return d, nil
	}
	return b.open()
}

// open opens the directory at the root path, makes it the current one and
// clears its temporary directory.
func (b *Backend) open() (*rootDir, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errClosed
	}
	r, err := os.OpenRoot(b.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrMissing, b.path)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", backends.ErrUnavailable, err)
	}
	id, err := r.Stat(".")
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("%w: %w", backends.ErrUnavailable, err)
	}
	if d := b.cur.Load(); d != nil && os.SameFile(d.id, id) {
		r.Close() // opened by another request meanwhile
		return d, nil
	}
	if err := r.Mkdir(tmpDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		r.Close()
		return nil, err
	}
	d := &rootDir{root: r, id: id}
	if _, err := d.sweepTemp(time.Now().Add(-StaleTemp)); err != nil {
		r.Close()
		return nil, fmt.Errorf("removing stale temporary files: %w", err)
	}
	d.dirs = newDirSyncer(d.syncDir)
	d.files = &fileSyncer{one: (*os.File).Sync, all: d.syncFS, check: writebackErr}
	if old := b.cur.Swap(d); old != nil {
		// Requests still running in the old directory finish (or fail)
		// there; it is closed with the backend.
		b.old = append(b.old, old)
	}
	return d, nil
}

// Check reports whether the backend's directory is there and can be
// opened: nil, an error wrapping ErrMissing, or another error wrapping
// backends.ErrUnavailable. It reads no directory, however large.
func (b *Backend) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return &backends.Error{Backend: b.name, Op: "check", Err: err}
	}
	if _, err := b.current("check", ""); err != nil {
		return err
	}
	return nil
}

// Name returns the backend's configured name.
func (b *Backend) Name() string { return b.name }

// Root returns the directory the backend stores its objects in.
func (b *Backend) Root() string { return b.path }

// Close releases the backend's handles on its root directory.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	var errs []error
	if d := b.cur.Swap(nil); d != nil {
		errs = append(errs, d.root.Close())
	}
	for _, d := range b.old {
		errs = append(errs, d.root.Close())
	}
	b.old = nil
	return errors.Join(errs...)
}

// current returns the open root directory for a request, or the request's
// error.
func (b *Backend) current(op, name string) (*rootDir, error) {
	d, err := b.dir()
	if err != nil {
		return nil, &backends.Error{Backend: b.name, Op: op, Name: name, Err: err}
	}
	return d, nil
}

// err wraps an error of a request made in directory d. "No such file"
// means ErrNotFound only while d is still the directory at the root path:
// if the directory vanished or was replaced meanwhile, the request learnt
// nothing about the object and the error is ErrUnavailable.
func (b *Backend) err(d *rootDir, op, name string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		if now, derr := b.dir(); derr != nil {
			err = fmt.Errorf("%w (%w)", derr, err)
		} else if now != d {
			err = fmt.Errorf("%w: directory replaced during the request: %w", backends.ErrUnavailable, err)
		} else {
			err = fmt.Errorf("%w: %w", backends.ErrNotFound, err)
		}
	case errors.Is(err, syscall.ENAMETOOLONG):
		err = fmt.Errorf("%w: %w", backends.ErrInvalidName, err)
	}
	return &backends.Error{Backend: b.name, Op: op, Name: name, Err: err}
}

// putErr wraps an error of a Put made in directory d. A file or directory
// that went missing during a Put says nothing about the object: the
// directory was emptied or removed meanwhile, which is an availability
// problem.
func (b *Backend) putErr(d *rootDir, name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		if _, derr := b.dir(); derr != nil {
			err = fmt.Errorf("%w (%w)", derr, err)
		} else {
			err = fmt.Errorf("%w: %w", backends.ErrUnavailable, err)
		}
		return &backends.Error{Backend: b.name, Op: "put", Name: name, Err: err}
	}
	return b.err(d, "put", name, err)
}

func (b *Backend) check(ctx context.Context, op, name string) error {
	if !backends.ValidName(name) {
		return &backends.Error{Backend: b.name, Op: op, Name: name, Err: backends.ErrInvalidName}
	}
	if err := ctx.Err(); err != nil {
		return &backends.Error{Backend: b.name, Op: op, Name: name, Err: err}
	}
	return nil
}

// Put stores r under name, replacing any previous object atomically.
func (b *Backend) Put(ctx context.Context, name string, r io.Reader, size int64) (err error) {
	if err := b.check(ctx, "put", name); err != nil {
		return err
	}
	if size < -1 {
		return &backends.Error{Backend: b.name, Op: "put", Name: name, Err: fmt.Errorf("%w: negative size %d", backends.ErrPrecondition, size)}
	}
	d, err := b.current("put", name)
	if err != nil {
		return err
	}
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return b.err(d, "put", name, err)
	}
	tmp := tmpDir + "/" + hex.EncodeToString(rnd[:])
	f, err := d.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		// The temporary directory is gone: the root was emptied by
		// hand. It is still the root (d is current), so make it again.
		if merr := d.root.Mkdir(tmpDir, 0o700); merr == nil || errors.Is(merr, fs.ErrExist) {
			f, err = d.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		}
	}
	if err != nil {
		return b.putErr(d, name, err)
	}
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil {
			d.root.Remove(tmp)
		}
	}()
	body := backends.ExactReader(ctx, r, size)
	// A copy buffer no larger than the body needs (*os.File's ReadFrom
	// would allocate 32 KiB for every Put, however small), into a writer
	// that starts writeback as it goes.
	buf := backends.CopyBuffer(size, copyBufferSize)
	written, err := io.CopyBuffer(&writebackWriter{f: f}, body, buf)
	if err != nil {
		return b.err(d, "put", name, err)
	}
	if written <= groupSyncMax {
		err = d.files.Sync(f)
	} else {
		err = f.Sync()
	}
	if err != nil {
		return b.err(d, "put", name, err)
	}
	if err := f.Close(); err != nil {
		f = nil
		return b.err(d, "put", name, err)
	}
	f = nil
	if err := ctx.Err(); err != nil {
		return b.err(d, "put", name, err)
	}
	dir := path.Dir(name)
	if err := d.mkdirs(dir); err != nil {
		return b.putErr(d, name, err)
	}
	if err := d.root.Rename(tmp, name); err != nil {
		return b.putErr(d, name, err)
	}
	if err := d.dirs.Sync(dir); err != nil {
		return b.putErr(d, name, err)
	}
	return nil
}

// mkdirs creates dir and any missing parents, and fsyncs the parent of
// every directory it creates so that the new entries survive a crash.
func (d *rootDir) mkdirs(dir string) error {
	if dir == "." {
		return nil
	}
	if fi, err := d.root.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	if err := d.mkdirs(path.Dir(dir)); err != nil {
		return err
	}
	if err := d.root.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) { // created concurrently, or a file
			fi, serr := d.root.Stat(dir)
			if serr == nil && fi.IsDir() {
				return nil
			}
		}
		return err
	}
	return d.syncDir(path.Dir(dir))
}

// syncFS syncs the file system that holds the root.
func (d *rootDir) syncFS() error {
	f, err := d.root.Open(".")
	if err != nil {
		return err
	}
	err = syncFS(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (d *rootDir) syncDir(dir string) error {
	f, err := d.root.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Get returns a reader over length bytes of the object starting at offset.
func (b *Backend) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if err := b.check(ctx, "get", name); err != nil {
		return nil, err
	}
	if offset < 0 || length < -1 {
		return nil, &backends.Error{Backend: b.name, Op: "get", Name: name,
			Err: fmt.Errorf("%w: invalid range offset %d length %d", backends.ErrPrecondition, offset, length)}
	}
	d, err := b.current("get", name)
	if err != nil {
		return nil, err
	}
	f, err := d.root.Open(name)
	if err != nil {
		return nil, b.err(d, "get", name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, b.err(d, "get", name, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, b.err(d, "get", name, fs.ErrNotExist)
	}
	if offset > fi.Size() {
		f.Close()
		return nil, b.err(d, "get", name, fmt.Errorf("%w: offset %d beyond end of %d-byte object", backends.ErrPrecondition, offset, fi.Size()))
	}
	n := fi.Size() - offset
	if length >= 0 && length < n {
		n = length
	}
	return &fileReader{ctx: ctx, f: f, r: io.NewSectionReader(f, offset, n)}, nil
}

// fileReader reads a section of an open file and stops once its context is
// done.
type fileReader struct {
	ctx context.Context
	f   *os.File
	r   *io.SectionReader
}

func (r *fileReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func (r *fileReader) Close() error { return r.f.Close() }

// Stat returns the object's size and modification time.
func (b *Backend) Stat(ctx context.Context, name string) (backends.Info, error) {
	if err := b.check(ctx, "stat", name); err != nil {
		return backends.Info{}, err
	}
	d, err := b.current("stat", name)
	if err != nil {
		return backends.Info{}, err
	}
	fi, err := d.root.Stat(name)
	if err != nil {
		return backends.Info{}, b.err(d, "stat", name, err)
	}
	if !fi.Mode().IsRegular() {
		return backends.Info{}, b.err(d, "stat", name, fs.ErrNotExist)
	}
	return backends.Info{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete removes the object; a missing object is not an error.
func (b *Backend) Delete(ctx context.Context, name string) error {
	if err := b.check(ctx, "delete", name); err != nil {
		return err
	}
	d, err := b.current("delete", name)
	if err != nil {
		return err
	}
	fi, err := d.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	if err != nil {
		return b.err(d, "delete", name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil // a directory of other objects, not an object
	}
	if err := d.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return b.err(d, "delete", name, err)
	}
	if err := d.dirs.Sync(path.Dir(name)); err != nil {
		return b.err(d, "delete", name, err)
	}
	return nil
}

// List returns up to limit objects whose names start with prefix and sort
// after startAfter, in byte order.
func (b *Backend) List(ctx context.Context, prefix, startAfter string, limit int) (backends.ListPage, error) {
	if prefix != "" && !backends.ValidName(prefix+"x") {
		return backends.ListPage{}, &backends.Error{Backend: b.name, Op: "list", Err: fmt.Errorf("%w: prefix %q", backends.ErrInvalidName, prefix)}
	}
	if err := ctx.Err(); err != nil {
		return backends.ListPage{}, &backends.Error{Backend: b.name, Op: "list", Err: err}
	}
	d, err := b.current("list", "")
	if err != nil {
		return backends.ListPage{}, err
	}
	if limit <= 0 {
		limit = defaultPageSize
	}
	w := walker{ctx: ctx, root: d.root, prefix: prefix, after: startAfter, limit: limit + 1}
	if err := w.walk("."); err != nil && !errors.Is(err, errPageFull) {
		return backends.ListPage{}, &backends.Error{Backend: b.name, Op: "list", Err: err}
	}
	if len(w.items) == 0 {
		// An empty listing is an answer only from the directory that is
		// still at the root path, not from one removed meanwhile.
		if now, err := b.dir(); err != nil {
			return backends.ListPage{}, &backends.Error{Backend: b.name, Op: "list", Err: err}
		} else if now != d {
			return backends.ListPage{}, &backends.Error{Backend: b.name, Op: "list",
				Err: fmt.Errorf("%w: directory replaced during the listing", backends.ErrUnavailable)}
		}
	}
	page := backends.ListPage{Items: w.items}
	if len(w.items) > limit {
		page.Items = w.items[:limit]
		page.Next = page.Items[limit-1].Name
	}
	return page, nil
}

var errPageFull = errors.New("page full")

// walker collects objects in byte order of their names.
type walker struct {
	ctx    context.Context
	root   *os.Root
	prefix string
	after  string
	limit  int
	items  []backends.Info
}

// entry is a directory entry with the key it sorts by: the name for a file,
// the name and a slash for a directory, so that "b-x" < "b/..." < "b0".
type entry struct {
	key   string
	isDir bool
}

// walk visits the directory dir ("." for the root), whose objects' names
// start with dir+"/".
func (w *walker) walk(dir string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	base := ""
	if dir != "." {
		base = dir + "/"
	}
	d, err := w.root.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // removed by a concurrent Delete of its last object
	}
	if err != nil {
		return err
	}
	des, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return err
	}
	entries := make([]entry, 0, len(des))
	for _, de := range des {
		n := de.Name()
		if !backends.ValidName(n) {
			continue // the temporary directory or foreign files
		}
		if de.IsDir() {
			entries = append(entries, entry{n + "/", true})
		} else if de.Type().IsRegular() {
			entries = append(entries, entry{n, false})
		}
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	// Skip entries whose subtree sorts entirely before startAfter.
	start, _ := slices.BinarySearchFunc(entries, w.after, func(e entry, after string) int {
		full := base + e.key
		if e.isDir && strings.HasPrefix(after, full) {
			return 0 // startAfter lies inside this directory
		}
		return strings.Compare(full, after)
	})
	for _, e := range entries[start:] {
		full := base + e.key
		if !e.isDir {
			if full <= w.after {
				continue
			}
			if !strings.HasPrefix(full, w.prefix) {
				if full > w.prefix {
					return errPageFull // past every name with the prefix
				}
				continue
			}
			fi, err := w.root.Stat(full)
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted meanwhile
			}
			if err != nil {
				return err
			}
			w.items = append(w.items, backends.Info{Name: full, Size: fi.Size(), ModTime: fi.ModTime()})
			if len(w.items) >= w.limit {
				return errPageFull
			}
			continue
		}
		// A directory holds names starting with full; descend only if some of
		// them can start with the prefix.
		if !strings.HasPrefix(full, w.prefix) && !strings.HasPrefix(w.prefix, full) {
			if full > w.prefix {
				return errPageFull
			}
			continue
		}
		if err := w.walk(strings.TrimSuffix(full, "/")); err != nil {
			return err
		}
	}
	return nil
}

// SweepTemp removes the temporary files of interrupted writes that were
// last written before olderThan, and returns how many it removed. A write
// in progress, in this process or another serving the same directory,
// keeps writing its file; olderThan must leave it alone (garbage
// collection passes its grace period).
func (b *Backend) SweepTemp(ctx context.Context, olderThan time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	d, err := b.current("sweep", tmpDir)
	if err != nil {
		return 0, err
	}
	return d.sweepTemp(olderThan)
}

// sweepTemp removes the files in tmpDir last modified before olderThan.
func (d *rootDir) sweepTemp(olderThan time.Time) (int, error) {
	f, err := d.root.Open(tmpDir)
	if err != nil {
		return 0, err
	}
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, e := range ents {
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // renamed into place meanwhile
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !fi.ModTime().Before(olderThan) {
			continue
		}
		if err := d.root.RemoveAll(tmpDir + "/" + e.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
