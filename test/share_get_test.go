package e2e

// End-to-end tests of `twincrypt get` against the real share listener:
// `twincrypt serve` with listen.share and listen.admin, links made with
// `twincrypt share create` while it runs (through the admin API), and the
// real binary downloading them.
//
// TWINCRYPT_LONG=1 makes the large download 1 GiB instead of 64 MiB.

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// getGateway is a running gateway with its share listener and admin API,
// and a bucket to share from.
type getGateway struct {
	*Gateway
	Bucket string
	s3     *minio.Client
}

// startGetGateway starts a gateway on two local backends with listen.share
// and listen.admin, and makes a bucket.
func startGetGateway(t *testing.T) *getGateway {
	t.Helper()
	g := StartGateway(t, Setup{Local: 2, Share: true})
	waitListening(t, g.ShareAddr, g)
	waitListening(t, g.AdminAddr, g)
	sg := &getGateway{Gateway: g, Bucket: "shared-" + randHex(t, 4), s3: faultClient(t, g)}
	if err := sg.s3.MakeBucket(context.Background(), sg.Bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	return sg
}

// waitListening waits until addr accepts connections.
func waitListening(t *testing.T, addr string, g *Gateway) {
	t.Helper()
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if i > 400 {
			t.Fatalf("nothing listens on %s:\n%s", addr, g.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// put uploads the file at path as key.
func (sg *getGateway) put(t *testing.T, key, path string) {
	t.Helper()
	if _, err := sg.s3.FPutObject(context.Background(), sg.Bucket, key, path, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// shareCmd runs `twincrypt share ARGS -c CONFIG` with env added.
func (sg *getGateway) shareCmd(t *testing.T, env []string, args ...string) Result {
	t.Helper()
	args = append([]string{"share", args[0], "-c", sg.Config}, args[1:]...)
	return run(t, cleanEnv(append([]string{"TWINCRYPT_PASSPHRASE=" + passphrase}, env...)...), sg.Dir, sg.Bin, args...)
}

// create makes a link to target (relative to the bucket) and returns it.
func (sg *getGateway) create(t *testing.T, env []string, target string, flags ...string) string {
	t.Helper()
	r := sg.shareCmd(t, env, append([]string{"create", sg.Bucket + "/" + target}, flags...)...).must(t, "share create")
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	link := lines[len(lines)-1]
	if !strings.HasPrefix(link, "http://"+sg.ShareAddr+"/s/") || !strings.Contains(link, "#") {
		t.Fatalf("share create printed no link:\n%s", r.Stdout)
	}
	return link
}

// getLinkID returns the id of a link.
func getLinkID(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Base(u.Path)
}

// getResult is the outcome of one `twincrypt get`.
type getResult struct {
	Result
	Code   int
	MaxRSS int64 // peak resident set size, bytes
}

// gone reports whether the get failed with a 410.
func (r getResult) gone() bool {
	return r.Code == 1 && strings.Contains(r.Stderr, "gone (410)")
}

// getCommand returns an unstarted `twincrypt get ARGS` in dir.
func getCommand(ctx context.Context, g *Gateway, dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, g.Bin, append([]string{"get"}, args...)...)
	cmd.Dir = dir
	cmd.Env = cleanEnv(env...)
	return cmd
}

// twincryptGet runs `twincrypt get ARGS` in dir.
func twincryptGet(t *testing.T, g *Gateway, dir string, env []string, args ...string) getResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	// The peak RSS comes from /usr/bin/time, which forks a copy of itself
	// before it runs the command: the rusage of a child that the test
	// process starts directly counts the test process's own memory (Go
	// starts children with vfork, and Linux keeps the high-water mark
	// across exec).
	timeBin := testenv.Tool(t, "time", "/usr/bin/time")
	rssFile := filepath.Join(t.TempDir(), "maxrss")
	cmd := exec.CommandContext(ctx, timeBin, append([]string{"-q", "-f", "%M", "-o", rssFile, g.Bin, "get"}, args...)...)
	cmd.Dir = dir
	cmd.Env = cleanEnv(env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := getResult{Result: Result{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}, Code: -1}
	if cmd.ProcessState != nil {
		r.Code = cmd.ProcessState.ExitCode()
		if b, err := os.ReadFile(rssFile); err == nil {
			if kib, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
				r.MaxRSS = kib << 10
			}
		}
	}
	if secret := linkSecret(args); secret != "" && strings.Contains(r.Stdout+r.Stderr, secret) {
		t.Errorf("twincrypt get printed the link's secret:\n%s%s", r.Stdout, r.Stderr)
	}
	return r
}

// linkSecret returns the secret of the link among args, if any.
func linkSecret(args []string) string {
	for _, a := range args {
		if _, secret, ok := strings.Cut(a, "#"); ok && strings.Contains(a, "/s/") {
			return secret
		}
	}
	return ""
}

// largeSize is the size of the large download.
func largeSize() int64 {
	if os.Getenv("TWINCRYPT_LONG") == "1" {
		return 1 << 30
	}
	return 64 << 20
}

func TestShareGetLarge(t *testing.T) {
	sg := startGetGateway(t)
	size := largeSize()
	src := filepath.Join(t.TempDir(), "large.bin")
	writeFile(t, src, size, 41)
	sg.put(t, "videos/large.bin", src)
	link := sg.create(t, nil, "videos/large.bin")

	dir := t.TempDir()
	start := time.Now()
	r := twincryptGet(t, sg.Gateway, dir, nil, link)
	took := time.Since(start)
	if r.Code != 0 {
		t.Fatalf("get: exit %d\n%s", r.Code, r.Stderr)
	}
	got := filepath.Join(dir, "large.bin")
	sameFile(t, src, got)
	if _, err := os.Stat(got + ".partial"); !os.IsNotExist(err) {
		t.Errorf("large.bin.partial left behind (%v)", err)
	}
	t.Logf("get of %d MiB: %v (%.0f MiB/s), peak RSS %.1f MiB",
		size>>20, took.Round(time.Millisecond), float64(size)/(1<<20)/took.Seconds(), float64(r.MaxRSS)/(1<<20))
	// Memory stays flat: far below the file's size.
	if limit := int64(64 << 20); r.MaxRSS > limit {
		t.Errorf("peak RSS %d MiB, want below %d MiB", r.MaxRSS>>20, limit>>20)
	}
}

func TestShareGetFolderAndPassword(t *testing.T) {
	sg := startGetGateway(t)
	tmp := t.TempDir()
	files := map[string]int64{"a.txt": 10, "sub/b.bin": 3<<20 + 17, "sub/deeper/c.bin": 65536, "empty": 0}
	for name, size := range files {
		p := filepath.Join(tmp, "src", name)
		writeFile(t, p, size, uint64(size))
		sg.put(t, "album/"+name, p)
	}
	out := filepath.Join(tmp, "out")
	r := twincryptGet(t, sg.Gateway, tmp, nil, "-o", out, sg.create(t, nil, "album/"))
	if r.Code != 0 {
		t.Fatalf("get folder: exit %d\n%s", r.Code, r.Stderr)
	}
	for name := range files {
		sameFile(t, filepath.Join(tmp, "src", name), filepath.Join(out, name))
	}

	pw := []string{"TWINCRYPT_SHARE_PASSWORD=correct horse ✓"}
	locked := sg.create(t, pw, "album/sub/b.bin", "--password")
	r = twincryptGet(t, sg.Gateway, tmp, nil, "-o", "none.bin", locked)
	if r.Code != 1 || !strings.Contains(r.Stderr, "needs a password") {
		t.Errorf("no password: exit %d\n%s", r.Code, r.Stderr)
	}
	r = twincryptGet(t, sg.Gateway, tmp, []string{"TWINCRYPT_SHARE_PASSWORD=wrong horse"}, "-o", "wrong.bin", locked)
	if r.Code != 1 || !strings.Contains(r.Stderr, "wrong password") {
		t.Errorf("wrong password: exit %d\n%s", r.Code, r.Stderr)
	}
	r = twincryptGet(t, sg.Gateway, tmp, pw, "-o", "right.bin", locked)
	if r.Code != 0 {
		t.Fatalf("right password: exit %d\n%s", r.Code, r.Stderr)
	}
	sameFile(t, filepath.Join(tmp, "src", "sub/b.bin"), filepath.Join(tmp, "right.bin"))
}

func TestShareGetContinue(t *testing.T) {
	sg := startGetGateway(t)
	const size = 48 << 20
	src := filepath.Join(t.TempDir(), "big.iso")
	writeFile(t, src, size, 42)
	sg.put(t, "big.iso", src)
	proxy := testenv.StartProxy(t, sg.ShareAddr)
	link := strings.Replace(sg.create(t, nil, "big.iso"), "http://"+sg.ShareAddr, proxy.Endpoint(), 1)
	dir := t.TempDir()
	part := filepath.Join(dir, "big.iso.partial")

	// A connection cut mid-transfer is retried from the chunk it stopped
	// in, within the same run.
	proxy.Delay(time.Millisecond)
	cmd := getCommand(context.Background(), sg.Gateway, dir, nil, "-o", "cut.iso", link)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitGrowing(t, filepath.Join(dir, "cut.iso.partial"), 8<<20)
	proxy.Cut()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("get through a cut: %v\n%s", err, stderr.String())
	}
	sameFile(t, src, filepath.Join(dir, "cut.iso"))

	// A get killed mid-way leaves big.iso.partial; --continue completes it.
	proxy.Delay(2 * time.Millisecond)
	cmd = getCommand(context.Background(), sg.Gateway, dir, nil, "-o", "big.iso", link)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitGrowing(t, part, 16<<20)
	cmd.Process.Kill()
	cmd.Wait()
	fi, err := os.Stat(part)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() >= size {
		t.Fatalf("the get was not interrupted: %d bytes", fi.Size())
	}
	t.Logf("killed with %d MiB in big.iso.partial", fi.Size()>>20)
	if _, err := os.Stat(filepath.Join(dir, "big.iso")); !os.IsNotExist(err) {
		t.Fatalf("big.iso exists after an interrupted get (%v)", err)
	}
	proxy.Pass()
	// Without --continue the partial file is refused, not overwritten.
	r := twincryptGet(t, sg.Gateway, dir, nil, "-o", "big.iso", link)
	if r.Code != 1 || !strings.Contains(r.Stderr, "--continue") {
		t.Fatalf("get over a partial file: exit %d\n%s", r.Code, r.Stderr)
	}
	start := time.Now()
	r = twincryptGet(t, sg.Gateway, dir, nil, "--continue", "-o", "big.iso", link)
	if r.Code != 0 {
		t.Fatalf("get --continue: exit %d\n%s", r.Code, r.Stderr)
	}
	t.Logf("resumed in %v", time.Since(start).Round(time.Millisecond))
	sameFile(t, src, filepath.Join(dir, "big.iso"))
	if _, err := os.Stat(part); !os.IsNotExist(err) {
		t.Errorf("big.iso.partial left behind (%v)", err)
	}

	// Through a network that corrupts everything after the first MiB of
	// each connection, every chunk that fails to authenticate is fetched
	// again on a new connection: the file either arrives intact or is not
	// saved, never altered.
	proxy.Corrupt(1 << 20)
	r = twincryptGet(t, sg.Gateway, dir, nil, "-o", "big2.iso", link)
	t.Logf("get through a corrupting proxy: exit %d\n%s", r.Code, r.Stderr)
	switch {
	case r.Code == 0:
		sameFile(t, src, filepath.Join(dir, "big2.iso"))
	case r.Code == 1 && strings.Contains(r.Stderr, "authenticate"):
		if _, err := os.Stat(filepath.Join(dir, "big2.iso")); !os.IsNotExist(err) {
			t.Errorf("big2.iso saved from corrupt data (%v)", err)
		}
	default:
		t.Errorf("get through a corrupting proxy: exit %d\n%s", r.Code, r.Stderr)
	}
}

// waitGrowing waits until path holds at least n bytes.
func waitGrowing(t *testing.T, path string, n int64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if fi, err := os.Stat(path); err == nil && fi.Size() >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach %d bytes", path, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestShareGetLimits(t *testing.T) {
	sg := startGetGateway(t)
	tmp := t.TempDir()
	src := filepath.Join(tmp, "doc.pdf")
	writeFile(t, src, 200_000, 43)
	sg.put(t, "doc.pdf", src)

	t.Run("max downloads", func(t *testing.T) {
		link := sg.create(t, nil, "doc.pdf", "--max-downloads", "1")
		dir := t.TempDir()
		if r := twincryptGet(t, sg.Gateway, dir, nil, "-o", "one.pdf", link); r.Code != 0 {
			t.Fatalf("first get: exit %d\n%s", r.Code, r.Stderr)
		}
		sameFile(t, src, filepath.Join(dir, "one.pdf"))
		r := twincryptGet(t, sg.Gateway, dir, nil, "-o", "two.pdf", link)
		if !r.gone() {
			t.Fatalf("second get: exit %d, want 1 with 410\n%s", r.Code, r.Stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "two.pdf")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("two.pdf exists (%v)", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		link := sg.create(t, nil, "doc.pdf", "--expires", "1s")
		time.Sleep(2 * time.Second)
		if r := twincryptGet(t, sg.Gateway, t.TempDir(), nil, link); !r.gone() {
			t.Fatalf("get of an expired link: exit %d, want 1 with 410\n%s", r.Code, r.Stderr)
		}
	})
	t.Run("replaced", func(t *testing.T) {
		link := sg.create(t, nil, "doc.pdf")
		other := filepath.Join(tmp, "other.pdf")
		writeFile(t, other, 1000, 44)
		sg.put(t, "doc.pdf", other)
		if r := twincryptGet(t, sg.Gateway, t.TempDir(), nil, link); !r.gone() {
			t.Fatalf("get of a replaced file: exit %d, want 1 with 410\n%s", r.Code, r.Stderr)
		}
		sg.put(t, "doc.pdf", src)
	})
	t.Run("revoked", func(t *testing.T) {
		link := sg.create(t, nil, "doc.pdf")
		sg.shareCmd(t, nil, "revoke", getLinkID(t, link)).must(t, "share revoke")
		if r := twincryptGet(t, sg.Gateway, t.TempDir(), nil, link); !r.gone() {
			t.Fatalf("get of a revoked link: exit %d, want 1 with 410\n%s", r.Code, r.Stderr)
		}
	})
}

// TestShareGetRevokeMidway revokes a link while a get of it runs: the get's
// next request answers 410, and what authenticated stays in .partial.
func TestShareGetRevokeMidway(t *testing.T) {
	sg := startGetGateway(t)
	const size = 48 << 20
	src := filepath.Join(t.TempDir(), "film.mkv")
	writeFile(t, src, size, 45)
	sg.put(t, "film.mkv", src)
	proxy := testenv.StartProxy(t, sg.ShareAddr)
	made := sg.create(t, nil, "film.mkv")
	link := strings.Replace(made, "http://"+sg.ShareAddr, proxy.Endpoint(), 1)
	dir := t.TempDir()

	// About 8 MiB/s: the revoke lands while the first 16 MiB window is
	// still on its way.
	proxy.Delay(4 * time.Millisecond)
	cmd := getCommand(context.Background(), sg.Gateway, dir, nil, link)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(dir, "film.mkv.partial")
	waitGrowing(t, part, 2<<20)
	sg.shareCmd(t, nil, "revoke", getLinkID(t, made)).must(t, "share revoke")
	revoked := time.Now()
	err := cmd.Wait()
	t.Logf("get ended %v after the revoke: %v", time.Since(revoked).Round(time.Millisecond), err)
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(stderr.String(), "gone (410)") {
		t.Fatalf("get across a revoke: exit %d, want 1 with 410\n%s", cmd.ProcessState.ExitCode(), stderr.String())
	}
	fi, err := os.Stat(part)
	if err != nil || fi.Size() >= size {
		t.Fatalf("film.mkv.partial: %v, %d bytes", err, fi.Size())
	}
	if _, err := os.Stat(filepath.Join(dir, "film.mkv")); !os.IsNotExist(err) {
		t.Errorf("film.mkv saved after the revoke (%v)", err)
	}
}
