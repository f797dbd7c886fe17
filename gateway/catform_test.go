package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// TestCatalogFormWritten: a PUT, a rename and a version write keep the
// catalog form in the catalog, whose digest matches what every provider
// holds; a GET of an inline object reads its data from the catalog.
func TestCatalogFormWritten(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "small", []byte("inline"))
	e.put(t, "big", bytes.Repeat([]byte("b"), gateway.InlineMax+1))
	for _, key := range []string{"small", "big"} {
		cur, err := e.cat.Get(ctx, "bucket", key)
		if err != nil {
			t.Fatal(err)
		}
		if !gateway.CatalogForm(cur.Record) {
			t.Errorf("%s: the catalog holds the sealed record", key)
		}
		e.agree(t, e.ns, key)
	}
	// The catalog does not keep an inline object's bytes: its entry is
	// about as small as that of an object stored as a blob, and a read
	// without a cache takes them from a provider's copy, the other's when
	// one is gone.
	small, big := mustGet(t, e.cat, "small"), mustGet(t, e.cat, "big")
	if len(small.Record) > len(big.Record) {
		t.Errorf("catalog entry of the inline object: %d bytes, of the stored one %d", len(small.Record), len(big.Record))
	}
	cached, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: e.cat, InlineCache: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, cached, "small"); string(got) != "inline" {
		t.Errorf("inline object reads %q", got)
	}
	if err := os.Remove(e.file(0, e.recordName(t, "bucket", "small", ""))); err != nil {
		t.Fatal(err)
	}
	if got := read(t, e.ns, "small"); string(got) != "inline" {
		t.Errorf("inline object, one copy gone, reads %q", got)
	}
	if err := os.Remove(e.file(1, e.recordName(t, "bucket", "small", ""))); err != nil {
		t.Fatal(err)
	}
	// Both copies gone: a namespace that read it holds it in its cache;
	// any other finds nothing to read: an error, never other bytes.
	if got := read(t, cached, "small"); string(got) != "inline" {
		t.Errorf("inline object, from the cache, reads %q", got)
	}
	o, err := e.ns.Object(ctx, "bucket", "small")
	if err != nil {
		t.Fatal(err)
	}
	if rc, err := o.NewReader(ctx, 0, -1); err == nil || !errors.Is(err, gateway.ErrIntegrity) {
		if rc != nil {
			rc.Close()
		}
		t.Fatalf("inline object, both copies gone: %v, want an integrity error", err)
	}
	// Scrub reports both copies; repair, which finds no provider copy
	// matching the catalog's digest and no bytes to seal anew, leaves
	// them unrepaired; the namespace that holds the record in its cache
	// puts it back.
	rep, err := e.ns.Scrub(ctx, gateway.ScrubOptions{Members: e.backendsOf()})
	if err != nil || len(rep.Problems) != 2 {
		t.Fatalf("scrub: %v, %+v", err, rep)
	}
	rr, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf()})
	if err != nil || len(rr.Unrepaired) != 2 {
		t.Fatalf("repair without the bytes: %v, %+v", err, rr)
	}
	if _, err := cached.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf()}); err != nil {
		t.Fatal(err)
	}
	e.agree(t, e.ns, "small")
	if got := read(t, e.ns, "small"); string(got) != "inline" {
		t.Errorf("inline object after repair reads %q", got)
	}
	// An object stored as a blob whose meta record both providers lost:
	// repair seals the catalog's record anew under a new generation, on
	// every provider and in the catalog.
	for i := range e.members {
		if err := os.Remove(e.file(i, e.recordName(t, "bucket", "big", ""))); err != nil {
			t.Fatal(err)
		}
	}
	before := mustGet(t, e.cat, "big")
	if _, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf()}); err != nil {
		t.Fatal(err)
	}
	after := mustGet(t, e.cat, "big")
	if after.Generation <= before.Generation || !gateway.CatalogForm(after.Record) {
		t.Errorf("after repair: generation %d (was %d), catalog form %v", after.Generation, before.Generation, gateway.CatalogForm(after.Record))
	}
	e.agree(t, e.ns, "big")
	if rep, err := e.ns.Scrub(ctx, gateway.ScrubOptions{Members: e.backendsOf(), Deep: true}); err != nil || !rep.Clean() {
		t.Fatalf("scrub after repair: %v, %+v", err, rep)
	}
	// One copy gone: repair copies the other, byte for byte.
	if err := os.Remove(e.file(1, e.recordName(t, "bucket", "big", ""))); err != nil {
		t.Fatal(err)
	}
	gen := mustGet(t, e.cat, "big").Generation
	if _, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf()}); err != nil {
		t.Fatal(err)
	}
	recs := e.metaRecords(t, e.ns, "big")
	if !bytes.Equal(recs[0], recs[1]) || mustGet(t, e.cat, "big").Generation != gen {
		t.Error("repair did not copy the other provider's record")
	}
	e.agree(t, e.ns, "big")
}

