package local_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/backends/backendtest"
	"github.com/twincrypt/twincrypt/backends/local"
)

func newLocal(t *testing.T, root string) *local.Backend {
	t.Helper()
	b, err := local.New("disk", root)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backends.Backend {
		return newLocal(t, filepath.Join(t.TempDir(), "root"))
	})
}

func TestNewErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, root string }{
		{"", t.TempDir()},
		{"disk", ""},
		{"disk", file},
		{"disk", filepath.Join(file, "below")},
	}
	for _, tc := range tests {
		if b, err := local.New(tc.name, tc.root); err == nil {
			b.Close()
			t.Errorf("New(%q, %q) succeeded", tc.name, tc.root)
		}
	}
}

// TestSymlinkEscape checks that a symbolic link inside the root cannot be
// used to read or write outside it.
func TestSymlinkEscape(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "root")
	outside := t.TempDir()
	secret := []byte("outside the root")
	if err := os.WriteFile(filepath.Join(outside, "secret"), secret, 0o600); err != nil {
		t.Fatal(err)
	}
	b := newLocal(t, root)
	defer b.Close()
	if err := os.Symlink(outside, filepath.Join(root, "b")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "m")); err != nil {
		t.Fatal(err)
	}

	if err := b.Put(ctx, "b/planted", bytes.NewReader([]byte("x")), 1); err == nil {
		t.Error("Put through an escaping symlink succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file created outside the root: %v", err)
	}
	for _, name := range []string{"b/secret", "m"} {
		if rc, err := b.Get(ctx, name, 0, -1); err == nil {
			data, _ := io.ReadAll(rc)
			rc.Close()
			t.Errorf("Get %s through an escaping symlink returned %q", name, data)
		}
		if _, err := b.Stat(ctx, name); err == nil {
			t.Errorf("Stat %s through an escaping symlink succeeded", name)
		}
	}
	if err := b.Delete(ctx, "b/secret"); err == nil {
		t.Error("Delete through an escaping symlink succeeded")
	}
	if got, err := os.ReadFile(filepath.Join(outside, "secret")); err != nil || !bytes.Equal(got, secret) {
		t.Errorf("file outside the root changed: %q, %v", got, err)
	}
	page, err := b.List(ctx, "", "", 0)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(page.Items) != 0 {
		t.Errorf("List followed a symlink: %+v", page.Items)
	}
}

// TestCrashLeftovers simulates a crash in the middle of a Put: the temporary
// file it leaves is invisible and New removes it.
func TestCrashLeftovers(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "root")
	b := newLocal(t, root)
	if err := b.Put(ctx, "b/whole", bytes.NewReader([]byte("whole")), 5); err != nil {
		t.Fatal(err)
	}
	// What an interrupted Put leaves: a partial temporary file, last
	// written long ago. A fresh one may be the write in progress of
	// another process serving the same directory.
	partial := filepath.Join(root, "~tmp", "0123456789abcdef")
	if err := os.WriteFile(partial, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-local.StaleTemp - time.Minute)
	if err := os.Chtimes(partial, old, old); err != nil {
		t.Fatal(err)
	}
	inFlight := filepath.Join(root, "~tmp", "fedcba9876543210")
	if err := os.WriteFile(inFlight, []byte("in flight"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A foreign file whose name is not a valid object name is not listed either.
	if err := os.WriteFile(filepath.Join(root, "b", "bad name"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	page, err := b.List(ctx, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].Name != "b/whole" {
		t.Fatalf("List = %+v, want only b/whole", page.Items)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = newLocal(t, root) // restart
	defer b.Close()
	if _, err := os.Stat(partial); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file survived New: %v", err)
	}
	entries, err := os.ReadDir(filepath.Join(root, "~tmp"))
	if err != nil || len(entries) != 1 || entries[0].Name() != "fedcba9876543210" {
		t.Fatalf("temporary directory after New: %v, %v; want only the fresh file", entries, err)
	}
	// Garbage collection sweeps by age: a cutoff before the fresh file
	// keeps it, one after it removes it.
	if n, err := b.SweepTemp(ctx, time.Now().Add(-time.Hour)); n != 0 || err != nil {
		t.Fatalf("SweepTemp of nothing old: %d, %v", n, err)
	}
	if n, err := b.SweepTemp(ctx, time.Now().Add(time.Second)); n != 1 || err != nil {
		t.Fatalf("SweepTemp: %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(inFlight); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file survived SweepTemp: %v", err)
	}
	rc, err := b.Get(ctx, "b/whole", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if data, err := io.ReadAll(rc); err != nil || string(data) != "whole" {
		t.Fatalf("object after restart: %q, %v", data, err)
	}
}

// TestFailedPutLeavesNoTemp checks that a failed Put cleans up after itself.
func TestFailedPutLeavesNoTemp(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	b := newLocal(t, root)
	defer b.Close()
	err := b.Put(context.Background(), "b/x", bytes.NewReader([]byte("short")), 10)
	if !errors.Is(err, backends.ErrPrecondition) {
		t.Fatalf("Put: %v, want ErrPrecondition", err)
	}
	entries, err := os.ReadDir(filepath.Join(root, "~tmp"))
	if err != nil || len(entries) != 0 {
		t.Fatalf("temporary directory: %d entries, %v", len(entries), err)
	}
}

// TestNameConflict checks that a name cannot be both an object and a
// directory of objects.
func TestNameConflict(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, filepath.Join(t.TempDir(), "root"))
	defer b.Close()
	if err := b.Put(ctx, "b/x", bytes.NewReader(nil), 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "b/x/y", bytes.NewReader(nil), 0); err == nil {
		t.Error("Put b/x/y under the object b/x succeeded")
	}
	if err := b.Put(ctx, "b", bytes.NewReader(nil), 0); err == nil {
		t.Error("Put b over the directory b succeeded")
	}
	if err := b.Delete(ctx, "b"); err != nil {
		t.Errorf("Delete of a directory name: %v", err)
	}
	if _, err := b.Stat(ctx, "b/x"); err != nil {
		t.Errorf("b/x after conflicts: %v", err)
	}
}
