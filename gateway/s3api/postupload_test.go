package s3api_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/gateway/guard"
	"github.com/twincrypt/twincrypt/gateway/s3api"
	"github.com/twincrypt/twincrypt/internal/testns"
)

// field is one form field, in order.
type field struct{ name, value string }

// policyFields returns the signed fields of a POST form whose policy has
// the given conditions and expiration, signed with secret, followed by
// extra; the fields the signing adds are covered by conditions.
func policyFields(t *testing.T, secret string, exp time.Time, conds []any, extra ...field) []field {
	t.Helper()
	now := time.Now().UTC()
	date := now.Format("20060102")
	cred := accessKey + "/" + date + "/us-east-1/s3/aws4_request"
	stamp := now.Format("20060102T150405Z")
	conds = append(conds, map[string]string{"x-amz-algorithm": "AWS4-HMAC-SHA256"},
		map[string]string{"x-amz-credential": cred}, map[string]string{"x-amz-date": stamp})
	doc, err := json.Marshal(map[string]any{"expiration": exp.UTC().Format("2006-01-02T15:04:05.000Z"), "conditions": conds})
	if err != nil {
		t.Fatal(err)
	}
	policy := base64.StdEncoding.EncodeToString(doc)
	mac := func(key []byte, s string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(s))
		return h.Sum(nil)
	}
	key := []byte("AWS4" + secret)
	for _, s := range []string{date, "us-east-1", "s3", "aws4_request"} {
		key = mac(key, s)
	}
	return append(extra, field{"policy", policy}, field{"x-amz-algorithm", "AWS4-HMAC-SHA256"}, field{"x-amz-credential", cred},
		field{"x-amz-date", stamp}, field{"x-amz-signature", hex.EncodeToString(mac(key, policy))})
}

// post sends a multipart POST of fields and, unless filename is "-", a
// file part with data, to path (with an Origin when origin is set).
func post(t *testing.T, srv *httptest.Server, path string, fields []field, filename string, data []byte, origin string) response {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		mw.WriteField(f.name, f.value)
	}
	if filename != "-" {
		fw, _ := mw.CreateFormFile("file", filename)
		fw.Write(data)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", srv.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: compact(string(b))}
}

