package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/internal/testns"
)

// accessUsers are alice and bob, who own buckets, carol, who may read
// alice's "shared", and dave, who may write to it.
var accessUsers = []gateway.User{
	{AccessKey: "alice", ID: strings.Repeat("a1", 32), DisplayName: "Alice"},
	{AccessKey: "bob", ID: strings.Repeat("b2", 32), DisplayName: "Bob"},
	{AccessKey: "carol", ID: strings.Repeat("c3", 32), DisplayName: "Carol", Grants: map[string]gateway.Access{"shared": gateway.AccessRead}},
	{AccessKey: "dave", ID: strings.Repeat("d4", 32), DisplayName: "Dave", Grants: map[string]gateway.Access{"shared": gateway.AccessWrite}},
}

// as returns ctx running as the user with the access key.
func as(t *testing.T, ns *gateway.Namespace, key string) context.Context {
	t.Helper()
	ctx, err := ns.UserContext(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

func put(ctx context.Context, ns *gateway.Namespace, bucket, key, body string) error {
	_, err := ns.PutObject(ctx, bucket, key, strings.NewReader(body), int64(len(body)), gateway.PutOptions{})
	return err
}

// TestAccessRules checks every operation against owner, a stranger, a
// read grant and a write grant.
func TestAccessRules(t *testing.T) {
	te := testns.New(t, testns.Options{Users: accessUsers})
	ns := te.NS
	alice := as(t, ns, "alice")
	if err := ns.CreateBucket(alice, "shared"); err != nil {
		t.Fatal(err)
	}
	if err := put(alice, ns, "shared", "doc", "alice's"); err != nil {
		t.Fatal(err)
	}
	ops := []struct {
		name string
		op   func(ctx context.Context) error
		// lowest access level that may do it
		need gateway.Access
	}{
		{"HeadBucket", func(ctx context.Context) error { _, err := ns.Bucket(ctx, "shared"); return err }, gateway.AccessRead},
		{"List", func(ctx context.Context) error {
			_, err := ns.List(ctx, "shared", gateway.ListOptions{})
			return err
		}, gateway.AccessRead},
		{"Get", func(ctx context.Context) error {
			o, err := ns.Object(ctx, "shared", "doc")
			if err != nil {
				return err
			}
			rd, err := o.NewReader(ctx, 0, -1)
			if err != nil {
				return err
			}
			defer rd.Close()
			b, err := io.ReadAll(rd)
			if err == nil && string(b) != "alice's" {
				t.Errorf("read %q", b)
			}
			return err
		}, gateway.AccessRead},
		{"Props", func(ctx context.Context) error { _, err := ns.Props(ctx, "shared", "doc"); return err }, gateway.AccessRead},
		{"BucketTags", func(ctx context.Context) error { _, err := ns.BucketTags(ctx, "shared"); return err }, gateway.AccessRead},
		{"BucketACL", func(ctx context.Context) error { _, err := ns.BucketACL(ctx, "shared"); return err }, gateway.AccessRead},
		{"Uploads", func(ctx context.Context) error {
			_, _, err := ns.Uploads(ctx, "shared", "", "", "", 10)
			return err
		}, gateway.AccessRead},
		{"SharedFiles", func(ctx context.Context) error {
			_, err := ns.SharedFiles(ctx, "shared", "doc", false)
			return err
		}, gateway.AccessRead},
		{"Put", func(ctx context.Context) error { return put(ctx, ns, "shared", "new", "x") }, gateway.AccessWrite},
		{"Copy in", func(ctx context.Context) error {
			_, err := ns.CopyObject(ctx, "shared", "doc", "shared", "copy", nil)
			return err
		}, gateway.AccessWrite},
		{"SetTags", func(ctx context.Context) error {
			_, err := ns.SetTags(ctx, "shared", "doc", map[string]string{"k": "v"})
			return err
		}, gateway.AccessWrite},
		{"SetVersionTags", func(ctx context.Context) error {
			_, err := ns.SetVersionTags(ctx, "shared", "doc", gateway.NullVersion, map[string]string{"k": "v"})
			return err
		}, gateway.AccessWrite},
		{"SetProps", func(ctx context.Context) error {
			_, err := ns.SetProps(ctx, "shared", "doc", map[string]string{"p": "v"}, nil)
			return err
		}, gateway.AccessWrite},
		{"CreateUpload", func(ctx context.Context) error {
			_, err := ns.CreateUpload(ctx, "shared", "mp", nil)
			return err
		}, gateway.AccessWrite},
		{"Rename", func(ctx context.Context) error {
			if err := put(alice, ns, "shared", "from", "x"); err != nil {
				t.Fatal(err)
			}
			_, err := ns.Rename(ctx, "shared", "from", "shared", "to")
			return err
		}, gateway.AccessWrite},
		{"Delete", func(ctx context.Context) error {
			if err := put(alice, ns, "shared", "gone", "x"); err != nil {
				t.Fatal(err)
			}
			return ns.DeleteObject(ctx, "shared", "gone")
		}, gateway.AccessWrite},
		{"SetBucketTags", func(ctx context.Context) error {
			return ns.SetBucketTags(ctx, "shared", map[string]string{"t": "v"})
		}, gateway.AccessOwner},
		{"SetBucketCORS", func(ctx context.Context) error { return ns.SetBucketCORS(ctx, "shared", nil) }, gateway.AccessOwner},
	}
	users := []struct {
		key  string
		have gateway.Access
	}{{"alice", gateway.AccessOwner}, {"bob", gateway.AccessNone}, {"carol", gateway.AccessRead}, {"dave", gateway.AccessWrite}}
	for _, op := range ops {
		for _, u := range users {
			t.Run(op.name+"/"+u.key, func(t *testing.T) {
				err := op.op(as(t, ns, u.key))
				switch {
				case u.have >= op.need && err != nil:
					t.Errorf("%s with %s access: %v", u.key, u.have, err)
				case u.have < op.need && !errors.Is(err, gateway.ErrAccessDenied):
					t.Errorf("%s with %s access: err %v, want ErrAccessDenied", u.key, u.have, err)
				}
			})
		}
	}
	// DeleteBucket last: the owner's alone.
	for _, key := range []string{"bob", "carol", "dave"} {
		if err := ns.DeleteBucket(as(t, ns, key), "shared"); !errors.Is(err, gateway.ErrAccessDenied) {
			t.Errorf("DeleteBucket as %s: %v, want ErrAccessDenied", key, err)
		}
	}
	// A stranger's copy out of the bucket is refused too.
	if err := ns.CreateBucket(as(t, ns, "bob"), "bobs"); err != nil {
		t.Fatal(err)
	}
	if _, err := ns.CopyObject(as(t, ns, "bob"), "shared", "doc", "bobs", "stolen", nil); !errors.Is(err, gateway.ErrAccessDenied) {
		t.Errorf("copy out of another user's bucket: %v", err)
	}
	// A missing bucket is NoSuchBucket for everybody, not AccessDenied.
	if _, err := ns.Bucket(as(t, ns, "bob"), "missing"); !errors.Is(err, gateway.ErrNoSuchBucket) {
		t.Errorf("missing bucket: %v", err)
	}
}

// TestBucketOwnership checks ListBuckets filtering, the errors of creating
// a taken name, the owner of buckets made before owners, ACLs, and that a
// rebuilt catalog keeps the owners.
func TestBucketOwnership(t *testing.T) {
	te := testns.New(t, testns.Options{Users: accessUsers})
	ns := te.NS
	ctx := context.Background()
	// Made without a user: as before buckets had owners.
	if err := ns.CreateBucket(ctx, "legacy"); err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct{ user, name string }{{"alice", "shared"}, {"bob", "bobs"}, {"carol", "carols"}} {
		if err := ns.CreateBucket(as(t, ns, b.user), b.name); err != nil {
			t.Fatal(err)
		}
	}
	names := func(user string) []string {
		bs, err := ns.Buckets(as(t, ns, user))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, b := range bs {
			out = append(out, b.Name+":"+b.Owner.DisplayName)
		}
		return out
	}
	for _, tt := range []struct {
		user string
		want []string
	}{
		{"alice", []string{"legacy:Alice", "shared:Alice"}},
		{"bob", []string{"bobs:Bob"}},
		{"carol", []string{"carols:Carol", "shared:Alice"}},
		{"dave", []string{"shared:Alice"}},
	} {
		if got := names(tt.user); !slices.Equal(got, tt.want) {
			t.Errorf("Buckets as %s = %q, want %q", tt.user, got, tt.want)
		}
	}
	err := ns.CreateBucket(as(t, ns, "bob"), "shared")
	if !errors.Is(err, gateway.ErrBucketExists) || errors.Is(err, gateway.ErrBucketOwnedByYou) {
		t.Errorf("bob creates alice's bucket: %v, want exists, not owned by you", err)
	}
	if err := ns.CreateBucket(as(t, ns, "alice"), "legacy"); !errors.Is(err, gateway.ErrBucketOwnedByYou) {
		t.Errorf("alice creates the legacy bucket: %v, want owned by you", err)
	}
	acl, err := ns.BucketACL(as(t, ns, "carol"), "shared")
	if err != nil {
		t.Fatal(err)
	}
	want := gateway.BucketACL{Owner: gateway.Owner{ID: accessUsers[0].ID, DisplayName: "Alice"}, Grants: []gateway.BucketGrant{
		{Grantee: gateway.Owner{ID: accessUsers[2].ID, DisplayName: "Carol"}, Access: gateway.AccessRead},
		{Grantee: gateway.Owner{ID: accessUsers[3].ID, DisplayName: "Dave"}, Access: gateway.AccessWrite},
	}}
	if acl.Owner != want.Owner || !slices.Equal(acl.Grants, want.Grants) {
		t.Errorf("BucketACL = %+v, want %+v", acl, want)
	}
	if _, err := ns.UserContext(ctx, "mallory"); !errors.Is(err, gateway.ErrAccessDenied) {
		t.Errorf("unknown user: %v", err)
	}
	// A bucket's tags are written with its record: the owner survives.
	if err := ns.SetBucketTags(as(t, ns, "bob"), "bobs", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}

	fresh, err := catalog.OpenBolt(filepath.Join(t.TempDir(), "rebuilt.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, err := gateway.RebuildCatalog(ctx, gateway.RebuildOptions{Keys: te.Keys, Backends: []backends.Backend{te.Backend}, Catalog: fresh}); err != nil {
		t.Fatal(err)
	}
	for name, owner := range map[string]string{"legacy": "", "shared": accessUsers[0].ID, "bobs": accessUsers[1].ID, "carols": accessUsers[2].ID} {
		b, err := fresh.GetBucket(ctx, name)
		if err != nil || b.Owner != owner {
			t.Errorf("rebuilt %s: %+v, %v; want owner %q", name, b, err, owner)
		}
	}
	// No provider could name itself owner: the owner is inside the sealed
	// bucket record, so no bucket name or owner id appears in plaintext.
	for _, id := range []string{accessUsers[1].ID, "bobs"} {
		err := filepath.WalkDir(te.Backend.Root(), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err == nil && bytes.Contains(data, []byte(id)) {
				t.Errorf("%q is readable in %s on the provider", id, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
