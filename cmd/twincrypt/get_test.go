package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/gateway/seal"
	"github.com/twincrypt/twincrypt/gateway/sharelink/fetch"
	"github.com/twincrypt/twincrypt/internal/sharetest"
)

// getData returns n bytes that differ from chunk to chunk.
func getData(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%253) ^ byte(i>>16) ^ seed
	}
	return b
}

// runGetCLI runs `twincrypt get` and checks that nothing it printed holds
// the link's secret.
func runGetCLI(t *testing.T, srv *sharetest.Server, stdin string, env map[string]string, term bool, args ...string) result {
	t.Helper()
	r := runCLI(t, stdin, env, term, append([]string{"get"}, args...)...)
	t.Logf("get %v -> %d\n%s", args, r.code, r.stderr)
	if s := srv.Link.Secret.String(); strings.Contains(r.stdout+r.stderr, s) {
		t.Errorf("output holds the link's secret:\n%s%s", r.stdout, r.stderr)
	}
	return r
}

// mustRead returns the content of path.
func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// absent fails the test if path exists.
func absent(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("%s exists (stat: %v)", path, err)
	}
}

func TestGetFileLink(t *testing.T) {
	data := getData(3*seal.ChunkSize+11, 1)
	mtime := time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC)
	srv := sharetest.New(t, sharetest.Options{}, sharetest.File{Name: "report.pdf", Parts: [][]byte{data}, ModTime: mtime})
	link := srv.URLString()

	t.Run("default name in the current directory", func(t *testing.T) {
		dir := t.TempDir()
		t.Chdir(dir)
		runGetCLI(t, srv, "", nil, false, link).expect(t, 0, "saved report.pdf")
		got := filepath.Join(dir, "report.pdf")
		if !bytes.Equal(mustRead(t, got), data) {
			t.Fatal("content differs")
		}
		absent(t, got+".partial")
		if fi, err := os.Stat(got); err != nil || !fi.ModTime().Equal(mtime) {
			t.Errorf("mtime %v, want %v (%v)", fi.ModTime(), mtime, err)
		}
		// A second run does not overwrite it; --force does.
		os.WriteFile(got, []byte("mine"), 0o644)
		runGetCLI(t, srv, "", nil, false, link).expect(t, 1, "report.pdf: exists (--force overwrites it)")
		if string(mustRead(t, got)) != "mine" {
			t.Fatal("existing file overwritten without --force")
		}
		runGetCLI(t, srv, "", nil, false, "--force", link).expect(t, 0)
		if !bytes.Equal(mustRead(t, got), data) {
			t.Fatal("--force did not overwrite")
		}
	})
	t.Run("-o FILE", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "copy.bin")
		r := runGetCLI(t, srv, "", nil, false, "-o", out, "-q", link)
		r.expect(t, 0)
		if r.stderr != "" || r.stdout != "" {
			t.Errorf("-q printed %q %q", r.stdout, r.stderr)
		}
		if !bytes.Equal(mustRead(t, out), data) {
			t.Fatal("content differs")
		}
	})
	t.Run("flags after the link", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "copy.bin")
		runGetCLI(t, srv, "", nil, false, link, "-o", out).expect(t, 0)
		if !bytes.Equal(mustRead(t, out), data) {
			t.Fatal("content differs")
		}
	})
	t.Run("-o existing DIR", func(t *testing.T) {
		dir := t.TempDir()
		runGetCLI(t, srv, "", nil, false, "-o", dir, link).expect(t, 0)
		if !bytes.Equal(mustRead(t, filepath.Join(dir, "report.pdf")), data) {
			t.Fatal("content differs")
		}
	})
	t.Run("-o new DIR/", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "new", "dir")
		runGetCLI(t, srv, "", nil, false, "-o", dir+"/", link).expect(t, 0)
		if !bytes.Equal(mustRead(t, filepath.Join(dir, "report.pdf")), data) {
			t.Fatal("content differs")
		}
	})
	t.Run("-o FILE in a missing directory", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "missing", "copy.bin")
		runGetCLI(t, srv, "", nil, false, "-o", out, link).expect(t, 1, "missing")
	})
	t.Run("link on stdin", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "copy.bin")
		runGetCLI(t, srv, link+"\n", nil, false, "-o", out, "-").expect(t, 0)
		if !bytes.Equal(mustRead(t, out), data) {
			t.Fatal("content differs")
		}
	})
	t.Run("usage", func(t *testing.T) {
		runGetCLI(t, srv, "", nil, false).expect(t, 2, "want one LINK")
		runGetCLI(t, srv, "", nil, false, "--continue", "--force", link).expect(t, 2, "exclude")
		runGetCLI(t, srv, "", nil, false, strings.Split(link, "#")[0]).expect(t, 1, "not a share link", "part after '#' is missing")
		runGetCLI(t, srv, "", nil, false, "--help").expect(t, 0, "usage: twincrypt get", "--continue")
	})
}

