package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// versionList is what aws cli prints for list-object-versions.
type versionList struct {
	Versions []struct {
		Key, VersionId, ETag string
		IsLatest             bool
		Size                 int64
	}
	DeleteMarkers []struct {
		Key, VersionId string
		IsLatest       bool
	}
	IsTruncated                        bool
	NextKeyMarker, NextVersionIdMarker string
}

func listObjectVersions(t *testing.T, aws *AWS, bucket string, args ...string) versionList {
	t.Helper()
	out := aws.Must(append([]string{"s3api", "list-object-versions", "--bucket", bucket}, args...)...).Stdout
	var l versionList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("list-object-versions: %v\n%s", err, out)
	}
	return l
}

// putVersion uploads body as bucket/key and returns the version ID.
func putVersion(t *testing.T, aws *AWS, bucket, key, body string, args ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out := aws.Must(append([]string{"s3api", "put-object", "--bucket", bucket, "--key", key, "--body", f}, args...)...).Stdout
	var r struct{ VersionId string }
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("put-object: %v\n%s", err, out)
	}
	return r.VersionId
}

// getVersion returns the bytes of one version (id empty: the current one).
func getVersion(t *testing.T, aws *AWS, bucket, key, id string) (string, Result) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "out")
	args := []string{"s3api", "get-object", "--bucket", bucket, "--key", key}
	if id != "" {
		args = append(args, "--version-id", id)
	}
	r := aws.Run(append(args, f)...)
	if r.Err != nil {
		return "", r
	}
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), r
}

func wantFailure(t *testing.T, what string, r Result, text ...string) {
	t.Helper()
	if r.Err == nil {
		t.Errorf("%s succeeded; want a failure with %q\n%s", what, text, r.Stdout)
		return
	}
	for _, s := range text {
		if !strings.Contains(r.Stderr, s) {
			t.Errorf("%s: stderr lacks %q:\n%s", what, s, r.Stderr)
		}
	}
}

// TestS3VersionsAWSCLI drives versioning with aws cli s3api: the null
// version of an object written before versioning, versions, delete markers
// and their 404 and 405, reads, copies and deletions by version ID,
// paginated listings, suspended versioning.
func TestS3VersionsAWSCLI(t *testing.T) {
	t.Parallel()
	g := StartGateway(t, Setup{Local: 2})
	aws := NewAWS(t, g)
	const bucket = "versioned"
	aws.Must("s3api", "create-bucket", "--bucket", bucket)
	if out := aws.Must("s3api", "get-bucket-versioning", "--bucket", bucket).Stdout; strings.Contains(out, "Status") {
		t.Errorf("versioning of a new bucket: %s", out)
	}
	putVersion(t, aws, bucket, "doc.txt", "before versioning")
	aws.Must("s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Enabled")
	if out := aws.Must("s3api", "get-bucket-versioning", "--bucket", bucket).Stdout; !strings.Contains(out, `"Enabled"`) {
		t.Errorf("get-bucket-versioning after enabling: %s", out)
	}
	v1 := putVersion(t, aws, bucket, "doc.txt", "first")
	v2 := putVersion(t, aws, bucket, "doc.txt", "second")
	if v1 == "" || v2 == "" || v1 == v2 || v1 == "null" {
		t.Fatalf("version IDs %q %q", v1, v2)
	}
	for id, want := range map[string]string{"": "second", v1: "first", v2: "second", "null": "before versioning"} {
		if got, r := getVersion(t, aws, bucket, "doc.txt", id); r.Err != nil || got != want {
			t.Errorf("get-object --version-id %q = %q, %v %s; want %q", id, got, r.Err, r.Stderr, want)
		}
	}
	head := aws.Must("s3api", "head-object", "--bucket", bucket, "--key", "doc.txt", "--version-id", v1).Stdout
	if !strings.Contains(head, v1) || !strings.Contains(head, `"ContentLength": 5`) {
		t.Errorf("head-object of v1: %s", head)
	}

	// A delete adds a delete marker.
	out := aws.Must("s3api", "delete-object", "--bucket", bucket, "--key", "doc.txt").Stdout
	var del struct {
		DeleteMarker bool
		VersionId    string
	}
	if err := json.Unmarshal([]byte(out), &del); err != nil || !del.DeleteMarker || del.VersionId == "" {
		t.Fatalf("delete-object: %v %s", err, out)
	}
	_, r := getVersion(t, aws, bucket, "doc.txt", "")
	wantFailure(t, "get-object of a deleted key", r, "NoSuchKey")
	_, r = getVersion(t, aws, bucket, "doc.txt", del.VersionId)
	wantFailure(t, "get-object of a delete marker", r, "MethodNotAllowed")
	wantFailure(t, "head-object of a delete marker", aws.Run("s3api", "head-object", "--bucket", bucket, "--key", "doc.txt", "--version-id", del.VersionId), "405")
	wantFailure(t, "head-object of a deleted key", aws.Run("s3api", "head-object", "--bucket", bucket, "--key", "doc.txt"), "404")
	wantFailure(t, "list-object-versions with a version-id-marker alone",
		aws.Run("s3api", "list-object-versions", "--bucket", bucket, "--version-id-marker", v1, "--no-paginate"), "InvalidArgument")
	wantFailure(t, "get-object of a malformed version", func() Result { _, r := getVersion(t, aws, bucket, "doc.txt", "bogus"); return r }(), "InvalidArgument")
	wantFailure(t, "get-object of a missing version", func() Result {
		_, r := getVersion(t, aws, bucket, "doc.txt", "0123456789abcdef0123456789abcdef")
		return r
	}(), "NoSuchVersion")
	if out := aws.Must("s3api", "list-objects-v2", "--bucket", bucket).Stdout; strings.Contains(out, "doc.txt") {
		t.Errorf("list-objects-v2 shows a deleted key: %s", out)
	}
	l := listObjectVersions(t, aws, bucket)
	if len(l.Versions) != 3 || len(l.DeleteMarkers) != 1 || !l.DeleteMarkers[0].IsLatest ||
		l.Versions[0].VersionId != v2 || l.Versions[1].VersionId != v1 || l.Versions[2].VersionId != "null" || l.Versions[0].IsLatest {
		t.Errorf("list-object-versions: %+v", l)
	}
	// Paginated by one.
	var ids []string
	var args []string
	for page := 0; page < 10; page++ {
		p := listObjectVersions(t, aws, bucket, append([]string{"--max-keys", "1", "--no-paginate"}, args...)...)
		for _, v := range p.Versions {
			ids = append(ids, v.VersionId)
		}
		for _, m := range p.DeleteMarkers {
			ids = append(ids, "marker:"+m.VersionId)
		}
		if !p.IsTruncated {
			break
		}
		args = []string{"--key-marker", p.NextKeyMarker, "--version-id-marker", p.NextVersionIdMarker}
	}
	if want := []string{"marker:" + del.VersionId, v2, v1, "null"}; strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Errorf("paginated versions %q, want %q", ids, want)
	}

	// Deleting the delete marker by ID brings the object back.
	aws.Must("s3api", "delete-object", "--bucket", bucket, "--key", "doc.txt", "--version-id", del.VersionId)
	if got, r := getVersion(t, aws, bucket, "doc.txt", ""); got != "second" {
		t.Errorf("after deleting the marker: %q %s", got, r.Stderr)
	}
	// A copy from an old version onto the key restores it.
	out = aws.Must("s3api", "copy-object", "--bucket", bucket, "--key", "doc.txt", "--copy-source", bucket+"/doc.txt?versionId="+v1).Stdout
	if !strings.Contains(out, "VersionId") {
		t.Errorf("copy-object: %s", out)
	}
	if got, _ := getVersion(t, aws, bucket, "doc.txt", ""); got != "first" {
		t.Errorf("after restoring v1 by copy: %q", got)
	}
	// Deleting a version for good.
	aws.Must("s3api", "delete-object", "--bucket", bucket, "--key", "doc.txt", "--version-id", v2)
	_, r = getVersion(t, aws, bucket, "doc.txt", v2)
	wantFailure(t, "get-object of a deleted version", r, "NoSuchVersion")

	// Suspended: writes make the null version.
	aws.Must("s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Suspended")
	if id := putVersion(t, aws, bucket, "doc.txt", "suspended"); id != "null" {
		t.Errorf("put while suspended: version %q, want null", id)
	}
	if got, _ := getVersion(t, aws, bucket, "doc.txt", "null"); got != "suspended" {
		t.Errorf("null version after a suspended put: %q", got)
	}
	wantFailure(t, "turning versioning off", aws.Run("s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Off"),
		"IllegalVersioningConfigurationException")
	wantFailure(t, "delete-bucket with versions", aws.Run("s3api", "delete-bucket", "--bucket", bucket), "BucketNotEmpty")
}

