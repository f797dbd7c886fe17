package catalog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Versions in Redis use the embedded catalog's index keys inside the
// bucket's slot:
//
//	P{b:NAME}:vr  sorted set  escape(key) | be64(^seq) | versionID, score 0:
//	                          a key's versions newest first
//	P{b:NAME}:vv  hash        that row -> version record
//	P{b:NAME}:vi  hash        escape(key) | versionID -> be64(seq)
//	P{b:NAME}:vt  hash        escape(key) | versionID -> tombstone record
//	                          (versions other than the null one)
//	P{b:NAME}:bv  string      the bucket's versioning configuration
//	P{m}:vtbuckets sorted set buckets that have had version tombstones
//
// Each change (PutVersion, DeleteVersion, SetBucketVersioning) is an
// optimistic transaction on the bucket's keys: WATCH, read, decide with the
// same rules as the embedded catalog, MULTI/EXEC, retried when anything of
// the bucket changed meanwhile. Put, Delete, Move and PutTombstone refuse a
// key that has versions inside their scripts.

// vkeys are the Redis keys of one bucket that versions touch.
type vkeys struct{ b, e, k, t, vr, vv, vi, vt, bv string }

func (r *Redis) vkeysOf(bucket string) vkeys {
	return vkeys{b: r.bkey(bucket, "b"), e: r.bkey(bucket, "e"), k: r.bkey(bucket, "k"), t: r.bkey(bucket, "t"),
		vr: r.bkey(bucket, "vr"), vv: r.bkey(bucket, "vv"), vi: r.bkey(bucket, "vi"), vt: r.bkey(bucket, "vt"), bv: r.bkey(bucket, "bv")}
}

func (k vkeys) all() []string { return []string{k.b, k.e, k.k, k.t, k.vr, k.vv, k.vi, k.vt, k.bv} }

// vreader reads one bucket's versions through c: a transaction's
// connection (under WATCH) or the client.
type vreader struct {
	ctx    context.Context
	c      redis.Cmdable
	bucket string
	k      vkeys
	// live is set for reads outside a transaction, which skip a version
	// deleted between reading its row and its record.
	live bool
}

// rows returns up to n versions of key, newest first.
func (x *vreader) rows(key string, n int) ([]Version, error) {
	p := escape(nil, key)
	hi := "+"
	if s := successor(p); s != nil {
		hi = "(" + string(s)
	}
	rs, err := x.c.ZRangeByLex(x.ctx, x.k.vr, &redis.ZRangeBy{Min: "[" + string(p), Max: hi, Count: int64(n)}).Result()
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	return x.decodeRows(rs)
}

