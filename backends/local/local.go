// Package local implements a backends.Backend on a local directory.
//
// # Layout
//
// An object name maps to a path under the root: "b/x" is the file root/b/x,
// except that a last path segment of 32 or more lowercase hexadecimal
// digits (twincrypt's blob ids and meta record hashes) is stored in a
// fan-out directory named by its first three digits and a '+': "m/3f2a..."
// is the file root/m/3f2+/3f2a.... Directories never fan out, and names of
// other shapes (short, upper case, other characters) stay in place. '+' is
// not allowed in object names, so a fan-out directory can never collide
// with an object or a directory of objects, nor be listed as one, and the
// rule depends on the name alone: a name has exactly one place.
//
// Three digits make 4096 fan-out directories in each directory of
// objects. At a million blobs (or meta records) that is about 250 names a
// directory, 2,500 at ten million: a listing page reads the 4096 short
// names of the fan-out directories and the few fan-out directories it
// spans, a few hundred KB whatever the number of objects. 256 ways (two
// digits) would hold 4,000 names a directory at a million and 40,000 at
// ten million, read whole for a page of any size; 4096 costs more
// directories (8,192 for b/ and m/, a few MB of directory blocks) and, while
// a store is small, a directory creation for most new names.
//
// Names are validated with backends.ValidName, and every file system call
// resolves its path under the root (through an os.Root, or openat2 with
// RESOLVE_BENEATH), so neither ".." nor a symbolic link can reach outside
// the root (see "Symbolic links"). One path cannot be both an object and a
// directory of other objects ("b/x" and "b/x/y"); such a Put fails. (A name that fans
// out is not at the path of the directory of the same name, so
// "m/<64 digits>" and "m/<64 digits>/y" can both exist.) A segment longer
// than the file system allows (255 bytes on most) is ErrInvalidName.
//
// # Migration from the flat layout
//
// Earlier versions stored every name at its own path (flat b/ and m/
// directories). Opening a directory (Open, New, or the first request after
// a directory appeared at the root path) moves every file whose name fans
// out and that lies directly in its directory into its fan-out directory
// before the backend serves anything: a hard link to the new place, then
// removal of the old name (a rename where the file system cannot link the
// file: link fails with EPERM, ENOTSUP, ENOSYS or EMLINK; any other error
// stops the migration), reading each directory of objects in batches of
// 1024 entries, then one sync of the file system (syncfs; an fsync of every directory
// changed elsewhere). Fan-out directories are not read: after a migration
// an open reads the root and each directory of objects (b/, m/, s/: 4096
// entries each) and moves nothing. A move never loses a file: if the
// fan-out place is taken by a file (a migration in another process, or an
// interrupted one, got there first) the older of the two by modification
// time is removed (the same file under both names, left by an interrupted
// move, loses its flat name); taken by anything else (a directory, a
// symbolic link), the migration stops there and the backend stays
// unavailable, the flat file in place; so it does when the place of the
// fan-out directory holds anything but a directory (a file, a symbolic
// link, which is never moved through). Only regular
// files are moved: a symbolic link stays at its flat place, where Get and
// Stat still follow it. A migration that stops (a crash, an error)
// leaves every object at one of its two places and is finished by the next
// open; until then the backend answers ErrUnavailable, never ErrNotFound
// (Open succeeds, New fails). A request tries the migration again one
// second after it stopped, then after waits doubling up to a minute (at
// once if another directory takes the root path's place); requests in
// between answer the error without reading any directory.
// A directory that cannot be written (read-only file system, no
// permission) is served as it is, flat files included (below).
// Several processes may migrate the same directory at once.
//
// Flat files that appear later (a process of an earlier version serving
// the same directory) are not lost or hidden: Get and Stat look in the
// fan-out place, then the flat place, then the fan-out place again (a
// migration elsewhere may have moved the file between the two looks);
// List lists them in order (a fan-out copy of the same name wins); Delete
// removes the flat copy first, then the fan-out one. The next open moves
// them. Instances of an earlier version do not see objects in fan-out
// directories, so every instance sharing a directory should be upgraded
// together.
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
// parents, and a Put returns only once every directory on the way to its
// file is durable in its parent: one that a concurrent Put of this process
// made and whose parent's fsync has not succeeded yet (the backend keeps
// the set of them, each only until then) gets its parent fsynced again,
// sharing that Put's next fsync of it, and so does one that another
// process made between this Put's look and its Mkdir (EEXIST). A directory
// that is there already and not in that set, such as a fan-out directory
// made long ago, costs no fsync. (One that another process made moments
// before, whose fsync in that process has not ended yet, is not waited
// for.) Delete fsyncs the directory it removed the file from and leaves
// empty directories in place.
//
// Stray temporary files are removed when the directory is opened, once they
// have not been written for StaleTemp, and by SweepTemp (which garbage
// collection calls with its grace period). Files that are younger may belong
// to a write in progress in another process that serves the same directory
// (gateway instances on a shared file system, or a maintenance command run
// beside serve), so they are left alone.
//
// # Symbolic links
//
// List never follows a symbolic link: it lists regular files only, and
// does not descend into a link to a directory. Get, Stat and Delete do the
// same on the fan-out place of a name that fans out: a link anywhere on
// its path (a directory of objects such as m/, the fan-out directory, the
// file) means that the object is not there: Get and Stat answer
// ErrNotFound (after a look at the flat place), Delete removes nothing and
// succeeds. A provider's directory with a link planted there (say m/3f2+
// leading to b/3f2+) thus shows neither b/'s files under m/'s names nor
// lets Delete remove them; to the replicated set it is a provider missing
// those objects, which reads them from the other provider, and repair
// writes them back: Put replaces a link in place of a fan-out directory by
// a directory (fan-out directories belong to the backend; the link's target
// is left alone) and a link in place of the file by the file, and fails
// with ErrUnavailable below a directory of objects that is a link. On
// Linux 5.6 and later one openat2 call with RESOLVE_NO_SYMLINKS resolves
// the path (fewer system calls than os.Root makes); elsewhere each
// directory on the way is lstat'ed first.
//
// Names that do not fan out, and the flat places of names that do (files
// of the flat layout not migrated yet), keep the os.Root rules: links that
// stay inside the root are followed by Get and Stat, on the way and at the
// file (a link at a flat place is not moved by a migration); Delete follows
// links on the way but removes only a regular file, never a link; links
// that lead outside the root fail.
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
// List walks the tree in byte order, reading only the directories that can
// hold names after startAfter with the prefix, and stops once the page is
// full. A directory of objects sorts its entries by name (a directory by its
// name and a slash, a fan-out directory by its prefix); the files of a
// fan-out directory are merged with the entries that share its prefix
// ("3f2+" with a file "3f2b" or a directory "3f2c/"). A page of b/ or m/
// reads the names of its 4096 fan-out directories and the fan-out
// directories the page spans (only names, with Readdirnames, and one lstat
// for each object listed), so its memory and time do not grow with the
// number of objects beyond the size of a fan-out directory (about 250
// names at a million objects), and listing n objects in pages of p costs
// O(n + 4096*n/p) entries read. Directories other than fan-out ones are
// read whole, and each of their files is lstat'ed as it is read (names
// only, with Readdirnames, allocate least for the 4096 fan-out names): a
// tree of many names of other shapes in one directory, or flat files not
// migrated yet (a read-only directory), costs an lstat each per page.
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
	"path/filepath"
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

