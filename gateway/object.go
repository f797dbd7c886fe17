package gateway

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/checksum"
	"github.com/twincrypt/twincrypt/gateway/seal"
)

// ObjectInfo describes an object. Meta and Props are nil in listings.
type ObjectInfo struct {
	Bucket     string
	Key        string
	Size       int64
	ETag       string // without quotes
	ModTime    time.Time
	Generation uint64
	// VersionID is the version's ID in a bucket with versioning
	// (NullVersion for the null version), empty otherwise.
	VersionID string
	Meta      map[string]string // stored headers: Content-Type, ..., X-Amz-Meta-*
	Props     map[string]string // WebDAV dead properties
	Tags      map[string]string // S3 object tags; nil when there are none
	PartSizes []int64           // plaintext size of each part; one entry for single-part objects
	// Checksum is the object's checksum (S3's x-amz-checksum-*); nil for
	// objects stored before checksums were kept.
	Checksum *checksum.Checksum
	// PartChecksums are the raw checksums of a multipart object's parts
	// (of Checksum's algorithm), one per entry of PartSizes; nil when
	// not known.
	PartChecksums [][]byte
}

// storedHeaders are the request headers kept with an object besides
// X-Amz-Meta-*. Nothing else from a request is stored.
var storedHeaders = []string{"Content-Type", "Content-Disposition", "Content-Encoding", "Cache-Control", "Content-Language", "Expires"}

// StoredMeta returns the subset of meta that is kept with an object, with
// canonical header names.
func StoredMeta(meta map[string]string) map[string]string {
	out := make(map[string]string)
	for k, v := range meta {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if strings.HasPrefix(ck, "X-Amz-Meta-") {
			out[ck] = v
			continue
		}
		for _, h := range storedHeaders {
			if ck == h {
				out[ck] = v
			}
		}
	}
	return out
}

// PutOptions are the optional parts of a write.
type PutOptions struct {
	Meta map[string]string // filtered with StoredMeta
	// IfMatch, when set, requires the current object to exist with this
	// ETag ("*": to exist at all). IfNoneMatch "*" requires that it does
	// not exist; another value requires a different ETag.
	IfMatch     string
	IfNoneMatch string
	// Tags are the object's tags, kept in its sealed meta record. The
	// namespace stores them as given; the front end checks them.
	Tags map[string]string
	// Checksum is the algorithm of the checksum stored with the object
	// (a full-object one; "": checksum.Default). For CreateUploadWith it
	// is the algorithm of the upload's parts and object ("": none asked
	// for; the object then gets a full-object checksum.Default).
	Checksum checksum.Algorithm
	// ChecksumType is the type of a multipart upload's checksum
	// (CreateUploadWith only; "": checksum.DefaultType).
	ChecksumType checksum.Type
	// WantChecksum, when set, is the raw checksum of algorithm Checksum
	// the body must have: a body that does not match fails with a
	// checksum.ErrMismatch error and nothing is stored.
	WantChecksum []byte

	// Retention and LegalHold lock the new version in a bucket with
	// object lock; a nil Retention takes the bucket's default.
	Retention *Retention
	LegalHold bool

	// RefuseLocked refuses to replace a current version that is locked
	// (ErrObjectLocked), for front ends that show no versions (WebDAV).
	RefuseLocked bool

	// inPlace rewrites the record of the current version (tags,
	// properties) instead of making a new version.
	inPlace bool
}

// PutObject stores body, of exactly size bytes (-1 if unknown), as
// bucket/key. The old object, if any, stays readable until the new one is
// complete; if the body fails or is short, nothing changes.
func (ns *Namespace) PutObject(ctx context.Context, bucket, key string, body io.Reader, size int64, o PutOptions) (ObjectInfo, error) {
	if err := ns.Authorize(ctx, bucket, AccessWrite); err != nil {
		return ObjectInfo{}, err
	}
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, err
	}
	if _, err := ns.cat.GetBucket(ctx, bucket); err != nil {
		return ObjectInfo{}, mapCatalogErr(err, bucket, key)
	}
	alg := o.Checksum
	if alg == "" {
		alg = checksum.Default
	}
	if !alg.Valid() {
		return ObjectInfo{}, checksum.Invalidf("Checksum algorithm %q is unsupported.", alg)
	}
	part, sum, ck, err := ns.writeBlob(ctx, body, size, alg, true)
	if err != nil {
		return ObjectInfo{}, err
	}
	if o.WantChecksum != nil && !bytes.Equal(o.WantChecksum, ck) {
		if part != nil {
			ns.deleteBlobs(ctx, []partRecord{*part})
		}
		return ObjectInfo{}, checksum.MismatchError(alg)
	}
	rec := &record{Kind: kindObject, Bucket: bucket, Key: key, ETag: hex.EncodeToString(sum), Meta: StoredMeta(o.Meta), Tags: cloneTags(o.Tags),
		Checksum: &checksumRecord{Alg: alg, Type: checksum.FullObject, Sum: ck}}
	if part != nil {
		rec.Parts = []partRecord{*part}
		rec.Size = part.Size
	}
	info, err := ns.commit(ctx, rec, o)
	if err != nil {
		if !errors.Is(err, errOutcomeUnknown) {
			ns.deleteBlobs(ctx, rec.Parts)
		}
		return ObjectInfo{}, err
	}
	return info, nil
}

