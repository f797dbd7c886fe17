// Package seal implements the twincrypt object format: an authenticated,
// key-committing header followed by a payload of 64 KiB chunks encrypted
// with AES-256-GCM in the STREAM construction.
//
// Every object gets a fresh random 256-bit data key. The data key is wrapped
// under a key-encryption key (KEK) named by a numeric id; the payload key and
// the header key are derived from it with HKDF-SHA-256. The header is
// authenticated with HMAC-SHA-256 under the header key, which also commits
// the header to the data key. Chunk nonces carry the chunk index and a
// final-chunk flag, so truncation, reordering and appending are detected;
// the chunk associated data binds the object id.
//
// Every authentication failure, wherever it happens, is reported as an error
// that satisfies errors.Is(err, ErrIntegrity), and no plaintext byte of a
// chunk is released before that chunk has authenticated.
//
// Readers in both directions hold one chunk in memory and allocate nothing
// per chunk. Chunks are independent given their index, so encryption and
// decryption could be spread over several cores without a format change;
// this implementation processes one chunk at a time.
//
// The byte-level specification is docs/FORMAT.md in the repository.
package seal

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// Format constants. The layout they describe is specified in docs/FORMAT.md.
const (
	// ChunkSize is the plaintext size of every chunk but the last.
	ChunkSize = 64 << 10
	// TagSize is the size of the AES-GCM authentication tag appended to
	// every chunk and to the wrapped data key.
	TagSize = 16
	// KeySize is the size of data keys, KEKs, and derived keys.
	KeySize = 32
	// SaltSize is the size of the HKDF salt stored in the header.
	SaltSize = 32
	// MACSize is the size of the header MAC.
	MACSize = 32
	// NonceSize is the size of AES-GCM nonces.
	NonceSize = 12
	// WrappedKeySize is the size of the wrapped data key:
	// nonce (12) || AES-256-GCM ciphertext of the data key (32) || tag (16).
	WrappedKeySize = NonceSize + KeySize + TagSize
	// Version is the format version this package writes and reads.
	Version = 1
	// SuiteAES256GCM identifies the only algorithm suite of version 1:
	// AES-256-GCM, HKDF-SHA-256 and HMAC-SHA-256.
	SuiteAES256GCM = 1
	// HeaderSize is the fixed size of the header at the start of every blob.
	HeaderSize = 154

	// Magic is the first four bytes of every blob.
	Magic = "TWCO"
)

// Header field offsets (see docs/FORMAT.md).
const (
	offMagic      = 0
	offVersion    = 4
	offSuite      = 5
	offChunkSize  = 6
	offObjectID   = 10
	offSalt       = 26
	offMAC        = 58 // MAC covers header[0:offMAC]
	offKeyID      = 90
	offWrappedKey = 94

	// authSize is the length of the header prefix covered by the MAC.
	authSize = offMAC
	// slotOffset is where the key slot (KEK id and wrapped key) begins;
	// header[0:slotOffset] is identical across rewraps of one object.
	slotOffset = offKeyID

	// chunkCipherSize is the on-disk size of a full chunk.
	chunkCipherSize = ChunkSize + TagSize
)

// Domain-separation strings (see docs/FORMAT.md, "Labels").
const (
	labelWrap    = "twincrypt v1 data key wrap"
	labelPayload = "twincrypt v1 payload key"
	labelHeader  = "twincrypt v1 header key"
)

// ErrIntegrity is reported, possibly wrapped, for every failure to
// authenticate a blob or a header: bad magic or structure, wrong key,
// header MAC mismatch, any chunk failing to authenticate, truncation,
// reordering, appended data, and impossible sizes. Test with errors.Is.
var ErrIntegrity = errors.New("seal: integrity check failed")

// ErrUnsupported is reported, together with ErrIntegrity, for a header whose
// version, suite or chunk size this package does not implement.
var ErrUnsupported = errors.New("seal: unsupported format")

// ErrRange is reported for a plaintext range that does not lie within the
// object: negative size or offset, offset beyond the end, or length < -1.
var ErrRange = errors.New("seal: invalid range")

// ObjectID names one object (or one part of a multipart object). It is
// bound into the key wrapping, the header MAC and every chunk.
type ObjectID [16]byte

// KeySource resolves key-encryption keys by id.
type KeySource interface {
	CurrentKEK() (id uint32, key *[32]byte)
	KEK(id uint32) (*[32]byte, error)
}

// Refetcher is implemented by ciphertext sources that can serve the same
// bytes again from another replica.
type Refetcher interface {
	Refetch(off int64) error
}

