package local

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDirSyncerCovers checks the group-commit promise: when Sync returns, an
// fsync that began after the caller's write has finished, and concurrent
// callers share fsyncs.
func TestDirSyncerCovers(t *testing.T) {
	const callers, rounds = 32, 20
	var (
		writes  atomic.Int64 // writes made so far ("renames")
		durable atomic.Int64 // writes covered by the last finished fsync
		syncs   atomic.Int64
		running atomic.Int32
	)
	s := newDirSyncer(func(dir string) error {
		if dir != "b" {
			t.Errorf("fsync of %q, want b", dir)
		}
		if running.Add(1) != 1 {
			t.Error("two fsyncs of one directory at once")
		}
		covered := writes.Load()
		time.Sleep(200 * time.Microsecond) // a disk flush
		syncs.Add(1)
		running.Add(-1)
		for {
			d := durable.Load()
			if covered <= d || durable.CompareAndSwap(d, covered) {
				break
			}
		}
		return nil
	})
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range rounds {
				w := writes.Add(1)
				if err := s.Sync("b"); err != nil {
					t.Errorf("Sync: %v", err)
				}
				if d := durable.Load(); d < w {
					t.Errorf("Sync returned with write %d not covered (durable up to %d)", w, d)
				}
			}
		})
	}
	wg.Wait()
	n := syncs.Load()
	t.Logf("%d Syncs, %d fsyncs", callers*rounds, n)
	if n >= callers*rounds {
		t.Errorf("%d fsyncs for %d Syncs: none shared", n, callers*rounds)
	}
	// The last leader forgets the directory just after its callers return.
	for i := 0; ; i++ {
		s.mu.Lock()
		n := len(s.pending)
		s.mu.Unlock()
		if n == 0 {
			break
		}
		if i == 1000 {
			t.Fatalf("%d idle directories still tracked", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestDirSyncerError checks that every caller sharing a failed fsync gets
// its error, and that the next round starts afresh.
func TestDirSyncerError(t *testing.T) {
	boom := errors.New("disk gone")
	release := make(chan struct{})
	var calls atomic.Int32
	s := newDirSyncer(func(string) error {
		switch calls.Add(1) {
		case 1: // the first round: hold it so that others gather behind it
			<-release
			return nil
		case 2:
			return boom
		}
		return nil
	})
	first := make(chan error)
	go func() { first <- s.Sync("m") }()
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	const waiters = 5
	errs := make(chan error, waiters)
	for range waiters {
		go func() { errs <- s.Sync("m") }()
	}
	// Each waiter is queued behind the running fsync once it holds the
	// round; give them the time to get there, then let the first finish.
	time.Sleep(20 * time.Millisecond)
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first Sync: %v", err)
	}
	for range waiters {
		if err := <-errs; !errors.Is(err, boom) {
			t.Errorf("waiter got %v, want %v", err, boom)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d fsyncs, want 2 (one shared by all waiters)", n)
	}
	if err := s.Sync("m"); err != nil {
		t.Errorf("Sync after the failure: %v", err)
	}
}
