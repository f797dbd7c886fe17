package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// errRefused is the failure of a catalog that refuses a write outright
// (neither stale nor unreachable).
var errRefused = errors.New("catalog: write refused")

// versionFaultCatalog fails the next PutVersion or DeleteVersion as its
// mode says, once: "refuse" (errRefused, not applied), "down"
// (catalog.ErrUnavailable, not applied) or "lost" (applied, then
// catalog.ErrUnavailable: the answer was lost). With before set,
// DeleteVersion runs it first, with the tombstone it was given, and with
// beforePut set PutVersion runs that first, with the version. Mode "gone"
// is "down" with the next GetVersion failing as well.
type versionFaultCatalog struct {
	catalog.Catalog
	put, del  string
	before    func(catalog.Tombstone)
	beforePut func(catalog.Version)
	readDown  bool // the next GetVersion fails
}

func (c *versionFaultCatalog) PutVersion(ctx context.Context, v catalog.Version) (*catalog.Version, error) {
	mode, before := c.put, c.beforePut
	c.put, c.beforePut = "", nil
	if before != nil {
		before(v)
	}
	return c.fault(mode, func() (*catalog.Version, error) { return c.Catalog.PutVersion(ctx, v) })
}

func (c *versionFaultCatalog) DeleteVersion(ctx context.Context, t catalog.Tombstone, o catalog.DeleteVersionOptions) (*catalog.Version, error) {
	mode, before := c.del, c.before
	c.del, c.before = "", nil
	if before != nil {
		before(t)
	}
	return c.fault(mode, func() (*catalog.Version, error) { return c.Catalog.DeleteVersion(ctx, t, o) })
}

func (c *versionFaultCatalog) GetVersion(ctx context.Context, bucket, key, versionID string) (catalog.Version, error) {
	if c.readDown {
		c.readDown = false
		return catalog.Version{}, catalog.ErrUnavailable
	}
	return c.Catalog.GetVersion(ctx, bucket, key, versionID)
}

func (c *versionFaultCatalog) fault(mode string, apply func() (*catalog.Version, error)) (*catalog.Version, error) {
	switch mode {
	case "gone":
		c.readDown = true
		return nil, catalog.ErrUnavailable
	case "refuse":
		return nil, errRefused
	case "down":
		return nil, catalog.ErrUnavailable
	case "lost":
		if _, err := apply(); err != nil {
			return nil, err
		}
		return nil, catalog.ErrUnavailable
	}
	return apply()
}

// faultEnv is an env whose namespace's catalog is a versionFaultCatalog
// over the env's catalog, in a bucket with versioning enabled.
func faultEnv(t *testing.T) (*env, *versionFaultCatalog) {
	t.Helper()
	e := newEnv(t)
	fc := &versionFaultCatalog{Catalog: e.cat}
	ns, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: fc})
	if err != nil {
		t.Fatal(err)
	}
	e.ns = ns
	if err := ns.SetBucketVersioning(context.Background(), "bucket", gateway.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	return e, fc
}

// versionRecordAgrees fails unless every member holds the record the
// catalog holds for the version (its bytes, or those its catalog form
// stands for), or, when the catalog holds none, no record at all.
func (e *env) versionRecordAgrees(t *testing.T, key, id string) {
	t.Helper()
	name := e.ns.VersionName("bucket", key, id)
	cur, err := e.cat.GetVersion(context.Background(), "bucket", key, id)
	if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		t.Fatal(err)
	}
	for i := range e.members {
		b, rerr := os.ReadFile(e.file(i, name))
		switch {
		case err != nil && rerr == nil:
			t.Errorf("member %d holds a record of %s?versionId=%s, which the catalog does not hold", i, key, id)
		case err != nil && !os.IsNotExist(rerr):
			t.Fatal(rerr)
		case err == nil && rerr != nil:
			t.Errorf("member %d: record of %s?versionId=%s: %v", i, key, id, rerr)
		case err == nil && !gateway.SameRecord(b, cur.Record):
			t.Errorf("member %d holds another record of %s?versionId=%s than the catalog", i, key, id)
		}
	}
}

