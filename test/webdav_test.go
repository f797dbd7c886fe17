package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// DAV talks WebDAV to a gateway with net/http, as the gateway's user.
type DAV struct {
	t          testing.TB
	g          *Gateway
	user, pass string
}

// NewDAV returns a WebDAV client for g.
func NewDAV(t testing.TB, g *Gateway) *DAV { return NewDAVAs(t, g, g.AccessKey, g.SecretKey) }

// NewDAVAs returns a WebDAV client for g that logs in as another user.
func NewDAVAs(t testing.TB, g *Gateway, user, pass string) *DAV {
	return &DAV{t: t, g: g, user: user, pass: pass}
}

// URL returns the WebDAV URL of path.
func (d *DAV) URL(path string) string { return "http://" + d.g.DAVAddr + path }

// Do sends a request with the gateway's credentials; hdr holds header
// name/value pairs. It returns the response and its body.
func (d *DAV) Do(method, path string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	d.t.Helper()
	req, err := http.NewRequest(method, d.URL(path), body)
	if err != nil {
		d.t.Fatal(err)
	}
	req.SetBasicAuth(d.user, d.pass)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp, b
}

// Must sends a request and fails the test unless it is answered status.
func (d *DAV) Must(status int, method, path string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	d.t.Helper()
	resp, b := d.Do(method, path, body, hdr...)
	if resp.StatusCode != status {
		d.t.Fatalf("%s %s: %s, want %d\n%s", method, path, resp.Status, status, b)
	}
	return resp, b
}

// PutFile uploads a local file with its Content-Length.
func (d *DAV) PutFile(path, file string) *http.Response {
	d.t.Helper()
	f, err := os.Open(file)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	req, err := http.NewRequest("PUT", d.URL(path), f)
	if err != nil {
		d.t.Fatal(err)
	}
	fi, _ := f.Stat()
	req.ContentLength = fi.Size()
	req.SetBasicAuth(d.user, d.pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
		d.t.Fatalf("PUT %s: %s", path, resp.Status)
	}
	return resp
}

// notePatch is a PROPPATCH body that sets a dead property.
const notePatch = `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>` +
	`<x:note xmlns:x="urn:e2e">secret-property</x:note></D:prop></D:set></D:propertyupdate>`

// litmusSummary matches litmus's per-group result line.
var litmusSummary = regexp.MustCompile("<- summary for `(\\w+)': of (\\d+) tests run: (\\d+) passed, (\\d+) failed")

// TestWebDAVLitmus runs the litmus compliance suite and requires every
// group to pass completely (litmus itself exits 0 even when tests fail).
func TestWebDAVLitmus(t *testing.T) {
	litmus := testenv.Tool(t, "litmus", "/usr/bin/litmus")
	g := StartGateway(t, Setup{Local: 2})
	NewDAV(t, g).Must(http.StatusCreated, "MKCOL", "/litmus/", nil)
	groups := []string{"basic", "copymove", "props", "locks", "http"}
	res := run(t, cleanEnv("HOME="+t.TempDir(), "TESTS="+strings.Join(groups, " ")), t.TempDir(),
		litmus, "-k", "http://"+g.DAVAddr+"/litmus/", g.AccessKey, g.SecretKey).must(t, "litmus")
	found := map[string]bool{}
	for _, m := range litmusSummary.FindAllStringSubmatch(res.Stdout, -1) {
		group := m[1]
		ran, _ := strconv.Atoi(m[2])
		passed, _ := strconv.Atoi(m[3])
		failed, _ := strconv.Atoi(m[4])
		found[group] = true
		t.Logf("litmus %s: %d run, %d passed, %d failed", group, ran, passed, failed)
		if failed != 0 || passed != ran || ran == 0 {
			t.Errorf("litmus group %s: %d of %d tests failed", group, failed, ran)
		}
	}
	for _, group := range groups {
		if !found[group] {
			t.Errorf("litmus printed no summary for %s", group)
		}
	}
	if t.Failed() {
		t.Logf("litmus output:\n%s\n%s", res.Stdout, res.Stderr)
	}
}

