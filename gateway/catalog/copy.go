package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/twincrypt/twincrypt/backends/replica"
)

// CopyStats counts what Copy copied.
type CopyStats struct {
	Buckets, Entries, Tombstones, Shares, Uploads, Parts, Tasks int
	// Versions counts versions and delete markers (Entries counts only
	// objects of keys without versions); VersionTombstones the deleted
	// versions.
	Versions, VersionTombstones int
	Epoch                       uint64
}

// errStop ends a walk early.
var errStop = errors.New("stop")

// Empty reports whether c holds nothing: no bucket, tombstone, share,
// epoch or repair task.
func Empty(ctx context.Context, c Catalog) (bool, error) {
	bs, err := c.ListBuckets(ctx)
	if err != nil || len(bs) > 0 {
		return false, err
	}
	if e, _, err := c.Epoch(ctx); err != nil || e > 0 {
		return false, err
	}
	if ss, err := c.ListShares(ctx); err != nil || len(ss) > 0 {
		return false, err
	}
	found := false
	err = c.WalkTombstones(ctx, func(Tombstone) error { found = true; return errStop })
	if err != nil && !errors.Is(err, errStop) {
		return false, err
	}
	if found {
		return false, nil
	}
	if q, ok := c.(replica.Queue); ok {
		ts, err := q.Pending(ctx, 0)
		if err != nil || len(ts) > 0 {
			return false, err
		}
	}
	return true, nil
}

// CopyOption changes what Copy does.
type CopyOption func(*copyConfig)

// copyConfig is what the CopyOptions set.
type copyConfig struct {
	records func(bucket, key, versionID string, rec []byte) []byte
}

// ConvertRecords makes Copy store, for every entry and version, the record
// f returns for it instead of the one src holds (records stay opaque here:
// f is the caller's, e.g. a newer encoding of the same record). Tombstones,
// shares and uploads are copied as they are.
func ConvertRecords(f func(bucket, key, versionID string, rec []byte) []byte) CopyOption {
	return func(c *copyConfig) { c.records = f }
}

