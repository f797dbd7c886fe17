package dav_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/internal/testns"

	"golang.org/x/net/webdav"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/dav"
)

const (
	user = "alice"
	pass = "correct-horse"
)

// countingStore counts the reads and blob writes that reach the backend.
type countingStore struct {
	backends.Backend
	gets     atomic.Int64
	blobPuts atomic.Int64
	// blobsDown makes every Get of a blob fail as unavailable.
	blobsDown atomic.Bool
}

func (c *countingStore) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	c.gets.Add(1)
	if c.blobsDown.Load() && strings.HasPrefix(name, "b/") {
		return nil, &backends.Error{Backend: "test", Op: "get", Name: name, Err: backends.ErrUnavailable}
	}
	return c.Backend.Get(ctx, name, off, n)
}

func (c *countingStore) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if strings.HasPrefix(name, "b/") {
		c.blobPuts.Add(1)
	}
	return c.Backend.Put(ctx, name, r, size)
}

// env is a WebDAV front end over a namespace on one local backend.
type env struct {
	t     *testing.T
	ns    *gateway.Namespace
	store *countingStore
	dir   string // the backend's directory
	url   string
	// done receives the method of every request the handler finished.
	done chan string
}

func newEnv(t *testing.T, opts ...func(*dav.Options)) *env {
	t.Helper()
	return newEnvClock(t, nil, opts...)
}

// newEnvClock is newEnv with the namespace's clock (nil: the system clock).
func newEnvClock(t *testing.T, clock func() time.Time, opts ...func(*dav.Options)) *env {
	t.Helper()
	var store *countingStore
	te := testns.New(t, testns.Options{Bucket: "bucket", Clock: clock, Wrap: func(b backends.Backend) backends.Backend {
		store = &countingStore{Backend: b}
		return store
	}})
	ns := te.NS
	e := &env{t: t, ns: ns, store: store, dir: te.Backend.Root(), done: make(chan string, 100)}
	o := dav.Options{Users: map[string]string{user: pass, "bob": "other-secret"}}
	for _, f := range opts {
		f(&o)
	}
	h := dav.New(ns, o)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		select {
		case e.done <- r.Method:
		default:
		}
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// do sends an authenticated request; hdr holds header name/value pairs.
func (e *env) do(method, path string, body string, hdr ...string) (*http.Response, string) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.SetBasicAuth(user, pass)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	// Drain the handler's completion notices of this request.
	for len(e.done) > 0 {
		<-e.done
	}
	return resp, string(b)
}

// must sends a request and fails the test unless it gets status.
func (e *env) must(status int, method, path, body string, hdr ...string) (*http.Response, string) {
	e.t.Helper()
	resp, b := e.do(method, path, body, hdr...)
	if resp.StatusCode != status {
		e.t.Fatalf("%s %s: status %d, want %d\n%s", method, path, resp.StatusCode, status, b)
	}
	return resp, b
}

