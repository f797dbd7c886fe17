package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"os"
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
		b, err := os.ReadFile(e.file(i, ns.MetaName("bucket", key)))
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

// TestCommitCatalogUnavailable: a PUT whose catalog update fails leaves
// the providers holding the catalog's record when it did not land (sealed
// anew: the catalog's form holds no sealed bytes, and the catalog that did
// not answer is not written; repair makes them agree), and the object
// whole when it did (its answer lost): its blobs are kept.
func TestCommitCatalogUnavailable(t *testing.T) {
	e := newEnv(t)
	fc := &flakyCatalog{Catalog: e.cat}
	ns, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: fc})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(data string) error {
		_, err := ns.PutObject(ctx, "bucket", "k", bytes.NewReader([]byte(data)), int64(len(data)), gateway.PutOptions{})
		return err
	}
	if err := put("one"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ mode, want string }{{"down", "one"}, {"lost", "three"}} {
		fc.mode = tc.mode
		err := put(map[string]string{"down": "two", "lost": "three"}[tc.mode])
		if !errors.Is(err, gateway.ErrCatalogUnavailable) {
			t.Fatalf("%s: PUT: %v, want ErrCatalogUnavailable", tc.mode, err)
		}
		fc.mode = ""
		if got := read(t, ns, "k"); string(got) != tc.want {
			t.Errorf("%s: object reads %q, want %q", tc.mode, got, tc.want)
		}
		if tc.mode == "down" {
			cur, err := e.cat.Get(ctx, "bucket", "k")
			if err != nil {
				t.Fatal(err)
			}
			for i, rec := range e.metaRecords(t, ns, "k") {
				if gateway.SameRecord(rec, cur.Record) {
					t.Errorf("member %d holds the catalog's sealed bytes, which the catalog form does not hold", i)
				}
			}
			rep, err := ns.Scrub(ctx, gateway.ScrubOptions{Members: e.backendsOf()})
			if err != nil || len(rep.Problems) != 2 {
				t.Fatalf("scrub: %v, %d problems, want 2 (the copies sealed anew)", err, len(rep.Problems))
			}
			if _, err := ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf()}); err != nil {
				t.Fatal(err)
			}
			e.agree(t, ns, "k")
			if got := read(t, ns, "k"); string(got) != "one" {
				t.Errorf("after repair: object reads %q, want one", got)
			}
		}
	}
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

// TestLapsedLockReconciles: when a writer's lock lapsed while it held it,
// another writer may have overtaken it on the providers; the release puts
// the catalog's record back, so that providers and catalog agree.
func TestLapsedLockReconciles(t *testing.T) {
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
	sl.late = func() {
		if err := e.set.Put(ctx, ns.MetaName("bucket", "k"), bytes.NewReader(old), int64(len(old))); err != nil {
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
