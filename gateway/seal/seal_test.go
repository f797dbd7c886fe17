package seal

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

const C = ChunkSize

func TestRoundTrip(t *testing.T) {
	keys := newTestKeys()
	// F: the most the sealing reader's first buffer seals in place.
	const F = firstBufferSize - TagSize
	sizes := []int64{0, 1, 100, F - 1, F, F + 1, F + 2, C - 1, C, C + 1, 2*C - 1, 2 * C, 2*C + 1, 3*C + 5, 5<<20 + 3}
	for _, size := range sizes {
		plain := pattern(size)
		id := objID(byte(size))
		// Seal and Reader must produce identical blobs from identical randomness.
		blob := sealBlob(t, keys, id, 1, plain)
		s, err := NewSealer(keys, id, detRand(1))
		if err != nil {
			t.Fatal(err)
		}
		streamed, err := io.ReadAll(s.Reader(iotest.HalfReader(bytes.NewReader(plain))))
		if err != nil {
			t.Fatalf("size %d: sealing stream: %v", size, err)
		}
		if !bytes.Equal(streamed, blob) {
			t.Fatalf("size %d: streamed blob differs from Seal", size)
		}
		if got := int64(len(blob)); got != CiphertextSize(size) {
			t.Fatalf("size %d: blob is %d bytes, CiphertextSize says %d", size, got, CiphertextSize(size))
		}
		if got, err := PlaintextSize(int64(len(blob))); err != nil || got != size {
			t.Fatalf("size %d: PlaintextSize = %d, %v", size, got, err)
		}

		o := opener(t, keys, blob)
		got, err := o.Open([]byte("prefix"), blob)
		if err != nil || !bytes.Equal(got, append([]byte("prefix"), plain...)) {
			t.Fatalf("size %d: Open: err %v, plaintext mismatch %v", size, err, !bytes.Equal(got[min(6, len(got)):], plain))
		}
		got, err = openStream(o, blob, size, 0, -1)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("size %d: NewReader: %v (got %d bytes)", size, err, len(got))
		}
		// io.Copy takes the WriteTo path of both readers.
		s, err = NewSealer(keys, id, detRand(1))
		if err != nil {
			t.Fatal(err)
		}
		var sealed, opened bytes.Buffer
		if _, err := io.Copy(&sealed, s.Reader(bytes.NewReader(plain))); err != nil || !bytes.Equal(sealed.Bytes(), blob) {
			t.Fatalf("size %d: sealing WriteTo: %v", size, err)
		}
		if _, err := io.Copy(&opened, o.NewReader(bytes.NewReader(blob[HeaderSize:]), size, 0, -1)); err != nil || !bytes.Equal(opened.Bytes(), plain) {
			t.Fatalf("size %d: opening WriteTo: %v", size, err)
		}
	}
}

func TestSealReaderShortReads(t *testing.T) {
	keys := newTestKeys()
	plain := pattern(2*C + 17)
	want := sealBlob(t, keys, objID(3), 9, plain)
	s, err := NewSealer(keys, objID(3), detRand(9))
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(iotest.OneByteReader(s.Reader(iotest.DataErrReader(bytes.NewReader(plain)))))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("one-byte reads: err %v, equal %v", err, bytes.Equal(got, want))
	}
}

func TestSealReaderPropagatesReadError(t *testing.T) {
	errBoom := errors.New("boom")
	s, err := NewSealer(newTestKeys(), objID(1), detRand(1))
	if err != nil {
		t.Fatal(err)
	}
	src := io.MultiReader(bytes.NewReader(pattern(C+10)), iotest.ErrReader(errBoom))
	got, err := readAll(s.Reader(src))
	if !errors.Is(err, errBoom) || errors.Is(err, ErrIntegrity) {
		t.Fatalf("got %v, want %v", err, errBoom)
	}
	// The header and the first, complete chunk may be out; nothing more.
	if len(got) > HeaderSize+chunkCipherSize {
		t.Fatalf("sealed %d bytes past a failed read", len(got))
	}
}

func TestSealerSingleUse(t *testing.T) {
	s, err := NewSealer(newTestKeys(), objID(1), detRand(1))
	if err != nil {
		t.Fatal(err)
	}
	s.Seal(nil, []byte("a"))
	defer func() {
		if recover() == nil {
			t.Fatal("second use of a Sealer did not panic")
		}
	}()
	s.Reader(bytes.NewReader([]byte("b")))
}

