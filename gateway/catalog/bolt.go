package catalog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/twincrypt/twincrypt/backends/replica"
)

// The layout of the bbolt file. Every name below is a top-level bolt
// bucket.
var (
	bkMeta        = []byte("meta")         // "version" -> schema version
	bkBuckets     = []byte("buckets")      // bucket name -> bucket value
	bkObjects     = []byte("objects")      // nested per bucket: key -> entry value
	bkUploads     = []byte("uploads")      // upload id -> upload value
	bkUploadIndex = []byte("upload-index") // nested per bucket: escape(key)+id -> empty
	bkParts       = []byte("parts")        // nested per upload id: be32(number) -> part value
	bkQueue       = []byte("queue")        // escape(backend)+name -> task value
	bkQueueTime   = []byte("queue-time")   // be64(added)+escape(backend)+name -> empty
	bkShares      = []byte("shares")       // share id -> share value
	bkTombstones  = []byte("tombstones")   // escape(bucket)+key -> tombstone value

	keyVersion = []byte("version")
)

// boltSchema is the layout version written to meta/version.
const boltSchema = 1

// DefaultLockTimeout is how long OpenBolt waits for another process to
// release the catalog file.
const DefaultLockTimeout = 2 * time.Second

// walkBatch is how many entries Walk reads per read transaction.
const walkBatch = 256

// Bolt is the embedded Catalog, a single bbolt file. It also implements
// replica.Queue, so the repair queue is as durable as the catalog. Only one
// process may hold the file open.
type Bolt struct {
	db      *bbolt.DB
	noSync  bool
	writers atomic.Int64 // request-path writes in flight, see batch
	// touchedPages estimates the pages of the mapping read since they
	// were last released, see touched.
	touchedPages atomic.Int64
}

// batchDelay is how long a write waits for others to share its commit when
// writes are concurrent.
const batchDelay = time.Millisecond

var (
	_ Catalog       = (*Bolt)(nil)
	_ replica.Queue = (*Bolt)(nil)
)

// BoltOption adjusts OpenBolt.
type BoltOption func(*boltOptions)

type boltOptions struct {
	lockTimeout time.Duration
	noSync      bool
}

// WithNoSync makes commits skip fsync, for bulk loads such as rebuilding the
// catalog: a crash during the load loses it, and Close syncs the file so a
// completed load is durable. Serving never uses it.
func WithNoSync() BoltOption { return func(o *boltOptions) { o.noSync = true } }

// WithLockTimeout sets how long OpenBolt waits for the file lock held by
// another process before it fails with ErrInUse (default
// DefaultLockTimeout).
func WithLockTimeout(d time.Duration) BoltOption {
	return func(o *boltOptions) { o.lockTimeout = d }
}

// OpenBolt opens or creates the catalog file at path (mode 0600; missing
// parent directories are created with mode 0700). If another process holds
// the file, OpenBolt fails with an error wrapping ErrInUse once the lock
// timeout passes.
func OpenBolt(path string, opts ...BoltOption) (*Bolt, error) {
	o := boltOptions{lockTimeout: DefaultLockTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: o.lockTimeout, NoSync: o.noSync})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open catalog %s: %w", path, ErrInUse)
		}
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bkMeta, bkBuckets, bkObjects, bkUploads, bkUploadIndex, bkParts, bkQueue, bkQueueTime, bkShares, bkTombstones, bkVersions, bkVersionIDs, bkVersionTombs, bkBucketVersioning} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bkMeta)
		if v := meta.Get(keyVersion); v != nil {
			if len(v) != 4 {
				return fmt.Errorf("%w: schema version", ErrCorrupt)
			}
			if got := binary.BigEndian.Uint32(v); got != boltSchema {
				return fmt.Errorf("catalog schema version %d, this program reads %d (rebuild the catalog)", got, boltSchema)
			}
			return nil
		}
		return meta.Put(keyVersion, binary.BigEndian.AppendUint32(nil, boltSchema))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	db.MaxBatchDelay = batchDelay
	return &Bolt{db: db, noSync: o.noSync}, nil
}

// Close closes the file, syncing it first if it was opened WithNoSync.
func (c *Bolt) Close() error {
	if c.noSync {
		if err := c.db.Sync(); err != nil {
			c.db.Close()
			return fmt.Errorf("close catalog: sync: %w", err)
		}
	}
	if err := c.db.Close(); err != nil {
		return fmt.Errorf("close catalog: %w", err)
	}
	return nil
}

