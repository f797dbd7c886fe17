package catalogtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// version returns a version of bucket/key created at seq, its record
// unique to id and generation.
func version(bucket, key, id string, seq uint64) catalog.Version {
	return catalog.Version{
		Bucket: bucket, Key: key, VersionID: id, Seq: seq, Generation: seq,
		Size:    int64(seq) * 10,
		ETag:    fmt.Sprintf("etag-%s-%d", id, seq),
		ModTime: t0.Add(time.Duration(seq) * time.Second),
		Record:  []byte(fmt.Sprintf("record:%s:%s:%d", key, id, seq)),
	}
}

func marker(bucket, key, id string, seq uint64) catalog.Version {
	v := version(bucket, key, id, seq)
	v.DeleteMarker, v.Size, v.ETag = true, 0, ""
	return v
}

func mustPutVersion(t *testing.T, c catalog.Catalog, v catalog.Version) *catalog.Version {
	t.Helper()
	replaced, err := c.PutVersion(t.Context(), v)
	if err != nil {
		t.Fatalf("PutVersion(%s/%s?versionId=%s seq %d gen %d): %v", v.Bucket, v.Key, v.VersionID, v.Seq, v.Generation, err)
	}
	return replaced
}

// diffVersion describes how got differs from want (Latest included), or
// returns "".
func diffVersion(got, want catalog.Version) string {
	var d []string
	if got.Bucket != want.Bucket || got.Key != want.Key || got.VersionID != want.VersionID {
		d = append(d, fmt.Sprintf("name %s/%q?%s, want %s/%q?%s", got.Bucket, got.Key, got.VersionID, want.Bucket, want.Key, want.VersionID))
	}
	if got.Seq != want.Seq || got.Generation != want.Generation {
		d = append(d, fmt.Sprintf("seq/gen %d/%d, want %d/%d", got.Seq, got.Generation, want.Seq, want.Generation))
	}
	if got.DeleteMarker != want.DeleteMarker || got.Latest != want.Latest {
		d = append(d, fmt.Sprintf("marker %v latest %v, want %v %v", got.DeleteMarker, got.Latest, want.DeleteMarker, want.Latest))
	}
	if got.Size != want.Size || got.ETag != want.ETag || !got.ModTime.Equal(want.ModTime) {
		d = append(d, fmt.Sprintf("size/etag/mtime %d %q %v, want %d %q %v", got.Size, got.ETag, got.ModTime, want.Size, want.ETag, want.ModTime))
	}
	if got.RetainMode != want.RetainMode || !got.RetainUntil.Equal(want.RetainUntil) || got.LegalHold != want.LegalHold {
		d = append(d, fmt.Sprintf("lock %q %v %v, want %q %v %v", got.RetainMode, got.RetainUntil, got.LegalHold, want.RetainMode, want.RetainUntil, want.LegalHold))
	}
	if !bytes.Equal(got.Record, want.Record) {
		d = append(d, fmt.Sprintf("record %q, want %q", got.Record, want.Record))
	}
	return strings.Join(d, "; ")
}

func checkVersion(t *testing.T, c catalog.Catalog, bucket, key, id string, want catalog.Version) {
	t.Helper()
	got, err := c.GetVersion(t.Context(), bucket, key, id)
	if err != nil {
		t.Fatalf("GetVersion(%s/%s?versionId=%q): %v", bucket, key, id, err)
	}
	if d := diffVersion(got, want); d != "" {
		t.Errorf("GetVersion(%s/%s?versionId=%q): %s", bucket, key, id, d)
	}
}

// checkCurrent checks that the object index mirrors want (nil: no entry).
func checkCurrent(t *testing.T, c catalog.Catalog, bucket, key string, want *catalog.Version) {
	t.Helper()
	got, err := c.Get(t.Context(), bucket, key)
	if want == nil {
		if !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("Get(%s/%s) = %+v, %v; want ErrNotFound", bucket, key, got, err)
		}
		res, err := c.List(t.Context(), catalog.ListOptions{Bucket: bucket, Prefix: key})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range res.Entries {
			if e.Key == key {
				t.Errorf("List shows %s/%s, whose current version is none or a delete marker", bucket, key)
			}
		}
		return
	}
	if err != nil {
		t.Fatalf("Get(%s/%s): %v", bucket, key, err)
	}
	if got.VersionID != want.VersionID {
		t.Errorf("Get(%s/%s).VersionID = %q, want %q", bucket, key, got.VersionID, want.VersionID)
	}
	we := catalog.Entry{Bucket: bucket, Key: key, Size: want.Size, ETag: want.ETag, ModTime: want.ModTime, Generation: want.Generation, Record: want.Record}
	if d := diffEntry(got, we); d != "" {
		t.Errorf("Get(%s/%s): %s", bucket, key, d)
	}
}

func latest(v catalog.Version) catalog.Version { v.Latest = true; return v }

