package sigv4

import (
	"log/slog"
	"net/http"

	"github.com/twincrypt/twincrypt/gateway/guard"
)

// HasCredentials reports whether r carries a signature (in the
// Authorization header or as a presigned URL), that is, whether it is a
// login attempt.
func HasCredentials(r *http.Request) bool {
	if r.Header.Get("Authorization") != "" {
		return true
	}
	q := r.URL.Query()
	return q.Has("X-Amz-Credential") || q.Has("X-Amz-Signature")
}

// Throttle returns a handler that answers signed requests (HasCredentials)
// from client addresses t throttles with refuse, before their signature is
// checked (guard.Throttle.Refuse), and passes every other request to next.
// A nil t throttles nothing.
func Throttle(t *guard.Throttle, refuse http.Handler, next http.Handler) http.Handler {
	if t == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if HasCredentials(r) && t.Refuse(w, r, refuse) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Guess reports whether e is the failure of a guess at credentials: a
// wrong signature or an unknown access key. It also returns the access key
// the request named, cut for logging (guard.LoggedName). Other
// authentication failures (expired URLs, skewed clocks, malformed headers)
// are not guesses.
func (e *Error) Guess() (accessKey string, ok bool) {
	if e.Code != CodeSignatureDoesNotMatch && e.Code != CodeInvalidAccessKeyID {
		return "", false
	}
	for _, x := range e.Extra {
		if x.Name == "AWSAccessKeyId" {
			accessKey = x.Value
		}
	}
	return guard.LoggedName(accessKey), true
}

// LoginFailures returns a failure hook (see WithFailureHook) for the front
// end named frontEnd ("s3", "admin"): it logs a failure that is a guess
// (Error.Guess) and counts it against the client with t
// (guard.Throttle.LoginFailed). The log line names the access key and the
// error code; the signature and the string to sign stay out. Every front
// end that authenticates with SigV4 counts its failures with it, so that
// they count together in one shared t.
func LoginFailures(t *guard.Throttle, log *slog.Logger, frontEnd string) func(r *http.Request, e *Error) {
	return func(r *http.Request, e *Error) {
		if key, ok := e.Guess(); ok {
			t.LoginFailed(log, r, frontEnd, "access_key", key, "reason", e.Code)
		}
	}
}
