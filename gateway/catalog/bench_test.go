package catalog_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// benchKeys is the size of the benchmark bucket: 10 folders of 10,000
// keys each.
const (
	benchFolders = 10
	benchPerDir  = 10_000
	benchKeys    = benchFolders * benchPerDir
)

func loadBench(b *testing.B) *catalog.Bolt {
	b.Helper()
	c, err := catalog.OpenBolt(filepath.Join(b.TempDir(), "bench.db"), catalog.WithNoSync())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	ctx := b.Context()
	if err := c.CreateBucket(ctx, catalog.Bucket{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	rec := make([]byte, 200) // about the size of a sealed meta record
	for d := range benchFolders {
		for i := range benchPerDir {
			e := catalog.Entry{Bucket: "bench", Key: fmt.Sprintf("folder-%02d/sub/file-%06d.dat", d, i), Size: int64(i), ETag: "0123456789abcdef0123456789abcdef", Generation: 1, Record: rec}
			if _, err := c.Put(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
	}
	return c
}

func BenchmarkBoltList(b *testing.B) {
	c := loadBench(b)
	ctx := b.Context()

	b.Run("all-100k-pages-of-1000", func(b *testing.B) {
		for b.Loop() {
			n := 0
			o := catalog.ListOptions{Bucket: "bench", Limit: 1000}
			for {
				res, err := c.List(ctx, o)
				if err != nil {
					b.Fatal(err)
				}
				n += len(res.Entries)
				if !res.Truncated {
					break
				}
				o.StartAfter = res.Next
			}
			if n != benchKeys {
				b.Fatalf("listed %d keys, want %d", n, benchKeys)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchKeys, "ns/key")
	})

	b.Run("delimiter-top-level-10-of-100k", func(b *testing.B) {
		for b.Loop() {
			res, err := c.List(ctx, catalog.ListOptions{Bucket: "bench", Delimiter: "/"})
			if err != nil {
				b.Fatal(err)
			}
			if len(res.CommonPrefixes) != benchFolders || len(res.Entries) != 0 || res.Truncated {
				b.Fatalf("got %d prefixes, %d entries", len(res.CommonPrefixes), len(res.Entries))
			}
		}
	})

	b.Run("delimiter-one-folder-page-of-1000", func(b *testing.B) {
		for b.Loop() {
			res, err := c.List(ctx, catalog.ListOptions{Bucket: "bench", Prefix: "folder-05/sub/", Delimiter: "/", Limit: 1000})
			if err != nil {
				b.Fatal(err)
			}
			if len(res.Entries) != 1000 || !res.Truncated {
				b.Fatalf("got %d entries", len(res.Entries))
			}
		}
	})

	b.Run("get", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.Get(ctx, "bench", "folder-07/sub/file-004242.dat"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkBoltPut(b *testing.B) {
	// Durable puts: one fsync'd transaction each.
	c, err := catalog.OpenBolt(filepath.Join(b.TempDir(), "put.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := b.Context()
	if err := c.CreateBucket(ctx, catalog.Bucket{Name: "b"}); err != nil {
		b.Fatal(err)
	}
	rec := make([]byte, 200)
	i := 0
	for b.Loop() {
		i++
		if _, err := c.Put(ctx, catalog.Entry{Bucket: "b", Key: fmt.Sprintf("k%09d", i), Generation: 1, Record: rec}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBoltCount compares Count with the walk that counted before it,
// on the 100k-key benchmark bucket.
func BenchmarkBoltCount(b *testing.B) {
	c := loadBench(b)
	ctx := b.Context()
	b.Run("walk-100k", func(b *testing.B) {
		for b.Loop() {
			n := 0
			if err := c.Walk(ctx, func(catalog.Entry) error { n++; return nil }); err != nil {
				b.Fatal(err)
			}
			if n != benchKeys {
				b.Fatalf("walked %d keys, want %d", n, benchKeys)
			}
		}
	})
	b.Run("count-100k", func(b *testing.B) {
		for b.Loop() {
			n, err := c.Count(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if n.Entries != benchKeys {
				b.Fatalf("counted %d keys, want %d", n.Entries, benchKeys)
			}
		}
	})
}