// view and update run fn in a transaction after checking ctx.
func (c *Bolt) view(ctx context.Context, op string, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("catalog %s: %w", op, err)
	}
	err := c.db.View(fn)
	c.touched(opPages)
	if err != nil {
		return fmt.Errorf("catalog %s: %w", op, err)
	}
	return nil
}

// batch is update for the writes of the request path. While another such
// write is in flight, concurrent calls share one transaction and one fsync
// (bbolt's Batch, which waits up to batchDelay to gather them); a lone
// write commits at once. fn may run more than once and must depend only
// on the transaction.
func (c *Bolt) batch(ctx context.Context, op string, fn func(tx *bbolt.Tx) error) error {
	if c.writers.Add(1) == 1 {
		defer c.writers.Add(-1)
		return c.update(ctx, op, fn)
	}
	defer c.writers.Add(-1)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("catalog %s: %w", op, err)
	}
	err := c.db.Batch(fn)
	c.touched(opPages)
	if err != nil {
		return fmt.Errorf("catalog %s: %w", op, err)
	}
	return nil
}

func (c *Bolt) update(ctx context.Context, op string, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("catalog %s: %w", op, err)
	}
	err := c.db.Update(fn)
	c.touched(opPages)
	if err != nil {
		return fmt.Errorf("catalog %s: %w", op, err)
	}
	return nil
}

func checkBucketName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty bucket name", ErrInvalid)
	}
	return nil
}

func checkKey(bucket, key string) error {
	if err := checkBucketName(bucket); err != nil {
		return err
	}
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalid)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key of %d bytes is longer than %d", ErrInvalid, len(key), MaxKeyLen)
	}
	return nil
}

// objectsFill is the fill percentage at which the pages of an object
// bucket split. bbolt's default, 0.5, leaves every page a split leaves
// behind half empty for good when keys arrive in ascending order within a
// prefix (a backup's or a camera's numbered files), as later keys all go to
// the page after it; 0.7 leaves it 70% full, and in random order makes no
// difference (docs/BENCHMARKS.md, "Catalog bytes per object").
const objectsFill = 0.7

// objects returns the object bucket of a catalog bucket, or ErrNoSuchBucket.
func objects(tx *bbolt.Tx, bucket string) (*bbolt.Bucket, error) {
	b := tx.Bucket(bkObjects).Bucket([]byte(bucket))
	if b == nil {
		return nil, fmt.Errorf("%w: %q", ErrNoSuchBucket, bucket)
	}
	b.FillPercent = objectsFill
	return b, nil
}

// CreateBucket implements Catalog.
func (c *Bolt) CreateBucket(ctx context.Context, b Bucket) error {
	if err := checkBucketName(b.Name); err != nil {
		return fmt.Errorf("catalog create bucket: %w", err)
	}
	return c.update(ctx, "create bucket", func(tx *bbolt.Tx) error {
		name := []byte(b.Name)
		if tx.Bucket(bkBuckets).Get(name) != nil {
			return fmt.Errorf("%w: %q", ErrBucketExists, b.Name)
		}
		if err := tx.Bucket(bkBuckets).Put(name, encodeBucket(&b)); err != nil {
			return err
		}
		// The caller wrote a bucket record newer than any deletion.
		if err := tx.Bucket(bkTombstones).Delete(tombKey(b.Name, "")); err != nil {
			return err
		}
		if err := tx.Bucket(bkBucketVersioning).Delete(name); err != nil {
			return err
		}
		if _, err := tx.Bucket(bkObjects).CreateBucketIfNotExists(name); err != nil {
			return err
		}
		_, err := tx.Bucket(bkUploadIndex).CreateBucketIfNotExists(name)
		return err
	})
}

// DeleteBucket implements Catalog.
func (c *Bolt) DeleteBucket(ctx context.Context, name string) error {
	return c.update(ctx, "delete bucket", func(tx *bbolt.Tx) error {
		key := []byte(name)
		if name == "" || tx.Bucket(bkBuckets).Get(key) == nil {
			return fmt.Errorf("%w: %q", ErrNoSuchBucket, name)
		}
		parents := [][]byte{bkObjects, bkUploadIndex, bkVersions, bkVersionIDs}
		for _, parent := range parents {
			if b := tx.Bucket(parent).Bucket(key); b != nil {
				if k, _ := b.Cursor().First(); k != nil {
					return fmt.Errorf("%w: %q", ErrBucketNotEmpty, name)
				}
			}
		}
		for _, parent := range parents {
			if err := tx.Bucket(parent).DeleteBucket(key); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
				return err
			}
		}
		if err := tx.Bucket(bkBucketVersioning).Delete(key); err != nil {
			return err
		}
		return tx.Bucket(bkBuckets).Delete(key)
	})
}

