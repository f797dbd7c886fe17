package gateway

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/checksum"
	"github.com/twincrypt/twincrypt/gateway/seal"
	"github.com/twincrypt/twincrypt/internal/binfield"
)

// The catalog form of a meta record (docs/FORMAT.md, "Catalog records").
// The catalog holds, for objects and versions, not the sealed record the
// providers hold but a compact encryption of its fields under the catalog
// key, with a digest of the providers' sealed bytes:
//
//	format (1) | digest (16) | nonce (12) | AES-256-GCM(enc key, nonce, fields, AD)
//	AD    = "twincrypt catalog record v1\x00" | format | digest | object id (16)
//	nonce = HMAC-SHA-256(nonce key, AD | fields)[:12]
//
// The enc and nonce keys are HKDF-SHA-256 of the catalog key. The nonce
// is synthetic: it is a function of everything encrypted, so the same
// record always has the same catalog form (a rebuilt catalog holds the
// bytes the original held) and two different plaintexts never share a
// nonce.
//
// A sealed record starts with seal.Magic ("TWCO"), never with catFormat:
// the first byte tells the two forms apart, and a catalog written before
// the catalog form existed reads as it is.
const (
	catFormat     byte = 0x01
	catDigestSize      = 16
	catNonceSize       = 12
	catHeaderSize      = 1 + catDigestSize + catNonceSize
	catLabel           = "twincrypt catalog record v1\x00"
)

// recordDigest is the digest of a sealed record that its catalog form
// holds: the first 16 bytes of its SHA-256.
func recordDigest(sealed []byte) [catDigestSize]byte {
	h := sha256.Sum256(sealed)
	var d [catDigestSize]byte
	copy(d[:], h[:])
	return d
}

// isSealedForm reports whether a catalog record is a sealed record (the
// providers' bytes, as catalogs written before the catalog form hold).
func isSealedForm(b []byte) bool {
	return len(b) >= len(seal.Magic) && string(b[:len(seal.Magic)]) == seal.Magic
}

// sameRecord reports whether sealed, a provider's copy of a meta record,
// is the record the catalog record rec stands for: the same bytes, or, in
// the catalog form, the same digest. It decrypts nothing.
func sameRecord(sealed, rec []byte) bool {
	if !isSealedForm(rec) {
		if len(rec) < catHeaderSize || rec[0] != catFormat {
			return false
		}
		d := recordDigest(sealed)
		return bytes.Equal(d[:], rec[1:1+catDigestSize])
	}
	return bytes.Equal(sealed, rec)
}

// HKDF info strings of the keys of the catalog form.
const (
	catEncInfo   = "twincrypt catalog record v1 enc"
	catNonceInfo = "twincrypt catalog record v1 nonce"
)

// catKeyCache holds the keys of the catalog form of a Namespace, derived
// on first use.
type catKeyCache struct {
	once  sync.Once
	aead  cipher.AEAD
	nonce []byte
	err   error
}

// catalogKeys returns the AEAD and the nonce key of the catalog form.
func (ns *Namespace) catalogKeys() (cipher.AEAD, []byte, error) {
	c := &ns.catKeys
	c.once.Do(func() { c.aead, c.nonce, c.err = ns.deriveCatKeys() })
	return c.aead, c.nonce, c.err
}

// deriveCatKeys derives the AEAD and the nonce key of the catalog form
// from the catalog key.
func (ns *Namespace) deriveCatKeys() (cipher.AEAD, []byte, error) {
	k := ns.keys.CatalogKey()
	if k == nil {
		return nil, nil, fmt.Errorf("%w: no catalog key", ErrIntegrity)
	}
	enc, err := hkdf.Key(sha256.New, k[:], nil, catEncInfo, 32)
	if err != nil {
		return nil, nil, err
	}
	nk, err := hkdf.Key(sha256.New, k[:], nil, catNonceInfo, 32)
	if err != nil {
		return nil, nil, err
	}
	b, err := aes.NewCipher(enc)
	if err != nil {
		return nil, nil, err
	}
	aead, err := cipher.NewGCM(b)
	return aead, nk, err
}

