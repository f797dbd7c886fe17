package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/internal/testns"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway"
)

func TestRenameMovesRecordsOnly(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name              string
		dstBucket, dstKey string
		overwrite         int // size of an object already at the destination, 0: none
	}{
		{"same bucket", "bucket", "dir/renamed", 0},
		{"other bucket", "other", "moved/here", 0},
		{"over an existing object", "bucket", "dir/existing", 200_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if err := e.ns.CreateBucket(ctx, "other"); err != nil {
				t.Fatal(err)
			}
			data := payload(150_000, 1)
			src, err := e.ns.PutObject(ctx, "bucket", "dir/src", bytes.NewReader(data), int64(len(data)), gateway.PutOptions{Meta: map[string]string{"Content-Type": "text/plain"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.ns.SetProps(ctx, "bucket", "dir/src", map[string]string{"{urn:x}p": "v"}, nil); err != nil {
				t.Fatal(err)
			}
			if tc.overwrite > 0 {
				old := payload(tc.overwrite, 2)
				if _, err := e.ns.PutObject(ctx, tc.dstBucket, tc.dstKey, bytes.NewReader(old), int64(len(old)), gateway.PutOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			blobsBefore := e.names(t, 0, "b/")
			info, err := e.ns.Rename(ctx, "bucket", "dir/src", tc.dstBucket, tc.dstKey)
			if err != nil {
				t.Fatal(err)
			}
			if info.ETag != src.ETag || info.Size != src.Size || !info.ModTime.Equal(src.ModTime) {
				t.Errorf("renamed %+v, source was %+v", info, src)
			}
			if _, err := e.ns.Object(ctx, "bucket", "dir/src"); !errors.Is(err, gateway.ErrNoSuchKey) {
				t.Errorf("source after rename: %v", err)
			}
			o, err := e.ns.Object(ctx, tc.dstBucket, tc.dstKey)
			if err != nil {
				t.Fatal(err)
			}
			if o.Meta["Content-Type"] != "text/plain" || o.Props["{urn:x}p"] != "v" {
				t.Errorf("metadata %v, props %v", o.Meta, o.Props)
			}
			r, err := o.NewReader(ctx, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			got.ReadFrom(r)
			r.Close()
			if !bytes.Equal(got.Bytes(), data) {
				t.Fatal("content differs after rename")
			}
			// No blob written; the overwritten destination's blob is gone.
			blobsAfter := e.names(t, 0, "b/")
			want := len(blobsBefore)
			if tc.overwrite > 0 {
				want--
			}
			if len(blobsAfter) != want {
				t.Errorf("%d blobs after rename, want %d", len(blobsAfter), want)
			}
			for _, b := range blobsAfter {
				if !slices.Contains(blobsBefore, b) {
					t.Errorf("rename wrote blob %s", b)
				}
			}
			// Both backends hold the same records: 2 buckets, 1 object
			// and the tombstone of the old name.
			for i := range e.members {
				if n := len(e.names(t, i, "m/")); n != 4 {
					t.Errorf("member %d holds %d meta records, want 4", i, n)
				}
			}
		})
	}
}

func TestRenameErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.ns.PutObject(ctx, "bucket", "k", bytes.NewReader([]byte("x")), 1, gateway.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name           string
		sb, sk, db, dk string
		want           error
	}{
		{"missing source", "bucket", "nope", "bucket", "x", gateway.ErrNoSuchKey},
		{"missing source bucket", "nobucket", "k", "bucket", "x", gateway.ErrNoSuchBucket},
		{"missing destination bucket", "bucket", "k", "nobucket", "x", gateway.ErrNoSuchBucket},
		{"empty destination key", "bucket", "k", "bucket", "", gateway.ErrInvalidKey},
		{"onto itself", "bucket", "k", "bucket", "k", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.ns.Rename(ctx, tc.sb, tc.sk, tc.db, tc.dk)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	if got := e.get(t, "k", 0, -1); string(got) != "x" {
		t.Fatalf("object changed: %q", got)
	}
}

// TestRenameConcurrent renames objects back and forth between names that
// may share a lock, which must not deadlock or lose an object.
func TestRenameConcurrent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const n = 8
	for i := range n {
		if _, err := e.ns.PutObject(ctx, "bucket", fmt.Sprintf("a%d", i), bytes.NewReader([]byte{byte(i)}), 1, gateway.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, n)
	for i := range n {
		go func() {
			for range 5 {
				if _, err := e.ns.Rename(ctx, "bucket", fmt.Sprintf("a%d", i), "bucket", fmt.Sprintf("b%d", i)); err != nil {
					done <- err
					return
				}
				if _, err := e.ns.Rename(ctx, "bucket", fmt.Sprintf("b%d", i), "bucket", fmt.Sprintf("a%d", i)); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range n {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if got := e.get(t, fmt.Sprintf("a%d", i), 0, -1); !bytes.Equal(got, []byte{byte(i)}) {
			t.Errorf("a%d holds %v", i, got)
		}
	}
}

func TestSetProps(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := payload(70_000, 3)
	put, err := e.ns.PutObject(ctx, "bucket", "k", bytes.NewReader(data), int64(len(data)), gateway.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	blobs := e.names(t, 0, "b/")
	steps := []struct {
		set    map[string]string
		remove []string
		want   map[string]string
		err    error
	}{
		{set: map[string]string{"{DAV:}a": "1", "{urn:x}b": "<x:y>2</x:y>"}, want: map[string]string{"{DAV:}a": "1", "{urn:x}b": "<x:y>2</x:y>"}},
		{set: map[string]string{"{DAV:}a": "3"}, remove: []string{"{urn:x}b"}, want: map[string]string{"{DAV:}a": "3"}},
		{set: map[string]string{"big": string(make([]byte, gateway.MaxPropsSize))}, want: map[string]string{"{DAV:}a": "3"}, err: gateway.ErrPropsTooLarge},
		{remove: []string{"{DAV:}a", "missing"}, want: nil},
	}
	for i, s := range steps {
		info, err := e.ns.SetProps(ctx, "bucket", "k", s.set, s.remove)
		if !errors.Is(err, s.err) {
			t.Fatalf("step %d: err %v, want %v", i, err, s.err)
		}
		if err == nil && (info.ETag != put.ETag || !info.ModTime.Equal(put.ModTime) || info.Generation <= put.Generation) {
			t.Errorf("step %d: info %+v after put %+v", i, info, put)
		}
		got, err := e.ns.Props(ctx, "bucket", "k")
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(s.want) {
			t.Errorf("step %d: props %v, want %v", i, got, s.want)
		}
	}
	if after := e.names(t, 0, "b/"); !slices.Equal(after, blobs) {
		t.Errorf("blobs changed: %v -> %v", blobs, after)
	}
	if got := e.get(t, "k", 0, -1); !bytes.Equal(got, data) {
		t.Error("content changed")
	}
	if _, err := e.ns.SetProps(ctx, "bucket", "missing", map[string]string{"a": "b"}, nil); !errors.Is(err, gateway.ErrNoSuchKey) {
		t.Errorf("SetProps of a missing key: %v", err)
	}
}

func TestListDetailed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, k := range []string{"d/a", "d/b", "d/sub/c", "e"} {
		if _, err := e.ns.PutObject(ctx, "bucket", k, bytes.NewReader([]byte(k)), int64(len(k)), gateway.PutOptions{Meta: map[string]string{"Content-Type": "type/" + k}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.ns.SetProps(ctx, "bucket", "d/b", map[string]string{"p": "v"}, nil); err != nil {
		t.Fatal(err)
	}
	var keys []string
	after := ""
	for {
		res, err := e.ns.ListDetailed(ctx, "bucket", gateway.ListOptions{Prefix: "d/", Delimiter: "/", StartAfter: after, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range res.Objects {
			keys = append(keys, o.Key)
			if o.Meta["Content-Type"] != "type/"+o.Key {
				t.Errorf("%s: meta %v", o.Key, o.Meta)
			}
			if (o.Key == "d/b") != (o.Props["p"] == "v") {
				t.Errorf("%s: props %v", o.Key, o.Props)
			}
		}
		keys = append(keys, res.CommonPrefixes...)
		if !res.Truncated {
			break
		}
		after = res.Next
	}
	if fmt.Sprint(keys) != "[d/a d/b d/sub/]" {
		t.Errorf("listed %v", keys)
	}
	if _, err := e.ns.ListDetailed(ctx, "nobucket", gateway.ListOptions{}); !errors.Is(err, gateway.ErrNoSuchBucket) {
		t.Errorf("missing bucket: %v", err)
	}
}

// failOnce fails the first Delete of a meta record after armed is set.
// failOnce fails the first meta-record Put or Delete after it is armed.
type failOnce struct {
	backends.Backend
	op    string // "put" or "delete"
	armed atomic.Bool
}

func (f *failOnce) fire(op, name string) error {
	if op == f.op && strings.HasPrefix(name, "m/") && f.armed.CompareAndSwap(true, false) {
		return fmt.Errorf("injected: %w", backends.ErrUnavailable)
	}
	return nil
}

func (f *failOnce) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := f.fire("put", name); err != nil {
		return err
	}
	return f.Backend.Put(ctx, name, r, size)
}

func (f *failOnce) Delete(ctx context.Context, name string) error {
	if err := f.fire("delete", name); err != nil {
		return err
	}
	return f.Backend.Delete(ctx, name)
}

// TestRenameFailures checks what each failure inside Rename leaves: never
// two names in the catalog that share blobs, and the object always readable
// under exactly one name.
func TestRenameFailures(t *testing.T) {
	tests := []struct {
		name       string
		op         string // which meta-record operation fails
		wantErr    bool
		wantName   string // where the object is afterwards
		wantOrphan int    // meta records on the backend the catalog does not know
	}{
		{"destination record not written", "put", true, "src", 0},
		// The source's tombstone, and its record that the failed
		// delete left: superseded, which scrub reports and repair
		// deletes.
		{"source record not removed", "delete", false, "dst", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var store *failOnce
			te := testns.New(t, testns.Options{Wrap: func(b backends.Backend) backends.Backend {
				store = &failOnce{Backend: b, op: tt.op}
				return store
			}})
			ns, b := te.NS, te.Backend
			ctx := context.Background()
			if err := ns.CreateBucket(ctx, "bucket"); err != nil {
				t.Fatal(err)
			}
			data := payload(100_000, 5)
			if _, err := ns.PutObject(ctx, "bucket", "src", bytes.NewReader(data), int64(len(data)), gateway.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			store.armed.Store(true)
			_, err := ns.Rename(ctx, "bucket", "src", "bucket", "dst")
			if (err != nil) != tt.wantErr {
				t.Fatalf("rename: %v, want error %v", err, tt.wantErr)
			}
			other := map[string]string{"src": "dst", "dst": "src"}[tt.wantName]
			if _, err := ns.Object(ctx, "bucket", other); !errors.Is(err, gateway.ErrNoSuchKey) {
				t.Errorf("%s after the rename: %v, want ErrNoSuchKey", other, err)
			}
			o, err := ns.Object(ctx, "bucket", tt.wantName)
			if err != nil {
				t.Fatal(err)
			}
			r, err := o.NewReader(ctx, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: %d bytes, %v", tt.wantName, len(got), err)
			}
			page, err := b.List(ctx, "m/", "", 0)
			if err != nil {
				t.Fatal(err)
			}
			// The bucket record and the object's record, plus orphans.
			if n := len(page.Items) - 2; n != tt.wantOrphan {
				t.Errorf("%d orphan meta records on the backend, want %d", n, tt.wantOrphan)
			}
		})
	}
}

// TestSetAttrsMtime changes the client's modification time in the
// metadata along with properties: the ETag, content and ModTime stay, and
// headers other than stored ones are ignored.
func TestSetAttrsMtime(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	put, err := e.ns.PutObject(ctx, "bucket", "k", bytes.NewReader([]byte("data")), 4,
		gateway.PutOptions{Meta: map[string]string{"Content-Type": "text/plain"}})
	if err != nil {
		t.Fatal(err)
	}
	if !put.MTime().Equal(put.ModTime) {
		t.Errorf("MTime %v without a client time, want ModTime %v", put.MTime(), put.ModTime)
	}
	info, err := e.ns.SetAttrs(ctx, "bucket", "k", map[string]string{"p": "v"}, nil,
		map[string]string{"x-amz-meta-mtime": "1600000000.25", "X-Not-Stored": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if info.ETag != put.ETag || !info.ModTime.Equal(put.ModTime) || info.Props["p"] != "v" ||
		fmt.Sprint(info.Meta) != "map[Content-Type:text/plain X-Amz-Meta-Mtime:1600000000.25]" ||
		!info.MTime().Equal(time.Unix(1600000000, 25e7)) {
		t.Errorf("after SetAttrs: %+v, MTime %v", info, info.MTime())
	}
	res, err := e.ns.ListDetailed(ctx, "bucket", gateway.ListOptions{})
	if err != nil || len(res.Objects) != 1 || !res.Objects[0].MTime().Equal(info.MTime()) {
		t.Errorf("listing: %+v, %v", res.Objects, err)
	}
	info, err = e.ns.SetAttrs(ctx, "bucket", "k", nil, nil, map[string]string{gateway.MtimeMeta: ""})
	if err != nil || fmt.Sprint(info.Meta) != "map[Content-Type:text/plain]" || info.Props["p"] != "v" {
		t.Errorf("after removing the mtime: %+v, %v", info, err)
	}
}
