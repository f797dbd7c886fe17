package catalog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twincrypt/twincrypt/backends/replica"
)

// Redis is the Catalog kept in Redis (one server or a Redis Cluster), so
// that several gateway instances serve one namespace. It also implements
// replica.Queue. Values are the same binary records the embedded catalog
// (Bolt) stores; the layout of the keys is in docs/ARCHITECTURE.md:
//
//	P{m}:buckets            zset   bucket names (a superset: see CreateBucket)
//	P{m}:uploads            hash   upload id -> bucket name
//	P{m}:tombbuckets        zset   buckets that have (or had) tombstones
//	P{m}:epoch              string the epoch record
//	P{b:NAME}:b             string the bucket record: the bucket exists
//	P{b:NAME}:k             zset   object keys, score 0, for ordered listing
//	P{b:NAME}:e             hash   key -> gen20 + entry record
//	P{b:NAME}:t             hash   key -> gen20 + tombstone record ("" : the bucket's)
//	P{b:NAME}:u             hash   upload id -> upload record
//	P{b:NAME}:x             zset   escape(key)+id of every upload, score 0
//	P{b:NAME}:p:ID          hash   part number -> part record
//	P{s}:ids                zset   share ids
//	P{s}:s:ID               string the share record
//	P{q}:tasks              hash   escape(backend)+name -> be64 time + task record
//	P{q}:time               zset   be64 time + escape(backend)+name, score 0
//	P{q}:lease              hash   escape(backend)+name -> "owner expiry-ms"
//
// P is the key prefix ("tc:" by default). Everything of one bucket shares
// the hash tag {b:NAME}, so each conditional update of a bucket is one Lua
// script on one cluster slot; gen20 is the generation as 20 decimal
// digits, which the scripts compare as strings.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
	owner  string        // this instance's id in queue leases
	lease  time.Duration // how long a Pending claim lasts
}

var (
	_ Catalog       = (*Redis)(nil)
	_ replica.Queue = (*Redis)(nil)
)

// DefaultKeyPrefix starts every key of a Redis catalog.
const DefaultKeyPrefix = "tc:"

// DefaultQueueLease is how long a repair task handed out by a Redis
// catalog's Pending stays with that instance.
const DefaultQueueLease = 10 * time.Minute

// RedisOption adjusts OpenRedis.
type RedisOption func(*Redis)

// WithKeyPrefix makes every key start with prefix instead of
// DefaultKeyPrefix, so that several catalogs share one Redis.
func WithKeyPrefix(prefix string) RedisOption { return func(r *Redis) { r.prefix = prefix } }

// WithQueueLease sets how long a repair task handed out by Pending stays
// with this instance before another may take it (default
// DefaultQueueLease).
func WithQueueLease(d time.Duration) RedisOption { return func(r *Redis) { r.lease = d } }

// OpenRedis returns the catalog kept in the Redis that rdb reaches. It
// checks that Redis answers; a Redis that does not is ErrUnavailable. The
// catalog does not own rdb: Close leaves it open for its other users.
func OpenRedis(ctx context.Context, rdb redis.UniversalClient, opts ...RedisOption) (*Redis, error) {
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("open redis catalog: %w", err)
	}
	r := &Redis{rdb: rdb, prefix: DefaultKeyPrefix, owner: hex.EncodeToString(id[:]), lease: DefaultQueueLease}
	for _, o := range opts {
		o(r)
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		return nil, r.fail(ctx, "open", err)
	}
	return r, nil
}

// Close implements Catalog. The client stays open.
func (r *Redis) Close() error { return nil }

// Ping reports whether Redis answers (ErrUnavailable if not), for
// readiness checks.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		return r.fail(ctx, "ping", err)
	}
	return nil
}

// Key names.

// tagEscape keeps a bucket name from ending or opening a hash tag.
var tagEscape = strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D")

func (r *Redis) bkey(bucket, suffix string) string {
	return r.prefix + "{b:" + tagEscape.Replace(bucket) + "}:" + suffix
}
func (r *Redis) mkey(suffix string) string { return r.prefix + "{m}:" + suffix }
func (r *Redis) skey(suffix string) string { return r.prefix + "{s}:" + suffix }
func (r *Redis) qkey(suffix string) string { return r.prefix + "{q}:" + suffix }

