package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/backends/local"
	"github.com/twincrypt/twincrypt/config"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/keyring"
)

// checkpointCommand is a command that keeps a checkpoint: the arguments
// that run it, its name in the checkpoint's file name, the options of its
// fingerprint, a resume value to write, and the exit code of a run over a
// store with one missing blob copy.
type checkpointCommand struct {
	args    []string
	command string
	options []string
	state   any
	code    int
}

// checkpointCommands returns the commands that keep a checkpoint.
func checkpointCommands() []checkpointCommand {
	return []checkpointCommand{
		{[]string{"scrub"}, "scrub", []string{"deep=false"}, gateway.ScrubResume{Objects: 3}, 1},
		{[]string{"repair"}, "repair", []string{"deep=true", "adopt=false"}, gateway.RepairResume{Round: 0, Scrub: gateway.ScrubResume{Objects: 3}}, 0},
		{[]string{"rebuild-catalog", "--force"}, "rebuild-catalog", []string{"from="}, gateway.RebuildResume{Records: 3}, 0},
		{[]string{"keys", "rewrap"}, "rewrap", nil, gateway.RewrapResume{Objects: 3}, 0},
	}
}

// damagedStore returns a store of a few objects whose second backend lost
// one blob copy.
func damagedStore(t *testing.T) (*config.Config, string) {
	t.Helper()
	objects := map[string][]byte{}
	for i := range 20 {
		objects[fmt.Sprintf("k%02d", i)] = bytes.Repeat([]byte{byte(i)}, 100+i*(gateway.InlineMax/10))
	}
	cfg, cfgPath := populated(t, objects)
	blobs := blobFiles(t, cfg.Backends[1].Path)
	if len(blobs) == 0 {
		t.Fatal("no blobs")
	}
	if err := os.Remove(blobs[0]); err != nil {
		t.Fatal(err)
	}
	return cfg, cfgPath
}

// TestCheckpointWriteErrorWarns: a run whose checkpoint cannot be saved
// (a directory, not empty, at the checkpoint's place) says so once on
// stderr and otherwise ends as it does without the obstacle.
func TestCheckpointWriteErrorWarns(t *testing.T) {
	env := passEnv("passphrase-one")
	for _, tc := range checkpointCommands() {
		t.Run(tc.command, func(t *testing.T) {
			_, plainPath := damagedStore(t)
			args := append(append([]string{}, tc.args...), "-c", plainPath)
			plain := runCLI(t, "", env, false, args...)
			plain.expect(t, tc.code)
			if strings.Contains(plain.stderr, "could not save progress") {
				t.Errorf("a run without an obstacle warns:\n%s", plain.stderr)
			}

			_, cfgPath := damagedStore(t)
			path := checkpointPath(cfgPath, tc.command)
			if err := os.MkdirAll(filepath.Join(path, "sub"), 0o700); err != nil {
				t.Fatal(err)
			}
			args = append(append([]string{}, tc.args...), "-c", cfgPath)
			r := runCLI(t, "", env, false, args...)
			r.expect(t, plain.code)
			name := tc.command
			want := fmt.Sprintf("twincrypt %s: could not save progress for --resume: checkpoint %s: remove %s: directory not empty\n", name, path, path)
			if n := strings.Count(r.stderr, want); n != 1 {
				t.Errorf("the warning %q appears %d times, want once:\n%s", want, n, r.stderr)
			}
			if n := strings.Count(r.stderr, "could not save progress"); n != 1 {
				t.Errorf("%d warnings, want one:\n%s", n, r.stderr)
			}
			for _, line := range []string{
				fmt.Sprintf("twincrypt %s: %s cannot be read (read %s: is a directory); starting over\n", name, path, path),
				fmt.Sprintf("twincrypt %s: remove checkpoint: remove %s: directory not empty\n", name, path),
			} {
				if !strings.Contains(r.stderr, line) {
					t.Errorf("stderr lacks %q:\n%s", line, r.stderr)
				}
			}
			if _, err := os.Stat(filepath.Join(path, "sub")); err != nil {
				t.Errorf("what was at the checkpoint's place is gone: %v", err)
			}
		})
	}
}

