package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/backends/replica"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/checksum"
	"github.com/twincrypt/twincrypt/gateway/seal"
)

// recordVersion is the version of the meta record encoding inside the sealed
// payload of records stored under their own name (bucket records, bucket
// tombstones, the epoch) and of share records. Readers refuse versions
// they do not know.
const recordVersion = 1

// recordVersionGen is the version of the records of a key (objects,
// versions, delete markers and their tombstones): the same encoding,
// stored under the key's name followed by the record's generation
// (docs/FORMAT.md, "Records on a backend"), so that a write never
// overwrites another record. A record of a key with version 1 was
// written before that and lives under the key's name alone.
const recordVersionGen = 2

// Record kinds.
const (
	kindObject = "object"
	kindBucket = "bucket"
)

// Backend name prefixes (docs/FORMAT.md, "Backend layout").
const (
	blobPrefix = "b/"
	metaPrefix = "m/"
)

// record is the plaintext of a meta record: everything the gateway knows
// about one object or bucket. It is sealed with the object format (a fresh
// data key, wrapped under the current key-encryption key) and stored under
// an opaque name on every backend; the catalog keeps the record of an object
// or version in its catalog form (catrecord.go), other records sealed.
type record struct {
	Version    int               `json:"v"`
	Kind       string            `json:"kind"`
	Bucket     string            `json:"bucket"`
	Key        string            `json:"key,omitempty"`
	Size       int64             `json:"size"`
	ETag       string            `json:"etag,omitempty"`
	ModTime    time.Time         `json:"mtime"`
	Generation uint64            `json:"gen"`
	Meta       map[string]string `json:"meta,omitempty"`
	Props      map[string]string `json:"props,omitempty"`
	// Tags are the object's S3 tags (key to value). Records written
	// before tags existed have none.
	Tags  map[string]string `json:"tags,omitempty"`
	Parts []partRecord      `json:"parts,omitempty"`
	// CORS is a bucket's CORS configuration (bucket records only).
	CORS []CORSRule `json:"cors,omitempty"`
	// Owner is the owner id of the user a bucket belongs to (bucket
	// records only; empty in records written before buckets had owners).
	Owner string `json:"owner,omitempty"`
	// Checksum is an object's checksum (S3's x-amz-checksum-*), or, in
	// the record of a multipart upload, the algorithm and type its
	// object's checksum will have (no sum). Records written before
	// checksums were kept have none.
	Checksum *checksumRecord `json:"cksum,omitempty"`

	// VersionID and Seq name and order a version of a key in a bucket
	// with versioning (object, delete-marker and version-tombstone
	// records); both are absent from the records of unversioned objects.
	// The null version's record has VersionID "null" (or none, if it was
	// written before versioning).
	VersionID string `json:"vid,omitempty"`
	Seq       uint64 `json:"seq,omitempty"`
	// Retention and LegalHold are a version's object lock.
	Retention *retentionRecord `json:"ret,omitempty"`
	LegalHold bool             `json:"hold,omitempty"`
	// Versioning is a bucket's versioning and object-lock configuration
	// (bucket records only).
	Versioning *versioningRecord `json:"versioning,omitempty"`
	// Lifecycle holds a bucket's lifecycle rules (bucket records only).
	Lifecycle []lifecycleRule `json:"lifecycle,omitempty"`

	// catalogForm reports that the record was read from its catalog form
	// (docs/FORMAT.md, "Catalog records"), and sealKEK is then the KEK
	// the providers' sealed form is wrapped under. Neither is encoded.
	catalogForm bool
	sealKEK     uint32
	// catDigest, in a record read from its catalog form, is the digest of
	// the providers' sealed form that the entry names. Not encoded.
	catDigest [catDigestSize]byte
}

// retentionRecord is a version's object-lock retention.
type retentionRecord struct {
	Mode  string    `json:"mode"`
	Until time.Time `json:"until"`
}

// checksumRecord is an object's checksum in its meta record.
type checksumRecord struct {
	Alg   checksum.Algorithm `json:"alg,omitempty"`   // "" in an upload record: none asked for
	Type  checksum.Type      `json:"type,omitempty"`  // FULL_OBJECT or COMPOSITE
	Sum   []byte             `json:"sum,omitempty"`   // raw digest
	Parts int                `json:"parts,omitempty"` // COMPOSITE: number of parts
}

