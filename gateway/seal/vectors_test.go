package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the test vectors in testdata/vectors")

// Test vector inputs, as listed in docs/FORMAT.md.
const vectorKEKID = 7

var vectorSizes = []int64{0, 1, 65536, 65537}

func vectorKEK() *[32]byte { return fill(0xa0) }

func vectorObjectID() ObjectID {
	var id ObjectID
	for i := range id {
		id[i] = 0xc0 + byte(i)
	}
	return id
}

// vectorRand is the "random" stream of the vectors: data key 00..1f,
// salt 20..3f, wrap nonce 40..4b.
func vectorRand() *bytes.Reader {
	b := make([]byte, KeySize+SaltSize+NonceSize)
	for i := range b {
		b[i] = byte(i)
	}
	return bytes.NewReader(b)
}

func vectorKeys() *testKeys {
	return &testKeys{current: vectorKEKID, keys: map[uint32]*[32]byte{vectorKEKID: vectorKEK()}}
}

func vectorPath(size int64) string {
	return filepath.Join("testdata", "vectors", fmt.Sprintf("plain-%d.blob", size))
}

func makeVector(t *testing.T, size int64) []byte {
	t.Helper()
	s, err := NewSealer(vectorKeys(), vectorObjectID(), vectorRand())
	if err != nil {
		t.Fatal(err)
	}
	return s.Seal(nil, pattern(size))
}

// vectorSummary lists the intermediate values of the vectors, so that an
// implementation in another language can be debugged step by step.
func vectorSummary(t *testing.T) string {
	t.Helper()
	var sb strings.Builder
	r := vectorRand()
	var dk [32]byte
	var salt [32]byte
	r.Read(dk[:])
	r.Read(salt[:])
	pk, hk, err := deriveKeys(&dk, &salt)
	if err != nil {
		t.Fatal(err)
	}
	id := vectorObjectID()
	fmt.Fprintf(&sb, "kek_id: %d\n", vectorKEKID)
	fmt.Fprintf(&sb, "kek: %x\n", vectorKEK()[:])
	fmt.Fprintf(&sb, "object_id: %x\n", id[:])
	fmt.Fprintf(&sb, "data_key: %x\n", dk[:])
	fmt.Fprintf(&sb, "salt: %x\n", salt[:])
	fmt.Fprintf(&sb, "wrap_ad: %x\n", wrapAD(id, vectorKEKID))
	fmt.Fprintf(&sb, "payload_key: %x\n", pk)
	fmt.Fprintf(&sb, "header_key: %x\n", hk)
	fmt.Fprintf(&sb, "header: %x\n", makeVector(t, 0)[:HeaderSize])
	for _, size := range vectorSizes {
		sum := sha256.Sum256(makeVector(t, size))
		fmt.Fprintf(&sb, "sha256(%s): %x\n", filepath.Base(vectorPath(size)), sum)
	}
	return sb.String()
}

func TestVectors(t *testing.T) {
	summaryPath := filepath.Join("testdata", "vectors", "vectors.txt")
	if *update {
		if err := os.MkdirAll(filepath.Dir(summaryPath), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, size := range vectorSizes {
			if err := os.WriteFile(vectorPath(size), makeVector(t, size), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(summaryPath, []byte(vectorSummary(t)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(summaryPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := vectorSummary(t); got != string(want) {
		t.Errorf("intermediate values differ from %s:\n%s", summaryPath, got)
	}
	for _, size := range vectorSizes {
		stored, err := os.ReadFile(vectorPath(size))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(makeVector(t, size), stored) {
			t.Errorf("size %d: Seal output differs from %s", size, vectorPath(size))
		}
		got, err := opener(t, vectorKeys(), stored).Open(nil, stored)
		if err != nil || !bytes.Equal(got, pattern(size)) {
			t.Errorf("size %d: Open: %v", size, err)
		}
		got, err = specOpen(vectorKEK(), vectorKEKID, stored)
		if err != nil || !bytes.Equal(got, pattern(size)) {
			t.Errorf("size %d: reference decryptor: %v", size, err)
		}
	}
}

// specOpen is an independent decryptor written from docs/FORMAT.md,
// "Decryption", using only the standard library. It checks that the spec
// and the package agree.
func specOpen(kek *[32]byte, kekID uint32, blob []byte) ([]byte, error) {
	fail := errors.New("integrity")
	gcm := func(key []byte) cipher.AEAD {
		b, _ := aes.NewCipher(key)
		g, _ := cipher.NewGCM(b)
		return g
	}
	// 1. Header structure.
	if len(blob) < 154 || string(blob[0:4]) != "TWCO" || blob[4] != 1 || blob[5] != 1 ||
		binary.BigEndian.Uint32(blob[6:10]) != 65536 {
		return nil, fail
	}
	objectID, salt, mac := blob[10:26], blob[26:58], blob[58:90]
	if binary.BigEndian.Uint32(blob[90:94]) != kekID {
		return nil, fail
	}
	wrapped := blob[94:154]
	// 2. Unwrap the data key.
	ad := append([]byte("twincrypt v1 data key wrap"), objectID...)
	ad = binary.BigEndian.AppendUint32(ad, kekID)
	dataKey, err := gcm(kek[:]).Open(nil, wrapped[:12], wrapped[12:], ad)
	if err != nil {
		return nil, fail
	}
	// 3. Derive keys and check the header MAC.
	payloadKey, _ := hkdf.Key(sha256.New, dataKey, salt, "twincrypt v1 payload key", 32)
	headerKey, _ := hkdf.Key(sha256.New, dataKey, salt, "twincrypt v1 header key", 32)
	m := hmac.New(sha256.New, headerKey)
	m.Write(blob[0:58])
	if !hmac.Equal(m.Sum(nil), mac) {
		return nil, fail
	}
	// 4. Chunks.
	payload := blob[154:]
	if len(payload) < 16 {
		return nil, fail
	}
	aead := gcm(payloadKey)
	var out []byte
	for i := uint64(0); ; i++ {
		n := min(len(payload), 65536+16)
		final := n == len(payload)
		nonce := make([]byte, 12)
		binary.BigEndian.PutUint64(nonce[3:11], i)
		if final {
			nonce[11] = 1
		}
		if n < 16 || (final && n == 16 && i > 0) {
			return nil, fail
		}
		pt, err := aead.Open(nil, nonce, payload[:n], objectID)
		if err != nil {
			return nil, fail
		}
		out = append(out, pt...)
		payload = payload[n:]
		if final {
			return out, nil
		}
	}
}

// TestSpecDecryptorRejects makes sure the reference decryptor is not
// trivially accepting.
func TestSpecDecryptorRejects(t *testing.T) {
	blob := makeVector(t, 65537)
	for _, i := range []int{0, 60, 100, 200, len(blob) - 1} {
		b := bytes.Clone(blob)
		b[i] ^= 1
		if _, err := specOpen(vectorKEK(), vectorKEKID, b); err == nil {
			t.Errorf("byte %d flipped: accepted", i)
		}
	}
	if _, err := specOpen(vectorKEK(), vectorKEKID, blob[:HeaderSize+C+16]); err == nil {
		t.Error("truncated to the first chunk: accepted")
	}
}
