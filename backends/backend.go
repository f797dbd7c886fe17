// Package backends defines where twincrypt's ciphertext lives: the Backend
// interface that every storage provider implements, and the typed errors
// callers branch on. Implementations live in sub-packages (local, s3) and the
// replicated set (replica) fans one logical write out over several of them.
//
// A backend stores opaque, immutable-by-convention byte strings under opaque
// names such as "b/<id>" and "m/<hash>". It knows nothing of encryption,
// buckets, keys or HTTP.
package backends

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Sentinel errors. Implementations wrap them (usually in an *Error) so that
// callers can test with errors.Is.
var (
	// ErrNotFound means the named object does not exist on the backend.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable means the backend could not be reached or answered
	// with a transient failure; the same call may succeed later or on
	// another backend.
	ErrUnavailable = errors.New("backend unavailable")
	// ErrPrecondition means a request's condition did not hold: a body
	// shorter or longer than its declared size, or a range beyond the end
	// of the object.
	ErrPrecondition = errors.New("precondition failed")
	// ErrInvalidName means a name is not acceptable to backends (empty,
	// absolute, containing "..", NUL or backslashes, or too long).
	ErrInvalidName = errors.New("invalid object name")
	// ErrQuorum means a write or delete reached fewer providers than the
	// replicated set requires (replication.min_writes). It is returned by
	// sets of backends, never by a single provider; front ends answer it
	// with "service unavailable", since the same request succeeds once
	// enough providers are reachable again.
	ErrQuorum = errors.New("too few providers reachable to meet the write quorum")
)

// Error records which backend, operation and object an error came from.
type Error struct {
	Backend string // backend name from the config
	Op      string // "put", "get", "stat", "delete", "list"
	Name    string // object name, empty for list
	Err     error  // underlying error; wraps one of the sentinels where one applies
}

func (e *Error) Error() string {
	if e.Name == "" {
		return fmt.Sprintf("backend %s: %s: %v", e.Backend, e.Op, e.Err)
	}
	return fmt.Sprintf("backend %s: %s %s: %v", e.Backend, e.Op, e.Name, e.Err)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Info describes one stored object.
type Info struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// ListPage is one page of a listing.
type ListPage struct {
	Items []Info
	// Next is the StartAfter value for the following page; empty when
	// this page is the last.
	Next string
}

// TempSweeper is a Backend that keeps the temporary files of writes in
// progress where an interrupted write (a killed process) leaves them
// behind. Garbage collection sweeps them.
type TempSweeper interface {
	// SweepTemp removes the temporary files last written before
	// olderThan and returns how many it removed.
	SweepTemp(ctx context.Context, olderThan time.Time) (int, error)
}

// Backend is one storage provider holding ciphertext.
//
// Names are slash-separated relative paths made of [A-Za-z0-9._-] segments
// (for example "b/3f2a..." or "m/9c..."); ValidName reports whether a name is
// acceptable. All methods are safe for concurrent use.
type Backend interface {
	// Name is the backend's configured name, used in errors and logs.
	Name() string

	// Put stores the contents of r under name, replacing any previous
	// object atomically: concurrent readers see either the old object or
	// the complete new one, never a part. size is the exact length of r,
	// or -1 when unknown. If r yields a different number of bytes than a
	// known size, or returns an error, nothing becomes visible and Put
	// returns an error (ErrPrecondition for a size mismatch).
	Put(ctx context.Context, name string, r io.Reader, size int64) error

	// Get returns a reader over length bytes of the object starting at
	// offset; length -1 means to the end. A range that starts beyond the
	// end of the object is ErrPrecondition; one that extends past the end
	// is truncated at the end. The caller closes the reader.
	Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error)

	// Stat returns the object's size and modification time.
	Stat(ctx context.Context, name string) (Info, error)

	// Delete removes the object. Deleting a missing object is not an
	// error.
	Delete(ctx context.Context, name string) error

	// List returns up to limit objects whose names start with prefix and
	// sort strictly after startAfter, in byte order. limit <= 0 means an
	// implementation-chosen page size (at least 1000).
	List(ctx context.Context, prefix, startAfter string, limit int) (ListPage, error)

	// Close releases resources held by the backend.
	Close() error
}

// ValidName reports whether name is acceptable as a backend object name:
// non-empty, at most 512 bytes, slash-separated segments that are each
// non-empty, not "." or "..", and made only of ASCII letters, digits, '.',
// '_' and '-'.
func ValidName(name string) bool {
	if name == "" || len(name) > 512 {
		return false
	}
	seg := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '/' {
			s := name[seg:i]
			if s == "" || s == "." || s == ".." {
				return false
			}
			seg = i + 1
			continue
		}
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
