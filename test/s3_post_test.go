package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// boto3Python returns a python3 that can import boto3: Debian's
// (python3-boto3, which test/setup installs) or the first on PATH.
func boto3Python(t *testing.T) string {
	t.Helper()
	cands := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	for _, p := range cands {
		if exec.Command(p, "-c", "import boto3").Run() == nil {
			return p
		}
	}
	testenv.Unavailable(t, "python3 with boto3 (python3-boto3)")
	return ""
}

// postScript makes a POST policy with boto3's generate_presigned_post and
// posts a file with it through urllib, with a multipart body built by
// hand. It prints the status, the Location header and the body as JSON.
const postScript = `
import json, sys, urllib.request, urllib.error, uuid
import boto3
from botocore.config import Config
endpoint, bucket, key, path, filename, max_len, status = sys.argv[1:8]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
fields = {"Content-Type": "text/plain", "x-amz-meta-uploader": "browser"}
conds = [["starts-with", "$Content-Type", "text/"], {"x-amz-meta-uploader": "browser"},
    ["content-length-range", 1, int(max_len)]]
if status:
    fields["success_action_status"] = status
    conds.append({"success_action_status": status})
post = s3.generate_presigned_post(bucket, key, Fields=fields, Conditions=conds, ExpiresIn=600)
boundary = uuid.uuid4().hex
body = b""
for k, v in post["fields"].items():
    body += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (boundary, k, v)).encode()
body += ("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\nContent-Type: text/plain\r\n\r\n" % (boundary, filename)).encode()
body += open(path, "rb").read() + ("\r\n--%s--\r\n" % boundary).encode()
req = urllib.request.Request(post["url"], data=body, method="POST",
    headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
try:
    with urllib.request.urlopen(req) as resp:
        out = {"status": resp.status, "location": resp.headers.get("Location", ""), "body": resp.read().decode()}
except urllib.error.HTTPError as e:
    out = {"status": e.code, "location": "", "body": e.read().decode()}
print(json.dumps(out))
`

// TestS3PostPolicy uploads files as a browser would, through a POST policy
// that boto3 makes, to the real binary: within the policy the file is
// stored with its metadata; too large for its content-length-range it is
// refused with 403 and not stored.
func TestS3PostPolicy(t *testing.T) {
	py := boto3Python(t)
	g := StartGateway(t, Setup{Local: 2})
	aws := NewAWS(t, g)
	const bucket = "post-bucket"
	aws.Must("s3", "mb", "s3://"+bucket)
	dir := t.TempDir()
	small, big := filepath.Join(dir, "small"), filepath.Join(dir, "big")
	writeFile(t, small, 800, 5)
	writeFile(t, big, 5000, 6)
	env := cleanEnv("HOME="+dir, "AWS_ACCESS_KEY_ID="+g.AccessKey, "AWS_SECRET_ACCESS_KEY="+g.SecretKey,
		"AWS_CONFIG_FILE="+filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"), "AWS_EC2_METADATA_DISABLED=true")
	postFile := func(t *testing.T, key, path, filename, status string) (int, string) {
		t.Helper()
		r := run(t, env, dir, py, "-c", postScript, g.Endpoint(), bucket, key, path, filename, "1000", status).must(t, "python3 post")
		var out struct {
			Status   int
			Location string
			Body     string
		}
		if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
			t.Fatalf("%v: %s", err, r.Stdout)
		}
		return out.Status, out.Body
	}
	head := func(t *testing.T, key string) (map[string]any, bool) {
		t.Helper()
		r := aws.Run("s3api", "head-object", "--bucket", bucket, "--key", key)
		if r.Err != nil {
			return nil, false
		}
		var h map[string]any
		if err := json.Unmarshal([]byte(r.Stdout), &h); err != nil {
			t.Fatalf("%v: %s", err, r.Stdout)
		}
		return h, true
	}

	t.Run("within the policy, ${filename}, 201", func(t *testing.T) {
		status, body := postFile(t, "uploads/${filename}", small, "notes.txt", "201")
		if status != 201 || !strings.Contains(body, "<Key>uploads/notes.txt</Key>") || !strings.Contains(body, "<Bucket>post-bucket</Bucket>") {
			t.Fatalf("%d %s", status, body)
		}
		h, ok := head(t, "uploads/notes.txt")
		if !ok || h["ContentLength"] != float64(800) || h["ContentType"] != "text/plain" {
			t.Fatalf("head: %v", h)
		}
		if m, _ := h["Metadata"].(map[string]any); m["uploader"] != "browser" {
			t.Errorf("metadata: %v", h["Metadata"])
		}
		out := filepath.Join(dir, "out")
		aws.Must("s3api", "get-object", "--bucket", bucket, "--key", "uploads/notes.txt", out)
		sameFile(t, small, out)
	})

	t.Run("within the policy, default 204", func(t *testing.T) {
		if status, body := postFile(t, "uploads/plain", small, "f", ""); status != 204 {
			t.Fatalf("%d %s", status, body)
		}
		if _, ok := head(t, "uploads/plain"); !ok {
			t.Error("not stored")
		}
	})

	t.Run("too large for its content-length-range", func(t *testing.T) {
		status, body := postFile(t, "uploads/big", big, "big", "201")
		if status != 403 || !strings.Contains(body, "<Code>AccessDenied</Code>") || !strings.Contains(body, "Invalid according to Policy") {
			t.Fatalf("%d %s", status, body)
		}
		if h, ok := head(t, "uploads/big"); ok {
			t.Errorf("a refused POST stored the object: %v", h)
		}
	})

	t.Run("no metadata on the backends", func(t *testing.T) {
		if n, _ := scanForPlaintext(t, g.backendDirs(), "notes.txt", "uploader"); n == 0 {
			t.Error("scanned no backend files")
		}
	})
}
