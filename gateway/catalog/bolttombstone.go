package catalog

import (
	"bytes"
	"context"
	"fmt"

	"go.etcd.io/bbolt"
)

// tombKey is the bolt key of the tombstone of bucket/key.
func tombKey(bucket, key string) []byte { return append(escape(nil, bucket), key...) }

// getTombstone reads the tombstone of bucket/key in tx; nil if none.
func getTombstone(tx *bbolt.Tx, bucket, key string) (*Tombstone, error) {
	v := tx.Bucket(bkTombstones).Get(tombKey(bucket, key))
	if v == nil {
		return nil, nil
	}
	t, err := decodeTombstone(bucket, key, v)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// PutTombstone implements Tombstones.
func (c *Bolt) PutTombstone(ctx context.Context, t Tombstone) (*Entry, error) {
	if err := checkBucketName(t.Bucket); err != nil {
		return nil, fmt.Errorf("catalog put tombstone: %w", err)
	}
	if t.VersionID != "" {
		return nil, fmt.Errorf("catalog put tombstone: %w: a version tombstone (use DeleteVersion)", ErrInvalid)
	}
	var removed *Entry
	err := c.batch(ctx, "put tombstone", func(tx *bbolt.Tx) error {
		removed = nil
		old, err := getTombstone(tx, t.Bucket, t.Key)
		if err != nil {
			return err
		}
		if old != nil && old.Generation >= t.Generation {
			return fmt.Errorf("%w: %s/%s has a tombstone of generation %d, not below %d", ErrStale, t.Bucket, t.Key, old.Generation, t.Generation)
		}
		if t.Key == "" {
			if tx.Bucket(bkBuckets).Get([]byte(t.Bucket)) != nil {
				return fmt.Errorf("%w: bucket %q still exists", ErrBucketNotEmpty, t.Bucket)
			}
		} else if ob := tx.Bucket(bkObjects).Bucket([]byte(t.Bucket)); ob != nil {
			if err := refuseVersioned(tx, t.Bucket, t.Key); err != nil {
				return err
			}
			if v := ob.Get([]byte(t.Key)); v != nil {
				e, err := decodeEntry(t.Bucket, t.Key, v)
				if err != nil {
					return err
				}
				if e.Generation >= t.Generation {
					return fmt.Errorf("%w: %s/%s holds generation %d, not below %d", ErrStale, t.Bucket, t.Key, e.Generation, t.Generation)
				}
				if err := ob.Delete([]byte(t.Key)); err != nil {
					return err
				}
				removed = &e
			}
		}
		return tx.Bucket(bkTombstones).Put(tombKey(t.Bucket, t.Key), encodeTombstone(&t))
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// GetTombstone implements Tombstones.
func (c *Bolt) GetTombstone(ctx context.Context, bucket, key string) (Tombstone, error) {
	var out Tombstone
	err := c.view(ctx, "get tombstone", func(tx *bbolt.Tx) error {
		t, err := getTombstone(tx, bucket, key)
		if err != nil {
			return err
		}
		if t == nil {
			return fmt.Errorf("%w: no tombstone of %s/%s", ErrNotFound, bucket, key)
		}
		out = *t
		return nil
	})
	return out, err
}

// WalkTombstones implements Tombstones, walkBatch tombstones per read
// transaction.
func (c *Bolt) WalkTombstones(ctx context.Context, fn func(Tombstone) error) error {
	return walkBucket(ctx, c, "walk tombstones", bkTombstones, func(k, v []byte) (Tombstone, error) {
		bucket, key, err := unescape(k)
		if err != nil {
			return Tombstone{}, fmt.Errorf("%w: tombstone key: %v", ErrCorrupt, err)
		}
		return decodeTombstone(bucket, string(key), v)
	}, fn)
}

// walkBucket calls fn for every pair of the bolt bucket name, in key order,
// reading walkBatch pairs per read transaction: decode runs inside it, fn
// outside, so fn may change the catalog.
func walkBucket[T any](ctx context.Context, c *Bolt, op string, name []byte, decode func(k, v []byte) (T, error), fn func(T) error) error {
	var after []byte
	for {
		var batch []T
		var last []byte
		err := c.walkView(ctx, op, func(tx *bbolt.Tx) error {
			cur := tx.Bucket(name).Cursor()
			k, v := cur.First()
			if after != nil {
				k, v = cur.Seek(after)
				if bytes.Equal(k, after) {
					k, v = cur.Next()
				}
			}
			for ; k != nil && len(batch) < walkBatch; k, v = cur.Next() {
				t, err := decode(k, v)
				if err != nil {
					return err
				}
				batch = append(batch, t)
				last = bytes.Clone(k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, t := range batch {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("catalog %s: %w", op, err)
			}
			if err := fn(t); err != nil {
				return err
			}
		}
		if len(batch) < walkBatch {
			return nil
		}
		after = last
	}
}