// versionTombstoneAgrees fails unless every member holds the catalog's
// tombstone of the version, byte for byte.
func (e *env) versionTombstoneAgrees(t *testing.T, key, id string) {
	t.Helper()
	tomb, err := e.cat.GetVersionTombstone(context.Background(), "bucket", key, id)
	if err != nil {
		t.Fatalf("the catalog's tombstone of %s?versionId=%s: %v", key, id, err)
	}
	for i := range e.members {
		b, err := os.ReadFile(e.file(i, e.ns.VersionName("bucket", key, id)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, tomb.Record) {
			t.Errorf("member %d holds another record of %s?versionId=%s than the catalog's tombstone", i, key, id)
		}
	}
}

// scrubClean fails unless a scrub finds no problem.
func (e *env) scrubClean(t *testing.T) {
	t.Helper()
	if rep := e.scrub(t, true); len(rep.Problems) != 0 {
		t.Errorf("scrub: %d problems, want 0: %v", len(rep.Problems), summary(rep))
	}
}

// body returns a body too large to live inside its meta record, so that
// it has a blob.
func body(s string) string { return strings.Repeat(s, 16<<10/len(s)+1) }

// TestPutVersionCatalogFails: a version write whose catalog update fails
// leaves on every provider the record the catalog holds for the version
// (the null version written again while versioning is suspended, a tag
// rewrite of a version), or none when the catalog refused a new version;
// the new blobs go, unless the catalog could not be reached. When the
// update landed although the catalog reported a failure, the new record
// stays. A scrub then finds nothing. A new version the catalog did not
// answer for ("down": a timed-out command, on Redis, may still apply
// later) keeps its record and blob on every provider even though the
// catalog, read again, does not hold it: deleting them could leave the
// catalog holding a version no provider has; scrub reports the record
// and repair told to adopt settles it.
func TestPutVersionCatalogFails(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		op, mode string
		want     string // what the key reads afterwards
		keepBlob bool   // the new blob stays
		orphan   bool   // the new version's record stays, uncataloged
	}{
		{"null", "refuse", "one", false, false},
		{"null", "down", "one", true, false},
		{"null", "lost", "two", true, false},
		{"new", "refuse", "one", false, false},
		{"new", "down", "one", true, true},
		{"new", "lost", "two", true, false},
		{"tags", "refuse", "one", false, false},
		{"tags", "down", "one", false, false},
		{"tags", "lost", "one", false, false},
	} {
		t.Run(tc.op+"/"+tc.mode, func(t *testing.T) {
			e, fc := faultEnv(t)
			e.putv(t, "bucket", "k", body("zero"))
			if tc.op == "null" {
				if err := e.ns.SetBucketVersioning(ctx, "bucket", gateway.VersioningSuspended); err != nil {
					t.Fatal(err)
				}
			}
			first := e.putv(t, "bucket", "k", body("one"))
			id := first.VersionID
			blobs, metas := len(e.names(t, 0, "b/")), e.names(t, 0, "m/")
			fc.put = tc.mode
			var err error
			if tc.op == "tags" {
				_, err = e.ns.SetTags(ctx, "bucket", "k", map[string]string{"t": "1"})
			} else {
				two := body("two")
				var info gateway.ObjectInfo
				info, err = e.ns.PutObject(ctx, "bucket", "k", strings.NewReader(two), int64(len(two)), gateway.PutOptions{})
				if err == nil {
					id = info.VersionID
				}
			}
			if err == nil {
				t.Fatal("the write succeeded")
			}
			if tc.mode != "refuse" && !errors.Is(err, gateway.ErrCatalogUnavailable) {
				t.Errorf("error %v, want ErrCatalogUnavailable", err)
			}
			if got, want := readVersion(t, e.ns, "bucket", "k", ""), body(tc.want); got != want {
				t.Errorf("the key reads %.8q..., want %.8q...", got, want)
			}
			e.versionRecordAgrees(t, "k", id)
			if tc.op == "new" {
				cur, err := e.cat.GetVersion(ctx, "bucket", "k", "")
				if err != nil {
					t.Fatal(err)
				}
				e.versionRecordAgrees(t, "k", cur.VersionID)
				switch {
				case tc.orphan:
					for i := range e.members {
						if got := e.names(t, i, "m/"); len(got) != len(metas)+1 {
							t.Errorf("member %d holds %d meta records, %d before the write; want the new one kept", i, len(got), len(metas))
						}
					}
				case tc.mode != "lost":
					// No record of the version that was not written.
					for i := range e.members {
						if got := e.names(t, i, "m/"); !slices.Equal(got, metas) {
							t.Errorf("member %d holds meta records %q, before the write %q", i, got, metas)
						}
					}
				}
			}
			if got, want := len(e.names(t, 0, "b/")), blobs; tc.keepBlob && got != want+1 || !tc.keepBlob && got != want {
				t.Errorf("%d blobs, %d before the write; want the new one kept: %v", got, want, tc.keepBlob)
			}
			if tc.orphan {
				if rep := e.scrub(t, true); len(rep.Problems) != 2 {
					t.Errorf("scrub: %d problems, want 2 (the new record on each member): %v", len(rep.Problems), summary(rep))
				}
				if _, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf(), Adopt: true}); err != nil {
					t.Fatal(err)
				}
				if got, want := readVersion(t, e.ns, "bucket", "k", ""), body("two"); got != want {
					t.Errorf("after repair: the key reads %.8q..., want %.8q...", got, want)
				}
			}
			e.scrubClean(t)
			want := body("one")
			if tc.op == "null" && tc.mode == "lost" {
				want = body("two")
			}
			if got := readVersion(t, e.ns, "bucket", "k", first.VersionID); got != want {
				t.Errorf("version %s reads %.8q..., want %.8q...", first.VersionID, got, want)
			}
		})
	}
}

