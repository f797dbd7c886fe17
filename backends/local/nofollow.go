package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"syscall"
)

// Fan-out places follow no symbolic link (see the package doc, "Symbolic
// links"): the directories of objects on the way, the fan-out directory
// and the file must all be what they are, as List finds them. Where the
// system can resolve a path under a directory without following links
// (openat2 with RESOLVE_NO_SYMLINKS on Linux), one system call opens the
// file or its directory; elsewhere (atRoot.beneath false) each directory on
// the way is lstat'ed first, which leaves a window in which a directory
// could be replaced by a link: a provider's directory is not expected to
// be rearranged during a request.

// errLink is the error of a request whose fan-out place has a symbolic
// link on its path. It wraps fs.ErrNotExist: no object is there.
var errLink = fmt.Errorf("symbolic link on the path: %w", fs.ErrNotExist)

// checkPath returns errLink if a directory on the way to p (not p itself)
// is a symbolic link, and an error that satisfies missing if one is not
// there or not a directory.
func (d *rootDir) checkPath(p string) error {
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		fi, err := d.root.Lstat(p[:i])
		switch {
		case err != nil:
			return err
		case fi.Mode()&fs.ModeSymlink != 0:
			return errLink
		case !fi.IsDir():
			return &fs.PathError{Op: "lstat", Path: p[:i], Err: syscall.ENOTDIR}
		}
	}
	return nil
}

// openFanPortable opens the file at the fan-out place p for reading.
func (d *rootDir) openFanPortable(p string) (*os.File, error) {
	fi, err := d.statFanPortable(p)
	if err != nil {
		return nil, err
	}
	f, err := d.root.Open(p)
	if err != nil {
		return nil, err
	}
	if ffi, err := f.Stat(); err != nil || !os.SameFile(fi, ffi) {
		f.Close()
		if err == nil {
			err = errLink // replaced meanwhile
		}
		return nil, err
	}
	return f, nil
}

// statFanPortable returns the FileInfo of the fan-out place p.
func (d *rootDir) statFanPortable(p string) (fs.FileInfo, error) {
	if err := d.checkPath(p); err != nil {
		return nil, err
	}
	fi, err := d.root.Lstat(p)
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, errLink
	}
	return fi, err
}

// removeFanPortable removes the file at the fan-out place p.
func (d *rootDir) removeFanPortable(p string) error {
	if err := d.checkPath(p); missing(err) {
		return nil // a link on the way (errLink is missing too): nothing is there
	} else if err != nil {
		return err
	}
	return d.remove(p)
}

// renameFanPortable renames the temporary file tmp to the fan-out place p.
func (d *rootDir) renameFanPortable(tmp, p string) error {
	if err := d.checkPath(p); err != nil {
		return err
	}
	return d.root.Rename(tmp, p)
}

// renameTries bounds the renames renameFan tries: concurrent Puts into a
// fan-out directory that is missing or a link make or replace it at once,
// and one may see the other's work half done.
const renameTries = 3

// renameFan renames the temporary file tmp to the fan-out place p, making
// its fan-out directory if it is not there, and replacing a symbolic link
// in its place by a directory (fan-out directories belong to the backend;
// the link's target is left alone). A link on a directory of objects
// above is an error wrapping errLink.
func (d *rootDir) renameFan(tmp, p string) error {
	dir := path.Dir(p)
	for try := 0; ; try++ {
		err := d.renameBeneath(tmp, p)
		if err == nil {
			// The fan-out directory may have been made by a concurrent
			// Put whose fsync of its parent is still running.
			return d.durableDir(dir)
		}
		if try == renameTries-1 {
			return err
		}
		switch {
		case errors.Is(err, errLink):
			err = d.replaceLink(dir)
		case missing(err):
			err = d.mkdirs(dir)
		default:
			return err
		}
		if err != nil {
			return err
		}
	}
}

// replaceLink replaces a symbolic link at the place of the fan-out
// directory dir by a directory, if no directory above it is a link.
func (d *rootDir) replaceLink(dir string) error {
	if err := d.checkPath(dir); err != nil {
		return err
	}
	fi, err := d.root.Lstat(dir)
	if missing(err) {
		return d.mkdirs(dir) // removed by a concurrent Put meanwhile
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		// Remove the link, never a directory: a concurrent Put may have
		// replaced the link already, and renamed its object into the
		// directory it made (os.Root's Remove would remove an empty
		// one, and fail on one that holds a file).
		if err := d.removeLink(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return d.mkdirs(dir)
}
