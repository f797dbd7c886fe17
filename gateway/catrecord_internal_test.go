package gateway

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/gateway/checksum"
	"github.com/twincrypt/twincrypt/gateway/seal"
)

// fullRecord returns an object record with every field of an object's or
// version's record set.
func fullRecord() *record {
	hdr := bytes.Repeat([]byte{0xab}, seal.HeaderSize)
	return &record{
		Version: recordVersion, Kind: kindObject, Bucket: "bucket", Key: "dir/ключ 🙂\x00end",
		Size: 5<<20 + 3, ETag: "0123456789abcdef0123456789abcdef-2",
		ModTime:    time.Date(2026, 11, 29, 23, 45, 1, 123456789, time.UTC),
		Generation: 1795996210434768881,
		Meta:       map[string]string{"x-amz-meta-a": "1", "content-type": "text/plain", "": "empty key"},
		Props:      map[string]string{"{DAV:}displayname": "n"},
		Tags:       map[string]string{"t": "", "k2": "v2"},
		Parts: []partRecord{
			{Blob: "00112233445566778899aabbccddeeff", Size: 5 << 20, ETag: "fedcba9876543210fedcba9876543210", Header: hdr, Sum: []byte{1, 2, 3, 4}},
			{Blob: "ffeeddccbbaa99887766554433221100", Size: 3, ETag: "00000000000000000000000000000000", Header: hdr, Sum: []byte{5, 6, 7, 8}, Data: []byte("sealed data after the header")},
		},
		Checksum:  &checksumRecord{Alg: checksum.CRC32, Type: checksum.Composite, Sum: []byte{9, 9, 9, 9}, Parts: 2},
		VersionID: "0123456789abcdef0123456789abcdef", Seq: 42,
		Retention: &retentionRecord{Mode: "GOVERNANCE", Until: time.Date(2027, 1, 2, 3, 4, 5, 0, time.FixedZone("", 2*3600))},
		LegalHold: true,
	}
}

