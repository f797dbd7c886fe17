package seal

import (
	"bytes"
	"io"
	"testing"
)

// repeatReader yields the same buffer forever without allocating.
type repeatReader struct {
	b   []byte
	pos int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.b[r.pos:])
		n += c
		r.pos = (r.pos + c) % len(r.b)
	}
	return n, nil
}

// TestSteadyStateAllocs asserts that streaming in either direction
// allocates nothing per chunk once the reader exists.
func TestSteadyStateAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation may allocate")
	}
	keys := newTestKeys()
	chunk := make([]byte, C)

	t.Run("seal", func(t *testing.T) {
		s, err := NewSealer(keys, objID(1), detRand(1))
		if err != nil {
			t.Fatal(err)
		}
		r := s.Reader(&repeatReader{b: pattern(C + 7)})
		out := make([]byte, C+16)
		io.ReadFull(r, out[:HeaderSize]) // warm up: header
		allocs := testing.AllocsPerRun(50, func() {
			if _, err := io.ReadFull(r, out); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Fatalf("%v allocations per chunk, want 0", allocs)
		}
	})

	t.Run("open", func(t *testing.T) {
		const chunks = 60
		size := int64(chunks * C)
		blob := sealBlob(t, keys, objID(2), 2, pattern(size))
		o := opener(t, keys, blob)
		r := o.NewReader(bytes.NewReader(blob[HeaderSize:]), size, 0, -1)
		io.ReadFull(r, chunk) // warm up
		allocs := testing.AllocsPerRun(chunks-10, func() {
			if _, err := io.ReadFull(r, chunk); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Fatalf("%v allocations per chunk, want 0", allocs)
		}
	})
}
