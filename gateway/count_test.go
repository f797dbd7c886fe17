package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// smallPages answers listings in pages of at most 3 names, as a provider
// with a small page size does.
type smallPages struct{ backends.Backend }

func (b smallPages) List(ctx context.Context, prefix, after string, _ int) (backends.ListPage, error) {
	return b.Backend.List(ctx, prefix, after, 3)
}

// countEnv returns an env whose bucket holds n objects, every third of
// them larger than an inline object (a blob on each backend).
func countEnv(t *testing.T, n int) *env {
	t.Helper()
	e := newEnv(t)
	for i := range n {
		size := 100 + i
		if i%3 == 0 {
			size = gateway.InlineMax + 1 + i
		}
		e.put(t, fmt.Sprintf("k/%02d", i), payload(size, uint64(i)))
	}
	return e
}

func TestCountMetaRecords(t *testing.T) {
	ctx := context.Background()
	e := countEnv(t, 10)
	// A file under m/ that is not a meta record: Recover goes through
	// it, RebuildCatalog does not.
	if err := e.members[0].Put(ctx, "m/not-a-record", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	names := e.names(t, 0, "m/")
	if len(names) != 12 {
		t.Fatalf("%d names under m/, want 12 (10 objects, the bucket, a foreign file)", len(names))
	}
	cases := []struct {
		name           string
		b              backends.Backend
		after          string
		names, records int
		pages          int
	}{
		{"whole listing", e.members[0], "", 12, 11, 1},
		{"pages of 3", smallPages{e.members[0]}, "", 12, 11, 4},
		{"after the 5th name", smallPages{e.members[0]}, names[4], 7, 6, 3},
		{"after the last name", e.members[0], names[11], 0, 0, 1},
		{"other backend", e.members[1], "", 11, 11, 1},
	}
	for _, c := range cases {
		pages := 0
		var last gateway.MetaCount
		n, err := gateway.CountMetaRecords(ctx, c.b, c.after, func(m gateway.MetaCount) { pages++; last = m })
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if n.Names != c.names || n.Records != c.records {
			t.Errorf("%s: %+v, want %d names, %d records", c.name, n, c.names, c.records)
		}
		if pages != c.pages || last != n {
			t.Errorf("%s: %d progress calls, the last %+v; want %d (one a page), the last the result", c.name, pages, last, c.pages)
		}
	}
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := gateway.CountMetaRecords(ctx2, e.members[0], "", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

// TestProgressTotals checks the totals the progress of GC, RebuildCatalog
// and Recover reports against what they then go through.
func TestProgressTotals(t *testing.T) {
	ctx := context.Background()
	e := countEnv(t, 30)
	if err := e.ns.SetBucketVersioning(ctx, "bucket", gateway.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	e.putv(t, "bucket", "v", "one")
	e.putv(t, "bucket", "v", "two")

	t.Run("gc", func(t *testing.T) {
		type phase struct{ items, total, calls int }
		got := map[string]*phase{}
		var order []string
		rep, err := e.ns.GC(ctx, gateway.GCOptions{Members: e.backendsOf(), Progress: func(p gateway.GCProgress) {
			ph := got[p.Phase]
			if ph == nil {
				ph = &phase{total: p.Total}
				got[p.Phase] = ph
				order = append(order, p.Phase)
			}
			ph.calls++
			if p.Items != ph.calls || p.Total != ph.total {
				t.Errorf("%s: call %d reports %d items of %d, want %d of %d", p.Phase, ph.calls, p.Items, p.Total, ph.calls, ph.total)
			}
			ph.items = p.Items
		}})
		if err != nil {
			t.Fatal(err)
		}
		if want := "catalog,meta records,blobs"; strings.Join(order, ",") != want {
			t.Fatalf("phases %q, want %s", order, want)
		}
		// 30 entries, and the key "v": an entry (its current version)
		// and 2 versions.
		if c := got["catalog"]; c.total != 33 || c.items != 33 {
			t.Errorf("catalog: %d items of %d, want 33 of 33", c.items, c.total)
		}
		// Each backend holds the bucket's record, 30 object records and
		// 2 version records; the total also counts the name of the
		// epoch record, which this store lacks (a gateway writes it at
		// every start): an estimate.
		if m := got["meta records"]; m.total != 2*34 || m.items != 2*33 {
			t.Errorf("meta records: %d items of %d, want 66 of 68", m.items, m.total)
		}
		// 10 blobs of large objects, the versions inline.
		if rep.Referenced != 10 {
			t.Fatalf("referenced %d, want 10", rep.Referenced)
		}
		if b := got["blobs"]; b.total != 20 || b.items != 20 {
			t.Errorf("blobs: %d items of %d, want 20 of 20", b.items, b.total)
		}
	})

	t.Run("rebuild-catalog", func(t *testing.T) {
		bes := e.backendsOf()
		want := 0
		for _, b := range bes {
			n, err := gateway.CountMetaRecords(ctx, b, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			want += n.Records
		}
		if want != 66 {
			t.Fatalf("counted %d meta records on the backends, want 66", want)
		}
		fresh, err := catalog.OpenBolt(filepath.Join(t.TempDir(), "rebuilt.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Close()
		// Which records are read again depends on where the bucket's
		// record falls in the listing order (random names): none is a
		// possible answer, then with no call.
		read, reread, rereadTotal, rereadCalls := 0, 0, 0, 0
		_, err = gateway.RebuildCatalog(ctx, gateway.RebuildOptions{Keys: e.keys, Backends: bes, Catalog: fresh,
			Progress: func(n int) { read = n },
			Reread: func(done, total int) {
				rereadCalls++
				if rereadCalls > 1 && total != rereadTotal {
					t.Errorf("reread total changed from %d to %d", rereadTotal, total)
				}
				reread, rereadTotal = done, total
			}})
		if err != nil {
			t.Fatal(err)
		}
		if read != want {
			t.Errorf("rebuild read %d records, counted %d", read, want)
		}
		if reread != rereadTotal || rereadCalls != rereadTotal {
			t.Errorf("reread: %d calls, the last %d of %d; want as many calls as the total", rereadCalls, reread, rereadTotal)
		}
	})

	t.Run("recover", func(t *testing.T) {
		if err := e.members[1].Put(ctx, "m/not-a-record", strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
		n, err := gateway.CountMetaRecords(ctx, e.members[1], "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if n.Names != 34 {
			t.Fatalf("counted %d names, want 34 (33 records, a foreign file)", n.Names)
		}
		var last gateway.RecoverProgress
		dir := filepath.Join(t.TempDir(), "out")
		_, err = gateway.Recover(ctx, gateway.RecoverOptions{Keys: e.keys, Backend: e.members[1], Dir: dir,
			Progress: func(p gateway.RecoverProgress) { last = p }})
		if err != nil {
			t.Fatal(err)
		}
		if last.Records != n.Names {
			t.Errorf("recover went through %d records, counted %d", last.Records, n.Names)
		}
		if _, err := os.Stat(filepath.Join(dir, "bucket", "k", "29")); err != nil {
			t.Error(err)
		}
	})
}
