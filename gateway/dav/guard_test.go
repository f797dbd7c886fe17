package dav_test

import (
	"github.com/twincrypt/twincrypt/internal/testlog"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/gateway/dav"
	"github.com/twincrypt/twincrypt/gateway/guard"
)

// TestLoginThrottle guesses passwords: every wrong one is logged without
// the password, and after the throttle's burst the client is answered 429
// before its password is checked, even the right one. Requests without
// credentials still get the 401 challenge.
func TestLoginThrottle(t *testing.T) {
	var logs testlog.Buffer
	th := guard.NewThrottle(guard.ThrottleOptions{Burst: 5, Interval: time.Hour})
	e := newEnv(t, func(o *dav.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		o.Throttle = th
	})
	send := func(u, p string, auth bool, body string) *http.Response {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		method := "PROPFIND"
		if body != "" {
			method = "PUT"
		}
		req, err := http.NewRequest(method, e.url+"/bucket/guess", rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Depth", "0")
		if auth {
			req.SetBasicAuth(u, p)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	const guess = "guess-number-"
	for i := range 5 {
		body := ""
		if i%2 == 0 {
			body = "a body"
		}
		resp := send(user, guess+string(rune('a'+i)), true, body)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, resp.StatusCode)
		}
		if body != "" && !resp.Close {
			t.Errorf("guess %d with a body: the connection stays open", i)
		}
	}
	for i, tc := range []struct {
		name       string
		user, pass string
		auth       bool
		want       int
	}{
		{"another guess", user, guess + "z", true, http.StatusTooManyRequests},
		{"the right password", user, pass, true, http.StatusTooManyRequests},
		{"no credentials", "", "", false, http.StatusUnauthorized},
	} {
		resp := send(tc.user, tc.pass, tc.auth, "")
		if resp.StatusCode != tc.want {
			t.Fatalf("%d %s: %d, want %d", i, tc.name, resp.StatusCode, tc.want)
		}
		if tc.want == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After", tc.name)
		}
	}
	out := logs.String()
	if n := strings.Count(out, `msg="webdav login failed" client=127.0.0.1 user=`+user); n != 5 {
		t.Errorf("%d failed logins logged, want 5:\n%s", n, out)
	}
	if n := strings.Count(out, `msg="client throttled after failed logins" client=127.0.0.1 front_end=webdav`); n != 1 {
		t.Errorf("throttling logged %d times, want once:\n%s", n, out)
	}
	if strings.Contains(out, guess) || strings.Contains(out, pass) {
		t.Errorf("a password reached the log:\n%s", out)
	}
}
