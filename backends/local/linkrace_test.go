package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends"
)

// TestMigrateBackoffNewDirectory: a directory that takes the root path's
// place after earlier ones failed to migrate starts with the shortest wait.
func TestMigrateBackoffNewDirectory(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "root")
	name := "m/" + strings.Repeat("ab", 32)
	writeFile(t, root, name, "data", time.Time{})
	broken := true
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := &Backend{name: "disk", path: root,
		link: func(r *os.Root, src, dst string) error {
			if broken {
				return syscall.EIO
			}
			return r.Link(src, dst)
		},
		now: func() time.Time { return now },
	}
	defer b.Close()
	for i := 0; i < 8; i++ {
		b.Stat(ctx, name)
		now = now.Add(retryMax)
	}
	os.Rename(root, root+".old")
	writeFile(t, root, name, "new", time.Time{})
	if _, err := b.Stat(ctx, name); !errors.Is(err, backends.ErrUnavailable) {
		t.Fatal(err)
	}
	broken = false
	now = now.Add(retryMin)
	if _, err := b.Stat(ctx, name); err != nil {
		t.Fatalf("new directory, fixed, 1 s after its first failure: %v (backoff %v)", err, b.backoff)
	}
}

// TestPutReplacesLinkConcurrently: concurrent Puts into a fan-out
// directory that is a symbolic link all succeed: one replaces the link,
// the others find the directory it made (never remove it).
func TestPutReplacesLinkConcurrently(t *testing.T) {
	ctx := context.Background()
	fails := 0
	for round := 0; round < 500; round++ {
		root := t.TempDir()
		b, err := New("disk", root)
		if err != nil {
			t.Fatal(err)
		}
		mkdir(t, filepath.Join(root, "m"))
		mkdir(t, filepath.Join(root, "elsewhere"))
		symlink(t, "../elsewhere", filepath.Join(root, "m", "abc+"))
		var wg sync.WaitGroup
		var mu sync.Mutex
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := fmt.Sprintf("m/abc%061x", g)
				if err := b.Put(ctx, n, strings.NewReader("x"), 1); err != nil {
					mu.Lock()
					fails++
					if fails < 4 {
						t.Logf("round %d: %v", round, err)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		b.Close()
	}
	if fails > 0 {
		t.Fatalf("%d Puts failed", fails)
	}
}