func mustGet(t *testing.T, c catalog.Catalog, key string) catalog.Entry {
	t.Helper()
	cur, err := c.Get(context.Background(), "bucket", key)
	if err != nil {
		t.Fatal(err)
	}
	return cur
}

// TestCatalogFormOldEntries: entries that hold the sealed record (catalogs
// written before the catalog form) read, list and scrub as before; a
// rebuilt catalog and one copied by migrate-catalog's conversion hold the
// catalog form, the same bytes a write makes.
func TestCatalogFormOldEntries(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "old", []byte("written before the catalog form"))
	e.put(t, "new", []byte("written after"))
	cur := mustGet(t, e.cat, "old")
	sealed := e.metaRecords(t, e.ns, "old")[0]
	if _, err := e.cat.Delete(ctx, "bucket", "old", 0); err != nil {
		t.Fatal(err)
	}
	cur.Record = sealed
	if _, err := e.cat.Put(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if got := read(t, e.ns, "old"); string(got) != "written before the catalog form" {
		t.Errorf("old entry reads %q", got)
	}
	if l, err := e.ns.ListDetailed(ctx, "bucket", gateway.ListOptions{}); err != nil || len(l.Objects) != 2 {
		t.Fatalf("list: %v, %+v", err, l)
	}
	if rep, err := e.ns.Scrub(ctx, gateway.ScrubOptions{Members: e.backendsOf(), Deep: true}); err != nil || !rep.Clean() {
		t.Fatalf("scrub: %v, %+v", err, rep)
	}
	// A stale copy next to an old entry is found as before.
	if err := os.WriteFile(e.file(1, e.recordName(t, "bucket", "old", "")), e.metaRecords(t, e.ns, "new")[0], 0o600); err != nil {
		t.Fatal(err)
	}
	if rep, err := e.ns.Scrub(ctx, gateway.ScrubOptions{Members: e.backendsOf()}); err != nil || len(rep.Problems) != 1 || rep.Problems[0].Kind != gateway.ProblemCorrupt {
		t.Fatalf("scrub of a moved copy: %v, %+v", err, rep)
	}
	if _, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf()}); err != nil {
		t.Fatal(err)
	}
	if recs := e.metaRecords(t, e.ns, "old"); !bytes.Equal(recs[1], sealed) {
		t.Error("repair did not put the old entry's sealed record back")
	}

	fresh, _ := e.rebuildFrom(t, e.backendsOf()[:1])
	copied, err := catalog.OpenBolt(filepath.Join(t.TempDir(), "copied.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer copied.Close()
	if _, err := catalog.Copy(ctx, copied, e.cat, nil, catalog.ConvertRecords(gateway.CatalogFormConverter(e.keys))); err != nil {
		t.Fatal(err)
	}
	want := mustGet(t, e.cat, "new").Record
	for _, c := range []struct {
		name string
		cat  catalog.Catalog
	}{{"rebuilt", fresh}, {"copied", copied}} {
		for _, key := range []string{"old", "new"} {
			got := mustGet(t, c.cat, key)
			if c.name == "copied" && key == "old" {
				// migrate-catalog keeps an inline object's sealed
				// record: its bytes may be the only copy that matches.
				if gateway.CatalogForm(got.Record) || !bytes.Equal(got.Record, sealed) {
					t.Errorf("%s %s: not the sealed record it held", c.name, key)
				}
				continue
			}
			if !gateway.CatalogForm(got.Record) || !gateway.SameRecord(e.metaRecords(t, e.ns, key)[0], got.Record) {
				t.Errorf("%s %s: not the catalog form of the providers' record", c.name, key)
			}
		}
		if !bytes.Equal(mustGet(t, c.cat, "new").Record, want) {
			t.Errorf("%s: the catalog form of an entry differs from the one its write made", c.name)
		}
	}
}

// TestCatalogFormTampered: an entry whose catalog form was changed, or
// moved from another name, is an integrity error for reads and a corrupt
// catalog entry for scrub, which repair replaces from the providers.
func TestCatalogFormTampered(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "a", []byte("aaa"))
	e.put(t, "b", []byte("bbb"))
	a, b := mustGet(t, e.cat, "a"), mustGet(t, e.cat, "b")
	flipped := bytes.Clone(a.Record)
	flipped[len(flipped)/2] ^= 1
	for _, tc := range []struct {
		name string
		rec  []byte
	}{{"flipped", flipped}, {"moved", b.Record}, {"truncated", a.Record[:40]}} {
		t.Run(tc.name, func(t *testing.T) {
			bad := a
			bad.Record = tc.rec
			if _, err := e.cat.Delete(ctx, "bucket", "a", 0); err != nil {
				t.Fatal(err)
			}
			if _, err := e.cat.Put(ctx, bad); err != nil {
				t.Fatal(err)
			}
			if _, err := e.ns.Object(ctx, "bucket", "a"); !errors.Is(err, gateway.ErrIntegrity) {
				t.Errorf("read: %v, want ErrIntegrity", err)
			}
			rep, err := e.ns.Scrub(ctx, gateway.ScrubOptions{Members: e.backendsOf()})
			if err != nil || len(rep.Problems) != 1 || rep.Problems[0].Kind != gateway.ProblemCorrupt {
				t.Fatalf("scrub: %v, %+v", err, rep)
			}
			if _, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf()}); err != nil {
				t.Fatal(err)
			}
			if got := read(t, e.ns, "a"); string(got) != "aaa" {
				t.Errorf("after repair: %q", got)
			}
			e.agree(t, e.ns, "a")
		})
	}
}

