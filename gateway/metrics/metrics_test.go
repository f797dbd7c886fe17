package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/twincrypt/twincrypt/backends/replica"
)

func TestS3Operation(t *testing.T) {
	for _, c := range []struct {
		method, target, copySource, want string
	}{
		{"GET", "/", "", "ListBuckets"},
		{"PUT", "/b", "", "CreateBucket"},
		{"PUT", "/b/", "", "CreateBucket"},
		{"HEAD", "/b", "", "HeadBucket"},
		{"DELETE", "/b", "", "DeleteBucket"},
		{"GET", "/b", "", "ListObjects"},
		{"GET", "/b?list-type=2&prefix=a", "", "ListObjectsV2"},
		{"GET", "/b?location", "", "GetBucketLocation"},
		{"GET", "/b?versioning", "", "GetBucketVersioning"},
		{"PUT", "/b?tagging", "", "PutBucketTagging"},
		{"GET", "/b?uploads", "", "ListMultipartUploads"},
		{"GET", "/b?versions", "", "ListObjectVersions"},
		{"POST", "/b?delete", "", "DeleteObjects"},
		{"PUT", "/b/k", "", "PutObject"},
		{"PUT", "/b/dir/k.txt", "", "PutObject"},
		{"PUT", "/b/k", "/b/src", "CopyObject"},
		{"GET", "/b/k", "", "GetObject"},
		{"HEAD", "/b/k", "", "HeadObject"},
		{"DELETE", "/b/k", "", "DeleteObject"},
		{"POST", "/b/k?uploads", "", "CreateMultipartUpload"},
		{"PUT", "/b/k?partNumber=1&uploadId=u", "", "UploadPart"},
		{"PUT", "/b/k?partNumber=1&uploadId=u", "/b/src", "UploadPartCopy"},
		{"GET", "/b/k?uploadId=u", "", "ListParts"},
		{"POST", "/b/k?uploadId=u", "", "CompleteMultipartUpload"},
		{"DELETE", "/b/k?uploadId=u", "", "AbortMultipartUpload"},
		{"GET", "/b/k?tagging", "", "GetObjectTagging"},
		{"PUT", "/b/k?tagging", "", "PutObjectTagging"},
		{"DELETE", "/b/k?tagging", "", "DeleteObjectTagging"},
		{"OPTIONS", "/b/k", "", "PreflightRequest"},
		{"OPTIONS", "/b", "", "PreflightRequest"},
		{"POST", "/b", "", "PostObject"},
		{"PATCH", "/b/k", "", "Unknown"},
		{"PUT", "/", "", "Unknown"},
		{"BREW", "/b", "", "Unknown"},
	} {
		r := httptest.NewRequest(c.method, c.target, nil)
		if c.copySource != "" {
			r.Header.Set("X-Amz-Copy-Source", c.copySource)
		}
		if got := S3Operation(r); got != c.want {
			t.Errorf("%s %s (copy %q) = %s, want %s", c.method, c.target, c.copySource, got, c.want)
		}
	}
}

func TestOtherOperations(t *testing.T) {
	for _, c := range []struct {
		op                   func(*http.Request) string
		method, target, want string
	}{
		{WebDAVOperation, "PROPFIND", "/a/b", "PROPFIND"},
		{WebDAVOperation, "MKCOL", "/a", "MKCOL"},
		{WebDAVOperation, "BREW", "/a", "OTHER"},
		{ShareOperation, "GET", "/s/abc", "page"},
		{ShareOperation, "POST", "/s/abc/open", "open"},
		{ShareOperation, "GET", "/s/abc/f/0/1", "blob"},
		{ShareOperation, "GET", "/s/page.js", "asset"},
		{ShareOperation, "GET", "/x", "other"},
		{AdminOperation, "GET", "/metrics", "metrics"},
		{AdminOperation, "GET", "/healthz", "healthz"},
		{AdminOperation, "GET", "/readyz", "readyz"},
		{AdminOperation, "GET", "/debug/pprof/heap", "debug"},
		{AdminOperation, "POST", "/api/v1/run", "run"},
		{AdminOperation, "DELETE", "/api/v1/shares/x", "shares"},
		{AdminOperation, "GET", "/nope", "other"},
	} {
		if got := c.op(httptest.NewRequest(c.method, c.target, nil)); got != c.want {
			t.Errorf("%s %s = %s, want %s", c.method, c.target, got, c.want)
		}
	}
}

