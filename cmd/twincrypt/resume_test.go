package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/twincrypt/twincrypt/config"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// cancelOnProgress is a stderr that cancels a command's context when the
// command reports progress for the first time: a plain progress line comes
// after progressLineItems items, so the command is interrupted midway.
type cancelOnProgress struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	label  string
	cancel context.CancelFunc
	fired  bool
}

func (w *cancelOnProgress) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.fired && bytes.Contains(p, []byte(w.label+":")) {
		w.fired = true
		w.cancel()
	}
	return w.buf.Write(p)
}

// runInterrupted runs a command and interrupts it at its first progress
// line, as SIGINT does.
func runInterrupted(t *testing.T, env map[string]string, label string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errw := &cancelOnProgress{label: label, cancel: cancel}
	var out bytes.Buffer
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: errw, getenv: func(k string) string { return env[k] }}
	code := run(ctx, c, args)
	if !errw.fired {
		t.Fatalf("%v: no progress line: not interrupted\n%s", args, errw.buf.String())
	}
	return result{code, out.String(), errw.buf.String()}
}

// manyObjects returns a config whose store holds n objects in "photos",
// every 20th of them larger than an inline object (a blob on each
// backend).
func manyObjects(t *testing.T, n int) (*config.Config, string) {
	t.Helper()
	objects := make(map[string][]byte, n)
	for i := range n {
		size := 10 + i%100
		if i%20 == 0 {
			size = gateway.InlineMax + 1 + i
		}
		objects[fmt.Sprintf("o/%05d", i)] = bytes.Repeat([]byte{byte(i)}, size)
	}
	return populated(t, objects)
}

func TestScrubResumesAfterInterruption(t *testing.T) {
	cfg, cfgPath := manyObjects(t, 1300)
	env := passEnv("passphrase-one")
	// Faults on the second backend, early and late in the walk.
	for i, f := range blobFiles(t, cfg.Backends[1].Path) {
		if i%16 == 0 {
			os.Remove(f)
		}
	}
	ckPath := checkpointPath(cfgPath, "scrub")
	deepProblems := 0
	for _, deep := range []bool{false, true} {
		args := []string{"scrub", "-c", cfgPath}
		if deep {
			args = append(args, "--deep")
		}
		want := runCLI(t, "", env, false, args...)
		want.expect(t, 1, "problem(s) found")
		if number(t, want.stdout, "problems:") < 3 {
			t.Fatalf("too few problems:\n%s", want.stdout)
		}
		deepProblems = number(t, want.stdout, "problems:")

		r := runInterrupted(t, env, "scrub", args...)
		r.expect(t, 1, "run again with --resume to continue")
		if _, err := os.Stat(ckPath); err != nil {
			t.Fatalf("no checkpoint after the interruption: %v", err)
		}
		// The other mode does not take this checkpoint.
		other := []string{"scrub", "-c", cfgPath, "--resume"}
		if !deep {
			other = append(other, "--deep")
		}
		runCLI(t, "", env, false, other...).expect(t, 1, "other options")

		got := runCLI(t, "", env, false, append(args, "--resume")...)
		got.expect(t, 1, "resuming the run interrupted")
		rest, ok := strings.CutPrefix(got.stdout, "resumed: this report covers 1 interrupted run(s)")
		if !ok {
			t.Fatalf("deep=%v: the report does not say it is resumed:\n%s", deep, got.stdout)
		}
		_, rest, _ = strings.Cut(rest, "\n")
		if rest != want.stdout {
			t.Errorf("deep=%v: resumed report:\n%s\nwant (one run):\n%s", deep, rest, want.stdout)
		}
		if _, err := os.Stat(ckPath); !os.IsNotExist(err) {
			t.Errorf("the checkpoint outlived the run that completed: %v", err)
		}
		runCLI(t, "", env, false, append(args, "--resume")...).expect(t, 2, "no checkpoint")
	}

	// A run without --resume starts over, and says so.
	runInterrupted(t, env, "scrub", "scrub", "-c", cfgPath).expect(t, 1, "--resume")
	r := runCLI(t, "", env, false, "scrub", "-c", cfgPath)
	r.expect(t, 1, "starting over")
	if strings.Contains(r.stdout, "resumed") {
		t.Errorf("a run started over says it is resumed:\n%s", r.stdout)
	}

	// A repair interrupted in its first scrub finds and repairs
	// everything once resumed.
	runInterrupted(t, env, "repair", "repair", "-c", cfgPath).expect(t, 1, "run again with --resume to continue")
	r = runCLI(t, "", env, false, "repair", "-c", cfgPath, "--resume")
	r.expect(t, 0, "resuming the run interrupted")
	if !strings.HasPrefix(r.stdout, "repair queue:") || !strings.Contains(r.stdout, "\nresumed: ") ||
		number(t, r.stdout, "found:") != deepProblems || number(t, r.stdout, "unrepaired:") != 0 {
		t.Errorf("resumed repair (want %d problems found):\n%s", deepProblems, r.stdout)
	}
	runCLI(t, "", env, false, "scrub", "-c", cfgPath, "--deep").expect(t, 0)
	if _, err := os.Stat(checkpointPath(cfgPath, "repair")); !os.IsNotExist(err) {
		t.Errorf("the repair checkpoint outlived the run that completed: %v", err)
	}
}

