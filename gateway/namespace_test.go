package gateway_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/twincrypt/twincrypt/internal/testns"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/backends/local"
	"github.com/twincrypt/twincrypt/backends/replica"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/keyring"
)

// env is a namespace over two local backends and a bolt catalog.
type env struct {
	ns      *gateway.Namespace
	members []*local.Backend
	cat     *catalog.Bolt
	keys    *keyring.Keyring
	set     *replica.Set
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	keys := testns.Keys(t, dir)
	e := &env{keys: keys}
	var err error
	var members []replica.Member
	for i, j := range []string{"DE", "CH"} {
		b, err := local.New(fmt.Sprintf("b%d", i), filepath.Join(dir, fmt.Sprintf("b%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		e.members = append(e.members, b)
		members = append(members, replica.Member{Backend: b, Jurisdiction: j})
	}
	e.cat, err = catalog.OpenBolt(filepath.Join(dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.cat.Close() })
	e.set, err = replica.New(members, replica.Options{Queue: e.cat})
	if err != nil {
		t.Fatal(err)
	}
	e.ns, err = gateway.New(gateway.Options{Keys: keys, Store: e.set, Catalog: e.cat})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ns.CreateBucket(context.Background(), "bucket"); err != nil {
		t.Fatal(err)
	}
	return e
}

// names lists every object name on member i.
func (e *env) names(t *testing.T, i int, prefix string) []string {
	t.Helper()
	var out []string
	after := ""
	for {
		page, err := e.members[i].List(context.Background(), prefix, after, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			out = append(out, it.Name)
		}
		if page.Next == "" {
			return out
		}
		after = page.Next
	}
}

func payload(n int, seed uint64) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return b
}

func (e *env) get(t *testing.T, key string, off, n int64) []byte {
	t.Helper()
	o, err := e.ns.Object(context.Background(), "bucket", key)
	if err != nil {
		t.Fatal(err)
	}
	r, err := o.NewReader(context.Background(), off, n)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	// The same range through WriteTo, the path io.Copy takes.
	r2, err := o.NewReader(context.Background(), off, n)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	var w bytes.Buffer
	if _, err := r2.(io.WriterTo).WriteTo(&w); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if !bytes.Equal(w.Bytes(), b) {
		t.Fatalf("%s [%d, +%d): WriteTo wrote %d bytes, Read read %d, or they differ", key, off, n, w.Len(), len(b))
	}
	return b
}

func TestPutGetRoundTrip(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, size := range []int{0, 1, 65535, 65536, 65537, 3<<20 + 7} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := payload(size, uint64(size))
			key := fmt.Sprintf("dir/obj-%d", size)
			for _, declared := range []int64{int64(size), -1} {
				info, err := e.ns.PutObject(ctx, "bucket", key, bytes.NewReader(data), declared, gateway.PutOptions{Meta: map[string]string{"content-type": "text/plain", "X-Amz-Meta-Color": "blue", "Authorization": "x"}})
				if err != nil {
					t.Fatal(err)
				}
				sum := md5.Sum(data)
				if info.ETag != hex.EncodeToString(sum[:]) || info.Size != int64(size) {
					t.Fatalf("info %+v", info)
				}
				if got := e.get(t, key, 0, -1); !bytes.Equal(got, data) {
					t.Fatalf("round trip of %d bytes (declared %d) differs", size, declared)
				}
			}
			o, err := e.ns.Object(ctx, "bucket", key)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"Content-Type": "text/plain", "X-Amz-Meta-Color": "blue"}
			if fmt.Sprint(o.Meta) != fmt.Sprint(want) {
				t.Errorf("meta %v, want %v (nothing else from the request)", o.Meta, want)
			}
			// Ranges at chunk edges.
			for _, r := range [][2]int64{{0, 1}, {65535, 2}, {65536, 1}, {int64(size) - 1, 1}, {1, int64(size) - 2}} {
				if r[0] < 0 || r[1] < 0 || r[0]+r[1] > int64(size) || (size > 0 && r[0] >= int64(size)) {
					continue
				}
				if got := e.get(t, key, r[0], r[1]); !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
					t.Errorf("range %v differs", r)
				}
			}
		})
	}
}

