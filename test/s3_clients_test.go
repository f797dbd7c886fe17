package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// makeTree writes n small files spread over a few directories plus the
// given large files under dir, and returns the relative paths.
func makeTree(t testing.TB, dir string, n int, large ...int64) []string {
	t.Helper()
	var rel []string
	for i := range n {
		p := fmt.Sprintf("d%d/sub%d/file-%04d.txt", i%7, i%3, i)
		writeFile(t, filepath.Join(dir, p), int64(1+i*37%5000), uint64(1000+i))
		rel = append(rel, p)
	}
	for i, size := range large {
		p := fmt.Sprintf("large/blob-%d.bin", i)
		writeFile(t, filepath.Join(dir, p), size, uint64(9000+i))
		rel = append(rel, p)
	}
	return rel
}

// TestS3cmd runs s3cmd's everyday commands against the gateway.
func TestS3cmd(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	s3 := NewS3cmd(t, g)
	src := t.TempDir()
	s3.Must("mb", "s3://s3cmd-bucket")
	one := filepath.Join(src, "single.bin")
	writeFile(t, one, 3<<20+5, 1)
	s3.Must("put", one, "s3://s3cmd-bucket/single.bin")
	got := filepath.Join(t.TempDir(), "single.bin")
	s3.Must("get", "s3://s3cmd-bucket/single.bin", got)
	sameFile(t, one, got)

	out := s3.Must("ls", "s3://s3cmd-bucket/").Stdout
	if !strings.Contains(out, "s3://s3cmd-bucket/single.bin") || !strings.Contains(out, fmt.Sprint(3<<20+5)) {
		t.Errorf("ls:\n%s", out)
	}

	tree := filepath.Join(src, "tree")
	files := makeTree(t, tree, 40)
	s3.Must("sync", tree+"/", "s3://s3cmd-bucket/tree/")
	out = s3.Must("ls", "--recursive", "s3://s3cmd-bucket/tree/").Stdout
	if n := strings.Count(out, "s3://s3cmd-bucket/tree/"); n != len(files) {
		t.Errorf("after sync: %d objects listed, want %d", n, len(files))
	}
	back := t.TempDir()
	s3.Must("sync", "s3://s3cmd-bucket/tree/", back+"/")
	for _, f := range files {
		sameFile(t, filepath.Join(tree, f), filepath.Join(back, f))
	}
	// A second sync transfers nothing: s3cmd compares sizes and MD5 ETags.
	out = s3.Must("sync", tree+"/", "s3://s3cmd-bucket/tree/").Stdout
	if strings.Contains(out, "upload:") {
		t.Errorf("second sync uploaded again (ETag mismatch?):\n%s", out)
	}
	// sync --delete-removed removes what is gone locally.
	os.Remove(filepath.Join(tree, files[0]))
	s3.Must("sync", "--delete-removed", tree+"/", "s3://s3cmd-bucket/tree/")
	out = s3.Must("ls", "--recursive", "s3://s3cmd-bucket/tree/").Stdout
	if strings.Contains(out, files[0]) || strings.Count(out, "s3://") != len(files)-1 {
		t.Errorf("after sync --delete-removed:\n%s", out)
	}

	s3.Must("del", "s3://s3cmd-bucket/single.bin")
	if r := s3.Run("get", "s3://s3cmd-bucket/single.bin", filepath.Join(t.TempDir(), "x")); r.Err == nil {
		t.Errorf("get after del succeeded")
	}
	s3.Must("del", "--recursive", "--force", "s3://s3cmd-bucket/")
	s3.Must("rb", "s3://s3cmd-bucket")
}

// TestRclone copies a tree of 1,000 small files and a few large ones with
// rclone's S3 backend, checks it with hashes, syncs deletions and compares
// sizes and times from lsjson.
func TestRclone(t *testing.T) {
	vgw := testenv.StartVersityGW(t)
	g := StartGateway(t, Setup{Local: 1, S3: []*testenv.S3Server{vgw}})
	rc := NewRclone(t, g)
	src := t.TempDir()
	files := makeTree(t, src, 1000, 40<<20, 70<<20+3)
	start := time.Now()
	rc.Must("copy", "--transfers", "8", "--checkers", "16", src, rc.Remote("rclone-bucket/tree"))
	t.Logf("rclone copy of %d files took %s", len(files), time.Since(start))

	// rclone check compares sizes and MD5 hashes (the ETags) of every file.
	r := rc.Must("check", src, rc.Remote("rclone-bucket/tree"))
	if !strings.Contains(r.Stderr, fmt.Sprintf("%d matching files", len(files))) {
		t.Errorf("rclone check:\n%s", r.Stderr)
	}
	r = rc.Must("check", "--download", filepath.Join(src, "large"), rc.Remote("rclone-bucket/tree/large"))
	if !strings.Contains(r.Stderr, "0 differences found") {
		t.Errorf("rclone check --download:\n%s", r.Stderr)
	}

	var listing []struct {
		Path    string
		Size    int64
		ModTime time.Time
		IsDir   bool
	}
	out := rc.Must("lsjson", "--recursive", "--files-only", rc.Remote("rclone-bucket/tree")).Stdout
	if err := json.Unmarshal([]byte(out), &listing); err != nil {
		t.Fatal(err)
	}
	if len(listing) != len(files) {
		t.Fatalf("lsjson: %d files, want %d", len(listing), len(files))
	}
	for _, e := range listing {
		fi, err := os.Stat(filepath.Join(src, e.Path))
		if err != nil {
			t.Errorf("lsjson lists %s: %v", e.Path, err)
			continue
		}
		if fi.Size() != e.Size {
			t.Errorf("%s: size %d, want %d", e.Path, e.Size, fi.Size())
		}
		// rclone keeps the source modification time in X-Amz-Meta-Mtime.
		if d := fi.ModTime().Sub(e.ModTime); d > time.Millisecond || d < -time.Millisecond {
			t.Errorf("%s: modtime %s, want %s", e.Path, e.ModTime, fi.ModTime())
		}
	}

	// sync deletes what is gone from the source.
	for _, f := range files[:10] {
		os.Remove(filepath.Join(src, f))
	}
	rc.Must("sync", src, rc.Remote("rclone-bucket/tree"))
	out = rc.Must("lsf", "--recursive", "--files-only", rc.Remote("rclone-bucket/tree")).Stdout
	if n := strings.Count(out, "\n"); n != len(files)-10 {
		t.Errorf("after sync: %d files, want %d", n, len(files)-10)
	}
	r = rc.Must("check", src, rc.Remote("rclone-bucket/tree"))
	if !strings.Contains(r.Stderr, "0 differences found") {
		t.Errorf("rclone check after sync:\n%s", r.Stderr)
	}
	scanForPlaintext(t, g.backendDirs(), "rclone-bucket", "file-0", "large/blob", "d1/sub1/file-0001.txt", "large/blob-0.bin")
}