// errOutcomeUnknown marks a commit whose catalog update failed without
// telling whether it landed (the catalog became unreachable): the blobs
// of the new state must stay. It wraps catalog.ErrUnavailable, so callers
// answer 503.
var errOutcomeUnknown = errors.New("catalog update outcome unknown")

// countingReader enforces an exact length and hashes what passes through.
type countingReader struct {
	r    io.Reader
	want int64 // -1: unknown
	n    int64
	h    hash.Hash // nil: the caller hashes (see WithBodyMD5)
	ck   hash.Hash // the checksum; nil: the caller has it (see WithBodyChecksum)
	err  error     // the first error seen from r or from the length check
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.want >= 0 && int64(len(p)) > c.want-c.n+1 {
		// Read one byte past the declared end to detect an overlong body.
		p = p[:c.want-c.n+1]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.h != nil {
		c.h.Write(p[:n])
	}
	if c.ck != nil {
		c.ck.Write(p[:n])
	}
	switch {
	case c.want >= 0 && c.n > c.want:
		c.err = fmt.Errorf("%w: body longer than its declared %d bytes", ErrPrecondition, c.want)
		return 0, c.err
	case err == io.EOF && c.want >= 0 && c.n < c.want:
		c.err = fmt.Errorf("%w: got %d of %d bytes", ErrIncompleteBody, c.n, c.want)
		return n, c.err
	case err != nil && err != io.EOF:
		c.err = err
	}
	return n, err
}

// writeBlob seals body into a new blob and returns its part record (nil for
// an empty body), the plaintext MD5 and its checksum of algorithm alg. With
// inline, a body of up to InlineMax bytes is sealed into the part record
// itself (Data) and no blob is stored.
func (ns *Namespace) writeBlob(ctx context.Context, body io.Reader, size int64, alg checksum.Algorithm, inline bool) (*partRecord, []byte, []byte, error) {
	callerCk := bodyChecksumFrom(ctx, alg)
	newCk := func() hash.Hash {
		if callerCk != nil {
			return nil
		}
		return alg.New()
	}
	ckSum := func(cr *countingReader) ([]byte, error) {
		if cr.ck != nil {
			return cr.ck.Sum(nil), nil
		}
		if v := callerCk(); v != nil {
			return v, nil
		}
		return nil, fmt.Errorf("%w: the body's %s checksum is not known", checksum.ErrInvalid, alg)
	}
	callerSum := bodyMD5From(ctx)
	newHash := func() hash.Hash {
		if callerSum != nil {
			return nil
		}
		return md5.New()
	}
	sum := func(cr *countingReader) []byte {
		if cr.h == nil {
			return callerSum()
		}
		return cr.h.Sum(nil)
	}
	cr := &countingReader{r: body, want: size, h: newHash(), ck: newCk()}
	if size <= 0 {
		// Find out whether there is any content at all: empty objects
		// get no blob.
		var first [1]byte
		n, err := io.ReadFull(cr, first[:])
		if n == 0 {
			if err == io.EOF {
				ck, err := ckSum(cr)
				if err != nil {
					return nil, nil, nil, err
				}
				return nil, sum(cr), ck, nil
			}
			return nil, nil, nil, err
		}
		// Content of unknown length (content where size is 0 fails the
		// length check above). A caller's hash already covers the first
		// byte.
		cr = &countingReader{r: io.MultiReader(bytes.NewReader(first[:n]), body), want: -1, h: newHash(), ck: newCk()}
	}
	var id seal.ObjectID
	if _, err := io.ReadFull(ns.rand, id[:]); err != nil {
		return nil, nil, nil, fmt.Errorf("blob id: %w", err)
	}
	s, err := seal.NewSealer(ns.keys, id, ns.rand)
	if err != nil {
		return nil, nil, nil, err
	}
	src := io.Reader(cr)
	if inline && size <= InlineMax {
		// Small (or of unknown size, until more than InlineMax bytes
		// have come): sealed into the meta record, no blob.
		buf := make([]byte, InlineMax+1)
		n, err := io.ReadFull(cr, buf)
		switch {
		case cr.err != nil:
			return nil, nil, nil, cr.err
		case err == io.ErrUnexpectedEOF || err == io.EOF:
			ck, err := ckSum(cr)
			if err != nil {
				return nil, nil, nil, err
			}
			sealed := s.Seal(nil, buf[:n])
			return &partRecord{Blob: hex.EncodeToString(id[:]), Size: cr.n, Header: s.Header().Marshal(),
				Data: sealed[seal.HeaderSize:]}, sum(cr), ck, nil
		case err != nil:
			return nil, nil, nil, err
		}
		src = io.MultiReader(bytes.NewReader(buf), cr)
	}
	blobSize := int64(-1)
	if size > 0 {
		blobSize = seal.CiphertextSize(size)
	}
	// A body of more than one block (or of unknown size) is read ahead
	// in a second goroutine while what it read is sealed and stored.
	var ra *readAhead
	if size <= 0 || size > readAheadBlock {
		ra = newReadAhead(src)
		src = ra
	}
	err = ns.store.Put(ctx, blobName(id), s.Reader(src), blobSize)
	if ra != nil {
		ra.Close() // cr, and the caller's hash, are the goroutine's until now
	}
	if err != nil {
		if cr.err != nil && !errors.Is(err, cr.err) {
			err = fmt.Errorf("%w (%v)", cr.err, err)
		}
		return nil, nil, nil, err
	}
	if cr.err != nil {
		// The store accepted a stream that failed: never happens with a
		// correct store, but must not commit a short object.
		_ = ns.store.Delete(ctx, blobName(id))
		return nil, nil, nil, cr.err
	}
	ck, err := ckSum(cr)
	if err != nil {
		_ = ns.store.Delete(ctx, blobName(id))
		return nil, nil, nil, err
	}
	return &partRecord{Blob: hex.EncodeToString(id[:]), Size: cr.n, Header: s.Header().Marshal()}, sum(cr), ck, nil
}

// commit writes rec as the new state of its object: meta record on the
// store, then the catalog; then deletes blobs the old state used that the
// new one does not.
func (ns *Namespace) commit(ctx context.Context, rec *record, o PutOptions) (ObjectInfo, error) {
	unlock, lerr := ns.lock(ctx, rec.Bucket, rec.Key)
	if lerr != nil {
		return ObjectInfo{}, lerr
	}
	defer unlock()
	return ns.commitLocked(ctx, rec, o)
}

// commitLocked is commit for a caller that holds the lock of rec's name. A
// zero rec.ModTime is set to the current time; a set one is kept (renames
// and property changes do not change an object's modification time).
func (ns *Namespace) commitLocked(ctx context.Context, rec *record, o PutOptions) (ObjectInfo, error) {
	cfg, err := ns.BucketVersioning(ctx, rec.Bucket)
	if err != nil {
		return ObjectInfo{}, err
	}
	if cfg.Status != "" {
		return ns.commitVersionLocked(ctx, rec, o, cfg)
	}
	if o.Retention != nil || o.LegalHold {
		return ObjectInfo{}, fmt.Errorf("%w: %s", ErrNoLockConfig, rec.Bucket)
	}
	prev, err := ns.cat.Get(ctx, rec.Bucket, rec.Key)
	var prevGen uint64
	var tombName string // the record of the tombstone the write replaces
	switch {
	case err == nil:
		prevGen = prev.Generation
	case errors.Is(err, catalog.ErrNotFound):
		// Generations go up across delete and re-create.
		if prevGen, tombName, err = ns.keyTombstone(ctx, rec.Bucket, rec.Key); err != nil {
			return ObjectInfo{}, err
		}
		err = catalog.ErrNotFound
	default:
		return ObjectInfo{}, err
	}
	exists := err == nil
	if err := checkConditions(exists, prev.ETag, o); err != nil {
		return ObjectInfo{}, err
	}
	rec.Generation = ns.nextGeneration(prevGen)
	if rec.ModTime.IsZero() {
		rec.ModTime = ns.now().UTC().Truncate(time.Millisecond)
	}
	base, id := ns.names.meta(rec.Bucket, rec.Key)
	sealed, err := ns.sealRecord(rec, id)
	if err != nil {
		return ObjectInfo{}, err
	}
	name := storedName(base, rec)
	if err := ns.putBytes(ctx, name, sealed); err != nil {
		return ObjectInfo{}, fmt.Errorf("write meta record: %w", err)
	}
	replaced, err := ns.cat.Put(context.WithoutCancel(ctx), catalog.Entry{
		Bucket: rec.Bucket, Key: rec.Key, Size: rec.Size, ETag: rec.ETag,
		ModTime: rec.ModTime, Generation: rec.Generation, Record: ns.catRecord(rec, sealed),
	})
	if err != nil {
		// The record went under a name of its own: the one the catalog
		// names is untouched. A write the catalog refused takes its
		// record back; when the catalog could not be reached, the Put
		// may have landed nonetheless (its answer was lost): the record
		// and its new blobs are then kept (errOutcomeUnknown), so that
		// the object is whole either way; gc collects the blobs if it did
		// not land, and scrub reports the record.
		ns.dropUncommitted(ctx, recordKey{rec.Bucket, rec.Key, ""}, name, err)
		switch {
		case errors.Is(err, catalog.ErrStale):
			return ObjectInfo{}, fmt.Errorf("%w: a newer write of %s/%s won", ErrPrecondition, rec.Bucket, rec.Key)
		case outcomeUnknown(err):
			return ObjectInfo{}, fmt.Errorf("%w: %w", errOutcomeUnknown, err)
		}
		return ObjectInfo{}, mapCatalogErr(err, rec.Bucket, rec.Key)
	}
	if replaced != nil {
		if old, err := ns.openRecord(replaced.Record, id); err == nil {
			ns.deleteReplaced(ctx, storedName(base, old), name, supersededParts(old.Parts, rec.Parts))
		} else {
			ns.log.Warn("open replaced meta record; its record and blobs are left to gc", "err", err)
		}
	} else {
		ns.dropRecord(ctx, tombName, name)
	}
	return rec.info(), nil
}

// checkConditions evaluates If-Match / If-None-Match against the current
// object state.
func checkConditions(exists bool, etag string, o PutOptions) error {
	if o.IfMatch != "" {
		if !exists || (o.IfMatch != "*" && strings.Trim(o.IfMatch, `"`) != etag) {
			return fmt.Errorf("%w: If-Match", ErrPrecondition)
		}
	}
	if o.IfNoneMatch != "" && exists {
		if o.IfNoneMatch == "*" || strings.Trim(o.IfNoneMatch, `"`) == etag {
			return fmt.Errorf("%w: If-None-Match", ErrPrecondition)
		}
	}
	return nil
}

// supersededParts returns the parts of old that cur does not use.
func supersededParts(old, cur []partRecord) []partRecord {
	keep := make(map[string]bool, len(cur))
	for _, p := range cur {
		keep[p.Blob] = true
	}
	var out []partRecord
	for _, p := range old {
		if !keep[p.Blob] {
			out = append(out, p)
		}
	}
	return out
}

// deleteBlobs deletes the blobs of parts, best effort: what fails is left
// for garbage collection. The deletes are independent of each other and
// run at once, so that deleting many parts from providers far away costs
// one round trip, not one per part.
func (ns *Namespace) deleteBlobs(ctx context.Context, parts []partRecord) {
	ctx = context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxParallelDeletes)
	for _, p := range parts {
		id, err := parseBlobID(p.Blob)
		if err != nil || p.inline() {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := ns.store.Delete(ctx, blobName(id)); err != nil {
				ns.log.Warn("delete blob; left for gc", "blob", p.Blob, "err", err)
			}
		})
	}
	wg.Wait()
}