// decodeRows reads the records of version rows.
func (x *vreader) decodeRows(rs []string) ([]Version, error) {
	vals, err := x.c.HMGet(x.ctx, x.k.vv, rs...).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Version, 0, len(rs))
	for i, row := range rs {
		key, seq, id, err := parseVersionRow([]byte(row))
		if err != nil {
			return nil, err
		}
		s, ok := vals[i].(string)
		if !ok {
			if x.live {
				continue
			}
			return nil, fmt.Errorf("%w: version row of %s/%s?versionId=%s without a record", ErrCorrupt, x.bucket, key, id)
		}
		v, err := decodeVersion(x.bucket, key, id, seq, []byte(s))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (x *vreader) has(key string) (bool, error) {
	rs, err := x.rows(key, 1)
	return len(rs) > 0, err
}

// get returns one version, nil if missing.
func (x *vreader) get(key, id string) (*Version, error) {
	s, err := x.c.HGet(x.ctx, x.k.vi, string(versionIDKey(key, id))).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(s) != 8 {
		return nil, fmt.Errorf("%w: version seq of %s/%s?versionId=%s", ErrCorrupt, x.bucket, key, id)
	}
	vs, err := x.decodeRows([]string{string(versionRowKey(key, binary.BigEndian.Uint64([]byte(s)), id))})
	if err != nil || len(vs) == 0 {
		return nil, err
	}
	return &vs[0], nil
}

// entry returns the object-index entry of key, nil if none.
func (x *vreader) entry(key string) (*Entry, error) {
	s, err := x.c.HGet(x.ctx, x.k.e, key).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rec, err := splitGen("entry", key, s)
	if err != nil {
		return nil, err
	}
	e, err := decodeEntry(x.bucket, key, []byte(rec))
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// tomb returns the tombstone of a version (the key's for the null one),
// nil if none.
func (x *vreader) tomb(key, id string) (*Tombstone, error) {
	if id == NullVersion {
		s, err := x.c.HGet(x.ctx, x.k.t, key).Result()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		rec, err := splitGen("tombstone", x.bucket+"/"+key, s)
		if err != nil {
			return nil, err
		}
		t, err := decodeTombstone(x.bucket, key, []byte(rec))
		if err != nil {
			return nil, err
		}
		return &t, nil
	}
	s, err := x.c.HGet(x.ctx, x.k.vt, string(versionIDKey(key, id))).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t, err := decodeTombstone(x.bucket, key, []byte(s))
	if err != nil {
		return nil, err
	}
	t.VersionID = id
	return &t, nil
}

// vwriter queues the writes of one transaction.
type vwriter struct {
	ctx context.Context
	p   redis.Pipeliner
	k   vkeys
}

func (w *vwriter) insert(v *Version) {
	row := string(versionRowKey(v.Key, v.Seq, v.VersionID))
	w.p.ZAdd(w.ctx, w.k.vr, redis.Z{Member: row})
	w.p.HSet(w.ctx, w.k.vv, row, encodeVersion(v))
	w.p.HSet(w.ctx, w.k.vi, string(versionIDKey(v.Key, v.VersionID)), binary.BigEndian.AppendUint64(nil, v.Seq))
}

func (w *vwriter) remove(v *Version) {
	row := string(versionRowKey(v.Key, v.Seq, v.VersionID))
	w.p.ZRem(w.ctx, w.k.vr, row)
	w.p.HDel(w.ctx, w.k.vv, row)
	w.p.HDel(w.ctx, w.k.vi, string(versionIDKey(v.Key, v.VersionID)))
}

// current makes the object index of key mirror cur (nil or a delete
// marker: no entry).
func (w *vwriter) current(key string, cur *Version) {
	if cur == nil || cur.DeleteMarker {
		w.p.HDel(w.ctx, w.k.e, key)
		w.p.ZRem(w.ctx, w.k.k, key)
		return
	}
	e := cur.entry()
	w.p.HSet(w.ctx, w.k.e, key, gen20(e.Generation)+string(encodeEntry(&e)))
	w.p.ZAdd(w.ctx, w.k.k, redis.Z{Member: key})
}

func (w *vwriter) putTomb(t *Tombstone) {
	if t.VersionID == NullVersion {
		kt := *t
		kt.VersionID = ""
		w.p.HSet(w.ctx, w.k.t, t.Key, gen20(kt.Generation)+string(encodeTombstone(&kt)))
		return
	}
	w.p.HSet(w.ctx, w.k.vt, string(versionIDKey(t.Key, t.VersionID)), encodeTombstone(t))
}

func (w *vwriter) dropTomb(key, id string) {
	if id == NullVersion {
		w.p.HDel(w.ctx, w.k.t, key)
		return
	}
	w.p.HDel(w.ctx, w.k.vt, string(versionIDKey(key, id)))
}

// newest returns the first version in row order of vs, nil if none.
func newest(vs ...*Version) *Version {
	var best *Version
	var bestRow string
	for _, v := range vs {
		if v == nil {
			continue
		}
		row := string(versionRowKey(v.Key, v.Seq, v.VersionID))
		if best == nil || row < bestRow {
			best, bestRow = v, row
		}
	}
	return best
}

// vtx runs fn as one optimistic transaction on bucket's keys. fn reads
// through x and returns the writes to make (nil: none).
func (r *Redis) vtx(ctx context.Context, op, bucket string, fn func(x *vreader) (func(w *vwriter), error)) error {
	k := r.vkeysOf(bucket)
	return r.watch(ctx, op, func(tx *redis.Tx) error {
		x := &vreader{ctx: ctx, c: tx, bucket: bucket, k: k}
		writes, err := fn(x)
		if err != nil {
			// Reads under WATCH are not isolated: what fn decided holds
			// only if nothing changed meanwhile; else it runs again.
			if _, xerr := tx.TxPipelined(ctx, func(p redis.Pipeliner) error { p.Ping(ctx); return nil }); errors.Is(xerr, redis.TxFailedErr) {
				return xerr
			}
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if writes != nil {
				writes(&vwriter{ctx: ctx, p: p, k: k})
			} else {
				p.Ping(ctx) // EXEC fails if what was read changed
			}
			return nil
		})
		return err
	}, k.all()...)
}

// SetBucketVersioning implements Versions.
func (r *Redis) SetBucketVersioning(ctx context.Context, bucket string, v BucketVersioning) error {
	if bucket == "" {
		return fmt.Errorf("catalog set bucket versioning: %w: %q", ErrNoSuchBucket, bucket)
	}
	return r.vtx(ctx, "set bucket versioning", bucket, func(x *vreader) (func(*vwriter), error) {
		old, found, err := x.bucketVersioning()
		if err != nil {
			return nil, err
		}
		if found && old.Generation >= v.Generation {
			return nil, fmt.Errorf("%w: bucket %q has versioning of generation %d, not below %d", ErrStale, bucket, old.Generation, v.Generation)
		}
		if err := checkBucketVersioning(&old, &v); err != nil {
			return nil, err
		}
		return func(w *vwriter) { w.p.Set(ctx, w.k.bv, encodeBucketVersioning(&v), 0) }, nil
	})
}

// bucketVersioning reads the configuration and whether one is stored;
// ErrNoSuchBucket if the bucket is missing.
func (x *vreader) bucketVersioning() (BucketVersioning, bool, error) {
	n, err := x.c.Exists(x.ctx, x.k.b).Result()
	if err != nil {
		return BucketVersioning{}, false, err
	}
	if n == 0 {
		return BucketVersioning{}, false, fmt.Errorf("%w: %q", ErrNoSuchBucket, x.bucket)
	}
	b, err := x.c.Get(x.ctx, x.k.bv).Bytes()
	if errors.Is(err, redis.Nil) {
		return BucketVersioning{}, false, nil
	}
	if err != nil {
		return BucketVersioning{}, false, err
	}
	v, err := decodeBucketVersioning(x.bucket, b)
	return v, err == nil, err
}

// GetBucketVersioning implements Versions.
func (r *Redis) GetBucketVersioning(ctx context.Context, bucket string) (BucketVersioning, error) {
	if bucket == "" {
		return BucketVersioning{}, fmt.Errorf("catalog get bucket versioning: %w: %q", ErrNoSuchBucket, bucket)
	}
	var out BucketVersioning
	err := r.vtx(ctx, "get bucket versioning", bucket, func(x *vreader) (func(*vwriter), error) {
		var err error
		out, _, err = x.bucketVersioning()
		return nil, err
	})
	return out, err
}

// PutVersion implements Versions.
func (r *Redis) PutVersion(ctx context.Context, v Version) (*Version, error) {
	if err := checkVersion(&v); err != nil {
		return nil, fmt.Errorf("catalog put version: %w", err)
	}
	v.Latest = false
	var replaced *Version
	err := r.vtx(ctx, "put version", v.Bucket, func(x *vreader) (func(*vwriter), error) {
		replaced = nil
		n, err := x.c.Exists(ctx, x.k.b).Result()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("%w: %q", ErrNoSuchBucket, v.Bucket)
		}
		top, err := x.rows(v.Key, 2)
		if err != nil {
			return nil, err
		}
		var null *Version // an unversioned entry becoming the null version
		if len(top) == 0 {
			e, err := x.entry(v.Key)
			if err != nil {
				return nil, err
			}
			if e != nil {
				if e.VersionID != "" {
					return nil, fmt.Errorf("%w: entry %s/%s names version %q that is missing", ErrCorrupt, v.Bucket, v.Key, e.VersionID)
				}
				nv := nullVersionOf(e)
				null = &nv
			}
		}
		tomb, err := x.tomb(v.Key, v.VersionID)
		if err != nil {
			return nil, err
		}
		if tomb != nil && tomb.Generation >= v.Generation {
			return nil, fmt.Errorf("%w: %s/%s?versionId=%s was deleted at generation %d, not below %d", ErrStale, v.Bucket, v.Key, v.VersionID, tomb.Generation, v.Generation)
		}
		var old *Version
		if null != nil && v.VersionID == NullVersion {
			old = null
		} else if len(top) > 0 {
			if old, err = x.get(v.Key, v.VersionID); err != nil {
				return nil, err
			}
		}
		if old != nil {
			if old.Generation >= v.Generation {
				return nil, fmt.Errorf("%w: %s/%s?versionId=%s holds generation %d, not below %d", ErrStale, v.Bucket, v.Key, v.VersionID, old.Generation, v.Generation)
			}
			if v.VersionID != NullVersion && old.Seq != v.Seq {
				return nil, fmt.Errorf("%w: %s/%s?versionId=%s has sequence %d, not %d", ErrInvalid, v.Bucket, v.Key, v.VersionID, old.Seq, v.Seq)
			}
			replaced = old
		}
		// The newest after the change: among the two newest rows without
		// the replaced one, the null version made of the entry, and v.
		cands := []*Version{&v}
		if null != nil && old != null {
			cands = append(cands, null)
		}
		for i := range top {
			if old == nil || top[i].VersionID != old.VersionID {
				cands = append(cands, &top[i])
			}
		}
		cur := newest(cands...)
		return func(w *vwriter) {
			if null != nil && old != null {
				w.insert(null)
			}
			if old != nil && old != null {
				w.remove(old)
			}
			w.insert(&v)
			if tomb != nil {
				w.dropTomb(v.Key, v.VersionID)
			}
			w.current(v.Key, cur)
		}, nil
	})
	if err != nil {
		return nil, err
	}
	if replaced != nil {
		replaced.Latest = false
	}
	return replaced, nil
}

