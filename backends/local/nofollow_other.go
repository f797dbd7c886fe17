//go:build !linux

package local

import (
	"io/fs"
	"os"
)

// atRoot holds nothing where no system call resolves a path without
// following links: fan-out places are checked with lstat.
type atRoot struct {
	beneath bool // always false here; the Linux field's counterpart, for tests
}

func (a *atRoot) open(*os.Root) error { return nil }

func (a *atRoot) close() error { return nil }

// openFan opens the file at the fan-out place p for reading.
func (d *rootDir) openFan(p string) (*os.File, error) { return d.openFanPortable(p) }

// statFan returns the FileInfo of the fan-out place p.
func (d *rootDir) statFan(p string) (fs.FileInfo, error) { return d.statFanPortable(p) }

// removeFan removes the file at the fan-out place p, if it is a regular
// file, and makes the removal durable.
func (d *rootDir) removeFan(p string) error { return d.removeFanPortable(p) }

// renameBeneath renames tmp to the fan-out place p.
func (d *rootDir) renameBeneath(tmp, p string) error { return d.renameFanPortable(tmp, p) }

// removeLink removes the symbolic link at dir. A directory a concurrent
// Put made in its place meanwhile stays: one that holds a file cannot be
// removed, and an empty one that this removes is made again by the Put,
// whose rename into it fails and is tried once more (a narrow race the
// Linux version does not have).
func (d *rootDir) removeLink(dir string) error {
	if fi, err := d.root.Lstat(dir); err != nil || fi.IsDir() {
		return err
	}
	return d.root.Remove(dir)
}
