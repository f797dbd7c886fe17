package e2e

import (
	"os/exec"
	"regexp"
	"testing"
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
