package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/checksum"
	"github.com/twincrypt/twincrypt/gateway/keylock"
)

// Rename moves the object srcBucket/srcKey to dstBucket/dstKey by changing
// meta records only: no data is read, re-encrypted or copied. The
// destination's new meta record references the same blobs as the source
// (each blob's header carries its own wrapped key, so a blob is readable
// under any name) and carries a higher generation; the source record is
// removed without deleting them. The object keeps its ETag, metadata, dead
// properties and modification time. An object already at the destination is
// replaced, and its blobs are deleted.
//
// Crash safety: two live names must never share blobs, or deleting one
// would delete the other's content. The destination record goes to the
// backends first; then one catalog transaction adds the destination and
// removes the source (catalog.Move); the source record leaves the backends
// last. A crash leaves at most one extra record on the backends, never in
// the catalog: a record the catalog does not know, whose blobs a newer
// record (higher generation) references. Scrub reports it, gc removes it
// without touching blobs, and rebuild-catalog keeps only the newer of two
// records that share a blob.
//
// In a bucket with versioning (enabled or suspended, at either end) the
// source's version must stay and versions never share blobs: Rename then
// re-encrypts the object into a new version at the destination that keeps
// all of the above but the modification time, which is that of the new
// version (see copyExact), and deletes the source (a delete marker) as it
// was copied: a write of the source that lands during the copy stays, and
// the rename fails with ErrPrecondition, the copy at the destination.
//
// Renaming an object onto itself does nothing. A missing source is
// ErrNoSuchKey (or ErrNoSuchBucket).
func (ns *Namespace) Rename(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) (ObjectInfo, error) {
	if err := ns.Authorize(ctx, srcBucket, AccessWrite); err != nil {
		return ObjectInfo{}, err
	}
	if err := ns.Authorize(ctx, dstBucket, AccessWrite); err != nil {
		return ObjectInfo{}, err
	}
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
	if versioned, err := ns.anyVersioned(ctx, srcBucket, dstBucket); err != nil {
		return ObjectInfo{}, err
	} else if versioned {
		return ns.renameVersioned(ctx, srcBucket, srcKey, dstBucket, dstKey)
	}
	unlock, err := ns.lockNames(ctx, keylock.Name{Bucket: srcBucket, Key: srcKey}, keylock.Name{Bucket: dstBucket, Key: dstKey})
	if err != nil {
		return ObjectInfo{}, err
	}
	defer unlock()

	// Under the source's lock no other writer of this gateway changes it.
	src, err := ns.loadedObject(ctx, srcBucket, srcKey)
	if err != nil {
		return ObjectInfo{}, err
	}
	prevGen := src.Generation
	prevDst, err := ns.cat.Get(ctx, dstBucket, dstKey)
	dstExists := err == nil
	var dstTomb uint64     // the generation of the destination's tombstone
	var dstTombName string // and its record
	switch {
	case dstExists:
		prevGen = max(prevGen, prevDst.Generation)
	case errors.Is(err, catalog.ErrNotFound):
		if dstTomb, dstTombName, err = ns.keyTombstone(ctx, dstBucket, dstKey); err != nil {
			return ObjectInfo{}, err
		}
		prevGen = max(prevGen, dstTomb)
	default:
		return ObjectInfo{}, err
	}
	rec := &record{
		Kind: kindObject, Bucket: dstBucket, Key: dstKey, Size: src.rec.Size, ETag: src.rec.ETag,
		ModTime: src.rec.ModTime, Meta: src.rec.Meta, Props: src.rec.Props, Tags: src.rec.Tags, Parts: src.rec.Parts,
		Checksum: src.rec.Checksum, Generation: ns.nextGeneration(prevGen),
	}
	dstBase, dstID := ns.names.meta(dstBucket, dstKey)
	sealed, err := ns.sealRecord(rec, dstID)
	if err != nil {
		return ObjectInfo{}, err
	}
	dstMeta := storedName(dstBase, rec)
	if err := ns.putBytes(ctx, dstMeta, sealed); err != nil {
		return ObjectInfo{}, fmt.Errorf("rename %s/%s: write meta record: %w", srcBucket, srcKey, err)
	}
	replaced, err := ns.cat.Move(context.WithoutCancel(ctx), srcBucket, srcKey, src.Generation, catalog.Entry{
		Bucket: dstBucket, Key: dstKey, Size: rec.Size, ETag: rec.ETag,
		ModTime: rec.ModTime, Generation: rec.Generation, Record: ns.catRecord(rec, sealed),
	})
	if err != nil {
		// The records the catalog names are untouched: the destination's
		// record went under a name of its own. It stays only if the move
		// landed after all (its answer lost). Left on the providers for a
		// move that did not land, repair would take it in as a write the
		// catalog missed, and two names would share the source's blobs.
		// When the catalog cannot say, an object stored in blobs loses
		// the record (should the move have landed, repair seals the
		// catalog's record anew from its catalog form), and so does an
		// inline one over an existing destination (repair would take it
		// over as newer than the destination's: a copy, not a move); an
		// inline one to a new name keeps it (it shares no blob, and its
		// bytes are in it).
		inline := rec.allInline() && !dstExists
		ns.dropUnlessLanded(ctx, recordKey{dstBucket, dstKey, ""}, dstMeta, func(ctx context.Context) (bool, error) {
			cur, err := ns.cat.Get(ctx, dstBucket, dstKey)
			if err == nil || errors.Is(err, catalog.ErrNotFound) {
				return err == nil && cur.Generation == rec.Generation, nil
			}
			return inline, err
		})
		return ObjectInfo{}, fmt.Errorf("rename %s/%s to %s/%s: %w", srcBucket, srcKey, dstBucket, dstKey, mapCatalogErr(err, dstBucket, dstKey))
	}
	// The source name is deleted: leave a tombstone above its generation,
	// then drop the source's record.
	srcBase, _ := ns.names.meta(srcBucket, srcKey)
	if tomb, name, err := ns.writeTombstone(ctx, srcBucket, srcKey, src.Generation); err != nil {
		ns.log.Warn("rename: the old meta record stays on the backends until repair", "src", srcBucket+"/"+srcKey, "err", err)
	} else if _, err := ns.cat.PutTombstone(context.WithoutCancel(ctx), tomb); err != nil {
		// The source left the catalog with the move: a tombstone the
		// catalog did not answer for stays (repair takes it in), so
		// that no rebuild brings the source back; a refused one goes.
		if !outcomeUnknown(err) {
			ns.deleteUncommitted(ctx, recordKey{srcBucket, srcKey, ""}, name)
		}
		if !errors.Is(err, catalog.ErrStale) {
			ns.log.Warn("rename: record the tombstone of the old name", "src", srcBucket+"/"+srcKey, "err", err)
		}
	} else {
		ns.dropRecord(ctx, storedName(srcBase, src.rec), name)
	}
	if replaced != nil {
		if old, err := ns.openRecord(replaced.Record, dstID); err == nil {
			ns.deleteReplaced(ctx, storedName(dstBase, old), dstMeta, supersededParts(old.Parts, rec.Parts))
		} else {
			ns.log.Warn("open replaced meta record; its record and blobs are left to gc", "err", err)
		}
	} else {
		ns.dropRecord(ctx, dstTombName, dstMeta)
	}
	return rec.info(), nil
}

