package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// presignPut builds a presigned PUT of the example bucket, written
// independently of the verifier: its query signs payload in an
// X-Amz-Content-Sha256 parameter ("" leaves the parameter out), headers
// are extra signed headers, and body is what the request carries.
func presignPut(payload string, headers map[string]string, body string) *http.Request {
	const host = "examplebucket.s3.amazonaws.com"
	signed := []string{"host"}
	for k := range headers {
		signed = append(signed, strings.ToLower(k))
	}
	if len(signed) > 1 && signed[1] < signed[0] {
		signed[0], signed[1] = signed[1], signed[0]
	}
	q := url.Values{}
	q.Set("X-Amz-Algorithm", "AWS4-HMAC-SHA256")
	q.Set("X-Amz-Credential", exampleAccessKey+"/20130524/us-east-1/s3/aws4_request")
	q.Set("X-Amz-Date", "20130524T000000Z")
	q.Set("X-Amz-Expires", "86400")
	q.Set("X-Amz-SignedHeaders", strings.Join(signed, ";"))
	hashed := "UNSIGNED-PAYLOAD"
	if payload != "" {
		q.Set("X-Amz-Content-Sha256", payload)
		hashed = payload
	}
	query := strings.ReplaceAll(q.Encode(), "+", "%20")
	var canonHeaders strings.Builder
	for _, h := range signed {
		v := host
		if h != "host" {
			v = headers[http.CanonicalHeaderKey(h)]
		}
		canonHeaders.WriteString(h + ":" + v + "\n")
	}
	creq := "PUT\n/test.txt\n" + query + "\n" + canonHeaders.String() + "\n" + strings.Join(signed, ";") + "\n" + hashed
	sum := sha256.Sum256([]byte(creq))
	sts := "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n" + hex.EncodeToString(sum[:])
	mac := func(key []byte, s string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(s))
		return h.Sum(nil)
	}
	key := []byte("AWS4" + exampleSecret)
	for _, s := range []string{"20130524", "us-east-1", "s3", "aws4_request"} {
		key = mac(key, s)
	}
	r := httptest.NewRequest("PUT", "/test.txt?"+query+"&X-Amz-Signature="+hex.EncodeToString(mac(key, sts)), strings.NewReader(body))
	r.Host = host
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	if body == "" {
		r.Body, r.ContentLength = http.NoBody, 0
	}
	return r
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestPresignedPayloadHash sends presigned PUTs whose query signs the
// body's SHA-256: a body that does not match must fail with
// XAmzContentSHA256Mismatch, and the handler must not get it.
func TestPresignedPayloadHash(t *testing.T) {
	const body = "the body the URL was signed for"
	const other = "another body of some other length"
	tests := []struct {
		name    string
		payload string
		headers map[string]string
		body    string
		status  int
		code    string
	}{
		{"matching body", sha256Hex(body), nil, body, 200, ""},
		{"matching body, upper-case hash", strings.ToUpper(sha256Hex(body)), nil, body, 200, ""},
		{"other body", sha256Hex(body), nil, other, 400, CodeXAmzContentSHA256Mismatch},
		{"body cut short", sha256Hex(body), nil, body[:10], 400, CodeXAmzContentSHA256Mismatch},
		{"empty body", sha256Hex(body), nil, "", 400, CodeXAmzContentSHA256Mismatch},
		{"signed for the empty body", emptySHA256, nil, other, 400, CodeXAmzContentSHA256Mismatch},
		{"unsigned payload", "UNSIGNED-PAYLOAD", nil, other, 200, ""},
		{"no payload parameter", "", nil, other, 200, ""},
		{"signed unsigned-payload header", sha256Hex(body), map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}, other, 400, CodeXAmzContentSHA256Mismatch},
		{"signed header hash of the other body", sha256Hex(body), map[string]string{"X-Amz-Content-Sha256": sha256Hex(other)}, other, 400, CodeXAmzContentSHA256Mismatch},
		{"streaming mode in the query", PayloadStreamingSigned, nil, body, 400, CodeAuthorizationQueryParamsError},
		{"not a hash", "abc", nil, body, 400, CodeAuthorizationQueryParamsError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, got, _ := serve(t, exampleVerifier(), presignPut(tt.payload, tt.headers, tt.body))
			if tt.status == http.StatusOK {
				if w.Code != http.StatusOK || string(got) != tt.body {
					t.Fatalf("status %d, handler got %q: %s", w.Code, got, w.Body.String())
				}
				return
			}
			expectError(t, w, tt.status, tt.code)
			if got != nil {
				t.Errorf("the handler received the whole body %q", got)
			}
		})
	}
}
