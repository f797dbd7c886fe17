package sigv4

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// The "Example: PUT Object" of "Signature Calculations for the
// Authorization Header: Transferring Payload in Multiple Chunks" in the
// Amazon S3 API reference: 66560 bytes of 'a' in chunks of 65536 and 1024.
const (
	streamSeed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
	streamSig1 = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
	streamSig2 = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
	streamSig3 = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
)

var streamData = bytes.Repeat([]byte{'a'}, 66560)

func streamBody() []byte {
	var b bytes.Buffer
	b.WriteString("10000;chunk-signature=" + streamSig1 + "\r\n")
	b.Write(streamData[:65536])
	b.WriteString("\r\n400;chunk-signature=" + streamSig2 + "\r\n")
	b.Write(streamData[65536:])
	b.WriteString("\r\n0;chunk-signature=" + streamSig3 + "\r\n\r\n")
	return b.Bytes()
}

func streamRequest(body []byte) *http.Request {
	r := httptest.NewRequest("PUT", "/examplebucket/chunkObject.txt", bytes.NewReader(body))
	r.Host = "s3.amazonaws.com"
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("X-Amz-Content-Sha256", PayloadStreamingSigned)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	// The signed Content-Length is the one of the example, whatever the
	// (possibly tampered) body's length.
	r.Header.Set("Content-Length", "66824")
	r.ContentLength = int64(len(body))
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+exampleAccessKey+"/20130524/us-east-1/s3/aws4_request,"+
		"SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"+
		"Signature="+streamSeed)
	return r
}

// limitHandler reads the body as gofakes3 does: at most Content-Length
// bytes through io.LimitReader, so it never reads to the end of a body
// itself. It records what it read.
type limitHandler struct {
	got    []byte
	header http.Header
	err    error
	called bool
}

func (h *limitHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.called = true
	h.header = r.Header.Clone()
	var rd io.Reader = r.Body
	if cl := r.Header.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil {
			http.Error(w, "bad content length", http.StatusBadRequest)
			return
		}
		rd = io.LimitReader(r.Body, n)
	}
	h.got, h.err = io.ReadAll(rd)
	if h.err != nil {
		http.Error(w, "internal", http.StatusInternalServerError)
		return
	}
	w.Header().Set("ETag", `"stored"`)
	w.WriteHeader(http.StatusOK)
}

func TestStreamingExample(t *testing.T) {
	h := &limitHandler{}
	w := httptest.NewRecorder()
	exampleVerifier().Middleware(h).ServeHTTP(w, streamRequest(streamBody()))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body.String())
	}
	if !bytes.Equal(h.got, streamData) {
		t.Fatalf("decoded %d bytes, want %d", len(h.got), len(streamData))
	}
	want := map[string]string{
		"X-Amz-Content-Sha256":         PayloadUnsigned,
		"Content-Length":               "66560",
		"Content-Encoding":             "",
		"X-Amz-Decoded-Content-Length": "",
		"X-Amz-Storage-Class":          "REDUCED_REDUNDANCY",
	}
	for k, v := range want {
		if got := h.header.Get(k); got != v {
			t.Errorf("next handler saw %s = %q, want %q", k, got, v)
		}
	}
}