// GetVersion implements Versions.
func (r *Redis) GetVersion(ctx context.Context, bucket, key, id string) (Version, error) {
	if bucket == "" {
		return Version{}, fmt.Errorf("catalog get version: %w: %q", ErrNoSuchBucket, bucket)
	}
	var out Version
	err := r.vtx(ctx, "get version", bucket, func(x *vreader) (func(*vwriter), error) {
		n, err := x.c.Exists(ctx, x.k.b).Result()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("%w: %q", ErrNoSuchBucket, bucket)
		}
		notFound := fmt.Errorf("%w: %s/%s?versionId=%s", ErrNotFound, bucket, key, id)
		if key == "" {
			return nil, notFound
		}
		top, err := x.rows(key, 1)
		if err != nil {
			return nil, err
		}
		if len(top) > 0 {
			newest := top[0]
			if id == "" {
				out = newest
				out.Latest = true
				return nil, nil
			}
			v, err := x.get(key, id)
			if err != nil {
				return nil, err
			}
			if v == nil {
				return nil, notFound
			}
			v.Latest = v.VersionID == newest.VersionID && v.Seq == newest.Seq
			out = *v
			return nil, nil
		}
		e, err := x.entry(key)
		if err != nil {
			return nil, err
		}
		if e == nil || (id != "" && id != NullVersion) {
			return nil, notFound
		}
		out = nullVersionOf(e)
		out.Latest = true
		return nil, nil
	})
	return out, err
}