// catAD is the associated data of a catalog record.
func catAD(format byte, digest []byte, id seal.ObjectID) []byte {
	ad := make([]byte, 0, len(catLabel)+1+len(digest)+len(id))
	ad = append(ad, catLabel...)
	ad = append(ad, format)
	ad = append(ad, digest...)
	return append(ad, id[:]...)
}

// catRecord returns what the catalog keeps of r, whose sealed form the
// providers hold: the catalog form when r is an object or a delete marker,
// else sealed itself (and sealed itself should the catalog form fail,
// which a record that does not encode makes it do).
func (ns *Namespace) catRecord(r *record, sealed []byte) []byte {
	b, err := ns.encodeCatRecordOf(r, sealed)
	if err != nil {
		ns.log.Warn("catalog form of a meta record; the catalog keeps the sealed record", "err", err)
		return sealed
	}
	return b
}

// encodeCatRecordOf returns what the catalog keeps of r, whose sealed form
// is sealed: its catalog form when r is an object or a delete marker, else
// sealed itself.
func (ns *Namespace) encodeCatRecordOf(r *record, sealed []byte) ([]byte, error) {
	if r.Kind != kindObject && r.Kind != kindDeleteMarker {
		return sealed, nil
	}
	return ns.encodeCatRecord(r, sealed)
}

// encodeCatRecord returns the catalog form of r, whose sealed form is
// sealed.
func (ns *Namespace) encodeCatRecord(r *record, sealed []byte) ([]byte, error) {
	h, err := seal.ParseHeader(sealed)
	if err != nil {
		return nil, fmt.Errorf("catalog form: %w", err)
	}
	d := recordDigest(sealed)
	if r.inlineParts() {
		ns.inline.Add(d, sealed)
	}
	return ns.encodeCatFields(r, h.KeyID, d, h.ObjectID)
}

// inlineParts reports whether r has an inline part.
func (r *record) inlineParts() bool {
	return slices.ContainsFunc(r.Parts, func(p partRecord) bool { return p.inline() })
}

// allInline reports whether every part of r is inline: r shares no blob.
func (r *record) allInline() bool {
	return !slices.ContainsFunc(r.Parts, func(p partRecord) bool { return !p.inline() })
}

// encodeCatFields returns the catalog form of r, whose sealed form, bound
// to id and wrapped under the KEK kek, has the digest d.
func (ns *Namespace) encodeCatFields(r *record, kek uint32, d [catDigestSize]byte, id seal.ObjectID) ([]byte, error) {
	aead, nk, err := ns.catalogKeys()
	if err != nil {
		return nil, err
	}
	plain, err := encodeCompact(r, kek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, catHeaderSize, catHeaderSize+len(plain)+aead.Overhead())
	out[0] = catFormat
	copy(out[1:], d[:])
	ad := catAD(catFormat, d[:], id)
	m := hmac.New(sha256.New, nk)
	m.Write(ad)
	m.Write(plain)
	copy(out[1+catDigestSize:catHeaderSize], m.Sum(nil))
	return aead.Seal(out, out[1+catDigestSize:catHeaderSize], plain, ad), nil
}

