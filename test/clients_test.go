package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// cleanEnv returns the process environment without AWS_* variables, so that
// no user configuration or CA bundle setting reaches the clients.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// AWS runs aws cli v2 (/usr/bin/aws) against a gateway.
type AWS struct {
	t   testing.TB
	g   *Gateway
	bin string
	env []string
}

// NewAWS returns an aws cli v2 runner with an isolated configuration.
func NewAWS(t testing.TB, g *Gateway) *AWS {
	t.Helper()
	return NewAWSAs(t, g, g.AccessKey, g.SecretKey)
}

// NewAWSAs is NewAWS signing as another user of the gateway.
func NewAWSAs(t testing.TB, g *Gateway, accessKey, secretKey string) *AWS {
	t.Helper()
	bin := testenv.Tool(t, "aws", "/usr/bin/aws")
	if bin != "/usr/bin/aws" {
		out, _ := exec.Command(bin, "--version").CombinedOutput()
		if !strings.HasPrefix(string(out), "aws-cli/2") {
			testenv.Unavailable(t, "aws cli v2 (/usr/bin/aws); found %s: %s", bin, out)
		}
	}
	home := t.TempDir()
	cfg := filepath.Join(home, "config")
	os.WriteFile(cfg, []byte("[default]\nregion = us-east-1\n"), 0o600)
	return &AWS{t: t, g: g, bin: bin, env: cleanEnv(
		"HOME="+home,
		"AWS_CONFIG_FILE="+cfg,
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "credentials"),
		"AWS_ACCESS_KEY_ID="+accessKey,
		"AWS_SECRET_ACCESS_KEY="+secretKey,
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
	)}
}

// Run runs aws with --endpoint-url set.
func (a *AWS) Run(args ...string) Result {
	a.t.Helper()
	base := []string{"--endpoint-url", a.g.Endpoint()}
	if a.g.CA != nil {
		base = append(base, "--ca-bundle", a.g.CA.File)
	}
	return run(a.t, a.env, "", a.bin, append(base, args...)...)
}

// Must runs aws and fails the test if it fails.
func (a *AWS) Must(args ...string) Result {
	a.t.Helper()
	return a.Run(args...).must(a.t, "aws "+strings.Join(args, " "))
}

// S3cmd runs s3cmd against a gateway, without a config file.
type S3cmd struct {
	t   testing.TB
	g   *Gateway
	bin string
	env []string
}

// NewS3cmd returns an s3cmd runner.
func NewS3cmd(t testing.TB, g *Gateway) *S3cmd {
	t.Helper()
	return &S3cmd{t: t, g: g, bin: testenv.Tool(t, "s3cmd", "/usr/bin/s3cmd"), env: cleanEnv("HOME=" + t.TempDir())}
}

// Run runs s3cmd.
func (s *S3cmd) Run(args ...string) Result {
	s.t.Helper()
	base := []string{"-c", "/dev/null", "--access_key=" + s.g.AccessKey, "--secret_key=" + s.g.SecretKey,
		"--host=" + s.g.Addr, "--host-bucket=" + s.g.Addr, "--no-ssl", "--region=us-east-1"}
	return run(s.t, s.env, "", s.bin, append(base, args...)...)
}

// Must runs s3cmd and fails the test if it fails.
func (s *S3cmd) Must(args ...string) Result {
	s.t.Helper()
	return s.Run(args...).must(s.t, "s3cmd "+strings.Join(args, " "))
}

// Rclone runs rclone with a config-free S3 remote for the gateway.
type Rclone struct {
	t   testing.TB
	g   *Gateway
	bin string
	env []string
}

// NewRclone returns an rclone runner.
func NewRclone(t testing.TB, g *Gateway) *Rclone {
	t.Helper()
	home := t.TempDir()
	return &Rclone{t: t, g: g, bin: testenv.Tool(t, "rclone"), env: cleanEnv("HOME="+home, "RCLONE_CONFIG="+filepath.Join(home, "rclone.conf"))}
}

// Remote returns the config-free remote string for path "bucket/dir".
func (r *Rclone) Remote(path string) string {
	return ":s3,provider=Other,endpoint='" + r.g.Endpoint() + "',access_key_id=" + r.g.AccessKey +
		",secret_access_key=" + r.g.SecretKey + ",region=us-east-1:" + path
}

// Run runs rclone; with a TLS gateway it trusts the gateway's CA.
func (r *Rclone) Run(args ...string) Result {
	r.t.Helper()
	if r.g.CA != nil {
		args = append([]string{"--ca-cert", r.g.CA.File}, args...)
	}
	return run(r.t, r.env, "", r.bin, args...)
}

// Must runs rclone and fails the test if it fails.
func (r *Rclone) Must(args ...string) Result {
	r.t.Helper()
	return r.Run(args...).must(r.t, "rclone "+strings.Join(args, " "))
}