// testVersionsLifecycle walks one key through S3's versioned operations:
// an unversioned object becoming the null version, new versions, a delete
// marker, deletes by ID that promote the next newest, and replays that
// tombstones refuse.
func testVersionsLifecycle(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	mustCreateBucket(t, c, "b")
	mustPut(t, c, entry("b", "k", 5))
	e5 := entry("b", "k", 5)
	null := catalog.Version{Bucket: "b", Key: "k", VersionID: catalog.NullVersion, Seq: 5, Generation: 5, Size: e5.Size, ETag: e5.ETag, ModTime: e5.ModTime, Record: e5.Record}

	// An unversioned entry is the key's null version.
	checkVersion(t, c, "b", "k", catalog.NullVersion, latest(null))
	checkVersion(t, c, "b", "k", "", latest(null))
	if _, err := c.GetVersion(ctx, "b", "k", "v1"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("GetVersion of a missing version ID: %v, want ErrNotFound", err)
	}

	// A versioned PUT keeps the null version and becomes current.
	v1 := version("b", "k", "v1", 10)
	if r := mustPutVersion(t, c, v1); r != nil {
		t.Errorf("PutVersion of a new ID replaced %+v", r)
	}
	checkCurrent(t, c, "b", "k", &v1)
	checkVersion(t, c, "b", "k", "", latest(v1))
	checkVersion(t, c, "b", "k", catalog.NullVersion, null)

	// The unversioned methods refuse a key with versions.
	wantErr(t, "Put over versions", func() error { _, err := c.Put(ctx, entry("b", "k", 99)); return err }(), catalog.ErrVersioned)
	wantErr(t, "Delete of a key with versions", func() error { _, err := c.Delete(ctx, "b", "k", 0); return err }(), catalog.ErrVersioned)
	wantErr(t, "PutTombstone of a key with versions", func() error {
		_, err := c.PutTombstone(ctx, catalog.Tombstone{Bucket: "b", Key: "k", Generation: 99})
		return err
	}(), catalog.ErrVersioned)
	wantErr(t, "Move of a key with versions", func() error { _, err := c.Move(ctx, "b", "k", 0, entry("b", "k2", 99)); return err }(), catalog.ErrVersioned)
	wantErr(t, "Move onto a key with versions", func() error {
		mustPut(t, c, entry("b", "src", 1))
		_, err := c.Move(ctx, "b", "src", 0, entry("b", "k", 99))
		return err
	}(), catalog.ErrVersioned)
	if _, err := c.Delete(ctx, "b", "src", 0); err != nil {
		t.Fatalf("the source of the refused Move: %v", err)
	}
	wantErr(t, "Put of an entry with a version ID", func() error {
		e := entry("b", "other", 1)
		e.VersionID = "x"
		_, err := c.Put(ctx, e)
		return err
	}(), catalog.ErrInvalid)

	// A delete marker hides the key.
	v2 := version("b", "k", "v2", 20)
	mustPutVersion(t, c, v2)
	m3 := marker("b", "k", "m3", 30)
	mustPutVersion(t, c, m3)
	checkCurrent(t, c, "b", "k", nil)
	checkVersion(t, c, "b", "k", "", latest(m3))
	checkVersion(t, c, "b", "k", "v2", v2)
	if err := c.DeleteBucket(ctx, "b"); !errors.Is(err, catalog.ErrBucketNotEmpty) {
		t.Errorf("DeleteBucket with versions: %v, want ErrBucketNotEmpty", err)
	}

	// Deleting the delete marker by ID promotes v2.
	tm := catalog.Tombstone{Bucket: "b", Key: "k", VersionID: "m3", Generation: 31, Deleted: t0, Record: []byte("tomb-m3")}
	removed, err := c.DeleteVersion(ctx, tm, catalog.DeleteVersionOptions{})
	if err != nil || removed == nil || removed.VersionID != "m3" || !removed.DeleteMarker {
		t.Fatalf("DeleteVersion(m3) = %+v, %v", removed, err)
	}
	checkCurrent(t, c, "b", "k", &v2)
	got, err := c.GetVersionTombstone(ctx, "b", "k", "m3")
	if err != nil || got.Generation != 31 || got.VersionID != "m3" || string(got.Record) != "tomb-m3" || !got.Deleted.Equal(t0) {
		t.Errorf("GetVersionTombstone(m3) = %+v, %v", got, err)
	}
	// A replay of the deleted marker is stale; so is a second delete.
	wantErr(t, "replayed delete marker", func() error { _, err := c.PutVersion(ctx, m3); return err }(), catalog.ErrStale)
	wantErr(t, "the same delete again", func() error { _, err := c.DeleteVersion(ctx, tm, catalog.DeleteVersionOptions{}); return err }(), catalog.ErrStale)

	// Deleting a noncurrent version leaves the current one.
	tn := catalog.Tombstone{Bucket: "b", Key: "k", VersionID: catalog.NullVersion, Generation: 6, Deleted: t0}
	if removed, err := c.DeleteVersion(ctx, tn, catalog.DeleteVersionOptions{}); err != nil || removed == nil || removed.Seq != 5 {
		t.Fatalf("DeleteVersion(null) = %+v, %v", removed, err)
	}
	checkCurrent(t, c, "b", "k", &v2)
	// The null version's tombstone is the key's.
	if kt, err := c.GetTombstone(ctx, "b", "k"); err != nil || kt.Generation != 6 || kt.VersionID != "" {
		t.Errorf("GetTombstone after deleting the null version = %+v, %v", kt, err)
	}
	if vt, err := c.GetVersionTombstone(ctx, "b", "k", catalog.NullVersion); err != nil || vt.Generation != 6 {
		t.Errorf("GetVersionTombstone(null) = %+v, %v", vt, err)
	}
	wantErr(t, "replayed null version", func() error { _, err := c.PutVersion(ctx, null); return err }(), catalog.ErrStale)

	// A delete below the version's generation is stale.
	wantErr(t, "delete at the version's generation", func() error {
		_, err := c.DeleteVersion(ctx, catalog.Tombstone{Bucket: "b", Key: "k", VersionID: "v2", Generation: 20}, catalog.DeleteVersionOptions{})
		return err
	}(), catalog.ErrStale)
	checkCurrent(t, c, "b", "k", &v2)

	// Deleting the current version promotes the next newest.
	if _, err := c.DeleteVersion(ctx, catalog.Tombstone{Bucket: "b", Key: "k", VersionID: "v2", Generation: 21}, catalog.DeleteVersionOptions{}); err != nil {
		t.Fatal(err)
	}
	checkCurrent(t, c, "b", "k", &v1)
	checkVersion(t, c, "b", "k", "v1", latest(v1))
	// The last one: the key is gone, and nothing of it comes back.
	if _, err := c.DeleteVersion(ctx, catalog.Tombstone{Bucket: "b", Key: "k", VersionID: "v1", Generation: 11}, catalog.DeleteVersionOptions{}); err != nil {
		t.Fatal(err)
	}
	checkCurrent(t, c, "b", "k", nil)
	if _, err := c.GetVersion(ctx, "b", "k", ""); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("GetVersion of a key without versions: %v, want ErrNotFound", err)
	}
	for _, v := range []catalog.Version{v1, v2, null} {
		wantErr(t, "replay of "+v.VersionID, func() error { _, err := c.PutVersion(ctx, v); return err }(), catalog.ErrStale)
	}
	wantErr(t, "replayed unversioned entry", func() error { _, err := c.Put(ctx, entry("b", "k", 5)); return err }(), catalog.ErrStale)
	checkCurrent(t, c, "b", "k", nil)
	// A newer version of a deleted ID's record may come back (a null
	// version written later, say), and the bucket empties.
	newNull := version("b", "k", catalog.NullVersion, 40)
	mustPutVersion(t, c, newNull)
	checkCurrent(t, c, "b", "k", &newNull)
	if _, err := c.GetTombstone(ctx, "b", "k"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("key tombstone after a newer null version: %v, want ErrNotFound", err)
	}
	if _, err := c.DeleteVersion(ctx, catalog.Tombstone{Bucket: "b", Key: "k", VersionID: catalog.NullVersion, Generation: 41}, catalog.DeleteVersionOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteBucket(ctx, "b"); err != nil {
		t.Errorf("DeleteBucket once every version is deleted: %v", err)
	}
}

