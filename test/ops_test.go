package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// TestVersion runs `twincrypt version` on the built binary: the module
// version, the commit (or "unknown" when the build carries none, as with
// GOFLAGS=-buildvcs=false) and the Go version.
func TestVersion(t *testing.T) {
	out, err := exec.Command(binary(t), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("twincrypt version: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`^twincrypt \S+\ncommit: +(unknown|[0-9a-f]{40}\b.*)\ngo version: go1\.\d+`)
	if !re.Match(out) {
		t.Errorf("twincrypt version printed:\n%s", out)
	}
	t.Logf("%s", out)
}

// TestSystemdUnitVerifies runs `systemd-analyze verify` on a copy of
// contrib/systemd/twincrypt.service whose commands point at the freshly
// built binary (verify insists that they exist), and checks that the unit
// keeps its sandbox and a stop timeout above the default shutdown_timeout.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze := testenv.Tool(t, "systemd-analyze", "/usr/bin/systemd-analyze")
	unit, err := os.ReadFile(filepath.Join("..", "contrib", "systemd", "twincrypt.service"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(unit)
	for _, want := range []string{
		"\nExecStart=/usr/local/bin/twincrypt serve\n", "\nDynamicUser=yes\n", "\nStateDirectory=twincrypt\n",
		"\nProtectSystem=strict\n", "\nProtectHome=yes\n", "\nPrivateTmp=yes\n", "\nNoNewPrivileges=yes\n",
		"\nReadWritePaths=/var/lib/twincrypt\n", "\nRestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n",
		"\nSystemCallFilter=@system-service\n", "\nMemoryDenyWriteExecute=yes\n", "\nTimeoutStopSec=45s\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
	copyPath := filepath.Join(t.TempDir(), "twincrypt.service")
	text = strings.ReplaceAll(text, "=/usr/local/bin/twincrypt ", "="+binary(t)+" ")
	if err := os.WriteFile(copyPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput()
	if err != nil || strings.Contains(string(out), "twincrypt.service") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
