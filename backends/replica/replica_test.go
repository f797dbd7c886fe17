package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/twincrypt/twincrypt/backends"
)

const testBuf = 4 << 10

// newTestSet builds a set over the fakes with small buffers; reads try
// the fakes in the order given.
func newTestSet(t *testing.T, opts Options, fakes ...*fake) (*Set, *MemQueue) {
	t.Helper()
	q := NewMemQueue()
	if opts.Queue == nil {
		opts.Queue = q
	}
	if opts.BufferSize == 0 {
		opts.BufferSize = testBuf
	}
	var ms []Member
	for i, f := range fakes {
		ms = append(ms, Member{Backend: f, Jurisdiction: []string{"DE", "CH", "IS"}[i%3], Priority: i})
	}
	s, err := New(ms, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, q
}

func readAll(t *testing.T, s *Set, name string, off, n int64) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), name, off, n)
	if err != nil {
		t.Fatalf("Get(%s, %d, %d): %v", name, off, n, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b
}

func TestPutFanOutIdentical(t *testing.T) {
	tests := []struct {
		name string
		size int
		hint bool // pass the size; otherwise -1
	}{
		{"empty", 0, true},
		{"one byte", 1, true},
		{"just under buffer", testBuf - 1, true},
		{"exact buffer", testBuf, true},
		{"several buffers", 3*testBuf + 7, true},
		{"unknown size", 5*testBuf + 3, false},
		{"one-byte reads", 2*testBuf + 1, true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b, c := newFake("a"), newFake("b"), newFake("c")
			s, q := newTestSet(t, Options{}, a, b, c)
			data := pattern(uint64(i), tc.size)
			size := int64(-1)
			if tc.hint {
				size = int64(tc.size)
			}
			var r io.Reader = bytes.NewReader(data)
			if tc.name == "one-byte reads" {
				r = iotest.OneByteReader(r)
			}
			if err := s.Put(context.Background(), "b/obj", r, size); err != nil {
				t.Fatalf("Put: %v", err)
			}
			for _, f := range []*fake{a, b, c} {
				got, ok := f.object("b/obj")
				if !ok || !bytes.Equal(got, data) {
					t.Errorf("member %s holds %d bytes (present %v), want the %d written", f.name, len(got), ok, len(data))
				}
				if n := f.count("put"); n != 1 {
					t.Errorf("member %s: %d Put calls, want 1", f.name, n)
				}
			}
			if q.Len() != 0 {
				t.Errorf("queue holds %d tasks after a complete write", q.Len())
			}
			if got := readAll(t, s, "b/obj", 0, -1); !bytes.Equal(got, data) {
				t.Errorf("Get returned %d bytes, want %d identical", len(got), len(data))
			}
		})
	}
}

func TestPutQuorumFailureRollsBack(t *testing.T) {
	size := 10 * testBuf
	tests := []struct {
		name  string
		fault func(f *fake)
	}{
		{"fails midway", func(f *fake) { f.putFailAfter = int64(size / 2) }},
		{"fails at once", func(f *fake) { f.putFailAfter = 0 }},
		{"unreachable", func(f *fake) { f.down = true }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newFake("frankfurt"), newFake("zurich")
			b.set(tc.fault)
			s, q := newTestSet(t, Options{}, a, b)
			data := pattern(1, size)
			err := s.Put(context.Background(), "b/x", bytes.NewReader(data), int64(size))
			if err == nil {
				t.Fatal("Put succeeded with a failing member and min_writes all")
			}
			if !errors.Is(err, ErrQuorum) {
				t.Errorf("error %v does not match ErrQuorum", err)
			}
			if !errors.Is(err, backends.ErrUnavailable) {
				t.Errorf("error %v does not match ErrUnavailable", err)
			}
			if !strings.Contains(err.Error(), "zurich") {
				t.Errorf("error %q does not name the failing member", err)
			}
			for _, f := range []*fake{a, b} {
				if _, ok := f.object("b/x"); ok {
					t.Errorf("member %s still holds the object after a failed write", f.name)
				}
			}
			// The rollback queued a task for the member it cleaned;
			// with no copy anywhere, Repair drops it as stale.
			b.set(func(f *fake) { f.down = false; f.putFailAfter = -1 })
			st, err := s.Repair(context.Background())
			if err != nil {
				t.Fatalf("Repair: %v", err)
			}
			if q.Len() != 0 || st.Healed != 0 {
				t.Errorf("after Repair: queue %d, stats %+v; want empty queue, nothing healed", q.Len(), st)
			}
			if _, ok := a.object("b/x"); ok {
				t.Error("Repair resurrected a failed write")
			}
		})
	}
}