// testVersionsNull checks the null version under suspended versioning: a
// new null version replaces the old one, in place of Seq, and keeps the
// other versions.
func testVersionsNull(t *testing.T, c catalog.Catalog) {
	mustCreateBucket(t, c, "b")
	mustPut(t, c, entry("b", "k", 5))
	v1 := version("b", "k", "v1", 10)
	mustPutVersion(t, c, v1)
	n2 := version("b", "k", catalog.NullVersion, 20)
	r := mustPutVersion(t, c, n2)
	if r == nil || r.Seq != 5 || string(r.Record) != string(entry("b", "k", 5).Record) {
		t.Fatalf("PutVersion(null) replaced %+v, want the unversioned entry", r)
	}
	checkCurrent(t, c, "b", "k", &n2)
	checkVersion(t, c, "b", "k", "v1", v1)
	// A suspended DELETE: a null delete marker replaces the null version.
	m := marker("b", "k", catalog.NullVersion, 30)
	if r := mustPutVersion(t, c, m); r == nil || r.Seq != 20 {
		t.Fatalf("null delete marker replaced %+v, want the null version of seq 20", r)
	}
	checkCurrent(t, c, "b", "k", nil)
	res, err := c.ListVersions(t.Context(), catalog.VersionListOptions{Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Versions) != 2 || diffVersion(res.Versions[0], latest(m)) != "" || diffVersion(res.Versions[1], v1) != "" {
		t.Errorf("ListVersions = %+v, want the null delete marker and v1", res.Versions)
	}
	// A null delete marker on a key without versions replaces its
	// unversioned entry.
	mustPut(t, c, entry("b", "u", 7))
	if r := mustPutVersion(t, c, marker("b", "u", catalog.NullVersion, 8)); r == nil || r.Seq != 7 {
		t.Fatalf("null delete marker over an unversioned entry replaced %+v", r)
	}
	checkCurrent(t, c, "b", "u", nil)
}

// testVersionsRewrite checks rewrites of one version's record (retention,
// legal hold) and restores in any order.
func testVersionsRewrite(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	mustCreateBucket(t, c, "b")
	v1 := version("b", "k", "v1", 10)
	v2 := version("b", "k", "v2", 20)
	mustPutVersion(t, c, v2)
	// A restore puts an older version beneath the current one.
	mustPutVersion(t, c, v1)
	checkCurrent(t, c, "b", "k", &v2)
	checkVersion(t, c, "b", "k", "v1", v1)

	held := v1
	held.Generation, held.LegalHold, held.Record = 15, true, []byte("held")
	if r := mustPutVersion(t, c, held); r == nil || r.Generation != 10 {
		t.Fatalf("rewrite replaced %+v, want generation 10", r)
	}
	checkVersion(t, c, "b", "k", "v1", held)
	checkCurrent(t, c, "b", "k", &v2)
	wantErr(t, "rewrite at the same generation", func() error { _, err := c.PutVersion(ctx, held); return err }(), catalog.ErrStale)
	wantErr(t, "older record", func() error { _, err := c.PutVersion(ctx, v1); return err }(), catalog.ErrStale)
	moved := held
	moved.Seq, moved.Generation = 11, 16
	wantErr(t, "rewrite with another Seq", func() error { _, err := c.PutVersion(ctx, moved); return err }(), catalog.ErrInvalid)

	// Rewriting the current version updates the object index.
	cur := v2
	cur.Generation, cur.RetainMode, cur.RetainUntil, cur.Record = 25, catalog.RetainGovernance, t0.Add(time.Hour), []byte("retained")
	mustPutVersion(t, c, cur)
	checkCurrent(t, c, "b", "k", &cur)
	checkVersion(t, c, "b", "k", "", latest(cur))
}

// testVersionsLock checks that DeleteVersion enforces legal holds and
// retention, with the governance bypass.
func testVersionsLock(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	mustCreateBucket(t, c, "b")
	now := t0.Add(time.Hour)
	gov := version("b", "k", "gov", 10)
	gov.RetainMode, gov.RetainUntil = catalog.RetainGovernance, now.Add(time.Minute)
	comp := version("b", "k", "comp", 20)
	comp.RetainMode, comp.RetainUntil = catalog.RetainCompliance, now.Add(time.Minute)
	hold := version("b", "k", "hold", 30)
	hold.LegalHold = true
	expired := version("b", "k", "expired", 40)
	expired.RetainMode, expired.RetainUntil = catalog.RetainCompliance, now.Add(-time.Second)
	for _, v := range []catalog.Version{gov, comp, hold, expired} {
		mustPutVersion(t, c, v)
	}
	del := func(id string, gen uint64, bypass bool) error {
		_, err := c.DeleteVersion(ctx, catalog.Tombstone{Bucket: "b", Key: "k", VersionID: id, Generation: gen, Deleted: now}, catalog.DeleteVersionOptions{BypassGovernance: bypass})
		return err
	}
	tests := []struct {
		id     string
		bypass bool
		want   error
	}{
		{"comp", false, catalog.ErrLocked},
		{"comp", true, catalog.ErrLocked},
		{"hold", true, catalog.ErrLocked},
		{"gov", false, catalog.ErrLocked},
		{"gov", true, nil},
		{"expired", false, nil},
	}
	for _, tt := range tests {
		err := del(tt.id, 100, tt.bypass)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("delete %s (bypass %v): %v, want %v", tt.id, tt.bypass, err, tt.want)
		}
	}
	// Refused deletes changed nothing: no tombstone, versions in place.
	for _, id := range []string{"comp", "hold"} {
		if _, err := c.GetVersionTombstone(ctx, "b", "k", id); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("tombstone of refused delete of %s: %v", id, err)
		}
	}
	checkVersion(t, c, "b", "k", "", latest(hold))
	checkVersion(t, c, "b", "k", "comp", comp)
	// Once retention passes, the version may go.
	if _, err := c.DeleteVersion(ctx, catalog.Tombstone{Bucket: "b", Key: "k", VersionID: "comp", Generation: 100, Deleted: comp.RetainUntil}, catalog.DeleteVersionOptions{}); err != nil {
		t.Errorf("delete at the end of retention: %v", err)
	}
}

