package local

import (
	"os"
	"sync"
)

// groupSyncMax is the largest file whose fsync may be shared with other
// concurrent Puts. Larger files are fsynced alone: their writeback is
// already under way (see writebackWriter) and a file-system-wide sync would
// only make the small files wait for it.
const groupSyncMax = 1 << 20

// fileSyncer makes freshly written small files durable, sharing the cost
// among concurrent Puts (group commit). A caller that finds no sync running
// fsyncs its own file at once, so a lone writer pays what it always did.
// Callers that arrive while a sync runs join the next round; when that
// round has more than one file it makes all of them durable with one
// sync of the whole file system (syncfs(2) on Linux: every file's data and
// inode, and one cache flush of the device, instead of one per file), and
// each file is then checked for a writeback error of its own (a failure
// while the page cache was written back, reported to the file's
// descriptor). Nothing returns before the sync that covers its file has
// finished.
type fileSyncer struct {
	one   func(f *os.File) error // fsync of one file
	all   func() error           // sync of the file system; errNoSyncFS where none exists
	check func(f *os.File) error // writeback error of f since it was opened

	mu      sync.Mutex
	running bool
	next    *fileRound // gathering while a sync runs; nil: none yet
}

// fileRound is one shared sync.
type fileRound struct {
	files  []*os.File
	shared bool // made durable by a sync of the whole file system
	done   chan struct{}
	err    error
}

// Sync returns once f's data and inode are durable, or with the error that
// kept them from it. f stays open until Sync returns.
func (s *fileSyncer) Sync(f *os.File) error {
	s.mu.Lock()
	if !s.running {
		s.running = true
		s.mu.Unlock()
		err := s.one(f)
		s.handOff()
		return err
	}
	if s.next == nil {
		s.next = &fileRound{done: make(chan struct{})}
	}
	r := s.next
	r.files = append(r.files, f)
	s.mu.Unlock()
	<-r.done
	if r.err != nil {
		return r.err
	}
	if r.shared {
		return s.check(f)
	}
	return nil
}

// handOff starts the round that gathered while a sync ran, or marks the
// syncer idle.
func (s *fileSyncer) handOff() {
	s.mu.Lock()
	r := s.next
	s.next = nil
	if r == nil {
		s.running = false
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	go s.run(r)
}

func (s *fileSyncer) run(r *fileRound) {
	if len(r.files) > 1 {
		if err := s.all(); err != errNoSyncFS {
			r.shared, r.err = true, err
		}
	}
	if !r.shared {
		for _, f := range r.files {
			if err := s.one(f); err != nil && r.err == nil {
				r.err = err
			}
		}
	}
	close(r.done)
	s.handOff()
}
