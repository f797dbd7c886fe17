package catalog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rssFile returns the file-backed resident memory of this process.
func rssFile(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// A walk over the whole catalog, or a count, must not leave the process
// resident over the whole file: the pages it reads are dropped from the
// mapping as it goes.
func TestWalkReleasesMappedPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	c, err := OpenBolt(path, WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.CreateBucket(ctx, Bucket{Name: "b", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	record := make([]byte, 1200) // a sealed 1 KiB meta record
	const n = 40000
	for i := range n {
		if _, err := c.Put(ctx, Entry{Bucket: "b", Key: fmt.Sprintf("k%08d", i*7919%n), Size: 1, Generation: 1, Record: record}); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Walk, and Count (which reads the same pages): each on a fresh
	// mapping, nothing of the file resident yet.
	cases := []struct {
		name string
		run  func(c *Bolt) (int, error)
	}{
		{"walk", func(c *Bolt) (int, error) {
			walked := 0
			err := c.Walk(ctx, func(Entry) error { walked++; return nil })
			return walked, err
		}},
		{"count", func(c *Bolt) (int, error) {
			n, err := c.Count(ctx)
			return n.Entries, err
		}},
	}
	for _, tc := range cases {
		c, err := OpenBolt(path)
		if err != nil {
			t.Fatal(err)
		}
		before := rssFile(t)
		seen, err := tc.run(c)
		if err != nil {
			t.Fatal(err)
		}
		grew := rssFile(t) - before
		c.Close()
		t.Logf("catalog of %d MiB: a %s of %d entries added %d KiB of resident file pages", fi.Size()>>20, tc.name, seen, grew>>10)
		if seen != n {
			t.Fatalf("%s: %d entries, want %d", tc.name, seen, n)
		}
		if limit := int64(24 << 20); fi.Size() < 2*limit || grew > limit {
			t.Fatalf("catalog of %d bytes: the %s left %d bytes resident, want at most %d", fi.Size(), tc.name, grew, limit)
		}
	}
}
