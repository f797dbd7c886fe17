package replica_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/backends/backendtest"
	"github.com/twincrypt/twincrypt/backends/local"
	"github.com/twincrypt/twincrypt/backends/replica"
)

// localSet builds a set of two local backends in fresh directories and
// returns it with the members' root directories.
func localSet(t *testing.T, opts replica.Options) (*replica.Set, [2]string, *replica.MemQueue) {
	t.Helper()
	var dirs [2]string
	var ms []replica.Member
	for i, n := range []string{"frankfurt", "zurich"} {
		dirs[i] = t.TempDir()
		b, err := local.New(n, dirs[i])
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, replica.Member{Backend: b, Jurisdiction: []string{"DE", "CH"}[i], Priority: i})
	}
	q := replica.NewMemQueue()
	opts.Queue = q
	s, err := replica.New(ms, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, dirs, q
}

// TestConformanceLocal runs the backend conformance suite on a set of two
// local backends: the set must behave like one backend.
func TestConformanceLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("the listing test writes 2500 objects to each member")
	}
	backendtest.Run(t, func(t *testing.T) backends.Backend {
		s, _, _ := localSet(t, replica.Options{})
		return s
	})
}

// authenticatingReader stands in for the decrypting layer: it checks each
// chunk against known digests and calls Refetch when one does not match.
func readAuthenticated(t *testing.T, rf replica.Refetcher, want []byte, chunk int) ([]byte, int) {
	t.Helper()
	var out []byte
	refetches := 0
	buf := make([]byte, chunk)
	for off := 0; off < len(want); {
		n := min(chunk, len(want)-off)
		if _, err := io.ReadFull(rf, buf[:n]); err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if sha256.Sum256(buf[:n]) != sha256.Sum256(want[off:off+n]) {
			refetches++
			if err := rf.Refetch(int64(off)); err != nil {
				t.Fatalf("Refetch(%d): %v", off, err)
			}
			continue
		}
		out = append(out, buf[:n]...)
		off += n
	}
	return out, refetches
}

func TestLocalCorruptFileRefetchAndRepair(t *testing.T) {
	s, dirs, q := localSet(t, replica.Options{})
	ctx := context.Background()
	data := backendtest.Pattern(1, 5<<20+17)
	if err := s.Put(ctx, "b/blob", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	// Flip bytes in frankfurt's copy, inside the third 64 KiB chunk.
	path := filepath.Join(dirs[0], "b", "blob")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[2*65536+100] ^= 0x01
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Get(ctx, "b/blob", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, refetches := readAuthenticated(t, rc.(replica.Refetcher), data, 65536)
	if !bytes.Equal(got, data) || refetches != 1 {
		t.Fatalf("authenticated read: %d bytes equal=%v, %d refetches; want identical with 1", len(got), bytes.Equal(got, data), refetches)
	}
	if q.Len() != 1 {
		t.Fatalf("queue holds %d tasks, want 1 for the corrupt member", q.Len())
	}
	st, err := s.Repair(ctx)
	if err != nil || st.Healed != 1 {
		t.Fatalf("Repair %+v, %v", st, err)
	}
	if raw, _ := os.ReadFile(path); !bytes.Equal(raw, data) {
		t.Fatal("repair did not restore the corrupt file")
	}
}

func TestLocalLostFileFailoverAndRepair(t *testing.T) {
	s, dirs, q := localSet(t, replica.Options{})
	ctx := context.Background()
	data := backendtest.Pattern(2, 300000)
	if err := s.Put(ctx, "m/rec", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dirs[0], "m", "rec")); err != nil {
		t.Fatal(err)
	}
	info, err := s.Stat(ctx, "m/rec")
	if err != nil || info.Size != int64(len(data)) {
		t.Fatalf("Stat with one copy lost = %+v, %v", info, err)
	}
	rc, err := s.Get(ctx, "m/rec", 100, 1000)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data[100:1100]) {
		t.Fatalf("range read with one copy lost: %d bytes, %v", len(got), err)
	}
	if q.Len() != 1 {
		t.Fatalf("queue holds %d tasks, want 1", q.Len())
	}
	if st, err := s.Repair(ctx); err != nil || st.Healed != 1 {
		t.Fatalf("Repair %+v, %v", st, err)
	}
	if raw, err := os.ReadFile(filepath.Join(dirs[0], "m", "rec")); err != nil || !bytes.Equal(raw, data) {
		t.Fatalf("lost file not restored: %v", err)
	}
	// Both copies gone: not found.
	for _, d := range dirs {
		os.Remove(filepath.Join(d, "m", "rec"))
	}
	if _, err := s.Get(ctx, "m/rec", 0, -1); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("Get with both copies gone = %v, want ErrNotFound", err)
	}
}
