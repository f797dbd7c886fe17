package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// presignPut returns a presigned PUT URL of path on g that signs payload
// (a hex SHA-256, or UNSIGNED-PAYLOAD) in its X-Amz-Content-Sha256 query
// parameter, as some SDKs do to bind a URL to one body. It is written from
// the Signature Version 4 specification, independently of the gateway.
func presignPut(g *Gateway, path, payload string) string {
	now := time.Now().UTC()
	date, stamp := now.Format("20060102"), now.Format("20060102T150405Z")
	scope := date + "/us-east-1/s3/aws4_request"
	q := url.Values{}
	q.Set("X-Amz-Algorithm", "AWS4-HMAC-SHA256")
	q.Set("X-Amz-Credential", g.AccessKey+"/"+scope)
	q.Set("X-Amz-Date", stamp)
	q.Set("X-Amz-Expires", "600")
	q.Set("X-Amz-SignedHeaders", "host")
	q.Set("X-Amz-Content-Sha256", payload)
	query := strings.ReplaceAll(q.Encode(), "+", "%20")
	creq := "PUT\n" + path + "\n" + query + "\nhost:" + g.Addr + "\n\nhost\n" + payload
	sum := sha256.Sum256([]byte(creq))
	sts := "AWS4-HMAC-SHA256\n" + stamp + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	mac := func(key []byte, s string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(s))
		return h.Sum(nil)
	}
	key := []byte("AWS4" + g.SecretKey)
	for _, s := range []string{date, "us-east-1", "s3", "aws4_request"} {
		key = mac(key, s)
	}
	return g.Endpoint() + path + "?" + query + "&X-Amz-Signature=" + hex.EncodeToString(mac(key, sts))
}

// TestS3PresignedPayloadHash uploads with curl through presigned URLs that
// sign the SHA-256 of one body: another body must be refused with
// XAmzContentSHA256Mismatch and must not be stored, neither as a new
// object nor over an existing one; the body the URL was signed for is
// stored.
func TestS3PresignedPayloadHash(t *testing.T) {
	curl := testenv.Tool(t, "curl")
	g := StartGateway(t, Setup{Local: 2})
	if status, code, body := g.do(t, request{method: "PUT", path: "/presigned"}); status != 200 {
		t.Fatalf("create bucket: %d %s\n%s", status, code, body)
	}
	dir := t.TempDir()
	signedFor := []byte("the body this URL was signed for\n")
	other := []byte("a different body that the holder of the URL sends instead\n")
	put := func(t *testing.T, url string, body []byte) (int, string) {
		t.Helper()
		f := filepath.Join(dir, "body")
		if err := os.WriteFile(f, body, 0o600); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "response")
		r := run(t, cleanEnv(), dir, curl, "-sS", "-o", out, "-w", "%{http_code}", "-T", f, url).must(t, "curl")
		status, err := strconv.Atoi(strings.TrimSpace(r.Stdout))
		if err != nil {
			t.Fatalf("curl status %q", r.Stdout)
		}
		resp, _ := os.ReadFile(out)
		return status, between(string(resp), "<Code>", "</Code>")
	}
	stored := func(t *testing.T, key string) (int, []byte) {
		t.Helper()
		status, _, body := g.do(t, request{method: "GET", path: "/presigned/" + key})
		return status, body
	}
	hash := func(b []byte) string {
		sum := sha256.Sum256(b)
		return hex.EncodeToString(sum[:])
	}

	t.Run("new object", func(t *testing.T) {
		url := presignPut(g, "/presigned/new", hash(signedFor))
		if status, code := put(t, url, other); status != 400 || code != "XAmzContentSHA256Mismatch" {
			t.Fatalf("presigned PUT of another body: %d %q, want 400 XAmzContentSHA256Mismatch", status, code)
		}
		if status, body := stored(t, "new"); status != 404 {
			t.Fatalf("after the refused PUT the object exists: %d %q", status, body)
		}
		if status, code := put(t, url, signedFor); status != 200 {
			t.Fatalf("presigned PUT of the signed body: %d %q", status, code)
		}
		if status, body := stored(t, "new"); status != 200 || !bytes.Equal(body, signedFor) {
			t.Fatalf("GET after the signed body: %d %q", status, body)
		}
	})
	t.Run("existing object", func(t *testing.T) {
		if status, code := put(t, presignPut(g, "/presigned/kept", hash(signedFor)), signedFor); status != 200 {
			t.Fatalf("presigned PUT of the signed body: %d %q", status, code)
		}
		for _, body := range [][]byte{other, signedFor[:10], {}} {
			url := presignPut(g, "/presigned/kept", hash(signedFor))
			if status, code := put(t, url, body); status != 400 || code != "XAmzContentSHA256Mismatch" {
				t.Errorf("presigned PUT of %d other bytes over an object: %d %q, want 400 XAmzContentSHA256Mismatch", len(body), status, code)
			}
		}
		if status, body := stored(t, "kept"); status != 200 || !bytes.Equal(body, signedFor) {
			t.Fatalf("the object changed: %d %q", status, body)
		}
	})
	t.Run("unsigned payload", func(t *testing.T) {
		if status, code := put(t, presignPut(g, "/presigned/any", "UNSIGNED-PAYLOAD"), other); status != 200 {
			t.Fatalf("presigned PUT with UNSIGNED-PAYLOAD: %d %q", status, code)
		}
		if status, body := stored(t, "any"); status != 200 || !bytes.Equal(body, other) {
			t.Fatalf("GET: %d %q", status, body)
		}
	})
	// Three objects, all small enough to be inside their meta records
	// (no blobs), and nothing of the refused bodies.
	g.Stop()
	scrubClean(t, g, 0)
}
