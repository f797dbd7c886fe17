package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// openEverything runs the whole read path on a possibly tampered blob: the
// header is parsed and opened, then the payload is read both in memory
// (size from the blob length) and streaming (size as the catalog recorded
// it). It returns the in-memory error, the streaming error, and the bytes
// the streaming reader released before failing.
func openEverything(keys KeySource, blob []byte, size int64) (memErr, streamErr error, released []byte) {
	h, err := ParseHeader(blob)
	if err != nil {
		return err, err, nil
	}
	o, err := h.Open(keys)
	if err != nil {
		return err, err, nil
	}
	if out, err := o.Open(nil, blob); err != nil {
		memErr = err
	} else {
		memErr = fmt.Errorf("no error, %d bytes", len(out))
	}
	released, streamErr = openStream(o, blob, size, 0, -1)
	return memErr, streamErr, released
}

// checkTamper asserts that a tampered blob fails both ways with
// ErrIntegrity, and that the streaming reader released at most the
// plaintext of chunks before chunk firstBad, and only correct bytes.
func checkTamper(t *testing.T, name string, keys KeySource, blob, plain []byte, firstBad int64) {
	t.Helper()
	memErr, streamErr, released := openEverything(keys, blob, int64(len(plain)))
	if !errors.Is(memErr, ErrIntegrity) {
		t.Errorf("%s: in-memory Open: %v, want ErrIntegrity", name, memErr)
	}
	if !errors.Is(streamErr, ErrIntegrity) {
		t.Errorf("%s: streaming: %v, want ErrIntegrity", name, streamErr)
	}
	if limit := firstBad * C; int64(len(released)) > limit {
		t.Errorf("%s: released %d bytes, but chunk %d (from byte %d) is bad", name, len(released), firstBad, limit)
	}
	if !bytes.HasPrefix(plain, released) {
		t.Errorf("%s: released bytes are not the plaintext", name)
	}
	// The same through WriteTo, as io.Copy uses it.
	if h, err := ParseHeader(blob); err == nil {
		if o, err := h.Open(keys); err == nil {
			size := int64(len(plain))
			bo, bl := o.Window(size, 0, -1)
			end := min(bo+bl, int64(len(blob)))
			var w bytes.Buffer
			_, err := io.Copy(&w, o.NewReader(bytes.NewReader(blob[min(bo, end):end]), size, 0, -1))
			if !errors.Is(err, ErrIntegrity) || int64(w.Len()) > firstBad*C || !bytes.HasPrefix(plain, w.Bytes()) {
				t.Errorf("%s: WriteTo: %v after %d bytes", name, err, w.Len())
			}
		}
	}
}

func TestTamperStructural(t *testing.T) {
	keys := newTestKeys()
	plain := pattern(3*C + 100)
	blob := sealBlob(t, keys, objID(1), 1, plain)
	other := sealBlob(t, keys, objID(2), 2, pattern(3*C+100)) // same size, other object
	chunk := func(b []byte, i int) []byte {
		s := HeaderSize + i*(C+16)
		return b[s:min(s+C+16, len(b))]
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	// Truncation at every chunk boundary, inside chunks, and to the bare header.
	for k := 0; k <= 3; k++ {
		end := HeaderSize + k*(C+16)
		checkTamper(t, fmt.Sprintf("truncated to %d chunks", k), keys, blob[:end], plain, int64(k))
		checkTamper(t, fmt.Sprintf("truncated inside chunk %d", k), keys, blob[:end+17], plain, int64(k))
	}
	checkTamper(t, "last byte cut", keys, blob[:len(blob)-1], plain, 3)

	tests := []struct {
		name     string
		blob     []byte
		firstBad int64
	}{
		{"chunks 0 and 1 swapped", cat(blob[:HeaderSize], chunk(blob, 1), chunk(blob, 0), chunk(blob, 2), chunk(blob, 3)), 0},
		{"chunks 1 and 2 swapped", cat(blob[:HeaderSize], chunk(blob, 0), chunk(blob, 2), chunk(blob, 1), chunk(blob, 3)), 1},
		{"chunk 2 duplicated over 3", cat(blob[:HeaderSize+3*(C+16)], chunk(blob, 2)[:100+16]), 3},
		{"header of another object", cat(other[:HeaderSize], blob[HeaderSize:]), 0},
		{"chunk from another object", cat(blob[:HeaderSize], chunk(blob, 0), chunk(other, 1), chunk(blob, 2), chunk(blob, 3)), 1},
		{"final chunk from another object", cat(blob[:HeaderSize+3*(C+16)], chunk(other, 3)), 3},
	}
	for _, tt := range tests {
		checkTamper(t, tt.name, keys, tt.blob, plain, tt.firstBad)
	}
}

func TestTamperAppend(t *testing.T) {
	keys := newTestKeys()
	for _, size := range []int64{0, 100, C, 2 * C} {
		plain := pattern(size)
		blob := sealBlob(t, keys, objID(1), 1, plain)
		o := opener(t, keys, blob)
		other := sealBlob(t, keys, objID(1), 1, pattern(size+C))
		tests := map[string][]byte{
			"appended full chunk":         append(bytes.Clone(blob), other[HeaderSize:HeaderSize+C+16]...),
			"appended empty final chunk":  append(bytes.Clone(blob), make([]byte, 16)...),
			"appended final chunk":        append(bytes.Clone(blob), other[len(other)-int(size%C)-16:]...),
			"appended copy of last chunk": append(bytes.Clone(blob), blob[max(HeaderSize, len(blob)-C-16):]...),
		}
		for name, b := range tests {
			if _, err := o.Open(nil, b); !errors.Is(err, ErrIntegrity) {
				t.Errorf("size %d, %s: %v, want ErrIntegrity", size, name, err)
			}
			// Streaming with a size that matches the longer blob.
			if ps, err := PlaintextSize(int64(len(b))); err == nil {
				got, err := openStream(o, b, ps, 0, -1)
				if !errors.Is(err, ErrIntegrity) {
					t.Errorf("size %d, %s, streaming: %v", size, name, err)
				}
				// The original final chunk now fails as a non-final chunk.
				if int64(len(got)) > (numChunks(size)-1)*C || !bytes.HasPrefix(plain, got) {
					t.Errorf("size %d, %s: released %d bytes", size, name, len(got))
				}
			}
		}
	}
}

// TestTamperEveryByte flips every byte of a small blob, one at a time, in
// several ways.
func TestTamperEveryByte(t *testing.T) {
	keys := newTestKeys()
	plain := pattern(100)
	blob := sealBlob(t, keys, objID(1), 1, plain)
	for i := range blob {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(blob)
			b[i] ^= mask
			checkTamper(t, fmt.Sprintf("byte %d ^ %#x", i, mask), keys, b, plain, 0)
		}
	}
}

