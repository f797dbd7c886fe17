// Package gateway holds the encrypted namespace: buckets, keys and their
// metadata, stored as sealed blobs and meta records on a backend (normally the
// replicated set) and indexed by a catalog.
//
// The front ends (S3, WebDAV, share pages) speak only to *Namespace. It alone
// knows about encryption (gateway/seal), the catalog (gateway/catalog) and the
// backends; the front ends never touch keys or providers.
//
// A write streams the body through the sealer into a new blob with a random
// id, then writes the object's meta record (under a keyed hash of its name),
// then updates the catalog; superseded blobs are deleted last. A reader
// therefore sees the old object or the new one, never a mix, and a crash at
// any point leaves at worst an unreferenced blob for garbage collection.
package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/inlinecache"
	"github.com/twincrypt/twincrypt/gateway/keylock"
	"github.com/twincrypt/twincrypt/gateway/seal"
)

// Errors the front ends map to protocol errors. Test with errors.Is.
var (
	ErrNoSuchBucket      = errors.New("no such bucket")
	ErrBucketExists      = errors.New("bucket already exists")
	ErrBucketNotEmpty    = errors.New("bucket not empty")
	ErrInvalidBucketName = errors.New("invalid bucket name")
	ErrNoSuchKey         = errors.New("no such key")
	ErrInvalidKey        = errors.New("invalid object key")
	ErrKeyTooLong        = errors.New("object key longer than 1024 bytes")
	ErrInvalidRange      = errors.New("invalid range")
	ErrNoSuchUpload      = errors.New("no such upload")
	ErrInvalidPart       = errors.New("invalid part")
	ErrInvalidPartOrder  = errors.New("parts not in ascending order")
	ErrEntityTooSmall    = errors.New("part smaller than the minimum allowed size")
	ErrIncompleteBody    = errors.New("body shorter than its declared length")
	ErrPrecondition      = errors.New("precondition failed")
	// ErrCorruptRecord means a meta record authenticated but does not make
	// sense (wrong name, unknown version): a bug or a replayed record.
	ErrCorruptRecord = errors.New("corrupt meta record")
	// ErrIntegrity is the object format's authentication failure.
	ErrIntegrity = seal.ErrIntegrity
	// ErrCatalogUnavailable means the catalog could not be reached (a
	// Redis catalog whose server is down): nothing was decided, and the
	// same request succeeds once it is back.
	ErrCatalogUnavailable = catalog.ErrUnavailable
)

// MaxKeyLength is the longest object key accepted, in bytes, as on S3.
const MaxKeyLength = 1024

// MinPartSize is the smallest size of a multipart part other than the last.
const MinPartSize = 5 << 20

// Keys supplies the key-encryption keys, the name key and the catalog key. *keyring.Keyring
// implements it.
type Keys interface {
	seal.KeySource
	NameKey() *[32]byte
	// CatalogKey is the key of the catalog form of meta records
	// (docs/FORMAT.md, "Catalog records").
	CatalogKey() *[32]byte
}

// Options configure a Namespace.
type Options struct {
	Keys    Keys
	Store   backends.Backend // where blobs and meta records go; normally a *replica.Set
	Catalog catalog.Catalog
	Logger  *slog.Logger     // nil: discard
	Rand    io.Reader        // nil: crypto/rand
	Clock   func() time.Time // nil: time.Now
	// Users are the configured users; the first owns the buckets made
	// before buckets had owners. Requests carry theirs (WithUser).
	Users []User
	// Locker serialises the writers of one name; nil: a
	// keylock.Striped, which serialises the writers of this process only.
	// Instances that share a catalog share a Locker (keylock.Redis).
	Locker keylock.Locker
	// InlineCache bounds, in bytes, the cache of the sealed records of
	// inline objects, so that a GET of a small object recently written or
	// read needs no provider request; 0: no cache (a GET of an inline
	// object then reads its record from a provider).
	InlineCache int64
}

