// Package guard protects the gateway's HTTP front ends from clients that
// hold resources without using them and from password guessing. The S3
// and WebDAV front ends use it, and the admin API its login throttle;
// cmd/twincrypt sets its limits from the config's limits section.
//
//   - Listener bounds the connections a front end holds open at once; a
//     connection beyond the bound waits in the kernel's accept queue until
//     another one closes.
//   - Protect bounds the requests being handled at once (a request beyond
//     the bound is refused at once with the front end's "busy" answer) and
//     gives every read of a request body a deadline, so that a client that
//     announces a body and stops sending it loses its connection instead
//     of holding a handler forever.
//   - Throttle counts failed logins per client address and refuses further
//     logins from an address that failed too often, before their
//     credentials are checked. The counts live in a ThrottleStore: in this
//     process (MemThrottleStore), or in Redis (RedisThrottleStore) so that
//     several gateway instances count together. Refuse answers a login
//     from a throttled address with the front end's refusal, and
//     LoginFailed logs a failed login in the shape every front end shares
//     and counts it.
//   - CloseAfter marks a response to a request whose body was not read, so
//     that the server closes the connection instead of waiting for the body
//     to arrive and discarding it (it waits no longer than Linger).
//
// The server's own timeouts (ReadHeaderTimeout, IdleTimeout) complete the
// picture; cmd/twincrypt sets them.
package guard

import (
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/net/netutil"
)

// Listener returns a listener that accepts at most n connections at once
// (n <= 0: no limit). Accept waits while n connections are open.
func Listener(l net.Listener, n int) net.Listener {
	if n <= 0 {
		return l
	}
	return netutil.LimitListener(l, n)
}

// Linger is how long the server still reads (and discards) the body of a
// request refused with CloseAfter, so that a client that is sending it
// reads the refusal instead of a connection reset. A client that sends
// nothing holds its connection no longer than this.
const Linger = 2 * time.Second

// CloseAfter makes the response to r close the connection if r has a body
// (it may have one that the handler does not read). Call it before writing
// the response header of a request that is refused before its body is
// read: net/http would otherwise keep the connection, and the handler's
// goroutine, until up to 256 KiB of the body arrived, however slowly. The
// response is sent at once; the unread body gets Linger to arrive.
func CloseAfter(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength == 0 {
		return
	}
	w.Header().Set("Connection", "close")
	// Not every ResponseWriter supports deadlines (a test recorder does
	// not); the header alone closes the connection after the body.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(Linger))
}

// SetRetryAfter sets the Retry-After header of a refusal to d, in whole
// seconds rounded up (at least 1).
func SetRetryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(d.Seconds())))))
}

// Options configure Protect.
type Options struct {
	// MaxRequests bounds the requests handled at once; 0 means no bound.
	MaxRequests int
	// BodyTimeout is how long one read of a request body may wait for
	// data before it fails and the connection is closed; 0 means no limit.
	BodyTimeout time.Duration
	// Busy answers a request refused because MaxRequests requests are
	// being handled. nil: 503 Service Unavailable in plain text. Protect
	// sets Retry-After and, if the request has a body, closes the
	// connection (see CloseAfter).
	Busy http.Handler
}

// Protect returns h behind the limits of o.
func Protect(h http.Handler, o Options) http.Handler {
	busy := o.Busy
	if busy == nil {
		busy = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "too many requests in flight; retry later", http.StatusServiceUnavailable)
		})
	}
	var sem chan struct{}
	if o.MaxRequests > 0 {
		sem = make(chan struct{}, o.MaxRequests)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sem != nil {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			default:
				SetRetryAfter(w, time.Second)
				CloseAfter(w, r)
				busy.ServeHTTP(w, r)
				return
			}
		}
		if o.BodyTimeout > 0 && r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			body := &deadlineBody{ReadCloser: r.Body, rc: rc, timeout: o.BodyTimeout}
			r.Body = body
			defer body.finish(w)
		}
		h.ServeHTTP(w, r)
	})
}

// deadlineBody sets the connection's read deadline before every read of
// a request body and clears it when the body ends, so that the deadline
// never cuts off the handler's work after the body.
type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	ended   bool // io.EOF seen: the deadline is cleared
	failed  bool // a read failed (timed out): the connection is done
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if b.ended || b.failed {
		return b.ReadCloser.Read(p)
	}
	// Deadlines are not supported on every connection (HTTP/2 over a
	// test recorder, for one); the body is then read without.
	_ = b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	n, err := b.ReadCloser.Read(p)
	switch {
	case errors.Is(err, io.EOF):
		// net/http starts a background read of the connection once the
		// body ends; it must not time out while the handler works.
		b.ended = true
		_ = b.rc.SetReadDeadline(time.Time{})
	case err != nil:
		// The deadline stays: the connection is of no further use.
		b.failed = true
	}
	return n, err
}

// Close closes the body. net/http's Close reads (and discards) what is
// left of a body of up to 256 KiB, so that the connection can serve
// another request; that read gets the deadline too.
func (b *deadlineBody) Close() error {
	if !b.ended && !b.failed {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	}
	return b.ReadCloser.Close()
}

// finish runs when the handler has returned. After a failed read it
// closes the connection once the response is out: net/http would keep a
// connection whose body it did not read to the end, and wait on it for a
// next request. Otherwise it gives the read in which net/http discards an
// unread rest of the body the same deadline, unless the request was
// refused with CloseAfter (which set its own).
func (b *deadlineBody) finish(w http.ResponseWriter) {
	switch {
	case b.failed:
		_ = b.rc.Flush()
		if conn, _, err := b.rc.Hijack(); err == nil {
			conn.Close()
		}
	case !b.ended && w.Header().Get("Connection") != "close":
		_ = b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	}
}

// ClientAddr returns the address that r's failed logins are counted
// under: the IP address of the peer, with IPv6 addresses cut to their /64
// network (a single host usually owns a whole /64). The peer is the direct
// one: behind a reverse proxy every client shares the proxy's address.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return (&net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}
