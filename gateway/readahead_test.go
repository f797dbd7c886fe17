package gateway

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
)

func TestReadAhead(t *testing.T) {
	data := make([]byte, 3*readAheadDepth*readAheadBlock+5)
	for i := range data {
		data[i] = byte(i * 7)
	}
	sizes := []int{0, 1, readAheadBlock - 1, readAheadBlock, readAheadBlock + 1, readAheadDepth * readAheadBlock, len(data)}
	for _, size := range sizes {
		for _, tc := range []struct {
			name string
			src  func(io.Reader) io.Reader
			read func(io.Reader) io.Reader
		}{
			{"whole", func(r io.Reader) io.Reader { return r }, func(r io.Reader) io.Reader { return r }},
			{"half reads of the source", iotest.HalfReader, func(r io.Reader) io.Reader { return r }},
			{"one-byte reads of the source", iotest.OneByteReader, func(r io.Reader) io.Reader { return r }},
			{"odd reads of readAhead", func(r io.Reader) io.Reader { return r }, iotest.HalfReader},
		} {
			ra := newReadAhead(tc.src(bytes.NewReader(data[:size])))
			got, err := io.ReadAll(tc.read(ra))
			ra.Close()
			if err != nil || !bytes.Equal(got, data[:size]) {
				t.Errorf("%d bytes, %s: read %d, %v", size, tc.name, len(got), err)
			}
		}
	}
	if err := iotest.TestReader(newReadAhead(bytes.NewReader(data)), data); err != nil {
		t.Errorf("iotest.TestReader: %v", err)
	}
}

// TestReadAheadError checks that a failing source's error comes after all
// it returned before it, and keeps coming.
func TestReadAheadError(t *testing.T) {
	boom := errors.New("bad digest")
	good := bytes.Repeat([]byte{1}, 2*readAheadBlock+10)
	ra := newReadAhead(io.MultiReader(bytes.NewReader(good), iotest.ErrReader(boom)))
	defer ra.Close()
	got, err := io.ReadAll(ra)
	if !errors.Is(err, boom) || !bytes.Equal(got, good) {
		t.Fatalf("read %d bytes, %v; want the %d good bytes, then %v", len(got), err, len(good), boom)
	}
	if n, err := ra.Read(make([]byte, 1)); n != 0 || !errors.Is(err, boom) {
		t.Errorf("read after the error: %d, %v", n, err)
	}
}

// endless is a source that never ends and counts the reads made after
// closed is set.
type endless struct {
	closed atomic.Bool
	late   atomic.Int32
}

func (e *endless) Read(p []byte) (int, error) {
	if e.closed.Load() {
		e.late.Add(1)
	}
	return len(p), nil
}

// TestReadAheadClose checks that Close stops the goroutine: no read of the
// source after Close returns, and a Read after Close fails.
func TestReadAheadClose(t *testing.T) {
	src := &endless{}
	ra := newReadAhead(src)
	if _, err := io.ReadFull(ra, make([]byte, readAheadBlock+1)); err != nil {
		t.Fatal(err)
	}
	ra.Close()
	src.closed.Store(true)
	ra.Close() // a second Close is harmless
	if n, err := ra.Read(make([]byte, 10)); n != 0 || err == nil {
		t.Errorf("Read after Close: %d, %v", n, err)
	}
	if late := src.late.Load(); late != 0 {
		t.Errorf("%d reads of the source after Close returned", late)
	}
}

// panicky returns some bytes, then panics, as a buggy body reader might.
type panicky struct{ n int }

func (p *panicky) Read(b []byte) (int, error) {
	if p.n > 0 {
		n := min(len(b), p.n)
		p.n -= n
		return n, nil
	}
	panic("index out of range")
}

// TestReadAheadPanic checks that a panicking source becomes an error of the
// reader, after the blocks it filled, instead of ending the process.
func TestReadAheadPanic(t *testing.T) {
	ra := newReadAhead(&panicky{n: readAheadBlock + 7})
	defer ra.Close()
	got, err := io.ReadAll(ra)
	if err == nil || !strings.Contains(err.Error(), "panic: index out of range") {
		t.Fatalf("err %v, want the panic as an error", err)
	}
	if len(got) != readAheadBlock {
		t.Errorf("read %d bytes before the error, want the %d of the full block", len(got), readAheadBlock)
	}
}
