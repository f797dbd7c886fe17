package s3api_test

import (
	"github.com/twincrypt/twincrypt/internal/testlog"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/twincrypt/twincrypt/gateway/guard"
	"github.com/twincrypt/twincrypt/gateway/s3api"
	"github.com/twincrypt/twincrypt/internal/testns"
)

// TestLoginThrottle signs requests with a wrong secret and an unknown
// access key: each is logged without secrets and counted against the
// client, which after three is answered 503 SlowDown before its signature
// is checked, even with the right secret.
func TestLoginThrottle(t *testing.T) {
	var logs testlog.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	th := guard.NewThrottle(guard.ThrottleOptions{Burst: 3, Interval: time.Hour})
	ns := testns.New(t, testns.Options{}).NS
	srv := httptest.NewServer(s3api.New(ns, s3api.Options{Users: map[string]string{accessKey: secretKey}, Logger: log, Throttle: th}))
	defer srv.Close()

	send := func(ak, sk string, body string) (int, string, *http.Response) {
		t.Helper()
		req, err := http.NewRequest("PUT", srv.URL+"/unit", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		req = signer.SignV4(*req, ak, sk, "", "us-east-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp
	}
	const wrongSecret = "not-the-secret-key-1234"
	tests := []struct {
		name     string
		ak, sk   string
		status   int
		code     string
		anAnswer bool // Retry-After expected
	}{
		{"wrong secret", accessKey, wrongSecret, 403, "SignatureDoesNotMatch", false},
		{"unknown access key", "nobody-" + strings.Repeat("x", 100), wrongSecret, 403, "InvalidAccessKeyId", false},
		{"wrong secret again", accessKey, wrongSecret, 403, "SignatureDoesNotMatch", false},
		{"throttled", accessKey, wrongSecret, 503, "SlowDown", true},
		{"right secret while throttled", accessKey, secretKey, 503, "SlowDown", true},
	}
	for _, tt := range tests {
		status, body, resp := send(tt.ak, tt.sk, "some body")
		hdr := resp.Header
		if status != tt.status || !strings.Contains(body, "<Code>"+tt.code+"</Code>") {
			t.Fatalf("%s: %d %s, want %d %s", tt.name, status, body, tt.status, tt.code)
		}
		if got := hdr.Get("Retry-After") != ""; got != tt.anAnswer {
			t.Errorf("%s: Retry-After %q", tt.name, hdr.Get("Retry-After"))
		}
		if !resp.Close {
			t.Errorf("%s: a refused request with a body keeps its connection", tt.name)
		}
	}
	out := logs.String()
	if n := strings.Count(out, `msg="s3 login failed" client=127.0.0.1 access_key=`+accessKey); n != 2 {
		t.Errorf("%d failed logins of %s logged, want 2:\n%s", n, accessKey, out)
	}
	if !strings.Contains(out, "access_key="+"nobody-"+strings.Repeat("x", 57)+"...") {
		t.Errorf("the unknown access key is not logged, shortened:\n%s", out)
	}
	if n := strings.Count(out, `msg="client throttled after failed logins" client=127.0.0.1`); n != 1 {
		t.Errorf("throttling logged %d times, want once:\n%s", n, out)
	}
	if strings.Contains(out, wrongSecret) || strings.Contains(out, secretKey) || strings.Contains(out, "Signature=") {
		t.Errorf("a secret or signature reached the log:\n%s", out)
	}
	if th.Refused() != 2 {
		t.Errorf("Refused() = %d, want 2", th.Refused())
	}
}
