package e2e

import (
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWebDAVSyncOwncloud drives the endpoint with rclone's webdav remote in
// its owncloud mode, which sends X-OC-Mtime with every upload and reads
// hashes from oc:checksums: a file changed without changing its size is
// synced by its content, rclone check compares MD5s, and rclone lsl shows
// the client's modification times, over WebDAV and over S3 alike.
func TestWebDAVSyncOwncloud(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	rc := NewRclone(t, g)
	rc.env = append(rc.env, "TZ=UTC")
	d := NewDAV(t, g)
	obscured := strings.TrimSpace(rc.Must("obscure", g.SecretKey).Stdout)
	remote := func(path string) string {
		return ":webdav,url='http://" + g.DAVAddr + "/',user=" + g.AccessKey + ",pass=" + obscured + ",vendor=owncloud:" + path
	}

	src := t.TempDir()
	files := map[string]int64{
		"same-size.txt":        4096,
		"big.bin":              3<<20 + 17,
		"sub/small.txt":        10,
		"sub/deeper/empty.txt": 0,
	}
	mtimes := make(map[string]time.Time)
	base := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	i := uint64(40)
	for name, size := range files {
		p := filepath.Join(src, name)
		writeFile(t, p, size, i)
		mtimes[name] = base.Add(time.Duration(i) * time.Hour)
		if err := os.Chtimes(p, mtimes[name], mtimes[name]); err != nil {
			t.Fatal(err)
		}
		i++
	}
	// lsl shows the times of the remote.
	checkTimes := func(what, out string) {
		t.Helper()
		for name, mt := range mtimes {
			want := mt.Format("2006-01-02 15:04:05") + ".000000000 " + name + "\n"
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q:\n%s", what, want, out)
			}
		}
	}
	// check compares the two trees by MD5; it fails on a difference.
	check := func() Result {
		t.Helper()
		r := rc.Run("check", "--one-way", src, remote("sync-bucket/tree"))
		if strings.Contains(r.Stderr, "could not be checked") || strings.Contains(r.Stderr, "hash unavailable") ||
			strings.Contains(r.Stderr, "no hashes in common") {
			t.Errorf("rclone check did not compare hashes:\n%s", r.Stderr)
		}
		return r
	}

	rc.Must("mkdir", remote("sync-bucket"))
	rc.Must("sync", src, remote("sync-bucket/tree"))
	checkTimes("rclone lsl over WebDAV", rc.Must("lsl", remote("sync-bucket/tree")).Stdout)
	// The S3 remote of rclone reads the same times from x-amz-meta-mtime.
	checkTimes("rclone lsl over S3", rc.Must("lsl", rc.Remote("sync-bucket/tree")).Stdout)
	if r := check(); r.Err != nil {
		t.Fatalf("rclone check after the first sync: %v\n%s", r.Err, r.Stderr)
	}
	sums := rc.Must("md5sum", remote("sync-bucket/tree")).Stdout
	for name := range files {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum(b)
		if want := hex.EncodeToString(sum[:]) + "  " + name + "\n"; !strings.Contains(sums, want) {
			t.Errorf("rclone md5sum lacks %q:\n%s", want, sums)
		}
	}

	// Change one file without changing its size; give it a new time.
	changed := filepath.Join(src, "same-size.txt")
	writeFile(t, changed, files["same-size.txt"], 99)
	mtimes["same-size.txt"] = base.Add(1000 * time.Hour)
	if err := os.Chtimes(changed, mtimes["same-size.txt"], mtimes["same-size.txt"]); err != nil {
		t.Fatal(err)
	}
	r := check()
	if r.Err == nil || !strings.Contains(r.Stderr, "same-size.txt") {
		t.Fatalf("rclone check found no difference after a change of content:\nerr %v\n%s", r.Err, r.Stderr)
	}
	if strings.Contains(r.Stderr, "small.txt") || strings.Contains(r.Stderr, "big.bin") {
		t.Errorf("rclone check reports unchanged files:\n%s", r.Stderr)
	}

	rc.Must("sync", src, remote("sync-bucket/tree"))
	if r := check(); r.Err != nil {
		t.Fatalf("rclone check after the second sync: %v\n%s", r.Err, r.Stderr)
	}
	rc.Must("check", "--download", src, remote("sync-bucket/tree"))
	_, body := d.Must(http.StatusOK, "GET", "/sync-bucket/tree/same-size.txt", nil)
	want, err := os.ReadFile(changed)
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != string(want) {
		t.Errorf("the gateway holds the old content of same-size.txt")
	}
	checkTimes("rclone lsl after the second sync", rc.Must("lsl", remote("sync-bucket/tree")).Stdout)
}
