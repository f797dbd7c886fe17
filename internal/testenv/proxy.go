package testenv

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// ProxyMode is what a Proxy does with the traffic it carries.
type ProxyMode int

// Proxy modes.
const (
	// ProxyPass forwards traffic unchanged.
	ProxyPass ProxyMode = iota
	// ProxyHang accepts connections but forwards nothing, in either
	// direction, until the mode changes.
	ProxyHang
	// ProxyCorrupt flips every byte sent from the target to the client
	// after the first Skip bytes of each connection.
	ProxyCorrupt
	// ProxyCutOnce closes the first connection that carries more than
	// Skip bytes from the target, after forwarding exactly Skip of them,
	// and then passes traffic again.
	ProxyCutOnce
)

// Proxy is a TCP proxy on a loopback port in front of a target address,
// for fault injection: it can delay, hang, cut and corrupt traffic. It is
// closed when the test ends. Methods are safe for concurrent use.
type Proxy struct {
	// Addr is the host:port the proxy listens on.
	Addr string

	t      testing.TB
	target string
	ln     net.Listener

	mu      sync.Mutex
	cond    *sync.Cond
	mode    ProxyMode
	skip    int64
	delay   time.Duration
	conns   map[net.Conn]struct{}
	closed  bool
	accepts int
	wg      sync.WaitGroup
}

// StartProxy starts a proxy on a free 127.0.0.1 port that forwards every
// connection to target (host:port).
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: listen: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), t: t, target: target, ln: ln, conns: make(map[net.Conn]struct{})}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Endpoint returns the proxy's base URL, http://Addr.
func (p *Proxy) Endpoint() string { return "http://" + p.Addr }

// Pass makes the proxy forward traffic unchanged and without delay again;
// hung connections resume.
func (p *Proxy) Pass() {
	p.setMode(ProxyPass, 0)
	p.mu.Lock()
	p.delay = 0
	p.mu.Unlock()
}

// Hang makes the proxy stop forwarding: connections (existing and new)
// stay open but carry nothing until Pass or Cut.
func (p *Proxy) Hang() { p.setMode(ProxyHang, 0) }

// Corrupt makes the proxy flip every byte it forwards from the target to
// the client after the first skip bytes of each connection (skip lets
// protocol headers through intact).
func (p *Proxy) Corrupt(skip int64) { p.setMode(ProxyCorrupt, skip) }

// CutOnceAfter makes the proxy cut the first connection that carries more
// than n bytes from the target after exactly n of them, as a provider whose
// stream breaks mid-transfer; later connections pass.
func (p *Proxy) CutOnceAfter(n int64) { p.setMode(ProxyCutOnce, n) }

// Delay makes the proxy wait d before forwarding each chunk of data, in
// both directions. It does not change the mode.
func (p *Proxy) Delay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// Cut closes every open connection. New connections are accepted and
// handled in the current mode.
func (p *Proxy) Cut() {
	p.mu.Lock()
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
		delete(p.conns, c)
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// Accepted returns how many connections the proxy has accepted.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepts
}

// Close stops the proxy and closes every connection. It is called when the
// test ends and is idempotent.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) setMode(m ProxyMode, skip int64) {
	p.mu.Lock()
	p.mode, p.skip = m, skip
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.accepts++
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.handle(c)
	}
}

// track registers c so that Cut and Close close it; false when the proxy
// is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	for _, c := range cs {
		delete(p.conns, c)
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

func (p *Proxy) handle(client net.Conn) {
	defer p.wg.Done()
	server, err := net.DialTimeout("tcp", p.target, 10*time.Second)
	if err != nil {
		p.untrack(client)
		return
	}
	if !p.track(server) {
		p.untrack(client, server)
		return
	}
	abort := func() { p.untrack(client, server) }
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pump(server, client, false, abort) }()
	go func() { defer wg.Done(); p.pump(client, server, true, abort) }()
	wg.Wait()
	p.untrack(client, server)
}

// pump copies src to dst, applying the proxy's mode to each chunk.
// fromTarget marks the target-to-client direction. At the end of src it
// half-closes dst; on any other failure it calls abort, which closes both
// connections.
func (p *Proxy) pump(dst, src net.Conn, fromTarget bool, abort func()) {
	buf := make([]byte, 32<<10)
	var sent int64
	for {
		n, err := src.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			delay, ok := p.gate(dst)
			if !ok {
				abort()
				return
			}
			if delay > 0 {
				time.Sleep(delay)
			}
			p.mu.Lock()
			mode, skip := p.mode, p.skip
			p.mu.Unlock()
			if fromTarget && mode == ProxyCorrupt {
				for i := range chunk {
					if sent+int64(i) >= skip {
						chunk[i] ^= 0xff
					}
				}
			}
			if fromTarget && mode == ProxyCutOnce && sent+int64(len(chunk)) > skip {
				dst.Write(chunk[:skip-sent])
				p.setMode(ProxyPass, 0)
				abort()
				return
			}
			sent += int64(n)
			if _, werr := dst.Write(chunk); werr != nil {
				abort()
				return
			}
		}
		if err != nil {
			if tc, ok := dst.(*net.TCPConn); ok && errors.Is(err, io.EOF) {
				tc.CloseWrite()
				return
			}
			abort()
			return
		}
	}
}

// gate blocks while the proxy hangs. It returns the current delay, and
// false when dst was closed (by Cut or Close) meanwhile.
func (p *Proxy) gate(dst net.Conn) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.mode == ProxyHang {
		if _, open := p.conns[dst]; !open || p.closed {
			return 0, false
		}
		p.cond.Wait()
	}
	_, open := p.conns[dst]
	return p.delay, open && !p.closed
}
