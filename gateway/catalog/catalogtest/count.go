package catalogtest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// testCount checks that Count gives the numbers of entries and versions
// Walk and WalkVersions visit, through writes, deletions, delete markers
// and a deleted bucket.
func testCount(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	check := func(when string) {
		t.Helper()
		var want catalog.Counts
		if err := c.Walk(ctx, func(catalog.Entry) error { want.Entries++; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := c.WalkVersions(ctx, func(catalog.Version) error { want.Versions++; return nil }); err != nil {
			t.Fatal(err)
		}
		got, err := c.Count(ctx)
		if err != nil {
			t.Fatalf("%s: Count: %v", when, err)
		}
		if got != want {
			t.Errorf("%s: Count = %+v, want %+v (as walked)", when, got, want)
		}
	}
	check("empty catalog")
	for _, b := range []string{"b1", "b2", "empty", "gone"} {
		mustCreateBucket(t, c, b)
	}
	for i := range 300 { // more than one page of a bolt bucket
		mustPut(t, c, entry("b1", fmt.Sprintf("k%04d", i), 1))
	}
	mustPut(t, c, entry("gone", "k", 1))
	for i := range 3 {
		mustPutVersion(t, c, version("b2", "x", fmt.Sprintf("v%d", i), uint64(10+i)))
	}
	mustPutVersion(t, c, version("b2", "y", "v0", 10))
	mustPutVersion(t, c, marker("b2", "y", "m1", 11))
	check("after writes")
	// b2/y has versions but no entry: its newest is a delete marker.
	want := catalog.Counts{Entries: 300 + 1 + 1, Versions: 5}
	if got, err := c.Count(ctx); err != nil || got != want {
		t.Errorf("Count = %+v, %v; want %+v", got, err, want)
	}
	for i := range 100 {
		if _, err := c.Delete(ctx, "b1", fmt.Sprintf("k%04d", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Delete(ctx, "gone", "k", 0); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteBucket(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteVersion(ctx, catalog.Tombstone{Bucket: "b2", Key: "x", VersionID: "v0", Generation: 50}, catalog.DeleteVersionOptions{}); err != nil {
		t.Fatal(err)
	}
	check("after deletions")
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Count(canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("Count with a canceled context: %v", err)
	}
}
