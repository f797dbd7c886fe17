// Package catalog indexes the encrypted namespace: it maps bucket and key to
// the object's meta record (sealed, or in the gateway's compact
// catalog form), so that HEAD, listings (prefix,
// delimiter, start-after, pagination) and WebDAV PROPFIND never touch a
// storage provider. It also keeps the state of multipart uploads and the
// share links with their download counts.
//
// The catalog is a cache. The meta records on the backends are the truth,
// and the catalog can be rebuilt from any one backend. Records are opaque
// here: the catalog never decrypts or interprets them.
//
// Catalog is the interface; Bolt (OpenBolt) is the embedded implementation,
// which also serves as the durable repair queue of the replicated set
// (replica.Queue). Package catalogtest holds the conformance suite every
// implementation must pass.
package catalog

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Implementations wrap them; test with errors.Is.
var (
	// ErrNotFound means the bucket exists but holds no such key.
	ErrNotFound = errors.New("catalog: no such key")
	// ErrNoSuchBucket means the bucket does not exist.
	ErrNoSuchBucket = errors.New("catalog: no such bucket")
	// ErrBucketExists means CreateBucket found the bucket already there.
	ErrBucketExists = errors.New("catalog: bucket already exists")
	// ErrBucketNotEmpty means DeleteBucket found objects or multipart
	// uploads in progress in the bucket.
	ErrBucketNotEmpty = errors.New("catalog: bucket not empty")
	// ErrNoSuchUpload means no multipart upload has the given ID.
	ErrNoSuchUpload = errors.New("catalog: no such upload")
	// ErrUploadExists means CreateUpload found the upload ID in use.
	ErrUploadExists = errors.New("catalog: upload already exists")
	// ErrStale means the catalog holds a newer generation of the object
	// than the one a Put or Delete names; the caller lost a race and its
	// change must not be applied.
	ErrStale = errors.New("catalog: stale generation")
	// ErrInvalid means an argument is unacceptable: an empty bucket name,
	// key or upload ID, a key longer than MaxKeyLen, or a part number
	// outside 1..MaxPartNumber.
	ErrInvalid = errors.New("catalog: invalid argument")
	// ErrCorrupt means a stored value could not be decoded.
	ErrCorrupt = errors.New("catalog: corrupt value")
	// ErrInUse means another process holds the catalog open.
	ErrInUse = errors.New("catalog is in use by another process")
)

// Limits on arguments.
const (
	// MaxKeyLen is the longest object key in bytes, as in S3.
	MaxKeyLen = 1024
	// MaxPartNumber is the highest multipart part number, as in S3.
	MaxPartNumber = 10000
	// DefaultLimit is the page size when a listing asks for none.
	DefaultLimit = 1000
)

// Bucket is one bucket of the namespace.
type Bucket struct {
	Name    string
	Created time.Time
	// Owner is the owner id of the user the bucket belongs to; empty for
	// buckets made before buckets had owners.
	Owner string
}

// Entry is the catalog's view of one object.
type Entry struct {
	Bucket, Key string
	// VersionID is empty for an object of a key without versions;
	// otherwise the key's current version, whose fields these are (see
	// Versions).
	VersionID string
	Size      int64     // plaintext size in bytes
	ETag      string    // as served to clients, without quotes
	ModTime   time.Time // last modification
	// Generation orders the versions of one key; a higher generation
	// replaces a lower one.
	Generation uint64
	// Record is the meta record as the gateway keeps it here (sealed,
	// or in the gateway's catalog form); opaque to the catalog.
	Record []byte
}

// ListOptions selects one page of a listing.
type ListOptions struct {
	Bucket string
	// Prefix restricts the listing to keys that start with it.
	Prefix string
	// Delimiter, when not empty, rolls up every key that contains it
	// after Prefix into one common prefix: the key up to and including
	// the first Delimiter after Prefix.
	Delimiter string
	// StartAfter excludes every key and common prefix that does not sort
	// strictly after it (byte order).
	StartAfter string
	// Limit is the most entries plus common prefixes to return; <= 0
	// means DefaultLimit.
	Limit int
	// WithoutRecords leaves Entry.Record nil in the result: a listing
	// that needs only names, sizes, ETags and times (an S3 listing) then
	// copies no record out of the catalog.
	WithoutRecords bool
}

// ListResult is one page of a listing: the first Limit items, in byte
// order, of the union of the entries and common prefixes that sort after
// StartAfter.
type ListResult struct {
	Entries        []Entry
	CommonPrefixes []string
	// Truncated reports that more items follow.
	Truncated bool
	// Next is the last key or common prefix returned, to be passed as
	// StartAfter for the following page; empty when nothing was returned.
	Next string
}