// catalogDump renders the entries, versions and tombstones of the catalog
// file at path, with a hash of each record.
func catalogDump(t *testing.T, path string) []string {
	t.Helper()
	ctx := context.Background()
	cat, err := catalog.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	var out []string
	h := func(b []byte) string { s := sha256.Sum256(b); return fmt.Sprintf("%x", s[:8]) }
	bs, err := cat.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		out = append(out, "bucket "+b.Name)
	}
	if err := cat.Walk(ctx, func(e catalog.Entry) error {
		out = append(out, fmt.Sprintf("%s/%s %d %d %s %s", e.Bucket, e.Key, e.Generation, e.Size, e.ETag, h(e.Record)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := cat.WalkTombstones(ctx, func(tb catalog.Tombstone) error {
		out = append(out, fmt.Sprintf("tombstone %s/%s %d %s", tb.Bucket, tb.Key, tb.Generation, h(tb.Record)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRebuildCatalogResumesAfterInterruption(t *testing.T) {
	cfg, cfgPath := manyObjects(t, 1500)
	env := passEnv("passphrase-one")
	want := catalogDump(t, cfg.Catalog.Path)

	r := runInterrupted(t, env, "rebuild-catalog", "rebuild-catalog", "-c", cfgPath, "--force")
	r.expect(t, 1, "run again with --resume to continue")
	r = runCLI(t, "", env, false, "rebuild-catalog", "-c", cfgPath, "--resume")
	r.expect(t, 0, "resuming the run interrupted")
	if !strings.HasPrefix(r.stdout, "resumed: ") || !strings.Contains(r.stdout, "2 buckets (0 implied by their objects), 1500 objects, 0 deletions") {
		t.Errorf("resumed rebuild:\n%s", r.stdout)
	}
	got := catalogDump(t, cfg.Catalog.Path)
	if len(got) != len(want) {
		t.Fatalf("rebuilt %d lines, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("rebuilt %s, want %s", got[i], want[i])
		}
	}
	if _, err := os.Stat(checkpointPath(cfgPath, "rebuild-catalog")); !os.IsNotExist(err) {
		t.Errorf("the checkpoint outlived the run that completed: %v", err)
	}
	if m, _ := filepath.Glob(cfgPath + ".*.tmp-*"); len(m) > 0 {
		t.Errorf("temporary checkpoint files left: %v", m)
	}
}

func TestCheckpointBelongsToItsStore(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{Path: filepath.Join(dir, "a.yaml"), Catalog: config.Catalog{Type: "bolt", Path: filepath.Join(dir, "a.db")},
		Backends: []config.Backend{{Name: "x", Type: "local", Path: filepath.Join(dir, "x")}, {Name: "y", Type: "local", Path: filepath.Join(dir, "y"), SecretKey: "s1"}}}
	var errb bytes.Buffer
	c := &cli{stdout: &bytes.Buffer{}, stderr: &errb}
	cp, resumed, err := openCheckpoint(c, cfg, "scrub", false, nil)
	if err != nil || resumed {
		t.Fatalf("open without a checkpoint: %v %v", resumed, err)
	}
	want := gateway.ScrubResume{After: gateway.WalkPosition{Phase: gateway.PhaseVersions, Bucket: "b", Key: "k\x00é"}, Objects: 7, Bytes: 1 << 40,
		Recheck: []gateway.WalkPosition{{Phase: gateway.PhaseObjects, Bucket: "b", Key: "a"}}}
	cp.update(want, "half")
	if err := cp.interrupted(context.Canceled); !strings.Contains(err.Error(), "run again with --resume") {
		t.Fatalf("interrupted: %v", err)
	}
	data, err := os.ReadFile(checkpointPath(cfg.Path, "scrub"))
	if err != nil || bytes.Contains(data, []byte("s1")) {
		t.Fatalf("checkpoint file %s, %v: missing, or it holds a secret", data, err)
	}

	for _, tc := range []struct {
		name   string
		change func(*config.Config)
		ok     bool
	}{
		{"same store", func(*config.Config) {}, true},
		{"new credentials", func(c *config.Config) { c.Backends[1].SecretKey = "s2" }, true},
		{"another backend path", func(c *config.Config) { c.Backends[1].Path += "2" }, false},
		{"a backend less", func(c *config.Config) { c.Backends = c.Backends[:1] }, false},
		{"another catalog", func(c *config.Config) { c.Catalog.Path += "2" }, false},
	} {
		other := *cfg
		other.Backends = slices.Clone(cfg.Backends)
		tc.change(&other)
		var got gateway.ScrubResume
		_, resumed, err := openCheckpoint(c, &other, "scrub", true, &got)
		if tc.ok != (err == nil) || resumed != tc.ok {
			t.Errorf("%s: resumed %v, %v", tc.name, resumed, err)
		}
		if tc.ok && !reflect.DeepEqual(got, want) {
			t.Errorf("%s: resumed from %+v, want %+v", tc.name, got, want)
		}
	}
	if _, _, err := openCheckpoint(c, cfg, "scrub", true, &gateway.ScrubResume{}, "deep=true"); err == nil {
		t.Error("a checkpoint of other options was taken")
	}
	if _, _, err := openCheckpoint(c, cfg, "repair", true, &gateway.RepairResume{}); err == nil {
		t.Error("a checkpoint of another command was taken")
	}
}

// TestCheckpointNotOurs: a file at the checkpoint's place that is not a
// checkpoint of the command is refused by --resume with the reason, and a
// run without --resume leaves it until the run gets going, so that a run
// refused before it changes anything keeps what can be resumed.
func TestCheckpointNotOurs(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{Path: filepath.Join(dir, "a.yaml"), Catalog: config.Catalog{Type: "bolt", Path: filepath.Join(dir, "a.db")},
		Backends: []config.Backend{{Name: "x", Type: "local", Path: filepath.Join(dir, "x")}}}
	path := checkpointPath(cfg.Path, "scrub")
	c := &cli{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	for _, tc := range []struct {
		name, data, why string
	}{
		{"not JSON", "{\"version\": 1, ", "unexpected end of JSON input"},
		{"another version", `{"version": 99, "command": "scrub"}`, "version 99"},
		{"another command", `{"version": 1, "command": "repair"}`, `command "repair"`},
		{"a state of another shape", `{"version": 1, "command": "scrub", "fingerprint": "FP", "state": [1, 2]}`, "cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := strings.ReplaceAll(tc.data, "FP", storeFingerprint(cfg, "scrub"))
			if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			var st gateway.ScrubResume
			_, resumed, err := openCheckpoint(c, cfg, "scrub", true, &st)
			if err == nil || resumed || !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("--resume over %q: resumed %v, %v; want an error saying %q", tc.data, resumed, err, tc.why)
			}
			cp, resumed, err := openCheckpoint(c, cfg, "scrub", false, &st)
			if err != nil || resumed {
				t.Fatalf("a run without --resume: resumed %v, %v", resumed, err)
			}
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("the file went before the run did anything: %v", err)
			}
			cp.update(gateway.ScrubResume{Objects: 1}, "one")
			cp.finish()
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("the file outlived the run that started over: %v", err)
			}
		})
	}
}

// TestCheckpointStartOverInterrupted: a run that started over from an
// earlier run's checkpoint and was interrupted before its own first
// checkpoint leaves nothing to resume: a later --resume must not continue
// the earlier run against what the new one may have changed.
func TestCheckpointStartOverInterrupted(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{Path: filepath.Join(dir, "a.yaml"), Catalog: config.Catalog{Type: "bolt", Path: filepath.Join(dir, "a.db")},
		Backends: []config.Backend{{Name: "x", Type: "local", Path: filepath.Join(dir, "x")}}}
	c := &cli{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	first, _, err := openCheckpoint(c, cfg, "scrub", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	first.update(gateway.ScrubResume{Objects: 7}, "seven")
	if err := first.interrupted(context.Canceled); !strings.Contains(err.Error(), "run again with --resume") {
		t.Fatalf("first run: %v", err)
	}
	again, resumed, err := openCheckpoint(c, cfg, "scrub", false, &gateway.ScrubResume{})
	if err != nil || resumed {
		t.Fatalf("run without --resume: resumed %v, %v", resumed, err)
	}
	if err := again.interrupted(context.Canceled); !strings.Contains(err.Error(), "run again to start over") {
		t.Fatalf("second run: %v", err)
	}
	if _, resumed, err := openCheckpoint(c, cfg, "scrub", true, &gateway.ScrubResume{}); err == nil || resumed {
		t.Fatalf("--resume after a run that started over: resumed %v, %v; want no checkpoint", resumed, err)
	}
}