// gen20 is a generation as 20 decimal digits: as strings they order as
// the numbers do.
func gen20(g uint64) string { return fmt.Sprintf("%020d", g) }

// splitGen takes the gen20 prefix off a stored value.
func splitGen(what, name, v string) (string, error) {
	if len(v) < 20 {
		return "", fmt.Errorf("%w: %s %q: short value", ErrCorrupt, what, name)
	}
	return v[20:], nil
}

func (r *Redis) entryFrom(bucket, key, v string) (Entry, error) {
	rec, err := splitGen("entry", key, v)
	if err != nil {
		return Entry{}, err
	}
	return decodeEntry(bucket, key, []byte(rec))
}

func (r *Redis) entryPtr(bucket, key, v string) (*Entry, error) {
	if v == "" {
		return nil, nil
	}
	e, err := r.entryFrom(bucket, key, v)
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// fail wraps an error of a Redis call: the caller's own cancellation as
// is, an answer Redis gave as a plain error, and everything else (no
// connection, no answer in time, a cluster without a master for the slot,
// a server still loading) as ErrUnavailable.
func (r *Redis) fail(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("catalog %s: %w", op, ctx.Err())
	}
	var rerr redis.Error
	if errors.As(err, &rerr) && !errors.Is(err, redis.ErrClosed) {
		msg := rerr.Error()
		for _, p := range []string{"LOADING", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "READONLY", "BUSY", "NOREPLICAS"} {
			if strings.HasPrefix(msg, p) {
				return fmt.Errorf("catalog %s: %w: redis: %w", op, ErrUnavailable, err)
			}
		}
		return fmt.Errorf("catalog %s: redis: %w", op, err)
	}
	return fmt.Errorf("catalog %s: %w: redis: %w", op, ErrUnavailable, err)
}

// run runs a script and returns its reply as strings: a status word first,
// then values.
func (r *Redis) run(ctx context.Context, op string, s *redis.Script, keys []string, args ...any) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("catalog %s: %w", op, err)
	}
	res, err := s.Run(ctx, r.rdb, keys, args...).Slice()
	if err != nil {
		return nil, r.fail(ctx, op, err)
	}
	out := make([]string, len(res))
	for i, v := range res {
		s, ok := v.(string)
		if !ok && v != nil {
			return nil, fmt.Errorf("catalog %s: unexpected script reply %T", op, v)
		}
		out[i] = s
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("catalog %s: empty script reply", op)
	}
	return out, nil
}

// Buckets.

var scriptCreateBucket = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], '')
redis.call('DEL', KEYS[3])
return {'ok'}`)

// scriptDeleteBucket: KEYS bucket record, keys, upload index, version
// rows, then what goes with them.
var scriptDeleteBucket = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {'nobucket'} end
if redis.call('ZCARD', KEYS[2]) > 0 or redis.call('ZCARD', KEYS[3]) > 0 or redis.call('ZCARD', KEYS[4]) > 0 then return {'notempty'} end
redis.call('DEL', unpack(KEYS))
return {'ok'}`)

// CreateBucket implements Catalog. The bucket's record (in its own slot)
// says that it exists; the registry that ListBuckets reads is a superset,
// added to before and after, so that a crash or a racing DeleteBucket can
// leave a name there that no longer exists (ListBuckets skips it) but
// never a bucket missing from it.
func (r *Redis) CreateBucket(ctx context.Context, b Bucket) error {
	if err := checkBucketName(b.Name); err != nil {
		return fmt.Errorf("catalog create bucket: %w", err)
	}
	reg := r.mkey("buckets")
	if err := r.rdb.ZAdd(ctx, reg, redis.Z{Member: b.Name}).Err(); err != nil {
		return r.fail(ctx, "create bucket", err)
	}
	res, err := r.run(ctx, "create bucket", scriptCreateBucket,
		[]string{r.bkey(b.Name, "b"), r.bkey(b.Name, "t"), r.bkey(b.Name, "bv")}, encodeBucket(&b))
	if err != nil {
		return err
	}
	if res[0] == "exists" {
		return fmt.Errorf("catalog create bucket: %w: %q", ErrBucketExists, b.Name)
	}
	if err := r.rdb.ZAdd(ctx, reg, redis.Z{Member: b.Name}).Err(); err != nil {
		return r.fail(ctx, "create bucket", err)
	}
	return nil
}

