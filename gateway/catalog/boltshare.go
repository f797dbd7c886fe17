package catalog

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"
)

// getShare reads one share in tx; nil if there is none.
func getShare(tx *bbolt.Tx, id string) (*Share, error) {
	v := tx.Bucket(bkShares).Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	s, err := decodeShare(id, v)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// PutShare implements Shares.
func (c *Bolt) PutShare(ctx context.Context, s Share) error {
	if err := checkShareID(s.ID); err != nil {
		return fmt.Errorf("catalog put share: %w", err)
	}
	return c.update(ctx, "put share", func(tx *bbolt.Tx) error {
		old, err := getShare(tx, s.ID)
		if err != nil {
			return err
		}
		m, err := mergeShare(old, s)
		if err != nil {
			return err
		}
		return tx.Bucket(bkShares).Put([]byte(s.ID), encodeShare(&m))
	})
}

// GetShare implements Shares.
func (c *Bolt) GetShare(ctx context.Context, id string) (Share, error) {
	var out Share
	err := c.view(ctx, "get share", func(tx *bbolt.Tx) error {
		s, err := getShare(tx, id)
		if err != nil {
			return err
		}
		if s == nil {
			return fmt.Errorf("%w: %s", ErrNoSuchShare, id)
		}
		out = *s
		return nil
	})
	return out, err
}

// ListShares implements Shares.
func (c *Bolt) ListShares(ctx context.Context) ([]Share, error) {
	var out []Share
	err := c.view(ctx, "list shares", func(tx *bbolt.Tx) error {
		return tx.Bucket(bkShares).ForEach(func(k, v []byte) error {
			s, err := decodeShare(string(k), v)
			if err != nil {
				return err
			}
			out = append(out, s)
			return nil
		})
	})
	slices.SortFunc(out, func(a, b Share) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

// CountDownload implements Shares.
func (c *Bolt) CountDownload(ctx context.Context, id string, now time.Time) (Share, error) {
	var out Share
	err := c.update(ctx, "count download", func(tx *bbolt.Tx) error {
		s, err := getShare(tx, id)
		if err != nil {
			return err
		}
		if s == nil {
			return fmt.Errorf("%w: %s", ErrNoSuchShare, id)
		}
		out = *s
		if st := s.State(now); st != ShareActive {
			return fmt.Errorf("%w: %s is %s", ErrShareGone, id, st)
		}
		out.Downloads++
		return tx.Bucket(bkShares).Put([]byte(id), encodeShare(&out))
	})
	return out, err
}
