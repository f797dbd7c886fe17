package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Tombstones in Redis live in the hash P{b:NAME}:t of their bucket (the
// bucket's own under the empty key); P{m}:tombbuckets names every bucket
// that has had one, for WalkTombstones.

var scriptPutTombstone = redis.NewScript(`
local old = redis.call('HGET', KEYS[4], ARGV[1])
if old and string.sub(old, 1, 20) >= ARGV[2] then return {'stale', old} end
local removed = ''
if ARGV[1] == '' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return {'bucket'} end
else
  if redis.call('EXISTS', KEYS[1]) == 1 then
    local r = redis.call('ZRANGEBYLEX', KEYS[5], '[' .. ARGV[4], '+', 'LIMIT', 0, 1)
    if r[1] ~= nil and string.sub(r[1], 1, #ARGV[4]) == ARGV[4] then return {'versioned'} end
  end
  local e = redis.call('HGET', KEYS[2], ARGV[1])
  if e then
    if string.sub(e, 1, 20) >= ARGV[2] then return {'estale', e} end
    redis.call('HDEL', KEYS[2], ARGV[1])
    redis.call('ZREM', KEYS[3], ARGV[1])
    removed = e
  end
end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[3])
return {'ok', removed}`)

// PutTombstone implements Tombstones.
func (r *Redis) PutTombstone(ctx context.Context, t Tombstone) (*Entry, error) {
	if err := checkBucketName(t.Bucket); err != nil {
		return nil, fmt.Errorf("catalog put tombstone: %w", err)
	}
	if t.VersionID != "" {
		return nil, fmt.Errorf("catalog put tombstone: %w: a version tombstone (use DeleteVersion)", ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("catalog put tombstone: %w", err)
	}
	if err := r.rdb.ZAdd(ctx, r.mkey("tombbuckets"), redis.Z{Member: t.Bucket}).Err(); err != nil {
		return nil, r.fail(ctx, "put tombstone", err)
	}
	g := gen20(t.Generation)
	res, err := r.run(ctx, "put tombstone", scriptPutTombstone, r.objectKeys(t.Bucket), t.Key, g, g+string(encodeTombstone(&t)), esc(t.Key))
	if err != nil {
		return nil, err
	}
	switch res[0] {
	case "ok":
		return r.entryPtr(t.Bucket, t.Key, res[1])
	case "stale":
		old, err := r.tombstoneFrom(t.Bucket, t.Key, res[1])
		if err != nil {
			return nil, fmt.Errorf("catalog put tombstone: %w", err)
		}
		return nil, fmt.Errorf("catalog put tombstone: %w: %s/%s has a tombstone of generation %d, not below %d", ErrStale, t.Bucket, t.Key, old.Generation, t.Generation)
	case "bucket":
		return nil, fmt.Errorf("catalog put tombstone: %w: bucket %q still exists", ErrBucketNotEmpty, t.Bucket)
	case "versioned":
		return nil, fmt.Errorf("catalog put tombstone: %w: %s/%s", ErrVersioned, t.Bucket, t.Key)
	case "estale":
		e, err := r.entryFrom(t.Bucket, t.Key, res[1])
		if err != nil {
			return nil, fmt.Errorf("catalog put tombstone: %w", err)
		}
		return nil, fmt.Errorf("catalog put tombstone: %w: %s/%s holds generation %d, not below %d", ErrStale, t.Bucket, t.Key, e.Generation, t.Generation)
	}
	return nil, fmt.Errorf("catalog put tombstone: unexpected script reply %q", res[0])
}

func (r *Redis) tombstoneFrom(bucket, key, v string) (Tombstone, error) {
	rec, err := splitGen("tombstone", bucket+"/"+key, v)
	if err != nil {
		return Tombstone{}, err
	}
	return decodeTombstone(bucket, key, []byte(rec))
}

// GetTombstone implements Tombstones.
func (r *Redis) GetTombstone(ctx context.Context, bucket, key string) (Tombstone, error) {
	if err := ctx.Err(); err != nil {
		return Tombstone{}, fmt.Errorf("catalog get tombstone: %w", err)
	}
	v, err := r.rdb.HGet(ctx, r.bkey(bucket, "t"), key).Result()
	if errors.Is(err, redis.Nil) {
		return Tombstone{}, fmt.Errorf("catalog get tombstone: %w: no tombstone of %s/%s", ErrNotFound, bucket, key)
	}
	if err != nil {
		return Tombstone{}, r.fail(ctx, "get tombstone", err)
	}
	t, err := r.tombstoneFrom(bucket, key, v)
	if err != nil {
		return Tombstone{}, fmt.Errorf("catalog get tombstone: %w", err)
	}
	return t, nil
}

// WalkTombstones implements Tombstones: one bucket's tombstones are read
// at once, then fn runs on each.
func (r *Redis) WalkTombstones(ctx context.Context, fn func(Tombstone) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("catalog walk tombstones: %w", err)
	}
	names, err := r.rdb.ZRange(ctx, r.mkey("tombbuckets"), 0, -1).Result()
	if err != nil {
		return r.fail(ctx, "walk tombstones", err)
	}
	for _, b := range names {
		m, err := r.rdb.HGetAll(ctx, r.bkey(b, "t")).Result()
		if err != nil {
			return r.fail(ctx, "walk tombstones", err)
		}
		for _, k := range sortedKeys(m) {
			t, err := r.tombstoneFrom(b, k, m[k])
			if err != nil {
				return fmt.Errorf("catalog walk tombstones: %w", err)
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("catalog walk tombstones: %w", err)
			}
			if err := fn(t); err != nil {
				return err
			}
		}
	}
	return nil
}