// GetBucket implements Catalog.
func (c *Bolt) GetBucket(ctx context.Context, name string) (Bucket, error) {
	var b Bucket
	err := c.view(ctx, "get bucket", func(tx *bbolt.Tx) error {
		v := tx.Bucket(bkBuckets).Get([]byte(name))
		if name == "" || v == nil {
			return fmt.Errorf("%w: %q", ErrNoSuchBucket, name)
		}
		var err error
		b, err = decodeBucket(name, v)
		return err
	})
	return b, err
}

// ListBuckets implements Catalog.
func (c *Bolt) ListBuckets(ctx context.Context) ([]Bucket, error) {
	var out []Bucket
	err := c.view(ctx, "list buckets", func(tx *bbolt.Tx) error {
		return tx.Bucket(bkBuckets).ForEach(func(k, v []byte) error {
			b, err := decodeBucket(string(k), v)
			if err != nil {
				return err
			}
			out = append(out, b)
			return nil
		})
	})
	return out, err
}

// Get implements Catalog.
func (c *Bolt) Get(ctx context.Context, bucket, key string) (Entry, error) {
	var e Entry
	err := c.view(ctx, "get", func(tx *bbolt.Tx) error {
		ob, err := objects(tx, bucket)
		if err != nil {
			return err
		}
		v := ob.Get([]byte(key))
		if key == "" || v == nil {
			return fmt.Errorf("%w: %s/%s", ErrNotFound, bucket, key)
		}
		e, err = decodeEntry(bucket, key, v)
		return err
	})
	return e, err
}

// Put implements Catalog.
func (c *Bolt) Put(ctx context.Context, e Entry) (*Entry, error) {
	if err := checkKey(e.Bucket, e.Key); err != nil {
		return nil, fmt.Errorf("catalog put: %w", err)
	}
	var prev *Entry
	err := c.batch(ctx, "put", func(tx *bbolt.Tx) (err error) {
		prev, err = putEntry(tx, &e)
		return err
	})
	if err != nil {
		return nil, err
	}
	return prev, nil
}

// putEntry is Put inside a transaction.
func putEntry(tx *bbolt.Tx, e *Entry) (*Entry, error) {
	if e.VersionID != "" {
		return nil, fmt.Errorf("%w: an entry with a version ID (use PutVersion)", ErrInvalid)
	}
	ob, err := objects(tx, e.Bucket)
	if err != nil {
		return nil, err
	}
	if err := refuseVersioned(tx, e.Bucket, e.Key); err != nil {
		return nil, err
	}
	k := []byte(e.Key)
	var prev *Entry
	if v := ob.Get(k); v != nil {
		old, err := decodeEntry(e.Bucket, e.Key, v)
		if err != nil {
			return nil, err
		}
		if old.Generation >= e.Generation {
			return nil, fmt.Errorf("%w: %s/%s holds generation %d, not below %d", ErrStale, e.Bucket, e.Key, old.Generation, e.Generation)
		}
		prev = &old
	}
	tomb, err := getTombstone(tx, e.Bucket, e.Key)
	if err != nil {
		return nil, err
	}
	if tomb != nil {
		if tomb.Generation >= e.Generation {
			return nil, fmt.Errorf("%w: %s/%s was deleted at generation %d, not below %d", ErrStale, e.Bucket, e.Key, tomb.Generation, e.Generation)
		}
		if err := tx.Bucket(bkTombstones).Delete(tombKey(e.Bucket, e.Key)); err != nil {
			return nil, err
		}
	}
	return prev, ob.Put(k, encodeEntry(e))
}

// Delete implements Catalog.
func (c *Bolt) Delete(ctx context.Context, bucket, key string, gen uint64) (*Entry, error) {
	var old *Entry
	err := c.batch(ctx, "delete", func(tx *bbolt.Tx) (err error) {
		old, err = deleteEntry(tx, bucket, key, gen)
		return err
	})
	if err != nil {
		return nil, err
	}
	return old, nil
}