// errMigration is the error of an open that could not finish moving the
// files of the flat layout into fan-out directories.
var errMigration = errors.New("moving files of the flat layout into fan-out directories")

// errClosed is returned by requests made after Close.
var errClosed = errors.New("backend closed")

// Backend stores objects as files under a root directory. It is safe for
// concurrent use.
type Backend struct {
	name string
	path string // the root directory as configured

	cur atomic.Pointer[rootDir] // the directory open at path

	mu     sync.Mutex // serialises opening; guards the fields below
	old    []*rootDir // directories that path named before, closed by Close
	closed bool

	// The last migration that stopped with an error: the directory it
	// ran in, its error (answered until retryAt), and the wait before
	// the next attempt, doubled by each failure.
	failed  os.FileInfo
	failErr error
	retryAt time.Time
	backoff time.Duration

	// Hooks for tests, nil in use: link replaces os.Root.Link in
	// migrations, now replaces time.Now for their retries.
	link func(r *os.Root, src, dst string) error
	now  func() time.Time
}

// The wait after a migration stopped with an error before the next
// request tries again: retryMin after the first failure, doubled by each
// further one up to retryMax.
const (
	retryMin = time.Second
	retryMax = time.Minute
)

// rootDir is one open instance of the root directory.
type rootDir struct {
	root  *os.Root
	id    os.FileInfo // its identity (device and inode), for os.SameFile
	dirs  *dirSyncer  // fsyncs of directories after renames and removals
	files *fileSyncer // fsyncs of small files, shared among concurrent Puts
	made  newDirs     // directories made whose entries are not durable yet
	at    atRoot      // the root for system calls that follow no link (see nofollow.go)

	link func(r *os.Root, src, dst string) error // Backend.link
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
// writes, and moves the files of the flat layout into their fan-out
// directories (see the package doc). A missing directory is not an error:
// the backend then answers every request with ErrMissing until a directory
// appears at root, and opens it then. Nor is a migration that stops with an
// error: the backend answers backends.ErrUnavailable and a request tries
// again one second later, then after waits that double up to a minute,
// until one finishes (at once when another directory appears at root);
// requests in between read nothing. Any other problem with root (not a
// directory, no permission) is.
func Open(name, root string) (*Backend, error) {
	if err := checkArgs(name, root); err != nil {
		return nil, err
	}
	b := &Backend{name: name, path: root}
	if _, err := b.dir(); err != nil && !errors.Is(err, ErrMissing) && !errors.Is(err, errMigration) {
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
	return b.open(fi)
}

// open opens the directory at the root path (fi, as dir found it), makes it
// the current one, clears its temporary directory and migrates it. After a
// migration of that directory stopped with an error, it answers that error
// until the time to retry has come.
func (b *Backend) open(fi os.FileInfo) (*rootDir, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errClosed
	}
	if b.failed != nil && os.SameFile(b.failed, fi) && b.clock().Before(b.retryAt) {
		return nil, b.failErr
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
	d := &rootDir{root: r, id: id, link: b.link}
	if err := d.at.open(r); err != nil {
		d.close()
		return nil, fmt.Errorf("%w: %w", backends.ErrUnavailable, err)
	}
	if _, err := d.sweepTemp(time.Now().Add(-StaleTemp)); err != nil {
		d.close()
		return nil, fmt.Errorf("removing stale temporary files: %w", err)
	}
	if _, err := d.migrate(); err != nil && !readOnly(err) {
		// Stopped half-way: every object is at one of its places,
		// and the next open carries on. A directory that cannot be
		// written (a read-only snapshot) is served as it is: Get,
		// Stat and List find flat files too.
		d.close()
		if b.failed == nil || !os.SameFile(b.failed, id) {
			b.backoff = 0 // another directory: its first wait is the shortest
		}
		b.backoff = min(max(2*b.backoff, retryMin), retryMax)
		b.failed = id
		b.failErr = fmt.Errorf("%w: %w: %w (next attempt in %v)", backends.ErrUnavailable, errMigration, err, b.backoff)
		b.retryAt = b.clock().Add(b.backoff)
		return nil, b.failErr
	}
	b.failed, b.failErr, b.backoff = nil, nil, 0
	d.dirs = newDirSyncer(d.syncDir)
	d.files = &fileSyncer{one: (*os.File).Sync, all: d.syncFS, check: writebackErr}
	if old := b.cur.Swap(d); old != nil {
		// Requests still running in the old directory finish (or fail)
		// there; it is closed with the backend.
		b.old = append(b.old, old)
	}
	return d, nil
}

// clock returns the time, for the retries of migrations.
func (b *Backend) clock() time.Time {
	if b.now != nil {
		return b.now()
	}
	return time.Now()
}

// close releases the directory's handles.
func (d *rootDir) close() error {
	return errors.Join(d.at.close(), d.root.Close())
}

// Check reports whether the backend's directory is there and can be
// opened: nil, an error wrapping ErrMissing, or another error wrapping
// backends.ErrUnavailable. It reads no directory of objects, however
// large, once the backend is open (when it is the first request after a
// directory appears at the root path, it opens it: see "Migration from
// the flat layout" in the package doc).
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

// File returns the path of the file that holds (or would hold) the object
// called name: below Root, in a fan-out directory for names that fan out
// (see the package doc, "Layout"). It returns "" for an invalid name. It
// is for tools and tests that look at the files themselves.
func (b *Backend) File(name string) string {
	if !backends.ValidName(name) {
		return ""
	}
	return filepath.Join(b.path, filepath.FromSlash(physical(name)))
}

// Close releases the backend's handles on its root directory.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	var errs []error
	if d := b.cur.Swap(nil); d != nil {
		errs = append(errs, d.close())
	}
	for _, d := range b.old {
		errs = append(errs, d.close())
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
	dst := physical(name)
	dir := path.Dir(dst)
	if dst != name {
		if err := d.renameFan(tmp, dst); err != nil {
			return b.putErr(d, name, err)
		}
	} else {
		if err := d.mkdirs(dir); err != nil {
			return b.putErr(d, name, err)
		}
		if err := d.root.Rename(tmp, dst); err != nil {
			return b.putErr(d, name, err)
		}
	}
	if err := d.dirs.Sync(dir); err != nil {
		return b.putErr(d, name, err)
	}
	return nil
}

// mkdirs creates dir and any missing parents, and fsyncs the parent of
// every directory it creates so that the new entries survive a crash. It
// returns once dir's entry, and its parents', are durable: a directory that
// is there already costs a Stat, unless this process made it and the fsync
// of its parent has not succeeded yet (see durableDir); one made meanwhile by
// another process (Mkdir answers EEXIST) has its parent fsynced again.
func (d *rootDir) mkdirs(dir string) error {
	if dir == "." {
		return nil
	}
	if fi, err := d.root.Stat(dir); err == nil && fi.IsDir() {
		return d.durableDir(dir)
	}
	if err := d.mkdirs(path.Dir(dir)); err != nil {
		return err
	}
	e := d.made.begin(dir)
	err := d.root.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrExist) { // created concurrently, or a file
		if fi, serr := d.root.Stat(dir); serr == nil && fi.IsDir() {
			err = nil
		}
	}
	if err != nil {
		d.made.end(dir, e, false, false)
		return err
	}
	err = d.dirs.Sync(path.Dir(dir))
	d.made.end(dir, e, true, err == nil)
	return err
}

// durableDir returns once the entry of dir, a directory that is there, is
// durable in its parent. That is at once for a directory that this process
// did not make in the meantime: one made long ago, or by another process
// (which syncs its parent itself). A directory made by a concurrent Put
// whose fsync of the parent has not succeeded yet has its parent fsynced
// through the dirSyncer, sharing that Put's next round. Every parent of a
// directory that is not in d.made is durable too: mkdirs makes a directory
// only once its parent is.
func (d *rootDir) durableDir(dir string) error {
	e := d.made.lookup(dir)
	if e == nil {
		return nil
	}
	if err := d.dirs.Sync(path.Dir(dir)); err != nil {
		return err
	}
	d.made.synced(dir, e)
	return nil
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
	f, err := find(name, d.openFan, d.root.Open)
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
	fi, err := find(name, d.statFan, d.root.Stat)
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
	// A flat copy first: removed after the fan-out copy, it could be
	// moved into the fan-out place by a migration in between.
	p := physical(name)
	if p == name {
		if err := d.remove(name); err != nil {
			return b.err(d, "delete", name, err)
		}
		return nil
	}
	if err := d.remove(name); err != nil {
		return b.err(d, "delete", name, err)
	}
	if err := d.removeFan(p); err != nil {
		return b.err(d, "delete", name, err)
	}
	return nil
}

// remove removes the file at p, if it is a regular file, and makes the
// removal durable. Like every call of d.root, it follows symbolic links
// that stay inside the root on the way to p, but not at p.
func (d *rootDir) remove(p string) error {
	fi, err := d.root.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil // a directory of other objects, not an object
	}
	if err := d.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return d.dirs.Sync(path.Dir(p))
}

// find calls fan (which follows no symbolic link) on the fan-out place of
// the object called name and flat (Open or Stat of the root) on its flat
// place. A name that does not fan out has only its flat place. A name that
// fans out is looked for in its fan-out directory and then at its flat
// place (written by an earlier version and not migrated yet), and then
// once more in the fan-out directory: a migration in another process may
// have moved it between the first two looks.
func find[T any](name string, fan, flat func(string) (T, error)) (T, error) {
	p := physical(name)
	if p == name {
		return flat(name)
	}
	v, err := fan(p)
	if !missing(err) {
		return v, err
	}
	if v, ferr := flat(name); !missing(ferr) {
		return v, ferr
	}
	return fan(p)
}

// readOnly reports whether err says that the directory cannot be written.
func readOnly(err error) bool {
	return errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)
}

// missing reports whether err says that no file is at a path.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
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
