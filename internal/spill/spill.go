// Package spill holds sets of fixed-size keys that may be too large to keep
// in memory: keys are gathered in a bounded buffer, sorted and written to
// temporary files as runs, and read back as one sorted stream with the
// duplicates removed (an external merge sort). Runs are merged fanIn at a
// time as they accumulate, so that the open files and read buffers stay
// few however many keys a Set holds. Maintenance commands use it
// to compare the catalog with provider listings in memory that does not
// grow with the number of objects.
package spill

import (
	"bufio"
	"bytes"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// DefaultBuffer is the number of keys a Set holds in memory before it
// writes a run to disk.
const DefaultBuffer = 1 << 16

// runBuffer is the read buffer of each run while runs are merged.
const runBuffer = 32 << 10

// fanIn is how many runs of one level are merged into one run of the next
// level: a Set holds at most fanIn-1 runs a level, and so about
// fanIn*log_fanIn(keys/buffer) runs, their read buffers and their open
// files, however many keys it holds; each key is rewritten once a level.
const fanIn = 16

// ErrOrder is returned by Cursor.Contains when keys are asked for out of
// ascending order.
var ErrOrder = errors.New("spill: keys asked for out of order")

// Set is a set of keys of one width. Add keys, then read them in order with
// Iter; Close removes the files. A Set is not safe for concurrent use.
type Set struct {
	dir   string
	width int
	max   int
	buf   []byte
	runs  []*os.File
	sizes []int64 // of runs
	// levels of runs: a run flushed from the buffer is level 0, the
	// merge of fanIn runs of level L level L+1. Levels never increase
	// along runs, so the runs of the lowest level are the last ones.
	levels  []int
	flushed int
	added   int64
	iter    bool
}

// New returns a Set of keys of width bytes that keeps up to buffer keys in
// memory (DefaultBuffer when buffer <= 0) and writes runs to temporary
// files in dir (os.TempDir() when empty).
func New(dir string, width, buffer int) *Set {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return &Set{dir: dir, width: width, max: buffer}
}

// Add adds a key of the Set's width.
func (s *Set) Add(k []byte) error {
	if len(k) != s.width {
		return fmt.Errorf("spill: key of %d bytes in a set of %d-byte keys", len(k), s.width)
	}
	if s.iter {
		return errors.New("spill: Add after Iter")
	}
	s.buf = append(s.buf, k...)
	s.added++
	if len(s.buf) >= s.max*s.width {
		return s.flush()
	}
	return nil
}

// Added returns how many keys were added, duplicates included.
func (s *Set) Added() int64 { return s.added }

// Runs returns how many runs were written from the buffer to disk so
// far, runs merged since included.
func (s *Set) Runs() int { return s.flushed }

// Files returns how many runs are on disk now: fewer than Runs once runs
// have been merged.
func (s *Set) Files() int { return len(s.runs) }

// sortBuf sorts the buffered keys and drops duplicates.
func (s *Set) sortBuf() {
	n := len(s.buf) / s.width
	keys := make([][]byte, n)
	for i := range n {
		keys[i] = s.buf[i*s.width : (i+1)*s.width]
	}
	slices.SortFunc(keys, bytes.Compare)
	keys = slices.CompactFunc(keys, bytes.Equal)
	out := make([]byte, 0, len(keys)*s.width)
	for _, k := range keys {
		out = append(out, k...)
	}
	s.buf = out
}

// flush writes the buffered keys, sorted, as a run.
func (s *Set) flush() error {
	s.sortBuf()
	f, err := os.CreateTemp(s.dir, "twincrypt-spill-*")
	if err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	s.runs = append(s.runs, f)
	s.sizes = append(s.sizes, int64(len(s.buf)))
	s.levels = append(s.levels, 0)
	s.flushed++
	if _, err := f.Write(s.buf); err != nil {
		return fmt.Errorf("spill: write run: %w", err)
	}
	s.buf = s.buf[:0]
	for n := len(s.runs); n >= fanIn && s.levels[n-fanIn] == s.levels[n-1]; n = len(s.runs) {
		if err := s.merge(n - fanIn); err != nil {
			return err
		}
	}
	return nil
}

// merge replaces the runs from index from on by one run that holds their
// keys, one level up.
func (s *Set) merge(from int) error {
	it := &Iter{width: s.width}
	for i := from; i < len(s.runs); i++ {
		it.add(bufio.NewReaderSize(io.NewSectionReader(s.runs[i], 0, s.sizes[i]), runBuffer))
	}
	if it.err != nil {
		return it.err
	}
	heap.Init(&it.h)
	f, err := os.CreateTemp(s.dir, "twincrypt-spill-*")
	if err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	w := bufio.NewWriterSize(f, runBuffer)
	var size int64
	for k, ok := it.Next(); ok; k, ok = it.Next() {
		w.Write(k)
		size += int64(len(k))
	}
	err = it.Err()
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("spill: merge runs: %w", err)
	}
	var errs []error
	for _, r := range s.runs[from:] {
		errs = append(errs, r.Close(), os.Remove(r.Name()))
	}
	level := s.levels[from] + 1
	s.runs = append(s.runs[:from], f)
	s.sizes = append(s.sizes[:from], size)
	s.levels = append(s.levels[:from], level)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("spill: merge runs: %w", err)
	}
	return nil
}

