package local

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// syncCounter instruments a rootDir's directory fsyncs: it counts them by
// directory, can hold the first fsync of one directory until released, and
// can fail the first fsync of one directory.
type syncCounter struct {
	mu     sync.Mutex
	counts map[string]int

	hold     string        // the directory whose first fsync waits for release
	entered  chan struct{} // closed once that fsync has begun
	release  chan struct{}
	released atomic.Bool // set just before release is closed
	fail     string      // the directory whose first fsync fails
	failErr  error
}

func (c *syncCounter) install(d *rootDir) {
	c.counts = make(map[string]int)
	d.dirs = newDirSyncer(func(dir string) error {
		c.mu.Lock()
		c.counts[dir]++
		n := c.counts[dir]
		c.mu.Unlock()
		if dir == c.hold && n == 1 {
			close(c.entered)
			<-c.release
		}
		if dir == c.fail && n == 1 {
			return c.failErr
		}
		return d.syncDir(dir)
	})
}

func (c *syncCounter) count(dir string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[dir]
}

func (c *syncCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.counts)
}

// newPutRoot returns a backend in a new directory, closed at the end of
// the test, and the root directory a Put of name writes into, whose
// syncers a test replaces.
func newPutRoot(t *testing.T, name string) (*Backend, *rootDir) {
	t.Helper()
	b, err := New("t", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	d, err := b.current("put", name)
	if err != nil {
		t.Fatal(err)
	}
	return b, d
}

// madeLen returns the number of directories d tracks as not durable yet.
func madeLen(d *rootDir) int {
	d.made.mu.Lock()
	defer d.made.mu.Unlock()
	if int64(len(d.made.m)) != d.made.n.Load() {
		panic("newDirs count out of step")
	}
	return len(d.made.m)
}

const hex64 = "3f2a000000000000000000000000000000000000000000000000000000000000"

// TestPutWaitsForNewDirectory checks that a Put that finds its directory
// made by a concurrent Put whose fsync of the directory's parent is still
// running does not return before that directory's entry is durable (an
// fsync of the parent that began after the directory was made has
// finished), and that a Put into a directory made before costs no fsync of
// its parent.
func TestPutWaitsForNewDirectory(t *testing.T) {
	tests := []struct {
		name   string
		first  string // the Put that makes the directory
		second string // a Put into the same directory
		third  string // a later Put into it
		dir    string // the directory
		parent string // its parent, whose fsync is held
	}{
		{"fan-out", "m/" + hex64, "m/3f2b" + hex64[4:], "m/3f2c" + hex64[4:], "m/3f2+", "m"},
		{"nested", "d/e/o1", "d/e/o2", "d/e/o3", "d/e", "d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			b, d := newPutRoot(t, tt.first)
			c := &syncCounter{hold: tt.parent, entered: make(chan struct{}), release: make(chan struct{})}
			c.install(d)

			put := func(name string, returned chan<- bool) {
				err := b.Put(ctx, name, strings.NewReader("object"), 6)
				if err != nil {
					t.Errorf("Put %s: %v", name, err)
				}
				returned <- c.released.Load()
			}
			first, second := make(chan bool, 1), make(chan bool, 1)
			go put(tt.first, first)
			<-c.entered // the first Put made the directory and syncs its parent
			go put(tt.second, second)

			// The second Put either returns (too early: the parent's
			// fsync is held) or joins the next fsync of the parent.
			joined := false
			for !joined {
				select {
				case early := <-second:
					if !early {
						t.Errorf("Put %s returned while the fsync of %s that makes %s durable was still running", tt.second, tt.parent, tt.dir)
					}
					second <- early
					joined = true
				default:
					d.dirs.mu.Lock()
					joined = d.dirs.pending[tt.parent] != nil
					d.dirs.mu.Unlock()
					if !joined {
						time.Sleep(time.Millisecond)
					}
				}
			}
			c.released.Store(true)
			close(c.release)
			<-first
			<-second
			if n := c.count(tt.parent); n != 2 {
				t.Errorf("%d fsyncs of %s, want 2 (the first Put's and one for the second)", n, tt.parent)
			}
			if n := madeLen(d); n != 0 {
				t.Errorf("%d directories still tracked after their fsyncs", n)
			}

			// A Put into the directory made before: one fsync, of the
			// directory itself.
			c.reset()
			if err := b.Put(ctx, tt.third, strings.NewReader("object"), 6); err != nil {
				t.Fatal(err)
			}
			c.mu.Lock()
			counts := maps.Clone(c.counts)
			c.mu.Unlock()
			if len(counts) != 1 || counts[tt.dir] != 1 {
				t.Errorf("Put into an old directory: fsyncs %v, want %s once only", counts, tt.dir)
			}
		})
	}
}

// TestPutNewDirectorySyncFails checks that a directory whose parent's fsync
// failed stays tracked: the next Put into it fsyncs the parent again, and
// once that succeeds, Puts into it cost no fsync of the parent.
func TestPutNewDirectorySyncFails(t *testing.T) {
	ctx := context.Background()
	b, d := newPutRoot(t, "x")
	boom := errors.New("fsync: input/output error")
	c := &syncCounter{fail: "m", failErr: boom}
	c.install(d)
	if err := b.Put(ctx, "m/"+hex64, strings.NewReader("object"), 6); !errors.Is(err, boom) {
		t.Fatalf("first Put: %v, want %v", err, boom)
	}
	if n := madeLen(d); n != 1 {
		t.Fatalf("%d directories tracked after a failed fsync, want 1", n)
	}
	for i, want := range []int{2, 2} { // fsyncs of m so far: one more, then none
		name := "m/3f2" + string(rune('b'+i)) + hex64[4:]
		if err := b.Put(ctx, name, strings.NewReader("object"), 6); err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
		if n := c.count("m"); n != want {
			t.Errorf("after Put %d: %d fsyncs of m, want %d", i, n, want)
		}
		if n := madeLen(d); n != 0 {
			t.Errorf("after Put %d: %d directories still tracked", i, n)
		}
	}
}
