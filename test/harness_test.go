// Package e2e holds twincrypt's end-to-end tests: the real binary, real
// S3 and WebDAV clients, and real storage servers, started as processes on
// loopback ports. test/setup installs every tool they use; under CI=true a
// missing tool fails the test.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// passphrase unlocks every keyring the tests create.
const passphrase = "correct horse battery staple"

// build compiles the twincrypt binary once per test process.
var build = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "twincrypt-e2e-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "twincrypt")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/twincrypt/twincrypt/cmd/twincrypt").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// binary returns the path of the freshly built twincrypt binary.
func binary(t testing.TB) string {
	t.Helper()
	bin, err := build()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// Setup describes the gateway a test wants.
type Setup struct {
	Local     int                 // local-directory backends
	S3        []*testenv.S3Server // S3 backends (one bucket each)
	MinWrites int                 // 0: all
	// CheckInterval is replication.check_interval: how often serve
	// checks its providers; 0 leaves the default.
	CheckInterval time.Duration
	// Share adds a share listener (listen.share) and an admin API
	// (listen.admin) on free loopback ports.
	Share bool
	// S3Via, when it has an entry for an S3 backend, is the proxy the
	// gateway reaches that backend through (for fault injection).
	S3Via []*testenv.Proxy
	// Priority holds the read priority of each backend, locals first
	// and then S3 ones, in order; missing entries leave the default.
	Priority []int
	// SecretKeyFile puts the user's secret key in the file user.secret
	// next to the config, named by users[0].secret_key_file.
	SecretKeyFile bool
	// Extra is YAML appended to the config file (top-level sections
	// other than listen, keyring, catalog, users, backends and
	// replication).
	Extra string
	// LogFormat is serve's -log-format; empty: text, which tests match.
	LogFormat string
	// Users is YAML list entries appended to users, after the gateway's
	// own user (AccessKey, SecretKey), which stays the first.
	Users string
	// TLS makes a CA for the test and a certificate from it for
	// 127.0.0.1, ::1 and localhost, written next to the config as
	// tls.pem and tls-key.pem and named by tls.cert and tls.key; every
	// listener then speaks https.
	TLS bool
	// TLSOwn names listeners (s3, webdav, share, admin) that get a
	// certificate of their own from the same CA, tls-NAME.pem and
	// tls-NAME-key.pem, in tls.listeners; with TLS only.
	TLSOwn []string
	// Env is added to the environment of every twincrypt command the
	// gateway runs (serve included), for TWINCRYPT_* overrides.
	Env []string
	// CatalogURL, when set, makes the catalog a Redis one at this URL
	// (catalog.type redis) instead of the embedded file.
	CatalogURL string
}

// Gateway is a running twincrypt serve process.
type Gateway struct {
	t         testing.TB
	Bin       string
	Dir       string
	Config    string
	Addr      string // host:port of the S3 endpoint
	DAVAddr   string // host:port of the WebDAV endpoint
	ShareAddr string // host:port of the share listener, with Setup.Share
	AdminAddr string // host:port of the admin API, with Setup.Share
	AccessKey string
	SecretKey string
	LocalDirs []string
	Buckets   []S3Bucket // S3 backends with their bucket
	// CA issued Cert, the certificate serve presents, with Setup.TLS;
	// nil otherwise.
	CA   *testenv.CA
	Cert *testenv.Issued
	// OwnCerts are the certificates of Setup.TLSOwn, by listener.
	OwnCerts  map[string]*testenv.Issued
	env       []string
	logFormat string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	output *bytes.Buffer
}

// S3Bucket is one S3 backend of a gateway.
type S3Bucket struct {
	Server *testenv.S3Server
	Bucket string
}

// ShareURL is the base URL of the share listener.
func (g *Gateway) ShareURL() string { return g.Scheme() + "://" + g.ShareAddr }

// Endpoint is the gateway's S3 URL.
func (g *Gateway) Endpoint() string { return g.Scheme() + "://" + g.Addr }

// Scheme is https with Setup.TLS and http otherwise.
func (g *Gateway) Scheme() string {
	if g.CA != nil {
		return "https"
	}
	return "http"
}

// StartGateway writes a config for s, runs `twincrypt init` and starts
// `twincrypt serve`, stopping it when the test ends.
func StartGateway(t testing.TB, s Setup) *Gateway {
	t.Helper()
	g := &Gateway{t: t, Bin: binary(t), Dir: t.TempDir(), Addr: testenv.FreeAddr(t), DAVAddr: testenv.FreeAddr(t),
		AccessKey: "e2e" + randHex(t, 6), SecretKey: randHex(t, 20)}
	g.Config = filepath.Join(g.Dir, "twincrypt.yaml")
	g.logFormat = s.LogFormat
	g.env = s.Env
	if g.logFormat == "" {
		g.logFormat = "text"
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "listen:\n  s3: %s\n  webdav: %s\n", g.Addr, g.DAVAddr)
	if s.Share {
		g.ShareAddr, g.AdminAddr = testenv.FreeAddr(t), testenv.FreeAddr(t)
		fmt.Fprintf(&cfg, "  share: %s\n  admin: %s\n", g.ShareAddr, g.AdminAddr)
	}
	if s.TLS {
		g.CA = testenv.NewCA(t)
		g.Cert = g.CA.Issue(t, g.Dir, "tls")
		fmt.Fprintf(&cfg, "tls:\n  cert: tls.pem\n  key: tls-key.pem\n")
		if len(s.TLSOwn) > 0 {
			g.OwnCerts = make(map[string]*testenv.Issued)
			fmt.Fprintf(&cfg, "  listeners:\n")
		}
		for _, name := range s.TLSOwn {
			g.OwnCerts[name] = g.CA.Issue(t, g.Dir, "tls-"+name)
			fmt.Fprintf(&cfg, "    %s: {cert: tls-%s.pem, key: tls-%s-key.pem}\n", name, name, name)
		}
	}
	if s.CatalogURL != "" {
		fmt.Fprintf(&cfg, "keyring: twincrypt.keyring\ncatalog:\n  type: redis\n  url: %s\n", s.CatalogURL)
	} else {
		fmt.Fprintf(&cfg, "keyring: twincrypt.keyring\ncatalog:\n  type: bolt\n  path: twincrypt.db\n")
	}
	if s.SecretKeyFile {
		if err := os.WriteFile(filepath.Join(g.Dir, "user.secret"), []byte(g.SecretKey+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&cfg, "users:\n  - access_key: %s\n    secret_key_file: user.secret\n", g.AccessKey)
	} else {
		fmt.Fprintf(&cfg, "users:\n  - access_key: %s\n    secret_key: %s\n", g.AccessKey, g.SecretKey)
	}
	fmt.Fprintf(&cfg, "%sbackends:\n", s.Users)
	jurisdictions := []string{"DE", "CH", "IS", "NO"}
	n := 0
	for i := 0; i < s.Local; i++ {
		dir := filepath.Join(g.Dir, fmt.Sprintf("local%d", i))
		g.LocalDirs = append(g.LocalDirs, dir)
		fmt.Fprintf(&cfg, "  - name: local%d\n    jurisdiction: %s\n    type: local\n    path: %s\n", i, jurisdictions[n%len(jurisdictions)], dir)
		if n < len(s.Priority) {
			fmt.Fprintf(&cfg, "    priority: %d\n", s.Priority[n])
		}
		n++
	}
	for i, srv := range s.S3 {
		bucket := fmt.Sprintf("tc-e2e-%d-%s", i, randHex(t, 4))
		srv.Bucket(t, bucket)
		g.Buckets = append(g.Buckets, S3Bucket{Server: srv, Bucket: bucket})
		endpoint := srv.Endpoint
		if i < len(s.S3Via) && s.S3Via[i] != nil {
			endpoint = s.S3Via[i].Endpoint()
		}
		fmt.Fprintf(&cfg, "  - name: s3-%d\n    jurisdiction: %s\n    type: s3\n    endpoint: %s\n    region: us-east-1\n    bucket: %s\n    access_key: %s\n    secret_key: %s\n",
			i, jurisdictions[n%len(jurisdictions)], endpoint, bucket, srv.AccessKey, srv.SecretKey)
		if n < len(s.Priority) {
			fmt.Fprintf(&cfg, "    priority: %d\n", s.Priority[n])
		}
		n++
	}
	if s.MinWrites > 0 || s.CheckInterval > 0 {
		fmt.Fprintf(&cfg, "replication:\n")
	}
	if s.MinWrites > 0 {
		fmt.Fprintf(&cfg, "  min_writes: %d\n", s.MinWrites)
	}
	if s.CheckInterval > 0 {
		fmt.Fprintf(&cfg, "  check_interval: %s\n", s.CheckInterval)
	}
	cfg.WriteString(s.Extra)
	if err := os.WriteFile(g.Config, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := g.Run("init", "-c", g.Config); err != nil {
		t.Fatalf("twincrypt init: %v\n%s", err, out)
	}
	g.Start()
	t.Cleanup(g.Stop)
	return g
}

// Run runs a twincrypt subcommand with the test passphrase and returns its
// combined output.
func (g *Gateway) Run(args ...string) (string, error) {
	cmd := exec.Command(g.Bin, args...)
	cmd.Env = append(append(os.Environ(), g.env...), "TWINCRYPT_PASSPHRASE="+passphrase)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Start starts serve and waits until the S3 port accepts connections.
func (g *Gateway) Start() {
	g.t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	cmd := exec.Command(g.Bin, "serve", "-log-format", g.logFormat, "-c", g.Config)
	cmd.Env = append(append(os.Environ(), g.env...), "TWINCRYPT_PASSPHRASE="+passphrase)
	g.output = &bytes.Buffer{}
	cmd.Stdout = &lockedWriter{w: g.output, mu: &g.mu}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		g.t.Fatalf("start serve: %v", err)
	}
	g.cmd = cmd
	exited := make(chan struct{})
	g.exited = exited
	go func() { cmd.Wait(); close(exited) }()
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", g.Addr)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			g.t.Fatalf("twincrypt serve exited before listening:\n%s", g.output)
		case <-time.After(50 * time.Millisecond):
		}
		if i > 1200 {
			g.t.Fatalf("twincrypt serve did not listen on %s:\n%s", g.Addr, g.output)
		}
	}
}

// Stop sends SIGTERM and waits for a clean exit; a non-zero exit fails
// the test.
func (g *Gateway) Stop() {
	g.mu.Lock()
	cmd, exited := g.cmd, g.exited
	g.cmd = nil
	g.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	<-exited
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		g.t.Errorf("twincrypt serve exited with %d after SIGTERM:\n%s", code, g.Output())
	}
}