// Iter returns the keys in ascending byte order, each once. Once it has
// been called no key can be added; it may be called again for another
// pass over the keys, and iterators do not disturb each other.
func (s *Set) Iter() (*Iter, error) {
	if !s.iter {
		s.iter = true
		s.sortBuf()
	}
	it := &Iter{width: s.width}
	if len(s.buf) > 0 {
		it.add(bytes.NewReader(s.buf))
	}
	for i, f := range s.runs {
		it.add(bufio.NewReaderSize(io.NewSectionReader(f, 0, s.sizes[i]), runBuffer))
	}
	if it.err != nil {
		return nil, it.err
	}
	heap.Init(&it.h)
	return it, nil
}

// Close removes the Set's files.
func (s *Set) Close() error {
	var errs []error
	for _, f := range s.runs {
		errs = append(errs, f.Close(), os.Remove(f.Name()))
	}
	s.runs, s.sizes, s.levels, s.buf = nil, nil, nil, nil
	return errors.Join(errs...)
}

// Iter reads a Set's keys in ascending order.
type Iter struct {
	width int
	h     runHeap
	last  []byte
	err   error
}

// run is one sorted source of keys and its current key.
type run struct {
	r   io.Reader
	key []byte
}

func (it *Iter) add(r io.Reader) {
	rn := &run{r: r, key: make([]byte, it.width)}
	if ok, err := rn.next(); err != nil {
		it.err = err
	} else if ok {
		it.h = append(it.h, rn)
	}
}

func (r *run) next() (bool, error) {
	_, err := io.ReadFull(r.r, r.key)
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("spill: read run: %w", err)
	}
	return true, nil
}

// Next returns the next key, or false at the end or on an error (see
// Err). The key is valid until the following call.
func (it *Iter) Next() ([]byte, bool) {
	for it.err == nil && len(it.h) > 0 {
		top := it.h[0]
		if it.last == nil {
			it.last = make([]byte, 0, it.width)
		} else if bytes.Equal(top.key, it.last) {
			it.advance(top)
			continue
		}
		it.last = append(it.last[:0], top.key...)
		it.advance(top)
		return it.last, true
	}
	return nil, false
}

func (it *Iter) advance(top *run) {
	ok, err := top.next()
	if err != nil {
		it.err = err
		return
	}
	if ok {
		heap.Fix(&it.h, 0)
	} else {
		heap.Pop(&it.h)
	}
}

// Err returns the error that ended the iteration, if any.
func (it *Iter) Err() error { return it.err }

type runHeap []*run

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return bytes.Compare(h[i].key, h[j].key) < 0 }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(*run)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Cursor answers membership questions about a Set's keys asked in
// ascending order, as when walking a sorted listing beside it: each key of
// the Set is read once.
type Cursor struct {
	it   *Iter
	cur  []byte
	done bool
	prev []byte
}

// NewCursor returns a Cursor over the keys of it.
func NewCursor(it *Iter) *Cursor {
	c := &Cursor{it: it}
	c.step()
	return c
}

func (c *Cursor) step() {
	k, ok := c.it.Next()
	if !ok {
		c.done, c.cur = true, nil
		return
	}
	c.cur = k
}

// Contains says whether k is in the set. Each k must sort after the one
// asked for before; otherwise it returns ErrOrder.
func (c *Cursor) Contains(k []byte) (bool, error) {
	if c.prev != nil && bytes.Compare(k, c.prev) <= 0 {
		return false, fmt.Errorf("%w: %x after %x", ErrOrder, k, c.prev)
	}
	c.prev = append(c.prev[:0], k...)
	for !c.done && bytes.Compare(c.cur, k) < 0 {
		c.step()
	}
	if err := c.it.Err(); err != nil {
		return false, err
	}
	return !c.done && bytes.Equal(c.cur, k), nil
}