// anyVersioned reports whether either bucket has versioning.
func (ns *Namespace) anyVersioned(ctx context.Context, buckets ...string) (bool, error) {
	for _, b := range buckets {
		cfg, err := ns.BucketVersioning(ctx, b)
		if err != nil {
			return false, err
		}
		if cfg.Status != "" {
			return true, nil
		}
	}
	return false, nil
}

// renameVersioned is Rename where a bucket has versioning: the source's
// versions must stay, and blobs are never shared between versions, so it
// copies the object (re-encrypting it, see copyExact) and then deletes the
// source, which leaves a delete marker. Neither a locked destination nor a
// locked source is replaced or hidden (ErrObjectLocked).
func (ns *Namespace) renameVersioned(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) (ObjectInfo, error) {
	if cur, err := ns.cat.GetVersion(ctx, srcBucket, srcKey, ""); err == nil {
		if now := ns.now(); cur.Locked(now, false) {
			return ObjectInfo{}, lockedError(&cur, now)
		}
	}
	info, copied, err := ns.copyExact(ctx, srcBucket, srcKey, dstBucket, dstKey)
	if err != nil {
		return ObjectInfo{}, err
	}
	// The source is deleted only as it was copied: a write that landed
	// meanwhile stays (ErrPrecondition; the destination holds the copy).
	if _, err := ns.Delete(ctx, srcBucket, srcKey, DeleteOptions{MustExist: true, RefuseLocked: true, IfGeneration: copied}); err != nil {
		return ObjectInfo{}, fmt.Errorf("rename %s/%s: copied to %s/%s, but the source stays: %w", srcBucket, srcKey, dstBucket, dstKey, err)
	}
	return info, nil
}

