package catalog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// Shares and the epoch in Redis change by optimistic transactions (WATCH,
// read, decide with the same Go code as the embedded catalog, MULTI/EXEC),
// retried when another instance changed the key in between.

// maxTxRetries bounds the retries of one optimistic transaction.
const maxTxRetries = 1000

// watch runs fn in an optimistic transaction on keys (one slot), retrying
// while another client changes them in between.
func (r *Redis) watch(ctx context.Context, op string, fn func(tx *redis.Tx) error, keys ...string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("catalog %s: %w", op, err)
	}
	for range maxTxRetries {
		err := r.rdb.Watch(ctx, fn, keys...)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if err == nil {
			return nil
		}
		if decided(err) {
			return fmt.Errorf("catalog %s: %w", op, err)
		}
		return r.fail(ctx, op, err)
	}
	return fmt.Errorf("catalog %s: %w: key changed %d times in a row", op, ErrUnavailable, maxTxRetries)
}

// decided reports whether err is the catalog's answer rather than a
// failure to reach Redis.
func decided(err error) bool {
	for _, s := range []error{ErrStale, ErrNoSuchShare, ErrShareGone, ErrCorrupt, ErrNoSuchBucket, ErrNotFound,
		ErrInvalid, ErrLocked, ErrVersioned} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// getShareTx reads one share; nil if there is none.
func getShareTx(ctx context.Context, tx *redis.Tx, key, id string) (*Share, error) {
	v, err := tx.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s, err := decodeShare(id, v)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// PutShare implements Shares.
func (r *Redis) PutShare(ctx context.Context, s Share) error {
	if err := checkShareID(s.ID); err != nil {
		return fmt.Errorf("catalog put share: %w", err)
	}
	key := r.skey("s:" + s.ID)
	return r.watch(ctx, "put share", func(tx *redis.Tx) error {
		old, err := getShareTx(ctx, tx, key, s.ID)
		if err != nil {
			return err
		}
		m, err := mergeShare(old, s)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, key, encodeShare(&m), 0)
			p.ZAdd(ctx, r.skey("ids"), redis.Z{Member: s.ID})
			return nil
		})
		return err
	}, key)
}

// GetShare implements Shares.
func (r *Redis) GetShare(ctx context.Context, id string) (Share, error) {
	if err := ctx.Err(); err != nil {
		return Share{}, fmt.Errorf("catalog get share: %w", err)
	}
	v, err := r.rdb.Get(ctx, r.skey("s:"+id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Share{}, fmt.Errorf("catalog get share: %w: %s", ErrNoSuchShare, id)
	}
	if err != nil {
		return Share{}, r.fail(ctx, "get share", err)
	}
	s, err := decodeShare(id, v)
	if err != nil {
		return Share{}, fmt.Errorf("catalog get share: %w", err)
	}
	return s, nil
}

// ListShares implements Shares.
func (r *Redis) ListShares(ctx context.Context) ([]Share, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("catalog list shares: %w", err)
	}
	ids, err := r.rdb.ZRange(ctx, r.skey("ids"), 0, -1).Result()
	if err != nil {
		return nil, r.fail(ctx, "list shares", err)
	}
	var out []Share
	for chunk := range slices.Chunk(ids, 500) {
		keys := make([]string, len(chunk))
		for i, id := range chunk {
			keys[i] = r.skey("s:" + id)
		}
		vals, err := r.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, r.fail(ctx, "list shares", err)
		}
		for i, v := range vals {
			sv, ok := v.(string)
			if !ok {
				continue
			}
			s, err := decodeShare(chunk[i], []byte(sv))
			if err != nil {
				return nil, fmt.Errorf("catalog list shares: %w", err)
			}
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b Share) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// CountDownload implements Shares: instances counting the same link at
// once each count once, and none counts past MaxDownloads.
func (r *Redis) CountDownload(ctx context.Context, id string, now time.Time) (Share, error) {
	key := r.skey("s:" + id)
	var out Share
	err := r.watch(ctx, "count download", func(tx *redis.Tx) error {
		s, err := getShareTx(ctx, tx, key, id)
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
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, key, encodeShare(&out), 0)
			return nil
		})
		return err
	}, key)
	return out, err
}

// Epoch implements Epochs.
func (r *Redis) Epoch(ctx context.Context) (uint64, []byte, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, fmt.Errorf("catalog epoch: %w", err)
	}
	v, err := r.rdb.Get(ctx, r.mkey("epoch")).Bytes()
	if errors.Is(err, redis.Nil) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, r.fail(ctx, "epoch", err)
	}
	e, rec, err := decodeEpoch(v)
	if err != nil {
		return 0, nil, fmt.Errorf("catalog epoch: %w", err)
	}
	return e, rec, nil
}

// AdvanceEpoch implements Epochs.
func (r *Redis) AdvanceEpoch(ctx context.Context, epoch uint64, record []byte) error {
	key := r.mkey("epoch")
	return r.watch(ctx, "advance epoch", func(tx *redis.Tx) error {
		v, err := tx.Get(ctx, key).Bytes()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		if err == nil {
			cur, _, err := decodeEpoch(v)
			if err != nil {
				return err
			}
			if cur >= epoch {
				return fmt.Errorf("%w: epoch %d, not below %d", ErrStale, cur, epoch)
			}
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, key, encodeEpoch(epoch, record), 0)
			return nil
		})
		return err
	}, key)
}
