package guard

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRefuseAndLoginFailed runs the helpers every front end refuses and
// counts failed logins with: failures are logged in one shape and counted
// per address; a throttled address is answered by the front end's refusal
// with Retry-After, without its body being read.
func TestRefuseAndLoginFailed(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := NewThrottle(ThrottleOptions{Burst: 2, Interval: 30 * time.Second, Now: clock.now})
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	refuse := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "refused")
	})
	request := func(addr string, body string) *http.Request {
		r := httptest.NewRequest("PUT", "http://gw.test/a/b", strings.NewReader(body))
		r.RemoteAddr = addr + ":1234"
		return r
	}
	tests := []struct {
		addr    string
		fail    bool // record a failed login after the check
		refused bool
	}{
		{"192.0.2.1", true, false},
		{"192.0.2.1", true, false},
		{"192.0.2.1", false, true},
		{"192.0.2.1", true, true}, // not checked, so not counted either
		{"192.0.2.2", false, false},
		{"192.0.2.2", true, false},
		{"192.0.2.2", false, false},
	}
	for i, tt := range tests {
		r := request(tt.addr, "body")
		w := httptest.NewRecorder()
		if got := th.Refuse(w, r, refuse); got != tt.refused {
			t.Fatalf("step %d (%s): Refuse = %v, want %v", i, tt.addr, got, tt.refused)
		}
		if !tt.refused {
			if w.Code != 200 || w.Body.Len() != 0 || len(w.Header()) != 0 {
				t.Errorf("step %d: Refuse wrote %d %q %v to an allowed request", i, w.Code, w.Body, w.Header())
			}
			if tt.fail {
				th.LoginFailed(log, r, "test", "user", LoggedName(strings.Repeat("u", MaxLoggedName+10)))
			}
			continue
		}
		if w.Code != http.StatusTeapot || w.Body.String() != "refused" {
			t.Errorf("step %d: refusal %d %q, want the front end's", i, w.Code, w.Body)
		}
		if got := w.Header().Get("Retry-After"); got != "30" {
			t.Errorf("step %d: Retry-After %q, want 30", i, got)
		}
		if got := w.Header().Get("Connection"); got != "close" {
			t.Errorf("step %d: Connection %q, want close (the body was not read)", i, got)
		}
		if b, _ := io.ReadAll(r.Body); string(b) != "body" {
			t.Errorf("step %d: the body was read", i)
		}
	}
	if got := th.Refused(); got != 2 {
		t.Errorf("Refused() = %d, want 2", got)
	}
	user := strings.Repeat("u", MaxLoggedName) + "..."
	want := `level=WARN msg="test login failed" client=192.0.2.1 user=` + user + ` method=PUT path=/a/b
level=WARN msg="test login failed" client=192.0.2.1 user=` + user + ` method=PUT path=/a/b
level=WARN msg="client throttled after failed logins" client=192.0.2.1 front_end=test retry_after=30s
level=WARN msg="test login failed" client=192.0.2.2 user=` + user + ` method=PUT path=/a/b
`
	if logs.String() != want {
		t.Errorf("log:\n%s\nwant:\n%s", logs.String(), want)
	}
}

// TestLoginHelpersNil checks that a nil Throttle refuses nothing and still
// logs failed logins.
func TestLoginHelpersNil(t *testing.T) {
	var th *Throttle
	var logs bytes.Buffer
	r := httptest.NewRequest("GET", "http://gw.test/", nil)
	w := httptest.NewRecorder()
	if th.Refuse(w, r, http.NotFoundHandler()) {
		t.Error("a nil Throttle refused")
	}
	th.LoginFailed(slog.New(slog.NewTextHandler(&logs, nil)), r, "test")
	if n := strings.Count(logs.String(), `msg="test login failed"`); n != 1 {
		t.Errorf("%d failed logins logged, want 1:\n%s", n, logs.String())
	}
}

func TestLoggedName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"alice", "alice"},
		{strings.Repeat("a", MaxLoggedName), strings.Repeat("a", MaxLoggedName)},
		{strings.Repeat("a", MaxLoggedName+1), strings.Repeat("a", MaxLoggedName) + "..."},
	}
	for _, tt := range tests {
		if got := LoggedName(tt.in); got != tt.want {
			t.Errorf("LoggedName(%d bytes) = %q, want %q", len(tt.in), got, tt.want)
		}
	}
}
