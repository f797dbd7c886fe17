package e2e

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// TestTLSClients drives a gateway whose every listener speaks TLS with aws
// cli, rclone (S3 and WebDAV), curl and the command line's own commands,
// each trusting the test's CA.
func TestTLSClients(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2, Share: true, TLS: true})
	curl := testenv.Tool(t, "curl")
	for _, want := range []string{
		"S3 endpoint:  https://" + g.Addr,
		"WebDAV endpoint: https://" + g.DAVAddr,
		"share links:  https://" + g.ShareAddr + " (links start with https://" + g.ShareAddr + "/s/)",
		"admin API:    https://" + g.AdminAddr,
		"TLS:          " + g.Cert.CertFile + " (s3, webdav, share, admin; SIGHUP reloads it)",
	} {
		if out := g.WaitOutput(func(out string) bool { return strings.Contains(out, want) }); !strings.Contains(out, want) {
			t.Errorf("serve's output lacks %q:\n%s", want, out)
		}
	}
	src := t.TempDir()
	small, large := filepath.Join(src, "small.txt"), filepath.Join(src, "large.bin")
	writeFile(t, small, 1000, 1)
	// Above aws cli's 8 MiB multipart threshold.
	writeFile(t, large, 20<<20, 2)

	t.Run("aws cli", func(t *testing.T) {
		aws := NewAWS(t, g)
		aws.Must("s3", "mb", "s3://tls-aws")
		dst := t.TempDir()
		for _, f := range []string{small, large} {
			aws.Must("s3", "cp", f, "s3://tls-aws/"+filepath.Base(f))
			got := filepath.Join(dst, filepath.Base(f))
			aws.Must("s3", "cp", "s3://tls-aws/"+filepath.Base(f), got)
			sameFile(t, f, got)
		}
		// Without the CA bundle, aws cli refuses the certificate.
		r := run(t, aws.env, "", aws.bin, "--endpoint-url", g.Endpoint(), "s3", "ls")
		if r.Err == nil || !strings.Contains(r.Stderr, "CERTIFICATE_VERIFY_FAILED") {
			t.Errorf("aws without --ca-bundle: %v\n%s", r.Err, r.Stderr)
		}
	})

	t.Run("rclone s3", func(t *testing.T) {
		rc := NewRclone(t, g)
		rc.Must("mkdir", rc.Remote("tls-rclone"))
		rc.Must("copy", src, rc.Remote("tls-rclone/dir"))
		dst := t.TempDir()
		rc.Must("copy", rc.Remote("tls-rclone/dir"), dst)
		sameFile(t, small, filepath.Join(dst, "small.txt"))
		sameFile(t, large, filepath.Join(dst, "large.bin"))
	})

	t.Run("rclone webdav", func(t *testing.T) {
		rc := NewRclone(t, g)
		obscured := strings.TrimSpace(rc.Must("obscure", g.SecretKey).Stdout)
		remote := func(path string) string {
			return ":webdav,url='https://" + g.DAVAddr + "/',user=" + g.AccessKey + ",pass=" + obscured + ",vendor=other:" + path
		}
		rc.Must("mkdir", remote("tls-dav"))
		rc.Must("copy", src, remote("tls-dav/dir"))
		dst := t.TempDir()
		rc.Must("copy", remote("tls-dav/dir"), dst)
		sameFile(t, small, filepath.Join(dst, "small.txt"))
		sameFile(t, large, filepath.Join(dst, "large.bin"))
		// rclone without the CA refuses the certificate.
		r := run(t, rc.env, "", rc.bin, "lsf", remote("tls-dav/dir"))
		if r.Err == nil || !strings.Contains(r.Stderr, "certificate signed by unknown authority") {
			t.Errorf("rclone without --ca-cert: %v\n%s", r.Err, r.Stderr)
		}
	})

	t.Run("curl, share links and get", func(t *testing.T) {
		aws := NewAWS(t, g)
		aws.Must("s3", "mb", "s3://tls-share")
		aws.Must("s3", "cp", small, "s3://tls-share/small.txt")
		r := run(t, cleanEnv(), "", curl, "-sS", "--cacert", g.CA.File, "https://"+g.AdminAddr+"/healthz").must(t, "curl /healthz")
		if r.Stdout != "ok\n" {
			t.Errorf("/healthz over TLS: %q", r.Stdout)
		}
		// share create goes through the running gateway's admin API,
		// which the command line reaches over TLS.
		out, err := g.Run("share", "create", "-c", g.Config, "tls-share/small.txt")
		if err != nil {
			t.Fatalf("share create: %v\n%s", err, out)
		}
		link := linkOf(t, out)
		if !strings.HasPrefix(link, "https://"+g.ShareAddr+"/s/") {
			t.Fatalf("link %q does not start with https://%s/s/", link, g.ShareAddr)
		}
		page, _, _ := strings.Cut(link, "#")
		r = run(t, cleanEnv(), "", curl, "-sS", "-w", "\n%{http_code}", "--cacert", g.CA.File, page).must(t, "curl share page")
		if !strings.HasSuffix(r.Stdout, "\n200") || !strings.Contains(r.Stdout, "<html") {
			t.Errorf("share page over TLS:\n%s", r.Stdout)
		}
		out, err = g.Run("share", "list", "-c", g.Config)
		if err != nil || !strings.Contains(out, "tls-share/small.txt") {
			t.Errorf("share list: %v\n%s", err, out)
		}
		// get trusts the system's roots, which SSL_CERT_FILE replaces.
		dst := t.TempDir()
		cmd := exec.Command(g.Bin, "get", "-q", "-o", dst+"/", link)
		cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+g.CA.File)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("get with SSL_CERT_FILE: %v\n%s", err, b)
		}
		sameFile(t, small, filepath.Join(dst, "small.txt"))
		cmd = exec.Command(g.Bin, "get", "-q", "-o", t.TempDir()+"/", link)
		cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+filepath.Join(t.TempDir(), "none.pem"), "SSL_CERT_DIR="+t.TempDir())
		if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "certificate") {
			t.Errorf("get without the CA: %v\n%s", err, b)
		}
	})

	t.Run("maintenance through the admin API", func(t *testing.T) {
		out := g.mustRun(t, 0, "scrub", "-c", g.Config)
		if !strings.Contains(out, "running inside it (admin API https://"+g.AdminAddr+")") || !strings.Contains(out, "problems: 0") {
			t.Errorf("scrub while serving over TLS:\n%s", out)
		}
	})

	t.Run("plain HTTP to a TLS port", func(t *testing.T) {
		for _, addr := range []string{g.Addr, g.DAVAddr, g.ShareAddr, g.AdminAddr} {
			r := run(t, cleanEnv(), "", curl, "-sS", "-w", "\n%{http_code}", "http://"+addr+"/")
			if r.Err != nil || !strings.Contains(r.Stdout, "Client sent an HTTP request to an HTTPS server.") || !strings.HasSuffix(r.Stdout, "\n400") {
				t.Errorf("plain HTTP to %s: %v\n%s\n%s", addr, r.Err, r.Stdout, r.Stderr)
			}
			// curl without the CA refuses the certificate (exit 60).
			r = run(t, cleanEnv("SSL_CERT_FILE=/dev/null"), "", curl, "-sS", "--capath", t.TempDir(), "--cacert", "/dev/null", "https://"+addr+"/")
			if r.Err == nil {
				t.Errorf("curl to %s trusted the certificate without the CA", addr)
			}
		}
	})

	t.Run("metrics", func(t *testing.T) {
		r := run(t, cleanEnv(), "", curl, "-sS", "--cacert", g.CA.File, "https://"+g.AdminAddr+"/metrics").must(t, "curl /metrics")
		for _, listener := range []string{"s3", "webdav", "share", "admin"} {
			for _, want := range []string{
				fmt.Sprintf("\ntwincrypt_tls_certificate_expiry_timestamp_seconds{listener=%q} %s\n", listener, promFloat(g.Cert.Cert.NotAfter.Unix())),
				fmt.Sprintf("\ntwincrypt_tls_reload_failures_total{listener=%q} 0\n", listener),
			} {
				if !strings.Contains(r.Stdout, want) {
					t.Errorf("metrics lack %q", want)
				}
			}
		}
	})
}

