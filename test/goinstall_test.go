package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// modulePath is the path `go install` names the module by.
const modulePath = "github.com/twincrypt/twincrypt"

// TestGoInstall proves that `go install
// github.com/twincrypt/twincrypt/cmd/twincrypt@latest` works: it publishes
// the repository's HEAD commit as a module version (a pseudo-version) in a
// module proxy on the file system, exactly as the Go module proxy would
// serve a tagged release, installs from it with the dependencies coming
// through the usual proxy, and runs the installed binary. go.mod must hold
// no replace or exclude directives for this (they would be ignored, or
// refused, by go install pkg@version).
func TestGoInstall(t *testing.T) {
	t.Parallel()
	goBin := testenv.Tool(t, "go")
	git := testenv.Tool(t, "git")
	out, err := exec.Command(goBin, "env", "GOMOD", "GOMODCACHE", "GOPROXY").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 || lines[0] == "" || lines[0] == os.DevNull {
		t.Fatalf("go env GOMOD GOMODCACHE GOPROXY: %q", out)
	}
	root, modCache, upstream := filepath.Dir(lines[0]), lines[1], lines[2]
	if upstream == "" || upstream == "off" {
		upstream = "https://proxy.golang.org,direct"
	}

	// The pseudo-version of HEAD: v0.0.0-<commit time, UTC>-<12 hex digits>.
	cmd := exec.Command(git, "-C", root, "log", "-1", "--format=%H %ct")
	b, err := cmd.Output()
	if err != nil {
		testenv.Unavailable(t, "the repository's git history (%v)", err)
	}
	var hash string
	var unix int64
	if _, err := fmt.Sscan(string(b), &hash, &unix); err != nil || len(hash) < 12 {
		t.Fatalf("git log: %q: %v", b, err)
	}
	when := time.Unix(unix, 0).UTC()
	version := module.PseudoVersion("v0", "", when, hash[:12])

	proxy := t.TempDir()
	dir := filepath.Join(proxy, modulePath, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	zf, err := os.Create(filepath.Join(dir, version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	// The committed tree alone, as a release would have it (git archive
	// also works in a linked worktree, where x/mod's CreateFromVCS does
	// not find the repository).
	tree := t.TempDir()
	tarball := filepath.Join(t.TempDir(), "head.tar")
	if b, err := exec.Command(git, "-C", root, "archive", "--format=tar", "-o", tarball, "HEAD").CombinedOutput(); err != nil {
		t.Fatalf("git archive HEAD: %v\n%s", err, b)
	}
	if b, err := exec.Command(testenv.Tool(t, "tar"), "-x", "-f", tarball, "-C", tree).CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v\n%s", err, b)
	}
	if err := modzip.CreateFromDir(zf, module.Version{Path: modulePath, Version: version}, tree); err != nil {
		t.Fatalf("module zip of HEAD: %v", err)
	}
	if err := zf.Close(); err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(tree, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, directive := range []string{"replace", "exclude"} {
		for _, l := range strings.Split(string(gomod), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), directive) {
				t.Errorf("go.mod holds a %s directive, which go install pkg@version refuses: %q", directive, l)
			}
		}
	}
	info, _ := json.Marshal(map[string]any{"Version": version, "Time": when})
	for name, data := range map[string][]byte{
		version + ".mod":  gomod,
		version + ".info": info,
		"list":            []byte(version + "\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// A module cache of its own, so that nothing of the version lingers;
	// the shared cache's downloads serve as a proxy before the network.
	cache, gobin, work := t.TempDir(), t.TempDir(), t.TempDir()
	t.Cleanup(func() {
		c := exec.Command(goBin, "clean", "-modcache")
		c.Env = append(os.Environ(), "GOMODCACHE="+cache)
		c.Run() // its files are read-only; this removes them
	})
	env := append(os.Environ(),
		"GOPROXY=file://"+filepath.ToSlash(proxy)+",file://"+filepath.ToSlash(filepath.Join(modCache, "cache", "download"))+","+upstream,
		"GOMODCACHE="+cache,
		"GOBIN="+gobin,
		"GOFLAGS=-mod=mod",
		"GOSUMDB=off",
		"GONOSUMDB="+modulePath,
		"GOWORK=off",
	)
	install := exec.Command(goBin, "install", modulePath+"/cmd/twincrypt@latest")
	install.Env, install.Dir = env, work
	if b, err := install.CombinedOutput(); err != nil {
		if !testenv.InCI() && strings.Contains(string(b), "dial tcp") {
			testenv.Unavailable(t, "the Go module proxy for the dependencies: %s", b)
		}
		t.Fatalf("go install %s/cmd/twincrypt@latest: %v\n%s", modulePath, err, b)
	}
	b, err = exec.Command(filepath.Join(gobin, "twincrypt"), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("twincrypt version: %v\n%s", err, b)
	}
	if !strings.Contains(string(b), version) {
		t.Errorf("twincrypt version does not name the installed version %s:\n%s", version, b)
	}
}