// checksum returns c as a checksum.Checksum, nil for a record without a
// complete one.
func (c *checksumRecord) checksum() *checksum.Checksum {
	if c == nil || !c.Alg.Valid() || len(c.Sum) != c.Alg.Size() {
		return nil
	}
	return &checksum.Checksum{Algorithm: c.Alg, Type: c.Type, Sum: c.Sum, Parts: c.Parts}
}

// newChecksumRecord returns c as a checksumRecord.
func newChecksumRecord(c checksum.Checksum) *checksumRecord {
	return &checksumRecord{Alg: c.Algorithm, Type: c.Type, Sum: c.Sum, Parts: c.Parts}
}

// partRecord names one data blob of an object. Objects of zero bytes have no
// parts; single-part uploads have one; multipart uploads one per part.
type partRecord struct {
	Blob   string `json:"blob"`           // blob id, hex
	Size   int64  `json:"size"`           // plaintext bytes
	ETag   string `json:"etag,omitempty"` // hex MD5 of the part's plaintext (multipart only)
	Header []byte `json:"hdr"`            // the blob's seal header, so a read needs no extra round trip
	// Sum is the part's checksum, of the algorithm of the object's (or
	// upload's) checksum (multipart only; absent in parts stored before
	// checksums were kept).
	Sum []byte `json:"sum,omitempty"`
	// Data, in the part of an inline object, is the sealed blob after its
	// header: the blob is Header followed by Data, and no backend holds
	// b/<Blob>. Empty for parts stored as blobs.
	Data []byte `json:"data,omitempty"`

	// onProviders, in a record read from its catalog form, marks the part
	// of an inline object whose Header and Data the catalog does not keep:
	// the providers' sealed record holds them (Namespace.loadInline reads
	// them). Not encoded.
	onProviders bool
	// headerKEK, in such a part, is the KEK id of its Header, which the
	// catalog form keeps (so that rewrap knows which records to rewrap).
	headerKEK uint32
}

// inline reports whether the part's blob lives in its meta record.
func (p *partRecord) inline() bool { return len(p.Data) > 0 || p.onProviders }

// unloaded reports whether the part is inline and its blob is not here:
// the record was read from its catalog form and not yet loaded.
func (p *partRecord) unloaded() bool { return p.onProviders && len(p.Data) == 0 }

// unloaded reports whether a part of r is inline and not loaded (see
// Namespace.loadInline).
func (r *record) unloaded() bool {
	return slices.ContainsFunc(r.Parts, func(p partRecord) bool { return p.unloaded() })
}

// InlineMax is the largest object, in plaintext bytes, that a PUT stores
// inside its meta record instead of as a blob (docs/FORMAT.md, "Inline
// objects"). Its sealed payload, base64 in the record's JSON, keeps such a
// record, with a key of up to 1 KiB and the usual metadata, within the
// 8 KiB size class, and the inline cache's entries bounded.
const InlineMax = 4 << 10

// names derives the opaque backend names of meta records and the object ids
// that bind sealed meta records to them.
type names struct {
	key [32]byte
}

// metaHash is HMAC-SHA-256 under the name key of a length-prefixed encoding
// of bucket and key; the bucket record uses the empty key.
func (n names) metaHash(bucket, key string) [32]byte {
	m := hmac.New(sha256.New, n.key[:])
	var l [2]byte
	m.Write([]byte("twincrypt meta name v1\x00"))
	binary.BigEndian.PutUint16(l[:], uint16(len(bucket)))
	m.Write(l[:])
	m.Write([]byte(bucket))
	m.Write([]byte(key))
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// meta returns the backend name of the meta record for bucket/key and the
// object id its sealed form is bound to.
func (n names) meta(bucket, key string) (string, seal.ObjectID) {
	h := n.metaHash(bucket, key)
	var id seal.ObjectID
	copy(id[:], h[:])
	return metaPrefix + hex.EncodeToString(h[:]), id
}

// genHexLen is the number of hex digits of the generation that ends the
// name of a record of a key.
const genHexLen = 16

// genName returns the name, for the record of generation gen, of a key
// whose meta record name is base.
func genName(base string, gen uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], gen)
	return base + hex.EncodeToString(b[:])
}

