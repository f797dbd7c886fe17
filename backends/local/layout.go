package local

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/twincrypt/twincrypt/backends"
)

// The fan-out rule (see the package doc, "Layout").
const (
	// fanMin is the length from which a last path segment made only of
	// lowercase hexadecimal digits is stored in a fan-out directory.
	fanMin = 32
	// fanWidth is the length of the prefix that names a fan-out
	// directory: 3 hex digits, 4096 directories.
	fanWidth = 3
	// fanMark ends the name of every fan-out directory. It is not
	// allowed in object names, so a fan-out directory never collides with
	// an object or a directory of objects.
	fanMark = "+"
)

// fansOut reports whether a last path segment is stored in a fan-out
// directory: at least fanMin lowercase hexadecimal digits.
func fansOut(seg string) bool {
	if len(seg) < fanMin {
		return false
	}
	for i := 0; i < len(seg); i++ {
		if !isHex(seg[i]) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

// fanPrefix returns the prefix a fan-out directory entry stands for, or
// false if the entry name is not that of a fan-out directory.
func fanPrefix(entry string) (string, bool) {
	if len(entry) != fanWidth+len(fanMark) || !strings.HasSuffix(entry, fanMark) {
		return "", false
	}
	for i := 0; i < fanWidth; i++ {
		if !isHex(entry[i]) {
			return "", false
		}
	}
	return entry[:fanWidth], true
}

// physical returns the path under the root where the object called name
// (a valid name) is stored: the name itself, or, when its last segment
// fans out, that segment inside the fan-out directory named by its first
// fanWidth characters ("m/3f2a..." is stored as "m/3f2+/3f2a...").
func physical(name string) string {
	i := strings.LastIndexByte(name, '/')
	seg := name[i+1:]
	if !fansOut(seg) {
		return name
	}
	return name[:i+1] + seg[:fanWidth] + fanMark + "/" + seg
}

// migrateBatch is how many directory entries migration reads at a time, so
// that a flat directory of any size is migrated in bounded memory.
const migrateBatch = 1024

// migrate moves every file that the flat layout left where the fan-out
// layout does not look for it (a last segment that fans out, directly in
// its directory) into its fan-out directory, and returns how many it
// moved. It reads every directory of objects except the fan-out
// directories (after a migration: the root, b/, m/ and their 4096 fan-out
// directory entries each) and makes what it moved durable before it
// returns. It is idempotent and may run in several processes at once; an
// interrupted migration is finished by the next one.
func (d *rootDir) migrate() (int, error) {
	moved := 0
	var touched []string // directories changed, for systems without syncfs
	dirs := []string{"."}
	for len(dirs) > 0 {
		dir := dirs[len(dirs)-1]
		dirs = dirs[:len(dirs)-1]
		// Entries added while a directory is read (the fan-out
		// directories made here) may or may not be returned; files
		// are only removed from it. Read it again until a pass moves
		// nothing, so that no file is missed.
		for pass := 0; ; pass++ {
			n, subdirs, fans, err := d.migrateDir(dir)
			if err != nil {
				return moved, err
			}
			if pass == 0 {
				dirs = append(dirs, subdirs...)
			}
			if n == 0 {
				break
			}
			moved += n
			touched = append(touched, dir)
			touched = append(touched, fans...)
		}
	}
	if moved == 0 {
		return 0, nil
	}
	err := d.syncFS()
	if errors.Is(err, errNoSyncFS) {
		err = nil
		for _, dir := range touched {
			if serr := d.syncDir(dir); serr != nil {
				err = serr
				break
			}
		}
	}
	return moved, err
}

// migrateDir moves the misplaced files of one directory into their fan-out
// directories. It returns how many it moved, the directories of objects
// below dir, and the fan-out directories it moved files into.
func (d *rootDir) migrateDir(dir string) (moved int, subdirs, fans []string, err error) {
	// Work relative to dir, so that each call resolves one or two
	// components, not the whole path.
	r, err := d.root.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil, nil, nil
	}
	if err != nil {
		return 0, nil, nil, err
	}
	defer r.Close()
	f, err := r.Open(".")
	if err != nil {
		return 0, nil, nil, err
	}
	defer f.Close()
	made := map[string]bool{} // fan-out directories known to exist
	for {
		des, err := f.ReadDir(migrateBatch)
		for _, de := range des {
			n := de.Name()
			if _, ok := fanPrefix(n); ok || !backends.ValidName(n) {
				continue // a fan-out directory, the temporary directory, foreign files
			}
			switch {
			case de.IsDir():
				subdirs = append(subdirs, path.Join(dir, n))
			case de.Type().IsRegular() && fansOut(n):
				fan := n[:fanWidth] + fanMark
				if !made[fan] {
					err := r.Mkdir(fan, 0o700)
					if errors.Is(err, fs.ErrExist) {
						// Never through a symbolic link (or
						// into a file): the file would land
						// where its name does not lead.
						var fi fs.FileInfo
						if fi, err = r.Lstat(fan); err == nil && !fi.IsDir() {
							err = fmt.Errorf("%s is not a directory; %s left in place", path.Join(dir, fan), path.Join(dir, n))
						}
					}
					if err != nil {
						return moved, subdirs, fans, err
					}
					made[fan] = true
					fans = append(fans, path.Join(dir, fan))
				}
				if err := d.move(r, n, fan+"/"+n); err != nil {
					return moved, subdirs, fans, err
				}
				moved++
			}
		}
		if errors.Is(err, io.EOF) || (err == nil && len(des) == 0) {
			return moved, subdirs, fans, nil
		}
		if err != nil {
			return moved, subdirs, fans, err
		}
	}
}

// move moves the flat file src of r to its fan-out place dst without ever
// replacing a file at dst by an older one. A file already at dst was
// written by the fan-out layout (or moved by a migration running beside
// this one), so it is at least as new unless it is older by its
// modification time (a flat file written later by an earlier version of
// this package); the older of the two is removed. It renames src only
// where the file system has no hard links (noHardLinks); any other error
// of the link stops the migration.
func (d *rootDir) move(r *os.Root, src, dst string) error {
	link := r.Link
	if d.link != nil {
		link = func(src, dst string) error { return d.link(r, src, dst) }
	}
	err := link(src, dst)
	switch {
	case err == nil:
		if err := r.Remove(src); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return nil // moved meanwhile by another migration
	case errors.Is(err, fs.ErrExist):
		return d.settle(r, src, dst)
	case !noHardLinks(err):
		return err
	}
	// No hard links on this file system: rename, unless dst exists.
	if _, lerr := r.Lstat(dst); lerr == nil {
		return d.settle(r, src, dst)
	} else if !errors.Is(lerr, fs.ErrNotExist) {
		return lerr
	}
	if err := r.Rename(src, dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// noHardLinks reports whether err, an error of link(2), says that the file
// system cannot give the file another name (rather than that something went
// wrong): EPERM (no hard links on this file system, or not allowed for this
// file by the system's policy), ENOTSUP/EOPNOTSUPP or ENOSYS (link not
// implemented) and EMLINK (the file has as many names as it may). A rename
// needs none of these.
func noHardLinks(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, errors.ErrUnsupported) ||
		errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.EMLINK)
}

// settle resolves a flat file src whose fan-out place dst is taken: it
// keeps the newer of the two at dst.
func (d *rootDir) settle(r *os.Root, src, dst string) error {
	s, err := r.Lstat(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	t, err := r.Lstat(dst)
	if errors.Is(err, fs.ErrNotExist) {
		return d.move(r, src, dst)
	}
	if err != nil {
		return err
	}
	if !os.SameFile(s, t) && !t.Mode().IsRegular() {
		// A directory or a symlink where the file belongs: never the
		// flat file's place to give up; the store stays unavailable
		// until someone looks.
		return fmt.Errorf("%s is not a regular file; %s left in place", dst, src)
	}
	if !os.SameFile(s, t) && s.ModTime().After(t.ModTime()) {
		err = r.Rename(src, dst)
	} else {
		err = r.Remove(src)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