func payload(n int, seed uint64) string {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return string(b)
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name       string
		user, pass string
		basic      bool
		method     string
		want       int
	}{
		{"none", "", "", false, "PROPFIND", http.StatusUnauthorized},
		{"none OPTIONS", "", "", false, "OPTIONS", http.StatusUnauthorized},
		{"wrong password", user, "wrong", true, "PROPFIND", http.StatusUnauthorized},
		{"other user's password", "bob", pass, true, "PROPFIND", http.StatusUnauthorized},
		{"unknown user", "mallory", pass, true, "PROPFIND", http.StatusUnauthorized},
		{"empty", "", "", true, "PROPFIND", http.StatusUnauthorized},
		{"alice", user, pass, true, "PROPFIND", webdav.StatusMulti},
		{"bob", "bob", "other-secret", true, "PROPFIND", webdav.StatusMulti},
		{"alice OPTIONS", user, pass, true, "OPTIONS", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.url+"/bucket/", nil)
			req.Header.Set("Depth", "1")
			if tc.basic {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") != `Basic realm="twincrypt", charset="UTF-8"` {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestPutGetReadsOnlyWhatItNeeds(t *testing.T) {
	e := newEnv(t)
	data := payload(300_000, 1)
	e.must(http.StatusCreated, "MKCOL", "/bucket/docs/", "")
	resp, _ := e.must(http.StatusCreated, "PUT", "/bucket/docs/a.txt", data, "Content-Type", "text/x-test")
	o, err := e.ns.Object(context.Background(), "bucket", "docs/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("ETag"); got != `"`+o.ETag+`"` {
		t.Errorf("PUT ETag %s, namespace ETag %q", got, o.ETag)
	}
	gets := e.store.gets.Load()
	resp, _ = e.must(http.StatusOK, "HEAD", "/bucket/docs/a.txt", "")
	if ct := resp.Header.Get("Content-Type"); ct != "text/x-test" {
		t.Errorf("HEAD Content-Type %q", ct)
	}
	if resp.Header.Get("ETag") != `"`+o.ETag+`"` || resp.ContentLength != int64(len(data)) {
		t.Errorf("HEAD ETag %s length %d", resp.Header.Get("ETag"), resp.ContentLength)
	}
	e.must(webdav.StatusMulti, "PROPFIND", "/bucket/docs/", "", "Depth", "1")
	if n := e.store.gets.Load() - gets; n != 0 {
		t.Errorf("HEAD and PROPFIND read the backend %d times", n)
	}

	_, body := e.must(http.StatusOK, "GET", "/bucket/docs/a.txt", "")
	if body != data {
		t.Fatal("GET returned other bytes")
	}
	for _, r := range [][2]int{{0, 0}, {65535, 65536}, {200_000, 200_009}, {299_999, 299_999}} {
		gets := e.store.gets.Load()
		resp, body := e.must(http.StatusPartialContent, "GET", "/bucket/docs/a.txt", "", "Range", fmt.Sprintf("bytes=%d-%d", r[0], r[1]))
		if body != data[r[0]:r[1]+1] {
			t.Errorf("range %v: wrong bytes", r)
		}
		if n := e.store.gets.Load() - gets; n != 1 {
			t.Errorf("range %v: %d backend reads, want 1", r, n)
		}
		if resp.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", r[0], r[1], len(data)) {
			t.Errorf("Content-Range %q", resp.Header.Get("Content-Range"))
		}
	}
	e.must(http.StatusNotFound, "GET", "/bucket/docs/missing", "")
	e.must(http.StatusConflict, "PUT", "/bucket/nodir/a.txt", "x")
	e.must(http.StatusMethodNotAllowed, "PUT", "/bucket/docs", "x")
}

func TestEmptyPut(t *testing.T) {
	e := newEnv(t)
	const emptyETag = `"d41d8cd98f00b204e9800998ecf8427e"`
	e.must(http.StatusCreated, "PUT", "/bucket/full", "content")
	for _, p := range []string{"/bucket/full", "/bucket/new"} {
		resp, _ := e.must(http.StatusCreated, "PUT", p, "")
		if resp.Header.Get("ETag") != emptyETag {
			t.Errorf("%s: ETag %s after an empty PUT", p, resp.Header.Get("ETag"))
		}
		if _, body := e.must(http.StatusOK, "GET", p, ""); body != "" {
			t.Fatalf("%s after an empty PUT: %q", p, body)
		}
	}
	e.must(http.StatusPreconditionFailed, "PUT", "/bucket/new", "", "If-None-Match", "*")
}

// TestTruncatedPutKeepsOldFile cuts a PUT body short and checks that the
// old content survives.
func TestTruncatedPutKeepsOldFile(t *testing.T) {
	e := newEnv(t)
	old := payload(100_000, 2)
	e.must(http.StatusCreated, "PUT", "/bucket/f.bin", old)

	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "PUT /bucket/f.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\nContent-Length: 500000\r\n\r\n", basic(user, pass))
	w.WriteString(payload(200_000, 3))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if m := <-e.done; m != "PUT" {
		t.Fatalf("handler finished %s, want the PUT", m)
	}
	if _, body := e.must(http.StatusOK, "GET", "/bucket/f.bin", ""); body != old {
		t.Fatalf("the old file changed after a truncated PUT (%d bytes)", len(body))
	}
}