// TestCheckpointWriteErrorOnce: a checkpoint that cannot be written (its
// directory is a file) is reported once per run by a warning, as soon as
// the pass goes on after the failed write or, at the latest, when it ends;
// an interrupted run's error says it too.
func TestCheckpointWriteErrorOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(cp *checkpointer) error
		// more: the line after the warning; err: what the returned
		// error says.
		more, err string
	}{
		{"completed", func(cp *checkpointer) error { cp.finish(); return nil }, "twincrypt scrub: remove checkpoint: remove PATH: not a directory", ""},
		{"failed", func(cp *checkpointer) error { cp.warn(); return nil }, "", ""},
		{"interrupted", func(cp *checkpointer) error { return cp.interrupted(context.Canceled) }, "",
			"interrupted (two), but the checkpoint could not be written (checkpoint "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := &config.Config{Path: filepath.Join(dir, "a.yaml"), Catalog: config.Catalog{Type: "bolt", Path: filepath.Join(dir, "a.db")}}
			var errb bytes.Buffer
			c := &cli{stdout: &bytes.Buffer{}, stderr: &errb}
			cp, _, err := openCheckpoint(c, cfg, "scrub", false, nil)
			if err != nil {
				t.Fatal(err)
			}
			notDir := filepath.Join(dir, "file")
			if err := os.WriteFile(notDir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			cp.path = filepath.Join(notDir, "a.yaml.scrub.checkpoint")
			// Every update is due for a write.
			clock := time.Now()
			cp.now = func() time.Time { clock = clock.Add(checkpointEvery); return clock }
			cp.update(gateway.ScrubResume{Objects: 1}, "one")
			cp.inflight.Wait()
			cp.update(gateway.ScrubResume{Objects: 2}, "two")
			err = tc.end(cp)
			cp.warn() // as the command's deferred call: nothing more
			warning := regexp.MustCompile(`(?m)^twincrypt scrub: could not save progress for --resume: checkpoint ` +
				regexp.QuoteMeta(cp.path) + `: open ` + regexp.QuoteMeta(cp.path) + `\.tmp-\d+: not a directory$`)
			lines := strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n")
			if !warning.MatchString(lines[0]) || len(warning.FindAllString(errb.String(), -1)) != 1 {
				t.Errorf("stderr, want the warning once first:\n%s", errb.String())
			}
			if more := strings.Join(lines[1:], "\n"); more != strings.ReplaceAll(tc.more, "PATH", cp.path) {
				t.Errorf("after the warning %q, want %q", more, tc.more)
			}
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, context.Canceled)) {
				t.Errorf("error %v, want one saying %q", err, tc.err)
			}
		})
	}
}

// TestResumeWrongPassphrase: --resume with a wrong passphrase fails with
// that error and leaves the checkpoint as it was, to be resumed with the
// right one.
func TestResumeWrongPassphrase(t *testing.T) {
	for _, tc := range checkpointCommands() {
		t.Run(tc.command, func(t *testing.T) {
			cfg, cfgPath := populated(t, map[string][]byte{"a": []byte("alpha"), "b": bytes.Repeat([]byte("b"), 70000)})
			c := &cli{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
			cp, _, err := openCheckpoint(c, cfg, tc.command, false, nil, tc.options...)
			if err != nil {
				t.Fatal(err)
			}
			cp.update(tc.state, "three")
			if err := cp.interrupted(context.Canceled); !strings.Contains(err.Error(), "run again with --resume") {
				t.Fatalf("interrupted: %v", err)
			}
			path := checkpointPath(cfgPath, tc.command)
			before := readBytes(t, path)
			args := append(append([]string{}, tc.args...), "-c", cfgPath, "--resume")

			r := runCLI(t, "", passEnv("passphrase-wrong"), false, args...)
			r.expect(t, 1, "wrong passphrase")
			if r.stdout != "" {
				t.Errorf("output on a wrong passphrase: %q", r.stdout)
			}
			if got := readBytes(t, path); !bytes.Equal(got, before) {
				t.Errorf("checkpoint changed by a run with a wrong passphrase:\n%s\nwas:\n%s", got, before)
			}
			if m, _ := filepath.Glob(path + ".tmp-*"); len(m) > 0 {
				t.Errorf("temporary checkpoint files left: %v", m)
			}
			// The right passphrase resumes it.
			runCLI(t, "", passEnv("passphrase-one"), false, args...).expect(t, 0, "resuming the run interrupted")
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("the checkpoint outlived the resumed run: %v", err)
			}
		})
	}
}

// listFails is a backend whose first listings of meta records fail (as a
// provider that answers a request with an error would), and whose other
// calls go to the backend it holds.
type listFails struct {
	backends.Backend
	mu    sync.Mutex
	fails int // the listings still to fail
}