// deleteReplaced deletes what a write replaced once the catalog took it:
// the record old (dropRecord; cur is the write's own) and the blobs of
// parts, all at once, so that they cost one round trip.
func (ns *Namespace) deleteReplaced(ctx context.Context, old, cur string, parts []partRecord) {
	var wg sync.WaitGroup
	wg.Go(func() { ns.dropRecord(ctx, old, cur) })
	ns.deleteBlobs(ctx, parts)
	wg.Wait()
}

// maxParallelDeletes bounds the blob deletes one request has in flight.
const maxParallelDeletes = 16

func (r *record) info() ObjectInfo {
	sizes := make([]int64, len(r.Parts))
	var sums [][]byte
	for i, p := range r.Parts {
		sizes[i] = p.Size
		sums = append(sums, p.Sum)
	}
	if len(sums) == 0 || slices.ContainsFunc(sums, func(s []byte) bool { return s == nil }) {
		sums = nil
	}
	return ObjectInfo{
		Bucket: r.Bucket, Key: r.Key, Size: r.Size, ETag: r.ETag, ModTime: r.ModTime,
		Generation: r.Generation, VersionID: r.VersionID, Meta: maps.Clone(r.Meta), Props: maps.Clone(r.Props), Tags: cloneTags(r.Tags), PartSizes: sizes,
		Checksum: r.Checksum.checksum(), PartChecksums: sums,
	}
}