// openCatRecord authenticates and decodes a record in the catalog form
// that must be bound to the object id id.
func (ns *Namespace) openCatRecord(b []byte, id seal.ObjectID) (*record, error) {
	if len(b) == 0 || b[0] != catFormat {
		return nil, fmt.Errorf("%w: catalog record of unknown format", ErrIntegrity)
	}
	if len(b) < catHeaderSize+16 {
		return nil, fmt.Errorf("%w: catalog record of %d bytes", ErrIntegrity, len(b))
	}
	aead, _, err := ns.catalogKeys()
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, b[1+catDigestSize:catHeaderSize], b[catHeaderSize:], catAD(b[0], b[1:1+catDigestSize], id))
	if err != nil {
		return nil, fmt.Errorf("%w: catalog record does not authenticate (tampered, or moved from another name)", ErrIntegrity)
	}
	r, kek, err := decodeCompact(plain)
	if err != nil {
		return nil, err
	}
	r.catalogForm, r.sealKEK = true, kek
	copy(r.catDigest[:], b[1:1+catDigestSize])
	return r, nil
}

// providerCopy returns a copy of the meta record name that matches the
// catalog record rec: rec itself in the sealed form; in the catalog form,
// the first copy of a member other than skip whose digest matches, nil if
// none does.
func (ns *Namespace) providerCopy(ctx context.Context, members []backends.Backend, skip backends.Backend, name string, rec []byte) []byte {
	if isSealedForm(rec) {
		return rec
	}
	for _, m := range members {
		if m == skip {
			continue
		}
		if b, err := readAll(ctx, m, name); err == nil && sameRecord(b, rec) {
			return b
		}
	}
	return nil
}

// reseal seals r, the record of a catalog entry of an object without
// versions, bound to id, anew under a new generation and writes it to the
// store under its name (base followed by that generation) and then to the
// catalog; once the catalog took it, the record it replaces goes from the
// store. It is what repair does when no provider holds the sealed record a
// catalog entry in the catalog form stands for: the entry and the
// providers agree again. A newer write meanwhile (catalog.ErrStale) wins,
// and the resealed record goes. An inline object whose catalog form leaves
// its blob to the providers can be resealed only from the inline cache:
// when neither a provider nor the cache holds its record, its bytes are
// gone, as a blob is that no provider holds. The caller holds the key's
// lock.
func (ns *Namespace) reseal(ctx context.Context, base string, id seal.ObjectID, r *record) error {
	if r.unloaded() {
		b, ok := ns.inline.Get(r.catDigest)
		if !ok {
			return fmt.Errorf("%w: no provider holds the meta record of inline object %s/%s, and the catalog does not keep its bytes", ErrIntegrity, r.Bucket, r.Key)
		}
		full, err := ns.openSealed(b, id)
		if err != nil {
			return err
		}
		*r = *full
	}
	old := storedName(base, r)
	gen := r.Generation
	r.Generation = ns.nextGeneration(gen)
	sealed, err := ns.sealRecord(r, id)
	if err != nil {
		r.Generation = gen
		return err
	}
	name := storedName(base, r)
	if err := ns.putBytes(ctx, name, sealed); err != nil {
		r.Generation = gen
		return fmt.Errorf("write meta record: %w", err)
	}
	replaced, err := ns.cat.Put(context.WithoutCancel(ctx), ns.entryOf(r, sealed))
	if err != nil {
		ns.dropUncommitted(ctx, recordKey{r.Bucket, r.Key, ""}, name, err)
		r.Generation = gen
		return err
	}
	ns.dropRecord(ctx, ns.replacedName(replaced, old), name)
	ns.log.Info("sealed a meta record anew: no provider held the catalog's", "bucket", r.Bucket, "key", r.Key, "generation", r.Generation)
	return nil
}

// The compact encoding of a record's fields (docs/FORMAT.md, "Catalog
// records"): integers are varints, strings and byte strings are
// uvarint-length-prefixed, hex ids and MD5 ETags are raw bytes.
const compactV1 = 1

// Kind codes of the compact encoding; 0 is a kind spelled out.
var compactKinds = []string{"", kindObject, kindDeleteMarker, kindTombstone, kindBucket}

// Hex string forms of the compact encoding.
const (
	hexLiteral = 0 // the string as it is
	hexRaw16   = 1 // 16 raw bytes: the string is their lower-case hex
	hexRawPart = 2 // 16 raw bytes and a uvarint n: hex "-" n (a multipart ETag)
)

