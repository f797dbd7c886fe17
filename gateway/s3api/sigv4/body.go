package sigv4

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/twincrypt/twincrypt/gateway/checksum"
)

// Values of x-amz-content-sha256 that select how the body is sent.
const (
	PayloadUnsigned               = "UNSIGNED-PAYLOAD"
	PayloadStreamingSigned        = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	PayloadStreamingSignedTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	PayloadStreamingUnsignedTrl   = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// digest is one hash that the body must match.
type digest struct {
	h    hash.Hash
	want []byte
	fail func() *Error
}

// body verifies a request body while it is read. It knows how many bytes
// the body has (when it does) and performs every check during the Read
// that returns the last byte: if a check fails, that Read returns no data
// and the *Error instead, so a consumer that stops after Content-Length
// bytes (io.LimitReader) still sees the failure, and a consumer never
// receives the tail of a body that fails verification.
type body struct {
	src     io.Reader
	closer  io.Closer
	left    int64 // bytes still expected; -1 if unknown
	digests []digest
	err     atomic.Pointer[Error]
	done    bool
	// sumAlg and sumValue are the x-amz-checksum-<alg> checksum the
	// body declared (see Checksum); sumValue is set for a trailer once
	// it has been verified.
	sumAlg   checksum.Algorithm
	sumValue []byte
}

// Read implements io.Reader.
func (b *body) Read(p []byte) (int, error) {
	if e := b.err.Load(); e != nil {
		return 0, e
	}
	if b.done {
		return 0, io.EOF
	}
	if b.left == 0 {
		if e := b.finish(); e != nil {
			return 0, b.fail(e)
		}
		return 0, io.EOF
	}
	if b.left > 0 && int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.src.Read(p)
	for _, d := range b.digests {
		d.h.Write(p[:n])
	}
	if b.left > 0 {
		b.left -= int64(n)
	}
	switch {
	case err == nil || (errors.Is(err, io.EOF) && b.left <= 0):
		if b.left == 0 || err != nil {
			if e := b.finish(); e != nil {
				return 0, b.fail(e)
			}
		}
		return n, nil
	case errors.Is(err, io.EOF):
		return 0, b.fail(errIncomplete(io.ErrUnexpectedEOF))
	}
	if e, ok := AsError(err); ok {
		return 0, b.fail(e)
	}
	return 0, b.fail(errIncomplete(err))
}

func (b *body) fail(e *Error) error {
	b.err.CompareAndSwap(nil, e)
	return b.err.Load()
}

// failure returns the error the body failed with, if any.
func (b *body) failure() *Error { return b.err.Load() }

func (b *body) finish() *Error {
	if b.done {
		return nil
	}
	b.done = true
	if c, ok := b.src.(*chunkedReader); ok {
		if err := c.finish(); err != nil {
			if e, ok := AsError(err); ok {
				return e
			}
			return errIncomplete(err)
		}
		if c.sum != nil && b.sumAlg == checksumAlg(c.sumAlg) && b.sumValue == nil {
			b.sumValue = c.sumWant
		}
	}
	for _, d := range b.digests {
		if !bytes.Equal(d.h.Sum(nil), d.want) {
			return d.fail()
		}
	}
	return nil
}

// Close closes the original request body.
func (b *body) Close() error { return b.closer.Close() }

// prepareBody sets up verification and decoding of r's body according to
// the verified authorization a, and rewrites r's headers so that the next
// handler sees a plain (not aws-chunked) body of its decoded length.
func (v *Verifier) prepareBody(r *http.Request, a *authorization) (*body, *Error) {
	b := &body{src: r.Body, closer: r.Body, left: -1}
	if r.Body == nil || r.Body == http.NoBody {
		b.src, b.closer = http.NoBody, http.NoBody
	}
	if r.ContentLength >= 0 {
		b.left = r.ContentLength
	}
	mode := r.Header.Get("X-Amz-Content-Sha256")
	if p := a.queryPayload; p != "" && !strings.EqualFold(p, mode) {
		// A presigned URL signed the body's hash as a parameter.
		want, _ := hex.DecodeString(p)
		b.digests = append(b.digests, digest{h: sha256.New(), want: want, fail: func() *Error {
			return newError(CodeXAmzContentSHA256Mismatch, http.StatusBadRequest,
				"The provided 'X-Amz-Content-Sha256' parameter does not match what was computed.")
		}})
	}
	switch {
	case mode == "" || mode == PayloadUnsigned:
	case len(mode) == 64 && isHex(mode):
		want, _ := hex.DecodeString(mode)
		b.digests = append(b.digests, digest{h: sha256.New(), want: want, fail: func() *Error {
			return newError(CodeXAmzContentSHA256Mismatch, http.StatusBadRequest,
				"The provided 'x-amz-content-sha256' header does not match what was computed.")
		}})
	case mode == PayloadStreamingSigned, mode == PayloadStreamingSignedTrailer, mode == PayloadStreamingUnsignedTrl:
		if e := v.prepareChunked(r, a, b, mode); e != nil {
			return nil, e
		}
	case strings.HasPrefix(mode, "STREAMING-AWS4-ECDSA-P256-SHA256"):
		return nil, newError(CodeNotImplemented, http.StatusNotImplemented,
			"Signature Version 4A streaming payloads are not supported.")
	default:
		return nil, newError(CodeInvalidArgument, http.StatusBadRequest,
			"x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-UNSIGNED-PAYLOAD-TRAILER or a valid sha256 value.").
			with("ArgumentName", "x-amz-content-sha256").with("ArgumentValue", mode)
	}

	if vals, ok := r.Header["Content-Md5"]; ok {
		want, err := base64.StdEncoding.DecodeString(strings.Join(vals, ""))
		if len(vals) != 1 || err != nil || len(want) != md5.Size {
			return nil, newError(CodeInvalidDigest, http.StatusBadRequest,
				"The Content-MD5 you specified was invalid.")
		}
		b.digests = append(b.digests, digest{h: md5.New(), want: want, fail: func() *Error {
			return newError(CodeBadDigest, http.StatusBadRequest,
				"The Content-MD5 you specified did not match what we received.")
		}})
	}

	if checksumHeadersDescribeBody(r) {
		for _, a := range checksum.Algorithms {
			vals, ok := r.Header[http.CanonicalHeaderKey(a.Header())]
			if !ok || len(vals) == 0 {
				continue
			}
			alg := strings.ToLower(string(a))
			want, err := base64.StdEncoding.DecodeString(vals[0])
			if len(vals) != 1 || err != nil || len(want) != a.Size() {
				return nil, newError(CodeInvalidRequest, http.StatusBadRequest,
					fmt.Sprintf("Value for x-amz-checksum-%s header is invalid.", alg))
			}
			b.digests = append(b.digests, digest{h: a.New(), want: want, fail: func() *Error {
				return errChecksumMismatch(alg)
			}})
			if b.sumAlg == "" {
				b.sumAlg, b.sumValue = a, want
			}
		}
	}
	if c, ok := b.src.(*chunkedReader); ok && c.sum != nil && b.sumAlg == "" {
		b.sumAlg = checksumAlg(c.sumAlg)
	}
	// A consumer never reads an empty body (io.LimitReader with 0 returns
	// io.EOF at once), so an empty body is verified here and now: a signed
	// hash of non-empty content with no content is refused.
	if b.left == 0 {
		if e := b.finish(); e != nil {
			return nil, e
		}
	}
	return b, nil
}

// checksumHeadersDescribeBody reports whether the x-amz-checksum-<alg>
// headers of r are checksums of its body. They are for PutObject,
// UploadPart and POST requests with a body, but not for
// CompleteMultipartUpload (the checksum of the whole object) or copies.
func checksumHeadersDescribeBody(r *http.Request) bool {
	if r.Header.Get("X-Amz-Copy-Source") != "" {
		return false
	}
	switch r.Method {
	case http.MethodPut:
		return true
	case http.MethodPost:
		return !r.URL.Query().Has("uploadId")
	}
	return false
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// prepareChunked sets b up to decode an aws-chunked body and rewrites the
// request headers so that the next handler sees the decoded body.
func (v *Verifier) prepareChunked(r *http.Request, a *authorization, b *body, mode string) *Error {
	dl := r.Header.Values("X-Amz-Decoded-Content-Length")
	if len(dl) != 1 {
		return newError(CodeMissingContentLength, http.StatusLengthRequired,
			"You must provide the x-amz-decoded-content-length header with an aws-chunked body.")
	}
	decoded, err := strconv.ParseInt(dl[0], 10, 64)
	if err != nil || decoded < 0 {
		return newError(CodeInvalidArgument, http.StatusBadRequest, "Invalid x-amz-decoded-content-length.").
			with("ArgumentName", "x-amz-decoded-content-length").with("ArgumentValue", dl[0])
	}
	var signer *chunkSigner
	if mode != PayloadStreamingUnsignedTrl {
		signer = &chunkSigner{key: a.key, t: a.t, sc: a.scope, prev: a.signature}
	}
	var trailers []string
	for _, v := range r.Header.Values("X-Amz-Trailer") {
		for _, t := range strings.Split(v, ",") {
			if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
				trailers = append(trailers, t)
			}
		}
	}
	trailerMode := mode != PayloadStreamingSigned
	c, e := newChunkedReader(b.src, decoded, signer, trailerMode, trailers, v.maxChunkSize)
	if e != nil {
		return e
	}
	b.src = c
	b.left = decoded

	// The next handler must not decode the body again.
	h := r.Header
	h.Set("X-Amz-Content-Sha256", PayloadUnsigned)
	h.Del("X-Amz-Decoded-Content-Length")
	h.Del("X-Amz-Trailer")
	if len(trailers) > 0 {
		// The checksum named here was in the trailer, consumed and
		// verified above; the next handler has no trailer to look for.
		h.Del("X-Amz-Checksum-Algorithm")
	}
	if ce := removeToken(h.Values("Content-Encoding"), "aws-chunked"); ce == "" {
		h.Del("Content-Encoding")
	} else {
		h.Set("Content-Encoding", ce)
	}
	h.Set("Content-Length", strconv.FormatInt(decoded, 10))
	r.ContentLength = decoded
	r.TransferEncoding = nil
	return nil
}

// removeToken removes token from comma-separated header values.
func removeToken(values []string, token string) string {
	var out []string
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" && !strings.EqualFold(t, token) {
				out = append(out, t)
			}
		}
	}
	return strings.Join(out, ", ")
}
