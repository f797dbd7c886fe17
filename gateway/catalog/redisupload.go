package catalog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Multipart uploads in Redis: the upload record and its place in the
// bucket's upload index live in the bucket's slot, its parts in a hash of
// the same slot, and P{m}:uploads maps the ID to the bucket so that an
// upload begun on one instance is found by any.

var scriptCreateUpload = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {'nobucket'} end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return {'exists'} end
redis.call('ZADD', KEYS[3], 0, ARGV[3])
redis.call('DEL', KEYS[4])
return {'ok'}`)

var scriptDeleteUpload = redis.NewScript(`
local u = redis.call('HGET', KEYS[1], ARGV[1])
if not u then return {'noupload'} end
local out = {'ok'}
local ps = redis.call('HGETALL', KEYS[3])
for i = 1, #ps do out[#out + 1] = ps[i] end
redis.call('DEL', KEYS[3])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return out`)

var scriptPutPart = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {'noupload'} end
local old = redis.call('HGET', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return {'ok', old or ''}`)

var scriptListParts = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {'noupload'} end
local out = {'ok'}
local ps = redis.call('HGETALL', KEYS[2])
for i = 1, #ps do out[#out + 1] = ps[i] end
return out`)

func (r *Redis) partsKey(bucket, id string) string { return r.bkey(bucket, "p:"+id) }

// uploadBucket returns the bucket of an upload; ErrNoSuchUpload if the ID
// is unknown.
func (r *Redis) uploadBucket(ctx context.Context, op, id string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("catalog %s: %w", op, err)
	}
	if id == "" {
		return "", fmt.Errorf("catalog %s: %w: %q", op, ErrNoSuchUpload, id)
	}
	b, err := r.rdb.HGet(ctx, r.mkey("uploads"), id).Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("catalog %s: %w: %q", op, ErrNoSuchUpload, id)
	}
	if err != nil {
		return "", r.fail(ctx, op, err)
	}
	return b, nil
}

// CreateUpload implements Catalog. The ID is claimed in P{m}:uploads
// first; a claim whose upload record is missing (a create that failed
// half-way) is taken over.
func (r *Redis) CreateUpload(ctx context.Context, u Upload) error {
	if err := checkUploadID(u.ID); err != nil {
		return fmt.Errorf("catalog create upload: %w", err)
	}
	if err := checkKey(u.Bucket, u.Key); err != nil {
		return fmt.Errorf("catalog create upload: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("catalog create upload: %w", err)
	}
	idx := r.mkey("uploads")
	ok, err := r.rdb.HSetNX(ctx, idx, u.ID, u.Bucket).Result()
	if err != nil {
		return r.fail(ctx, "create upload", err)
	}
	if !ok {
		b, err := r.uploadBucket(ctx, "create upload", u.ID)
		if err != nil {
			return err
		}
		n, err := r.rdb.HExists(ctx, r.bkey(b, "u"), u.ID).Result()
		if err != nil {
			return r.fail(ctx, "create upload", err)
		}
		if n {
			return fmt.Errorf("catalog create upload: %w: %q", ErrUploadExists, u.ID)
		}
		if err := r.rdb.HSet(ctx, idx, u.ID, u.Bucket).Err(); err != nil {
			return r.fail(ctx, "create upload", err)
		}
	}
	res, err := r.run(ctx, "create upload", scriptCreateUpload,
		[]string{r.bkey(u.Bucket, "b"), r.bkey(u.Bucket, "u"), r.bkey(u.Bucket, "x"), r.partsKey(u.Bucket, u.ID)},
		u.ID, encodeUpload(&u), uploadIndexKey(u.Key, u.ID))
	if err != nil {
		return err
	}
	switch res[0] {
	case "nobucket":
		r.rdb.HDel(ctx, idx, u.ID) // best effort: a stale claim is taken over
		return fmt.Errorf("catalog create upload: %w: %q", ErrNoSuchBucket, u.Bucket)
	case "exists":
		return fmt.Errorf("catalog create upload: %w: %q", ErrUploadExists, u.ID)
	}
	return nil
}

// GetUpload implements Catalog.
func (r *Redis) GetUpload(ctx context.Context, id string) (Upload, error) {
	b, err := r.uploadBucket(ctx, "get upload", id)
	if err != nil {
		return Upload{}, err
	}
	v, err := r.rdb.HGet(ctx, r.bkey(b, "u"), id).Bytes()
	if errors.Is(err, redis.Nil) {
		return Upload{}, fmt.Errorf("catalog get upload: %w: %q", ErrNoSuchUpload, id)
	}
	if err != nil {
		return Upload{}, r.fail(ctx, "get upload", err)
	}
	u, err := decodeUpload(id, v)
	if err != nil {
		return Upload{}, fmt.Errorf("catalog get upload: %w", err)
	}
	return u, nil
}

// ListUploads implements Catalog: one range read of the bucket's upload
// index and one read of the records.
func (r *Redis) ListUploads(ctx context.Context, bucket, prefix, keyMarker, idMarker string, limit int) ([]Upload, bool, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("catalog list uploads: %w", err)
	}
	if bucket == "" {
		return nil, false, fmt.Errorf("catalog list uploads: %w: %q", ErrNoSuchBucket, bucket)
	}
	n, err := r.rdb.Exists(ctx, r.bkey(bucket, "b")).Result()
	if err != nil {
		return nil, false, r.fail(ctx, "list uploads", err)
	}
	if n == 0 {
		return nil, false, fmt.Errorf("catalog list uploads: %w: %q", ErrNoSuchBucket, bucket)
	}
	start := escapePrefix(prefix)
	lo := "[" + string(start)
	if keyMarker != "" {
		if idMarker != "" {
			if after := uploadIndexKey(keyMarker, idMarker); string(after) > string(start) {
				lo = "(" + string(after)
			}
		} else if after := successor(escape(nil, keyMarker)); string(after) > string(start) {
			lo = "[" + string(after)
		}
	}
	hi := "+"
	if end := successor(start); end != nil {
		hi = "(" + string(end)
	}
	members, err := r.rdb.ZRangeByLex(ctx, r.bkey(bucket, "x"), &redis.ZRangeBy{Min: lo, Max: hi, Count: int64(limit) + 1}).Result()
	if err != nil {
		return nil, false, r.fail(ctx, "list uploads", err)
	}
	truncated := len(members) > limit
	members = members[:min(len(members), limit)]
	ids := make([]string, len(members))
	for i, m := range members {
		key, id, err := unescape([]byte(m))
		if err != nil {
			return nil, false, fmt.Errorf("catalog list uploads: %w", err)
		}
		if !strings.HasPrefix(key, prefix) {
			return nil, false, fmt.Errorf("catalog list uploads: %w: index key outside the prefix", ErrCorrupt)
		}
		ids[i] = string(id)
	}
	if len(ids) == 0 {
		return nil, truncated, nil
	}
	vals, err := r.rdb.HMGet(ctx, r.bkey(bucket, "u"), ids...).Result()
	if err != nil {
		return nil, false, r.fail(ctx, "list uploads", err)
	}
	out := make([]Upload, 0, len(ids))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // completed or aborted meanwhile
		}
		u, err := decodeUpload(ids[i], []byte(s))
		if err != nil {
			return nil, false, fmt.Errorf("catalog list uploads: %w", err)
		}
		out = append(out, u)
	}
	return out, truncated, nil
}

// PutPart implements Catalog.
func (r *Redis) PutPart(ctx context.Context, uploadID string, p Part) (*Part, error) {
	if p.Number < 1 || p.Number > MaxPartNumber {
		return nil, fmt.Errorf("catalog put part: %w: part number %d outside 1..%d", ErrInvalid, p.Number, MaxPartNumber)
	}
	b, err := r.uploadBucket(ctx, "put part", uploadID)
	if err != nil {
		return nil, err
	}
	res, err := r.run(ctx, "put part", scriptPutPart, []string{r.bkey(b, "u"), r.partsKey(b, uploadID)},
		uploadID, strconv.Itoa(p.Number), encodePart(&p))
	if err != nil {
		return nil, err
	}
	if res[0] == "noupload" {
		return nil, fmt.Errorf("catalog put part: %w: %q", ErrNoSuchUpload, uploadID)
	}
	if res[1] == "" {
		return nil, nil
	}
	old, err := decodePart(p.Number, []byte(res[1]))
	if err != nil {
		return nil, fmt.Errorf("catalog put part: %w", err)
	}
	return &old, nil
}

// decodeParts decodes number, value pairs into parts in number order.
func decodeParts(kv []string) ([]Part, error) {
	out := make([]Part, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		n, err := strconv.Atoi(kv[i])
		if err != nil || n < 1 || n > MaxPartNumber {
			return nil, fmt.Errorf("%w: part number %q", ErrCorrupt, kv[i])
		}
		p, err := decodePart(n, []byte(kv[i+1]))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Part) int { return a.Number - b.Number })
	return out, nil
}

// ListParts implements Catalog.
func (r *Redis) ListParts(ctx context.Context, uploadID string, marker, limit int) ([]Part, bool, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	b, err := r.uploadBucket(ctx, "list parts", uploadID)
	if err != nil {
		return nil, false, err
	}
	res, err := r.run(ctx, "list parts", scriptListParts, []string{r.bkey(b, "u"), r.partsKey(b, uploadID)}, uploadID)
	if err != nil {
		return nil, false, err
	}
	if res[0] == "noupload" {
		return nil, false, fmt.Errorf("catalog list parts: %w: %q", ErrNoSuchUpload, uploadID)
	}
	all, err := decodeParts(res[1:])
	if err != nil {
		return nil, false, fmt.Errorf("catalog list parts: %w", err)
	}
	i, _ := slices.BinarySearchFunc(all, max(marker, 0)+1, func(p Part, n int) int { return p.Number - n })
	all = all[i:]
	if len(all) > limit {
		return all[:limit], true, nil
	}
	return all, false, nil
}

// DeleteUpload implements Catalog.
func (r *Redis) DeleteUpload(ctx context.Context, id string) ([]Part, error) {
	b, err := r.uploadBucket(ctx, "delete upload", id)
	if err != nil {
		return nil, err
	}
	v, err := r.rdb.HGet(ctx, r.bkey(b, "u"), id).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("catalog delete upload: %w: %q", ErrNoSuchUpload, id)
	}
	if err != nil {
		return nil, r.fail(ctx, "delete upload", err)
	}
	u, err := decodeUpload(id, v)
	if err != nil {
		return nil, fmt.Errorf("catalog delete upload: %w", err)
	}
	res, err := r.run(ctx, "delete upload", scriptDeleteUpload,
		[]string{r.bkey(b, "u"), r.bkey(b, "x"), r.partsKey(b, id)}, id, uploadIndexKey(u.Key, id))
	if err != nil {
		return nil, err
	}
	if res[0] == "noupload" {
		return nil, fmt.Errorf("catalog delete upload: %w: %q", ErrNoSuchUpload, id)
	}
	parts, err := decodeParts(res[1:])
	if err != nil {
		return nil, fmt.Errorf("catalog delete upload: %w", err)
	}
	if err := r.rdb.HDel(ctx, r.mkey("uploads"), id).Err(); err != nil {
		return nil, r.fail(ctx, "delete upload", err)
	}
	return parts, nil
}