func TestStreamingTamper(t *testing.T) {
	body := streamBody()
	flip := func(off int) func([]byte) []byte {
		return func(b []byte) []byte { b[off] ^= 1; return b }
	}
	sigOffset := func(sig string) int { return bytes.Index(body, []byte(sig)) }
	tests := []struct {
		name    string
		change  func([]byte) []byte
		opts    []Option
		status  int
		code    string
		maxData int // most bytes the handler may have received
	}{
		{"first chunk signature", flip(sigOffset(streamSig1) + 10), nil, 403, CodeSignatureDoesNotMatch, 0},
		{"first chunk data", flip(200), nil, 403, CodeSignatureDoesNotMatch, 0},
		{"second chunk data", flip(66000), nil, 403, CodeSignatureDoesNotMatch, 65536},
		{"final chunk signature", flip(sigOffset(streamSig3) + 3), nil, 403, CodeSignatureDoesNotMatch, 65536},
		{"truncated in data", func(b []byte) []byte { return b[:30000] }, nil, 400, CodeIncompleteBody, 0},
		{"truncated before final chunk", func(b []byte) []byte { return b[:sigOffset(streamSig3)-18] }, nil, 400, CodeIncompleteBody, 65536},
		{"final chunk missing signature", func(b []byte) []byte { return append(b[:sigOffset(streamSig3)-18], "0\r\n\r\n"...) }, nil, 400, CodeInvalidRequest, 65536},
		{"data after final chunk", func(b []byte) []byte { return append(b, "junk\r\n"...) }, nil, 400, CodeMalformedTrailer, 65536},
		{"chunk larger than declared", func(b []byte) []byte { return bytes.Replace(b, []byte("400;"), []byte("401;"), 1) }, nil, 400, CodeInvalidRequest, 65536},
		{"chunk over the size limit", nil, []Option{WithMaxChunkSize(4096)}, 400, CodeInvalidChunkSize, 0},
		{"chunk header too long", func(b []byte) []byte {
			return append([]byte(strings.Repeat("0", 5000)), b...)
		}, nil, 400, CodeInvalidChunkSize, 0},
		{"chunk size not hex", func(b []byte) []byte { return append([]byte("+"), b...) }, nil, 400, CodeInvalidChunkSize, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := append([]byte(nil), body...)
			if tt.change != nil {
				b = tt.change(b)
			}
			h := &limitHandler{}
			w := httptest.NewRecorder()
			exampleVerifier(tt.opts...).Middleware(h).ServeHTTP(w, streamRequest(b))
			expectError(t, w, tt.status, tt.code)
			if !h.called {
				t.Fatal("handler did not run")
			}
			if h.err == nil {
				t.Error("the handler's read did not fail")
			}
			if e, ok := AsError(h.err); !ok || e.Code != tt.code {
				t.Errorf("read error = %v, want code %s", h.err, tt.code)
			}
			if len(h.got) > tt.maxData {
				t.Errorf("handler received %d bytes, at most %d are verified", len(h.got), tt.maxData)
			}
			if w.Header().Get("ETag") != "" {
				t.Error("the handler's ETag leaked into the error response")
			}
		})
	}
}

func TestMissingDecodedLength(t *testing.T) {
	r := streamRequest(streamBody())
	r.Header.Del("X-Amz-Decoded-Content-Length")
	// Unsign the header so that the request gets past the signature.
	v := exampleVerifier()
	a := &authorization{key: signingKey(exampleSecret, scope{"20130524", "us-east-1"}), signature: streamSeed, t: exampleTime,
		scope: scope{"20130524", "us-east-1"}}
	if _, e := v.prepareBody(r, a); e == nil || e.Code != CodeMissingContentLength || e.Status != http.StatusLengthRequired {
		t.Errorf("prepareBody = %v, want MissingContentLength", e)
	}
}

// TestBodyErrorReplacesResponse checks that a handler which ignores a
// body error still cannot report success.
func TestBodyErrorReplacesResponse(t *testing.T) {
	r := awsExamples[1].build()
	r.Body = io.NopCloser(strings.NewReader("Welcome to Amazon S3?"))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("ETag", `"x"`)
		_, _ = w.Write([]byte("stored"))
	})
	w := httptest.NewRecorder()
	exampleVerifier().Middleware(h).ServeHTTP(w, r)
	expectError(t, w, http.StatusBadRequest, CodeXAmzContentSHA256Mismatch)
	if w.Header().Get("ETag") != "" || strings.Contains(w.Body.String(), "stored") {
		t.Errorf("handler output leaked: %v %q", w.Header(), w.Body.String())
	}
}

// TestSilentHandler checks that a handler which ignores a body error and
// writes nothing does not produce an implicit 200 OK.
func TestSilentHandler(t *testing.T) {
	r := awsExamples[1].build()
	r.Body = io.NopCloser(strings.NewReader("Welcome to Amazon S3?"))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	})
	w := httptest.NewRecorder()
	exampleVerifier().Middleware(h).ServeHTTP(w, r)
	expectError(t, w, http.StatusBadRequest, CodeXAmzContentSHA256Mismatch)
}
