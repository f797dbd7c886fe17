package catalog

import (
	"context"
	"errors"
	"time"
)

// Errors of the versions part of the catalog.
var (
	// ErrLocked means DeleteVersion found the version under a legal hold
	// or an object-lock retention that the caller may not bypass.
	ErrLocked = errors.New("catalog: version is locked")
	// ErrVersioned means Put, Delete, Move or PutTombstone named a key
	// that has versions: such a key changes only through the Versions
	// methods.
	ErrVersioned = errors.New("catalog: key has versions")
)

// NullVersion is the version ID of the null version: the object written
// while the bucket was unversioned or its versioning suspended. An object
// of a key without versions (Entry.VersionID empty) is that key's null
// version too; it and the null version share one record name on the
// providers and one tombstone, the key's (Tombstone.VersionID empty).
const NullVersion = "null"

// Object-lock retention modes, as S3 spells them.
const (
	RetainGovernance = "GOVERNANCE"
	RetainCompliance = "COMPLIANCE"
)

// Versioning states of a bucket, as S3 spells them. A bucket that never
// had versioning has the empty state; once enabled, versioning can only be
// suspended, never turned off.
const (
	VersioningEnabled   = "Enabled"
	VersioningSuspended = "Suspended"
)

// BucketVersioning is a bucket's versioning and object-lock configuration,
// kept in plain fields because every write of the bucket needs it. The
// bucket's sealed record on the providers holds the same, and is the
// truth a rebuilt catalog takes it from.
type BucketVersioning struct {
	// Status is VersioningEnabled, VersioningSuspended or empty.
	Status string
	// ObjectLock is set for a bucket created with object lock; it
	// implies Status VersioningEnabled and cannot be cleared.
	ObjectLock bool
	// DefaultMode (RetainGovernance, RetainCompliance or empty) and one
	// of DefaultDays and DefaultYears are the default retention of new
	// versions in an object-lock bucket.
	DefaultMode               string
	DefaultDays, DefaultYears int
	// Generation is the generation of the bucket record that holds this
	// configuration; an older one is stale.
	Generation uint64
}

// Version is one version of a key in a bucket that has had versioning: an
// object or a delete marker. The newest version (highest Seq) is the
// key's current version; the catalog keeps the object index (Get, List,
// Walk) equal to it in the same transaction as every change: an Entry
// with the version's fields when it is an object, no Entry when it is a
// delete marker.
//
// Only what the catalog must index or enforce is in plain fields; the
// rest (metadata, tags, blobs) is in the sealed Record, opaque here.
type Version struct {
	Bucket, Key string
	// VersionID names the version within its key; NullVersion for the
	// null version.
	VersionID string
	// Seq orders the versions of one key: higher is newer. It is set
	// when the version is created and never changes; two versions of
	// one key with the same Seq are ordered by VersionID (byte order).
	Seq uint64
	// Generation orders the records of this one version: it starts at
	// Seq and goes up each time the record is rewritten (retention,
	// legal hold, tags); a record at or below a stored one or below the
	// version's tombstone is stale.
	Generation uint64
	// DeleteMarker marks a delete marker: no data, no lock.
	DeleteMarker bool
	Size         int64     // plaintext size in bytes
	ETag         string    // as served to clients, without quotes
	ModTime      time.Time // when the version was written
	// RetainMode (RetainGovernance, RetainCompliance or empty) and
	// RetainUntil are the version's object-lock retention; LegalHold its
	// legal hold. DeleteVersion enforces them, so that no maintenance
	// path can remove a locked version by mistake.
	RetainMode  string
	RetainUntil time.Time
	LegalHold   bool
	// Latest reports that the version is its key's current one. It is
	// set by GetVersion, ListVersions and WalkVersions and ignored by
	// PutVersion.
	Latest bool
	// Record is the meta record as the gateway keeps it here (sealed,
	// or in the gateway's catalog form); opaque to the catalog.
	Record []byte
}

// Locked reports whether v may not be removed at time now: under a legal
// hold, or retained until after now in COMPLIANCE mode, or in GOVERNANCE
// mode unless bypassGovernance.
func (v *Version) Locked(now time.Time, bypassGovernance bool) bool {
	if v.LegalHold {
		return true
	}
	if v.RetainUntil.IsZero() || !v.RetainUntil.After(now) {
		return false
	}
	return v.RetainMode != RetainGovernance || !bypassGovernance
}

// entry returns the object-index entry of v as the current version.
func (v *Version) entry() Entry {
	return Entry{
		Bucket: v.Bucket, Key: v.Key, VersionID: v.VersionID,
		Size: v.Size, ETag: v.ETag, ModTime: v.ModTime,
		Generation: v.Generation, Record: v.Record,
	}
}

// nullVersionOf returns the unversioned entry e (e.VersionID empty) as the
// null version of its key.
func nullVersionOf(e *Entry) Version {
	return Version{
		Bucket: e.Bucket, Key: e.Key, VersionID: NullVersion,
		Seq: e.Generation, Generation: e.Generation,
		Size: e.Size, ETag: e.ETag, ModTime: e.ModTime, Record: e.Record,
	}
}

// DeleteVersionOptions adjust DeleteVersion.
type DeleteVersionOptions struct {
	// BypassGovernance lets a GOVERNANCE retention be overridden (never
	// a COMPLIANCE one, never a legal hold).
	BypassGovernance bool
}

