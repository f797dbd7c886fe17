// Package dav is twincrypt's WebDAV front end. It serves the namespace of
// package gateway with golang.org/x/net/webdav: the root lists buckets,
// /<bucket>/<key> names an object, and directories are the "/"-separated
// prefixes of keys (docs/WEBDAV.md describes the mapping).
//
// New composes the handler from the inside out:
//
//   - webdav.Handler over a webdav.FileSystem that speaks only to
//     *gateway.Namespace: Stat and OpenFile read the catalog alone, Read
//     fetches only the chunks it needs, writes stream into
//     Namespace.PutObject, MOVE is Namespace.Rename (meta records only,
//     where no bucket has versioning),
//     COPY is Namespace.CopyObject, and dead properties live encrypted in
//     each object's meta record; ownCloud's conventions for sync clients
//     are followed (mtime.go): the X-OC-Mtime of a PUT and PROPPATCH of
//     the modification time are stored as the object's metadata
//     gateway.MtimeMeta and reported as getlastmodified, and oc:checksums
//     holds the content's MD5;
//   - a protocol fixer for what x/net/webdav gets wrong or leaves out: a
//     missing Overwrite header on MOVE means T, PROPFIND of infinite depth
//     on a collection is refused with DAV:propfind-finite-depth, If-Match
//     and If-None-Match on PUT are evaluated by the namespace under its
//     per-key lock, entity tags in If headers are evaluated, LOCK is
//     answered here so that shared locks work (see SharedLockSystem), and
//     precise error statuses replace x/net's generic ones;
//   - HTTP Basic authentication against the gateway's users (the S3 access
//     key and secret key pairs), on every request, with failed logins
//     logged and throttled per client address (guard.Throttle);
//   - outermost, the limits of package guard: requests in flight and a
//     deadline on every read of a request body.
package dav

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"golang.org/x/net/webdav"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/guard"
)

// Realm is the Basic authentication realm the front end announces.
const Realm = "twincrypt"

// maxRequestBody bounds the XML bodies of methods other than PUT (PROPFIND,
// PROPPATCH, LOCK, ...), which are read into memory.
const maxRequestBody = 1 << 20

// Options configure the WebDAV front end.
type Options struct {
	// Users maps user names (S3 access keys) to passwords (secret keys).
	// Every request must authenticate as one of them with HTTP Basic
	// authentication. With no users, every request is refused.
	Users map[string]string
	// Logger receives request failures; nil discards them.
	Logger *slog.Logger
	// Locks holds WebDAV locks. nil means NewMemLocks(): locks live in
	// this process only and are lost on restart. Shared locks are granted
	// when Locks implements SharedLockSystem.
	Locks webdav.LockSystem
	// Throttle counts failed logins per client address; a client it
	// throttles is answered 429 Too Many Requests before its password is
	// checked. nil: no throttling.
	Throttle *guard.Throttle
	// MaxRequests bounds the requests handled at once; more are answered
	// 503 Service Unavailable. 0: no bound.
	MaxRequests int
	// BodyTimeout is how long a read of a request body may wait for data
	// before the request fails and its connection is closed. 0: no limit.
	BodyTimeout time.Duration
}

// New returns the WebDAV front end for ns.
func New(ns *gateway.Namespace, o Options) http.Handler {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	locks := o.Locks
	if locks == nil {
		locks = NewMemLocks()
	}
	fs := &fileSystem{ns: ns, log: log}
	wd := &webdav.Handler{
		FileSystem: fs,
		LockSystem: locks,
		Logger: func(r *http.Request, err error) {
			if err != nil {
				log.Debug("webdav request", "method", r.Method, "path", r.URL.Path, "err", err)
			}
		},
	}
	h := authenticate(ns, o.Users, o.Throttle, log, authorize(ns, &fixer{fs: fs, wd: wd, locks: locks, log: log}))
	return guard.Protect(h, guard.Options{MaxRequests: o.MaxRequests, BodyTimeout: o.BodyTimeout})
}

// credential is the SHA-256 of a user name or password, so that comparisons
// take the same time whatever the lengths.
type credential [sha256.Size]byte

