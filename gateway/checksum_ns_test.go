package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/checksum"
)

// TestPutChecksums stores each algorithm's checksum, computed over the
// plaintext, and the default CRC64NVME when none is asked for; a wrong
// expected checksum stores nothing.
func TestPutChecksums(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := []byte("the quick brown fox jumps over the lazy dog")
	for _, a := range append([]checksum.Algorithm{""}, checksum.Algorithms...) {
		key := "obj-" + string(a)
		info, err := e.ns.PutObject(ctx, "bucket", key, bytes.NewReader(data), int64(len(data)), gateway.PutOptions{Checksum: a})
		if err != nil {
			t.Fatal(err)
		}
		want := a
		if want == "" {
			want = checksum.CRC64NVME
		}
		o, err := e.ns.Object(ctx, "bucket", key)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []*checksum.Checksum{info.Checksum, o.Checksum} {
			if c == nil || c.Algorithm != want || c.Type != checksum.FullObject || !bytes.Equal(c.Sum, want.Sum(data)) {
				t.Errorf("%q: checksum %+v, want %s %x", a, c, want, want.Sum(data))
			}
		}
	}
	// Empty objects have a checksum too.
	info, err := e.ns.PutObject(ctx, "bucket", "empty", strings.NewReader(""), 0, gateway.PutOptions{Checksum: checksum.CRC32})
	if err != nil || info.Checksum == nil || info.Checksum.String() != "AAAAAA==" {
		t.Errorf("empty: %+v %v", info.Checksum, err)
	}

	_, err = e.ns.PutObject(ctx, "bucket", "bad", bytes.NewReader(data), int64(len(data)),
		gateway.PutOptions{Checksum: checksum.SHA256, WantChecksum: checksum.SHA256.Sum([]byte("other"))})
	if !errors.Is(err, checksum.ErrMismatch) || err.Error() != "The SHA256 you specified did not match the calculated checksum." {
		t.Errorf("wrong checksum: %v", err)
	}
	if _, err := e.ns.Object(ctx, "bucket", "bad"); !errors.Is(err, gateway.ErrNoSuchKey) {
		t.Errorf("object stored despite a wrong checksum: %v", err)
	}

	// A checksum the caller already has is stored as given, not
	// computed once more.
	given := []byte{1, 2, 3, 4}
	cctx := gateway.WithBodyChecksum(ctx, checksum.CRC32, func() []byte { return given })
	info, err = e.ns.PutObject(cctx, "bucket", "given", bytes.NewReader(data), int64(len(data)), gateway.PutOptions{Checksum: checksum.CRC32})
	if err != nil || !bytes.Equal(info.Checksum.Sum, given) {
		t.Errorf("caller's checksum: %+v %v", info.Checksum, err)
	}

	// Copies compute the requested algorithm over the plaintext, or
	// keep the source's.
	info, err = e.ns.CopyObjectWith(ctx, "bucket", "obj-SHA1", "bucket", "copy1", gateway.CopyOptions{})
	if err != nil || info.Checksum.Algorithm != checksum.SHA1 || !bytes.Equal(info.Checksum.Sum, checksum.SHA1.Sum(data)) {
		t.Errorf("copy keeping the algorithm: %+v %v", info.Checksum, err)
	}
	info, err = e.ns.CopyObjectWith(ctx, "bucket", "obj-SHA1", "bucket", "copy2", gateway.CopyOptions{Checksum: checksum.CRC32C})
	if err != nil || info.Checksum.Algorithm != checksum.CRC32C || !bytes.Equal(info.Checksum.Sum, checksum.CRC32C.Sum(data)) {
		t.Errorf("copy with CRC32C: %+v %v", info.Checksum, err)
	}
	info, err = e.ns.CopyObjectWith(ctx, "bucket", "copy2", "bucket", "copy2", gateway.CopyOptions{Checksum: checksum.SHA256})
	if err != nil || info.Checksum.Algorithm != checksum.SHA256 || !bytes.Equal(info.Checksum.Sum, checksum.SHA256.Sum(data)) {
		t.Errorf("copy onto itself with SHA256: %+v %v", info.Checksum, err)
	}
}

