package s3api_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// corsBody returns a CORSConfiguration body with the given rules.
func corsBody(rules ...string) string {
	return `<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` + strings.Join(rules, "") + `</CORSConfiguration>`
}

const (
	appRule = `<CORSRule><ID>app</ID><AllowedOrigin>https://app.example</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>` +
		`<AllowedHeader>content-type</AllowedHeader><AllowedHeader>x-amz-*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule>`
	anyRule = `<CORSRule><AllowedOrigin>https://*.public.example</AllowedOrigin><AllowedOrigin>*</AllowedOrigin><AllowedMethod>HEAD</AllowedMethod></CORSRule>`
)

// TestBucketCORS checks GetBucketCors, PutBucketCors and
// DeleteBucketCors with S3's limits and errors.
func TestBucketCORS(t *testing.T) {
	_, srv := newServer(t)
	var hundred, hundredOne []string
	for i := range 101 {
		r := fmt.Sprintf(`<CORSRule><AllowedOrigin>https://o%d.example</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>`, i)
		if i < 100 {
			hundred = append(hundred, r)
		}
		hundredOne = append(hundredOne, r)
	}
	for _, tt := range []struct {
		name   string
		method string
		path   string
		body   string
		status int
		want   string
	}{
		{"get without rules", "GET", "/unit?cors", "", 404, "<Code>NoSuchCORSConfiguration</Code>"},
		{"put", "PUT", "/unit?cors", corsBody(appRule, anyRule), 200, ""},
		{"get", "GET", "/unit?cors", "", 200, "<CORSRule><ID>app</ID><AllowedHeader>content-type</AllowedHeader><AllowedHeader>x-amz-*</AllowedHeader><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedOrigin>https://app.example</AllowedOrigin><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule>"},
		{"get second rule", "GET", "/unit?cors", "", 200, "<AllowedOrigin>*</AllowedOrigin>"},
		{"put a hundred", "PUT", "/unit?cors", corsBody(hundred...), 200, ""},
		{"get a hundred", "GET", "/unit?cors", "", 200, "https://o99.example"},
		{"put a hundred and one", "PUT", "/unit?cors", corsBody(hundredOne...), 400, "<Code>InvalidRequest</Code><Message>The number of CORS rules should not exceed allowed limit of 100 rules.</Message>"},
		{"put PATCH", "PUT", "/unit?cors", corsBody(`<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule>`), 400,
			"<Code>InvalidRequest</Code><Message>Found unsupported HTTP method in CORS config. Unsupported method is PATCH</Message>"},
		{"put lower-case get", "PUT", "/unit?cors", corsBody(`<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>get</AllowedMethod></CORSRule>`), 400, "<Code>InvalidRequest</Code>"},
		{"put two wildcards", "PUT", "/unit?cors", corsBody(`<CORSRule><AllowedOrigin>https://*.*.example</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>`), 400, "<Code>InvalidRequest</Code>"},
		{"put no origin", "PUT", "/unit?cors", corsBody(`<CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>`), 400, "<Code>MalformedXML</Code>"},
		{"put no method", "PUT", "/unit?cors", corsBody(`<CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule>`), 400, "<Code>MalformedXML</Code>"},
		{"put no rules", "PUT", "/unit?cors", corsBody(), 400, "<Code>MalformedXML</Code>"},
		{"put not XML", "PUT", "/unit?cors", "<CORSConfiguration>", 400, "<Code>MalformedXML</Code>"},
		{"put wrong root", "PUT", "/unit?cors", tagXML("a=b"), 400, "<Code>MalformedXML</Code>"},
		{"refused puts change nothing", "GET", "/unit?cors", "", 200, "https://o99.example"},
		{"delete", "DELETE", "/unit?cors", "", 204, ""},
		{"get after delete", "GET", "/unit?cors", "", 404, "<Code>NoSuchCORSConfiguration</Code>"},
		{"delete again", "DELETE", "/unit?cors", "", 204, ""},
		{"missing bucket", "PUT", "/missing?cors", corsBody(appRule), 404, "<Code>NoSuchBucket</Code>"},
		{"get in a missing bucket", "GET", "/missing?cors", "", 404, "<Code>NoSuchBucket</Code>"},
		{"on an object", "GET", "/unit/key?cors", "", 501, "<Code>NotImplemented</Code>"},
		{"the bucket is still there", "GET", "/unit", "", 200, "<ListBucketResult"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, srv, tt.method, tt.path, nil, tt.body)
			if r.status != tt.status || !strings.Contains(r.body, tt.want) {
				t.Errorf("%d %s", r.status, r.body)
			}
		})
	}
}

// options sends an unsigned OPTIONS request with the given headers.
func options(t *testing.T, srv *httptest.Server, path string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest("OPTIONS", srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: compact(string(b))}
}