// TestWebDAVProtocol checks what the front end adds to x/net/webdav,
// against the real binary: authentication, depth, MOVE's default, PUT
// conditions, truncated uploads, and that WebDAV and S3 see the same
// objects with the same ETags.
func TestWebDAVProtocol(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	d := NewDAV(t, g)
	const bucket = "interop-secret-bucket"
	src := t.TempDir()
	d.Must(http.StatusCreated, "MKCOL", "/"+bucket+"/", nil)
	d.Must(http.StatusCreated, "MKCOL", "/"+bucket+"/webdav-dir/", nil)
	d.Must(http.StatusCreated, "MKCOL", "/"+bucket+"/empty-secret-folder/", nil)

	t.Run("authentication", func(t *testing.T) {
		for _, creds := range [][2]string{{"", ""}, {g.AccessKey, "wrong"}, {"nobody", g.SecretKey}} {
			req, _ := http.NewRequest("PROPFIND", d.URL("/"), nil)
			req.Header.Set("Depth", "1")
			if creds[0] != "" {
				req.SetBasicAuth(creds[0], creds[1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `Basic realm="twincrypt"`) {
				t.Errorf("credentials %q: %s, WWW-Authenticate %q", creds, resp.Status, resp.Header.Get("WWW-Authenticate"))
			}
		}
	})

	t.Run("WebDAV to S3", func(t *testing.T) {
		aws := NewAWS(t, g)
		p := filepath.Join(src, "up.bin")
		writeFile(t, p, 3<<20+17, 1)
		etag := d.PutFile("/"+bucket+"/webdav-dir/secret-upload.bin", p).Header.Get("ETag")
		out := aws.Must("s3api", "head-object", "--bucket", bucket, "--key", "webdav-dir/secret-upload.bin").Stdout
		var head struct{ ETag string }
		if err := json.Unmarshal([]byte(out), &head); err != nil {
			t.Fatalf("head-object: %v\n%s", err, out)
		}
		if etag == "" || head.ETag != etag {
			t.Errorf("WebDAV ETag %s, S3 ETag %s", etag, head.ETag)
		}
		got := filepath.Join(src, "down.bin")
		aws.Must("s3", "cp", "s3://"+bucket+"/webdav-dir/secret-upload.bin", got)
		sameFile(t, p, got)
		// The empty WebDAV folder is a common prefix on S3.
		out = aws.Must("s3api", "list-objects-v2", "--bucket", bucket, "--delimiter", "/").Stdout
		for _, want := range []string{`"Prefix": "empty-secret-folder/"`, `"Prefix": "webdav-dir/"`} {
			if !strings.Contains(out, want) {
				t.Errorf("S3 listing lacks %s:\n%s", want, out)
			}
		}
	})

	t.Run("S3 to WebDAV", func(t *testing.T) {
		aws := NewAWS(t, g)
		p := filepath.Join(src, "s3.bin")
		writeFile(t, p, 20<<20, 2) // multipart with aws cli
		aws.Must("s3", "cp", p, "s3://"+bucket+"/s3-dir/deep/secret-s3.bin")
		out := aws.Must("s3api", "head-object", "--bucket", bucket, "--key", "s3-dir/deep/secret-s3.bin").Stdout
		var head struct{ ETag string }
		json.Unmarshal([]byte(out), &head)
		resp, body := d.Must(http.StatusOK, "GET", "/"+bucket+"/s3-dir/deep/secret-s3.bin", nil)
		if resp.Header.Get("ETag") != head.ETag || head.ETag == "" {
			t.Errorf("WebDAV ETag %s, S3 ETag %s", resp.Header.Get("ETag"), head.ETag)
		}
		want, _ := os.ReadFile(p)
		if !bytes.Equal(body, want) {
			t.Error("WebDAV GET differs from the S3 upload")
		}
		// The implicit directories are collections.
		_, list := d.Must(207, "PROPFIND", "/"+bucket+"/s3-dir/", nil, "Depth", "1")
		if !strings.Contains(string(list), "/"+bucket+"/s3-dir/deep/</D:href>") {
			t.Errorf("PROPFIND of an implicit directory:\n%s", list)
		}
		resp, body = d.Must(http.StatusPartialContent, "GET", "/"+bucket+"/s3-dir/deep/secret-s3.bin", nil, "Range", "bytes=10485750-10485769")
		if !bytes.Equal(body, want[10485750:10485770]) {
			t.Errorf("range: %s, wrong bytes", resp.Status)
		}
	})

	t.Run("depth", func(t *testing.T) {
		for _, depth := range []string{"", "infinity"} {
			hdr := []string{}
			if depth != "" {
				hdr = []string{"Depth", depth}
			}
			_, body := d.Must(http.StatusForbidden, "PROPFIND", "/"+bucket+"/", nil, hdr...)
			if !bytes.Contains(body, []byte("propfind-finite-depth")) {
				t.Errorf("Depth %q: %s", depth, body)
			}
		}
		d.Must(207, "PROPFIND", "/", nil, "Depth", "1")
	})

	t.Run("MOVE overwrites by default", func(t *testing.T) {
		d.Must(http.StatusCreated, "PUT", "/"+bucket+"/webdav-dir/a", strings.NewReader("new"))
		d.Must(http.StatusCreated, "PUT", "/"+bucket+"/webdav-dir/b", strings.NewReader("old"))
		d.Must(http.StatusNoContent, "MOVE", "/"+bucket+"/webdav-dir/a", nil, "Destination", d.URL("/"+bucket+"/webdav-dir/b"))
		if _, body := d.Must(http.StatusOK, "GET", "/"+bucket+"/webdav-dir/b", nil); string(body) != "new" {
			t.Errorf("after MOVE: %q", body)
		}
	})

	t.Run("conditional PUT", func(t *testing.T) {
		resp, _ := d.Must(http.StatusOK, "HEAD", "/"+bucket+"/webdav-dir/b", nil)
		d.Must(http.StatusPreconditionFailed, "PUT", "/"+bucket+"/webdav-dir/b", strings.NewReader("x"), "If-None-Match", "*")
		d.Must(http.StatusPreconditionFailed, "PUT", "/"+bucket+"/webdav-dir/b", strings.NewReader("x"), "If-Match", `"00000000000000000000000000000000"`)
		d.Must(http.StatusCreated, "PUT", "/"+bucket+"/webdav-dir/b", strings.NewReader("matched"), "If-Match", resp.Header.Get("ETag"))
		if _, body := d.Must(http.StatusOK, "GET", "/"+bucket+"/webdav-dir/b", nil); string(body) != "matched" {
			t.Errorf("after conditional PUTs: %q", body)
		}
	})

	t.Run("truncated PUT", func(t *testing.T) {
		conn, err := net.Dial("tcp", g.DAVAddr)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("PUT", d.URL("/"+bucket+"/webdav-dir/b"), nil)
		req.SetBasicAuth(g.AccessKey, g.SecretKey)
		w := bufio.NewWriter(conn)
		fmt.Fprintf(w, "PUT /%s/webdav-dir/b HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Length: 10000000\r\n\r\n",
			bucket, g.DAVAddr, req.Header.Get("Authorization"))
		w.Write(bytes.Repeat([]byte("partial "), 100_000))
		w.Flush()
		conn.Close()
		// Until the gateway has seen the cut, the PUT holds its lock on
		// the file: a PROPPATCH is answered 423. The old content must
		// stay, before and after.
		for {
			if _, body := d.Must(http.StatusOK, "GET", "/"+bucket+"/webdav-dir/b", nil); string(body) != "matched" {
				t.Fatalf("after a truncated PUT: %d bytes", len(body))
			}
			resp, body := d.Do("PROPPATCH", "/"+bucket+"/webdav-dir/b", strings.NewReader(notePatch))
			if resp.StatusCode == 207 {
				break
			}
			if resp.StatusCode != 423 {
				t.Fatalf("PROPPATCH: %s\n%s", resp.Status, body)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if _, body := d.Must(http.StatusOK, "GET", "/"+bucket+"/webdav-dir/b", nil); string(body) != "matched" {
			t.Fatalf("after a truncated PUT: %d bytes", len(body))
		}
	})

	t.Run("bucket life cycle", func(t *testing.T) {
		d.Must(http.StatusCreated, "MKCOL", "/doomed-bucket/", nil)
		d.Must(http.StatusCreated, "MKCOL", "/doomed-bucket/dir/", nil)
		d.Must(http.StatusCreated, "PUT", "/doomed-bucket/dir/f", strings.NewReader("x"))
		_, body := d.Must(207, "PROPFIND", "/", nil, "Depth", "1")
		if !bytes.Contains(body, []byte("<D:href>/doomed-bucket/</D:href>")) {
			t.Errorf("root listing lacks the new bucket:\n%s", body)
		}
		d.Must(http.StatusNoContent, "DELETE", "/doomed-bucket/", nil)
		d.Must(http.StatusNotFound, "PROPFIND", "/doomed-bucket/", nil, "Depth", "0")
		aws := NewAWS(t, g)
		if r := aws.Run("s3api", "head-bucket", "--bucket", "doomed-bucket"); r.Err == nil {
			t.Errorf("S3 still has the bucket deleted over WebDAV")
		}
	})

	t.Run("no plaintext on the backends", func(t *testing.T) {
		_, body := d.Must(207, "PROPFIND", "/"+bucket+"/webdav-dir/b", strings.NewReader(`<?xml version="1.0"?>`+
			`<D:propfind xmlns:D="DAV:"><D:prop><x:note xmlns:x="urn:e2e"/></D:prop></D:propfind>`), "Depth", "0")
		if !bytes.Contains(body, []byte("secret-property")) {
			t.Errorf("dead property:\n%s", body)
		}
		scanForPlaintext(t, g.backendDirs(), bucket, "secret-upload", "secret-s3", "empty-secret-folder", "secret-property")
	})
}

// TestWebDAVRclone drives the endpoint with rclone's webdav remote: copy a
// tree, check it byte for byte, move a file, purge.
func TestWebDAVRclone(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	rc := NewRclone(t, g)
	d := NewDAV(t, g)
	aws := NewAWS(t, g)
	obscured := strings.TrimSpace(rc.Must("obscure", g.SecretKey).Stdout)
	remote := func(path string) string {
		return ":webdav,url='http://" + g.DAVAddr + "/',user=" + g.AccessKey + ",pass=" + obscured + ",vendor=other:" + path
	}
	src := t.TempDir()
	files := map[string]int64{
		"top-secret.txt":          1234,
		"empty.txt":               0,
		"photos/big-secret.bin":   9<<20 + 3,
		"photos/2024/a.jpg":       65536,
		"photos/2024/deep/b.jpg":  1,
		"docs/notes/secret-notes": 200_000,
	}
	i := uint64(10)
	for name, size := range files {
		writeFile(t, filepath.Join(src, name), size, i)
		i++
	}
	os.MkdirAll(filepath.Join(src, "empty-dir"), 0o755)

	rc.Must("mkdir", remote("rclone-bucket"))
	rc.Must("copy", "--create-empty-src-dirs", src, remote("rclone-bucket/tree"))
	rc.Must("check", "--download", src, remote("rclone-bucket/tree"))
	out := rc.Must("lsf", "-R", "--dirs-only", remote("rclone-bucket/tree")).Stdout
	if !strings.Contains(out, "empty-dir/") {
		t.Errorf("the empty directory did not survive:\n%s", out)
	}
	// The same tree over S3.
	out = aws.Must("s3", "ls", "--recursive", "s3://rclone-bucket/tree/").Stdout
	for name, size := range files {
		if !strings.Contains(out, fmt.Sprintf("%d tree/%s\n", size, name)) {
			t.Errorf("S3 listing lacks %s (%d bytes):\n%s", name, size, out)
		}
	}

	rc.Must("moveto", remote("rclone-bucket/tree/photos/big-secret.bin"), remote("rclone-bucket/tree/docs/moved.bin"))
	d.Must(http.StatusNotFound, "HEAD", "/rclone-bucket/tree/photos/big-secret.bin", nil)
	resp, _ := d.Must(http.StatusOK, "HEAD", "/rclone-bucket/tree/docs/moved.bin", nil)
	if resp.ContentLength != files["photos/big-secret.bin"] {
		t.Errorf("moved file has %d bytes", resp.ContentLength)
	}
	got := filepath.Join(t.TempDir(), "moved.bin")
	rc.Must("copyto", remote("rclone-bucket/tree/docs/moved.bin"), got)
	sameFile(t, filepath.Join(src, "photos/big-secret.bin"), got)

	rc.Must("purge", remote("rclone-bucket/tree"))
	d.Must(http.StatusNotFound, "PROPFIND", "/rclone-bucket/tree/", nil, "Depth", "0")
	if out := aws.Must("s3", "ls", "--recursive", "s3://rclone-bucket/").Stdout; strings.TrimSpace(out) != "" {
		t.Errorf("left after purge:\n%s", out)
	}
	scanForPlaintext(t, g.backendDirs(), "secret", "photos", "rclone-bucket", "photos/big-secret.bin")
}

// TestWebDAVCadaver runs a scripted cadaver session with its credentials
// in ~/.netrc.
func TestWebDAVCadaver(t *testing.T) {
	cadaver := testenv.Tool(t, "cadaver", "/usr/bin/cadaver")
	g := StartGateway(t, Setup{Local: 2})
	d := NewDAV(t, g)
	d.Must(http.StatusCreated, "MKCOL", "/cadaver/", nil)
	home, work := t.TempDir(), t.TempDir()
	host, _, _ := net.SplitHostPort(g.DAVAddr)
	if err := os.WriteFile(filepath.Join(home, ".netrc"), []byte(fmt.Sprintf("machine %s\nlogin %s\npassword %s\n", host, g.AccessKey, g.SecretKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(work, "local.bin"), 300_000, 7)
	script := strings.Join([]string{
		"mkcol dir",
		"cd dir",
		"put local.bin f.bin",
		"get f.bin back.bin",
		"move f.bin g.bin",
		"copy g.bin h.bin",
		"propset h.bin color blue",
		"propget h.bin color",
		"lock g.bin",
		"unlock g.bin",
		"ls",
		"quit",
	}, "\n") + "\n"
	cmd := exec.Command(cadaver, "http://"+g.DAVAddr+"/cadaver/")
	cmd.Env = cleanEnv("HOME=" + home)
	cmd.Dir = work
	cmd.Stdin = strings.NewReader(script)
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	if err != nil {
		t.Fatalf("cadaver: %v\n%s", err, out)
	}
	for _, want := range []string{
		"Creating `dir': succeeded.",
		"Uploading local.bin to `/cadaver/dir/f.bin':",
		"Downloading `/cadaver/dir/f.bin' to back.bin:",
		"Moving `/cadaver/dir/f.bin' to `/cadaver/dir/g.bin':  succeeded.",
		"Copying `/cadaver/dir/g.bin' to `/cadaver/dir/h.bin':  succeeded.",
		"Setting property on `h.bin': succeeded.",
		"Value of color is: blue",
		"Locking `g.bin': succeeded.",
		"Unlocking `g.bin': succeeded.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("cadaver output lacks %q", want)
		}
	}
	if strings.Contains(out, "failed") {
		t.Errorf("a cadaver command failed")
	}
	if t.Failed() {
		t.Logf("cadaver session:\n%s", out)
	}
	sameFile(t, filepath.Join(work, "local.bin"), filepath.Join(work, "back.bin"))
	want, _ := os.ReadFile(filepath.Join(work, "local.bin"))
	for _, name := range []string{"g.bin", "h.bin"} {
		if _, body := d.Must(http.StatusOK, "GET", "/cadaver/dir/"+name, nil); !bytes.Equal(body, want) {
			t.Errorf("%s differs", name)
		}
	}
	d.Must(http.StatusNotFound, "GET", "/cadaver/dir/f.bin", nil)
	_, body := d.Must(207, "PROPFIND", "/cadaver/dir/h.bin", strings.NewReader(`<?xml version="1.0"?>`+
		`<D:propfind xmlns:D="DAV:"><D:prop><c:color xmlns:c="http://webdav.org/cadaver/custom-properties/"/></D:prop></D:propfind>`), "Depth", "0")
	if !bytes.Contains(body, []byte(">blue<")) {
		t.Errorf("property after cadaver's propset:\n%s", body)
	}
	// The lock is gone: a PUT without a token succeeds.
	d.Must(http.StatusCreated, "PUT", "/cadaver/dir/g.bin", strings.NewReader("after unlock"))
}

// TestWebDAVMount mounts the endpoint with rclone mount (FUSE) and works on
// it with ordinary file operations.
func TestWebDAVMount(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("skipping: /dev/fuse is not available here (%v); FUSE mounts cannot be tested", err)
	}
	rclone := testenv.Tool(t, "rclone", "/usr/bin/rclone")
	fusermount := testenv.Tool(t, "fusermount3", "/usr/bin/fusermount3", "/bin/fusermount3")
	g := StartGateway(t, Setup{Local: 2})
	d := NewDAV(t, g)
	d.Must(http.StatusCreated, "MKCOL", "/mounted/", nil)
	d.Must(http.StatusCreated, "MKCOL", "/mounted/existing/", nil)
	d.Must(http.StatusCreated, "PUT", "/mounted/existing/hello.txt", strings.NewReader("hello from webdav\n"))

	obscured, err := exec.Command(rclone, "obscure", g.SecretKey).Output()
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	mnt := t.TempDir()
	remote := ":webdav,url='http://" + g.DAVAddr + "/',user=" + g.AccessKey + ",pass=" + strings.TrimSpace(string(obscured)) + ",vendor=owncloud:mounted"
	cmd := exec.Command(rclone, "mount", remote, mnt, "--vfs-cache-mode", "writes", "--cache-dir", filepath.Join(home, "cache"),
		"--dir-cache-time", "1s", "--vfs-write-back", "0s", "-v")
	cmd.Env = cleanEnv("HOME="+home, "RCLONE_CONFIG="+filepath.Join(home, "rclone.conf"))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		if out, err := exec.Command(fusermount, "-u", mnt).CombinedOutput(); err != nil {
			t.Logf("fusermount -u: %v: %s", err, out)
			cmd.Process.Kill()
		}
		<-exited
		if t.Failed() {
			t.Logf("rclone mount log:\n%s", logs.String())
		}
	})
	for !mounted(t, mnt) {
		select {
		case <-exited:
			t.Fatalf("rclone mount exited:\n%s", logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}

	// ls
	entries, err := os.ReadDir(filepath.Join(mnt, "existing"))
	if err != nil || len(entries) != 1 || entries[0].Name() != "hello.txt" {
		t.Fatalf("ls existing: %v %v", entries, err)
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "existing", "hello.txt")); err != nil || string(b) != "hello from webdav\n" {
		t.Fatalf("cat: %q %v", b, err)
	}
	// cp in
	local := filepath.Join(t.TempDir(), "in.bin")
	writeFile(t, local, 5<<20+11, 21)
	mtime := time.Date(2022, 2, 2, 2, 2, 2, 0, time.UTC)
	if err := os.Chtimes(local, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	run(t, cleanEnv(), "", "cp", "--preserve=timestamps", local, filepath.Join(mnt, "in.bin")).must(t, "cp in")
	if err := os.Mkdir(filepath.Join(mnt, "newdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	// mv
	if err := os.Rename(filepath.Join(mnt, "existing", "hello.txt"), filepath.Join(mnt, "newdir", "hello.txt")); err != nil {
		t.Fatal(err)
	}
	// cp out
	out := filepath.Join(t.TempDir(), "out.bin")
	run(t, cleanEnv(), "", "cp", filepath.Join(mnt, "in.bin"), out).must(t, "cp out")
	sameFile(t, local, out)
	want, _ := os.ReadFile(local)
	// The upload reaches the gateway when rclone has written it back.
	waitFor(t, exited, func() bool {
		resp, body := d.Do("GET", "/mounted/in.bin", nil)
		return resp.StatusCode == http.StatusOK && bytes.Equal(body, want)
	})
	// vendor=owncloud: rclone uploaded the file's time with X-OC-Mtime.
	if resp, _ := d.Must(http.StatusOK, "HEAD", "/mounted/in.bin", nil); resp.Header.Get("Last-Modified") != mtime.Format(http.TimeFormat) {
		t.Errorf("Last-Modified of the copied file %q, want %q", resp.Header.Get("Last-Modified"), mtime.Format(http.TimeFormat))
	}
	waitFor(t, exited, func() bool {
		resp, body := d.Do("GET", "/mounted/newdir/hello.txt", nil)
		return resp.StatusCode == http.StatusOK && string(body) == "hello from webdav\n"
	})
	d.Must(http.StatusNotFound, "GET", "/mounted/existing/hello.txt", nil)
	d.Must(207, "PROPFIND", "/mounted/existing/", nil, "Depth", "0") // emptied, still there
	// rm
	if err := os.Remove(filepath.Join(mnt, "in.bin")); err != nil {
		t.Fatal(err)
	}
	d.Must(http.StatusNotFound, "GET", "/mounted/in.bin", nil)
	names := []string{}
	entries, _ = os.ReadDir(mnt)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if fmt.Sprint(names) != "[existing newdir]" {
		t.Errorf("ls of the mount: %v", names)
	}
}

// mounted reports whether dir is a mount point.
func mounted(t testing.TB, dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds; it gives up when the mount process
// exits.
func waitFor(t testing.TB, exited <-chan struct{}, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-exited:
			t.Fatal("rclone mount exited")
		case <-time.After(100 * time.Millisecond):
		}
	}
}