// DeleteVersion implements Versions.
func (r *Redis) DeleteVersion(ctx context.Context, t Tombstone, o DeleteVersionOptions) (*Version, error) {
	if err := checkKey(t.Bucket, t.Key); err != nil {
		return nil, fmt.Errorf("catalog delete version: %w", err)
	}
	if t.VersionID == "" {
		return nil, fmt.Errorf("catalog delete version: %w: empty version ID", ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("catalog delete version: %w", err)
	}
	reg := r.mkey("vtbuckets")
	if t.VersionID == NullVersion {
		reg = r.mkey("tombbuckets")
	}
	if err := r.rdb.ZAdd(ctx, reg, redis.Z{Member: t.Bucket}).Err(); err != nil {
		return nil, r.fail(ctx, "delete version", err)
	}
	var removed *Version
	err := r.vtx(ctx, "delete version", t.Bucket, func(x *vreader) (func(*vwriter), error) {
		removed = nil
		old, err := x.tomb(t.Key, t.VersionID)
		if err != nil {
			return nil, err
		}
		if old != nil && old.Generation >= t.Generation {
			return nil, fmt.Errorf("%w: %s/%s?versionId=%s has a tombstone of generation %d, not below %d", ErrStale, t.Bucket, t.Key, t.VersionID, old.Generation, t.Generation)
		}
		top, err := x.rows(t.Key, 2)
		if err != nil {
			return nil, err
		}
		var target *Version
		fromEntry := false
		switch {
		case len(top) > 0:
			if target, err = x.get(t.Key, t.VersionID); err != nil {
				return nil, err
			}
		case t.VersionID == NullVersion:
			e, err := x.entry(t.Key)
			if err != nil {
				return nil, err
			}
			if e != nil {
				null := nullVersionOf(e)
				target, fromEntry = &null, true
			}
		}
		var cur *Version
		if target != nil {
			if target.Generation >= t.Generation {
				return nil, fmt.Errorf("%w: %s/%s?versionId=%s holds generation %d, not below %d", ErrStale, t.Bucket, t.Key, t.VersionID, target.Generation, t.Generation)
			}
			if target.Locked(t.Deleted, o.BypassGovernance) {
				return nil, fmt.Errorf("%w: %s/%s?versionId=%s", ErrLocked, t.Bucket, t.Key, t.VersionID)
			}
			if !fromEntry {
				var rest []*Version
				for i := range top {
					if top[i].VersionID != target.VersionID {
						rest = append(rest, &top[i])
					}
				}
				cur = newest(rest...)
			}
			target.Latest = false
			removed = target
		}
		return func(w *vwriter) {
			if target != nil {
				if fromEntry {
					w.current(t.Key, nil)
				} else {
					w.remove(target)
					w.current(t.Key, cur)
				}
			}
			w.putTomb(&t)
		}, nil
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// GetVersionTombstone implements Versions.
func (r *Redis) GetVersionTombstone(ctx context.Context, bucket, key, id string) (Tombstone, error) {
	if err := ctx.Err(); err != nil {
		return Tombstone{}, fmt.Errorf("catalog get version tombstone: %w", err)
	}
	notFound := fmt.Errorf("catalog get version tombstone: %w: no tombstone of %s/%s?versionId=%s", ErrNotFound, bucket, key, id)
	if id == "" {
		return Tombstone{}, notFound
	}
	x := &vreader{ctx: ctx, c: r.rdb, bucket: bucket, k: r.vkeysOf(bucket), live: true}
	t, err := x.tomb(key, id)
	if err != nil {
		return Tombstone{}, r.failv(ctx, "get version tombstone", err)
	}
	if t == nil {
		return Tombstone{}, notFound
	}
	return *t, nil
}

// failv wraps an error that may be a decoding error or a Redis one.
func (r *Redis) failv(ctx context.Context, op string, err error) error {
	if errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("catalog %s: %w", op, err)
	}
	return r.fail(ctx, op, err)
}

// WalkVersionTombstones implements Versions: one bucket's version
// tombstones are read at once, then fn runs on each.
func (r *Redis) WalkVersionTombstones(ctx context.Context, fn func(Tombstone) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("catalog walk version tombstones: %w", err)
	}
	names, err := r.rdb.ZRange(ctx, r.mkey("vtbuckets"), 0, -1).Result()
	if err != nil {
		return r.fail(ctx, "walk version tombstones", err)
	}
	for _, b := range names {
		m, err := r.rdb.HGetAll(ctx, r.bkey(b, "vt")).Result()
		if err != nil {
			return r.fail(ctx, "walk version tombstones", err)
		}
		for _, f := range sortedKeys(m) {
			key, id, err := unescape([]byte(f))
			if err != nil {
				return fmt.Errorf("catalog walk version tombstones: %w", err)
			}
			t, err := decodeTombstone(b, key, []byte(m[f]))
			if err != nil {
				return fmt.Errorf("catalog walk version tombstones: %w", err)
			}
			t.VersionID = string(id)
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("catalog walk version tombstones: %w", err)
			}
			if err := fn(t); err != nil {
				return err
			}
		}
	}
	return nil
}

// WalkVersions implements Versions, walkBatch versions per read.
func (r *Redis) WalkVersions(ctx context.Context, fn func(Version) error) error {
	buckets, err := r.ListBuckets(ctx)
	if err != nil {
		return err
	}
	for _, bk := range buckets {
		x := &vreader{ctx: ctx, c: r.rdb, bucket: bk.Name, k: r.vkeysOf(bk.Name), live: true}
		bound, prevKey, first := "-", "", true
		for {
			rs, err := r.rdb.ZRangeByLex(ctx, x.k.vr, &redis.ZRangeBy{Min: bound, Max: "+", Count: walkBatch}).Result()
			if err != nil {
				return r.fail(ctx, "walk versions", err)
			}
			if len(rs) == 0 {
				break
			}
			vs, err := x.decodeRows(rs)
			if err != nil {
				return r.failv(ctx, "walk versions", err)
			}
			for _, v := range vs {
				v.Latest = first || v.Key != prevKey // the first row of a key is its newest
				first, prevKey = false, v.Key
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("catalog walk versions: %w", err)
				}
				if err := fn(v); err != nil {
					return err
				}
			}
			if len(rs) < walkBatch {
				break
			}
			bound = "(" + rs[len(rs)-1]
		}
	}
	return nil
}

