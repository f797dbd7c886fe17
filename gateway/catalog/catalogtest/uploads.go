package catalogtest

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/gateway/catalog"
)

func testUploads(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	mustCreateBucket(t, c, "b")
	u := catalog.Upload{ID: "id-1", Bucket: "b", Key: "big/file", Initiated: t0, Record: []byte("state")}
	if err := c.CreateUpload(ctx, u); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "CreateUpload twice", c.CreateUpload(ctx, u), catalog.ErrUploadExists)
	wantErr(t, "CreateUpload empty ID", c.CreateUpload(ctx, catalog.Upload{Bucket: "b", Key: "k"}), catalog.ErrInvalid)
	wantErr(t, "CreateUpload empty key", c.CreateUpload(ctx, catalog.Upload{ID: "x", Bucket: "b"}), catalog.ErrInvalid)

	got, err := c.GetUpload(ctx, "id-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != u.ID || got.Bucket != u.Bucket || got.Key != u.Key || !got.Initiated.Equal(u.Initiated) || !bytes.Equal(got.Record, u.Record) {
		t.Errorf("GetUpload = %+v, want %+v", got, u)
	}
	_, err = c.GetUpload(ctx, "id-2")
	wantErr(t, "GetUpload missing", err, catalog.ErrNoSuchUpload)

	// An upload is not an object.
	_, err = c.Get(ctx, "b", "big/file")
	wantErr(t, "Get of an upload's key", err, catalog.ErrNotFound)

	if _, err := c.PutPart(ctx, "id-1", catalog.Part{Number: 1, Size: 5, ETag: "e1", Uploaded: t0}); err != nil {
		t.Fatal(err)
	}
	parts, err := c.DeleteUpload(ctx, "id-1")
	if err != nil || len(parts) != 1 || parts[0].Number != 1 {
		t.Errorf("DeleteUpload = %+v, %v", parts, err)
	}
	_, err = c.GetUpload(ctx, "id-1")
	wantErr(t, "GetUpload after delete", err, catalog.ErrNoSuchUpload)
	_, err = c.DeleteUpload(ctx, "id-1")
	wantErr(t, "DeleteUpload twice", err, catalog.ErrNoSuchUpload)
	_, _, err = c.ListParts(ctx, "id-1", 0, 0)
	wantErr(t, "ListParts after delete", err, catalog.ErrNoSuchUpload)

	// The ID can be reused and starts with no parts.
	if err := c.CreateUpload(ctx, u); err != nil {
		t.Fatal(err)
	}
	if ps, _, err := c.ListParts(ctx, "id-1", 0, 0); err != nil || len(ps) != 0 {
		t.Errorf("parts of a reused upload ID = %+v, %v", ps, err)
	}
}