// deleteEntry is Delete inside a transaction.
func deleteEntry(tx *bbolt.Tx, bucket, key string, gen uint64) (*Entry, error) {
	ob, err := objects(tx, bucket)
	if err != nil {
		return nil, err
	}
	if err := refuseVersioned(tx, bucket, key); err != nil {
		return nil, err
	}
	k := []byte(key)
	v := ob.Get(k)
	if key == "" || v == nil {
		return nil, fmt.Errorf("%w: %s/%s", ErrNotFound, bucket, key)
	}
	old, err := decodeEntry(bucket, key, v)
	if err != nil {
		return nil, err
	}
	if gen != 0 && old.Generation > gen {
		return nil, fmt.Errorf("%w: %s/%s holds generation %d, above %d", ErrStale, bucket, key, old.Generation, gen)
	}
	return &old, ob.Delete(k)
}

// refuseVersioned is ErrVersioned if bucket/key has versions.
func refuseVersioned(tx *bbolt.Tx, bucket, key string) error {
	has, err := hasVersions(tx, bucket, key)
	if err != nil {
		return err
	}
	if has {
		return fmt.Errorf("%w: %s/%s", ErrVersioned, bucket, key)
	}
	return nil
}

// Move implements Catalog: Delete of the source and Put of dst in one
// transaction.
func (c *Bolt) Move(ctx context.Context, bucket, key string, gen uint64, dst Entry) (*Entry, error) {
	if err := checkKey(dst.Bucket, dst.Key); err != nil {
		return nil, fmt.Errorf("catalog move: %w", err)
	}
	if bucket == dst.Bucket && key == dst.Key {
		return nil, fmt.Errorf("catalog move: %w: source and destination are both %s/%s", ErrInvalid, bucket, key)
	}
	var prev *Entry
	err := c.update(ctx, "move", func(tx *bbolt.Tx) error {
		if _, err := deleteEntry(tx, bucket, key, gen); err != nil {
			return err
		}
		var err error
		prev, err = putEntry(tx, &dst)
		return err
	})
	if err != nil {
		return nil, err
	}
	return prev, nil
}

// List implements Catalog. With a delimiter it seeks past each common
// prefix instead of reading the keys under it, so a listing costs about
// one cursor step per returned item.
func (c *Bolt) List(ctx context.Context, o ListOptions) (ListResult, error) {
	limit := o.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	var res ListResult
	err := c.view(ctx, "list", func(tx *bbolt.Tx) error {
		ob, err := objects(tx, o.Bucket)
		if err != nil {
			return err
		}
		res, err = listCursor(ob.Cursor(), o, limit)
		return err
	})
	if err != nil {
		return ListResult{}, err
	}
	c.touched(int64(len(res.Entries)+len(res.CommonPrefixes)) / entryPages)
	return res, nil
}

// Walk implements Catalog. It reads walkBatch entries per read
// transaction and calls fn outside any transaction, so fn may write to the
// catalog.
func (c *Bolt) Walk(ctx context.Context, fn func(Entry) error) error {
	buckets, err := c.ListBuckets(ctx)
	if err != nil {
		return err
	}
	for _, b := range buckets {
		var after []byte
		first := true
		for {
			var batch []Entry
			err := c.walkView(ctx, "walk", func(tx *bbolt.Tx) error {
				ob := tx.Bucket(bkObjects).Bucket([]byte(b.Name))
				if ob == nil {
					return nil // deleted meanwhile
				}
				cur := ob.Cursor()
				var k, v []byte
				if first {
					k, v = cur.First()
				} else {
					k, v = cur.Seek(after)
					if bytes.Equal(k, after) {
						k, v = cur.Next()
					}
				}
				for ; k != nil && len(batch) < walkBatch; k, v = cur.Next() {
					e, err := decodeEntry(b.Name, string(k), v)
					if err != nil {
						return err
					}
					batch = append(batch, e)
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, e := range batch {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("catalog walk: %w", err)
				}
				if err := fn(e); err != nil {
					return err
				}
			}
			if len(batch) < walkBatch {
				break
			}
			first = false
			after = []byte(batch[len(batch)-1].Key)
		}
	}
	return nil
}

// uploadIndexKey orders uploads by key, then ID.
func uploadIndexKey(key, id string) []byte {
	return append(escape(nil, key), id...)
}

func checkUploadID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty upload ID", ErrInvalid)
	}
	return nil
}

