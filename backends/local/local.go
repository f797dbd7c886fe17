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
// concurrent Puts share them). Readers therefore
// see the old file or the complete new one, and a crash leaves at most a
// stray temporary file, which New removes. Directories that Put creates are
// fsynced into their parents. Delete fsyncs the directory it removed the file
// from and leaves empty directories in place. Because New clears root/~tmp,
// one root must be served by one process at a time.
//
// Symbolic links that stay inside the root are followed by Get and Stat (the
// os.Root rules) but never listed; links that lead outside fail.
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
	"syscall"

	"github.com/twincrypt/twincrypt/backends"
)

// tmpDir holds files being written. '~' is not allowed in object names, so
// this directory can never collide with an object or appear in a listing.
const tmpDir = "~tmp"

// copyBufferSize is the buffer Put copies bodies through.
const copyBufferSize = 64 << 10

// defaultPageSize is the page size used when List is called with limit <= 0.
const defaultPageSize = 1000

// Backend stores objects as files under a root directory. It is safe for
// concurrent use.
type Backend struct {
	name string
	root *os.Root
	dirs *dirSyncer // fsyncs of directories after renames and removals
}

var _ backends.Backend = (*Backend)(nil)

// New opens (creating it if needed) the directory root as the backend called
// name, and removes temporary files left behind by interrupted writes.
func New(name, root string) (*Backend, error) {
	if name == "" {
		return nil, errors.New("local backend: empty name")
	}
	if root == "" {
		return nil, fmt.Errorf("local backend %s: empty root directory", name)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("local backend %s: %w", name, err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("local backend %s: %w", name, err)
	}
	if err := r.RemoveAll(tmpDir); err != nil {
		r.Close()
		return nil, fmt.Errorf("local backend %s: removing stale temporary files: %w", name, err)
	}
	if err := r.Mkdir(tmpDir, 0o700); err != nil {
		r.Close()
		return nil, fmt.Errorf("local backend %s: %w", name, err)
	}
	b := &Backend{name: name, root: r}
	b.dirs = newDirSyncer(b.syncDir)
	return b, nil
}

// Name returns the backend's configured name.
func (b *Backend) Name() string { return b.name }

// Root returns the directory the backend stores its objects in.
func (b *Backend) Root() string { return b.root.Name() }

// Close releases the backend's handle on its root directory.
func (b *Backend) Close() error { return b.root.Close() }

func (b *Backend) err(op, name string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		err = fmt.Errorf("%w: %w", backends.ErrNotFound, err)
	case errors.Is(err, syscall.ENAMETOOLONG):
		err = fmt.Errorf("%w: %w", backends.ErrInvalidName, err)
	}
	return &backends.Error{Backend: b.name, Op: op, Name: name, Err: err}
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
		return b.err("put", name, fmt.Errorf("%w: negative size %d", backends.ErrPrecondition, size))
	}
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return b.err("put", name, err)
	}
	tmp := tmpDir + "/" + hex.EncodeToString(rnd[:])
	f, err := b.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return b.err("put", name, err)
	}
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil {
			b.root.Remove(tmp)
		}
	}()
	body := backends.ExactReader(ctx, r, size)
	// A copy buffer no larger than the body needs (*os.File's ReadFrom
	// would allocate 32 KiB for every Put, however small), into a writer
	// that starts writeback as it goes.
	buf := backends.CopyBuffer(size, copyBufferSize)
	if _, err := io.CopyBuffer(&writebackWriter{f: f}, body, buf); err != nil {
		return b.err("put", name, err)
	}
	if err := f.Sync(); err != nil {
		return b.err("put", name, err)
	}
	if err := f.Close(); err != nil {
		f = nil
		return b.err("put", name, err)
	}
	f = nil
	if err := ctx.Err(); err != nil {
		return b.err("put", name, err)
	}
	dir := path.Dir(name)
	if err := b.mkdirs(dir); err != nil {
		return b.err("put", name, err)
	}
	if err := b.root.Rename(tmp, name); err != nil {
		return b.err("put", name, err)
	}
	if err := b.dirs.Sync(dir); err != nil {
		return b.err("put", name, err)
	}
	return nil
}

// mkdirs creates dir and any missing parents, and fsyncs the parent of
// every directory it creates so that the new entries survive a crash.
func (b *Backend) mkdirs(dir string) error {
	if dir == "." {
		return nil
	}
	if fi, err := b.root.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	if err := b.mkdirs(path.Dir(dir)); err != nil {
		return err
	}
	if err := b.root.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) { // created concurrently, or a file
			fi, serr := b.root.Stat(dir)
			if serr == nil && fi.IsDir() {
				return nil
			}
		}
		return err
	}
	return b.syncDir(path.Dir(dir))
}

func (b *Backend) syncDir(dir string) error {
	d, err := b.root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
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
		return nil, b.err("get", name, fmt.Errorf("%w: invalid range offset %d length %d", backends.ErrPrecondition, offset, length))
	}
	f, err := b.root.Open(name)
	if err != nil {
		return nil, b.err("get", name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, b.err("get", name, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, b.err("get", name, fs.ErrNotExist)
	}
	if offset > fi.Size() {
		f.Close()
		return nil, b.err("get", name, fmt.Errorf("%w: offset %d beyond end of %d-byte object", backends.ErrPrecondition, offset, fi.Size()))
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
	fi, err := b.root.Stat(name)
	if err != nil {
		return backends.Info{}, b.err("stat", name, err)
	}
	if !fi.Mode().IsRegular() {
		return backends.Info{}, b.err("stat", name, fs.ErrNotExist)
	}
	return backends.Info{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete removes the object; a missing object is not an error.
func (b *Backend) Delete(ctx context.Context, name string) error {
	if err := b.check(ctx, "delete", name); err != nil {
		return err
	}
	fi, err := b.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	if err != nil {
		return b.err("delete", name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil // a directory of other objects, not an object
	}
	if err := b.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return b.err("delete", name, err)
	}
	if err := b.dirs.Sync(path.Dir(name)); err != nil {
		return b.err("delete", name, err)
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
	if limit <= 0 {
		limit = defaultPageSize
	}
	w := walker{ctx: ctx, root: b.root, prefix: prefix, after: startAfter, limit: limit + 1}
	if err := w.walk("."); err != nil && !errors.Is(err, errPageFull) {
		return backends.ListPage{}, &backends.Error{Backend: b.name, Op: "list", Err: err}
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
