package gateway_test

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/internal/testns"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// countingBackend counts every call that reaches a backend.
type countingBackend struct {
	backends.Backend
	calls atomic.Int64
}

func (c *countingBackend) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	c.calls.Add(1)
	return c.Backend.Get(ctx, name, off, n)
}

func (c *countingBackend) Stat(ctx context.Context, name string) (backends.Info, error) {
	c.calls.Add(1)
	return c.Backend.Stat(ctx, name)
}

func (c *countingBackend) List(ctx context.Context, prefix, after string, limit int) (backends.ListPage, error) {
	c.calls.Add(1)
	return c.Backend.List(ctx, prefix, after, limit)
}

// TestListingReadsNoBackend lists 100,000 keys, flat and by folder, and
// checks that not one backend call was made: listings come from the catalog.
func TestListingReadsNoBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 catalog entries")
	}
	var store *countingBackend
	te := testns.New(t, testns.Options{Catalog: []catalog.BoltOption{catalog.WithNoSync()}, Wrap: func(b backends.Backend) backends.Backend {
		store = &countingBackend{Backend: b}
		return store
	}})
	ns, cat := te.NS, te.Catalog
	ctx := context.Background()
	if err := ns.CreateBucket(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	// Entries go straight into the catalog: what is measured is the
	// listing, and writing 100,000 objects through two backends would
	// only slow the test down.
	const n = 100_000
	now := time.Now()
	for i := range n {
		e := catalog.Entry{Bucket: "big", Key: fmt.Sprintf("folder-%d/file-%06d", i%10, i), Size: int64(i), ETag: "00", ModTime: now, Generation: 1}
		if _, err := cat.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	store.calls.Store(0)

	seen, pages, after := 0, 0, ""
	for {
		res, err := ns.List(ctx, "big", gateway.ListOptions{StartAfter: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		seen += len(res.Objects)
		pages++
		if !res.Truncated {
			break
		}
		after = res.Next
	}
	if seen != n || pages != n/1000 {
		t.Errorf("listed %d keys in %d pages, want %d in %d", seen, pages, n, n/1000)
	}
	res, err := ns.List(ctx, "big", gateway.ListOptions{Delimiter: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.CommonPrefixes) != 10 || len(res.Objects) != 0 || res.Truncated {
		t.Errorf("folder listing: %d prefixes, %d objects, truncated %v", len(res.CommonPrefixes), len(res.Objects), res.Truncated)
	}
	if c := store.calls.Load(); c != 0 {
		t.Errorf("listing made %d backend calls, want 0", c)
	}
}
