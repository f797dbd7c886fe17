package sigv4

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/minio/crc64nvme"
	"github.com/minio/minio-go/v7/pkg/signer"
)

// These tests sign requests with minio-go's signer, an independent
// implementation of Signature Version 4, send them over a real HTTP
// connection to the middleware, and check what the next handler reads.

const (
	testAccessKey = "twincrypt-test"
	testSecret    = "s3cr3t/with+odd=chars"
	testRegion    = "us-east-1"
)

type sha256Hasher struct{ hash.Hash }

func (sha256Hasher) Close() {}

func newSHA256Hasher() sha256Hasher { return sha256Hasher{sha256.New()} }

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func b64(h hash.Hash, data []byte) string {
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// independentChecksums computes the trailer checksums with
// implementations other than the package's own where one exists.
func independentChecksum(alg string, data []byte) string {
	switch alg {
	case "crc32":
		return b64(crc32.NewIEEE(), data)
	case "crc32c":
		return b64(crc32.New(crc32.MakeTable(crc32.Castagnoli)), data)
	case "crc64nvme":
		return b64(crc64nvme.New(), data)
	case "sha1":
		return b64(sha1.New(), data)
	case "sha256":
		return b64(sha256.New(), data)
	}
	panic("unknown algorithm " + alg)
}

type result struct {
	status int
	code   string
	got    []byte
	header http.Header
	called bool
}

// roundTrip sends req to a fresh server running the middleware in front
// of a limitHandler.
func roundTrip(t *testing.T, build func(base string) *http.Request) result {
	t.Helper()
	h := &limitHandler{}
	v := New(StaticCredentials{testAccessKey: testSecret})
	srv := httptest.NewServer(v.Middleware(h))
	defer srv.Close()
	req := build(srv.URL)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	res := result{status: resp.StatusCode, got: h.got, header: h.header, called: h.called}
	if resp.StatusCode != http.StatusOK {
		var doc errorDoc
		if err := xml.Unmarshal(body, &doc); err != nil {
			t.Fatalf("status %d, body %q: %v", resp.StatusCode, body, err)
		}
		res.code = doc.Code
	}
	return res
}

func newRequest(t *testing.T, method, base, path string, query url.Values, body []byte) *http.Request {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u.String(), rd)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestMinioSigner(t *testing.T) {
	data := randomBytes(t, 200_000) // four signed chunks of 64 KiB and a short one
	sum := sha256.Sum256(data)
	md5sum := md5.Sum(data)
	key := "/bucket/dir/ü ñ+$&=@,;:'()!*.txt"
	q := url.Values{"partNumber": {"3"}, "uploadId": {"a b~c/d+e"}}

	streaming := func(trailer http.Header, secret string) func(string) *http.Request {
		return func(base string) *http.Request {
			req := newRequest(t, "PUT", base, key, q, data)
			req.Trailer = trailer
			return signer.StreamingSignV4(req, testAccessKey, secret, "", testRegion, int64(len(data)), time.Now().UTC(), newSHA256Hasher())
		}
	}
	unsignedTrailer := func(alg, value string) func(string) *http.Request {
		return func(base string) *http.Request {
			req := newRequest(t, "PUT", base, key, nil, data)
			req.Header.Set("X-Amz-Content-Sha256", PayloadStreamingUnsignedTrl)
			return signer.SignV4Trailer(*req, testAccessKey, testSecret, "", testRegion,
				http.Header{"x-amz-checksum-" + alg: {value}})
		}
	}
	plain := func(payload string, secret string, headers map[string][]string, body []byte) func(string) *http.Request {
		return func(base string) *http.Request {
			req := newRequest(t, "PUT", base, key, q, body)
			req.Header.Set("X-Amz-Content-Sha256", payload)
			for k, vs := range headers {
				for _, v := range vs {
					req.Header.Add(k, v)
				}
			}
			return signer.SignV4(*req, testAccessKey, secret, "", testRegion)
		}
	}
	hexSum := hex.EncodeToString(sum[:])
	flipped := append([]byte(nil), data...)
	flipped[12345] ^= 0x80

	tests := []struct {
		name   string
		build  func(string) *http.Request
		status int
		code   string
	}{
		{"signed payload", plain(hexSum, testSecret, nil, data), 200, ""},
		{"signed payload, body flipped", plain(hexSum, testSecret, nil, flipped), 400, CodeXAmzContentSHA256Mismatch},
		{"unsigned payload", plain(PayloadUnsigned, testSecret, nil, data), 200, ""},
		{"wrong secret", plain(PayloadUnsigned, "wrong", nil, data), 403, CodeSignatureDoesNotMatch},
		{"multi-valued header with white space", plain(PayloadUnsigned, testSecret,
			map[string][]string{"X-Amz-Meta-Multi": {"  a   b ", "c\t d"}}, data), 200, ""},
		{"content-md5", plain(PayloadUnsigned, testSecret,
			map[string][]string{"Content-Md5": {base64.StdEncoding.EncodeToString(md5sum[:])}}, data), 200, ""},
		{"content-md5 mismatch", plain(PayloadUnsigned, testSecret,
			map[string][]string{"Content-Md5": {base64.StdEncoding.EncodeToString(md5sum[:])}}, flipped), 400, CodeBadDigest},
		{"checksum header", plain(PayloadUnsigned, testSecret,
			map[string][]string{"X-Amz-Checksum-Crc32c": {independentChecksum("crc32c", data)}}, data), 200, ""},
		{"checksum header mismatch", plain(PayloadUnsigned, testSecret,
			map[string][]string{"X-Amz-Checksum-Sha1": {independentChecksum("sha1", data)}}, flipped), 400, CodeBadDigest},
		{"streaming signed", streaming(nil, testSecret), 200, ""},
		{"streaming signed, wrong secret", streaming(nil, "wrong"), 403, CodeSignatureDoesNotMatch},
		{"streaming signed trailer", streaming(http.Header{"x-amz-checksum-crc32": {independentChecksum("crc32", data)}}, testSecret), 200, ""},
		{"streaming signed trailer, wrong checksum", streaming(http.Header{"x-amz-checksum-crc32": {independentChecksum("crc32", flipped)}}, testSecret), 400, CodeBadDigest},
		{"presigned GET", func(base string) *http.Request {
			req := newRequest(t, "GET", base, key, q, nil)
			return signer.PreSignV4(*req, testAccessKey, testSecret, "", testRegion, 60)
		}, 200, ""},
		{"presigned PUT", func(base string) *http.Request {
			req := newRequest(t, "PUT", base, key, nil, nil)
			req = signer.PreSignV4(*req, testAccessKey, testSecret, "", testRegion, 60)
			req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(data)), int64(len(data))
			return req
		}, 200, ""},
		{"presigned, wrong secret", func(base string) *http.Request {
			req := newRequest(t, "GET", base, key, nil, nil)
			return signer.PreSignV4(*req, testAccessKey, "wrong", "", testRegion, 60)
		}, 403, CodeSignatureDoesNotMatch},
	}
	for _, alg := range []string{"crc32", "crc32c", "crc64nvme", "sha1", "sha256"} {
		tests = append(tests,
			struct {
				name   string
				build  func(string) *http.Request
				status int
				code   string
			}{"unsigned trailer " + alg, unsignedTrailer(alg, independentChecksum(alg, data)), 200, ""},
			struct {
				name   string
				build  func(string) *http.Request
				status int
				code   string
			}{"unsigned trailer " + alg + ", wrong checksum", unsignedTrailer(alg, independentChecksum(alg, flipped)), 400, CodeBadDigest},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := roundTrip(t, tt.build)
			if res.status != tt.status || res.code != tt.code {
				t.Fatalf("status %d %q, want %d %q", res.status, res.code, tt.status, tt.code)
			}
			if tt.status != http.StatusOK {
				return
			}
			want := data
			if res.header.Get("Content-Length") == "0" || res.header.Get("Content-Length") == "" {
				want = nil
			}
			if !bytes.Equal(res.got, want) {
				t.Errorf("handler read %d bytes, want %d (equal: %v)", len(res.got), len(want), bytes.Equal(res.got, want))
			}
			for _, h := range []string{"X-Amz-Decoded-Content-Length", "X-Amz-Trailer", "Content-Encoding"} {
				if v := res.header.Get(h); v != "" {
					t.Errorf("next handler saw %s: %q", h, v)
				}
			}
		})
	}
}
