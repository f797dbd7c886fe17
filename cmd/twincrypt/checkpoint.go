package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/twincrypt/twincrypt/config"
)

// checkpointEvery is how often a long maintenance pass writes its
// checkpoint file; an interruption by SIGINT or SIGTERM writes the last
// checkpoint at once.
const checkpointEvery = 5 * time.Second

// checkpointVersion is the format version of checkpoint files.
const checkpointVersion = 1

// checkpointFile is what a checkpoint file holds: the position and counts
// of an interrupted pass (State, the gateway's resume value as JSON), and
// a fingerprint of the store and options it applies to.
type checkpointFile struct {
	Version     int             `json:"version"`
	Command     string          `json:"command"`
	Fingerprint string          `json:"fingerprint"`
	Started     time.Time       `json:"started"` // when the first of the runs started
	Updated     time.Time       `json:"updated"`
	Runs        int             `json:"runs"`            // the runs before this one
	Done        string          `json:"done,omitempty"`  // how far it came, in words
	State       json.RawMessage `json:"state,omitempty"` // the gateway's resume value
}

// checkpointer keeps the checkpoint file of one maintenance command for
// one config.
type checkpointer struct {
	c           *cli
	command     string
	path        string
	fingerprint string
	now         func() time.Time

	mu      sync.Mutex
	file    checkpointFile // the latest checkpoint
	have    bool           // file holds a checkpoint of this run
	written time.Time
	// stale: the file at path is an earlier run's, removed once this
	// run gets going (its first update), not before: a run refused
	// before it changes anything leaves it to be resumed.
	stale bool
	err   error // the first error writing (or removing) the file
	// warned is set once the run has said that err keeps its progress
	// from being saved (see warnLocked).
	warned bool
	// pendingState and pendingDone are the checkpoint not written yet.
	pendingState any
	pendingDone  string
	// busy is set while a write runs in the background (inflight).
	busy     bool
	inflight sync.WaitGroup
}

// addResumeFlags adds --resume to a command's flags.
func addResumeFlags(fs *flag.FlagSet) *bool {
	return fs.Bool("resume", false, "continue the run that was interrupted, from its checkpoint file")
}

// checkpointPath returns the checkpoint file of command for the config at
// cfgPath: next to the config, named after it and the command.
func checkpointPath(cfgPath, command string) string {
	return filepath.Join(filepath.Dir(cfgPath), filepath.Base(cfgPath)+"."+command+".checkpoint")
}

