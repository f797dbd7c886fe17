package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateVectors = flag.Bool("update-vectors", false, "rewrite the test vectors in testdata/")

// vectorFile writes made, as indented JSON, to path when -update-vectors
// is set, and then reads path into out, a pointer: what a vector test
// compares with what the package makes.
func vectorFile(t *testing.T, path string, made, out any) {
	t.Helper()
	if *updateVectors {
		b, _ := json.MarshalIndent(made, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}

// versionVectors are the test vectors of docs/FORMAT.md, "Versions".
type versionVectors struct {
	NameKey     string `json:"name_key"` // hex
	Bucket      string `json:"bucket"`
	Key         string `json:"key"`
	VersionID   string `json:"version_id"`
	VersionName string `json:"version_name"` // the record name of the version
	NullName    string `json:"null_name"`    // the record name of the null version: the key's own
	Object      string `json:"object"`       // plaintext of the version's record, unpadded
	Marker      string `json:"marker"`       // plaintext of a delete marker's record
	Tombstone   string `json:"tombstone"`    // plaintext of the version's tombstone
}

func makeVersionVectors(t *testing.T, v versionVectors) versionVectors {
	t.Helper()
	var n names
	k, err := hex.DecodeString(v.NameKey)
	if err != nil || len(k) != len(n.key) {
		t.Fatalf("name key %q", v.NameKey)
	}
	copy(n.key[:], k)
	v.VersionName, _ = n.version(v.Bucket, v.Key, v.VersionID)
	v.NullName, _ = n.version(v.Bucket, v.Key, NullVersion)
	mtime := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	gen := uint64(1795953600000000000)
	// enc seals r as the package does (which sets its version: every
	// record here is a record of a key, docs/FORMAT.md, "Records on a
	// backend"), checks that it opens under the name of its generation,
	// and returns its JSON.
	enc := func(r *record) string {
		ns := vectorNamespace()
		ns.names = n
		base, id := n.version(r.Bucket, r.Key, r.VersionID)
		sealed, err := ns.sealRecord(r, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ns.openStoredRecord(storedName(base, r), sealed); err != nil {
			t.Fatalf("%s record under %s: %v", r.Kind, storedName(base, r), err)
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	v.Object = enc(&record{Kind: kindObject, Bucket: v.Bucket, Key: v.Key, Size: 5, ETag: "5d41402abc4b2a76b9719d911017c592",
		ModTime: mtime, Generation: gen + 7, VersionID: v.VersionID, Seq: gen,
		Meta:      map[string]string{"Content-Type": "text/plain"},
		Retention: &retentionRecord{Mode: RetainCompliance, Until: mtime.AddDate(1, 0, 0)}, LegalHold: true,
		Parts: []partRecord{{Blob: "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", Size: 5, Header: make([]byte, 4)}}})
	v.Marker = enc(&record{Kind: kindDeleteMarker, Bucket: v.Bucket, Key: v.Key, ModTime: mtime.Add(time.Hour),
		Generation: gen + 3600e9, VersionID: "fedcba9876543210fedcba9876543210", Seq: gen + 3600e9})
	v.Tombstone = enc(&record{Kind: kindTombstone, Bucket: v.Bucket, Key: v.Key, ModTime: mtime.Add(2 * time.Hour),
		Generation: gen + 7200e9, VersionID: v.VersionID})
	return v
}

// TestVersionVectors checks testdata/version-vectors.json (and so
// docs/FORMAT.md) against the package, and the names again against an
// HMAC written from the spec with the standard library alone.
func TestVersionVectors(t *testing.T) {
	path := filepath.Join("testdata", "version-vectors.json")
	in := versionVectors{NameKey: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		Bucket: "photos", Key: "2026/cat.jpg", VersionID: "0123456789abcdef0123456789abcdef"}
	var want versionVectors
	vectorFile(t, path, makeVersionVectors(t, in), &want)
	if got := makeVersionVectors(t, want); got != want {
		t.Errorf("vectors differ from the package:\n got %+v\nwant %+v", got, want)
	}
	// The names, from the spec alone.
	key, _ := hex.DecodeString(want.NameKey)
	m := hmac.New(sha256.New, key)
	m.Write([]byte("twincrypt version name v1\x00"))
	m.Write(binary.BigEndian.AppendUint16(nil, uint16(len(want.Bucket))))
	m.Write([]byte(want.Bucket))
	m.Write(binary.BigEndian.AppendUint16(nil, uint16(len(want.Key))))
	m.Write([]byte(want.Key))
	m.Write([]byte(want.VersionID))
	if got := "m/" + hex.EncodeToString(m.Sum(nil)); got != want.VersionName {
		t.Errorf("version name from the spec %s, vector %s", got, want.VersionName)
	}
	m = hmac.New(sha256.New, key)
	m.Write([]byte("twincrypt meta name v1\x00"))
	m.Write(binary.BigEndian.AppendUint16(nil, uint16(len(want.Bucket))))
	m.Write([]byte(want.Bucket))
	m.Write([]byte(want.Key))
	if got := "m/" + hex.EncodeToString(m.Sum(nil)); got != want.NullName {
		t.Errorf("null version name from the spec %s, vector %s", got, want.NullName)
	}
	// docs/FORMAT.md shows the same values.
	doc, err := os.ReadFile(filepath.Join("..", "docs", "FORMAT.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{want.VersionName, want.NullName, want.Object, want.Marker, want.Tombstone} {
		if !strings.Contains(string(doc), s) {
			t.Errorf("docs/FORMAT.md lacks %s", s)
		}
	}
}