// VersionListOptions selects one page of a version listing, as S3's
// ListObjectVersions does.
type VersionListOptions struct {
	Bucket string
	// Prefix and Delimiter are as in ListOptions.
	Prefix, Delimiter string
	// KeyMarker and VersionIDMarker give where the previous page ended:
	// with an empty VersionIDMarker the page starts after every version
	// of KeyMarker (or after the common prefix KeyMarker); with one, it
	// starts after that version of KeyMarker. An unknown
	// VersionIDMarker starts after every version of KeyMarker.
	KeyMarker, VersionIDMarker string
	// Limit is the most versions plus common prefixes to return; <= 0
	// means DefaultLimit.
	Limit int
}

// VersionListResult is one page of a version listing: versions ordered by
// key ascending (byte order), then newest first; a key without versions
// whose object is unversioned appears as its null version. Common
// prefixes count towards the limit and interleave in key order.
type VersionListResult struct {
	Versions       []Version
	CommonPrefixes []string
	// Truncated reports that more items follow.
	Truncated bool
	// NextKeyMarker and NextVersionIDMarker are the last item returned
	// (a common prefix has an empty NextVersionIDMarker), to be passed
	// as KeyMarker and VersionIDMarker for the following page.
	NextKeyMarker, NextVersionIDMarker string
}

// Versions is the part of the catalog that keeps the versions of keys in
// versioned buckets. Catalog embeds it.
//
// Every method changes one bucket and one key, so an implementation on a
// networked store can make each one atomic with a single script or
// optimistic transaction on keys that share one hash tag per bucket. A key
// has either versions (then its Entry, if any, mirrors the newest one and
// has a non-empty VersionID) or an unversioned Entry (VersionID empty), and
// never both kinds of state.
type Versions interface {
	// SetBucketVersioning records the versioning configuration of an
	// existing bucket. ErrStale if the stored one has the same or a
	// higher Generation; ErrInvalid for an unknown status or mode,
	// turning versioning off or object lock off once on, object lock
	// without versioning enabled, a default retention outside an
	// object-lock bucket, without a mode, or with both days and years.
	SetBucketVersioning(ctx context.Context, bucket string, v BucketVersioning) error
	// GetBucketVersioning returns the versioning configuration of a
	// bucket, the zero value if none was ever set; ErrNoSuchBucket if
	// the bucket is missing.
	GetBucketVersioning(ctx context.Context, bucket string) (BucketVersioning, error)

	// PutVersion stores v and makes the object index mirror the key's
	// newest version. It is S3's versioned PUT (v newer than all,
	// becomes current), a DELETE that adds a delete marker (v a
	// DeleteMarker), a PUT while versioning is suspended (v the null
	// version, replacing the old null version), a rewrite of one
	// version's record (same VersionID and Seq, higher Generation), and
	// the restoring of a version read back from a provider (at any
	// position).
	//
	// An unversioned Entry of the key first becomes its null version
	// (Seq and Generation its Generation). A stored version with the same
	// VersionID is replaced and returned if its Generation is below
	// v.Generation (else ErrStale); for any ID but NullVersion its Seq
	// must equal v.Seq (else ErrInvalid). A tombstone of the version (for
	// NullVersion: the key's tombstone) at or above v.Generation is
	// ErrStale; one below it is dropped. ErrInvalid also for an empty
	// VersionID, a Seq of 0, a Generation below Seq, or a delete marker
	// with retention or legal hold.
	PutVersion(ctx context.Context, v Version) (replaced *Version, err error)
	// GetVersion returns one version of bucket/key with Latest set;
	// versionID empty means the newest one (which may be a delete
	// marker), NullVersion also finds an unversioned Entry. ErrNotFound
	// or ErrNoSuchBucket if there is none.
	GetVersion(ctx context.Context, bucket, key, versionID string) (Version, error)
	// DeleteVersion removes the version t.VersionID of t.Bucket/t.Key
	// (NullVersion: the null version or the unversioned Entry) and
	// records the tombstone t, so that the version's record never comes
	// back at or below t.Generation; for NullVersion the tombstone is
	// the key's (GetTombstone). If the removed version was the newest,
	// the next newest becomes current in the object index. It returns
	// the removed version, nil if there was none (the tombstone is
	// recorded all the same). ErrStale if the version's Generation or a
	// stored tombstone of it is at or above t.Generation; ErrLocked (and
	// nothing changes) if the version is Locked at t.Deleted.
	DeleteVersion(ctx context.Context, t Tombstone, o DeleteVersionOptions) (removed *Version, err error)
	// ListVersions returns one page of a bucket's versions (see
	// VersionListOptions). It costs about one index step per item
	// returned, not per key under a common prefix.
	ListVersions(ctx context.Context, o VersionListOptions) (VersionListResult, error)
	// WalkVersions calls fn for every stored version (not unversioned
	// entries, which Walk covers) of every bucket, by bucket, key, newest
	// first, with Latest set. fn may modify the catalog; an error from fn
	// stops the walk and is returned.
	WalkVersions(ctx context.Context, fn func(Version) error) error
	// GetVersionTombstone returns the tombstone of one version
	// (NullVersion: the key's tombstone); ErrNotFound if none.
	GetVersionTombstone(ctx context.Context, bucket, key, versionID string) (Tombstone, error)
	// WalkVersionTombstones calls fn for every tombstone of a version
	// other than the null one (those are key tombstones, which
	// WalkTombstones covers), by bucket, key and version ID.
	WalkVersionTombstones(ctx context.Context, fn func(Tombstone) error) error
}
