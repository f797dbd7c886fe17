package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// curlResponse is what curl received: status, headers and body.
type curlResponse struct {
	status int
	header http.Header
	body   string
}

// curlDo runs curl with args against url and returns the response.
func curlDo(t *testing.T, curl string, url string, args ...string) curlResponse {
	t.Helper()
	dir := t.TempDir()
	out, hdr := filepath.Join(dir, "body"), filepath.Join(dir, "headers")
	r := run(t, cleanEnv(), dir, curl, append(append([]string{"-sS", "-o", out, "-D", hdr, "-w", "%{http_code}"}, args...), url)...).must(t, "curl")
	status, err := strconv.Atoi(strings.TrimSpace(r.Stdout))
	if err != nil {
		t.Fatalf("curl status %q", r.Stdout)
	}
	body, _ := os.ReadFile(out)
	raw, _ := os.ReadFile(hdr)
	h := http.Header{}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && !strings.HasPrefix(k, "HTTP/") {
			h.Add(k, strings.TrimSpace(v))
		}
	}
	return curlResponse{status: status, header: h, body: string(body)}
}

// TestS3CORS sets a bucket's CORS rules with aws cli and checks the
// answers to browser preflights (curl, without credentials) and the CORS
// headers of signed requests (curl --aws-sigv4) against the real binary.
func TestS3CORS(t *testing.T) {
	curl := testenv.Tool(t, "curl")
	g := StartGateway(t, Setup{Local: 2})
	aws := NewAWS(t, g)
	const bucket = "cors-bucket"
	aws.Must("s3", "mb", "s3://"+bucket)
	aws.Must("s3", "mb", "s3://plain-bucket")
	obj := filepath.Join(t.TempDir(), "obj")
	writeFile(t, obj, 1000, 3)
	aws.Must("s3api", "put-object", "--bucket", bucket, "--key", "obj", "--body", obj)
	objURL := g.Endpoint() + "/" + bucket + "/obj"
	preflight := func(t *testing.T, url, origin, method, headers string) curlResponse {
		args := []string{"-X", "OPTIONS", "-H", "Origin: " + origin, "-H", "Access-Control-Request-Method: " + method}
		if headers != "" {
			args = append(args, "-H", "Access-Control-Request-Headers: "+headers)
		}
		return curlDo(t, curl, url, args...)
	}

	t.Run("get-bucket-cors without rules", func(t *testing.T) {
		r := aws.Run("s3api", "get-bucket-cors", "--bucket", bucket)
		if r.Err == nil || !strings.Contains(r.Stderr, "NoSuchCORSConfiguration") {
			t.Errorf("err %v, stderr %s", r.Err, r.Stderr)
		}
		if p := preflight(t, objURL, "https://app.example", "GET", ""); p.status != 403 || !strings.Contains(p.body, "CORS is not enabled for this bucket") {
			t.Errorf("preflight without rules: %d %s", p.status, p.body)
		}
	})

	cfg := filepath.Join(t.TempDir(), "cors.json")
	if err := os.WriteFile(cfg, []byte(`{"CORSRules": [
		{"ID": "app", "AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET", "PUT", "HEAD"],
		 "AllowedHeaders": ["content-type", "x-amz-*"], "ExposeHeaders": ["ETag", "x-amz-request-id"], "MaxAgeSeconds": 3000},
		{"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]}
	]}`), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("put-bucket-cors and get-bucket-cors", func(t *testing.T) {
		aws.Must("s3api", "put-bucket-cors", "--bucket", bucket, "--cors-configuration", "file://"+cfg)
		out := aws.Must("s3api", "get-bucket-cors", "--bucket", bucket).Stdout
		var got struct {
			CORSRules []struct {
				ID             string
				AllowedOrigins []string
				AllowedMethods []string
				AllowedHeaders []string
				ExposeHeaders  []string
				MaxAgeSeconds  int
			}
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if len(got.CORSRules) != 2 || got.CORSRules[0].ID != "app" || strings.Join(got.CORSRules[0].AllowedMethods, ",") != "GET,PUT,HEAD" ||
			strings.Join(got.CORSRules[0].ExposeHeaders, ",") != "ETag,x-amz-request-id" || got.CORSRules[0].MaxAgeSeconds != 3000 ||
			strings.Join(got.CORSRules[1].AllowedOrigins, ",") != "*" {
			t.Errorf("get-bucket-cors: %s", out)
		}
	})

	t.Run("refused configurations", func(t *testing.T) {
		for _, tt := range []struct{ name, cfg, want string }{
			{"PATCH", `{"CORSRules":[{"AllowedOrigins":["*"],"AllowedMethods":["PATCH"]}]}`,
				"An error occurred (InvalidRequest) when calling the PutBucketCors operation: Found unsupported HTTP method in CORS config. Unsupported method is PATCH"},
			{"101 rules", `{"CORSRules":[` + strings.TrimSuffix(strings.Repeat(`{"AllowedOrigins":["*"],"AllowedMethods":["GET"]},`, 101), ",") + `]}`,
				"An error occurred (InvalidRequest) when calling the PutBucketCors operation: The number of CORS rules should not exceed allowed limit of 100 rules."},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := aws.Run("s3api", "put-bucket-cors", "--bucket", bucket, "--cors-configuration", tt.cfg)
				if r.Err == nil || !strings.Contains(r.Stderr, tt.want) {
					t.Errorf("err %v, stderr %s", r.Err, r.Stderr)
				}
			})
		}
		if out := aws.Must("s3api", "get-bucket-cors", "--bucket", bucket).Stdout; !strings.Contains(out, `"ID": "app"`) {
			t.Errorf("rules after refused changes: %s", out)
		}
	})

	t.Run("preflight from an allowed origin", func(t *testing.T) {
		p := preflight(t, objURL, "https://app.example", "PUT", "Content-Type, X-Amz-Date")
		want := map[string]string{
			"Access-Control-Allow-Origin":   "https://app.example",
			"Access-Control-Allow-Methods":  "GET, PUT, HEAD",
			"Access-Control-Allow-Headers":  "content-type, x-amz-date",
			"Access-Control-Max-Age":        "3000",
			"Access-Control-Expose-Headers": "ETag, x-amz-request-id",
		}
		if p.status != 200 {
			t.Errorf("status %d: %s", p.status, p.body)
		}
		for k, v := range want {
			if got := p.header.Get(k); got != v {
				t.Errorf("%s: %q, want %q", k, got, v)
			}
		}
		if !strings.Contains(p.header.Get("Vary"), "Origin") {
			t.Errorf("Vary: %q", p.header.Get("Vary"))
		}
	})

	t.Run("preflight from any origin for HEAD", func(t *testing.T) {
		p := preflight(t, objURL, "https://elsewhere.example", "HEAD", "")
		if p.status != 200 || p.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%d %v %s", p.status, p.header, p.body)
		}
	})

	t.Run("preflights not allowed", func(t *testing.T) {
		for _, tt := range []struct{ name, url, origin, method, headers, want string }{
			{"origin", objURL, "https://evil.example", "GET", "", "CORSResponse: This CORS request is not allowed"},
			{"method", objURL, "https://app.example", "DELETE", "", "CORSResponse: This CORS request is not allowed"},
			{"header", objURL, "https://app.example", "PUT", "authorization", "CORSResponse: This CORS request is not allowed"},
			{"bucket without rules", g.Endpoint() + "/plain-bucket/obj", "https://app.example", "GET", "", "CORSResponse: CORS is not enabled for this bucket"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				p := preflight(t, tt.url, tt.origin, tt.method, tt.headers)
				if p.status != 403 || !strings.Contains(p.body, tt.want) || p.header.Get("Access-Control-Allow-Origin") != "" {
					t.Errorf("%d %v %s", p.status, p.header, p.body)
				}
			})
		}
	})

	// curl signs x-amz-content-sha256 when it is given (the SHA-256 of
	// an empty body).
	sign := []string{"--aws-sigv4", "aws:amz:us-east-1:s3", "--user", g.AccessKey + ":" + g.SecretKey,
		"-H", "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
	t.Run("signed GET from an allowed origin", func(t *testing.T) {
		r := curlDo(t, curl, objURL, append(sign, "-H", "Origin: https://app.example")...)
		if r.status != 200 || len(r.body) != 1000 {
			t.Fatalf("%d, %d bytes: %.300s", r.status, len(r.body), r.body)
		}
		if r.header.Get("Access-Control-Allow-Origin") != "https://app.example" || r.header.Get("Access-Control-Expose-Headers") != "ETag, x-amz-request-id" ||
			!strings.Contains(r.header.Get("Vary"), "Origin") {
			t.Errorf("headers %v", r.header)
		}
	})

	t.Run("signed GET from another origin", func(t *testing.T) {
		r := curlDo(t, curl, objURL, append(sign, "-H", "Origin: https://evil.example")...)
		if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" || !strings.Contains(r.header.Get("Vary"), "Origin") {
			t.Errorf("%d %v", r.status, r.header)
		}
	})

	t.Run("delete-bucket-cors", func(t *testing.T) {
		aws.Must("s3api", "delete-bucket-cors", "--bucket", bucket)
		if r := aws.Run("s3api", "get-bucket-cors", "--bucket", bucket); r.Err == nil || !strings.Contains(r.Stderr, "NoSuchCORSConfiguration") {
			t.Errorf("get-bucket-cors after delete: %v %s", r.Err, r.Stderr)
		}
		if p := preflight(t, objURL, "https://app.example", "GET", ""); p.status != 403 {
			t.Errorf("preflight after delete: %d %s", p.status, p.body)
		}
		r := curlDo(t, curl, objURL, append(sign, "-H", "Origin: https://app.example")...)
		if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("signed GET after delete: %d %v", r.status, r.header)
		}
	})

	t.Run("no rule on the backends", func(t *testing.T) {
		if n, _ := scanForPlaintext(t, g.backendDirs(), "app.example", "x-amz-request-id"); n == 0 {
			t.Error("scanned no backend files")
		}
	})
}
