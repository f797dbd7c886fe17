package sharelink

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"testing"
)

// TestKeyCommitment builds an AES-GCM ciphertext that authenticates under two
// different entry keys (the "invisible salamanders" construction: one
// ciphertext block chosen to make the two GHASH tags collide), checks that
// plain AES-GCM indeed opens it under both, and then that a sealed entry
// opens under one link's keys only, because the commitment in front of it
// names the key.
func TestKeyCommitment(t *testing.T) {
	var id ID
	var s1, s2 Secret
	s2[0] = 1
	k1, err := DeriveKeys(id, s1, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := DeriveKeys(id, s2, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	key1 := mustHKDF(s1[:], id[:], labelEntryKey, KeySize)
	key2 := mustHKDF(s2[:], id[:], labelEntryKey, KeySize)
	nonce := make([]byte, NonceSize)
	ad := entryAD(id, 0)
	ct, tag := collide(t, key1, key2, nonce, ad, 4, 2)
	sealedCT := append(append([]byte{}, ct...), tag...)

	// Plain AES-GCM is not key-committing: both keys open it.
	p1, err1 := gcm(t, key1).Open(nil, nonce, sealedCT, ad)
	p2, err2 := gcm(t, key2).Open(nil, nonce, sealedCT, ad)
	if err1 != nil || err2 != nil {
		t.Fatalf("the crafted ciphertext does not open under both keys (%v, %v): the test is broken", err1, err2)
	}
	if bytes.Equal(p1, p2) {
		t.Fatal("both keys gave the same plaintext")
	}

	// With the commitment in front, each sealed entry opens under its own
	// link's keys only.
	for _, tt := range []struct {
		name       string
		commitment []byte
		opens      *Keys
		refuses    *Keys
	}{
		{"committed to link 1", k1.commitment[:], k1, k2},
		{"committed to link 2", k2.commitment[:], k2, k1},
	} {
		sealed := append(append(append([]byte{}, tt.commitment...), nonce...), sealedCT...)
		if _, err := tt.opens.Open(0, sealed); err != nil {
			t.Errorf("%s: its own keys refuse it: %v", tt.name, err)
		}
		if _, err := tt.refuses.Open(0, sealed); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: the other link's keys open it: %v", tt.name, err)
		}
	}
}

func gcm(t *testing.T, key []byte) cipher.AEAD {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// collide returns n ciphertext blocks and a tag that AES-GCM accepts under
// both key1 and key2 with the given nonce and associated data: every block
// is zero except block free, which is solved for.
func collide(t *testing.T, key1, key2, nonce, ad []byte, n, free int) ([]byte, []byte) {
	t.Helper()
	h1, e1 := gcmKeys(t, key1, nonce)
	h2, e2 := gcmKeys(t, key2, nonce)
	ct := make([]byte, 16*n)
	// With block free zero, the tags differ by d; block free adds
	// x*(H1^p + H2^p) to that difference, where p is its power of H.
	d := xor(xor(ghash(h1, ad, ct), ghash(h2, ad, ct)), xor(e1, e2))
	adBlocks := (len(ad) + 15) / 16
	m := adBlocks + n + 1
	p := m - (adBlocks + free + 1) + 1
	x := gfMul(d, gfInv(xor(gfPow(h1, p), gfPow(h2, p))))
	put128(ct[16*free:], x)
	tag1 := xor(ghash(h1, ad, ct), e1)
	tag2 := xor(ghash(h2, ad, ct), e2)
	if tag1 != tag2 {
		t.Fatal("GHASH collision failed")
	}
	var tag [16]byte
	put128(tag[:], tag1)
	return ct, tag[:]
}

// u128 is a GF(2^128) element in GCM's bit order: hi holds bits 0..63.
type u128 struct{ hi, lo uint64 }

func get128(b []byte) u128 { return u128{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])} }
func put128(b []byte, x u128) {
	binary.BigEndian.PutUint64(b, x.hi)
	binary.BigEndian.PutUint64(b[8:], x.lo)
}
func xor(a, b u128) u128 { return u128{a.hi ^ b.hi, a.lo ^ b.lo} }

// gfMul is NIST SP 800-38D Algorithm 1.
func gfMul(x, y u128) u128 {
	var z u128
	v := y
	for i := range 128 {
		var bit uint64
		if i < 64 {
			bit = x.hi >> (63 - i) & 1
		} else {
			bit = x.lo >> (127 - i) & 1
		}
		if bit == 1 {
			z = xor(z, v)
		}
		lsb := v.lo & 1
		v = u128{v.hi >> 1, v.lo>>1 | v.hi<<63}
		if lsb == 1 {
			v.hi ^= 0xe1 << 56
		}
	}
	return z
}

func gfPow(x u128, n int) u128 {
	r := u128{1 << 63, 0} // the field's one
	for range n {
		r = gfMul(r, x)
	}
	return r
}

// gfInv is x^(2^128-2).
func gfInv(x u128) u128 {
	r := u128{1 << 63, 0}
	sq := x
	for i := 1; i < 128; i++ { // exponent bits 1..127 are set, bit 0 is not
		sq = gfMul(sq, sq)
		r = gfMul(r, sq)
	}
	return r
}

// gcmKeys returns H = E(K, 0) and E(K, J0) for a 96-bit nonce.
func gcmKeys(t *testing.T, key, nonce []byte) (h, ej0 u128) {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	var zero, out [16]byte
	b.Encrypt(out[:], zero[:])
	h = get128(out[:])
	var j0 [16]byte
	copy(j0[:], nonce)
	j0[15] = 1
	b.Encrypt(out[:], j0[:])
	return h, get128(out[:])
}

// ghash is GHASH_H(ad, ct) as GCM computes it.
func ghash(h u128, ad, ct []byte) u128 {
	var x u128
	blocks := func(b []byte) {
		for len(b) > 0 {
			var blk [16]byte
			n := copy(blk[:], b)
			b = b[n:]
			x = gfMul(xor(x, get128(blk[:])), h)
		}
	}
	blocks(ad)
	blocks(ct)
	var l [16]byte
	binary.BigEndian.PutUint64(l[:], uint64(len(ad))*8)
	binary.BigEndian.PutUint64(l[8:], uint64(len(ct))*8)
	return gfMul(xor(x, get128(l[:])), h)
}
