// Package admin serves the gateway's admin API on listen.admin: the
// operations scripts, tools and the twincrypt command line use on a running
// gateway. Every request under /api/ is authenticated with AWS Signature V4
// made with a configured key pair (gateway/s3api/sigv4), exactly as S3
// requests are; /healthz, /readyz and /metrics answer without
// authentication, and /debug/ (runtime profiles and counters) requires the
// same signature as /api/. Failed logins (a wrong signature or an unknown
// access key) are logged and counted per client address in the throttle
// the S3 and WebDAV front ends share (gateway/guard); a signed request from
// an address it throttles is answered 503 with Retry-After before its
// signature is checked. The unauthenticated endpoints are not throttled.
//
// It holds the share-link API (docs/SHARING.md, "The admin API") and runs
// maintenance commands (scrub, repair, gc, rebuild-catalog, keys) inside the
// gateway for the command line, which would otherwise have to open the
// catalog and keys the gateway holds (docs/RELIABILITY.md, "Maintenance
// while serving").
package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/guard"
	"github.com/twincrypt/twincrypt/gateway/s3api/sigv4"
	"github.com/twincrypt/twincrypt/gateway/share"
)

// maxRequestBody bounds the JSON body of an API request.
const maxRequestBody = 64 << 10

// Options configure the admin API.
type Options struct {
	// Shares is the share-link service; nil when links are not
	// configured.
	Shares *share.Service
	// Run runs a maintenance command inside the gateway, writing its
	// output to out, and returns its exit status; nil disables
	// POST /api/v1/run.
	Run func(ctx context.Context, req RunRequest, out io.Writer) int
	// Users maps access keys to secret keys.
	Users map[string]string
	// Throttle counts failed logins (a wrong signature or an unknown
	// access key) per client address; a signed request from a client it
	// throttles is answered 503 (see throttled) before its signature is
	// checked. The gateway passes the throttle of its S3 and WebDAV
	// front ends, so that failures on any listener count together. nil:
	// no throttling.
	Throttle *guard.Throttle
	// Access runs the requests of users who are not administrators as
	// those users (see Admins); nil: every user is an administrator.
	Access Access
	// Admins are the access keys of administrators: they may run
	// commands, reach /debug/ and manage every share link. Other users
	// make, see and revoke links of the buckets they may use.
	Admins map[string]bool
	Logger *slog.Logger // nil: discard
	// Metrics serves GET /metrics (the Prometheus exposition) without
	// authentication; nil: 404.
	Metrics http.Handler
	// Ready answers GET /readyz: nil when the gateway can take writes,
	// else why not (503). A nil Ready answers 200.
	Ready func(ctx context.Context) error
	// Debug serves /debug/ (pprof, expvar) behind SigV4; nil: 404.
	Debug http.Handler
}

// readyTimeout bounds a readiness check.
const readyTimeout = 5 * time.Second

// New returns the admin API handler.
func New(o Options) http.Handler {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &api{shares: o.Shares, log: log, run: o.Run, access: o.Access}
	api := http.NewServeMux()
	api.HandleFunc("POST /api/v1/run", a.runCommand)
	api.HandleFunc("POST /api/v1/shares", a.createShare)
	api.HandleFunc("GET /api/v1/shares", a.listShares)
	api.HandleFunc("GET /api/v1/shares/{id}", a.getShare)
	api.HandleFunc("DELETE /api/v1/shares/{id}", a.revokeShare)
	mux := http.NewServeMux()
	var h http.Handler = api
	if o.Shares == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/api/v1/shares") {
				writeError(w, http.StatusNotFound, "share links are not configured: set listen.share or share.public_url")
				return
			}
			api.ServeHTTP(w, r)
		})
	}
	verifier := sigv4.New(sigv4.StaticCredentials(o.Users), sigv4.WithFailureHook(sigv4.LoginFailures(o.Throttle, log, "admin")))
	// The throttle comes first: a refused request's body is not read.
	signed := func(h http.Handler) http.Handler {
		return sigv4.Throttle(o.Throttle, http.HandlerFunc(throttled), payloadHash(verifier.Middleware(asUser(o, h))))
	}
	mux.Handle("/api/", signed(h))
	if o.Debug != nil {
		mux.Handle("/debug/", signed(adminOnly(o.Debug)))
	}
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	}
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if o.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			defer cancel()
			if err := o.Ready(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintf(w, "not ready: %v\n", err)
				return
			}
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	return mux
}