// testVersionsInvalid checks argument validation.
func testVersionsInvalid(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	mustCreateBucket(t, c, "b")
	mk := func(f func(v *catalog.Version)) catalog.Version {
		v := version("b", "k", "v", 10)
		f(&v)
		return v
	}
	tests := []struct {
		name string
		v    catalog.Version
		want error
	}{
		{"empty ID", mk(func(v *catalog.Version) { v.VersionID = "" }), catalog.ErrInvalid},
		{"seq 0", mk(func(v *catalog.Version) { v.Seq, v.Generation = 0, 0 }), catalog.ErrInvalid},
		{"generation below seq", mk(func(v *catalog.Version) { v.Generation = 9 }), catalog.ErrInvalid},
		{"locked delete marker", mk(func(v *catalog.Version) { v.DeleteMarker, v.LegalHold = true, true }), catalog.ErrInvalid},
		{"unknown mode", mk(func(v *catalog.Version) { v.RetainMode, v.RetainUntil = "FOREVER", t0 }), catalog.ErrInvalid},
		{"mode without date", mk(func(v *catalog.Version) { v.RetainMode = catalog.RetainCompliance }), catalog.ErrInvalid},
		{"empty key", mk(func(v *catalog.Version) { v.Key = "" }), catalog.ErrInvalid},
		{"missing bucket", mk(func(v *catalog.Version) { v.Bucket = "nope" }), catalog.ErrNoSuchBucket},
	}
	for _, tt := range tests {
		if _, err := c.PutVersion(ctx, tt.v); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := c.DeleteVersion(ctx, catalog.Tombstone{Bucket: "b", Key: "k", Generation: 1}, catalog.DeleteVersionOptions{}); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("DeleteVersion without a version ID: %v, want ErrInvalid", err)
	}
	if _, err := c.PutTombstone(ctx, catalog.Tombstone{Bucket: "b", Key: "k", VersionID: "v", Generation: 1}); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("PutTombstone with a version ID: %v, want ErrInvalid", err)
	}
	if _, err := c.GetVersion(ctx, "nope", "k", ""); !errors.Is(err, catalog.ErrNoSuchBucket) {
		t.Errorf("GetVersion in a missing bucket: %v", err)
	}
	if _, err := c.ListVersions(ctx, catalog.VersionListOptions{Bucket: "nope"}); !errors.Is(err, catalog.ErrNoSuchBucket) {
		t.Errorf("ListVersions of a missing bucket: %v", err)
	}
	// Deleting a version that is not there records the tombstone.
	if r, err := c.DeleteVersion(ctx, catalog.Tombstone{Bucket: "b", Key: "k", VersionID: "gone", Generation: 3}, catalog.DeleteVersionOptions{}); err != nil || r != nil {
		t.Errorf("DeleteVersion of a missing version = %+v, %v", r, err)
	}
	if _, err := c.PutVersion(ctx, version("b", "k", "gone", 3)); !errors.Is(err, catalog.ErrStale) {
		t.Errorf("PutVersion under a tombstone recorded before it: %v, want ErrStale", err)
	}
}