func TestNewSealerErrors(t *testing.T) {
	tests := []struct {
		name string
		keys KeySource
		rand io.Reader
	}{
		{"no current key", &testKeys{current: 9, keys: map[uint32]*[32]byte{}}, detRand(1)},
		{"short rand for data key", newTestKeys(), bytes.NewReader(make([]byte, 10))},
		{"short rand for salt", newTestKeys(), bytes.NewReader(make([]byte, 40))},
		{"short rand for nonce", newTestKeys(), bytes.NewReader(make([]byte, 70))},
		{"rand error", newTestKeys(), iotest.ErrReader(errors.New("no entropy"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := NewSealer(tt.keys, objID(1), tt.rand); err == nil || s != nil {
				t.Fatalf("got %v, %v; want error", s, err)
			}
		})
	}
}

func TestSizeFormulas(t *testing.T) {
	tests := []struct{ plain, blob int64 }{
		{0, HeaderSize + 16},
		{1, HeaderSize + 17},
		{C - 1, HeaderSize + C - 1 + 16},
		{C, HeaderSize + C + 16},
		{C + 1, HeaderSize + C + 1 + 32},
		{2 * C, HeaderSize + 2*C + 32},
		{1 << 30, HeaderSize + 1<<30 + 16*(1<<14)},
	}
	for _, tt := range tests {
		if got := CiphertextSize(tt.plain); got != tt.blob {
			t.Errorf("CiphertextSize(%d) = %d, want %d", tt.plain, got, tt.blob)
		}
		if got, err := PlaintextSize(tt.blob); err != nil || got != tt.plain {
			t.Errorf("PlaintextSize(%d) = %d, %v; want %d", tt.blob, got, err, tt.plain)
		}
	}
	for _, bad := range []int64{-1, 0, HeaderSize, HeaderSize + 15, HeaderSize + C + 16 + 1, HeaderSize + C + 16 + 16, HeaderSize + 2*(C+16) + 5} {
		if got, err := PlaintextSize(bad); !errors.Is(err, ErrIntegrity) {
			t.Errorf("PlaintextSize(%d) = %d, %v; want ErrIntegrity", bad, got, err)
		}
	}
	for _, bad := range []int64{-1, 1<<63 - 1} {
		if got := CiphertextSize(bad); got != -1 {
			t.Errorf("CiphertextSize(%d) = %d, want -1", bad, got)
		}
	}
	// Exhaustively over the first blob sizes: PlaintextSize is the exact
	// inverse of CiphertextSize, and every plaintext size has a blob size.
	valid := 0
	for b := int64(0); b < HeaderSize+4*(C+16); b++ {
		p, err := PlaintextSize(b)
		if err != nil {
			continue
		}
		valid++
		if CiphertextSize(p) != b {
			t.Fatalf("CiphertextSize(PlaintextSize(%d)) = %d", b, CiphertextSize(p))
		}
	}
	if want := 4 * C; valid != want { // plaintext sizes 0..4C-1
		t.Fatalf("%d valid blob sizes, want %d", valid, want)
	}
}

func TestRanges(t *testing.T) {
	keys := newTestKeys()
	for _, size := range []int64{0, 1, C, 2 * C, 3*C + 100} {
		plain := pattern(size)
		blob := sealBlob(t, keys, objID(7), 2, plain)
		o := opener(t, keys, blob)
		points := []int64{0, 1, C - 1, C, C + 1, 2*C - 1, 2 * C, 2*C + 1, size - 1, size}
		lengths := []int64{-1, 0, 1, 2, C - 1, C, C + 1, 2 * C, size, size + 5}
		for _, off := range points {
			if off < 0 || off > size {
				continue
			}
			for _, length := range lengths {
				end := size
				if length >= 0 {
					end = min(off+length, size)
				}
				bo, bl := o.Window(size, off, length)
				// Independent computation of the chunks needed.
				n := max(1, (size+C-1)/C)
				first := min(off/C, n-1)
				last := first
				if end > off {
					last = (end - 1) / C
				}
				wantOff := HeaderSize + first*(C+16)
				wantEnd := HeaderSize + (last+1)*(C+16)
				if last == n-1 {
					wantEnd = int64(len(blob))
				}
				if bo != wantOff || bo+bl != wantEnd {
					t.Fatalf("size %d Window(%d, %d) = [%d, %d), want [%d, %d)", size, off, length, bo, bo+bl, wantOff, wantEnd)
				}
				// The source holds exactly the window: reading outside it fails.
				got, err := readAll(o.NewReader(bytes.NewReader(blob[bo:bo+bl]), size, off, length))
				if err != nil || !bytes.Equal(got, plain[off:end]) {
					t.Fatalf("size %d range (%d, %d): err %v, got %d bytes, want %d", size, off, length, err, len(got), end-off)
				}
			}
		}
	}
}

func TestInvalidRanges(t *testing.T) {
	keys := newTestKeys()
	blob := sealBlob(t, keys, objID(7), 2, pattern(10))
	o := opener(t, keys, blob)
	for _, tt := range []struct{ size, off, length int64 }{
		{-1, 0, -1}, {10, -1, 1}, {10, 11, -1}, {10, 0, -2}, {1<<63 - 1, 0, -1},
	} {
		if _, _, err := BlobWindow(tt.size, tt.off, tt.length); !errors.Is(err, ErrRange) {
			t.Errorf("BlobWindow%v: %v, want ErrRange", tt, err)
		}
		if bo, bl := o.Window(tt.size, tt.off, tt.length); bo != 0 || bl != 0 {
			t.Errorf("Window%v = %d, %d; want 0, 0", tt, bo, bl)
		}
		if _, err := readAll(o.NewReader(bytes.NewReader(blob), tt.size, tt.off, tt.length)); !errors.Is(err, ErrRange) {
			t.Errorf("NewReader%v: %v, want ErrRange", tt, err)
		}
	}
}

func TestReadErrorIsNotIntegrity(t *testing.T) {
	keys := newTestKeys()
	blob := sealBlob(t, keys, objID(7), 2, pattern(3*C))
	o := opener(t, keys, blob)
	errNet := errors.New("connection reset")
	src := io.MultiReader(bytes.NewReader(blob[HeaderSize:HeaderSize+C+16+100]), iotest.ErrReader(errNet))
	got, err := readAll(o.NewReader(src, 3*C, 0, -1))
	if !errors.Is(err, errNet) || errors.Is(err, ErrIntegrity) {
		t.Fatalf("got %v, want the source's error", err)
	}
	var ce *ChunkError
	if !errors.As(err, &ce) || ce.Index != 1 || ce.Offset != HeaderSize+C+16 {
		t.Fatalf("got %v, want a ChunkError for chunk 1", err)
	}
	if !bytes.Equal(got, pattern(C)) {
		t.Fatalf("released %d bytes, want exactly the first chunk", len(got))
	}
}

func TestRewrap(t *testing.T) {
	keys := newTestKeys()
	plain := pattern(C + 3)
	blob := sealBlob(t, keys, objID(5), 4, plain)
	h, err := ParseHeader(blob)
	if err != nil {
		t.Fatal(err)
	}
	nh, err := h.Rewrap(keys, 2)
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if nh.KeyID != 2 || nh.WrappedKey == h.WrappedKey {
		t.Fatalf("key slot not replaced: id %d", nh.KeyID)
	}
	if !bytes.Equal(nh.Marshal()[:slotOffset], blob[:slotOffset]) {
		t.Fatal("rewrap changed the header outside the key slot")
	}
	// Retire KEK 1: the rewrapped header still opens the untouched blob.
	delete(keys.keys, 1)
	if _, err := h.Open(keys); !errors.Is(err, ErrIntegrity) || !errors.Is(err, errUnknownKey) {
		t.Fatalf("old header with retired KEK: %v", err)
	}
	o, err := nh.Open(keys)
	if err != nil {
		t.Fatal(err)
	}
	got, err := o.Open(nil, blob)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open after rewrap: %v", err)
	}
	if _, err := nh.Rewrap(keys, 99); err == nil || !errors.Is(err, errUnknownKey) {
		t.Fatalf("Rewrap to unknown KEK: %v", err)
	}
	// A key slot moved from one KEK id to another does not unwrap.
	moved := *nh
	moved.KeyID = 1
	keys.keys[1] = keys.keys[2]
	if _, err := moved.Open(keys); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("key slot under another id: %v", err)
	}
}

