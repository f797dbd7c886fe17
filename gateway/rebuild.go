package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// RebuildOptions configure RebuildCatalog.
type RebuildOptions struct {
	// Keys opens the meta records.
	Keys Keys
	// Backend is the one backend whose meta records are read.
	Backend backends.Backend
	// Catalog receives the buckets and objects; normally a new, empty
	// one.
	Catalog catalog.Catalog
	// Progress, when set, is called after every meta record read.
	Progress func(records int)
	// Logger receives a line per record that could not be used; nil:
	// discard.
	Logger *slog.Logger
}

// RebuildReport counts what RebuildCatalog did.
type RebuildReport struct {
	Buckets int // buckets created from bucket records
	// ImpliedBuckets counts buckets created because objects named them
	// while no bucket record was found.
	ImpliedBuckets int
	Objects        int // objects entered
	// Skipped counts records not entered because the catalog already
	// holds the same or a newer generation.
	Skipped int
	// RenameLeftovers counts old records of interrupted renames: left
	// out because a newer record references the same blobs.
	RenameLeftovers int
	// Shares counts share links entered from their records.
	Shares int
	Failed []RecoverFailure
}

// RebuildCatalog fills a catalog from the meta records on one backend:
// buckets first, then every object with its sealed record byte for byte,
// its size, ETag, modification time and generation. Records that do not
// authenticate or are bound to another name are reported and left out.
// Multipart uploads in progress and the repair queue live only in the
// catalog and are not recovered; the blobs of such uploads are left for gc.
func RebuildCatalog(ctx context.Context, o RebuildOptions) (*RebuildReport, error) {
	if o.Keys == nil || o.Backend == nil || o.Catalog == nil {
		return nil, errors.New("rebuild catalog: Keys, Backend and Catalog are required")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ns := readOnlyNamespace(o.Keys, o.Backend, log)
	rep := &RebuildReport{}
	fail := func(name string, r *record, err error) {
		f := RecoverFailure{Name: name, Err: err}
		if r != nil {
			f.Bucket, f.Key = r.Bucket, r.Key
		}
		rep.Failed = append(rep.Failed, f)
		log.Warn("meta record left out", "record", name, "bucket", f.Bucket, "key", f.Key, "err", err)
	}
	// First pass: buckets, and objects whose bucket is already known;
	// the others wait for the second pass.
	var later []string
	records := 0
	have := make(map[string]bool)
	err := listAll(ctx, o.Backend, metaPrefix, func(it backends.Info) error {
		if _, ok := metaHashOf(it.Name); !ok {
			return nil
		}
		records++
		if o.Progress != nil {
			o.Progress(records)
		}
		sealed, err := readAll(ctx, o.Backend, it.Name)
		if err != nil {
			if errors.Is(err, backends.ErrNotFound) {
				return nil
			}
			return err
		}
		r, err := ns.openStoredRecord(it.Name, sealed)
		if err != nil {
			fail(it.Name, nil, err)
			return nil
		}
		switch {
		case r.Kind == kindBucket:
			if err := o.Catalog.CreateBucket(ctx, catalog.Bucket{Name: r.Bucket, Created: r.ModTime}); err != nil && !errors.Is(err, catalog.ErrBucketExists) {
				return err
			}
			have[r.Bucket] = true
			rep.Buckets++
		case have[r.Bucket]:
			return putRebuilt(ctx, o.Catalog, r, sealed, rep)
		default:
			later = append(later, it.Name)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("rebuild catalog from %s: %w", o.Backend.Name(), err)
	}
	for _, name := range later {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		sealed, err := readAll(ctx, o.Backend, name)
		if err != nil {
			fail(name, nil, err)
			continue
		}
		r, err := ns.openStoredRecord(name, sealed)
		if err != nil {
			fail(name, nil, err)
			continue
		}
		if !have[r.Bucket] {
			err := o.Catalog.CreateBucket(ctx, catalog.Bucket{Name: r.Bucket, Created: r.ModTime})
			if err != nil && !errors.Is(err, catalog.ErrBucketExists) {
				return rep, err
			}
			have[r.Bucket] = true
			rep.ImpliedBuckets++
			log.Warn("bucket record missing; bucket created from its objects", "bucket", r.Bucket)
		}
		if err := putRebuilt(ctx, o.Catalog, r, sealed, rep); err != nil {
			return rep, err
		}
	}
	shares, err := ns.rebuildShares(ctx, o.Backend, o.Catalog, func(name string, err error) { fail(name, nil, err) })
	if err != nil {
		return rep, fmt.Errorf("rebuild catalog from %s: share records: %w", o.Backend.Name(), err)
	}
	rep.Shares = shares
	n, err := ns.dropRenameLeftovers(ctx, o.Catalog)
	if err != nil {
		return rep, fmt.Errorf("rebuild catalog: %w", err)
	}
	rep.Objects -= n
	rep.RenameLeftovers = n
	return rep, nil
}

// putRebuilt enters one object record into the catalog.
func putRebuilt(ctx context.Context, cat catalog.Catalog, r *record, sealed []byte, rep *RebuildReport) error {
	_, err := cat.Put(ctx, entryOf(r, sealed))
	switch {
	case errors.Is(err, catalog.ErrStale):
		rep.Skipped++
	case err != nil:
		return fmt.Errorf("%s/%s: %w", r.Bucket, r.Key, err)
	default:
		rep.Objects++
	}
	return nil
}
