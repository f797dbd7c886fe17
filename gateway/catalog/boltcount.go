package catalog

import (
	"bytes"
	"context"

	"go.etcd.io/bbolt"
)

// Count implements Counter: it counts the keys of every bucket's objects
// and versions with a cursor, decoding no value, walkBatch keys per read
// transaction so that the pages it reads are released as a walk's are
// (see boltrelease.go).
func (c *Bolt) Count(ctx context.Context) (Counts, error) {
	buckets, err := c.ListBuckets(ctx)
	if err != nil {
		return Counts{}, err
	}
	var n Counts
	for _, b := range buckets {
		entries, err := c.countKeys(ctx, bkObjects, []byte(b.Name))
		if err != nil {
			return Counts{}, err
		}
		versions, err := c.countKeys(ctx, bkVersions, []byte(b.Name))
		if err != nil {
			return Counts{}, err
		}
		n.Entries += entries
		n.Versions += versions
	}
	return n, nil
}

// countKeys returns the number of keys in the bolt bucket parent/name (0
// if there is none).
func (c *Bolt) countKeys(ctx context.Context, parent, name []byte) (int, error) {
	total := 0
	var after []byte
	for {
		n := 0
		err := c.walkView(ctx, "count", func(tx *bbolt.Tx) error {
			b := tx.Bucket(parent).Bucket(name)
			if b == nil {
				return nil // none, or deleted meanwhile
			}
			cur := b.Cursor()
			k, _ := cur.First()
			if after != nil {
				k, _ = cur.Seek(after)
				if bytes.Equal(k, after) {
					k, _ = cur.Next()
				}
			}
			for ; k != nil && n < walkBatch; k, _ = cur.Next() {
				n++
				if n == walkBatch {
					after = bytes.Clone(k)
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		total += n
		if n < walkBatch {
			return total, nil
		}
	}
}
