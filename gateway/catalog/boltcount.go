package catalog

import (
	"context"

	"go.etcd.io/bbolt"
)

// Count implements Counter: in one read transaction, the keys of every
// bucket's objects and versions, counted page by page (bbolt's bucket
// statistics) without decoding them.
func (c *Bolt) Count(ctx context.Context) (Counts, error) {
	var n Counts
	err := c.view(ctx, "count", func(tx *bbolt.Tx) error {
		objs, vers := tx.Bucket(bkObjects), tx.Bucket(bkVersions)
		return tx.Bucket(bkBuckets).ForEach(func(name, _ []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if ob := objs.Bucket(name); ob != nil {
				n.Entries += ob.Stats().KeyN
			}
			if rows := vers.Bucket(name); rows != nil {
				n.Versions += rows.Stats().KeyN
			}
			return nil
		})
	})
	if err != nil {
		return Counts{}, err
	}
	return n, nil
}
