package gateway_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/seal"
)

// TestInlineObjects stores objects around the inline threshold, with known
// and unknown lengths: those of at most InlineMax bytes have no blob on
// any backend and no plaintext in their record; all read back whole and
// by range, with their MD5 ETag, and scrub clean.
func TestInlineObjects(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		size    int
		unknown bool // PUT without a length
		inline  bool
	}{
		{"1 byte", 1, false, true},
		{"100 bytes", 100, false, true},
		{"InlineMax", gateway.InlineMax, false, true},
		{"InlineMax+1", gateway.InlineMax + 1, false, false},
		{"100 bytes, length unknown", 100, true, true},
		{"InlineMax, length unknown", gateway.InlineMax, true, true},
		{"InlineMax+1, length unknown", gateway.InlineMax + 1, true, false},
		{"3 chunks, length unknown", 3*seal.ChunkSize + 7, true, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := fmt.Sprintf("obj%d", i)
			data := bytes.Repeat([]byte("plaintext!"), tt.size/10+1)[:tt.size]
			size := int64(tt.size)
			if tt.unknown {
				size = -1
			}
			before := len(e.names(t, 0, "b/"))
			info, err := e.ns.PutObject(ctx, "bucket", key, bytes.NewReader(data), size, gateway.PutOptions{})
			if err != nil {
				t.Fatal(err)
			}
			sum := md5.Sum(data)
			if info.ETag != hex.EncodeToString(sum[:]) || info.Size != int64(tt.size) {
				t.Errorf("ETag %s size %d, want %x %d", info.ETag, info.Size, sum, tt.size)
			}
			o, err := e.ns.Object(ctx, "bucket", key)
			if err != nil {
				t.Fatal(err)
			}
			if o.Inline() != tt.inline {
				t.Errorf("inline %v, want %v", o.Inline(), tt.inline)
			}
			for m := range e.members {
				blobs := len(e.names(t, m, "b/"))
				if want := before + map[bool]int{true: 0, false: 1}[tt.inline]; m == 0 && blobs != want {
					t.Errorf("%d blobs on member %d, want %d", blobs, m, want)
				}
				rc, err := e.members[m].Get(ctx, e.recordName(t, "bucket", key, ""), 0, -1)
				if err != nil {
					t.Fatal(err)
				}
				rec, _ := io.ReadAll(rc)
				rc.Close()
				if bytes.Contains(rec, []byte("plaintext!")) {
					t.Errorf("member %d's record holds plaintext", m)
				}
			}
			if got := e.get(t, key, 0, -1); !bytes.Equal(got, data) {
				t.Error("content differs")
			}
			for _, r := range [][2]int64{{0, 1}, {1, size - 2}, {size - 1, 1}, {size / 2, size - size/2}} {
				if size < 0 || r[1] <= 0 {
					continue
				}
				if got := e.get(t, key, r[0], r[1]); !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
					t.Errorf("range %v differs", r)
				}
			}
		})
	}
	for _, deep := range []bool{false, true} {
		if rep := e.scrub(t, deep); !rep.Clean() {
			t.Errorf("deep=%v: %v", deep, summary(rep))
		}
	}
}

// TestInlineAndBlobObjectsMix reads a small object stored as a blob, as
// every object was before inline objects, next to an inline one; a copy
// of it is inline, an overwrite deletes its blob, and a repair of a wiped
// backend restores both forms.
func TestInlineAndBlobObjectsMix(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old, small := []byte("stored before inline objects"), []byte("stored inline")
	if err := e.ns.PutAsBlob(ctx, "bucket", "old", bytes.NewReader(old), int64(len(old))); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ns.PutObject(ctx, "bucket", "new", bytes.NewReader(small), int64(len(small)), gateway.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.names(t, 0, "b/")); n != 1 {
		t.Fatalf("%d blobs, want 1 (the old object's)", n)
	}
	if o, err := e.ns.Object(ctx, "bucket", "old"); err != nil || o.Inline() {
		t.Fatalf("old object: inline %v, %v", o != nil && o.Inline(), err)
	}
	if got := e.get(t, "old", 0, -1); !bytes.Equal(got, old) {
		t.Errorf("old object reads %q", got)
	}
	if got := e.get(t, "old", 7, 6); string(got) != "before" {
		t.Errorf("old object range reads %q", got)
	}
	if got := e.get(t, "new", 0, -1); !bytes.Equal(got, small) {
		t.Errorf("new object reads %q", got)
	}
	if rep := e.scrub(t, true); !rep.Clean() || rep.Blobs != 2 {
		t.Fatalf("deep scrub: %d blobs (want 2), %v", rep.Blobs, summary(rep))
	}
	// Refill a wiped backend: the old object's blob is copied, the new
	// one's record carries its content.
	e.wipe(t, 1)
	if _, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf()}); err != nil {
		t.Fatal(err)
	}
	if rep := e.scrub(t, true); !rep.Clean() {
		t.Fatalf("after repair: %v", summary(rep))
	}
	// A copy of the old object is inline.
	if _, err := e.ns.CopyObject(ctx, "bucket", "old", "bucket", "copy", nil); err != nil {
		t.Fatal(err)
	}
	if o, err := e.ns.Object(ctx, "bucket", "copy"); err != nil || !o.Inline() {
		t.Fatalf("copy: inline %v, %v; want inline", o != nil && o.Inline(), err)
	}
	if got := e.get(t, "copy", 0, -1); !bytes.Equal(got, old) {
		t.Errorf("copy reads %q", got)
	}
	// Overwriting the old object inline deletes its blob.
	if _, err := e.ns.PutObject(ctx, "bucket", "old", bytes.NewReader(small), int64(len(small)), gateway.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for m := range e.members {
		if n := len(e.names(t, m, "b/")); n != 0 {
			t.Errorf("member %d: %d blobs after the overwrite, want 0", m, n)
		}
	}
	if got := e.get(t, "old", 0, -1); !bytes.Equal(got, small) {
		t.Errorf("overwritten object reads %q", got)
	}
}

