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

// versionFaultCatalog fails the next PutVersion, DeleteVersion or
// PutTombstone as its mode for that call says, once: "refuse"
// (errRefused, not applied), "down" (catalog.ErrUnavailable, not applied)
// or "lost" (applied, then catalog.ErrUnavailable: the answer was lost).
// With before set, DeleteVersion runs it first, with the tombstone it was
// given, and with beforePut set PutVersion runs that first, with the
// version. Mode "gone" is "down" with the next GetVersion failing as well.
type versionFaultCatalog struct {
	catalog.Catalog
	put, del, tomb string
	before         func(catalog.Tombstone)
	beforePut      func(catalog.Version)
	readDown       bool // the next GetVersion fails
}

func (c *versionFaultCatalog) PutVersion(ctx context.Context, v catalog.Version) (*catalog.Version, error) {
	mode, before := c.put, c.beforePut
	c.put, c.beforePut = "", nil
	if before != nil {
		before(v)
	}
	return fault(c, mode, func() (*catalog.Version, error) { return c.Catalog.PutVersion(ctx, v) })
}

func (c *versionFaultCatalog) DeleteVersion(ctx context.Context, t catalog.Tombstone, o catalog.DeleteVersionOptions) (*catalog.Version, error) {
	mode, before := c.del, c.before
	c.del, c.before = "", nil
	if before != nil {
		before(t)
	}
	return fault(c, mode, func() (*catalog.Version, error) { return c.Catalog.DeleteVersion(ctx, t, o) })
}

func (c *versionFaultCatalog) PutTombstone(ctx context.Context, t catalog.Tombstone) (*catalog.Entry, error) {
	mode := c.tomb
	c.tomb = ""
	return fault(c, mode, func() (*catalog.Entry, error) { return c.Catalog.PutTombstone(ctx, t) })
}

func (c *versionFaultCatalog) GetVersion(ctx context.Context, bucket, key, versionID string) (catalog.Version, error) {
	if c.readDown {
		c.readDown = false
		return catalog.Version{}, catalog.ErrUnavailable
	}
	return c.Catalog.GetVersion(ctx, bucket, key, versionID)
}

// fault answers a write of c as mode says, running apply where the write
// is applied.
func fault[T any](c *versionFaultCatalog, mode string, apply func() (*T, error)) (*T, error) {
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
	ns.SettleNever() // a gateway stopped before it could ask the catalog again
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
		case err != nil && len(e.names(t, i, e.ns.VersionBase("bucket", key, id))) > 0:
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
// never touches the record the catalog holds for the version (the null
// version written again while versioning is suspended, a tag rewrite of a
// version, or the current version a new one was to follow): the new record
// went under a name of its own. A write the catalog refused takes its
// record and blob back. One it did not answer ("down": a timed-out
// command, on Redis, may still apply later) keeps them, here for good (the
// gateway is as one stopped before it could ask the catalog again): deleting them
// could leave the catalog holding a version no provider has; scrub
// reports the record (ahead of the catalog's record of the same version,
// or a version the catalog lacks) and repair takes it over (told to
// adopt, for a version the catalog lacks). One that landed although the
// catalog reported a failure keeps its record, and the record it replaced,
// which the writer could not know it had to delete, is superseded: scrub
// reports it and repair deletes it. A scrub then finds nothing.
func TestPutVersionCatalogFails(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		op, mode string
		want     string // what the key reads afterwards, before repair
		keepBlob bool   // the new blob stays
		left     gateway.ProblemKind
		repaired string // what the key reads after repair
	}{
		{"null", "refuse", "one", false, "", "one"},
		{"null", "down", "one", true, gateway.ProblemAhead, "two"},
		{"null", "lost", "two", true, gateway.ProblemSuperseded, "two"},
		{"new", "refuse", "one", false, "", "one"},
		{"new", "down", "one", true, gateway.ProblemUncataloged, "two"},
		{"new", "lost", "two", true, "", "two"},
		{"tags", "refuse", "one", false, "", "one"},
		{"tags", "down", "one", false, gateway.ProblemAhead, "one"},
		{"tags", "lost", "one", false, gateway.ProblemSuperseded, "one"},
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
			before := e.ns.VersionName("bucket", "k", id)
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
			e.versionRecordAgrees(t, "k", first.VersionID)
			if tc.mode != "lost" {
				// The catalog's record is where it was, untouched.
				if got := e.ns.VersionName("bucket", "k", first.VersionID); got != before {
					t.Errorf("the catalog names %s, before the write %s", got, before)
				}
			}
			if tc.mode == "refuse" {
				for i := range e.members {
					if got := e.names(t, i, "m/"); !slices.Equal(got, metas) {
						t.Errorf("member %d holds meta records %q, before the write %q", i, got, metas)
					}
				}
			}
			if got, want := len(e.names(t, 0, "b/")), blobs; tc.keepBlob && got != want+1 || !tc.keepBlob && got != want {
				t.Errorf("%d blobs, %d before the write; want the new one kept: %v", got, want, tc.keepBlob)
			}
			if tc.left != "" {
				rep := e.scrub(t, true)
				if len(rep.Problems) != 2 {
					t.Errorf("scrub: %d problems, want 2 (%s, one per member): %v", len(rep.Problems), tc.left, summary(rep))
				}
				for _, p := range rep.Problems {
					if p.Kind != tc.left {
						t.Errorf("scrub: %v, want %s", p, tc.left)
					}
				}
				if _, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf(), Adopt: true}); err != nil {
					t.Fatal(err)
				}
			}
			e.scrubClean(t)
			if got, want := readVersion(t, e.ns, "bucket", "k", ""), body(tc.repaired); got != want {
				t.Errorf("after repair: the key reads %.8q..., want %.8q...", got, want)
			}
		})
	}
}

