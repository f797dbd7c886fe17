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

	mu   sync.Mutex
	dirs map[string]*dirRounds
}

// dirRounds is the state of one directory: at most one fsync running, and
// at most one round of callers gathering for the next.
type dirRounds struct {
	running bool
	next    *syncRound
}

// syncRound is one fsync shared by every caller that joined it.
type syncRound struct {
	done chan struct{}
	err  error
}

func newDirSyncer(sync func(dir string) error) *dirSyncer {
	return &dirSyncer{sync: sync, dirs: make(map[string]*dirRounds)}
}

// Sync returns once an fsync of dir that began after the call has finished,
// with that fsync's error.
func (s *dirSyncer) Sync(dir string) error {
	s.mu.Lock()
	d := s.dirs[dir]
	if d == nil {
		d = &dirRounds{}
		s.dirs[dir] = d
	}
	r := d.next
	if r == nil {
		r = &syncRound{done: make(chan struct{})}
		d.next = r
	}
	lead := !d.running
	if lead {
		d.running = true
		d.next = nil
	}
	s.mu.Unlock()
	if lead {
		s.run(dir, d, r)
	}
	<-r.done
	return r.err
}

// run performs round r, then hands the round that gathered meanwhile (if
// any) to a new goroutine, so a leader's caller waits for its own fsync
// only and no gathered round waits for a leader that has left.
func (s *dirSyncer) run(dir string, d *dirRounds, r *syncRound) {
	r.err = s.sync(dir)
	close(r.done)
	s.mu.Lock()
	next := d.next
	d.next = nil
	if next == nil {
		delete(s.dirs, dir) // idle: nothing refers to d any more
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	go s.run(dir, d, next)
}
