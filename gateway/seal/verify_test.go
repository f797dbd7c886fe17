package seal

import (
	"bytes"
	"errors"
	"testing"
)

// TestVerifyingReader checks that every ciphertext range comes back byte for
// byte from the window CipherWindow names, and that a flipped byte anywhere in
// a touched chunk fails the read before any byte of that chunk is released.
func TestVerifyingReader(t *testing.T) {
	keys := newTestKeys()
	for _, size := range []int64{0, 1, C, C + 1, 3*C + 100} {
		plain := pattern(size)
		blob := sealBlob(t, keys, objID(9), 2, plain)
		o := opener(t, keys, blob)
		total := int64(len(blob))
		points := []int64{HeaderSize, HeaderSize + 1, HeaderSize + C + 15, HeaderSize + C + 16, HeaderSize + C + 17, total - 1}
		for _, off := range points {
			if off < HeaderSize || off >= total {
				continue
			}
			for _, length := range []int64{1, 2, C, C + 16, 2 * (C + 16), total - off} {
				if off+length > total {
					continue
				}
				bo, bl, err := CipherWindow(size, off, length)
				if err != nil {
					t.Fatalf("size %d CipherWindow(%d, %d): %v", size, off, length, err)
				}
				if bo > off || bo+bl < off+length || (bo-HeaderSize)%(C+16) != 0 {
					t.Fatalf("size %d CipherWindow(%d, %d) = [%d, %d): not whole chunks covering the range", size, off, length, bo, bo+bl)
				}
				got, err := readAll(o.NewVerifyingReader(bytes.NewReader(blob[bo:bo+bl]), size, off, length))
				if err != nil || !bytes.Equal(got, blob[off:off+length]) {
					t.Fatalf("size %d range (%d, %d): err %v, got %d bytes", size, off, length, err, len(got))
				}
				// Flip the last byte of the window: its chunk fails, and
				// nothing of it is released.
				bad := bytes.Clone(blob[bo : bo+bl])
				bad[len(bad)-1] ^= 1
				got, err = readAll(o.NewVerifyingReader(bytes.NewReader(bad), size, off, length))
				if !errors.Is(err, ErrIntegrity) {
					t.Fatalf("size %d range (%d, %d) tampered: err %v, want ErrIntegrity", size, off, length, err)
				}
				lastChunk := bo + bl - 1 - (bl-1)%(C+16)
				if int64(len(got)) > max(0, lastChunk-off) {
					t.Fatalf("size %d range (%d, %d) tampered: %d bytes released, the bad chunk starts after %d", size, off, length, len(got), lastChunk-off)
				}
			}
		}
		for _, r := range [][2]int64{{0, 1}, {HeaderSize - 1, 2}, {HeaderSize, 0}, {total - 1, 2}} {
			if _, _, err := CipherWindow(size, r[0], r[1]); !errors.Is(err, ErrRange) {
				t.Errorf("size %d CipherWindow(%d, %d): %v, want ErrRange", size, r[0], r[1], err)
			}
		}
	}
}

// TestPayloadOpener checks that an opener made from the data key and salt
// alone reads the payload, and that any other key, salt or object id fails.
func TestPayloadOpener(t *testing.T) {
	keys := newTestKeys()
	plain := pattern(2*C + 3)
	blob := sealBlob(t, keys, objID(3), 2, plain)
	o := opener(t, keys, blob)
	h := o.Header()
	size := int64(len(plain))
	read := func(id ObjectID, salt [SaltSize]byte, key *[KeySize]byte) ([]byte, error) {
		p, err := PayloadOpener(id, &salt, key)
		if err != nil {
			return nil, err
		}
		bo, bl := p.Window(size, 0, -1)
		return readAll(p.NewReader(bytes.NewReader(blob[bo:bo+bl]), size, 0, -1))
	}
	if got, err := read(h.ObjectID, h.Salt, o.DataKey()); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("PayloadOpener round trip: %v", err)
	}
	wrongKey := o.DataKey()
	wrongKey[31] ^= 1
	wrongSalt := h.Salt
	wrongSalt[0] ^= 1
	for name, f := range map[string]func() ([]byte, error){
		"key":  func() ([]byte, error) { return read(h.ObjectID, h.Salt, wrongKey) },
		"salt": func() ([]byte, error) { return read(h.ObjectID, wrongSalt, o.DataKey()) },
		"id":   func() ([]byte, error) { return read(objID(4), h.Salt, o.DataKey()) },
	} {
		if got, err := f(); !errors.Is(err, ErrIntegrity) || len(got) != 0 {
			t.Errorf("wrong %s: %d bytes, %v; want ErrIntegrity and nothing", name, len(got), err)
		}
	}
}

// TestStreamVerifier checks that a whole sealed object passes through byte
// for byte, and that any flipped byte, a cut or an extra byte fails it
// before the damaged chunk is released.
func TestStreamVerifier(t *testing.T) {
	keys := newTestKeys()
	for _, size := range []int64{0, 1, C, 2*C + 5} {
		blob := sealBlob(t, keys, objID(11), 2, pattern(size))
		got, err := readAll(NewStreamVerifier(keys, bytes.NewReader(blob), int64(len(blob))))
		if err != nil || !bytes.Equal(got, blob) {
			t.Fatalf("size %d: %v, %d bytes back", size, err, len(got))
		}
		for _, off := range []int{0, 50, HeaderSize - 1, HeaderSize, len(blob) - 1} {
			bad := bytes.Clone(blob)
			bad[off] ^= 1
			got, err := readAll(NewStreamVerifier(keys, bytes.NewReader(bad), int64(len(bad))))
			if !errors.Is(err, ErrIntegrity) {
				t.Errorf("size %d, byte %d flipped: %v, want ErrIntegrity", size, off, err)
			}
			if len(got) > off {
				t.Errorf("size %d, byte %d flipped: %d bytes released", size, off, len(got))
			}
		}
		if _, err := readAll(NewStreamVerifier(keys, bytes.NewReader(blob[:len(blob)-1]), int64(len(blob)-1))); !errors.Is(err, ErrIntegrity) {
			t.Errorf("size %d cut by one byte: %v", size, err)
		}
		if _, err := readAll(NewStreamVerifier(keys, bytes.NewReader(append(bytes.Clone(blob), 0)), int64(len(blob)))); !errors.Is(err, ErrIntegrity) {
			t.Errorf("size %d with a byte appended: %v", size, err)
		}
	}
	blob := sealBlob(t, keys, objID(12), 2, pattern(10))
	other := &testKeys{current: 2, keys: map[uint32]*[32]byte{2: fill(0x50)}}
	if _, err := readAll(NewStreamVerifier(other, bytes.NewReader(blob), int64(len(blob)))); !errors.Is(err, ErrKeyUnknown) {
		t.Errorf("unknown key: %v, want ErrKeyUnknown", err)
	}
}
