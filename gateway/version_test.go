package gateway_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends/replica"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
)

func (e *env) putv(t *testing.T, bucket, key, body string) gateway.ObjectInfo {
	t.Helper()
	info, err := e.ns.PutObject(context.Background(), bucket, key, strings.NewReader(body), int64(len(body)), gateway.PutOptions{})
	if err != nil {
		t.Fatalf("PutObject(%s/%s): %v", bucket, key, err)
	}
	return info
}

func readVersion(t *testing.T, ns *gateway.Namespace, bucket, key, id string) string {
	t.Helper()
	var o *gateway.Object
	var err error
	if id == "" {
		o, err = ns.Object(context.Background(), bucket, key)
	} else {
		o, err = ns.ObjectVersion(context.Background(), bucket, key, id)
	}
	if err != nil {
		t.Fatalf("read %s/%s?versionId=%s: %v", bucket, key, id, err)
	}
	r, err := o.NewReader(context.Background(), 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// listVersions returns "key?id[*][ marker]" for every version of bucket.
func listVersions(t *testing.T, ns *gateway.Namespace, bucket string) []string {
	t.Helper()
	res, err := ns.ListVersions(context.Background(), bucket, gateway.VersionListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range res.Versions {
		s := v.Key + "?" + v.VersionID
		if v.Latest {
			s += "*"
		}
		if v.DeleteMarker {
			s += " marker"
		}
		out = append(out, s)
	}
	return out
}

func TestVersioningLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	old := e.putv(t, "bucket", "k", "before versioning")
	if old.VersionID != "" {
		t.Fatalf("version ID %q in an unversioned bucket", old.VersionID)
	}
	if err := e.ns.SetBucketVersioning(ctx, "bucket", gateway.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	if o, err := e.ns.Object(ctx, "bucket", "k"); err != nil || o.VersionID != gateway.NullVersion {
		t.Fatalf("object from before versioning: %+v, %v; want the null version", o, err)
	}
	v1 := e.putv(t, "bucket", "k", "one")
	v2 := e.putv(t, "bucket", "k", "two")
	if v1.VersionID == "" || v2.VersionID == "" || v1.VersionID == v2.VersionID || v1.VersionID == gateway.NullVersion {
		t.Fatalf("version IDs %q, %q", v1.VersionID, v2.VersionID)
	}
	for id, want := range map[string]string{"": "two", v2.VersionID: "two", v1.VersionID: "one", gateway.NullVersion: "before versioning"} {
		if got := readVersion(t, e.ns, "bucket", "k", id); got != want {
			t.Errorf("version %q reads %q, want %q", id, got, want)
		}
	}
	// A delete adds a delete marker; the versions stay.
	res, err := e.ns.Delete(ctx, "bucket", "k", gateway.DeleteOptions{})
	if err != nil || !res.DeleteMarker || res.VersionID == "" {
		t.Fatalf("Delete = %+v, %v", res, err)
	}
	var dm *gateway.DeleteMarkerError
	if _, err := e.ns.Object(ctx, "bucket", "k"); !errors.As(err, &dm) || !dm.Current || !errors.Is(err, gateway.ErrNoSuchKey) || dm.VersionID != res.VersionID {
		t.Fatalf("Object after delete: %v; want a current delete marker", err)
	}
	if _, err := e.ns.ObjectVersion(ctx, "bucket", "k", res.VersionID); !errors.As(err, &dm) || dm.Current {
		t.Fatalf("ObjectVersion of the marker: %v", err)
	}
	if got := readVersion(t, e.ns, "bucket", "k", v1.VersionID); got != "one" {
		t.Errorf("v1 after the delete marker reads %q", got)
	}
	want := []string{"k?" + res.VersionID + "* marker", "k?" + v2.VersionID, "k?" + v1.VersionID, "k?null"}
	if got := listVersions(t, e.ns, "bucket"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("versions %q, want %q", got, want)
	}
	lr, err := e.ns.List(ctx, "bucket", gateway.ListOptions{})
	if err != nil || len(lr.Objects) != 0 {
		t.Errorf("List after the delete marker: %+v, %v", lr.Objects, err)
	}
	// Deleting the marker by ID brings v2 back.
	if _, err := e.ns.Delete(ctx, "bucket", "k", gateway.DeleteOptions{VersionID: res.VersionID}); err != nil {
		t.Fatal(err)
	}
	if got := readVersion(t, e.ns, "bucket", "k", ""); got != "two" {
		t.Errorf("after deleting the marker: %q, want two", got)
	}
	// Deleting v2 for good promotes v1; v2 is inline (its content is in
	// its record): there is no blob to delete.
	blobsBefore := len(e.names(t, 0, "b/"))
	if _, err := e.ns.Delete(ctx, "bucket", "k", gateway.DeleteOptions{VersionID: v2.VersionID}); err != nil {
		t.Fatal(err)
	}
	if got := readVersion(t, e.ns, "bucket", "k", ""); got != "one" {
		t.Errorf("after deleting v2: %q, want one", got)
	}
	if n := len(e.names(t, 0, "b/")); n != 0 || blobsBefore != 0 {
		t.Errorf("%d blobs before deleting a version, %d after, want 0 (inline)", blobsBefore, n)
	}
	if _, err := e.ns.ObjectVersion(ctx, "bucket", "k", v2.VersionID); !errors.Is(err, gateway.ErrNoSuchVersion) {
		t.Errorf("deleted version: %v, want ErrNoSuchVersion", err)
	}
	if _, err := e.ns.ObjectVersion(ctx, "bucket", "k", "nonsense"); !errors.Is(err, gateway.ErrInvalidVersionID) {
		t.Errorf("malformed version ID: %v, want ErrInvalidVersionID", err)
	}
	// A copy from an old version.
	cp, err := e.ns.CopyObjectWith(ctx, "bucket", "k", "bucket", "copy", gateway.CopyOptions{SourceVersionID: gateway.NullVersion})
	if err != nil || cp.VersionID == "" {
		t.Fatalf("copy of the null version: %+v, %v", cp, err)
	}
	if got := readVersion(t, e.ns, "bucket", "copy", ""); got != "before versioning" {
		t.Errorf("copy reads %q", got)
	}
	// A copy onto itself makes a new version with its own blobs.
	self, err := e.ns.CopyObjectWith(ctx, "bucket", "k", "bucket", "k", gateway.CopyOptions{})
	if err != nil || self.VersionID == v1.VersionID {
		t.Fatalf("copy onto itself: %+v, %v", self, err)
	}
	if _, err := e.ns.Delete(ctx, "bucket", "k", gateway.DeleteOptions{VersionID: v1.VersionID}); err != nil {
		t.Fatal(err)
	}
	if got := readVersion(t, e.ns, "bucket", "k", ""); got != "one" {
		t.Errorf("the copy onto itself after deleting its source version: %q", got)
	}
	// Versioning cannot be turned off.
	if err := e.ns.SetBucketVersioning(ctx, "bucket", ""); !errors.Is(err, gateway.ErrInvalidVersioning) {
		t.Errorf("turning versioning off: %v", err)
	}
	// A bucket with versions is not empty.
	if err := e.ns.DeleteBucket(ctx, "bucket"); !errors.Is(err, gateway.ErrBucketNotEmpty) {
		t.Errorf("DeleteBucket with versions: %v", err)
	}
}

func TestVersioningSuspended(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if err := e.ns.SetBucketVersioning(ctx, "bucket", gateway.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	v1 := e.putv(t, "bucket", "k", "one")
	if err := e.ns.SetBucketVersioning(ctx, "bucket", gateway.VersioningSuspended); err != nil {
		t.Fatal(err)
	}
	n1 := e.putv(t, "bucket", "k", "null one")
	n2 := e.putv(t, "bucket", "k", "null two")
	if n1.VersionID != gateway.NullVersion || n2.VersionID != gateway.NullVersion {
		t.Fatalf("suspended puts made versions %q, %q; want null", n1.VersionID, n2.VersionID)
	}
	want := []string{"k?null*", "k?" + v1.VersionID}
	if got := listVersions(t, e.ns, "bucket"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("versions %q, want %q", got, want)
	}
	if got := readVersion(t, e.ns, "bucket", "k", gateway.NullVersion); got != "null two" {
		t.Errorf("null version reads %q", got)
	}
	res, err := e.ns.Delete(ctx, "bucket", "k", gateway.DeleteOptions{})
	if err != nil || res.VersionID != gateway.NullVersion || !res.DeleteMarker {
		t.Fatalf("suspended delete = %+v, %v", res, err)
	}
	want = []string{"k?null* marker", "k?" + v1.VersionID}
	if got := listVersions(t, e.ns, "bucket"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("versions %q, want %q", got, want)
	}
}

// TestObjectLock checks retention, legal holds and their refusals.
func TestObjectLock(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	now := time.Now().UTC()
	if err := e.ns.CreateBucketWith(ctx, "locked", gateway.CreateBucketOptions{ObjectLock: true}); err != nil {
		t.Fatal(err)
	}
	cfg, err := e.ns.BucketVersioning(ctx, "locked")
	if err != nil || cfg.Status != gateway.VersioningEnabled || !cfg.ObjectLock {
		t.Fatalf("object-lock bucket: %+v, %v", cfg, err)
	}
	if err := e.ns.SetBucketVersioning(ctx, "locked", gateway.VersioningSuspended); !errors.Is(err, gateway.ErrInvalidVersioning) {
		t.Errorf("suspending an object-lock bucket: %v", err)
	}
	if err := e.ns.SetObjectLockConfig(ctx, "locked", gateway.LockConfig{Mode: gateway.RetainCompliance, Days: 1}); err != nil {
		t.Fatal(err)
	}
	v1 := e.putv(t, "locked", "k", "kept")
	ret, err := e.ns.ObjectRetention(ctx, "locked", "k", v1.VersionID)
	if err != nil || ret == nil || ret.Mode != gateway.RetainCompliance || ret.Until.Before(now.Add(23*time.Hour)) {
		t.Fatalf("default retention: %+v, %v", ret, err)
	}
	del := func(id string, bypass bool) error {
		_, err := e.ns.Delete(ctx, "locked", "k", gateway.DeleteOptions{VersionID: id, BypassGovernance: bypass})
		return err
	}
	for _, bypass := range []bool{false, true} {
		if err := del(v1.VersionID, bypass); !errors.Is(err, gateway.ErrObjectLocked) {
			t.Errorf("delete of a COMPLIANCE version (bypass %v): %v", bypass, err)
		}
	}
	// COMPLIANCE cannot be shortened, with or without the bypass.
	for _, bypass := range []bool{false, true} {
		_, err := e.ns.SetObjectRetention(ctx, "locked", "k", v1.VersionID, &gateway.Retention{Mode: gateway.RetainCompliance, Until: now.Add(time.Hour)}, bypass)
		if !errors.Is(err, gateway.ErrObjectLocked) {
			t.Errorf("shortening COMPLIANCE (bypass %v): %v", bypass, err)
		}
	}
	// ... but extended.
	if _, err := e.ns.SetObjectRetention(ctx, "locked", "k", v1.VersionID, &gateway.Retention{Mode: gateway.RetainCompliance, Until: now.Add(72 * time.Hour)}, false); err != nil {
		t.Errorf("extending COMPLIANCE: %v", err)
	}
	// GOVERNANCE yields to the bypass only.
	if err := e.ns.SetObjectLockConfig(ctx, "locked", gateway.LockConfig{}); err != nil {
		t.Fatal(err)
	}
	v2, err := e.ns.PutObject(ctx, "locked", "k", strings.NewReader("gov"), 3, gateway.PutOptions{Retention: &gateway.Retention{Mode: gateway.RetainGovernance, Until: now.Add(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := del(v2.VersionID, false); !errors.Is(err, gateway.ErrObjectLocked) {
		t.Errorf("delete of a GOVERNANCE version without the bypass: %v", err)
	}
	// A legal hold stops even the bypass.
	if _, err := e.ns.SetObjectLegalHold(ctx, "locked", "k", v2.VersionID, true); err != nil {
		t.Fatal(err)
	}
	if err := del(v2.VersionID, true); !errors.Is(err, gateway.ErrObjectLocked) {
		t.Errorf("delete of a held version with the bypass: %v", err)
	}
	if on, err := e.ns.ObjectLegalHold(ctx, "locked", "k", v2.VersionID); err != nil || !on {
		t.Errorf("ObjectLegalHold = %v, %v", on, err)
	}
	// WebDAV's delete and overwrite refuse a locked current version.
	if err := e.ns.DeleteObject(ctx, "locked", "k"); !errors.Is(err, gateway.ErrObjectLocked) {
		t.Errorf("DeleteObject of a locked current version: %v", err)
	}
	if _, err := e.ns.PutObject(ctx, "locked", "k", strings.NewReader("x"), 1, gateway.PutOptions{RefuseLocked: true}); !errors.Is(err, gateway.ErrObjectLocked) {
		t.Errorf("overwrite refusing locked versions: %v", err)
	}
	if _, err := e.ns.Rename(ctx, "locked", "k", "locked", "elsewhere"); !errors.Is(err, gateway.ErrObjectLocked) {
		t.Errorf("rename of a locked version: %v", err)
	}
	if _, err := e.ns.SetObjectLegalHold(ctx, "locked", "k", v2.VersionID, false); err != nil {
		t.Fatal(err)
	}
	if err := del(v2.VersionID, true); err != nil {
		t.Errorf("delete of a GOVERNANCE version with the bypass: %v", err)
	}
	// S3's delete adds a marker over a locked version; the version stays.
	if _, err := e.ns.Delete(ctx, "locked", "k", gateway.DeleteOptions{}); err != nil {
		t.Errorf("delete marker over a locked version: %v", err)
	}
	if got := readVersion(t, e.ns, "locked", "k", v1.VersionID); got != "kept" {
		t.Errorf("locked version reads %q", got)
	}
	// Lock settings outside an object-lock bucket are refused.
	if _, err := e.ns.PutObject(ctx, "bucket", "k", bytes.NewReader(nil), 0, gateway.PutOptions{LegalHold: true}); !errors.Is(err, gateway.ErrNoLockConfig) {
		t.Errorf("legal hold in a bucket without object lock: %v", err)
	}
	if _, err := e.ns.ObjectRetention(ctx, "bucket", "k", ""); !errors.Is(err, gateway.ErrNoLockConfig) {
		t.Errorf("retention in a bucket without object lock: %v", err)
	}
}

// TestGCKeepsVersions checks that gc with no grace keeps the blobs of
// every version.
func TestGCKeepsVersions(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if err := e.ns.SetBucketVersioning(ctx, "bucket", gateway.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	v1 := e.putv(t, "bucket", "k", "one")
	e.putv(t, "bucket", "k", "two")
	if _, err := e.ns.Delete(ctx, "bucket", "k", gateway.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	rep, err := e.ns.GC(ctx, gateway.GCOptions{Members: e.backendsOf()})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range rep.Backends {
		if b.Deleted != 0 {
			t.Errorf("gc deleted %d blobs on %s", b.Deleted, b.Name)
		}
	}
	if rep.Uncataloged != 0 {
		t.Errorf("gc found %d uncataloged records: the version records are unknown to it", rep.Uncataloged)
	}
	if got := readVersion(t, e.ns, "bucket", "k", v1.VersionID); got != "one" {
		t.Errorf("v1 after gc: %q", got)
	}
}

// allVersions returns every version of every bucket of cat, with its lock,
// and the bucket versioning, as strings.
func allVersions(t *testing.T, cat catalog.Catalog) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	bs, err := cat.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		cfg, err := cat.GetBucketVersioning(ctx, b.Name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("bucket %s %s lock=%v %s/%d/%d", b.Name, cfg.Status, cfg.ObjectLock, cfg.DefaultMode, cfg.DefaultDays, cfg.DefaultYears))
		res, err := cat.ListVersions(ctx, catalog.VersionListOptions{Bucket: b.Name})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range res.Versions {
			out = append(out, fmt.Sprintf("%s/%s?%s seq=%d gen=%d latest=%v marker=%v %s %s hold=%v %x",
				v.Bucket, v.Key, v.VersionID, v.Seq, v.Generation, v.Latest, v.DeleteMarker, v.RetainMode, v.RetainUntil.Format(time.RFC3339Nano), v.LegalHold, md5.Sum(v.Record)))
		}
		l, err := cat.List(ctx, catalog.ListOptions{Bucket: b.Name})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range l.Entries {
			out = append(out, fmt.Sprintf("entry %s/%s?%s gen=%d %x", e.Bucket, e.Key, e.VersionID, e.Generation, md5.Sum(e.Record)))
		}
	}
	err = cat.WalkVersionTombstones(ctx, func(tb catalog.Tombstone) error {
		out = append(out, fmt.Sprintf("tombstone %s/%s?%s gen=%d", tb.Bucket, tb.Key, tb.VersionID, tb.Generation))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = cat.WalkTombstones(ctx, func(tb catalog.Tombstone) error {
		out = append(out, fmt.Sprintf("key tombstone %s/%s gen=%d", tb.Bucket, tb.Key, tb.Generation))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// versionedFixture fills e with a versioned bucket and an object-lock
// bucket holding versions, delete markers, deleted versions, a null
// version from before versioning and locked versions.
func versionedFixture(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	e.putv(t, "bucket", "plain", "before versioning")
	e.putv(t, "bucket", "gone", "deleted before versioning")
	if err := e.ns.DeleteObject(ctx, "bucket", "gone"); err != nil {
		t.Fatal(err)
	}
	if err := e.ns.SetBucketVersioning(ctx, "bucket", gateway.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	e.putv(t, "bucket", "plain", "after versioning")
	v := e.putv(t, "bucket", "doc", "one")
	e.putv(t, "bucket", "doc", "two")
	if _, err := e.ns.Delete(ctx, "bucket", "doc", gateway.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.putv(t, "bucket", "dir/a", "a")
	e.putv(t, "bucket", "dir/a", "a2")
	if _, err := e.ns.Delete(ctx, "bucket", "doc", gateway.DeleteOptions{VersionID: v.VersionID}); err != nil {
		t.Fatal(err)
	}
	if err := e.ns.CreateBucketWith(ctx, "locked", gateway.CreateBucketOptions{ObjectLock: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.ns.SetObjectLockConfig(ctx, "locked", gateway.LockConfig{Mode: gateway.RetainGovernance, Days: 3}); err != nil {
		t.Fatal(err)
	}
	l := e.putv(t, "locked", "backup", "locked one"+strings.Repeat(".", gateway.InlineMax)) // with a blob
	if _, err := e.ns.SetObjectLegalHold(ctx, "locked", "backup", l.VersionID, true); err != nil {
		t.Fatal(err)
	}
	e.putv(t, "locked", "backup", "locked two")
	if _, err := e.ns.Delete(ctx, "locked", "backup", gateway.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestRebuildCatalogVersions rebuilds the catalog of versioned buckets
// from one backend and compares it with the original.
func TestRebuildCatalogVersions(t *testing.T) {
	e := newEnv(t)
	versionedFixture(t, e)
	want := allVersions(t, e.cat)
	if len(want) < 12 {
		t.Fatalf("fixture too small: %q", want)
	}
	fresh, rep := e.rebuildFrom(t, e.backendsOf()[:1])
	if len(rep.Failed) != 0 || rep.Versions == 0 {
		t.Fatalf("rebuild: %+v", rep)
	}
	got := allVersions(t, fresh)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rebuilt catalog differs:\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// storeFiles returns every name on member i with a hash of its bytes.
func (e *env) storeFiles(t *testing.T, i int) map[string][16]byte {
	t.Helper()
	out := make(map[string][16]byte)
	for _, prefix := range []string{"m/", "b/"} {
		for _, n := range e.names(t, i, prefix) {
			b, err := os.ReadFile(e.file(i, n))
			if err != nil {
				t.Fatal(err)
			}
			out[n] = md5.Sum(b)
		}
	}
	return out
}

// TestScrubRepairVersions damages one backend's copies of versions, delete
// markers, locked versions and version tombstones, and checks that a deep
// scrub finds each and repair restores the backend byte for byte.
func TestScrubRepairVersions(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	versionedFixture(t, e)
	if rep := e.scrub(t, true); len(rep.Problems) != 0 {
		t.Fatalf("problems on a clean versioned store: %v", summary(rep))
	}
	want := e.storeFiles(t, 0)
	if got := e.storeFiles(t, 1); len(got) != len(want) {
		t.Fatalf("the backends differ before any damage: %d and %d files", len(want), len(got))
	}
	// One of each: a noncurrent version's record, a delete marker's, a
	// locked version's blob, a version tombstone.
	res, err := e.ns.ListVersions(ctx, "bucket", gateway.VersionListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var noncurrent, marker string
	for _, v := range res.Versions {
		if !v.Latest && !v.DeleteMarker && noncurrent == "" {
			noncurrent = e.versionName(t, "bucket", v.Key, v.VersionID)
		}
		if v.DeleteMarker && marker == "" {
			marker = e.versionName(t, "bucket", v.Key, v.VersionID)
		}
	}
	var tomb string
	e.cat.WalkVersionTombstones(ctx, func(tb catalog.Tombstone) error {
		tomb = e.versionName(t, tb.Bucket, tb.Key, tb.VersionID)
		return nil
	})
	locked, err := e.ns.ListVersions(ctx, "locked", gateway.VersionListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	blobsBefore := e.names(t, 1, "b/")
	var lockedBlob string
	for _, v := range locked.Versions {
		if !v.DeleteMarker && !v.Latest {
			if b := e.blobOf(t, "locked", v.Key, v.VersionID); b != "" {
				lockedBlob = b
			}
		}
	}
	if noncurrent == "" || marker == "" || tomb == "" || lockedBlob == "" || len(blobsBefore) == 0 {
		t.Fatalf("fixture lacks a version, marker, tombstone or locked blob: %q %q %q %q", noncurrent, marker, tomb, lockedBlob)
	}
	for _, n := range []string{noncurrent, marker, tomb, lockedBlob} {
		if err := os.Remove(e.file(1, n)); err != nil {
			t.Fatal(err)
		}
	}
	rep := e.scrub(t, true)
	got := summary(rep)
	if len(got) != 4 {
		t.Fatalf("scrub found %q; want the 4 missing files", got)
	}
	for _, p := range rep.Problems {
		if p.Backend != "b1" || p.Kind != gateway.ProblemMissing {
			t.Errorf("problem %v; want missing on b1", p)
		}
		if p.Name != lockedBlob && p.VersionID == "" {
			t.Errorf("problem %v names no version", p)
		}
	}
	rr, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf(), Deep: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rr.Unrepaired) != 0 {
		t.Fatalf("repair left %v", rr.Unrepaired)
	}
	if rep := e.scrub(t, true); len(rep.Problems) != 0 {
		t.Fatalf("problems after repair: %v", summary(rep))
	}
	after := e.storeFiles(t, 1)
	for n, h := range want {
		if after[n] != h {
			t.Errorf("%s differs on b1 after repair", n)
		}
	}
	if len(after) != len(want) {
		t.Errorf("b1 holds %d files after repair, b0 %d", len(after), len(want))
	}
}

// versionName returns the backend name of the record the catalog holds
// of a version (or of its tombstone).
func (e *env) versionName(t *testing.T, bucket, key, id string) string {
	t.Helper()
	name, err := e.ns.RecordName(context.Background(), bucket, key, id)
	if err != nil {
		t.Fatalf("record name of %s/%s?versionId=%s: %v", bucket, key, id, err)
	}
	return name
}

// blobOf returns the backend name of the first blob of a version.
func (e *env) blobOf(t *testing.T, bucket, key, id string) string {
	t.Helper()
	o, err := e.ns.ObjectVersion(context.Background(), bucket, key, id)
	if err != nil {
		t.Fatal(err)
	}
	if names := o.BlobNames(); len(names) > 0 {
		return names[0]
	}
	return "" // inline
}

// readTree returns every regular file under dir with its content.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRecoverVersions recovers current versions, then every version, of
// buckets holding versions, delete markers and locked versions.
func TestRecoverVersions(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	versionedFixture(t, e)
	dir := t.TempDir()
	rep, err := gateway.Recover(ctx, gateway.RecoverOptions{Keys: e.keys, Backend: e.members[0], Dir: dir})
	if err != nil || len(rep.Failed) != 0 {
		t.Fatalf("Recover: %+v, %v", rep, err)
	}
	// The current versions, as the S3 listing shows them; deleted keys
	// (doc, locked/backup) are not restored.
	want := map[string]string{"bucket/plain": "after versioning", "bucket/dir/a": "a2"}
	if got := readTree(t, dir); !maps.Equal(got, want) {
		t.Errorf("recovered current versions %q, want %q", got, want)
	}
	dir = t.TempDir()
	rep, err = gateway.Recover(ctx, gateway.RecoverOptions{Keys: e.keys, Backend: e.members[0], Dir: dir, AllVersions: true})
	if err != nil || len(rep.Failed) != 0 {
		t.Fatalf("Recover --all-versions: %+v, %v", rep, err)
	}
	got := readTree(t, dir)
	var manifest []gateway.VersionEntry
	for _, line := range strings.Split(strings.TrimSpace(got[gateway.VersionsDir+"/"+gateway.VersionsManifest]), "\n") {
		var v gateway.VersionEntry
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("manifest line %q: %v", line, err)
		}
		manifest = append(manifest, v)
	}
	// Every version the catalog lists, marker or not, is in the manifest,
	// and every one that is not a marker was restored with its bytes.
	n := 0
	for _, b := range []string{"bucket", "locked"} {
		res, err := e.ns.ListVersions(ctx, b, gateway.VersionListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range res.Versions {
			if b == "bucket" && v.Key == "gone" {
				continue
			}
			i := slices.IndexFunc(manifest, func(m gateway.VersionEntry) bool {
				return m.Bucket == b && m.Key == v.Key && m.VersionID == v.VersionID
			})
			if i < 0 {
				t.Errorf("%s/%s?versionId=%s missing from the manifest", b, v.Key, v.VersionID)
				continue
			}
			m := manifest[i]
			if m.Latest != v.Latest || m.DeleteMarker != v.DeleteMarker {
				t.Errorf("manifest %+v, catalog %+v", m, v)
			}
			if v.DeleteMarker {
				continue
			}
			n++
			if got[m.Path] != readVersion(t, e.ns, b, v.Key, v.VersionID) {
				t.Errorf("%s holds %q", m.Path, got[m.Path])
			}
		}
	}
	if rep.Versions != n || len(manifest) == 0 {
		t.Errorf("restored %d versions, want %d", rep.Versions, n)
	}
}

func TestLifecycleNoncurrent(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if err := e.ns.SetBucketVersioning(ctx, "bucket", gateway.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	var logs []string
	for i := range 5 {
		logs = append(logs, e.putv(t, "bucket", "logs/a", fmt.Sprint("log ", i)).VersionID)
	}
	for i := range 3 {
		e.putv(t, "bucket", "other/b", fmt.Sprint("other ", i))
	}
	if _, err := e.ns.BucketLifecycle(ctx, "bucket"); !errors.Is(err, gateway.ErrNoLifecycle) {
		t.Errorf("lifecycle of a new bucket: %v", err)
	}
	bad := []gateway.NoncurrentRule{{Prefix: "logs/", Enabled: true}}
	if err := e.ns.SetBucketLifecycle(ctx, "bucket", bad); !errors.Is(err, gateway.ErrInvalidLifecycle) {
		t.Errorf("a rule with neither days nor versions: %v", err)
	}
	rules := []gateway.NoncurrentRule{{ID: "logs", Prefix: "logs/", Enabled: true, Days: 1, Keep: 2}}
	if err := e.ns.SetBucketLifecycle(ctx, "bucket", rules); err != nil {
		t.Fatal(err)
	}
	if got, err := e.ns.BucketLifecycle(ctx, "bucket"); err != nil || len(got) != 1 || got[0] != rules[0] {
		t.Fatalf("BucketLifecycle = %+v, %v", got, err)
	}
	now := time.Now()
	rep, err := e.ns.ApplyLifecycle(ctx, now)
	if err != nil || rep.Expired != 0 || rep.Buckets != 1 {
		t.Fatalf("lifecycle before a day passed: %+v, %v", rep, err)
	}
	rep, err = e.ns.ApplyLifecycle(ctx, now.Add(49*time.Hour))
	if err != nil || rep.Expired != 2 {
		t.Fatalf("lifecycle two days on: %+v, %v; want 2 expired", rep, err)
	}
	want := []string{"logs/a?" + logs[4] + "*", "logs/a?" + logs[3], "logs/a?" + logs[2]}
	var got []string
	for _, v := range listVersions(t, e.ns, "bucket") {
		if strings.HasPrefix(v, "logs/") {
			got = append(got, v)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("versions after the lifecycle %q, want %q", got, want)
	}
	if n := len(listVersions(t, e.ns, "bucket")); n != 6 {
		t.Errorf("%d versions left, want 6 (other/ is outside the rule)", n)
	}

	// Locked versions stay.
	if err := e.ns.CreateBucketWith(ctx, "locked", gateway.CreateBucketOptions{ObjectLock: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.ns.SetObjectLockConfig(ctx, "locked", gateway.LockConfig{Mode: gateway.RetainGovernance, Days: 30}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e.putv(t, "locked", "k", fmt.Sprint(i))
	}
	if err := e.ns.SetBucketLifecycle(ctx, "locked", []gateway.NoncurrentRule{{Enabled: true, Keep: 0, Days: 1}}); err != nil {
		t.Fatal(err)
	}
	rep, err = e.ns.ApplyLifecycle(ctx, now.Add(49*time.Hour))
	if err != nil || rep.Locked != 2 || rep.Expired != 0 {
		t.Errorf("lifecycle over locked versions: %+v, %v; want 2 locked", rep, err)
	}
	// Removing the rules stops the lifecycle.
	if err := e.ns.SetBucketLifecycle(ctx, "bucket", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ns.BucketLifecycle(ctx, "bucket"); !errors.Is(err, gateway.ErrNoLifecycle) {
		t.Errorf("lifecycle after removing it: %v", err)
	}
}

// TestRewrapVersions rewraps every version after a key rotation: each reads
// back, with its lock, without the old key.
func TestRewrapVersions(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	versionedFixture(t, e)
	type ver struct{ bucket, key, id, body string }
	var all []ver
	for _, b := range []string{"bucket", "locked"} {
		res, err := e.ns.ListVersions(ctx, b, gateway.VersionListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range res.Versions {
			if !v.DeleteMarker {
				all = append(all, ver{b, v.Key, v.VersionID, readVersion(t, e.ns, b, v.Key, v.VersionID)})
			}
		}
	}
	held, err := e.ns.ObjectLegalHold(ctx, "locked", "backup", all[len(all)-1].id)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := e.keys.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := e.ns.Rewrap(ctx)
	if err != nil || rep.Failed != 0 || rep.ObjectsRewrapped < len(all) {
		t.Fatalf("rewrap: %+v, %v; want at least %d rewrapped", rep, err, len(all))
	}
	var members []replica.Member
	for i, m := range e.members {
		members = append(members, replica.Member{Backend: m, Jurisdiction: fmt.Sprint(i)})
	}
	set, err := replica.New(members, replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	retired, err := gateway.New(gateway.Options{Keys: minKEK{e.keys, cur}, Store: set, Catalog: e.cat})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range all {
		if got := readVersion(t, retired, v.bucket, v.key, v.id); got != v.body {
			t.Errorf("%s/%s?versionId=%s after rewrap: %q, want %q", v.bucket, v.key, v.id, got, v.body)
		}
	}
	if on, err := retired.ObjectLegalHold(ctx, "locked", "backup", all[len(all)-1].id); err != nil || on != held {
		t.Errorf("legal hold after rewrap: %v %v, want %v", on, err, held)
	}
	if sr, err := retired.Scrub(ctx, gateway.ScrubOptions{Members: e.backendsOf(), Deep: true}); err != nil || len(sr.Problems) != 0 {
		t.Errorf("deep scrub without the old key: %v %v", summary(sr), err)
	}
	again, err := e.ns.Rewrap(ctx)
	if err != nil || again.ObjectsRewrapped != 0 {
		t.Errorf("second rewrap %+v %v; want nothing to do", again, err)
	}
}

// TestVersionReplayRefused has a provider serve the record of a version
// deleted since: scrub reports it, repair puts the tombstone back, and a
// rebuild from every provider leaves the version deleted.
func TestVersionReplayRefused(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if err := e.ns.SetBucketVersioning(ctx, "bucket", gateway.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	v1 := e.putv(t, "bucket", "k", "old secret")
	e.putv(t, "bucket", "k", "current")
	name := e.ns.VersionName("bucket", "k", v1.VersionID)
	saved, err := os.ReadFile(e.file(1, name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ns.Delete(ctx, "bucket", "k", gateway.DeleteOptions{VersionID: v1.VersionID}); err != nil {
		t.Fatal(err)
	}
	// The provider rolls the record back.
	if err := os.WriteFile(e.file(1, name), saved, 0o600); err != nil {
		t.Fatal(err)
	}
	rep := e.scrub(t, false)
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != gateway.ProblemSuperseded || rep.Problems[0].VersionID != v1.VersionID {
		t.Fatalf("scrub: %v", summary(rep))
	}
	fresh, _ := e.rebuildFrom(t, e.backendsOf())
	if _, err := fresh.GetVersion(ctx, "bucket", "k", v1.VersionID); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("rebuild from every provider brought the deleted version back: %v", err)
	}
	if _, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf()}); err != nil {
		t.Fatal(err)
	}
	if rep := e.scrub(t, true); len(rep.Problems) != 0 {
		t.Errorf("after repair: %v", summary(rep))
	}
	if _, err := e.ns.ObjectVersion(ctx, "bucket", "k", v1.VersionID); !errors.Is(err, gateway.ErrNoSuchVersion) {
		t.Errorf("the deleted version reads: %v", err)
	}
	if b, _ := os.ReadFile(e.file(1, name)); bytes.Equal(b, saved) {
		t.Error("repair left the replayed record in place")
	}
}
