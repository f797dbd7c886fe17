package spill

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
)

func TestSetSortsAndDedupes(t *testing.T) {
	for _, tc := range []struct {
		name            string
		keys, buffer    int
		wantRunsAtLeast int
	}{
		{"empty", 0, 8, 0},
		{"in memory", 50, 1000, 0},
		{"exactly one buffer", 64, 64, 1},
		{"many runs", 5000, 37, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t.TempDir(), 4, tc.buffer)
			defer s.Close()
			rng := rand.New(rand.NewPCG(1, uint64(tc.keys)))
			want := map[[4]byte]bool{}
			for range tc.keys {
				var k [4]byte
				// a small space: many duplicates, across runs too
				v := rng.Uint32N(uint32(tc.keys/2 + 1))
				k[0], k[1], k[2], k[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
				want[k] = true
				if err := s.Add(k[:]); err != nil {
					t.Fatal(err)
				}
			}
			if s.Runs() < tc.wantRunsAtLeast {
				t.Fatalf("%d runs, want at least %d", s.Runs(), tc.wantRunsAtLeast)
			}
			// Merged a level at a time: never fanIn runs of one level.
			if lv := levelsNeeded(s.Runs()); s.Files() > lv*(fanIn-1) {
				t.Fatalf("%d run files for %d runs, want at most %d", s.Files(), s.Runs(), lv*(fanIn-1))
			}
			it, err := s.Iter()
			if err != nil {
				t.Fatal(err)
			}
			var got [][]byte
			for k, ok := it.Next(); ok; k, ok = it.Next() {
				got = append(got, slices.Clone(k))
			}
			if it.Err() != nil {
				t.Fatal(it.Err())
			}
			if len(got) != len(want) {
				t.Fatalf("%d keys, want %d", len(got), len(want))
			}
			if !slices.IsSortedFunc(got, bytes.Compare) {
				t.Fatal("keys not in order")
			}
			for i := 1; i < len(got); i++ {
				if bytes.Equal(got[i], got[i-1]) {
					t.Fatalf("duplicate %x", got[i])
				}
			}
			for _, k := range got {
				if !want[[4]byte(k)] {
					t.Fatalf("key %x was never added", k)
				}
			}
		})
	}
}

func TestCursor(t *testing.T) {
	s := New(t.TempDir(), 1, 2)
	defer s.Close()
	for _, k := range []byte{9, 3, 7, 3, 1} {
		if err := s.Add([]byte{k}); err != nil {
			t.Fatal(err)
		}
	}
	it, err := s.Iter()
	if err != nil {
		t.Fatal(err)
	}
	c := NewCursor(it)
	for _, q := range []struct {
		k    byte
		want bool
	}{{0, false}, {1, true}, {2, false}, {3, true}, {7, true}, {8, false}, {9, true}, {200, false}} {
		got, err := c.Contains([]byte{q.k})
		if err != nil || got != q.want {
			t.Fatalf("Contains(%d) = %v, %v; want %v", q.k, got, err, q.want)
		}
	}
	if _, err := c.Contains([]byte{5}); !errors.Is(err, ErrOrder) {
		t.Fatalf("out of order: %v, want ErrOrder", err)
	}
}

func TestAddChecksWidth(t *testing.T) {
	s := New(t.TempDir(), 4, 0)
	defer s.Close()
	if err := s.Add([]byte{1, 2}); err == nil {
		t.Fatal("a 2-byte key in a 4-byte set was accepted")
	}
}

func TestCloseRemovesRuns(t *testing.T) {
	dir := t.TempDir()
	s := New(dir, 1, 1)
	for k := range 5 {
		if err := s.Add([]byte{byte(k)}); err != nil {
			t.Fatal(err)
		}
	}
	if s.Runs() != 5 {
		t.Fatalf("%d runs, want 5", s.Runs())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepathGlob(dir); len(left) != 0 {
		t.Fatalf("files left: %v", left)
	}
}

func filepathGlob(dir string) ([]string, error) { return filepath.Glob(filepath.Join(dir, "*")) }

func TestIterTwice(t *testing.T) {
	s := New(t.TempDir(), 1, 3)
	defer s.Close()
	for _, k := range []byte{5, 1, 4, 2, 3, 1, 5} {
		if err := s.Add([]byte{k}); err != nil {
			t.Fatal(err)
		}
	}
	a, err := s.Iter()
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Iter()
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for range 5 { // interleaved: neither disturbs the other
		ka, oka := a.Next()
		kb, okb := b.Next()
		if !oka || !okb || ka[0] != kb[0] {
			t.Fatalf("passes differ: %v %v %v %v", ka, oka, kb, okb)
		}
		got = append(got, ka[0])
	}
	if string(got) != "\x01\x02\x03\x04\x05" {
		t.Fatalf("keys %v", got)
	}
	if err := s.Add([]byte{9}); err == nil {
		t.Fatal("Add after Iter was accepted")
	}
}

// levelsNeeded is the number of merge levels n runs fill.
func levelsNeeded(n int) int {
	l := 1
	for c := fanIn; c <= n; c *= fanIn {
		l++
	}
	return l
}

// TestMergeBoundsFiles adds keys through a tiny buffer so that runs are
// merged over several levels, and checks the files on disk stay few
// while every key comes back once and in order.
func TestMergeBoundsFiles(t *testing.T) {
	dir := t.TempDir()
	s := New(dir, 8, 4)
	defer s.Close()
	rng := rand.New(rand.NewPCG(7, 7))
	want := map[uint64]bool{}
	peak := 0
	for range 20000 {
		v := rng.Uint64N(15000)
		want[v] = true
		var k [8]byte
		for i := range k {
			k[i] = byte(v >> (56 - 8*i))
		}
		if err := s.Add(k[:]); err != nil {
			t.Fatal(err)
		}
		ents, _ := filepath.Glob(filepath.Join(dir, "*"))
		peak = max(peak, len(ents))
	}
	if s.Runs() != 5000 {
		t.Errorf("%d runs flushed, want 5000", s.Runs())
	}
	// 5000 runs of 4 keys: four levels of at most fanIn-1 runs, plus the
	// merge being written.
	if peak > 4*(fanIn-1)+1 {
		t.Errorf("%d files on disk at once", peak)
	}
	it, err := s.Iter()
	if err != nil {
		t.Fatal(err)
	}
	var prev uint64
	n := 0
	for k, ok := it.Next(); ok; k, ok = it.Next() {
		var v uint64
		for _, b := range k {
			v = v<<8 | uint64(b)
		}
		if !want[v] || (n > 0 && v <= prev) {
			t.Fatalf("key %d after %d", v, prev)
		}
		prev = v
		n++
	}
	if it.Err() != nil || n != len(want) {
		t.Fatalf("%d keys, want %d: %v", n, len(want), it.Err())
	}
}