// TestCORSPreflight checks that preflights are answered from the bucket's
// rules without credentials, as S3 answers them.
func TestCORSPreflight(t *testing.T) {
	_, srv := newServer(t)
	do(t, srv, "PUT", "/other", nil, "")
	const notAllowed = "<Code>AccessForbidden</Code><Message>CORSResponse: This CORS request is not allowed."
	const notEnabled = "<Code>AccessForbidden</Code><Message>CORSResponse: CORS is not enabled for this bucket.</Message>"
	app := map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "PUT"}
	with := func(m map[string]string, k, v string) map[string]string {
		out := map[string]string{}
		for a, b := range m {
			out[a] = b
		}
		out[k] = v
		return out
	}
	// Before any rule: CORS is not enabled, and a missing bucket looks
	// the same.
	for _, p := range []string{"/unit/key", "/missing/key", "/"} {
		if r := options(t, srv, p, app); r.status != 403 || !strings.Contains(r.body, notEnabled) {
			t.Errorf("OPTIONS %s without rules: %d %s", p, r.status, r.body)
		}
	}
	if r := do(t, srv, "PUT", "/unit?cors", nil, corsBody(appRule, anyRule)); r.status != 200 {
		t.Fatalf("put rules: %d %s", r.status, r.body)
	}
	for _, tt := range []struct {
		name    string
		path    string
		header  map[string]string
		status  int
		want    map[string]string
		wantBdy string
	}{
		{"allowed", "/unit/key", with(app, "Access-Control-Request-Headers", "Content-Type, X-Amz-Date"), 200, map[string]string{
			"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Allow-Methods": "GET, PUT",
			"Access-Control-Allow-Headers": "content-type, x-amz-date", "Access-Control-Max-Age": "600",
			"Access-Control-Expose-Headers": "ETag", "Access-Control-Allow-Credentials": "true", "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"}, ""},
		{"allowed on the bucket", "/unit", app, 200, map[string]string{"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Allow-Headers": ""}, ""},
		{"wildcard origin", "/unit/key", map[string]string{"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "HEAD"}, 200,
			map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "HEAD", "Access-Control-Allow-Credentials": "", "Access-Control-Max-Age": ""}, ""},
		{"origin not allowed", "/unit/key", with(app, "Origin", "https://evil.example"), 403, map[string]string{"Access-Control-Allow-Origin": ""}, notAllowed},
		{"method not allowed", "/unit/key", with(app, "Access-Control-Request-Method", "DELETE"), 403, nil, notAllowed},
		{"header not allowed", "/unit/key", with(app, "Access-Control-Request-Headers", "authorization"), 403, nil, notAllowed},
		{"origin differs in case", "/unit/key", with(app, "Origin", "https://APP.example"), 403, nil, notAllowed},
		{"other bucket", "/other/key", app, 403, nil, notEnabled},
		{"no origin", "/unit/key", map[string]string{"Access-Control-Request-Method": "GET"}, 400, nil, "Insufficient information. Origin request header needed."},
		{"no method", "/unit/key", map[string]string{"Origin": "https://app.example"}, 400, nil, "<Code>BadRequest</Code>"},
		{"bad method", "/unit/key", with(app, "Access-Control-Request-Method", "PATCH"), 400, nil, "Invalid Access-Control-Request-Method: PATCH"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := options(t, srv, tt.path, tt.header)
			if r.status != tt.status || !strings.Contains(r.body, tt.wantBdy) {
				t.Errorf("%d %s", r.status, r.body)
			}
			for k, v := range tt.want {
				if got := r.header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}
	// A change takes effect at once.
	do(t, srv, "DELETE", "/unit?cors", nil, "")
	if r := options(t, srv, "/unit/key", app); r.status != 403 || !strings.Contains(r.body, notEnabled) {
		t.Errorf("after DeleteBucketCors: %d %s", r.status, r.body)
	}
}

// TestCORSResponseHeaders checks the CORS headers of signed requests:
// those of the matching rule when the origin is allowed, none otherwise,
// and never the allow-all headers of gofakes3.
func TestCORSResponseHeaders(t *testing.T) {
	_, srv := newServer(t)
	do(t, srv, "PUT", "/unit/key", nil, "data")
	origin := func(o string) map[string]string { return map[string]string{"Origin": o} }
	if r := do(t, srv, "GET", "/unit/key", origin("https://app.example"), ""); r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("Vary") != "" {
		t.Errorf("without rules: %d %v", r.status, r.header)
	}
	if r := do(t, srv, "GET", "/unit/key", nil, ""); r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("Access-Control-Allow-Methods") != "" {
		t.Errorf("without Origin: %v", r.header)
	}
	do(t, srv, "PUT", "/unit?cors", nil, corsBody(appRule, anyRule))
	for _, tt := range []struct {
		name   string
		method string
		path   string
		origin string
		status int
		want   map[string]string
	}{
		{"allowed GET", "GET", "/unit/key", "https://app.example", 200, map[string]string{"Access-Control-Allow-Origin": "https://app.example",
			"Access-Control-Allow-Methods": "GET, PUT", "Access-Control-Expose-Headers": "ETag", "Access-Control-Max-Age": "600",
			"Access-Control-Allow-Credentials": "true", "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"}},
		{"allowed PUT", "PUT", "/unit/key2", "https://app.example", 200, map[string]string{"Access-Control-Allow-Origin": "https://app.example"}},
		{"allowed error", "GET", "/unit/missing", "https://app.example", 404, map[string]string{"Access-Control-Allow-Origin": "https://app.example"}},
		{"wildcard HEAD", "HEAD", "/unit/key", "https://elsewhere.example", 200, map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": ""}},
		{"wildcard subdomain HEAD", "HEAD", "/unit/key", "https://x.public.example", 200, map[string]string{"Access-Control-Allow-Origin": "https://x.public.example", "Access-Control-Allow-Methods": "HEAD"}},
		{"origin not allowed", "GET", "/unit/key", "https://evil.example", 200, map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": "",
			"Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"}},
		{"method not allowed", "DELETE", "/unit/key2", "https://app.example", 204, map[string]string{"Access-Control-Allow-Origin": ""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, srv, tt.method, tt.path, origin(tt.origin), "")
			if r.status != tt.status {
				t.Errorf("%d %s", r.status, r.body)
			}
			for k, v := range tt.want {
				if got := r.header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}
}
