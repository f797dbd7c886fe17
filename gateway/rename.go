package gateway

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// lockPair takes the locks of two names in a fixed order, so that two
// renames in opposite directions cannot deadlock, and returns the function
// that releases them. Both names may share one lock. It uses the same lock
// table and hashing as lock.
func (ns *Namespace) lockPair(bucketA, keyA, bucketB, keyB string) func() {
	idx := func(bucket, key string) int {
		h := fnv.New32a()
		h.Write([]byte(bucket))
		h.Write([]byte{0})
		h.Write([]byte(key))
		return int(h.Sum32() % uint32(len(ns.locks)))
	}
	held := []int{idx(bucketA, keyA), idx(bucketB, keyB)}
	slices.Sort(held)
	held = slices.Compact(held)
	for _, i := range held {
		ns.locks[i].Lock()
	}
	return func() {
		for _, i := range slices.Backward(held) {
			ns.locks[i].Unlock()
		}
	}
}

// Rename moves the object srcBucket/srcKey to dstBucket/dstKey by changing
// meta records only: no data is read, re-encrypted or copied. The
// destination's new meta record references the same blobs as the source
// (each blob's header carries its own wrapped key, so a blob is readable
// under any name); the source record is removed without deleting them.
// The object keeps its ETag, metadata, dead properties and modification
// time. An object already at the destination is replaced, and its blobs
// are deleted.
//
// Crash safety: the destination record is written (backends, then catalog)
// before the source record is removed, so at every moment at least one
// record references the blobs; a crash in between leaves the object under
// both names, never under none.
//
// Renaming an object onto itself does nothing. A missing source is
// ErrNoSuchKey (or ErrNoSuchBucket).
func (ns *Namespace) Rename(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) (ObjectInfo, error) {
	if err := checkKey(srcKey); err != nil {
		return ObjectInfo{}, err
	}
	if err := checkKey(dstKey); err != nil {
		return ObjectInfo{}, err
	}
	if srcBucket == dstBucket && srcKey == dstKey {
		o, err := ns.Object(ctx, srcBucket, srcKey)
		if err != nil {
			return ObjectInfo{}, err
		}
		return o.ObjectInfo, nil
	}
	if _, err := ns.cat.GetBucket(ctx, dstBucket); err != nil {
		return ObjectInfo{}, mapCatalogErr(err, dstBucket, dstKey)
	}
	defer ns.lockPair(srcBucket, srcKey, dstBucket, dstKey)()

	// Under the source's lock no other writer of this gateway changes it.
	src, err := ns.Object(ctx, srcBucket, srcKey)
	if err != nil {
		return ObjectInfo{}, err
	}
	rec := &record{
		Kind: kindObject, Bucket: dstBucket, Key: dstKey, Size: src.rec.Size, ETag: src.rec.ETag,
		ModTime: src.rec.ModTime, Meta: src.rec.Meta, Props: src.rec.Props, Parts: src.rec.Parts,
	}
	info, err := ns.commitLocked(ctx, rec, PutOptions{})
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("rename %s/%s to %s/%s: %w", srcBucket, srcKey, dstBucket, dstKey, err)
	}
	if err := ns.forget(ctx, srcBucket, srcKey, src.Generation); err != nil {
		// The object is complete under its new name; the old name still
		// references the same blobs. Report the failure so the client
		// does not believe the old name is gone.
		return info, fmt.Errorf("rename %s/%s: remove source record: %w", srcBucket, srcKey, err)
	}
	return info, nil
}

// forget removes the meta record of bucket/key (generation gen) from the
// backends and the catalog without deleting any blob. The caller holds the
// name's lock.
func (ns *Namespace) forget(ctx context.Context, bucket, key string, gen uint64) error {
	metaName, _ := ns.names.meta(bucket, key)
	if err := ns.store.Delete(ctx, metaName); err != nil {
		return fmt.Errorf("delete meta record: %w", err)
	}
	if _, err := ns.cat.Delete(ctx, bucket, key, gen); err != nil {
		if errors.Is(err, catalog.ErrStale) {
			// Another gateway wrote a newer version meanwhile; put its
			// record back on the backends, which the delete removed.
			if cur, gerr := ns.cat.Get(ctx, bucket, key); gerr == nil {
				if perr := ns.putBytes(ctx, metaName, cur.Record); perr != nil {
					ns.log.Warn("restore newer meta record", "err", perr)
				}
			}
			return nil
		}
		return mapCatalogErr(err, bucket, key)
	}
	return nil
}
