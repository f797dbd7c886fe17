package local

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestWritebackWriter checks that the writer passes every byte through and
// starts writeback once per writebackEvery bytes written.
func TestWritebackWriter(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "blob"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &writebackWriter{f: f}
	data := bytes.Repeat([]byte("twincrypt"), (2*writebackEvery+5000)/9)
	for p := data; len(p) > 0; {
		n := min(len(p), 1<<20+3)
		if m, err := w.Write(p[:n]); err != nil || m != n {
			t.Fatalf("Write: %d of %d, %v", m, n, err)
		}
		p = p[n:]
	}
	if w.off != int64(len(data)) {
		t.Errorf("off %d, want %d", w.off, len(data))
	}
	// Writeback was started up to the last write that crossed a multiple
	// of writebackEvery past the previous start.
	if w.started < 2*writebackEvery-(1<<20+3) || w.started > w.off {
		t.Errorf("writeback started up to %d of %d bytes, want at least %d", w.started, w.off, 2*writebackEvery-(1<<20+3))
	}
	got, err := os.ReadFile(f.Name())
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file holds %d bytes (%v), want the %d written", len(got), err, len(data))
	}
}
