package s3api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/s3api"
	"github.com/twincrypt/twincrypt/internal/testns"
)

// restartable serves the S3 front end over one namespace; restart replaces
// the handler by a new one over the same namespace, as a restart of the
// gateway does.
type restartable struct {
	ns  *gateway.Namespace
	srv *httptest.Server
}

func newRestartable(t *testing.T) *restartable {
	t.Helper()
	s := &restartable{ns: testns.New(t, testns.Options{Bucket: "unit"}).NS}
	s.restart(t)
	return s
}

func (s *restartable) restart(t *testing.T) {
	t.Helper()
	if s.srv != nil {
		s.srv.Close()
	}
	s.srv = httptest.NewServer(s3api.New(s.ns, s3api.Options{Users: map[string]string{accessKey: secretKey}}))
	t.Cleanup(s.srv.Close)
}

func (s *restartable) core(t *testing.T) minio.Core {
	t.Helper()
	c, err := minio.New(strings.TrimPrefix(s.srv.URL, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(accessKey, secretKey, ""), Region: "us-east-1", MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	return minio.Core{Client: c}
}

// TestMultipartAcrossRestart checks that an upload begun with one handler
// is continued, listed, completed and aborted with a new handler over the
// same namespace.
func TestMultipartAcrossRestart(t *testing.T) {
	ctx := context.Background()
	s := newRestartable(t)
	core := s.core(t)
	part1 := bytes.Repeat([]byte("first part "), gateway.MinPartSize/11+1)
	part2 := []byte("second and last part")
	id, err := core.NewMultipartUpload(ctx, "unit", "mp", minio.PutObjectOptions{UserMetadata: map[string]string{"Color": "blue"}})
	if err != nil {
		t.Fatal(err)
	}
	p1, err := core.PutObjectPart(ctx, "unit", "mp", id, 1, bytes.NewReader(part1), int64(len(part1)), minio.PutObjectPartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	doomed, err := core.NewMultipartUpload(ctx, "unit", "doomed", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.PutObjectPart(ctx, "unit", "doomed", doomed, 1, strings.NewReader("x"), 1, minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}

	s.restart(t)
	core = s.core(t)

	lu, err := core.ListMultipartUploads(ctx, "unit", "", "", "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range lu.Uploads {
		ids = append(ids, u.Key+"/"+u.UploadID)
	}
	if want := []string{"doomed/" + doomed, "mp/" + id}; fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("uploads after restart %v, want %v", ids, want)
	}
	p2, err := core.PutObjectPart(ctx, "unit", "mp", id, 2, bytes.NewReader(part2), int64(len(part2)), minio.PutObjectPartOptions{})
	if err != nil {
		t.Fatalf("upload part after restart: %v", err)
	}
	lp, err := core.ListObjectParts(ctx, "unit", "mp", id, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	unq := func(s string) string { return strings.Trim(s, `"`) }
	if len(lp.ObjectParts) != 2 || unq(lp.ObjectParts[0].ETag) != unq(p1.ETag) || unq(lp.ObjectParts[1].ETag) != unq(p2.ETag) ||
		lp.ObjectParts[0].Size != int64(len(part1)) || lp.ObjectParts[1].Size != int64(len(part2)) {
		t.Errorf("parts %+v, want %s and %s", lp.ObjectParts, p1.ETag, p2.ETag)
	}
	// Part listing pagination.
	lp, err = core.ListObjectParts(ctx, "unit", "mp", id, 0, 1)
	if err != nil || len(lp.ObjectParts) != 1 || !lp.IsTruncated || lp.NextPartNumberMarker != 1 {
		t.Errorf("first page of parts %+v (%v)", lp, err)
	}
	lp, err = core.ListObjectParts(ctx, "unit", "mp", id, 1, 1)
	if err != nil || len(lp.ObjectParts) != 1 || lp.ObjectParts[0].PartNumber != 2 || lp.IsTruncated {
		t.Errorf("second page of parts %+v (%v)", lp, err)
	}
	up, err := core.CompleteMultipartUpload(ctx, "unit", "mp", id,
		[]minio.CompletePart{{PartNumber: 1, ETag: p1.ETag}, {PartNumber: 2, ETag: p2.ETag}}, minio.PutObjectOptions{})
	if err != nil {
		t.Fatalf("complete after restart: %v", err)
	}
	if !strings.HasSuffix(up.ETag, "-2") {
		t.Errorf("ETag %q, want a 2-part ETag", up.ETag)
	}
	obj, _, _, err := core.GetObject(ctx, "unit", "mp", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || !bytes.Equal(got, append(append([]byte{}, part1...), part2...)) {
		t.Fatalf("object differs from its parts (%d bytes, %v)", len(got), err)
	}
	st, err := core.StatObject(ctx, "unit", "mp", minio.StatObjectOptions{})
	if err != nil || st.ETag != up.ETag || st.UserMetadata["Color"] != "blue" {
		t.Errorf("stat %q %v (%v), want ETag %q and Color blue", st.ETag, st.UserMetadata, err, up.ETag)
	}

	s.restart(t)
	core = s.core(t)
	if err := core.AbortMultipartUpload(ctx, "unit", "doomed", doomed); err != nil {
		t.Fatalf("abort after restart: %v", err)
	}
	lu, err = core.ListMultipartUploads(ctx, "unit", "", "", "", "", 1000)
	if err != nil || len(lu.Uploads) != 0 {
		t.Errorf("uploads after abort: %+v (%v)", lu.Uploads, err)
	}
	if _, err := core.PutObjectPart(ctx, "unit", "doomed", doomed, 2, strings.NewReader("y"), 1, minio.PutObjectPartOptions{}); minio.ToErrorResponse(err).Code != "NoSuchUpload" {
		t.Errorf("part of an aborted upload: %v, want NoSuchUpload", err)
	}
	if _, err := core.ListObjectParts(ctx, "unit", "doomed", doomed, 0, 1000); minio.ToErrorResponse(err).Code != "NoSuchUpload" {
		t.Errorf("parts of an aborted upload: %v, want NoSuchUpload", err)
	}
}

// TestListUploadsMarkers checks the pagination, prefix and delimiter of
// ListMultipartUploads.
func TestListUploadsMarkers(t *testing.T) {
	ctx := context.Background()
	s := newRestartable(t)
	core := s.core(t)
	keys := []string{"a/1", "a/2", "b", "b", "c"}
	ids := map[string]bool{}
	for _, k := range keys {
		id, err := core.NewMultipartUpload(ctx, "unit", k, minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids[k+"/"+id] = true
	}
	s.restart(t)
	core = s.core(t)
	var seen []string
	keyMarker, idMarker := "", ""
	for pages := 0; ; pages++ {
		if pages > len(keys) {
			t.Fatal("listing does not end")
		}
		lu, err := core.ListMultipartUploads(ctx, "unit", "", keyMarker, idMarker, "", 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range lu.Uploads {
			seen = append(seen, u.Key+"/"+u.UploadID)
		}
		if !lu.IsTruncated {
			break
		}
		keyMarker, idMarker = lu.NextKeyMarker, lu.NextUploadIDMarker
	}
	if len(seen) != len(keys) {
		t.Errorf("paged listing %v, want %d uploads", seen, len(keys))
	}
	for _, s := range seen {
		if !ids[s] {
			t.Errorf("unexpected or repeated upload %s", s)
		}
		delete(ids, s)
	}
	lu, err := core.ListMultipartUploads(ctx, "unit", "", "", "", "/", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(lu.CommonPrefixes) != 1 || lu.CommonPrefixes[0].Prefix != "a/" || len(lu.Uploads) != 3 {
		t.Errorf("delimited listing: prefixes %+v, uploads %+v", lu.CommonPrefixes, lu.Uploads)
	}
	lu, err = core.ListMultipartUploads(ctx, "unit", "a/", "", "", "", 1000)
	if err != nil || len(lu.Uploads) != 2 {
		t.Errorf("listing of prefix a/: %+v (%v)", lu.Uploads, err)
	}
}

// TestUploadPartCopyAcrossRestart checks UploadPartCopy into an upload
// begun with an earlier handler.
func TestUploadPartCopyAcrossRestart(t *testing.T) {
	ctx := context.Background()
	s := newRestartable(t)
	core := s.core(t)
	src := []byte("the source of the copied part")
	if _, err := core.Client.PutObject(ctx, "unit", "src", bytes.NewReader(src), int64(len(src)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	id, err := core.NewMultipartUpload(ctx, "unit", "dst", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.restart(t)
	core = s.core(t)
	p, err := core.CopyObjectPart(ctx, "unit", "src", "unit", "dst", id, 1, 4, 6, nil)
	if err != nil {
		t.Fatalf("copy part after restart: %v", err)
	}
	if _, err := core.CompleteMultipartUpload(ctx, "unit", "dst", id, []minio.CompletePart{{PartNumber: 1, ETag: p.ETag}}, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	obj, _, _, err := core.GetObject(ctx, "unit", "dst", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || string(got) != "source" {
		t.Errorf("copied part reads %q (%v), want %q", got, err, "source")
	}
}
