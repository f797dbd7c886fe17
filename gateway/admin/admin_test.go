package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/twincrypt/twincrypt/gateway"
)

func TestProbesMetricsAndDebug(t *testing.T) {
	var ready error
	h := New(Options{
		Users:   map[string]string{"AK": "SECRETSECRET"},
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metrics\n") }),
		Ready:   func(context.Context) error { return ready },
		Debug:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "debug "+r.URL.Path) }),
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path string, sign bool) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if sign {
			req.Header.Set("X-Amz-Content-Sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
			req = signer.SignV4(*req, "AK", "SECRETSECRET", "", "us-east-1")
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz", false); code != 200 || body != "ok\n" {
		t.Errorf("readyz: %d %q", code, body)
	}
	ready = errors.New("2 of 3 providers down, 2 needed for a write")
	if code, body := get("/readyz", false); code != 503 || !strings.Contains(body, "providers down") {
		t.Errorf("readyz when not ready: %d %q", code, body)
	}
	if code, body := get("/metrics", false); code != 200 || body != "metrics\n" {
		t.Errorf("metrics: %d %q", code, body)
	}
	if code, body := get("/debug/pprof/", false); code == 200 || strings.Contains(body, "debug") {
		t.Errorf("debug without a signature: %d %q", code, body)
	}
	if code, body := get("/debug/pprof/", true); code != 200 || body != "debug /debug/pprof/" {
		t.Errorf("signed debug: %d %q", code, body)
	}
}

func TestNoMetricsNoDebug(t *testing.T) {
	srv := httptest.NewServer(New(Options{Users: map[string]string{"AK": "SECRETSECRET"}}))
	defer srv.Close()
	for _, p := range []string{"/metrics", "/debug/pprof/"} {
		resp, err := srv.Client().Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
}

// fakeAccess runs every user as itself and allows no bucket.
type fakeAccess struct{}

func (fakeAccess) UserContext(ctx context.Context, accessKey string) (context.Context, error) {
	return ctx, nil
}

func (fakeAccess) Authorize(ctx context.Context, bucket string, want gateway.Access) error {
	return gateway.ErrAccessDenied
}

// TestAdministratorsOnly checks that users who are not administrators may
// neither run commands nor reach /debug/.
func TestAdministratorsOnly(t *testing.T) {
	ran := false
	h := New(Options{
		Users:  map[string]string{"AK": "SECRETSECRET", "ADMIN": "ADMINSECRET"},
		Access: fakeAccess{},
		Admins: map[string]bool{"ADMIN": true},
		Run: func(ctx context.Context, req RunRequest, out io.Writer) int {
			ran = true
			return 0
		},
		Debug: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "debug") }),
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	tests := []struct {
		key, secret, method, path, body string
		status                          int
	}{
		{"AK", "SECRETSECRET", "POST", "/api/v1/run", `{"args": ["scrub"]}`, 403},
		{"AK", "SECRETSECRET", "GET", "/debug/pprof/", "", 403},
		{"ADMIN", "ADMINSECRET", "GET", "/debug/pprof/", "", 200},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
		sum := sha256.Sum256([]byte(tt.body))
		req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
		req = signer.SignV4(*req, tt.key, tt.secret, "", "us-east-1")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s as %s: %d %s, want %d", tt.method, tt.path, tt.key, resp.StatusCode, b, tt.status)
		}
	}
	if ran {
		t.Error("a user who is not an administrator ran a command")
	}
}
