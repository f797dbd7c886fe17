package testenv

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// startEcho starts a TCP echo server on a loopback port.
func startEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				io.Copy(c, c)
			})
		}
	})
	return ln.Addr().String()
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func roundTrip(t *testing.T, c net.Conn, msg []byte) []byte {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	return got
}

func TestProxyModes(t *testing.T) {
	msg := bytes.Repeat([]byte("twincrypt-"), 10000)
	flipped := func(skip int) []byte {
		out := bytes.Clone(msg)
		for i := skip; i < len(out); i++ {
			out[i] ^= 0xff
		}
		return out
	}
	tests := []struct {
		name  string
		setup func(p *Proxy)
		want  []byte
	}{
		{"pass", func(p *Proxy) {}, msg},
		{"delay", func(p *Proxy) { p.Delay(time.Millisecond) }, msg},
		{"corrupt all", func(p *Proxy) { p.Corrupt(0) }, flipped(0)},
		{"corrupt after headers", func(p *Proxy) { p.Corrupt(100) }, flipped(100)},
		{"corrupt then pass", func(p *Proxy) { p.Corrupt(0); p.Pass() }, msg},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := StartProxy(t, startEcho(t))
			tc.setup(p)
			c := dial(t, p)
			if got := roundTrip(t, c, msg); !bytes.Equal(got, tc.want) {
				t.Fatalf("received %d bytes differing from the expected", len(got))
			}
			if p.Accepted() != 1 {
				t.Errorf("Accepted = %d, want 1", p.Accepted())
			}
		})
	}
}

func TestProxyHangAndResume(t *testing.T) {
	p := StartProxy(t, startEcho(t))
	c := dial(t, p)
	roundTrip(t, c, []byte("before"))
	p.Hang()
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	// Nothing comes back while the proxy hangs.
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	buf := make([]byte, 4)
	if n, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read while hanging = %d, %v; want a deadline error", n, err)
	}
	// A new connection is accepted but carries nothing either.
	c2 := dial(t, p)
	if _, err := c2.Write([]byte("new")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Time{})
	p.Pass()
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "held" {
		t.Fatalf("after Pass read %q, %v; want held", buf, err)
	}
	got := make([]byte, 3)
	if _, err := io.ReadFull(c2, got); err != nil || string(got) != "new" {
		t.Fatalf("second connection read %q, %v", got, err)
	}
}

func TestProxyCut(t *testing.T) {
	for _, hang := range []bool{false, true} {
		name := "flowing"
		if hang {
			name = "hung"
		}
		t.Run(name, func(t *testing.T) {
			p := StartProxy(t, startEcho(t))
			c := dial(t, p)
			roundTrip(t, c, []byte("x"))
			if hang {
				p.Hang()
			}
			p.Cut()
			c.Write([]byte("y"))
			if n, err := io.ReadFull(c, make([]byte, 1)); err == nil {
				t.Fatalf("read %d bytes over a cut connection", n)
			}
			// New connections work again once passing.
			p.Pass()
			c2 := dial(t, p)
			if got := roundTrip(t, c2, []byte("again")); string(got) != "again" {
				t.Fatalf("after Cut got %q", got)
			}
		})
	}
}

func TestProxyClosedTarget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := StartProxy(t, addr)
	c := dial(t, p)
	if _, err := io.ReadAll(c); err != nil {
		t.Logf("read from proxy to a dead target: %v", err)
	}
	p.Close()
	p.Close()
}
