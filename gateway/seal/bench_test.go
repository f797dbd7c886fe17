package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"io"
	"testing"
	"time"
)

const benchStream = 1 << 30 // 1 GiB

// cpuMeter reports throughput per second of process CPU time as the metric
// "MB/cpu-s", which is steadier than wall-clock MB/s on a shared machine.
type cpuMeter struct {
	b     *testing.B
	bytes int64
	start time.Duration
}

func meterCPU(b *testing.B, bytesPerOp int64) *cpuMeter {
	b.SetBytes(bytesPerOp)
	b.ReportAllocs()
	return &cpuMeter{b: b, bytes: bytesPerOp, start: processCPU()}
}

func (m *cpuMeter) stop() {
	if cpu := processCPU() - m.start; cpu > 0 {
		m.b.ReportMetric(float64(m.bytes)*float64(m.b.N)/cpu.Seconds()/1e6, "MB/cpu-s")
	}
}

// BenchmarkRawGCM is the ceiling: AES-256-GCM over one 64 KiB chunk, in
// place, with no framing.
func BenchmarkRawGCM(b *testing.B) {
	blk, _ := aes.NewCipher(make([]byte, 32))
	g, _ := cipher.NewGCM(blk)
	buf := make([]byte, C+16)
	nonce := make([]byte, 12)
	ad := make([]byte, 16)
	b.Run("seal", func(b *testing.B) {
		m := meterCPU(b, C)
		for b.Loop() {
			g.Seal(buf[:0], nonce, buf[:C], ad)
		}
		m.stop()
	})
	sealed := g.Seal(nil, nonce, make([]byte, C), ad)
	b.Run("open", func(b *testing.B) {
		m := meterCPU(b, C)
		for b.Loop() {
			if _, err := g.Open(buf[:0], nonce, sealed, ad); err != nil {
				b.Fatal(err)
			}
		}
		m.stop()
	})
}

// BenchmarkSealStream encrypts a 1 GiB stream through Sealer.Reader.
func BenchmarkSealStream(b *testing.B) {
	keys := newTestKeys()
	src := pattern(C + 7)
	m := meterCPU(b, benchStream)
	defer m.stop()
	for b.Loop() {
		s, err := NewSealer(keys, objID(1), detRand(1))
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, s.Reader(io.LimitReader(&repeatReader{b: src}, benchStream)))
		if err != nil || n != CiphertextSize(benchStream) {
			b.Fatalf("%d bytes, %v", n, err)
		}
	}
}

// BenchmarkOpenStream decrypts a blob held in memory through
// Opener.NewReader. A 1 GiB blob would need 1 GiB of memory and the rate
// per byte does not depend on the stream length, so it uses a 64 MiB blob
// (larger than the caches: the source read runs at memory speed) and a
// 4 MiB one (mostly cache-resident: the cost of the streaming layer itself).
// BenchmarkRoundTripStream covers a true 1 GiB stream.
func BenchmarkOpenStream(b *testing.B) {
	for _, size := range []int64{64 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("blob=%dMiB", size>>20), func(b *testing.B) {
			keys := newTestKeys()
			blob := sealBlob(b, keys, objID(1), 1, pattern(size))
			o := opener(b, keys, blob)
			m := meterCPU(b, size)
			defer m.stop()
			for b.Loop() {
				n, err := io.Copy(io.Discard, o.NewReader(bytes.NewReader(blob[HeaderSize:]), size, 0, -1))
				if err != nil || n != size {
					b.Fatalf("%d bytes, %v", n, err)
				}
			}
		})
	}
}

// BenchmarkRoundTripStream pipes a 1 GiB stream through Sealer.Reader into
// Opener.NewReader without holding it in memory. SetBytes counts the
// plaintext once; the work is one encryption and one decryption per byte.
func BenchmarkRoundTripStream(b *testing.B) {
	keys := newTestKeys()
	src := pattern(C + 7)
	m := meterCPU(b, benchStream)
	defer m.stop()
	for b.Loop() {
		s, err := NewSealer(keys, objID(1), detRand(1))
		if err != nil {
			b.Fatal(err)
		}
		blob := s.Reader(io.LimitReader(&repeatReader{b: src}, benchStream))
		hb := make([]byte, HeaderSize)
		if _, err := io.ReadFull(blob, hb); err != nil {
			b.Fatal(err)
		}
		h, err := ParseHeader(hb)
		if err != nil {
			b.Fatal(err)
		}
		o, err := h.Open(keys)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, o.NewReader(blob, benchStream, 0, -1))
		if err != nil || n != benchStream {
			b.Fatalf("%d bytes, %v", n, err)
		}
	}
}
