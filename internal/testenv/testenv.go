// Package testenv gives tests uniform access to the real tools and servers
// they run against: it finds binaries, starts servers on loopback ports and
// stops them when the test ends.
//
// Under CI=true a missing tool is a test failure, never a skip: CI installs
// everything with test/setup, so a missing tool there is a broken setup.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true), where every
// end-to-end dependency must be present.
func InCI() bool {
	v, _ := strconv.ParseBool(os.Getenv("CI"))
	return v
}

// Unavailable reports a missing tool or facility: a failure under CI, a skip
// elsewhere. It does not return.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("required under CI=true: "+format, args...)
	}
	t.Skipf("skipping: "+format+" (run test/setup to install)", args...)
}

// Tool returns the absolute path of the named executable. It looks at the
// given candidate paths first (for tools whose PATH entry may be shadowed,
// such as /usr/bin/aws), then in $PATH and $(go env GOPATH)/bin. A missing tool
// is reported with Unavailable.
func Tool(t testing.TB, name string, candidates ...string) string {
	t.Helper()
	for _, c := range candidates {
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return c
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	if gopath != "" {
		p := filepath.Join(gopath, "bin", name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	Unavailable(t, "%s not found", name)
	return ""
}

// handedOut holds every port FreeAddr returned in this process. The port
// is free when FreeAddr returns it, and stays unbound until its server
// starts, or while a test restarts its server: without the record, the
// kernel may hand the same port to another test meanwhile, whose client
// would then talk to the wrong server. It is process-wide because the
// ports are.
var handedOut = struct {
	sync.Mutex
	ports map[string]bool
}{ports: make(map[string]bool)}

// FreeAddr returns a free 127.0.0.1:port address that no earlier call in
// this process returned. The port is released before returning, so a
// server started on it races only with other processes.
func FreeAddr(t testing.TB) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 1000 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		addr := l.Addr().String()
		if err := l.Close(); err != nil {
			t.Fatalf("free port: %v", err)
		}
		if !handedOut.ports[addr] {
			handedOut.ports[addr] = true
			return addr
		}
	}
	t.Fatalf("free port: no port that was not handed out before")
	return ""
}
