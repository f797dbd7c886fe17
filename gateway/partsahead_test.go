package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"testing"

	"github.com/twincrypt/twincrypt/gateway"
)

// putParts stores key as a multipart object of the given parts and
// returns its plaintext and the name of each part's blob.
func (e *env) putParts(t *testing.T, key string, parts ...[]byte) ([]byte, []string) {
	t.Helper()
	ctx := context.Background()
	id, err := e.ns.CreateUpload(ctx, "bucket", key, nil)
	if err != nil {
		t.Fatal(err)
	}
	var done []gateway.CompletedPart
	var whole []byte
	var blobs []string
	for i, p := range parts {
		before := e.names(t, 0, "b/")
		etag, err := e.ns.UploadPart(ctx, "bucket", key, id, i+1, bytes.NewReader(p), int64(len(p)))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range e.names(t, 0, "b/") {
			if !slices.Contains(before, b) {
				blobs = append(blobs, b)
			}
		}
		done = append(done, gateway.CompletedPart{Number: i + 1, ETag: etag})
		whole = append(whole, p...)
	}
	if _, err := e.ns.CompleteUpload(ctx, "bucket", key, id, done); err != nil {
		t.Fatal(err)
	}
	if len(blobs) != len(parts) {
		t.Fatalf("%d new blobs for %d parts", len(blobs), len(parts))
	}
	return whole, blobs
}

// TestRangesOverPartsReadAhead reads ranges of a four-part object, which
// request the parts after the current one ahead: every range returns its
// bytes, through Read and WriteTo alike.
func TestRangesOverPartsReadAhead(t *testing.T) {
	e := newEnv(t)
	ps := int64(gateway.MinPartSize)
	whole, _ := e.putParts(t, "four", payload(int(ps), 1), payload(int(ps), 2), payload(int(ps), 3), payload(777, 4))
	size := int64(len(whole))
	tests := []struct {
		name   string
		off, n int64
	}{
		{"whole", 0, -1},
		{"first part only", 0, ps},
		{"across one edge", ps - 5, 10},
		{"from one edge to the next", ps, ps},
		{"over two edges", ps - 1, ps + 2},
		{"all but the ends", 1, size - 2},
		{"last part", 3 * ps, -1},
		{"last byte", size - 1, 1},
		{"from the second part to the end", ps + 3, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			end := size
			if tt.n >= 0 {
				end = tt.off + tt.n
			}
			if got := e.get(t, "four", tt.off, tt.n); !bytes.Equal(got, whole[tt.off:end]) {
				t.Fatalf("range %d+%d: %d bytes differ from the object's", tt.off, tt.n, len(got))
			}
		})
	}
}

// TestReadAheadCloseEarly closes readers in the middle of a part and at
// its end: the parts requested ahead are released (a new reader and a
// delete of the object still work), and a reader that reaches a part whose
// blob is gone from every provider fails there.
func TestReadAheadCloseEarly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ps := int64(gateway.MinPartSize)
	whole, blobs := e.putParts(t, "three", payload(int(ps), 5), payload(int(ps), 6), payload(int(ps), 7))
	thirdBlob := blobs[2]
	o, err := e.ns.Object(ctx, "bucket", "three")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int64{1, ps} {
		r, err := o.NewReader(ctx, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, n)
		if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, whole[:n]) {
			t.Fatalf("first %d bytes: %v", n, err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Read(got); err != io.EOF {
			t.Errorf("read after close: %v, want EOF", err)
		}
	}
	// Remove the third part's blob from both providers: a whole read
	// fails, after the first two parts, with an error.
	for i := range e.members {
		if err := e.members[i].Delete(ctx, thirdBlob); err != nil {
			t.Fatal(err)
		}
	}
	r, err := o.NewReader(ctx, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r)
	r.Close()
	if err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("read over a missing part: %d bytes, no error", n)
	}
	if n > 2*ps {
		t.Errorf("read %d bytes, more than the two parts before the missing one", n)
	}
}

// TestPartsAheadFailover damages every part of a four-part object on one
// provider at a time, by corrupting a byte in each part's blob or by
// removing the blobs: whichever provider each part requested ahead was
// opened on, a whole read returns the object, the damaged copies failing
// over to the other provider.
func TestPartsAheadFailover(t *testing.T) {
	ctx := context.Background()
	ps := int64(gateway.MinPartSize)
	for _, damage := range []string{"corrupt", "remove"} {
		for i := range 2 {
			t.Run(fmt.Sprintf("%s on provider %d", damage, i), func(t *testing.T) {
				e := newEnv(t)
				whole, blobs := e.putParts(t, "four", payload(int(ps), 11), payload(int(ps), 12), payload(int(ps), 13), payload(999, 14))
				for _, b := range blobs {
					p := e.members[i].File(b)
					switch damage {
					case "corrupt":
						f, err := os.OpenFile(p, os.O_RDWR, 0)
						if err != nil {
							t.Fatal(err)
						}
						var c [1]byte
						if _, err := f.ReadAt(c[:], 1000); err != nil {
							t.Fatal(err)
						}
						c[0] ^= 0x40
						if _, err := f.WriteAt(c[:], 1000); err != nil {
							t.Fatal(err)
						}
						f.Close()
					case "remove":
						if err := e.members[i].Delete(ctx, b); err != nil {
							t.Fatal(err)
						}
					}
				}
				if got := e.get(t, "four", 0, -1); !bytes.Equal(got, whole) {
					t.Fatalf("read %d bytes, not the object's %d", len(got), len(whole))
				}
			})
		}
	}
}