func TestBackendsHoldNoNames(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	secret := "very/secret/name.txt"
	if _, err := e.ns.PutObject(ctx, "bucket", secret, strings.NewReader("secret content"), 14, gateway.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range e.members {
		all := e.names(t, i, "")
		if len(all) != 2 { // bucket record, object record holding the content (inline)
			t.Errorf("member %d holds %d objects, want 2: %v", i, len(all), all)
		}
		for _, n := range all {
			if !(strings.HasPrefix(n, "b/") || strings.HasPrefix(n, "m/")) || strings.Contains(n, "secret") || strings.Contains(n, "bucket") {
				t.Errorf("backend name %q", n)
			}
			rc, err := e.members[i].Get(ctx, n, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			for _, needle := range []string{"secret", "bucket", "content"} {
				if bytes.Contains(b, []byte(needle)) {
					t.Errorf("backend object %s contains %q", n, needle)
				}
			}
		}
	}
}

func TestOverwriteDeletesSupersededBlob(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 3 {
		data := payload(70000+i, uint64(i))
		if _, err := e.ns.PutObject(ctx, "bucket", "k", bytes.NewReader(data), int64(len(data)), gateway.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := e.get(t, "k", 0, -1); !bytes.Equal(got, data) {
			t.Fatalf("version %d differs", i)
		}
	}
	for i := range e.members {
		if blobs := e.names(t, i, "b/"); len(blobs) != 1 {
			t.Errorf("member %d holds %d blobs after 3 writes of one key, want 1", i, len(blobs))
		}
	}
}

func TestFailedBodyKeepsOldObject(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := payload(100000, 1)
	if _, err := e.ns.PutObject(ctx, "bucket", "k", bytes.NewReader(old), int64(len(old)), gateway.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("connection reset")
	tests := []struct {
		name    string
		body    io.Reader
		size    int64
		wantErr error
	}{
		{"short body", bytes.NewReader(payload(1000, 2)), 200000, gateway.ErrIncompleteBody},
		{"long body", bytes.NewReader(payload(1000, 2)), 999, gateway.ErrPrecondition},
		{"content for size 0", strings.NewReader("x"), 0, gateway.ErrPrecondition},
		{"read error", io.MultiReader(bytes.NewReader(payload(70000, 3)), iotest.ErrReader(boom)), 200000, boom},
		{"read error, unknown size", io.MultiReader(bytes.NewReader(payload(70000, 3)), iotest.ErrReader(boom)), -1, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.ns.PutObject(ctx, "bucket", "k", tt.body, tt.size, gateway.PutOptions{})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if got := e.get(t, "k", 0, -1); !bytes.Equal(got, old) {
				t.Fatal("old object changed")
			}
			for i := range e.members {
				if blobs := e.names(t, i, "b/"); len(blobs) != 1 {
					t.Errorf("member %d holds %d blobs, want only the old one", i, len(blobs))
				}
			}
		})
	}
}

func TestKeyAndBucketValidation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		bucket, key string
		want        error
	}{
		{"bucket", strings.Repeat("k", 1025), gateway.ErrKeyTooLong},
		{"bucket", "", gateway.ErrInvalidKey},
		{"bucket", "bad\x00key", gateway.ErrInvalidKey},
		{"bucket", "bad\xffutf8", gateway.ErrInvalidKey},
		{"nobucket", "k", gateway.ErrNoSuchBucket},
	}
	for _, tt := range tests {
		if _, err := e.ns.PutObject(ctx, tt.bucket, tt.key, strings.NewReader("x"), 1, gateway.PutOptions{}); !errors.Is(err, tt.want) {
			t.Errorf("put %q/%q: %v, want %v", tt.bucket, tt.key, err, tt.want)
		}
	}
	if _, err := e.ns.PutObject(ctx, "bucket", strings.Repeat("k", 1024), strings.NewReader("x"), 1, gateway.PutOptions{}); err != nil {
		t.Errorf("1024-byte key: %v", err)
	}
	for _, name := range []string{"A", "ab", "-abc", "abc-", "a..b", "192.168.1.1", strings.Repeat("a", 64), "under_score"} {
		if err := e.ns.CreateBucket(ctx, name); !errors.Is(err, gateway.ErrInvalidBucketName) {
			t.Errorf("bucket %q: %v", name, err)
		}
	}
	if err := e.ns.CreateBucket(ctx, "bucket"); !errors.Is(err, gateway.ErrBucketExists) {
		t.Errorf("duplicate bucket: %v", err)
	}
	if err := e.ns.DeleteBucket(ctx, "bucket"); !errors.Is(err, gateway.ErrBucketNotEmpty) {
		t.Errorf("delete non-empty bucket: %v", err)
	}
}

func TestMultipart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id, err := e.ns.CreateUpload(ctx, "bucket", "big", map[string]string{"Content-Type": "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	p1, p2, p3 := payload(gateway.MinPartSize, 1), payload(gateway.MinPartSize+1, 2), payload(1234, 3)
	var etags []string
	for i, p := range [][]byte{p1, p2, payload(10, 9), p3} {
		n := i + 1
		if i == 3 {
			n = 3 // replaces the 10-byte part 3
		}
		etag, err := e.ns.UploadPart(ctx, "bucket", "big", id, n, bytes.NewReader(p), int64(len(p)))
		if err != nil {
			t.Fatal(err)
		}
		if i != 2 {
			etags = append(etags, etag)
		}
	}
	parts, _, err := e.ns.Parts(ctx, "bucket", "big", id, 0, 100)
	if err != nil || len(parts) != 3 || parts[2].Size != 1234 {
		t.Fatalf("parts %+v %v", parts, err)
	}
	if _, err := e.ns.CompleteUpload(ctx, "bucket", "big", id, []gateway.CompletedPart{{Number: 2, ETag: etags[1]}, {Number: 1, ETag: etags[0]}}); !errors.Is(err, gateway.ErrInvalidPartOrder) {
		t.Errorf("unordered: %v", err)
	}
	if _, err := e.ns.CompleteUpload(ctx, "bucket", "big", id, []gateway.CompletedPart{{Number: 1, ETag: etags[0]}, {Number: 2, ETag: "bad"}}); !errors.Is(err, gateway.ErrInvalidPart) {
		t.Errorf("wrong etag: %v", err)
	}
	if _, err := e.ns.CompleteUpload(ctx, "bucket", "big", id, []gateway.CompletedPart{{Number: 3, ETag: etags[2]}, {Number: 2, ETag: etags[1]}}); !errors.Is(err, gateway.ErrInvalidPartOrder) {
		t.Errorf("descending: %v", err)
	}
	info, err := e.ns.CompleteUpload(ctx, "bucket", "big", id, []gateway.CompletedPart{{Number: 1, ETag: etags[0]}, {Number: 2, ETag: `"` + etags[1] + `"`}, {Number: 3, ETag: etags[2]}})
	if err != nil {
		t.Fatal(err)
	}
	h := md5.New()
	for _, p := range [][]byte{p1, p2, p3} {
		s := md5.Sum(p)
		h.Write(s[:])
	}
	if want := hex.EncodeToString(h.Sum(nil)) + "-3"; info.ETag != want {
		t.Errorf("etag %s, want %s", info.ETag, want)
	}
	whole := append(append(append([]byte(nil), p1...), p2...), p3...)
	if got := e.get(t, "big", 0, -1); !bytes.Equal(got, whole) {
		t.Fatal("multipart object differs")
	}
	edge := int64(gateway.MinPartSize)
	if got := e.get(t, "big", edge-3, 7); !bytes.Equal(got, whole[edge-3:edge+4]) {
		t.Error("range across parts differs")
	}
	o, _ := e.ns.Object(ctx, "bucket", "big")
	if o.Meta["Content-Type"] != "video/mp4" || len(o.PartSizes) != 3 {
		t.Errorf("object %+v", o.ObjectInfo)
	}
	for i := range e.members {
		if blobs := e.names(t, i, "b/"); len(blobs) != 3 {
			t.Errorf("member %d: %d blobs after complete, want 3 (replaced part deleted)", i, len(blobs))
		}
	}
	if _, _, err := e.ns.Parts(ctx, "bucket", "big", id, 0, 10); !errors.Is(err, gateway.ErrNoSuchUpload) {
		t.Errorf("parts after complete: %v", err)
	}

	// Abort removes every part's blob.
	id2, _ := e.ns.CreateUpload(ctx, "bucket", "aborted", nil)
	if _, err := e.ns.UploadPart(ctx, "bucket", "aborted", id2, 1, bytes.NewReader(p3), int64(len(p3))); err != nil {
		t.Fatal(err)
	}
	if err := e.ns.AbortUpload(ctx, "bucket", "aborted", id2); err != nil {
		t.Fatal(err)
	}
	if blobs := e.names(t, 0, "b/"); len(blobs) != 3 {
		t.Errorf("%d blobs after abort, want 3", len(blobs))
	}
	if err := e.ns.AbortUpload(ctx, "bucket", "aborted", id2); !errors.Is(err, gateway.ErrNoSuchUpload) {
		t.Errorf("second abort: %v", err)
	}
	if err := e.ns.AbortUpload(ctx, "bucket", "aborted", "not-hex"); !errors.Is(err, gateway.ErrNoSuchUpload) {
		t.Errorf("bad id: %v", err)
	}
}

func TestCopyAndDelete(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := payload(200000, 5)
	src, err := e.ns.PutObject(ctx, "bucket", "src", bytes.NewReader(data), int64(len(data)), gateway.PutOptions{Meta: map[string]string{"Content-Type": "a/b"}})
	if err != nil {
		t.Fatal(err)
	}
	dst, err := e.ns.CopyObject(ctx, "bucket", "src", "bucket", "dst", nil)
	if err != nil {
		t.Fatal(err)
	}
	if dst.ETag != src.ETag || dst.Meta["Content-Type"] != "a/b" {
		t.Errorf("copy info %+v", dst)
	}
	// Metadata-only copy onto itself reuses the blob.
	before := e.names(t, 0, "b/")
	if _, err := e.ns.CopyObject(ctx, "bucket", "src", "bucket", "src", map[string]string{"Content-Type": "c/d"}); err != nil {
		t.Fatal(err)
	}
	if after := e.names(t, 0, "b/"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("self copy changed blobs: %v -> %v", before, after)
	}
	if err := e.ns.DeleteObject(ctx, "bucket", "src"); err != nil {
		t.Fatal(err)
	}
	if got := e.get(t, "dst", 0, -1); !bytes.Equal(got, data) {
		t.Fatal("copy differs after deleting the source")
	}
	if _, err := e.ns.Object(ctx, "bucket", "src"); !errors.Is(err, gateway.ErrNoSuchKey) {
		t.Errorf("deleted object: %v", err)
	}
	if err := e.ns.DeleteObject(ctx, "bucket", "src"); !errors.Is(err, gateway.ErrNoSuchKey) {
		t.Errorf("second delete: %v", err)
	}
	if err := e.ns.DeleteObject(ctx, "bucket", "dst"); err != nil {
		t.Fatal(err)
	}
	// Deletions leave tombstones in place of the records: the bucket
	// record and one tombstone per deleted object, no blob.
	for i := range e.members {
		if n := e.names(t, i, ""); len(n) != 3 || len(e.names(t, i, "b/")) != 0 {
			t.Errorf("member %d after deleting everything: %v (want the bucket record and two tombstones)", i, n)
		}
	}
	if err := e.ns.DeleteBucket(ctx, "bucket"); err != nil {
		t.Fatal(err)
	}
	if n := e.names(t, 0, ""); len(n) != 3 {
		t.Errorf("after bucket delete: %v, want three tombstones", n)
	}
}

func TestListFromCatalog(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, k := range []string{"a/1", "a/2", "b/1", "c", "d/e/f"} {
		if _, err := e.ns.PutObject(ctx, "bucket", k, strings.NewReader(k), int64(len(k)), gateway.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := e.ns.List(ctx, "bucket", gateway.ListOptions{Delimiter: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.CommonPrefixes) != "[a/ b/ d/]" || len(res.Objects) != 1 || res.Objects[0].Key != "c" || res.Objects[0].Size != 1 {
		t.Errorf("list: %+v", res)
	}
	res, err = e.ns.List(ctx, "bucket", gateway.ListOptions{Prefix: "a/", Limit: 1})
	if err != nil || len(res.Objects) != 1 || !res.Truncated || res.Objects[0].Key != "a/1" {
		t.Fatalf("page 1: %+v %v", res, err)
	}
	res, err = e.ns.List(ctx, "bucket", gateway.ListOptions{Prefix: "a/", Limit: 1, StartAfter: res.Next})
	if err != nil || len(res.Objects) != 1 || res.Truncated || res.Objects[0].Key != "a/2" {
		t.Fatalf("page 2: %+v %v", res, err)
	}
	if _, err := e.ns.List(ctx, "nobucket", gateway.ListOptions{}); !errors.Is(err, gateway.ErrNoSuchBucket) {
		t.Errorf("missing bucket: %v", err)
	}
}

func TestTamperedRecordIsRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.ns.PutObject(ctx, "bucket", "a", strings.NewReader("aaaa"), 4, gateway.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ns.PutObject(ctx, "bucket", "b", strings.NewReader("bbbb"), 4, gateway.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	ea, _ := e.cat.Get(ctx, "bucket", "a")
	eb, _ := e.cat.Get(ctx, "bucket", "b")
	// A record moved to another name does not authenticate.
	eb.Record, eb.Generation = ea.Record, eb.Generation+1
	if _, err := e.cat.Put(ctx, eb); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ns.Object(ctx, "bucket", "b"); !errors.Is(err, gateway.ErrIntegrity) {
		t.Errorf("swapped record: %v", err)
	}
	// A flipped bit does not authenticate.
	ea.Record = bytes.Clone(ea.Record)
	ea.Record[len(ea.Record)-3] ^= 1
	ea.Generation++
	if _, err := e.cat.Put(ctx, ea); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ns.Object(ctx, "bucket", "a"); !errors.Is(err, gateway.ErrIntegrity) {
		t.Errorf("flipped record: %v", err)
	}
}

// Corrupting one replica's blob does not change what a reader gets.
func TestCorruptReplicaFailsOver(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := payload(300000, 7)
	if _, err := e.ns.PutObject(ctx, "bucket", "k", bytes.NewReader(data), int64(len(data)), gateway.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range e.members {
		blob := e.names(t, i, "b/")[0]
		rc, _ := e.members[i].Get(ctx, blob, 0, -1)
		b, _ := io.ReadAll(rc)
		rc.Close()
		b[len(b)/2] ^= 0x40
		if err := e.members[i].Put(ctx, blob, bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if got := e.get(t, "k", 0, -1); !bytes.Equal(got, data) {
				t.Fatal("one corrupt replica changed the bytes read")
			}
		}
	}
	// Both replicas corrupt: an error, and no byte of the bad chunk.
	o, err := e.ns.Object(ctx, "bucket", "k")
	if err != nil {
		t.Fatal(err)
	}
	r, err := o.NewReader(ctx, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if !errors.Is(err, gateway.ErrIntegrity) && !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("both corrupt: err %v", err)
	}
	if !bytes.Equal(got, data[:len(got)]) || len(got) >= len(data)/2+1 {
		t.Errorf("returned %d bytes before the error; they must be a correct prefix before the bad chunk", len(got))
	}
	// The same through WriteTo, the path of S3 GET responses.
	r2, err := o.NewReader(ctx, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	var w bytes.Buffer
	n, err := r2.(io.WriterTo).WriteTo(&w)
	if !errors.Is(err, gateway.ErrIntegrity) && !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("both corrupt, WriteTo: err %v", err)
	}
	if n != int64(w.Len()) || !bytes.Equal(w.Bytes(), data[:w.Len()]) || w.Len() >= len(data)/2+1 {
		t.Errorf("WriteTo wrote %d bytes (reported %d) before the error; they must be a correct prefix before the bad chunk", w.Len(), n)
	}
}

func TestAbortStaleUploads(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ns, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: e.cat, Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := ns.CreateUpload(ctx, "bucket", "old", nil)
	if _, err := ns.UploadPart(ctx, "bucket", "old", old, 1, strings.NewReader("part"), 4); err != nil {
		t.Fatal(err)
	}
	now = now.Add(8 * 24 * time.Hour)
	fresh, _ := ns.CreateUpload(ctx, "bucket", "fresh", nil)
	n, err := ns.AbortStaleUploads(ctx, now.Add(-7*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("aborted %d, %v; want 1", n, err)
	}
	if _, _, err := ns.Parts(ctx, "bucket", "old", old, 0, 10); !errors.Is(err, gateway.ErrNoSuchUpload) {
		t.Errorf("stale upload still there: %v", err)
	}
	if _, _, err := ns.Parts(ctx, "bucket", "fresh", fresh, 0, 10); err != nil {
		t.Errorf("fresh upload: %v", err)
	}
	if blobs := e.names(t, 0, "b/"); len(blobs) != 0 {
		t.Errorf("blobs of the aborted upload remain: %v", blobs)
	}
}

// TestRecordsLeftPerKey: a key's records on a provider, after each write
// has answered and its superseded records are deleted: one per key
// (the catalog's record or tombstone), whatever came before it, so that
// nothing a write replaced is left behind, and nothing else is deleted.
func TestRecordsLeftPerKey(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	steps := []struct {
		name string
		do   func() error
	}{
		{"put", func() error { e.put(t, "k", []byte("one")); return nil }},
		{"overwrite", func() error { e.put(t, "k", []byte("two")); return nil }},
		{"delete", func() error { return e.ns.DeleteObject(ctx, "bucket", "k") }},
		{"put again", func() error { e.put(t, "k", []byte("three")); return nil }},
		{"rename", func() error { _, err := e.ns.Rename(ctx, "bucket", "k", "bucket", "moved"); return err }},
		{"rename back onto a deleted name", func() error { _, err := e.ns.Rename(ctx, "bucket", "moved", "bucket", "k"); return err }},
		// Versioning suspended: the key's object is its null version.
		{"suspend versioning", func() error { return e.ns.SetBucketVersioning(ctx, "bucket", gateway.VersioningSuspended) }},
		{"put the null version", func() error { e.put(t, "k", []byte("four")); return nil }},
		{"delete the null version", func() error {
			_, err := e.ns.Delete(ctx, "bucket", "k", gateway.DeleteOptions{VersionID: gateway.NullVersion})
			return err
		}},
		{"put the null version again", func() error { e.put(t, "k", []byte("five")); return nil }},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		want := []string{e.ns.MetaName("bucket", "")} // the bucket's record
		for _, key := range []string{"k", "moved"} {
			if name, err := e.ns.RecordName(ctx, "bucket", key, ""); err == nil {
				want = append(want, name)
			}
		}
		slices.Sort(want)
		for i := range e.members {
			if got := e.names(t, i, "m/"); !slices.Equal(got, want) {
				t.Errorf("after %s: member %d holds %q, want %q", st.name, i, got, want)
			}
		}
	}
	if got := read(t, e.ns, "k"); string(got) != "five" {
		t.Errorf("k reads %q, want five", got)
	}
}
