package inlinecache

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
)

func digest(i int) Digest {
	var d Digest
	copy(d[:], fmt.Sprintf("%016d", i))
	return d
}

func TestCache(t *testing.T) {
	rec := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 1000) }
	tests := []struct {
		name     string
		max      int64
		add      []int
		touch    []int // read between the adds of add[0:len(add)/2] and the rest
		wantHeld []int
		wantGone []int
	}{
		{name: "disabled", max: 0, add: []int{1, 2}, wantGone: []int{1, 2}},
		{name: "record larger than the cache", max: 1000, add: []int{1}, wantGone: []int{1}},
		{name: "all fit", max: 10 * 1128, add: []int{1, 2, 3, 4}, wantHeld: []int{1, 2, 3, 4}},
		{name: "oldest evicted", max: 3 * 1128, add: []int{1, 2, 3, 4, 5}, wantHeld: []int{3, 4, 5}, wantGone: []int{1, 2}},
		{name: "a read keeps a record", max: 3 * 1128, add: []int{1, 2, 3, 4}, touch: []int{1}, wantHeld: []int{1, 3, 4}, wantGone: []int{2}},
		{name: "unread, it goes first", max: 3 * 1128, add: []int{1, 2, 3, 4}, wantHeld: []int{2, 3, 4}, wantGone: []int{1}},
		{name: "adding twice counts once", max: 2 * 1128, add: []int{1, 1, 1, 2}, wantHeld: []int{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(tt.max)
			half := len(tt.add) / 2
			for _, i := range tt.add[:half] {
				c.Add(digest(i), rec(i))
			}
			for _, i := range tt.touch {
				if _, ok := c.Get(digest(i)); !ok {
					t.Fatalf("record %d gone before the touch", i)
				}
			}
			for _, i := range tt.add[half:] {
				c.Add(digest(i), rec(i))
			}
			for _, i := range tt.wantHeld {
				b, ok := c.Get(digest(i))
				if !ok || !bytes.Equal(b, rec(i)) {
					t.Errorf("record %d: held %v, bytes right %v", i, ok, bytes.Equal(b, rec(i)))
				}
			}
			for _, i := range tt.wantGone {
				if _, ok := c.Get(digest(i)); ok {
					t.Errorf("record %d still held", i)
				}
			}
			if c.Bytes() > tt.max && tt.max > 0 {
				t.Errorf("cache accounts %d bytes, bound %d", c.Bytes(), tt.max)
			}
			if got, want := c.Bytes(), int64(c.Len())*1128; got != want {
				t.Errorf("cache accounts %d bytes for %d records, want %d", got, c.Len(), want)
			}
		})
	}
}

func TestNilCache(t *testing.T) {
	var c *Cache
	c.Add(digest(1), []byte("x"))
	if _, ok := c.Get(digest(1)); ok || c.Len() != 0 || c.Bytes() != 0 {
		t.Fatal("a nil cache holds something")
	}
}

// TestConcurrent runs adds and gets at once (for the race detector) and
// checks the bound holds throughout.
func TestConcurrent(t *testing.T) {
	c := New(50 * 1128)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := (g*7919 + i) % 300
				c.Add(digest(k), bytes.Repeat([]byte{1}, 1000))
				if b, ok := c.Get(digest(k)); ok && len(b) != 1000 {
					t.Errorf("record of %d bytes", len(b))
				}
				if c.Bytes() > 50*1128 {
					t.Errorf("over the bound: %d", c.Bytes())
				}
			}
		})
	}
	wg.Wait()
}