func TestGetFolderLink(t *testing.T) {
	files := []sharetest.File{
		sharetest.OnePart("a.txt", []byte("alpha")),
		{Name: "sub/b.bin", Parts: [][]byte{getData(100_000, 2), getData(70_000, 3)}},
		sharetest.OnePart("sub/deeper/empty", nil),
	}
	srv := sharetest.New(t, sharetest.Options{Folder: true}, files...)
	link := srv.URLString()
	check := func(t *testing.T, dir string, skip int) {
		t.Helper()
		for i, f := range files {
			if i == skip {
				continue
			}
			if !bytes.Equal(mustRead(t, filepath.Join(dir, filepath.FromSlash(f.Name))), f.Data()) {
				t.Errorf("%s differs", f.Name)
			}
		}
	}

	t.Run("into a new directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "holiday")
		runGetCLI(t, srv, "", nil, false, "-o", dir, link).expect(t, 0, "3 files saved")
		check(t, dir, -1)
	})
	t.Run("current directory", func(t *testing.T) {
		dir := t.TempDir()
		t.Chdir(dir)
		runGetCLI(t, srv, "", nil, false, link).expect(t, 0)
		check(t, dir, -1)
	})
	t.Run("one file gone, the others saved", func(t *testing.T) {
		dir := t.TempDir()
		srv.FailFile(1, 410)
		runGetCLI(t, srv, "", nil, false, "-o", dir, link).expect(t, 1, "sub/b.bin", "gone (410)", "replaced or deleted", "1 of 3 files not saved")
		srv.FailFile(1, 0)
		check(t, dir, 1)
		absent(t, filepath.Join(dir, "sub", "b.bin"))
		absent(t, filepath.Join(dir, "sub", "b.bin.partial"))

		// --continue keeps what is there and fetches the rest.
		r := runGetCLI(t, srv, "", nil, false, "--continue", "-o", dir, link)
		r.expect(t, 0, "kept "+filepath.Join(dir, "a.txt"), "saved "+filepath.Join(dir, "sub", "b.bin"))
		check(t, dir, -1)
	})
	t.Run("existing file refused, others saved", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "a.txt"), []byte("mine"), 0o644)
		runGetCLI(t, srv, "", nil, false, "-o", dir, link).expect(t, 1, "a.txt: exists")
		if string(mustRead(t, filepath.Join(dir, "a.txt"))) != "mine" {
			t.Error("a.txt overwritten")
		}
		check(t, dir, 0)
	})
	t.Run("symlink out of the directory", func(t *testing.T) {
		dir, outside := t.TempDir(), t.TempDir()
		if err := os.Symlink(outside, filepath.Join(dir, "sub")); err != nil {
			t.Fatal(err)
		}
		runGetCLI(t, srv, "", nil, false, "-o", dir, link).expect(t, 1, "sub/b.bin")
		entries, _ := os.ReadDir(outside)
		if len(entries) != 0 {
			t.Errorf("wrote %d entries outside the directory through a symlink", len(entries))
		}
	})
}