// verRef is one version in the reference model of a listing.
type verRef struct {
	key, id string
	seq     uint64
	latest  bool
}

func (r verRef) String() string { return fmt.Sprintf("%s?%s@%d/%v", r.key, r.id, r.seq, r.latest) }

// referenceVersions computes a version listing by brute force: all is
// sorted by key, then newest first.
func referenceVersions(all []verRef, o catalog.VersionListOptions) (vs []verRef, prefixes []string, truncated bool) {
	limit := o.Limit
	if limit <= 0 {
		limit = catalog.DefaultLimit
	}
	// Position of the marker: items at or before it are skipped.
	skip := func(r verRef, idx int) bool {
		if o.KeyMarker == "" || o.KeyMarker < o.Prefix {
			return false
		}
		if r.key != o.KeyMarker {
			return r.key < o.KeyMarker
		}
		if o.VersionIDMarker == "" {
			return true
		}
		// Skip up to and including the marker version; all if unknown.
		for j := range all {
			if all[j].key == r.key && all[j].id == o.VersionIDMarker {
				return idx <= j
			}
		}
		return true
	}
	n := 0
	seen := map[string]bool{}
	for i, r := range all {
		if !strings.HasPrefix(r.key, o.Prefix) {
			continue
		}
		if o.Delimiter != "" {
			if j := strings.Index(r.key[len(o.Prefix):], o.Delimiter); j >= 0 {
				cp := r.key[:len(o.Prefix)+j+len(o.Delimiter)]
				if seen[cp] || (o.KeyMarker >= o.Prefix && cp <= o.KeyMarker) {
					continue
				}
				seen[cp] = true
				if n == limit {
					return vs, prefixes, true
				}
				prefixes = append(prefixes, cp)
				n++
				continue
			}
		}
		if skip(r, i) {
			continue
		}
		if n == limit {
			return vs, prefixes, true
		}
		vs = append(vs, r)
		n++
	}
	return vs, prefixes, false
}

