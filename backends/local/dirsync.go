package local

import (
	"sync"
	"sync/atomic"
)

// dirSyncer coalesces directory fsyncs (group commit). A Put must not return
// before its rename is durable, which takes an fsync of the directory that
// happens after the rename; one fsync covers every rename made in that
// directory before it started. Callers that arrive while an fsync is running
// therefore wait for it to end and share the next one, so n concurrent Puts
// into one directory cost about two directory fsyncs instead of n.
type dirSyncer struct {
	sync func(dir string) error

	mu sync.Mutex
	// pending has an entry for every directory whose fsync is running:
	// the round gathering for the next one, or nil while none is.
	pending map[string]*syncRound
}

// syncRound is one fsync shared by every caller that joined it.
type syncRound struct {
	done chan struct{}
	err  error
}

func newDirSyncer(sync func(dir string) error) *dirSyncer {
	return &dirSyncer{sync: sync, pending: make(map[string]*syncRound)}
}

// Sync returns once an fsync of dir that began after the call has finished,
// with that fsync's error.
func (s *dirSyncer) Sync(dir string) error {
	s.mu.Lock()
	r, running := s.pending[dir]
	if !running {
		// No fsync of dir is running: this caller runs one now.
		s.pending[dir] = nil
		s.mu.Unlock()
		r = &syncRound{done: make(chan struct{})}
		s.run(dir, r)
		return r.err
	}
	if r == nil {
		r = &syncRound{done: make(chan struct{})}
		s.pending[dir] = r
	}
	s.mu.Unlock()
	<-r.done
	return r.err
}

// run performs round r, then hands the round that gathered meanwhile (if
// any) to a new goroutine, so a leader's caller waits for its own fsync
// only and no gathered round waits for a leader that has left.
func (s *dirSyncer) run(dir string, r *syncRound) {
	r.err = s.sync(dir)
	close(r.done)
	s.mu.Lock()
	next := s.pending[dir]
	if next == nil {
		delete(s.pending, dir) // idle
		s.mu.Unlock()
		return
	}
	s.pending[dir] = nil
	s.mu.Unlock()
	go s.run(dir, next)
}

// newDirs is the set of directories this process made whose entries in
// their parents are not known to be durable yet: from just before the
// Mkdir until an fsync of the parent that began after it succeeds. A Put
// that finds one of them (made by a concurrent Put) syncs the parent too,
// through the dirSyncer, before it returns. Entries live only that long
// (or, after a failed fsync, until one succeeds), so the set stays small;
// a directory not in it was made long ago, or by another process (whose
// Mkdir an EEXIST answers), and costs nothing.
type newDirs struct {
	n  atomic.Int64 // len(m), read without the lock by the common case
	mu sync.Mutex
	m  map[string]*newDir
}

// newDir is one directory of a newDirs.
type newDir struct {
	makers  int  // the mkdirs calls between begin and end
	made    bool // one of them made it (or found it there)
	durable bool // an fsync of the parent that began after the Mkdir succeeded
}

// begin registers dir before the caller's Mkdir, so that no one can find
// the directory before it is in the set. The caller must call end.
func (s *newDirs) begin(dir string) *newDir {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]*newDir)
	}
	e := s.m[dir]
	if e == nil {
		e = &newDir{}
		s.m[dir] = e
		s.n.Add(1)
	}
	e.makers++
	e.durable = false
	return e
}

// end records the outcome of a begin: whether the directory is there
// (made, or made by someone else meanwhile) and whether the fsync of its
// parent that followed succeeded. The entry goes once no maker is left and
// the directory is durable, or was never made; after a failed fsync it
// stays, for the next Put that finds the directory to sync again.
func (s *newDirs) end(dir string, e *newDir, made, synced bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.makers--
	e.made = e.made || made
	e.durable = e.durable || synced
	s.drop(dir, e)
}

// synced records that an fsync of dir's parent that began after the
// directory was found succeeded.
func (s *newDirs) synced(dir string, e *newDir) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.durable = true
	s.drop(dir, e)
}

// drop removes e, dir's entry, if it is done with. s.mu is held.
func (s *newDirs) drop(dir string, e *newDir) {
	if e.makers == 0 && (e.durable || !e.made) && s.m[dir] == e {
		delete(s.m, dir)
		s.n.Add(-1)
	}
}

// lookup returns dir's entry, or nil: at the cost of one atomic load
// while no directory is being made.
func (s *newDirs) lookup(dir string) *newDir {
	if s.n.Load() == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[dir]
}
