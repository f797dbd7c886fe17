package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/checksum"
)

// TestVersionTags checks SetVersionTags: it changes the tags of the
// version named and nothing else (bytes, ETag, checksum, modification
// time, lock, the order of versions, the current object), refuses delete
// markers and unknown versions, and leaves an unversioned bucket without
// versions. The records on every provider carry the new tags and
// retention: a catalog rebuilt from either provider alone is the same and
// shows them.
func TestVersionTags(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ns := e.ns
	big := "blob " + strings.Repeat("x", gateway.InlineMax)
	e.putv(t, "bucket", "plain", "unversioned")
	// A null version from before versioning, below a newer version.
	if err := ns.CreateBucket(ctx, "later"); err != nil {
		t.Fatal(err)
	}
	e.putv(t, "later", "k", "before versioning")
	if err := ns.SetBucketVersioning(ctx, "later", gateway.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	newer := e.putv(t, "later", "k", "after versioning")
	if err := ns.CreateBucketWith(ctx, "locked", gateway.CreateBucketOptions{ObjectLock: true}); err != nil {
		t.Fatal(err)
	}
	v1, err := ns.PutObject(ctx, "locked", "k", strings.NewReader(big), int64(len(big)), gateway.PutOptions{Checksum: checksum.CRC32})
	if err != nil {
		t.Fatal(err)
	}
	v2 := e.putv(t, "locked", "k", "current")
	gone := e.putv(t, "locked", "gone", "x")
	dm, err := ns.Delete(ctx, "locked", "gone", gateway.DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if _, err := ns.SetObjectRetention(ctx, "locked", "k", v1.VersionID, &gateway.Retention{Mode: gateway.RetainCompliance, Until: until}, false); err != nil {
		t.Fatal(err)
	}
	before, err := ns.ObjectVersion(ctx, "locked", "k", v1.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	order := listVersions(t, ns, "locked")

	tags := map[string]string{"project": "apollo", "tier": "gold"}
	for _, tt := range []struct {
		name, bucket, key, id string
		tags                  map[string]string
		err                   error // nil: succeeds
	}{
		{"a non-current version", "locked", "k", v1.VersionID, tags, nil},
		{"a delete marker", "locked", "gone", dm.VersionID, tags, &gateway.DeleteMarkerError{}},
		{"a deleted object's version", "locked", "gone", gone.VersionID, map[string]string{"g": "1"}, nil},
		{"a missing version", "locked", "k", "0123456789abcdef0123456789abcdef", tags, gateway.ErrNoSuchVersion},
		{"a malformed version id", "locked", "k", "../x", tags, gateway.ErrInvalidVersionID},
		{"another key's version", "locked", "gone", v1.VersionID, tags, gateway.ErrNoSuchVersion},
		{"a version in an unversioned bucket", "bucket", "plain", v1.VersionID, tags, gateway.ErrNoSuchVersion},
		{"the null version in an unversioned bucket", "bucket", "plain", gateway.NullVersion, map[string]string{"n": "1"}, nil},
		{"the null version of a missing key", "bucket", "none", gateway.NullVersion, tags, gateway.ErrNoSuchVersion},
		{"a null version from before versioning", "later", "k", gateway.NullVersion, map[string]string{"old": "1"}, nil},
		{"the version above it", "later", "k", newer.VersionID, map[string]string{"new": "1"}, nil},
		{"a missing bucket", "nobucket", "k", v1.VersionID, tags, gateway.ErrNoSuchBucket},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ns.SetVersionTags(ctx, tt.bucket, tt.key, tt.id, tt.tags)
			var dme *gateway.DeleteMarkerError
			switch {
			case tt.err == nil && err != nil:
				t.Fatalf("error %v", err)
			case tt.err == nil:
				o, err := ns.ObjectVersion(ctx, tt.bucket, tt.key, tt.id)
				if err != nil || !maps.Equal(o.Tags, tt.tags) {
					t.Errorf("tags after: %v, %v; want %v", o, err, tt.tags)
				}
			case errors.As(tt.err, &dme):
				if !errors.As(err, &dme) || dme.Current || dme.VersionID != tt.id {
					t.Errorf("error %v, want a delete marker error for %s", err, tt.id)
				}
			case !errors.Is(err, tt.err):
				t.Errorf("error %v, want %v", err, tt.err)
			}
		})
	}

	// The tagged version kept everything but its tags and generation.
	after, err := ns.ObjectVersion(ctx, "locked", "k", v1.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	if after.ETag != before.ETag || after.Size != before.Size || !after.ModTime.Equal(before.ModTime) ||
		after.Checksum == nil || after.Checksum.String() != before.Checksum.String() || after.Generation <= before.Generation {
		t.Errorf("tagged version: etag %s size %d mtime %v checksum %v gen %d; before %s %d %v %v %d", after.ETag, after.Size, after.ModTime, after.Checksum, after.Generation,
			before.ETag, before.Size, before.ModTime, before.Checksum, before.Generation)
	}
	if got := readVersion(t, ns, "locked", "k", v1.VersionID); got != big {
		t.Errorf("tagged version's bytes changed (%d bytes)", len(got))
	}
	if ret, err := ns.ObjectRetention(ctx, "locked", "k", v1.VersionID); err != nil || ret == nil || ret.Mode != gateway.RetainCompliance || !ret.Until.Equal(until) {
		t.Errorf("retention after tagging: %+v, %v", ret, err)
	}
	cur, err := ns.Object(ctx, "locked", "k")
	if err != nil || cur.VersionID != v2.VersionID || cur.Tags != nil || cur.Generation != v2.Generation {
		t.Errorf("current object after tagging an old version: %+v, %v; want version %s gen %d without tags", cur, err, v2.VersionID, v2.Generation)
	}
	if got := listVersions(t, ns, "locked"); !slices.Equal(got, order) {
		t.Errorf("versions after tagging:\n%q\nwant\n%q", got, order)
	}
	// Tagging the null version of an unversioned bucket kept the key
	// unversioned.
	if e, err := e.cat.Get(ctx, "bucket", "plain"); err != nil || e.VersionID != "" {
		t.Errorf("unversioned entry after tagging its null version: %+v, %v", e, err)
	}
	if o, err := ns.Object(ctx, "bucket", "plain"); err != nil || !maps.Equal(o.Tags, map[string]string{"n": "1"}) {
		t.Errorf("unversioned object's tags: %v, %v", o, err)
	}

	if got, want := listVersions(t, ns, "later"), []string{"k?" + newer.VersionID + "*", "k?null"}; !slices.Equal(got, want) {
		t.Errorf("versions after tagging the null version: %q, want %q", got, want)
	}
	if got := readVersion(t, ns, "later", "k", gateway.NullVersion); got != "before versioning" {
		t.Errorf("null version's bytes after tagging: %q", got)
	}
	if o, err := ns.Object(ctx, "later", "k"); err != nil || !maps.Equal(o.Tags, map[string]string{"new": "1"}) {
		t.Errorf("current object after tagging the null version and itself: %v, %v", o, err)
	}

	// The providers' records: a catalog rebuilt from either one alone
	// equals the catalog and has the tags and the retention.
	want := allVersions(t, e.cat)
	for i := range e.members {
		t.Run(fmt.Sprintf("rebuild from provider %d", i), func(t *testing.T) {
			fresh, rep := e.rebuildFrom(t, e.backendsOf()[i:i+1])
			if len(rep.Failed) != 0 {
				t.Fatalf("rebuild: %+v", rep)
			}
			if got := allVersions(t, fresh); !slices.Equal(got, want) {
				t.Errorf("rebuilt catalog differs:\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			rns, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: fresh})
			if err != nil {
				t.Fatal(err)
			}
			o, err := rns.ObjectVersion(ctx, "locked", "k", v1.VersionID)
			if err != nil || !maps.Equal(o.Tags, tags) {
				t.Errorf("rebuilt version's tags: %v, %v", o, err)
			}
			if ret, err := rns.ObjectRetention(ctx, "locked", "k", v1.VersionID); err != nil || ret == nil || ret.Mode != gateway.RetainCompliance || !ret.Until.Equal(until) {
				t.Errorf("rebuilt version's retention: %+v, %v", ret, err)
			}
			if o, err := rns.Object(ctx, "locked", "k"); err != nil || o.VersionID != v2.VersionID || o.Tags != nil {
				t.Errorf("rebuilt current object: %v, %v", o, err)
			}
		})
	}
}
