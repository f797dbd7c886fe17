package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends"
)

// TestFanOutFollowsNoLink: a symbolic link on the way to a fan-out place
// (planted in the provider's directory, inside the root, where os.Root
// would follow it) is not followed by Get, Stat or Delete: the object is
// not there, as List says, and nothing is read or removed through the
// link. Put writes the object at its own place: it replaces a link in
// place of its fan-out directory by a directory, and fails (unavailable)
// when a directory of objects above is a link. Both ways of resolving a
// path are checked: openat2 where the system has it, and the portable one
// (lstat of each directory on the way).
func TestFanOutFollowsNoLink(t *testing.T) {
	hex := "3f2" + strings.Repeat("0", 61)
	blob, meta := "b/"+hex, "m/"+hex
	for _, tc := range []struct {
		name    string
		plant   func(t *testing.T, root string)
		putFail bool // Put meta fails: the link is above the fan-out directory
	}{
		{"fan-out directory", func(t *testing.T, root string) {
			mkdir(t, filepath.Join(root, "m"))
			symlink(t, "../b/3f2+", filepath.Join(root, "m", "3f2+"))
		}, false},
		{"file in a fan-out directory", func(t *testing.T, root string) {
			mkdir(t, filepath.Join(root, "m", "3f2+"))
			symlink(t, "../../b/3f2+/"+hex, filepath.Join(root, "m", "3f2+", hex))
		}, false},
		{"directory of objects", func(t *testing.T, root string) {
			symlink(t, "b", filepath.Join(root, "m"))
		}, true},
	} {
		for _, portable := range []bool{false, true} {
			mode := "openat2"
			if portable {
				mode = "portable"
			}
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				ctx := context.Background()
				root := filepath.Join(t.TempDir(), "root")
				b, err := New("disk", root)
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				if portable {
					b.cur.Load().at.beneath = false
				}
				if err := b.Put(ctx, blob, strings.NewReader("blob"), 4); err != nil {
					t.Fatal(err)
				}
				tc.plant(t, root)
				if _, err := b.Stat(ctx, meta); !errors.Is(err, backends.ErrNotFound) {
					t.Fatalf("Stat %s through a link: %v, want ErrNotFound", meta, err)
				}
				if got, err := readAll(b, meta); !errors.Is(err, backends.ErrNotFound) {
					t.Fatalf("Get %s through a link = %q, %v; want ErrNotFound", meta, got, err)
				}
				if err := b.Delete(ctx, meta); err != nil {
					t.Fatalf("Delete %s: %v", meta, err)
				}
				if got, err := readAll(b, blob); err != nil || got != "blob" {
					t.Fatalf("Get %s after Delete %s = %q, %v", blob, meta, got, err)
				}
				if page, err := b.List(ctx, "m/", "", 0); err != nil || len(page.Items) != 0 {
					t.Fatalf("List m/ = %v, %v", page.Items, err)
				}
				err = b.Put(ctx, meta, strings.NewReader("meta"), 4)
				if tc.putFail {
					if !errors.Is(err, backends.ErrUnavailable) {
						t.Fatalf("Put %s below a linked directory: %v, want ErrUnavailable", meta, err)
					}
				} else {
					if err != nil {
						t.Fatalf("Put %s: %v", meta, err)
					}
					if got, err := readAll(b, meta); err != nil || got != "meta" {
						t.Fatalf("Get %s after Put = %q, %v", meta, got, err)
					}
					if page, err := b.List(ctx, "m/", "", 0); err != nil || len(page.Items) != 1 || page.Items[0].Name != meta {
						t.Fatalf("List m/ after Put = %v, %v", page.Items, err)
					}
				}
				if got, err := os.ReadFile(filepath.Join(root, "b", "3f2+", hex)); err != nil || string(got) != "blob" {
					t.Fatalf("the blob's file: %q, %v", got, err)
				}
				if got, err := readAll(b, blob); err != nil || got != "blob" {
					t.Fatalf("Get %s at the end = %q, %v", blob, got, err)
				}
			})
		}
	}
}

// TestMigrateNotThroughLink: a migration never moves a flat file through a
// symbolic link in place of its fan-out directory (into the directory the
// link leads to, where its name does not lead): it stops, the file in
// place, and the backend is unavailable.
func TestMigrateNotThroughLink(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	hex := "3f2" + strings.Repeat("1", 61)
	writeFile(t, root, "m/"+hex, "meta", time.Time{})
	mkdir(t, filepath.Join(root, "m", "aaa+"))
	symlink(t, "aaa+", filepath.Join(root, "m", "3f2+"))
	if b, err := New("disk", root); !errors.Is(err, backends.ErrUnavailable) {
		if b != nil {
			b.Close()
		}
		t.Fatalf("New: %v, want ErrUnavailable", err)
	}
	if got, err := os.ReadFile(filepath.Join(root, "m", hex)); err != nil || string(got) != "meta" {
		t.Fatalf("the flat file: %q, %v", got, err)
	}
	if _, err := os.Lstat(filepath.Join(root, "m", "aaa+", hex)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("moved through the link: %v", err)
	}
}

