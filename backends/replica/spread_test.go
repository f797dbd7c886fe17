package replica

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/twincrypt/twincrypt/backends"
)

// TestGetSpread checks that WithSpread picks which of the equally good
// members a Get starts with, that it leaves first a member of better
// priority or one that is up before one that is down, and that a stream it
// started on the other member still fails over mid-stream.
func TestGetSpread(t *testing.T) {
	data := pattern(3, 10*testBuf+7)
	tests := []struct {
		name    string
		prioB   int // a has priority 0
		downB   bool
		failB   int64 // the other member's stream fails after this many bytes; -1 never
		n       int   // WithSpread(n); -1 none
		other   bool  // the Get starts on the member a Get without the hint does not start on
		both    bool  // both members were asked
		onlyA   bool  // a was asked and b was not
		fixedAB bool  // b is worse or down: a is always the first
	}{
		{name: "no hint", failB: -1, n: -1},
		{name: "hint 0", failB: -1, n: 0},
		{name: "hint 1", failB: -1, n: 1, other: true},
		{name: "hint 2", failB: -1, n: 2},
		{name: "hint 3", failB: -1, n: 3, other: true},
		{name: "b of worse priority", prioB: 1, failB: -1, n: 1, onlyA: true, fixedAB: true},
		{name: "b down", downB: true, failB: -1, n: 1, onlyA: true, fixedAB: true},
		{name: "other fails mid-stream", failB: 12345, n: 1, other: true, both: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newFake("a"), newFake("b")
			clk := newTestClock() // no cooldown ends, no probe brings b back
			s, err := New([]Member{{Backend: a, Jurisdiction: "DE"}, {Backend: b, Jurisdiction: "CH", Priority: tc.prioB}},
				Options{Queue: NewMemQueue(), BufferSize: testBuf, Clock: clk.Now, Breaker: BreakerOptions{Threshold: 1}})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := s.Put(ctx, "b/s", bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatal(err)
			}
			if tc.downB {
				// Reads that start on b (with either hint, whichever
				// member is first) fail over to a and mark b down.
				b.set(func(f *fake) { f.down = true })
				for n := range 2 {
					rc, err := s.Get(WithSpread(ctx, n), "b/s", 0, -1)
					if err != nil {
						t.Fatal(err)
					}
					rc.Close()
				}
				if h := s.Health()[1]; h.State != StateDown {
					t.Fatalf("b is %+v, want down", h)
				}
			}
			first, other := a, b // first: where a Get without the hint starts
			if s.ordered(ctx)[0].b == backends.Backend(b) {
				first, other = b, a
			}
			if tc.fixedAB && first != a {
				t.Fatalf("read order starts with %v, want a", first)
			}
			want := first
			if tc.other {
				want = other
			}
			if tc.failB >= 0 {
				want.set(func(f *fake) { f.getFailAfter = tc.failB })
			}
			a0, b0 := a.count("get"), b.count("get")
			gctx := ctx
			if tc.n >= 0 {
				gctx = WithSpread(ctx, tc.n)
			}
			rc, err := s.Get(gctx, "b/s", 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, %v; want %d identical", len(got), err, len(data))
			}
			if offs := want.getOffsets(); len(offs) == 0 || offs[0] != 0 {
				t.Errorf("%s asked for offsets %v, want it first at 0", want.name, offs)
			}
			ga, gb := a.count("get")-a0, b.count("get")-b0
			switch {
			case tc.both && (ga != 1 || gb != 1):
				t.Errorf("Gets a=%d b=%d, want one each", ga, gb)
			case tc.onlyA && (ga != 1 || gb != 0):
				t.Errorf("Gets a=%d b=%d, want a only", ga, gb)
			case !tc.both && ga+gb != 1:
				t.Errorf("Gets a=%d b=%d, want one", ga, gb)
			}
		})
	}
}
