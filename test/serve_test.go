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
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// TestServeEmbeddedDefault runs `twincrypt serve` with no config: it must
// create its home, print its endpoint and credentials, and serve S3 with
// them; SIGTERM ends it with exit 0. A second start reuses everything and
// does not print the secret key again, only where it is.
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
		re := regexp.MustCompile(`^\s+(S3 endpoint|access key|secret key|backend):\s+(.+)`)
		sc := bufio.NewScanner(stdout)
		var printed strings.Builder
		for sc.Scan() {
			printed.WriteString(sc.Text() + "\n")
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				fields[m[1]] = m[2]
			}
			if strings.HasPrefix(fields["backend"], "local-b") {
				break // the last line of the banner
			}
		}
		go io.Copy(io.Discard, stdout)
		if fields["S3 endpoint"] == "" || fields["access key"] == "" || fields["secret key"] == "" {
			cmd.Wait()
			t.Fatalf("serve printed %v; stderr:\n%s", fields, stderr.String())
		}
		fields["stdout"] = printed.String()
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
	if f2["access key"] != f["access key"] {
		t.Errorf("access key changed between starts")
	}
	if strings.Contains(f2["stdout"], f["secret key"]) || strings.Contains(stderr.String(), f["secret key"]) {
		t.Errorf("the second start printed the secret key again:\n%s", f2["stdout"])
	}
	if want := "in " + filepath.Join(home, "twincrypt.yaml"); !strings.HasPrefix(f2["secret key"], want) {
		t.Errorf("the second start says the secret key is %q, want it to name %s", f2["secret key"], want)
	}
	f2["secret key"] = f["secret key"]
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

// TestServeShortPassphrase: the first serve of the embedded default
// refuses to create a keyring under a passphrase of fewer than 12
// characters, and creates none.
func TestServeShortPassphrase(t *testing.T) {
	home := t.TempDir()
	cmd := exec.Command(binary(t), "serve")
	cmd.Env = append(slicesDelete(os.Environ(), "TWINCRYPT_PASSPHRASE="), "TWINCRYPT_HOME="+home, "TWINCRYPT_PASSPHRASE=elevenchars")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 || !strings.Contains(string(out), "fewer than the 12 required") {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(home, "twincrypt.keyring")); !os.IsNotExist(err) {
		t.Errorf("a keyring was created: %v", err)
	}
}

// TestServeConfigReadableByOthers: serve warns at start about a config file
// that its group or others may read, and not about one of mode 0600.
func TestServeConfigReadableByOthers(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	if strings.Contains(g.Output(), "readable by others") {
		t.Errorf("warning for mode 0600:\n%s", g.Output())
	}
	g.Stop()
	if err := os.Chmod(g.Config, 0o644); err != nil {
		t.Fatal(err)
	}
	g.Start()
	want := "the config file " + g.Config + " holds secrets and is readable by others than its owner (mode 0644)"
	if out := g.WaitOutput(func(out string) bool { return strings.Contains(out, want) }); !strings.Contains(out, want) {
		t.Errorf("no warning for mode 0644:\n%s", out)
	}
}

// TestServeSecretKeyFile runs a gateway whose user secret key is in a file
// named by users[].secret_key_file, relative to the config file.
func TestServeSecretKeyFile(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2, SecretKeyFile: true})
	if b, err := os.ReadFile(g.Config); err != nil || strings.Contains(string(b), g.SecretKey) || !strings.Contains(string(b), "secret_key_file: user.secret") {
		t.Fatalf("config (%v):\n%s", err, b)
	}
	c := minioClient(t, g)
	if _, err := c.PutObject(context.Background(), "shutdown", "k", strings.NewReader("v"), 1, minio.PutObjectOptions{}); err != nil {
		t.Errorf("PUT with the secret from the file: %v", err)
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

// shutdownPolls bounds the polls (100 ms apart) for serve to exit after a
// signal: a safety net of about a minute, far above the 2 s deadline.
const shutdownPolls = 600

// TestShutdownDuringUpload sends SIGTERM while a slow upload is in flight,
// with shutdown_timeout: 2s: serve says what it waits for, cuts the upload
// off at the deadline and exits 0, and afterwards the object is either
// complete or absent, never partial.
func TestShutdownDuringUpload(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2, Extra: "shutdown_timeout: 2s\n"})
	c := minioClient(t, g)
	body, uploadErr := slowUpload(t, c, "big")
	g.Signal(syscall.SIGTERM)
	code, polls, ok := g.WaitExit(shutdownPolls)
	if !ok {
		g.Kill()
		t.Fatalf("serve still runs %d polls after SIGTERM:\n%s", polls, g.Output())
	}
	if code != 0 {
		t.Errorf("exit %d after SIGTERM:\n%s", code, g.Output())
	}
	out := g.Output()
	for _, want := range []string{"waiting for in-flight requests", "requests=1", "deadline=2s"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
	t.Logf("serve exited after %d polls; upload: %v; sent %d bytes", polls, <-uploadErr, body.sent())
	g.Start()
	checkWholeOrAbsent(t, c, "big", body.size)
}