// ListVersions implements Versions, as the embedded catalog does: it
// merges the version index with the object index, and jumps past each
// common prefix, so a page costs a few reads per item returned.
func (r *Redis) ListVersions(ctx context.Context, o VersionListOptions) (VersionListResult, error) {
	if err := ctx.Err(); err != nil {
		return VersionListResult{}, fmt.Errorf("catalog list versions: %w", err)
	}
	if o.Bucket == "" {
		return VersionListResult{}, fmt.Errorf("catalog list versions: %w: %q", ErrNoSuchBucket, o.Bucket)
	}
	limit := o.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	x := &vreader{ctx: ctx, c: r.rdb, bucket: o.Bucket, k: r.vkeysOf(o.Bucket), live: true}
	n, err := r.rdb.Exists(ctx, x.k.b).Result()
	if err != nil {
		return VersionListResult{}, r.fail(ctx, "list versions", err)
	}
	if n == 0 {
		return VersionListResult{}, fmt.Errorf("catalog list versions: %w: %q", ErrNoSuchBucket, o.Bucket)
	}
	var res VersionListResult
	l := redisVersionLister{versionPage: versionPage{o: o, limit: limit, res: &res}, x: x}
	if err := l.list(&l); err != nil {
		return VersionListResult{}, r.failv(ctx, "list versions", err)
	}
	return res, nil
}

