package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends"
)

// syncProbe instruments a fileSyncer: it counts writes, and records up to
// which write every file is durable.
type syncProbe struct {
	writes  atomic.Int64
	mu      sync.Mutex
	durable map[*os.File]int64 // the write count when the sync covering the file began
	checked map[*os.File]bool
	ones    atomic.Int64
	alls    atomic.Int64
	running atomic.Int32
	allErr  error
	noAll   bool
}

func (p *syncProbe) syncer(t *testing.T) *fileSyncer {
	enter := func() {
		if p.running.Add(1) != 1 {
			t.Error("two syncs at once")
		}
	}
	return &fileSyncer{
		one: func(f *os.File) error {
			enter()
			w := p.writes.Load()
			time.Sleep(100 * time.Microsecond) // a disk flush
			p.mu.Lock()
			p.durable[f] = w
			p.mu.Unlock()
			p.ones.Add(1)
			p.running.Add(-1)
			return nil
		},
		all: func() error {
			if p.noAll {
				return errNoSyncFS
			}
			enter()
			w := p.writes.Load()
			time.Sleep(200 * time.Microsecond)
			p.mu.Lock()
			for f := range p.durable {
				p.durable[f] = max(p.durable[f], w)
			}
			p.mu.Unlock()
			p.alls.Add(1)
			p.running.Add(-1)
			return p.allErr
		},
		check: func(f *os.File) error {
			p.mu.Lock()
			p.checked[f] = true
			p.mu.Unlock()
			return nil
		},
	}
}