// TestDeleteVersionCatalogFails: the deletion of a version writes a
// tombstone over its record and then updates the catalog; when the
// catalog does not take it (a newer write of the version won, the catalog
// refused or could not be reached), every provider holds the record the
// catalog holds for the version again; when it took it although it
// reported a failure, the tombstone stays. A scrub then finds nothing.
func TestDeleteVersionCatalogFails(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []string{"stale", "refuse", "down", "lost"} {
		t.Run(mode, func(t *testing.T) {
			e, fc := faultEnv(t)
			e.putv(t, "bucket", "k", body("zero"))
			v := e.putv(t, "bucket", "k", body("one"))
			fc.del = mode
			if mode == "stale" {
				// Another gateway rewrites the version meanwhile: its
				// record reaches the providers before the tombstone, and
				// the catalog before the deletion.
				fc.del = ""
				other, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: e.cat})
				if err != nil {
					t.Fatal(err)
				}
				fc.before = func(tomb catalog.Tombstone) {
					if _, err := other.SetTags(ctx, "bucket", "k", map[string]string{"t": "1"}); err != nil {
						t.Fatal(err)
					}
					name := e.ns.VersionName("bucket", "k", v.VersionID)
					if err := e.set.Put(ctx, name, bytes.NewReader(tomb.Record), int64(len(tomb.Record))); err != nil {
						t.Fatal(err)
					}
				}
			}
			_, err := e.ns.Delete(ctx, "bucket", "k", gateway.DeleteOptions{VersionID: v.VersionID})
			switch {
			case err == nil:
				t.Fatal("the deletion succeeded")
			case mode == "stale" && !errors.Is(err, gateway.ErrPrecondition):
				t.Errorf("error %v, want ErrPrecondition", err)
			case (mode == "down" || mode == "lost") && !errors.Is(err, gateway.ErrCatalogUnavailable):
				t.Errorf("error %v, want ErrCatalogUnavailable", err)
			}
			if mode == "lost" {
				e.versionTombstoneAgrees(t, "k", v.VersionID)
				if got, want := readVersion(t, e.ns, "bucket", "k", ""), body("zero"); got != want {
					t.Errorf("the key reads %.8q..., want %.8q...", got, want)
				}
			} else {
				e.versionRecordAgrees(t, "k", v.VersionID)
				if got, want := readVersion(t, e.ns, "bucket", "k", v.VersionID), body("one"); got != want {
					t.Errorf("the version reads %.8q..., want %.8q...", got, want)
				}
			}
			e.scrubClean(t)
		})
	}
}