func TestOpenWithDataKey(t *testing.T) {
	keys := newTestKeys()
	plain := pattern(300)
	blob := sealBlob(t, keys, objID(5), 4, plain)
	o := opener(t, keys, blob)
	h, _ := ParseHeader(blob)
	o2, err := h.OpenWithDataKey(o.DataKey())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := o2.Open(nil, blob); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open with data key: %v", err)
	}
	wrong := o.DataKey()
	wrong[0] ^= 1
	if _, err := h.OpenWithDataKey(wrong); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("wrong data key: %v", err)
	}
}

func TestParseHeader(t *testing.T) {
	keys := newTestKeys()
	blob := sealBlob(t, keys, objID(5), 4, pattern(3))
	h, err := ParseHeader(blob)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Marshal(), blob[:HeaderSize]) {
		t.Fatal("Marshal does not reproduce the header")
	}
	if b, _ := h.AppendBinary([]byte{1}); !bytes.Equal(b[1:], blob[:HeaderSize]) {
		t.Fatal("AppendBinary does not reproduce the header")
	}
	if h.KeyID != 1 || h.ObjectID != objID(5) || h.ChunkSize != C || h.Version != Version || h.Suite != SuiteAES256GCM {
		t.Fatalf("unexpected fields %+v", h)
	}
	mut := func(i int, v byte) []byte {
		b := bytes.Clone(blob[:HeaderSize])
		b[i] = v
		return b
	}
	tests := []struct {
		name        string
		in          []byte
		unsupported bool
	}{
		{"empty", nil, false},
		{"short", blob[:HeaderSize-1], false},
		{"magic", mut(0, 'x'), false},
		{"version", mut(offVersion, 2), true},
		{"suite", mut(offSuite, 0), true},
		{"chunk size", mut(offChunkSize+3, 1), true},
	}
	for _, tt := range tests {
		_, err := ParseHeader(tt.in)
		if !errors.Is(err, ErrIntegrity) || errors.Is(err, ErrUnsupported) != tt.unsupported {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}
