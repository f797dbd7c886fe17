package seal

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Opener decrypts one object. It is created by Header.Open once the data
// key has been unwrapped and the header authenticated. An Opener is safe
// for concurrent use; each reader it returns is not.
type Opener struct {
	hdr     Header
	auth    [slotOffset]byte // header bytes magic..MAC, identical across rewraps
	aead    cipher.AEAD
	dataKey [KeySize]byte
}

// Open unwraps the data key with the KEK named by h.KeyID and verifies the
// header MAC, which commits the header to the data key.
//
// A wrong key, a tampered key slot, or a header MAC mismatch is reported as
// an error wrapping ErrIntegrity. When keys cannot resolve h.KeyID, the
// error wraps both ErrIntegrity (from the blob alone an unknown id cannot be
// told from a corrupted one) and the error returned by keys.KEK, so callers
// can test for their key source's own "unknown key" error.
func (h *Header) Open(keys KeySource) (*Opener, error) {
	var dataKey [KeySize]byte
	defer clear(dataKey[:])
	if err := h.unwrap(keys, &dataKey); err != nil {
		return nil, err
	}
	return h.OpenWithDataKey(&dataKey)
}

func (h *Header) unwrap(keys KeySource, dataKey *[KeySize]byte) error {
	kek, err := keys.KEK(h.KeyID)
	if err != nil {
		return fmt.Errorf("%w: key-encryption key %d: %w", ErrIntegrity, h.KeyID, err)
	}
	if kek == nil {
		return fmt.Errorf("%w: key-encryption key %d: key source returned no key", ErrIntegrity, h.KeyID)
	}
	g, err := newGCM(kek[:])
	if err != nil {
		return err
	}
	w := h.WrappedKey
	if _, err := g.Open(dataKey[:0], w[:NonceSize], w[NonceSize:], wrapAD(h.ObjectID, h.KeyID)); err != nil {
		return fmt.Errorf("%w: data key does not unwrap under key-encryption key %d", ErrIntegrity, h.KeyID)
	}
	return nil
}

// OpenWithDataKey authenticates h against a data key obtained elsewhere
// (for example from a share link) and returns an Opener. A key that does
// not match the header MAC is reported as ErrIntegrity. The key slot of h
// is not used.
func (h *Header) OpenWithDataKey(dataKey *[KeySize]byte) (*Opener, error) {
	if h.Version != Version || h.Suite != SuiteAES256GCM || h.ChunkSize != ChunkSize {
		return nil, fmt.Errorf("%w: %w: version %d, suite %d, chunk size %d",
			ErrIntegrity, ErrUnsupported, h.Version, h.Suite, h.ChunkSize)
	}
	payloadKey, headerKey, err := deriveKeys(dataKey, &h.Salt)
	if err != nil {
		return nil, err
	}
	defer clear(payloadKey)
	defer clear(headerKey)
	o := &Opener{hdr: *h, dataKey: *dataKey}
	var b [HeaderSize]byte
	h.put(&b)
	copy(o.auth[:], b[:slotOffset])
	mac := headerMAC(headerKey, b[:authSize])
	if subtle.ConstantTimeCompare(mac, h.MAC[:]) != 1 {
		return nil, fmt.Errorf("%w: header MAC mismatch", ErrIntegrity)
	}
	if o.aead, err = newGCM(payloadKey); err != nil {
		return nil, err
	}
	return o, nil
}

// PayloadOpener returns an Opener for the payload chunks of object id, given
// its data key and salt from a source that authenticated them (a share
// link's sealed entry). No header is read or checked: each chunk still
// authenticates under the payload key derived from dataKey and salt and
// the object id, so a blob of another object, or one under another key,
// fails as ErrIntegrity at its first chunk. Header() of the result holds
// only the object id and salt.
func PayloadOpener(id ObjectID, salt *[SaltSize]byte, dataKey *[KeySize]byte) (*Opener, error) {
	payloadKey, headerKey, err := deriveKeys(dataKey, salt)
	if err != nil {
		return nil, err
	}
	defer clear(payloadKey)
	clear(headerKey)
	o := &Opener{hdr: Header{Version: Version, Suite: SuiteAES256GCM, ChunkSize: ChunkSize, ObjectID: id, Salt: *salt}, dataKey: *dataKey}
	if o.aead, err = newGCM(payloadKey); err != nil {
		return nil, err
	}
	return o, nil
}