// storedName returns the backend name of r, a record of the key or bucket
// whose meta record name is base: base followed by r's generation for a
// record of a key written with recordVersionGen, base alone otherwise.
func storedName(base string, r *record) string {
	if r.Version == recordVersionGen {
		return genName(base, r.Generation)
	}
	return base
}

// metaName is the parsed backend name of a meta record.
type metaName struct {
	hash [32]byte
	// gen is the generation the name ends with; 0 for a name without
	// one (a bucket record, the epoch, or a record of a key written
	// before records were named by generation).
	gen uint64
}

// parseMetaName parses "m/" and 64 lowercase hex digits, optionally
// followed by 16 more (a generation other than 0); false for any other
// name.
func parseMetaName(name string) (metaName, bool) {
	var m metaName
	rest, ok := strings.CutPrefix(name, metaPrefix)
	if !ok || (len(rest) != 64 && len(rest) != 64+genHexLen) || !isLowerHex(rest) {
		return m, false
	}
	hex.Decode(m.hash[:], []byte(rest[:64]))
	if len(rest) > 64 {
		var g [8]byte
		hex.Decode(g[:], []byte(rest[64:]))
		m.gen = binary.BigEndian.Uint64(g[:])
		if m.gen == 0 {
			return m, false
		}
	}
	return m, true
}

// isLowerHex reports whether s is all lowercase hex digits.
func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// key returns the set key of the name (sets.go): the hash and the
// generation, big-endian, so that keys sort as names do.
func (m metaName) key() []byte {
	k := make([]byte, 40)
	copy(k, m.hash[:])
	binary.BigEndian.PutUint64(k[32:], m.gen)
	return k
}

// blobName returns the backend name of the blob with the given id.
func blobName(id seal.ObjectID) string {
	return blobPrefix + hex.EncodeToString(id[:])
}

// parseBlobID parses the hex id of a blob as stored in a part record.
func parseBlobID(s string) (seal.ObjectID, error) {
	var id seal.ObjectID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("%w: bad blob id %q", ErrCorruptRecord, s)
	}
	copy(id[:], b)
	return id, nil
}

// sealRecord encodes and seals r for storage under the object id id.
func (ns *Namespace) sealRecord(r *record, id seal.ObjectID) ([]byte, error) {
	if r.unloaded() {
		// Sealing it would drop the object's bytes.
		return nil, fmt.Errorf("%w: %s/%s", errInlineNotLoaded, r.Bucket, r.Key)
	}
	r.Version = recordVersion
	if r.Key != "" {
		r.Version = recordVersionGen
	}
	plain, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode meta record: %w", err)
	}
	s, err := seal.NewSealer(ns.keys, id, ns.rand)
	if err != nil {
		return nil, fmt.Errorf("seal meta record: %w", err)
	}
	return s.Seal(nil, padRecord(plain)), nil
}

// Record size classes (docs/FORMAT.md, "Meta records"): a record's
// plaintext is padded to the next power of two from minRecordClass up to
// maxPow2Class, and beyond that with Padmé.
const (
	minRecordClass = 1 << 10
	maxPow2Class   = 16 << 10
)

// recordClass returns the size a record of n plaintext bytes is padded to.
// Every record of an object with a key of up to about 400 bytes and a single
// part is 1 KiB, whatever its name; with longer keys or more parts, 2, 4, 8
// or 16 KiB. Larger records (many parts) are padded with Padmé (Nikitin et
// al., "Reducing Metadata Leakage from Encrypted Files and Communication
// with PURBs", 2019): n rounded up so that only its top
// floor(log2(floor(log2 n)))+1 bits vary, at most 12% more. A provider
// learns the class, never the exact length of a name.
func recordClass(n int) int {
	if n <= minRecordClass {
		return minRecordClass
	}
	if n <= maxPow2Class {
		return 1 << bits.Len(uint(n-1))
	}
	e := bits.Len(uint(n)) - 1 // floor(log2 n)
	s := bits.Len(uint(e))     // floor(log2 e) + 1
	mask := 1<<(e-s) - 1
	return (n + mask) &^ mask
}