// authenticate requires HTTP Basic authentication as one of users, and runs
// the request as that user of ns (gateway.WithUser). A wrong
// user name or password is logged (the user name, never the password) and
// counted against the client by throttle; a client that throttle refuses
// is answered 429 before its password is checked. Refusals do not read
// the request body and close the connection if there is one.
func authenticate(ns *gateway.Namespace, users map[string]string, throttle *guard.Throttle, log *slog.Logger, next http.Handler) http.Handler {
	type pair struct{ user, pass credential }
	pairs := make([]pair, 0, len(users))
	for u, p := range users {
		pairs = append(pairs, pair{sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if ok {
			if throttle.Refuse(w, r, http.HandlerFunc(tooManyFailures)) {
				return
			}
			u, p := credential(sha256.Sum256([]byte(user))), credential(sha256.Sum256([]byte(pass)))
			match := 0
			// Compare against every user, so that the time taken does
			// not tell which user names exist.
			for _, c := range pairs {
				match |= subtle.ConstantTimeCompare(u[:], c.user[:]) & subtle.ConstantTimeCompare(p[:], c.pass[:])
			}
			if match == 1 {
				ctx, err := ns.UserContext(r.Context(), user)
				if err != nil {
					guard.CloseAfter(w, r)
					http.Error(w, "access denied", http.StatusForbidden)
					return
				}
				next.ServeHTTP(w, r.WithContext(ctx))
				return
			}
			throttle.LoginFailed(log, r, "webdav", "user", guard.LoggedName(user))
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`", charset="UTF-8"`)
		guard.CloseAfter(w, r)
		http.Error(w, "authentication required", http.StatusUnauthorized)
	})
}

// tooManyFailures answers a login from a client address the throttle
// refuses: 429 Too Many Requests.
func tooManyFailures(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "too many failed logins; retry later", http.StatusTooManyRequests)
}

// state carries per-request facts between the fixer and the file system.
type state struct {
	// body is the request body as handed to webdav.Handler, so that a
	// File's ReadFrom knows it is receiving the PUT body.
	body io.Reader
	// size is the request's Content-Length, -1 if unknown.
	size int64
	// contentType is the PUT request's Content-Type, if any.
	contentType string
	// mtime is the client's modification time a PUT carries in
	// X-OC-Mtime, in the format of gateway.MtimeMeta; "" if none.
	mtime string
	// ifMatch and ifNoneMatch are the PUT request's conditions.
	ifMatch, ifNoneMatch string
	// status, when set, replaces the error status webdav.Handler answers
	// with: the file system knows better (412, 409, 403, ...).
	status int
	// cache holds what read-only requests learnt about paths, so that
	// PROPFIND Depth 1 looks each child up once, in its directory's
	// listing. nil for requests that change anything.
	cache map[string]*fileInfo
	// get is set for GET requests; content is the file a GET opened,
	// whose content statusWriter opens before a success status goes out.
	get     bool
	content *file
}

type stateKey struct{}

func stateFrom(ctx context.Context) *state {
	st, _ := ctx.Value(stateKey{}).(*state)
	return st
}

// fail records the status to answer with if the request fails. The first
// recorded status wins.
func fail(ctx context.Context, status int) {
	if st := stateFrom(ctx); st != nil && st.status == 0 {
		st.status = status
	}
}

// fixer corrects x/net/webdav's protocol gaps (see the package comment).
type fixer struct {
	fs *fileSystem
	// wd is the handler requests go on to; each request gets a copy whose
	// lock system records an ErrUnavailable as 503 (requestLocks).
	wd    *webdav.Handler
	locks webdav.LockSystem
	log   *slog.Logger
}

// requestLocks is the lock system as one request sees it: an error that
// wraps ErrUnavailable makes the request fail with 503 instead of the
// 500 webdav.Handler answers for any error of a lock system.
type requestLocks struct {
	webdav.LockSystem
	ctx context.Context
	log *slog.Logger
}

func (l requestLocks) check(err error) error {
	if errors.Is(err, ErrUnavailable) {
		l.log.Error("webdav: the lock store is unreachable; answering 503", "err", err)
		fail(l.ctx, http.StatusServiceUnavailable)
	}
	return err
}

func (l requestLocks) Confirm(now time.Time, name0, name1 string, conditions ...webdav.Condition) (func(), error) {
	release, err := l.LockSystem.Confirm(now, name0, name1, conditions...)
	return release, l.check(err)
}

