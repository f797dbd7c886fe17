package e2e

// TestMaintenanceMemoryAtScale builds a store of many objects and asserts
// that every maintenance command, and serve, stays under a fixed peak
// resident memory whatever the object count. It takes tens of minutes and
// runs only with TWINCRYPT_LONG=1; TWINCRYPT_SCALE_N sets the number of
// objects (default 200,000, in prefixes of 100).

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// scaleRSSLimit is the peak resident memory every command must stay
// under, the keyring's Argon2id (64 MiB) included.
const scaleRSSLimit = 256 << 20

func TestMaintenanceMemoryAtScale(t *testing.T) {
	if os.Getenv("TWINCRYPT_LONG") != "1" {
		t.Skip("set TWINCRYPT_LONG=1 to build 200,000 objects and measure every maintenance command")
	}
	n := 200000
	if v := os.Getenv("TWINCRYPT_SCALE_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 {
			t.Fatalf("TWINCRYPT_SCALE_N=%q: want a number of at least 100", v)
		}
	}
	prefixes := n / 100
	bin := binary(t)
	dir := t.TempDir()
	harness := filepath.Join(dir, "scale")
	if out, err := exec.Command("go", "build", "-o", harness, "github.com/twincrypt/twincrypt/test/bench/scale").CombinedOutput(); err != nil {
		t.Fatalf("build the scale harness: %v\n%s", err, out)
	}
	s3, dav := testenv.FreeAddr(t), testenv.FreeAddr(t)
	config := func(catalog string) string {
		path := filepath.Join(dir, catalog+".yaml")
		cfg := fmt.Sprintf("listen:\n  s3: %s\n  webdav: %s\nkeyring: twincrypt.keyring\ncatalog:\n  type: bolt\n  path: %s.db\n"+
			"users:\n  - access_key: scale\n    secret_key: scale-secret-key\n"+
			"backends:\n  - {name: a, jurisdiction: DE, type: local, path: data/a}\n  - {name: b, jurisdiction: CH, type: local, path: data/b}\n", s3, dav, catalog)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cfg, rebuilt := config("catalog"), config("rebuilt")
	env := append(os.Environ(), "TWINCRYPT_PASSPHRASE="+passphrase)
	run(t, env, dir, bin, "init", "-c", cfg).must(t, "init")
	run(t, env, dir, harness, "populate", "-c", cfg, "-n", strconv.Itoa(n), "-p", strconv.Itoa(prefixes)).must(t, "populate")

	objects := fmt.Sprintf("%d objects", n)
	for _, c := range []struct {
		name string
		args []string
		want string // in stdout
	}{
		{"scrub", []string{"scrub", "-c", cfg}, objects},
		{"gc", []string{"gc", "-c", cfg, "--dry-run"}, "would delete: 0"},
		{"repair", []string{"repair", "-c", cfg, "--deep=false"}, "unrepaired: 0"},
		{"rebuild-catalog", []string{"rebuild-catalog", "-c", rebuilt}, objects},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, c.args...)
			cmd.Env, cmd.Dir = env, dir
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			start := time.Now()
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s: %v\n%s", c.name, err, out.String())
			}
			if !strings.Contains(out.String(), c.want) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, c.want, out.String())
			}
			peak := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB on Linux
			t.Logf("%s of %d objects: peak RSS %.1f MiB, %v", c.name, n, float64(peak)/(1<<20), time.Since(start).Round(time.Second))
			if peak >= scaleRSSLimit {
				t.Errorf("%s of %d objects: peak RSS %d MiB, want under %d MiB", c.name, n, peak>>20, scaleRSSLimit>>20)
			}
		})
	}

	t.Run("serve", func(t *testing.T) {
		cmd := exec.Command(bin, "serve", "-c", cfg)
		cmd.Env, cmd.Dir = env, dir
		var out lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		waitListening(t, s3)
		probe := run(t, nil, dir, harness, "probe", "-s3", s3, "-dav", "http://"+dav+"/", "-access", "scale", "-secret", "scale-secret-key",
			"-n", strconv.Itoa(n), "-p", strconv.Itoa(prefixes), "-count", "200").must(t, "probe")
		t.Logf("serve of %d objects: %s", n, strings.TrimSpace(probe.Stdout))
		peak := vmHWM(t, cmd.Process.Pid)
		t.Logf("serve of %d objects: peak RSS %.1f MiB", n, float64(peak)/(1<<20))
		if peak >= scaleRSSLimit {
			t.Errorf("serve of %d objects: peak RSS %d MiB, want under %d MiB", n, peak>>20, scaleRSSLimit>>20)
		}
	})
}

// waitListening waits until addr accepts connections.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	for range 1200 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never accepted connections", addr)
}

// vmHWM returns the peak resident memory of process pid, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}