// DeleteBucket implements Catalog.
func (r *Redis) DeleteBucket(ctx context.Context, name string) error {
	if name == "" {
		return fmt.Errorf("catalog delete bucket: %w: %q", ErrNoSuchBucket, name)
	}
	res, err := r.run(ctx, "delete bucket", scriptDeleteBucket,
		[]string{r.bkey(name, "b"), r.bkey(name, "k"), r.bkey(name, "x"), r.bkey(name, "vr"),
			r.bkey(name, "e"), r.bkey(name, "u"), r.bkey(name, "vv"), r.bkey(name, "vi"), r.bkey(name, "bv")})
	if err != nil {
		return err
	}
	switch res[0] {
	case "nobucket":
		return fmt.Errorf("catalog delete bucket: %w: %q", ErrNoSuchBucket, name)
	case "notempty":
		return fmt.Errorf("catalog delete bucket: %w: %q", ErrBucketNotEmpty, name)
	}
	reg := r.mkey("buckets")
	if err := r.rdb.ZRem(ctx, reg, name).Err(); err != nil {
		return r.fail(ctx, "delete bucket", err)
	}
	// A CreateBucket that ran between the script and ZREM is listed again.
	n, err := r.rdb.Exists(ctx, r.bkey(name, "b")).Result()
	if err != nil {
		return r.fail(ctx, "delete bucket", err)
	}
	if n == 1 {
		if err := r.rdb.ZAdd(ctx, reg, redis.Z{Member: name}).Err(); err != nil {
			return r.fail(ctx, "delete bucket", err)
		}
	}
	return nil
}

// GetBucket implements Catalog.
func (r *Redis) GetBucket(ctx context.Context, name string) (Bucket, error) {
	if err := ctx.Err(); err != nil {
		return Bucket{}, fmt.Errorf("catalog get bucket: %w", err)
	}
	if name == "" {
		return Bucket{}, fmt.Errorf("catalog get bucket: %w: %q", ErrNoSuchBucket, name)
	}
	v, err := r.rdb.Get(ctx, r.bkey(name, "b")).Bytes()
	if errors.Is(err, redis.Nil) {
		return Bucket{}, fmt.Errorf("catalog get bucket: %w: %q", ErrNoSuchBucket, name)
	}
	if err != nil {
		return Bucket{}, r.fail(ctx, "get bucket", err)
	}
	b, err := decodeBucket(name, v)
	if err != nil {
		return Bucket{}, fmt.Errorf("catalog get bucket: %w", err)
	}
	return b, nil
}

// ListBuckets implements Catalog.
func (r *Redis) ListBuckets(ctx context.Context) ([]Bucket, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("catalog list buckets: %w", err)
	}
	names, err := r.rdb.ZRange(ctx, r.mkey("buckets"), 0, -1).Result()
	if err != nil {
		return nil, r.fail(ctx, "list buckets", err)
	}
	cmds := make([]*redis.StringCmd, len(names))
	_, err = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range names {
			cmds[i] = p.Get(ctx, r.bkey(n, "b"))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, r.fail(ctx, "list buckets", err)
	}
	var out []Bucket
	for i, n := range names {
		v, err := cmds[i].Bytes()
		if errors.Is(err, redis.Nil) {
			continue // deleted, or a create that did not finish
		}
		if err != nil {
			return nil, r.fail(ctx, "list buckets", err)
		}
		b, err := decodeBucket(n, v)
		if err != nil {
			return nil, fmt.Errorf("catalog list buckets: %w", err)
		}
		out = append(out, b)
	}
	return out, nil
}

// Objects.

