package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// errUnknownKey is what testKeys returns for an id it does not hold.
var errUnknownKey = errors.New("test keys: unknown key id")

// testKeys is a minimal KeySource.
type testKeys struct {
	current uint32
	keys    map[uint32]*[32]byte
}

func (k *testKeys) CurrentKEK() (uint32, *[32]byte) { return k.current, k.keys[k.current] }

func (k *testKeys) KEK(id uint32) (*[32]byte, error) {
	key, ok := k.keys[id]
	if !ok {
		return nil, fmt.Errorf("%w: %d", errUnknownKey, id)
	}
	return key, nil
}

// fill returns a 32-byte key whose byte i is start+i.
func fill(start byte) *[32]byte {
	var k [32]byte
	for i := range k {
		k[i] = start + byte(i)
	}
	return &k
}

// newTestKeys returns a key source with KEKs 1 (current) and 2.
func newTestKeys() *testKeys {
	return &testKeys{current: 1, keys: map[uint32]*[32]byte{1: fill(0x10), 2: fill(0x50)}}
}

// pattern returns n bytes of the test pattern: byte i is i mod 251.
func pattern(n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// detRand returns a deterministic "random" stream for seed s.
func detRand(s byte) io.Reader {
	b := make([]byte, 1024)
	for i := range b {
		b[i] = s*31 + byte(i*7)
	}
	return bytes.NewReader(b)
}

func objID(s byte) ObjectID {
	var id ObjectID
	for i := range id {
		id[i] = s + byte(i)
	}
	return id
}

// sealBlob encrypts plaintext as object id under keys with a deterministic
// random stream.
func sealBlob(t testing.TB, keys KeySource, id ObjectID, seed byte, plaintext []byte) []byte {
	t.Helper()
	s, err := NewSealer(keys, id, detRand(seed))
	if err != nil {
		t.Fatalf("NewSealer: %v", err)
	}
	return s.Seal(nil, plaintext)
}

// opener parses and opens the header of blob.
func opener(t testing.TB, keys KeySource, blob []byte) *Opener {
	t.Helper()
	h, err := ParseHeader(blob)
	if err != nil {
		t.Fatalf("ParseHeader: %v", err)
	}
	o, err := h.Open(keys)
	if err != nil {
		t.Fatalf("Header.Open: %v", err)
	}
	return o
}

// readAll reads r to the end or the first error and returns what it
// yielded before that, using reads of odd sizes.
func readAll(r io.Reader) ([]byte, error) {
	var out []byte
	buf := make([]byte, 40000)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// openStream reads plaintext [off, off+length) of blob through Window and
// NewReader, for an object the caller believes has plaintext size size.
func openStream(o *Opener, blob []byte, size, off, length int64) ([]byte, error) {
	bo, bl := o.Window(size, off, length)
	end := min(bo+bl, int64(len(blob)))
	bo = min(bo, end)
	return readAll(o.NewReader(bytes.NewReader(blob[bo:end]), size, off, length))
}
