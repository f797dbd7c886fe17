package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// writeFile writes b to name on member i.
func (e *env) writeFile(t *testing.T, i int, name string, b []byte) {
	t.Helper()
	p := e.file(i, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// exists reports whether member i holds name.
func (e *env) exists(t *testing.T, i int, name string) bool {
	t.Helper()
	_, err := os.Stat(e.file(i, name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// supersededFixture writes bucket/k twice and puts the first record and
// its blobs back on both members, as a deletion after the second write
// that failed leaves them. It returns the names of the first record and
// blobs, and of the second.
func supersededFixture(t *testing.T, e *env) (oldName string, oldBlobs []string, newName string, newBlobs []string) {
	t.Helper()
	oldBlobs = e.put(t, "k", payload(200_000, 1))
	oldName = e.recordName(t, "bucket", "k", "")
	saved := make([]map[string][]byte, len(e.members))
	for i := range e.members {
		saved[i] = map[string][]byte{}
		for _, n := range append([]string{oldName}, oldBlobs...) {
			b, err := os.ReadFile(e.file(i, n))
			if err != nil {
				t.Fatal(err)
			}
			saved[i][n] = b
		}
	}
	newBlobs = e.put(t, "k", payload(200_000, 2))
	newName = e.recordName(t, "bucket", "k", "")
	if newName == oldName || len(oldBlobs) == 0 || len(newBlobs) == 0 {
		t.Fatalf("records %s and %s, blobs %v and %v: want two records with blobs of their own", oldName, newName, oldBlobs, newBlobs)
	}
	for i := range e.members {
		for n, b := range saved[i] {
			e.writeFile(t, i, n, b)
		}
	}
	return oldName, oldBlobs, newName, newBlobs
}

// TestGCSupersededRecords checks that gc deletes a record that the
// catalog's newer record of its key supersedes, once older than the grace
// period, and with it the blobs only it references; within the grace
// period it keeps both, and a dry run only counts them.
func TestGCSupersededRecords(t *testing.T) {
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	tests := []struct {
		name              string
		o                 gateway.GCOptions
		superseded, young int // summed over both members
		gone              bool
		deleted, kept     int // old blobs per member: deleted (or to delete), young (unreferenced)
	}{
		{"past the grace period", gateway.GCOptions{Grace: time.Hour, Now: later}, 2, 0, true, 1, 0},
		{"no grace period", gateway.GCOptions{}, 2, 0, true, 1, 0},
		// Kept, the record keeps its blobs.
		{"within the grace period", gateway.GCOptions{Grace: time.Hour}, 0, 2, false, 0, 0},
		{"dry run", gateway.GCOptions{DryRun: true, Grace: time.Hour, Now: later}, 2, 0, false, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			oldName, oldBlobs, newName, newBlobs := supersededFixture(t, e)
			o := tc.o
			o.Members = e.backendsOf()
			rep, err := e.ns.GC(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Superseded != tc.superseded || rep.SupersededYoung != tc.young || rep.SupersededFailed != 0 || rep.Uncataloged != 0 {
				t.Errorf("superseded %d, young %d, failed %d, uncataloged %d; want %d, %d, 0, 0",
					rep.Superseded, rep.SupersededYoung, rep.SupersededFailed, rep.Uncataloged, tc.superseded, tc.young)
			}
			for i, b := range rep.Backends {
				if b.Deleted != tc.deleted*len(oldBlobs) || b.Young != tc.kept*len(oldBlobs) {
					t.Errorf("%s: %d blobs deleted, %d young; want %d and %d", b.Name, b.Deleted, b.Young, tc.deleted*len(oldBlobs), tc.kept*len(oldBlobs))
				}
				if got := e.exists(t, i, oldName); got == tc.gone {
					t.Errorf("%s holds the superseded record: %v, want %v", b.Name, got, !tc.gone)
				}
				for _, n := range oldBlobs {
					if got := e.exists(t, i, n); got == (tc.gone && tc.deleted > 0) {
						t.Errorf("%s holds the superseded record's blob %s: %v", b.Name, n, got)
					}
				}
				for _, n := range append([]string{newName}, newBlobs...) {
					if !e.exists(t, i, n) {
						t.Errorf("%s lost %s of the current record", b.Name, n)
					}
				}
			}
			if got := e.get(t, "k", 0, -1); !bytes.Equal(got, payload(200_000, 2)) {
				t.Error("k does not read back as written last")
			}
		})
	}
}

// TestGCKeepsAheadRecords checks that gc keeps a record newer than the
// catalog's record of its key (a write whose catalog update was lost), and
// its blobs: repair adopts it.
func TestGCKeepsAheadRecords(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.put(t, "a", payload(200_000, 3))
	cur := e.recordName(t, "bucket", "a", "")
	// Another gateway over the same store, whose catalog never reached
	// this one: its record of a is newer than this catalog's.
	other, err := catalog.OpenBolt(filepath.Join(t.TempDir(), "other.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ns2, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: other})
	if err != nil {
		t.Fatal(err)
	}
	if err := ns2.CreateBucket(ctx, "bucket"); err != nil {
		t.Fatal(err)
	}
	before := e.names(t, 0, "b/")
	data := payload(200_000, 4)
	if _, err := ns2.PutObject(ctx, "bucket", "a", bytes.NewReader(data), int64(len(data)), gateway.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	ahead, err := ns2.RecordName(ctx, "bucket", "a", "")
	if err != nil {
		t.Fatal(err)
	}
	keep := []string{cur, ahead}
	for _, n := range e.names(t, 0, "b/") {
		if !slices.Contains(before, n) {
			keep = append(keep, n)
		}
	}
	if ahead == cur || len(keep) < 3 {
		t.Fatalf("records %s and %s, names %v: want a second record with blobs", cur, ahead, keep)
	}
	rep, err := e.ns.GC(ctx, gateway.GCOptions{Members: e.backendsOf()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Uncataloged != 2 || rep.Superseded != 0 || rep.SupersededYoung != 0 {
		t.Errorf("uncataloged %d, superseded %d (%d young); want 2 and 0", rep.Uncataloged, rep.Superseded, rep.SupersededYoung)
	}
	for i, b := range rep.Backends {
		if b.Deleted != 0 {
			t.Errorf("%s: %d blobs deleted", b.Name, b.Deleted)
		}
		for _, n := range keep {
			if !e.exists(t, i, n) {
				t.Errorf("%s lost %s", b.Name, n)
			}
		}
	}
}

// TestRebuildCatalogNewestGeneration rebuilds a catalog from a provider
// that holds, of one key, two generations of its record and a superseded
// copy of the form written before records were named by generation: the
// newest is entered. Records copied to the name of a higher generation
// (what a hostile provider can do) are refused, not entered.
func TestRebuildCatalogNewestGeneration(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.put(t, "k", payload(1000, 1))
	first, err := e.cat.Get(ctx, "bucket", "k")
	if err != nil {
		t.Fatal(err)
	}
	n1 := e.recordName(t, "bucket", "k", "")
	r1, err := os.ReadFile(e.file(0, n1))
	if err != nil {
		t.Fatal(err)
	}
	e.put(t, "k", payload(1000, 2))
	last, err := e.cat.Get(ctx, "bucket", "k")
	if err != nil {
		t.Fatal(err)
	}
	base, legacy, err := e.ns.LegacyRecord(ctx, "bucket", "k", first.Generation-1)
	if err != nil {
		t.Fatal(err)
	}
	if base != e.ns.MetaName("bucket", "k") {
		t.Fatalf("legacy record under %s, want %s", base, e.ns.MetaName("bucket", "k"))
	}
	e.writeFile(t, 0, n1, r1)
	e.writeFile(t, 0, base, legacy)
	// The first record again, under the name of a generation above the
	// last; and the only record of h, moved likewise.
	hostile := []string{fmt.Sprintf("%s%016x", base, last.Generation+1)}
	e.writeFile(t, 0, hostile[0], r1)
	e.put(t, "h", payload(1000, 3))
	hn := e.recordName(t, "bucket", "h", "")
	hr, err := os.ReadFile(e.file(0, hn))
	if err != nil {
		t.Fatal(err)
	}
	hgen, err := e.cat.Get(ctx, "bucket", "h")
	if err != nil {
		t.Fatal(err)
	}
	hostile = append(hostile, fmt.Sprintf("%s%016x", e.ns.MetaName("bucket", "h"), hgen.Generation+5))
	if err := os.Remove(e.file(0, hn)); err != nil {
		t.Fatal(err)
	}
	e.writeFile(t, 0, hostile[1], hr)

	fresh, rep := e.rebuildFrom(t, e.backendsOf()[:1])
	got, err := fresh.Get(ctx, "bucket", "k")
	if err != nil || got.Generation != last.Generation || got.ETag != last.ETag || got.Size != last.Size {
		t.Errorf("rebuilt k: %+v, %v; want generation %d, ETag %s", got, err, last.Generation, last.ETag)
	}
	if h, err := fresh.Get(ctx, "bucket", "h"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("h entered from a record under another generation's name: %+v, %v", h, err)
	}
	var failed []string
	for _, f := range rep.Failed {
		failed = append(failed, f.Name)
	}
	slices.Sort(failed)
	slices.Sort(hostile)
	if rep.Objects != 1 || rep.Skipped != 2 || !slices.Equal(failed, hostile) {
		t.Errorf("rebuild: %d objects, %d skipped, failed %v; want 1, 2 and %v", rep.Objects, rep.Skipped, failed, hostile)
	}
}

// TestRecoverSupersededRecords checks that Recover restores the newest
// record of a key: an object whose superseded record is still on the
// provider beside its newer record, or beside its tombstone, is restored
// as written last, or not at all.
func TestRecoverSupersededRecords(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	supersededFixture(t, e)
	e.put(t, "gone", payload(100, 5))
	gn := e.recordName(t, "bucket", "gone", "")
	gr, err := os.ReadFile(e.file(0, gn))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ns.DeleteObject(ctx, "bucket", "gone"); err != nil {
		t.Fatal(err)
	}
	e.writeFile(t, 0, gn, gr)
	dir := t.TempDir()
	rep, err := gateway.Recover(ctx, gateway.RecoverOptions{Keys: e.keys, Backend: e.members[0], Dir: dir})
	if err != nil || rep.FailedCount != 0 {
		t.Fatalf("Recover: %+v, %v", rep, err)
	}
	got := readTree(t, dir)
	if len(got) != 1 || got["bucket/k"] != string(payload(200_000, 2)) {
		t.Errorf("recovered %d files (k: %d bytes); want k alone, as written last", len(got), len(got["bucket/k"]))
	}
	if rep.Objects != 1 || rep.Deleted != 1 {
		t.Errorf("recovered %d objects, %d deleted; want 1 and 1", rep.Objects, rep.Deleted)
	}
}

// TestGCKnowsTombstonesUnderRetiredKeys checks that gc knows the record of
// a tombstone sealed under a key-encryption key retired since (rewrap
// leaves tombstones as they are): it is neither taken for a foreign file
// nor for a record the catalog lacks.
func TestGCKnowsTombstonesUnderRetiredKeys(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.put(t, "kept", payload(100, 6))
	e.put(t, "gone", payload(100, 7))
	if err := e.ns.DeleteObject(ctx, "bucket", "gone"); err != nil {
		t.Fatal(err)
	}
	retired := e.retireOldKeys(t)
	rep, err := retired.GC(ctx, gateway.GCOptions{Members: e.backendsOf()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Foreign != 0 || rep.Uncataloged != 0 || rep.Superseded != 0 {
		t.Errorf("gc without the old key: %d foreign, %d uncataloged, %d superseded; want none", rep.Foreign, rep.Uncataloged, rep.Superseded)
	}
}

// TestGCSupersededRecordSharesBlobs checks that a superseded record whose
// blobs the catalog's record still references (a write that changed only
// the record: tags) goes, and the blobs stay.
func TestGCSupersededRecordSharesBlobs(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	data := payload(200_000, 8)
	blobs := e.put(t, "k", data)
	oldName := e.recordName(t, "bucket", "k", "")
	old, err := os.ReadFile(e.file(0, oldName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ns.SetTags(ctx, "bucket", "k", map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	if cur := e.recordName(t, "bucket", "k", ""); cur == oldName || len(blobs) == 0 {
		t.Fatalf("record %s after the tags, %s before, blobs %v: want a new record over blobs", cur, oldName, blobs)
	}
	for i := range e.members {
		e.writeFile(t, i, oldName, old)
	}
	rep, err := e.ns.GC(ctx, gateway.GCOptions{Members: e.backendsOf()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Superseded != 2 {
		t.Errorf("%d superseded records deleted, want 2", rep.Superseded)
	}
	for i, b := range rep.Backends {
		if b.Deleted != 0 || e.exists(t, i, oldName) {
			t.Errorf("%s: %d blobs deleted, superseded record there: %v; want 0 and false", b.Name, b.Deleted, e.exists(t, i, oldName))
		}
	}
	if got := e.get(t, "k", 0, -1); !bytes.Equal(got, data) {
		t.Error("k does not read back after gc")
	}
}

// TestRecoverSupersededVersions checks that Recover with AllVersions lists
// each version once, from its newest record, and leaves out a deleted
// version whose superseded record is still on the provider.
func TestRecoverSupersededVersions(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if err := e.ns.SetBucketVersioning(ctx, "bucket", gateway.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	v1 := e.putv(t, "bucket", "v", "one")
	v2 := e.putv(t, "bucket", "v", "two")
	v3 := e.putv(t, "bucket", "v", "three")
	// v1's record rewritten (tags) and v2 deleted: their former records
	// are left on member 0.
	n1 := e.recordName(t, "bucket", "v", v1.VersionID)
	r1, err := os.ReadFile(e.file(0, n1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ns.SetVersionTags(ctx, "bucket", "v", v1.VersionID, map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	n2 := e.recordName(t, "bucket", "v", v2.VersionID)
	r2, err := os.ReadFile(e.file(0, n2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ns.Delete(ctx, "bucket", "v", gateway.DeleteOptions{VersionID: v2.VersionID}); err != nil {
		t.Fatal(err)
	}
	if n := e.recordName(t, "bucket", "v", v1.VersionID); n == n1 {
		t.Fatalf("v1's record kept its name %s", n)
	}
	e.writeFile(t, 0, n1, r1)
	e.writeFile(t, 0, n2, r2)
	dir := t.TempDir()
	rep, err := gateway.Recover(ctx, gateway.RecoverOptions{Keys: e.keys, Backend: e.members[0], Dir: dir, AllVersions: true})
	if err != nil || rep.FailedCount != 0 {
		t.Fatalf("Recover: %+v, %v", rep, err)
	}
	got := readTree(t, dir)
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(got[gateway.VersionsDir+"/"+gateway.VersionsManifest]), "\n") {
		var v gateway.VersionEntry
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("manifest line %q: %v", line, err)
		}
		ids = append(ids, v.VersionID)
		if got[v.Path] != map[string]string{v1.VersionID: "one", v3.VersionID: "three"}[v.VersionID] {
			t.Errorf("version %s restored as %q", v.VersionID, got[v.Path])
		}
	}
	if want := []string{v3.VersionID, v1.VersionID}; !slices.Equal(ids, want) || rep.Versions != 2 {
		t.Errorf("manifest lists %v, %d versions restored; want %v", ids, rep.Versions, want)
	}
	if got["bucket/v"] != "three" {
		t.Errorf("bucket/v restored as %q", got["bucket/v"])
	}
}

// TestForeignMetaNames checks that names under the meta-record prefix that
// the gateway never writes (upper-case hex, a generation 0, another
// length) are reported as foreign by scrub and counted as foreign by gc,
// and that neither repair nor gc deletes them.
func TestForeignMetaNames(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.put(t, "k", payload(100, 9))
	base := e.ns.MetaName("bucket", "k")
	hash := strings.TrimPrefix(base, "m/")
	foreign := []string{
		"m/" + strings.ToUpper(hash),
		base + "0000000000000000",
		base[:20],
	}
	for _, n := range foreign {
		e.writeFile(t, 0, n, []byte("not a record"))
	}
	var want []string
	for _, n := range foreign {
		want = append(want, "b0 foreign "+n)
	}
	slices.Sort(want)
	if got := summary(e.scrub(t, false)); !slices.Equal(got, want) {
		t.Errorf("scrub: %v, want %v", got, want)
	}
	if _, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf(), Adopt: true}); err != nil {
		t.Fatal(err)
	}
	rep, err := e.ns.GC(ctx, gateway.GCOptions{Members: e.backendsOf()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Foreign != len(foreign) || rep.Uncataloged != 0 || rep.Superseded != 0 {
		t.Errorf("gc: %d foreign, %d uncataloged, %d superseded; want %d, 0, 0", rep.Foreign, rep.Uncataloged, rep.Superseded, len(foreign))
	}
	for _, n := range foreign {
		if !e.exists(t, 0, n) {
			t.Errorf("%s was deleted", n)
		}
	}
}

// TestBucketTombstoneHasNoGenerationName checks that the record of a
// bucket's tombstone that does not open (sealed under a key-encryption
// key retired since) is looked for under its one name: a file under the
// name of its generation, which no bucket record has, is foreign to scrub
// and gc, not taken for the tombstone's record.
func TestBucketTombstoneHasNoGenerationName(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if err := e.ns.CreateBucket(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if err := e.ns.DeleteBucket(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	var gen uint64
	err := e.cat.WalkTombstones(ctx, func(tb catalog.Tombstone) error {
		if tb.Bucket == "other" && tb.Key == "" {
			gen = tb.Generation
		}
		return nil
	})
	if err != nil || gen == 0 {
		t.Fatalf("bucket tombstone of generation %d: %v", gen, err)
	}
	base := e.ns.MetaName("other", "")
	sealed, err := os.ReadFile(e.file(0, base))
	if err != nil {
		t.Fatal(err)
	}
	stray := fmt.Sprintf("%s%016x", base, gen)
	e.writeFile(t, 0, stray, sealed)
	retired := e.retireOldKeys(t)
	sr, err := retired.Scrub(ctx, gateway.ScrubOptions{Members: e.backendsOf()})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summary(sr), []string{"b0 foreign " + stray}; !slices.Equal(got, want) {
		t.Errorf("scrub: %v, want %v", got, want)
	}
	rep, err := retired.GC(ctx, gateway.GCOptions{Members: e.backendsOf()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Foreign != 1 || rep.Uncataloged != 0 || rep.Superseded != 0 {
		t.Errorf("gc: %d foreign, %d uncataloged, %d superseded; want 1, 0, 0", rep.Foreign, rep.Uncataloged, rep.Superseded)
	}
	if !e.exists(t, 0, stray) || !e.exists(t, 0, base) || !e.exists(t, 1, base) {
		t.Error("gc deleted the tombstone's record or the foreign file")
	}
}

// refuseMetaDeletes is a member that refuses to delete meta records.
type refuseMetaDeletes struct{ backends.Backend }

func (r refuseMetaDeletes) Delete(ctx context.Context, name string) error {
	if strings.HasPrefix(name, "m/") {
		return errors.New("delete refused")
	}
	return r.Backend.Delete(ctx, name)
}

// TestGCCapsDeleteErrors checks that gc reports the first failed deletions
// of superseded records one by one and counts the others, rather than
// return one error per record.
func TestGCCapsDeleteErrors(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const keys = 6 // 12 superseded records on the two members
	saved := map[string][]byte{}
	for i := range keys {
		k := fmt.Sprintf("k%d", i)
		e.put(t, k, payload(100, uint64(i)))
		name := e.recordName(t, "bucket", k, "")
		b, err := os.ReadFile(e.file(0, name))
		if err != nil {
			t.Fatal(err)
		}
		saved[name] = b
		e.put(t, k, payload(100, uint64(i)+100))
	}
	for name, b := range saved {
		for i := range e.members {
			e.writeFile(t, i, name, b)
		}
	}
	var members []backends.Backend
	for _, m := range e.members {
		members = append(members, refuseMetaDeletes{m})
	}
	rep, err := e.ns.GC(ctx, gateway.GCOptions{Members: members})
	if rep == nil || rep.SupersededFailed != 2*keys || rep.Superseded != 0 {
		t.Fatalf("gc: %+v; want %d failed deletions, none done", rep, 2*keys)
	}
	if err == nil {
		t.Fatal("gc: no error for the failed deletions")
	}
	msg := err.Error()
	if n := strings.Count(msg, "delete superseded meta record"); n != 10 || !strings.Contains(msg, fmt.Sprintf("%d more superseded meta records", 2*keys-10)) {
		t.Errorf("gc error lists %d deletions (want 10) and then: %q", n, msg)
	}
	for name := range saved {
		for i := range e.members {
			if !e.exists(t, i, name) {
				t.Errorf("member %d: %s deleted", i, name)
			}
		}
	}
}

// retireOldKeys rotates the keyring, rewraps the store, and returns a
// namespace over it whose keyring no longer holds the key-encryption keys
// from before the rotation.
func (e *env) retireOldKeys(t *testing.T) *gateway.Namespace {
	t.Helper()
	cur, err := e.keys.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ns.Rewrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	retired, err := gateway.New(gateway.Options{Keys: minKEK{e.keys, cur}, Store: e.set, Catalog: e.cat})
	if err != nil {
		t.Fatal(err)
	}
	return retired
}
