package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Sealer encrypts one object.
//
// A Sealer holds a fresh data key and encrypts exactly one plaintext: the
// second call to Reader or Seal panics, because encrypting a second
// plaintext would reuse nonces under the same key. A Sealer is not safe for
// concurrent use.
type Sealer struct {
	hdr      Header
	hdrBytes [HeaderSize]byte
	aead     cipher.AEAD
	used     bool
}

// NewSealer prepares the encryption of object id under the current KEK of
// keys. It reads, in this order, the 32-byte data key, the 32-byte salt
// and the 12-byte wrapping nonce from rand (normally crypto/rand.Reader).
func NewSealer(keys KeySource, id ObjectID, rand io.Reader) (*Sealer, error) {
	kekID, kek := keys.CurrentKEK()
	if kek == nil {
		return nil, errors.New("seal: key source has no current key-encryption key")
	}
	var dataKey [KeySize]byte
	defer clear(dataKey[:])
	s := &Sealer{hdr: Header{
		Version:   Version,
		Suite:     SuiteAES256GCM,
		ChunkSize: ChunkSize,
		ObjectID:  id,
		KeyID:     kekID,
	}}
	if _, err := io.ReadFull(rand, dataKey[:]); err != nil {
		return nil, fmt.Errorf("seal: reading data key: %w", err)
	}
	if _, err := io.ReadFull(rand, s.hdr.Salt[:]); err != nil {
		return nil, fmt.Errorf("seal: reading salt: %w", err)
	}
	var nonce [NonceSize]byte
	if _, err := io.ReadFull(rand, nonce[:]); err != nil {
		return nil, fmt.Errorf("seal: reading wrap nonce: %w", err)
	}
	if err := wrapKey(&s.hdr, kek, &dataKey, &nonce); err != nil {
		return nil, err
	}
	payloadKey, headerKey, err := deriveKeys(&dataKey, &s.hdr.Salt)
	if err != nil {
		return nil, err
	}
	defer clear(payloadKey)
	defer clear(headerKey)
	s.hdr.put(&s.hdrBytes)
	copy(s.hdr.MAC[:], headerMAC(headerKey, s.hdrBytes[:authSize]))
	s.hdr.put(&s.hdrBytes)
	if s.aead, err = newGCM(payloadKey); err != nil {
		return nil, err
	}
	return s, nil
}

// wrapKey seals dataKey under kek into h.WrappedKey, binding h.ObjectID and
// h.KeyID as associated data.
func wrapKey(h *Header, kek *[KeySize]byte, dataKey *[KeySize]byte, nonce *[NonceSize]byte) error {
	g, err := newGCM(kek[:])
	if err != nil {
		return err
	}
	copy(h.WrappedKey[:NonceSize], nonce[:])
	g.Seal(h.WrappedKey[NonceSize:NonceSize], nonce[:], dataKey[:], wrapAD(h.ObjectID, h.KeyID))
	return nil
}

func headerMAC(headerKey, authenticated []byte) []byte {
	m := hmac.New(sha256.New, headerKey)
	m.Write(authenticated)
	return m.Sum(nil)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return g, nil
}

// Header returns the object's header. The caller must not modify it.
func (s *Sealer) Header() *Header { return &s.hdr }

func (s *Sealer) use() {
	if s.used {
		panic("seal: Sealer used twice; create a new Sealer for every object")
	}
	s.used = true
}

// Reader returns a reader that yields the whole blob: the header, then the
// encrypted chunks of everything read from plaintext until io.EOF. It holds
// one chunk in memory at a time and allocates nothing per chunk, and it
// implements io.WriterTo. Read errors of plaintext other than io.EOF are
// returned unchanged.
func (s *Sealer) Reader(plaintext io.Reader) io.Reader {
	s.use()
	return &sealReader{
		aead: s.aead,
		ad:   s.hdr.ObjectID,
		src:  plaintext,
		buf:  make([]byte, firstBufferSize),
		out:  s.hdrBytes[:],
	}
}

// Seal appends the whole blob of plaintext (header and chunks) to dst and
// returns the extended slice. dst and plaintext must not overlap. It is
// meant for small objects such as meta records.
func (s *Sealer) Seal(dst, plaintext []byte) []byte {
	s.use()
	dst = slices.Grow(dst, int(CiphertextSize(int64(len(plaintext)))))
	dst = append(dst, s.hdrBytes[:]...)
	n := uint64(numChunks(int64(len(plaintext))))
	var nonce [NonceSize]byte
	for i := range n {
		chunk := plaintext[min(int(i)*ChunkSize, len(plaintext)):min(int(i+1)*ChunkSize, len(plaintext))]
		chunkNonce(&nonce, i, i == n-1)
		dst = s.aead.Seal(dst, nonce[:], chunk, s.hdr.ObjectID[:])
	}
	return dst
}

// firstBufferSize is the chunk buffer a sealReader starts with. It grows to
// a whole chunk (chunkCipherSize) as soon as the plaintext turns out not to
// fit, so a small object does not cost a 64 KiB buffer.
const firstBufferSize = 8 << 10

// sealReader streams a blob. Chunks are encrypted in place in buf.
type sealReader struct {
	aead     cipher.AEAD
	ad       ObjectID
	src      io.Reader
	buf      []byte // firstBufferSize, later chunkCipherSize bytes
	out      []byte // bytes not yet returned
	nonce    [NonceSize]byte
	idx      uint64
	carry    byte // first byte of the next chunk, read ahead
	hasCarry bool
	done     bool // final chunk produced
	err      error
}

func (r *sealReader) Read(p []byte) (int, error) {
	if err := r.fill(); err != nil {
		return 0, err
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

// WriteTo writes the blob to w, one chunk per Write, saving a copy for
// io.Copy.
func (r *sealReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if err := r.fill(); err == io.EOF {
			return total, nil
		} else if err != nil {
			return total, err
		}
		n, err := w.Write(r.out)
		total += int64(n)
		r.out = r.out[n:]
		if err != nil {
			return total, err
		}
	}
}

// fill makes r.out non-empty, or returns the reader's terminal error.
func (r *sealReader) fill() error {
	for len(r.out) == 0 {
		if r.err != nil {
			return r.err
		}
		if r.done {
			r.err = io.EOF
			continue
		}
		r.next()
	}
	return nil
}

// next reads and encrypts one chunk. To know whether a chunk is final it
// reads one byte past it, which is kept as the first byte of the next chunk.
func (r *sealReader) next() {
	n := 0
	if r.hasCarry {
		r.buf[0] = r.carry
		n = 1
	}
	// Read one byte more than the buffer can seal in place (with a whole
	// chunk's buffer: one byte past the chunk).
	m, err := io.ReadFull(r.src, r.buf[n:len(r.buf)-TagSize+1])
	n += m
	if err == nil && len(r.buf) < chunkCipherSize {
		// The first buffer is full: the chunk needs a whole one.
		buf := make([]byte, chunkCipherSize)
		copy(buf, r.buf[:n])
		r.buf = buf
		m, err = io.ReadFull(r.src, r.buf[n:ChunkSize+1])
		n += m
	}
	final := false
	switch {
	case err == nil:
		r.carry, r.hasCarry = r.buf[ChunkSize], true
		n = ChunkSize
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		final = true
	default:
		r.err = err
		return
	}
	chunkNonce(&r.nonce, r.idx, final)
	r.out = r.aead.Seal(r.buf[:0], r.nonce[:], r.buf[:n], r.ad[:])
	r.idx++
	r.done = final
}
