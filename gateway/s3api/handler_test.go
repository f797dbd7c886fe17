package s3api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/internal/testns"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/s3api"
)

const (
	accessKey = "unit-access"
	secretKey = "unit-secret-key"
)

// newServer serves the S3 front end over a namespace on one local backend
// and returns a minio-go client for it.
func newServer(t *testing.T) (*minio.Client, *httptest.Server) {
	t.Helper()
	return newServerWith(t, testns.Options{})
}

// newServerWith is newServer with namespace options.
func newServerWith(t *testing.T, o testns.Options) (*minio.Client, *httptest.Server) {
	t.Helper()
	ns := testns.New(t, o).NS
	srv := httptest.NewServer(s3api.New(ns, s3api.Options{Users: map[string]string{accessKey: secretKey}}))
	t.Cleanup(srv.Close)
	c, err := minio.New(strings.TrimPrefix(srv.URL, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(accessKey, secretKey, ""), Region: "us-east-1", MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MakeBucket(context.Background(), "unit", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	return c, srv
}

// TestMultipartETagEverywhere checks that a multipart object has the same
// "<md5>-<parts>" ETag on completion, HEAD, GET and in listings, and that
// conditional requests compare against it.
func TestMultipartETagEverywhere(t *testing.T) {
	c, _ := newServer(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), (gateway.MinPartSize+1000)/16)
	up, err := c.PutObject(ctx, "unit", "mp", bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{PartSize: gateway.MinPartSize})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(up.ETag, "-2") {
		t.Fatalf("completion ETag %q, want a 2-part ETag", up.ETag)
	}
	st, err := c.StatObject(ctx, "unit", "mp", minio.StatObjectOptions{})
	if err != nil || st.ETag != up.ETag {
		t.Errorf("HEAD ETag %q (%v), want %q", st.ETag, err, up.ETag)
	}
	for o := range c.ListObjects(ctx, "unit", minio.ListObjectsOptions{}) {
		if o.Key == "mp" && o.ETag != up.ETag {
			t.Errorf("listing ETag %q, want %q", o.ETag, up.ETag)
		}
	}
	tests := []struct {
		name    string
		opts    func(*minio.GetObjectOptions) error
		wantErr string
	}{
		{"If-Match the ETag", func(o *minio.GetObjectOptions) error { return o.SetMatchETag(up.ETag) }, ""},
		{"If-Match another", func(o *minio.GetObjectOptions) error { return o.SetMatchETag("0123-2") }, "PreconditionFailed"},
		{"If-None-Match the ETag", func(o *minio.GetObjectOptions) error { return o.SetMatchETagExcept(up.ETag) }, "304"},
		{"If-None-Match another", func(o *minio.GetObjectOptions) error { return o.SetMatchETagExcept("0123-2") }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o minio.GetObjectOptions
			if err := tt.opts(&o); err != nil {
				t.Fatal(err)
			}
			obj, err := c.GetObject(ctx, "unit", "mp", o)
			if err == nil {
				var b []byte
				b, err = io.ReadAll(obj)
				if err == nil && !bytes.Equal(b, data) {
					t.Fatal("content differs")
				}
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(fmt.Sprint(minio.ToErrorResponse(err).StatusCode, err), tt.wantErr)):
				t.Errorf("err %v, want %s", err, tt.wantErr)
			}
		})
	}
}

// TestErrorStatuses checks errors whose status gofakes3 does not know
// itself reach the client with the right status and code.
func TestErrorStatuses(t *testing.T) {
	c, srv := newServer(t)
	ctx := context.Background()
	err := c.MakeBucket(ctx, "unit", minio.MakeBucketOptions{})
	if r := minio.ToErrorResponse(err); r.StatusCode != http.StatusConflict || r.Code != "BucketAlreadyOwnedByYou" {
		t.Errorf("bucket exists: %d %s", r.StatusCode, r.Code)
	}
	id, err := minio.Core{Client: c}.NewMultipartUpload(ctx, "unit", "small", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	core := minio.Core{Client: c}
	var parts []minio.CompletePart
	for i := 1; i <= 2; i++ {
		p, err := core.PutObjectPart(ctx, "unit", "small", id, i, strings.NewReader("tiny"), 4, minio.PutObjectPartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, minio.CompletePart{PartNumber: i, ETag: p.ETag})
	}
	_, err = core.CompleteMultipartUpload(ctx, "unit", "small", id, parts, minio.PutObjectOptions{})
	if r := minio.ToErrorResponse(err); r.StatusCode != http.StatusBadRequest || r.Code != "EntityTooSmall" {
		t.Errorf("small parts: %d %s (%v)", r.StatusCode, r.Code, err)
	}
	// A failure status must not leave the object behind.
	if _, err := c.StatObject(ctx, "unit", "small", minio.StatObjectOptions{}); !errors.As(err, new(minio.ErrorResponse)) {
		t.Errorf("object after a failed completion: %v", err)
	}
	resp, err := http.Get(srv.URL + "/unit/small")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous GET: %d", resp.StatusCode)
	}
}