// Signal sends sig to serve and returns at once.
func (g *Gateway) Signal(sig os.Signal) {
	g.mu.Lock()
	cmd := g.cmd
	g.mu.Unlock()
	if cmd != nil {
		cmd.Process.Signal(sig)
	}
}

// WaitExit polls every 100 ms, at most polls times, for serve to exit.
// It returns serve's exit code and how many polls it took, or ok false if
// serve still runs (then it stays running, for Stop or Kill).
func (g *Gateway) WaitExit(polls int) (code, took int, ok bool) {
	g.mu.Lock()
	cmd, exited := g.cmd, g.exited
	g.mu.Unlock()
	if cmd == nil {
		return 0, 0, false
	}
	for i := range polls {
		select {
		case <-exited:
			g.mu.Lock()
			g.cmd = nil
			g.mu.Unlock()
			return cmd.ProcessState.ExitCode(), i, true
		case <-time.After(100 * time.Millisecond):
		}
	}
	return 0, polls, false
}

// Kill kills serve with SIGKILL, as a crash would.
func (g *Gateway) Kill() {
	g.mu.Lock()
	cmd, exited := g.cmd, g.exited
	g.cmd = nil
	g.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-exited
}

// PID returns the serve process id.
func (g *Gateway) PID() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cmd.Process.Pid
}

// Output returns what serve printed so far.
func (g *Gateway) Output() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.output.String()
}

// WaitOutput polls what serve printed until cond holds of it, for up to
// about 10 seconds, and returns it: the log reaches the test through a
// pipe, a little after the request that caused it was answered.
func (g *Gateway) WaitOutput(cond func(out string) bool) string {
	for range 200 {
		if out := g.Output(); cond(out) {
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
	return g.Output()
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func randHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

// Result is the outcome of one client command.
type Result struct {
	Stdout, Stderr string
	Err            error
}

// run runs a client command with a bounded context so that a hung client
// ends the test with its output instead of hanging CI.
func run(t testing.TB, env []string, dir string, name string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return Result{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

// must fails the test if r failed.
func (r Result) must(t testing.TB, what string) Result {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", what, r.Err, r.Stdout, r.Stderr)
	}
	return r
}
