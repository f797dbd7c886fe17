package catalog_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/internal/testenv"
)

// fillBench puts the benchmark bucket (benchFolders folders of benchPerDir
// keys) into c with 16 writers.
func fillBench(b *testing.B, c catalog.Catalog) {
	b.Helper()
	ctx := b.Context()
	if err := c.CreateBucket(ctx, catalog.Bucket{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	rec := make([]byte, 200) // about the size of a sealed meta record
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			for n := w; n < benchKeys; n += 16 {
				d, i := n/benchPerDir, n%benchPerDir
				e := catalog.Entry{Bucket: "bench", Key: fmt.Sprintf("folder-%02d/sub/file-%06d.dat", d, i), Size: int64(i), ETag: "0123456789abcdef0123456789abcdef", Generation: 1, Record: rec}
				if _, err := c.Put(ctx, e); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// BenchmarkCatalogList lists the same 100,000 keys from the embedded
// catalog and from Redis, with one client and with two clients (two
// gateway instances) listing at once.
func BenchmarkCatalogList(b *testing.B) {
	bolt, err := catalog.OpenBolt(filepath.Join(b.TempDir(), "bench.db"), catalog.WithNoSync())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bolt.Close() })
	fillBench(b, bolt)
	url := testenv.StartRedis(b).URL()
	r1 := openRedis(b, testenv.RedisClient(b, url), "bench:")
	r2 := openRedis(b, testenv.RedisClient(b, url), "bench:")
	fillBench(b, r1)

	listAll := func(b *testing.B, c catalog.Catalog) {
		n := 0
		o := catalog.ListOptions{Bucket: "bench", Limit: 1000}
		for {
			res, err := c.List(b.Context(), o)
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
	topLevel := func(b *testing.B, c catalog.Catalog) {
		res, err := c.List(b.Context(), catalog.ListOptions{Bucket: "bench", Delimiter: "/"})
		if err != nil || len(res.CommonPrefixes) != benchFolders || len(res.Entries) != 0 {
			b.Fatalf("got %d prefixes, %d entries, %v", len(res.CommonPrefixes), len(res.Entries), err)
		}
	}
	folderPage := func(b *testing.B, c catalog.Catalog) {
		res, err := c.List(b.Context(), catalog.ListOptions{Bucket: "bench", Prefix: "folder-05/sub/", Delimiter: "/", Limit: 1000})
		if err != nil || len(res.Entries) != 1000 || !res.Truncated {
			b.Fatalf("got %d entries, %v", len(res.Entries), err)
		}
	}
	prefixes := func(b *testing.B, c catalog.Catalog) {
		res, err := c.List(b.Context(), catalog.ListOptions{Bucket: "bench", Prefix: "folder-0", Delimiter: "/sub/"})
		if err != nil || len(res.CommonPrefixes) != benchFolders {
			b.Fatalf("got %d prefixes, %v", len(res.CommonPrefixes), err)
		}
	}
	get := func(b *testing.B, c catalog.Catalog) {
		if _, err := c.Get(b.Context(), "bench", "folder-07/sub/file-004242.dat"); err != nil {
			b.Fatal(err)
		}
	}
	ops := []struct {
		name string
		fn   func(*testing.B, catalog.Catalog)
		keys int // keys an op lists, for ns/key
	}{
		{"all-100k-pages-of-1000", listAll, benchKeys},
		{"delimiter-top-level-10-of-100k", topLevel, 0},
		{"prefix-delimiter-10-of-100k", prefixes, 0},
		{"delimiter-one-folder-page-of-1000", folderPage, 0},
		{"get", get, 0},
	}
	cats := []struct {
		name    string
		clients []catalog.Catalog
	}{
		{"bolt", []catalog.Catalog{bolt}},
		{"redis", []catalog.Catalog{r1}},
		{"redis-2-clients", []catalog.Catalog{r1, r2}},
	}
	for _, op := range ops {
		for _, c := range cats {
			b.Run(op.name+"/"+c.name, func(b *testing.B) {
				if len(c.clients) == 1 {
					for b.Loop() {
						op.fn(b, c.clients[0])
					}
				} else {
					// Each client does b.N/2 ops at once: ns/op is per op of
					// the pair, so the rate is the two together.
					for b.Loop() {
						var wg sync.WaitGroup
						for _, cl := range c.clients {
							wg.Go(func() { op.fn(b, cl) })
						}
						wg.Wait()
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(c.clients)), "ns/list")
				}
				if op.keys > 0 {
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(c.clients))/float64(op.keys), "ns/key")
				}
			})
		}
	}
}
