package local_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestPutDirectoriesChangedByHand checks that Puts land at the path after
// the destination or temporary directory was removed, replaced or moved
// away by hand, and that Puts into many directories work.
func TestPutDirectoriesChangedByHand(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		change func(t *testing.T, root string) // between the first Put and the second
	}{
		{"nothing", func(*testing.T, string) {}},
		{"destination removed", func(t *testing.T, root string) {
			if err := os.RemoveAll(filepath.Join(root, "m")); err != nil {
				t.Fatal(err)
			}
		}},
		{"destination moved away and made again", func(t *testing.T, root string) {
			if err := os.Rename(filepath.Join(root, "m"), filepath.Join(root, "old")); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(root, "m"), 0o700); err != nil {
				t.Fatal(err)
			}
		}},
		{"temporary directory removed", func(t *testing.T, root string) {
			if err := os.RemoveAll(filepath.Join(root, "~tmp")); err != nil {
				t.Fatal(err)
			}
		}},
		{"temporary directory moved away and made again", func(t *testing.T, root string) {
			if err := os.Rename(filepath.Join(root, "~tmp"), filepath.Join(root, "oldtmp")); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(root, "~tmp"), 0o700); err != nil {
				t.Fatal(err)
			}
		}},
		{"root emptied", func(t *testing.T, root string) {
			for _, n := range []string{"m", "~tmp"} {
				if err := os.RemoveAll(filepath.Join(root, n)); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			b := newLocal(t, root)
			defer b.Close()
			if err := b.Put(ctx, "m/first", bytes.NewReader([]byte("one")), 3); err != nil {
				t.Fatalf("first Put: %v", err)
			}
			tc.change(t, root)
			if err := b.Put(ctx, "m/second", bytes.NewReader([]byte("two!")), 4); err != nil {
				t.Fatalf("second Put: %v", err)
			}
			got, err := os.ReadFile(filepath.Join(root, "m", "second"))
			if err != nil || string(got) != "two!" {
				t.Fatalf("m/second at the path: %q, %v", got, err)
			}
			if _, err := os.Stat(filepath.Join(root, "old", "second")); err == nil {
				t.Error("m/second went into the directory moved away")
			}
			for _, tmp := range []string{"~tmp", "oldtmp"} {
				if es, err := os.ReadDir(filepath.Join(root, tmp)); err == nil && len(es) != 0 {
					t.Errorf("%s holds %d files after the Puts", tmp, len(es))
				}
			}
		})
	}
	t.Run("many directories", func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "root")
		b := newLocal(t, root)
		defer b.Close()
		const n = 150
		for i := range n {
			name := fmt.Sprintf("d%03d/x", i)
			if err := b.Put(ctx, name, bytes.NewReader([]byte(name)), int64(len(name))); err != nil {
				t.Fatalf("Put %s: %v", name, err)
			}
		}
		for i := range n {
			name := fmt.Sprintf("d%03d/x", i)
			if got, err := os.ReadFile(filepath.Join(root, name)); err != nil || string(got) != name {
				t.Fatalf("%s: %q, %v", name, got, err)
			}
		}
	})
}