// testListVersions compares ListVersions, one page and paginated, with the
// reference over random keys with random versions, some unversioned.
func testListVersions(t *testing.T, c catalog.Catalog) {
	r := seeded(7)
	mustCreateBucket(t, c, "lv")
	uniq := map[string]bool{}
	for range 150 {
		uniq[randomKey(r, []string{"a", "b", "/"}, 6)] = true
	}
	var all []verRef
	for _, k := range sorted(mapKeys(uniq)) {
		if r.IntN(4) == 0 {
			mustPut(t, c, entry("lv", k, 3))
			all = append(all, verRef{key: k, id: catalog.NullVersion, seq: 3, latest: true})
			continue
		}
		n := 1 + r.IntN(4)
		var refs []verRef
		for i := range n {
			seq := uint64(10 + 10*i)
			id := fmt.Sprintf("v%d", r.IntN(1000000))
			var v catalog.Version
			if r.IntN(3) == 0 {
				v = marker("lv", k, id, seq)
			} else {
				v = version("lv", k, id, seq)
			}
			mustPutVersion(t, c, v)
			refs = append(refs, verRef{key: k, id: id, seq: seq})
		}
		slices.Reverse(refs)
		refs[0].latest = true
		all = append(all, refs...)
	}
	var markers []verRef
	for range 12 {
		markers = append(markers, all[r.IntN(len(all))])
	}
	type opt = catalog.VersionListOptions
	var cases []opt
	for _, d := range []string{"", "/"} {
		for _, p := range []string{"", "a", "a/", "b/a"} {
			for _, l := range []int{0, 1, 3, 7} {
				cases = append(cases, opt{Prefix: p, Delimiter: d, Limit: l})
				for _, m := range markers[:4] {
					cases = append(cases, opt{Prefix: p, Delimiter: d, Limit: l, KeyMarker: m.key})
					cases = append(cases, opt{Prefix: p, Delimiter: d, Limit: l, KeyMarker: m.key, VersionIDMarker: m.id})
				}
				cases = append(cases, opt{Prefix: p, Delimiter: d, Limit: l, KeyMarker: "a/", VersionIDMarker: "unknown"})
			}
		}
	}
	for _, o := range cases {
		o.Bucket = "lv"
		wantV, wantP, wantT := referenceVersions(all, o)
		res, err := c.ListVersions(t.Context(), o)
		if err != nil {
			t.Fatalf("ListVersions(%+v): %v", o, err)
		}
		var gotV []verRef
		for _, v := range res.Versions {
			gotV = append(gotV, verRef{key: v.Key, id: v.VersionID, seq: v.Seq, latest: v.Latest})
		}
		if !slices.Equal(gotV, wantV) || !slices.Equal(res.CommonPrefixes, wantP) || res.Truncated != wantT {
			t.Errorf("ListVersions(%+v):\n got %v %q %v\nwant %v %q %v", o, gotV, res.CommonPrefixes, res.Truncated, wantV, wantP, wantT)
		}
	}
	// Paginating with the Next markers yields the whole listing.
	for _, d := range []string{"", "/"} {
		for _, p := range []string{"", "a", "b/"} {
			for _, l := range []int{1, 2, 5} {
				wantV, wantP, _ := referenceVersions(all, opt{Prefix: p, Delimiter: d, Limit: len(all) + 1})
				o := opt{Bucket: "lv", Prefix: p, Delimiter: d, Limit: l}
				var gotV []verRef
				var gotP []string
				for page := 0; ; page++ {
					if page > len(all)+1 {
						t.Fatal("pagination does not end")
					}
					res, err := c.ListVersions(t.Context(), o)
					if err != nil {
						t.Fatal(err)
					}
					if n := len(res.Versions) + len(res.CommonPrefixes); n > l || (res.Truncated && n != l) {
						t.Fatalf("page of %d items with limit %d, truncated %v", n, l, res.Truncated)
					}
					for _, v := range res.Versions {
						gotV = append(gotV, verRef{key: v.Key, id: v.VersionID, seq: v.Seq, latest: v.Latest})
					}
					gotP = append(gotP, res.CommonPrefixes...)
					if !res.Truncated {
						break
					}
					o.KeyMarker, o.VersionIDMarker = res.NextKeyMarker, res.NextVersionIDMarker
				}
				if !slices.Equal(gotV, wantV) || !slices.Equal(gotP, wantP) {
					t.Errorf("paged d%q p%q l%d:\n got %v %q\nwant %v %q", d, p, l, gotV, gotP, wantV, wantP)
				}
			}
		}
	}
	// Every non-marker current version is in the object index, and no
	// other key is.
	var wantKeys []string
	for _, ref := range all {
		if !ref.latest {
			continue
		}
		v, err := c.GetVersion(t.Context(), "lv", ref.key, "")
		if err != nil {
			t.Fatal(err)
		}
		if !v.DeleteMarker {
			wantKeys = append(wantKeys, ref.key)
		}
	}
	res, err := c.List(t.Context(), catalog.ListOptions{Bucket: "lv", Limit: len(all) + 1})
	if err != nil {
		t.Fatal(err)
	}
	var gotKeys []string
	for _, e := range res.Entries {
		gotKeys = append(gotKeys, e.Key)
	}
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("List shows %q, want the keys whose current version is an object %q", gotKeys, wantKeys)
	}
}

