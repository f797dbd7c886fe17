package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// marker appears in the plaintext of every test file, so that a scan of the
// backends can prove no plaintext reached them.
const marker = "TWINCRYPT-PLAINTEXT-MARKER"

// writeFile writes size bytes of deterministic content for seed to path: a
// marker line at the start of every 4 KiB block, pseudo-random bytes after.
func writeFile(t testing.TB, path string, size int64, seed uint64) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	block := make([]byte, 4096)
	for written := int64(0); written < size; {
		rng.Read(block)
		copy(block, fmt.Sprintf("%s %d %d\n", marker, seed, written))
		n := min(int64(len(block)), size-written)
		if _, err := w.Write(block[:n]); err != nil {
			t.Fatal(err)
		}
		written += n
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fileSum returns the hex SHA-256 of a file.
func fileSum(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sameFile fails the test unless the two files have identical bytes.
func sameFile(t testing.TB, want, got string) {
	t.Helper()
	if a, b := fileSum(t, want), fileSum(t, got); a != b {
		t.Fatalf("%s differs from %s (sha256 %s vs %s)", got, want, b, a)
	}
}

// minContentNeedle is the shortest name scanForPlaintext looks for inside
// files. Backend files are mostly random ciphertext, which contains a given
// 4-byte string about once in every 4 GiB: in the 600 MB an end-to-end
// test leaves, a short name would turn up by chance one run in seven. A
// 12-byte one turns up once in 2^96 bytes.
const minContentNeedle = 12

// scanForPlaintext walks the given directories (backend storage) and fails
// the test for every file whose path contains one of needles, and for every
// file whose content contains the marker or one of the needles of at least
// minContentNeedle bytes (pass full object keys to have them searched). It
// returns how many files and bytes it scanned.
func scanForPlaintext(t testing.TB, dirs []string, needles ...string) (files int, bytesRead int64) {
	t.Helper()
	names := needles
	content := []string{marker}
	for _, n := range names {
		if len(n) >= minContentNeedle {
			content = append(content, n)
		}
	}
	longest := 0
	for _, n := range content {
		longest = max(longest, len(n))
	}
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, path)
			for _, n := range names {
				if strings.Contains(rel, n) {
					t.Errorf("backend path %s contains the name %q", path, n)
				}
			}
			if d.IsDir() || !d.Type().IsRegular() {
				return nil
			}
			files++
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			buf := make([]byte, 1<<20+longest)
			carry := 0
			for {
				n, err := f.Read(buf[carry:])
				bytesRead += int64(n)
				chunk := buf[:carry+n]
				for _, needle := range content {
					if bytes.Contains(chunk, []byte(needle)) {
						t.Errorf("backend file %s contains plaintext %q", path, needle)
						return nil
					}
				}
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				carry = min(longest, len(chunk))
				copy(buf, chunk[len(chunk)-carry:])
			}
		})
		if err != nil {
			t.Fatalf("scan %s: %v", dir, err)
		}
	}
	return files, bytesRead
}

// errRecorder is a testing.TB that collects Errorf calls instead of failing.
type errRecorder struct {
	testing.TB
	errs []string
}

func (r *errRecorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *errRecorder) Helper() {}

// TestScanForPlaintext checks the scanner the no-plaintext assertions rest
// on: the marker and long names in content, and any name in a path, are
// reported; a short name inside content is not (random ciphertext holds
// short strings by chance).
func TestScanForPlaintext(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"b/clean":            "random ciphertext, nothing to see",
		"b/marker":           strings.Repeat("x", 1<<20-5) + marker + "tail", // across the 1 MiB read boundary
		"b/long-name":        "....secret/docs/report.txt....",
		"b/short-name":       "..docs..",
		"m/docs-in-the-path": "clean",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rec := &errRecorder{TB: t}
	n, _ := scanForPlaintext(rec, []string{dir}, "docs", "secret/docs/report.txt")
	if n != len(files) {
		t.Errorf("scanned %d files, want %d", n, len(files))
	}
	got := strings.Join(rec.errs, "\n")
	for _, want := range []string{"b/marker contains plaintext", "b/long-name contains plaintext", `docs-in-the-path contains the name "docs"`} {
		if !strings.Contains(got, want) {
			t.Errorf("no report %q in:\n%s", want, got)
		}
	}
	if len(rec.errs) != 3 {
		t.Errorf("%d reports, want 3:\n%s", len(rec.errs), got)
	}
}
