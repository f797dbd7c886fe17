package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"github.com/twincrypt/twincrypt/gateway/metrics"
)

// redactLabel names the key of the access log's name hashes.
const redactLabel = "twincrypt log redaction v1"

// newLogger returns serve's logger on w: format "text", "json", or "auto"
// (text on a terminal, JSON otherwise).
func newLogger(w io.Writer, format string, level slog.Level) (*slog.Logger, error) {
	o := &slog.HandlerOptions{Level: level}
	switch format {
	case "auto":
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			return slog.New(slog.NewTextHandler(w, o)), nil
		}
		return slog.New(slog.NewJSONHandler(w, o)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, fmt.Errorf("%w: -log-format: %q is not auto, text or json", errUsage, format)
}

// accessLog writes one line per request. It logs neither query strings
// (presigned URLs carry signatures in them) nor headers; the user is the
// access key of a request that was not refused (401 or 403), named by a
// known key. Names are redacted by the logger's handler (redactNames).
type accessLog struct {
	log   *slog.Logger
	users map[string]string
}

// redacted reports whether the attribute key holds bucket names, object
// keys or paths, in the access log and in every other line of serve's.
func redacted(key string) bool {
	switch key {
	case "bucket", "key", "path", "prefix", "target":
		return true
	}
	return false
}

// redactNames returns h replacing the value of every attribute that is
// redacted with its keyed hash under key: the same name always gives
// the same hash under one keyring, so lines about one object can be
// matched, and the names cannot be recovered without the key.
func redactNames(h slog.Handler, key *[32]byte) slog.Handler {
	h, setKey := redactNamesLater(h)
	setKey(key)
	return h
}

// redactNamesLater is redactNames for a key known only later (when the
// keyring is open): until setKey is called, such values are left out.
func redactNamesLater(h slog.Handler) (_ slog.Handler, setKey func(*[32]byte)) {
	r := &redactHandler{h: h, key: new(atomic.Pointer[[32]byte])}
	return r, r.key.Store
}

type redactHandler struct {
	h   slog.Handler
	key *atomic.Pointer[[32]byte]
}

func (r *redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, rec.Message, rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(r.attr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r *redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = r.attr(a)
	}
	return &redactHandler{h: r.h.WithAttrs(red), key: r.key}
}

func (r *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{h: r.h.WithGroup(name), key: r.key}
}

func (r *redactHandler) attr(a slog.Attr) slog.Attr {
	if !redacted(a.Key) {
		return a
	}
	key := r.key.Load()
	if key == nil {
		return slog.String(a.Key, "h:?")
	}
	return slog.String(a.Key, hashName(key, a.Value.Resolve().String()))
}

// hashName returns the keyed hash of a name in the log.
func hashName(key *[32]byte, s string) string {
	m := hmac.New(sha256.New, key[:])
	io.WriteString(m, s)
	return "h:" + hex.EncodeToString(m.Sum(nil)[:12])
}

type requestIDKey struct{}

// withRequestID gives each request an id, in its context and in the
// X-Request-Id header of its answer.
func withRequestID(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [8]byte
		rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// observe is a metrics.Observe: it logs the request.
func (a *accessLog) observe(r *http.Request, i metrics.Info) {
	level := slog.LevelInfo
	if i.Protocol == metrics.Admin && (i.Operation == "metrics" || i.Operation == "healthz" || i.Operation == "readyz") {
		// Scrapes and probes come every few seconds.
		level = slog.LevelDebug
	}
	if !a.log.Enabled(r.Context(), level) {
		return
	}
	id, _ := r.Context().Value(requestIDKey{}).(string)
	attrs := []slog.Attr{
		slog.String("id", id),
		slog.String("protocol", i.Protocol),
		slog.String("operation", i.Operation),
		slog.Int("status", i.Status),
		slog.Int64("bytes_in", i.BytesIn),
		slog.Int64("bytes_out", i.BytesOut),
		slog.Duration("duration", i.Duration),
		slog.String("client", r.RemoteAddr),
	}
	if u := a.user(r, i.Status); u != "" {
		attrs = append(attrs, slog.String("user", u))
	}
	switch i.Protocol {
	case metrics.S3:
		bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if bucket != "" {
			attrs = append(attrs, slog.String("bucket", bucket))
		}
		if key != "" {
			attrs = append(attrs, slog.String("key", key))
		}
	case metrics.WebDAV:
		attrs = append(attrs, slog.String("path", r.URL.Path))
	case metrics.Admin:
		// Routes and share ids; no names.
		attrs = append(attrs, slog.String("path", r.URL.Path))
	}
	// The share listener's paths hold link ids; the key of a link is in
	// its fragment, which never reaches the server.
	a.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// user returns the access key a request was authenticated with, "" when
// it carried none, an unknown one, or was refused.
func (a *accessLog) user(r *http.Request, status int) string {
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return ""
	}
	var ak string
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") {
		_, cred, ok := strings.Cut(auth, "Credential=")
		if ok {
			ak, _, _ = strings.Cut(cred, "/")
		}
	} else if cred := r.URL.Query().Get("X-Amz-Credential"); cred != "" {
		ak, _, _ = strings.Cut(cred, "/")
	} else if u, _, ok := r.BasicAuth(); ok {
		ak = u
	}
	if _, known := a.users[ak]; !known {
		return ""
	}
	return ak
}