func TestPutFailedOverwriteKeepsOldVersion(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	s, _ := newTestSet(t, Options{}, a, b)
	old := pattern(1, 3*testBuf)
	if err := s.Put(context.Background(), "m/rec", bytes.NewReader(old), int64(len(old))); err != nil {
		t.Fatal(err)
	}
	b.set(func(f *fake) { f.putFailAfter = testBuf })
	newer := pattern(2, 3*testBuf)
	if err := s.Put(context.Background(), "m/rec", bytes.NewReader(newer), int64(len(newer))); err == nil {
		t.Fatal("Put succeeded with a failing member and min_writes all")
	}
	b.set(func(f *fake) { f.putFailAfter = -1 })
	if got := readAll(t, s, "m/rec", 0, -1); !bytes.Equal(got, old) {
		t.Fatal("after a failed overwrite the set does not serve the old version")
	}
	if _, err := s.Repair(context.Background()); err != nil {
		t.Fatalf("Repair: %v", err)
	}
	for _, f := range []*fake{a, b} {
		if got, _ := f.object("m/rec"); !bytes.Equal(got, old) {
			t.Errorf("member %s does not hold the old version after repair", f.name)
		}
	}
}

func TestPutMinWritesOneQueuesAndRepairHeals(t *testing.T) {
	size := 7*testBuf + 11
	tests := []struct {
		name  string
		fault func(f *fake)
	}{
		{"fails midway", func(f *fake) { f.putFailAfter = int64(size / 3) }},
		{"unreachable", func(f *fake) { f.down = true }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newFake("a"), newFake("b")
			b.set(tc.fault)
			s, q := newTestSet(t, Options{MinWrites: 1}, a, b)
			data := pattern(3, size)
			if err := s.Put(context.Background(), "b/y", bytes.NewReader(data), int64(size)); err != nil {
				t.Fatalf("Put: %v", err)
			}
			tasks, _ := q.Pending(context.Background(), 0)
			if len(tasks) != 1 || tasks[0].Backend != "b" || tasks[0].Name != "b/y" || tasks[0].Op != OpPut {
				t.Fatalf("queue = %+v, want one OpPut task for b", tasks)
			}
			// While b is still failing, Repair keeps the task.
			if _, err := s.Repair(context.Background()); err == nil && q.Len() == 0 {
				t.Fatal("Repair removed the task although the member still fails")
			}
			b.set(func(f *fake) { f.down = false; f.putFailAfter = -1 })
			st, err := s.Repair(context.Background())
			if err != nil {
				t.Fatalf("Repair: %v", err)
			}
			if st.Healed != 1 || q.Len() != 0 {
				t.Fatalf("Repair stats %+v, queue %d; want 1 healed, empty queue", st, q.Len())
			}
			if got, _ := b.object("b/y"); !bytes.Equal(got, data) {
				t.Fatal("repaired member does not hold identical bytes")
			}
			// Idempotent.
			if st, err := s.Repair(context.Background()); err != nil || st.Examined != 0 {
				t.Fatalf("second Repair: %+v, %v", st, err)
			}
		})
	}
}

func TestPutInputErrorLeavesNothing(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	s, q := newTestSet(t, Options{MinWrites: 1}, a, b)
	boom := errors.New("client went away")
	r := io.MultiReader(bytes.NewReader(pattern(1, 3*testBuf)), iotest.ErrReader(boom))
	err := s.Put(context.Background(), "b/z", r, -1)
	if !errors.Is(err, boom) {
		t.Fatalf("Put error %v, want the input's error", err)
	}
	for _, f := range []*fake{a, b} {
		if _, ok := f.object("b/z"); ok {
			t.Errorf("member %s holds a partial object", f.name)
		}
	}
	if _, err := s.Repair(context.Background()); err != nil || q.Len() != 0 {
		t.Errorf("queue after failed put and repair: %d, %v", q.Len(), err)
	}
	for _, h := range s.Health() {
		if h.Failures != 0 {
			t.Errorf("input failure counted against member %s", h.Name)
		}
	}
}

func TestPutTooFewMembersUpWritesNothing(t *testing.T) {
	clk := newTestClock()
	a, b := newFake("a"), newFake("b")
	s, q := newTestSet(t, Options{Clock: clk.Now, Breaker: BreakerOptions{Threshold: 1, Cooldown: time.Minute}}, a, b)
	b.set(func(f *fake) { f.down = true })
	// a answers "not found", b fails, which opens its breaker.
	if _, err := s.Stat(context.Background(), "b/other"); err == nil {
		t.Fatal("Stat of a missing object succeeded")
	}
	if s.Health()[1].State != StateDown {
		t.Fatal("b not marked down")
	}
	read := 0
	r := &countingReader{r: strings.NewReader("data"), n: &read}
	err := s.Put(context.Background(), "b/none", r, 4)
	if !errors.Is(err, ErrQuorum) || !errors.Is(err, ErrMemberDown) {
		t.Fatalf("Put = %v, want quorum error with the member down", err)
	}
	if a.count("put") != 0 || read != 0 || q.Len() != 0 {
		t.Errorf("Put with too few members up: a.Put calls %d, input bytes read %d, queue %d; want none", a.count("put"), read, q.Len())
	}
	if h := s.Health()[0]; h.Failures != 0 {
		t.Errorf("healthy member penalised: %+v", h)
	}
}

type countingReader struct {
	r io.Reader
	n *int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += n
	return n, err
}

