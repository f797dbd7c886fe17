package gateway_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/gateway"
)

// TestDeleteNullVersionUnversioned: in a bucket that never had
// versioning, DELETE ?versionId=null deletes the object, and succeeds
// when the key is not there, as S3 answers 204; the key's catalog entry
// stays unversioned, so the key can be written again.
func TestDeleteNullVersionUnversioned(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		present bool
	}{{"present", true}, {"missing", false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.present {
				e.putv(t, "bucket", "k", body("one"))
			}
			res, err := e.ns.Delete(ctx, "bucket", "k", gateway.DeleteOptions{VersionID: gateway.NullVersion})
			if err != nil {
				t.Fatalf("Delete ?versionId=null: %v", err)
			}
			if res.VersionID != gateway.NullVersion || res.DeleteMarker {
				t.Errorf("result %+v, want version null, no delete marker", res)
			}
			if _, err := e.ns.Object(ctx, "bucket", "k"); !errors.Is(err, gateway.ErrNoSuchKey) {
				t.Errorf("the key after the deletion: %v, want ErrNoSuchKey", err)
			}
			e.putv(t, "bucket", "k", body("two"))
			if en, err := e.cat.Get(ctx, "bucket", "k"); err != nil || en.VersionID != "" {
				t.Errorf("catalog entry version %q, %v; want unversioned", en.VersionID, err)
			}
			e.scrubClean(t)
		})
	}
	e := newEnv(t)
	if _, err := e.ns.Delete(ctx, "nobucket", "k", gateway.DeleteOptions{VersionID: gateway.NullVersion}); !errors.Is(err, gateway.ErrNoSuchBucket) {
		t.Errorf("Delete ?versionId=null in a missing bucket: %v, want ErrNoSuchBucket", err)
	}
}

// TestDeleteNullVersionUnversionedCatalogFails: in a bucket that never
// had versioning, a deletion of the null version that the catalog refuses
// or does not answer leaves the key an object without versions: its
// catalog entry unversioned, its data readable, and a later PUT, tagging
// and DELETE of the key work, and scrub finds nothing. "direct" is the
// deletion of a version as a versioned bucket makes it, which Delete does
// not use there: it goes through the key's unversioned entry too, never a
// null version.
func TestDeleteNullVersionUnversionedCatalogFails(t *testing.T) {
	ctx := context.Background()
	for _, path := range []string{"delete", "direct"} {
		for _, mode := range []string{"refuse", "down"} {
			t.Run(path+"/"+mode, func(t *testing.T) {
				e := newEnv(t)
				fc := &versionFaultCatalog{Catalog: e.cat}
				ns, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: fc})
				if err != nil {
					t.Fatal(err)
				}
				ns.SettleNever() // a gateway stopped before it could ask the catalog again
				e.ns = ns
				e.putv(t, "bucket", "k", body("one"))
				if path == "delete" {
					// The deletion of an object without versions writes
					// a tombstone through PutTombstone, not DeleteVersion.
					fc.tomb = mode
					_, err = ns.Delete(ctx, "bucket", "k", gateway.DeleteOptions{VersionID: gateway.NullVersion})
				} else {
					fc.del = mode
					_, err = ns.DeleteVersionDirect(ctx, "bucket", "k", gateway.NullVersion)
				}
				if err == nil {
					t.Fatal("the deletion succeeded")
				}
				fc.tomb = ""
				if en, err := e.cat.Get(ctx, "bucket", "k"); err != nil || en.VersionID != "" {
					t.Fatalf("catalog entry version %q, %v; want unversioned", en.VersionID, err)
				}
				if got, want := readVersion(t, ns, "bucket", "k", ""), body("one"); got != want {
					t.Errorf("the key reads %.8q..., want %.8q...", got, want)
				}
				two := body("two")
				if _, err := ns.PutObject(ctx, "bucket", "k", strings.NewReader(two), int64(len(two)), gateway.PutOptions{}); err != nil {
					t.Fatalf("PUT after the failed deletion: %v", err)
				}
				if _, err := ns.SetTags(ctx, "bucket", "k", map[string]string{"a": "b"}); err != nil {
					t.Errorf("tagging after the failed deletion: %v", err)
				}
				if got := readVersion(t, ns, "bucket", "k", ""); got != two {
					t.Errorf("the key reads %.8q..., want %.8q...", got, two)
				}
				e.scrubClean(t)
				if err := ns.DeleteObject(ctx, "bucket", "k"); err != nil {
					t.Errorf("DELETE after the failed deletion: %v", err)
				}
				e.scrubClean(t)
			})
		}
	}
}

// TestSuspendedWriteAboveNullVersion: while versioning is suspended, a
// plain PUT and a DELETE replace the null version, so their generation
// goes above the null version's, not only above the current version's:
// a non-current null version whose tags an instance with its clock a
// minute ahead rewrote holds a generation above the current version's.
func TestSuspendedWriteAboveNullVersion(t *testing.T) {
	ctx := context.Background()
	for _, op := range []string{"put", "delete"} {
		t.Run(op, func(t *testing.T) {
			e := newEnv(t)
			e.putv(t, "bucket", "k", "before versioning")
			if err := e.ns.SetBucketVersioning(ctx, "bucket", gateway.VersioningEnabled); err != nil {
				t.Fatal(err)
			}
			e.putv(t, "bucket", "k", "current")
			ahead, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: e.cat,
				Clock: func() time.Time { return time.Now().Add(time.Minute) }})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ahead.SetVersionTags(ctx, "bucket", "k", gateway.NullVersion, map[string]string{"a": "1"}); err != nil {
				t.Fatal(err)
			}
			null, err := e.cat.GetVersion(ctx, "bucket", "k", gateway.NullVersion)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.ns.SetBucketVersioning(ctx, "bucket", gateway.VersioningSuspended); err != nil {
				t.Fatal(err)
			}
			if op == "put" {
				e.putv(t, "bucket", "k", "new null")
				if got := readVersion(t, e.ns, "bucket", "k", ""); got != "new null" {
					t.Errorf("the key reads %q, want %q", got, "new null")
				}
			} else {
				res, err := e.ns.Delete(ctx, "bucket", "k", gateway.DeleteOptions{})
				if err != nil {
					t.Fatalf("DELETE in a suspended bucket: %v", err)
				}
				if !res.DeleteMarker || res.VersionID != gateway.NullVersion {
					t.Errorf("result %+v, want a null delete marker", res)
				}
			}
			v, err := e.cat.GetVersion(ctx, "bucket", "k", gateway.NullVersion)
			if err != nil {
				t.Fatal(err)
			}
			if v.Generation <= null.Generation || v.DeleteMarker != (op == "delete") {
				t.Errorf("null version: generation %d (delete marker %v), the tagged one's %d", v.Generation, v.DeleteMarker, null.Generation)
			}
			e.scrubClean(t)
		})
	}
}
