package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/seal"
)

// Share errors. Test with errors.Is.
var (
	// ErrNoSuchShare means no share link has the given id.
	ErrNoSuchShare = errors.New("no such share link")
	// ErrShareGone means a share link is revoked, expired or used up.
	ErrShareGone = errors.New("share link revoked, expired or used up")
	// ErrBlobGone means a shared blob no longer exists: the object was
	// overwritten or deleted after the link was made.
	ErrBlobGone = errors.New("shared file replaced or deleted since the link was made")
	// ErrTooManyFiles means a folder holds more objects than one link
	// may carry.
	ErrTooManyFiles = errors.New("folder holds too many objects for one link")
)

// MaxShareFiles is the most objects one folder link may carry.
const MaxShareFiles = 10000

// sharePrefix is the backend name prefix of share records.
const sharePrefix = "s/"

// ShareRecord is one share link as the namespace stores it: the fields the
// catalog enforces, and Body, the share package's own encoding of the rest
// (its target, the routing of its blobs, the entries sealed under the
// link's key). The namespace seals the whole record under the current
// key-encryption key, on every provider and in the catalog.
type ShareRecord struct {
	ID           string
	Generation   uint64
	Created      time.Time
	Expires      time.Time // zero: never
	MaxDownloads int64     // 0: no limit
	Downloads    int64
	Revoked      bool
	Body         []byte
}

// State returns the link's state at time now.
func (r *ShareRecord) State(now time.Time) catalog.ShareState {
	c := r.catalogShare(nil)
	return c.State(now)
}

// shareRecord is the sealed plaintext of a share record.
type shareRecord struct {
	Version      int       `json:"v"`
	Kind         string    `json:"kind"`
	ID           string    `json:"id"`
	Generation   uint64    `json:"gen"`
	Created      time.Time `json:"created"`
	Expires      time.Time `json:"expires"`
	MaxDownloads int64     `json:"max,omitempty"`
	Downloads    int64     `json:"downloads,omitempty"`
	Revoked      bool      `json:"revoked,omitempty"`
	Body         []byte    `json:"body"`
}

const kindShare = "share"

func (r *ShareRecord) catalogShare(sealed []byte) catalog.Share {
	return catalog.Share{ID: r.ID, Generation: r.Generation, Created: r.Created, Expires: r.Expires,
		MaxDownloads: r.MaxDownloads, Downloads: r.Downloads, Revoked: r.Revoked, Record: sealed}
}

// shareName returns the backend name of the record of share id and the
// object id its sealed form is bound to: HMAC-SHA-256 under the name key of
// a label and the id, so a provider cannot tell which link a record is.
func (n names) share(id string) (string, seal.ObjectID) {
	m := hmac.New(sha256.New, n.key[:])
	m.Write([]byte("twincrypt share name v1\x00"))
	m.Write([]byte(id))
	var h [32]byte
	m.Sum(h[:0])
	var oid seal.ObjectID
	copy(oid[:], h[:])
	return sharePrefix + hex.EncodeToString(h[:]), oid
}

// sealShare seals r for storage.
func (ns *Namespace) sealShare(r *ShareRecord) ([]byte, error) {
	plain, err := json.Marshal(shareRecord{Version: recordVersion, Kind: kindShare, ID: r.ID, Generation: r.Generation,
		Created: r.Created, Expires: r.Expires, MaxDownloads: r.MaxDownloads, Downloads: r.Downloads,
		Revoked: r.Revoked, Body: r.Body})
	if err != nil {
		return nil, fmt.Errorf("encode share record: %w", err)
	}
	_, oid := ns.names.share(r.ID)
	s, err := seal.NewSealer(ns.keys, oid, ns.rand)
	if err != nil {
		return nil, fmt.Errorf("seal share record: %w", err)
	}
	return s.Seal(nil, padRecord(plain)), nil
}

