package catalog_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends/replica"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/internal/testenv"
)

// dump describes everything a catalog holds, one line per item.
func dump(t *testing.T, c catalog.Catalog) string {
	t.Helper()
	ctx := t.Context()
	var b strings.Builder
	bs, err := c.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, bk := range bs {
		fmt.Fprintf(&b, "bucket %s %s\n", bk.Name, bk.Created.Format(time.RFC3339Nano))
		ups, _, err := c.ListUploads(ctx, bk.Name, "", "", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range ups {
			fmt.Fprintf(&b, "upload %s %s/%s %s %q\n", u.ID, u.Bucket, u.Key, u.Initiated.Format(time.RFC3339Nano), u.Record)
			ps, _, err := c.ListParts(ctx, u.ID, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				fmt.Fprintf(&b, "  part %d %d %s %s %q\n", p.Number, p.Size, p.ETag, p.Uploaded.Format(time.RFC3339Nano), p.Record)
			}
		}
	}
	err = c.Walk(ctx, func(e catalog.Entry) error {
		fmt.Fprintf(&b, "entry %s/%q %d %s %s %d %q\n", e.Bucket, e.Key, e.Size, e.ETag, e.ModTime.Format(time.RFC3339Nano), e.Generation, e.Record)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = c.WalkVersions(ctx, func(v catalog.Version) error {
		fmt.Fprintf(&b, "version %+v\n", v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = c.WalkVersionTombstones(ctx, func(ts catalog.Tombstone) error {
		fmt.Fprintf(&b, "version tombstone %+v\n", ts)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, bk := range bs {
		bv, err := c.GetBucketVersioning(ctx, bk.Name)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "versioning %s %+v\n", bk.Name, bv)
	}
	err = c.WalkTombstones(ctx, func(ts catalog.Tombstone) error {
		fmt.Fprintf(&b, "tombstone %s/%q %d %s %q\n", ts.Bucket, ts.Key, ts.Generation, ts.Deleted.Format(time.RFC3339Nano), ts.Record)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e, rec, err := c.Epoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "epoch %d %q\n", e, rec)
	ss, err := c.ListShares(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		fmt.Fprintf(&b, "share %+v\n", s)
	}
	tasks, err := c.(replica.Queue).Pending(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		fmt.Fprintf(&b, "task %+v\n", task)
	}
	return b.String()
}

// fill puts one of everything into c.
func fill(t *testing.T, c catalog.Catalog) {
	t.Helper()
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range []string{"alpha", "beta", "{tag}%"} {
		must(c.CreateBucket(ctx, catalog.Bucket{Name: b, Created: when}))
	}
	for i, k := range []string{"a", "dir/b", "dir/sub/c", "k/\x00/é", strings.Repeat("x", catalog.MaxKeyLen)} {
		_, err := c.Put(ctx, catalog.Entry{Bucket: "alpha", Key: k, Size: int64(i), ETag: "e" + k[:1], ModTime: when, Generation: uint64(i + 1), Record: []byte{byte(i), 0}})
		must(err)
	}
	_, err := c.Put(ctx, catalog.Entry{Bucket: "{tag}%", Key: "x", Generation: 1 << 62, ModTime: when})
	must(err)
	_, err = c.PutTombstone(ctx, catalog.Tombstone{Bucket: "beta", Key: "gone", Generation: 9, Deleted: when, Record: []byte("t")})
	must(err)
	_, err = c.PutTombstone(ctx, catalog.Tombstone{Bucket: "deleted", Generation: 4, Deleted: when, Record: []byte("bt")})
	must(err)
	must(c.AdvanceEpoch(ctx, 17, []byte("epoch record")))
	must(c.PutShare(ctx, catalog.Share{ID: "s1", Generation: 2, Created: when, Expires: when.Add(time.Hour), MaxDownloads: 5, Downloads: 3, Record: []byte("sr")}))
	must(c.PutShare(ctx, catalog.Share{ID: "s0", Generation: 1, Created: when, Revoked: true}))
	must(c.CreateUpload(ctx, catalog.Upload{ID: "u1", Bucket: "beta", Key: "big", Initiated: when, Record: []byte("ur")}))
	for _, n := range []int{3, 1, 10000} {
		_, err := c.PutPart(ctx, "u1", catalog.Part{Number: n, Size: int64(n), ETag: fmt.Sprint("p", n), Uploaded: when, Record: []byte{byte(n)}})
		must(err)
	}
	must(c.SetBucketVersioning(ctx, "beta", catalog.BucketVersioning{Status: catalog.VersioningEnabled, ObjectLock: true, DefaultMode: catalog.RetainGovernance, DefaultDays: 3, Generation: 2}))
	for i, v := range []catalog.Version{
		{Bucket: "beta", Key: "doc", VersionID: "v1", Seq: 10, Generation: 10, Size: 5, ETag: "e1", ModTime: when, Record: []byte("r1")},
		{Bucket: "beta", Key: "doc", VersionID: "v2", Seq: 11, Generation: 12, Size: 6, ETag: "e2", ModTime: when, RetainMode: catalog.RetainCompliance, RetainUntil: when.Add(time.Hour), LegalHold: true, Record: []byte("r2")},
		{Bucket: "beta", Key: "gone-now", VersionID: "v3", Seq: 20, Generation: 20, ModTime: when, Record: []byte("r3")},
		{Bucket: "beta", Key: "gone-now", VersionID: "dm", Seq: 21, Generation: 21, DeleteMarker: true, ModTime: when},
	} {
		if _, err := c.PutVersion(ctx, v); err != nil {
			t.Fatalf("PutVersion %d: %v", i, err)
		}
	}
	_, err = c.DeleteVersion(ctx, catalog.Tombstone{Bucket: "beta", Key: "doc", VersionID: "v0", Generation: 9, Deleted: when, Record: []byte("vt")}, catalog.DeleteVersionOptions{})
	must(err)
	must(c.(replica.Queue).Add(ctx,
		replica.Task{Backend: "m1", Name: "blob", Op: replica.OpPut, Added: when},
		replica.Task{Backend: "m2", Name: "meta", Op: replica.OpDelete, Added: when.Add(time.Second)}))
}

// TestCopyRoundTrip copies an embedded catalog into Redis (a cluster) and
// back into a new embedded one: all three hold the same.
func TestCopyRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := openBolt(t, filepath.Join(t.TempDir(), "src.db"))
	defer src.Close()
	fill(t, src)
	want := dump(t, src)
	rdb := testenv.RedisClient(t, testenv.StartRedisCluster(t).URL())
	mid := openRedis(t, rdb, "copy:")
	if empty, err := catalog.Empty(ctx, mid); err != nil || !empty {
		t.Fatalf("new Redis catalog: Empty = %v, %v", empty, err)
	}
	st, err := catalog.Copy(ctx, mid, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Buckets != 3 || st.Entries != 6 || st.Tombstones != 2 || st.Shares != 2 || st.Uploads != 1 || st.Parts != 3 || st.Tasks != 2 || st.Epoch != 17 ||
		st.Versions != 4 || st.VersionTombstones != 1 {
		t.Errorf("copy stats %+v", st)
	}
	if got := dump(t, mid); got != want {
		t.Errorf("Redis copy differs:\n%s\nwant\n%s", got, want)
	}
	if empty, err := catalog.Empty(ctx, mid); err != nil || empty {
		t.Errorf("filled Redis catalog: Empty = %v, %v", empty, err)
	}
	back := openBolt(t, filepath.Join(t.TempDir(), "back.db"))
	defer back.Close()
	if _, err := catalog.Copy(ctx, back, mid, nil); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, back); got != want {
		t.Errorf("copy back differs:\n%s\nwant\n%s", got, want)
	}
}
