package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// backendDirs returns every directory where the gateway's backends keep
// their data: the local backends and the S3 servers' storage.
func (g *Gateway) backendDirs() []string {
	dirs := append([]string(nil), g.LocalDirs...)
	for _, b := range g.Buckets {
		dirs = append(dirs, filepath.Join(b.Server.Dir, b.Bucket))
	}
	return dirs
}

// TestAWSCLI drives the gateway with aws cli v2 through the whole object
// life cycle, with one local and one versitygw backend, then checks that the
// backends hold no plaintext and no names.
func TestAWSCLI(t *testing.T) {
	t.Parallel()
	vgw := testenv.StartVersityGW(t)
	g := StartGateway(t, Setup{Local: 1, S3: []*testenv.S3Server{vgw}})
	aws := NewAWS(t, g)
	src := t.TempDir()
	const bucket = "aws-secret-bucket"

	files := []struct {
		key  string
		size int64
	}{
		{"docs/empty-secret-name.txt", 0},
		{"docs/one-mebibyte-secret.bin", 1 << 20},
		{"media/large-secret-video.bin", 300 << 20},
	}
	aws.Must("s3", "mb", "s3://"+bucket)
	for i, f := range files {
		p := filepath.Join(src, f.key)
		writeFile(t, p, f.size, uint64(i+1))
		aws.Must("s3", "cp", p, "s3://"+bucket+"/"+f.key)
	}

	t.Run("ls", func(t *testing.T) {
		out := aws.Must("s3", "ls", "s3://"+bucket+"/").Stdout
		for _, want := range []string{"PRE docs/", "PRE media/"} {
			if !strings.Contains(out, want) {
				t.Errorf("ls of bucket root lacks %q:\n%s", want, out)
			}
		}
		out = aws.Must("s3", "ls", "s3://"+bucket+"/docs/").Stdout
		if !strings.Contains(out, "1048576 one-mebibyte-secret.bin") || !strings.Contains(out, " 0 empty-secret-name.txt") {
			t.Errorf("ls docs/:\n%s", out)
		}
		out = aws.Must("s3", "ls", "--recursive", "s3://"+bucket+"/docs/one").Stdout
		if n := strings.Count(out, "\n"); n != 1 || !strings.Contains(out, "docs/one-mebibyte-secret.bin") {
			t.Errorf("ls with a key prefix: %d lines:\n%s", n, out)
		}
	})

	t.Run("cp back", func(t *testing.T) {
		dst := t.TempDir()
		for _, f := range files {
			p := filepath.Join(dst, filepath.Base(f.key))
			aws.Must("s3", "cp", "s3://"+bucket+"/"+f.key, p)
			sameFile(t, filepath.Join(src, f.key), p)
		}
	})

	t.Run("head-object", func(t *testing.T) {
		var head struct {
			ContentLength int64
			ETag          string
		}
		out := aws.Must("s3api", "head-object", "--bucket", bucket, "--key", files[1].key).Stdout
		if err := json.Unmarshal([]byte(out), &head); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if head.ContentLength != 1<<20 || len(strings.Trim(head.ETag, `"`)) != 32 {
			t.Errorf("single-part head: %+v", head)
		}
		out = aws.Must("s3api", "head-object", "--bucket", bucket, "--key", files[2].key).Stdout
		if err := json.Unmarshal([]byte(out), &head); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		// aws cli v2 uploads 300 MiB in 8 MiB parts: 38 of them.
		if head.ContentLength != 300<<20 || !strings.HasSuffix(strings.Trim(head.ETag, `"`), "-38") {
			t.Errorf("multipart head: %+v", head)
		}
		r := aws.Run("s3api", "head-object", "--bucket", bucket, "--key", "docs/missing")
		if r.Err == nil || !strings.Contains(r.Stderr, "404") {
			t.Errorf("head of a missing key: err %v, stderr %s", r.Err, r.Stderr)
		}
	})

	t.Run("get-object range", func(t *testing.T) {
		whole, err := os.ReadFile(filepath.Join(src, files[1].key))
		if err != nil {
			t.Fatal(err)
		}
		for _, rng := range []struct{ from, to int }{{0, 0}, {100, 199}, {65535, 65537}, {1<<20 - 10, 1<<20 - 1}} {
			out := filepath.Join(t.TempDir(), "range")
			aws.Must("s3api", "get-object", "--bucket", bucket, "--key", files[1].key,
				"--range", "bytes="+itoa(rng.from)+"-"+itoa(rng.to), out)
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if want := whole[rng.from : rng.to+1]; string(got) != string(want) {
				t.Errorf("range %d-%d: got %d bytes that differ", rng.from, rng.to, len(got))
			}
		}
		// A range that spans two parts of the multipart object.
		bigOff := 8<<20 - 5
		out := filepath.Join(t.TempDir(), "range")
		aws.Must("s3api", "get-object", "--bucket", bucket, "--key", files[2].key,
			"--range", "bytes="+itoa(bigOff)+"-"+itoa(bigOff+9), out)
		got, _ := os.ReadFile(out)
		f, _ := os.Open(filepath.Join(src, files[2].key))
		defer f.Close()
		want := make([]byte, 10)
		f.ReadAt(want, int64(bigOff))
		if string(got) != string(want) {
			t.Errorf("range across parts: got %x want %x", got, want)
		}
	})

	t.Run("copy-object", func(t *testing.T) {
		aws.Must("s3api", "copy-object", "--bucket", bucket, "--key", "copies/copied-secret.bin",
			"--copy-source", bucket+"/"+files[1].key)
		p := filepath.Join(t.TempDir(), "copy")
		aws.Must("s3", "cp", "s3://"+bucket+"/copies/copied-secret.bin", p)
		sameFile(t, filepath.Join(src, files[1].key), p)
	})

	t.Run("presigned GET with curl", func(t *testing.T) {
		url := strings.TrimSpace(aws.Must("s3", "presign", "s3://"+bucket+"/"+files[1].key, "--expires-in", "300").Stdout)
		p := filepath.Join(t.TempDir(), "presigned")
		curl := testenv.Tool(t, "curl", "/usr/bin/curl")
		run(t, cleanEnv(), "", curl, "-sSf", "-o", p, url).must(t, "curl presigned URL")
		sameFile(t, filepath.Join(src, files[1].key), p)
		// A tampered signature of the right length is refused.
		i := strings.Index(url, "X-Amz-Signature=") + len("X-Amz-Signature=")
		flip := byte('0')
		if url[i] == '0' {
			flip = '1'
		}
		bad := url[:i] + string(flip) + url[i+1:]
		r := run(t, cleanEnv(), "", curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", bad)
		if r.Stdout != "403" {
			t.Errorf("tampered presigned URL: status %s, want 403", r.Stdout)
		}
	})

	t.Run("no plaintext on backends", func(t *testing.T) {
		needles := []string{bucket, "secret", "docs", "media"}
		for _, f := range files {
			needles = append(needles, f.key)
		}
		n, size := scanForPlaintext(t, g.backendDirs(), needles...)
		// Two copies of 301 MiB of data plus meta records.
		if size < 2*301<<20 || n < 2*4 {
			t.Errorf("scanned only %d files, %d bytes: backends should hold two copies", n, size)
		}
		t.Logf("scanned %d backend files, %d bytes", n, size)
	})

	t.Run("delete-objects, rm, rb", func(t *testing.T) {
		aws.Must("s3api", "delete-objects", "--bucket", bucket, "--delete",
			`{"Objects":[{"Key":"`+files[0].key+`"},{"Key":"`+files[1].key+`"}]}`)
		out := aws.Must("s3", "ls", "--recursive", "s3://"+bucket).Stdout
		if strings.Contains(out, "docs/") || !strings.Contains(out, "media/large-secret-video.bin") {
			t.Errorf("after delete-objects:\n%s", out)
		}
		r := aws.Run("s3", "rb", "s3://"+bucket)
		if r.Err == nil || !strings.Contains(r.Stderr, "BucketNotEmpty") {
			t.Errorf("rb of a non-empty bucket: %v %s", r.Err, r.Stderr)
		}
		aws.Must("s3", "rm", "--recursive", "s3://"+bucket)
		aws.Must("s3", "rb", "s3://"+bucket)
		out = aws.Must("s3", "ls").Stdout
		if strings.Contains(out, bucket) {
			t.Errorf("bucket still listed after rb:\n%s", out)
		}
	})
}

func itoa(i int) string { return strconv.Itoa(i) }