func TestPutSizeMismatch(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	s, _ := newTestSet(t, Options{}, a, b)
	err := s.Put(context.Background(), "b/s", bytes.NewReader(pattern(1, 100)), 200)
	if !errors.Is(err, backends.ErrPrecondition) {
		t.Fatalf("Put error %v, want ErrPrecondition", err)
	}
	for _, f := range []*fake{a, b} {
		if _, ok := f.object("b/s"); ok {
			t.Errorf("member %s holds a short object", f.name)
		}
	}
	if h := s.Health(); h[0].ConsecutiveFailures != 0 || h[1].ConsecutiveFailures != 0 {
		t.Errorf("a size mismatch counted against members: %+v", h)
	}
}

func TestPutStalledMemberDropsOut(t *testing.T) {
	tests := []struct {
		name  string
		fault func(f *fake)
	}{
		{"hangs until cancelled", func(f *fake) { f.putHang = true }},
		{"ignores cancellation", func(f *fake) { f.putHangHard = make(chan struct{}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newFake("a"), newFake("b")
			b.set(tc.fault)
			t.Cleanup(func() {
				if b.putHangHard != nil {
					close(b.putHangHard)
				}
			})
			s, q := newTestSet(t, Options{MinWrites: 1, StallTimeout: 200 * time.Millisecond}, a, b)
			data := pattern(4, 5*testBuf)
			if err := s.Put(context.Background(), "b/h", bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatalf("Put: %v", err)
			}
			if got, _ := a.object("b/h"); !bytes.Equal(got, data) {
				t.Error("healthy member lacks the object")
			}
			if tasks, _ := q.Pending(context.Background(), 0); len(tasks) != 1 || tasks[0].Backend != "b" {
				t.Errorf("queue = %+v, want one task for b", tasks)
			}
			if h := s.Health()[1]; h.Failures != 1 || !strings.Contains(h.LastError, "stalled") {
				t.Errorf("health of b = %+v, want one stall failure", h)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	tests := []struct {
		name      string
		minWrites int
		wantErr   bool
		wantTask  bool
	}{
		{"min_writes all", 0, true, false},
		{"min_writes 1", 1, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newFake("a"), newFake("b")
			s, q := newTestSet(t, Options{MinWrites: tc.minWrites}, a, b)
			a.store("b/d", []byte("x"))
			b.store("b/d", []byte("x"))
			b.set(func(f *fake) { f.down = true })
			err := s.Delete(context.Background(), "b/d")
			if (err != nil) != tc.wantErr {
				t.Fatalf("Delete error %v, want error %v", err, tc.wantErr)
			}
			if err != nil && (!errors.Is(err, ErrQuorum) || !strings.Contains(err.Error(), "backend b")) {
				t.Errorf("Delete error %v: want ErrQuorum naming b", err)
			}
			tasks, _ := q.Pending(context.Background(), 0)
			if got := len(tasks) == 1 && tasks[0].Op == OpDelete && tasks[0].Backend == "b"; got != tc.wantTask {
				t.Fatalf("queue %+v, want OpDelete task for b: %v", tasks, tc.wantTask)
			}
			if !tc.wantTask {
				return
			}
			b.set(func(f *fake) { f.down = false })
			st, err := s.Repair(context.Background())
			if err != nil || st.Healed != 1 || q.Len() != 0 {
				t.Fatalf("Repair %+v %v, queue %d", st, err, q.Len())
			}
			if _, ok := b.object("b/d"); ok {
				t.Error("repair did not delete from b")
			}
		})
	}
}

func TestRepairDeleteStaleAfterRewrite(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	s, q := newTestSet(t, Options{MinWrites: 1}, a, b)
	b.set(func(f *fake) { f.down = true })
	a.store("m/r", []byte("v1"))
	b.store("m/r", []byte("v1"))
	if err := s.Delete(context.Background(), "m/r"); err != nil {
		t.Fatal(err)
	}
	b.set(func(f *fake) { f.down = false })
	// A later write reaches both members; the queued delete is stale.
	if err := s.Put(context.Background(), "m/r", strings.NewReader("v2"), 2); err != nil {
		t.Fatal(err)
	}
	st, err := s.Repair(context.Background())
	if err != nil || st.Stale != 1 || q.Len() != 0 {
		t.Fatalf("Repair %+v %v queue %d; want 1 stale", st, err, q.Len())
	}
	if got, _ := b.object("m/r"); string(got) != "v2" {
		t.Errorf("b holds %q, want v2", got)
	}
}

func TestRepairSkipsDownMember(t *testing.T) {
	clk := newTestClock()
	a, b := newFake("a"), newFake("b")
	s, q := newTestSet(t, Options{MinWrites: 1, Clock: clk.Now, Breaker: BreakerOptions{Threshold: 1, Cooldown: time.Minute}}, a, b)
	b.set(func(f *fake) { f.down = true })
	if err := s.Put(context.Background(), "b/q", strings.NewReader("data"), 4); err != nil {
		t.Fatal(err)
	}
	puts := b.count("put")
	st, err := s.Repair(context.Background())
	if err != nil || st.Skipped != 1 || q.Len() != 1 {
		t.Fatalf("Repair %+v %v queue %d; want skipped", st, err, q.Len())
	}
	if b.count("put") != puts {
		t.Error("Repair sent a Put to a member marked down")
	}
	b.set(func(f *fake) { f.down = false })
	clk.Advance(time.Minute)
	st, err = s.Repair(context.Background())
	if err != nil || st.Healed != 1 || q.Len() != 0 {
		t.Fatalf("Repair after cooldown %+v %v queue %d", st, err, q.Len())
	}
}

func TestGetFailsOverMidStream(t *testing.T) {
	size := int64(10*testBuf + 5)
	data := pattern(9, int(size))
	tests := []struct {
		name         string
		off, length  int64
		failAfter    int64 // bytes a delivers before failing
		wantResumeAt int64 // offset b is asked for
	}{
		{"whole object", 0, -1, 12345, 12345},
		{"range from offset", 1000, -1, 777, 1777},
		{"bounded range", 2000, 5000, 4999, 6999},
		{"fail before first byte", 300, 100, 0, 300},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newFake("a"), newFake("b")
			s, q := newTestSet(t, Options{}, a, b)
			if err := s.Put(context.Background(), "b/g", bytes.NewReader(data), size); err != nil {
				t.Fatal(err)
			}
			a.set(func(f *fake) { f.getFailAfter = tc.failAfter })
			got := readAll(t, s, "b/g", tc.off, tc.length)
			end := size
			if tc.length >= 0 {
				end = tc.off + tc.length
			}
			if !bytes.Equal(got, data[tc.off:end]) {
				t.Fatalf("got %d bytes, want %d identical", len(got), end-tc.off)
			}
			if offs := b.getOffsets(); len(offs) != 1 || offs[0] != tc.wantResumeAt {
				t.Errorf("b asked for offsets %v, want [%d]", offs, tc.wantResumeAt)
			}
			if q.Len() != 0 {
				t.Errorf("a transient failure queued %d repairs", q.Len())
			}
		})
	}
}

func TestGetAllMembersFailMidStream(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	s, _ := newTestSet(t, Options{}, a, b)
	data := pattern(1, 4*testBuf)
	if err := s.Put(context.Background(), "b/f", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	a.set(func(f *fake) { f.getFailAfter = 100 })
	b.set(func(f *fake) { f.getFailAfter = 50 })
	rc, err := s.Get(context.Background(), "b/f", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if !errors.Is(err, ErrExhausted) || !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("read error %v, want ErrExhausted", err)
	}
	if !bytes.Equal(got, data[:150]) {
		t.Errorf("delivered %d bytes before failing, want the first 150", len(got))
	}
}

func TestGetMissingOnOneMember(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	s, q := newTestSet(t, Options{}, a, b)
	data := pattern(5, 1000)
	b.store("b/m", data) // a lost it
	if got := readAll(t, s, "b/m", 0, -1); !bytes.Equal(got, data) {
		t.Fatal("Get did not fail over to the member that has the object")
	}
	if tasks, _ := q.Pending(context.Background(), 0); len(tasks) != 1 || tasks[0].Backend != "a" || tasks[0].Op != OpPut {
		t.Fatalf("queue %+v, want OpPut task for a", tasks)
	}
	if st, err := s.Repair(context.Background()); err != nil || st.Healed != 1 {
		t.Fatalf("Repair %+v %v", st, err)
	}
	if got, _ := a.object("b/m"); !bytes.Equal(got, data) {
		t.Error("repair did not restore a's copy")
	}
}

func TestNotFoundDecision(t *testing.T) {
	tests := []struct {
		name        string
		minWrites   int
		bDown       bool
		wantMissing bool
	}{
		{"all members say missing", 1, false, true},
		{"min_writes all: one missing is proof", 0, true, true},
		{"min_writes 1: one missing, other down", 1, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newFake("a"), newFake("b")
			b.set(func(f *fake) { f.down = tc.bDown })
			s, _ := newTestSet(t, Options{MinWrites: tc.minWrites}, a, b)
			_, err := s.Get(context.Background(), "b/none", 0, -1)
			_, serr := s.Stat(context.Background(), "b/none")
			for _, e := range []error{err, serr} {
				if got := errors.Is(e, backends.ErrNotFound); got != tc.wantMissing {
					t.Errorf("error %v: ErrNotFound %v, want %v", e, got, tc.wantMissing)
				}
				if !tc.wantMissing && !errors.Is(e, backends.ErrUnavailable) {
					t.Errorf("error %v does not match ErrUnavailable", e)
				}
			}
		})
	}
}

func TestRefetch(t *testing.T) {
	a, b, c := newFake("a"), newFake("b"), newFake("c")
	s, q := newTestSet(t, Options{MinWrites: 1}, a, b, c)
	data := pattern(6, 8*testBuf)
	if err := s.Put(context.Background(), "b/r", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	a.set(func(f *fake) { f.getCorrupt = true })
	const off = 1000
	rc, err := s.Get(context.Background(), "b/r", off, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rf, ok := rc.(Refetcher)
	if !ok {
		t.Fatalf("Get returned %T, which does not implement Refetcher", rc)
	}
	buf := make([]byte, 3000)
	if _, err := io.ReadFull(rc, buf); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(buf, data[off:off+3000]) {
		t.Fatal("fake did not corrupt the stream")
	}
	// Out-of-range offsets are refused.
	for _, bad := range []int64{off - 1, off + 3001} {
		if err := rf.Refetch(bad); !errors.Is(err, backends.ErrPrecondition) {
			t.Errorf("Refetch(%d) = %v, want ErrPrecondition", bad, err)
		}
	}
	// The decrypting layer found the chunk at absolute offset 2048 bad.
	if err := rf.Refetch(2048); err != nil {
		t.Fatalf("Refetch: %v", err)
	}
	rest, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rest, data[2048:]) {
		t.Fatalf("after Refetch got %d bytes, want %d identical from 2048", len(rest), len(data)-2048)
	}
	if offs := b.getOffsets(); len(offs) != 1 || offs[0] != 2048 {
		t.Errorf("b asked for %v, want [2048]", offs)
	}
	if tasks, _ := q.Pending(context.Background(), 0); len(tasks) != 1 || tasks[0].Backend != "a" || tasks[0].Op != OpPut {
		t.Errorf("queue %+v, want OpPut task for a", tasks)
	}
	// Refetch at the end of the stream blames b; c remains.
	if err := rf.Refetch(int64(len(data))); err != nil {
		t.Fatalf("Refetch at end: %v", err)
	}
	// With c blamed too, no member is left.
	err = rf.Refetch(int64(len(data)))
	if !errors.Is(err, ErrExhausted) || !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("Refetch with no member left = %v, want ErrExhausted", err)
	}
	if tasks, _ := q.Pending(context.Background(), 0); len(tasks) != 3 {
		t.Errorf("queue %+v, want a task for each blamed member", tasks)
	}
	// Repair restores a's copy from a good member.
	a.set(func(f *fake) { f.getCorrupt = false })
	a.store("b/r", []byte("garbage"))
	b.store("b/r", data)
	c.store("b/r", data)
	if _, err := s.Repair(context.Background()); err != nil {
		t.Fatalf("Repair: %v", err)
	}
	if got, _ := a.object("b/r"); !bytes.Equal(got, data) {
		t.Error("Repair did not restore the corrupt member's copy")
	}
}

func TestBreakerOpensAndCloses(t *testing.T) {
	clk := newTestClock()
	a, b := newFake("a"), newFake("b")
	a.store("b/k", []byte("abc"))
	b.store("b/k", []byte("abc"))
	s, _ := newTestSet(t, Options{Clock: clk.Now, Breaker: BreakerOptions{Threshold: 3, Cooldown: 30 * time.Second, MaxCooldown: 45 * time.Second}}, a, b)
	a.set(func(f *fake) { f.statFail = true })
	for i := range 3 {
		if _, err := s.Stat(context.Background(), "b/k"); err != nil {
			t.Fatalf("Stat %d: %v", i, err)
		}
	}
	if h := s.Health()[0]; h.State != StateDown || h.ConsecutiveFailures != 3 {
		t.Fatalf("after 3 failures a = %+v, want down", h)
	}
	before := a.count("stat")
	for range 5 {
		if _, err := s.Stat(context.Background(), "b/k"); err != nil {
			t.Fatal(err)
		}
	}
	if a.count("stat") != before {
		t.Errorf("a received %d Stat calls while down", a.count("stat")-before)
	}
	// Reads start one background probe once the cooldown has ended; a
	// failed probe doubles the cooldown (capped at MaxCooldown).
	a.set(func(f *fake) { f.down = true })
	clk.Advance(30 * time.Second)
	if _, err := s.Stat(context.Background(), "b/k"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "failed probe", func() bool { h := s.Health()[0]; return a.count("list") == 1 && h.State == StateDown })
	if h := s.Health()[0]; h.Cooldown != 45*time.Second || !h.DownUntil.Equal(clk.Now().Add(45*time.Second)) {
		t.Fatalf("after failed probe a = %+v", h)
	}
	// After the longer cooldown one probe brings a back.
	a.set(func(f *fake) { f.down = false; f.statFail = false })
	clk.Advance(45 * time.Second)
	if _, err := s.Stat(context.Background(), "b/k"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "successful probe", func() bool { return s.Health()[0].State == StateUp })
	if n := a.count("list"); n != 2 {
		t.Errorf("%d probes, want 2", n)
	}
	// The read that started the probe may have reached a or b, depending
	// on whether the probe ended first; the next one goes to a.
	up := a.count("stat")
	if _, err := s.Stat(context.Background(), "b/k"); err != nil {
		t.Fatal(err)
	}
	if a.count("stat") != up+1 {
		t.Errorf("a served %d Stat calls after coming back, want 1", a.count("stat")-up)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWriteProbesInline(t *testing.T) {
	clk := newTestClock()
	a, b := newFake("a"), newFake("b")
	s, q := newTestSet(t, Options{MinWrites: 1, Clock: clk.Now, Breaker: BreakerOptions{Threshold: 1, Cooldown: time.Minute}}, a, b)
	b.set(func(f *fake) { f.down = true })
	if err := s.Put(context.Background(), "b/1", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), "b/2", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if n := b.count("put"); n != 1 {
		t.Errorf("member marked down received %d Puts, want 1", n)
	}
	if q.Len() != 2 {
		t.Errorf("queue holds %d tasks, want 2", q.Len())
	}
	b.set(func(f *fake) { f.down = false })
	clk.Advance(time.Minute)
	if err := s.Put(context.Background(), "b/3", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.object("b/3"); !ok || b.count("list") != 1 {
		t.Errorf("write after cooldown: probes %d, object on b %v; want probe then write", b.count("list"), ok)
	}
}

// waitFor polls cond a bounded number of times.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("condition never held: %s", what)
}

func TestNotFoundDoesNotTripBreaker(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	s, _ := newTestSet(t, Options{Breaker: BreakerOptions{Threshold: 1}}, a, b)
	for range 3 {
		if _, err := s.Stat(context.Background(), "b/none"); !errors.Is(err, backends.ErrNotFound) {
			t.Fatalf("Stat = %v", err)
		}
	}
	for _, h := range s.Health() {
		if h.State != StateUp || h.Failures != 0 {
			t.Errorf("member %+v penalised for ErrNotFound", h)
		}
	}
}

func TestHangingMemberDoesNotBlockReads(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	data := pattern(7, 2000)
	a.store("b/h", data)
	b.store("b/h", data)
	clk := newTestClock()
	s, _ := newTestSet(t, Options{
		Clock:          clk.Now,
		RequestTimeout: 100 * time.Millisecond,
		Breaker:        BreakerOptions{Threshold: 2, Cooldown: time.Hour},
	}, a, b)
	a.set(func(f *fake) { f.getHang = true })
	for range 6 {
		if got := readAll(t, s, "b/h", 0, -1); !bytes.Equal(got, data) {
			t.Fatal("wrong bytes")
		}
	}
	if n := a.count("get"); n != 2 {
		t.Errorf("hanging member received %d Get calls, want 2 (breaker threshold)", n)
	}
	if n := b.count("get"); n != 6 {
		t.Errorf("healthy member served %d Gets, want 6", n)
	}
	if h := s.Health()[0]; h.State != StateDown {
		t.Errorf("hanging member state %s, want down", h.State)
	}
}

func TestStalledStreamFailsOver(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	data := pattern(8, 3000)
	a.store("b/s", data)
	b.store("b/s", data)
	s, _ := newTestSet(t, Options{StallTimeout: 100 * time.Millisecond}, a, b)
	a.set(func(f *fake) { f.getHangAfter = 1000 }) // then blocks until cancelled
	rc, err := s.Get(context.Background(), "b/s", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(rc, buf); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(buf, rest...), data) {
		t.Fatal("bytes differ after failover from a stalled stream")
	}
	if offs := b.getOffsets(); len(offs) != 1 || offs[0] != 1000 {
		t.Errorf("b asked for %v, want [1000]", offs)
	}
}

func TestListFailsOver(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	b.store("b/1", []byte("1"))
	b.store("b/2", []byte("2"))
	a.set(func(f *fake) { f.down = true })
	s, _ := newTestSet(t, Options{}, a, b)
	page, err := s.List(context.Background(), "b/", "", 0)
	if err != nil || len(page.Items) != 2 {
		t.Fatalf("List = %+v, %v", page, err)
	}
	b.set(func(f *fake) { f.down = true })
	if _, err := s.List(context.Background(), "b/", "", 0); !errors.Is(err, ErrExhausted) {
		t.Fatalf("List with all members down = %v, want ErrExhausted", err)
	}
}

func TestInvalidInput(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	s, _ := newTestSet(t, Options{}, a, b)
	ctx := context.Background()
	if err := s.Put(ctx, "../x", strings.NewReader(""), 0); !errors.Is(err, backends.ErrInvalidName) {
		t.Errorf("Put bad name = %v", err)
	}
	if err := s.Put(ctx, "b/x", nil, 0); !errors.Is(err, backends.ErrPrecondition) {
		t.Errorf("Put nil reader = %v", err)
	}
	if _, err := s.Get(ctx, "", 0, -1); !errors.Is(err, backends.ErrInvalidName) {
		t.Errorf("Get bad name = %v", err)
	}
	if _, err := s.Get(ctx, "b/x", -1, -1); !errors.Is(err, backends.ErrPrecondition) {
		t.Errorf("Get negative offset = %v", err)
	}
	if _, err := s.Stat(ctx, "a//b"); !errors.Is(err, backends.ErrInvalidName) {
		t.Errorf("Stat bad name = %v", err)
	}
	if err := s.Delete(ctx, "/abs"); !errors.Is(err, backends.ErrInvalidName) {
		t.Errorf("Delete bad name = %v", err)
	}
	if a.count("put")+a.count("get")+a.count("stat")+a.count("delete") != 0 {
		t.Error("invalid input reached a member")
	}
}

func TestNewValidation(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	tests := []struct {
		name    string
		members []Member
		opts    Options
		ok      bool
	}{
		{"ok", []Member{{Backend: a, Jurisdiction: "DE"}, {Backend: b, Jurisdiction: "CH"}}, Options{MinWrites: 2}, true},
		{"single jurisdiction allowed", []Member{{Backend: a, Jurisdiction: "DE"}, {Backend: b, Jurisdiction: "DE"}}, Options{}, true},
		{"min_writes too high", []Member{{Backend: a, Jurisdiction: "DE"}, {Backend: b, Jurisdiction: "CH"}}, Options{MinWrites: 3}, false},
		{"negative min_writes", []Member{{Backend: a, Jurisdiction: "DE"}}, Options{MinWrites: -1}, false},
		{"no members", nil, Options{}, false},
		{"duplicate", []Member{{Backend: a, Jurisdiction: "DE"}, {Backend: a, Jurisdiction: "CH"}}, Options{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.members, tc.opts)
			if (err == nil) != tc.ok {
				t.Fatalf("New = %v, want ok %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Errorf("error %v does not match ErrConfig", err)
			}
			if err == nil && tc.opts.MinWrites == 0 && s.MinWrites() != len(tc.members) {
				t.Errorf("default MinWrites = %d, want all", s.MinWrites())
			}
		})
	}
}

func TestCheckJurisdictions(t *testing.T) {
	a, b, c := newFake("a"), newFake("b"), newFake("")
	tests := []struct {
		name        string
		members     []Member
		allowSingle bool
		wantErr     string
	}{
		{"two jurisdictions", []Member{{Backend: a, Jurisdiction: "DE"}, {Backend: b, Jurisdiction: "CH"}}, false, ""},
		{"one jurisdiction", []Member{{Backend: a, Jurisdiction: "DE"}, {Backend: b, Jurisdiction: "DE"}}, false, "jurisdiction"},
		{"one jurisdiction allowed", []Member{{Backend: a, Jurisdiction: "DE"}, {Backend: b, Jurisdiction: "DE"}}, true, ""},
		{"single member allowed", []Member{{Backend: a, Jurisdiction: "DE"}}, true, ""},
		{"missing jurisdiction", []Member{{Backend: a, Jurisdiction: "DE"}, {Backend: b, Jurisdiction: " "}}, true, "no jurisdiction"},
		{"missing name", []Member{{Backend: a, Jurisdiction: "DE"}, {Backend: c, Jurisdiction: "CH"}}, false, "no name"},
		{"duplicate name", []Member{{Backend: a, Jurisdiction: "DE"}, {Backend: a, Jurisdiction: "CH"}}, false, "duplicate"},
		{"nil backend", []Member{{Jurisdiction: "DE"}}, true, "no backend"},
		{"empty", nil, true, "no members"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckJurisdictions(tc.members, tc.allowSingle)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckJurisdictions = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrConfig) {
				t.Fatalf("CheckJurisdictions = %v, want ErrConfig containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestReadOrderPriority(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	a.store("b/p", []byte("x"))
	b.store("b/p", []byte("x"))
	s, err := New([]Member{{Backend: a, Jurisdiction: "DE", Priority: 2}, {Backend: b, Jurisdiction: "CH", Priority: 1}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, s, "b/p", 0, -1)
	if a.count("get") != 0 || b.count("get") != 1 {
		t.Errorf("gets a=%d b=%d, want the lower priority value (b) first", a.count("get"), b.count("get"))
	}
}

// TestGetShortCopy reads ranges of an object whose copy on the first member
// is cut short. Reads beyond the cut fail over to the intact member and
// queue a repair of the short copy; a range that is wrong for every member
// is still ErrPrecondition, and one that runs past the end of every copy
// still ends there, without repairs.
func TestGetShortCopy(t *testing.T) {
	const size = 10 * testBuf
	const cut = 3*testBuf + 7
	data := pattern(11, size)
	tests := []struct {
		name        string
		aLen        int   // length of a's copy; b has the whole object
		bDown       bool  // b fails every call
		off, length int64 // the Get
		want        []byte
		wantErr     error // nil: the read succeeds with want
		wantRepair  bool  // an OpPut task for a
	}{
		{"bounded range beyond the cut", cut, false, 5 * testBuf, 2 * testBuf, data[5*testBuf : 7*testBuf], nil, true},
		{"range to the end beyond the cut", cut, false, 5 * testBuf, -1, data[5*testBuf:], nil, true},
		{"bounded range across the cut", cut, false, testBuf, 5 * testBuf, data[testBuf : 6*testBuf], nil, true},
		{"bounded range from the cut", cut, false, cut, 100, data[cut : cut+100], nil, true},
		{"bounded range before the cut", cut, false, 0, 100, data[:100], nil, false},
		{"beyond the cut, other member down", cut, true, 5 * testBuf, 100, nil, backends.ErrUnavailable, false},
		{"across the cut, other member down", cut, true, testBuf, 5 * testBuf, nil, ErrExhausted, false},
		{"beyond the end of every copy", size, false, size + 1, 10, nil, backends.ErrPrecondition, false},
		{"past the end of every copy", size, false, size - 100, 1000, data[size-100:], nil, false},
		{"at the end of every copy", size, false, size, 10, []byte{}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newFake("a"), newFake("b")
			s, q := newTestSet(t, Options{}, a, b)
			a.store("b/s", data[:tc.aLen])
			b.store("b/s", data)
			b.set(func(f *fake) { f.down = tc.bDown })
			got, err := func() ([]byte, error) {
				rc, err := s.Get(context.Background(), "b/s", tc.off, tc.length)
				if err != nil {
					return nil, err
				}
				defer rc.Close()
				return io.ReadAll(rc)
			}()
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("read = %d bytes, %v; want an error matching %v", len(got), err, tc.wantErr)
				}
			case err != nil:
				t.Fatalf("read: %v", err)
			case !bytes.Equal(got, tc.want):
				t.Fatalf("read %d bytes, want %d identical", len(got), len(tc.want))
			}
			tasks, _ := q.Pending(context.Background(), 0)
			queued := len(tasks) == 1 && tasks[0].Backend == "a" && tasks[0].Op == OpPut && tasks[0].Name == "b/s"
			if queued != tc.wantRepair || (!tc.wantRepair && len(tasks) != 0) {
				t.Fatalf("queue %+v; want a repair of a: %v", tasks, tc.wantRepair)
			}
			if tc.wantRepair {
				if st, err := s.Repair(context.Background()); err != nil || st.Healed != 1 {
					t.Fatalf("Repair %+v, %v", st, err)
				}
				if got, _ := a.object("b/s"); !bytes.Equal(got, data) {
					t.Fatal("repair did not restore a's short copy")
				}
			}
		})
	}
}

// TestRefetchMixedSegments is the read of issue 12's scenario 3: the member
// read first fails mid-stream, the next serves corrupt bytes from there on.
// The part that fails authentication was served by both, so neither is
// blamed, and it is read again whole from the member that only failed for
// I/O, which serves it correctly.
func TestRefetchMixedSegments(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	s, q := newTestSet(t, Options{MinWrites: 1}, a, b)
	data := pattern(7, 8*testBuf)
	if err := s.Put(context.Background(), "b/m", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	a.set(func(f *fake) { f.getFailAfter = 3000 }) // the honest member's stream breaks
	b.set(func(f *fake) { f.getCorrupt = true })   // the other member's copy is bad
	rc, err := s.Get(context.Background(), "b/m", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	buf := make([]byte, 4096) // one "chunk": 3000 bytes from a, the rest from b
	if _, err := io.ReadFull(rc, buf); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(buf, data[:4096]) {
		t.Fatal("the assembled chunk is intact: the fakes injected nothing")
	}
	a.set(func(f *fake) { f.getFailAfter = -1 }) // the I/O failure was transient
	if err := rc.(Refetcher).Refetch(0); err != nil {
		t.Fatalf("Refetch of a chunk served by two members: %v", err)
	}
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after Refetch: %d bytes, %v; want the whole object intact", len(got), err)
	}
	if tasks, _ := q.Pending(context.Background(), 0); len(tasks) != 0 {
		t.Errorf("queue %+v: a member was blamed for a chunk two members served", tasks)
	}
}

// TestRepairVerifies checks that a queued repair copies nothing that Verify
// refuses: the corrupt source is queued for its own repair and the good
// copy is left as it is, and a copy Verify cannot check is left to the
// gateway.
func TestRepairVerifies(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	good := pattern(8, 3*testBuf)
	verify := func(name string, size int64, r io.Reader) io.Reader {
		return &checkingReader{r: r, name: name, want: good}
	}
	s, q := newTestSet(t, Options{MinWrites: 1, Verify: verify}, a, b)
	a.store("b/v", good)
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 1
	b.store("b/v", bad)
	ctx := context.Background()
	// A task to heal a from b, whose copy does not verify.
	if err := q.Add(ctx, Task{Backend: "a", Name: "b/v", Op: OpPut}); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Repair(ctx)
	if got, _ := a.object("b/v"); !bytes.Equal(got, good) {
		t.Fatal("a corrupt copy was copied over the good one")
	}
	tasks, _ := q.Pending(ctx, 0)
	var forB bool
	for _, tk := range tasks {
		forB = forB || (tk.Backend == "b" && tk.Op == OpPut)
	}
	var forA bool
	for _, tk := range tasks {
		forA = forA || tk.Backend == "a"
	}
	if !forB || forA || st.Healed != 0 || st.Stale != 1 {
		t.Fatalf("after repair: %+v, queue %+v; want b queued for its own repair and a's task dropped (its copy is good)", st, tasks)
	}
	// b's task heals b from a.
	if _, err := s.Repair(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.object("b/v"); !bytes.Equal(got, good) {
		t.Fatal("b was not healed from the good copy")
	}
}

// checkingReader fails at the first byte that differs from want, before
// passing it on, as an authenticating reader does.
type checkingReader struct {
	r    io.Reader
	name string
	want []byte
	pos  int
}

func (c *checkingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i := 0; i < n; i++ {
		if c.pos+i >= len(c.want) || p[i] != c.want[c.pos+i] {
			return 0, fmt.Errorf("%s: byte %d does not authenticate", c.name, c.pos+i)
		}
	}
	c.pos += n
	return n, err
}
