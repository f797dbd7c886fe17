package main

import (
	"errors"
	"github.com/twincrypt/twincrypt/internal/testlog"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stuckServer serves a handler that reads its request body to the end, and
// returns it with a connection whose request is in flight (its body never
// ends).
func stuckServer(t *testing.T) (*namedServer, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{}, 1)
	ns := &namedServer{name: "test", ln: ln, conns: &connCounter{}, srv: &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			started <- struct{}{}
			io.Copy(io.Discard, r.Body)
		}),
	}}
	ns.srv.ConnState = ns.conns.track
	go ns.srv.Serve(ln)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); ns.srv.Close() })
	io.WriteString(c, "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nsome")
	<-started
	return ns, c
}

func TestShutdownDeadline(t *testing.T) {
	ns, c := stuckServer(t)
	var log testlog.Buffer
	err := shutdown([]*namedServer{ns}, time.Second, nil, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	out := log.String()
	for _, want := range []string{"waiting for in-flight requests\" requests=1 connections=1", "shutdown deadline passed", "deadline=1s"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	// The connection was closed.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Errorf("connection not closed: %v", err)
	}
	if _, err := net.Dial("tcp", ns.ln.Addr().String()); err == nil {
		t.Error("the listener still accepts")
	}
}

func TestShutdownSecondSignal(t *testing.T) {
	ns, _ := stuckServer(t)
	var log testlog.Buffer
	again := make(chan os.Signal, 1)
	again <- syscall.SIGINT
	err := shutdown([]*namedServer{ns}, time.Hour, again, slog.New(slog.NewTextHandler(&log, nil)))
	if !errors.Is(err, errSecondSignal) {
		t.Fatalf("shutdown: %v, want errSecondSignal", err)
	}
	if out := log.String(); !strings.Contains(out, "second signal: exiting at once") || !strings.Contains(out, "signal=interrupt requests=1") {
		t.Errorf("log:\n%s", out)
	}
}

func TestShutdownIdle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ns := &namedServer{name: "idle", ln: ln, conns: &connCounter{}, srv: &http.Server{Handler: http.NotFoundHandler()}}
	ns.srv.ConnState = ns.conns.track
	go ns.srv.Serve(ln)
	var log testlog.Buffer
	if err := shutdown([]*namedServer{ns}, time.Hour, nil, slog.New(slog.NewTextHandler(&log, nil))); err != nil {
		t.Fatal(err)
	}
	if out := log.String(); !strings.Contains(out, "requests=0 connections=0") || strings.Contains(out, "deadline passed") {
		t.Errorf("log:\n%s", out)
	}
}

func TestConfigModeWarning(t *testing.T) {
	path := t.TempDir() + "/c.yaml"
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o400, false}, {0o620, false}, {0o640, true}, {0o604, true}, {0o644, true}} {
		if err := os.Chmod(path, tt.mode); err != nil {
			t.Fatal(err)
		}
		w := configModeWarning(path)
		if (w != "") != tt.warn {
			t.Errorf("mode %04o: warning %q", tt.mode, w)
		}
		if tt.warn && (!strings.Contains(w, "readable by others") || !strings.Contains(w, "chmod 600 "+path)) {
			t.Errorf("mode %04o: warning %q", tt.mode, w)
		}
	}
	if w := configModeWarning(path + ".missing"); w != "" {
		t.Errorf("missing file: %q", w)
	}
}

// TestNotifySignals: the first SIGINT or SIGTERM cancels the context, the
// next ones arrive on the channel.
func TestNotifySignals(t *testing.T) {
	ctx, again, stop := notifySignals()
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Minute):
		t.Fatal("the first signal did not cancel the context")
	}
	select {
	case s := <-again:
		t.Fatalf("the first signal also arrived as a second: %v", s)
	default:
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-again:
		if s != os.Interrupt {
			t.Errorf("second signal %v, want interrupt", s)
		}
	case <-time.After(time.Minute):
		t.Fatal("the second signal did not arrive")
	}
}