// redisVersionLister computes one page of ListVersions.
type redisVersionLister struct {
	versionPage
	x *vreader
}

// nextKey returns the smallest key with the listing's prefix that is at or
// after from (strictly after, if strict) in either index.
func (l *redisVersionLister) nextKey(from string, strict bool) (string, bool, error) {
	x := l.x
	best, found := "", false
	lo := "[" + from
	if strict {
		lo = "(" + from
	} else if from == "" {
		lo = "-"
	}
	ks, err := x.c.ZRangeByLex(x.ctx, x.k.k, &redis.ZRangeBy{Min: lo, Max: "+", Count: 1}).Result()
	if err != nil {
		return "", false, err
	}
	if len(ks) > 0 && strings.HasPrefix(ks[0], l.o.Prefix) {
		best, found = ks[0], true
	}
	seek := escape(nil, from)
	if strict {
		seek = successor(seek)
	}
	if seek != nil {
		rs, err := x.c.ZRangeByLex(x.ctx, x.k.vr, &redis.ZRangeBy{Min: "[" + string(seek), Max: "+", Count: 1}).Result()
		if err != nil {
			return "", false, err
		}
		if len(rs) > 0 {
			key, _, err := unescape([]byte(rs[0]))
			if err != nil {
				return "", false, err
			}
			if strings.HasPrefix(key, l.o.Prefix) && (!found || key < best) {
				best, found = key, true
			}
		}
	}
	return best, found, nil
}

// key adds the versions of key, those after version resume if it is set.
func (l *redisVersionLister) key(key, resume string) error {
	x := l.x
	rows, err := x.rows(key, 1)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		if resume != "" {
			return nil // the marker was this key's only version
		}
		e, err := x.entry(key)
		if err != nil || e == nil {
			return err // nil: deleted since nextKey saw it
		}
		if l.full() {
			return nil
		}
		v := nullVersionOf(e)
		v.Latest = true
		l.add(v)
		return nil
	}
	newestID, newestSeq := rows[0].VersionID, rows[0].Seq
	p := escape(nil, key)
	lo := "[" + string(p)
	if resume != "" {
		v, err := x.get(key, resume)
		if err != nil {
			return err
		}
		if v == nil {
			return nil // unknown marker: after every version of the key
		}
		lo = "(" + string(versionRowKey(key, v.Seq, v.VersionID))
	}
	hi := "+"
	if s := successor(p); s != nil {
		hi = "(" + string(s)
	}
	for {
		want := l.limit - l.n + 1
		rs, err := x.c.ZRangeByLex(x.ctx, x.k.vr, &redis.ZRangeBy{Min: lo, Max: hi, Count: int64(min(want, 1000))}).Result()
		if err != nil {
			return err
		}
		if len(rs) == 0 {
			return nil
		}
		vs, err := x.decodeRows(rs)
		if err != nil {
			return err
		}
		for _, v := range vs {
			if l.full() {
				return nil
			}
			v.Latest = v.VersionID == newestID && v.Seq == newestSeq
			l.add(v)
		}
		if len(rs) < min(want, 1000) {
			return nil
		}
		lo = "(" + rs[len(rs)-1]
	}
}

func (l *redisVersionLister) add(v Version) {
	l.res.Versions = append(l.res.Versions, v)
	l.res.NextKeyMarker, l.res.NextVersionIDMarker = v.Key, v.VersionID
}
