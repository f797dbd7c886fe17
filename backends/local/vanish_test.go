package local_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/backends/local"
)

// put stores data under name and fails the test on error.
func put(t *testing.T, b *local.Backend, name, data string) {
	t.Helper()
	if err := b.Put(context.Background(), name, bytes.NewReader([]byte(data)), int64(len(data))); err != nil {
		t.Fatalf("Put %s: %v", name, err)
	}
}

// get returns the content of name, or the error.
func get(b *local.Backend, name string) (string, error) {
	rc, err := b.Get(context.Background(), name, 0, -1)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	return string(data), err
}

// TestVanishingRoot removes the root directory, or empties it, while the
// backend is open: while no directory is at the path every request fails
// with ErrMissing (an availability error, never "not found"), nothing
// recreates the directory, and once a directory is back the backend uses it
// without being reopened.
func TestVanishingRoot(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// damage changes the root; it returns whether the directory is
		// missing afterwards (until restore).
		damage  func(t *testing.T, root string) bool
		restore func(t *testing.T, root string)
	}{
		{
			name: "removed and created again",
			damage: func(t *testing.T, root string) bool {
				if err := os.RemoveAll(root); err != nil {
					t.Fatal(err)
				}
				return true
			},
			restore: func(t *testing.T, root string) {
				if err := os.Mkdir(root, 0o700); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "emptied in place",
			damage: func(t *testing.T, root string) bool {
				ents, err := os.ReadDir(root)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range ents {
					if err := os.RemoveAll(filepath.Join(root, e.Name())); err != nil {
						t.Fatal(err)
					}
				}
				return false
			},
			restore: func(*testing.T, string) {},
		},
		{
			name: "replaced by another directory",
			damage: func(t *testing.T, root string) bool {
				if err := os.Rename(root, root+".old"); err != nil {
					t.Fatal(err)
				}
				return true
			},
			restore: func(t *testing.T, root string) {
				if err := os.Mkdir(root, 0o700); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			b := newLocal(t, root)
			defer b.Close()
			put(t, b, "b/before", "before")

			if tc.damage(t, root) {
				err := b.Put(ctx, "b/during", bytes.NewReader([]byte("x")), 1)
				if !errors.Is(err, local.ErrMissing) || !errors.Is(err, backends.ErrUnavailable) {
					t.Errorf("Put with the directory missing: %v, want ErrMissing", err)
				}
				if _, err := get(b, "b/before"); !errors.Is(err, backends.ErrUnavailable) || errors.Is(err, backends.ErrNotFound) {
					t.Errorf("Get with the directory missing: %v, want unavailable, not not-found", err)
				}
				if _, err := b.Stat(ctx, "b/before"); !errors.Is(err, local.ErrMissing) {
					t.Errorf("Stat with the directory missing: %v", err)
				}
				if _, err := b.List(ctx, "", "", 0); !errors.Is(err, local.ErrMissing) {
					t.Errorf("List with the directory missing: %v", err)
				}
				if err := b.Delete(ctx, "b/before"); !errors.Is(err, local.ErrMissing) {
					t.Errorf("Delete with the directory missing: %v", err)
				}
				if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("the backend created its missing directory: %v", err)
				}
				tc.restore(t, root)
			}

			// The directory is back, empty: the object is gone and
			// writes work at once.
			if _, err := get(b, "b/before"); !errors.Is(err, backends.ErrNotFound) {
				t.Errorf("Get of a lost object: %v, want ErrNotFound", err)
			}
			put(t, b, "b/after", "after")
			if got, err := get(b, "b/after"); err != nil || got != "after" {
				t.Errorf("Get after the directory returned: %q, %v", got, err)
			}
			if _, err := os.Stat(filepath.Join(root, "b", "after")); err != nil {
				t.Errorf("the object is not in the directory at the path: %v", err)
			}
			page, err := b.List(ctx, "", "", 0)
			if err != nil || len(page.Items) != 1 || page.Items[0].Name != "b/after" {
				t.Errorf("List after the directory returned: %+v, %v", page.Items, err)
			}
		})
	}
}

// TestOpenMissing opens a backend whose directory does not exist yet: Open
// succeeds without creating it, requests fail with ErrMissing, and the
// backend works as soon as the directory exists.
func TestOpenMissing(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "root")
	b, err := local.Open("disk", root)
	if err != nil {
		t.Fatalf("Open of a missing directory: %v", err)
	}
	defer b.Close()
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open created the directory: %v", err)
	}
	if _, err := b.List(ctx, "", "", 1); !errors.Is(err, local.ErrMissing) {
		t.Fatalf("List: %v, want ErrMissing", err)
	}
	if err := b.Check(ctx); !errors.Is(err, local.ErrMissing) {
		t.Fatalf("Check: %v, want ErrMissing", err)
	}
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := b.Check(ctx); err != nil {
		t.Fatalf("Check once the directory exists: %v", err)
	}
	put(t, b, "m/x", "x")
	if got, err := get(b, "m/x"); err != nil || got != "x" {
		t.Fatalf("Get: %q, %v", got, err)
	}

	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := local.Open("disk", file); err == nil {
		b.Close()
		t.Error("Open of a regular file succeeded")
	}
}

// TestClosedBackend checks that requests after Close fail and do not open
// the directory again.
func TestClosedBackend(t *testing.T) {
	b := newLocal(t, filepath.Join(t.TempDir(), "root"))
	put(t, b, "b/x", "x")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := get(b, "b/x"); err == nil {
		t.Error("Get after Close succeeded")
	}
	if err := b.Put(context.Background(), "b/y", bytes.NewReader(nil), 0); err == nil {
		t.Error("Put after Close succeeded")
	}
}