var scriptGet = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {'nobucket'} end
local v = redis.call('HGET', KEYS[2], ARGV[1])
if not v then return {'notfound'} end
return {'ok', v}`)

// putCheck is the Lua that checks and makes changes of single entries; it
// expects the bucket record in KEYS[1], entries, keys and tombstones in
// KEYS[2..4] and the version rows in KEYS[5]; esc is escape(key), the
// prefix of the key's version rows.
const putCheck = `
local function versioned(esc)
  local r = redis.call('ZRANGEBYLEX', KEYS[5], '[' .. esc, '+', 'LIMIT', 0, 1)
  return r[1] ~= nil and string.sub(r[1], 1, #esc) == esc
end
local function putcheck(key, gen, esc)
  if redis.call('EXISTS', KEYS[1]) == 0 then return {'nobucket'} end
  if versioned(esc) then return {'versioned', ''} end
  local old = redis.call('HGET', KEYS[2], key)
  if old and string.sub(old, 1, 20) >= gen then return {'stale', old} end
  local t = redis.call('HGET', KEYS[4], key)
  if t and string.sub(t, 1, 20) >= gen then return {'tomb', t} end
  return nil
end
local function putdo(key, val)
  local old = redis.call('HGET', KEYS[2], key)
  redis.call('HDEL', KEYS[4], key)
  redis.call('HSET', KEYS[2], key, val)
  redis.call('ZADD', KEYS[3], 0, key)
  return old or ''
end
local function delcheck(key, gen, esc)
  if redis.call('EXISTS', KEYS[1]) == 0 then return {'nobucket'} end
  if versioned(esc) then return {'versioned', ''} end
  local old = redis.call('HGET', KEYS[2], key)
  if not old then return {'notfound'} end
  if gen ~= '' and string.sub(old, 1, 20) > gen then return {'stale', old} end
  return nil
end
local function deldo(key)
  local old = redis.call('HGET', KEYS[2], key)
  redis.call('HDEL', KEYS[2], key)
  redis.call('ZREM', KEYS[3], key)
  return old
end
`

var scriptPut = redis.NewScript(putCheck + `
local bad = putcheck(ARGV[1], ARGV[2], ARGV[4])
if bad then return bad end
return {'ok', putdo(ARGV[1], ARGV[3])}`)

var scriptDelete = redis.NewScript(putCheck + `
local bad = delcheck(ARGV[1], ARGV[2], ARGV[3])
if bad then return bad end
return {'ok', deldo(ARGV[1])}`)

// scriptMove is a Move within one bucket: ARGV source key, its gen20 or
// the empty string, destination key, gen20, value, and the two keys
// escaped.
var scriptMove = redis.NewScript(putCheck + `
local bad = delcheck(ARGV[1], ARGV[2], ARGV[6])
if bad then return bad end
bad = putcheck(ARGV[3], ARGV[4], ARGV[7])
if bad then return {'dst' .. bad[1], bad[2]} end
deldo(ARGV[1])
return {'ok', putdo(ARGV[3], ARGV[5])}`)

func (r *Redis) objectKeys(bucket string) []string {
	return []string{r.bkey(bucket, "b"), r.bkey(bucket, "e"), r.bkey(bucket, "k"), r.bkey(bucket, "t"), r.bkey(bucket, "vr")}
}

// esc is escape(key) as a script argument.
func esc(key string) string { return string(escape(nil, key)) }

// Get implements Catalog.
func (r *Redis) Get(ctx context.Context, bucket, key string) (Entry, error) {
	if bucket == "" {
		if err := ctx.Err(); err != nil {
			return Entry{}, fmt.Errorf("catalog get: %w", err)
		}
		return Entry{}, fmt.Errorf("catalog get: %w: %q", ErrNoSuchBucket, bucket)
	}
	res, err := r.run(ctx, "get", scriptGet, r.objectKeys(bucket)[:2], key)
	if err != nil {
		return Entry{}, err
	}
	switch res[0] {
	case "nobucket":
		return Entry{}, fmt.Errorf("catalog get: %w: %q", ErrNoSuchBucket, bucket)
	case "notfound":
		return Entry{}, fmt.Errorf("catalog get: %w: %s/%s", ErrNotFound, bucket, key)
	}
	e, err := r.entryFrom(bucket, key, res[1])
	if err != nil {
		return Entry{}, fmt.Errorf("catalog get: %w", err)
	}
	return e, nil
}

// putError turns a refusal of putcheck into an error.
func (r *Redis) putError(op string, res []string, e *Entry) error {
	switch res[0] {
	case "nobucket":
		return fmt.Errorf("catalog %s: %w: %q", op, ErrNoSuchBucket, e.Bucket)
	case "versioned":
		return fmt.Errorf("catalog %s: %w: %s/%s", op, ErrVersioned, e.Bucket, e.Key)
	case "stale":
		old, err := r.entryFrom(e.Bucket, e.Key, res[1])
		if err != nil {
			return fmt.Errorf("catalog %s: %w", op, err)
		}
		return fmt.Errorf("catalog %s: %w: %s/%s holds generation %d, not below %d", op, ErrStale, e.Bucket, e.Key, old.Generation, e.Generation)
	case "tomb":
		return fmt.Errorf("catalog %s: %w: %s/%s was deleted at generation %s, not below %d", op, ErrStale, e.Bucket, e.Key, strings.TrimLeft(res[1][:20], "0"), e.Generation)
	}
	return fmt.Errorf("catalog %s: unexpected script reply %q", op, res[0])
}

// Put implements Catalog.
func (r *Redis) Put(ctx context.Context, e Entry) (*Entry, error) {
	if err := checkKey(e.Bucket, e.Key); err != nil {
		return nil, fmt.Errorf("catalog put: %w", err)
	}
	if e.VersionID != "" {
		return nil, fmt.Errorf("catalog put: %w: an entry with a version ID (use PutVersion)", ErrInvalid)
	}
	g := gen20(e.Generation)
	res, err := r.run(ctx, "put", scriptPut, r.objectKeys(e.Bucket), e.Key, g, g+string(encodeEntry(&e)), esc(e.Key))
	if err != nil {
		return nil, err
	}
	if res[0] != "ok" {
		return nil, r.putError("put", res, &e)
	}
	prev, err := r.entryPtr(e.Bucket, e.Key, res[1])
	if err != nil {
		return nil, fmt.Errorf("catalog put: %w", err)
	}
	return prev, nil
}

// deleteGen is the condition on the stored generation of a Delete.
func deleteGen(gen uint64) string {
	if gen == 0 {
		return ""
	}
	return gen20(gen)
}

// deleteError turns a refusal of delcheck into an error.
func (r *Redis) deleteError(op string, res []string, bucket, key string, gen uint64) error {
	switch res[0] {
	case "nobucket":
		return fmt.Errorf("catalog %s: %w: %q", op, ErrNoSuchBucket, bucket)
	case "versioned":
		return fmt.Errorf("catalog %s: %w: %s/%s", op, ErrVersioned, bucket, key)
	case "notfound":
		return fmt.Errorf("catalog %s: %w: %s/%s", op, ErrNotFound, bucket, key)
	case "stale":
		old, err := r.entryFrom(bucket, key, res[1])
		if err != nil {
			return fmt.Errorf("catalog %s: %w", op, err)
		}
		return fmt.Errorf("catalog %s: %w: %s/%s holds generation %d, above %d", op, ErrStale, bucket, key, old.Generation, gen)
	}
	return fmt.Errorf("catalog %s: unexpected script reply %q", op, res[0])
}

// Delete implements Catalog.
func (r *Redis) Delete(ctx context.Context, bucket, key string, gen uint64) (*Entry, error) {
	if bucket == "" {
		return nil, fmt.Errorf("catalog delete: %w: %q", ErrNoSuchBucket, bucket)
	}
	if key == "" {
		return nil, fmt.Errorf("catalog delete: %w: %s/%s", ErrNotFound, bucket, key)
	}
	res, err := r.run(ctx, "delete", scriptDelete, r.objectKeys(bucket), key, deleteGen(gen), esc(key))
	if err != nil {
		return nil, err
	}
	if res[0] != "ok" {
		return nil, r.deleteError("delete", res, bucket, key, gen)
	}
	return r.entryPtr(bucket, key, res[1])
}

// Move implements Catalog. Within one bucket it is one script, atomic as
// the interface asks. Between buckets (different cluster slots) it is two
// steps: after checking the source, the destination is put with its
// generation checks, and then the source is deleted on condition that it
// is still at most the generation seen. A crash or a racing write of the
// source between the two leaves the object under both names (the error
// says so), never under neither.
func (r *Redis) Move(ctx context.Context, bucket, key string, gen uint64, dst Entry) (*Entry, error) {
	if err := checkKey(dst.Bucket, dst.Key); err != nil {
		return nil, fmt.Errorf("catalog move: %w", err)
	}
	if bucket == dst.Bucket && key == dst.Key {
		return nil, fmt.Errorf("catalog move: %w: source and destination are both %s/%s", ErrInvalid, bucket, key)
	}
	if dst.VersionID != "" {
		return nil, fmt.Errorf("catalog move: %w: an entry with a version ID (use PutVersion)", ErrInvalid)
	}
	if bucket == "" {
		return nil, fmt.Errorf("catalog move: %w: %q", ErrNoSuchBucket, bucket)
	}
	if key == "" {
		return nil, fmt.Errorf("catalog move: %w: %s/%s", ErrNotFound, bucket, key)
	}
	g := gen20(dst.Generation)
	if bucket == dst.Bucket {
		res, err := r.run(ctx, "move", scriptMove, r.objectKeys(bucket), key, deleteGen(gen), dst.Key, g, g+string(encodeEntry(&dst)), esc(key), esc(dst.Key))
		if err != nil {
			return nil, err
		}
		if res[0] != "ok" {
			if d, ok := strings.CutPrefix(res[0], "dst"); ok {
				return nil, r.putError("move", []string{d, res[1]}, &dst)
			}
			return nil, r.deleteError("move", res, bucket, key, gen)
		}
		return r.entryPtr(dst.Bucket, dst.Key, res[1])
	}
	src, err := r.Get(ctx, bucket, key)
	if err != nil {
		return nil, fmt.Errorf("catalog move: %w", err)
	}
	if gen != 0 && src.Generation > gen {
		return nil, fmt.Errorf("catalog move: %w: %s/%s holds generation %d, above %d", ErrStale, bucket, key, src.Generation, gen)
	}
	prev, err := r.Put(ctx, dst)
	if err != nil {
		return nil, fmt.Errorf("catalog move: %w", err)
	}
	if _, err := r.Delete(ctx, bucket, key, src.Generation); err != nil && !errors.Is(err, ErrNotFound) {
		return prev, fmt.Errorf("catalog move: %s/%s is now also at %s/%s: %w", bucket, key, dst.Bucket, dst.Key, err)
	}
	return prev, nil
}

// rangeCursor is a kvCursor over the keys of one bucket: every Seek and
// every batch of Next steps is a range read of the keys and a read of
// their values. The first error stops it
// (it then reports the end) and is kept in err.
type rangeCursor struct {
	r      *Redis
	ctx    context.Context
	bucket string
	keys   []string
	seekN  int // keys fetched by a Seek
	nextN  int // keys fetched when Next runs out
	buf    [][2][]byte
	i      int
	last   string // last key fetched, even if its value was gone
	more   bool   // the last fetch was full: more may follow
	err    error
	noBkt  bool // the bucket does not exist
}

func (r *Redis) newCursor(ctx context.Context, bucket string, seekN, nextN int) *rangeCursor {
	return &rangeCursor{r: r, ctx: ctx, bucket: bucket, seekN: seekN, nextN: nextN,
		keys: []string{r.bkey(bucket, "b"), r.bkey(bucket, "k"), r.bkey(bucket, "e")}}
}

func (c *rangeCursor) fetch(bound string, n int) {
	c.buf, c.i, c.more = c.buf[:0], 0, false
	if c.err != nil {
		return
	}
	if err := c.ctx.Err(); err != nil {
		c.err = fmt.Errorf("catalog list: %w", err)
		return
	}
	// Native commands, not a script: Redis answers them faster than Lua
	// builds the same reply. The key range and the bucket check go in one
	// round trip, the values in a second; a key deleted in between is
	// skipped.
	var exists *redis.IntCmd
	var keys *redis.StringSliceCmd
	_, err := c.r.rdb.Pipelined(c.ctx, func(p redis.Pipeliner) error {
		exists = p.Exists(c.ctx, c.keys[0])
		keys = p.ZRangeByLex(c.ctx, c.keys[1], &redis.ZRangeBy{Min: bound, Max: "+", Count: int64(n)})
		return nil
	})
	if err != nil {
		c.err = c.r.fail(c.ctx, "list", err)
		return
	}
	if exists.Val() == 0 {
		c.noBkt = true
		c.err = fmt.Errorf("catalog list: %w: %q", ErrNoSuchBucket, c.bucket)
		return
	}
	ks := keys.Val()
	c.more = len(ks) == n
	if len(ks) == 0 {
		return
	}
	c.last = ks[len(ks)-1]
	vals, err := c.r.rdb.HMGet(c.ctx, c.keys[2], ks...).Result()
	if err != nil {
		c.err = c.r.fail(c.ctx, "list", err)
		return
	}
	for i, k := range ks {
		v, ok := vals[i].(string)
		if !ok {
			continue // deleted meanwhile
		}
		rec, err := splitGen("entry", k, v)
		if err != nil {
			c.err = fmt.Errorf("catalog list: %w", err)
			c.buf = c.buf[:0]
			return
		}
		c.buf = append(c.buf, [2][]byte{[]byte(k), []byte(rec)})
	}
}

func (c *rangeCursor) cur() ([]byte, []byte) {
	for c.i >= len(c.buf) {
		if !c.more || c.err != nil {
			return nil, nil
		}
		c.fetch("("+c.last, c.nextN)
	}
	return c.buf[c.i][0], c.buf[c.i][1]
}

// Seek implements kvCursor.
func (c *rangeCursor) Seek(k []byte) ([]byte, []byte) {
	bound := "[" + string(k)
	if len(k) == 0 {
		bound = "-"
	}
	c.fetch(bound, c.seekN)
	return c.cur()
}

// Next implements kvCursor.
func (c *rangeCursor) Next() ([]byte, []byte) {
	c.i++
	return c.cur()
}

// List implements Catalog. Keys come from the bucket's sorted set in byte
// order (ZRANGEBYLEX); with a delimiter each common prefix is skipped by
// one range read from its successor, as the embedded catalog seeks past
// it, so a page costs about one read per returned item, not one per key.
func (r *Redis) List(ctx context.Context, o ListOptions) (ListResult, error) {
	if err := ctx.Err(); err != nil {
		return ListResult{}, fmt.Errorf("catalog list: %w", err)
	}
	if o.Bucket == "" {
		return ListResult{}, fmt.Errorf("catalog list: %w: %q", ErrNoSuchBucket, o.Bucket)
	}
	limit := o.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	seekN, nextN := min(limit+1, 1000), min(limit+1, 1000)
	if o.Delimiter != "" {
		seekN, nextN = min(limit+1, 16), min(limit+1, 256)
	}
	cur := r.newCursor(ctx, o.Bucket, seekN, nextN)
	res, err := listCursor(cur, o, limit)
	if cur.err != nil {
		return ListResult{}, cur.err
	}
	if err != nil {
		return ListResult{}, fmt.Errorf("catalog list: %w", err)
	}
	return res, nil
}

// Walk implements Catalog, walkBatch keys per read.
func (r *Redis) Walk(ctx context.Context, fn func(Entry) error) error {
	buckets, err := r.ListBuckets(ctx)
	if err != nil {
		return err
	}
	for _, b := range buckets {
		cur := r.newCursor(ctx, b.Name, walkBatch, walkBatch)
		for k, v := cur.Seek(nil); k != nil; k, v = cur.Next() {
			e, err := decodeEntry(b.Name, string(k), v)
			if err != nil {
				return fmt.Errorf("catalog walk: %w", err)
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("catalog walk: %w", err)
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if cur.err != nil && !cur.noBkt { // a bucket deleted meanwhile ends its walk
			return cur.err
		}
	}
	return nil
}

// sortedKeys returns the keys of m in byte order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