// copyExact copies the current version of srcBucket/srcKey to a new
// version (or the null version) of dstBucket/dstKey with everything Rename
// keeps: ETag, metadata, dead properties, tags and checksum, and the
// modification time when dstBucket has no versioning. Each part is re-encrypted into a blob of its own, so the copy has
// the source's part layout and each part keeps its ETag and checksum; an
// inline part stays inline. A locked current version at the destination is
// not replaced (ErrObjectLocked); the copy gets the destination bucket's
// default retention. It returns the copy and the generation of the source
// it copied.
func (ns *Namespace) copyExact(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) (ObjectInfo, uint64, error) {
	if err := ns.Authorize(ctx, srcBucket, AccessRead); err != nil {
		return ObjectInfo{}, 0, err
	}
	if err := ns.Authorize(ctx, dstBucket, AccessWrite); err != nil {
		return ObjectInfo{}, 0, err
	}
	src, err := ns.loadedObject(ctx, srcBucket, srcKey)
	if err != nil {
		return ObjectInfo{}, 0, err
	}
	// The plaintext read here is hashed afresh: a front end's hash of a
	// request body (WithBodyMD5, WithBodyChecksum) is not its hash.
	ctx = context.WithValue(context.WithValue(ctx, bodyMD5Key{}, (func() []byte)(nil)), bodyChecksumKey{}, bodyChecksum{})
	alg := checksum.Default
	if src.rec.Checksum != nil && src.rec.Checksum.Alg.Valid() {
		alg = src.rec.Checksum.Alg
	}
	parts := make([]partRecord, 0, len(src.rec.Parts))
	fail := func(err error) (ObjectInfo, uint64, error) {
		ns.deleteBlobs(ctx, parts)
		return ObjectInfo{}, 0, fmt.Errorf("copy %s/%s to %s/%s: %w", srcBucket, srcKey, dstBucket, dstKey, err)
	}
	var off int64
	for _, p := range src.rec.Parts {
		np := partRecord{ETag: p.ETag, Sum: p.Sum}
		if p.Size > 0 {
			body, err := src.NewReader(ctx, off, p.Size)
			if err != nil {
				return fail(err)
			}
			w, _, _, err := ns.writeBlob(ctx, body, p.Size, alg, p.inline())
			body.Close()
			if err != nil {
				return fail(err)
			}
			np.Blob, np.Size, np.Header, np.Data = w.Blob, w.Size, w.Header, w.Data
		}
		parts = append(parts, np)
		off += p.Size
	}
	cfg, err := ns.BucketVersioning(ctx, dstBucket)
	if err != nil {
		return fail(err)
	}
	modTime := src.rec.ModTime
	if cfg.Status != "" {
		// A new version gets the time it is written (zero: commit's
		// now): S3's LastModified of a version, and the time from which
		// lifecycle rules count how long the version before it has been
		// noncurrent. A time the client set (MtimeMeta) moves with the
		// metadata.
		modTime = time.Time{}
	}
	rec := &record{
		Kind: kindObject, Bucket: dstBucket, Key: dstKey, Size: src.rec.Size, ETag: src.rec.ETag,
		ModTime: modTime, Meta: src.rec.Meta, Props: src.rec.Props, Tags: src.rec.Tags, Parts: parts,
		Checksum: src.rec.Checksum,
	}
	info, err := ns.commit(ctx, rec, PutOptions{RefuseLocked: true})
	if err != nil {
		if errors.Is(err, errOutcomeUnknown) {
			return ObjectInfo{}, 0, err
		}
		return fail(err)
	}
	return info, src.Generation, nil
}