// storeFingerprint identifies what a pass of command with the given
// options applies to: the config's backends and catalog (their locations,
// not their credentials).
func storeFingerprint(cfg *config.Config, command string, options ...string) string {
	type backend struct{ Name, Type, Path, Endpoint, Region, Bucket string }
	var v struct {
		Command  string
		Options  []string
		Backends []backend
		Catalog  struct{ Type, Path, URL string }
	}
	v.Command, v.Options = command, options
	for _, b := range cfg.Backends {
		v.Backends = append(v.Backends, backend{b.Name, b.Type, b.Path, b.Endpoint, b.Region, b.Bucket})
	}
	v.Catalog.Type, v.Catalog.Path = cfg.Catalog.Type, cfg.Catalog.Path
	if u, err := url.Parse(cfg.Catalog.URL); err == nil {
		u.User = nil
		v.Catalog.URL = u.String()
	}
	data, _ := json.Marshal(v)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// openCheckpoint prepares the checkpoint of command for cfg. With resume it
// loads the checkpoint into state (a pointer to the gateway's resume value)
// and returns true; it fails when there is none or it belongs to another
// store or other options. Without resume an existing checkpoint is set
// aside: the pass starts over, and says so.
func openCheckpoint(c *cli, cfg *config.Config, command string, resume bool, state any, options ...string) (*checkpointer, bool, error) {
	if cfg.Path == "" {
		// A gateway serving its built-in config: no place for a
		// checkpoint (a nil checkpointer keeps none).
		if resume {
			return nil, false, fmt.Errorf("%w: --resume: the config has no file to keep a checkpoint next to", errUsage)
		}
		return nil, false, nil
	}
	cp := &checkpointer{c: c, command: command, path: checkpointPath(cfg.Path, command),
		fingerprint: storeFingerprint(cfg, command, options...), now: time.Now}
	cp.file = checkpointFile{Version: checkpointVersion, Command: command, Fingerprint: cp.fingerprint, Started: cp.now().UTC()}
	data, err := os.ReadFile(cp.path)
	if errors.Is(err, fs.ErrNotExist) {
		if resume {
			return nil, false, fmt.Errorf("%w: --resume: no checkpoint %s: no %s run was interrupted", errUsage, cp.path, command)
		}
		return cp, false, nil
	}
	if err != nil {
		if resume {
			return nil, false, fmt.Errorf("read checkpoint: %w", err)
		}
		// Only a run to resume needs to read it: this one starts
		// over, and writing its own checkpoint there fails (and
		// says so) if reading did for a lasting reason.
		fmt.Fprintf(c.stderr, "twincrypt %s: %s cannot be read (%v); starting over\n", command, cp.path, err)
		cp.stale = true
		return cp, false, nil
	}
	var f checkpointFile
	err = json.Unmarshal(data, &f)
	if err == nil && (f.Version != checkpointVersion || f.Command != command) {
		err = fmt.Errorf("version %d of command %q", f.Version, f.Command)
	}
	if err != nil {
		if resume {
			return nil, false, fmt.Errorf("checkpoint %s is not one of %s (%v): run without --resume to start over", cp.path, command, err)
		}
		fmt.Fprintf(c.stderr, "twincrypt %s: %s is not a checkpoint of this command; starting over\n", command, cp.path)
		cp.stale = true
		return cp, false, nil
	}
	if !resume {
		fmt.Fprintf(c.stderr, "twincrypt %s: a run interrupted at %s (%s) left a checkpoint; starting over (pass --resume to continue it instead)\n",
			command, f.Updated.Local().Format(time.DateTime), f.Done)
		// Never to be resumed against what this run changes: removed
		// at this run's first checkpoint.
		cp.stale = true
		return cp, false, nil
	}
	if f.Fingerprint != cp.fingerprint {
		return nil, false, fmt.Errorf("checkpoint %s was written for other backends, another catalog or other options: run without --resume to start over", cp.path)
	}
	if err := json.Unmarshal(f.State, state); err != nil {
		return nil, false, fmt.Errorf("checkpoint %s: %w", cp.path, err)
	}
	f.Runs++
	cp.file, cp.have = f, true
	fmt.Fprintf(c.stderr, "twincrypt %s: resuming the run interrupted at %s (%s)\n", command, f.Updated.Local().Format(time.DateTime), f.Done)
	return cp, true, nil
}

// update records a new checkpoint, state being the gateway's resume value
// and done how far the pass came, in words; it writes the file when
// checkpointEvery has passed since the last write. It is called from the
// pass, never concurrently.
func (cp *checkpointer) update(state any, done string) {
	if cp == nil {
		return
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.discardStaleLocked()
	cp.warnLocked()
	// Marshalled when written: the states' slices only grow past their
	// length, which the gateway caps.
	cp.pendingState, cp.pendingDone = state, done
	now := cp.now()
	if cp.busy || (!cp.written.IsZero() && now.Sub(cp.written) < checkpointEvery) {
		return
	}
	f, ok := cp.prepareLocked(now)
	if !ok {
		return
	}
	// The file is written (and synced) in the background: the pass does
	// not wait for the disk.
	cp.busy = true
	cp.inflight.Add(1)
	go func() {
		defer cp.inflight.Done()
		err := writeFileAtomic(cp.path, f)
		cp.mu.Lock()
		defer cp.mu.Unlock()
		cp.busy = false
		cp.noteErr(err)
	}()
}

// prepareLocked makes the file of the pending checkpoint. The caller holds
// mu.
func (cp *checkpointer) prepareLocked(now time.Time) (checkpointFile, bool) {
	if cp.pendingState == nil {
		return checkpointFile{}, false
	}
	data, err := json.Marshal(cp.pendingState)
	if err != nil {
		cp.noteErr(err)
		return checkpointFile{}, false
	}
	cp.file.State, cp.file.Done, cp.file.Updated = data, cp.pendingDone, now.UTC()
	cp.pendingState = nil
	cp.have, cp.written = true, now
	return cp.file, true
}

// discardStale removes an earlier run's checkpoint that this run started
// over from, before the run changes anything that checkpoint describes: a
// later --resume must never continue it.
func (cp *checkpointer) discardStale() {
	if cp == nil {
		return
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.discardStaleLocked()
}

// discardStaleLocked is discardStale for a caller that holds mu.
func (cp *checkpointer) discardStaleLocked() {
	if !cp.stale {
		return
	}
	cp.stale = false
	if err := os.Remove(cp.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		cp.noteErr(err)
	}
}

// noteErr keeps the first error of writing the checkpoint. The caller
// holds mu.
func (cp *checkpointer) noteErr(err error) {
	if err != nil && cp.err == nil {
		cp.err = fmt.Errorf("checkpoint %s: %w", cp.path, err)
	}
}

// warnLocked says on stderr, once per run, that the progress of the run
// cannot be saved for --resume, when a write of the checkpoint failed. It
// is called from the pass (update) and at its end (finish), never from
// the background write, so that it does not write to stderr concurrently
// with the progress lines. The run goes on: a checkpoint only saves work
// after an interruption. The caller holds mu.
func (cp *checkpointer) warnLocked() {
	if cp.err == nil || cp.warned {
		return
	}
	cp.warned = true
	fmt.Fprintf(cp.c.stderr, "twincrypt %s: could not save progress for --resume: %v\n", cp.command, cp.err)
}

// interrupted writes the last checkpoint of an interrupted pass and
// returns the error that says how to continue.
func (cp *checkpointer) interrupted(cause error) error {
	if cp == nil {
		return cause
	}
	cp.inflight.Wait()
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.discardStaleLocked()
	if f, ok := cp.prepareLocked(cp.now()); ok {
		cp.noteErr(writeFileAtomic(cp.path, f))
	}
	if !cp.have {
		cp.warnLocked()
		return fmt.Errorf("interrupted before the first checkpoint; run again to start over: %w", cause)
	}
	if cp.err != nil {
		// The error says it: no warning besides.
		cp.warned = true
		return fmt.Errorf("interrupted (%s), but the checkpoint could not be written (%v): %w", cp.file.Done, cp.err, cause)
	}
	return fmt.Errorf("interrupted (%s); run again with --resume to continue: %w", cp.file.Done, cause)
}

// finish removes the checkpoint file after a pass that completed, having
// said (once) if a checkpoint could not be written.
func (cp *checkpointer) finish() {
	if cp == nil {
		return
	}
	cp.inflight.Wait()
	cp.mu.Lock()
	cp.warnLocked()
	cp.mu.Unlock()
	if err := os.Remove(cp.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(cp.c.stderr, "twincrypt %s: remove checkpoint: %v\n", cp.command, err)
	}
}

// warn says, once per run, that a checkpoint could not be written (see
// warnLocked), if finish or interrupted has not: a command defers it
// after openCheckpoint, for the runs that end in another error.
func (cp *checkpointer) warn() {
	if cp == nil {
		return
	}
	cp.inflight.Wait()
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.warnLocked()
}

// resumedNote returns the line a report of a resumed pass starts with.
func (cp *checkpointer) resumedNote() string {
	return fmt.Sprintf("resumed: this report covers %d interrupted run(s) since %s and this one\n", cp.file.Runs, cp.file.Started.Local().Format(time.DateTime))
}

// writeFileAtomic writes v as JSON to path through a temporary file in the
// same directory, synced and renamed into place.
func writeFileAtomic(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
