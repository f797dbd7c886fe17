package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Server is a versitygw S3 server in posix mode on a loopback port, started
// by StartVersityGW and stopped when the test ends. A bucket is a directory
// under Dir.
type S3Server struct {
	Endpoint  string // base URL, for example http://127.0.0.1:41234
	Addr      string // host:port the server listens on
	AccessKey string
	SecretKey string
	Region    string // always "us-east-1"
	Dir       string // the posix root: one directory per bucket

	t       testing.TB
	bin     string
	flags   []string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// readyTries bounds how often Start probes the port before giving up; with
// readyPause between probes the server has about 30s to come up.
const (
	readyTries = 600
	readyPause = 50 * time.Millisecond
)

// StartVersityGW starts versitygw in posix mode on a free loopback port with
// a fresh root directory and random credentials. flags are extra global
// versitygw flags, for example "--virtual-domain", "s3.test". The server is
// killed when the test ends. A missing versitygw binary is reported with
// Unavailable.
func StartVersityGW(t testing.TB, flags ...string) *S3Server {
	t.Helper()
	bin := Tool(t, "versitygw")
	base := t.TempDir()
	s := &S3Server{
		Addr:      FreeAddr(t),
		AccessKey: "twincrypt-test-" + randomHex(t, 4),
		SecretKey: randomHex(t, 20),
		Region:    "us-east-1",
		Dir:       filepath.Join(base, "posix"),
		t:         t,
		bin:       bin,
		flags:     flags,
		logPath:   filepath.Join(base, "versitygw.log"),
	}
	s.Endpoint = "http://" + s.Addr
	if err := os.Mkdir(s.Dir, 0o700); err != nil {
		t.Fatalf("versitygw: %v", err)
	}
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// Start starts the server, or restarts it after Stop on the same address and
// directory, and waits until it accepts connections. It fails the test if
// the server exits or does not come up. Starting a running server does
// nothing.
func (s *S3Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	logf, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatalf("versitygw: %v", err)
	}
	args := []string{
		"--port", s.Addr,
		"--access", s.AccessKey,
		"--secret", s.SecretKey,
		"--region", s.Region,
		"--quiet",
	}
	args = append(append(args, s.flags...), "posix", s.Dir)
	cmd := exec.Command(s.bin, args...)
	// Credentials from the environment would override the flags.
	cmd.Env = filterEnv(os.Environ(), "ROOT_ACCESS_KEY", "ROOT_SECRET", "VGW_")
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Own process group, so that Stop kills everything it started; killed
	// with the test binary too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.t.Fatalf("versitygw: start: %v", err)
	}
	logf.Close()
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	for range readyTries {
		select {
		case <-exited:
			s.cmd = nil
			s.t.Fatalf("versitygw exited during startup: %v\n%s", cmd.ProcessState, s.log())
		default:
		}
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(readyPause)
	}
	s.killLocked()
	s.t.Fatalf("versitygw did not accept connections on %s after %d tries\n%s", s.Addr, readyTries, s.log())
}

func filterEnv(env []string, prefixes ...string) []string {
	out := env[:0:0]
next:
	for _, kv := range env {
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// Stop kills the server's process group with SIGKILL, as a crash would, and
// waits for it to exit. Its data stays in Dir for a later Start. Stopping a
// stopped server does nothing.
func (s *S3Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

func (s *S3Server) killLocked() {
	if s.cmd == nil {
		return
	}
	if err := syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		s.t.Errorf("versitygw: kill: %v", err)
	}
	<-s.exited
	s.cmd, s.exited = nil, nil
}

func (s *S3Server) log() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// Client returns a minio-go client for the server, path-style, with the
// server's credentials.
func (s *S3Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(s.Addr, &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region:       s.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatalf("versitygw client: %v", err)
	}
	return c
}

// Bucket creates the bucket name through the S3 API; an existing bucket is
// not an error.
func (s *S3Server) Bucket(t testing.TB, name string) {
	t.Helper()
	c := s.Client(t)
	ctx := context.Background()
	err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: s.Region})
	if err == nil {
		return
	}
	if code := minio.ToErrorResponse(err).Code; code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" {
		return
	}
	t.Fatalf("versitygw: create bucket %s: %v\n%s", name, err, s.log())
}
