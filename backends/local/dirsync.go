package local

import "sync"

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
