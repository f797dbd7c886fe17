package catalog

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"go.etcd.io/bbolt"
)

// The versions of a catalog bucket live in two nested bolt buckets named
// after it, created by the first PutVersion:
//
//	versions/<bucket>:    escape(key) | be64(^seq) | versionID -> version value
//	version-ids/<bucket>: escape(key) | versionID -> be64(seq)
//
// so that a cursor walks a key's versions newest first and a version is
// found by its ID in one lookup. Tombstones of versions other than the
// null one are in version-tombstones: escape(bucket) | escape(key) |
// versionID -> tombstone value.
var (
	bkVersions     = []byte("versions")
	bkVersionIDs   = []byte("version-ids")
	bkVersionTombs = []byte("version-tombstones")
	// bucket name -> bucket versioning value
	bkBucketVersioning = []byte("bucket-versioning")
)

func checkBucketVersioning(old, v *BucketVersioning) error {
	switch {
	case v.Status != "" && v.Status != VersioningEnabled && v.Status != VersioningSuspended:
		return fmt.Errorf("%w: versioning status %q", ErrInvalid, v.Status)
	case old.Status != "" && v.Status == "":
		return fmt.Errorf("%w: versioning cannot be turned off, only suspended", ErrInvalid)
	case old.ObjectLock && !v.ObjectLock:
		return fmt.Errorf("%w: object lock cannot be turned off", ErrInvalid)
	case v.ObjectLock && v.Status != VersioningEnabled:
		return fmt.Errorf("%w: object lock needs versioning enabled", ErrInvalid)
	case v.DefaultMode != "" && v.DefaultMode != RetainGovernance && v.DefaultMode != RetainCompliance:
		return fmt.Errorf("%w: retention mode %q", ErrInvalid, v.DefaultMode)
	case v.DefaultMode == "" && (v.DefaultDays != 0 || v.DefaultYears != 0):
		return fmt.Errorf("%w: a default retention needs a mode", ErrInvalid)
	case v.DefaultMode != "" && !v.ObjectLock:
		return fmt.Errorf("%w: a default retention needs object lock", ErrInvalid)
	case v.DefaultMode != "" && (v.DefaultDays > 0) == (v.DefaultYears > 0):
		return fmt.Errorf("%w: a default retention needs days or years, not both", ErrInvalid)
	case v.DefaultDays < 0 || v.DefaultYears < 0:
		return fmt.Errorf("%w: negative retention period", ErrInvalid)
	}
	return nil
}

// SetBucketVersioning implements Versions.
func (c *Bolt) SetBucketVersioning(ctx context.Context, bucket string, v BucketVersioning) error {
	return c.update(ctx, "set bucket versioning", func(tx *bbolt.Tx) error {
		name := []byte(bucket)
		if bucket == "" || tx.Bucket(bkBuckets).Get(name) == nil {
			return fmt.Errorf("%w: %q", ErrNoSuchBucket, bucket)
		}
		var old BucketVersioning
		if b := tx.Bucket(bkBucketVersioning).Get(name); b != nil {
			var err error
			if old, err = decodeBucketVersioning(bucket, b); err != nil {
				return err
			}
			if old.Generation >= v.Generation {
				return fmt.Errorf("%w: bucket %q has versioning of generation %d, not below %d", ErrStale, bucket, old.Generation, v.Generation)
			}
		}
		if err := checkBucketVersioning(&old, &v); err != nil {
			return err
		}
		return tx.Bucket(bkBucketVersioning).Put(name, encodeBucketVersioning(&v))
	})
}

// GetBucketVersioning implements Versions.
func (c *Bolt) GetBucketVersioning(ctx context.Context, bucket string) (BucketVersioning, error) {
	var out BucketVersioning
	err := c.view(ctx, "get bucket versioning", func(tx *bbolt.Tx) error {
		name := []byte(bucket)
		if bucket == "" || tx.Bucket(bkBuckets).Get(name) == nil {
			return fmt.Errorf("%w: %q", ErrNoSuchBucket, bucket)
		}
		b := tx.Bucket(bkBucketVersioning).Get(name)
		if b == nil {
			return nil
		}
		var err error
		out, err = decodeBucketVersioning(bucket, b)
		return err
	})
	return out, err
}

