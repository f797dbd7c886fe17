package sigv4

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
	"time"
)

const (
	// maxChunkLine bounds a chunk header line and each trailer line.
	maxChunkLine = 4096
	// maxTrailerBytes bounds the whole trailer section.
	maxTrailerBytes = 16 << 10
)

func errMalformedChunk(msg string) *Error {
	return newError(CodeInvalidRequest, http.StatusBadRequest, "Malformed aws-chunked body: "+msg)
}

func errIncomplete(cause error) *Error {
	return newError(CodeIncompleteBody, http.StatusBadRequest,
		"You did not provide the number of bytes specified by the Content-Length HTTP header.").wrap(cause)
}

func errChunkSignature() *Error {
	return newError(CodeSignatureDoesNotMatch, http.StatusForbidden,
		"The request signature we calculated does not match the signature you provided. Check your key and signing method.")
}

func errChecksumMismatch(alg string) *Error {
	return newError(CodeBadDigest, http.StatusBadRequest,
		fmt.Sprintf("The %s you specified did not match the calculated checksum.", strings.ToUpper(alg)))
}

// chunkSigner verifies the signatures of an aws-chunked body, chained
// from the seed signature of the request.
type chunkSigner struct {
	key  []byte
	t    time.Time
	sc   scope
	prev string
}

func (s *chunkSigner) chunk(sum []byte, sig string) bool {
	sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + s.t.UTC().Format(iso8601) + "\n" + s.sc.String() + "\n" +
		s.prev + "\n" + emptySHA256 + "\n" + hex.EncodeToString(sum)
	if !signatureEqual(sign(s.key, sts), sig) {
		return false
	}
	s.prev = sig
	return true
}

func (s *chunkSigner) trailer(trailer []byte, sig string) bool {
	h := sha256.Sum256(trailer)
	sts := "AWS4-HMAC-SHA256-TRAILER\n" + s.t.UTC().Format(iso8601) + "\n" + s.sc.String() + "\n" +
		s.prev + "\n" + hex.EncodeToString(h[:])
	if !signatureEqual(sign(s.key, sts), sig) {
		return false
	}
	s.prev = sig
	return true
}

// chunkedReader decodes an aws-chunked body. It verifies every chunk
// signature (when signer is set) before releasing the chunk's data, checks
// that the decoded length is exactly the declared one, and, once the last
// data byte is decoded and before it is returned, reads and verifies the
// final chunk and the trailer (its signature and checksum).
type chunkedReader struct {
	br        *bufio.Reader
	signer    *chunkSigner // nil for STREAMING-UNSIGNED-PAYLOAD-TRAILER
	trailers  []string     // declared trailer names (lower case)
	allowTrl  bool         // the mode carries a trailer
	maxChunk  int
	left      int64 // declared decoded bytes not yet decoded
	chunkLeft int64 // unsigned mode: bytes of the current chunk not yet read
	buf       []byte
	pending   []byte // verified data not yet returned

	sumAlg  string    // trailer checksum algorithm, if declared
	sum     hash.Hash // over the decoded data
	sumWant []byte    // the trailer's checksum, once verified
	values  map[string]string
	err     error
	done    bool
}

func newChunkedReader(body io.Reader, decoded int64, signer *chunkSigner, trailerMode bool, trailers []string, maxChunk int) (*chunkedReader, *Error) {
	c := &chunkedReader{
		br:       bufio.NewReaderSize(body, maxChunkLine),
		signer:   signer,
		allowTrl: trailerMode,
		trailers: trailers,
		maxChunk: maxChunk,
		left:     decoded,
	}
	if !trailerMode && len(trailers) > 0 {
		return nil, newError(CodeInvalidRequest, http.StatusBadRequest,
			"x-amz-trailer is only allowed with a STREAMING-*-TRAILER x-amz-content-sha256.")
	}
	for _, t := range trailers {
		alg, ok := checksumName(t)
		if !ok {
			return nil, newError(CodeInvalidRequest, http.StatusBadRequest,
				fmt.Sprintf("The value specified in the x-amz-trailer header is not supported: %q.", t))
		}
		if c.sum != nil {
			return nil, newError(CodeInvalidRequest, http.StatusBadRequest,
				"Expecting a single x-amz-checksum- trailer. Multiple checksum Types are not allowed.")
		}
		c.sumAlg, c.sum = alg, checksumAlg(alg).New()
	}
	return c, nil
}

