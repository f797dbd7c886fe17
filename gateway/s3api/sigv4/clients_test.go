package sigv4

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/rclone/gofakes3"
	"github.com/rclone/gofakes3/s3mem"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// gateway is the middleware in front of gofakes3 with its in-memory
// backend and its own authentication disabled, as the S3 front end runs
// it. It records the x-amz-content-sha256 modes the clients used.
type gateway struct {
	url   string
	host  string
	mu    sync.Mutex
	modes map[string]int
}

func (g *gateway) sawMode(mode string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.modes[mode] > 0
}

func startGateway(t *testing.T) *gateway {
	t.Helper()
	if testing.Short() {
		t.Skip("real clients are not run with -short")
	}
	g := &gateway{modes: map[string]int{}}
	faker := gofakes3.New(s3mem.New())
	v := New(StaticCredentials{testAccessKey: testSecret})
	inner := v.Middleware(faker.Server())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		mode := r.Header.Get("X-Amz-Content-Sha256")
		if len(mode) == 64 && isHex(mode) && mode != emptySHA256 {
			mode = "hex"
		}
		g.modes[mode]++
		for name := range r.Header {
			if name == "Content-Md5" || name == "X-Amz-Trailer" || strings.HasPrefix(name, "X-Amz-Checksum-") {
				g.modes["header "+name]++
			}
		}
		g.mu.Unlock()
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	g.url = srv.URL
	g.host = strings.TrimPrefix(srv.URL, "http://")
	return g
}

// clientEnv is an environment with no user configuration for AWS tools.
func clientEnv(t *testing.T, secret string) []string {
	t.Helper()
	home := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "RCLONE_") {
			continue
		}
		env = append(env, kv)
	}
	cfg := filepath.Join(home, "aws-config")
	if err := os.WriteFile(cfg, []byte("[default]\ns3 =\n    signature_version = s3v4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("PYENV_ROOT") == "" {
		if h, err := os.UserHomeDir(); err == nil {
			env = append(env, "PYENV_ROOT="+filepath.Join(h, ".pyenv"))
		}
	}
	return append(env,
		"HOME="+home,
		"AWS_CONFIG_FILE="+cfg,
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "aws-credentials"),
		"AWS_ACCESS_KEY_ID="+testAccessKey,
		"AWS_SECRET_ACCESS_KEY="+secret,
		"AWS_DEFAULT_REGION="+testRegion,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"AWS_MAX_ATTEMPTS=2",
	)
}

func run(t *testing.T, env []string, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func mustRun(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, errOut, err := run(t, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", filepath.Base(name), strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: %d bytes differ from the %d uploaded", filepath.Base(path), len(got), len(want))
	}
}

// awsCLI runs one aws cli (v2 or v1) through uploads, downloads, a range
// read and a presigned URL.
func awsCLI(t *testing.T, aws string) {
	g := startGateway(t)
	env := clientEnv(t, testSecret)
	dir := t.TempDir()
	small := randomBytes(t, 1000)
	big := randomBytes(t, 20<<20)
	smallPath := writeFile(t, dir, "small.bin", small)
	bigPath := writeFile(t, dir, "big.bin", big)
	ep := []string{"--endpoint-url", g.url}
	a := func(args ...string) string { t.Helper(); return mustRun(t, env, aws, append(args, ep...)...) }

	a("s3", "mb", "s3://bkt")
	a("s3", "cp", smallPath, "s3://bkt/dir/small file.bin")
	a("s3", "cp", bigPath, "s3://bkt/big.bin")
	a("s3api", "put-object", "--bucket", "bkt", "--key", "api+object", "--body", smallPath)
	a("s3", "cp", "s3://bkt/dir/small file.bin", filepath.Join(dir, "small.out"))
	a("s3", "cp", "s3://bkt/big.bin", filepath.Join(dir, "big.out"))
	sameFile(t, filepath.Join(dir, "small.out"), small)
	sameFile(t, filepath.Join(dir, "big.out"), big)
	a("s3api", "get-object", "--bucket", "bkt", "--key", "api+object", "--range", "bytes=10-99", filepath.Join(dir, "range.out"))
	sameFile(t, filepath.Join(dir, "range.out"), small[10:100])

	url := strings.TrimSpace(a("s3", "presign", "s3://bkt/dir/small file.bin", "--expires-in", "300"))
	curl := testenv.Tool(t, "curl")
	mustRun(t, env, curl, "-sSf", "-o", filepath.Join(dir, "presigned.out"), url)
	sameFile(t, filepath.Join(dir, "presigned.out"), small)
	_, errOut, err := run(t, env, curl, "-sS", "-f", "-o", os.DevNull, strings.Replace(url, "X-Amz-Expires=300", "X-Amz-Expires=301", 1))
	if err == nil {
		t.Errorf("tampered presigned URL accepted: %s", errOut)
	}

	bad := clientEnv(t, "wrong-secret")
	_, errOut, err = run(t, bad, aws, append([]string{"s3", "cp", smallPath, "s3://bkt/denied"}, ep...)...)
	if err == nil || !strings.Contains(errOut, "SignatureDoesNotMatch") {
		t.Errorf("wrong secret: err %v, stderr %s", err, errOut)
	}
	if out := a("s3", "ls", "s3://bkt/"); strings.Contains(out, "denied") {
		t.Errorf("an object was stored with a wrong secret: %s", out)
	}
	if !g.sawMode("hex") && !g.sawMode(PayloadUnsigned) && !g.sawMode(PayloadStreamingUnsignedTrl) {
		t.Errorf("no request carried a payload mode: %v", g.modes)
	}
	t.Logf("payload modes: %v", g.modes)
}