// openShare authenticates a sealed share record that must belong to id.
func (ns *Namespace) openShare(id string, sealed []byte) (*ShareRecord, error) {
	_, oid := ns.names.share(id)
	plain, _, err := ns.unseal(sealed, &oid, "share record")
	if err != nil {
		return nil, err
	}
	return decodeShare(plain, id)
}

// decodeShare decodes the plaintext of a share record that must belong to
// id (any id when empty).
func decodeShare(plain []byte, id string) (*ShareRecord, error) {
	var r shareRecord
	if err := json.Unmarshal(plain, &r); err != nil {
		return nil, fmt.Errorf("%w: share record: %v", ErrCorruptRecord, err)
	}
	if r.Version != recordVersion || r.Kind != kindShare || (id != "" && r.ID != id) {
		return nil, fmt.Errorf("%w: share record of version %d, kind %q, id %q", ErrCorruptRecord, r.Version, r.Kind, r.ID)
	}
	return &ShareRecord{ID: r.ID, Generation: r.Generation, Created: r.Created, Expires: r.Expires,
		MaxDownloads: r.MaxDownloads, Downloads: r.Downloads, Revoked: r.Revoked, Body: r.Body}, nil
}

// PutShare stores a new or changed share record on the providers and in
// the catalog, with a generation above any the catalog holds for it (set
// in r). A revoked record stays revoked: storing it un-revoked fails with
// ErrShareGone.
func (ns *Namespace) PutShare(ctx context.Context, r *ShareRecord) error {
	name, _ := ns.names.share(r.ID)
	unlock, lerr := ns.lock(ctx, name, "")
	if lerr != nil {
		return lerr
	}
	defer unlock()
	return ns.putShareLocked(ctx, r)
}

func (ns *Namespace) putShareLocked(ctx context.Context, r *ShareRecord) error {
	name, _ := ns.names.share(r.ID)
	var prev uint64
	if old, err := ns.cat.GetShare(ctx, r.ID); err == nil {
		prev = old.Generation
		if old.Revoked && !r.Revoked {
			return fmt.Errorf("%w: %s", ErrShareGone, r.ID)
		}
		r.Downloads = max(r.Downloads, old.Downloads)
	} else if !errors.Is(err, catalog.ErrNoSuchShare) {
		return err
	}
	r.Generation = ns.nextGeneration(max(prev, r.Generation))
	sealed, err := ns.sealShare(r)
	if err != nil {
		return err
	}
	if err := ns.putBytes(ctx, name, sealed); err != nil {
		return err
	}
	if err := ns.cat.PutShare(ctx, r.catalogShare(sealed)); err != nil {
		if errors.Is(err, catalog.ErrStale) {
			return fmt.Errorf("%w: %s changed concurrently: %w", ErrShareGone, r.ID, err)
		}
		return err
	}
	return nil
}

// Share returns one share record from the catalog, authenticated.
func (ns *Namespace) Share(ctx context.Context, id string) (*ShareRecord, error) {
	c, err := ns.cat.GetShare(ctx, id)
	if err != nil {
		if errors.Is(err, catalog.ErrNoSuchShare) {
			return nil, fmt.Errorf("%w: %s", ErrNoSuchShare, id)
		}
		return nil, err
	}
	return ns.shareFromCatalog(c)
}

// shareFromCatalog opens the sealed record of a catalog share and takes
// the catalog's download count and revocation, which may be ahead of it.
func (ns *Namespace) shareFromCatalog(c catalog.Share) (*ShareRecord, error) {
	r, err := ns.openShare(c.ID, c.Record)
	if err != nil {
		return nil, fmt.Errorf("share %s: %w", c.ID, err)
	}
	r.Downloads = max(r.Downloads, c.Downloads)
	r.Revoked = r.Revoked || c.Revoked
	return r, nil
}