// TestS3VersionsMinio reads, lists and deletes versions with minio-go.
func TestS3VersionsMinio(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	c, err := minio.New(g.Addr, &minio.Options{Creds: credentials.NewStaticV4(g.AccessKey, g.SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const bucket = "minio-versions"
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.EnableVersioning(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	if cfg, err := c.GetBucketVersioning(ctx, bucket); err != nil || !cfg.Enabled() {
		t.Fatalf("GetBucketVersioning: %+v, %v", cfg, err)
	}
	var ids []string
	for _, body := range []string{"alpha", "beta"} {
		info, err := c.PutObject(ctx, bucket, "k", strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, info.VersionID)
	}
	o, err := c.GetObject(ctx, bucket, "k", minio.GetObjectOptions{VersionID: ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(o); err != nil || string(b) != "alpha" {
		t.Errorf("GetObject of the first version: %q, %v", b, err)
	}
	var listed []string
	for oi := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{WithVersions: true, Recursive: true}) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		listed = append(listed, fmt.Sprintf("%s?%s/%v", oi.Key, oi.VersionID, oi.IsLatest))
	}
	if want := []string{"k?" + ids[1] + "/true", "k?" + ids[0] + "/false"}; strings.Join(listed, ",") != strings.Join(want, ",") {
		t.Errorf("ListObjects WithVersions: %q, want %q", listed, want)
	}
	if err := c.RemoveObject(ctx, bucket, "k", minio.RemoveObjectOptions{VersionID: ids[1]}); err != nil {
		t.Fatal(err)
	}
	o, err = c.GetObject(ctx, bucket, "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(o); err != nil || string(b) != "alpha" {
		t.Errorf("current version after deleting the newest: %q, %v", b, err)
	}
}

// TestS3ObjectLockAWSCLI drives object lock with aws cli s3api, with a
// test per refusal.
func TestS3ObjectLockAWSCLI(t *testing.T) {
	t.Parallel()
	g := StartGateway(t, Setup{Local: 2})
	aws := NewAWS(t, g)
	const bucket = "locked"
	aws.Must("s3api", "create-bucket", "--bucket", bucket, "--object-lock-enabled-for-bucket")
	if out := aws.Must("s3api", "get-bucket-versioning", "--bucket", bucket).Stdout; !strings.Contains(out, `"Enabled"`) {
		t.Errorf("versioning of an object-lock bucket: %s", out)
	}
	wantFailure(t, "get-object-lock-configuration of a plain bucket", func() Result {
		aws.Must("s3api", "create-bucket", "--bucket", "plain")
		return aws.Run("s3api", "get-object-lock-configuration", "--bucket", "plain")
	}(), "ObjectLockConfigurationNotFoundError")
	aws.Must("s3api", "put-object-lock-configuration", "--bucket", bucket, "--object-lock-configuration",
		`{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"GOVERNANCE","Days":1}}}`)
	out := aws.Must("s3api", "get-object-lock-configuration", "--bucket", bucket).Stdout
	if !strings.Contains(out, `"GOVERNANCE"`) || !strings.Contains(out, `"Days": 1`) {
		t.Errorf("get-object-lock-configuration: %s", out)
	}
	gov := putVersion(t, aws, bucket, "backup.tar", "governed")
	out = aws.Must("s3api", "get-object-retention", "--bucket", bucket, "--key", "backup.tar", "--version-id", gov).Stdout
	if !strings.Contains(out, `"GOVERNANCE"`) {
		t.Errorf("default retention: %s", out)
	}
	wantFailure(t, "suspending versioning of an object-lock bucket",
		aws.Run("s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Suspended"), "InvalidBucketState")

	t.Run("deleting a GOVERNANCE version needs the bypass", func(t *testing.T) {
		wantFailure(t, "delete without bypass", aws.Run("s3api", "delete-object", "--bucket", bucket, "--key", "backup.tar", "--version-id", gov), "AccessDenied")
		aws.Must("s3api", "delete-object", "--bucket", bucket, "--key", "backup.tar", "--version-id", gov, "--bypass-governance-retention")
		_, r := getVersion(t, aws, bucket, "backup.tar", gov)
		wantFailure(t, "get of the deleted version", r, "NoSuchVersion")
	})

	until := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	comp := putVersion(t, aws, bucket, "backup.tar", "compliant", "--object-lock-mode", "COMPLIANCE", "--object-lock-retain-until-date", until)
	t.Run("deleting a COMPLIANCE version", func(t *testing.T) {
		wantFailure(t, "delete", aws.Run("s3api", "delete-object", "--bucket", bucket, "--key", "backup.tar", "--version-id", comp), "AccessDenied")
		wantFailure(t, "delete with bypass", aws.Run("s3api", "delete-object", "--bucket", bucket, "--key", "backup.tar", "--version-id", comp, "--bypass-governance-retention"), "AccessDenied")
	})
	t.Run("shortening COMPLIANCE retention", func(t *testing.T) {
		shorter := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
		for _, extra := range [][]string{nil, {"--bypass-governance-retention"}} {
			wantFailure(t, "put-object-retention shorter", aws.Run(append([]string{"s3api", "put-object-retention", "--bucket", bucket, "--key", "backup.tar", "--version-id", comp,
				"--retention", `{"Mode":"COMPLIANCE","RetainUntilDate":"` + shorter + `"}`}, extra...)...), "AccessDenied")
		}
		longer := time.Now().Add(96 * time.Hour).UTC().Format(time.RFC3339)
		aws.Must("s3api", "put-object-retention", "--bucket", bucket, "--key", "backup.tar", "--version-id", comp,
			"--retention", `{"Mode":"COMPLIANCE","RetainUntilDate":"`+longer+`"}`)
		out := aws.Must("s3api", "get-object-retention", "--bucket", bucket, "--key", "backup.tar", "--version-id", comp).Stdout
		if !strings.Contains(out, longer[:10]) {
			t.Errorf("retention after extending: %s", out)
		}
	})
	t.Run("deleting a version under legal hold", func(t *testing.T) {
		held := putVersion(t, aws, bucket, "held.txt", "held", "--object-lock-legal-hold-status", "ON")
		if out := aws.Must("s3api", "get-object-legal-hold", "--bucket", bucket, "--key", "held.txt", "--version-id", held).Stdout; !strings.Contains(out, `"ON"`) {
			t.Errorf("get-object-legal-hold: %s", out)
		}
		// The default GOVERNANCE retention yields to the bypass, the
		// hold does not.
		wantFailure(t, "delete with bypass", aws.Run("s3api", "delete-object", "--bucket", bucket, "--key", "held.txt", "--version-id", held, "--bypass-governance-retention"), "AccessDenied")
		aws.Must("s3api", "put-object-legal-hold", "--bucket", bucket, "--key", "held.txt", "--version-id", held, "--legal-hold", "Status=OFF")
		aws.Must("s3api", "delete-object", "--bucket", bucket, "--key", "held.txt", "--version-id", held, "--bypass-governance-retention")
	})
	t.Run("a delete marker over a locked version", func(t *testing.T) {
		aws.Must("s3api", "delete-object", "--bucket", bucket, "--key", "backup.tar")
		if got, r := getVersion(t, aws, bucket, "backup.tar", comp); got != "compliant" {
			t.Errorf("locked version behind a delete marker: %q %s", got, r.Stderr)
		}
	})
	t.Run("a PUT with lock parameters needs a checksum", func(t *testing.T) {
		c, err := minio.New(g.Addr, &minio.Options{Creds: credentials.NewStaticV4(g.AccessKey, g.SecretKey, ""), Region: "us-east-1"})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		body := []byte("minio body")
		_, err = c.PutObject(ctx, bucket, "minio.txt", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{DisableContentSha256: true})
		if err == nil || !strings.Contains(err.Error(), "Content-MD5 OR x-amz-checksum-") {
			t.Errorf("minio-go PUT without a checksum into a bucket with default retention: %v", err)
		}
		info, err := c.PutObject(ctx, bucket, "minio.txt", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{SendContentMd5: true})
		if err != nil || info.VersionID == "" {
			t.Fatalf("minio-go PUT with Content-MD5: %+v, %v", info, err)
		}
		mode, until, err := c.GetObjectRetention(ctx, bucket, "minio.txt", info.VersionID)
		if err != nil || mode == nil || *mode != minio.Governance || until == nil {
			t.Errorf("minio-go GetObjectRetention: %v %v %v", mode, until, err)
		}
	})

	t.Run("a multipart upload gets the default retention", func(t *testing.T) {
		big := filepath.Join(t.TempDir(), "big")
		writeFile(t, big, 12<<20, 5)
		aws.Must("s3", "cp", big, "s3://"+bucket+"/big.bin")
		l := listObjectVersions(t, aws, bucket, "--prefix", "big.bin")
		if len(l.Versions) != 1 {
			t.Fatalf("versions of big.bin: %+v", l)
		}
		out := aws.Must("s3api", "get-object-retention", "--bucket", bucket, "--key", "big.bin", "--version-id", l.Versions[0].VersionId).Stdout
		if !strings.Contains(out, `"GOVERNANCE"`) {
			t.Errorf("retention of a multipart object: %s", out)
		}
	})
	t.Run("lock headers on a multipart upload and a copy", func(t *testing.T) {
		out := aws.Must("s3api", "create-multipart-upload", "--bucket", bucket, "--key", "mp",
			"--object-lock-mode", "COMPLIANCE", "--object-lock-retain-until-date", until).Stdout
		var up struct{ UploadId string }
		if err := json.Unmarshal([]byte(out), &up); err != nil || up.UploadId == "" {
			t.Fatalf("create-multipart-upload: %v %s", err, out)
		}
		part := filepath.Join(t.TempDir(), "part")
		if err := os.WriteFile(part, []byte("one part"), 0o600); err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum([]byte("one part"))
		md5b64 := base64.StdEncoding.EncodeToString(sum[:])
		out = aws.Must("s3api", "upload-part", "--bucket", bucket, "--key", "mp", "--upload-id", up.UploadId, "--part-number", "1",
			"--body", part, "--content-md5", md5b64).Stdout
		var p struct{ ETag string }
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatal(err)
		}
		aws.Must("s3api", "complete-multipart-upload", "--bucket", bucket, "--key", "mp", "--upload-id", up.UploadId,
			"--multipart-upload", `{"Parts":[{"PartNumber":1,"ETag":`+strconv.Quote(p.ETag)+`}]}`)
		if out := aws.Must("s3api", "get-object-retention", "--bucket", bucket, "--key", "mp").Stdout; !strings.Contains(out, `"COMPLIANCE"`) {
			t.Errorf("retention of a multipart object with lock headers: %s", out)
		}
		aws.Must("s3api", "copy-object", "--bucket", bucket, "--key", "mp-copy", "--copy-source", bucket+"/mp",
			"--object-lock-legal-hold-status", "ON")
		if out := aws.Must("s3api", "get-object-legal-hold", "--bucket", bucket, "--key", "mp-copy").Stdout; !strings.Contains(out, `"ON"`) {
			t.Errorf("legal hold of a copy with lock headers: %s", out)
		}
	})

	t.Run("WebDAV neither replaces nor removes a locked file", func(t *testing.T) {
		dav := func(method, path, body string) int {
			req, _ := http.NewRequest(method, "http://"+g.DAVAddr+path, strings.NewReader(body))
			req.SetBasicAuth(g.AccessKey, g.SecretKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
		putVersion(t, aws, bucket, "dav.txt", "locked for dav")
		if code := dav(http.MethodPut, "/"+bucket+"/dav.txt", "ransomware"); code != http.StatusForbidden {
			t.Errorf("WebDAV PUT over a locked file: %d, want 403", code)
		}
		if code := dav(http.MethodDelete, "/"+bucket+"/dav.txt", ""); code != http.StatusForbidden {
			t.Errorf("WebDAV DELETE of a locked file: %d, want 403", code)
		}
		if got, _ := getVersion(t, aws, bucket, "dav.txt", ""); got != "locked for dav" {
			t.Errorf("locked file after WebDAV attempts: %q", got)
		}
	})

	t.Run("gc --grace 0s keeps locked versions", func(t *testing.T) {
		g.Stop()
		if out, err := g.Run("gc", "-c", g.Config, "--grace", "0s"); err != nil {
			t.Fatalf("gc: %v\n%s", err, out)
		}
		g.Start()
		if got, r := getVersion(t, aws, bucket, "backup.tar", comp); got != "compliant" {
			t.Errorf("locked version after gc: %q %s", got, r.Stderr)
		}
	})
}

// TestS3VersionsWebDAV checks that a WebDAV overwrite and delete in a
// versioned bucket keep the old version, as S3's would.
func TestS3VersionsWebDAV(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	aws := NewAWS(t, g)
	const bucket = "davversions"
	aws.Must("s3api", "create-bucket", "--bucket", bucket)
	aws.Must("s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Enabled")
	dav := func(method, path, body string) int {
		req, _ := http.NewRequest(method, "http://"+g.DAVAddr+path, strings.NewReader(body))
		req.SetBasicAuth(g.AccessKey, g.SecretKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for i, body := range []string{"draft", "final"} {
		if code := dav(http.MethodPut, "/"+bucket+"/report.txt", body); code/100 != 2 {
			t.Fatalf("WebDAV PUT %d: %d", i, code)
		}
	}
	if code := dav(http.MethodDelete, "/"+bucket+"/report.txt", ""); code/100 != 2 {
		t.Fatalf("WebDAV DELETE: %d", code)
	}
	if code := dav(http.MethodGet, "/"+bucket+"/report.txt", ""); code != http.StatusNotFound {
		t.Errorf("WebDAV GET after DELETE: %d", code)
	}
	l := listObjectVersions(t, aws, bucket)
	if len(l.Versions) != 2 || len(l.DeleteMarkers) != 1 {
		t.Fatalf("versions after WebDAV writes: %+v", l)
	}
	for i, want := range []string{"final", "draft"} {
		if got, r := getVersion(t, aws, bucket, "report.txt", l.Versions[i].VersionId); got != want {
			t.Errorf("version %d: %q %s, want %q", i, got, r.Stderr, want)
		}
	}
}

// TestS3VersionsBoto3 lists and deletes versions with boto3's resource API,
// which deletes versions with DeleteObjects.
func TestS3VersionsBoto3(t *testing.T) {
	py := boto3Python(t)
	g := StartGateway(t, Setup{Local: 2})
	script := `
import json, sys
import boto3
from botocore.config import Config
s3 = boto3.resource("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
b = s3.create_bucket(Bucket="boto")
b.Versioning().enable()
ids = [b.put_object(Key="k", Body=body).version_id for body in (b"one", b"two", b"three")]
old = s3.ObjectVersion("boto", "k", ids[0]).get()["Body"].read().decode()
listed = [(v.object_key, v.id, v.is_latest) for v in b.object_versions.all()]
b.object_versions.filter(Prefix="k").delete()
after = [v.id for v in b.object_versions.all()]
print(json.dumps({"ids": ids, "old": old, "listed": listed, "after": after, "status": b.Versioning().status}))
`
	r := run(t, cleanEnv("HOME="+t.TempDir(), "AWS_ACCESS_KEY_ID="+g.AccessKey, "AWS_SECRET_ACCESS_KEY="+g.SecretKey,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true"),
		"", py, "-c", script, g.Endpoint()).must(t, "boto3 script")
	var out struct {
		IDs    []string `json:"ids"`
		Old    string   `json:"old"`
		Listed [][]any  `json:"listed"`
		After  []string `json:"after"`
		Status string   `json:"status"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("%v: %s", err, r.Stdout)
	}
	if out.Old != "one" || out.Status != "Enabled" || len(out.Listed) != 3 {
		t.Errorf("boto3: %+v", out)
	}
	if len(out.Listed) == 3 && (out.Listed[0][1] != out.IDs[2] || out.Listed[0][2] != true || out.Listed[2][1] != out.IDs[0]) {
		t.Errorf("boto3 listed %v, ids %v", out.Listed, out.IDs)
	}
	if len(out.After) != 0 {
		t.Errorf("versions left after deleting them all with DeleteObjects: %v", out.After)
	}
}

// TestS3VersionsRclone reads old versions with rclone's --s3-versions.
func TestS3VersionsRclone(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	aws := NewAWS(t, g)
	rc := NewRclone(t, g)
	const bucket = "rcversions"
	aws.Must("s3api", "create-bucket", "--bucket", bucket)
	aws.Must("s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Enabled")
	putVersion(t, aws, bucket, "notes.txt", "old notes")
	time.Sleep(1100 * time.Millisecond) // rclone names versions by their second
	putVersion(t, aws, bucket, "notes.txt", "new notes!")
	out := rc.Must("lsf", "--s3-versions", rc.Remote(bucket)).Stdout
	names := strings.Fields(out)
	var old string
	for _, n := range names {
		if strings.HasPrefix(n, "notes-v") {
			old = n
		}
	}
	if len(names) != 2 || old == "" {
		t.Fatalf("rclone lsf --s3-versions: %q", names)
	}
	if got := rc.Must("cat", "--s3-versions", rc.Remote(bucket+"/"+old)).Stdout; got != "old notes" {
		t.Errorf("rclone cat of the old version: %q", got)
	}
	if got := rc.Must("cat", rc.Remote(bucket+"/notes.txt")).Stdout; got != "new notes!" {
		t.Errorf("rclone cat of the current version: %q", got)
	}
}

// TestS3LifecycleNoncurrent sets a lifecycle rule for noncurrent versions
// with aws cli and checks that serve applies it, and that other rule kinds
// are refused.
func TestS3LifecycleNoncurrent(t *testing.T) {
	t.Parallel()
	g := StartGateway(t, Setup{Local: 2})
	aws := NewAWS(t, g)
	const bucket = "lifecycle"
	aws.Must("s3api", "create-bucket", "--bucket", bucket)
	aws.Must("s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Enabled")
	var ids []string
	for i := range 4 {
		ids = append(ids, putVersion(t, aws, bucket, "logs/app.log", strings.Repeat("x", i+1)))
	}
	putVersion(t, aws, bucket, "keep/me", "1")
	putVersion(t, aws, bucket, "keep/me", "2")
	wantFailure(t, "get-bucket-lifecycle-configuration without one", aws.Run("s3api", "get-bucket-lifecycle-configuration", "--bucket", bucket), "NoSuchLifecycleConfiguration")
	wantFailure(t, "an Expiration rule", aws.Run("s3api", "put-bucket-lifecycle-configuration", "--bucket", bucket, "--lifecycle-configuration",
		`{"Rules":[{"ID":"old","Status":"Enabled","Filter":{"Prefix":""},"Expiration":{"Days":30}}]}`), "NotImplemented", "NoncurrentVersionExpiration")
	aws.Must("s3api", "put-bucket-lifecycle-configuration", "--bucket", bucket, "--lifecycle-configuration",
		`{"Rules":[{"ID":"logs","Status":"Enabled","Filter":{"Prefix":"logs/"},"NoncurrentVersionExpiration":{"NewerNoncurrentVersions":1}}]}`)
	out := aws.Must("s3api", "get-bucket-lifecycle-configuration", "--bucket", bucket).Stdout
	if !strings.Contains(out, `"NewerNoncurrentVersions": 1`) || !strings.Contains(out, `"logs/"`) {
		t.Errorf("get-bucket-lifecycle-configuration: %s", out)
	}
	// serve applies the rules at start.
	g.Stop()
	g.Start()
	g.WaitOutput(func(out string) bool { return strings.Contains(out, "lifecycle rules applied") })
	l := listObjectVersions(t, aws, bucket, "--prefix", "logs/")
	var got []string
	for _, v := range l.Versions {
		got = append(got, v.VersionId)
	}
	if want := []string{ids[3], ids[2]}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("versions of logs/ after the lifecycle: %q, want %q", got, want)
	}
	if l := listObjectVersions(t, aws, bucket, "--prefix", "keep/"); len(l.Versions) != 2 {
		t.Errorf("versions outside the rule's prefix: %+v", l.Versions)
	}
	aws.Must("s3api", "delete-bucket-lifecycle", "--bucket", bucket)
	wantFailure(t, "get-bucket-lifecycle-configuration after deleting it", aws.Run("s3api", "get-bucket-lifecycle-configuration", "--bucket", bucket), "NoSuchLifecycleConfiguration")
}

// TestResticObjectLock backs up to, checks and restores from a bucket with
// versioning, object lock and a default retention, with restic.
func TestResticObjectLock(t *testing.T) {
	t.Parallel()
	restic := testenv.Tool(t, "restic", "/usr/bin/restic")
	g := StartGateway(t, Setup{Local: 2})
	aws := NewAWS(t, g)
	const bucket = "restic-locked"
	aws.Must("s3api", "create-bucket", "--bucket", bucket, "--object-lock-enabled-for-bucket")
	aws.Must("s3api", "put-object-lock-configuration", "--bucket", bucket, "--object-lock-configuration",
		`{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"GOVERNANCE","Days":1}}}`)
	src := t.TempDir()
	for i := range 5 {
		writeFile(t, filepath.Join(src, "data", fmt.Sprintf("file%d", i)), int64(i+1)*100<<10, uint64(i))
	}
	env := cleanEnv("HOME="+t.TempDir(), "AWS_ACCESS_KEY_ID="+g.AccessKey, "AWS_SECRET_ACCESS_KEY="+g.SecretKey,
		"RESTIC_REPOSITORY=s3:"+g.Endpoint()+"/"+bucket+"/repo", "RESTIC_PASSWORD=correct horse battery staple",
		"RESTIC_CACHE_DIR="+t.TempDir())
	r := func(args ...string) Result {
		t.Helper()
		return run(t, env, src, restic, args...).must(t, "restic "+strings.Join(args, " "))
	}
	r("init")
	r("backup", "data")
	writeFile(t, filepath.Join(src, "data", "file0"), 50<<10, 99) // a second snapshot that differs
	r("backup", "data")
	r("check", "--read-data")
	dst := t.TempDir()
	r("restore", "latest", "--target", dst)
	for i := range 5 {
		want, err := os.ReadFile(filepath.Join(src, "data", fmt.Sprintf("file%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dst, "data", fmt.Sprintf("file%d", i)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("restored file%d differs (%d bytes, %v)", i, len(got), err)
		}
	}
	// Every pack file the repository wrote is retained: deleting it for
	// good without the bypass is refused.
	l := listObjectVersions(t, aws, bucket, "--prefix", "repo/data/")
	if len(l.Versions) == 0 {
		t.Fatal("no pack files listed")
	}
	v := l.Versions[0]
	wantFailure(t, "delete of a retained pack file", aws.Run("s3api", "delete-object", "--bucket", bucket, "--key", v.Key, "--version-id", v.VersionId), "AccessDenied")
}

// treeHashes returns every file under dir with its content.
func treeHashes(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestVersionsMaintenanceCLI runs scrub --deep, repair, rebuild-catalog and
// recover (--all-versions) over buckets holding versions, delete markers
// and locked versions: a wiped provider is repaired byte for byte, the
// rebuilt catalog lists the same versions, and recover restores each
// version's bytes.
func TestVersionsMaintenanceCLI(t *testing.T) {
	t.Parallel()
	g := StartGateway(t, Setup{Local: 2})
	aws := NewAWS(t, g)
	aws.Must("s3api", "create-bucket", "--bucket", "docs")
	putVersion(t, aws, "docs", "old.txt", "from before versioning")
	aws.Must("s3api", "put-bucket-versioning", "--bucket", "docs", "--versioning-configuration", "Status=Enabled")
	versions := map[string]string{} // "bucket/key?id" -> body
	for i, body := range []string{"report v1", "report v2", "report v3"} {
		id := putVersion(t, aws, "docs", "dir/report.txt", body)
		versions["docs/dir/report.txt?"+id] = body
		if i == 1 {
			aws.Must("s3api", "delete-object", "--bucket", "docs", "--key", "dir/report.txt")
		}
	}
	versions["docs/old.txt?null"] = "from before versioning"
	aws.Must("s3api", "delete-object", "--bucket", "docs", "--key", "old.txt")
	aws.Must("s3api", "create-bucket", "--bucket", "vault", "--object-lock-enabled-for-bucket")
	until := time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339)
	id := putVersion(t, aws, "vault", "backup.tar", "sealed away", "--object-lock-mode", "COMPLIANCE", "--object-lock-retain-until-date", until)
	versions["vault/backup.tar?"+id] = "sealed away"
	before := aws.Must("s3api", "list-object-versions", "--bucket", "docs").Stdout
	beforeVault := aws.Must("s3api", "list-object-versions", "--bucket", "vault").Stdout
	g.Stop()

	// No provider file shows a key, a bucket or a version ID.
	want := treeHashes(t, g.LocalDirs[0])
	for name, content := range want {
		for _, secret := range []string{"report.txt", "backup.tar", "vault", id} {
			if strings.Contains(name, secret) || strings.Contains(content, secret) {
				t.Errorf("provider file %s shows %q", name, secret)
			}
		}
	}

	// A wiped provider: scrub finds it, repair restores it byte for byte.
	if err := os.RemoveAll(g.LocalDirs[1]); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(g.LocalDirs[1], 0o700); err != nil {
		t.Fatal(err)
	}
	g.mustRun(t, 1, "scrub", "-c", g.Config, "--deep")
	g.mustRun(t, 0, "repair", "-c", g.Config)
	g.mustRun(t, 0, "scrub", "-c", g.Config, "--deep")
	got := treeHashes(t, g.LocalDirs[1])
	for name, content := range want {
		if strings.HasPrefix(name, "m/") || strings.HasPrefix(name, "b/") {
			if got[name] != content {
				t.Errorf("%s differs on the repaired provider", name)
			}
		}
	}

	// The catalog rebuilt from the repaired provider alone lists the same.
	g.mustRun(t, 0, "rebuild-catalog", "-c", g.Config, "--from", "local1", "--force")
	g.Start()
	if after := aws.Must("s3api", "list-object-versions", "--bucket", "docs").Stdout; after != before {
		t.Errorf("versions after rebuild-catalog:\n%s\nwant:\n%s", after, before)
	}
	if after := aws.Must("s3api", "list-object-versions", "--bucket", "vault").Stdout; after != beforeVault {
		t.Errorf("vault versions after rebuild-catalog:\n%s\nwant:\n%s", after, beforeVault)
	}
	wantFailure(t, "delete of the COMPLIANCE version after the rebuild",
		aws.Run("s3api", "delete-object", "--bucket", "vault", "--key", "backup.tar", "--version-id", id, "--bypass-governance-retention"), "AccessDenied")
	g.Stop()

	// recover: current versions; with --all-versions every version.
	out := filepath.Join(t.TempDir(), "current")
	g.mustRun(t, 0, "recover", "--keyring", filepath.Join(g.Dir, "twincrypt.keyring"), "--backend", g.LocalDirs[1], "--to", out)
	if got, want := treeHashes(t, out), map[string]string{"docs/dir/report.txt": "report v3", "vault/backup.tar": "sealed away"}; !maps.Equal(got, want) {
		t.Errorf("recovered current versions %q, want %q", got, want)
	}
	all := filepath.Join(t.TempDir(), "all")
	g.mustRun(t, 0, "recover", "--keyring", filepath.Join(g.Dir, "twincrypt.keyring"), "--backend", g.LocalDirs[1], "--to", all, "--all-versions")
	files := treeHashes(t, all)
	var manifest []struct {
		Bucket, Key, VersionID, Path string
		DeleteMarker                 bool
	}
	for _, line := range strings.Split(strings.TrimSpace(files["%versions/versions.jsonl"]), "\n") {
		var m struct {
			Bucket, Key, Path string
			VersionID         string `json:"versionId"`
			DeleteMarker      bool   `json:"deleteMarker"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("manifest %q: %v", line, err)
		}
		manifest = append(manifest, struct {
			Bucket, Key, VersionID, Path string
			DeleteMarker                 bool
		}{m.Bucket, m.Key, m.VersionID, m.Path, m.DeleteMarker})
	}
	restored := 0
	for _, m := range manifest {
		if m.DeleteMarker {
			continue
		}
		want, ok := versions[m.Bucket+"/"+m.Key+"?"+m.VersionID]
		if !ok || files[m.Path] != want {
			t.Errorf("version %+v restored as %q, want %q", m, files[m.Path], want)
		}
		restored++
	}
	if restored != len(versions) {
		t.Errorf("restored %d versions, want %d", restored, len(versions))
	}
}

// TestS3VersionSubresourcesAWSCLI drives the requests on one version that
// aws cli sends with --version-id: get/put/delete-object-tagging,
// get-object-attributes, put/get-object-retention and
// put/get-object-legal-hold on a version that is not the current one, and
// their refusals on a delete marker and a missing version. The tags and
// the lock live in the version's record on the providers: a catalog
// rebuilt from one provider alone still has them.
func TestS3VersionSubresourcesAWSCLI(t *testing.T) {
	t.Parallel()
	g := StartGateway(t, Setup{Local: 2})
	aws := NewAWS(t, g)
	const bucket = "vault"
	aws.Must("s3api", "create-bucket", "--bucket", bucket, "--object-lock-enabled-for-bucket")
	v1 := putVersion(t, aws, bucket, "db.dump", "monday")
	v2 := putVersion(t, aws, bucket, "db.dump", "tuesday!")
	tagsOf := func(id string) string {
		t.Helper()
		args := []string{"s3api", "get-object-tagging", "--bucket", bucket, "--key", "db.dump"}
		if id != "" {
			args = append(args, "--version-id", id)
		}
		var out struct {
			VersionId string
			TagSet    []struct{ Key, Value string }
		}
		stdout := aws.Must(args...).Stdout
		if err := json.Unmarshal([]byte(stdout), &out); err != nil {
			t.Fatalf("get-object-tagging: %v\n%s", err, stdout)
		}
		// Without a version id, S3 names the current version (v2).
		if want := map[bool]string{true: id, false: v2}[id != ""]; out.VersionId != want {
			t.Errorf("get-object-tagging --version-id %q answered version %q, want %q", id, out.VersionId, want)
		}
		var kv []string
		for _, tag := range out.TagSet {
			kv = append(kv, tag.Key+"="+tag.Value)
		}
		return strings.Join(kv, ",")
	}

	out := aws.Must("s3api", "put-object-tagging", "--bucket", bucket, "--key", "db.dump", "--version-id", v1,
		"--tagging", `{"TagSet":[{"Key":"day","Value":"monday"},{"Key":"keep","Value":"yes"}]}`).Stdout
	if !strings.Contains(out, v1) {
		t.Errorf("put-object-tagging --version-id: %s", out)
	}
	if got := tagsOf(v1); got != "day=monday,keep=yes" {
		t.Errorf("tags of v1: %q", got)
	}
	if got := tagsOf(""); got != "" {
		t.Errorf("tags of the current version after tagging v1: %q", got)
	}
	// Tagging the current version names it, as S3 does.
	if out := aws.Must("s3api", "put-object-tagging", "--bucket", bucket, "--key", "db.dump",
		"--tagging", `{"TagSet":[]}`).Stdout; !strings.Contains(out, v2) {
		t.Errorf("put-object-tagging of the current version: %q, want version %s", out, v2)
	}
	aws.Must("s3api", "put-object-tagging", "--bucket", bucket, "--key", "db.dump", "--version-id", v2,
		"--tagging", `{"TagSet":[{"Key":"day","Value":"tuesday"}]}`)
	aws.Must("s3api", "delete-object-tagging", "--bucket", bucket, "--key", "db.dump", "--version-id", v2)
	if got := tagsOf(v2); got != "" {
		t.Errorf("tags of v2 after delete-object-tagging: %q", got)
	}
	if got := tagsOf(v1); got != "day=monday,keep=yes" {
		t.Errorf("tags of v1 after deleting v2's: %q", got)
	}

	out = aws.Must("s3api", "get-object-attributes", "--bucket", bucket, "--key", "db.dump", "--version-id", v1,
		"--object-attributes", "ETag", "ObjectSize").Stdout
	sum := md5.Sum([]byte("monday"))
	if !strings.Contains(out, `"ObjectSize": 6`) || !strings.Contains(out, fmt.Sprintf("%x", sum)) || !strings.Contains(out, v1) {
		t.Errorf("get-object-attributes --version-id: %s", out)
	}

	until := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	aws.Must("s3api", "put-object-retention", "--bucket", bucket, "--key", "db.dump", "--version-id", v1,
		"--retention", `{"Mode":"GOVERNANCE","RetainUntilDate":"`+until.Format(time.RFC3339)+`"}`)
	wantFailure(t, "get-object-retention of the current version", aws.Run("s3api", "get-object-retention", "--bucket", bucket, "--key", "db.dump"),
		"NoSuchObjectLockConfiguration")
	wantFailure(t, "shortening the GOVERNANCE retention without the bypass", aws.Run("s3api", "put-object-retention", "--bucket", bucket, "--key", "db.dump",
		"--version-id", v1, "--retention", `{"Mode":"GOVERNANCE","RetainUntilDate":"`+until.Add(-time.Hour).Format(time.RFC3339)+`"}`), "AccessDenied")
	aws.Must("s3api", "put-object-retention", "--bucket", bucket, "--key", "db.dump", "--version-id", v1, "--bypass-governance-retention",
		"--retention", `{"Mode":"GOVERNANCE","RetainUntilDate":"`+until.Add(-time.Hour).Format(time.RFC3339)+`"}`)
	aws.Must("s3api", "put-object-retention", "--bucket", bucket, "--key", "db.dump", "--version-id", v1,
		"--retention", `{"Mode":"COMPLIANCE","RetainUntilDate":"`+until.Format(time.RFC3339)+`"}`)
	wantFailure(t, "shortening the COMPLIANCE retention with the bypass", aws.Run("s3api", "put-object-retention", "--bucket", bucket, "--key", "db.dump",
		"--version-id", v1, "--bypass-governance-retention", "--retention", `{"Mode":"COMPLIANCE","RetainUntilDate":"`+until.Add(-time.Hour).Format(time.RFC3339)+`"}`), "AccessDenied")
	aws.Must("s3api", "put-object-legal-hold", "--bucket", bucket, "--key", "db.dump", "--version-id", v2, "--legal-hold", "Status=ON")
	if out := aws.Must("s3api", "get-object-legal-hold", "--bucket", bucket, "--key", "db.dump", "--version-id", v1).Stdout; !strings.Contains(out, `"OFF"`) {
		t.Errorf("legal hold of v1: %s", out)
	}
	wantFailure(t, "delete of the held version", aws.Run("s3api", "delete-object", "--bucket", bucket, "--key", "db.dump", "--version-id", v2), "AccessDenied")
	wantFailure(t, "delete of the retained version", aws.Run("s3api", "delete-object", "--bucket", bucket, "--key", "db.dump", "--version-id", v1,
		"--bypass-governance-retention"), "AccessDenied")

	var del struct{ VersionId string }
	if err := json.Unmarshal([]byte(aws.Must("s3api", "delete-object", "--bucket", bucket, "--key", "db.dump").Stdout), &del); err != nil || del.VersionId == "" {
		t.Fatalf("delete-object: %v %+v", err, del)
	}
	for what, args := range map[string][]string{
		"get-object-tagging":    {"get-object-tagging"},
		"put-object-tagging":    {"put-object-tagging", "--tagging", `{"TagSet":[{"Key":"a","Value":"b"}]}`},
		"delete-object-tagging": {"delete-object-tagging"},
		"put-object-retention":  {"put-object-retention", "--retention", `{"Mode":"GOVERNANCE","RetainUntilDate":"` + until.Format(time.RFC3339) + `"}`},
		"put-object-legal-hold": {"put-object-legal-hold", "--legal-hold", "Status=ON"},
	} {
		args = append([]string{"s3api", args[0], "--bucket", bucket, "--key", "db.dump", "--version-id", del.VersionId}, args[1:]...)
		wantFailure(t, what+" of a delete marker", aws.Run(args...), "MethodNotAllowed")
	}
	wantFailure(t, "get-object-tagging of a missing version", aws.Run("s3api", "get-object-tagging", "--bucket", bucket, "--key", "db.dump",
		"--version-id", "0123456789abcdef0123456789abcdef"), "NoSuchVersion")

	// The records on a provider carry the tags and the lock.
	g.Stop()
	g.mustRun(t, 0, "rebuild-catalog", "-c", g.Config, "--from", "local1", "--force")
	g.Start()
	if got := tagsOf(v1); got != "day=monday,keep=yes" {
		t.Errorf("tags of v1 after rebuild-catalog: %q", got)
	}
	out = aws.Must("s3api", "get-object-retention", "--bucket", bucket, "--key", "db.dump", "--version-id", v1).Stdout
	if !strings.Contains(out, `"COMPLIANCE"`) || !strings.Contains(out, until.Format("2006-01-02T15:04:05")) {
		t.Errorf("retention of v1 after rebuild-catalog: %s", out)
	}
	if out := aws.Must("s3api", "get-object-legal-hold", "--bucket", bucket, "--key", "db.dump", "--version-id", v2).Stdout; !strings.Contains(out, `"ON"`) {
		t.Errorf("legal hold of v2 after rebuild-catalog: %s", out)
	}
	for id, want := range map[string]string{v1: "monday", v2: "tuesday!"} {
		if got, r := getVersion(t, aws, bucket, "db.dump", id); got != want {
			t.Errorf("bytes of %s after rebuild-catalog: %q %s; want %q", id, got, r.Stderr, want)
		}
	}
}