// TestCompactRoundTrip checks that the compact encoding of the catalog
// form keeps every field of a record: the decoded record has the JSON
// encoding of the original, byte for byte.
func TestCompactRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		edit func(r *record)
	}{
		{"full", func(r *record) {}},
		{"minimal", func(r *record) { *r = record{Version: recordVersion, Kind: kindObject, Bucket: "b", Key: "k"} }},
		{"delete marker", func(r *record) {
			*r = record{Version: recordVersion, Kind: kindDeleteMarker, Bucket: "b", Key: "k", VersionID: "v", Seq: 1, Generation: 2, ModTime: time.Unix(1, 0).UTC()}
		}},
		{"zero time", func(r *record) { r.ModTime = time.Time{} }},
		{"time before 1970", func(r *record) { r.ModTime = time.Date(1901, 1, 1, 0, 0, 0, 1, time.UTC) }},
		{"negative zone", func(r *record) { r.ModTime = r.ModTime.In(time.FixedZone("", -(9*3600 + 30*60))) }},
		{"etag not hex", func(r *record) { r.ETag = "not an md5" }},
		{"etag upper-case hex", func(r *record) { r.ETag = "0123456789ABCDEF0123456789ABCDEF" }},
		{"etag plain md5", func(r *record) { r.ETag = "0123456789abcdef0123456789abcdef" }},
		{"etag part count with a sign", func(r *record) { r.ETag = "0123456789abcdef0123456789abcdef-+2" }},
		{"etag part count with a leading zero", func(r *record) { r.ETag = "0123456789abcdef0123456789abcdef-02" }},
		{"etag without a part count", func(r *record) { r.ETag = "0123456789abcdef0123456789abcdef-" }},
		{"empty etag", func(r *record) { r.ETag = "" }},
		{"blob id not hex", func(r *record) { r.Parts[0].Blob = "zz" }},
		{"blob id of 15 bytes", func(r *record) { r.Parts[0].Blob = "00112233445566778899aabbccddee" }},
		{"nil header", func(r *record) { r.Parts[0].Header = nil }},
		{"empty header", func(r *record) { r.Parts[0].Header = []byte{} }},
		{"no parts", func(r *record) { r.Parts = nil }},
		{"empty maps", func(r *record) {
			r.Meta, r.Props, r.Tags = map[string]string{}, map[string]string{}, map[string]string{}
		}},
		{"upload checksum without a sum", func(r *record) { r.Checksum = &checksumRecord{Type: checksum.FullObject} }},
		{"no checksum", func(r *record) { r.Checksum = nil }},
		{"no retention", func(r *record) { r.Retention = nil; r.LegalHold = false }},
		{"null version", func(r *record) { r.VersionID = NullVersion; r.Seq = 0 }},
		{"bucket fields", func(r *record) {
			r.Owner = "alice"
			r.CORS = []CORSRule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}}}
			r.Versioning = &versioningRecord{Status: "Enabled"}
		}},
		{"unknown kind", func(r *record) { r.Kind = "future" }},
		{"negative size", func(r *record) { r.Size = -1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := fullRecord()
			tc.edit(r)
			want, err := json.Marshal(leftToProviders(r))
			if err != nil {
				t.Fatal(err)
			}
			b, err := encodeCompact(r, 7)
			if err != nil {
				t.Fatal(err)
			}
			back, kek, err := decodeCompact(b)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(back)
			if !bytes.Equal(got, want) || kek != 7 {
				t.Errorf("round trip (kek %d):\n got %s\nwant %s", kek, got, want)
			}
			for i := range back.Parts {
				if back.Parts[i].onProviders != r.Parts[i].inline() {
					t.Errorf("part %d: left to the providers %v, inline %v", i, back.Parts[i].onProviders, r.Parts[i].inline())
				}
			}
			// Every proper prefix is an error, never a panic or a
			// shorter record.
			for n := range b {
				if _, _, err := decodeCompact(b[:n]); !errors.Is(err, ErrCorruptRecord) {
					t.Fatalf("prefix of %d of %d bytes: %v, want ErrCorruptRecord", n, len(b), err)
				}
			}
			if _, _, err := decodeCompact(append(bytes.Clone(b), 0)); !errors.Is(err, ErrCorruptRecord) {
				t.Errorf("trailing byte: %v, want ErrCorruptRecord", err)
			}
		})
	}
}

