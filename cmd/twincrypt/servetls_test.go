package main

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/twincrypt/twincrypt/gateway/tlscert"
	"github.com/twincrypt/twincrypt/internal/testenv"
	"github.com/twincrypt/twincrypt/internal/testlog"
)

func TestServerErrorsLevels(t *testing.T) {
	tests := []struct {
		line, want string
	}{
		{"http: TLS handshake error from 127.0.0.1:5000: EOF\n", `level=DEBUG msg="http: TLS handshake error from 127.0.0.1:5000: EOF"`},
		{"http: superfluous response.WriteHeader call\n", `level=WARN msg="http: superfluous response.WriteHeader call"`},
	}
	for _, tt := range tests {
		var buf testlog.Buffer
		e := serverErrors{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
		if n, err := e.Write([]byte(tt.line)); n != len(tt.line) || err != nil {
			t.Errorf("Write = %d, %v", n, err)
		}
		if !strings.Contains(buf.String(), tt.want) {
			t.Errorf("logged %q, want %q", buf.String(), tt.want)
		}
	}
}

func TestReloadOnHangup(t *testing.T) {
	ca := testenv.NewCA(t)
	dir := t.TempDir()
	live := ca.Issue(t, dir, "live")
	next := ca.Issue(t, t.TempDir(), "next")
	cert, err := tlscert.Load(live.CertFile, live.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	var buf testlog.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	hup := make(chan os.Signal)
	// hangups sends n signals to a reloadOnHangup of certs and returns
	// once it has handled them all.
	hangups := func(certs []*tlscert.Cert, log *slog.Logger, n int) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { reloadOnHangup(ctx, hup, certs, log); close(done) }()
		for range n {
			hup <- syscall.SIGHUP
		}
		cancel()
		<-done
	}

	for _, b := range [][2]string{{next.CertFile, live.CertFile}, {next.KeyFile, live.KeyFile}} {
		data, _ := os.ReadFile(b[0])
		os.WriteFile(b[1], data, 0o600)
	}
	hangups([]*tlscert.Cert{cert}, log, 1)
	os.WriteFile(live.KeyFile, []byte("garbage"), 0o600)
	hangups([]*tlscert.Cert{cert}, log, 1)
	if got := cert.Current().Leaf.SerialNumber; got.Cmp(next.Serial) != 0 {
		t.Errorf("serial %v, want the reloaded %v", got, next.Serial)
	}
	out := buf.String()
	for _, want := range []string{
		`msg="SIGHUP: TLS certificate reloaded; new connections get it"`,
		"serial=" + next.Serial.Text(16),
		`msg="SIGHUP: the TLS certificate did not load; keeping the current one"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if cert.Reloads() != 1 || cert.Failures() != 1 {
		t.Errorf("reloads %d, failures %d", cert.Reloads(), cert.Failures())
	}

	// Without a certificate there is nothing to reload, and SIGHUP does
	// not end serve.
	var plain testlog.Buffer
	hangups(nil, slog.New(slog.NewTextHandler(&plain, nil)), 2)
	if n := strings.Count(plain.String(), "SIGHUP: no TLS certificate to reload"); n != 2 {
		t.Errorf("%d lines saying there is nothing to reload, want 2:\n%s", n, plain.String())
	}
}