// Header is the decoded fixed-size header of a blob.
//
// The first 90 bytes (magic through MAC) never change for the life of an
// object. The key slot (KeyID and WrappedKey) may be replaced by a rewrap
// under another KEK; the MAC does not cover it. Meta records store KeyID
// and WrappedKey; a Header with a replaced key slot opens the same blob.
type Header struct {
	Version   uint8          // format version, Version
	Suite     uint8          // algorithm suite, SuiteAES256GCM
	ChunkSize uint32         // plaintext chunk size, ChunkSize
	ObjectID  ObjectID       // the object the header belongs to
	Salt      [SaltSize]byte // HKDF salt for the payload and header keys
	MAC       [MACSize]byte  // HMAC-SHA-256 of header bytes 0..57 under the header key
	// KeyID names the KEK that wrapped the data key.
	KeyID uint32
	// WrappedKey is nonce || ciphertext || tag of the data key under the KEK.
	WrappedKey [WrappedKeySize]byte
}

// ParseHeader decodes the first HeaderSize bytes of b. Bytes beyond
// HeaderSize are ignored. It checks structure only (length, magic, version,
// suite, chunk size); authentication happens in Open. Every error wraps
// ErrIntegrity; an unknown version, suite or chunk size also wraps
// ErrUnsupported.
func ParseHeader(b []byte) (*Header, error) {
	if len(b) < HeaderSize {
		return nil, fmt.Errorf("%w: header is %d bytes, want %d", ErrIntegrity, len(b), HeaderSize)
	}
	if string(b[offMagic:offMagic+len(Magic)]) != Magic {
		return nil, fmt.Errorf("%w: bad magic", ErrIntegrity)
	}
	h := &Header{
		Version:   b[offVersion],
		Suite:     b[offSuite],
		ChunkSize: binary.BigEndian.Uint32(b[offChunkSize:]),
		KeyID:     binary.BigEndian.Uint32(b[offKeyID:]),
	}
	if h.Version != Version || h.Suite != SuiteAES256GCM || h.ChunkSize != ChunkSize {
		return nil, fmt.Errorf("%w: %w: version %d, suite %d, chunk size %d",
			ErrIntegrity, ErrUnsupported, h.Version, h.Suite, h.ChunkSize)
	}
	copy(h.ObjectID[:], b[offObjectID:])
	copy(h.Salt[:], b[offSalt:])
	copy(h.MAC[:], b[offMAC:])
	copy(h.WrappedKey[:], b[offWrappedKey:])
	return h, nil
}

// Marshal returns the HeaderSize-byte encoding of h.
func (h *Header) Marshal() []byte {
	var b [HeaderSize]byte
	h.put(&b)
	return b[:]
}

// AppendBinary appends the HeaderSize-byte encoding of h to b.
func (h *Header) AppendBinary(b []byte) ([]byte, error) {
	var e [HeaderSize]byte
	h.put(&e)
	return append(b, e[:]...), nil
}

func (h *Header) put(b *[HeaderSize]byte) {
	copy(b[offMagic:], Magic)
	b[offVersion] = h.Version
	b[offSuite] = h.Suite
	binary.BigEndian.PutUint32(b[offChunkSize:], h.ChunkSize)
	copy(b[offObjectID:], h.ObjectID[:])
	copy(b[offSalt:], h.Salt[:])
	copy(b[offMAC:], h.MAC[:])
	binary.BigEndian.PutUint32(b[offKeyID:], h.KeyID)
	copy(b[offWrappedKey:], h.WrappedKey[:])
}

// wrapAD returns the associated data of the data-key wrapping:
// labelWrap || object id || KEK id (big-endian uint32).
func wrapAD(id ObjectID, kekID uint32) []byte {
	ad := make([]byte, 0, len(labelWrap)+len(id)+4)
	ad = append(ad, labelWrap...)
	ad = append(ad, id[:]...)
	return binary.BigEndian.AppendUint32(ad, kekID)
}

// deriveKeys derives the payload key and the header key from the data key.
func deriveKeys(dataKey *[KeySize]byte, salt *[SaltSize]byte) (payload, header []byte, err error) {
	payload, err = hkdf.Key(sha256.New, dataKey[:], salt[:], labelPayload, KeySize)
	if err != nil {
		return nil, nil, fmt.Errorf("seal: deriving payload key: %w", err)
	}
	header, err = hkdf.Key(sha256.New, dataKey[:], salt[:], labelHeader, KeySize)
	if err != nil {
		return nil, nil, fmt.Errorf("seal: deriving header key: %w", err)
	}
	return payload, header, nil
}