// padRecord pads a record's JSON with spaces to its class; JSON decoders
// ignore trailing white space, so padded and unpadded records read alike.
func padRecord(plain []byte) []byte {
	n := recordClass(len(plain))
	if n == len(plain) {
		return plain
	}
	out := make([]byte, n)
	copy(out, plain)
	for i := len(plain); i < n; i++ {
		out[i] = ' '
	}
	return out
}

// unseal authenticates a sealed record and returns its plaintext and the
// object id it is bound to; want, when not nil, is the id it must be bound
// to (what names the record in errors).
func (ns *Namespace) unseal(sealed []byte, want *seal.ObjectID, what string) ([]byte, seal.ObjectID, error) {
	if len(sealed) < seal.HeaderSize {
		return nil, seal.ObjectID{}, fmt.Errorf("%w: %s of %d bytes", seal.ErrIntegrity, what, len(sealed))
	}
	h, err := seal.ParseHeader(sealed[:seal.HeaderSize])
	if err != nil {
		return nil, seal.ObjectID{}, err
	}
	if want != nil && h.ObjectID != *want {
		return nil, h.ObjectID, fmt.Errorf("%w: %s bound to another name", seal.ErrIntegrity, what)
	}
	o, err := h.Open(ns.keys)
	if err != nil {
		return nil, h.ObjectID, err
	}
	plain, err := o.Open(nil, sealed)
	return plain, h.ObjectID, err
}

// openRecord authenticates and decodes a record as the catalog holds it,
// sealed or in the catalog form (docs/FORMAT.md, "Catalog records"), that
// must be bound to the object id id.
func (ns *Namespace) openRecord(rec []byte, id seal.ObjectID) (*record, error) {
	if isSealedForm(rec) {
		return ns.openSealed(rec, id)
	}
	return ns.openCatRecord(rec, id)
}

// openSealed authenticates and decodes a sealed meta record that must be
// bound to the object id id.
func (ns *Namespace) openSealed(sealed []byte, id seal.ObjectID) (*record, error) {
	plain, _, err := ns.unseal(sealed, &id, "meta record")
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(plain, &r); err != nil {
		return nil, fmt.Errorf("%w: decode: %v", ErrCorruptRecord, err)
	}
	if r.Version != recordVersion && (r.Version != recordVersionGen || r.Key == "") {
		return nil, fmt.Errorf("%w: unknown version %d", ErrCorruptRecord, r.Version)
	}
	return &r, nil
}

// checkRecord verifies that an authenticated record describes bucket/key.
func checkRecord(r *record, kind, bucket, key string) error {
	if r.Kind != kind || r.Bucket != bucket || r.Key != key {
		return fmt.Errorf("%w: record names %s %q/%q, want %s %q/%q", ErrCorruptRecord, r.Kind, r.Bucket, r.Key, kind, bucket, key)
	}
	return nil
}

// StoredVerifier returns, for the replicated set's repairs
// (replica.Options.Verify), a function that wraps the stream of a stored
// object so that it authenticates as it passes: blobs, meta records and
// share records are sealed objects and are checked whole, header and every
// chunk, under keys. An object whose key-encryption key keys do not hold
// (retired) fails with replica.ErrCannotVerify; other names pass unchecked.
func StoredVerifier(keys Keys) func(name string, size int64, r io.Reader) io.Reader {
	return func(name string, size int64, r io.Reader) io.Reader {
		if !strings.HasPrefix(name, blobPrefix) && !strings.HasPrefix(name, metaPrefix) && !strings.HasPrefix(name, sharePrefix) {
			return r
		}
		return &cannotVerify{r: seal.NewStreamVerifier(keys, r, size)}
	}
}

// cannotVerify marks seal.ErrKeyUnknown as replica.ErrCannotVerify.
type cannotVerify struct{ r io.Reader }

func (c *cannotVerify) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if errors.Is(err, seal.ErrKeyUnknown) {
		err = fmt.Errorf("%w: %w", replica.ErrCannotVerify, err)
	}
	return n, err
}