// TestInlineTampered: a record that authenticates but whose inline blob
// does not (only a bug could write one) fails reads with an integrity
// error and is found by a deep scrub, never by a shallow one.
func TestInlineTampered(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := []byte(strings.Repeat("secret ", 100))
	if _, err := e.ns.PutObject(ctx, "bucket", "k", bytes.NewReader(data), int64(len(data)), gateway.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.ns.FlipInlineByte(ctx, "bucket", "k", 10); err != nil {
		t.Fatal(err)
	}
	o, err := e.ns.Object(ctx, "bucket", "k")
	if err != nil {
		t.Fatal(err)
	}
	r, err := o.NewReader(ctx, 0, -1)
	if err == nil {
		var got []byte
		got, err = io.ReadAll(r)
		r.Close()
		if len(got) != 0 {
			t.Errorf("read returned %d unauthenticated bytes", len(got))
		}
	}
	if !errors.Is(err, seal.ErrIntegrity) {
		t.Errorf("read: %v, want an integrity error", err)
	}
	if rep := e.scrub(t, false); !rep.Clean() {
		t.Errorf("shallow scrub: %v", summary(rep))
	}
	rep := e.scrub(t, true)
	if rep.Clean() || rep.Catalog != 1 || len(rep.Problems) != 1 || !errors.Is(rep.Problems[0].Err, seal.ErrIntegrity) ||
		!strings.Contains(rep.Problems[0].Err.Error(), "inline blob") {
		t.Errorf("deep scrub: %v", summary(rep))
	}
}

// TestInlineWrongCopy: the bytes of an inline object come from the sealed
// record the catalog names, checked against its digest. A provider that
// serves another copy under that name (the key's older record, or bytes of
// its own) is passed over for the other provider; when no provider holds
// the right copy the read fails with an integrity error and never yields
// the wrong copy's plaintext.
func TestInlineWrongCopy(t *testing.T) {
	for _, forged := range []bool{false, true} {
		t.Run(fmt.Sprintf("forged=%v", forged), func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			e.put(t, "k", []byte("first"))
			old, err := os.ReadFile(e.file(0, e.recordName(t, "bucket", "k", "")))
			if err != nil {
				t.Fatal(err)
			}
			if forged {
				old = bytes.Repeat([]byte{0x54}, len(old))
			}
			e.put(t, "k", []byte("second"))
			name := e.recordName(t, "bucket", "k", "")
			for i := range e.members {
				if err := os.WriteFile(e.file(i, name), old, 0o600); err != nil {
					t.Fatal(err)
				}
				o, err := e.ns.Object(ctx, "bucket", "k")
				if err != nil {
					t.Fatal(err)
				}
				r, err := o.NewReader(ctx, 0, -1)
				var got []byte
				if err == nil {
					got, err = io.ReadAll(r)
					r.Close()
				}
				switch {
				case i == 0 && (err != nil || string(got) != "second"):
					t.Errorf("one copy replaced: %q, %v; want second from the other provider", got, err)
				case i == 1 && (!errors.Is(err, gateway.ErrIntegrity) || len(got) != 0):
					t.Errorf("both copies replaced: %q, %v; want an integrity error and no bytes", got, err)
				}
			}
		})
	}
}