// CiphertextSize returns the blob size (header included) of an object with
// plain bytes of plaintext. It returns -1 for a negative size or a size
// whose blob would not fit in an int64.
func CiphertextSize(plain int64) int64 {
	const maxPlain = (1<<63 - 1 - HeaderSize) / chunkCipherSize * ChunkSize
	if plain < 0 || plain > maxPlain {
		return -1
	}
	return HeaderSize + plain + TagSize*numChunks(plain)
}

// PlaintextSize returns the plaintext size of a blob of blob bytes (header
// included). It is the exact inverse of CiphertextSize; a size that no
// plaintext produces is an error wrapping ErrIntegrity.
func PlaintextSize(blob int64) (int64, error) {
	r := blob - HeaderSize
	if blob < HeaderSize || r < TagSize {
		return 0, fmt.Errorf("%w: blob size %d is impossible", ErrIntegrity, blob)
	}
	n := r / chunkCipherSize
	rem := r % chunkCipherSize
	switch {
	case rem == 0:
		// Last chunk is full.
	case rem == TagSize && n == 0:
		// The empty object: one empty final chunk.
		n = 1
	case rem > TagSize:
		n++
	default:
		return 0, fmt.Errorf("%w: blob size %d is impossible", ErrIntegrity, blob)
	}
	return r - TagSize*n, nil
}

// numChunks returns the number of chunks of an object of plain bytes:
// at least one, since the empty object is one empty final chunk.
func numChunks(plain int64) int64 {
	if plain == 0 {
		return 1
	}
	return (plain + ChunkSize - 1) / ChunkSize
}

// chunkNonce writes the STREAM nonce of chunk i: an 11-byte big-endian
// chunk index followed by 0x01 for the final chunk, 0x00 otherwise.
func chunkNonce(n *[NonceSize]byte, i uint64, final bool) {
	n[0], n[1], n[2] = 0, 0, 0
	binary.BigEndian.PutUint64(n[3:11], i)
	n[11] = 0
	if final {
		n[11] = 1
	}
}

// BlobWindow is the range mapping behind Opener.Window: for plaintext
// [off, off+length) of an object of plaintext size size, it returns the
// byte window of the blob (offsets include the header) that holds exactly
// the chunks covering that range. length -1 means to the end; a range
// running past the end is clamped to it. A zero-length range still maps to
// one chunk (the one holding off, or the last chunk when off == size), so
// every read authenticates something, including reads of the empty object.
func BlobWindow(size, off, length int64) (blobOff, blobLen int64, err error) {
	w, err := window(size, off, length)
	if err != nil {
		return 0, 0, err
	}
	return w.blobOff, w.blobLen, nil
}

// rangeWindow is a validated mapping of a plaintext range to chunks.
type rangeWindow struct {
	first, last uint64 // chunk indexes to read, inclusive
	final       uint64 // index of the object's final chunk
	finalLen    int    // plaintext length of the final chunk
	skip        int    // plaintext bytes to drop from the first chunk
	length      int64  // plaintext bytes to release
	blobOff     int64
	blobLen     int64
}

func window(size, off, length int64) (rangeWindow, error) {
	if size < 0 || CiphertextSize(size) < 0 || off < 0 || off > size || length < -1 {
		return rangeWindow{}, fmt.Errorf("%w: size %d, offset %d, length %d", ErrRange, size, off, length)
	}
	if length == -1 || length > size-off {
		length = size - off
	}
	var w rangeWindow
	n := numChunks(size)
	w.final = uint64(n - 1)
	w.finalLen = int(size - int64(w.final)*ChunkSize)
	first := off / ChunkSize
	if first > n-1 {
		first = n - 1
	}
	last := first
	if length > 0 {
		last = (off + length - 1) / ChunkSize
	}
	w.first, w.last = uint64(first), uint64(last)
	w.skip = int(off - first*ChunkSize)
	w.length = length
	w.blobOff = HeaderSize + first*chunkCipherSize
	w.blobLen = (last - first) * chunkCipherSize
	if w.last == w.final {
		w.blobLen += int64(w.finalLen) + TagSize
	} else {
		w.blobLen += chunkCipherSize
	}
	return w, nil
}

// chunkLen returns the ciphertext length of chunk i.
func (w *rangeWindow) chunkLen(i uint64) int {
	if i == w.final {
		return w.finalLen + TagSize
	}
	return chunkCipherSize
}