// TestTamperSampledBytes flips a sample of bytes in a 3-chunk blob: every
// header byte, the first and last bytes of every chunk, and a stride.
func TestTamperSampledBytes(t *testing.T) {
	keys := newTestKeys()
	plain := pattern(2*C + 1000)
	blob := sealBlob(t, keys, objID(1), 1, plain)
	var idx []int
	for i := range HeaderSize {
		idx = append(idx, i)
	}
	for k := 0; k < 3; k++ {
		s := HeaderSize + k*(C+16)
		idx = append(idx, s, s+1, min(s+C+15, len(blob)-1), min(s+C, len(blob)-17))
	}
	for i := HeaderSize; i < len(blob); i += 4999 {
		idx = append(idx, i)
	}
	for _, i := range idx {
		b := bytes.Clone(blob)
		b[i] ^= 0x04
		firstBad := int64(0)
		if i >= HeaderSize {
			firstBad = int64(i-HeaderSize) / (C + 16)
		}
		checkTamper(t, fmt.Sprintf("byte %d", i), keys, b, plain, firstBad)
	}
}

func TestWrongKeys(t *testing.T) {
	keys := newTestKeys()
	plain := pattern(100)
	blob := sealBlob(t, keys, objID(1), 1, plain)

	wrongKey := &testKeys{current: 1, keys: map[uint32]*[32]byte{1: fill(0x11)}}
	if _, err := mustHeader(t, blob).Open(wrongKey); !errors.Is(err, ErrIntegrity) {
		t.Errorf("wrong KEK: %v", err)
	}
	noKey := &testKeys{current: 2, keys: map[uint32]*[32]byte{2: fill(0x50)}}
	_, err := mustHeader(t, blob).Open(noKey)
	if !errors.Is(err, ErrIntegrity) || !errors.Is(err, errUnknownKey) {
		t.Errorf("unknown key id: %v, want ErrIntegrity and the key source's error", err)
	}
	h := mustHeader(t, blob)
	h.KeyID = 2
	if _, err := h.Open(keys); !errors.Is(err, ErrIntegrity) || errors.Is(err, errUnknownKey) {
		t.Errorf("key id changed to another known id: %v", err)
	}
	nilKey := &testKeys{current: 1, keys: map[uint32]*[32]byte{1: nil}}
	if _, err := mustHeader(t, blob).Open(nilKey); !errors.Is(err, ErrIntegrity) {
		t.Errorf("nil key: %v", err)
	}
	// A header whose key slot was copied from another object's header.
	other := mustHeader(t, sealBlob(t, keys, objID(2), 2, plain))
	h = mustHeader(t, blob)
	h.WrappedKey = other.WrappedKey
	if _, err := h.Open(keys); !errors.Is(err, ErrIntegrity) {
		t.Errorf("key slot of another object: %v", err)
	}
}

