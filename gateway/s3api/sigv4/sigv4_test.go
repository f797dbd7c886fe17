package sigv4

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The example credentials and time of the AWS Signature Version 4
// documentation for S3.
const (
	exampleAccessKey = "AKIAIOSFODNN7EXAMPLE"
	exampleSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

var exampleTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

func exampleVerifier(opts ...Option) *Verifier {
	opts = append([]Option{WithClock(func() time.Time { return exampleTime })}, opts...)
	return New(StaticCredentials{exampleAccessKey: exampleSecret}, opts...)
}

// exampleRequest is a request of the AWS documentation's examples.
type exampleRequest struct {
	name    string
	method  string
	target  string
	host    string
	headers [][2]string
	body    string
}

func (e exampleRequest) build() *http.Request {
	r := httptest.NewRequest(e.method, e.target, strings.NewReader(e.body))
	r.Host = e.host
	for _, h := range e.headers {
		r.Header.Add(h[0], h[1])
	}
	if e.body == "" {
		r.Body = http.NoBody
		r.ContentLength = 0
	}
	return r
}

func auth(signed, sig string) string {
	return "AWS4-HMAC-SHA256 Credential=" + exampleAccessKey + "/20130524/us-east-1/s3/aws4_request,SignedHeaders=" + signed + ",Signature=" + sig
}

// awsExamples are the header-signed examples of "Signature Calculations
// for the Authorization Header: Transferring Payload in a Single Chunk"
// in the Amazon S3 API reference.
var awsExamples = []exampleRequest{
	{
		name: "GET object with range", method: "GET", target: "/test.txt", host: "examplebucket.s3.amazonaws.com",
		headers: [][2]string{
			{"Range", "bytes=0-9"},
			{"X-Amz-Content-Sha256", emptySHA256},
			{"X-Amz-Date", "20130524T000000Z"},
			{"Authorization", auth("host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")},
		},
	},
	{
		name: "PUT object", method: "PUT", target: "/test$file.text", host: "examplebucket.s3.amazonaws.com",
		body: "Welcome to Amazon S3.",
		headers: [][2]string{
			{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
			{"X-Amz-Date", "20130524T000000Z"},
			{"X-Amz-Storage-Class", "REDUCED_REDUNDANCY"},
			{"X-Amz-Content-Sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"},
			{"Authorization", auth("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class", "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")},
		},
	},
	{
		name: "GET bucket lifecycle", method: "GET", target: "/?lifecycle", host: "examplebucket.s3.amazonaws.com",
		headers: [][2]string{
			{"X-Amz-Date", "20130524T000000Z"},
			{"X-Amz-Content-Sha256", emptySHA256},
			{"Authorization", auth("host;x-amz-content-sha256;x-amz-date", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")},
		},
	},
	{
		name: "GET bucket list objects", method: "GET", target: "/?max-keys=2&prefix=J", host: "examplebucket.s3.amazonaws.com",
		headers: [][2]string{
			{"X-Amz-Date", "20130524T000000Z"},
			{"X-Amz-Content-Sha256", emptySHA256},
			{"Authorization", auth("host;x-amz-content-sha256;x-amz-date", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")},
		},
	},
	{
		name: "presigned GET", method: "GET", host: "examplebucket.s3.amazonaws.com",
		target: "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
	},
}

func TestAWSExamples(t *testing.T) {
	v := exampleVerifier()
	for _, ex := range awsExamples {
		t.Run(ex.name, func(t *testing.T) {
			id, err := v.Verify(ex.build())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id.AccessKey != exampleAccessKey || id.Region != "us-east-1" {
				t.Errorf("identity = %+v", id)
			}
		})
	}
}

// errorDoc is the XML error response.
type errorDoc struct {
	Code      string
	Message   string
	RequestID string `xml:"RequestId"`
}

// serve runs r through the middleware in front of a handler that reads the
// whole body, and returns the response, the handler's body and whether the
// handler ran.
func serve(t *testing.T, v *Verifier, r *http.Request) (*httptest.ResponseRecorder, []byte, bool) {
	t.Helper()
	var got []byte
	called := false
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called = true
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read: "+err.Error(), http.StatusInternalServerError)
			return
		}
		got = b
		w.WriteHeader(http.StatusOK)
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w, got, called
}

func decodeError(t *testing.T, w *httptest.ResponseRecorder) errorDoc {
	t.Helper()
	var doc errorDoc
	if err := xml.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	if doc.RequestID == "" || doc.RequestID != w.Header().Get(RequestIDHeader) {
		t.Errorf("RequestId %q, header %q", doc.RequestID, w.Header().Get(RequestIDHeader))
	}
	return doc
}

func expectError(t *testing.T, w *httptest.ResponseRecorder, status int, code string) errorDoc {
	t.Helper()
	if w.Code != status {
		t.Errorf("status = %d, want %d (body %s)", w.Code, status, w.Body.String())
	}
	doc := decodeError(t, w)
	if doc.Code != code {
		t.Errorf("code = %q, want %q (message %q)", doc.Code, code, doc.Message)
	}
	return doc
}

func TestAWSExamplesThroughMiddleware(t *testing.T) {
	v := exampleVerifier()
	w, got, called := serve(t, v, awsExamples[1].build())
	if w.Code != http.StatusOK || !called {
		t.Fatalf("status %d, called %v: %s", w.Code, called, w.Body.String())
	}
	if string(got) != "Welcome to Amazon S3." {
		t.Errorf("body = %q", got)
	}
}

// TestTamper changes one element of a signed request at a time; each
// change must fail with the given error and never reach the handler.
func TestTamper(t *testing.T) {
	get, put := awsExamples[0], awsExamples[1]
	tests := []struct {
		name   string
		base   exampleRequest
		change func(r *http.Request)
		status int
		code   string
	}{
		{"method", get, func(r *http.Request) { r.Method = "DELETE" }, 403, CodeSignatureDoesNotMatch},
		{"path", get, func(r *http.Request) { r.URL.Path = "/test.txu" }, 403, CodeSignatureDoesNotMatch},
		{"query added", get, func(r *http.Request) { r.URL.RawQuery = "acl" }, 403, CodeSignatureDoesNotMatch},
		{"host", get, func(r *http.Request) { r.Host = "otherbucket.s3.amazonaws.com" }, 403, CodeSignatureDoesNotMatch},
		{"signed header value", get, func(r *http.Request) { r.Header.Set("Range", "bytes=0-10") }, 403, CodeSignatureDoesNotMatch},
		{"payload hash", get, func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", PayloadUnsigned) }, 403, CodeSignatureDoesNotMatch},
		{"date", get, func(r *http.Request) { r.Header.Set("X-Amz-Date", "20130524T000001Z") }, 403, CodeSignatureDoesNotMatch},
		{"signature", get, func(r *http.Request) { setAuth(r, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb42") }, 403, CodeSignatureDoesNotMatch},
		{"region", get, func(r *http.Request) { replaceAuth(r, "us-east-1", "eu-west-1") }, 403, CodeSignatureDoesNotMatch},
		{"unknown key", get, func(r *http.Request) { replaceAuth(r, exampleAccessKey, "AKIAIOSFODNN7EXAMPLF") }, 403, CodeInvalidAccessKeyID},
		{"unsigned x-amz header", get, func(r *http.Request) { r.Header.Set("X-Amz-Copy-Source", "/b/k") }, 403, CodeAccessDenied},
		{"signed headers without host", get, func(r *http.Request) { replaceAuth(r, "SignedHeaders=host;", "SignedHeaders=") }, 403, CodeAccessDenied},
		{"scope date", get, func(r *http.Request) { replaceAuth(r, "/20130524/", "/20130525/") }, 400, CodeAuthorizationHeaderMalformed},
		{"service", get, func(r *http.Request) { replaceAuth(r, "/s3/", "/ec2/") }, 400, CodeAuthorizationHeaderMalformed},
		{"terminator", get, func(r *http.Request) { replaceAuth(r, "aws4_request", "aws5_request") }, 400, CodeAuthorizationHeaderMalformed},
		{"missing signature", get, func(r *http.Request) { replaceAuth(r, ",Signature=", ",Sig=") }, 400, CodeAuthorizationHeaderMalformed},
		{"unsorted signed headers", get, func(r *http.Request) { replaceAuth(r, "host;range", "range;host") }, 400, CodeAuthorizationHeaderMalformed},
		{"short signature", get, func(r *http.Request) { setAuth(r, "f0e8") }, 400, CodeAuthorizationHeaderMalformed},
		{"no x-amz-content-sha256", get, func(r *http.Request) { r.Header.Del("X-Amz-Content-Sha256") }, 400, CodeInvalidRequest},
		{"bad x-amz-date", get, func(r *http.Request) { r.Header.Set("X-Amz-Date", "2013-05-24") }, 403, CodeAccessDenied},
		{"anonymous", get, func(r *http.Request) { r.Header.Del("Authorization") }, 403, CodeAccessDenied},
		{"sigv2", get, func(r *http.Request) {
			r.Header.Set("Authorization", "AWS "+exampleAccessKey+":frJIUN8DYpKDtOLCwo//yllqDzg=")
		}, 400, CodeInvalidRequest},
		{"sigv2 presigned", get, func(r *http.Request) {
			r.Header.Del("Authorization")
			r.URL.RawQuery = "AWSAccessKeyId=" + exampleAccessKey + "&Expires=1141889120&Signature=vjbyPxybdZaNmGa%2ByT272YEAiv4%3D"
		}, 400, CodeInvalidRequest},
		{"sigv4a", get, func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), algorithm, "AWS4-ECDSA-P256-SHA256", 1))
		}, 501, CodeNotImplemented},
		{"header and query auth", get, func(r *http.Request) { r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256" }, 400, CodeInvalidArgument},
		{"body bit flip", put, func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader("Welcome to Amazon S3/")) }, 400, CodeXAmzContentSHA256Mismatch},
		{"body truncated", put, func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader("Welcome to Amazon"))
		}, 400, CodeIncompleteBody},
		{"storage class", put, func(r *http.Request) { r.Header.Set("X-Amz-Storage-Class", "STANDARD") }, 403, CodeSignatureDoesNotMatch},
		{"date header", put, func(r *http.Request) { r.Header.Set("Date", "Fri, 24 May 2013 00:00:01 GMT") }, 403, CodeSignatureDoesNotMatch},
		{"content-md5 wrong", put, func(r *http.Request) { r.Header.Set("Content-Md5", "1B2M2Y8AsgTpgAmY7PhCfg==") }, 400, CodeBadDigest},
		{"content-md5 invalid", put, func(r *http.Request) { r.Header.Set("Content-Md5", "not base64") }, 400, CodeInvalidDigest},
	}
	v := exampleVerifier()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.base.build()
			tt.change(r)
			w, _, called := serve(t, v, r)
			expectError(t, w, tt.status, tt.code)
			if called && tt.status != http.StatusBadRequest {
				t.Errorf("handler ran for a request refused with %d", tt.status)
			}
		})
	}
}