// Namespace is the encrypted namespace of buckets and objects.
// It is safe for concurrent use.
type Namespace struct {
	// lastGen is the last generation nextGeneration issued.
	lastGen atomic.Uint64
	// settles tracks settleLater's goroutines; settleAfter is how long
	// they wait before they first ask the catalog (negative: they do not
	// run, as in a gateway stopped before it could ask).
	settles     sync.WaitGroup
	settleAfter time.Duration
	keys        Keys
	store       backends.Backend
	cat         catalog.Catalog
	log         *slog.Logger
	rand        io.Reader
	now         func() time.Time
	names       names
	users       []User
	locks       keylock.Locker
	// catKeys holds the keys of the catalog form, derived once.
	catKeys catKeyCache
	// inline holds the sealed records of recently written and read inline
	// objects (nil: none), whose blobs the catalog does not keep.
	inline *inlinecache.Cache
}

// New returns a namespace over the given store and catalog.
func New(o Options) (*Namespace, error) {
	if o.Keys == nil || o.Store == nil || o.Catalog == nil {
		return nil, errors.New("gateway: Keys, Store and Catalog are required")
	}
	ns := &Namespace{keys: o.Keys, store: o.Store, cat: o.Catalog, log: o.Logger, rand: o.Rand, now: o.Clock, users: slices.Clone(o.Users), locks: o.Locker}
	if ns.locks == nil {
		ns.locks = new(keylock.Striped)
	}
	if ns.log == nil {
		ns.log = slog.New(slog.DiscardHandler)
	}
	if ns.rand == nil {
		ns.rand = rand.Reader
	}
	if ns.now == nil {
		ns.now = time.Now
	}
	ns.names = names{key: *o.Keys.NameKey()}
	ns.settleAfter = defaultSettleAfter
	if o.InlineCache > 0 {
		ns.inline = inlinecache.New(o.InlineCache)
	}
	return ns, nil
}

// lock takes the lock of bucket/key (see lockNames).
func (ns *Namespace) lock(ctx context.Context, bucket, key string) (func(), error) {
	return ns.lockNames(ctx, keylock.Name{Bucket: bucket, Key: key})
}

// lockNames serialises the writers of names, in this process or, with a
// shared Locker, in every instance, so that meta record writes and
// catalog updates of a name happen in generation order. It returns the
// function that releases the locks. When a lock lapsed while held (this
// process stalled past its time-to-live), another writer may have
// interleaved with this one. Nothing needs putting back then: every record
// of a key goes under a name of its own generation, the catalog takes only
// the newest generation, and each writer deletes only its own record (when
// the catalog refused it) or the one the catalog replaced with its own.
func (ns *Namespace) lockNames(ctx context.Context, names ...keylock.Name) (func(), error) {
	unlock, err := ns.locks.Lock(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("lock %s/%s: %w", names[0].Bucket, names[0].Key, err)
	}
	return func() {
		if !unlock() {
			ns.log.Warn("a lock lapsed while held; another writer may have raced this one, which the catalog settled by generation", "bucket", names[0].Bucket, "key", names[0].Key)
		}
	}, nil
}

// nextGeneration returns a generation greater than prev and than every
// generation this Namespace issued before: normally the current time in
// nanoseconds, so that generations from several gateway instances order
// writes by time, plus up to genJitter nanoseconds drawn at random. A
// generation names a record on the providers (docs/FORMAT.md, "Records of
// a key, by generation"), so two writes must not get the same one: within
// a process the issued generations only go up; two instances that start
// from the same prev with clocks behind it (both would take prev+1) part
// by the random draw.
func (ns *Namespace) nextGeneration(prev uint64) uint64 {
	var b [4]byte
	_, _ = io.ReadFull(ns.rand, b[:]) // no draw: no jitter
	jitter := uint64(binary.BigEndian.Uint32(b[:])) % genJitter
	for {
		last := ns.lastGen.Load()
		g := max(max(uint64(ns.now().UnixNano()), prev+1)+jitter, last+1)
		if ns.lastGen.CompareAndSwap(last, g) {
			return g
		}
	}
}

// genJitter bounds the random part of a generation: 16.8 ms. Writes of
// one key from two instances closer than that may be ordered either way,
// as they may be anyway; the draw makes two such writes that start from
// the same generation take the same one with odds of 1 in 16.8 million.
const genJitter = 1 << 24

var bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
var ipLikeRE = regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`)

// ValidBucketName reports whether name follows the S3 bucket naming rules.
func ValidBucketName(name string) bool {
	return bucketNameRE.MatchString(name) && !strings.Contains(name, "..") &&
		!strings.Contains(name, ".-") && !strings.Contains(name, "-.") && !ipLikeRE.MatchString(name)
}

// checkKey validates an object key: non-empty valid UTF-8 of at most
// MaxKeyLength bytes, without NUL.
func checkKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeyLength:
		return ErrKeyTooLong
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidKey)
	case strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("%w: contains NUL", ErrInvalidKey)
	}
	return nil
}

// BucketInfo describes a bucket.
type BucketInfo struct {
	Name    string
	Created time.Time
	// Owner is the user the bucket belongs to.
	Owner Owner
}

// CreateBucket creates a bucket that belongs to the user of ctx. Its record
// is written to the backends first, so that a rebuilt catalog knows empty
// buckets, and their owners, too. A name that is taken is ErrBucketExists;
// when the user of ctx owns it, also ErrBucketOwnedByYou.
func (ns *Namespace) CreateBucket(ctx context.Context, name string) error {
	return ns.CreateBucketWith(ctx, name, CreateBucketOptions{})
}

// CreateBucketOptions are the optional parts of CreateBucketWith.
type CreateBucketOptions struct {
	// ObjectLock creates the bucket with object lock, and so with
	// versioning enabled; neither can be turned off.
	ObjectLock bool
}

// CreateBucketWith is CreateBucket with options.
func (ns *Namespace) CreateBucketWith(ctx context.Context, name string, o CreateBucketOptions) error {
	if !ValidBucketName(name) {
		return fmt.Errorf("%w: %q", ErrInvalidBucketName, name)
	}
	var owner string
	if u, ok := UserFrom(ctx); ok {
		owner = u.ID
	}
	unlock, lerr := ns.lock(ctx, name, "")
	if lerr != nil {
		return lerr
	}
	defer unlock()
	if b, err := ns.cat.GetBucket(ctx, name); err == nil {
		return ns.bucketExists(ctx, name, b.Owner)
	} else if !errors.Is(err, catalog.ErrNoSuchBucket) {
		return err
	}
	now := ns.now().UTC()
	metaName, id := ns.names.meta(name, "")
	deleted, err := ns.tombstoneGen(ctx, name, "")
	if err != nil {
		return err
	}
	rec := &record{Kind: kindBucket, Bucket: name, ModTime: now, Generation: ns.nextGeneration(deleted), Owner: owner}
	if o.ObjectLock {
		rec.Versioning = &versioningRecord{Status: VersioningEnabled, ObjectLock: true}
	}
	sealed, err := ns.sealRecord(rec, id)
	if err != nil {
		return err
	}
	if err := ns.putBytes(ctx, metaName, sealed); err != nil {
		return err
	}
	if err := ns.cat.CreateBucket(ctx, catalog.Bucket{Name: name, Created: now, Owner: owner}); err != nil {
		if errors.Is(err, catalog.ErrBucketExists) {
			b, _ := ns.cat.GetBucket(ctx, name)
			return ns.bucketExists(ctx, name, b.Owner)
		}
		return err
	}
	if rec.Versioning != nil {
		return ns.recordVersioning(ctx, name, rec.Versioning.catalog(rec.Generation))
	}
	return nil
}

// bucketExists is the error of creating bucket name that the owner id
// owner holds. A request without a user may do anything, so it owns the
// bucket too.
func (ns *Namespace) bucketExists(ctx context.Context, name, owner string) error {
	if u, ok := UserFrom(ctx); !ok || ns.ownerOf(owner) == u.ID {
		return fmt.Errorf("%w: %w: %s", ErrBucketExists, ErrBucketOwnedByYou, name)
	}
	return fmt.Errorf("%w: %s", ErrBucketExists, name)
}

// DeleteBucket deletes an empty bucket; only its owner may.
func (ns *Namespace) DeleteBucket(ctx context.Context, name string) error {
	if err := ns.Authorize(ctx, name, AccessOwner); err != nil {
		return err
	}
	unlock, lerr := ns.lock(ctx, name, "")
	if lerr != nil {
		return lerr
	}
	defer unlock()
	if err := ns.cat.DeleteBucket(ctx, name); err != nil {
		return mapCatalogErr(err, name, "")
	}
	// The bucket record's generation is not in the catalog: read it from
	// the store, so the tombstone lands above it.
	var after uint64
	metaName, id := ns.names.meta(name, "")
	if sealed, err := readAll(ctx, ns.store, metaName); err == nil {
		if r, err := ns.openRecord(sealed, id); err == nil {
			after = r.Generation
		}
	}
	if g, err := ns.tombstoneGen(ctx, name, ""); err == nil {
		after = max(after, g)
	}
	tomb, _, err := ns.writeTombstone(ctx, name, "", after)
	if err != nil {
		return fmt.Errorf("bucket %s deleted, but its tombstone could not be written (a catalog rebuild may bring the empty bucket back): %w", name, err)
	}
	if _, err := ns.cat.PutTombstone(ctx, tomb); err != nil {
		return fmt.Errorf("bucket %s: record its tombstone: %w", name, err)
	}
	return nil
}

// Bucket returns a bucket's information; the user of ctx needs read
// access.
func (ns *Namespace) Bucket(ctx context.Context, name string) (BucketInfo, error) {
	b, err := ns.readableBucket(ctx, name)
	if err != nil {
		return BucketInfo{}, err
	}
	return BucketInfo{Name: b.Name, Created: b.Created, Owner: ns.owner(b.Owner)}, nil
}

// readableBucket returns the catalog's bucket name if the user of ctx may
// read it: one catalog read for the existence and the access check.
func (ns *Namespace) readableBucket(ctx context.Context, name string) (catalog.Bucket, error) {
	b, err := ns.cat.GetBucket(ctx, name)
	if err != nil {
		return catalog.Bucket{}, mapCatalogErr(err, name, "")
	}
	if u, ok := UserFrom(ctx); ok && ns.accessTo(u, name, b.Owner) < AccessRead {
		return catalog.Bucket{}, fmt.Errorf("%w: %s may not read bucket %s", ErrAccessDenied, u.AccessKey, name)
	}
	return b, nil
}

// Buckets lists the buckets the user of ctx owns or holds a grant on (all
// of them without a user), sorted by name.
func (ns *Namespace) Buckets(ctx context.Context) ([]BucketInfo, error) {
	bs, err := ns.cat.ListBuckets(ctx)
	if err != nil {
		return nil, err
	}
	u, hasUser := UserFrom(ctx)
	out := make([]BucketInfo, 0, len(bs))
	for _, b := range bs {
		if hasUser && ns.accessTo(u, b.Name, b.Owner) < AccessRead {
			continue
		}
		out = append(out, BucketInfo{Name: b.Name, Created: b.Created, Owner: ns.owner(b.Owner)})
	}
	return out, nil
}

// putBytes stores a small byte slice on the store.
func (ns *Namespace) putBytes(ctx context.Context, name string, b []byte) error {
	return ns.store.Put(ctx, name, bytes.NewReader(b), int64(len(b)))
}

// mapCatalogErr turns catalog errors into namespace errors.
func mapCatalogErr(err error, bucket, key string) error {
	switch {
	case errors.Is(err, catalog.ErrNoSuchBucket):
		return fmt.Errorf("%w: %s", ErrNoSuchBucket, bucket)
	case errors.Is(err, catalog.ErrBucketExists):
		return fmt.Errorf("%w: %s", ErrBucketExists, bucket)
	case errors.Is(err, catalog.ErrBucketNotEmpty):
		return fmt.Errorf("%w: %s", ErrBucketNotEmpty, bucket)
	case errors.Is(err, catalog.ErrNotFound):
		return fmt.Errorf("%w: %s/%s", ErrNoSuchKey, bucket, key)
	case errors.Is(err, catalog.ErrNoSuchUpload):
		return fmt.Errorf("%w: %s", ErrNoSuchUpload, key)
	}
	return err
}