func versionRowKey(key string, seq uint64, id string) []byte {
	b := escape(nil, key)
	b = binary.BigEndian.AppendUint64(b, ^seq)
	return append(b, id...)
}

func versionIDKey(key, id string) []byte { return append(escape(nil, key), id...) }

func versionTombKey(bucket, key, id string) []byte {
	return append(escape(escape(nil, bucket), key), id...)
}

// parseVersionRow splits a row key into key, seq and version ID.
func parseVersionRow(k []byte) (string, uint64, string, error) {
	key, rest, err := unescape(k)
	if err != nil {
		return "", 0, "", err
	}
	if len(rest) <= 8 {
		return "", 0, "", fmt.Errorf("%w: short version key", ErrCorrupt)
	}
	return key, ^binary.BigEndian.Uint64(rest[:8]), string(rest[8:]), nil
}

// versionIndex is the pair of nested buckets of one catalog bucket; both
// nil when the bucket has never had a version.
type versionIndex struct {
	bucket    string
	rows, ids *bbolt.Bucket
}

func openVersionIndex(tx *bbolt.Tx, bucket string, create bool) (versionIndex, error) {
	vi := versionIndex{bucket: bucket}
	name := []byte(bucket)
	if !create {
		vi.rows = tx.Bucket(bkVersions).Bucket(name)
		vi.ids = tx.Bucket(bkVersionIDs).Bucket(name)
		if (vi.rows == nil) != (vi.ids == nil) {
			return vi, fmt.Errorf("%w: version index of %q half there", ErrCorrupt, bucket)
		}
		return vi, nil
	}
	var err error
	if vi.rows, err = tx.Bucket(bkVersions).CreateBucketIfNotExists(name); err != nil {
		return vi, err
	}
	vi.ids, err = tx.Bucket(bkVersionIDs).CreateBucketIfNotExists(name)
	return vi, err
}

// has reports whether key has versions.
func (vi versionIndex) has(key string) bool {
	if vi.ids == nil {
		return false
	}
	p := escape(nil, key)
	k, _ := vi.ids.Cursor().Seek(p)
	return k != nil && bytes.HasPrefix(k, p)
}

