package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/keylock"
)

// flakyCatalog fails Put with catalog.ErrUnavailable: before applying it
// (Redis down), or after (the answer was lost).
type flakyCatalog struct {
	catalog.Catalog
	mode string // "", "down" or "lost"
}

func (c *flakyCatalog) Put(ctx context.Context, e catalog.Entry) (*catalog.Entry, error) {
	switch c.mode {
	case "down":
		return nil, catalog.ErrUnavailable
	case "lost":
		c.Catalog.Put(ctx, e)
		return nil, catalog.ErrUnavailable
	}
	return c.Catalog.Put(ctx, e)
}

// metaRecords returns the meta record of key on each member.
func (e *env) metaRecords(t *testing.T, ns *gateway.Namespace, key string) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range e.members {
		b, err := os.ReadFile(e.file(i, e.recordName(t, "bucket", key, "")))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// agree fails unless every member holds the catalog's meta record of key:
// its bytes, or those its catalog form stands for.
func (e *env) agree(t *testing.T, ns *gateway.Namespace, key string) {
	t.Helper()
	cur, err := e.cat.Get(context.Background(), "bucket", key)
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range e.metaRecords(t, ns, key) {
		if !gateway.SameRecord(rec, cur.Record) {
			t.Errorf("member %d holds another meta record of %s than the catalog", i, key)
		}
	}
}

// read reads bucket/key whole through ns.
func read(t *testing.T, ns *gateway.Namespace, key string) []byte {
	t.Helper()
	return readObject(t, ns, "bucket", key)
}

// TestCommitCatalogUnavailable: a PUT whose catalog update fails without
// an answer leaves the record the catalog names untouched on every
// provider (the new one went under a name of its own) and keeps its own
// until it can ask the catalog again. Here the gateway never asks (as one
// stopped before it could; TestFailedWriteNeverBeatsALaterOne has one that
// does): when the update did not land the object reads as before, scrub
// reports the new record as ahead of the catalog and repair takes it over
// (the write's outcome was unknown; it stands); when it landed (its answer
// lost), the object reads the new data, and the record it replaced, which
// the writer could not know it had to delete, is superseded: scrub
// reports it and repair deletes it.
func TestCommitCatalogUnavailable(t *testing.T) {
	for _, size := range []int{0, gateway.InlineMax + 1} {
		t.Run(fmt.Sprintf("padded to %d", size), func(t *testing.T) { testCommitCatalogUnavailable(t, size) })
	}
}

func testCommitCatalogUnavailable(t *testing.T, size int) {
	e := newEnv(t)
	fc := &flakyCatalog{Catalog: e.cat}
	ns, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: fc})
	if err != nil {
		t.Fatal(err)
	}
	ns.SettleNever() // a gateway stopped before it could ask the catalog again
	ctx := context.Background()
	pad := func(data string) string { return data + strings.Repeat(".", max(0, size-len(data))) }
	put := func(data string) error {
		data = pad(data)
		_, err := ns.PutObject(ctx, "bucket", "k", bytes.NewReader([]byte(data)), int64(len(data)), gateway.PutOptions{})
		return err
	}
	scrubRepair := func(what string, kind gateway.ProblemKind) {
		t.Helper()
		rep, err := ns.Scrub(ctx, gateway.ScrubOptions{Members: e.backendsOf()})
		if err != nil || len(rep.Problems) != 2 {
			t.Fatalf("%s: scrub: %v, %v, want 2 problems (%s, one per provider)", what, err, rep.Problems, kind)
		}
		for _, p := range rep.Problems {
			if p.Kind != kind {
				t.Errorf("%s: %v, want %s", what, p, kind)
			}
		}
		if _, err := ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf()}); err != nil {
			t.Fatal(err)
		}
		e.agree(t, ns, "k")
		if rep := e.scrub(t, false); !rep.Clean() {
			t.Errorf("%s: scrub after repair: %v", what, rep.Problems)
		}
	}
	if err := put("one"); err != nil {
		t.Fatal(err)
	}
	fc.mode = "down"
	if err := put("two"); !errors.Is(err, gateway.ErrCatalogUnavailable) {
		t.Fatalf("down: PUT: %v, want ErrCatalogUnavailable", err)
	}
	fc.mode = ""
	if got := read(t, ns, "k"); string(got) != pad("one") {
		t.Errorf("down: object reads %q, want one", got)
	}
	e.agree(t, ns, "k")
	scrubRepair("down", gateway.ProblemAhead)
	if got := read(t, ns, "k"); string(got) != pad("two") {
		t.Errorf("down, after repair: object reads %q, want two", got)
	}
	fc.mode = "lost"
	if err := put("three"); !errors.Is(err, gateway.ErrCatalogUnavailable) {
		t.Fatalf("lost: PUT: %v, want ErrCatalogUnavailable", err)
	}
	fc.mode = ""
	if got := read(t, ns, "k"); string(got) != pad("three") {
		t.Errorf("lost: object reads %q, want three", got)
	}
	e.agree(t, ns, "k")
	scrubRepair("lost", gateway.ProblemSuperseded)
}