// mustJSON returns the JSON of r.
func mustJSON(t *testing.T, r *record) []byte {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// leftToProviders returns a copy of r as its catalog form keeps it: the
// inline parts without their header and data, which the providers' sealed
// record holds.
func leftToProviders(r *record) *record {
	c := *r
	c.Parts = slices.Clone(r.Parts)
	for i := range c.Parts {
		if p := &c.Parts[i]; p.inline() {
			p.Header, p.Data = nil, nil
		}
	}
	return &c
}

// catTestNamespace returns a namespace with the keys of the object-format
// vectors and a catalog key, and a sealed record of r bound to the name
// of r.
func catTestNamespace(t *testing.T, r *record) (*Namespace, []byte, seal.ObjectID) {
	t.Helper()
	ns := vectorNamespace()
	ns.names = names{key: *ns.keys.NameKey()}
	_, id := ns.names.version(r.Bucket, r.Key, r.VersionID)
	sealed, err := ns.sealRecord(r, id)
	if err != nil {
		t.Fatal(err)
	}
	return ns, sealed, id
}

// TestCatRecordIntegrity checks that a catalog record opens only intact
// and under its own name: every flipped bit, every truncation, another
// object id and another catalog key are integrity errors.
func TestCatRecordIntegrity(t *testing.T) {
	r := fullRecord()
	ns, sealed, id := catTestNamespace(t, r)
	b, err := ns.encodeCatRecord(r, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if isSealedForm(b) || b[0] != catFormat {
		t.Fatalf("catalog form starts with %x", b[:4])
	}
	got, err := ns.openRecord(b, id)
	if err != nil {
		t.Fatal(err)
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(leftToProviders(r))
	if !bytes.Equal(gj, wj) || !got.catalogForm || got.sealKEK != 7 {
		t.Errorf("opened %s (catalog form %v, kek %d), want %s", gj, got.catalogForm, got.sealKEK, wj)
	}
	// Filled from the sealed record the digest names, it is the record.
	if err := ns.fillInline(got, sealed, id); err != nil {
		t.Fatal(err)
	}
	if gj, _ := json.Marshal(got); !bytes.Equal(gj, mustJSON(t, r)) || got.unloaded() {
		t.Errorf("filled: %s", gj)
	}
	if l, _ := ns.openRecord(b, id); !l.unloaded() {
		t.Fatal("the opened record has nothing to load")
	} else if _, err := ns.sealRecord(l, id); !errors.Is(err, errInlineNotLoaded) {
		t.Errorf("sealing a record not loaded: %v, want errInlineNotLoaded", err)
	}
	if !sameRecord(sealed, b) {
		t.Error("the sealed record does not match its catalog form's digest")
	}
	other := bytes.Clone(sealed)
	other[len(other)-1] ^= 1
	if sameRecord(other, b) {
		t.Error("a changed sealed record matches the digest")
	}
	for i := range b {
		for _, bit := range []byte{0x01, 0x80} {
			c := bytes.Clone(b)
			c[i] ^= bit
			if _, err := ns.openRecord(c, id); !errors.Is(err, ErrIntegrity) {
				t.Fatalf("byte %d flipped (%#x): %v, want ErrIntegrity", i, bit, err)
			}
		}
	}
	for n := range b {
		if _, err := ns.openRecord(b[:n], id); err == nil {
			t.Fatalf("truncated to %d bytes: opened", n)
		}
	}
	_, moved := ns.names.version(r.Bucket, r.Key+"x", r.VersionID)
	if _, err := ns.openRecord(b, moved); !errors.Is(err, ErrIntegrity) {
		t.Errorf("under another name: %v, want ErrIntegrity", err)
	}
	_, nullID := ns.names.version(r.Bucket, r.Key, "")
	if _, err := ns.openRecord(b, nullID); !errors.Is(err, ErrIntegrity) {
		t.Errorf("as another version: %v, want ErrIntegrity", err)
	}
	otherKey := &Namespace{keys: &otherCatalogKey{vectorKeySource: *ns.keys.(*vectorKeySource)}}
	if _, err := otherKey.openRecord(b, id); !errors.Is(err, ErrIntegrity) {
		t.Errorf("under another catalog key: %v, want ErrIntegrity", err)
	}
	// The same record has the same catalog form (synthetic nonce); a
	// record sealed anew has another digest and so another form.
	again, _ := ns.encodeCatRecord(r, sealed)
	if !bytes.Equal(again, b) {
		t.Error("the catalog form of the same sealed record differs")
	}
	// The sealed form (catalogs written before the catalog form) still
	// opens, and matches itself only.
	old, err := ns.openRecord(sealed, id)
	if err != nil || old.catalogForm {
		t.Fatalf("sealed form: %v (catalog form %v)", err, old != nil && old.catalogForm)
	}
	if oj, _ := json.Marshal(old); !bytes.Equal(oj, mustJSON(t, r)) {
		t.Errorf("sealed form opened as %s", oj)
	}
	if !sameRecord(sealed, sealed) || sameRecord(other, sealed) {
		t.Error("sameRecord on the sealed form")
	}
	// A provider never gets to hand a catalog form to openStoredRecord.
	name, _ := ns.names.version(r.Bucket, r.Key, r.VersionID)
	if _, err := ns.openStoredRecord(name, b); err == nil {
		t.Error("a catalog form opened as a provider's record")
	}
}

// otherCatalogKey is vectorKeySource with another catalog key.
type otherCatalogKey struct{ vectorKeySource }

func (k *otherCatalogKey) CatalogKey() *[32]byte { return new([32]byte) }

// catVector is the test vector of docs/FORMAT.md, "Catalog records".
type catVector struct {
	CatalogKey string `json:"catalog_key"` // hex
	ObjectID   string `json:"object_id"`   // hex: the id the record is bound to
	Record     string `json:"record"`      // the record, as JSON
	Sealed     string `json:"sealed"`      // hex: the providers' sealed record
	Digest     string `json:"digest"`      // hex: the first 16 bytes of SHA-256(sealed)
	Fields     string `json:"fields"`      // hex: the compact encoding of the record
	Catalog    string `json:"catalog"`     // hex: the catalog form
}

// legacyCatalogVector is the vector's record in the catalog form that
// catalogs hold which were written while the catalog form kept inline
// blobs (part flag bit 1 clear: the part's hdr and data in the fields).
const legacyCatalogVector = "01f19392e4b7b77765d43a68001c00bb8cdda69c9e54b8697e61572414dcd8cd567d2228b8e08066f64aa51caa3b786df98d2e615d2bcbbc2f54294bc6e9fac5f8ebdf86d31a5b4cd9cf086df611a0b5f600c996b8b3258b9d6245dcc6c548534b13024debb1c71c6f0ed93cf64f9bc04aa7385fd9927944a5519a17ea4aae743e794e4c9074f9228b08ad4aae07f397179389eda69e591619aac7fc08f63ea9863b4dabf72b2702b6a95af7bbcad644923cfc0f1a0d8e3b"

// TestCatalogRecordVector checks testdata/catalog-record-vector.json
// against the package (the catalog form of the vector's sealed record, its
// compact fields, and that it opens to the record), the catalog form again
// against AES-GCM, HKDF and HMAC as docs/FORMAT.md, "Catalog records",
// spells them, and that the page shows the vector.
func TestCatalogRecordVector(t *testing.T) {
	path := filepath.Join("testdata", "catalog-record-vector.json")
	r := &record{Version: recordVersionGen, Kind: kindObject, Bucket: "bucket", Key: "k", Size: 1,
		ETag: "93b885adfe0da089cdf634904fd59f71", ModTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Generation: 7,
		Meta:     map[string]string{"content-type": "text/plain"},
		Parts:    []partRecord{{Blob: "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", Size: 1, Header: []byte{0, 0, 0, 0}, Data: []byte{1, 2, 3}}},
		Checksum: &checksumRecord{Alg: checksum.CRC64NVME, Type: checksum.FullObject, Sum: []byte{1, 2, 3, 4, 5, 6, 7, 8}}}
	ns, sealed, id := catTestNamespace(t, r)
	fields, err := encodeCompact(r, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ns.encodeCatRecord(r, sealed)
	if err != nil {
		t.Fatal(err)
	}
	rj, _ := json.Marshal(r)
	d := recordDigest(sealed)
	make := catVector{CatalogKey: hex.EncodeToString(ns.keys.CatalogKey()[:]), ObjectID: hex.EncodeToString(id[:]),
		Record: string(rj), Sealed: hex.EncodeToString(sealed), Digest: hex.EncodeToString(d[:]), Fields: hex.EncodeToString(fields), Catalog: hex.EncodeToString(b)}
	var v catVector
	vectorFile(t, path, make, &v)
	if v != make {
		t.Fatalf("vector differs from the package:\nfile %+v\n pkg %+v", v, make)
	}
	cb, _ := hex.DecodeString(v.Catalog)
	got, err := ns.openRecord(cb, id)
	if err != nil {
		t.Fatal(err)
	}
	// It leaves the inline part's header and data to the sealed record,
	// and, filled from it, is the record.
	if gj := mustJSON(t, got); !bytes.Equal(gj, mustJSON(t, leftToProviders(r))) || !got.unloaded() {
		t.Errorf("vector opens to %s", gj)
	}
	if err := ns.fillInline(got, sealed, id); err != nil {
		t.Fatal(err)
	}
	if gj := mustJSON(t, got); string(gj) != v.Record {
		t.Errorf("vector, filled, opens to %s", gj)
	}
	// The catalog form of the same record (as it was written before
	// records of keys were named by generation, "v":1) in catalogs
	// written before inline blobs were left to the providers holds it
	// (the blob in the fields): it opens to the whole record.
	lb, _ := hex.DecodeString(legacyCatalogVector)
	v1 := strings.Replace(v.Record, `"v":2`, `"v":1`, 1)
	l, err := ns.openRecord(lb, id)
	if err != nil || l.unloaded() || string(mustJSON(t, l)) != v1 {
		t.Fatalf("catalog form with the inline blob: %v", err)
	}
	// migrate-catalog's conversion keeps it: those bytes may be the only
	// copy that matches it.
	if conv := CatalogFormConverter(ns.keys)(r.Bucket, r.Key, r.VersionID, lb); !bytes.Equal(conv, lb) {
		t.Errorf("converted catalog form %x, want it kept as it was", conv)
	}
	if !strings.HasPrefix(v.Catalog, "01") || len(cb) != catHeaderSize+len(fields)+16 {
		t.Errorf("catalog form of %d bytes, fields %d", len(cb), len(fields))
	}
	// Again from the spec.
	hx := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ck, sb, oid, fb := hx(v.CatalogKey), hx(v.Sealed), hx(v.ObjectID), hx(v.Fields)
	sum := sha256.Sum256(sb)
	if !bytes.Equal(sum[:16], hx(v.Digest)) {
		t.Error("digest is not the first 16 bytes of SHA-256(sealed)")
	}
	enc, _ := hkdf.Key(sha256.New, ck, nil, "twincrypt catalog record v1 enc", 32)
	nk, _ := hkdf.Key(sha256.New, ck, nil, "twincrypt catalog record v1 nonce", 32)
	ad := append([]byte("twincrypt catalog record v1\x00\x01"), sum[:16]...)
	ad = append(ad, oid...)
	m := hmac.New(sha256.New, nk)
	m.Write(ad)
	m.Write(fb)
	nonce := m.Sum(nil)[:12]
	blk, _ := aes.NewCipher(enc)
	gcm, _ := cipher.NewGCM(blk)
	spec := append(append([]byte{1}, sum[:16]...), nonce...)
	spec = gcm.Seal(spec, nonce, fb, ad)
	if !bytes.Equal(spec, cb) {
		t.Errorf("catalog form from the spec:\n%x\nwant\n%x", spec, cb)
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "FORMAT.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{v.CatalogKey, v.ObjectID, v.Record, v.Digest, v.Fields, v.Catalog} {
		if !strings.Contains(string(doc), s) {
			t.Errorf("docs/FORMAT.md lacks %s", s)
		}
	}
}

// TestCompactMutated sets every byte of a full record's compact encoding
// to every value: each result decodes to a record or fails with
// ErrCorruptRecord (a bad kind, hex form, time, map key order, flag, KEK id,
// JSON field or version), never a panic or another error.
func TestCompactMutated(t *testing.T) {
	b, err := encodeCompact(fullRecord(), 7)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for i := range b {
		for v := range 256 {
			c := bytes.Clone(b)
			c[i] = byte(v)
			if _, _, err := decodeCompact(c); err != nil {
				if !errors.Is(err, ErrCorruptRecord) {
					t.Fatalf("byte %d set to %#x: %v, want ErrCorruptRecord", i, v, err)
				}
				failed++
			}
		}
	}
	if failed == 0 {
		t.Fatal("no mutation was refused")
	}
}