func (b *listFails) List(ctx context.Context, prefix, startAfter string, limit int) (backends.ListPage, error) {
	b.mu.Lock()
	fail := strings.HasPrefix(prefix, "m/") && b.fails > 0
	if fail {
		b.fails--
	}
	b.mu.Unlock()
	if fail {
		return backends.ListPage{}, errors.New("listing refused")
	}
	return b.Backend.List(ctx, prefix, startAfter, limit)
}

// firstProgress returns the first plain progress line of label.
func firstProgress(t *testing.T, stderr, label string) string {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, label+": ") {
			return line
		}
	}
	t.Fatalf("no progress line of %s:\n%s", label, stderr)
	return ""
}

// TestProgressWithoutCount: when the listing that counts the total of
// rebuild-catalog or recover fails on a provider, the run goes on; the
// progress has the total of the providers counted, and none (no ETA)
// when none was.
func TestProgressWithoutCount(t *testing.T) {
	// 1100 objects and 2 buckets: 1102 meta records on each backend.
	cfg, _ := manyObjects(t, 1100)
	keys, err := keyring.Open(cfg.Keyring, []byte("passphrase-one"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	open := func(t *testing.T, fails []int) []backends.Backend {
		var bes []backends.Backend
		for i, b := range cfg.Backends {
			be, err := local.New(b.Name, b.Path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { be.Close() })
			bes = append(bes, &listFails{Backend: be, fails: fails[i]})
		}
		return bes
	}
	for _, tc := range []struct {
		name  string
		fails []int  // the failing count listings, by backend
		first string // the first progress line, up to the rate
	}{
		{"counted", []int{0, 0}, "rebuild-catalog: 1000/2204 records, "},
		{"one backend not counted", []int{1, 0}, "rebuild-catalog: 1000/1102 records, "},
		{"none counted", []int{1, 1}, "rebuild-catalog: 1000 records, "},
	} {
		t.Run("rebuild-catalog/"+tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			c := &cli{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
			cat, err := catalog.OpenBolt(filepath.Join(t.TempDir(), "rebuilt.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer cat.Close()
			if err := rebuildInto(ctx, c, keys, open(t, tc.fails), cfg.Backends, cat, nil, nil); err != nil {
				t.Fatalf("rebuild: %v\n%s", err, errb.String())
			}
			// Each record is on both backends: the second copy is
			// skipped.
			if !strings.Contains(out.String(), "2 buckets (0 implied by their objects), 1100 objects, 0 deletions, 1100 skipped, 0 share links, 0 failed") {
				t.Errorf("rebuild:\n%s", out.String())
			}
			line := firstProgress(t, errb.String(), "rebuild-catalog")
			if !strings.HasPrefix(line, tc.first) || strings.Contains(line, "ETA") != strings.Contains(tc.first, "/") {
				t.Errorf("first progress line %q, want %q... (with an ETA only with a total)", line, tc.first)
			}
		})
	}
	for _, tc := range []struct {
		name  string
		fails int
		first string
	}{
		{"counted", 0, "recover: 1000/1102 records, "},
		{"not counted", 1, "recover: 1000 records, "},
	} {
		t.Run("recover/"+tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			c := &cli{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
			be := open(t, []int{tc.fails, 0})[0]
			to := filepath.Join(t.TempDir(), "restored")
			if err := recoverFrom(ctx, c, keys, be, to, false); err != nil {
				t.Fatalf("recover: %v\n%s", err, errb.String())
			}
			if !strings.Contains(out.String(), "recovered 2 buckets, 1100 objects") || !strings.Contains(out.String(), "failed: 0\n") {
				t.Errorf("recover:\n%s", out.String())
			}
			got, err := os.ReadFile(filepath.Join(to, "photos", "o", "01099"))
			if err != nil || !bytes.Equal(got, bytes.Repeat([]byte{byte(1099 % 256)}, 10+1099%100)) {
				t.Errorf("recovered o/01099: %d bytes, %v", len(got), err)
			}
			line := firstProgress(t, errb.String(), "recover")
			if !strings.HasPrefix(line, tc.first) || strings.Contains(line, "ETA") != strings.Contains(tc.first, "/") {
				t.Errorf("first progress line %q, want %q... (with an ETA only with a total)", line, tc.first)
			}
		})
	}
}