// Object is an open handle on one version of an object. Opening it reads
// only the catalog; reading it fetches just the chunks a range needs.
type Object struct {
	ObjectInfo
	ns  *Namespace
	rec *record
}

// Object looks up bucket/key in the catalog and authenticates its meta
// record. It does no backend I/O.
func (ns *Namespace) Object(ctx context.Context, bucket, key string) (*Object, error) {
	if err := ns.Authorize(ctx, bucket, AccessRead); err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	e, err := ns.cat.Get(ctx, bucket, key)
	if err != nil {
		if errors.Is(err, catalog.ErrNotFound) {
			if _, berr := ns.cat.GetBucket(ctx, bucket); berr != nil {
				return nil, mapCatalogErr(berr, bucket, key)
			}
		}
		if cur, verr := ns.cat.GetVersion(ctx, bucket, key, ""); verr == nil && cur.DeleteMarker {
			return nil, &DeleteMarkerError{Bucket: bucket, Key: key, VersionID: cur.VersionID, Current: true}
		}
		return nil, mapCatalogErr(err, bucket, key)
	}
	rec, err := ns.openRecord(e.Record, ns.names.entryID(&e))
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", bucket, key, err)
	}
	if err := checkRecord(rec, kindObject, bucket, key); err != nil {
		return nil, err
	}
	info := rec.info()
	info.VersionID = e.VersionID
	if info.VersionID == "" {
		// An object written before versioning is the null version.
		if cfg, err := ns.cat.GetBucketVersioning(ctx, bucket); err == nil && cfg.Status != "" {
			info.VersionID = NullVersion
		}
	}
	return &Object{ObjectInfo: info, ns: ns, rec: rec}, nil
}

