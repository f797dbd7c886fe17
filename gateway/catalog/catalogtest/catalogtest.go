// Package catalogtest is the conformance suite for implementations of
// catalog.Catalog and of the repair queue (replica.Queue) that catalogs
// provide. An implementation's tests call Run with a constructor that
// returns a fresh, empty catalog.
package catalogtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends/replica"
	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// Run runs the conformance suite. newCatalog must return a fresh, empty
// catalog for each call; Run closes it when the subtest ends. If the
// catalog also implements replica.Queue, the queue suite runs on it too.
func Run(t *testing.T, newCatalog func(t *testing.T) catalog.Catalog) {
	t.Helper()
	open := func(t *testing.T) catalog.Catalog {
		t.Helper()
		c := newCatalog(t)
		t.Cleanup(func() {
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return c
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, c catalog.Catalog)
	}{
		{"Buckets", testBuckets},
		{"PutGetDelete", testPutGetDelete},
		{"Keys", testKeys},
		{"Generations", testGenerations},
		{"Move", testMove},
		{"NoSuchBucket", testNoSuchBucket},
		{"ListTable", testListTable},
		{"ListRandom", testListRandom},
		{"ListPaginate", testListPaginate},
		{"Walk", testWalk},
		{"Count", testCount},
		{"Uploads", testUploads},
		{"ListUploads", testListUploads},
		{"Parts", testParts},
		{"ConcurrentPut", testConcurrentPut},
		{"Canceled", testCanceled},
		{"Tombstones", testTombstones},
		{"Epoch", testEpoch},
		{"Shares", testShares},
		{"ShareCountRace", testShareCountRace},
		{"VersionsLifecycle", testVersionsLifecycle},
		{"VersionsNull", testVersionsNull},
		{"VersionsRewrite", testVersionsRewrite},
		{"VersionsLock", testVersionsLock},
		{"VersionsInvalid", testVersionsInvalid},
		{"ListVersions", testListVersions},
		{"WalkVersions", testWalkVersions},
		{"BucketVersioning", testBucketVersioning},
		{"VersionsConcurrent", testVersionsConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
	t.Run("Queue", func(t *testing.T) {
		if _, ok := open(t).(replica.Queue); !ok {
			t.Skip("the catalog does not implement replica.Queue")
		}
		runQueue(t, func(t *testing.T) replica.Queue { return open(t).(replica.Queue) })
	})
}

// RunQueue runs the repair-queue suite. newQueue must return a fresh,
// empty queue for each call.
func RunQueue(t *testing.T, newQueue func(t *testing.T) replica.Queue) {
	t.Helper()
	runQueue(t, newQueue)
}

// t0 is a fixed instant with nanoseconds, to check time round trips.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

func mustCreateBucket(t *testing.T, c catalog.Catalog, name string) {
	t.Helper()
	if err := c.CreateBucket(t.Context(), catalog.Bucket{Name: name, Created: t0}); err != nil {
		t.Fatalf("CreateBucket(%q): %v", name, err)
	}
}

func entry(bucket, key string, gen uint64) catalog.Entry {
	return catalog.Entry{
		Bucket:     bucket,
		Key:        key,
		Size:       int64(len(key)) * 1000,
		ETag:       fmt.Sprintf("etag-%s-%d", key, gen),
		ModTime:    t0.Add(time.Duration(gen) * time.Second),
		Generation: gen,
		Record:     []byte("record:" + key + fmt.Sprint(gen)),
	}
}

func mustPut(t *testing.T, c catalog.Catalog, e catalog.Entry) {
	t.Helper()
	if _, err := c.Put(t.Context(), e); err != nil {
		t.Fatalf("Put(%s/%q gen %d): %v", e.Bucket, e.Key, e.Generation, err)
	}
}

// diffEntry describes how got differs from want, or returns "".
func diffEntry(got, want catalog.Entry) string {
	var d []string
	if got.Bucket != want.Bucket || got.Key != want.Key {
		d = append(d, fmt.Sprintf("name %s/%q, want %s/%q", got.Bucket, got.Key, want.Bucket, want.Key))
	}
	if got.Size != want.Size {
		d = append(d, fmt.Sprintf("size %d, want %d", got.Size, want.Size))
	}
	if got.ETag != want.ETag {
		d = append(d, fmt.Sprintf("etag %q, want %q", got.ETag, want.ETag))
	}
	if !got.ModTime.Equal(want.ModTime) {
		d = append(d, fmt.Sprintf("modtime %v, want %v", got.ModTime, want.ModTime))
	}
	if got.Generation != want.Generation {
		d = append(d, fmt.Sprintf("generation %d, want %d", got.Generation, want.Generation))
	}
	if !bytes.Equal(got.Record, want.Record) {
		d = append(d, fmt.Sprintf("record %q, want %q", got.Record, want.Record))
	}
	return strings.Join(d, "; ")
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}

func testBuckets(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	if bs, err := c.ListBuckets(ctx); err != nil || len(bs) != 0 {
		t.Fatalf("ListBuckets on empty catalog = %v, %v", bs, err)
	}
	names := []string{"zeta", "alpha", "m.id-dle", "Beta"}
	for i, n := range names {
		if err := c.CreateBucket(ctx, catalog.Bucket{Name: n, Created: t0.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatalf("CreateBucket(%q): %v", n, err)
		}
	}
	owner := strings.Repeat("0f", 32)
	if err := c.CreateBucket(ctx, catalog.Bucket{Name: "owned", Created: t0, Owner: owner}); err != nil {
		t.Fatalf("CreateBucket with owner: %v", err)
	}
	if b, err := c.GetBucket(ctx, "owned"); err != nil || b.Owner != owner {
		t.Errorf("GetBucket(owned) = %+v, %v; want owner %s", b, err, owner)
	}
	if b, err := c.GetBucket(ctx, "alpha"); err != nil || b.Owner != "" {
		t.Errorf("GetBucket(alpha) = %+v, %v; want no owner", b, err)
	}
	if bs, err := c.ListBuckets(ctx); err != nil || len(bs) != len(names)+1 || bs[len(bs)-2].Name != "owned" || bs[len(bs)-2].Owner != owner {
		t.Errorf("ListBuckets = %+v, %v; want owned with its owner", bs, err)
	}
	if err := c.DeleteBucket(ctx, "owned"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "CreateBucket twice", c.CreateBucket(ctx, catalog.Bucket{Name: "alpha"}), catalog.ErrBucketExists)
	wantErr(t, "CreateBucket empty name", c.CreateBucket(ctx, catalog.Bucket{}), catalog.ErrInvalid)

	b, err := c.GetBucket(ctx, "m.id-dle")
	if err != nil || b.Name != "m.id-dle" || !b.Created.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("GetBucket = %+v, %v", b, err)
	}
	_, err = c.GetBucket(ctx, "nope")
	wantErr(t, "GetBucket missing", err, catalog.ErrNoSuchBucket)

	bs, err := c.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range bs {
		got = append(got, b.Name)
	}
	if want := []string{"Beta", "alpha", "m.id-dle", "zeta"}; !slices.Equal(got, want) {
		t.Errorf("ListBuckets = %q, want %q", got, want)
	}

	// Not empty: an object.
	mustPut(t, c, entry("alpha", "k", 1))
	wantErr(t, "DeleteBucket with object", c.DeleteBucket(ctx, "alpha"), catalog.ErrBucketNotEmpty)
	if _, err := c.Delete(ctx, "alpha", "k", 0); err != nil {
		t.Fatal(err)
	}
	// Not empty: an upload in progress.
	if err := c.CreateUpload(ctx, catalog.Upload{ID: "u1", Bucket: "alpha", Key: "k", Initiated: t0}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteBucket with upload", c.DeleteBucket(ctx, "alpha"), catalog.ErrBucketNotEmpty)
	if _, err := c.DeleteUpload(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteBucket(ctx, "alpha"); err != nil {
		t.Fatalf("DeleteBucket empty: %v", err)
	}
	wantErr(t, "DeleteBucket twice", c.DeleteBucket(ctx, "alpha"), catalog.ErrNoSuchBucket)
	_, err = c.GetBucket(ctx, "alpha")
	wantErr(t, "GetBucket deleted", err, catalog.ErrNoSuchBucket)

	// A re-created bucket starts empty.
	mustPut(t, c, entry("zeta", "x", 1))
	if _, err := c.Delete(ctx, "zeta", "x", 0); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteBucket(ctx, "zeta"); err != nil {
		t.Fatal(err)
	}
	mustCreateBucket(t, c, "zeta")
	res, err := c.List(ctx, catalog.ListOptions{Bucket: "zeta"})
	if err != nil || len(res.Entries) != 0 {
		t.Errorf("List of re-created bucket = %+v, %v", res, err)
	}
}

func testPutGetDelete(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	mustCreateBucket(t, c, "b")
	mustCreateBucket(t, c, "other")
	e1 := entry("b", "dir/file.txt", 1)
	prev, err := c.Put(ctx, e1)
	if err != nil || prev != nil {
		t.Fatalf("first Put = %v, %v; want nil, nil", prev, err)
	}
	got, err := c.Get(ctx, "b", "dir/file.txt")
	if err != nil {
		t.Fatal(err)
	}
	if d := diffEntry(got, e1); d != "" {
		t.Errorf("Get: %s", d)
	}
	_, err = c.Get(ctx, "other", "dir/file.txt")
	wantErr(t, "Get in other bucket", err, catalog.ErrNotFound)
	_, err = c.Get(ctx, "b", "dir/file")
	wantErr(t, "Get of a prefix", err, catalog.ErrNotFound)

	// Stored bytes are the catalog's own: neither the caller's slice
	// nor a returned slice aliases them.
	e2 := entry("b", "dir/file.txt", 2)
	e2.ModTime = time.Time{}
	rec := e2.Record
	prev, err = c.Put(ctx, e2)
	if err != nil {
		t.Fatal(err)
	}
	if prev == nil {
		t.Fatal("second Put returned no previous entry")
	}
	if d := diffEntry(*prev, e1); d != "" {
		t.Errorf("Put prev: %s", d)
	}
	want := e2
	want.Record = bytes.Clone(rec)
	rec[0] ^= 0xff
	got, err = c.Get(ctx, "b", "dir/file.txt")
	if err != nil {
		t.Fatal(err)
	}
	if d := diffEntry(got, want); d != "" {
		t.Errorf("Get after caller changed its slice: %s", d)
	}
	if !got.ModTime.IsZero() {
		t.Errorf("zero ModTime came back as %v", got.ModTime)
	}
	got.Record[0] ^= 0xff
	got2, _ := c.Get(ctx, "b", "dir/file.txt")
	if d := diffEntry(got2, want); d != "" {
		t.Errorf("Get after changing a returned slice: %s", d)
	}

	// Empty and nil records.
	e3 := entry("b", "empty", 1)
	e3.Record, e3.Size, e3.ETag = nil, 0, ""
	mustPut(t, c, e3)
	if got, err := c.Get(ctx, "b", "empty"); err != nil || len(got.Record) != 0 || got.Size != 0 || got.ETag != "" {
		t.Errorf("Get empty = %+v, %v", got, err)
	}

	old, err := c.Delete(ctx, "b", "dir/file.txt", 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffEntry(*old, want); d != "" {
		t.Errorf("Delete returned: %s", d)
	}
	_, err = c.Get(ctx, "b", "dir/file.txt")
	wantErr(t, "Get after Delete", err, catalog.ErrNotFound)
	_, err = c.Delete(ctx, "b", "dir/file.txt", 0)
	wantErr(t, "Delete twice", err, catalog.ErrNotFound)
}

func testKeys(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	mustCreateBucket(t, c, "b")
	keys := []string{
		"/", "//", "a/", "\x00", "a\x00b", "\x00\x01", "\xff\xfe", "ünïcødé/文件", "with space", "%2F",
		strings.Repeat("k", catalog.MaxKeyLen),
		strings.Repeat("/", catalog.MaxKeyLen),
	}
	for i, k := range keys {
		mustPut(t, c, entry("b", k, uint64(i+1)))
	}
	for i, k := range keys {
		got, err := c.Get(ctx, "b", k)
		if err != nil {
			t.Errorf("Get(%q): %v", k, err)
			continue
		}
		if d := diffEntry(got, entry("b", k, uint64(i+1))); d != "" {
			t.Errorf("Get(%q): %s", k, d)
		}
	}
	res, err := c.List(ctx, catalog.ListOptions{Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range res.Entries {
		got = append(got, e.Key)
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q (byte order)", got, want)
	}
	_, err = c.Put(ctx, entry("b", strings.Repeat("k", catalog.MaxKeyLen+1), 1))
	wantErr(t, "Put over-long key", err, catalog.ErrInvalid)
	_, err = c.Put(ctx, entry("b", "", 1))
	wantErr(t, "Put empty key", err, catalog.ErrInvalid)
	_, err = c.Put(ctx, entry("", "k", 1))
	wantErr(t, "Put empty bucket", err, catalog.ErrInvalid)
}

func testGenerations(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	mustCreateBucket(t, c, "b")
	mustPut(t, c, entry("b", "k", 5))
	tests := []struct {
		gen  uint64
		want error
	}{
		{4, catalog.ErrStale},
		{5, catalog.ErrStale},
		{0, catalog.ErrStale},
		{6, nil},
		{6, catalog.ErrStale},
		{100, nil},
	}
	for _, tt := range tests {
		prev, err := c.Put(ctx, entry("b", "k", tt.gen))
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("Put gen %d: err = %v, want %v", tt.gen, err, tt.want)
		}
		if err != nil && prev != nil {
			t.Errorf("Put gen %d failed but returned prev %+v", tt.gen, prev)
		}
	}
	if got, _ := c.Get(ctx, "b", "k"); got.Generation != 100 {
		t.Errorf("generation after races = %d, want 100", got.Generation)
	}
	// Delete honours the generation too.
	_, err := c.Delete(ctx, "b", "k", 99)
	wantErr(t, "Delete below stored generation", err, catalog.ErrStale)
	if _, err := c.Get(ctx, "b", "k"); err != nil {
		t.Errorf("stale Delete removed the entry: %v", err)
	}
	if old, err := c.Delete(ctx, "b", "k", 100); err != nil || old.Generation != 100 {
		t.Errorf("Delete at stored generation = %+v, %v", old, err)
	}
	mustPut(t, c, entry("b", "k2", 7))
	if _, err := c.Delete(ctx, "b", "k2", 8); err != nil {
		t.Errorf("Delete above stored generation: %v", err)
	}
	// After a delete, any generation may be put again (a delete marker
	// is the gateway's business, not the catalog's).
	mustPut(t, c, entry("b", "k", 1))
}

func testNoSuchBucket(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	_, err := c.Get(ctx, "nb", "k")
	wantErr(t, "Get", err, catalog.ErrNoSuchBucket)
	_, err = c.Put(ctx, entry("nb", "k", 1))
	wantErr(t, "Put", err, catalog.ErrNoSuchBucket)
	_, err = c.Delete(ctx, "nb", "k", 0)
	wantErr(t, "Delete", err, catalog.ErrNoSuchBucket)
	_, err = c.List(ctx, catalog.ListOptions{Bucket: "nb"})
	wantErr(t, "List", err, catalog.ErrNoSuchBucket)
	err = c.CreateUpload(ctx, catalog.Upload{ID: "u", Bucket: "nb", Key: "k"})
	wantErr(t, "CreateUpload", err, catalog.ErrNoSuchBucket)
	_, _, err = c.ListUploads(ctx, "nb", "", "", "", 0)
	wantErr(t, "ListUploads", err, catalog.ErrNoSuchBucket)
	err = c.DeleteBucket(ctx, "nb")
	wantErr(t, "DeleteBucket", err, catalog.ErrNoSuchBucket)
}

func testCanceled(t *testing.T, c catalog.Catalog) {
	mustCreateBucket(t, c, "b")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Put(ctx, entry("b", "k", 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with canceled context: %v", err)
	}
	if _, err := c.Get(ctx, "b", "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with canceled context: %v", err)
	}
	if _, err := c.List(ctx, catalog.ListOptions{Bucket: "b"}); !errors.Is(err, context.Canceled) {
		t.Errorf("List with canceled context: %v", err)
	}
	if _, err := c.Get(t.Context(), "b", "k"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("canceled Put stored the entry: %v", err)
	}
}

func testWalk(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	var want []string
	for _, b := range []string{"b2", "b1", "empty"} {
		mustCreateBucket(t, c, b)
	}
	for _, b := range []string{"b1", "b2"} {
		for i := range 300 { // more than one batch of 256
			k := fmt.Sprintf("k%04d", i)
			mustPut(t, c, entry(b, k, 1))
			want = append(want, b+"/"+k)
		}
	}
	var got []string
	err := c.Walk(ctx, func(e catalog.Entry) error {
		got = append(got, e.Bucket+"/"+e.Key)
		if d := diffEntry(e, entry(e.Bucket, e.Key, 1)); d != "" {
			return fmt.Errorf("walked entry: %s", d)
		}
		// fn may write to the catalog.
		if _, err := c.Delete(ctx, e.Bucket, e.Key, 0); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Walk visited %d entries, want %d in bucket and key order", len(got), len(want))
	}
	res, err := c.List(ctx, catalog.ListOptions{Bucket: "b1"})
	if err != nil || len(res.Entries) != 0 {
		t.Errorf("entries left after deleting during Walk: %d, %v", len(res.Entries), err)
	}
	// An error from fn stops the walk.
	mustPut(t, c, entry("b1", "a", 1))
	mustPut(t, c, entry("b1", "b", 1))
	stop := errors.New("stop")
	n := 0
	err = c.Walk(ctx, func(catalog.Entry) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("Walk with failing fn: err = %v after %d calls", err, n)
	}
}

func testConcurrentPut(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	mustCreateBucket(t, c, "b")
	const workers, perWorker = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				gen := uint64(i*workers + w + 1)
				_, err := c.Put(ctx, entry("b", "hot", gen))
				if err != nil && !errors.Is(err, catalog.ErrStale) {
					errs <- err
				}
				if _, err := c.Put(ctx, entry("b", fmt.Sprintf("w%d-%d", w, i), 1)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := c.Get(ctx, "b", "hot")
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(workers * perWorker); got.Generation != want {
		t.Errorf("hot key generation = %d, want the highest, %d", got.Generation, want)
	}
	res, err := c.List(ctx, catalog.ListOptions{Bucket: "b", Prefix: "w", Limit: 1000})
	if err != nil || len(res.Entries) != workers*perWorker {
		t.Errorf("listed %d entries, want %d (%v)", len(res.Entries), workers*perWorker, err)
	}
}

// seeded returns the suite's deterministic random source.
func seeded(salt uint64) *rand.Rand { return rand.New(rand.NewPCG(20260314, salt)) }

// testMove checks that Move is Delete plus Put in one step: on any error
// neither side changes.
func testMove(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	mustCreateBucket(t, c, "a")
	mustCreateBucket(t, c, "b")
	state := func(bucket, key string) string {
		e, err := c.Get(ctx, bucket, key)
		if err != nil {
			return "absent"
		}
		return fmt.Sprint(e.Generation)
	}
	tests := []struct {
		name             string
		setup            []catalog.Entry
		src              catalog.Entry // bucket, key and the generation to expect
		dst              catalog.Entry
		want             error
		wantSrc, wantDst string // generation after the call, or "absent"
		wantPrev         string // generation of the returned entry, or "nil"
	}{
		{"to a new name", []catalog.Entry{entry("a", "m1", 5)}, entry("a", "m1", 5), entry("a", "n1", 6), nil, "absent", "6", "nil"},
		{"to another bucket over an object", []catalog.Entry{entry("a", "m2", 5), entry("b", "n2", 3)}, entry("a", "m2", 5), entry("b", "n2", 6), nil, "absent", "6", "3"},
		{"source newer than expected", []catalog.Entry{entry("a", "m3", 7)}, entry("a", "m3", 5), entry("a", "n3", 8), catalog.ErrStale, "7", "absent", "nil"},
		{"missing source", nil, entry("a", "m4", 5), entry("a", "n4", 8), catalog.ErrNotFound, "absent", "absent", "nil"},
		{"destination newer", []catalog.Entry{entry("a", "m5", 5), entry("a", "n5", 9)}, entry("a", "m5", 5), entry("a", "n5", 8), catalog.ErrStale, "5", "9", "nil"},
		{"destination bucket missing", []catalog.Entry{entry("a", "m6", 5)}, entry("a", "m6", 5), entry("nope", "n6", 8), catalog.ErrNoSuchBucket, "5", "absent", "nil"},
		{"onto itself", []catalog.Entry{entry("a", "m7", 5)}, entry("a", "m7", 5), entry("a", "m7", 8), catalog.ErrInvalid, "5", "5", "nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, e := range tt.setup {
				mustPut(t, c, e)
			}
			prev, err := c.Move(ctx, tt.src.Bucket, tt.src.Key, tt.src.Generation, tt.dst)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Move: %v, want %v", err, tt.want)
			}
			if got := state(tt.src.Bucket, tt.src.Key); got != tt.wantSrc {
				t.Errorf("source: %s, want %s", got, tt.wantSrc)
			}
			if got := state(tt.dst.Bucket, tt.dst.Key); got != tt.wantDst {
				t.Errorf("destination: %s, want %s", got, tt.wantDst)
			}
			gotPrev := "nil"
			if prev != nil {
				gotPrev = fmt.Sprint(prev.Generation)
			}
			if gotPrev != tt.wantPrev {
				t.Errorf("replaced entry: %s, want %s", gotPrev, tt.wantPrev)
			}
			if tt.want == nil {
				got, _ := c.Get(ctx, tt.dst.Bucket, tt.dst.Key)
				if d := diffEntry(got, tt.dst); d != "" {
					t.Errorf("destination entry: %s", d)
				}
			}
		})
	}
}