// Rewrap returns a copy of h whose data key is wrapped under the KEK newID
// of keys instead of the KEK h.KeyID, with a fresh nonce from crypto/rand.
// Only the key slot (KeyID and WrappedKey) changes; the header MAC does not
// cover it, so the payload and the rest of the header stay valid and the
// stored blob need not be rewritten. The old header is authenticated first.
func (h *Header) Rewrap(keys KeySource, newID uint32) (*Header, error) {
	return h.rewrap(keys, newID, rand.Reader)
}

func (h *Header) rewrap(keys KeySource, newID uint32, rnd io.Reader) (*Header, error) {
	o, err := h.Open(keys)
	if err != nil {
		return nil, err
	}
	defer clear(o.dataKey[:])
	kek, err := keys.KEK(newID)
	if err != nil {
		return nil, fmt.Errorf("seal: rewrap: key-encryption key %d: %w", newID, err)
	}
	if kek == nil {
		return nil, fmt.Errorf("seal: rewrap: key-encryption key %d: key source returned no key", newID)
	}
	var nonce [NonceSize]byte
	if _, err := io.ReadFull(rnd, nonce[:]); err != nil {
		return nil, fmt.Errorf("seal: rewrap: reading nonce: %w", err)
	}
	nh := *h
	nh.KeyID = newID
	if err := wrapKey(&nh, kek, &o.dataKey, &nonce); err != nil {
		return nil, err
	}
	return &nh, nil
}

// Header returns the header the Opener was created from. The caller must
// not modify it.
func (o *Opener) Header() *Header { return &o.hdr }

// DataKey returns the object's data key, for sealing it under a share-link
// key. Handle it like any other key: never log it.
func (o *Opener) DataKey() *[KeySize]byte {
	k := o.dataKey
	return &k
}

// Window returns, for plaintext [off, off+length) of an object of plaintext
// size size, the byte window of the blob (offsets include the header) that
// NewReader needs: whole chunks only, and only the chunks covering the
// range. length -1 means to the end. See BlobWindow for the rules; for an
// invalid range Window returns (0, 0) and NewReader reports ErrRange.
func (o *Opener) Window(size, off, length int64) (blobOff, blobLen int64) {
	blobOff, blobLen, err := BlobWindow(size, off, length)
	if err != nil {
		return 0, 0
	}
	return blobOff, blobLen
}

// NewReader returns a reader of exactly the plaintext [off, off+length) of
// an object of plaintext size size. src must yield the blob bytes starting
// at the blobOff returned by Window for the same arguments. Each chunk is
// read whole and authenticated before any byte of it is returned.
//
// When a chunk fails to authenticate, or src ends early, and src implements
// Refetcher, the reader calls src.Refetch with the chunk's blob offset and
// reads the chunk once more. Read failures are *ChunkError values wrapping
// ErrIntegrity (and the Refetch error, if any) or, for other read errors of
// src, that error. The reader holds one chunk in memory and allocates
// nothing per chunk; it implements io.WriterTo.
func (o *Opener) NewReader(src io.Reader, size, off, length int64) io.Reader {
	w, err := window(size, off, length)
	if err != nil {
		return &openReader{err: err}
	}
	return &openReader{
		o:      o,
		src:    src,
		w:      w,
		idx:    w.first,
		buf:    make([]byte, w.chunkLen(w.first)),
		remain: w.length,
		skip:   w.skip,
	}
}

// CipherWindow returns, for blob bytes [off, off+length) of the blob of an
// object of plaintext size size, the byte window of the blob that
// NewVerifyingReader needs: the whole chunks that cover the range. The range
// must lie after the header and within the blob.
func CipherWindow(size, off, length int64) (blobOff, blobLen int64, err error) {
	w, _, err := cipherWindow(size, off, length)
	return w.blobOff, w.blobLen, err
}

// cipherWindow maps a ciphertext range to the window of its chunks and the
// bytes to drop from the first one.
func cipherWindow(size, off, length int64) (rangeWindow, int, error) {
	total := CiphertextSize(size)
	if size < 0 || total < 0 || off < HeaderSize || length < 1 || off+length > total {
		return rangeWindow{}, 0, fmt.Errorf("%w: ciphertext bytes %d+%d of a %d-byte blob", ErrRange, off, length, total)
	}
	first := (off - HeaderSize) / chunkCipherSize
	last := (off + length - 1 - HeaderSize) / chunkCipherSize
	w, err := window(size, first*ChunkSize, (last-first+1)*ChunkSize)
	if err != nil {
		return rangeWindow{}, 0, err
	}
	return w, int(off - w.blobOff), nil
}