// CreateUpload implements Catalog.
func (c *Bolt) CreateUpload(ctx context.Context, u Upload) error {
	if err := checkUploadID(u.ID); err != nil {
		return fmt.Errorf("catalog create upload: %w", err)
	}
	if err := checkKey(u.Bucket, u.Key); err != nil {
		return fmt.Errorf("catalog create upload: %w", err)
	}
	return c.update(ctx, "create upload", func(tx *bbolt.Tx) error {
		idx := tx.Bucket(bkUploadIndex).Bucket([]byte(u.Bucket))
		if idx == nil {
			return fmt.Errorf("%w: %q", ErrNoSuchBucket, u.Bucket)
		}
		id := []byte(u.ID)
		if tx.Bucket(bkUploads).Get(id) != nil {
			return fmt.Errorf("%w: %q", ErrUploadExists, u.ID)
		}
		if err := tx.Bucket(bkUploads).Put(id, encodeUpload(&u)); err != nil {
			return err
		}
		if _, err := tx.Bucket(bkParts).CreateBucketIfNotExists(id); err != nil {
			return err
		}
		return idx.Put(uploadIndexKey(u.Key, u.ID), nil)
	})
}

func getUpload(tx *bbolt.Tx, id string) (Upload, error) {
	v := tx.Bucket(bkUploads).Get([]byte(id))
	if id == "" || v == nil {
		return Upload{}, fmt.Errorf("%w: %q", ErrNoSuchUpload, id)
	}
	return decodeUpload(id, v)
}

// GetUpload implements Catalog.
func (c *Bolt) GetUpload(ctx context.Context, id string) (Upload, error) {
	var u Upload
	err := c.view(ctx, "get upload", func(tx *bbolt.Tx) error {
		var err error
		u, err = getUpload(tx, id)
		return err
	})
	return u, err
}