// compactEncoder appends the fields of the compact encoding.
type compactEncoder struct{ binfield.Encoder }

// time encodes t as Unix seconds, nanoseconds and the zone offset in
// seconds (what the record's JSON keeps of a time).
func (e *compactEncoder) time(t time.Time) {
	_, off := t.Zone()
	e.Varint(t.Unix())
	e.Uvarint(uint64(t.Nanosecond()))
	e.Varint(int64(off))
}

func (e *compactEncoder) strMap(m map[string]string) {
	e.Uvarint(uint64(len(m)))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		e.String(k)
		e.String(m[k])
	}
}

// hex16 encodes a string that is normally the hex of 16 bytes, or such
// hex followed by "-n".
func (e *compactEncoder) hex16(s string) {
	h, n, multi := s, uint64(0), false
	if i := strings.IndexByte(s, '-'); i == 32 {
		v, err := strconv.ParseUint(s[i+1:], 10, 64)
		if err == nil && strconv.FormatUint(v, 10) == s[i+1:] {
			h, n, multi = s[:i], v, true
		}
	}
	if raw, err := hex.DecodeString(h); err == nil && len(raw) == 16 && hex.EncodeToString(raw) == h {
		form := byte(hexRaw16)
		if multi {
			form = hexRawPart
		}
		e.Byte(form)
		e.B = append(e.B, raw...)
		if multi {
			e.Uvarint(n)
		}
		return
	}
	e.Byte(hexLiteral)
	e.String(s)
}