func mustHeader(t *testing.T, blob []byte) *Header {
	t.Helper()
	h, err := ParseHeader(blob)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// replicas is a ciphertext source with a primary and a secondary copy of
// the same blob window. Refetch switches to the secondary.
type replicas struct {
	copies    [][]byte // blob copies
	cur       int
	pos       int64 // blob offset of the next byte
	refetches []int64
	failWith  error
}

func (r *replicas) Read(p []byte) (int, error) {
	b := r.copies[r.cur]
	if r.pos >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[r.pos:])
	r.pos += int64(n)
	return n, nil
}

func (r *replicas) Refetch(off int64) error {
	r.refetches = append(r.refetches, off)
	if r.failWith != nil {
		return r.failWith
	}
	if r.cur+1 >= len(r.copies) {
		return errors.New("no more replicas")
	}
	r.cur++
	r.pos = off
	return nil
}

func TestRefetch(t *testing.T) {
	keys := newTestKeys()
	plain := pattern(3*C + 100)
	good := sealBlob(t, keys, objID(1), 1, plain)
	o := opener(t, keys, good)
	bad := bytes.Clone(good)
	bad[HeaderSize+2*(C+16)+500] ^= 1 // chunk 2
	cut := good[:HeaderSize+C+16+10]  // chunk 1 truncated
	errDown := errors.New("replica down")
	chunk2 := int64(HeaderSize + 2*(C+16))

	tests := []struct {
		name      string
		copies    [][]byte
		failWith  error
		off, n    int64
		wantErr   error
		refetches []int64
	}{
		{"corrupt primary, good secondary", [][]byte{bad, good}, nil, 0, -1, nil, []int64{chunk2}},
		{"truncated primary, good secondary", [][]byte{cut, good}, nil, 0, -1, nil, []int64{HeaderSize + C + 16}},
		{"range from chunk 1", [][]byte{bad, good}, nil, C + 5, -1, nil, []int64{chunk2}},
		{"range before the bad chunk", [][]byte{bad}, nil, 0, 2 * C, nil, nil},
		{"both copies corrupt", [][]byte{bad, bad}, nil, 0, -1, ErrIntegrity, []int64{chunk2}},
		{"refetch fails", [][]byte{bad, good}, errDown, 0, -1, errDown, []int64{chunk2}},
		{"single replica", [][]byte{bad}, nil, 0, -1, ErrIntegrity, []int64{chunk2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bo, _ := o.Window(int64(len(plain)), tt.off, tt.n)
			src := &replicas{copies: tt.copies, pos: bo, failWith: tt.failWith}
			got, err := readAll(o.NewReader(src, int64(len(plain)), tt.off, tt.n))
			end := int64(len(plain))
			if tt.n >= 0 {
				end = tt.off + tt.n
			}
			if tt.wantErr == nil {
				if err != nil || !bytes.Equal(got, plain[tt.off:end]) {
					t.Fatalf("err %v, %d bytes", err, len(got))
				}
			} else {
				if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrIntegrity) {
					t.Fatalf("err %v, want %v and ErrIntegrity", err, tt.wantErr)
				}
				if !bytes.Equal(got, plain[tt.off:2*C]) {
					t.Fatalf("released %d bytes, want exactly the chunks before the bad one", len(got))
				}
			}
			var ce *ChunkError
			if tt.wantErr != nil && (!errors.As(err, &ce) || ce.Index != 2 || ce.Offset != chunk2) {
				t.Fatalf("err %v, want a ChunkError for chunk 2 at %d", err, chunk2)
			}
			if fmt.Sprint(src.refetches) != fmt.Sprint(tt.refetches) {
				t.Fatalf("refetches at %v, want %v", src.refetches, tt.refetches)
			}
		})
	}
}

// TestOpenChecksBlobHeader opens blobs with an Opener made from a genuine
// header (as from a meta record): the blob's own header must match it
// everywhere except in the key slot, which a rewrap may have replaced.
func TestOpenChecksBlobHeader(t *testing.T) {
	keys := newTestKeys()
	plain := pattern(100)
	blob := sealBlob(t, keys, objID(1), 1, plain)
	o := opener(t, keys, blob)
	for i := range HeaderSize {
		b := bytes.Clone(blob)
		b[i] ^= 0x20
		_, err := o.Open(nil, b)
		if i < slotOffset && !errors.Is(err, ErrIntegrity) {
			t.Errorf("header byte %d flipped: %v, want ErrIntegrity", i, err)
		}
		if i >= slotOffset && err != nil {
			t.Errorf("key slot byte %d flipped: %v, want success", i, err)
		}
	}
}