// NewVerifyingReader returns a reader of exactly the ciphertext bytes
// [off, off+length) of the blob of an object of plaintext size size (off at
// or after HeaderSize), which authenticates every chunk the range touches
// before it returns any byte of it: a server can pass ciphertext on to a
// party that holds the data key (a share link's recipient) without passing
// on corruption. src must yield the blob bytes starting at the blobOff
// returned by CipherWindow for the same arguments. Failures, and failover
// through Refetcher, are as for NewReader.
func (o *Opener) NewVerifyingReader(src io.Reader, size, off, length int64) io.Reader {
	w, skip, err := cipherWindow(size, off, length)
	if err != nil {
		return &openReader{err: err}
	}
	return &openReader{
		o:       o,
		src:     src,
		w:       w,
		idx:     w.first,
		buf:     make([]byte, w.chunkLen(w.first)),
		remain:  length,
		skip:    skip,
		scratch: make([]byte, 0, w.chunkLen(w.first)),
	}
}

// Open authenticates and decrypts a whole blob held in memory and appends
// the plaintext to dst. The plaintext size follows from len(blob). The
// blob's header must match the Opener's header except in the key slot, which
// may hold an older wrapping. On failure Open returns nil and an error
// wrapping ErrIntegrity, and zeroes whatever it wrote into dst's spare
// capacity. dst and blob must not overlap.
func (o *Opener) Open(dst, blob []byte) ([]byte, error) {
	if len(blob) < HeaderSize {
		return nil, fmt.Errorf("%w: blob is %d bytes, shorter than the header", ErrIntegrity, len(blob))
	}
	if subtle.ConstantTimeCompare(blob[:slotOffset], o.auth[:]) != 1 {
		return nil, fmt.Errorf("%w: blob header does not match", ErrIntegrity)
	}
	size, err := PlaintextSize(int64(len(blob)))
	if err != nil {
		return nil, err
	}
	w, err := window(size, 0, -1)
	if err != nil {
		return nil, err
	}
	start := len(dst)
	out := slices.Grow(dst, int(size))
	p := blob[HeaderSize:]
	var nonce [NonceSize]byte
	for i := uint64(0); i <= w.final; i++ {
		n := w.chunkLen(i)
		chunkNonce(&nonce, i, i == w.final)
		pt, err := o.aead.Open(out[len(out):], nonce[:], p[:n], o.hdr.ObjectID[:])
		if err != nil {
			clear(out[start:])
			return nil, fmt.Errorf("%w: chunk %d failed authentication", ErrIntegrity, i)
		}
		out = out[:len(out)+len(pt)]
		p = p[n:]
	}
	return out, nil
}

// openReader streams the plaintext of a range. Chunks are decrypted in
// place in buf.
type openReader struct {
	o      *Opener
	src    io.Reader
	w      rangeWindow
	idx    uint64 // next chunk to read
	buf    []byte
	out    []byte // authenticated plaintext not yet returned
	nonce  [NonceSize]byte
	remain int64 // bytes still to return
	skip   int
	err    error
	// scratch, when set, receives each chunk's plaintext, and the reader
	// returns the authenticated ciphertext instead (NewVerifyingReader).
	scratch []byte
}