// Copy copies everything src holds into dst: buckets with their
// versioning, entries, versions, tombstones, the epoch, share links,
// multipart uploads with their parts and, when both are repair queues, the
// queued tasks. dst should be empty
// (see Empty); what it holds already is kept where it is newer (the
// generation rules of Put, PutTombstone, PutShare and AdvanceEpoch), and
// an existing bucket or upload is left as it is. progress, if not nil, is
// called after each entry with the count so far.
func Copy(ctx context.Context, dst, src Catalog, progress func(entries int), opts ...CopyOption) (CopyStats, error) {
	var cfg copyConfig
	for _, o := range opts {
		o(&cfg)
	}
	var st CopyStats
	buckets, err := src.ListBuckets(ctx)
	if err != nil {
		return st, fmt.Errorf("copy catalog: %w", err)
	}
	for _, b := range buckets {
		if err := dst.CreateBucket(ctx, b); err != nil && !errors.Is(err, ErrBucketExists) {
			return st, fmt.Errorf("copy catalog: bucket %s: %w", b.Name, err)
		}
		st.Buckets++
		bv, err := src.GetBucketVersioning(ctx, b.Name)
		if err != nil {
			return st, fmt.Errorf("copy catalog: bucket %s: %w", b.Name, err)
		}
		if bv != (BucketVersioning{}) {
			if err := dst.SetBucketVersioning(ctx, b.Name, bv); err != nil && !errors.Is(err, ErrStale) {
				return st, fmt.Errorf("copy catalog: versioning of bucket %s: %w", b.Name, err)
			}
		}
	}
	err = src.WalkVersions(ctx, func(v Version) error {
		if cfg.records != nil {
			v.Record = cfg.records(v.Bucket, v.Key, v.VersionID, v.Record)
		}
		if _, err := dst.PutVersion(ctx, v); err != nil && !errors.Is(err, ErrStale) {
			return fmt.Errorf("version %s/%s?versionId=%s: %w", v.Bucket, v.Key, v.VersionID, err)
		}
		st.Versions++
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("copy catalog: %w", err)
	}
	err = src.WalkVersionTombstones(ctx, func(t Tombstone) error {
		if _, err := dst.DeleteVersion(ctx, t, DeleteVersionOptions{}); err != nil && !errors.Is(err, ErrStale) {
			return fmt.Errorf("tombstone of %s/%s?versionId=%s: %w", t.Bucket, t.Key, t.VersionID, err)
		}
		st.VersionTombstones++
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("copy catalog: %w", err)
	}
	err = src.Walk(ctx, func(e Entry) error {
		if e.VersionID != "" {
			return nil // the current version, copied with the versions
		}
		if cfg.records != nil {
			e.Record = cfg.records(e.Bucket, e.Key, "", e.Record)
		}
		if _, err := dst.Put(ctx, e); err != nil && !errors.Is(err, ErrStale) {
			return fmt.Errorf("entry %s/%s: %w", e.Bucket, e.Key, err)
		}
		st.Entries++
		if progress != nil {
			progress(st.Entries)
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("copy catalog: %w", err)
	}
	err = src.WalkTombstones(ctx, func(t Tombstone) error {
		if _, err := dst.PutTombstone(ctx, t); err != nil && !errors.Is(err, ErrStale) {
			return fmt.Errorf("tombstone %s/%s: %w", t.Bucket, t.Key, err)
		}
		st.Tombstones++
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("copy catalog: %w", err)
	}
	epoch, rec, err := src.Epoch(ctx)
	if err != nil {
		return st, fmt.Errorf("copy catalog: %w", err)
	}
	if epoch > 0 {
		if err := dst.AdvanceEpoch(ctx, epoch, rec); err != nil && !errors.Is(err, ErrStale) {
			return st, fmt.Errorf("copy catalog: epoch: %w", err)
		}
		st.Epoch = epoch
	}
	shares, err := src.ListShares(ctx)
	if err != nil {
		return st, fmt.Errorf("copy catalog: %w", err)
	}
	for _, s := range shares {
		if err := dst.PutShare(ctx, s); err != nil && !errors.Is(err, ErrStale) {
			return st, fmt.Errorf("copy catalog: share %s: %w", s.ID, err)
		}
		st.Shares++
	}
	for _, b := range buckets {
		if err := copyUploads(ctx, dst, src, b.Name, &st); err != nil {
			return st, fmt.Errorf("copy catalog: %w", err)
		}
	}
	sq, ok1 := src.(replica.Queue)
	dq, ok2 := dst.(replica.Queue)
	if ok1 && ok2 {
		tasks, err := sq.Pending(ctx, 0)
		if err != nil {
			return st, fmt.Errorf("copy catalog: repair queue: %w", err)
		}
		if len(tasks) > 0 {
			if err := dq.Add(ctx, tasks...); err != nil {
				return st, fmt.Errorf("copy catalog: repair queue: %w", err)
			}
		}
		st.Tasks = len(tasks)
	}
	return st, nil
}

// copyUploads copies the multipart uploads of one bucket and their parts.
func copyUploads(ctx context.Context, dst, src Catalog, bucket string, st *CopyStats) error {
	keyMarker, idMarker := "", ""
	for {
		ups, more, err := src.ListUploads(ctx, bucket, "", keyMarker, idMarker, DefaultLimit)
		if err != nil {
			return fmt.Errorf("uploads of %s: %w", bucket, err)
		}
		for _, u := range ups {
			if err := dst.CreateUpload(ctx, u); err != nil && !errors.Is(err, ErrUploadExists) {
				return fmt.Errorf("upload %s: %w", u.ID, err)
			}
			st.Uploads++
			marker := 0
			for {
				parts, more, err := src.ListParts(ctx, u.ID, marker, DefaultLimit)
				if err != nil {
					return fmt.Errorf("parts of upload %s: %w", u.ID, err)
				}
				for _, p := range parts {
					if _, err := dst.PutPart(ctx, u.ID, p); err != nil {
						return fmt.Errorf("part %d of upload %s: %w", p.Number, u.ID, err)
					}
					st.Parts++
					marker = p.Number
				}
				if !more || len(parts) == 0 {
					break
				}
			}
			keyMarker, idMarker = u.Key, u.ID
		}
		if !more || len(ups) == 0 {
			return nil
		}
	}
}
