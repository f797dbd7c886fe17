package catalog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCodecRoundTrip(t *testing.T) {
	when := time.Date(1969, 7, 20, 20, 17, 40, 123456789, time.UTC) // before the epoch
	entries := []Entry{
		{},
		{Size: -1, ETag: "e", ModTime: when, Generation: 1<<64 - 1, Record: []byte{0, 1, 2}},
		{Size: 1 << 62, ModTime: time.Unix(0, 1).In(time.FixedZone("Z", 3600))},
		{Size: 3, ETag: "v", Generation: 9, VersionID: "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo", Record: []byte("r")},
	}
	for _, e := range entries {
		got, err := decodeEntry("b", "k", encodeEntry(&e))
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", e, err)
		}
		if got.Size != e.Size || got.ETag != e.ETag || !got.ModTime.Equal(e.ModTime) || got.ModTime.IsZero() != e.ModTime.IsZero() ||
			got.Generation != e.Generation || !bytes.Equal(got.Record, e.Record) || got.Bucket != "b" || got.Key != "k" || got.VersionID != e.VersionID {
			t.Errorf("round trip of %+v gave %+v", e, got)
		}
	}
}

func TestBucketCodec(t *testing.T) {
	created := time.Date(2025, 3, 1, 12, 0, 0, 5, time.UTC)
	tests := []struct {
		name string
		in   Bucket
	}{
		{"with owner", Bucket{Name: "b", Created: created, Owner: strings.Repeat("ab", 32)}},
		{"without owner", Bucket{Name: "b", Created: created}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeBucket("b", encodeBucket(&tt.in))
			if err != nil || got != tt.in {
				t.Errorf("round trip = %+v, %v; want %+v", got, err, tt.in)
			}
		})
	}
	// A value written before buckets had owners: version, time only.
	old := []byte{codecV1}
	old = binary.AppendVarint(old, created.Unix())
	old = binary.AppendUvarint(old, uint64(created.Nanosecond()))
	old = append(old, 1)
	if got, err := decodeBucket("b", old); err != nil || got != (Bucket{Name: "b", Created: created}) {
		t.Errorf("old value = %+v, %v", got, err)
	}
	// A truncated owner is corrupt, not an empty owner.
	enc := encodeBucket(&tests[0].in)
	if _, err := decodeBucket("b", enc[:len(enc)-1]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated owner: %v, want ErrCorrupt", err)
	}
}

func TestVersionCodec(t *testing.T) {
	when := time.Date(2026, 3, 14, 1, 2, 3, 4, time.UTC)
	versions := []Version{
		{Generation: 7, Size: 12, ETag: "e", ModTime: when, Record: []byte("r")},
		{Generation: 8, DeleteMarker: true, ModTime: when},
		{Generation: 9, LegalHold: true, RetainMode: RetainCompliance, RetainUntil: when, Record: []byte{0}},
	}
	for _, v := range versions {
		v.Bucket, v.Key, v.VersionID, v.Seq = "b", "k", "id", 7
		got, err := decodeVersion("b", "k", "id", 7, encodeVersion(&v))
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", v, err)
		}
		if got.Generation != v.Generation || got.DeleteMarker != v.DeleteMarker || got.LegalHold != v.LegalHold ||
			got.Size != v.Size || got.ETag != v.ETag || !got.ModTime.Equal(v.ModTime) || got.RetainMode != v.RetainMode ||
			!got.RetainUntil.Equal(v.RetainUntil) || !bytes.Equal(got.Record, v.Record) || got.Seq != 7 || got.VersionID != "id" {
			t.Errorf("round trip of %+v gave %+v", v, got)
		}
	}
	// An entry encoded with an empty trailing version ID is corrupt.
	bad := append(encodeEntry(&Entry{Generation: 1}), 0)
	if _, err := decodeEntry("b", "k", bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("entry with an empty version ID: %v, want ErrCorrupt", err)
	}
	// Unknown flag bits are corrupt.
	enc := newEncoder()
	enc.Uvarint(1)
	enc.Uvarint(1 << 5)
	if _, err := decodeVersion("b", "k", "id", 1, enc.B); !errors.Is(err, ErrCorrupt) {
		t.Errorf("version with unknown flags: %v, want ErrCorrupt", err)
	}
}

func TestEscapeOrder(t *testing.T) {
	strs := []string{"", "\x00", "\x00\x00", "\x00\x01", "\x00\xff", "\x01", "a", "a\x00", "a\x00b", "ab", "\xff", "\xff\xff"}
	for i, a := range strs {
		for j, b := range strs {
			ea, eb := escape(nil, a), escape(nil, b)
			if got, want := bytes.Compare(ea, eb), cmpInt(i, j); got != want {
				t.Errorf("compare(escape(%q), escape(%q)) = %d, want %d", a, b, got, want)
			}
			if i != j && bytes.HasPrefix(eb, ea) {
				t.Errorf("escape(%q) is a prefix of escape(%q)", a, b)
			}
		}
		s, rest, err := unescape(append(escape(nil, a), "tail"...))
		if err != nil || s != a || string(rest) != "tail" {
			t.Errorf("unescape(escape(%q)) = %q, %q, %v", a, s, rest, err)
		}
	}
	for _, bad := range []string{"", "abc", "a\x00", "a\x00\x02"} {
		if _, _, err := unescape([]byte(bad)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("unescape(%q): err = %v, want ErrCorrupt", bad, err)
		}
	}
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestSuccessor(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a", "b"}, {"a/", "a0"}, {"a\xff", "b"}, {"a\xff\xff", "b"}, {"\xff", ""}, {"", ""},
	}
	for _, tt := range tests {
		got := successor([]byte(tt.in))
		if string(got) != tt.want || (tt.want == "") != (got == nil) {
			t.Errorf("successor(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzDecode checks that no stored value makes a decoder panic or fail
// with anything but ErrCorrupt.
func FuzzDecode(f *testing.F) {
	f.Add(encodeEntry(&Entry{Size: 5, ETag: "x", Generation: 3, Record: []byte("r"), ModTime: time.Unix(5, 6)}))
	f.Add(encodeUpload(&Upload{Bucket: "b", Key: "k", Record: []byte("r")}))
	f.Add(encodePart(&Part{Size: 1, ETag: "e"}))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, v []byte) {
		if _, err := decodeEntry("b", "k", v); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("entry error %v is not ErrCorrupt", err)
		}
		if _, err := decodeUpload("u", v); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("upload error %v is not ErrCorrupt", err)
		}
		if _, err := decodePart(1, v); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("part error %v is not ErrCorrupt", err)
		}
		if _, err := decodeVersion("b", "k", "v", 1, v); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("version error %v is not ErrCorrupt", err)
		}
		if _, err := decodeBucketVersioning("b", v); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("bucket versioning error %v is not ErrCorrupt", err)
		}
		if _, err := decodeBucket("b", v); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("bucket error %v is not ErrCorrupt", err)
		}
		_, _, _ = unescape(v)
	})
}
