package gateway

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/gateway/seal"
)

// genNameVector is the test vector of docs/FORMAT.md, "Records on a
// backend": the names of the records of a key named by generation.
type genNameVector struct {
	NameKey     string `json:"name_key"` // hex
	Bucket      string `json:"bucket"`
	Key         string `json:"key"`
	VersionID   string `json:"version_id"`
	Generation  uint64 `json:"generation"`
	BaseName    string `json:"base_name"`    // the key's name: a bucket's or a legacy record's
	GenName     string `json:"gen_name"`     // the name of the key's record of Generation
	VersionName string `json:"version_name"` // the name of the version's record of Generation
}

// makeGenNameVector fills in the names of v with the package.
func makeGenNameVector(t *testing.T, v genNameVector) genNameVector {
	t.Helper()
	n := vectorNames(t, v.NameKey)
	base, _ := n.meta(v.Bucket, v.Key)
	vbase, _ := n.version(v.Bucket, v.Key, v.VersionID)
	v.BaseName = base
	v.GenName = genName(base, v.Generation)
	v.VersionName = genName(vbase, v.Generation)
	return v
}

// vectorNames returns the names under the hex name key k.
func vectorNames(t *testing.T, k string) names {
	t.Helper()
	var n names
	b, err := hex.DecodeString(k)
	if err != nil || len(b) != len(n.key) {
		t.Fatalf("name key %q", k)
	}
	copy(n.key[:], b)
	return n
}