// stallingLocker reports, once, that the lock lapsed while held, after
// writing over the key's meta record what a stalled writer that lost its
// lock would write late: an older record.
type stallingLocker struct {
	keylock.Striped
	late func()
}

func (l *stallingLocker) Lock(ctx context.Context, names ...keylock.Name) (keylock.Unlock, error) {
	unlock, err := l.Striped.Lock(ctx, names...)
	if err != nil {
		return nil, err
	}
	return func() bool {
		unlock()
		if late := l.late; late != nil {
			l.late = nil
			late()
			return false
		}
		return true
	}, nil
}

// TestLapsedLock: when a writer's lock lapsed while it held it, another
// writer may have raced it; a late write of the record it held (here: an
// older record, put back under its own name after the newer one's commit
// deleted it) never replaces the record the catalog names, which every
// provider keeps. The late copy is superseded: repair deletes it.
func TestLapsedLock(t *testing.T) {
	e := newEnv(t)
	sl := &stallingLocker{}
	ns, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: e.cat, Locker: sl})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := ns.PutObject(ctx, "bucket", "k", bytes.NewReader([]byte("old")), 3, gateway.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	old := e.metaRecords(t, ns, "k")[0]
	oldName := e.recordName(t, "bucket", "k", "")
	sl.late = func() {
		if err := e.set.Put(ctx, oldName, bytes.NewReader(old), int64(len(old))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ns.PutObject(ctx, "bucket", "k", bytes.NewReader([]byte("new")), 3, gateway.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if sl.late != nil {
		t.Fatal("the lock was not released")
	}
	e.agree(t, ns, "k")
	if got := read(t, ns, "k"); string(got) != "new" {
		t.Errorf("object reads %q, want new", got)
	}
	rep := e.scrub(t, false)
	if len(rep.Problems) != 2 || rep.Problems[0].Kind != gateway.ProblemSuperseded || rep.Problems[0].Name != oldName {
		t.Fatalf("scrub: %v, want the late record superseded on both providers", rep.Problems)
	}
	if _, err := ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf()}); err != nil {
		t.Fatal(err)
	}
	if rep := e.scrub(t, false); !rep.Clean() {
		t.Errorf("scrub after repair: %v", rep.Problems)
	}
}

// TestCompleteAbortRace completes and aborts the same uploads at once:
// whichever wins, a completion that succeeded reads back whole (an abort
// never deletes the blobs of a completed object) and a lost one reports
// ErrNoSuchUpload.
func TestCompleteAbortRace(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const uploads = 12
	type up struct {
		key  string
		id   string
		data []byte
		done []gateway.CompletedPart
	}
	var ups []up
	for i := range uploads {
		u := up{key: "k" + string(rune('a'+i)), data: payload(20_000+i, uint64(i))}
		var err error
		if u.id, err = e.ns.CreateUpload(ctx, "bucket", u.key, nil); err != nil {
			t.Fatal(err)
		}
		etag, err := e.ns.UploadPart(ctx, "bucket", u.key, u.id, 1, bytes.NewReader(u.data), int64(len(u.data)))
		if err != nil {
			t.Fatal(err)
		}
		u.done = []gateway.CompletedPart{{Number: 1, ETag: etag}}
		ups = append(ups, u)
	}
	completed := make([]error, uploads)
	var wg sync.WaitGroup
	for i, u := range ups {
		wg.Go(func() {
			_, completed[i] = e.ns.CompleteUpload(ctx, "bucket", u.key, u.id, u.done)
		})
		wg.Go(func() {
			if err := e.ns.AbortUpload(ctx, "bucket", u.key, u.id); err != nil && !errors.Is(err, gateway.ErrNoSuchUpload) {
				t.Errorf("abort %s: %v", u.key, err)
			}
		})
	}
	wg.Wait()
	won := 0
	for i, u := range ups {
		switch err := completed[i]; {
		case err == nil:
			won++
			if got := read(t, e.ns, u.key); !bytes.Equal(got, u.data) {
				t.Errorf("%s: completed object reads %d bytes, want %d", u.key, len(got), len(u.data))
			}
		case !errors.Is(err, gateway.ErrNoSuchUpload):
			t.Errorf("complete %s: %v", u.key, err)
		}
	}
	t.Logf("%d of %d completions won", won, uploads)
}