func (l requestLocks) Create(now time.Time, details webdav.LockDetails) (string, error) {
	token, err := l.LockSystem.Create(now, details)
	return token, l.check(err)
}

func (l requestLocks) Refresh(now time.Time, token string, duration time.Duration) (webdav.LockDetails, error) {
	details, err := l.LockSystem.Refresh(now, token, duration)
	return details, l.check(err)
}

func (l requestLocks) Unlock(now time.Time, token string) error {
	return l.check(l.LockSystem.Unlock(now, token))
}

// lockFailed answers a LOCK request whose lock system failed with err
// (other than ErrLocked or ErrNoSuchLock).
func (f *fixer) lockFailed(w http.ResponseWriter, what, name string, err error) {
	if errors.Is(err, ErrUnavailable) {
		f.log.Error("webdav "+what+": the lock store is unreachable", "path", name, "err", err)
		guard.SetRetryAfter(w, time.Second)
		http.Error(w, "lock store unavailable; retry later", http.StatusServiceUnavailable)
		return
	}
	f.log.Warn("webdav "+what, "path", name, "err", err)
	http.Error(w, what+" failed", http.StatusInternalServerError)
}

func (f *fixer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := &state{size: r.ContentLength}
	switch r.Method {
	case http.MethodGet, http.MethodHead, "PROPFIND", http.MethodOptions:
		st.cache = make(map[string]*fileInfo)
	}
	ctx := context.WithValue(r.Context(), stateKey{}, st)
	r = r.WithContext(ctx)
	if r.Method != http.MethodPut && r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
	}

	switch ow := r.Header.Get("Overwrite"); {
	case ow != "" && ow != "T" && ow != "F":
		http.Error(w, "Overwrite must be T or F", http.StatusBadRequest)
		return
	case ow == "" && r.Method == "MOVE":
		// RFC 4918, section 10.6: a missing Overwrite header means T.
		// x/net/webdav treats it as F for MOVE.
		r.Header.Set("Overwrite", "T")
	}

	switch r.Method {
	case "LOCK":
		f.serveLock(w, r)
		return
	case "PROPFIND", "PROPPATCH":
		// x/net/webdav accepts namespace declarations XML forbids.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "reading the request body failed", http.StatusBadRequest)
			return
		}
		if err := checkNamespaces(body); err != nil {
			http.Error(w, "malformed XML body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if r.Method == "PROPPATCH" {
			if renamed, ok := renameGetlastmodified(body); ok {
				body = renamed
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	if status := f.evalIf(ctx, r); status != 0 {
		http.Error(w, webdav.StatusText(status), status)
		return
	}

	switch r.Method {
	case "PROPFIND":
		depth := r.Header.Get("Depth")
		if depth == "" || strings.EqualFold(depth, "infinity") {
			// A missing Depth means infinity (RFC 4918, 9.1). A walk of a
			// whole tree is refused on collections, as the RFC allows.
			if fi, err := f.fs.Stat(ctx, r.URL.Path); err == nil && fi.IsDir() {
				w.Header().Set("Content-Type", "application/xml; charset=utf-8")
				w.WriteHeader(http.StatusForbidden)
				io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+
					`<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>`)
				return
			}
			// On a file, infinity is the same as 0.
			r.Header.Set("Depth", "0")
		}
	case http.MethodPut:
		st.body = r.Body
		st.contentType = r.Header.Get("Content-Type")
		st.ifMatch = r.Header.Get("If-Match")
		st.ifNoneMatch = r.Header.Get("If-None-Match")
		if v := r.Header.Get(ocMtimeHeader); v != "" {
			t, ok := parseOCMtime(v)
			if !ok {
				guard.CloseAfter(w, r)
				http.Error(w, "X-OC-Mtime must be a Unix time in seconds", http.StatusBadRequest)
				return
			}
			st.mtime = gateway.FormatMtime(t)
		}
	case http.MethodGet, http.MethodHead:
		st.get = r.Method == http.MethodGet
		// Serve the stored Content-Type, so that http.ServeContent does
		// not read the start of the object to sniff one.
		if fi, err := f.fs.Stat(ctx, r.URL.Path); err == nil && !fi.IsDir() {
			if ct, err := fi.(*fileInfo).ContentType(ctx); err == nil {
				w.Header().Set("Content-Type", ct)
			}
		}
	}
	sw := &statusWriter{ResponseWriter: w, st: st}
	if _, ok := f.locks.(SharedLockSystem); ok && r.Method == "PROPFIND" {
		// x/net/webdav's DAV:supportedlock lists exclusive locks only.
		sw.rewrite = &rewriter{w: w, old: []byte(exclusiveEntry), new: []byte(exclusiveEntry + sharedEntry)}
	}
	wd := *f.wd
	wd.LockSystem = requestLocks{LockSystem: f.locks, ctx: ctx, log: f.log}
	wd.ServeHTTP(sw, r)
	if sw.rewrite != nil && !sw.swallow {
		sw.rewrite.flush()
	}
}

// The DAV:lockentry elements of the supportedlock property: the first as
// x/net/webdav writes it.
const (
	exclusiveEntry = `<D:lockentry xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>`
	sharedEntry    = `<D:lockentry xmlns:D="DAV:"><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>`
)

// rewriter replaces every occurrence of old with new in a stream written
// to w in pieces; flush writes what it holds back.
type rewriter struct {
	w        io.Writer
	old, new []byte
	pending  []byte // a tail that may be the start of old
}

func (r *rewriter) Write(p []byte) (int, error) {
	buf := append(r.pending, p...)
	var out []byte
	for {
		i := bytes.Index(buf, r.old)
		if i < 0 {
			break
		}
		out = append(out, buf[:i]...)
		out = append(out, r.new...)
		buf = buf[i+len(r.old):]
	}
	keep := min(len(buf), len(r.old)-1)
	out = append(out, buf[:len(buf)-keep]...)
	r.pending = bytes.Clone(buf[len(buf)-keep:])
	if _, err := r.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (r *rewriter) flush() error {
	if len(r.pending) == 0 {
		return nil
	}
	_, err := r.w.Write(r.pending)
	r.pending = nil
	return err
}

// retryAfter is the Retry-After of every 503 Service Unavailable answer.
const retryAfter = time.Second

// statusWriter replaces webdav.Handler's error status with the one the
// file system recorded, if any.
type statusWriter struct {
	http.ResponseWriter
	st      *state
	rewrite *rewriter // nil: the body passes unchanged
	wrote   bool
	swallow bool
}

func (s *statusWriter) WriteHeader(code int) {
	if s.wrote {
		return
	}
	s.wrote = true
	if code >= 400 && s.st.status != 0 && s.st.status != code {
		s.replace(s.st.status)
		return
	}
	if s.st.mtime != "" && code < 300 {
		// As ownCloud answers a PUT whose X-OC-Mtime it stored.
		s.Header().Set(ocMtimeHeader, ocMtimeAccepts)
	}
	if f := s.st.content; f != nil && (code == http.StatusOK || code == http.StatusPartialContent) &&
		!strings.HasPrefix(s.Header().Get("Content-Type"), "multipart/") {
		// http.ServeContent has seeked to the start of the (single)
		// range and is about to copy it. Open the content there first,
		// so that an object no store can serve fails with an error
		// status instead of a success whose body breaks off.
		if err := f.openReader(); err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, backends.ErrUnavailable) {
				status = http.StatusServiceUnavailable
			}
			f.fs.log.Warn("webdav GET failed before the response", "path", f.loc.path, "offset", f.off, "err", err)
			s.replace(status)
			return
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

// replace sends status, with its text as the body, instead of the response
// webdav.Handler is writing, whose body is then swallowed.
func (s *statusWriter) replace(status int) {
	s.swallow = true
	h := s.ResponseWriter.Header()
	for k := range h {
		if k != "Www-Authenticate" {
			h.Del(k)
		}
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if status == http.StatusServiceUnavailable {
		guard.SetRetryAfter(s.ResponseWriter, retryAfter)
	}
	s.ResponseWriter.WriteHeader(status)
	io.WriteString(s.ResponseWriter, webdav.StatusText(status))
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if !s.wrote {
		s.WriteHeader(http.StatusOK)
	}
	if s.swallow {
		return len(p), nil
	}
	if s.rewrite != nil {
		return s.rewrite.Write(p)
	}
	return s.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// cleanPath returns the canonical form of a WebDAV path: absolute, no
// trailing slash, no dot segments.
func cleanPath(name string) string {
	return path.Clean("/" + name)
}
