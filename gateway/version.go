package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/seal"
)

// kindDeleteMarker is the kind of a delete marker's record: a version of a
// key that says the key was deleted, with no data.
const kindDeleteMarker = "marker"

// NullVersion is the version ID of the null version (see catalog).
const NullVersion = catalog.NullVersion

// Versioning states of a bucket, as S3 spells them.
const (
	VersioningEnabled   = catalog.VersioningEnabled
	VersioningSuspended = catalog.VersioningSuspended
)

// Errors of versioned buckets.
var (
	// ErrNoSuchVersion means the version ID names no version of the key.
	ErrNoSuchVersion = errors.New("no such version")
	// ErrInvalidVersionID means a version ID is not one this gateway
	// could have made.
	ErrInvalidVersionID = errors.New("invalid version id")
	// ErrInvalidVersioning means a versioning change the bucket cannot
	// take (turning it off, suspending an object-lock bucket).
	ErrInvalidVersioning = errors.New("invalid versioning state")
)

// DeleteMarkerError reports that a read found a delete marker: the key's
// current version (then it is also ErrNoSuchKey) or the version asked for
// by ID.
type DeleteMarkerError struct {
	Bucket, Key, VersionID string
	Current                bool
}

// Error implements error.
func (e *DeleteMarkerError) Error() string {
	return fmt.Sprintf("%s/%s: version %s is a delete marker", e.Bucket, e.Key, e.VersionID)
}

// Unwrap makes a current delete marker ErrNoSuchKey.
func (e *DeleteMarkerError) Unwrap() error {
	if e.Current {
		return ErrNoSuchKey
	}
	return nil
}

// versionIDLen is the length of the version IDs this gateway makes: 16
// random bytes in hex.
const versionIDLen = 32