// TestGenNameVector checks testdata/gen-name-vector.json (and so
// docs/FORMAT.md) against the package (genName, storedName and
// parseMetaName, which refuses every other form of a name), the names
// again against an HMAC written from the spec with the standard library
// alone, and that a record opens under its own generation's name only.
func TestGenNameVector(t *testing.T) {
	path := filepath.Join("testdata", "gen-name-vector.json")
	in := genNameVector{NameKey: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		Bucket: "photos", Key: "2026/cat.jpg", VersionID: "0123456789abcdef0123456789abcdef", Generation: 1795953600000000007}
	var want genNameVector
	vectorFile(t, path, makeGenNameVector(t, in), &want)
	if want.NameKey != in.NameKey || want.Bucket != in.Bucket || want.Key != in.Key || want.VersionID != in.VersionID || want.Generation != in.Generation {
		t.Fatalf("vector inputs %+v, want %+v", want, in)
	}
	if got := makeGenNameVector(t, want); got != want {
		t.Errorf("vector differs from the package:\n got %+v\nwant %+v", got, want)
	}

	// storedName: a record of version 2 under its generation's name, of
	// version 1 under the key's name alone.
	if got := storedName(want.BaseName, &record{Version: recordVersionGen, Generation: want.Generation}); got != want.GenName {
		t.Errorf("storedName of a version 2 record: %s, want %s", got, want.GenName)
	}
	if got := storedName(want.BaseName, &record{Version: recordVersion, Generation: want.Generation}); got != want.BaseName {
		t.Errorf("storedName of a version 1 record: %s, want %s", got, want.BaseName)
	}

	// The names from the spec alone.
	key, _ := hex.DecodeString(want.NameKey)
	m := hmac.New(sha256.New, key)
	m.Write([]byte("twincrypt meta name v1\x00"))
	m.Write(binary.BigEndian.AppendUint16(nil, uint16(len(want.Bucket))))
	m.Write([]byte(want.Bucket))
	m.Write([]byte(want.Key))
	keyHash := m.Sum(nil)
	m = hmac.New(sha256.New, key)
	m.Write([]byte("twincrypt version name v1\x00"))
	m.Write(binary.BigEndian.AppendUint16(nil, uint16(len(want.Bucket))))
	m.Write([]byte(want.Bucket))
	m.Write(binary.BigEndian.AppendUint16(nil, uint16(len(want.Key))))
	m.Write([]byte(want.Key))
	m.Write([]byte(want.VersionID))
	versionHash := m.Sum(nil)
	genHex := hex.EncodeToString(binary.BigEndian.AppendUint64(nil, want.Generation))
	for _, c := range []struct{ what, got, want string }{
		{"base name", "m/" + hex.EncodeToString(keyHash), want.BaseName},
		{"generation name", "m/" + hex.EncodeToString(keyHash) + genHex, want.GenName},
		{"version name", "m/" + hex.EncodeToString(versionHash) + genHex, want.VersionName},
	} {
		if c.got != c.want {
			t.Errorf("%s from the spec %s, vector %s", c.what, c.got, c.want)
		}
	}
	if len(want.GenName) != len("m/")+80 || len(genHex) != 16 {
		t.Errorf("generation name of %d bytes, suffix %q", len(want.GenName), genHex)
	}

	// parseMetaName: both forms round trip; the set key is hash || gen,
	// so that keys sort as names do.
	for _, c := range []struct {
		name string
		hash []byte
		gen  uint64
	}{
		{want.BaseName, keyHash, 0},
		{want.GenName, keyHash, want.Generation},
		{want.VersionName, versionHash, want.Generation},
	} {
		p, ok := parseMetaName(c.name)
		if !ok || !bytes.Equal(p.hash[:], c.hash) || p.gen != c.gen {
			t.Errorf("parseMetaName(%s) = %x, %d, %v; want %x, %d", c.name, p.hash, p.gen, ok, c.hash, c.gen)
			continue
		}
		if k := p.key(); !bytes.Equal(k, binary.BigEndian.AppendUint64(bytes.Clone(c.hash), c.gen)) {
			t.Errorf("key of %s: %x", c.name, k)
		}
		if c.gen != 0 && genName("m/"+hex.EncodeToString(p.hash[:]), p.gen) != c.name {
			t.Errorf("%s does not round trip", c.name)
		}
	}
	base, _ := parseMetaName(want.BaseName)
	gen, _ := parseMetaName(want.GenName)
	if bytes.Compare(base.key(), gen.key()) >= 0 || want.BaseName >= want.GenName {
		t.Error("the key's name does not sort before its generation's")
	}
	hashHex := want.GenName[2:66]
	for _, bad := range []string{
		"m/" + strings.ToUpper(want.GenName[2:]),
		"m/" + hashHex + strings.ToUpper(genHex),
		"m/" + strings.ToUpper(hashHex),
		"m/" + hashHex + genHex[1:],
		"m/" + hashHex + genHex + "0",
		"m/" + hashHex + "0000000000000000",
		"m/" + hashHex[1:],
		"m/" + hashHex + "0",
		"m/" + hashHex + genHex[:15] + "g",
		"b/" + hashHex + genHex,
		"m/" + hashHex + "/" + genHex[1:],
	} {
		if p, ok := parseMetaName(bad); ok {
			t.Errorf("parseMetaName(%q) = %x, %d: accepted", bad, p.hash, p.gen)
		}
	}

	// A record opens under its own generation's name only: not under the
	// key's name, not under another generation's, not as version 1.
	ns := vectorNamespace()
	ns.names = vectorNames(t, want.NameKey)
	_, id := ns.names.meta(want.Bucket, want.Key)
	r := &record{Kind: kindObject, Bucket: want.Bucket, Key: want.Key, ModTime: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC), Generation: want.Generation}
	sealed, err := ns.sealRecord(r, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != recordVersionGen {
		t.Fatalf("a record of a key sealed with version %d", r.Version)
	}
	if got, err := ns.openStoredRecord(want.GenName, sealed); err != nil || got.Generation != want.Generation {
		t.Fatalf("under its own name: %v", err)
	}
	for _, other := range []string{want.BaseName, genName(want.BaseName, want.Generation+1), genName(want.BaseName, want.Generation-1), genName(want.BaseName, 1)} {
		if _, err := ns.openStoredRecord(other, sealed); !errors.Is(err, ErrCorruptRecord) {
			t.Errorf("under %s: %v, want ErrCorruptRecord", other, err)
		}
	}
	// sealRaw seals r as it is (sealRecord sets the version itself).
	sealRaw := func(r *record, id seal.ObjectID) []byte {
		t.Helper()
		plain, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		s, err := seal.NewSealer(ns.keys, id, bytes.NewReader(bytes.Repeat([]byte{7}, 128)))
		if err != nil {
			t.Fatal(err)
		}
		return s.Seal(nil, padRecord(plain))
	}
	// A record of version 1 (written before) opens under the key's name
	// alone.
	r.Version = recordVersion
	legacy := sealRaw(r, id)
	if _, err := ns.openStoredRecord(want.BaseName, legacy); err != nil {
		t.Errorf("a version 1 record under the key's name: %v", err)
	}
	if _, err := ns.openStoredRecord(want.GenName, legacy); !errors.Is(err, ErrCorruptRecord) {
		t.Errorf("a version 1 record under a generation's name: %v, want ErrCorruptRecord", err)
	}
	// A record of version 2 with generation 0 has no name, and a bucket
	// record of version 2 does not exist.
	zero := *r
	zero.Version, zero.Generation = recordVersionGen, 0
	for _, name := range []string{want.BaseName, want.BaseName + "0000000000000000"} {
		if _, err := ns.openStoredRecord(name, sealRaw(&zero, id)); !errors.Is(err, ErrCorruptRecord) {
			t.Errorf("a version 2 record of generation 0 under %s: %v, want ErrCorruptRecord", name, err)
		}
	}
	bucketName, bucketID := ns.names.meta(want.Bucket, "")
	bucket := &record{Version: recordVersionGen, Kind: kindBucket, Bucket: want.Bucket, Generation: want.Generation}
	for _, name := range []string{bucketName, genName(bucketName, want.Generation)} {
		if _, err := ns.openStoredRecord(name, sealRaw(bucket, bucketID)); !errors.Is(err, ErrCorruptRecord) {
			t.Errorf("a version 2 bucket record under %s: %v, want ErrCorruptRecord", name, err)
		}
	}

	// docs/FORMAT.md shows the same values.
	doc, err := os.ReadFile(filepath.Join("..", "docs", "FORMAT.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{want.BaseName, want.GenName, want.VersionName, fmt.Sprint(want.Generation), genHex} {
		if !strings.Contains(string(doc), s) {
			t.Errorf("docs/FORMAT.md lacks %s", s)
		}
	}
}