// TestMultipartChecksums checks composite and full-object checksums of
// multipart objects, the parts' checksums and their verification.
func TestMultipartChecksums(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p1 := bytes.Repeat([]byte("a"), gateway.MinPartSize)
	p2 := []byte("the last part")
	all := append(append([]byte(nil), p1...), p2...)
	for _, tc := range []struct {
		alg  checksum.Algorithm
		typ  checksum.Type
		want checksum.Checksum
	}{
		{checksum.SHA256, "", checksum.CompositeOf(checksum.SHA256, [][]byte{checksum.SHA256.Sum(p1), checksum.SHA256.Sum(p2)})},
		{checksum.CRC32, checksum.Composite, checksum.CompositeOf(checksum.CRC32, [][]byte{checksum.CRC32.Sum(p1), checksum.CRC32.Sum(p2)})},
		{checksum.CRC32C, checksum.FullObject, checksum.Checksum{Algorithm: checksum.CRC32C, Type: checksum.FullObject, Sum: checksum.CRC32C.Sum(all)}},
		{checksum.CRC64NVME, "", checksum.Checksum{Algorithm: checksum.CRC64NVME, Type: checksum.FullObject, Sum: checksum.CRC64NVME.Sum(all)}},
		{"", "", checksum.Checksum{Algorithm: checksum.CRC64NVME, Type: checksum.FullObject, Sum: checksum.CRC64NVME.Sum(all)}},
	} {
		key := "mp-" + string(tc.alg) + string(tc.typ)
		id, err := e.ns.CreateUploadWith(ctx, "bucket", key, gateway.PutOptions{Checksum: tc.alg, ChecksumType: tc.typ})
		if err != nil {
			t.Fatal(err)
		}
		var done []gateway.CompletedPart
		for i, p := range [][]byte{p1, p2} {
			pi, err := e.ns.UploadPartWith(ctx, "bucket", key, id, i+1, bytes.NewReader(p), int64(len(p)), tc.alg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pi.Checksum.Sum, tc.want.Algorithm.Sum(p)) {
				t.Errorf("%s part %d: checksum %x", key, i+1, pi.Checksum.Sum)
			}
			done = append(done, gateway.CompletedPart{Number: i + 1, ETag: pi.ETag, Checksum: pi.Checksum})
		}
		listed, _, err := e.ns.Parts(ctx, "bucket", key, id, 0, 10)
		if err != nil || len(listed) != 2 || listed[1].Checksum == nil || !bytes.Equal(listed[1].Checksum.Sum, tc.want.Algorithm.Sum(p2)) {
			t.Errorf("%s: listed parts %+v %v", key, listed, err)
		}
		bad := append([]gateway.CompletedPart(nil), done...)
		bad[0].Checksum = &checksum.Checksum{Algorithm: tc.want.Algorithm, Sum: tc.want.Algorithm.Sum([]byte("x"))}
		if _, err := e.ns.CompleteUpload(ctx, "bucket", key, id, bad); !errors.Is(err, gateway.ErrInvalidPart) {
			t.Errorf("%s: wrong part checksum: %v", key, err)
		}
		wrong := &checksum.Checksum{Algorithm: tc.want.Algorithm, Sum: tc.want.Algorithm.Sum([]byte("x"))}
		if _, err := e.ns.CompleteUploadWith(ctx, "bucket", key, id, done, gateway.CompleteOptions{Checksum: wrong}); !errors.Is(err, checksum.ErrMismatch) {
			t.Errorf("%s: wrong object checksum: %v", key, err)
		}
		info, err := e.ns.CompleteUploadWith(ctx, "bucket", key, id, done, gateway.CompleteOptions{Checksum: &tc.want})
		if err != nil {
			t.Fatal(err)
		}
		if info.Checksum == nil || info.Checksum.String() != tc.want.String() || info.Checksum.Type != tc.want.Type {
			t.Errorf("%s: object checksum %+v, want %s %s", key, info.Checksum, tc.want.Type, tc.want)
		}
		if len(info.PartChecksums) != 2 || !bytes.Equal(info.PartChecksums[1], tc.want.Algorithm.Sum(p2)) {
			t.Errorf("%s: part checksums %x", key, info.PartChecksums)
		}
	}

	for _, tc := range []struct {
		alg checksum.Algorithm
		typ checksum.Type
	}{
		{checksum.SHA256, checksum.FullObject}, {checksum.CRC64NVME, checksum.Composite}, {"", checksum.Composite}, {"MD5", ""},
	} {
		if _, err := e.ns.CreateUploadWith(ctx, "bucket", "refused", gateway.PutOptions{Checksum: tc.alg, ChecksumType: tc.typ}); !errors.Is(err, checksum.ErrInvalid) {
			t.Errorf("upload %q %q: %v, want ErrInvalid", tc.alg, tc.typ, err)
		}
	}
	id, err := e.ns.CreateUploadWith(ctx, "bucket", "mismatch", gateway.PutOptions{Checksum: checksum.SHA1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.ns.UploadPartWith(ctx, "bucket", "mismatch", id, 1, strings.NewReader("x"), 1, checksum.CRC32)
	if !errors.Is(err, checksum.ErrInvalid) || err.Error() != "Checksum Type mismatch occurred, expected checksum Type: sha1, actual checksum Type: crc32" {
		t.Errorf("part of another algorithm: %v", err)
	}
}
