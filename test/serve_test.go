package e2e

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// TestServeEmbeddedDefault runs `twincrypt serve` with no config: it must
// create its home, print its endpoint and credentials, and serve S3 with
// them; SIGTERM ends it with exit 0. A second start reuses everything.
func TestServeEmbeddedDefault(t *testing.T) {
	bin := binary(t)
	home := t.TempDir()
	start := func() (*exec.Cmd, map[string]string, *bytes.Buffer) {
		cmd := exec.Command(bin, "serve")
		cmd.Env = append(os.Environ(), "TWINCRYPT_HOME="+home, "TWINCRYPT_PASSPHRASE="+passphrase,
			"TWINCRYPT_LISTEN_S3=127.0.0.1:0", "TWINCRYPT_LISTEN_WEBDAV=127.0.0.1:0", "TWINCRYPT_LISTEN_SHARE=127.0.0.1:0")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		fields := map[string]string{}
		re := regexp.MustCompile(`^\s+(S3 endpoint|access key|secret key):\s+(\S+)`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				fields[m[1]] = m[2]
			}
			if len(fields) == 3 {
				break
			}
		}
		go io.Copy(io.Discard, stdout)
		if len(fields) != 3 {
			cmd.Wait()
			t.Fatalf("serve printed %v; stderr:\n%s", fields, stderr.String())
		}
		return cmd, fields, &stderr
	}
	cmd, f, stderr := start()
	if !strings.Contains(stderr.String(), "one jurisdiction") {
		t.Errorf("the single-jurisdiction default does not warn:\n%s", stderr)
	}
	for _, p := range []string{"twincrypt.yaml", "twincrypt.keyring", "twincrypt.db"} {
		if fi, err := os.Stat(filepath.Join(home, p)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v (mode %v), want mode 0600", p, err, fi)
		}
	}
	client := func(f map[string]string) *minio.Client {
		c, err := minio.New(strings.TrimPrefix(f["S3 endpoint"], "http://"), &minio.Options{
			Creds: credentials.NewStaticV4(f["access key"], f["secret key"], ""), Region: "us-east-1"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	c := client(f)
	if err := c.MakeBucket(ctx, "default-bucket", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, "default-bucket", "hello.txt", strings.NewReader("hello"), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, stderr)
	}

	// The second start finds the config, keyring and data it made.
	cmd, f2, stderr := start()
	if f2["access key"] != f["access key"] || f2["secret key"] != f["secret key"] {
		t.Errorf("credentials changed between starts")
	}
	obj, err := client(f2).GetObject(ctx, "default-bucket", "hello.txt", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(obj); err != nil || string(b) != "hello" {
		t.Errorf("after restart: %q %v", b, err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGINT: %v\n%s", err, stderr)
	}
}

// TestServeWithoutPassphrase fails clearly when there is neither a
// passphrase in the environment nor a terminal.
func TestServeWithoutPassphrase(t *testing.T) {
	cmd := exec.Command(binary(t), "serve")
	cmd.Env = append(os.Environ(), "TWINCRYPT_HOME="+t.TempDir())
	cmd.Env = slicesDelete(cmd.Env, "TWINCRYPT_PASSPHRASE=")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 || !strings.Contains(string(out), "TWINCRYPT_PASSPHRASE") {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
}

// TestShutdownDuringUpload sends SIGTERM while a large upload is in flight:
// serve finishes it (or the client sees a failure) and exits 0, and no
// partial object is ever visible.
func TestShutdownDuringUpload(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	ctx := context.Background()
	c, err := minio.New(g.Addr, &minio.Options{Creds: credentials.NewStaticV4(g.AccessKey, g.SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MakeBucket(ctx, "shutdown", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	const size = 64 << 20
	body := &slowReader{left: size, started: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := c.PutObject(ctx, "shutdown", "big", body, size, minio.PutObjectOptions{DisableMultipart: true})
		done <- err
	}()
	<-body.started
	g.Stop() // SIGTERM, then waits: a non-zero exit fails the test
	uploadErr := <-done
	g.Start()
	info, err := c.StatObject(ctx, "shutdown", "big", minio.StatObjectOptions{})
	switch {
	case uploadErr == nil && (err != nil || info.Size != size):
		t.Errorf("acknowledged upload not readable after restart: %v %+v", err, info)
	case uploadErr != nil && err == nil:
		t.Errorf("failed upload (%v) left an object of %d bytes", uploadErr, info.Size)
	}
	t.Logf("upload during shutdown: %v", uploadErr)
}

// slowReader yields zeros slowly enough that a shutdown lands mid-body.
type slowReader struct {
	left    int
	n       int
	started chan struct{}
	closed  bool
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if r.n >= 1<<20 && !r.closed {
		close(r.started)
		r.closed = true
	}
	n := min(len(p), r.left, 64<<10)
	clear(p[:n])
	r.left -= n
	r.n += n
	time.Sleep(time.Millisecond)
	return n, nil
}

func slicesDelete(env []string, prefix string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}