// throttledMessage is the error of a request refused by the login
// throttle. An operator reads it (the command line prints it), so it says
// why, where the S3 front end answers SlowDown.
const throttledMessage = "Too many failed logins from this address; try again later."

// throttled answers a signed request from a client address the login
// throttle refuses as the S3 front end does (503, Retry-After set by the
// throttle), with the API's JSON error body.
func throttled(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusServiceUnavailable, throttledMessage)
}

// payloadHash gives a request without the x-amz-content-sha256 header that
// S3 requires, and some signing clients (curl's --aws-sigv4) leave out, the
// SHA-256 of its body as its payload hash: what such a client put into its
// signature. A body over maxRequestBody is refused.
func payloadHash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Content-Sha256") == "" {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
			if err != nil {
				writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body: %v", err))
				return
			}
			sum := sha256.Sum256(body)
			r = r.WithContext(sigv4.ContextWithPayloadHash(r.Context(), hex.EncodeToString(sum[:])))
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(w, r)
	})
}

// Access is what the admin API needs of the namespace to run a request as
// its user. *gateway.Namespace implements it.
type Access interface {
	UserContext(ctx context.Context, accessKey string) (context.Context, error)
	Authorize(ctx context.Context, bucket string, want gateway.Access) error
}

type adminKey struct{}

// asUser runs a request signed by an administrator with full access and
// marks it so (adminOnly lets it pass), and any other as its user.
func asUser(o Options, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := sigv4.IdentityFromContext(r.Context())
		if !ok {
			writeError(w, http.StatusForbidden, "access denied")
			return
		}
		ctx := r.Context()
		if o.Access == nil || o.Admins == nil || o.Admins[id.AccessKey] {
			ctx = context.WithValue(ctx, adminKey{}, true)
		} else {
			var err error
			if ctx, err = o.Access.UserContext(ctx, id.AccessKey); err != nil {
				writeError(w, http.StatusForbidden, err.Error())
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// isAdmin reports whether asUser found the request's signer to be an
// administrator.
func isAdmin(ctx context.Context) bool {
	v, _ := ctx.Value(adminKey{}).(bool)
	return v
}

// adminOnly refuses requests of users who are not administrators.
func adminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isAdmin(r.Context()) {
			writeError(w, http.StatusForbidden, "only an administrator (a user with admin: true) may do this")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorize checks that the user of ctx has want of the bucket of a share
// target ("bucket/key"); administrators pass.
func (a *api) authorize(ctx context.Context, target string, want gateway.Access) error {
	if a.access == nil || isAdmin(ctx) {
		return nil
	}
	bucket, _, _ := strings.Cut(target, "/")
	return a.access.Authorize(ctx, bucket, want)
}

type api struct {
	access Access
	shares *share.Service
	log    *slog.Logger
	run    func(ctx context.Context, req RunRequest, out io.Writer) int
}

// RunRequest is the body of POST /api/v1/run: a command line without its
// -c flag (the gateway runs it on its own config), and the passphrases it
// needs (keys rotate and passwd), which are used and never logged.
type RunRequest struct {
	Args []string          `json:"args"`
	Env  map[string]string `json:"env,omitempty"`
}

// ExitTrailer is the HTTP trailer that carries a command's exit status.
const ExitTrailer = "X-Twincrypt-Exit"

// runCommand answers POST /api/v1/run: 200 with the command's output as it
// is written, and its exit status in the ExitTrailer trailer.
func (a *api) runCommand(w http.ResponseWriter, r *http.Request) {
	if a.run == nil {
		writeError(w, http.StatusNotFound, "this gateway does not run commands")
		return
	}
	if !isAdmin(r.Context()) {
		writeError(w, http.StatusForbidden, "only an administrator (a user with admin: true) may run commands")
		return
	}
	var req RunRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || len(req.Args) == 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("request body: want {\"args\": [...]}: %v", err))
		return
	}
	a.log.Info("admin: running a command", "command", strings.Join(req.Args[:min(2, len(req.Args))], " "))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Trailer", ExitTrailer)
	w.WriteHeader(http.StatusOK)
	out := &flushWriter{w: w, rc: http.NewResponseController(w)}
	code := a.run(r.Context(), req, out)
	w.Header().Set(ExitTrailer, strconv.Itoa(code))
}

// flushWriter sends every write at once, so progress reaches the caller.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		f.rc.Flush()
	}
	return n, err
}