// testWalkVersions checks WalkVersions and WalkVersionTombstones.
func testWalkVersions(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	mustCreateBucket(t, c, "a")
	mustCreateBucket(t, c, "b")
	mustPut(t, c, entry("a", "plain", 1)) // not a version: Walk's
	var want []string
	for _, b := range []string{"a", "b"} {
		for _, k := range []string{"x", "y\x00z"} {
			for i := range 3 {
				mustPutVersion(t, c, version(b, k, fmt.Sprintf("v%d", i), uint64(10+i)))
			}
			for i := 2; i >= 0; i-- {
				want = append(want, fmt.Sprintf("%s/%q?v%d/%v", b, k, i, i == 2))
			}
		}
	}
	// Enough versions in one key to cross a walk batch.
	for i := range 600 {
		mustPutVersion(t, c, version("b", "z", fmt.Sprintf("w%04d", i), uint64(100+i)))
	}
	for i := 599; i >= 0; i-- {
		want = append(want, fmt.Sprintf("b/%q?w%04d/%v", "z", i, i == 599))
	}
	var got []string
	err := c.WalkVersions(ctx, func(v catalog.Version) error {
		got = append(got, fmt.Sprintf("%s/%q?%s/%v", v.Bucket, v.Key, v.VersionID, v.Latest))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("WalkVersions: %d versions, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
	}
	stop := errors.New("stop")
	if err := c.WalkVersions(ctx, func(catalog.Version) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("WalkVersions with a failing fn: %v", err)
	}

	for _, id := range []string{"v0", "v1"} {
		if _, err := c.DeleteVersion(ctx, catalog.Tombstone{Bucket: "a", Key: "x", VersionID: id, Generation: 50}, catalog.DeleteVersionOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteVersion(ctx, catalog.Tombstone{Bucket: "a", Key: "plain", VersionID: catalog.NullVersion, Generation: 50}, catalog.DeleteVersionOptions{}); err != nil {
		t.Fatal(err)
	}
	var tombs []string
	err = c.WalkVersionTombstones(ctx, func(tb catalog.Tombstone) error {
		tombs = append(tombs, fmt.Sprintf("%s/%s?%s@%d", tb.Bucket, tb.Key, tb.VersionID, tb.Generation))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a/x?v0@50", "a/x?v1@50"}; !slices.Equal(tombs, want) {
		t.Errorf("WalkVersionTombstones = %q, want %q (the null version's tombstone is the key's)", tombs, want)
	}
	var keyTombs []string
	err = c.WalkTombstones(ctx, func(tb catalog.Tombstone) error {
		keyTombs = append(keyTombs, tb.Bucket+"/"+tb.Key+"?"+tb.VersionID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a/plain?"}; !slices.Equal(keyTombs, want) {
		t.Errorf("WalkTombstones = %q, want %q", keyTombs, want)
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// testBucketVersioning checks the versioning configuration of buckets: its
// transitions, validation, generations, and that it goes with the bucket.
func testBucketVersioning(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	mustCreateBucket(t, c, "b")
	if v, err := c.GetBucketVersioning(ctx, "b"); err != nil || v != (catalog.BucketVersioning{}) {
		t.Fatalf("GetBucketVersioning of a new bucket = %+v, %v; want the zero value", v, err)
	}
	wantErr(t, "missing bucket", c.SetBucketVersioning(ctx, "nope", catalog.BucketVersioning{Status: catalog.VersioningEnabled, Generation: 1}), catalog.ErrNoSuchBucket)
	if _, err := c.GetBucketVersioning(ctx, "nope"); !errors.Is(err, catalog.ErrNoSuchBucket) {
		t.Errorf("GetBucketVersioning of a missing bucket: %v", err)
	}
	set := func(v catalog.BucketVersioning) error { return c.SetBucketVersioning(ctx, "b", v) }
	enabled := catalog.BucketVersioning{Status: catalog.VersioningEnabled, Generation: 10}
	if err := set(enabled); err != nil {
		t.Fatal(err)
	}
	if v, err := c.GetBucketVersioning(ctx, "b"); err != nil || v != enabled {
		t.Fatalf("GetBucketVersioning = %+v, %v; want %+v", v, err, enabled)
	}
	tests := []struct {
		name string
		v    catalog.BucketVersioning
		want error
	}{
		{"same generation", catalog.BucketVersioning{Status: catalog.VersioningSuspended, Generation: 10}, catalog.ErrStale},
		{"turned off", catalog.BucketVersioning{Generation: 11}, catalog.ErrInvalid},
		{"unknown status", catalog.BucketVersioning{Status: "On", Generation: 11}, catalog.ErrInvalid},
		{"lock while suspended", catalog.BucketVersioning{Status: catalog.VersioningSuspended, ObjectLock: true, Generation: 11}, catalog.ErrInvalid},
		{"retention without lock", catalog.BucketVersioning{Status: catalog.VersioningEnabled, DefaultMode: catalog.RetainGovernance, DefaultDays: 1, Generation: 11}, catalog.ErrInvalid},
		{"days and years", catalog.BucketVersioning{Status: catalog.VersioningEnabled, ObjectLock: true, DefaultMode: catalog.RetainGovernance, DefaultDays: 1, DefaultYears: 1, Generation: 11}, catalog.ErrInvalid},
		{"neither days nor years", catalog.BucketVersioning{Status: catalog.VersioningEnabled, ObjectLock: true, DefaultMode: catalog.RetainGovernance, Generation: 11}, catalog.ErrInvalid},
		{"period without mode", catalog.BucketVersioning{Status: catalog.VersioningEnabled, ObjectLock: true, DefaultDays: 3, Generation: 11}, catalog.ErrInvalid},
		{"unknown mode", catalog.BucketVersioning{Status: catalog.VersioningEnabled, ObjectLock: true, DefaultMode: "LEGAL", DefaultDays: 3, Generation: 11}, catalog.ErrInvalid},
	}
	for _, tt := range tests {
		wantErr(t, tt.name, set(tt.v), tt.want)
	}
	locked := catalog.BucketVersioning{Status: catalog.VersioningEnabled, ObjectLock: true, DefaultMode: catalog.RetainCompliance, DefaultYears: 2, Generation: 12}
	if err := set(locked); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.GetBucketVersioning(ctx, "b"); v != locked {
		t.Errorf("GetBucketVersioning = %+v, want %+v", v, locked)
	}
	wantErr(t, "lock turned off", set(catalog.BucketVersioning{Status: catalog.VersioningEnabled, Generation: 13}), catalog.ErrInvalid)
	wantErr(t, "locked bucket suspended", set(catalog.BucketVersioning{Status: catalog.VersioningSuspended, ObjectLock: true, Generation: 13}), catalog.ErrInvalid)
	// The configuration goes with the bucket.
	if err := c.DeleteBucket(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	mustCreateBucket(t, c, "b")
	if v, err := c.GetBucketVersioning(ctx, "b"); err != nil || v != (catalog.BucketVersioning{}) {
		t.Errorf("GetBucketVersioning of a re-created bucket = %+v, %v; want the zero value", v, err)
	}
}

// testVersionsConcurrent puts and deletes versions of one key from several
// goroutines at once: every change is atomic, so the versions left are
// exactly those not deleted, in order, and the object index mirrors the
// newest.
func testVersionsConcurrent(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	mustCreateBucket(t, c, "b")
	const workers, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				seq := uint64(1 + w + workers*i)
				id := fmt.Sprintf("w%d-%02d", w, i)
				v := version("b", "k", id, seq)
				if i%5 == 4 {
					v = marker("b", "k", id, seq)
				}
				if _, err := c.PutVersion(ctx, v); err != nil {
					errs <- fmt.Errorf("PutVersion %s: %w", id, err)
					return
				}
				if i%2 == 1 {
					t := catalog.Tombstone{Bucket: "b", Key: "k", VersionID: id, Generation: seq + 1, Deleted: t0}
					if _, err := c.DeleteVersion(ctx, t, catalog.DeleteVersionOptions{}); err != nil {
						errs <- fmt.Errorf("DeleteVersion %s: %w", id, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The survivors, newest first.
	var want []string
	var newest *catalog.Version
	for seq := uint64(workers * each); seq >= 1; seq-- {
		w, i := int(seq-1)%workers, int(seq-1)/workers
		if i%2 == 1 {
			continue
		}
		id := fmt.Sprintf("w%d-%02d", w, i)
		want = append(want, id)
		if newest == nil {
			v := version("b", "k", id, seq)
			if i%5 == 4 {
				v = marker("b", "k", id, seq)
			}
			newest = &v
		}
	}
	res, err := c.ListVersions(ctx, catalog.VersionListOptions{Bucket: "b", Limit: workers * each})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, v := range res.Versions {
		got = append(got, v.VersionID)
		if v.Latest != (i == 0) {
			t.Errorf("version %s: Latest %v", v.VersionID, v.Latest)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("versions after concurrent changes:\n got %q\nwant %q", got, want)
	}
	if newest.DeleteMarker {
		checkCurrent(t, c, "b", "k", nil)
	} else {
		checkCurrent(t, c, "b", "k", newest)
	}
}