func basic(u, p string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(u, p)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

func TestPropfindDepth(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusCreated, "MKCOL", "/bucket/d/", "")
	e.must(http.StatusCreated, "PUT", "/bucket/d/f", "x")
	for _, tc := range []struct {
		path, depth string
		want        int
		responses   int
	}{
		{"/bucket/", "", http.StatusForbidden, 0},
		{"/bucket/", "infinity", http.StatusForbidden, 0},
		{"/", "infinity", http.StatusForbidden, 0},
		{"/bucket/d/", "", http.StatusForbidden, 0},
		{"/bucket/", "0", webdav.StatusMulti, 1},
		{"/bucket/", "1", webdav.StatusMulti, 2},
		{"/", "1", webdav.StatusMulti, 2},
		{"/bucket/d/", "1", webdav.StatusMulti, 2},
		{"/bucket/d/f", "", webdav.StatusMulti, 1},
		{"/bucket/d/f", "infinity", webdav.StatusMulti, 1},
		{"/bucket/d/g", "0", http.StatusNotFound, 0},
		{"/bucket/", "2", http.StatusBadRequest, 0},
	} {
		t.Run(tc.path+"@"+tc.depth, func(t *testing.T) {
			var hdr []string
			if tc.depth != "" {
				hdr = []string{"Depth", tc.depth}
			}
			_, body := e.must(tc.want, "PROPFIND", tc.path, "", hdr...)
			if tc.want == http.StatusForbidden && !strings.Contains(body, "<D:propfind-finite-depth/>") {
				t.Errorf("403 without the propfind-finite-depth precondition: %s", body)
			}
			if n := strings.Count(body, "<D:response>"); tc.want == webdav.StatusMulti && n != tc.responses {
				t.Errorf("%d responses, want %d:\n%s", n, tc.responses, body)
			}
		})
	}
}

func TestMoveOverwriteDefaultsToT(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusCreated, "PUT", "/bucket/a", "content of a")
	e.must(http.StatusCreated, "PUT", "/bucket/b", "content of b")
	e.must(http.StatusPreconditionFailed, "MOVE", "/bucket/a", "", "Destination", e.url+"/bucket/b", "Overwrite", "F")
	e.must(http.StatusBadRequest, "MOVE", "/bucket/a", "", "Destination", e.url+"/bucket/b", "Overwrite", "maybe")
	puts := e.store.blobPuts.Load()
	e.must(http.StatusNoContent, "MOVE", "/bucket/a", "", "Destination", e.url+"/bucket/b")
	if n := e.store.blobPuts.Load() - puts; n != 0 {
		t.Errorf("MOVE wrote %d blobs, want 0", n)
	}
	if _, body := e.must(http.StatusOK, "GET", "/bucket/b", ""); body != "content of a" {
		t.Errorf("destination holds %q", body)
	}
	e.must(http.StatusNotFound, "GET", "/bucket/a", "")
	e.must(http.StatusCreated, "MOVE", "/bucket/b", "", "Destination", e.url+"/bucket/c")
}

func TestConditionalPut(t *testing.T) {
	e := newEnv(t)
	resp, _ := e.must(http.StatusCreated, "PUT", "/bucket/k", "v1")
	etag := resp.Header.Get("ETag")
	for _, tc := range []struct {
		name string
		hdr  []string
		want int
	}{
		{"If-None-Match * on existing", []string{"If-None-Match", "*"}, http.StatusPreconditionFailed},
		{"If-Match other", []string{"If-Match", `"0123"`}, http.StatusPreconditionFailed},
		{"If-None-Match current", []string{"If-None-Match", etag}, http.StatusPreconditionFailed},
		{"If header with a wrong ETag", []string{"If", `(["0123"])`}, http.StatusPreconditionFailed},
		{"If header with Not the ETag", []string{"If", "(Not [" + etag + "])"}, http.StatusPreconditionFailed},
		{"malformed If header", []string{"If", "(<"}, http.StatusBadRequest},
		{"If header with the ETag", []string{"If", "([" + etag + "])"}, http.StatusCreated},
		{"If-Match *", []string{"If-Match", "*"}, http.StatusCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := e.must(tc.want, "PUT", "/bucket/k", "changed by "+tc.name, tc.hdr...)
			_, body := e.must(http.StatusOK, "GET", "/bucket/k", "")
			if changed := body == "changed by "+tc.name; changed != (tc.want == http.StatusCreated) {
				t.Errorf("status %d but content %q", resp.StatusCode, body)
			}
			etag = resp.Header.Get("ETag")
			if etag == "" {
				r, _ := e.must(http.StatusOK, "HEAD", "/bucket/k", "")
				etag = r.Header.Get("ETag")
			}
		})
	}
	e.must(http.StatusCreated, "PUT", "/bucket/new", "x", "If-None-Match", "*")
	e.must(http.StatusPreconditionFailed, "PUT", "/bucket/new2", "x", "If-Match", "*")
}