// get returns one version, nil if missing.
func (vi versionIndex) get(key, id string) (*Version, error) {
	if vi.ids == nil {
		return nil, nil
	}
	s := vi.ids.Get(versionIDKey(key, id))
	if s == nil {
		return nil, nil
	}
	if len(s) != 8 {
		return nil, fmt.Errorf("%w: version seq of %s/%s?versionId=%s", ErrCorrupt, vi.bucket, key, id)
	}
	seq := binary.BigEndian.Uint64(s)
	b := vi.rows.Get(versionRowKey(key, seq, id))
	if b == nil {
		return nil, fmt.Errorf("%w: version %s/%s?versionId=%s indexed but missing", ErrCorrupt, vi.bucket, key, id)
	}
	v, err := decodeVersion(vi.bucket, key, id, seq, b)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// newest returns the newest version of key, nil if it has none.
func (vi versionIndex) newest(key string) (*Version, error) {
	if vi.rows == nil {
		return nil, nil
	}
	p := escape(nil, key)
	k, b := vi.rows.Cursor().Seek(p)
	if k == nil || !bytes.HasPrefix(k, p) {
		return nil, nil
	}
	_, seq, id, err := parseVersionRow(k)
	if err != nil {
		return nil, err
	}
	v, err := decodeVersion(vi.bucket, key, id, seq, b)
	if err != nil {
		return nil, err
	}
	v.Latest = true
	return &v, nil
}

func (vi versionIndex) insert(v *Version) error {
	if err := vi.rows.Put(versionRowKey(v.Key, v.Seq, v.VersionID), encodeVersion(v)); err != nil {
		return err
	}
	return vi.ids.Put(versionIDKey(v.Key, v.VersionID), binary.BigEndian.AppendUint64(nil, v.Seq))
}

func (vi versionIndex) remove(v *Version) error {
	if err := vi.rows.Delete(versionRowKey(v.Key, v.Seq, v.VersionID)); err != nil {
		return err
	}
	return vi.ids.Delete(versionIDKey(v.Key, v.VersionID))
}

// syncCurrent makes the object index of key mirror its newest version.
func (vi versionIndex) syncCurrent(ob *bbolt.Bucket, key string) error {
	cur, err := vi.newest(key)
	if err != nil {
		return err
	}
	if cur == nil || cur.DeleteMarker {
		return ob.Delete([]byte(key))
	}
	e := cur.entry()
	return ob.Put([]byte(key), encodeEntry(&e))
}

// hasVersions reports whether bucket/key has versions.
func hasVersions(tx *bbolt.Tx, bucket, key string) (bool, error) {
	vi, err := openVersionIndex(tx, bucket, false)
	if err != nil {
		return false, err
	}
	return vi.has(key), nil
}

// getVersionTomb returns the tombstone of a version (the key's for the
// null version); nil if none.
func getVersionTomb(tx *bbolt.Tx, bucket, key, id string) (*Tombstone, error) {
	if id == NullVersion {
		return getTombstone(tx, bucket, key)
	}
	v := tx.Bucket(bkVersionTombs).Get(versionTombKey(bucket, key, id))
	if v == nil {
		return nil, nil
	}
	t, err := decodeTombstone(bucket, key, v)
	if err != nil {
		return nil, err
	}
	t.VersionID = id
	return &t, nil
}

func putVersionTomb(tx *bbolt.Tx, t *Tombstone) error {
	if t.VersionID == NullVersion {
		kt := *t
		kt.VersionID = ""
		return tx.Bucket(bkTombstones).Put(tombKey(t.Bucket, t.Key), encodeTombstone(&kt))
	}
	return tx.Bucket(bkVersionTombs).Put(versionTombKey(t.Bucket, t.Key, t.VersionID), encodeTombstone(t))
}

func dropVersionTomb(tx *bbolt.Tx, bucket, key, id string) error {
	if id == NullVersion {
		return tx.Bucket(bkTombstones).Delete(tombKey(bucket, key))
	}
	return tx.Bucket(bkVersionTombs).Delete(versionTombKey(bucket, key, id))
}

func checkVersion(v *Version) error {
	if err := checkKey(v.Bucket, v.Key); err != nil {
		return err
	}
	switch {
	case v.VersionID == "":
		return fmt.Errorf("%w: empty version ID", ErrInvalid)
	case v.Seq == 0:
		return fmt.Errorf("%w: version sequence 0", ErrInvalid)
	case v.Generation < v.Seq:
		return fmt.Errorf("%w: version generation %d below its sequence %d", ErrInvalid, v.Generation, v.Seq)
	case v.DeleteMarker && (v.LegalHold || v.RetainMode != "" || !v.RetainUntil.IsZero()):
		return fmt.Errorf("%w: a delete marker cannot be locked", ErrInvalid)
	case v.RetainMode != "" && v.RetainMode != RetainGovernance && v.RetainMode != RetainCompliance:
		return fmt.Errorf("%w: retention mode %q", ErrInvalid, v.RetainMode)
	case (v.RetainMode == "") != v.RetainUntil.IsZero():
		return fmt.Errorf("%w: retention needs both a mode and a date", ErrInvalid)
	}
	return nil
}

// PutVersion implements Versions.
func (c *Bolt) PutVersion(ctx context.Context, v Version) (*Version, error) {
	if err := checkVersion(&v); err != nil {
		return nil, fmt.Errorf("catalog put version: %w", err)
	}
	v.Latest = false
	var replaced *Version
	err := c.batch(ctx, "put version", func(tx *bbolt.Tx) error {
		replaced = nil
		ob, err := objects(tx, v.Bucket)
		if err != nil {
			return err
		}
		vi, err := openVersionIndex(tx, v.Bucket, true)
		if err != nil {
			return err
		}
		if !vi.has(v.Key) {
			if b := ob.Get([]byte(v.Key)); b != nil {
				e, err := decodeEntry(v.Bucket, v.Key, b)
				if err != nil {
					return err
				}
				if e.VersionID != "" {
					return fmt.Errorf("%w: entry %s/%s names version %q that is missing", ErrCorrupt, v.Bucket, v.Key, e.VersionID)
				}
				null := nullVersionOf(&e)
				if err := vi.insert(&null); err != nil {
					return err
				}
			}
		}
		tomb, err := getVersionTomb(tx, v.Bucket, v.Key, v.VersionID)
		if err != nil {
			return err
		}
		if tomb != nil && tomb.Generation >= v.Generation {
			return fmt.Errorf("%w: %s/%s?versionId=%s was deleted at generation %d, not below %d", ErrStale, v.Bucket, v.Key, v.VersionID, tomb.Generation, v.Generation)
		}
		old, err := vi.get(v.Key, v.VersionID)
		if err != nil {
			return err
		}
		if old != nil {
			if old.Generation >= v.Generation {
				return fmt.Errorf("%w: %s/%s?versionId=%s holds generation %d, not below %d", ErrStale, v.Bucket, v.Key, v.VersionID, old.Generation, v.Generation)
			}
			if v.VersionID != NullVersion && old.Seq != v.Seq {
				return fmt.Errorf("%w: %s/%s?versionId=%s has sequence %d, not %d", ErrInvalid, v.Bucket, v.Key, v.VersionID, old.Seq, v.Seq)
			}
			if err := vi.remove(old); err != nil {
				return err
			}
			replaced = old
		}
		if err := vi.insert(&v); err != nil {
			return err
		}
		if tomb != nil {
			if err := dropVersionTomb(tx, v.Bucket, v.Key, v.VersionID); err != nil {
				return err
			}
		}
		return vi.syncCurrent(ob, v.Key)
	})
	if err != nil {
		return nil, err
	}
	return replaced, nil
}

// GetVersion implements Versions.
func (c *Bolt) GetVersion(ctx context.Context, bucket, key, id string) (Version, error) {
	var out Version
	err := c.view(ctx, "get version", func(tx *bbolt.Tx) error {
		ob, err := objects(tx, bucket)
		if err != nil {
			return err
		}
		vi, err := openVersionIndex(tx, bucket, false)
		if err != nil {
			return err
		}
		notFound := fmt.Errorf("%w: %s/%s?versionId=%s", ErrNotFound, bucket, key, id)
		if key == "" {
			return notFound
		}
		if vi.has(key) {
			newest, err := vi.newest(key)
			if err != nil {
				return err
			}
			if id == "" {
				out = *newest
				return nil
			}
			v, err := vi.get(key, id)
			if err != nil {
				return err
			}
			if v == nil {
				return notFound
			}
			v.Latest = v.VersionID == newest.VersionID && v.Seq == newest.Seq
			out = *v
			return nil
		}
		b := ob.Get([]byte(key))
		if b == nil || (id != "" && id != NullVersion) {
			return notFound
		}
		e, err := decodeEntry(bucket, key, b)
		if err != nil {
			return err
		}
		out = nullVersionOf(&e)
		out.Latest = true
		return nil
	})
	return out, err
}

// DeleteVersion implements Versions.
func (c *Bolt) DeleteVersion(ctx context.Context, t Tombstone, o DeleteVersionOptions) (*Version, error) {
	if err := checkKey(t.Bucket, t.Key); err != nil {
		return nil, fmt.Errorf("catalog delete version: %w", err)
	}
	if t.VersionID == "" {
		return nil, fmt.Errorf("catalog delete version: %w: empty version ID", ErrInvalid)
	}
	var removed *Version
	err := c.batch(ctx, "delete version", func(tx *bbolt.Tx) error {
		removed = nil
		old, err := getVersionTomb(tx, t.Bucket, t.Key, t.VersionID)
		if err != nil {
			return err
		}
		if old != nil && old.Generation >= t.Generation {
			return fmt.Errorf("%w: %s/%s?versionId=%s has a tombstone of generation %d, not below %d", ErrStale, t.Bucket, t.Key, t.VersionID, old.Generation, t.Generation)
		}
		ob := tx.Bucket(bkObjects).Bucket([]byte(t.Bucket))
		vi, err := openVersionIndex(tx, t.Bucket, false)
		if err != nil {
			return err
		}
		var target *Version
		fromEntry := false
		switch {
		case vi.has(t.Key):
			if target, err = vi.get(t.Key, t.VersionID); err != nil {
				return err
			}
		case t.VersionID == NullVersion && ob != nil:
			if b := ob.Get([]byte(t.Key)); b != nil {
				e, err := decodeEntry(t.Bucket, t.Key, b)
				if err != nil {
					return err
				}
				null := nullVersionOf(&e)
				target, fromEntry = &null, true
			}
		}
		if target != nil {
			if target.Generation >= t.Generation {
				return fmt.Errorf("%w: %s/%s?versionId=%s holds generation %d, not below %d", ErrStale, t.Bucket, t.Key, t.VersionID, target.Generation, t.Generation)
			}
			if target.Locked(t.Deleted, o.BypassGovernance) {
				return fmt.Errorf("%w: %s/%s?versionId=%s", ErrLocked, t.Bucket, t.Key, t.VersionID)
			}
			if fromEntry {
				if err := ob.Delete([]byte(t.Key)); err != nil {
					return err
				}
			} else {
				if err := vi.remove(target); err != nil {
					return err
				}
				if err := vi.syncCurrent(ob, t.Key); err != nil {
					return err
				}
			}
			target.Latest = false
			removed = target
		}
		return putVersionTomb(tx, &t)
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// ListVersions implements Versions. It merges the version index with the
// object index (for unversioned objects), seeking both cursors to the next
// key, and past each common prefix, so a page costs about two cursor seeks
// per item returned.
func (c *Bolt) ListVersions(ctx context.Context, o VersionListOptions) (VersionListResult, error) {
	limit := o.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	var res VersionListResult
	err := c.view(ctx, "list versions", func(tx *bbolt.Tx) error {
		res = VersionListResult{}
		ob, err := objects(tx, o.Bucket)
		if err != nil {
			return err
		}
		vi, err := openVersionIndex(tx, o.Bucket, false)
		if err != nil {
			return err
		}
		l := versionLister{versionPage: versionPage{o: o, limit: limit, res: &res}, ob: ob.Cursor(), vi: vi}
		if vi.rows != nil {
			l.rows = vi.rows.Cursor()
		}
		return l.list(&l)
	})
	if err != nil {
		return VersionListResult{}, err
	}
	return res, nil
}

// versionLister computes one page of ListVersions in a read transaction.
type versionLister struct {
	versionPage
	ob   *bbolt.Cursor
	rows *bbolt.Cursor // nil if the bucket never had versions
	vi   versionIndex
}

// nextKey returns the smallest key with the listing's prefix that is at or
// after from (strictly after, if strict) in either index.
func (l *versionLister) nextKey(from string, strict bool) (string, bool, error) {
	best, found := "", false
	k, _ := l.ob.Seek([]byte(from))
	if k != nil && strict && string(k) == from {
		k, _ = l.ob.Next()
	}
	if k != nil && strings.HasPrefix(string(k), l.o.Prefix) {
		best, found = string(k), true
	}
	if l.rows != nil {
		seek := escape(nil, from)
		if strict {
			seek = successor(seek)
		}
		if seek != nil {
			if rk, _ := l.rows.Seek(seek); rk != nil {
				key, _, err := unescape(rk)
				if err != nil {
					return "", false, err
				}
				if strings.HasPrefix(key, l.o.Prefix) && (!found || key < best) {
					best, found = key, true
				}
			}
		}
	}
	return best, found, nil
}

// key adds the versions of key, those after version resume if it is set.
func (l *versionLister) key(key, resume string) error {
	if !l.vi.has(key) {
		if resume != "" {
			return nil // the marker was this key's only version
		}
		k, b := l.ob.Seek([]byte(key))
		if k == nil || string(k) != key {
			return fmt.Errorf("%w: listed key %q vanished", ErrCorrupt, key)
		}
		e, err := decodeEntry(l.o.Bucket, key, b)
		if err != nil {
			return err
		}
		if l.full() {
			return nil
		}
		v := nullVersionOf(&e)
		v.Latest = true
		l.add(v)
		return nil
	}
	p := escape(nil, key)
	k, b := l.rows.Seek(p)
	first := true
	if resume != "" {
		v, err := l.vi.get(key, resume)
		if err != nil {
			return err
		}
		if v == nil {
			return nil // unknown marker: after every version of the key
		}
		after := versionRowKey(key, v.Seq, v.VersionID)
		k, b = l.rows.Seek(after)
		if bytes.Equal(k, after) {
			k, b = l.rows.Next()
		}
		first = false
	}
	for ; k != nil && bytes.HasPrefix(k, p); k, b = l.rows.Next() {
		_, seq, id, err := parseVersionRow(k)
		if err != nil {
			return err
		}
		v, err := decodeVersion(l.o.Bucket, key, id, seq, b)
		if err != nil {
			return err
		}
		if l.full() {
			return nil
		}
		v.Latest = first
		first = false
		l.add(v)
	}
	return nil
}

func (l *versionLister) add(v Version) {
	l.res.Versions = append(l.res.Versions, v)
	l.res.NextKeyMarker, l.res.NextVersionIDMarker = v.Key, v.VersionID
}

// WalkVersions implements Versions, walkBatch versions per read
// transaction.
func (c *Bolt) WalkVersions(ctx context.Context, fn func(Version) error) error {
	buckets, err := c.ListBuckets(ctx)
	if err != nil {
		return err
	}
	for _, bk := range buckets {
		var after []byte
		for {
			var batch []Version
			err := c.walkView(ctx, "walk versions", func(tx *bbolt.Tx) error {
				rows := tx.Bucket(bkVersions).Bucket([]byte(bk.Name))
				if rows == nil {
					return nil
				}
				cur := rows.Cursor()
				k, b := cur.First()
				if after != nil {
					k, b = cur.Seek(after)
					if bytes.Equal(k, after) {
						k, b = cur.Next()
					}
				}
				for ; k != nil && len(batch) < walkBatch; k, b = cur.Next() {
					key, seq, id, err := parseVersionRow(k)
					if err != nil {
						return err
					}
					v, err := decodeVersion(bk.Name, key, id, seq, b)
					if err != nil {
						return err
					}
					// The first row of a key is its newest.
					v.Latest = after == nil || !bytes.HasPrefix(after, escape(nil, key))
					batch = append(batch, v)
					after = bytes.Clone(k)
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, v := range batch {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("catalog walk versions: %w", err)
				}
				if err := fn(v); err != nil {
					return err
				}
			}
			if len(batch) < walkBatch {
				break
			}
		}
	}
	return nil
}

// GetVersionTombstone implements Versions.
func (c *Bolt) GetVersionTombstone(ctx context.Context, bucket, key, id string) (Tombstone, error) {
	var out Tombstone
	err := c.view(ctx, "get version tombstone", func(tx *bbolt.Tx) error {
		t, err := getVersionTomb(tx, bucket, key, id)
		if err != nil {
			return err
		}
		if t == nil || id == "" {
			return fmt.Errorf("%w: no tombstone of %s/%s?versionId=%s", ErrNotFound, bucket, key, id)
		}
		out = *t
		return nil
	})
	return out, err
}

// WalkVersionTombstones implements Versions, walkBatch tombstones per read
// transaction.
func (c *Bolt) WalkVersionTombstones(ctx context.Context, fn func(Tombstone) error) error {
	return walkBucket(ctx, c, "walk version tombstones", bkVersionTombs, func(k, v []byte) (Tombstone, error) {
		bucket, rest, err := unescape(k)
		if err != nil {
			return Tombstone{}, fmt.Errorf("%w: version tombstone key: %v", ErrCorrupt, err)
		}
		key, id, err := unescape(rest)
		if err != nil {
			return Tombstone{}, fmt.Errorf("%w: version tombstone key: %v", ErrCorrupt, err)
		}
		t, err := decodeTombstone(bucket, key, v)
		t.VersionID = string(id)
		return t, err
	}, fn)
}