// TestFlatPlaceFollowsLink: a link at the flat place of a name, inside the
// root, is followed by Get and Stat (the os.Root rules), as the package doc
// says; Delete removes nothing through it.
func TestFlatPlaceFollowsLink(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "root")
	b, err := New("disk", root)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Put(ctx, "b/x", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	mkdir(t, filepath.Join(root, "m"))
	for _, name := range []string{"m/y", "m/" + strings.Repeat("a", 64)} {
		symlink(t, "../b/x", filepath.Join(root, name))
		if got, err := readAll(b, name); err != nil || got != "x" {
			t.Fatalf("Get %s = %q, %v", name, got, err)
		}
		if fi, err := b.Stat(ctx, name); err != nil || fi.Size != 1 {
			t.Fatalf("Stat %s = %+v, %v", name, fi, err)
		}
		if err := b.Delete(ctx, name); err != nil {
			t.Fatal(err)
		}
		if got, err := readAll(b, "b/x"); err != nil || got != "x" {
			t.Fatalf("Get b/x after Delete %s = %q, %v", name, got, err)
		}
	}
}

// TestMigrateLinkErrors: the migration renames a file instead of linking
// it only where the file system cannot link it; any other error of the
// link stops it (the backend unavailable, the file at its flat place),
// except one saying that the directory cannot be written, which is served
// as it is (flat files included).
func TestMigrateLinkErrors(t *testing.T) {
	for _, tc := range []struct {
		err      error
		rename   bool
		readOnly bool
	}{
		{syscall.EPERM, true, false},
		{syscall.ENOTSUP, true, false},
		{syscall.EOPNOTSUPP, true, false},
		{syscall.ENOSYS, true, false},
		{syscall.EMLINK, true, false},
		{errors.ErrUnsupported, true, false},
		{syscall.EIO, false, false},
		{syscall.ENOSPC, false, false},
		{syscall.EXDEV, false, false},
		{syscall.EACCES, false, true},
		{syscall.EROFS, false, true},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			name := "m/" + strings.Repeat("ab", 32)
			writeFile(t, root, name, "the only copy", time.Time{})
			b := &Backend{name: "disk", path: root, link: func(r *os.Root, src, dst string) error {
				return &os.LinkError{Op: "link", Old: src, New: dst, Err: tc.err}
			}}
			defer b.Close()
			_, err := b.dir()
			flat, fan := filepath.Join(root, name), filepath.Join(root, physical(name))
			if tc.rename {
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				if _, err := os.Lstat(flat); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("flat place after migration: %v", err)
				}
				if got, err := os.ReadFile(fan); err != nil || string(got) != "the only copy" {
					t.Fatalf("fan-out place: %q, %v", got, err)
				}
				return
			}
			if tc.readOnly {
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				if got, err := readAll(b, name); err != nil || got != "the only copy" {
					t.Fatalf("Get %s = %q, %v", name, got, err)
				}
			} else if !errors.Is(err, backends.ErrUnavailable) || !errors.Is(err, tc.err) {
				t.Fatalf("open: %v, want ErrUnavailable wrapping %v", err, tc.err)
			}
			if got, err := os.ReadFile(flat); err != nil || string(got) != "the only copy" {
				t.Fatalf("flat place: %q, %v", got, err)
			}
			if _, err := os.Lstat(fan); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("fan-out place after a failed migration: %v", err)
			}
		})
	}
}

// TestMigrateRetryBackoff: after a migration stopped with an error,
// requests answer ErrUnavailable without walking the directory again until
// the time to retry (1 s, then doubling up to a minute); a directory that
// takes the root path's place is tried at once.
func TestMigrateRetryBackoff(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "root")
	name := "m/" + strings.Repeat("ab", 32)
	writeFile(t, root, name, "data", time.Time{})
	var walks atomic.Int64 // each migration links the one file first
	var broken atomic.Bool
	broken.Store(true)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := &Backend{name: "disk", path: root,
		link: func(r *os.Root, src, dst string) error {
			walks.Add(1)
			if broken.Load() {
				return syscall.EIO
			}
			return r.Link(src, dst)
		},
		now: func() time.Time { return now },
	}
	defer b.Close()
	request := func() error {
		_, err := b.Stat(ctx, name)
		return err
	}
	if _, err := b.dir(); !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("open: %v", err)
	}
	wait := retryMin
	for round := int64(1); round <= 10; round++ {
		if got := walks.Load(); got != round {
			t.Fatalf("round %d: %d walks", round, got)
		}
		for range 5 {
			if err := request(); !errors.Is(err, backends.ErrUnavailable) {
				t.Fatalf("round %d: %v, want ErrUnavailable", round, err)
			}
		}
		now = now.Add(wait - time.Millisecond)
		if err := request(); !errors.Is(err, backends.ErrUnavailable) || walks.Load() != round {
			t.Fatalf("round %d, 1 ms before the retry: %v, %d walks", round, err, walks.Load())
		}
		now = now.Add(time.Millisecond)
		if err := request(); !errors.Is(err, backends.ErrUnavailable) {
			t.Fatalf("round %d, retry: %v", round, err)
		}
		wait = min(2*wait, retryMax)
	}
	if b.backoff != retryMax {
		t.Fatalf("backoff after 11 failures: %v, want %v", b.backoff, retryMax)
	}
	// Another directory at the root path is opened (and migrated) at once.
	if err := os.Rename(root, root+".old"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, root, name, "new", time.Time{})
	before := walks.Load()
	if err := request(); !errors.Is(err, backends.ErrUnavailable) || walks.Load() != before+1 {
		t.Fatalf("a new directory: %v, %d walks, want %d", err, walks.Load(), before+1)
	}
	broken.Store(false)
	now = now.Add(retryMax)
	if got, err := readAll(b, name); err != nil || got != "new" {
		t.Fatalf("Get after the cause is gone = %q, %v", got, err)
	}
	if b.backoff != 0 || b.failed != nil {
		t.Fatalf("after a migration: backoff %v, failed %v", b.backoff, b.failed)
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, at string) {
	t.Helper()
	if err := os.Symlink(target, at); err != nil {
		t.Fatal(err)
	}
}