// TestUploadPartCopy assembles an object from a range of another object and
// an uploaded part.
func TestUploadPartCopy(t *testing.T) {
	c, _ := newServer(t)
	core := minio.Core{Client: c}
	ctx := context.Background()
	src := bytes.Repeat([]byte("source-bytes-"), gateway.MinPartSize/13+100)
	if _, err := c.PutObject(ctx, "unit", "src", bytes.NewReader(src), int64(len(src)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	id, err := core.NewMultipartUpload(ctx, "unit", "assembled", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p1, err := core.CopyObjectPart(ctx, "unit", "src", "unit", "assembled", id, 1, 0, gateway.MinPartSize, nil)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := core.PutObjectPart(ctx, "unit", "assembled", id, 2, strings.NewReader("tail"), 4, minio.PutObjectPartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.CompleteMultipartUpload(ctx, "unit", "assembled", id,
		[]minio.CompletePart{{PartNumber: 1, ETag: p1.ETag}, {PartNumber: 2, ETag: p2.ETag}}, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	obj, err := c.GetObject(ctx, "unit", "assembled", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(append([]byte(nil), src[:gateway.MinPartSize]...), "tail"...); !bytes.Equal(got, want) {
		t.Errorf("assembled object of %d bytes differs from the %d expected", len(got), len(want))
	}
}

// downStore fails every data operation as an unreachable provider does,
// once down is set.
type downStore struct {
	backends.Backend
	down atomic.Bool
}

func (d *downStore) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if d.down.Load() {
		return fmt.Errorf("injected: %w", backends.ErrUnavailable)
	}
	return d.Backend.Put(ctx, name, r, size)
}

func (d *downStore) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	if d.down.Load() {
		return nil, fmt.Errorf("injected: %w", backends.ErrUnavailable)
	}
	return d.Backend.Get(ctx, name, off, n)
}

// TestProvidersUnavailable checks that an outage of the storage answers 503
// ServiceUnavailable, which clients retry, and that a PUT that failed left
// nothing behind.
func TestProvidersUnavailable(t *testing.T) {
	var store *downStore
	c, _ := newServerWith(t, testns.Options{InlineCache: 1 << 20, Wrap: func(b backends.Backend) backends.Backend {
		store = &downStore{Backend: b}
		return store
	}})
	ctx := context.Background()
	kept := strings.Repeat("kept", gateway.InlineMax) // with a blob
	if _, err := c.PutObject(ctx, "unit", "kept", strings.NewReader(kept), int64(len(kept)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, "unit", "small", strings.NewReader("small"), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	store.down.Store(true)
	// A small object lives in its meta record, which the gateway that
	// wrote it keeps in its inline cache: it reads without the providers.
	if obj, err := c.GetObject(ctx, "unit", "small", minio.GetObjectOptions{}); err != nil {
		t.Errorf("GET of an inline object during an outage: %v", err)
	} else if b, err := io.ReadAll(obj); err != nil || string(b) != "small" {
		t.Errorf("GET of an inline object during an outage: %q, %v", b, err)
	}
	_, err := c.PutObject(ctx, "unit", "lost", strings.NewReader("lost"), 4, minio.PutObjectOptions{})
	if r := minio.ToErrorResponse(err); r.StatusCode != http.StatusServiceUnavailable || r.Code != "ServiceUnavailable" {
		t.Errorf("PUT during an outage: %d %s (%v)", r.StatusCode, r.Code, err)
	}
	obj, err := c.GetObject(ctx, "unit", "kept", minio.GetObjectOptions{})
	if err == nil {
		_, err = io.ReadAll(obj)
	}
	if r := minio.ToErrorResponse(err); r.StatusCode != http.StatusServiceUnavailable || r.Code != "ServiceUnavailable" {
		t.Errorf("GET during an outage: %d %s (%v)", r.StatusCode, r.Code, err)
	}
	store.down.Store(false)
	if _, err := c.StatObject(ctx, "unit", "lost", minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Errorf("the failed PUT left an object: %v", err)
	}
	obj, err = c.GetObject(ctx, "unit", "kept", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(obj); err != nil || string(b) != kept {
		t.Errorf("after the outage: %q %v", b, err)
	}
}
