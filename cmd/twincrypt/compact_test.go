package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// TestCompactCatalogFile: what lies at PATH.compacting (a leftover of an
// interrupted run, or a symlink planted there) is replaced, never written
// through; a compaction that cannot be done, or is interrupted, leaves the
// catalog as it was and is a warning, not the command's failure.
func TestCompactCatalogFile(t *testing.T) {
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		prepare func(t *testing.T, tmp, outside string)
		warn    string // "" : compacted
	}{
		{name: "nothing there", ctx: ctx, prepare: func(*testing.T, string, string) {}},
		{name: "a leftover file", ctx: ctx, prepare: func(t *testing.T, tmp, _ string) {
			if err := os.WriteFile(tmp, []byte("half a compaction"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a symlink to another file", ctx: ctx, prepare: func(t *testing.T, tmp, outside string) {
			if err := os.Symlink(outside, tmp); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a directory that cannot be removed", ctx: ctx, warn: "is complete but not compacted", prepare: func(t *testing.T, tmp, _ string) {
			if err := os.MkdirAll(filepath.Join(tmp, "x"), 0o700); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "interrupted", ctx: cancelled, warn: "context canceled", prepare: func(*testing.T, string, string) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "catalog.db")
			outside := filepath.Join(dir, "outside")
			if err := os.WriteFile(outside, []byte("not the catalog's"), 0o600); err != nil {
				t.Fatal(err)
			}
			cat, err := catalog.OpenBolt(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := cat.CreateBucket(ctx, catalog.Bucket{Name: "bucket"}); err != nil {
				t.Fatal(err)
			}
			cat.Close()
			tc.prepare(t, path+".compacting", outside)
			var stdout, stderr bytes.Buffer
			compactCatalogFile(tc.ctx, &cli{stdout: &stdout, stderr: &stderr}, path)
			if tc.warn == "" {
				if !strings.Contains(stdout.String(), "compacted the catalog") || stderr.Len() > 0 {
					t.Fatalf("stdout %q, stderr %q; want compacted", stdout.String(), stderr.String())
				}
				if _, err := os.Lstat(path + ".compacting"); !os.IsNotExist(err) {
					t.Errorf("PATH.compacting left: %v", err)
				}
			} else if !strings.Contains(stderr.String(), tc.warn) {
				t.Fatalf("stderr %q; want a warning with %q", stderr.String(), tc.warn)
			}
			if b, err := os.ReadFile(outside); err != nil || string(b) != "not the catalog's" {
				t.Errorf("the file outside: %q, %v", b, err)
			}
			cat, err = catalog.OpenBolt(path)
			if err != nil {
				t.Fatal(err)
			}
			defer cat.Close()
			if bs, err := cat.ListBuckets(ctx); err != nil || len(bs) != 1 || bs[0].Name != "bucket" {
				t.Errorf("catalog after: %v, %v", bs, err)
			}
		})
	}
}