// TestShutdownSecondSignal sends SIGTERM during a slow upload and, while
// serve waits for it (default deadline 30 s), SIGINT: serve exits at once
// with a non-zero code and says why, and the object is complete or absent.
func TestShutdownSecondSignal(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	c := minioClient(t, g)
	_, uploadErr := slowUpload(t, c, "big")
	g.Signal(syscall.SIGTERM)
	if out := g.WaitOutput(func(out string) bool { return strings.Contains(out, "waiting for in-flight requests") }); !strings.Contains(out, "deadline=30s") {
		t.Fatalf("serve does not say it waits:\n%s", out)
	}
	g.Signal(syscall.SIGINT)
	code, polls, ok := g.WaitExit(shutdownPolls)
	if !ok {
		g.Kill()
		t.Fatalf("serve still runs %d polls after the second signal:\n%s", polls, g.Output())
	}
	if code == 0 {
		t.Errorf("exit 0 after a second signal")
	}
	if out := g.Output(); !strings.Contains(out, "second signal: exiting at once") || !strings.Contains(out, "signal=interrupt") {
		t.Errorf("the log does not say why serve stopped:\n%s", out)
	}
	t.Logf("serve exited with %d after %d polls; upload: %v", code, polls, <-uploadErr)
	g.Start()
	checkWholeOrAbsent(t, c, "big", slowSize)
}

// TestShutdownFinishesUpload sends SIGTERM during a slow upload that ends
// well within the default deadline: serve lets it finish, the client hears
// success, serve exits 0 and the object is there after a restart.
func TestShutdownFinishesUpload(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	c := minioClient(t, g)
	const size = 4 << 20 // about 0.7 s to send
	_, uploadErr := slowUploadSize(t, c, "small", size)
	g.Signal(syscall.SIGTERM)
	code, polls, ok := g.WaitExit(shutdownPolls)
	if !ok {
		g.Kill()
		t.Fatalf("serve still runs %d polls after SIGTERM:\n%s", polls, g.Output())
	}
	if code != 0 {
		t.Errorf("exit %d after SIGTERM:\n%s", code, g.Output())
	}
	if err := <-uploadErr; err != nil {
		t.Errorf("the upload in flight at SIGTERM failed: %v\n%s", err, g.Output())
	}
	if out := g.Output(); !strings.Contains(out, "requests=1") || strings.Contains(out, "deadline passed") {
		t.Errorf("log:\n%s", out)
	}
	g.Start()
	checkWholeOrAbsent(t, c, "small", size)
	if _, err := c.StatObject(context.Background(), "shutdown", "small", minio.StatObjectOptions{}); err != nil {
		t.Errorf("the finished upload is missing after restart: %v", err)
	}
}

func minioClient(t *testing.T, g *Gateway) *minio.Client {
	t.Helper()
	c, err := minio.New(g.Addr, &minio.Options{Creds: credentials.NewStaticV4(g.AccessKey, g.SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MakeBucket(context.Background(), "shutdown", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	return c
}

// slowSize is the size of a slow upload: at 64 KiB per 10 ms it takes
// about 5 s to send.
const slowSize = 32 << 20

// slowUpload starts a single-part upload of slowSize bytes to
// shutdown/key, sent slowly, and returns once 1 MiB of it is sent.
func slowUpload(t *testing.T, c *minio.Client, key string) (*slowReader, <-chan error) {
	return slowUploadSize(t, c, key, slowSize)
}

// slowUploadSize is slowUpload of size bytes.
func slowUploadSize(t *testing.T, c *minio.Client, key string, size int) (*slowReader, <-chan error) {
	body := &slowReader{size: size, left: size, started: make(chan struct{}), pause: 10 * time.Millisecond}
	done := make(chan error, 1)
	go func() {
		_, err := c.PutObject(context.Background(), "shutdown", key, body, int64(size), minio.PutObjectOptions{DisableMultipart: true})
		done <- err
	}()
	<-body.started
	return body, done
}

// checkWholeOrAbsent fails the test unless shutdown/key holds size bytes
// of zeros or does not exist.
func checkWholeOrAbsent(t *testing.T, c *minio.Client, key string, size int) {
	t.Helper()
	obj, err := c.GetObject(context.Background(), "shutdown", key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(obj)
	switch {
	case err != nil && minio.ToErrorResponse(err).Code == "NoSuchKey":
		t.Logf("the object is absent")
	case err != nil:
		t.Errorf("GET: %v", err)
	case len(b) != size || !bytes.Equal(b, make([]byte, size)):
		t.Errorf("GET returned %d bytes, want %d zeros: a partial object", len(b), size)
	default:
		t.Logf("the object is complete")
	}
}

// slowReader yields zeros slowly enough that a shutdown lands mid-body.
type slowReader struct {
	size    int
	left    int
	n       atomic.Int64
	started chan struct{}
	closed  bool
	pause   time.Duration
}

// sent returns how many bytes were read so far.
func (r *slowReader) sent() int64 { return r.n.Load() }

func (r *slowReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if r.n.Load() >= 1<<20 && !r.closed {
		close(r.started)
		r.closed = true
	}
	n := min(len(p), r.left, 64<<10)
	clear(p[:n])
	r.left -= n
	r.n.Add(int64(n))
	time.Sleep(r.pause)
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
