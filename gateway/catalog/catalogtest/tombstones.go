package catalogtest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// testTombstones checks that a tombstone removes an older entry, refuses
// older entries and tombstones afterwards, gives way to a newer entry, and
// that bucket tombstones need the bucket gone.
func testTombstones(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	mustCreateBucket(t, c, "b")
	mustPut(t, c, entry("b", "k", 5))
	tomb := catalog.Tombstone{Bucket: "b", Key: "k", Generation: 5, Deleted: t0, Record: []byte("tomb")}
	if _, err := c.PutTombstone(ctx, tomb); !errors.Is(err, catalog.ErrStale) {
		t.Fatalf("tombstone at the entry's generation: %v, want ErrStale", err)
	}
	tomb.Generation = 6
	removed, err := c.PutTombstone(ctx, tomb)
	if err != nil || removed == nil || removed.Generation != 5 {
		t.Fatalf("PutTombstone: %+v, %v; want the entry of generation 5 removed", removed, err)
	}
	if _, err := c.Get(ctx, "b", "k"); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("Get after the tombstone: %v, want ErrNotFound", err)
	}
	got, err := c.GetTombstone(ctx, "b", "k")
	if err != nil || got.Generation != 6 || !got.Deleted.Equal(t0) || string(got.Record) != "tomb" {
		t.Fatalf("GetTombstone = %+v, %v", got, err)
	}
	// Nothing at or below the tombstone comes back.
	for _, g := range []uint64{5, 6} {
		if _, err := c.Put(ctx, entry("b", "k", g)); !errors.Is(err, catalog.ErrStale) {
			t.Errorf("Put generation %d over a tombstone of 6: %v, want ErrStale", g, err)
		}
	}
	tomb.Generation = 6
	if _, err := c.PutTombstone(ctx, tomb); !errors.Is(err, catalog.ErrStale) {
		t.Errorf("the same tombstone again: %v, want ErrStale", err)
	}
	// A newer tombstone of a deleted name replaces the older one.
	tomb.Generation = 7
	if removed, err := c.PutTombstone(ctx, tomb); err != nil || removed != nil {
		t.Fatalf("newer tombstone: %+v, %v", removed, err)
	}
	// A newer entry replaces the tombstone.
	mustPut(t, c, entry("b", "k", 8))
	if _, err := c.GetTombstone(ctx, "b", "k"); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("tombstone after a newer Put: %v, want ErrNotFound", err)
	}
	// Bucket tombstones.
	if _, err := c.PutTombstone(ctx, catalog.Tombstone{Bucket: "b", Generation: 9}); err == nil {
		t.Fatal("a bucket tombstone while the bucket exists was accepted")
	}
	mustCreateBucket(t, c, "gone")
	if err := c.DeleteBucket(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutTombstone(ctx, catalog.Tombstone{Bucket: "gone", Generation: 3}); err != nil {
		t.Fatal(err)
	}
	if bt, err := c.GetTombstone(ctx, "gone", ""); err != nil || bt.Generation != 3 {
		t.Fatalf("bucket tombstone: %+v, %v", bt, err)
	}
	// Tombstones in names with NUL bytes and many of them walk in order.
	for i := range 300 {
		key := fmt.Sprintf("w/%03d\x00x", i)
		mustPut(t, c, entry("b", key, 1))
		if _, err := c.PutTombstone(ctx, catalog.Tombstone{Bucket: "b", Key: key, Generation: 2}); err != nil {
			t.Fatal(err)
		}
	}
	var walked []string
	err = c.WalkTombstones(ctx, func(t catalog.Tombstone) error {
		walked = append(walked, t.Bucket+"/"+t.Key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(walked) != 301 || walked[0] != "b/w/000\x00x" || walked[299] != "b/w/299\x00x" || walked[300] != "gone/" {
		t.Fatalf("WalkTombstones: %d tombstones, first %q, last %q", len(walked), walked[0], walked[len(walked)-1])
	}
}

// testEpoch checks that the epoch only goes up.
func testEpoch(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	if e, rec, err := c.Epoch(ctx); err != nil || e != 0 || rec != nil {
		t.Fatalf("Epoch of a new catalog: %d %q %v", e, rec, err)
	}
	if err := c.AdvanceEpoch(ctx, 5, []byte("five")); err != nil {
		t.Fatal(err)
	}
	for _, e := range []uint64{5, 4} {
		if err := c.AdvanceEpoch(ctx, e, []byte("x")); !errors.Is(err, catalog.ErrStale) {
			t.Errorf("AdvanceEpoch(%d) after 5: %v, want ErrStale", e, err)
		}
	}
	if err := c.AdvanceEpoch(ctx, 9, []byte("nine")); err != nil {
		t.Fatal(err)
	}
	if e, rec, err := c.Epoch(ctx); err != nil || e != 9 || string(rec) != "nine" {
		t.Fatalf("Epoch = %d %q %v, want 9", e, rec, err)
	}
}
