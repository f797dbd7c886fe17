package catalogtest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// testShares checks PutShare's ordering rules, revocation that sticks, and
// the state transitions of CountDownload.
func testShares(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	if _, err := c.GetShare(ctx, "nope"); !errors.Is(err, catalog.ErrNoSuchShare) {
		t.Fatalf("GetShare of a missing share: %v, want ErrNoSuchShare", err)
	}
	if _, err := c.CountDownload(ctx, "nope", t0); !errors.Is(err, catalog.ErrNoSuchShare) {
		t.Fatalf("CountDownload of a missing share: %v, want ErrNoSuchShare", err)
	}
	if err := c.PutShare(ctx, catalog.Share{Generation: 1}); !errors.Is(err, catalog.ErrInvalid) {
		t.Fatalf("PutShare without id: %v, want ErrInvalid", err)
	}
	a := catalog.Share{ID: "a", Generation: 10, Created: t0, Expires: t0.Add(time.Hour), MaxDownloads: 2, Record: []byte("rec-a")}
	if err := c.PutShare(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetShare(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "a" || got.Generation != 10 || !got.Created.Equal(t0) || !got.Expires.Equal(a.Expires) ||
		got.MaxDownloads != 2 || got.Downloads != 0 || got.Revoked || !bytes.Equal(got.Record, a.Record) {
		t.Fatalf("GetShare = %+v, want %+v", got, a)
	}
	// Same or lower generation: stale.
	for _, g := range []uint64{10, 9} {
		b := a
		b.Generation = g
		if err := c.PutShare(ctx, b); !errors.Is(err, catalog.ErrStale) {
			t.Errorf("PutShare generation %d over 10: %v, want ErrStale", g, err)
		}
	}
	// Counting: two opens, then used up.
	for i := int64(1); i <= 2; i++ {
		s, err := c.CountDownload(ctx, "a", t0)
		if err != nil || s.Downloads != i {
			t.Fatalf("CountDownload %d: %+v, %v", i, s, err)
		}
	}
	s, err := c.CountDownload(ctx, "a", t0)
	if !errors.Is(err, catalog.ErrShareGone) || s.Downloads != 2 || s.State(t0) != catalog.ShareUsedUp {
		t.Fatalf("third CountDownload: %+v (%v), %v; want used up, ErrShareGone", s, s.State(t0), err)
	}
	// A newer record with a lower count keeps the higher count.
	b := a
	b.Generation, b.Downloads, b.MaxDownloads = 11, 1, 5
	if err := c.PutShare(ctx, b); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.GetShare(ctx, "a"); s.Downloads != 2 || s.MaxDownloads != 5 {
		t.Fatalf("after PutShare with fewer downloads: %+v, want downloads 2 max 5", s)
	}
	// Expiry.
	if _, err := c.CountDownload(ctx, "a", a.Expires); !errors.Is(err, catalog.ErrShareGone) {
		t.Fatalf("CountDownload at expiry: %v, want ErrShareGone", err)
	}
	// Revocation sticks, even against a higher generation that is not revoked.
	r := b
	r.Generation, r.Revoked = 12, true
	if err := c.PutShare(ctx, r); err != nil {
		t.Fatal(err)
	}
	back := b
	back.Generation = 99
	if err := c.PutShare(ctx, back); !errors.Is(err, catalog.ErrStale) {
		t.Fatalf("un-revoking PutShare: %v, want ErrStale", err)
	}
	if s, err := c.CountDownload(ctx, "a", t0); !errors.Is(err, catalog.ErrShareGone) || s.State(t0) != catalog.ShareRevoked {
		t.Fatalf("CountDownload of a revoked share: %v (%v), want ErrShareGone, revoked", err, s.State(t0))
	}
	// Listing is by creation time, then id.
	for _, sh := range []catalog.Share{
		{ID: "c", Generation: 1, Created: t0.Add(-time.Hour)},
		{ID: "b", Generation: 1, Created: t0},
	} {
		if err := c.PutShare(ctx, sh); err != nil {
			t.Fatal(err)
		}
	}
	list, err := c.ListShares(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	if want := "c a b"; join(ids) != want {
		t.Fatalf("ListShares order %q, want %q", join(ids), want)
	}
}

// testShareCountRace checks that concurrent openings are each counted once
// and never beyond the limit.
func testShareCountRace(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	const max, tries = 7, 40
	if err := c.PutShare(ctx, catalog.Share{ID: "race", Generation: 1, Created: t0, MaxDownloads: max}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	ok := 0
	var wg sync.WaitGroup
	for range tries {
		wg.Go(func() {
			if _, err := c.CountDownload(ctx, "race", t0); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if !errors.Is(err, catalog.ErrShareGone) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	s, err := c.GetShare(ctx, "race")
	if err != nil {
		t.Fatal(err)
	}
	if ok != max || s.Downloads != max {
		t.Fatalf("%d concurrent openings: %d counted, stored %d; want %d", tries, ok, s.Downloads, max)
	}
}

func join(s []string) string { return strings.Join(s, " ") }
