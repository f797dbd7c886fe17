//go:build !unix

package local

import (
	"errors"
	"os"
)

// haveAt says that createIn and renameIn work here.
const haveAt = false

// createIn is not available here: Put goes through the os.Root.
func createIn(dir *os.File, name string) (*os.File, error) { return nil, errors.ErrUnsupported }

// renameIn is not available here: Put goes through the os.Root.
func renameIn(fromDir *os.File, from string, toDir *os.File, to string) error {
	return errors.ErrUnsupported
}