// TestPostPolicyUpload checks browser uploads: a POST whose signed policy
// allows it stores the file with its metadata and answers as
// success_action_status or success_action_redirect say; one its policy
// does not allow is refused as AWS refuses it and stores nothing.
func TestPostPolicyUpload(t *testing.T) {
	_, srv := newServer(t)
	exp := time.Now().Add(time.Hour)
	data := []byte("file contents from a browser\n")
	base := []any{map[string]string{"bucket": "unit"}, []any{"starts-with", "$key", "uploads/"}, []any{"content-length-range", 1, 100}}
	withConds := func(extra ...any) []any { return append(append([]any{}, base...), extra...) }
	stored := func(t *testing.T, key string) response {
		t.Helper()
		return do(t, srv, "GET", "/unit/"+key, nil, "")
	}

	t.Run("default 204", func(t *testing.T) {
		r := post(t, srv, "/unit", policyFields(t, secretKey, exp, base, field{"key", "uploads/a.txt"}), "a.txt", data, "")
		if sum := md5.Sum(data); r.status != 204 || r.header.Get("ETag") != `"`+hex.EncodeToString(sum[:])+`"` {
			t.Fatalf("%d %v %s", r.status, r.header, r.body)
		}
		if g := stored(t, "uploads/a.txt"); g.status != 200 || g.body != string(data) || g.header.Get("Content-Type") != "binary/octet-stream" {
			t.Errorf("stored: %d %q %v", g.status, g.body, g.header)
		}
	})

	t.Run("${filename}, metadata and 201", func(t *testing.T) {
		fields := policyFields(t, secretKey, exp, withConds([]any{"starts-with", "$Content-Type", "text/"}, map[string]string{"x-amz-meta-owner": "alice"},
			map[string]string{"success_action_status": "201"}),
			field{"key", "uploads/${filename}"}, field{"Content-Type", "text/plain"}, field{"x-amz-meta-owner", "alice"}, field{"success_action_status", "201"})
		r := post(t, srv, "/unit", fields, "report.txt", data, "")
		if r.status != 201 || !strings.Contains(r.body, "<Bucket>unit</Bucket><Key>uploads/report.txt</Key><ETag>&#34;") || !strings.Contains(r.body, "<PostResponse>") {
			t.Fatalf("%d %s", r.status, r.body)
		}
		g := stored(t, "uploads/report.txt")
		if g.status != 200 || g.body != string(data) || g.header.Get("Content-Type") != "text/plain" || g.header.Get("X-Amz-Meta-Owner") != "alice" {
			t.Errorf("stored: %d %q %v", g.status, g.body, g.header)
		}
	})

	t.Run("200", func(t *testing.T) {
		fields := policyFields(t, secretKey, exp, withConds(map[string]string{"success_action_status": "200"}),
			field{"key", "uploads/200"}, field{"success_action_status", "200"})
		if r := post(t, srv, "/unit", fields, "x", data, ""); r.status != 200 || r.body != "" {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})

	t.Run("redirect", func(t *testing.T) {
		fields := policyFields(t, secretKey, exp, withConds(map[string]string{"success_action_redirect": "https://app.example/done?x=1"}),
			field{"key", "uploads/redir"}, field{"success_action_redirect", "https://app.example/done?x=1"})
		r := post(t, srv, "/unit", fields, "x", data, "")
		loc := r.header.Get("Location")
		if r.status != 303 || !strings.HasPrefix(loc, "https://app.example/done?") || !strings.Contains(loc, "bucket=unit") ||
			!strings.Contains(loc, "key=uploads%2Fredir") || !strings.Contains(loc, "etag=%22") || !strings.Contains(loc, "x=1") {
			t.Fatalf("%d %s", r.status, loc)
		}
	})

	t.Run("CORS headers", func(t *testing.T) {
		do(t, srv, "PUT", "/unit?cors", nil, corsBody(`<CORSRule><AllowedOrigin>https://app.example</AllowedOrigin><AllowedMethod>POST</AllowedMethod><ExposeHeader>ETag</ExposeHeader></CORSRule>`))
		defer do(t, srv, "DELETE", "/unit?cors", nil, "")
		r := post(t, srv, "/unit", policyFields(t, secretKey, exp, base, field{"key", "uploads/cors"}), "x", data, "https://app.example")
		if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example" || r.header.Get("Access-Control-Expose-Headers") != "ETag" {
			t.Fatalf("%d %v", r.status, r.header)
		}
		if p := options(t, srv, "/unit", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}); p.status != 200 {
			t.Errorf("preflight: %d %s", p.status, p.body)
		}
	})

	big := bytes.Repeat([]byte("x"), 101)
	for _, tt := range []struct {
		name   string
		fields []field
		file   string
		data   []byte
		status int
		want   string
		key    string
	}{
		{"too large", policyFields(t, secretKey, exp, base, field{"key", "uploads/big"}), "f", big, 403,
			`<Code>AccessDenied</Code><Message>Invalid according to Policy: Policy Condition failed: ["content-length-range", 1, 100]</Message>`, "uploads/big"},
		{"empty", policyFields(t, secretKey, exp, base, field{"key", "uploads/empty"}), "f", nil, 403, "content-length-range", "uploads/empty"},
		{"key outside its prefix", policyFields(t, secretKey, exp, base, field{"key", "other/k"}), "f", data, 403,
			`Invalid according to Policy: Policy Condition failed: ["starts-with","$key","uploads/"]`, "other/k"},
		{"key eq", policyFields(t, secretKey, exp, []any{map[string]string{"bucket": "unit"}, map[string]string{"key": "uploads/one"}}, field{"key", "uploads/two"}), "f", data, 403,
			`Policy Condition failed: {"key":"uploads/one"}`, "uploads/two"},
		{"other bucket in the policy", policyFields(t, secretKey, exp, []any{map[string]string{"bucket": "elsewhere"}, []any{"starts-with", "$key", ""}}, field{"key", "uploads/b"}), "f", data, 403,
			`Policy Condition failed: {"bucket":"elsewhere"}`, "uploads/b"},
		{"expired", policyFields(t, secretKey, time.Now().Add(-time.Minute), base, field{"key", "uploads/exp"}), "f", data, 403,
			"Invalid according to Policy: Policy expired.", "uploads/exp"},
		{"extra field", policyFields(t, secretKey, exp, base, field{"key", "uploads/extra"}, field{"x-amz-meta-sneaky", "1"}), "f", data, 403,
			"Invalid according to Policy: Extra input fields: x-amz-meta-sneaky", "uploads/extra"},
		{"content type", policyFields(t, secretKey, exp, withConds([]any{"starts-with", "$Content-Type", "image/"}), field{"key", "uploads/ct"}, field{"Content-Type", "text/html"}), "f", data, 403,
			"Policy Condition failed", "uploads/ct"},
		{"storage class", policyFields(t, secretKey, exp, withConds(map[string]string{"x-amz-storage-class": "GLACIER"}), field{"key", "uploads/glacier"}, field{"x-amz-storage-class", "GLACIER"}), "f", data, 400,
			"<Code>InvalidStorageClass</Code>", "uploads/glacier"},
		{"wrong secret", policyFields(t, "not-the-secret", exp, base, field{"key", "uploads/sig"}), "f", data, 403, "<Code>SignatureDoesNotMatch</Code>", "uploads/sig"},
		{"no signature", []field{{"key", "uploads/anon"}}, "f", data, 403, "<Code>AccessDenied</Code>", "uploads/anon"},
		{"no key", policyFields(t, secretKey, exp, base), "f", data, 400, "Bucket POST must contain a field named 'key'.", ""},
		{"no file", policyFields(t, secretKey, exp, base, field{"key", "uploads/nofile"}), "-", nil, 400, "POST requires exactly one file upload per request.", "uploads/nofile"},
		{"missing bucket", policyFields(t, secretKey, exp, []any{[]any{"starts-with", "$key", ""}}, field{"key", "k"}), "f", data, 404, "<Code>NoSuchBucket</Code>", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := "/unit"
			if tt.name == "missing bucket" {
				path = "/missing"
			}
			r := post(t, srv, path, tt.fields, tt.file, tt.data, "")
			if body := html.UnescapeString(r.body); r.status != tt.status || !strings.Contains(body, tt.want) {
				t.Errorf("%d %s", r.status, body)
			}
			if tt.key != "" {
				if g := stored(t, tt.key); g.status != 404 {
					t.Errorf("refused POST stored %s: %d", tt.key, g.status)
				}
			}
		})
	}
	t.Run("a refused POST keeps the object it would replace", func(t *testing.T) {
		r := post(t, srv, "/unit", policyFields(t, secretKey, exp, base, field{"key", "uploads/a.txt"}), "f", big, "")
		if r.status != 403 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if g := stored(t, "uploads/a.txt"); g.status != 200 || g.body != string(data) {
			t.Errorf("stored: %d %q", g.status, g.body)
		}
	})
}