// Shares returns every share record, oldest first.
func (ns *Namespace) Shares(ctx context.Context) ([]*ShareRecord, error) {
	cs, err := ns.cat.ListShares(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*ShareRecord, 0, len(cs))
	for _, c := range cs {
		r, err := ns.shareFromCatalog(c)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// CountShareDownload counts one opening of share id and returns its record
// afterwards. A link that is revoked, expired or used up is ErrShareGone,
// with the record. The count is written through to the providers, so a
// rebuilt catalog keeps it.
func (ns *Namespace) CountShareDownload(ctx context.Context, id string) (*ShareRecord, error) {
	name, _ := ns.names.share(id)
	unlock, lerr := ns.lock(ctx, name, "")
	if lerr != nil {
		return nil, lerr
	}
	defer unlock()
	c, err := ns.cat.CountDownload(ctx, id, ns.now())
	switch {
	case errors.Is(err, catalog.ErrNoSuchShare):
		return nil, fmt.Errorf("%w: %s", ErrNoSuchShare, id)
	case errors.Is(err, catalog.ErrShareGone):
		r, oerr := ns.shareFromCatalog(c)
		if oerr != nil {
			return nil, oerr
		}
		return r, fmt.Errorf("%w: %s is %s", ErrShareGone, id, r.State(ns.now()))
	case err != nil:
		return nil, err
	}
	r, err := ns.shareFromCatalog(c)
	if err != nil {
		return nil, err
	}
	if err := ns.putShareLocked(ctx, r); err != nil {
		// The catalog counted the download; the providers' copy lags
		// until the next write of this share.
		ns.log.Warn("write share download count", "share", id, "err", err)
	}
	return r, nil
}

// SharedFile is one object as a share link hands it out.
type SharedFile struct {
	Key         string
	Size        int64
	ContentType string
	ModTime     time.Time
	ETag        string
	Parts       []SharedPart
}

// SharedPart is one blob of a shared object, with its data key: handle it
// like any key, never log it.
type SharedPart struct {
	Blob     string // blob id, hex
	Size     int64  // plaintext bytes
	Header   []byte // the blob's seal header, as the meta record holds it
	ObjectID seal.ObjectID
	Salt     [seal.SaltSize]byte
	DataKey  [seal.KeySize]byte
	// Inline marks a part whose blob lives in its object's meta record
	// (docs/FORMAT.md, "Inline objects"); Bucket, Key and VersionID
	// (empty for an object without versions) name the record that holds
	// it, which must still hold it when the blob is served.
	Inline    bool
	Bucket    string
	Key       string
	VersionID string
}

// BlobSize is the stored size of the part's blob.
func (p *SharedPart) BlobSize() int64 { return seal.CiphertextSize(p.Size) }

// SharedFiles returns the object bucket/key, or with folder set every object
// whose key starts with key (the prefix; empty for the whole bucket), with
// the data keys a share link needs. A folder of more than MaxShareFiles
// objects is ErrTooManyFiles.
func (ns *Namespace) SharedFiles(ctx context.Context, bucket, key string, folder bool) ([]SharedFile, error) {
	if err := ns.Authorize(ctx, bucket, AccessRead); err != nil {
		return nil, err
	}
	if !folder {
		o, err := ns.loadedObject(ctx, bucket, key)
		if err != nil {
			return nil, err
		}
		f, err := ns.sharedFile(o.rec)
		if err != nil {
			return nil, err
		}
		return []SharedFile{f}, nil
	}
	if _, err := ns.cat.GetBucket(ctx, bucket); err != nil {
		return nil, mapCatalogErr(err, bucket, "")
	}
	var out []SharedFile
	after := ""
	for {
		page, err := ns.cat.List(ctx, catalog.ListOptions{Bucket: bucket, Prefix: key, StartAfter: after})
		if err != nil {
			return nil, mapCatalogErr(err, bucket, "")
		}
		for _, e := range page.Entries {
			if len(out) == MaxShareFiles {
				return nil, fmt.Errorf("%w: more than %d under %s/%s", ErrTooManyFiles, MaxShareFiles, bucket, key)
			}
			rec, err := ns.openRecord(e.Record, ns.names.entryID(&e))
			if err != nil {
				return nil, fmt.Errorf("%s/%s: %w", bucket, e.Key, err)
			}
			if err := checkRecord(rec, kindObject, bucket, e.Key); err != nil {
				return nil, err
			}
			if err := ns.loadInline(ctx, rec); err != nil {
				return nil, err
			}
			f, err := ns.sharedFile(rec)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
		if !page.Truncated {
			return out, nil
		}
		after = page.Next
	}
}

// sharedFile unwraps the data keys of every part of rec.
func (ns *Namespace) sharedFile(rec *record) (SharedFile, error) {
	f := SharedFile{Key: rec.Key, Size: rec.Size, ContentType: rec.Meta["Content-Type"], ModTime: rec.ModTime, ETag: rec.ETag}
	for _, p := range rec.Parts {
		id, err := parseBlobID(p.Blob)
		if err != nil {
			return SharedFile{}, err
		}
		h, err := seal.ParseHeader(p.Header)
		if err != nil {
			return SharedFile{}, err
		}
		if h.ObjectID != id {
			return SharedFile{}, fmt.Errorf("%w: header names another blob", ErrIntegrity)
		}
		o, err := h.Open(ns.keys)
		if err != nil {
			return SharedFile{}, fmt.Errorf("%s/%s: %w", rec.Bucket, rec.Key, err)
		}
		sp := SharedPart{Blob: p.Blob, Size: p.Size, Header: p.Header,
			ObjectID: h.ObjectID, Salt: h.Salt, DataKey: *o.DataKey()}
		if p.inline() {
			sp.Inline, sp.Bucket, sp.Key, sp.VersionID = true, rec.Bucket, rec.Key, rec.VersionID
		}
		f.Parts = append(f.Parts, sp)
	}
	return f, nil
}

// OpenSharedBlob returns the stored bytes [off, off+length) of a shared
// part's blob: the header as the meta record holds it, then chunks, each
// authenticated before any byte of it is returned, read from the healthiest
// provider with failover. A blob that no longer exists is ErrBlobGone.
func (ns *Namespace) OpenSharedBlob(ctx context.Context, p *SharedPart, off, length int64) (io.ReadCloser, error) {
	total := p.BlobSize()
	if off < 0 || length < 0 || off+length > total {
		return nil, fmt.Errorf("%w: bytes %d+%d of %d", ErrInvalidRange, off, length, total)
	}
	h, err := seal.ParseHeader(p.Header)
	if err != nil {
		return nil, err
	}
	id, err := parseBlobID(p.Blob)
	if err != nil {
		return nil, err
	}
	if h.ObjectID != id {
		return nil, fmt.Errorf("%w: header names another blob", ErrIntegrity)
	}
	var head []byte
	if off < seal.HeaderSize {
		n := min(seal.HeaderSize-off, length)
		head = p.Header[off : off+n]
		off, length = off+n, length-n
	}
	var inline *partRecord
	if p.Inline {
		// The blob is in its object's record: that record must still
		// hold it, as a stored blob must still exist.
		if inline, err = ns.sharedInline(ctx, p); err != nil {
			return nil, err
		}
	}
	if length == 0 {
		// Check that the blob still exists, so a replaced file is not
		// offered by its header alone.
		if inline == nil {
			if _, err := ns.store.Stat(ctx, blobName(id)); err != nil {
				return nil, sharedBlobErr(p.Blob, err)
			}
		}
		return io.NopCloser(bytes.NewReader(head)), nil
	}
	op, err := h.Open(ns.keys)
	if err != nil {
		return nil, err
	}
	bo, bl, err := seal.CipherWindow(p.Size, off, length)
	if err != nil {
		return nil, err
	}
	var rc io.ReadCloser
	if inline != nil {
		rc, err = ns.partBytes(ctx, inline, id, bo, bl)
	} else {
		rc, err = ns.store.Get(ctx, blobName(id), bo, bl)
	}
	if err != nil {
		return nil, sharedBlobErr(p.Blob, err)
	}
	r := io.MultiReader(bytes.NewReader(head), op.NewVerifyingReader(rc, p.Size, off, length))
	return struct {
		io.Reader
		io.Closer
	}{r, rc}, nil
}

// sharedInline returns the inline part of a shared part from the catalog
// record of its object, which must still hold it (the same blob id, the
// same size and data key): ErrBlobGone if the object was replaced or
// deleted since the link was made.
func (ns *Namespace) sharedInline(ctx context.Context, p *SharedPart) (*partRecord, error) {
	gone := fmt.Errorf("%w (blob %s)", ErrBlobGone, p.Blob)
	var rec *record
	if p.VersionID == "" {
		e, err := ns.cat.Get(ctx, p.Bucket, p.Key)
		if errors.Is(err, catalog.ErrNotFound) || errors.Is(err, catalog.ErrNoSuchBucket) {
			return nil, gone
		}
		if err != nil {
			return nil, err
		}
		if rec, err = ns.openRecord(e.Record, ns.names.entryID(&e)); err != nil {
			return nil, err
		}
	} else {
		v, err := ns.cat.GetVersion(ctx, p.Bucket, p.Key, p.VersionID)
		if errors.Is(err, catalog.ErrNotFound) || errors.Is(err, catalog.ErrNoSuchBucket) {
			return nil, gone
		}
		if err != nil {
			return nil, err
		}
		if v.DeleteMarker {
			return nil, gone
		}
		if rec, err = ns.openVersion(&v); err != nil {
			return nil, err
		}
	}
	if err := checkRecord(rec, kindObject, p.Bucket, p.Key); err != nil {
		return nil, err
	}
	if err := ns.loadInline(ctx, rec); err != nil {
		return nil, err
	}
	for i := range rec.Parts {
		q := &rec.Parts[i]
		if q.Blob == p.Blob && q.inline() && q.Size == p.Size {
			return q, nil
		}
	}
	return nil, gone
}

// sharedBlobErr maps a missing blob to ErrBlobGone.
func sharedBlobErr(blob string, err error) error {
	if errors.Is(err, backends.ErrNotFound) {
		return fmt.Errorf("%w (blob %s)", ErrBlobGone, blob)
	}
	return fmt.Errorf("read blob %s: %w", blob, err)
}

// openStoredShare authenticates a share record read from a provider under
// the backend name name: the record must name the link whose name it is
// stored under.
func (ns *Namespace) openStoredShare(name string, sealed []byte) (*ShareRecord, error) {
	plain, oid, err := ns.unseal(sealed, nil, "share record")
	if err != nil {
		return nil, err
	}
	r, err := decodeShare(plain, "")
	if err != nil {
		return nil, err
	}
	if want, wantOID := ns.names.share(r.ID); want != name || wantOID != oid {
		return nil, fmt.Errorf("%w: share record stored under another name", seal.ErrIntegrity)
	}
	return r, nil
}

// rebuildShares enters every share record found on b into cat, keeping the
// highest generation of each; records that do not authenticate are passed
// to fail. It returns how many were entered.
func (ns *Namespace) rebuildShares(ctx context.Context, b backends.Backend, cat catalog.Catalog, fail func(name string, err error)) (int, error) {
	n := 0
	err := listAll(ctx, b, sharePrefix, func(it backends.Info) error {
		sealed, err := readAll(ctx, b, it.Name)
		if err != nil {
			if errors.Is(err, backends.ErrNotFound) {
				return nil
			}
			return err
		}
		r, err := ns.openStoredShare(it.Name, sealed)
		if err != nil {
			fail(it.Name, err)
			return nil
		}
		switch err := cat.PutShare(ctx, r.catalogShare(sealed)); {
		case errors.Is(err, catalog.ErrStale):
		case err != nil:
			return fmt.Errorf("share %s: %w", r.ID, err)
		default:
			n++
		}
		return nil
	})
	return n, err
}