// waitNextRound returns once n files wait in s for its next round.
func waitNextRound(s *fileSyncer, n int) {
	for {
		s.mu.Lock()
		waiting := 0
		if s.next != nil {
			waiting = len(s.next.files)
		}
		s.mu.Unlock()
		if waiting == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFileSyncerCovers checks the group-commit promise for file fsyncs:
// when Sync returns, a sync that began after the file was written has
// finished (its own fsync, or a sync of the whole file system followed by a
// check of the file's writeback errors), and concurrent callers share
// syncs. Without a file-system sync every file is fsynced on its own.
func TestFileSyncerCovers(t *testing.T) {
	for _, noAll := range []bool{false, true} {
		t.Run(map[bool]string{false: "syncfs", true: "fsync each"}[noAll], func(t *testing.T) {
			const callers, rounds = 16, 20
			dir := t.TempDir()
			p := &syncProbe{durable: make(map[*os.File]int64), checked: make(map[*os.File]bool), noAll: noAll}
			s := p.syncer(t)
			var wg sync.WaitGroup
			for c := range callers {
				wg.Go(func() {
					for i := range rounds {
						f, err := os.Create(filepath.Join(dir, string(rune('a'+c))+string(rune('a'+i))))
						if err != nil {
							t.Error(err)
							return
						}
						p.mu.Lock()
						p.durable[f] = -1 // written, not durable
						delete(p.checked, f)
						p.mu.Unlock()
						w := p.writes.Add(1)
						ones := p.ones.Load()
						if err := s.Sync(f); err != nil {
							t.Errorf("Sync: %v", err)
						}
						p.mu.Lock()
						d, checked := p.durable[f], p.checked[f]
						delete(p.durable, f)
						p.mu.Unlock()
						if d < w {
							t.Errorf("Sync returned with write %d not covered (durable up to %d)", w, d)
						}
						if !checked && p.ones.Load() == ones {
							t.Error("Sync returned after a shared sync without checking the file's writeback errors")
						}
						f.Close()
					}
				})
			}
			wg.Wait()
			n, all := p.ones.Load(), p.alls.Load()
			t.Logf("%d Syncs: %d fsyncs, %d file-system syncs", callers*rounds, n, all)
			switch {
			case noAll && (all != 0 || n != callers*rounds):
				t.Errorf("without syncfs: %d fsyncs and %d file-system syncs, want %d and 0", n, all, callers*rounds)
			case !noAll && n+all >= callers*rounds:
				t.Errorf("%d syncs for %d Syncs: none shared", n+all, callers*rounds)
			}
		})
	}
}

// TestFileSyncerErrors checks that a failed shared sync fails every file
// in its round, and a file's own writeback error fails that file only.
func TestFileSyncerErrors(t *testing.T) {
	dir := t.TempDir()
	files := make([]*os.File, 4)
	for i := range files {
		f, err := os.Create(filepath.Join(dir, string(rune('a'+i))))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files[i] = f
	}
	errAll, errBad := errors.New("syncfs: EIO"), errors.New("writeback: EIO")
	tests := []struct {
		name    string
		allErr  error
		bad     *os.File
		wantErr map[int]error // by file; the first file syncs alone
	}{
		{"file-system sync fails", errAll, nil, map[int]error{1: errAll, 2: errAll, 3: errAll}},
		{"one file's writeback fails", nil, files[2], map[int]error{2: errBad}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			entered := make(chan struct{})
			s := &fileSyncer{
				one: func(f *os.File) error {
					if f == files[0] {
						close(entered)
						<-release // hold the first sync while the others gather
					}
					return nil
				},
				all: func() error { return tt.allErr },
				check: func(f *os.File) error {
					if f == tt.bad {
						return errBad
					}
					return nil
				},
			}
			errs := make([]error, len(files))
			var wg sync.WaitGroup
			wg.Go(func() { errs[0] = s.Sync(files[0]) })
			<-entered
			for i := 1; i < len(files); i++ {
				wg.Go(func() { errs[i] = s.Sync(files[i]) })
			}
			waitNextRound(s, len(files)-1) // the three
			close(release)
			wg.Wait()
			for i, err := range errs {
				if want := tt.wantErr[i]; !errors.Is(err, want) || (want == nil && err != nil) {
					t.Errorf("file %d: %v, want %v", i, err, want)
				}
			}
		})
	}
}

// TestPutSharedSyncFails runs concurrent small Puts on a backend whose
// shared syncs fail: every Put in a failed round fails, and none of them
// leaves its object visible or its temporary file behind; Puts synced
// alone succeed. It also checks that Put goes through the file syncer.
func TestPutSharedSyncFails(t *testing.T) {
	ctx := context.Background()
	b, d := newPutRoot(t, "x")
	errEIO := errors.New("syncfs: input/output error")
	hold := make(chan struct{})
	var first atomic.Bool
	var ones, alls atomic.Int64
	d.files = &fileSyncer{
		one: func(f *os.File) error {
			ones.Add(1)
			if first.CompareAndSwap(false, true) {
				<-hold // the others gather behind the first
			}
			return f.Sync()
		},
		all:   func() error { alls.Add(1); return errEIO },
		check: writebackErr,
	}
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = b.Put(ctx, fmt.Sprintf("m/o%d", i), strings.NewReader("small object"), 12)
		})
	}
	// Let the first Put's fsync finish once the others wait for the next round.
	waitNextRound(d.files, n-1)
	close(hold)
	wg.Wait()
	var failed, ok int
	for i, err := range errs {
		_, serr := b.Stat(ctx, fmt.Sprintf("m/o%d", i))
		switch {
		case err == nil:
			ok++
			if serr != nil {
				t.Errorf("o%d: Put succeeded, Stat: %v", i, serr)
			}
		case errors.Is(err, errEIO):
			failed++
			if !errors.Is(serr, backends.ErrNotFound) {
				t.Errorf("o%d: Put failed, yet Stat: %v", i, serr)
			}
		default:
			t.Errorf("o%d: %v", i, err)
		}
	}
	if ok != 1 || failed != n-1 || alls.Load() != 1 || ones.Load() != 1 {
		t.Errorf("%d Puts succeeded and %d failed with %d fsyncs and %d shared syncs; want 1, %d, 1, 1", ok, failed, ones.Load(), alls.Load(), n-1)
	}
	if tmp, err := os.ReadDir(filepath.Join(b.Root(), tmpDir)); err != nil || len(tmp) != 0 {
		t.Errorf("temporary files left: %v %v", tmp, err)
	}
}