func setAuth(r *http.Request, sig string) {
	a := r.Header.Get("Authorization")
	r.Header.Set("Authorization", a[:strings.LastIndex(a, "=")+1]+sig)
}

func replaceAuth(r *http.Request, old, new string) {
	r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
}

func TestSkew(t *testing.T) {
	tests := []struct {
		name   string
		offset time.Duration
		ok     bool
	}{
		{"exact", 0, true},
		{"14m59s behind", 14*time.Minute + 59*time.Second, true},
		{"14m59s ahead", -(14*time.Minute + 59*time.Second), true},
		{"16m behind", 16 * time.Minute, false},
		{"16m ahead", -16 * time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := New(StaticCredentials{exampleAccessKey: exampleSecret},
				WithClock(func() time.Time { return exampleTime.Add(tt.offset) }))
			w, _, _ := serve(t, v, awsExamples[0].build())
			if tt.ok {
				if w.Code != http.StatusOK {
					t.Fatalf("status %d: %s", w.Code, w.Body.String())
				}
				return
			}
			expectError(t, w, http.StatusForbidden, CodeRequestTimeTooSkewed)
		})
	}
}

func TestPresign(t *testing.T) {
	base := awsExamples[4]
	tests := []struct {
		name   string
		now    time.Time
		change func(q string) string
		status int
		code   string
	}{
		{"valid", exampleTime.Add(time.Hour), nil, 200, ""},
		{"last second", exampleTime.Add(86400 * time.Second), nil, 200, ""},
		{"expired", exampleTime.Add(86401 * time.Second), nil, 403, CodeAccessDenied},
		{"not yet valid", exampleTime.Add(-time.Hour), nil, 403, CodeAccessDenied},
		{"expires tampered", exampleTime, func(q string) string { return strings.Replace(q, "X-Amz-Expires=86400", "X-Amz-Expires=86401", 1) }, 403, CodeSignatureDoesNotMatch},
		{"expires over a week", exampleTime, func(q string) string { return strings.Replace(q, "X-Amz-Expires=86400", "X-Amz-Expires=604801", 1) }, 400, CodeAuthorizationQueryParamsError},
		{"expires not a number", exampleTime, func(q string) string { return strings.Replace(q, "X-Amz-Expires=86400", "X-Amz-Expires=1d", 1) }, 400, CodeAuthorizationQueryParamsError},
		{"expires missing", exampleTime, func(q string) string { return strings.Replace(q, "X-Amz-Expires=86400&", "", 1) }, 400, CodeAuthorizationQueryParamsError},
		{"algorithm", exampleTime, func(q string) string { return strings.Replace(q, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", 1) }, 400, CodeAuthorizationQueryParamsError},
		{"extra parameter", exampleTime, func(q string) string { return q + "&response-content-type=text/html" }, 403, CodeSignatureDoesNotMatch},
		{"unknown key", exampleTime, func(q string) string { return strings.Replace(q, "AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLX", 1) }, 403, CodeInvalidAccessKeyID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := New(StaticCredentials{exampleAccessKey: exampleSecret}, WithClock(func() time.Time { return tt.now }))
			r := base.build()
			if tt.change != nil {
				r.URL.RawQuery = tt.change(r.URL.RawQuery)
			}
			w, _, called := serve(t, v, r)
			if tt.status == http.StatusOK {
				if w.Code != http.StatusOK || !called {
					t.Fatalf("status %d: %s", w.Code, w.Body.String())
				}
				return
			}
			doc := expectError(t, w, tt.status, tt.code)
			if tt.name == "expired" && doc.Message != "Request has expired" {
				t.Errorf("message = %q", doc.Message)
			}
			if called {
				t.Error("handler ran")
			}
		})
	}
}

func TestRegionPinned(t *testing.T) {
	v := exampleVerifier(WithRegion("eu-central-1"))
	w, _, _ := serve(t, v, awsExamples[0].build())
	expectError(t, w, http.StatusBadRequest, CodeAuthorizationHeaderMalformed)
	if !bytes.Contains(w.Body.Bytes(), []byte("<Region>eu-central-1</Region>")) {
		t.Errorf("no Region element: %s", w.Body.String())
	}
	if _, err := exampleVerifier(WithRegion("us-east-1")).Verify(awsExamples[0].build()); err != nil {
		t.Errorf("pinned to the scope's region: %v", err)
	}
}

func TestHeadErrorHasNoBody(t *testing.T) {
	r := awsExamples[0].build()
	r.Method = http.MethodHead
	w, _, _ := serve(t, exampleVerifier(), r)
	if w.Code != http.StatusForbidden || w.Body.Len() != 0 {
		t.Errorf("HEAD: status %d, body %q", w.Code, w.Body.String())
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"", ""},
		{"acl", "acl="},
		{"prefix=J&max-keys=2", "max-keys=2&prefix=J"},
		{"a=b+c", "a=b%20c"},
		{"a=b%20c&a=a", "a=a&a=b%20c"},
		{"key=%7E%2F%2a", "key=~%2F%2A"},
		{"uploads&prefix=%E2%82%AC", "prefix=%E2%82%AC&uploads="},
	}
	for _, tt := range tests {
		got, err := canonicalQuery(tt.raw, "")
		if err != nil || got != tt.want {
			t.Errorf("canonicalQuery(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
		}
	}
	if _, err := canonicalQuery("a=%zz", ""); err == nil {
		t.Error("bad escape accepted")
	}
}

func TestURIEncode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/test$file.text", "/test%24file.text"},
		{"/a b/c+d", "/a%20b/c%2Bd"},
		{"/ü~._-", "/%C3%BC~._-"},
		{"/a%2Fb", "/a%252Fb"},
	}
	for _, tt := range tests {
		if got := uriEncode(tt.in, true); got != tt.want {
			t.Errorf("uriEncode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTrimAll(t *testing.T) {
	if got := trimAll("  a   b \t c  "); got != "a b c" {
		t.Errorf("trimAll = %q", got)
	}
}

func TestAsError(t *testing.T) {
	e := newError(CodeBadDigest, 400, "m")
	wrapped := io.ErrUnexpectedEOF
	if _, ok := AsError(wrapped); ok {
		t.Error("AsError found an error in a plain error")
	}
	got, ok := AsError(&wrapErr{e})
	if !ok || got != e {
		t.Error("AsError did not find a wrapped *Error")
	}
	if ErrorFor(wrapped).Code != CodeInternalError || ErrorFor(&wrapErr{e}).Code != CodeBadDigest {
		t.Error("ErrorFor")
	}
}

type wrapErr struct{ err error }

func (w *wrapErr) Error() string { return "wrapped: " + w.err.Error() }
func (w *wrapErr) Unwrap() error { return w.err }

// TestEmptyBodyVerifiedUpFront checks that a signed payload hash is
// enforced when the body is empty, although a consumer that reads
// Content-Length bytes never calls Read.
func TestEmptyBodyVerifiedUpFront(t *testing.T) {
	r := awsExamples[1].build()
	r.Body, r.ContentLength = http.NoBody, 0
	h := &limitHandler{}
	w := httptest.NewRecorder()
	exampleVerifier().Middleware(h).ServeHTTP(w, r)
	expectError(t, w, http.StatusBadRequest, CodeXAmzContentSHA256Mismatch)
	if h.called {
		t.Error("handler ran for an empty body that fails its signed hash")
	}
}

// TestUnknownLength covers a body sent with Transfer-Encoding: chunked and
// no Content-Length, which is verified at io.EOF.
func TestUnknownLength(t *testing.T) {
	tests := []struct {
		name string
		body string
		code string
	}{
		{"intact", "Welcome to Amazon S3.", ""},
		{"flipped", "Welcome to Amazon S3!", CodeXAmzContentSHA256Mismatch},
		{"short", "Welcome", CodeXAmzContentSHA256Mismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := awsExamples[1].build()
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(tt.body)), -1
			r.TransferEncoding = []string{"chunked"}
			var id Identity
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				id, _ = IdentityFromContext(r.Context())
				if _, err := io.ReadAll(r.Body); err != nil {
					w.WriteHeader(http.StatusInternalServerError)
				}
			})
			w := httptest.NewRecorder()
			exampleVerifier().Middleware(h).ServeHTTP(w, r)
			if tt.code != "" {
				expectError(t, w, http.StatusBadRequest, tt.code)
				return
			}
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
			if id.AccessKey != exampleAccessKey || id.Region != "us-east-1" || id.Presigned {
				t.Errorf("identity in context = %+v", id)
			}
		})
	}
}
