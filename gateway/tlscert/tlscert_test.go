package tlscert

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// server runs an HTTP server on a loopback port with c's configuration and
// returns its address.
func server(t *testing.T, c *Cert) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello over "+r.Proto)
	})}
	go srv.Serve(tls.NewListener(ln, c.ServerConfig()))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// handshake connects to addr trusting ca and returns the connection.
func handshake(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { conn.Close() })
	return conn, nil
}

// get sends one keep-alive GET on conn and returns the body.
func get(t *testing.T, conn *tls.Conn, br *bufio.Reader) string {
	t.Helper()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatalf("request on the old connection: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("response on the old connection: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// replace copies the pair src over the files of dst.
func replace(t *testing.T, dst, src *testenv.Issued) {
	t.Helper()
	for _, p := range [][2]string{{src.CertFile, dst.CertFile}, {src.KeyFile, dst.KeyFile}} {
		b, err := os.ReadFile(p[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReload(t *testing.T) {
	ca := testenv.NewCA(t)
	dir := t.TempDir()
	live := ca.Issue(t, dir, "live")
	next := ca.Issue(t, t.TempDir(), "next")
	c, err := Load(live.CertFile, live.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := server(t, c)
	client := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}

	old, err := handshake(t, addr, client)
	if err != nil {
		t.Fatal(err)
	}
	if got := old.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(live.Serial) != 0 {
		t.Fatalf("first handshake: serial %v, want %v", got, live.Serial)
	}
	br := bufio.NewReader(old)
	if got := get(t, old, br); got != "hello over HTTP/1.1" {
		t.Fatalf("body %q", got)
	}

	replace(t, live, next)
	if err := c.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if c.Reloads() != 1 || c.Failures() != 0 {
		t.Errorf("reloads %d, failures %d; want 1, 0", c.Reloads(), c.Failures())
	}
	fresh, err := handshake(t, addr, client)
	if err != nil {
		t.Fatal(err)
	}
	if got := fresh.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(next.Serial) != 0 {
		t.Errorf("handshake after Reload: serial %v, want the new %v", got, next.Serial)
	}
	// The connection set up before the reload carries on.
	if got := get(t, old, br); got != "hello over HTTP/1.1" {
		t.Errorf("old connection after Reload: body %q", got)
	}
}

func TestReloadKeepsOldPairOnError(t *testing.T) {
	ca := testenv.NewCA(t)
	other := ca.Issue(t, t.TempDir(), "other")
	tests := []struct {
		name  string
		spoil func(t *testing.T, live *testenv.Issued)
		want  string
	}{
		{"cert removed", func(t *testing.T, live *testenv.Issued) { os.Remove(live.CertFile) }, "no such file"},
		{"key removed", func(t *testing.T, live *testenv.Issued) { os.Remove(live.KeyFile) }, "no such file"},
		{"cert garbage", func(t *testing.T, live *testenv.Issued) {
			os.WriteFile(live.CertFile, []byte("not a certificate\n"), 0o600)
		}, "failed to find any PEM data"},
		{"key of another certificate", func(t *testing.T, live *testenv.Issued) {
			b, _ := os.ReadFile(other.KeyFile)
			os.WriteFile(live.KeyFile, b, 0o600)
		}, "private key does not match public key"},
		{"cert half written", func(t *testing.T, live *testenv.Issued) {
			b, _ := os.ReadFile(live.CertFile)
			os.WriteFile(live.CertFile, b[:len(b)/2], 0o600)
		}, "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live := ca.Issue(t, t.TempDir(), "live")
			c, err := Load(live.CertFile, live.KeyFile)
			if err != nil {
				t.Fatal(err)
			}
			addr := server(t, c)
			tt.spoil(t, live)
			err = c.Reload()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Reload = %v, want an error with %q", err, tt.want)
			}
			if c.Failures() != 1 || c.Reloads() != 0 {
				t.Errorf("failures %d, reloads %d; want 1, 0", c.Failures(), c.Reloads())
			}
			conn, err := handshake(t, addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
			if err != nil {
				t.Fatalf("handshake after a failed Reload: %v", err)
			}
			if got := conn.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(live.Serial) != 0 {
				t.Errorf("serial %v, want the old %v", got, live.Serial)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	ca := testenv.NewCA(t)
	dir := t.TempDir()
	a := ca.Issue(t, dir, "a")
	b := ca.Issue(t, dir, "b")
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(empty, nil, 0o600)
	tests := []struct {
		name, cert, key, want string
	}{
		{"missing cert", filepath.Join(dir, "nope.pem"), a.KeyFile, "nope.pem: no such file"},
		{"missing key", a.CertFile, filepath.Join(dir, "nope-key.pem"), "nope-key.pem: no such file"},
		{"key of another certificate", a.CertFile, b.KeyFile, "private key does not match public key"},
		{"key and cert swapped", a.KeyFile, a.CertFile, "TLS certificate " + a.KeyFile},
		{"empty cert", empty, a.KeyFile, "failed to find any PEM data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.cert, tt.key)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load = %v, %v; want an error with %q", c, err, tt.want)
			}
		})
	}
}

func TestServerConfig(t *testing.T) {
	ca := testenv.NewCA(t)
	live := ca.Issue(t, t.TempDir(), "live")
	c, err := Load(live.CertFile, live.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := server(t, c)
	t.Run("TLS 1.1 refused", func(t *testing.T) {
		_, err := handshake(t, addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
		if err == nil {
			t.Fatal("a TLS 1.1 handshake succeeded")
		}
	})
	t.Run("HTTP/1.1 chosen over h2", func(t *testing.T) {
		conn, err := handshake(t, addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		if p := conn.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
			t.Errorf("negotiated %q, want http/1.1", p)
		}
	})
	t.Run("Go client", func(t *testing.T) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}}
		resp, err := hc.Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if b, _ := io.ReadAll(resp.Body); string(b) != "hello over HTTP/1.1" {
			t.Errorf("body %q", b)
		}
	})
	t.Run("plain HTTP refused", func(t *testing.T) {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			return // the connection was closed: refused as well
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "HTTPS") {
			t.Errorf("plain HTTP to the TLS port: %d %q", resp.StatusCode, b)
		}
	})
	t.Run("validity", func(t *testing.T) {
		now := time.Now()
		if na, p := c.Validity(now); p != nil || !na.Equal(live.Cert.NotAfter) {
			t.Errorf("Validity(now) = %v, %v", na, p)
		}
		if _, p := c.Validity(live.Cert.NotAfter.Add(time.Second)); p == nil || !strings.Contains(p.Error(), "expired") {
			t.Errorf("Validity(after NotAfter) = %v", p)
		}
		if _, p := c.Validity(live.Cert.NotBefore.Add(-time.Second)); p == nil || !strings.Contains(p.Error(), "valid only from") {
			t.Errorf("Validity(before NotBefore) = %v", p)
		}
	})
}

func TestPinnedClientConfig(t *testing.T) {
	ca := testenv.NewCA(t)
	dir := t.TempDir()
	// A certificate for a host name only: the pinned client reaches it
	// on 127.0.0.1 all the same.
	live := ca.Issue(t, dir, "live", "files.example.org")
	stranger := ca.Issue(t, dir, "stranger", "files.example.org")
	c, err := Load(live.CertFile, live.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := server(t, c)

	cfg, err := PinnedClientConfig(live.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handshake(t, addr, cfg); err != nil {
		t.Fatalf("pinned handshake: %v", err)
	}
	other, err := PinnedClientConfig(stranger.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handshake(t, addr, other); !errors.Is(err, ErrUnpinned) {
		t.Errorf("handshake pinned to another certificate: %v, want ErrUnpinned", err)
	}
	// The key file holds no certificate.
	if _, err := PinnedClientConfig(live.KeyFile); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("PinnedClientConfig(key file) = %v, want ErrNoCertificate", err)
	}
	if _, err := PinnedClientConfig(filepath.Join(dir, "missing.pem")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("PinnedClientConfig(missing) = %v", err)
	}
}