// newVersionID returns a fresh random version ID.
func (ns *Namespace) newVersionID() (string, error) {
	var b [versionIDLen / 2]byte
	if _, err := io.ReadFull(ns.rand, b[:]); err != nil {
		return "", fmt.Errorf("version id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// checkVersionID accepts NullVersion and the IDs newVersionID makes.
func checkVersionID(id string) error {
	if id == NullVersion {
		return nil
	}
	if len(id) != versionIDLen {
		return fmt.Errorf("%w: %q", ErrInvalidVersionID, id)
	}
	if _, err := hex.DecodeString(id); err != nil {
		return fmt.Errorf("%w: %q", ErrInvalidVersionID, id)
	}
	return nil
}

// versionHash is HMAC-SHA-256 under the name key of a length-prefixed
// encoding of bucket, key and version ID, under its own label so that it
// never equals a metaHash.
func (n names) versionHash(bucket, key, versionID string) [32]byte {
	m := hmac.New(sha256.New, n.key[:])
	var l [2]byte
	m.Write([]byte("twincrypt version name v1\x00"))
	binary.BigEndian.PutUint16(l[:], uint16(len(bucket)))
	m.Write(l[:])
	m.Write([]byte(bucket))
	binary.BigEndian.PutUint16(l[:], uint16(len(key)))
	m.Write(l[:])
	m.Write([]byte(key))
	m.Write([]byte(versionID))
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// version returns the backend name of the record of one version of
// bucket/key and the object id its sealed form is bound to. The null
// version (and an object without versions, versionID empty) lives under
// the key's own name, so an object written before versioning is its null
// version as it is.
func (n names) version(bucket, key, versionID string) (string, seal.ObjectID) {
	if versionID == "" || versionID == NullVersion {
		return n.meta(bucket, key)
	}
	h := n.versionHash(bucket, key, versionID)
	var id seal.ObjectID
	copy(id[:], h[:])
	return metaPrefix + hex.EncodeToString(h[:]), id
}

// entryID returns the object id the record of a catalog entry is bound to.
func (n names) entryID(e *catalog.Entry) seal.ObjectID {
	_, id := n.version(e.Bucket, e.Key, e.VersionID)
	return id
}

// BucketVersioning returns the versioning configuration of bucket.
func (ns *Namespace) BucketVersioning(ctx context.Context, bucket string) (catalog.BucketVersioning, error) {
	if err := ns.Authorize(ctx, bucket, AccessRead); err != nil {
		return catalog.BucketVersioning{}, err
	}
	v, err := ns.cat.GetBucketVersioning(ctx, bucket)
	if err != nil {
		return v, mapCatalogErr(err, bucket, "")
	}
	return v, nil
}

// SetBucketVersioning enables or suspends versioning of bucket: the
// bucket's sealed record first, then the catalog.
func (ns *Namespace) SetBucketVersioning(ctx context.Context, bucket, status string) error {
	if err := ns.Authorize(ctx, bucket, AccessOwner); err != nil {
		return err
	}
	if status != VersioningEnabled && status != VersioningSuspended {
		return fmt.Errorf("%w: %q", ErrInvalidVersioning, status)
	}
	var cfg catalog.BucketVersioning
	err := ns.updateBucketRecord(ctx, bucket, func(r *record) error {
		if r.Versioning != nil && r.Versioning.ObjectLock && status != VersioningEnabled {
			return fmt.Errorf("%w: versioning of an object-lock bucket cannot be suspended", ErrInvalidVersioning)
		}
		if r.Versioning == nil {
			r.Versioning = &versioningRecord{}
		}
		r.Versioning.Status = status
		cfg = r.Versioning.catalog(r.Generation)
		return nil
	})
	if err != nil {
		return err
	}
	return ns.recordVersioning(ctx, bucket, cfg)
}

// recordVersioning stores cfg in the catalog.
func (ns *Namespace) recordVersioning(ctx context.Context, bucket string, cfg catalog.BucketVersioning) error {
	if err := ns.cat.SetBucketVersioning(ctx, bucket, cfg); err != nil {
		if errors.Is(err, catalog.ErrInvalid) {
			return fmt.Errorf("%w: %w", ErrInvalidVersioning, err)
		}
		return mapCatalogErr(err, bucket, "")
	}
	return nil
}

// versioningRecord is a bucket's versioning and object-lock configuration
// in its sealed record.
type versioningRecord struct {
	Status     string `json:"status,omitempty"`
	ObjectLock bool   `json:"lock,omitempty"`
	// DefaultMode, DefaultDays and DefaultYears: the default retention.
	DefaultMode  string `json:"mode,omitempty"`
	DefaultDays  int    `json:"days,omitempty"`
	DefaultYears int    `json:"years,omitempty"`
}

func (v *versioningRecord) catalog(gen uint64) catalog.BucketVersioning {
	if v == nil {
		return catalog.BucketVersioning{Generation: gen}
	}
	return catalog.BucketVersioning{Status: v.Status, ObjectLock: v.ObjectLock, DefaultMode: v.DefaultMode,
		DefaultDays: v.DefaultDays, DefaultYears: v.DefaultYears, Generation: gen}
}

// versionOf returns the catalog version of an authenticated object or
// delete-marker record sealed as sealed.
func (ns *Namespace) versionOf(r *record, sealed []byte) catalog.Version {
	v := catalog.Version{
		Bucket: r.Bucket, Key: r.Key, VersionID: r.VersionID, Seq: r.Seq, Generation: r.Generation,
		DeleteMarker: r.Kind == kindDeleteMarker, Size: r.Size, ETag: r.ETag, ModTime: r.ModTime,
		LegalHold: r.LegalHold, Record: ns.catRecord(r, sealed),
	}
	if v.VersionID == "" {
		v.VersionID = NullVersion
	}
	if v.Seq == 0 {
		v.Seq = r.Generation
	}
	if r.Retention != nil {
		v.RetainMode, v.RetainUntil = r.Retention.Mode, r.Retention.Until
	}
	return v
}

// commitVersionLocked is commitLocked in a bucket that has versioning:
// rec becomes a new version (the null one while versioning is suspended),
// or with o.inPlace a new record of the current version.
func (ns *Namespace) commitVersionLocked(ctx context.Context, rec *record, o PutOptions, cfg catalog.BucketVersioning) (ObjectInfo, error) {
	cur, err := ns.cat.GetVersion(ctx, rec.Bucket, rec.Key, "")
	found := err == nil
	if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return ObjectInfo{}, mapCatalogErr(err, rec.Bucket, rec.Key)
	}
	exists := found && !cur.DeleteMarker
	if err := checkConditions(exists, cur.ETag, o); err != nil {
		return ObjectInfo{}, err
	}
	if now := ns.now(); o.RefuseLocked && exists && cur.Locked(now, false) {
		return ObjectInfo{}, lockedError(&cur, now)
	}
	if rec.ModTime.IsZero() {
		rec.ModTime = ns.now().UTC().Truncate(time.Millisecond)
	}
	if o.inPlace {
		if !exists {
			return ObjectInfo{}, fmt.Errorf("%w: %s/%s", ErrNoSuchKey, rec.Bucket, rec.Key)
		}
		old, err := ns.openVersion(&cur)
		if err != nil {
			return ObjectInfo{}, err
		}
		rec.VersionID, rec.Seq = cur.VersionID, cur.Seq
		rec.Retention, rec.LegalHold = old.Retention, old.LegalHold
		rec.Generation = ns.nextGeneration(cur.Generation)
	} else {
		prev := cur.Generation
		tg, err := ns.tombstoneGen(ctx, rec.Bucket, rec.Key)
		if err != nil {
			return ObjectInfo{}, err
		}
		prev = max(prev, tg)
		rec.VersionID = NullVersion
		if cfg.Status == VersioningEnabled {
			if rec.VersionID, err = ns.newVersionID(); err != nil {
				return ObjectInfo{}, err
			}
		} else {
			ng, err := ns.nullVersionGen(ctx, rec.Bucket, rec.Key)
			if err != nil {
				return ObjectInfo{}, err
			}
			prev = max(prev, ng)
		}
		rec.Generation = ns.nextGeneration(prev)
		rec.Seq = rec.Generation
		if err := ns.applyDefaultRetention(rec, cfg, o); err != nil {
			return ObjectInfo{}, err
		}
	}
	return ns.putVersion(ctx, rec)
}

// nullVersionGen returns the generation of the null version of
// bucket/key, 0 if there is none. A write that replaces the null version
// must go above it: a non-current null version may hold a higher
// generation than the current version (its tags rewritten by an instance
// whose clock is ahead), and the catalog refuses a lower one as stale.
func (ns *Namespace) nullVersionGen(ctx context.Context, bucket, key string) (uint64, error) {
	v, err := ns.cat.GetVersion(ctx, bucket, key, NullVersion)
	switch {
	case err == nil:
		return v.Generation, nil
	case errors.Is(err, catalog.ErrNotFound):
		return 0, nil
	}
	return 0, mapCatalogErr(err, bucket, key)
}

// putVersion seals rec, writes it under its version's name and records it
// in the catalog; the record and the blobs of a record it replaces (the
// null version, or an older record of the same version) that it no longer
// uses are deleted.
func (ns *Namespace) putVersion(ctx context.Context, rec *record) (ObjectInfo, error) {
	base, id := ns.names.version(rec.Bucket, rec.Key, rec.VersionID)
	sealed, err := ns.sealRecord(rec, id)
	if err != nil {
		return ObjectInfo{}, err
	}
	name := storedName(base, rec)
	// The null version written again after its deletion replaces the
	// key's tombstone, which the catalog drops: its record goes too.
	var tombName string
	if rec.VersionID == NullVersion {
		if t, err := ns.cat.GetVersionTombstone(ctx, rec.Bucket, rec.Key, NullVersion); err == nil {
			if n, _, err := ns.recordNameOf(rec.Bucket, rec.Key, NullVersion, t.Record); err == nil {
				tombName = n
			}
		}
	}
	if err := ns.putBytes(ctx, name, sealed); err != nil {
		return ObjectInfo{}, fmt.Errorf("write meta record: %w", err)
	}
	replaced, err := ns.cat.PutVersion(context.WithoutCancel(ctx), ns.versionOf(rec, sealed))
	if err != nil {
		landed := func(ctx context.Context) (bool, error) {
			cur, err := ns.cat.GetVersion(ctx, rec.Bucket, rec.Key, rec.VersionID)
			if errors.Is(err, catalog.ErrNotFound) || errors.Is(err, catalog.ErrNoSuchBucket) {
				return false, nil
			}
			return err == nil && sameRecord(sealed, cur.Record), err
		}
		if errors.Is(err, catalog.ErrStale) {
			landed = nil
		}
		unknown := ns.settleUncommitted(ctx, recordKey{rec.Bucket, rec.Key, rec.VersionID}, name, err, landed)
		switch {
		case errors.Is(err, catalog.ErrStale):
			return ObjectInfo{}, fmt.Errorf("%w: a newer write of %s/%s won", ErrPrecondition, rec.Bucket, rec.Key)
		case unknown:
			return ObjectInfo{}, fmt.Errorf("%w: %w", errOutcomeUnknown, mapCatalogErr(err, rec.Bucket, rec.Key))
		}
		return ObjectInfo{}, mapCatalogErr(err, rec.Bucket, rec.Key)
	}
	if replaced == nil {
		ns.dropRecord(ctx, tombName, name)
	} else if old, err := ns.openVersion(replaced); err == nil {
		ns.deleteReplaced(ctx, storedName(base, old), name, supersededParts(old.Parts, rec.Parts))
	} else {
		ns.log.Warn("open replaced meta record; its record and blobs are left to gc", "err", err)
	}
	info := rec.info()
	return info, nil
}

// openVersion authenticates the record of a catalog version.
func (ns *Namespace) openVersion(v *catalog.Version) (*record, error) {
	_, id := ns.names.version(v.Bucket, v.Key, v.VersionID)
	r, err := ns.openRecord(v.Record, id)
	if err != nil {
		return nil, fmt.Errorf("%s/%s?versionId=%s: %w", v.Bucket, v.Key, v.VersionID, err)
	}
	kind := kindObject
	if v.DeleteMarker {
		kind = kindDeleteMarker
	}
	if err := checkRecord(r, kind, v.Bucket, v.Key); err != nil {
		return nil, err
	}
	if rid := r.VersionID; rid != v.VersionID && !(rid == "" && v.VersionID == NullVersion) {
		return nil, fmt.Errorf("%w: record of version %q under version %q", ErrCorruptRecord, rid, v.VersionID)
	}
	return r, nil
}

// DeleteOptions adjust Delete.
type DeleteOptions struct {
	// VersionID deletes that version for good instead of the key.
	VersionID string
	// BypassGovernance lets the deletion of a version override a
	// GOVERNANCE retention.
	BypassGovernance bool
	// MustExist makes the deletion of a key without a current object
	// ErrNoSuchKey in a versioned bucket too (WebDAV), instead of adding
	// a delete marker (S3).
	MustExist bool
	// RefuseLocked refuses to hide a current version that is locked
	// behind a delete marker (ErrObjectLocked), for front ends that show
	// no versions (WebDAV).
	RefuseLocked bool
	// IfGeneration, when not 0, deletes the key only while its current
	// object (or current version) has this generation, and is
	// ErrPrecondition otherwise: a caller that read the object (a move
	// copying it) deletes what it read, never a newer write that landed
	// meanwhile. It does not apply with VersionID.
	IfGeneration uint64
}

// DeleteResult says what a deletion did.
type DeleteResult struct {
	// VersionID is the delete marker's ID (deleting a key in a versioned
	// bucket) or the deleted version's; empty in an unversioned bucket.
	VersionID string
	// DeleteMarker reports that a delete marker was made or deleted.
	DeleteMarker bool
}

// Delete deletes bucket/key as S3 does: in an unversioned bucket it is
// DeleteObject; in a versioned one it adds a delete marker (the null one
// while versioning is suspended, replacing the null version); with
// o.VersionID it removes that version for good, unless it is locked.
func (ns *Namespace) Delete(ctx context.Context, bucket, key string, o DeleteOptions) (DeleteResult, error) {
	if err := ns.Authorize(ctx, bucket, AccessWrite); err != nil {
		return DeleteResult{}, err
	}
	if err := checkKey(key); err != nil {
		return DeleteResult{}, err
	}
	cfg, err := ns.BucketVersioning(ctx, bucket)
	if err != nil {
		return DeleteResult{}, err
	}
	if o.VersionID == NullVersion && cfg.Status == "" {
		// No versions: the null version is the object, whose catalog
		// entry must stay unversioned. As S3, deleting it when it is
		// not there succeeds.
		err := ns.deleteObject(ctx, bucket, key, 0)
		if err != nil && !errors.Is(err, ErrNoSuchKey) {
			return DeleteResult{}, err
		}
		return DeleteResult{VersionID: NullVersion}, nil
	}
	if o.VersionID != "" {
		return ns.deleteVersion(ctx, bucket, key, o)
	}
	if cfg.Status == "" {
		return DeleteResult{}, ns.deleteObject(ctx, bucket, key, o.IfGeneration)
	}
	unlock, lerr := ns.lock(ctx, bucket, key)
	if lerr != nil {
		return DeleteResult{}, lerr
	}
	defer unlock()
	cur, err := ns.cat.GetVersion(ctx, bucket, key, "")
	if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return DeleteResult{}, mapCatalogErr(err, bucket, key)
	}
	if o.MustExist && (err != nil || cur.DeleteMarker) {
		return DeleteResult{}, fmt.Errorf("%w: %s/%s", ErrNoSuchKey, bucket, key)
	}
	if o.IfGeneration != 0 && (err != nil || cur.Generation != o.IfGeneration) {
		return DeleteResult{}, fmt.Errorf("%w: %s/%s changed since it was read", ErrPrecondition, bucket, key)
	}
	if now := ns.now(); o.RefuseLocked && err == nil && cur.Locked(now, false) {
		return DeleteResult{}, lockedError(&cur, now)
	}
	tg, err := ns.tombstoneGen(ctx, bucket, key)
	if err != nil {
		return DeleteResult{}, err
	}
	rec := &record{Kind: kindDeleteMarker, Bucket: bucket, Key: key, ModTime: ns.now().UTC().Truncate(time.Millisecond), VersionID: NullVersion}
	prev := max(cur.Generation, tg)
	if cfg.Status == VersioningEnabled {
		if rec.VersionID, err = ns.newVersionID(); err != nil {
			return DeleteResult{}, err
		}
	} else {
		ng, err := ns.nullVersionGen(ctx, bucket, key)
		if err != nil {
			return DeleteResult{}, err
		}
		prev = max(prev, ng)
	}
	rec.Generation = ns.nextGeneration(prev)
	rec.Seq = rec.Generation
	if _, err := ns.putVersion(ctx, rec); err != nil {
		return DeleteResult{}, err
	}
	return DeleteResult{VersionID: rec.VersionID, DeleteMarker: true}, nil
}

// deleteVersion removes one version for good: a sealed tombstone under the
// version's name, then the catalog (which refuses a locked version), then
// the version's blobs.
func (ns *Namespace) deleteVersion(ctx context.Context, bucket, key string, o DeleteOptions) (DeleteResult, error) {
	if err := checkVersionID(o.VersionID); err != nil {
		return DeleteResult{}, err
	}
	unlock, lerr := ns.lock(ctx, bucket, key)
	if lerr != nil {
		return DeleteResult{}, lerr
	}
	defer unlock()
	v, err := ns.cat.GetVersion(ctx, bucket, key, o.VersionID)
	if errors.Is(err, catalog.ErrNotFound) {
		// As S3: deleting a version that is not there succeeds.
		return DeleteResult{VersionID: o.VersionID}, nil
	}
	if err != nil {
		return DeleteResult{}, mapCatalogErr(err, bucket, key)
	}
	now := ns.now().UTC()
	if v.Locked(now, o.BypassGovernance) {
		return DeleteResult{}, lockedError(&v, now)
	}
	tomb, name, err := ns.writeVersionTombstone(ctx, bucket, key, o.VersionID, v.Generation)
	if err != nil {
		return DeleteResult{}, err
	}
	removed, err := ns.cat.DeleteVersion(context.WithoutCancel(ctx), tomb, catalog.DeleteVersionOptions{BypassGovernance: o.BypassGovernance})
	if err != nil {
		// The tombstone went under a name of its own: the version's
		// record is untouched. It stays only if the deletion landed
		// after all (the catalog no longer holds the version).
		ns.dropUnlessLanded(ctx, recordKey{bucket, key, o.VersionID}, name, func(ctx context.Context) (bool, error) {
			_, err := ns.cat.GetVersion(ctx, bucket, key, o.VersionID)
			if errors.Is(err, catalog.ErrNotFound) || errors.Is(err, catalog.ErrNoSuchBucket) {
				return true, nil
			}
			return false, err
		})
	}
	switch {
	case errors.Is(err, catalog.ErrLocked):
		return DeleteResult{}, lockedError(&v, now)
	case errors.Is(err, catalog.ErrStale):
		return DeleteResult{}, fmt.Errorf("%w: a newer write of %s/%s won", ErrPrecondition, bucket, key)
	case err != nil:
		return DeleteResult{}, mapCatalogErr(err, bucket, key)
	}
	if removed != nil {
		base, _ := ns.names.version(bucket, key, o.VersionID)
		if r, err := ns.openVersion(removed); err == nil {
			ns.deleteReplaced(ctx, storedName(base, r), name, r.Parts) // a delete marker has none
		} else {
			ns.log.Warn("open deleted version's record; its record and blobs are left to gc", "err", err)
		}
	}
	return DeleteResult{VersionID: o.VersionID, DeleteMarker: v.DeleteMarker}, nil
}

// writeVersionTombstone seals a tombstone of one version at a generation
// above after, writes it to the store under a name of its own generation
// and returns it for the catalog, with that name. The caller holds the
// key's lock.
func (ns *Namespace) writeVersionTombstone(ctx context.Context, bucket, key, versionID string, after uint64) (catalog.Tombstone, string, error) {
	now := ns.now().UTC().Truncate(time.Millisecond)
	r := &record{Kind: kindTombstone, Bucket: bucket, Key: key, VersionID: versionID, ModTime: now, Generation: ns.nextGeneration(after)}
	if versionID == NullVersion {
		r.VersionID = ""
	}
	base, id := ns.names.version(bucket, key, versionID)
	sealed, err := ns.sealRecord(r, id)
	if err != nil {
		return catalog.Tombstone{}, "", err
	}
	name := storedName(base, r)
	if err := ns.putBytes(ctx, name, sealed); err != nil {
		return catalog.Tombstone{}, "", fmt.Errorf("write tombstone: %w", err)
	}
	return catalog.Tombstone{Bucket: bucket, Key: key, VersionID: versionID, Generation: r.Generation, Deleted: now, Record: sealed}, name, nil
}

// ObjectVersion opens one version of bucket/key, as Object opens the
// current one. A delete marker is a *DeleteMarkerError.
func (ns *Namespace) ObjectVersion(ctx context.Context, bucket, key, versionID string) (*Object, error) {
	if err := ns.Authorize(ctx, bucket, AccessRead); err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := checkVersionID(versionID); err != nil {
		return nil, err
	}
	v, err := ns.cat.GetVersion(ctx, bucket, key, versionID)
	if err != nil {
		if errors.Is(err, catalog.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s/%s?versionId=%s", ErrNoSuchVersion, bucket, key, versionID)
		}
		return nil, mapCatalogErr(err, bucket, key)
	}
	if v.DeleteMarker {
		return nil, &DeleteMarkerError{Bucket: bucket, Key: key, VersionID: versionID}
	}
	r, err := ns.openVersion(&v)
	if err != nil {
		return nil, err
	}
	info := r.info()
	info.VersionID = v.VersionID
	return &Object{ObjectInfo: info, ns: ns, rec: r}, nil
}

// SetVersionTags replaces the tags of one version of bucket/key (nil or
// empty: removes them), as S3's PutObjectTagging and DeleteObjectTagging
// with a versionId do. Only that version's record changes, one generation
// up, as SetObjectRetention changes it: its data, ETag, checksum,
// modification time, lock and place among the key's versions stay, and
// the current object changes only if it is that version. In a bucket that
// never had versioning the null version is the object itself (SetTags).
// A delete marker is a *DeleteMarkerError, an unknown version
// ErrNoSuchVersion.
func (ns *Namespace) SetVersionTags(ctx context.Context, bucket, key, versionID string, tags map[string]string) (ObjectInfo, error) {
	if err := ns.Authorize(ctx, bucket, AccessWrite); err != nil {
		return ObjectInfo{}, err
	}
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, err
	}
	if err := checkVersionID(versionID); err != nil {
		return ObjectInfo{}, err
	}
	cfg, err := ns.BucketVersioning(ctx, bucket)
	if err != nil {
		return ObjectInfo{}, err
	}
	if cfg.Status == "" {
		// No versions: the catalog must keep the key's unversioned
		// entry, which PutVersion would turn into a null version.
		if versionID != NullVersion {
			return ObjectInfo{}, fmt.Errorf("%w: %s/%s?versionId=%s", ErrNoSuchVersion, bucket, key, versionID)
		}
		info, err := ns.SetTags(ctx, bucket, key, tags)
		if errors.Is(err, ErrNoSuchKey) {
			return ObjectInfo{}, fmt.Errorf("%w: %s/%s?versionId=%s", ErrNoSuchVersion, bucket, key, versionID)
		}
		return info, err
	}
	unlock, lerr := ns.lock(ctx, bucket, key)
	if lerr != nil {
		return ObjectInfo{}, lerr
	}
	defer unlock()
	v, err := ns.cat.GetVersion(ctx, bucket, key, versionID)
	if errors.Is(err, catalog.ErrNotFound) {
		return ObjectInfo{}, fmt.Errorf("%w: %s/%s?versionId=%s", ErrNoSuchVersion, bucket, key, versionID)
	}
	if err != nil {
		return ObjectInfo{}, mapCatalogErr(err, bucket, key)
	}
	if v.DeleteMarker {
		return ObjectInfo{}, &DeleteMarkerError{Bucket: bucket, Key: key, VersionID: v.VersionID}
	}
	r, err := ns.openVersion(&v)
	if err != nil {
		return ObjectInfo{}, err
	}
	r.Tags = cloneTags(tags)
	return ns.rewriteVersion(ctx, &v, r)
}

// VersionInfo describes one version in a listing.
type VersionInfo struct {
	Key, VersionID string
	Latest         bool
	DeleteMarker   bool
	Size           int64
	ETag           string
	ModTime        time.Time
}

// VersionListOptions select a page of a version listing.
type VersionListOptions struct {
	Prefix, Delimiter          string
	KeyMarker, VersionIDMarker string
	Limit                      int // <= 0: 1000
}

// VersionListResult is one page of a version listing.
type VersionListResult struct {
	Versions                           []VersionInfo
	CommonPrefixes                     []string
	Truncated                          bool
	NextKeyMarker, NextVersionIDMarker string
}

// ListVersions lists the versions of a bucket from the catalog alone: by
// key, newest first; objects written before versioning are null versions.
func (ns *Namespace) ListVersions(ctx context.Context, bucket string, o VersionListOptions) (VersionListResult, error) {
	if err := ns.Authorize(ctx, bucket, AccessRead); err != nil {
		return VersionListResult{}, err
	}
	if o.VersionIDMarker != "" {
		if err := checkVersionID(o.VersionIDMarker); err != nil {
			return VersionListResult{}, err
		}
	}
	res, err := ns.cat.ListVersions(ctx, catalog.VersionListOptions{Bucket: bucket, Prefix: o.Prefix, Delimiter: o.Delimiter,
		KeyMarker: o.KeyMarker, VersionIDMarker: o.VersionIDMarker, Limit: o.Limit})
	if err != nil {
		return VersionListResult{}, mapCatalogErr(err, bucket, "")
	}
	out := VersionListResult{CommonPrefixes: res.CommonPrefixes, Truncated: res.Truncated,
		NextKeyMarker: res.NextKeyMarker, NextVersionIDMarker: res.NextVersionIDMarker}
	out.Versions = make([]VersionInfo, len(res.Versions))
	for i, v := range res.Versions {
		out.Versions[i] = VersionInfo{Key: v.Key, VersionID: v.VersionID, Latest: v.Latest, DeleteMarker: v.DeleteMarker,
			Size: v.Size, ETag: v.ETag, ModTime: v.ModTime}
	}
	return out, nil
}