// promFloat formats n as the Prometheus text exposition does.
func promFloat(n int64) string { return strconv.FormatFloat(float64(n), 'g', -1, 64) }

// TestTLSReload swaps the certificate files and sends SIGHUP while a
// WebDAV upload is half sent: the upload completes on its connection, new
// handshakes get the new certificate, and a broken replacement keeps it.
func TestTLSReload(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2, Share: true, TLS: true, Extra: "limits:\n  header_timeout: 1s\n"})
	next := g.CA.Issue(t, t.TempDir(), "next")

	// A client that connects and never says hello is cut off after
	// limits.header_timeout, as one that never sends its headers is.
	silent, err := net.Dial("tcp", g.DAVAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: g.CA.Pool()}, MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	dav := "https://" + g.DAVAddr
	var conns []net.Conn
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { conns = append(conns, i.Conn) }}
	// drain reads a body to its end, so that its connection is kept.
	drain := func(resp *http.Response) {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	do := func(method, url string, body io.Reader) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, url, body)
		if err != nil {
			t.Fatal(err)
		}
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
		req.SetBasicAuth(g.AccessKey, g.SecretKey)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		return resp
	}
	resp := do("MKCOL", dav+"/reload/", nil)
	drain(resp)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("MKCOL: %d", resp.StatusCode)
	}
	serial := func() string {
		t.Helper()
		c, err := tls.Dial("tcp", g.DAVAddr, &tls.Config{RootCAs: g.CA.Pool(), ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatalf("fresh handshake: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	if got := serial(); got != g.Cert.Serial.String() {
		t.Fatalf("first certificate: serial %s, want %s", got, g.Cert.Serial)
	}

	// An upload of 24 MiB, of which half is sent before the swap.
	data := make([]byte, 24<<20)
	copy(data, bytes.Repeat([]byte("twincrypt reload "), len(data)/17))
	pr, pw := io.Pipe()
	done := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPut, dav+"/reload/big.bin", pr)
		req.ContentLength = int64(len(data))
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
		req.SetBasicAuth(g.AccessKey, g.SecretKey)
		resp, err := hc.Do(req)
		if err != nil {
			t.Errorf("PUT: %v", err)
			done <- nil
			return
		}
		done <- resp
	}()
	if _, err := pw.Write(data[:len(data)/2]); err != nil {
		t.Fatal(err)
	}

	// The pin of the command line follows the file: swapped but not yet
	// reloaded, the admin API presents the old certificate, and the
	// command says so instead of running without the gateway.
	copyFile(t, next.CertFile, g.Cert.CertFile)
	copyFile(t, next.KeyFile, g.Cert.KeyFile)
	if out, err := g.Run("share", "list", "-c", g.Config); err == nil || !strings.Contains(out, "presents another certificate than the configured one") || !strings.Contains(out, "SIGHUP") {
		t.Errorf("share list between the swap and SIGHUP: %v\n%s", err, out)
	}
	g.Signal(syscall.SIGHUP)
	if out := g.WaitOutput(func(out string) bool { return strings.Contains(out, "TLS certificate reloaded") }); !strings.Contains(out, "serial="+next.Serial.Text(16)) {
		t.Fatalf("no reload with the new serial in the log:\n%s", out)
	}
	if got := serial(); got != next.Serial.String() {
		t.Errorf("handshake after SIGHUP: serial %s, want the new %s", got, next.Serial)
	}
	// The upload goes on over the connection set up before.
	if _, err := pw.Write(data[len(data)/2:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	resp = <-done
	if resp == nil {
		t.FailNow()
	}
	drain(resp)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT across the reload: %d", resp.StatusCode)
	}
	resp = do(http.MethodGet, dav+"/reload/big.bin", nil)
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GET after the reload: %v, %d bytes, identical %t", err, len(got), bytes.Equal(got, data))
	}
	if len(conns) != 3 || conns[0] != conns[1] || conns[1] != conns[2] {
		t.Errorf("the requests used %d connections, want one kept alive across the reload", len(conns))
	}
	if s := conns[2].(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber; s.Cmp(g.Cert.Serial) != 0 {
		t.Errorf("the kept-alive connection changed certificate: %s", s)
	}
	if out, err := g.Run("share", "list", "-c", g.Config); err != nil {
		t.Errorf("share list after SIGHUP: %v\n%s", err, out)
	}
	NewAWS(t, g).Must("s3", "ls", "s3://reload/")
	if n, err := silent.Read(make([]byte, 1)); err == nil {
		t.Errorf("a connection without a handshake got %d bytes and stays open", n)
	}

	// A broken replacement: the certificate in use stays.
	if err := os.WriteFile(g.Cert.KeyFile, []byte("-----BEGIN PRIVATE KEY-----\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g.Signal(syscall.SIGHUP)
	if out := g.WaitOutput(func(out string) bool { return strings.Contains(out, "keeping the current one") }); !strings.Contains(out, "the TLS certificate did not load; keeping the current one") {
		t.Fatalf("no failed reload in the log:\n%s", out)
	}
	if got := serial(); got != next.Serial.String() {
		t.Errorf("handshake after a failed reload: serial %s, want %s", got, next.Serial)
	}
	r := run(t, cleanEnv(), "", testenv.Tool(t, "curl"), "-sS", "--cacert", g.CA.File, "https://"+g.AdminAddr+"/metrics").must(t, "curl /metrics")
	for _, want := range []string{`twincrypt_tls_reloads_total{listener="webdav"} 1`, `twincrypt_tls_reload_failures_total{listener="webdav"} 1`} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestTLSPerListener gives the share and admin listeners certificates of
// their own: each listener presents its own, the command line pins the
// admin listener's, and SIGHUP reloads each from its own files.
func TestTLSPerListener(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2, Share: true, TLS: true, TLSOwn: []string{"share", "admin"}})
	serial := func(addr string) string {
		t.Helper()
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: g.CA.Pool(), ServerName: "localhost"})
		if err != nil {
			t.Fatalf("handshake with %s: %v", addr, err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	want := map[string]string{
		g.Addr: g.Cert.Serial.String(), g.DAVAddr: g.Cert.Serial.String(),
		g.ShareAddr: g.OwnCerts["share"].Serial.String(), g.AdminAddr: g.OwnCerts["admin"].Serial.String(),
	}
	for addr, s := range want {
		if got := serial(addr); got != s {
			t.Errorf("%s presents serial %s, want %s", addr, got, s)
		}
	}
	out := g.WaitOutput(func(out string) bool { return strings.Contains(out, "tls-admin.pem (admin;") })
	for _, line := range []string{
		"TLS:          " + g.Cert.CertFile + " (s3, webdav; SIGHUP reloads it)",
		"TLS:          " + g.OwnCerts["share"].CertFile + " (share; SIGHUP reloads it)",
		"TLS:          " + g.OwnCerts["admin"].CertFile + " (admin; SIGHUP reloads it)",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("serve's output lacks %q:\n%s", line, out)
		}
	}
	NewAWS(t, g).Must("s3", "mb", "s3://own")
	if out, err := g.Run("share", "list", "-c", g.Config); err != nil {
		t.Errorf("share list through the admin listener's own certificate: %v\n%s", err, out)
	}

	next := g.CA.Issue(t, t.TempDir(), "next-share")
	copyFile(t, next.CertFile, g.OwnCerts["share"].CertFile)
	copyFile(t, next.KeyFile, g.OwnCerts["share"].KeyFile)
	g.Signal(syscall.SIGHUP)
	g.WaitOutput(func(out string) bool { return strings.Count(out, "TLS certificate reloaded") == 3 })
	want[g.ShareAddr] = next.Serial.String()
	for addr, s := range want {
		if got := serial(addr); got != s {
			t.Errorf("after SIGHUP, %s presents serial %s, want %s", addr, got, s)
		}
	}
}

// TestServeRefusals starts serve with WebDAV, share or admin on a wildcard
// address without TLS: it refuses, naming the listener and the key that
// allows it; with listen.allow_plaintext it serves (reached here on
// 127.0.0.1 only). A certificate that does not load stops it too.
func TestServeRefusals(t *testing.T) {
	t.Parallel()
	g := StartGateway(t, Setup{Local: 2, Share: true})
	g.Stop()
	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
	for _, tt := range []struct{ env, key, addr string }{
		{"TWINCRYPT_LISTEN_WEBDAV", "listen.webdav", "0.0.0.0:" + port(g.DAVAddr)},
		{"TWINCRYPT_LISTEN_SHARE", "listen.share", ":" + port(g.ShareAddr)},
		{"TWINCRYPT_LISTEN_ADMIN", "listen.admin", "0.0.0.0:" + port(g.AdminAddr)},
	} {
		cmd := exec.Command(g.Bin, "serve", "-c", g.Config)
		cmd.Env = append(os.Environ(), "TWINCRYPT_PASSPHRASE="+passphrase, tt.env+"="+tt.addr)
		out, err := cmd.CombinedOutput()
		want := tt.key + " " + tt.addr + ": plaintext HTTP on a non-loopback address"
		if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), want) || !strings.Contains(string(out), "listen.allow_plaintext: true") {
			t.Errorf("%s=%s: %v, exit %d, want %q\n%s", tt.env, tt.addr, err, code, want, out)
		}
	}

	// A certificate that does not match its key, or a missing file:
	// serve does not start, and says which files.
	ca := testenv.NewCA(t)
	a, b := ca.Issue(t, g.Dir, "a"), ca.Issue(t, g.Dir, "b")
	for _, tt := range []struct{ cert, key, want string }{
		{a.CertFile, b.KeyFile, "TLS certificate " + a.CertFile + " and key " + b.KeyFile + ": tls: private key does not match public key"},
		{a.CertFile, "missing-key.pem", "open " + filepath.Join(g.Dir, "missing-key.pem") + ": no such file or directory"},
	} {
		cmd := exec.Command(g.Bin, "serve", "-c", g.Config)
		cmd.Env = append(os.Environ(), "TWINCRYPT_PASSPHRASE="+passphrase, "TWINCRYPT_TLS_CERT="+tt.cert, "TWINCRYPT_TLS_KEY="+tt.key)
		out, err := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), tt.want) {
			t.Errorf("serve with tls %s, %s: %v, exit %d, want %q\n%s", tt.cert, tt.key, err, code, tt.want, out)
		}
	}

	davPort := port(testenv.FreeAddr(t))
	open := StartGateway(t, Setup{Local: 2, Env: []string{
		"TWINCRYPT_LISTEN_WEBDAV=0.0.0.0:" + davPort, "TWINCRYPT_LISTEN_ALLOW_PLAINTEXT=true",
	}})
	out := open.WaitOutput(func(out string) bool { return strings.Contains(out, "WebDAV endpoint: http://0.0.0.0:"+davPort) })
	if !strings.Contains(out, "listen.webdav 0.0.0.0:"+davPort+": not loopback and TLS is off") {
		t.Errorf("no plaintext warning:\n%s", out)
	}
	req, _ := http.NewRequest("PROPFIND", "http://127.0.0.1:"+davPort+"/", nil)
	req.SetBasicAuth(open.AccessKey, open.SecretKey)
	req.Header.Set("Depth", "0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("WebDAV on the wildcard address, reached on 127.0.0.1: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMultiStatus {
		t.Errorf("PROPFIND: %d", resp.StatusCode)
	}
}

// copyFile copies src over dst.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
