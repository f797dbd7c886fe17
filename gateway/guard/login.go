package guard

import (
	"log/slog"
	"net/http"
	"time"
)

// MaxLoggedName bounds the length of a client-supplied user name or access
// key in logs (see LoggedName).
const MaxLoggedName = 64

// LoggedName returns a client-supplied name cut to MaxLoggedName bytes
// (with "..." after it when cut), so that a client cannot fill the log.
func LoggedName(s string) string {
	if len(s) > MaxLoggedName {
		return s[:MaxLoggedName] + "..."
	}
	return s
}

// Refuse answers r with refuse, and returns true, when r's client address
// (ClientAddr) is throttled: before its credentials are checked, so that
// whether they are right or wrong the client learns nothing. The answer
// carries Retry-After (SetRetryAfter) and, if r has a body, closes the
// connection (CloseAfter); the body is not read. Otherwise Refuse writes
// nothing and returns false. A nil *Throttle refuses nothing. Every front
// end refuses throttled logins with it, each with its own answer.
func (t *Throttle) Refuse(w http.ResponseWriter, r *http.Request, refuse http.Handler) bool {
	if t == nil {
		return false
	}
	wait, ok := t.Allow(r.Context(), ClientAddr(r))
	if ok {
		return false
	}
	SetRetryAfter(w, wait)
	CloseAfter(w, r)
	refuse.ServeHTTP(w, r)
	return true
}

// LoginFailed logs a failed login from r and counts it against r's client
// address (Failure). The log line is a warning "<frontEnd> login failed"
// with the client address, then attrs (the name the client tried, cut with
// LoggedName, and why it failed; never a password, signature or anything
// else secret), then the request's method and path. When this failure
// uses up the address's last one, it also logs, once, "client throttled
// after failed logins" with the address, frontEnd and how long the address
// will be refused. A nil *Throttle logs the failure and counts nothing.
func (t *Throttle) LoginFailed(log *slog.Logger, r *http.Request, frontEnd string, attrs ...any) {
	addr := ClientAddr(r)
	args := make([]any, 0, 6+len(attrs))
	args = append(args, "client", addr)
	args = append(args, attrs...)
	args = append(args, "method", r.Method, "path", r.URL.Path)
	log.Warn(frontEnd+" login failed", args...)
	if wait, now := t.Failure(r.Context(), addr); now {
		log.Warn("client throttled after failed logins", "client", addr, "front_end", frontEnd, "retry_after", wait.Round(time.Second))
	}
}