// Read implements io.Reader.
func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if len(c.pending) > 0 {
			n := copy(p, c.pending)
			c.pending = c.pending[n:]
			if len(c.pending) == 0 && c.left == 0 {
				if err := c.finish(); err != nil {
					return 0, c.fail(err)
				}
			}
			return n, nil
		}
		if c.chunkLeft > 0 {
			return c.readUnsigned(p)
		}
		if c.left == 0 {
			if err := c.finish(); err != nil {
				return 0, c.fail(err)
			}
			return 0, io.EOF
		}
		if err := c.nextChunk(); err != nil {
			return 0, c.fail(err)
		}
	}
}

func (c *chunkedReader) fail(err error) error {
	c.err = err
	return err
}

// readUnsigned streams data of an unsigned chunk.
func (c *chunkedReader) readUnsigned(p []byte) (int, error) {
	if int64(len(p)) > c.chunkLeft {
		p = p[:c.chunkLeft]
	}
	n, err := c.br.Read(p)
	c.chunkLeft -= int64(n)
	if c.sum != nil {
		c.sum.Write(p[:n])
	}
	if c.chunkLeft == 0 {
		if err := c.readCRLF(); err != nil {
			return 0, c.fail(err)
		}
		if c.left == 0 {
			if err := c.finish(); err != nil {
				return 0, c.fail(err)
			}
		}
		return n, nil
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return n, c.fail(errIncomplete(err))
	}
	return n, nil
}

// readLine reads one line, without its CRLF (or LF).
func (c *chunkedReader) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, newError(CodeInvalidChunkSize, http.StatusBadRequest,
			fmt.Sprintf("Chunk header or trailer line longer than %d bytes.", maxChunkLine))
	case errors.Is(err, io.EOF) && len(line) > 0:
		// A last line without its line ending.
	case err != nil:
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, nil
}

func (c *chunkedReader) readCRLF() error {
	var crlf [2]byte
	if _, err := io.ReadFull(c.br, crlf[:]); err != nil {
		return errIncomplete(err)
	}
	if crlf != [2]byte{'\r', '\n'} {
		return errMalformedChunk("chunk data not followed by CRLF")
	}
	return nil
}

// parseChunkHeader parses "<hex size>[;chunk-signature=<sig>]".
func (c *chunkedReader) parseChunkHeader() (size int64, sig string, err error) {
	line, err := c.readLine()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		if _, ok := AsError(err); ok {
			return 0, "", err
		}
		return 0, "", errIncomplete(err)
	}
	sizeText, ext, hasExt := strings.Cut(string(line), ";")
	if sizeText == "" || len(sizeText) > 15 {
		return 0, "", newError(CodeInvalidChunkSize, http.StatusBadRequest, "Invalid chunk size.")
	}
	for _, ch := range []byte(sizeText) {
		var d byte
		switch {
		case '0' <= ch && ch <= '9':
			d = ch - '0'
		case 'a' <= ch && ch <= 'f':
			d = ch - 'a' + 10
		case 'A' <= ch && ch <= 'F':
			d = ch - 'A' + 10
		default:
			return 0, "", newError(CodeInvalidChunkSize, http.StatusBadRequest, "Invalid chunk size.")
		}
		size = size<<4 | int64(d)
	}
	if c.signer != nil {
		name, val, _ := strings.Cut(ext, "=")
		if !hasExt || name != "chunk-signature" || !isHexSignature(val) {
			return 0, "", errMalformedChunk("missing or invalid chunk-signature")
		}
		sig = val
	}
	return size, sig, nil
}

