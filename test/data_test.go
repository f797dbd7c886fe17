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

// scanForPlaintext walks the given directories (backend storage) and fails
// the test for every file whose name or content contains one of needles
// (besides the marker). It returns how many files and bytes it scanned.
func scanForPlaintext(t testing.TB, dirs []string, needles ...string) (files int, bytesRead int64) {
	t.Helper()
	needles = append([]string{marker}, needles...)
	longest := 0
	for _, n := range needles {
		longest = max(longest, len(n))
	}
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, path)
			for _, n := range needles[1:] {
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
				for _, needle := range needles {
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