// TestCatalogFormVersions: versions keep the catalog form too; a version
// record that no provider holds any more is sealed anew by repair (a new
// generation of the same version), after which the providers and the
// catalog agree and every version reads as before.
func TestCatalogFormVersions(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if err := e.ns.SetBucketVersioning(ctx, "bucket", gateway.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	// Larger than InlineMax: the catalog form of a stored blob's record
	// keeps every field, so repair can seal it anew.
	one, two := strings.Repeat("one", gateway.InlineMax), strings.Repeat("two", gateway.InlineMax)
	v1 := e.putv(t, "bucket", "k", one)
	v2 := e.putv(t, "bucket", "k", two)
	for _, id := range []string{v1.VersionID, v2.VersionID} {
		v, err := e.cat.GetVersion(ctx, "bucket", "k", id)
		if err != nil {
			t.Fatal(err)
		}
		if !gateway.CatalogForm(v.Record) {
			t.Errorf("version %s: the catalog holds the sealed record", id)
		}
	}
	name := e.ns.VersionName("bucket", "k", v1.VersionID)
	before, _ := e.cat.GetVersion(ctx, "bucket", "k", v1.VersionID)
	for i := range e.members {
		if err := os.Remove(e.file(i, name)); err != nil {
			t.Fatal(err)
		}
	}
	if rep, err := e.ns.Scrub(ctx, gateway.ScrubOptions{Members: e.backendsOf()}); err != nil || len(rep.Problems) != 2 {
		t.Fatalf("scrub: %v, %+v", err, rep)
	}
	if _, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf()}); err != nil {
		t.Fatal(err)
	}
	after, err := e.cat.GetVersion(ctx, "bucket", "k", v1.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Generation <= before.Generation || after.Seq != before.Seq {
		t.Errorf("after repair: generation %d (was %d), seq %d (was %d)", after.Generation, before.Generation, after.Seq, before.Seq)
	}
	name = e.ns.VersionName("bucket", "k", v1.VersionID) // sealed anew: a new generation's name
	for i := range e.members {
		b, err := os.ReadFile(e.file(i, name))
		if err != nil || !gateway.SameRecord(b, after.Record) {
			t.Errorf("member %d: %v, or its copy does not match the catalog", i, err)
		}
	}
	if rep, err := e.ns.Scrub(ctx, gateway.ScrubOptions{Members: e.backendsOf(), Deep: true}); err != nil || !rep.Clean() {
		t.Fatalf("scrub after repair: %v, %+v", err, rep)
	}
	for id, want := range map[string]string{"": two, v1.VersionID: one} {
		if got := readVersion(t, e.ns, "bucket", "k", id); got != want {
			t.Errorf("version %q reads %q, want %q", id, got, want)
		}
	}
}