// jsonField encodes v as JSON, or nothing when absent.
func (e *compactEncoder) jsonField(v any, absent bool) error {
	if absent {
		e.Uvarint(0)
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	e.Bytes(b)
	return nil
}

// partHeaderKEK returns the KEK id of the header of p, an inline part, as
// the catalog form keeps it: that of a part not loaded as it was read, 0
// for a header that does not parse.
func partHeaderKEK(p *partRecord) uint32 {
	if p.unloaded() {
		return p.headerKEK
	}
	h, err := seal.ParseHeader(p.Header)
	if err != nil {
		return 0
	}
	return h.KeyID
}

// Part flags of the compact encoding.
const (
	partHeaderNil = 1 << iota // Header is nil (JSON null)
	// partOnProviders: the part is inline, and its Header and Data are
	// not in the catalog form; the providers' sealed record holds them.
	partOnProviders
)

// encodeCompact returns the compact encoding of r, whose sealed form's
// key is wrapped under the KEK kek.
func encodeCompact(r *record, kek uint32) ([]byte, error) {
	e := &compactEncoder{binfield.Encoder{B: make([]byte, 0, 256)}}
	e.B = append(e.B, compactV1)
	e.Uvarint(uint64(kek))
	e.Varint(int64(r.Version))
	kind := slices.Index(compactKinds[1:], r.Kind) + 1 // 0: spelled out
	e.Uvarint(uint64(kind))
	if kind == 0 {
		e.String(r.Kind)
	}
	e.String(r.Bucket)
	e.String(r.Key)
	e.Varint(r.Size)
	e.hex16(r.ETag)
	e.time(r.ModTime)
	e.Uvarint(r.Generation)
	e.strMap(r.Meta)
	e.strMap(r.Props)
	e.strMap(r.Tags)
	e.Uvarint(uint64(len(r.Parts)))
	for i := range r.Parts {
		p := &r.Parts[i]
		var flags uint64
		switch {
		case p.inline():
			flags |= partOnProviders
		case p.Header == nil:
			flags |= partHeaderNil
		}
		e.Uvarint(flags)
		e.hex16(p.Blob)
		e.Varint(p.Size)
		e.hex16(p.ETag)
		if flags&partOnProviders == 0 {
			e.Bytes(p.Header)
		} else {
			e.Uvarint(uint64(partHeaderKEK(p)))
		}
		e.Bytes(p.Sum)
		if flags&partOnProviders == 0 {
			e.Bytes(p.Data)
		}
	}
	if c := r.Checksum; c != nil {
		e.Bool(true)
		e.String(string(c.Alg))
		e.String(string(c.Type))
		e.Bytes(c.Sum)
		e.Varint(int64(c.Parts))
	} else {
		e.Bool(false)
	}
	e.String(r.Owner)
	e.String(r.VersionID)
	e.Uvarint(r.Seq)
	if t := r.Retention; t != nil {
		e.Bool(true)
		e.String(t.Mode)
		e.time(t.Until)
	} else {
		e.Bool(false)
	}
	e.Bool(r.LegalHold)
	// Fields of bucket records, which have no catalog form: JSON, to
	// round-trip whatever they hold.
	if err := e.jsonField(r.CORS, len(r.CORS) == 0); err != nil {
		return nil, fmt.Errorf("catalog form: %w", err)
	}
	if err := e.jsonField(r.Versioning, r.Versioning == nil); err != nil {
		return nil, fmt.Errorf("catalog form: %w", err)
	}
	if err := e.jsonField(r.Lifecycle, len(r.Lifecycle) == 0); err != nil {
		return nil, fmt.Errorf("catalog form: %w", err)
	}
	return e.B, nil
}

// compactDecoder reads the fields of the compact encoding; the first
// error sticks.
type compactDecoder struct{ *binfield.Decoder }

func newCompactDecoder(b []byte) *compactDecoder {
	return &compactDecoder{binfield.NewDecoder(b, func(why string) error {
		return fmt.Errorf("%w: catalog record: %s", ErrCorruptRecord, why)
	})}
}

// bytes returns a copy of a length-prefixed byte string, nil when empty.
func (d *compactDecoder) bytes() []byte {
	if p := d.Raw(); len(p) > 0 {
		return bytes.Clone(p)
	}
	return nil
}

func (d *compactDecoder) time() time.Time {
	s, ns, off := d.Varint(), d.Uvarint(), d.Varint()
	if ns >= 1e9 || off < -24*3600 || off > 24*3600 {
		d.Fail("bad time")
		return time.Time{}
	}
	t := time.Unix(s, int64(ns))
	if off == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", int(off)))
}

func (d *compactDecoder) strMap() map[string]string {
	n := d.Uvarint()
	if n == 0 || d.Err() != nil {
		return nil
	}
	if n > uint64(d.Len()) {
		d.Fail("truncated map")
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.String()
		m[k] = d.String()
	}
	if uint64(len(m)) != n && d.Err() == nil {
		d.Fail("repeated map key")
	}
	return m
}

func (d *compactDecoder) hex16() string {
	switch d.Byte() {
	case hexLiteral:
		return d.String()
	case hexRaw16:
		return hex.EncodeToString(d.Next(16))
	case hexRawPart:
		h := hex.EncodeToString(d.Next(16))
		return h + "-" + strconv.FormatUint(d.Uvarint(), 10)
	}
	d.Fail("bad hex form")
	return ""
}

func (d *compactDecoder) jsonField(v any) {
	b := d.bytes()
	if len(b) == 0 || d.Err() != nil {
		return
	}
	if err := json.Unmarshal(b, v); err != nil {
		d.Fail("bad JSON field")
	}
}

// decodeCompact decodes the compact encoding of a record; it returns the
// record and the KEK of its sealed form.
func decodeCompact(b []byte) (*record, uint32, error) {
	d := newCompactDecoder(b)
	if d.Byte() != compactV1 {
		return nil, 0, fmt.Errorf("%w: catalog record: unknown encoding", ErrCorruptRecord)
	}
	kek := d.Uvarint()
	if kek > 1<<32-1 {
		d.Fail("bad key id")
	}
	r := &record{Version: int(d.Varint())}
	switch k := d.Uvarint(); {
	case k == 0:
		r.Kind = d.String()
	case k < uint64(len(compactKinds)):
		r.Kind = compactKinds[k]
	default:
		d.Fail("bad kind")
	}
	r.Bucket = d.String()
	r.Key = d.String()
	r.Size = d.Varint()
	r.ETag = d.hex16()
	r.ModTime = d.time()
	r.Generation = d.Uvarint()
	r.Meta = d.strMap()
	r.Props = d.strMap()
	r.Tags = d.strMap()
	n := d.Uvarint()
	if n > uint64(d.Len()) {
		d.Fail("truncated parts")
		n = 0
	}
	if n > 0 {
		r.Parts = make([]partRecord, n)
	}
	for i := range r.Parts {
		p := &r.Parts[i]
		flags := d.Uvarint()
		if flags&^(partHeaderNil|partOnProviders) != 0 || flags == partHeaderNil|partOnProviders {
			d.Fail("bad part flags")
		}
		p.Blob = d.hex16()
		p.Size = d.Varint()
		p.ETag = d.hex16()
		if flags&partOnProviders != 0 {
			p.onProviders = true
			kek := d.Uvarint()
			if kek > math.MaxUint32 {
				d.Fail("bad KEK id")
			}
			p.headerKEK = uint32(kek)
			p.Sum = d.bytes()
			continue
		}
		p.Header = d.bytes()
		if p.Header == nil && flags&partHeaderNil == 0 {
			p.Header = []byte{}
		}
		p.Sum = d.bytes()
		p.Data = d.bytes()
	}
	if d.Bool() {
		c := &checksumRecord{}
		c.Alg = checksum.Algorithm(d.String())
		c.Type = checksum.Type(d.String())
		c.Sum = d.bytes()
		c.Parts = int(d.Varint())
		r.Checksum = c
	}
	r.Owner = d.String()
	r.VersionID = d.String()
	r.Seq = d.Uvarint()
	if d.Bool() {
		mode := d.String()
		r.Retention = &retentionRecord{Mode: mode, Until: d.time()}
	}
	r.LegalHold = d.Bool()
	d.jsonField(&r.CORS)
	d.jsonField(&r.Versioning)
	d.jsonField(&r.Lifecycle)
	if err := d.Done(); err != nil {
		return nil, 0, err
	}
	if r.Version != recordVersion && (r.Version != recordVersionGen || r.Key == "") {
		return nil, 0, fmt.Errorf("%w: unknown version %d", ErrCorruptRecord, r.Version)
	}
	return r, uint32(kek), nil
}

// CatalogFormConverter returns, for catalog.ConvertRecords, a function
// that turns the record of an entry or version of a catalog written before
// the catalog form (a sealed record that authenticates, bound to its name)
// into its catalog form (docs/FORMAT.md, "Catalog records"). The record of
// an inline object stays as it is, sealed (and so does a catalog form that
// holds an inline object's blob): the catalog's copy of those bytes may be
// the only one that matches it (the providers' copies were written in
// place then), and a catalog form leaves them to the providers. Such
// entries shrink when the object is written again, or when
// rebuild-catalog, which reads the providers' records, writes the catalog
// anew. A record of another kind, or that does not open, is returned as it
// is: scrub reports what does not open.
func CatalogFormConverter(keys Keys) func(bucket, key, versionID string, rec []byte) []byte {
	ns := &Namespace{keys: keys, names: names{key: *keys.NameKey()}}
	return func(bucket, key, versionID string, rec []byte) []byte {
		if !isSealedForm(rec) {
			return rec
		}
		_, id := ns.names.version(bucket, key, versionID)
		r, err := ns.openSealed(rec, id)
		if err != nil || r.inlineParts() {
			return rec
		}
		b, err := ns.encodeCatRecordOf(r, rec)
		if err != nil {
			return rec
		}
		return b
	}
}