func TestDirectories(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.must(http.StatusCreated, "MKCOL", "/bucket/empty/", "")
	e.must(http.StatusMethodNotAllowed, "MKCOL", "/bucket/empty/", "")
	e.must(http.StatusConflict, "MKCOL", "/bucket/no/such/", "")
	e.must(http.StatusCreated, "PUT", "/bucket/file", "x")
	e.must(http.StatusMethodNotAllowed, "MKCOL", "/bucket/file", "")

	// The empty directory is a marker object, a common prefix on S3.
	res, err := e.ns.List(ctx, "bucket", gateway.ListOptions{Delimiter: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.CommonPrefixes) != "[empty/]" {
		t.Errorf("S3 common prefixes %v, want [empty/]", res.CommonPrefixes)
	}
	// An implicit directory: a key with a slash, no marker.
	if _, err := e.ns.PutObject(ctx, "bucket", "implicit/sub/leaf", strings.NewReader("leaf"), 4, gateway.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	_, body := e.must(webdav.StatusMulti, "PROPFIND", "/bucket/", "", "Depth", "1")
	for _, want := range []string{"<D:href>/bucket/empty/</D:href>", "<D:href>/bucket/implicit/</D:href>", "<D:href>/bucket/file</D:href>"} {
		if !strings.Contains(body, want) {
			t.Errorf("listing lacks %s:\n%s", want, body)
		}
	}
	_, body = e.must(webdav.StatusMulti, "PROPFIND", "/bucket/implicit/", "", "Depth", "1")
	if !strings.Contains(body, "<D:href>/bucket/implicit/sub/</D:href>") || !strings.Contains(body, "<D:collection") {
		t.Errorf("implicit directory listing:\n%s", body)
	}
	// Deleting the last file keeps its directory.
	e.must(http.StatusNoContent, "DELETE", "/bucket/implicit/sub/leaf", "")
	e.must(webdav.StatusMulti, "PROPFIND", "/bucket/implicit/sub/", "", "Depth", "0")
	// Deleting a directory removes everything below it.
	e.must(http.StatusCreated, "PUT", "/bucket/empty/f", "x")
	e.must(http.StatusNoContent, "DELETE", "/bucket/empty/", "")
	e.must(http.StatusNotFound, "PROPFIND", "/bucket/empty/", "", "Depth", "0")
	if res, _ := e.ns.List(ctx, "bucket", gateway.ListOptions{Prefix: "empty"}); len(res.Objects) != 0 {
		t.Errorf("left behind: %+v", res.Objects)
	}
}

func TestBuckets(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.must(http.StatusCreated, "MKCOL", "/photos/", "")
	e.must(http.StatusMethodNotAllowed, "MKCOL", "/photos/", "")
	e.must(http.StatusForbidden, "MKCOL", "/Bad_Name/", "")
	e.must(http.StatusForbidden, "PUT", "/rootfile", "x")
	_, body := e.must(webdav.StatusMulti, "PROPFIND", "/", "", "Depth", "1")
	if !strings.Contains(body, "<D:href>/photos/</D:href>") || !strings.Contains(body, "<D:href>/bucket/</D:href>") {
		t.Errorf("root listing:\n%s", body)
	}
	e.must(http.StatusCreated, "MKCOL", "/photos/2024/", "")
	e.must(http.StatusCreated, "PUT", "/photos/2024/a.jpg", "jpeg")
	if _, err := e.ns.CreateUpload(ctx, "photos", "big.bin", nil); err != nil {
		t.Fatal(err)
	}
	e.must(http.StatusForbidden, "MOVE", "/photos/", "", "Destination", e.url+"/renamed/")
	e.must(http.StatusNoContent, "DELETE", "/photos/", "")
	if _, err := e.ns.Bucket(ctx, "photos"); err == nil {
		t.Fatal("bucket still exists after DELETE")
	}
	e.must(http.StatusForbidden, "DELETE", "/", "")
}

func TestCopyMoveDirectory(t *testing.T) {
	e := newEnv(t)
	files := map[string]string{"tree/a": "A", "tree/sub/b": payload(70_000, 4), "tree/sub/deeper/c": "C"}
	e.must(http.StatusCreated, "MKCOL", "/bucket/tree/", "")
	e.must(http.StatusCreated, "MKCOL", "/bucket/tree/sub/", "")
	e.must(http.StatusCreated, "MKCOL", "/bucket/tree/sub/deeper/", "")
	e.must(http.StatusCreated, "MKCOL", "/bucket/tree/emptydir/", "")
	for k, v := range files {
		e.must(http.StatusCreated, "PUT", "/bucket/"+k, v)
	}
	e.must(http.StatusCreated, "COPY", "/bucket/tree/", "", "Destination", e.url+"/bucket/copy/")
	puts := e.store.blobPuts.Load()
	e.must(http.StatusCreated, "MOVE", "/bucket/tree/", "", "Destination", e.url+"/bucket/moved/")
	if n := e.store.blobPuts.Load() - puts; n != 0 {
		t.Errorf("MOVE of a directory wrote %d blobs, want 0", n)
	}
	e.must(http.StatusForbidden, "MOVE", "/bucket/moved/", "", "Destination", e.url+"/bucket/moved/sub/x/")
	e.must(http.StatusNotFound, "PROPFIND", "/bucket/tree/", "", "Depth", "0")
	for k, v := range files {
		for _, top := range []string{"copy", "moved"} {
			p := "/bucket/" + top + strings.TrimPrefix(k, "tree")
			if _, body := e.must(http.StatusOK, "GET", p, ""); body != v {
				t.Errorf("%s differs", p)
			}
		}
	}
	e.must(webdav.StatusMulti, "PROPFIND", "/bucket/moved/emptydir/", "", "Depth", "0")
	e.must(webdav.StatusMulti, "PROPFIND", "/bucket/copy/emptydir/", "", "Depth", "0")
}

func TestDeadProperties(t *testing.T) {
	e := newEnv(t)
	resp, _ := e.must(http.StatusCreated, "PUT", "/bucket/doc", "content")
	etag := resp.Header.Get("ETag")
	set := `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:example:"><D:set><D:prop>` +
		`<Z:color>secret-property-value</Z:color><Z:size>big</Z:size></D:prop></D:set></D:propertyupdate>`
	_, body := e.must(webdav.StatusMulti, "PROPPATCH", "/bucket/doc", set)
	if !strings.Contains(body, "200 OK") {
		t.Fatalf("PROPPATCH:\n%s", body)
	}
	find := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><Z:color xmlns:Z="urn:example:"/><D:getetag/></D:prop></D:propfind>`
	_, body = e.must(webdav.StatusMulti, "PROPFIND", "/bucket/doc", find, "Depth", "0")
	if !strings.Contains(body, "secret-property-value") || !strings.Contains(body, etag) {
		t.Fatalf("PROPFIND after PROPPATCH (ETag %s):\n%s", etag, body)
	}
	props, err := e.ns.Props(context.Background(), "bucket", "doc")
	if err != nil || props["{urn:example:}color"] != "secret-property-value" {
		t.Fatalf("namespace props %v, %v", props, err)
	}
	// Stored encrypted: no backend file holds the value.
	filepath.Walk(e.dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("secret-property-value")) {
				t.Errorf("%s holds a property value in plaintext", p)
			}
		}
		return nil
	})
	remove := `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:example:"><D:remove><D:prop><Z:color/></D:prop></D:remove></D:propertyupdate>`
	e.must(webdav.StatusMulti, "PROPPATCH", "/bucket/doc", remove)
	_, body = e.must(webdav.StatusMulti, "PROPFIND", "/bucket/doc", find, "Depth", "0")
	if strings.Contains(body, "secret-property-value") || !strings.Contains(body, "404 Not Found") {
		t.Fatalf("PROPFIND after removal:\n%s", body)
	}
	// Directories keep properties on their marker; buckets hold none.
	e.must(http.StatusCreated, "MKCOL", "/bucket/dir/", "")
	e.must(webdav.StatusMulti, "PROPPATCH", "/bucket/dir/", set)
	_, body = e.must(webdav.StatusMulti, "PROPFIND", "/bucket/dir/", find, "Depth", "0")
	if !strings.Contains(body, "secret-property-value") {
		t.Fatalf("directory property:\n%s", body)
	}
	_, body = e.must(webdav.StatusMulti, "PROPPATCH", "/bucket/", set)
	if !strings.Contains(body, "403 Forbidden") {
		t.Fatalf("bucket PROPPATCH:\n%s", body)
	}
	e.must(http.StatusBadRequest, "PROPFIND", "/bucket/doc", `<D:propfind xmlns:D="DAV:"><D:prop><x:y xmlns:x=""/></D:prop></D:propfind>`, "Depth", "0")
}

func TestSharedLocks(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusCreated, "PUT", "/bucket/locked", "x")
	lock := func(scope string) string {
		return `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:` + scope +
			`/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>me</D:owner></D:lockinfo>`
	}
	r1, body := e.must(http.StatusOK, "LOCK", "/bucket/locked", lock("shared"), "Depth", "0", "Timeout", "Second-60")
	if !strings.Contains(body, "<D:shared/>") || !strings.Contains(body, "Second-60") {
		t.Errorf("shared LOCK answer:\n%s", body)
	}
	r2, _ := e.must(http.StatusOK, "LOCK", "/bucket/locked", lock("shared"), "Depth", "0")
	e.must(webdav.StatusLocked, "LOCK", "/bucket/locked", lock("exclusive"), "Depth", "0")
	e.must(webdav.StatusLocked, "PUT", "/bucket/locked", "y")
	e.must(http.StatusCreated, "PUT", "/bucket/locked", "y", "If", "("+r2.Header.Get("Lock-Token")+")")
	_, body = e.must(http.StatusOK, "LOCK", "/bucket/locked", "", "If", "("+r1.Header.Get("Lock-Token")+")", "Timeout", "Second-120")
	if !strings.Contains(body, "<D:shared/>") || !strings.Contains(body, "Second-120") {
		t.Errorf("refresh answer:\n%s", body)
	}
	for _, r := range []*http.Response{r1, r2} {
		e.must(http.StatusNoContent, "UNLOCK", "/bucket/locked", "", "Lock-Token", r.Header.Get("Lock-Token"))
	}
	e.must(http.StatusOK, "LOCK", "/bucket/locked", lock("exclusive"), "Depth", "0")
	find := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:supportedlock/></D:prop></D:propfind>`
	_, body = e.must(webdav.StatusMulti, "PROPFIND", "/bucket/", find, "Depth", "1")
	if n := strings.Count(body, "<D:shared/>"); n != 2 || strings.Count(body, "<D:exclusive/>") != 2 {
		t.Errorf("supportedlock does not list both scopes for the 2 resources:\n%s", body)
	}
	// A LOCK of an unmapped URL creates an empty file.
	e.must(http.StatusCreated, "LOCK", "/bucket/new", lock("exclusive"))
	e.must(http.StatusConflict, "LOCK", "/bucket/no/such", lock("exclusive"))
}

// TestExclusiveOnlyLockSystem plugs in x/net/webdav's lock system, which
// knows exclusive locks only.
func TestExclusiveOnlyLockSystem(t *testing.T) {
	e := newEnv(t, func(o *dav.Options) { o.Locks = webdav.NewMemLS() })
	e.must(http.StatusCreated, "PUT", "/bucket/f", "x")
	lock := func(scope string) string {
		return `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:` + scope +
			`/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`
	}
	e.must(http.StatusNotImplemented, "LOCK", "/bucket/f", lock("shared"))
	resp, body := e.must(http.StatusOK, "LOCK", "/bucket/f", lock("exclusive"))
	if !strings.Contains(body, "<D:exclusive/>") {
		t.Errorf("LOCK answer:\n%s", body)
	}
	_, body = e.must(webdav.StatusMulti, "PROPFIND", "/bucket/f", "", "Depth", "0")
	if !strings.Contains(body, "<D:exclusive/>") || strings.Contains(body, "<D:shared/>") {
		t.Errorf("supportedlock of an exclusive-only lock system:\n%s", body)
	}
	e.must(webdav.StatusLocked, "DELETE", "/bucket/f", "")
	e.must(http.StatusNoContent, "DELETE", "/bucket/f", "", "If", "("+resp.Header.Get("Lock-Token")+")")
}

// TestLargeDirectory lists 10,000 entries with PROPFIND Depth 1 and checks
// that the answer comes from the catalog alone.
func TestLargeDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10,000 objects")
	}
	e := newEnv(t)
	ctx := context.Background()
	const n = 10_000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	keys := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range keys {
				if _, err := e.ns.PutObject(ctx, "bucket", fmt.Sprintf("big/f%05d", i), strings.NewReader(""), 0, gateway.PutOptions{}); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		keys <- i
	}
	close(keys)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	gets := e.store.gets.Load()
	start := time.Now()
	_, body := e.must(webdav.StatusMulti, "PROPFIND", "/bucket/big/", "", "Depth", "1")
	t.Logf("PROPFIND took %v", time.Since(start))
	if got := strings.Count(body, "<D:response>"); got != n+1 {
		t.Fatalf("%d responses, want %d", got, n+1)
	}
	for _, want := range []string{"/bucket/big/f00000", "/bucket/big/f09999", "/bucket/big/f05000"} {
		if !strings.Contains(body, "<D:href>"+want+"</D:href>") {
			t.Errorf("listing lacks %s", want)
		}
	}
	if d := e.store.gets.Load() - gets; d != 0 {
		t.Errorf("PROPFIND read the backend %d times", d)
	}
}

// TestOddRequests sends malformed and hostile requests: each gets a client
// error, never a server error, and nothing changes.
func TestOddRequests(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusCreated, "PUT", "/bucket/keep", "kept")
	long := "/bucket/" + strings.Repeat("a", 1100)
	for _, tc := range []struct {
		method, path, body string
		hdr                []string
		want               int
	}{
		{"PUT", "/bucket/nul%00name", "x", nil, http.StatusBadRequest},
		{"GET", "/bucket/nul%00name", "", nil, http.StatusNotFound},
		{"PUT", long, "x", nil, http.StatusBadRequest},
		{"MKCOL", long + "/", "", nil, http.StatusBadRequest},
		{"PROPFIND", long, "", []string{"Depth", "0"}, http.StatusNotFound},
		{"PROPFIND", "/bucket/keep", "<not xml", []string{"Depth", "0"}, http.StatusBadRequest},
		{"PROPPATCH", "/bucket/keep", "<D:propertyupdate xmlns:D='DAV:'><D:set>", nil, http.StatusBadRequest},
		{"LOCK", "/bucket/keep", "<D:lockinfo xmlns:D='DAV:'><D:lockscope/></D:lockinfo>", nil, http.StatusBadRequest},
		{"LOCK", "/bucket/keep", "", []string{"Timeout", "Second-x"}, http.StatusBadRequest},
		{"LOCK", "/bucket/keep", "", nil, http.StatusBadRequest},
		{"LOCK", "/bucket/keep", "", []string{"If", "(<opaquelocktoken:nope>)"}, http.StatusPreconditionFailed},
		{"UNLOCK", "/bucket/keep", "", []string{"Lock-Token", "<opaquelocktoken:nope>"}, http.StatusConflict},
		{"COPY", "/bucket/keep", "", nil, http.StatusBadRequest},
		{"MOVE", "/bucket/keep", "", []string{"Destination", "http://other.example/bucket/x"}, http.StatusBadGateway},
		{"MOVE", "/bucket/keep", "", []string{"Destination", "%zz"}, http.StatusBadRequest},
		{"MOVE", "/bucket/keep", "", []string{"Destination", "/bucket/keep"}, http.StatusForbidden},
		{"PROPFIND", "/bucket/", strings.Repeat("x", 2<<20), []string{"Depth", "1"}, http.StatusBadRequest},
		{"DELETE", "/bucket/missing", "", nil, http.StatusNotFound},
		{"DELETE", "/bucket/../", "", nil, http.StatusForbidden},
		{"BREW", "/bucket/keep", "", nil, http.StatusBadRequest},
	} {
		t.Run(tc.method+" "+tc.path[:min(len(tc.path), 30)], func(t *testing.T) {
			e.must(tc.want, tc.method, tc.path, tc.body, tc.hdr...)
		})
	}
	if _, body := e.must(http.StatusOK, "GET", "/bucket/keep", ""); body != "kept" {
		t.Fatalf("content changed: %q", body)
	}
}

// TestGetUnreadable reads a file whose content no store can serve: the
// GET fails with 503 before a success status goes out, instead of a 200
// or 206 whose body breaks off. HEAD, which reads no content, succeeds.
func TestGetUnreadable(t *testing.T) {
	e := newEnv(t)
	data := payload(200_000, 3)
	e.must(http.StatusCreated, "PUT", "/bucket/f.bin", data)
	e.store.blobsDown.Store(true)
	for _, rng := range []string{"", "bytes=0-99", "bytes=150000-", "bytes=-10"} {
		var hdr []string
		if rng != "" {
			hdr = []string{"Range", rng}
		}
		resp, body := e.do("GET", "/bucket/f.bin", "", hdr...)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Content-Range") != "" {
			t.Errorf("GET %q with the content unreadable: %d, Content-Range %q, %d bytes; want 503",
				rng, resp.StatusCode, resp.Header.Get("Content-Range"), len(body))
		}
	}
	e.must(http.StatusOK, "HEAD", "/bucket/f.bin", "")
	e.store.blobsDown.Store(false)
	if _, body := e.must(http.StatusPartialContent, "GET", "/bucket/f.bin", "", "Range", "bytes=150000-"); body != data[150000:] {
		t.Error("GET after the store came back returned other bytes")
	}
}

// davProps is the 200 propstat of the one response of a PROPFIND of
// Depth 0: each property's name (namespace and local name) to its inner
// XML as sent.
func davProps(t *testing.T, body string) map[xml.Name]string {
	t.Helper()
	var ms struct {
		Responses []struct {
			Propstats []struct {
				Props struct {
					Any []struct {
						XMLName xml.Name
						Inner   string `xml:",innerxml"`
					} `xml:",any"`
				} `xml:"DAV: prop"`
				Status string `xml:"DAV: status"`
			} `xml:"DAV: propstat"`
		} `xml:"DAV: response"`
	}
	if err := xml.Unmarshal([]byte(body), &ms); err != nil || len(ms.Responses) != 1 {
		t.Fatalf("multistatus (%v):\n%s", err, body)
	}
	out := make(map[xml.Name]string)
	for _, ps := range ms.Responses[0].Propstats {
		if !strings.Contains(ps.Status, " 200 ") {
			continue
		}
		for _, p := range ps.Props.Any {
			out[p.XMLName] = p.Inner
		}
	}
	return out
}

// TestMoveCopyKeepProperties checks that MOVE and COPY of a file carry its
// dead properties, content type and ETag in a bucket with and without
// versioning, and that MOVE keeps its modification time where it makes no
// new version.
func TestMoveCopyKeepProperties(t *testing.T) {
	color := xml.Name{Space: "urn:example:", Local: "color"}
	etag := xml.Name{Space: "DAV:", Local: "getetag"}
	lastmod := xml.Name{Space: "DAV:", Local: "getlastmodified"}
	ctype := xml.Name{Space: "DAV:", Local: "getcontenttype"}
	const value = "deep blue &amp; green"
	set := `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:example:"><D:set><D:prop>` +
		`<Z:color>` + value + `</Z:color></D:prop></D:set></D:propertyupdate>`
	find := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><Z:color xmlns:Z="urn:example:"/>` +
		`<D:getetag/><D:getlastmodified/><D:getcontenttype/></D:prop></D:propfind>`
	for _, versioning := range []string{"", gateway.VersioningEnabled, gateway.VersioningSuspended} {
		for _, method := range []string{"MOVE", "COPY"} {
			for _, content := range []string{"small", payload(70_000, 9)} { // inline and with a blob
				t.Run(fmt.Sprintf("%s/%q/%d", method, versioning, len(content)), func(t *testing.T) {
					var now atomic.Int64
					now.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
					e := newEnvClock(t, func() time.Time { return time.Unix(0, now.Load()) })
					if versioning != "" {
						if err := e.ns.SetBucketVersioning(context.Background(), "bucket", versioning); err != nil {
							t.Fatal(err)
						}
					}
					e.must(http.StatusCreated, "PUT", "/bucket/src", content, "Content-Type", "application/x-example")
					e.must(webdav.StatusMulti, "PROPPATCH", "/bucket/src", set)
					_, body := e.must(webdav.StatusMulti, "PROPFIND", "/bucket/src", find, "Depth", "0")
					before := davProps(t, body)
					if before[color] != value || before[ctype] != "application/x-example" || before[etag] == "" || before[lastmod] == "" {
						t.Fatalf("PROPFIND of the source: %q", before)
					}
					// A later modification time would show if MOVE changed it.
					now.Add(int64(time.Hour))
					e.must(http.StatusCreated, method, "/bucket/src", "", "Destination", e.url+"/bucket/dst")
					_, body = e.must(webdav.StatusMulti, "PROPFIND", "/bucket/dst", find, "Depth", "0")
					after := davProps(t, body)
					want := map[xml.Name]string{color: before[color], ctype: before[ctype], etag: before[etag]}
					if method == "MOVE" {
						// A new version is written at the time of the
						// MOVE; without versioning the file keeps its
						// time.
						want[lastmod] = before[lastmod]
						if versioning != "" {
							want[lastmod] = time.Unix(0, now.Load()).UTC().Format(http.TimeFormat)
						}
						e.must(http.StatusNotFound, "PROPFIND", "/bucket/src", "", "Depth", "0")
					}
					for n, v := range want {
						if after[n] != v {
							t.Errorf("%s after %s: %q, want %q", n.Local, method, after[n], v)
						}
					}
					if _, got := e.must(http.StatusOK, "GET", "/bucket/dst", ""); got != content {
						t.Errorf("content after %s differs", method)
					}
					// A time the client set moves and copies with the file.
					e.must(http.StatusCreated, "PUT", "/bucket/timed", content, "X-OC-Mtime", "1700000000")
					e.must(http.StatusCreated, method, "/bucket/timed", "", "Destination", e.url+"/bucket/timed2")
					_, body = e.must(webdav.StatusMulti, "PROPFIND", "/bucket/timed2", find, "Depth", "0")
					if got, want := davProps(t, body)[lastmod], time.Unix(1700000000, 0).UTC().Format(http.TimeFormat); got != want {
						t.Errorf("client's time after %s: %q, want %q", method, got, want)
					}
				})
			}
		}
	}
}
