package catalog

import (
	"context"
	"fmt"

	"go.etcd.io/bbolt"
)

// keyEpoch holds the namespace epoch in the meta bucket.
var keyEpoch = []byte("epoch")

// Epoch implements Epochs.
func (c *Bolt) Epoch(ctx context.Context) (uint64, []byte, error) {
	var e uint64
	var rec []byte
	err := c.view(ctx, "epoch", func(tx *bbolt.Tx) error {
		v := tx.Bucket(bkMeta).Get(keyEpoch)
		if v == nil {
			return nil
		}
		var err error
		e, rec, err = decodeEpoch(v)
		return err
	})
	return e, rec, err
}

// AdvanceEpoch implements Epochs.
func (c *Bolt) AdvanceEpoch(ctx context.Context, epoch uint64, record []byte) error {
	return c.update(ctx, "advance epoch", func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bkMeta)
		if v := meta.Get(keyEpoch); v != nil {
			cur, _, err := decodeEpoch(v)
			if err != nil {
				return err
			}
			if cur >= epoch {
				return fmt.Errorf("%w: epoch %d, not below %d", ErrStale, cur, epoch)
			}
		}
		return meta.Put(keyEpoch, encodeEpoch(epoch, record))
	})
}