func testParts(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	mustCreateBucket(t, c, "b")
	if err := c.CreateUpload(ctx, catalog.Upload{ID: "u", Bucket: "b", Key: "k", Initiated: t0}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateUpload(ctx, catalog.Upload{ID: "other", Bucket: "b", Key: "k", Initiated: t0}); err != nil {
		t.Fatal(err)
	}
	part := func(n int, v string) catalog.Part {
		return catalog.Part{Number: n, Size: int64(n) * 100, ETag: v, Record: []byte("rec-" + v), Uploaded: t0.Add(time.Duration(n) * time.Millisecond)}
	}
	numbers := []int{3, 1, 10000, 2, 256, 257, 65}
	for _, n := range numbers {
		prev, err := c.PutPart(ctx, "u", part(n, fmt.Sprint("v1-", n)))
		if err != nil || prev != nil {
			t.Fatalf("PutPart(%d) = %+v, %v", n, prev, err)
		}
	}
	prev, err := c.PutPart(ctx, "u", part(2, "v2-2"))
	if err != nil || prev == nil || prev.ETag != "v1-2" || prev.Number != 2 || !bytes.Equal(prev.Record, []byte("rec-v1-2")) {
		t.Errorf("replacing PutPart = %+v, %v", prev, err)
	}
	if _, err := c.PutPart(ctx, "other", part(1, "o")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, -1, catalog.MaxPartNumber + 1} {
		_, err := c.PutPart(ctx, "u", part(n, "bad"))
		wantErr(t, fmt.Sprintf("PutPart(%d)", n), err, catalog.ErrInvalid)
	}
	_, err = c.PutPart(ctx, "missing", part(1, "x"))
	wantErr(t, "PutPart to missing upload", err, catalog.ErrNoSuchUpload)

	sortedNums := slices.Sorted(slices.Values(numbers))
	tests := []struct {
		marker, limit int
		want          []int
		truncated     bool
	}{
		{0, 0, sortedNums, false},
		{0, 7, sortedNums, false},
		{0, 6, sortedNums[:6], true},
		{0, 2, []int{1, 2}, true},
		{2, 2, []int{3, 65}, true},
		{65, 10, []int{256, 257, 10000}, false},
		{257, 1, []int{10000}, false},
		{10000, 5, nil, false},
		{-5, 1, []int{1}, true},
	}
	for _, tt := range tests {
		ps, truncated, err := c.ListParts(ctx, "u", tt.marker, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, p := range ps {
			got = append(got, p.Number)
			want := part(p.Number, fmt.Sprint("v1-", p.Number))
			if p.Number == 2 {
				want = part(2, "v2-2")
			}
			if p.Size != want.Size || p.ETag != want.ETag || !bytes.Equal(p.Record, want.Record) || !p.Uploaded.Equal(want.Uploaded) {
				t.Errorf("part %d = %+v, want %+v", p.Number, p, want)
			}
		}
		if !slices.Equal(got, tt.want) || truncated != tt.truncated {
			t.Errorf("ListParts(marker %d, limit %d) = %v truncated %v, want %v truncated %v", tt.marker, tt.limit, got, truncated, tt.want, tt.truncated)
		}
	}
	deleted, err := c.DeleteUpload(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, p := range deleted {
		got = append(got, p.Number)
	}
	if !slices.Equal(got, sortedNums) {
		t.Errorf("DeleteUpload returned parts %v, want %v", got, sortedNums)
	}
	if ps, _, err := c.ListParts(ctx, "other", 0, 0); err != nil || len(ps) != 1 {
		t.Errorf("the other upload's parts = %+v, %v", ps, err)
	}
}

type uploadRef struct{ key, id string }

// referenceUploads lists uploads by brute force, as ListUploads must.
func referenceUploads(all []uploadRef, prefix, keyMarker, idMarker string, limit int) ([]uploadRef, bool) {
	if limit <= 0 {
		limit = catalog.DefaultLimit
	}
	var out []uploadRef
	for _, u := range all {
		if !strings.HasPrefix(u.key, prefix) {
			continue
		}
		if keyMarker != "" {
			if idMarker == "" && u.key <= keyMarker {
				continue
			}
			if idMarker != "" && (u.key < keyMarker || (u.key == keyMarker && u.id <= idMarker)) {
				continue
			}
		}
		out = append(out, u)
	}
	if len(out) > limit {
		return out[:limit], true
	}
	return out, false
}

func testListUploads(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	mustCreateBucket(t, c, "b")
	mustCreateBucket(t, c, "other")
	if err := c.CreateUpload(ctx, catalog.Upload{ID: "zz", Bucket: "other", Key: "a", Initiated: t0}); err != nil {
		t.Fatal(err)
	}
	r := seeded(3)
	var all []uploadRef
	for i := range 120 {
		u := uploadRef{key: randomKey(r, []string{"a", "b", "/", "\x00"}, 4), id: fmt.Sprintf("id%03d", r.IntN(1000)*1000+i)}
		if err := c.CreateUpload(ctx, catalog.Upload{ID: u.id, Bucket: "b", Key: u.key, Initiated: t0}); err != nil {
			t.Fatal(err)
		}
		all = append(all, u)
	}
	slices.SortFunc(all, func(a, b uploadRef) int { return cmp.Or(strings.Compare(a.key, b.key), strings.Compare(a.id, b.id)) })

	check := func(prefix, keyMarker, idMarker string, limit int) ([]catalog.Upload, bool) {
		t.Helper()
		got, truncated, err := c.ListUploads(ctx, "b", prefix, keyMarker, idMarker, limit)
		if err != nil {
			t.Fatalf("ListUploads: %v", err)
		}
		want, wantT := referenceUploads(all, prefix, keyMarker, idMarker, limit)
		var gotRefs []uploadRef
		for _, u := range got {
			gotRefs = append(gotRefs, uploadRef{u.Key, u.ID})
			if u.Bucket != "b" {
				t.Errorf("upload %s in bucket %q", u.ID, u.Bucket)
			}
		}
		if !slices.Equal(gotRefs, want) || truncated != wantT {
			t.Errorf("ListUploads(prefix %q, key %q, id %q, limit %d)\n got %q truncated %v\nwant %q truncated %v",
				prefix, keyMarker, idMarker, limit, gotRefs, truncated, want, wantT)
		}
		return got, truncated
	}
	for range 200 {
		var prefix, keyMarker, idMarker string
		if r.IntN(2) == 0 {
			prefix = randomKey(r, []string{"a", "b", "/"}, 2)
		}
		switch r.IntN(3) {
		case 1:
			u := all[r.IntN(len(all))]
			keyMarker = u.key
			if r.IntN(2) == 0 {
				idMarker = u.id
			}
		case 2:
			keyMarker = randomKey(r, []string{"a", "b", "/"}, 3)
			if r.IntN(2) == 0 {
				idMarker = "id5"
			}
		}
		check(prefix, keyMarker, idMarker, []int{0, 1, 3, 10}[r.IntN(4)])
	}
	// Paging with the last key and ID returns everything once.
	var n int
	keyMarker, idMarker := "", ""
	for {
		page, truncated := check("", keyMarker, idMarker, 7)
		n += len(page)
		if !truncated {
			break
		}
		keyMarker, idMarker = page[len(page)-1].Key, page[len(page)-1].ID
	}
	if n != len(all) {
		t.Errorf("paged through %d uploads, want %d", n, len(all))
	}
}
