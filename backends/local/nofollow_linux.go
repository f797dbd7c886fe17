package local

import (
	"io/fs"
	"os"
	"path"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// atRoot is the root directory opened for openat2(2), which resolves a
// path under it following no symbolic link (RESOLVE_NO_SYMLINKS) and never
// leaving it (RESOLVE_BENEATH), in one system call.
type atRoot struct {
	f       *os.File
	raw     syscall.RawConn // f's, which keeps the descriptor open during a call
	beneath bool            // openat2 works here (Linux 5.6 and later, not filtered)
}

// resolveFlags are the openat2 flags of every fan-out place.
const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS

// open opens the root r for openat2 and finds out whether openat2 works.
func (a *atRoot) open(r *os.Root) error {
	f, err := r.Open(".")
	if err != nil {
		return err
	}
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return err
	}
	a.f, a.raw = f, raw
	if fd, err := a.openat2(".", unix.O_PATH|unix.O_DIRECTORY); err == nil {
		unix.Close(fd)
		a.beneath = true
	}
	return nil
}

func (a *atRoot) close() error {
	if a.f == nil {
		return nil
	}
	return a.f.Close()
}

// openat2 opens p under the root with flags, following no link: a link on
// the way, or at p, is errLink.
func (a *atRoot) openat2(p string, flags int) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolveFlags}
	fd, err := -1, error(nil)
	cerr := a.raw.Control(func(root uintptr) {
		for {
			fd, err = unix.Openat2(int(root), p, &how)
			if err != unix.EINTR {
				return
			}
		}
	})
	switch {
	case cerr != nil:
		return -1, cerr
	case err == unix.ELOOP:
		return -1, errLink
	case err != nil:
		return -1, &fs.PathError{Op: "openat2", Path: p, Err: err}
	}
	return fd, nil
}

// openFan opens the file at the fan-out place p for reading.
func (d *rootDir) openFan(p string) (*os.File, error) {
	if !d.at.beneath {
		return d.openFanPortable(p)
	}
	fd, err := d.at.openat2(p, unix.O_RDONLY|unix.O_NOCTTY)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), p), nil
}

// statFan returns the FileInfo of the fan-out place p.
func (d *rootDir) statFan(p string) (fs.FileInfo, error) {
	if !d.at.beneath {
		return d.statFanPortable(p)
	}
	fd, err := d.at.openat2(p, unix.O_PATH)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	unix.Close(fd)
	if err != nil {
		return nil, &fs.PathError{Op: "fstat", Path: p, Err: err}
	}
	return &statInfo{name: path.Base(p), st: st}, nil
}

// removeFan removes the file at the fan-out place p, if it is a regular
// file, and makes the removal durable.
func (d *rootDir) removeFan(p string) error {
	if !d.at.beneath {
		return d.removeFanPortable(p)
	}
	dir, leaf := path.Split(p)
	dir = path.Clean(dir)
	pfd, err := d.at.openat2(dir, unix.O_PATH|unix.O_DIRECTORY)
	if missing(err) {
		return nil // not there, or a link on the way (errLink)
	}
	if err != nil {
		return err
	}
	var st unix.Stat_t
	err = unix.Fstatat(pfd, leaf, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
		err = unix.Unlinkat(pfd, leaf, 0)
	}
	unix.Close(pfd)
	switch {
	case err == unix.ENOENT:
		return nil
	case err != nil:
		return &fs.PathError{Op: "unlinkat", Path: p, Err: err}
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return nil // a directory of other objects, or a link: not an object
	}
	return d.dirs.Sync(dir)
}

// renameBeneath renames tmp (a path under the root) to the fan-out place
// p. The fan-out directory missing is an error that satisfies missing.
func (d *rootDir) renameBeneath(tmp, p string) error {
	if !d.at.beneath {
		return d.renameFanPortable(tmp, p)
	}
	dir, leaf := path.Split(p)
	pfd, err := d.at.openat2(path.Clean(dir), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	cerr := d.at.raw.Control(func(root uintptr) {
		err = unix.Renameat(int(root), tmp, pfd, leaf)
	})
	unix.Close(pfd)
	if cerr != nil {
		return cerr
	}
	if err != nil {
		return &os.LinkError{Op: "renameat", Old: tmp, New: p, Err: err}
	}
	return nil
}

// statInfo is the fs.FileInfo of a fan-out place, from fstat.
type statInfo struct {
	name string
	st   unix.Stat_t
}

func (s *statInfo) Name() string { return s.name }
func (s *statInfo) Size() int64  { return s.st.Size }
func (s *statInfo) ModTime() time.Time {
	return time.Unix(s.st.Mtim.Unix())
}
func (s *statInfo) IsDir() bool { return s.Mode().IsDir() }
func (s *statInfo) Sys() any    { return &s.st }

func (s *statInfo) Mode() fs.FileMode {
	m := fs.FileMode(s.st.Mode & 0o777)
	switch s.st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	default:
		m |= fs.ModeIrregular
	}
	return m
}

// removeLink removes the symbolic link (or any file that is not a
// directory) at dir, and nothing if a directory is there: unlinkat
// without AT_REMOVEDIR fails on one (EISDIR), so a directory a concurrent
// Put made in the link's place, empty or not, stays.
func (d *rootDir) removeLink(dir string) error {
	parent, err := d.root.Open(path.Dir(dir))
	if err != nil {
		return err
	}
	defer parent.Close()
	rc, err := parent.SyscallConn()
	if err != nil {
		return err
	}
	var uerr error
	if err := rc.Control(func(fd uintptr) { uerr = unix.Unlinkat(int(fd), path.Base(dir), 0) }); err != nil {
		return err
	}
	switch uerr {
	case nil, unix.EISDIR, unix.ENOENT:
		return nil
	}
	return &fs.PathError{Op: "unlinkat", Path: dir, Err: uerr}
}
