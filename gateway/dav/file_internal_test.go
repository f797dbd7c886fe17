package dav

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/internal/testns"
)

func newFS(t *testing.T) *fileSystem {
	t.Helper()
	ns := testns.New(t, testns.Options{Bucket: "bucket"}).NS
	return &fileSystem{ns: ns, log: slog.New(slog.DiscardHandler)}
}

// TestFileWriteAndSeek covers the io.Writer path (webdav.Handler itself
// uses ReadFrom) and lazy seeking.
func TestFileWriteAndSeek(t *testing.T) {
	fs := newFS(t)
	ctx := context.Background()
	f, err := fs.OpenFile(ctx, "/bucket/w.txt", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"hello, ", "world"} {
		if _, err := f.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := fs.OpenFile(ctx, "/bucket/w.txt", os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Write([]byte("x")); err == nil {
		t.Error("Write on a file opened read-only succeeded")
	}
	for _, tc := range []struct {
		off    int64
		whence int
		want   string
	}{
		{7, io.SeekStart, "world"},
		{-5, io.SeekEnd, "world"},
		{0, io.SeekStart, "hello, world"},
		{12, io.SeekStart, ""},
		{20, io.SeekStart, ""},
	} {
		if _, err := r.Seek(tc.off, tc.whence); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil || string(b) != tc.want {
			t.Errorf("seek %d/%d: %q %v, want %q", tc.off, tc.whence, b, err, tc.want)
		}
	}
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Error("negative seek accepted")
	}
	// A second Read continues where the first stopped without reopening.
	r.Seek(0, io.SeekStart)
	buf := make([]byte, 5)
	io.ReadFull(r, buf)
	rest, _ := io.ReadAll(r)
	if string(buf)+string(rest) != "hello, world" {
		t.Errorf("sequential reads: %q + %q", buf, rest)
	}
	if _, err := fs.OpenFile(ctx, "/bucket/w.txt", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); !os.IsExist(err) {
		t.Errorf("O_EXCL on an existing file: %v", err)
	}
	if _, err := fs.OpenFile(ctx, "/bucket/missing", os.O_RDONLY, 0); !os.IsNotExist(err) {
		t.Errorf("open of a missing file: %v", err)
	}
	d, err := fs.OpenFile(ctx, "/", os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fis, err := d.Readdir(1)
	if err != nil || len(fis) != 1 || fis[0].Name() != "bucket" || !fis[0].IsDir() {
		t.Errorf("Readdir(1) of the root: %v %v", fis, err)
	}
	if _, err := d.Readdir(1); err != io.EOF {
		t.Errorf("second Readdir(1): %v", err)
	}
	if _, err := d.Read(make([]byte, 1)); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("Read of a directory: %v", err)
	}
}
