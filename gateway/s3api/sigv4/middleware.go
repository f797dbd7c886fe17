package sigv4

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/twincrypt/twincrypt/gateway/guard"
)

// Middleware returns a handler that authenticates every request and
// verifies its body before and while next reads it.
//
// A request that fails authentication gets the S3 XML error response and
// next is not called; its body is not read, and if it has one the
// connection is closed after the response (guard.CloseAfter), so that a
// client cannot hold the connection by announcing a body it never sends.
// Otherwise next is called with the request's Identity
// in its context (see IdentityFromContext) and with a body that returns an
// *Error instead of io.EOF when the body does not match what the client
// declared. If the body has failed by the time next writes its response
// header (or returns without writing one), the response is replaced by that
// error, whatever next wrote.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, e := v.authenticate(r)
		if e != nil {
			if v.onFailure != nil {
				v.onFailure(r, e)
			}
			guard.CloseAfter(w, r)
			WriteError(w, r, e)
			return
		}
		r2 := r.WithContext(context.WithValue(r.Context(), identityKey{}, a.id))
		// WithContext copies the request shallowly; give the copy its own
		// header map, which prepareBody rewrites.
		r2.Header = r.Header.Clone()
		b, e := v.prepareBody(r2, a)
		if e != nil {
			guard.CloseAfter(w, r)
			WriteError(w, r, e)
			return
		}
		r2.Body = b
		g := &guardWriter{w: w, r: r, body: b}
		next.ServeHTTP(g, r2)
		if !g.wrote && b.failure() != nil {
			// next returned without writing anything, which would be an
			// implicit 200 OK.
			g.WriteHeader(http.StatusOK)
		}
	})
}

// guardWriter replaces the response with the body's error when the body
// failed verification before the response header is written.
type guardWriter struct {
	w          http.ResponseWriter
	r          *http.Request
	body       *body
	wrote      bool
	suppressed bool
}

// keptHeaders survive when a response is replaced by an error.
var keptHeaders = map[string]bool{RequestIDHeader: true, "X-Amz-Id-2": true, "Server": true}

func (g *guardWriter) Header() http.Header { return g.w.Header() }

func (g *guardWriter) WriteHeader(code int) {
	if g.wrote {
		return
	}
	if code >= 100 && code < 200 {
		g.w.WriteHeader(code)
		return
	}
	g.wrote = true
	if e := g.body.failure(); e != nil {
		g.suppressed = true
		h := g.w.Header()
		for k := range h {
			if !keptHeaders[k] {
				delete(h, k)
			}
		}
		WriteError(g.w, g.r, e)
		return
	}
	g.w.WriteHeader(code)
}

func (g *guardWriter) Write(p []byte) (int, error) {
	if !g.wrote {
		g.WriteHeader(http.StatusOK)
	}
	if g.suppressed {
		return len(p), nil
	}
	return g.w.Write(p)
}

// Flush implements http.Flusher.
func (g *guardWriter) Flush() {
	if !g.wrote {
		g.WriteHeader(http.StatusOK)
	}
	if g.suppressed {
		return
	}
	if f, ok := g.w.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the underlying ResponseWriter, for http.ResponseController.
func (g *guardWriter) Unwrap() http.ResponseWriter { return g.w }

// Hijack implements http.Hijacker when the underlying writer does.
func (g *guardWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := g.w.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, fmt.Errorf("sigv4: the response writer does not support hijacking: %w", http.ErrNotSupported)
}
