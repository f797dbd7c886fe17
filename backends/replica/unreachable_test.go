package replica

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends"
)

// TestUnreachableMemberStartsDown builds a set with a member that could not
// be reached at start: no request waits on it, writes reach the quorum
// without it and queue repairs, Probe brings it back before its cooldown
// ends, and its return starts a repair pass at once.
func TestUnreachableMemberStartsDown(t *testing.T) {
	clk := newTestClock()
	a, b := newFake("a"), newFake("b")
	b.set(func(f *fake) { f.down = true })
	q := &passCounter{MemQueue: NewMemQueue()}
	s, err := New([]Member{
		{Backend: a, Jurisdiction: "DE"},
		{Backend: b, Jurisdiction: "CH", Unreachable: errors.New("connection refused")},
	}, Options{MinWrites: 1, Queue: q, Clock: clk.Now, BufferSize: testBuf, Breaker: BreakerOptions{Cooldown: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	if h := s.Health()[1]; h.State != StateDown || !strings.Contains(h.LastError, "connection refused") {
		t.Fatalf("unreachable member at start: %+v, want down with its error", h)
	}
	ctx := context.Background()
	for _, name := range []string{"b/1", "m/1"} {
		if err := s.Put(ctx, name, strings.NewReader("data"), 4); err != nil {
			t.Fatalf("Put %s: %v", name, err)
		}
	}
	if got := readAll(t, s, "b/1", 0, -1); string(got) != "data" {
		t.Fatalf("Get: %q", got)
	}
	if n := b.count("put") + b.count("get") + b.count("list"); n != 0 {
		t.Fatalf("the member marked down at start received %d requests", n)
	}
	if q.Len() != 2 {
		t.Fatalf("queue holds %d tasks, want 2", q.Len())
	}

	// Still unreachable: Probe says so and the member stays down.
	if up, err := s.Probe(ctx, "b"); err != nil || up {
		t.Fatalf("Probe of an unreachable member: %v, %v", up, err)
	}
	if _, err := s.Probe(ctx, "nobody"); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("Probe of an unknown member: %v", err)
	}

	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.RunRepairer(rctx, time.Hour) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("RunRepairer: %v", err)
		}
	}()
	// The repairer's first pass skips the tasks; the next is an hour
	// away unless the member's return starts one.
	waitFor(t, "first repair pass", func() bool { return q.passes.Load() == 1 })
	if q.Len() != 2 {
		t.Fatalf("the first pass healed tasks of a member marked down: %d left", q.Len())
	}

	// Reachable again, long before the cooldown ends.
	b.set(func(f *fake) { f.down = false })
	if up, err := s.Probe(ctx, "b"); err != nil || !up {
		t.Fatalf("Probe of a reachable member: %v, %v", up, err)
	}
	if up, err := s.Probe(ctx, "b"); err != nil || !up {
		t.Fatalf("Probe of a member that is up: %v, %v", up, err)
	}
	waitFor(t, "repair pass after the member came back", func() bool { return q.Len() == 0 })
	for _, name := range []string{"b/1", "m/1"} {
		if got, ok := b.object(name); !ok || string(got) != "data" {
			t.Errorf("%s on the member after its return: %q, %v", name, got, ok)
		}
	}
}

// TestQuorumErrorMatchesBackendsErrQuorum checks that front ends can tell a
// quorum failure without importing this package.
func TestQuorumErrorMatchesBackendsErrQuorum(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	b.set(func(f *fake) { f.down = true })
	s, _ := newTestSet(t, Options{}, a, b)
	err := s.Put(context.Background(), "b/x", strings.NewReader("x"), 1)
	if !errors.Is(err, backends.ErrQuorum) || !errors.Is(err, ErrQuorum) || !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("Put with too few members: %v, want ErrQuorum wrapping unavailability", err)
	}
}

// passCounter counts the repair passes that read the queue.
type passCounter struct {
	*MemQueue
	passes atomic.Int32
}

func (q *passCounter) Pending(ctx context.Context, limit int) ([]Task, error) {
	q.passes.Add(1)
	return q.MemQueue.Pending(ctx, limit)
}
