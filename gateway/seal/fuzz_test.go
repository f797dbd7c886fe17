package seal

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParseHeader checks that ParseHeader never panics, reports every
// failure as ErrIntegrity, and that accepted headers round-trip.
func FuzzParseHeader(f *testing.F) {
	keys := newTestKeys()
	genuine := map[string]bool{}
	for _, size := range []int64{0, 1, 100} {
		h := sealBlob(f, keys, objID(byte(size)), 1, pattern(size))[:HeaderSize]
		genuine[string(h)] = true
		f.Add(h)
	}
	f.Add([]byte{})
	f.Add([]byte("TWCO"))
	f.Add(make([]byte, HeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			if !errors.Is(err, ErrIntegrity) {
				t.Fatalf("error %v does not wrap ErrIntegrity", err)
			}
			return
		}
		if !bytes.Equal(h.Marshal(), b[:HeaderSize]) {
			t.Fatal("accepted header does not round-trip")
		}
		_, err = h.Open(keys)
		if err != nil && !errors.Is(err, ErrIntegrity) {
			t.Fatalf("Header.Open: %v does not wrap ErrIntegrity", err)
		}
		if (err == nil) != genuine[string(b[:HeaderSize])] {
			t.Fatalf("Header.Open of a %s header: %v", map[bool]string{true: "genuine", false: "forged"}[genuine[string(b[:HeaderSize])]], err)
		}
	})
}

// FuzzOpen feeds arbitrary blobs to the whole read path. Nothing may panic,
// every failure must be ErrIntegrity, and only the genuine seed blobs may
// decrypt, to their genuine plaintext.
func FuzzOpen(f *testing.F) {
	keys := newTestKeys()
	genuine := map[string][]byte{}
	for _, size := range []int64{0, 1, 100, C + 1} {
		plain := pattern(size)
		blob := sealBlob(f, keys, objID(9), byte(size), plain)
		genuine[string(blob)] = plain
		f.Add(blob, int64(0), int64(-1))
		f.Add(blob, size/2, int64(3))
		if size > 0 {
			bad := bytes.Clone(blob)
			bad[len(bad)-1] ^= 1
			f.Add(bad, int64(0), int64(-1))
			f.Add(blob[:len(blob)-1], int64(0), int64(-1))
		}
	}
	f.Add([]byte{}, int64(0), int64(-1))
	f.Fuzz(func(t *testing.T, blob []byte, off, length int64) {
		want, isGenuine := genuine[string(blob)]
		h, err := ParseHeader(blob)
		if err != nil {
			if isGenuine || !errors.Is(err, ErrIntegrity) {
				t.Fatalf("ParseHeader: %v", err)
			}
			return
		}
		o, err := h.Open(keys)
		if err != nil {
			if !errors.Is(err, ErrIntegrity) {
				t.Fatalf("Header.Open: %v", err)
			}
			return
		}
		got, err := o.Open(nil, blob)
		switch {
		case err != nil && !errors.Is(err, ErrIntegrity):
			t.Fatalf("Open: %v", err)
		case err == nil && !isGenuine:
			t.Fatal("a forged blob decrypted")
		case err == nil && !bytes.Equal(got, want):
			t.Fatal("wrong plaintext")
		case err != nil && isGenuine:
			t.Fatalf("genuine blob rejected: %v", err)
		}
		// Streaming, with the size the blob claims.
		size, err := PlaintextSize(int64(len(blob)))
		if err != nil {
			return
		}
		out, err := openStream(o, blob, size, off, length)
		if _, _, rerr := BlobWindow(size, off, length); rerr != nil {
			if !errors.Is(err, ErrRange) {
				t.Fatalf("invalid range: %v", err)
			}
			return
		}
		if err != nil && !errors.Is(err, ErrIntegrity) {
			t.Fatalf("NewReader: %v", err)
		}
		if isGenuine {
			end := size
			if length >= 0 {
				end = min(size, off+length)
			}
			if err != nil || !bytes.Equal(out, want[off:end]) {
				t.Fatalf("genuine range (%d, %d): %v", off, length, err)
			}
		} else if !bytes.Equal(out, pattern(off + int64(len(out)))[off:]) {
			// Only genuine chunks (all seeds encrypt the pattern) may be released.
			t.Fatal("a forged blob released bytes that are not genuine plaintext")
		}
	})
}
