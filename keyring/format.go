package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// Params are the Argon2id cost parameters that turn a passphrase into the
// wrapping key. They are stored in the keyring file, so they can change from
// one file to the next.
type Params struct {
	// Time is the number of passes over memory (t).
	Time uint32
	// MemoryKiB is the memory size in KiB (m).
	MemoryKiB uint32
	// Threads is the degree of parallelism (p).
	Threads uint8
}

// Limits on Params, checked when creating and when opening a keyring, so that
// a crafted file cannot make Open allocate or compute without bound.
const (
	MaxTime      = 256
	MaxMemoryKiB = 4 << 20 // 4 GiB
)

// DefaultParams returns the second recommended Argon2id setting of RFC 9106
// (section 4): t=3, m=64 MiB, p=4.
func DefaultParams() Params {
	return Params{Time: 3, MemoryKiB: 64 << 10, Threads: 4}
}

// Validate reports whether p is within the bounds of RFC 9106 and of this
// package (MaxTime, MaxMemoryKiB). Errors wrap ErrInvalidParams.
func (p Params) Validate() error {
	switch {
	case p.Time < 1 || p.Time > MaxTime:
		return fmt.Errorf("%w: time %d not in [1, %d]", ErrInvalidParams, p.Time, MaxTime)
	case p.Threads < 1:
		return fmt.Errorf("%w: threads must be at least 1", ErrInvalidParams)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > MaxMemoryKiB:
		return fmt.Errorf("%w: memory %d KiB not in [8*threads=%d, %d]", ErrInvalidParams, p.MemoryKiB, 8*uint32(p.Threads), MaxMemoryKiB)
	}
	return nil
}

// File format, version 1 (docs/KEYRING.md). Integers are big-endian.
//
//	off   len  field
//	0     8    magic "TCKEYRNG"
//	8     1    format version (1)
//	9     1    KDF id (1 = Argon2id version 0x13)
//	10    4    Argon2id t
//	14    4    Argon2id m (KiB)
//	18    1    Argon2id p
//	19    1    salt length S (16..64)
//	20    S    salt
//	20+S  16   passphrase check value
//	36+S  1    AEAD id (1 = AES-256-GCM)
//	37+S  12   nonce
//	49+S  4    current KEK id (>= 1)
//	53+S  48   AES-256-GCM(wrap key, nonce, master key, AAD = bytes 0..53+S)
const (
	magic         = "TCKEYRNG"
	formatVersion = 1
	kdfArgon2id   = 1
	aeadAESGCM    = 1
	saltSize      = 16
	minSaltSize   = 16
	maxSaltSize   = 64
	checkSize     = 16
	nonceSize     = 12
	tagSize       = 16
	fixedSize     = 8 + 1 + 1 + 4 + 4 + 1 + 1 + checkSize + 1 + nonceSize + 4 + KeySize + tagSize
	maxFileSize   = fixedSize + maxSaltSize

	labelWrap  = "twincrypt/v1/keyring/wrap"
	labelCheck = "twincrypt/v1/keyring/check"
)

// wrapping is the passphrase-derived state needed to write the file.
type wrapping struct {
	params Params
	salt   []byte
	key    [KeySize]byte
	check  [checkSize]byte
}

// newWrapping runs Argon2id over passphrase and derives the wrap key and the
// check value from its 32-byte output.
func newWrapping(passphrase, salt []byte, p Params) wrapping {
	w := wrapping{params: p, salt: append([]byte(nil), salt...)}
	pk := argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, p.Threads, KeySize)
	defer clear(pk)
	wk := mustHKDF(pk, labelWrap, KeySize)
	copy(w.key[:], wk)
	clear(wk)
	ck := mustHKDF(pk, labelCheck, checkSize)
	copy(w.check[:], ck)
	return w
}

func (w *wrapping) wipe() { clear(w.key[:]) }

