package admin

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/twincrypt/twincrypt/gateway/guard"
)

// TestLoginThrottle checks that the admin API counts wrong signatures and
// unknown access keys per client address in the shared login throttle,
// refuses an address that used up its failures (503, Retry-After, a JSON
// error) even with the right signature, and leaves other addresses, right
// logins and the unauthenticated endpoints alone.
func TestLoginThrottle(t *testing.T) {
	const burst = 3
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	now := time.Unix(1_800_000_000, 0)
	throttle := guard.NewThrottle(guard.ThrottleOptions{Burst: burst, Interval: time.Minute, Now: func() time.Time { return now }})
	h := New(Options{
		Users:    map[string]string{"AK": "SECRETSECRET"},
		Throttle: throttle,
		Logger:   log,
		Metrics:  http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metrics\n") }),
		Debug:    http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "debug") }),
	})
	const (
		right   = "SECRETSECRET"
		wrong   = "WRONGSECRET"
		unknown = "unknown"
	)
	tests := []struct {
		name   string
		addr   string // client IP
		path   string
		secret string // "": unsigned; unknown: signed with an unknown access key
		times  int
		status int
	}{
		{"right logins do not count", "192.0.2.1", "/debug/vars", right, 2 * burst, 200},
		{"wrong signatures are checked", "192.0.2.1", "/debug/vars", wrong, burst, 403},
		{"then the right signature is refused", "192.0.2.1", "/debug/vars", right, 1, 503},
		{"and so is a wrong one, unchecked", "192.0.2.1", "/api/v1/shares", wrong, 2, 503},
		{"the API too", "192.0.2.1", "/api/v1/shares", right, 1, 503},
		{"healthz is not throttled", "192.0.2.1", "/healthz", "", 1, 200},
		{"readyz is not throttled", "192.0.2.1", "/readyz", "", 1, 200},
		{"metrics is not throttled", "192.0.2.1", "/metrics", "", 1, 200},
		{"another address logs in", "192.0.2.2", "/debug/vars", right, 1, 200},
		{"unknown access keys count", "192.0.2.3", "/debug/vars", unknown, burst, 403},
		{"then that address is refused", "192.0.2.3", "/debug/vars", right, 1, 503},
		{"the other address still logs in", "192.0.2.2", "/debug/vars", right, 1, 200},
	}
	refused := 0
	for _, tt := range tests {
		for i := range tt.times {
			req := httptest.NewRequest("GET", "http://admin.test"+tt.path, nil)
			req.RemoteAddr = tt.addr + ":40000"
			if tt.secret != "" {
				key, secret := "AK", tt.secret
				if secret == unknown {
					key, secret = "NOSUCHKEY", right
				}
				req.Header.Set("X-Amz-Content-Sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
				req = signer.SignV4(*req, key, secret, "", "us-east-1")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("%s (#%d): %d %s, want %d", tt.name, i+1, rec.Code, rec.Body, tt.status)
			}
			if rec.Code != http.StatusServiceUnavailable {
				continue
			}
			refused++
			var e ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error != throttledMessage {
				t.Errorf("%s: body %q (%v), want the JSON error %q", tt.name, rec.Body, err, throttledMessage)
			}
			if got := rec.Header().Get("Retry-After"); got != "60" {
				t.Errorf("%s: Retry-After %q, want 60", tt.name, got)
			}
		}
	}
	if got := throttle.Refused(); got != int64(refused) {
		t.Errorf("the throttle counted %d refusals, want %d", got, refused)
	}
	out := logs.String()
	for _, c := range []struct {
		line string
		n    int
	}{
		{`msg="admin login failed" client=192.0.2.1 access_key=AK reason=SignatureDoesNotMatch method=GET path=/debug/vars`, burst},
		{`msg="admin login failed" client=192.0.2.3 access_key=NOSUCHKEY reason=InvalidAccessKeyId method=GET path=/debug/vars`, burst},
		{`msg="admin login failed"`, 2 * burst},
		{`msg="client throttled after failed logins" client=192.0.2.1 front_end=admin retry_after=1m0s`, 1},
		{`msg="client throttled after failed logins" client=192.0.2.3 front_end=admin retry_after=1m0s`, 1},
		{`msg="client throttled after failed logins"`, 2},
	} {
		if got := strings.Count(out, c.line); got != c.n {
			t.Errorf("%d log lines with %s, want %d", got, c.line, c.n)
		}
	}
	if strings.Contains(out, right) || strings.Contains(out, wrong) {
		t.Errorf("a secret reached the log:\n%s", out)
	}
}

// TestNoThrottle checks that without a throttle every login is checked.
func TestNoThrottle(t *testing.T) {
	h := New(Options{
		Users: map[string]string{"AK": "SECRETSECRET"},
		Debug: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "debug") }),
	})
	tests := []struct {
		secret string
		times  int
		status int
	}{
		{"WRONGSECRET", 50, 403},
		{"SECRETSECRET", 1, 200},
	}
	for _, tt := range tests {
		for range tt.times {
			req := httptest.NewRequest("GET", "http://admin.test/debug/vars", nil)
			req.Header.Set("X-Amz-Content-Sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
			req = signer.SignV4(*req, "AK", tt.secret, "", "us-east-1")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("secret %s: %d %s, want %d", tt.secret, rec.Code, rec.Body, tt.status)
			}
		}
	}
}
