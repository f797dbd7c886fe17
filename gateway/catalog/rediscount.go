package catalog

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Count implements Counter: the sizes of every bucket's sorted sets of
// object keys and version rows (ZCARD, constant time each), in one
// pipeline.
func (r *Redis) Count(ctx context.Context) (Counts, error) {
	if err := ctx.Err(); err != nil {
		return Counts{}, fmt.Errorf("catalog count: %w", err)
	}
	buckets, err := r.ListBuckets(ctx)
	if err != nil {
		return Counts{}, err
	}
	keys := make([]*redis.IntCmd, len(buckets))
	rows := make([]*redis.IntCmd, len(buckets))
	_, err = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, b := range buckets {
			keys[i] = p.ZCard(ctx, r.bkey(b.Name, "k"))
			rows[i] = p.ZCard(ctx, r.bkey(b.Name, "vr"))
		}
		return nil
	})
	if err != nil {
		return Counts{}, r.fail(ctx, "count", err)
	}
	var n Counts
	for i := range buckets {
		n.Entries += int(keys[i].Val())
		n.Versions += int(rows[i].Val())
	}
	return n, nil
}
