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
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

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
	sg := startShareGateway(t)
	size := largeSize()
	src := filepath.Join(t.TempDir(), "large.bin")
	writeFile(t, src, size, 41)
	sg.PutFile(t, "videos/large.bin", src)
	link := sg.CreateLink(t, "videos/large.bin")

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
	sg := startShareGateway(t)
	tmp := t.TempDir()
	files := map[string]int64{"a.txt": 10, "sub/b.bin": 3<<20 + 17, "sub/deeper/c.bin": 65536, "empty": 0}
	for name, size := range files {
		p := filepath.Join(tmp, "src", name)
		writeFile(t, p, size, uint64(size))
		sg.PutFile(t, "album/"+name, p)
	}
	out := filepath.Join(tmp, "out")
	r := twincryptGet(t, sg.Gateway, tmp, nil, "-o", out, sg.CreateLink(t, "album/"))
	if r.Code != 0 {
		t.Fatalf("get folder: exit %d\n%s", r.Code, r.Stderr)
	}
	for name := range files {
		sameFile(t, filepath.Join(tmp, "src", name), filepath.Join(out, name))
	}

	pw := []string{"TWINCRYPT_SHARE_PASSWORD=correct horse ✓"}
	locked := sg.CreateLinkEnv(t, pw, "album/sub/b.bin", "--password")
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
	sg := startShareGateway(t)
	const size = 48 << 20
	src := filepath.Join(t.TempDir(), "big.iso")
	writeFile(t, src, size, 42)
	sg.PutFile(t, "big.iso", src)
	proxy := testenv.StartProxy(t, sg.ShareAddr)
	link := strings.Replace(sg.CreateLink(t, "big.iso"), "http://"+sg.ShareAddr, proxy.Endpoint(), 1)
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
	sg := startShareGateway(t)
	tmp := t.TempDir()
	src := filepath.Join(tmp, "doc.pdf")
	writeFile(t, src, 200_000, 43)
	sg.PutFile(t, "doc.pdf", src)

	t.Run("max downloads", func(t *testing.T) {
		link := sg.CreateLink(t, "doc.pdf", "--max-downloads", "1")
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
		link := sg.CreateLink(t, "doc.pdf", "--expires", "1s")
		time.Sleep(2 * time.Second)
		if r := twincryptGet(t, sg.Gateway, t.TempDir(), nil, link); !r.gone() {
			t.Fatalf("get of an expired link: exit %d, want 1 with 410\n%s", r.Code, r.Stderr)
		}
	})
	t.Run("replaced", func(t *testing.T) {
		link := sg.CreateLink(t, "doc.pdf")
		other := filepath.Join(tmp, "other.pdf")
		writeFile(t, other, 1000, 44)
		sg.PutFile(t, "doc.pdf", other)
		if r := twincryptGet(t, sg.Gateway, t.TempDir(), nil, link); !r.gone() {
			t.Fatalf("get of a replaced file: exit %d, want 1 with 410\n%s", r.Code, r.Stderr)
		}
		sg.PutFile(t, "doc.pdf", src)
	})
	t.Run("revoked", func(t *testing.T) {
		link := sg.CreateLink(t, "doc.pdf")
		sg.Revoke(t, link)
		if r := twincryptGet(t, sg.Gateway, t.TempDir(), nil, link); !r.gone() {
			t.Fatalf("get of a revoked link: exit %d, want 1 with 410\n%s", r.Code, r.Stderr)
		}
	})
}

// TestShareGetRevokeMidway revokes a link while a get of it runs: the get's
// next request answers 410, and what authenticated stays in .partial.
func TestShareGetRevokeMidway(t *testing.T) {
	sg := startShareGateway(t)
	const size = 48 << 20
	src := filepath.Join(t.TempDir(), "film.mkv")
	writeFile(t, src, size, 45)
	sg.PutFile(t, "film.mkv", src)
	proxy := testenv.StartProxy(t, sg.ShareAddr)
	made := sg.CreateLink(t, "film.mkv")
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
	sg.Revoke(t, made)
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
