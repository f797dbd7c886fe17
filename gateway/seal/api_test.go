package seal

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestHeaderAccessors(t *testing.T) {
	keys := newTestKeys()
	s, err := NewSealer(keys, objID(4), detRand(4))
	if err != nil {
		t.Fatal(err)
	}
	blob := s.Seal(nil, pattern(10))
	if !bytes.Equal(s.Header().Marshal(), blob[:HeaderSize]) {
		t.Fatal("Sealer.Header differs from the blob header")
	}
	o := opener(t, keys, blob)
	if *o.Header() != *s.Header() {
		t.Fatal("Opener.Header differs from Sealer.Header")
	}
}

func TestOpenWithDataKeyUnsupported(t *testing.T) {
	keys := newTestKeys()
	blob := sealBlob(t, keys, objID(4), 4, pattern(10))
	o := opener(t, keys, blob)
	h := mustHeader(t, blob)
	h.Version = 2
	if _, err := h.OpenWithDataKey(o.DataKey()); !errors.Is(err, ErrUnsupported) || !errors.Is(err, ErrIntegrity) {
		t.Fatalf("version 2: %v", err)
	}
	h = mustHeader(t, blob)
	wrong := &testKeys{current: 1, keys: map[uint32]*[32]byte{1: fill(0x99), 2: fill(0x50)}}
	if _, err := h.Rewrap(wrong, 2); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("Rewrap with the wrong old KEK: %v", err)
	}
}

func TestChunkErrorMessage(t *testing.T) {
	keys := newTestKeys()
	blob := sealBlob(t, keys, objID(4), 4, pattern(2*C))
	o := opener(t, keys, blob)
	bad := bytes.Clone(blob)
	bad[len(bad)-1] ^= 1
	_, err := openStream(o, bad, 2*C, 0, -1)
	want := "seal: chunk 1 at blob offset 65706: seal: integrity check failed: chunk failed authentication"
	if err == nil || err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}
}

// failWriter accepts n bytes, then fails.
type failWriter struct{ n int }

var errWrite = errors.New("write failed")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errWrite
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriteToWriterError(t *testing.T) {
	keys := newTestKeys()
	plain := pattern(3 * C)
	s, err := NewSealer(keys, objID(4), detRand(4))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(&failWriter{n: C}, s.Reader(bytes.NewReader(plain))); !errors.Is(err, errWrite) || n != C {
		t.Fatalf("seal: %d, %v", n, err)
	}
	blob := sealBlob(t, keys, objID(4), 4, plain)
	o := opener(t, keys, blob)
	if n, err := io.Copy(&failWriter{n: C + 5}, o.NewReader(bytes.NewReader(blob[HeaderSize:]), 3*C, 0, -1)); !errors.Is(err, errWrite) || n != C+5 {
		t.Fatalf("open: %d, %v", n, err)
	}
	if n, err := io.Copy(io.Discard, o.NewReader(strings.NewReader(""), -1, 0, -1)); !errors.Is(err, ErrRange) || n != 0 {
		t.Fatalf("invalid range: %d, %v", n, err)
	}
}