func mustHKDF(secret []byte, label string, n int) []byte {
	out, err := hkdf.Key(sha256.New, secret, nil, label, n)
	if err != nil {
		// Only reachable for n > 255*32, which no caller asks for.
		panic("keyring: hkdf: " + err.Error())
	}
	return out
}

func deriveKey(master *[KeySize]byte, label string) *[32]byte {
	out := mustHKDF(master[:], label, KeySize)
	var k [32]byte
	copy(k[:], out)
	clear(out)
	return &k
}

func newGCM(key *[KeySize]byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return cipher.NewGCM(block)
}

// marshal encodes a keyring file.
func marshal(w wrapping, nonce []byte, current uint32, master *[KeySize]byte) ([]byte, error) {
	if len(nonce) != nonceSize || len(w.salt) < minSaltSize || len(w.salt) > maxSaltSize {
		return nil, fmt.Errorf("keyring: marshal: bad nonce or salt size")
	}
	b := make([]byte, 0, fixedSize+len(w.salt))
	b = append(b, magic...)
	b = append(b, formatVersion, kdfArgon2id)
	b = binary.BigEndian.AppendUint32(b, w.params.Time)
	b = binary.BigEndian.AppendUint32(b, w.params.MemoryKiB)
	b = append(b, w.params.Threads, byte(len(w.salt)))
	b = append(b, w.salt...)
	b = append(b, w.check[:]...)
	b = append(b, aeadAESGCM)
	b = append(b, nonce...)
	b = binary.BigEndian.AppendUint32(b, current)
	aead, err := newGCM(&w.key)
	if err != nil {
		return nil, err
	}
	aad := append([]byte(nil), b...) // dst and additional data must not overlap
	return aead.Seal(b, nonce, master[:], aad), nil
}

// unmarshal parses a keyring file and unwraps the master key. The returned
// keyring has no path.
func unmarshal(data, passphrase []byte) (*Keyring, error) {
	if len(data) < 20 || string(data[:8]) != magic {
		return nil, fmt.Errorf("%w: not a twincrypt keyring file", ErrCorrupt)
	}
	if data[8] != formatVersion {
		return nil, fmt.Errorf("%w: format version %d", ErrUnsupported, data[8])
	}
	if data[9] != kdfArgon2id {
		return nil, fmt.Errorf("%w: KDF id %d", ErrUnsupported, data[9])
	}
	p := Params{
		Time:      binary.BigEndian.Uint32(data[10:14]),
		MemoryKiB: binary.BigEndian.Uint32(data[14:18]),
		Threads:   data[18],
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	s := int(data[19])
	if s < minSaltSize || s > maxSaltSize {
		return nil, fmt.Errorf("%w: salt length %d", ErrCorrupt, s)
	}
	if len(data) != fixedSize+s {
		return nil, fmt.Errorf("%w: size %d, want %d", ErrCorrupt, len(data), fixedSize+s)
	}
	off := 20
	salt := data[off : off+s]
	off += s
	check := data[off : off+checkSize]
	off += checkSize
	if data[off] != aeadAESGCM {
		return nil, fmt.Errorf("%w: AEAD id %d", ErrUnsupported, data[off])
	}
	off++
	nonce := data[off : off+nonceSize]
	off += nonceSize
	current := binary.BigEndian.Uint32(data[off : off+4])
	off += 4
	if current == 0 {
		return nil, fmt.Errorf("%w: current KEK id 0", ErrCorrupt)
	}
	aad, sealed := data[:off], data[off:]

	w := newWrapping(passphrase, salt, p)
	if subtle.ConstantTimeCompare(w.check[:], check) != 1 {
		w.wipe()
		return nil, ErrWrongPassphrase
	}
	aead, err := newGCM(&w.key)
	if err != nil {
		w.wipe()
		return nil, err
	}
	k := &Keyring{current: current, w: w}
	if _, err := aead.Open(k.master[:0], nonce, sealed, aad); err != nil {
		k.wipe()
		return nil, fmt.Errorf("%w: authentication failed", ErrCorrupt)
	}
	return k, nil
}