// loadedObject is Object for a caller that writes the object's record anew
// or reads its bytes whole: an inline object's blob, which its catalog
// entry leaves to the providers, is loaded with it (sealRecord refuses a
// record whose blob was not).
func (ns *Namespace) loadedObject(ctx context.Context, bucket, key string) (*Object, error) {
	o, err := ns.Object(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	if err := o.load(ctx); err != nil {
		return nil, err
	}
	return o, nil
}

// load reads the blob of an inline object that its catalog entry leaves to
// the providers (Namespace.loadInline), before the object's bytes are read
// or its record is written anew.
func (o *Object) load(ctx context.Context) error { return o.ns.loadInline(ctx, o.rec) }

// NewReader returns the plaintext bytes [off, off+length) of the object;
// length -1 means to the end. The first part's ciphertext is requested
// before NewReader returns, so an unreachable store fails here rather than in
// the middle of a response. A range over several parts requests the next
// parts (see partsAhead) while the current one is read, so that from
// providers far away each part's round trip overlaps the transfer of the one
// before it; the opened streams hold no buffers of their own.
func (o *Object) NewReader(ctx context.Context, off, length int64) (io.ReadCloser, error) {
	if length < 0 {
		length = o.Size - off
	}
	if off < 0 || length < 0 || off+length > o.Size || (off > 0 && off >= o.Size) {
		return nil, fmt.Errorf("%w: %d+%d of %d bytes", ErrInvalidRange, off, length, o.Size)
	}
	if length > 0 {
		if err := o.load(ctx); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &objectReader{ctx: ctx, cancel: cancel, o: o, off: off, end: off + length}
	if length > 0 {
		if err := r.openPart(); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// A reader requests parts ahead until it has partsAhead of them, or
// bytesAhead of plaintext, requested beyond the current part (at least
// one part). Enough to cover a round trip of 100 ms at 640 MiB/s with 16
// MiB parts; an unread stream holds only what the kernel buffers for it.
const (
	partsAhead = 8
	bytesAhead = 64 << 20
)

// objectReader reads a plaintext range that may span several parts.
type objectReader struct {
	ctx      context.Context
	cancel   context.CancelFunc
	o        *Object
	off, end int64 // absolute plaintext positions
	cur      io.Reader
	closer   io.Closer
	curEnd   int64
	ahead    []*openedPart // requested ahead, in order of position
	nextOff  int64         // where the next part to request ahead begins
}

// openedPart is a part's stream being opened in the background.
type openedPart struct {
	from, end int64 // the plaintext range it serves
	done      chan struct{}
	rd        io.Reader
	closer    io.Closer
	err       error
}

// partAt returns the range of the part holding plaintext offset off, cut
// to the reader's end, and the part itself.
func (r *objectReader) partAt(off int64) (partRecord, int64, int64, bool) {
	var start int64
	for _, p := range r.o.rec.Parts {
		if off < start+p.Size {
			return p, start, min(r.end, start+p.Size), true
		}
		start += p.Size
	}
	return partRecord{}, 0, 0, false
}

// openPart opens the part that holds r.off, taking it from the parts
// requested ahead when it is there, and requests the parts after it.
func (r *objectReader) openPart() error {
	if len(r.ahead) > 0 && r.ahead[0].from == r.off {
		op := r.ahead[0]
		r.ahead = r.ahead[1:]
		<-op.done
		if op.err != nil {
			return op.err
		}
		r.cur, r.closer, r.curEnd = op.rd, op.closer, op.end
		r.requestAhead()
		return nil
	}
	r.dropAhead()
	p, start, end, ok := r.partAt(r.off)
	if !ok {
		return fmt.Errorf("%w: offset %d beyond parts", ErrCorruptRecord, r.off)
	}
	rd, c, err := r.o.ns.openBlobRange(r.ctx, p, r.off-start, end-r.off)
	if err != nil {
		return err
	}
	r.cur, r.closer, r.curEnd = rd, c, end
	r.nextOff = end
	r.requestAhead()
	return nil
}

// requestAhead starts opening the parts after the current one, keeping
// up to partsAhead of them requested.
func (r *objectReader) requestAhead() {
	if r.nextOff < r.curEnd {
		r.nextOff = r.curEnd
	}
	for len(r.ahead) < partsAhead && r.nextOff < r.end && (len(r.ahead) == 0 || r.nextOff-r.curEnd < bytesAhead) {
		p, start, end, ok := r.partAt(r.nextOff)
		if !ok {
			return
		}
		op := &openedPart{from: r.nextOff, end: end, done: make(chan struct{})}
		local, n := r.nextOff-start, end-r.nextOff
		go func() {
			defer close(op.done)
			op.rd, op.closer, op.err = r.o.ns.openBlobRange(r.ctx, p, local, n)
		}()
		r.ahead = append(r.ahead, op)
		r.nextOff = end
	}
}

// dropAhead closes the parts requested ahead.
func (r *objectReader) dropAhead() {
	for _, op := range r.ahead {
		<-op.done
		if op.closer != nil {
			op.closer.Close()
		}
	}
	r.ahead = nil
}

func (r *objectReader) Read(p []byte) (int, error) {
	for {
		if r.off >= r.end {
			return 0, io.EOF
		}
		if r.cur == nil {
			if err := r.openPart(); err != nil {
				return 0, err
			}
		}
		if max := r.curEnd - r.off; int64(len(p)) > max {
			p = p[:max]
		}
		n, err := r.cur.Read(p)
		r.off += int64(n)
		if err == io.EOF || r.off >= r.curEnd {
			if r.off < r.curEnd {
				return n, fmt.Errorf("%w: part ended early", ErrIntegrity)
			}
			r.closeCur()
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// WriteTo writes the rest of the range to w through each part's reader
// (the sealed-blob reader's WriteTo, when io.Copy finds it), so decrypted
// chunks reach w without passing through another buffer.
func (r *objectReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for r.off < r.end {
		if r.cur == nil {
			if err := r.openPart(); err != nil {
				return total, err
			}
		}
		n, err := io.Copy(w, r.cur)
		total += n
		r.off += n
		if err != nil {
			return total, err
		}
		if r.off != r.curEnd {
			return total, fmt.Errorf("%w: part ended early", ErrIntegrity)
		}
		r.closeCur()
	}
	return total, nil
}

func (r *objectReader) closeCur() {
	if r.closer != nil {
		r.closer.Close()
	}
	r.cur, r.closer = nil, nil
}

// Close releases the backend streams, also those requested ahead.
func (r *objectReader) Close() error {
	r.closeCur()
	r.cancel()
	r.dropAhead()
	r.off = r.end
	return nil
}

// openBlobRange returns a reader over plaintext [off, off+n) of one part.
func (ns *Namespace) openBlobRange(ctx context.Context, p partRecord, off, n int64) (io.Reader, io.Closer, error) {
	id, err := parseBlobID(p.Blob)
	if err != nil {
		return nil, nil, err
	}
	h, err := seal.ParseHeader(p.Header)
	if err != nil {
		return nil, nil, err
	}
	if h.ObjectID != id {
		return nil, nil, fmt.Errorf("%w: header names another blob", ErrIntegrity)
	}
	op, err := h.Open(ns.keys)
	if err != nil {
		return nil, nil, err
	}
	boff, blen := op.Window(p.Size, off, n)
	rc, err := ns.partBytes(ctx, &p, id, boff, blen)
	if err != nil {
		return nil, nil, err
	}
	return op.NewReader(rc, p.Size, off, n), rc, nil
}

// partBytes returns the stored bytes [off, off+length) of a part's blob
// (length -1: to its end; off at or after the header): from the meta
// record for an inline part, else from the store.
func (ns *Namespace) partBytes(ctx context.Context, p *partRecord, id seal.ObjectID, off, length int64) (io.ReadCloser, error) {
	if !p.inline() {
		rc, err := ns.store.Get(ctx, blobName(id), off, length)
		if err != nil {
			return nil, fmt.Errorf("read blob %s: %w", p.Blob, err)
		}
		return rc, nil
	}
	data, start := int64(len(p.Data)), off-seal.HeaderSize
	end := data
	if length >= 0 {
		end = start + length
	}
	if start < 0 || start > end || end > data {
		return nil, fmt.Errorf("%w: bytes %d+%d of an inline blob of %d", ErrIntegrity, off, length, seal.HeaderSize+data)
	}
	return io.NopCloser(bytes.NewReader(p.Data[start:end])), nil
}

// DeleteObject deletes bucket/key, as a front end that shows no versions
// (WebDAV) does: a missing key is ErrNoSuchKey; in a bucket with
// versioning it adds a delete marker (see Delete), unless the current
// version is locked (ErrObjectLocked).
func (ns *Namespace) DeleteObject(ctx context.Context, bucket, key string) error {
	_, err := ns.Delete(ctx, bucket, key, DeleteOptions{MustExist: true, RefuseLocked: true})
	return err
}

// deleteObject deletes bucket/key in a bucket without versioning; with
// ifGen not 0 only while its generation is ifGen (DeleteOptions.IfGeneration).
func (ns *Namespace) deleteObject(ctx context.Context, bucket, key string, ifGen uint64) error {
	unlock, lerr := ns.lock(ctx, bucket, key)
	if lerr != nil {
		return lerr
	}
	defer unlock()
	e, err := ns.cat.Get(ctx, bucket, key)
	if err != nil {
		if errors.Is(err, catalog.ErrNotFound) {
			if _, berr := ns.cat.GetBucket(ctx, bucket); berr != nil {
				return mapCatalogErr(berr, bucket, key)
			}
		}
		return mapCatalogErr(err, bucket, key)
	}
	if ifGen != 0 && e.Generation != ifGen {
		return fmt.Errorf("%w: %s/%s changed since it was read", ErrPrecondition, bucket, key)
	}
	base, id := ns.names.meta(bucket, key)
	tomb, name, err := ns.writeTombstone(ctx, bucket, key, e.Generation)
	if err != nil {
		return err
	}
	removed, err := ns.cat.PutTombstone(context.WithoutCancel(ctx), tomb)
	if err != nil {
		// The tombstone went under a name of its own: the object's
		// record is untouched. It stays only if the deletion landed
		// after all.
		ns.dropUnlessLanded(ctx, recordKey{bucket, key, ""}, name, func(ctx context.Context) (bool, error) {
			if _, err := ns.cat.Get(ctx, bucket, key); !errors.Is(err, catalog.ErrNotFound) {
				return false, err
			}
			t, err := ns.cat.GetTombstone(ctx, bucket, key)
			return err == nil && t.Generation == tomb.Generation, err
		})
		if errors.Is(err, catalog.ErrStale) {
			return fmt.Errorf("%w: a newer write of %s/%s won", ErrPrecondition, bucket, key)
		}
		return mapCatalogErr(err, bucket, key)
	}
	if removed != nil {
		if rec, err := ns.openRecord(removed.Record, id); err == nil {
			ns.deleteReplaced(ctx, storedName(base, rec), name, rec.Parts)
		}
	}
	return nil
}

// CopyOptions are the optional parts of a copy.
type CopyOptions struct {
	// SourceVersionID copies that version of the source instead of the
	// current one.
	SourceVersionID string
	// RefuseLocked is PutOptions.RefuseLocked for the destination.
	RefuseLocked bool
	// Retention and LegalHold lock the copy (see PutOptions).
	Retention *Retention
	LegalHold bool
	// Meta replaces the source's metadata; nil keeps it.
	Meta map[string]string
	// ReplaceTags gives the copy Tags instead of the source's tags.
	ReplaceTags bool
	Tags        map[string]string
	// Checksum is the algorithm of the copy's full-object checksum,
	// computed over the copied plaintext. "": the source's algorithm,
	// or checksum.Default for a source without a checksum. A copy of an
	// object onto itself that keeps its algorithm keeps its checksum.
	Checksum checksum.Algorithm
}

// CopyObject copies src to dst inside the gateway: no data passes through
// the client. meta nil keeps the source's metadata; the copy keeps the
// source's tags. Copying an object onto itself writes a new meta record
// that reuses its blobs; any other copy re-encrypts the plaintext into
// fresh blobs, as each blob is bound to the one object whose key wraps it.
func (ns *Namespace) CopyObject(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (ObjectInfo, error) {
	return ns.CopyObjectWith(ctx, srcBucket, srcKey, dstBucket, dstKey, CopyOptions{Meta: meta})
}

// CopyObjectWith is CopyObject with options.
func (ns *Namespace) CopyObjectWith(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, o CopyOptions) (ObjectInfo, error) {
	if err := ns.Authorize(ctx, srcBucket, AccessRead); err != nil {
		return ObjectInfo{}, err
	}
	if err := ns.Authorize(ctx, dstBucket, AccessWrite); err != nil {
		return ObjectInfo{}, err
	}
	var src *Object
	var err error
	if o.SourceVersionID != "" {
		src, err = ns.ObjectVersion(ctx, srcBucket, srcKey, o.SourceVersionID)
	} else {
		src, err = ns.Object(ctx, srcBucket, srcKey)
	}
	if err != nil {
		return ObjectInfo{}, err
	}
	if err := checkKey(dstKey); err != nil {
		return ObjectInfo{}, err
	}
	meta := o.Meta
	if meta == nil {
		meta = src.Meta
	}
	tags := src.rec.Tags
	if o.ReplaceTags {
		tags = o.Tags
	}
	alg := o.Checksum
	if alg == "" && src.rec.Checksum != nil && src.rec.Checksum.Alg.Valid() {
		alg = src.rec.Checksum.Alg
	}
	cfg, err := ns.BucketVersioning(ctx, dstBucket)
	if err != nil {
		return ObjectInfo{}, err
	}
	// A copy onto itself shares its blobs, unless it makes a new version,
	// which must not share blobs with the version it keeps.
	if srcBucket == dstBucket && srcKey == dstKey && cfg.Status == "" && (o.Checksum == "" || src.Checksum != nil && src.Checksum.Algorithm == o.Checksum) {
		if err := src.load(ctx); err != nil {
			return ObjectInfo{}, err
		}
		rec := &record{Kind: kindObject, Bucket: dstBucket, Key: dstKey, Size: src.Size, ETag: src.ETag,
			Meta: StoredMeta(meta), Props: src.rec.Props, Tags: cloneTags(tags), Parts: src.rec.Parts, Checksum: src.rec.Checksum}
		return ns.commit(ctx, rec, PutOptions{Retention: o.Retention, LegalHold: o.LegalHold})
	}
	body, err := src.NewReader(ctx, 0, -1)
	if err != nil {
		return ObjectInfo{}, err
	}
	defer body.Close()
	return ns.PutObject(ctx, dstBucket, dstKey, body, src.Size, PutOptions{Meta: meta, Tags: tags, Checksum: alg, RefuseLocked: o.RefuseLocked,
		Retention: o.Retention, LegalHold: o.LegalHold})
}

// cloneTags copies tags; an empty set becomes nil, so that records
// without tags stay as they were.
func cloneTags(tags map[string]string) map[string]string {
	if len(tags) == 0 {
		return nil
	}
	return maps.Clone(tags)
}

// SetTags replaces the tags of bucket/key (nil or empty: removes them) and
// writes a new meta record that keeps the object's blobs, ETag, metadata,
// properties and modification time, as S3's PutObjectTagging does.
func (ns *Namespace) SetTags(ctx context.Context, bucket, key string, tags map[string]string) (ObjectInfo, error) {
	if err := ns.Authorize(ctx, bucket, AccessWrite); err != nil {
		return ObjectInfo{}, err
	}
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, err
	}
	unlock, lerr := ns.lock(ctx, bucket, key)
	if lerr != nil {
		return ObjectInfo{}, lerr
	}
	defer unlock()
	o, err := ns.loadedObject(ctx, bucket, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	rec := &record{
		Kind: kindObject, Bucket: bucket, Key: key, Size: o.rec.Size, ETag: o.rec.ETag,
		ModTime: o.rec.ModTime, Meta: o.rec.Meta, Props: o.rec.Props, Tags: cloneTags(tags), Parts: o.rec.Parts,
		Checksum: o.rec.Checksum,
	}
	return ns.commitLocked(ctx, rec, PutOptions{IfMatch: o.rec.ETag, inPlace: true})
}

// ListOptions select a page of a bucket listing.
type ListOptions struct {
	Prefix, Delimiter, StartAfter string
	Limit                         int // <= 0: 1000
}

// ListResult is one page of a listing. Next is the StartAfter of the
// following page when Truncated.
type ListResult struct {
	// Owner is the owner of the bucket listed.
	Owner          Owner
	Objects        []ObjectInfo
	CommonPrefixes []string
	Truncated      bool
	Next           string
}

// List lists a bucket from the catalog alone.
func (ns *Namespace) List(ctx context.Context, bucket string, o ListOptions) (ListResult, error) {
	b, err := ns.readableBucket(ctx, bucket)
	if err != nil {
		return ListResult{}, err
	}
	res, err := ns.cat.List(ctx, catalog.ListOptions{Bucket: bucket, Prefix: o.Prefix, Delimiter: o.Delimiter, StartAfter: o.StartAfter, Limit: o.Limit, WithoutRecords: true})
	if err != nil {
		return ListResult{}, mapCatalogErr(err, bucket, "")
	}
	out := ListResult{Owner: ns.owner(b.Owner), CommonPrefixes: res.CommonPrefixes, Truncated: res.Truncated, Next: res.Next}
	out.Objects = make([]ObjectInfo, len(res.Entries))
	for i, e := range res.Entries {
		out.Objects[i] = ObjectInfo{Bucket: e.Bucket, Key: e.Key, Size: e.Size, ETag: e.ETag, ModTime: e.ModTime, Generation: e.Generation}
	}
	return out, nil
}