func TestGetPassword(t *testing.T) {
	data := getData(70_000, 4)
	srv := sharetest.New(t, sharetest.Options{Password: "s3cret pw"}, sharetest.OnePart("locked.bin", data))
	link := srv.URLString()
	env := func(pw string) map[string]string { return map[string]string{envSharePassword: pw} }
	tests := []struct {
		name      string
		stdin     string
		env       map[string]string
		term      bool
		code      int
		stderrHas []string
	}{
		{"from the environment", "", env("s3cret pw"), false, 0, nil},
		{"wrong in the environment", "", env("s3cret"), false, 1, []string{"wrong password (from TWINCRYPT_SHARE_PASSWORD)"}},
		{"prompt", "s3cret pw\n", nil, true, 0, []string{"Password for this link: "}},
		{"prompt, second try", "nope\ns3cret pw\n", nil, true, 0, []string{"Wrong password, try again."}},
		{"prompt, three wrong", "a\nb\nc\ns3cret pw\n", nil, true, 1, []string{"wrong password"}},
		{"neither", "", nil, false, 1, []string{"this link needs a password: set TWINCRYPT_SHARE_PASSWORD or run on a terminal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "x")
			r := runGetCLI(t, srv, tt.stdin, tt.env, tt.term, "-o", out, link)
			r.expect(t, tt.code, tt.stderrHas...)
			if strings.Contains(r.stderr, "s3cret") {
				t.Error("stderr holds the password")
			}
			if tt.code != 0 {
				absent(t, out)
				absent(t, out+".partial")
				return
			}
			if !bytes.Equal(mustRead(t, out), data) {
				t.Fatal("content differs")
			}
		})
	}
}

func TestGetErrors(t *testing.T) {
	srv := sharetest.New(t, sharetest.Options{}, sharetest.OnePart("f.bin", getData(1000, 5)))
	link := srv.URLString()
	tests := []struct {
		name      string
		code      int
		msg       string
		stderrHas []string
	}{
		{"gone", 410, "this link was revoked", []string{"gone (410)", "this link was revoked"}},
		{"refused", 403, "bad token", []string{"refused (403)", "token"}},
		{"not found", 404, "no such share", []string{"not found (404)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.Fail(tt.code, tt.msg)
			defer srv.Fail(0, "")
			dir := t.TempDir()
			runGetCLI(t, srv, "", nil, false, "-o", dir, link).expect(t, 1, tt.stderrHas...)
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("left %d files", len(entries))
			}
		})
	}
}

