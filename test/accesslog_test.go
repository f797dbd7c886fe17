package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// TestAccessLogSecrets runs a workload over S3, WebDAV, share links and
// the admin API against a gateway with log.redact_names, and scans serve's
// log for the secret key, the passphrase, a share link's key and the
// bucket and object names; each request has its access log line.
func TestAccessLogSecrets(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2, Share: true, Extra: "log:\n  redact_names: true\n"})
	ctx := context.Background()
	c, err := minio.New(g.Addr, &minio.Options{Creds: credentials.NewStaticV4(g.AccessKey, g.SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	bucket := "confidential-" + randHex(t, 4)
	key := "payroll-" + randHex(t, 4) + ".xlsx"
	davKey := "minutes-" + randHex(t, 4) + ".txt"
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 5000)
	if _, err := c.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	o, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, o)
	o.Close()
	// A presigned URL carries its signature in the query.
	u, err := c.PresignedGetObject(ctx, bucket, key, 10*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	sig := u.Query().Get("X-Amz-Signature")
	if code, _ := httpGet(t, u.String()); code != 200 {
		t.Errorf("presigned GET: %d", code)
	}
	// WebDAV: a PUT, and a login with a wrong password.
	dav := func(method, path, user, pass string, body io.Reader) int {
		req, _ := http.NewRequest(method, "http://"+g.DAVAddr+path, body)
		req.SetBasicAuth(user, pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := dav("PUT", "/"+bucket+"/"+davKey, g.AccessKey, g.SecretKey, strings.NewReader("minutes")); code/100 != 2 {
		t.Errorf("WebDAV PUT: %d", code)
	}
	const wrongPassword = "wrong-password-Zq9"
	if code := dav("PROPFIND", "/"+bucket+"/", g.AccessKey, wrongPassword, nil); code != 401 {
		t.Errorf("WebDAV PROPFIND with a wrong password: %d", code)
	}
	// A share link, made through the admin API and downloaded.
	out, err := g.Run("share", "create", "-c", g.Config, bucket+"/"+key)
	if err != nil {
		t.Fatalf("share create: %v\n%s", err, out)
	}
	link := linkOf(t, out)
	fragment := link[strings.IndexByte(link, '#')+1:]
	dst := filepath.Join(t.TempDir(), "got")
	if out, err := g.Run("get", "-q", "-o", dst, link); err != nil {
		t.Fatalf("twincrypt get: %v\n%s", err, out)
	}

	// The download and the refused login show in the metrics.
	if _, exposition := httpGet(t, "http://"+g.AdminAddr+"/metrics"); !strings.Contains(exposition, "\ntwincrypt_share_downloads_total 1\n") ||
		!strings.Contains(exposition, `twincrypt_http_requests_total{code="401",operation="PROPFIND",protocol="webdav"} 1`) {
		t.Errorf("metrics after the workload:\n%s", exposition)
	}

	logs := g.WaitOutput(func(out string) bool {
		return strings.Count(out, "protocol=share") >= 2 && strings.Contains(out, "operation=PROPFIND")
	})
	for what, s := range map[string]string{
		"the secret key": g.SecretKey, "the passphrase": passphrase, "a wrong password": wrongPassword,
		"the bucket name": bucket, "the object key": key, "the WebDAV file name": davKey,
		"a presigned URL's signature": sig, "a share link's key": fragment,
	} {
		if strings.Contains(logs, s) {
			t.Errorf("serve's log holds %s (%q):\n%s", what, s, logs)
		}
	}
	for _, want := range []string{
		"operation=CreateBucket status=200",
		"operation=PutObject status=200",
		"operation=GetObject status=200",
		"protocol=webdav operation=PUT status=201",
		"protocol=webdav operation=PROPFIND status=401",
		"protocol=admin operation=shares status=201",
		"protocol=share operation=open",
		"user=" + g.AccessKey,
		"bucket=h:",
		"key=h:",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("serve's log lacks %q:\n%s", want, logs)
		}
	}
	if n := strings.Count(logs, "msg=request "); n < 9 {
		t.Errorf("%d access log lines, want at least 9:\n%s", n, logs)
	}
}

// TestLogJSON starts serve with its standard error on a pipe and the
// default log format: every log line is a JSON object, and a PUT leaves
// its access log line.
func TestLogJSON(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2, LogFormat: "auto"})
	c, err := minio.New(g.Addr, &minio.Options{Creds: credentials.NewStaticV4(g.AccessKey, g.SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.MakeBucket(ctx, "json", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, "json", "k", strings.NewReader("abc"), 3, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	out := g.WaitOutput(func(out string) bool { return strings.Contains(out, `"operation":"PutObject"`) })
	var put map[string]any
	n := 0
	for l := range strings.Lines(out) {
		if !strings.HasPrefix(l, "{") {
			continue // the banner on standard output
		}
		n++
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Errorf("not a JSON object: %q: %v", l, err)
			continue
		}
		if v["msg"] == "request" && v["operation"] == "PutObject" {
			put = v
		}
	}
	if n < 3 || put == nil {
		t.Fatalf("%d JSON lines, PUT %v:\n%s", n, put, out)
	}
	if put["status"] != 200.0 || put["user"] != g.AccessKey || put["bucket"] != "json" || put["key"] != "k" || put["level"] != "INFO" {
		t.Errorf("the PUT's line: %v", put)
	}
	if strings.Contains(out, "level=") {
		t.Errorf("text lines in the log:\n%s", out)
	}
}