func TestAWSCLIv2(t *testing.T) {
	if testing.Short() {
		t.Skip("real clients are not run with -short")
	}
	awsCLI(t, testenv.Tool(t, "aws", "/usr/bin/aws"))
}

func TestAWSCLIv1(t *testing.T) {
	if testing.Short() {
		t.Skip("real clients are not run with -short")
	}
	p, err := exec.LookPath("aws")
	if err != nil || p == "/usr/bin/aws" {
		t.Skip("no aws cli v1 ahead of /usr/bin/aws on PATH")
	}
	out, _, err := run(t, clientEnv(t, testSecret), p, "--version")
	if err != nil || !strings.HasPrefix(out, "aws-cli/1.") {
		t.Skipf("%s is not aws cli v1: %q %v", p, out, err)
	}
	awsCLI(t, p)
}

func TestS3cmd(t *testing.T) {
	g := startGateway(t)
	s3cmd := testenv.Tool(t, "s3cmd")
	env := clientEnv(t, testSecret)
	dir := t.TempDir()
	data := randomBytes(t, 17<<20) // multipart with s3cmd's 15 MiB parts
	src := writeFile(t, dir, "in.bin", data)
	args := func(secret string, a ...string) []string {
		return append([]string{"-c", os.DevNull, "--access_key=" + testAccessKey, "--secret_key=" + secret,
			"--host=" + g.host, "--host-bucket=" + g.host, "--no-ssl", "--region=" + testRegion}, a...)
	}
	mustRun(t, env, s3cmd, args(testSecret, "mb", "s3://bkt")...)
	mustRun(t, env, s3cmd, args(testSecret, "put", src, "s3://bkt/x/in.bin")...)
	mustRun(t, env, s3cmd, args(testSecret, "get", "s3://bkt/x/in.bin", filepath.Join(dir, "out.bin"))...)
	sameFile(t, filepath.Join(dir, "out.bin"), data)
	_, errOut, err := run(t, env, s3cmd, args("wrong", "put", src, "s3://bkt/denied")...)
	if err == nil || !strings.Contains(errOut, "SignatureDoesNotMatch") {
		t.Errorf("wrong secret: err %v, stderr %s", err, errOut)
	}
	if !g.sawMode("hex") {
		t.Errorf("s3cmd did not sign a payload hash: %v", g.modes)
	}
}

func TestRclone(t *testing.T) {
	g := startGateway(t)
	rclone := testenv.Tool(t, "rclone")
	env := clientEnv(t, testSecret) // AWS_CA_BUNDLE is removed
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, src, "a.bin", randomBytes(t, 3000))
	writeFile(t, src, "sub/b.bin", randomBytes(t, 6<<20))
	writeFile(t, src, "empty", nil)
	remote := func(secret string) string {
		return ":s3,provider=Other,endpoint='" + g.url + "',access_key_id=" + testAccessKey +
			",secret_access_key='" + secret + "',region=" + testRegion + ":bkt/dir"
	}
	mustRun(t, env, rclone, "mkdir", remote(testSecret))
	mustRun(t, env, rclone, "copy", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", src, remote(testSecret))
	mustRun(t, env, rclone, "check", "--download", src, remote(testSecret))
	_, errOut, err := run(t, env, rclone, "--retries", "1", "--low-level-retries", "1", "lsf", remote("wrong"))
	if err == nil || !strings.Contains(errOut, "SignatureDoesNotMatch") {
		t.Errorf("wrong secret: err %v, stderr %s", err, errOut)
	}
}

func TestMinioClient(t *testing.T) {
	g := startGateway(t)
	ctx := context.Background()
	newClient := func(secret string, trailers bool) *minio.Client {
		c, err := minio.New(g.host, &minio.Options{Creds: credentials.NewStaticV4(testAccessKey, secret, ""), Region: testRegion, TrailingHeaders: trailers})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := newClient(testSecret, false)
	ct := newClient(testSecret, true)
	if err := c.MakeBucket(ctx, "bkt", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	data := randomBytes(t, 300_000)
	tests := []struct {
		name string
		c    *minio.Client
		opts minio.PutObjectOptions
		mode string
	}{
		{"signed chunks", c, minio.PutObjectOptions{DisableMultipart: true}, PayloadStreamingSigned},
		{"signed chunks and trailer", ct, minio.PutObjectOptions{DisableMultipart: true, Checksum: minio.ChecksumCRC32C}, PayloadStreamingSignedTrailer},
		{"unsigned trailer", ct, minio.PutObjectOptions{DisableMultipart: true, DisableContentSha256: true, Checksum: minio.ChecksumCRC64NVME}, PayloadStreamingUnsignedTrl},
		{"multipart", c, minio.PutObjectOptions{PartSize: 5 << 20}, ""},
		{"multipart with trailers", ct, minio.PutObjectOptions{PartSize: 5 << 20, Checksum: minio.ChecksumSHA256}, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := data
			if strings.HasPrefix(tt.name, "multipart") {
				body = randomBytes(t, 11<<20)
			}
			key := "obj" + string(rune('a'+i))
			if _, err := tt.c.PutObject(ctx, "bkt", key, bytes.NewReader(body), int64(len(body)), tt.opts); err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			if tt.mode != "" && !g.sawMode(tt.mode) {
				t.Errorf("no request used %s: %v", tt.mode, g.modes)
			}
			obj, err := c.GetObject(ctx, "bkt", key, minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer obj.Close()
			var got bytes.Buffer
			if _, err := got.ReadFrom(obj); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), body) {
				t.Errorf("read back %d bytes that differ from the %d written", got.Len(), len(body))
			}
		})
	}
	_, err := newClient("wrong", false).PutObject(ctx, "bkt", "denied", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	if minio.ToErrorResponse(err).Code != CodeSignatureDoesNotMatch {
		t.Errorf("wrong secret: %v", err)
	}
}