// ListUploads implements Catalog.
func (c *Bolt) ListUploads(ctx context.Context, bucket, prefix, keyMarker, idMarker string, limit int) ([]Upload, bool, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	var out []Upload
	truncated := false
	err := c.view(ctx, "list uploads", func(tx *bbolt.Tx) error {
		idx := tx.Bucket(bkUploadIndex).Bucket([]byte(bucket))
		if bucket == "" || idx == nil {
			return fmt.Errorf("%w: %q", ErrNoSuchBucket, bucket)
		}
		start := escapePrefix(prefix)
		var after []byte // exclusive lower bound, if any
		if keyMarker != "" {
			if idMarker != "" {
				after = uploadIndexKey(keyMarker, idMarker)
			} else {
				// Every index key of keyMarker starts with escape(keyMarker).
				after = successor(escape(nil, keyMarker))
			}
		}
		cur := idx.Cursor()
		var k []byte
		if after != nil && bytes.Compare(after, start) > 0 {
			k, _ = cur.Seek(after)
			if idMarker != "" && bytes.Equal(k, after) {
				k, _ = cur.Next()
			}
		} else {
			k, _ = cur.Seek(start)
		}
		for ; k != nil; k, _ = cur.Next() {
			key, rest, err := unescape(k)
			if err != nil {
				return err
			}
			if !strings.HasPrefix(key, prefix) {
				break
			}
			if len(out) == limit {
				truncated = true
				break
			}
			u, err := getUpload(tx, string(rest))
			if err != nil {
				return err
			}
			out = append(out, u)
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return out, truncated, nil
}

func partKey(n int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }

// parts returns the part bucket of an upload, or ErrNoSuchUpload.
func parts(tx *bbolt.Tx, id string) (*bbolt.Bucket, error) {
	b := tx.Bucket(bkParts).Bucket([]byte(id))
	if id == "" || b == nil || tx.Bucket(bkUploads).Get([]byte(id)) == nil {
		return nil, fmt.Errorf("%w: %q", ErrNoSuchUpload, id)
	}
	return b, nil
}

// PutPart implements Catalog.
func (c *Bolt) PutPart(ctx context.Context, uploadID string, p Part) (*Part, error) {
	if p.Number < 1 || p.Number > MaxPartNumber {
		return nil, fmt.Errorf("catalog put part: %w: part number %d outside 1..%d", ErrInvalid, p.Number, MaxPartNumber)
	}
	var prev *Part
	err := c.batch(ctx, "put part", func(tx *bbolt.Tx) error {
		prev = nil // a batched function may run more than once
		pb, err := parts(tx, uploadID)
		if err != nil {
			return err
		}
		k := partKey(p.Number)
		if v := pb.Get(k); v != nil {
			old, err := decodePart(p.Number, v)
			if err != nil {
				return err
			}
			prev = &old
		}
		return pb.Put(k, encodePart(&p))
	})
	if err != nil {
		return nil, err
	}
	return prev, nil
}

// ListParts implements Catalog.
func (c *Bolt) ListParts(ctx context.Context, uploadID string, marker, limit int) ([]Part, bool, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	var out []Part
	truncated := false
	err := c.view(ctx, "list parts", func(tx *bbolt.Tx) error {
		pb, err := parts(tx, uploadID)
		if err != nil {
			return err
		}
		cur := pb.Cursor()
		var k, v []byte
		if marker < 0 {
			marker = 0
		}
		if marker >= MaxPartNumber {
			return nil
		}
		for k, v = cur.Seek(partKey(marker + 1)); k != nil; k, v = cur.Next() {
			if len(out) == limit {
				truncated = true
				break
			}
			p, err := decodePart(int(binary.BigEndian.Uint32(k)), v)
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return out, truncated, nil
}

// DeleteUpload implements Catalog.
func (c *Bolt) DeleteUpload(ctx context.Context, id string) ([]Part, error) {
	var out []Part
	err := c.update(ctx, "delete upload", func(tx *bbolt.Tx) error {
		u, err := getUpload(tx, id)
		if err != nil {
			return err
		}
		if pb := tx.Bucket(bkParts).Bucket([]byte(id)); pb != nil {
			err := pb.ForEach(func(k, v []byte) error {
				p, err := decodePart(int(binary.BigEndian.Uint32(k)), v)
				if err != nil {
					return err
				}
				out = append(out, p)
				return nil
			})
			if err != nil {
				return err
			}
			if err := tx.Bucket(bkParts).DeleteBucket([]byte(id)); err != nil {
				return err
			}
		}
		if idx := tx.Bucket(bkUploadIndex).Bucket([]byte(u.Bucket)); idx != nil {
			if err := idx.Delete(uploadIndexKey(u.Key, u.ID)); err != nil {
				return err
			}
		}
		return tx.Bucket(bkUploads).Delete([]byte(id))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// kvCursor is the part of *bbolt.Cursor that listings use.
type kvCursor interface {
	Seek(seek []byte) (key, value []byte)
	Next() (key, value []byte)
}

// listCursor computes one page of a listing over the keys of one bucket.
// With a delimiter it seeks past each common prefix, so the number of
// cursor steps is about the number of items returned, not the number of
// keys under them.
func listCursor(cur kvCursor, o ListOptions, limit int) (ListResult, error) {
	var res ListResult
	prefix := []byte(o.Prefix)
	delim := []byte(o.Delimiter)
	after := []byte(o.StartAfter)
	// A listing without a delimiter usually fills its page; one with
	// a delimiter often returns a few folders.
	if len(delim) == 0 {
		res.Entries = make([]Entry, 0, min(limit, DefaultLimit))
	} else {
		res.Entries = make([]Entry, 0, min(limit, 64))
	}

	var k, v []byte
	if bytes.Compare(after, prefix) < 0 {
		k, v = cur.Seek(prefix)
	} else {
		k, v = cur.Seek(after)
		if bytes.Equal(k, after) {
			k, v = cur.Next()
		}
	}
	n := 0
	for k != nil && bytes.HasPrefix(k, prefix) {
		if len(delim) > 0 {
			if i := bytes.Index(k[len(prefix):], delim); i >= 0 {
				cp := k[:len(prefix)+i+len(delim)]
				if bytes.Compare(cp, after) > 0 {
					if n == limit {
						res.Truncated = true
						return res, nil
					}
					res.CommonPrefixes = append(res.CommonPrefixes, string(cp))
					res.Next = string(cp)
					n++
				}
				next := successor(cp)
				if next == nil {
					return res, nil
				}
				k, v = cur.Seek(next)
				continue
			}
		}
		if n == limit {
			res.Truncated = true
			return res, nil
		}
		e, err := decodeEntryRecord(o.Bucket, string(k), v, !o.WithoutRecords)
		if err != nil {
			return ListResult{}, err
		}
		res.Entries = append(res.Entries, e)
		res.Next = e.Key
		n++
		k, v = cur.Next()
	}
	return res, nil
}