func TestWrapCounts(t *testing.T) {
	m := New(Sources{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch r.Method {
		case http.MethodPut:
			w.WriteHeader(http.StatusOK)
		case http.MethodGet:
			if strings.HasSuffix(r.URL.Path, "missing") {
				http.Error(w, "no such key", http.StatusNotFound)
				return
			}
			io.WriteString(w, "hello") // implicit 200
		case http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case http.MethodHead:
			// writes nothing: net/http answers 200
		}
	})
	var infos []Info
	srv := httptest.NewServer(m.Wrap(S3, S3Operation, h, func(r *http.Request, i Info) { infos = append(infos, i) }))
	defer srv.Close()
	do := func(method, path, body string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for range 3 {
		do("PUT", "/b/k", "0123456789")
	}
	do("GET", "/b/k", "")
	do("GET", "/b/k", "")
	do("GET", "/b/missing", "")
	do("DELETE", "/b/k", "")
	do("HEAD", "/b/k", "")
	for _, c := range []struct {
		op, code string
		want     float64
	}{
		{"PutObject", "200", 3},
		{"GetObject", "200", 2},
		{"GetObject", "404", 1},
		{"DeleteObject", "204", 1},
		{"HeadObject", "200", 1},
	} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(S3, c.op, c.code)); got != c.want {
			t.Errorf("requests %s %s = %v, want %v", c.op, c.code, got, c.want)
		}
	}
	if got := testutil.ToFloat64(m.bytesIn.WithLabelValues(S3)); got != 30 {
		t.Errorf("bytes in = %v, want 30", got)
	}
	// 2 × "hello" and http.Error's "no such key\n".
	if got := testutil.ToFloat64(m.bytesOut.WithLabelValues(S3)); got != 10+12 {
		t.Errorf("bytes out = %v, want 22", got)
	}
	if n := testutil.CollectAndCount(m.latency); n != 4 {
		t.Errorf("%d latency series, want 4 (one per operation)", n)
	}
	if len(infos) != 8 || infos[0].Operation != "PutObject" || infos[0].BytesIn != 10 || infos[5].Status != 404 {
		t.Errorf("observed %+v", infos)
	}
}

func TestWrapKeepsFlusher(t *testing.T) {
	m := New(Sources{})
	h := m.Wrap(Admin, AdminOperation, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(http.Flusher); !ok {
			t.Error("the wrapped writer is no http.Flusher")
		}
		if err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("SetReadDeadline through the wrapper: %v", err)
		}
		w.(http.Flusher).Flush()
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/api/v1/run")
	if err != nil {
		t.Fatal(err)
	}
	// The flushed response reaches the client before the handler returns;
	// its end is written only after the wrapper has counted the request.
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := testutil.ToFloat64(m.requests.WithLabelValues(Admin, "run", "200")); got != 1 {
		t.Errorf("run 200 = %v, want 1", got)
	}
}

func TestCollector(t *testing.T) {
	storedCalls := 0
	m := New(Sources{
		Health: func() []replica.MemberHealth {
			return []replica.MemberHealth{
				{Name: "a", State: replica.StateUp, Latency: 20 * time.Millisecond, Successes: 5, Failures: 1, WrittenBytes: 120},
				{Name: "b", State: replica.StateDown, Failures: 7, WrittenBytes: 80},
			}
		},
		Traffic:        func() replica.Traffic { return replica.Traffic{Reads: 2, ReadBytes: 100, WrittenBytes: 200} },
		QueueDepth:     func(context.Context) (int, error) { return 4, nil },
		Stored:         func(context.Context) (int64, int64, error) { storedCalls++; return 3, 300, nil },
		ShareDownloads: func() int64 { return 6 },
		LoginRefused:   func() int64 { return 9 },
	})
	want := `
# HELP twincrypt_provider_up 1 while a provider's breaker lets requests through, 0 while it is down or probing.
# TYPE twincrypt_provider_up gauge
twincrypt_provider_up{provider="a"} 1
twincrypt_provider_up{provider="b"} 0
# HELP twincrypt_provider_errors_total Provider requests that failed with an availability error (not an answer about the object).
# TYPE twincrypt_provider_errors_total counter
twincrypt_provider_errors_total{provider="a"} 1
twincrypt_provider_errors_total{provider="b"} 7
# HELP twincrypt_repair_queue_tasks Tasks on the repair queue (recomputed at most every 10s).
# TYPE twincrypt_repair_queue_tasks gauge
twincrypt_repair_queue_tasks 4
# HELP twincrypt_stored_objects Objects in the catalog (recomputed at most once a minute).
# TYPE twincrypt_stored_objects gauge
twincrypt_stored_objects 3
# HELP twincrypt_stored_bytes Plaintext bytes of the objects in the catalog (recomputed at most once a minute).
# TYPE twincrypt_stored_bytes gauge
twincrypt_stored_bytes 300
# HELP twincrypt_share_downloads_total Share links opened (downloads counted against a link).
# TYPE twincrypt_share_downloads_total counter
twincrypt_share_downloads_total 6
# HELP twincrypt_login_refused_total Logins refused by the per-address throttle after repeated failures.
# TYPE twincrypt_login_refused_total counter
twincrypt_login_refused_total 9
# HELP twincrypt_provider_written_bytes_total Bytes written to a provider.
# TYPE twincrypt_provider_written_bytes_total counter
twincrypt_provider_written_bytes_total{provider="a"} 120
twincrypt_provider_written_bytes_total{provider="b"} 80
`
	names := []string{"twincrypt_provider_up", "twincrypt_provider_errors_total", "twincrypt_repair_queue_tasks",
		"twincrypt_stored_objects", "twincrypt_stored_bytes", "twincrypt_share_downloads_total",
		"twincrypt_login_refused_total", "twincrypt_provider_written_bytes_total"}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if storedCalls != 1 {
		// Not at registration either.
		t.Errorf("the catalog was counted %d times in two scrapes, want once", storedCalls)
	}
	if problems, err := testutil.GatherAndLint(m.Registry()); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}
