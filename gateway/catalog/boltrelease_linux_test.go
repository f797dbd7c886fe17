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

// A walk over the whole catalog must not leave the process resident over
// the whole file: the pages it reads are dropped from the mapping as it goes.
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
	// A fresh mapping: nothing of the file resident yet.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err = OpenBolt(path); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := rssFile(t)
	walked := 0
	if err := c.Walk(ctx, func(Entry) error { walked++; return nil }); err != nil {
		t.Fatal(err)
	}
	grew := rssFile(t) - before
	t.Logf("catalog of %d MiB: a walk of %d entries added %d KiB of resident file pages", fi.Size()>>20, walked, grew>>10)
	if walked != n {
		t.Fatalf("walked %d entries, want %d", walked, n)
	}
	if limit := int64(24 << 20); fi.Size() < 2*limit || grew > limit {
		t.Fatalf("catalog of %d bytes: the walk left %d bytes resident, want at most %d", fi.Size(), grew, limit)
	}
}
