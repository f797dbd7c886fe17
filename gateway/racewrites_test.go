package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// hookCatalog runs hook before the first Put it delegates; with after
// set, a Put that landed answers after instead (its answer lost).
type hookCatalog struct {
	catalog.Catalog
	hook  func()
	after error
}

func (c *hookCatalog) Put(ctx context.Context, e catalog.Entry) (*catalog.Entry, error) {
	if h := c.hook; h != nil {
		c.hook = nil
		h()
	}
	r, err := c.Catalog.Put(ctx, e)
	if err == nil && c.after != nil {
		return nil, c.after
	}
	return r, err
}

// zeroReader is a source of randomness that draws only zeros: two
// namespaces that use it draw the same generations.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestWritersFromTheSameGeneration: two instances whose clocks are behind
// the key's generation (an instance with a clock ahead wrote it) write the
// key at once, each having read that generation. Whichever the catalog
// takes is what the key reads, whole, and the other write fails; with the
// random part of the generation drawn alike (both take the same
// generation, and so the same record name), the refused write still never
// deletes the record the catalog names.
func TestWritersFromTheSameGeneration(t *testing.T) {
	for _, same := range []bool{false, true} {
		t.Run(fmt.Sprintf("same draw %v", same), func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			ahead, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: e.cat, Clock: func() time.Time { return time.Now().Add(time.Hour) }})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ahead.PutObject(ctx, "bucket", "k", bytes.NewReader([]byte("zero")), 4, gateway.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			var rnd io.Reader
			if same {
				rnd = zeroReader{}
			}
			b, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: e.cat, Rand: rnd})
			if err != nil {
				t.Fatal(err)
			}
			hc := &hookCatalog{Catalog: e.cat}
			a, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: hc, Rand: rnd})
			if err != nil {
				t.Fatal(err)
			}
			var errB error
			hc.hook = func() { // A's record is on the providers; B runs its whole write
				_, errB = b.PutObject(ctx, "bucket", "k", bytes.NewReader([]byte("from B")), 6, gateway.PutOptions{})
			}
			_, errA := a.PutObject(ctx, "bucket", "k", bytes.NewReader([]byte("from A")), 6, gateway.PutOptions{})
			want := "from A"
			switch {
			case errA == nil && errB == nil:
				// Both taken, A last: A's generation is the newer.
			case errors.Is(errA, gateway.ErrPrecondition) && errB == nil:
				want = "from B"
			default:
				t.Fatalf("A: %v, B: %v; want one of them taken", errA, errB)
			}
			if same && want != "from B" {
				t.Errorf("with the same generation A was taken (%v) after B (%v)", errA, errB)
			}
			fresh, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: e.cat})
			if err != nil {
				t.Fatal(err)
			}
			if got := read(t, fresh, "k"); string(got) != want {
				t.Errorf("the key reads %q, want %q", got, want)
			}
		})
	}
}

// TestCommitOutlivesItsRequest: a PUT whose catalog update landed while
// its caller went away (the update answers context.Canceled) keeps its
// record: the catalog names it, and the key reads the new data.
func TestCommitOutlivesItsRequest(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "k", []byte("zero"))
	hc := &hookCatalog{Catalog: e.cat, after: fmt.Errorf("catalog put: %w", context.Canceled)}
	a, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: hc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.PutObject(ctx, "bucket", "k", bytes.NewReader([]byte("one")), 3, gateway.PutOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("PUT: %v, want context.Canceled", err)
	}
	fresh, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: e.cat})
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, fresh, "k"); string(got) != "one" {
		t.Errorf("the key reads %q, want one", got)
	}
}

// TestFailedWriteNeverBeatsALaterOne: an instance whose clock runs a
// minute ahead writes a key while the catalog does not answer (its client
// gets an error, its record stays until the catalog can say); another
// instance then writes the key, acknowledged, at a lower generation. Once
// the catalog answers, the failed write's record goes, so that neither
// repair nor a rebuild takes it in over the acknowledged one.
func TestFailedWriteNeverBeatsALaterOne(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "k", []byte("first"))
	fc := &flakyCatalog{Catalog: e.cat, mode: "down"}
	a, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: fc, Clock: func() time.Time { return time.Now().Add(time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	a.SettleSoon(time.Millisecond)
	if _, err := a.PutObject(ctx, "bucket", "k", bytes.NewReader([]byte("failed")), 6, gateway.PutOptions{}); !errors.Is(err, gateway.ErrCatalogUnavailable) {
		t.Fatalf("PUT with the catalog down: %v", err)
	}
	e.put(t, "k", []byte("acknowledged"))
	a.WaitSettled()
	if rep := e.scrub(t, false); !rep.Clean() {
		t.Errorf("scrub: %v", summary(rep))
	}
	if _, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf(), Adopt: true}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, e.ns, "k"); string(got) != "acknowledged" {
		t.Errorf("after repair the key reads %q, want acknowledged", got)
	}
	rebuilt, _ := e.rebuildFrom(t, e.backendsOf())
	if ent, err := rebuilt.Get(ctx, "bucket", "k"); err != nil || ent.Size != int64(len("acknowledged")) {
		t.Errorf("rebuilt: %+v, %v; want the acknowledged object", ent, err)
	}
}
