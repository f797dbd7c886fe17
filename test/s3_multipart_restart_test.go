package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestS3MultipartRestart continues a multipart upload across a restart of
// the gateway with aws cli: part 1 before, part 2 after, then the upload
// is listed, its parts listed, completed and read back byte for byte; a
// second upload begun before a restart is aborted after it.
func TestS3MultipartRestart(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	aws := NewAWS(t, g)
	const bucket, key = "resume", "big/upload.bin"
	aws.Must("s3", "mb", "s3://"+bucket)
	dir := t.TempDir()
	part1, part2 := filepath.Join(dir, "part1"), filepath.Join(dir, "part2")
	writeFile(t, part1, 5<<20+123, 1)
	writeFile(t, part2, 777_777, 2)

	id := func(out string) string {
		var v struct{ UploadId string }
		if err := json.Unmarshal([]byte(out), &v); err != nil || v.UploadId == "" {
			t.Fatalf("no upload id in %s (%v)", out, err)
		}
		return v.UploadId
	}
	etag := func(out string) string {
		var v struct{ ETag string }
		if err := json.Unmarshal([]byte(out), &v); err != nil || v.ETag == "" {
			t.Fatalf("no ETag in %s (%v)", out, err)
		}
		return v.ETag
	}
	upload := id(aws.Must("s3api", "create-multipart-upload", "--bucket", bucket, "--key", key).Stdout)
	etag1 := etag(aws.Must("s3api", "upload-part", "--bucket", bucket, "--key", key, "--upload-id", upload,
		"--part-number", "1", "--body", part1).Stdout)
	doomed := id(aws.Must("s3api", "create-multipart-upload", "--bucket", bucket, "--key", "doomed").Stdout)
	aws.Must("s3api", "upload-part", "--bucket", bucket, "--key", "doomed", "--upload-id", doomed,
		"--part-number", "1", "--body", part2)

	g.Stop()
	g.Start()

	etag2 := etag(aws.Must("s3api", "upload-part", "--bucket", bucket, "--key", key, "--upload-id", upload,
		"--part-number", "2", "--body", part2).Stdout)

	var uploads struct {
		Uploads []struct{ Key, UploadId string }
	}
	out := aws.Must("s3api", "list-multipart-uploads", "--bucket", bucket).Stdout
	if err := json.Unmarshal([]byte(out), &uploads); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	found := map[string]string{}
	for _, u := range uploads.Uploads {
		found[u.Key] = u.UploadId
	}
	if len(found) != 2 || found[key] != upload || found["doomed"] != doomed {
		t.Errorf("list-multipart-uploads after the restart:\n%s", out)
	}

	var parts struct {
		Parts []struct {
			PartNumber int
			ETag       string
			Size       int64
		}
	}
	out = aws.Must("s3api", "list-parts", "--bucket", bucket, "--key", key, "--upload-id", upload).Stdout
	if err := json.Unmarshal([]byte(out), &parts); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(parts.Parts) != 2 || parts.Parts[0].ETag != etag1 || parts.Parts[1].ETag != etag2 ||
		parts.Parts[0].Size != 5<<20+123 || parts.Parts[1].Size != 777_777 {
		t.Errorf("list-parts after the restart:\n%s", out)
	}

	done := `{"Parts":[{"PartNumber":1,"ETag":` + strconvQuote(etag1) + `},{"PartNumber":2,"ETag":` + strconvQuote(etag2) + `}]}`
	out = aws.Must("s3api", "complete-multipart-upload", "--bucket", bucket, "--key", key, "--upload-id", upload,
		"--multipart-upload", done).Stdout
	if !strings.HasSuffix(strings.Trim(etag(out), `"`), "-2") {
		t.Errorf("complete-multipart-upload: %s", out)
	}
	got := filepath.Join(dir, "got")
	aws.Must("s3api", "get-object", "--bucket", bucket, "--key", key, got)
	whole := filepath.Join(dir, "whole")
	a, _ := os.ReadFile(part1)
	b, _ := os.ReadFile(part2)
	if err := os.WriteFile(whole, append(a, b...), 0o600); err != nil {
		t.Fatal(err)
	}
	sameFile(t, whole, got)

	g.Stop()
	g.Start()
	aws.Must("s3api", "abort-multipart-upload", "--bucket", bucket, "--key", "doomed", "--upload-id", doomed)
	out = aws.Must("s3api", "list-multipart-uploads", "--bucket", bucket).Stdout
	if strings.Contains(out, doomed) || strings.Contains(out, upload) {
		t.Errorf("list-multipart-uploads after complete and abort:\n%s", out)
	}
	r := aws.Run("s3api", "list-parts", "--bucket", bucket, "--key", "doomed", "--upload-id", doomed)
	if r.Err == nil || !strings.Contains(r.Stderr, "NoSuchUpload") {
		t.Errorf("list-parts of the aborted upload: %v\n%s", r.Err, r.Stderr)
	}
	// The aborted upload's blobs are gone: the object's two parts remain.
	g.Stop()
	g.mustRun(t, 0, "gc", "-c", g.Config, "--grace", "0")
	for _, d := range g.blobDirs() {
		if n := len(blobNames(t, d)); n != 2 {
			t.Errorf("%s: %d blobs after the abort and gc, want the object's 2 parts", d, n)
		}
	}
}

// strconvQuote quotes s as a JSON string.
func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