// TestDeleteVersionCatalogFails: the deletion of a version writes a
// tombstone under a name of its own and then updates the catalog; when
// the catalog does not take it (a newer write of the version won, the
// catalog refused or could not be reached), the tombstone goes and the
// version's record, never touched, is what every provider holds; when the
// catalog took it although it reported a failure, the tombstone stays and
// the version's record, which the writer could not know it had to
// delete, is superseded: scrub reports it and repair deletes it.
func TestDeleteVersionCatalogFails(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []string{"stale", "refuse", "down", "lost"} {
		t.Run(mode, func(t *testing.T) {
			e, fc := faultEnv(t)
			e.putv(t, "bucket", "k", body("zero"))
			v := e.putv(t, "bucket", "k", body("one"))
			fc.del = mode
			if mode == "stale" {
				// Another gateway rewrites the version meanwhile.
				fc.del = ""
				// Its clock is ahead: its generation is above the
				// tombstone's, whatever the random parts of the two.
				other, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: e.cat,
					Clock: func() time.Time { return time.Now().Add(time.Second) }})
				if err != nil {
					t.Fatal(err)
				}
				fc.before = func(catalog.Tombstone) {
					if _, err := other.SetTags(ctx, "bucket", "k", map[string]string{"t": "1"}); err != nil {
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
				rep := e.scrub(t, false)
				if len(rep.Problems) != 2 || rep.Problems[0].Kind != gateway.ProblemSuperseded {
					t.Errorf("scrub: %v, want the version's record superseded on both members", summary(rep))
				}
				if _, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf()}); err != nil {
					t.Fatal(err)
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
// unknown); a deletion's tombstone goes (left there, repair would take it
// over and delete a version the catalog may still hold; should the
// deletion land after all, the catalog's tombstone is what repair puts on
// the providers), and the version's record was never touched. Repair then
// makes providers and catalog agree.
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
			// A deletion asks the catalog again; a write keeps its record
			// whatever the catalog would say.
			if op == "delete" && fc.readDown {
				t.Fatal("the catalog was not read again")
			}
			fc.readDown = false
			if got := readVersion(t, e.ns, "bucket", "k", ""); got != body("one") {
				t.Errorf("before repair: the key reads %.8q..., want %.8q...", got, body("one"))
			}
			for i := range e.members {
				got := e.names(t, i, "m/")
				if op == "put" && len(got) != len(metas)+1 || op == "delete" && !slices.Equal(got, metas) {
					t.Errorf("member %d holds %d meta records, %d before", i, len(got), len(metas))
				}
			}
			if rep, want := e.scrub(t, true), map[string]int{"put": 2, "delete": 0}[op]; len(rep.Problems) != want {
				t.Errorf("scrub: %d problems, want %d: %v", len(rep.Problems), want, summary(rep))
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