// dropRecord deletes from the store, best effort, the record old that the
// catalog no longer names since a write put cur in its place: records of a
// key live under names of their own generation, and what a write
// supersedes goes only once the catalog has taken its successor. A copy
// left behind (a provider that did not answer, a gateway stopped
// meanwhile) is older than the catalog's record: scrub reports it as
// superseded and repair or gc deletes it. A reader that found the old
// record in the catalog just before and loads it only now finds it gone
// and fails with ErrObjectChanged, to try again.
func (ns *Namespace) dropRecord(ctx context.Context, old, cur string) {
	if old == cur || old == "" {
		return
	}
	if err := ns.store.Delete(context.WithoutCancel(ctx), old); err != nil && !errors.Is(err, backends.ErrNotFound) {
		ns.log.Warn("delete a superseded meta record; scrub reports it", "name", old, "err", err)
	}
}

// replacedName returns the backend name of the record of replaced, the
// entry that a catalog Put replaced; read, the name of the record the
// writer read before, when the catalog replaced none or its record does
// not open.
func (ns *Namespace) replacedName(replaced *catalog.Entry, read string) string {
	if replaced == nil {
		return read
	}
	name, _, err := ns.recordNameOf(replaced.Bucket, replaced.Key, replaced.VersionID, replaced.Record)
	if err != nil {
		return read
	}
	return name
}

// dropUncommitted deletes from the store the record name that a write put
// there and the catalog then did not take (err): a refusal means it never
// will, so the record goes. When the catalog could not be reached
// (catalog.ErrUnavailable) the write may have landed with its answer lost,
// or may still land (a command that timed out on Redis), and the record
// stays until the catalog can say which (settleLater).
func (ns *Namespace) dropUncommitted(ctx context.Context, k recordKey, name string, err error) {
	ns.settleUncommitted(ctx, k, name, err, nil)
}

// recordKey names the key, or the version of a key, a record belongs to.
type recordKey struct{ bucket, key, versionID string }

// settleUncommitted is dropUncommitted for a write whose outcome the
// catalog can be asked again: landed, when not nil, reads the catalog and
// reports whether it holds the write after all, which keeps the record,
// as does a failure to read it. It reports whether the record stays, the
// write's outcome unknown.
func (ns *Namespace) settleUncommitted(ctx context.Context, k recordKey, name string, err error, landed func(context.Context) (bool, error)) bool {
	ctx = context.WithoutCancel(ctx)
	if outcomeUnknown(err) {
		ns.settleLater(ctx, k, name)
		return true
	}
	if landed != nil {
		if ok, lerr := landed(ctx); ok || lerr != nil {
			return true
		}
	}
	ns.deleteUncommitted(ctx, k, name)
	return false
}

// settleLater settles, once the catalog answers again, the record name of
// a write whose catalog update did not answer: it stays if the catalog
// names it (the write landed), and goes if the catalog names another
// record of the key or none. Left on the providers, a record the catalog
// never took would be ahead of the catalog's, and repair would take it in
// over the writes acknowledged since (whose generations, from other
// instances' clocks, may be lower). The catalog is asked settleAfter
// after the failure (a command that timed out has landed or not by then),
// then at growing intervals for settleFor; a gateway stopped before leaves
// the record to scrub, which reports it as ahead.
func (ns *Namespace) settleLater(ctx context.Context, k recordKey, name string) {
	if ns.settleAfter < 0 {
		return // tests of a gateway stopped before it could ask
	}
	ns.settles.Go(func() {
		delay, deadline := ns.settleAfter, ns.now().Add(settleFor)
		for {
			t := time.NewTimer(delay)
			<-t.C
			cur, err := ns.RecordName(ctx, k.bucket, k.key, k.versionID)
			switch {
			case err == nil && cur == name:
				return // the write landed
			case err == nil || errors.Is(err, catalog.ErrNotFound) || errors.Is(err, catalog.ErrNoSuchBucket):
				ns.deleteUncommitted(ctx, k, name)
				ns.log.Info("deleted the record of a write the catalog did not take", "bucket", k.bucket, "key", k.key, "name", name)
				return
			}
			if ns.now().After(deadline) {
				ns.log.Warn("the catalog did not answer about a write it did not take; its record stays for scrub", "bucket", k.bucket, "key", k.key, "name", name, "err", err)
				return
			}
			delay = min(2*delay, time.Minute)
		}
	})
}