// CreateShareRequest is the body of POST /api/v1/shares.
type CreateShareRequest struct {
	Target string `json:"target"`
	// ExpiresIn is a duration such as "90m", "36h", "7d" or "2w"; empty:
	// never.
	ExpiresIn    string  `json:"expires_in,omitempty"`
	MaxDownloads int64   `json:"max_downloads,omitempty"`
	Password     *string `json:"password,omitempty"`
}

// CreateShareResponse is the answer to POST /api/v1/shares.
type CreateShareResponse struct {
	Link  string      `json:"link"`
	Share *share.Info `json:"share"`
}

// ListSharesResponse is the answer to GET /api/v1/shares.
type ListSharesResponse struct {
	Shares []*share.Info `json:"shares"`
}

// ErrorResponse is the body of every error the API itself answers.
type ErrorResponse struct {
	Error string `json:"error"`
}

func (a *api) createShare(w http.ResponseWriter, r *http.Request) {
	var req CreateShareRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("request body: %v", err))
		return
	}
	o := share.CreateOptions{Target: req.Target, MaxDownloads: req.MaxDownloads}
	if req.ExpiresIn != "" {
		d, err := ParseDuration(req.ExpiresIn)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		o.Expires = d
	}
	if req.Password != nil {
		o.Password = []byte(*req.Password)
	}
	// Making a link needs read access to its bucket: the namespace checks
	// it as it reads the objects (gateway.ErrAccessDenied).
	link, info, err := a.shares.Create(r.Context(), o)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, CreateShareResponse{Link: link.String(), Share: info})
}

func (a *api) listShares(w http.ResponseWriter, r *http.Request) {
	all, err := a.shares.List(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	infos := []*share.Info{}
	for _, in := range all {
		if a.authorize(r.Context(), in.Target, gateway.AccessRead) == nil {
			infos = append(infos, in)
		}
	}
	writeJSON(w, http.StatusOK, ListSharesResponse{Shares: infos})
}

func (a *api) getShare(w http.ResponseWriter, r *http.Request) {
	info, err := a.shares.Get(r.Context(), r.PathValue("id"))
	if err == nil {
		err = a.authorize(r.Context(), info.Target, gateway.AccessRead)
	}
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (a *api) revokeShare(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	info, err := a.shares.Get(r.Context(), id)
	if err == nil {
		err = a.authorize(r.Context(), info.Target, gateway.AccessWrite)
	}
	if err == nil {
		info, err = a.shares.Revoke(r.Context(), id)
	}
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// fail maps an error to a status and a message.
func (a *api) fail(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, share.ErrBadTarget), errors.Is(err, share.ErrBadRequest),
		errors.Is(err, gateway.ErrInvalidKey), errors.Is(err, gateway.ErrKeyTooLong),
		errors.Is(err, gateway.ErrTooManyFiles):
		status = http.StatusBadRequest
	case errors.Is(err, gateway.ErrNoSuchBucket), errors.Is(err, gateway.ErrNoSuchKey),
		errors.Is(err, gateway.ErrNoSuchShare):
		status = http.StatusNotFound
	case errors.Is(err, gateway.ErrShareGone):
		status = http.StatusConflict
	case errors.Is(err, gateway.ErrAccessDenied):
		status = http.StatusForbidden
	default:
		a.log.Warn("admin request failed", "err", err)
		status = http.StatusServiceUnavailable
	}
	writeError(w, status, err.Error())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorResponse{Error: msg})
}

// ParseDuration parses a duration as Go's time.ParseDuration does, and also
// whole days ("7d") and weeks ("2w").
func ParseDuration(s string) (time.Duration, error) {
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			var v int64
			if _, err := fmt.Sscanf(n, "%d", &v); err != nil || v <= 0 || fmt.Sprint(v) != n || v > 100*365 {
				return 0, fmt.Errorf("bad duration %q", s)
			}
			return time.Duration(v) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad duration %q: want for example 90m, 36h, 7d or 2w", s)
	}
	return d, nil
}