// nextChunk reads the header of the next data chunk, and for signed
// chunks the whole chunk, verifying its signature.
func (c *chunkedReader) nextChunk() error {
	size, sig, err := c.parseChunkHeader()
	if err != nil {
		return err
	}
	switch {
	case size == 0:
		return errIncomplete(fmt.Errorf("aws-chunked body ended %d bytes before x-amz-decoded-content-length", c.left))
	case size > c.left:
		return errMalformedChunk("chunks are longer than x-amz-decoded-content-length")
	}
	c.left -= size
	if c.signer == nil {
		c.chunkLeft = size
		return nil
	}
	if size > int64(c.maxChunk) {
		return newError(CodeInvalidChunkSize, http.StatusBadRequest,
			fmt.Sprintf("Chunk size %d exceeds the maximum of %d bytes.", size, c.maxChunk))
	}
	if int64(cap(c.buf)) < size {
		c.buf = make([]byte, size)
	}
	data := c.buf[:size]
	if _, err := io.ReadFull(c.br, data); err != nil {
		return errIncomplete(err)
	}
	if err := c.readCRLF(); err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	if !c.signer.chunk(sum[:], sig) {
		return errChunkSignature()
	}
	if c.sum != nil {
		c.sum.Write(data)
	}
	c.pending = data
	return nil
}

// finish reads the final chunk and the trailer up to the end of the body,
// and verifies them.
func (c *chunkedReader) finish() error {
	if c.done {
		return nil
	}
	c.done = true
	size, sig, err := c.parseChunkHeader()
	if err != nil {
		return err
	}
	if size != 0 {
		return errMalformedChunk("chunks are longer than x-amz-decoded-content-length")
	}
	if c.signer != nil && !c.signer.chunk(emptySHA256Sum[:], sig) {
		return errChunkSignature()
	}

	var signed bytes.Buffer // trailer lines as signed: "name:value\n"
	var trailerSig string
	c.values = map[string]string{}
	total := 0
	for {
		line, err := c.readLine()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if _, ok := AsError(err); ok {
				return err
			}
			return errIncomplete(err)
		}
		total += len(line) + 2
		if total > maxTrailerBytes {
			return newError(CodeMalformedTrailer, http.StatusBadRequest, "The trailer is too long.")
		}
		if len(line) == 0 {
			continue
		}
		if trailerSig != "" || !c.allowTrl {
			return newError(CodeMalformedTrailer, http.StatusBadRequest, "Unexpected data after the final chunk.")
		}
		name, val, ok := strings.Cut(string(line), ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" {
			return newError(CodeMalformedTrailer, http.StatusBadRequest, "The request contained trailing data that was not well-formed.")
		}
		if name == "x-amz-trailer-signature" && c.signer != nil {
			trailerSig = strings.TrimSpace(val)
			continue
		}
		if _, dup := c.values[name]; dup || !contains(c.trailers, name) {
			return newError(CodeMalformedTrailer, http.StatusBadRequest,
				fmt.Sprintf("The trailer %q was not declared in x-amz-trailer or appears more than once.", name))
		}
		c.values[name] = strings.TrimSpace(val)
		signed.Write(line)
		signed.WriteByte('\n')
	}
	if c.allowTrl && c.signer != nil {
		if trailerSig == "" {
			return newError(CodeMalformedTrailer, http.StatusBadRequest, "The trailer signature is missing.")
		}
		if !c.signer.trailer(signed.Bytes(), trailerSig) {
			return errChunkSignature()
		}
	}
	for _, t := range c.trailers {
		if _, ok := c.values[t]; !ok {
			return newError(CodeMalformedTrailer, http.StatusBadRequest,
				fmt.Sprintf("The trailer %q declared in x-amz-trailer is missing.", t))
		}
	}
	if c.sum != nil {
		want, err := base64.StdEncoding.DecodeString(c.values[checksumHeaderPrefix+c.sumAlg])
		if err != nil || len(want) != c.sum.Size() {
			return newError(CodeInvalidRequest, http.StatusBadRequest,
				fmt.Sprintf("Value for x-amz-checksum-%s trailing header is invalid.", c.sumAlg))
		}
		if !bytes.Equal(c.sum.Sum(nil), want) {
			return errChecksumMismatch(c.sumAlg)
		}
		c.sumWant = want
	}
	return nil
}

var emptySHA256Sum = sha256.Sum256(nil)

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