func TestGetIntegrityAndContinue(t *testing.T) {
	data := getData(6*seal.ChunkSize+500, 6)
	srv := sharetest.New(t, sharetest.Options{}, sharetest.OnePart("big.iso", data))
	link := srv.URLString()
	dir := t.TempDir()
	out := filepath.Join(dir, "big.iso")
	part := out + ".partial"

	// Chunk 3 is corrupt: chunks 0-2 are kept in .partial, nothing is
	// named big.iso.
	srv.Tamper(func(_, _ int, b []byte) []byte {
		b = bytes.Clone(b)
		b[seal.HeaderSize+3*(seal.ChunkSize+seal.TagSize)+7] ^= 1
		return b
	})
	runGetCLI(t, srv, "", nil, false, "-o", out, link).expect(t, 1, "integrity", "big.iso.partial", "--continue")
	absent(t, out)
	if got := mustRead(t, part); !bytes.Equal(got, data[:3*seal.ChunkSize]) {
		t.Fatalf(".partial holds %d bytes, want the 3 chunks that authenticated", len(got))
	}

	// Without --continue or --force, the partial file is not touched.
	runGetCLI(t, srv, "", nil, false, "-o", out, link).expect(t, 1, "--continue resumes it")

	// Bytes past the last whole chunk are dropped; the resumed download
	// fetches from the last kept chunk on (checking it) and completes.
	srv.Tamper(nil)
	f, _ := os.OpenFile(part, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(data[3*seal.ChunkSize : 3*seal.ChunkSize+1234])
	f.Close()
	before := len(srv.Ranges())
	runGetCLI(t, srv, "", nil, false, "--continue", "-o", out, link).expect(t, 0, "saved")
	if !bytes.Equal(mustRead(t, out), data) {
		t.Fatal("resumed file differs")
	}
	absent(t, part)
	ranges := srv.Ranges()[before:]
	wantFrom := "bytes=" + strconv.Itoa(seal.HeaderSize+2*(seal.ChunkSize+seal.TagSize)) + "-"
	if len(ranges) == 0 || !strings.HasPrefix(ranges[0], wantFrom) {
		t.Errorf("resume requested %q, want a range from %s", ranges, wantFrom)
	}

	// A partial file of something else is not completed.
	other := getData(2*seal.ChunkSize, 99)
	os.Remove(out)
	os.WriteFile(part, other, 0o644)
	runGetCLI(t, srv, "", nil, false, "--continue", "-o", out, link).expect(t, 1, "does not match")
	absent(t, out)
	if !bytes.Equal(mustRead(t, part), other) {
		t.Error("a mismatched partial file was changed")
	}
	// One larger than the file is refused too.
	os.WriteFile(part, getData(len(data)+1, 1), 0o644)
	runGetCLI(t, srv, "", nil, false, "--continue", "-o", out, link).expect(t, 1, "larger")

	// --force starts over.
	runGetCLI(t, srv, "", nil, false, "--force", "-o", out, link).expect(t, 0)
	if !bytes.Equal(mustRead(t, out), data) {
		t.Fatal("file differs after --force")
	}
	absent(t, part)

	// A short partial file (less than a chunk) resumes from the start.
	os.Remove(out)
	os.WriteFile(part, data[:1000], 0o644)
	runGetCLI(t, srv, "", nil, false, "--continue", "-o", out, link).expect(t, 0)
	if !bytes.Equal(mustRead(t, out), data) {
		t.Fatal("file differs after resuming a short partial")
	}
}

func TestGetBar(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	const size = 100 << 20

	bar := &getBar{w: &buf, term: true, now: clock}
	bar.start("dir/movie.mkv", 0)
	now = now.Add(time.Second)
	bar.update(fetch.Progress{Done: 25 << 20, Size: size})
	now = now.Add(50 * time.Millisecond)
	bar.update(fetch.Progress{Done: 26 << 20, Size: size}) // too soon: not drawn
	now = now.Add(time.Second)
	bar.update(fetch.Progress{Done: size, Size: size}) // the end is always drawn
	bar.done()
	want := "\r\033[Kdir/movie.mkv [######------------------]  25% 25.0 MiB of 100.0 MiB, 25.0 MiB/s, ETA 3s" +
		"\r\033[Kdir/movie.mkv [########################] 100% 100.0 MiB of 100.0 MiB, 48.8 MiB/s" +
		"\r\033[K"
	if buf.String() != want {
		t.Errorf("bar drew\n%q\nwant\n%q", buf.String(), want)
	}

	// Not on a terminal: a plain line every progressLineEvery, none at
	// the end (the "saved" message follows).
	buf.Reset()
	bar = &getBar{w: &buf, plain: true, now: clock}
	bar.start(strings.Repeat("x", 50), 50<<20)
	now = now.Add(time.Second)
	bar.update(fetch.Progress{Done: 60 << 20, Size: size})
	now = now.Add(progressLineEvery)
	bar.update(fetch.Progress{Done: 70 << 20, Size: size})
	now = now.Add(progressLineEvery)
	bar.update(fetch.Progress{Done: size, Size: size})
	bar.done()
	want = "..." + strings.Repeat("x", 37) + ":  70% 70.0 MiB of 100.0 MiB, 1.8 MiB/s, ETA 17s\n"
	if buf.String() != want {
		t.Errorf("plain progress\n%q\nwant\n%q", buf.String(), want)
	}
}
