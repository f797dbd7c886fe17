//go:build unix

package local

import (
	"os"

	"golang.org/x/sys/unix"
)

// haveAt says that createIn and renameIn work here.
const haveAt = true

// createIn creates the new file name (one path segment) in the open
// directory dir for writing, as os.Root.OpenFile with O_CREATE|O_EXCL
// would, without following a symbolic link. The file is opened in
// blocking mode and not registered with Go's poller, which would refuse a
// regular file anyway.
func createIn(dir *os.File, name string) (*os.File, error) {
	rc, err := dir.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var oerr error
	if err := rc.Control(func(dfd uintptr) {
		fd, oerr = unix.Openat(int(dfd), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	}); err != nil {
		return nil, err
	}
	if oerr != nil {
		return nil, &os.PathError{Op: "openat", Path: name, Err: oerr}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// renameIn renames the entry from in the open directory fromDir to to in
// the open directory toDir (both single path segments), replacing what to
// names there.
func renameIn(fromDir *os.File, from string, toDir *os.File, to string) error {
	frc, err := fromDir.SyscallConn()
	if err != nil {
		return err
	}
	trc, err := toDir.SyscallConn()
	if err != nil {
		return err
	}
	var rerr error
	if err := frc.Control(func(ffd uintptr) {
		if err := trc.Control(func(tfd uintptr) {
			rerr = unix.Renameat(int(ffd), from, int(tfd), to)
		}); err != nil {
			rerr = err
		}
	}); err != nil {
		return err
	}
	if rerr != nil {
		return &os.LinkError{Op: "renameat", Old: from, New: to, Err: rerr}
	}
	return nil
}