// Upload is the state of one multipart upload in progress.
type Upload struct {
	ID, Bucket, Key string
	Initiated       time.Time
	Record          []byte // opaque to the catalog
}

// Part is one uploaded part of a multipart upload.
type Part struct {
	Number   int // 1..MaxPartNumber
	Size     int64
	ETag     string
	Record   []byte // opaque to the catalog
	Uploaded time.Time
}

// Catalog indexes buckets, objects and multipart uploads. Implementations
// are safe for concurrent use; every method honours ctx.
type Catalog interface {
	// CreateBucket adds a bucket; ErrBucketExists if it exists. It drops
	// the bucket's tombstone: the caller has written a newer record.
	CreateBucket(ctx context.Context, b Bucket) error
	// DeleteBucket removes an empty bucket; ErrBucketNotEmpty if it
	// holds objects, versions (delete markers included) or multipart
	// uploads in progress.
	DeleteBucket(ctx context.Context, name string) error
	// GetBucket returns one bucket; ErrNoSuchBucket if it is missing.
	GetBucket(ctx context.Context, name string) (Bucket, error)
	// ListBuckets returns every bucket, sorted by name.
	ListBuckets(ctx context.Context) ([]Bucket, error)

	// Get returns the entry of bucket/key: ErrNoSuchBucket or
	// ErrNotFound if there is none.
	Get(ctx context.Context, bucket, key string) (Entry, error)
	// Put stores e unless the catalog holds an entry or a tombstone for
	// the same key with a higher or equal Generation (then ErrStale). It
	// returns the entry it replaced (nil if none) and drops a tombstone
	// it supersedes. e.VersionID must be empty, and a key that has
	// versions is ErrVersioned (see Versions).
	Put(ctx context.Context, e Entry) (prev *Entry, err error)
	// Delete removes the entry if its Generation <= gen (gen 0 means
	// unconditionally; otherwise ErrStale) and returns it; a missing
	// entry is ErrNotFound; a key that has versions is ErrVersioned.
	Delete(ctx context.Context, bucket, key string, gen uint64) (*Entry, error)
	// Move atomically does Delete(bucket, key, gen) and Put(dst): either
	// both happen or neither does, with the errors of each. It returns
	// the entry dst replaced (nil if none). Source and destination must
	// differ.
	Move(ctx context.Context, bucket, key string, gen uint64, dst Entry) (prev *Entry, err error)
	// List returns one page of a bucket's listing (see ListOptions).
	List(ctx context.Context, o ListOptions) (ListResult, error)
	// Walk calls fn for every entry of every bucket, by bucket and then
	// key. fn may modify the catalog; it sees a consistent snapshot of
	// neither the whole catalog nor one bucket. An error from fn stops
	// the walk and is returned.
	Walk(ctx context.Context, fn func(Entry) error) error

	// CreateUpload records a new multipart upload in an existing bucket;
	// ErrUploadExists if the ID is in use.
	CreateUpload(ctx context.Context, u Upload) error
	// GetUpload returns one upload; ErrNoSuchUpload if it is missing.
	GetUpload(ctx context.Context, id string) (Upload, error)
	// ListUploads returns up to limit (<= 0: DefaultLimit) uploads of a
	// bucket whose keys start with prefix, ordered by key and then ID,
	// starting after (keyMarker, idMarker) as S3 does: with an empty
	// idMarker, after every upload of keyMarker. The bool reports that
	// more follow.
	ListUploads(ctx context.Context, bucket, prefix, keyMarker, idMarker string, limit int) ([]Upload, bool, error)
	// PutPart stores a part, replacing and returning any part with the
	// same number.
	PutPart(ctx context.Context, uploadID string, p Part) (prev *Part, err error)
	// ListParts returns up to limit (<= 0: DefaultLimit) parts with
	// numbers above marker, in number order. The bool reports that more
	// follow.
	ListParts(ctx context.Context, uploadID string, marker, limit int) ([]Part, bool, error)
	// DeleteUpload removes an upload and its parts and returns the parts
	// in number order.
	DeleteUpload(ctx context.Context, id string) ([]Part, error)

	// Tombstones remembers deletions.
	Tombstones
	// Epochs remembers the namespace epoch.
	Epochs
	// Shares holds the share links.
	Shares
	// Versions keeps the versions of keys in versioned buckets.
	Versions
	// Counter counts entries and versions, for the progress of walks.
	Counter

	// Close releases the catalog's resources.
	Close() error
}