// TestPostPolicyLoginThrottle checks that a POST form signed with a wrong
// secret counts as a failed login, and that a throttled client's POST is
// answered 503 SlowDown before its form is read.
func TestPostPolicyLoginThrottle(t *testing.T) {
	th := guard.NewThrottle(guard.ThrottleOptions{Burst: 2, Interval: time.Hour})
	ns := testns.New(t, testns.Options{}).NS
	srv := httptest.NewServer(s3api.New(ns, s3api.Options{Users: map[string]string{accessKey: secretKey}, Throttle: th}))
	defer srv.Close()
	exp := time.Now().Add(time.Hour)
	conds := []any{[]any{"starts-with", "$key", ""}}
	for i, tt := range []struct {
		secret string
		status int
		code   string
	}{
		{"wrong-secret", 403, "SignatureDoesNotMatch"},
		{"wrong-secret", 403, "SignatureDoesNotMatch"},
		{secretKey, 503, "SlowDown"},
	} {
		r := post(t, srv, "/unit", policyFields(t, tt.secret, exp, conds, field{"key", "k"}), "f", []byte("data"), "")
		if r.status != tt.status || !strings.Contains(r.body, "<Code>"+tt.code+"</Code>") {
			t.Errorf("POST %d: %d %s, want %d %s", i, r.status, r.body, tt.status, tt.code)
		}
	}
}