func (r *openReader) Read(p []byte) (int, error) {
	if err := r.fill(); err != nil {
		return 0, err
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

// WriteTo writes the plaintext to w, one authenticated chunk per Write,
// saving a copy for io.Copy.
func (r *openReader) WriteTo(w io.Writer) (int64, error) {
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
func (r *openReader) fill() error {
	for len(r.out) == 0 {
		if r.err != nil {
			return r.err
		}
		if r.idx > r.w.last {
			r.err = io.EOF
			continue
		}
		r.next()
	}
	return nil
}

// next reads, authenticates and decrypts chunk r.idx, retrying once from
// another replica if src is a Refetcher.
func (r *openReader) next() {
	i := r.idx
	off := HeaderSize + int64(i)*chunkCipherSize
	n := r.w.chunkLen(i)
	buf := r.buf[:n:n]
	chunkNonce(&r.nonce, i, i == r.w.final)
	pt, err := r.read(buf)
	if errors.Is(err, ErrIntegrity) {
		if rf, ok := r.src.(Refetcher); ok {
			if rerr := rf.Refetch(off); rerr != nil {
				err = fmt.Errorf("%w; refetch: %w", err, rerr)
			} else if pt, err = r.read(buf); err != nil {
				err = fmt.Errorf("after refetch: %w", err)
			}
		}
	}
	if err != nil {
		r.err = &ChunkError{Index: int64(i), Offset: off, Err: err}
		return
	}
	r.idx++
	pt = pt[r.skip:]
	r.skip = 0
	if int64(len(pt)) > r.remain {
		pt = pt[:r.remain]
	}
	r.remain -= int64(len(pt))
	r.out = pt
}

// read reads one chunk into buf and opens it in place. An early end of src
// is an integrity failure; other read errors are returned unchanged.
func (r *openReader) read(buf []byte) ([]byte, error) {
	if _, err := io.ReadFull(r.src, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: chunk truncated", ErrIntegrity)
		}
		return nil, err
	}
	dst := buf[:0]
	if r.scratch != nil {
		dst = r.scratch[:0]
	}
	pt, err := r.o.aead.Open(dst, r.nonce[:], buf, r.o.hdr.ObjectID[:])
	if err != nil {
		return nil, fmt.Errorf("%w: chunk failed authentication", ErrIntegrity)
	}
	if r.scratch != nil {
		return buf, nil // the authenticated ciphertext
	}
	return pt, nil
}

// ChunkError is the error of a streaming read that failed at a chunk. It
// wraps the cause: ErrIntegrity (possibly with a Refetch error) or the
// ciphertext source's read error. Offset is the chunk's blob offset, where
// a read can resume on another replica.
type ChunkError struct {
	Index  int64 // chunk index in the object
	Offset int64 // blob offset of the chunk, header included
	Err    error
}

// Error implements error.
func (e *ChunkError) Error() string {
	return fmt.Sprintf("seal: chunk %d at blob offset %d: %v", e.Index, e.Offset, e.Err)
}

// Unwrap returns the cause.
func (e *ChunkError) Unwrap() error { return e.Err }

// ErrKeyUnknown is wrapped, with ErrIntegrity, by NewStreamVerifier's
// reader when the key source cannot resolve the header's key-encryption key
// (for example a retired one): the object cannot be checked here, which
// does not mean it is corrupt.
var ErrKeyUnknown = errors.New("seal: key-encryption key not available to verify")

// NewStreamVerifier returns a reader of exactly the size bytes of a whole
// sealed object read from src (a blob or a record, header included), which
// authenticates the header under keys and every chunk before it returns any
// byte of them, and fails at the end if src holds more. It lets a copy from
// one store to another pass on nothing that does not authenticate.
func NewStreamVerifier(keys KeySource, src io.Reader, size int64) io.Reader {
	return &streamVerifier{keys: keys, src: src, size: size}
}

type streamVerifier struct {
	keys KeySource
	src  io.Reader
	size int64
	r    io.Reader // set after the header
	err  error
}

func (v *streamVerifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.r == nil {
		if err := v.start(); err != nil {
			v.err = err
			return 0, err
		}
	}
	n, err := v.r.Read(p)
	if err == io.EOF {
		var extra [1]byte
		if m, _ := io.ReadFull(v.src, extra[:]); m > 0 {
			err = fmt.Errorf("%w: data after the final chunk", ErrIntegrity)
		}
	}
	if err != nil {
		v.err = err
	}
	return n, err
}

// start reads and opens the header.
func (v *streamVerifier) start() error {
	plain, err := PlaintextSize(v.size)
	if err != nil {
		return err
	}
	var hb [HeaderSize]byte
	if _, err := io.ReadFull(v.src, hb[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: shorter than its header", ErrIntegrity)
		}
		return err
	}
	h, err := ParseHeader(hb[:])
	if err != nil {
		return err
	}
	if _, kerr := v.keys.KEK(h.KeyID); kerr != nil {
		return fmt.Errorf("%w: %w: key %d: %w", ErrIntegrity, ErrKeyUnknown, h.KeyID, kerr)
	}
	o, err := h.Open(v.keys)
	if err != nil {
		return err
	}
	v.r = io.MultiReader(bytes.NewReader(hb[:]), o.NewVerifyingReader(v.src, plain, HeaderSize, v.size-HeaderSize))
	return nil
}