// TestVersionWriteCatalogGone: when the catalog fails a version write and
// cannot be read afterwards either, whether the write landed is unknown.
// A new version's record stays on the providers with its blob (repair
// told to adopt takes it over: the client was told the outcome is
// unknown); a deleted
// version's record goes back over its tombstone (a tombstone left there
// would make repair delete a version the catalog may still hold). Repair
// then makes providers and catalog agree.
func TestVersionWriteCatalogGone(t *testing.T) {
	ctx := context.Background()
	for _, op := range []string{"put", "delete"} {
		t.Run(op, func(t *testing.T) {
			e, fc := faultEnv(t)
			e.putv(t, "bucket", "k", body("zero"))
			v := e.putv(t, "bucket", "k", body("one"))
			metas := e.names(t, 0, "m/")
			var err error
			want := body("one")
			if op == "put" {
				fc.put = "gone"
				two := body("two")
				_, err = e.ns.PutObject(ctx, "bucket", "k", strings.NewReader(two), int64(len(two)), gateway.PutOptions{})
				want = two
			} else {
				fc.del = "gone"
				_, err = e.ns.Delete(ctx, "bucket", "k", gateway.DeleteOptions{VersionID: v.VersionID})
			}
			if !errors.Is(err, gateway.ErrCatalogUnavailable) {
				t.Fatalf("error %v, want ErrCatalogUnavailable", err)
			}
			if fc.readDown {
				t.Fatal("the catalog was not read again")
			}
			if got := readVersion(t, e.ns, "bucket", "k", ""); got != body("one") {
				t.Errorf("before repair: the key reads %.8q..., want %.8q...", got, body("one"))
			}
			for i := range e.members {
				got := e.names(t, i, "m/")
				if op == "put" && len(got) != len(metas)+1 || op == "delete" && !slices.Equal(got, metas) {
					t.Errorf("member %d holds %d meta records, %d before", i, len(got), len(metas))
				}
			}
			if rep := e.scrub(t, true); len(rep.Problems) != 2 {
				t.Errorf("scrub: %d problems, want 2 (one record on each member): %v", len(rep.Problems), summary(rep))
			}
			// The record of a new version the catalog lacks is adopted
			// only when repair is told to.
			if _, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf(), Adopt: op == "put"}); err != nil {
				t.Fatal(err)
			}
			cur, err := e.cat.GetVersion(ctx, "bucket", "k", "")
			if err != nil {
				t.Fatal(err)
			}
			e.versionRecordAgrees(t, "k", cur.VersionID)
			e.versionRecordAgrees(t, "k", v.VersionID)
			if got := readVersion(t, e.ns, "bucket", "k", ""); got != want {
				t.Errorf("after repair: the key reads %.8q..., want %.8q...", got, want)
			}
			e.scrubClean(t)
		})
	}
}

// TestRestoredVersionAboveFailedWrite: the record the catalog holds for a
// version, put back after a write or deletion of the version the catalog
// refused or did not answer, is sealed anew above the generation of what
// that operation left on the providers, even when that generation came
// from a clock that has since gone back: the providers and the catalog
// then agree on a record newer than the failed one.
func TestRestoredVersionAboveFailedWrite(t *testing.T) {
	ctx := context.Background()
	for _, op := range []string{"null", "tags", "delete"} {
		for _, mode := range []string{"refuse", "down"} {
			t.Run(op+"/"+mode, func(t *testing.T) {
				e := newEnv(t)
				fc := &versionFaultCatalog{Catalog: e.cat}
				var ahead time.Duration
				ns, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: fc,
					Clock: func() time.Time { return time.Now().Add(ahead) }})
				if err != nil {
					t.Fatal(err)
				}
				e.ns = ns
				status := gateway.VersioningEnabled
				if op == "null" {
					status = gateway.VersioningSuspended
				}
				if err := ns.SetBucketVersioning(ctx, "bucket", status); err != nil {
					t.Fatal(err)
				}
				v := e.putv(t, "bucket", "k", body("one"))
				var failed uint64 // the generation the failed operation wrote
				ahead = time.Hour
				if op == "delete" {
					fc.del = mode
					fc.before = func(tomb catalog.Tombstone) { failed, ahead = tomb.Generation, 0 }
					_, err = ns.Delete(ctx, "bucket", "k", gateway.DeleteOptions{VersionID: v.VersionID})
				} else {
					fc.put = mode
					fc.beforePut = func(w catalog.Version) { failed, ahead = w.Generation, 0 }
					if op == "tags" {
						_, err = ns.SetVersionTags(ctx, "bucket", "k", v.VersionID, map[string]string{"t": "1"})
					} else {
						two := body("two")
						_, err = ns.PutObject(ctx, "bucket", "k", strings.NewReader(two), int64(len(two)), gateway.PutOptions{})
					}
				}
				if err == nil {
					t.Fatal("the operation succeeded")
				}
				if failed == 0 {
					t.Fatal("the catalog was not asked")
				}
				cur, err := e.cat.GetVersion(ctx, "bucket", "k", v.VersionID)
				if err != nil {
					t.Fatal(err)
				}
				if cur.Generation <= failed {
					t.Errorf("restored generation %d, not above the failed operation's %d", cur.Generation, failed)
				}
				e.versionRecordAgrees(t, "k", v.VersionID)
				if got, want := readVersion(t, ns, "bucket", "k", v.VersionID), body("one"); got != want {
					t.Errorf("the version reads %.8q..., want %.8q...", got, want)
				}
				e.scrubClean(t)
			})
		}
	}
}