// settleFor bounds how long settleLater asks the catalog; defaultSettleAfter
// is how long it waits first.
const (
	settleFor          = 10 * time.Minute
	defaultSettleAfter = 5 * time.Second
)

// outcomeUnknown reports whether a catalog write that failed with err may
// have landed, or may still land: the catalog did not answer, or the
// caller stopped waiting for it (the writers run their commits without
// their request's cancellation, so that this is rare).
func outcomeUnknown(err error) bool {
	return errors.Is(err, catalog.ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// dropUnlessLanded settles the record name that a write put on the store
// when the catalog did not take the write: it stays only when landed,
// asking the catalog again, reports that the write landed after all (its
// answer lost), and goes otherwise, also when landed fails (unless it
// reports true with its error). A deletion uses it for its tombstone: the
// record it was to replace is untouched, and should the deletion land
// later (a command that timed out on Redis), the catalog holds its
// tombstone, which repair puts on the providers; a tombstone left for a
// deletion the catalog never made would be taken in by repair and delete
// what the catalog still holds (a locked version included).
func (ns *Namespace) dropUnlessLanded(ctx context.Context, k recordKey, name string, landed func(context.Context) (bool, error)) {
	ctx = context.WithoutCancel(ctx)
	if ok, _ := landed(ctx); ok {
		return
	}
	ns.deleteUncommitted(ctx, k, name)
}

// deleteUncommitted deletes the record of a write the catalog did not
// take, unless the catalog names that very name: another write of the key
// that drew the same generation (nextGeneration makes that all but
// impossible) and won.
func (ns *Namespace) deleteUncommitted(ctx context.Context, k recordKey, name string) {
	if cur, err := ns.RecordName(ctx, k.bucket, k.key, k.versionID); err == nil && cur == name {
		ns.log.Error("a write the catalog refused drew the generation of the one it names; its record stays, and scrub checks that it is the catalog's", "name", name)
		return
	}
	if err := ns.store.Delete(ctx, name); err != nil && !errors.Is(err, backends.ErrNotFound) {
		ns.log.Warn("delete the meta record of a write the catalog did not take; scrub reports it", "name", name, "err", err)
	}
}

// RecordName returns the backend name of the record the catalog holds for
// bucket/key: with versionID "" the key's entry (in a bucket with
// versioning, its current version) or else its tombstone; otherwise that
// version, or else its tombstone. It is the name scrub reports a problem
// with the record under.
func (ns *Namespace) RecordName(ctx context.Context, bucket, key, versionID string) (string, error) {
	var rec []byte
	lookupVID := versionID
	if versionID == "" {
		if e, err := ns.cat.Get(ctx, bucket, key); err == nil {
			rec, lookupVID = e.Record, e.VersionID
		} else if !errors.Is(err, catalog.ErrNotFound) {
			return "", err
		} else if t, terr := ns.cat.GetTombstone(ctx, bucket, key); terr == nil {
			rec = t.Record
		} else {
			return "", terr
		}
	} else if v, err := ns.cat.GetVersion(ctx, bucket, key, versionID); err == nil {
		rec = v.Record
	} else if !errors.Is(err, catalog.ErrNotFound) {
		return "", err
	} else if t, terr := ns.cat.GetVersionTombstone(ctx, bucket, key, versionID); terr == nil {
		rec = t.Record
	} else {
		return "", terr
	}
	name, _, err := ns.recordNameOf(bucket, key, lookupVID, rec)
	return name, err
}

// recordNameOf opens rec, a record of bucket/key/versionID as the catalog
// holds it, and returns its backend name and the record.
func (ns *Namespace) recordNameOf(bucket, key, versionID string, rec []byte) (string, *record, error) {
	base, id := ns.names.version(bucket, key, versionID)
	r, err := ns.openRecord(rec, id)
	if err != nil {
		return "", nil, err
	}
	return storedName(base, r), r, nil
}
