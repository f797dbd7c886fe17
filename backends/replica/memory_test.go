package replica

import (
	"context"
	"io"
	"runtime"
	"testing"
)

// patternSource yields size bytes without allocating, sampling the heap
// every sampleEvery bytes.
type patternSource struct {
	left, sampleEvery, sinceSample int64
	peak                           uint64
	block                          [4096]byte
}

func (p *patternSource) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := int64(len(b))
	if n > p.left {
		n = p.left
	}
	for off := int64(0); off < n; {
		off += int64(copy(b[off:n], p.block[:]))
	}
	p.left -= n
	p.sinceSample += n
	if p.sinceSample >= p.sampleEvery {
		p.sinceSample = 0
		p.sample()
	}
	return int(n), nil
}

func (p *patternSource) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.peak = max(p.peak, ms.HeapInuse)
}

// TestPutMemoryBounded writes 2 GiB (512 MiB under -race) through the set to two discarding
// members and checks that the heap stays flat: the tee holds one buffer,
// never the object.
func TestPutMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 2 GiB")
	}
	size := int64(2 << 30)
	if raceEnabled {
		size = 512 << 20 // the race detector makes 2 GiB take minutes
	}
	d1, d2 := &discard{name: "d1"}, &discard{name: "d2"}
	s, err := New([]Member{{Backend: d1, Jurisdiction: "DE"}, {Backend: d2, Jurisdiction: "CH"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	src := &patternSource{left: size, sampleEvery: 64 << 20}
	if err := s.Put(context.Background(), "b/big", src, size); err != nil {
		t.Fatalf("Put: %v", err)
	}
	src.sample()
	if d1.n != size || d2.n != size {
		t.Fatalf("members received %d and %d bytes, want %d", d1.n, d2.n, size)
	}
	growth := int64(src.peak) - int64(base.HeapInuse)
	t.Logf("HeapInuse: base %.1f MiB, peak %.1f MiB, growth %.1f MiB over a %d MiB write",
		float64(base.HeapInuse)/(1<<20), float64(src.peak)/(1<<20), float64(growth)/(1<<20), size>>20)
	if growth > 16<<20 {
		t.Errorf("heap grew by %d bytes while writing %d bytes; the tee must not buffer the object", growth, size)
	}
}
