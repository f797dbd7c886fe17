package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/internal/spill"
)

// RebuildOptions configure RebuildCatalog.
type RebuildOptions struct {
	// Keys opens the meta records.
	Keys Keys
	// Backends are read, every one of them: for each name the newest
	// authenticated record any of them holds wins, so a provider that
	// rolled back cannot roll the catalog back with it.
	Backends []backends.Backend
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
	// Versions counts versions (and delete markers) of keys in buckets
	// with versioning entered; Objects does not count them.
	Versions int
	// Tombstones counts deletions entered.
	Tombstones int
	// Skipped counts records not entered because the catalog already
	// holds the same or a newer generation of their name (another
	// backend's copy, or a deletion).
	Skipped int
	// RenameLeftovers counts old records of interrupted renames: left
	// out because a newer record references the same blobs.
	RenameLeftovers int
	// Shares counts share links entered from their records.
	Shares int
	// Unreachable names the backends that could not be listed; what
	// only they held is missing from the catalog.
	Unreachable []string
	Failed      []RecoverFailure
}

// RebuildCatalog fills a catalog from the meta records on the backends:
// every bucket, every object with its sealed record byte for byte, its
// size, ETag, modification time and generation, every deletion (tombstone)
// and every share link, taking for each name the newest authenticated record
// any backend holds. Records that do not authenticate or are bound to
// another name are reported and left out. A backend that cannot be listed
// is reported in Unreachable; the rebuild goes on with the others. Multipart
// uploads in progress and the repair queue live only in the catalog and are
// not recovered; the blobs of such uploads are left for gc.
func RebuildCatalog(ctx context.Context, o RebuildOptions) (*RebuildReport, error) {
	if o.Keys == nil || len(o.Backends) == 0 || o.Catalog == nil {
		return nil, errors.New("rebuild catalog: Keys, Backends and Catalog are required")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rb := &rebuilder{o: o, log: log, rep: &RebuildReport{}, buckets: make(map[string]*bucketState)}
	for range o.Backends {
		rb.pending = append(rb.pending, newMetaSet())
	}
	defer func() {
		for _, p := range rb.pending {
			p.Close()
		}
	}()
	for i, b := range o.Backends {
		rb.ns = readOnlyNamespace(o.Keys, b, log)
		rb.cur = i
		if err := rb.backend(ctx, b); err != nil {
			if ctx.Err() != nil {
				return rb.rep, ctx.Err()
			}
			log.Warn("backend left out of the rebuild", "backend", b.Name(), "err", err)
			rb.rep.Unreachable = append(rb.rep.Unreachable, b.Name())
		}
	}
	if len(rb.rep.Unreachable) == len(o.Backends) {
		return rb.rep, fmt.Errorf("rebuild catalog: no backend could be read")
	}
	if err := rb.settleBuckets(ctx); err != nil {
		return rb.rep, fmt.Errorf("rebuild catalog: %w", err)
	}
	rb.settled = true
	for i, b := range o.Backends {
		if err := rb.enterPending(ctx, b, rb.pending[i]); err != nil {
			return rb.rep, err
		}
	}
	for name, bs := range rb.buckets {
		if bs.implied && bs.record == nil {
			rb.rep.ImpliedBuckets++
			rb.log.Warn("bucket record missing; bucket created from its objects", "bucket", name)
		}
	}
	if rb.epoch > 0 {
		if err := o.Catalog.AdvanceEpoch(ctx, rb.epoch, rb.epochSealed); err != nil && !errors.Is(err, catalog.ErrStale) {
			return rb.rep, fmt.Errorf("rebuild catalog: epoch: %w", err)
		}
	}
	n, err := rb.ns.dropRenameLeftovers(ctx, o.Catalog)
	if err != nil {
		return rb.rep, fmt.Errorf("rebuild catalog: %w", err)
	}
	rb.rep.Objects -= n
	rb.rep.RenameLeftovers = n
	return rb.rep, nil
}

// bucketState is what the rebuild learnt of one bucket's own records.
type bucketState struct {
	record     *record // the newest bucket record, if any
	tombstone  *record // the newest bucket tombstone, if any
	tombSealed []byte  // its sealed bytes
	created    bool    // the catalog holds the bucket
	implied    bool    // created for its objects, without a bucket record
}

type rebuilder struct {
	o       RebuildOptions
	ns      *Namespace // reads the backend at hand
	log     *slog.Logger
	rep     *RebuildReport
	records int
	buckets map[string]*bucketState
	// pending are, by backend, the names of object records met before
	// any record of their bucket (their hashes, in bounded memory, see
	// sets.go): entered once every bucket is settled. With a bucket's
	// record anywhere in the hash order, that is on average half of its
	// objects.
	pending []*spill.Set
	cur     int // the index of the backend being read
	settled bool
	// epoch is the highest namespace epoch found, with its record.
	epoch       uint64
	epochSealed []byte
}

// enterPending reads again and enters the pending records of backend b.
func (rb *rebuilder) enterPending(ctx context.Context, b backends.Backend, pending *spill.Set) error {
	ns := readOnlyNamespace(rb.o.Keys, b, rb.log)
	it, err := pending.Iter()
	if err != nil {
		return fmt.Errorf("rebuild catalog: %w", err)
	}
	for h, ok := it.Next(); ok; h, ok = it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := metaPrefix + hex.EncodeToString(h)
		sealed, err := readAll(ctx, b, name)
		if err != nil {
			rb.fail(name, nil, err)
			continue
		}
		r, err := ns.openStoredRecord(name, sealed)
		if err != nil {
			rb.fail(name, nil, err)
			continue
		}
		if err := rb.enter(ctx, r, sealed); err != nil {
			return fmt.Errorf("rebuild catalog: %w", err)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("rebuild catalog: %w", err)
	}
	return nil
}

// backend enters the records of one backend.
func (rb *rebuilder) backend(ctx context.Context, b backends.Backend) error {
	err := listAll(ctx, b, metaPrefix, func(it backends.Info) error {
		if _, ok := metaHashOf(it.Name); !ok {
			return nil
		}
		rb.records++
		if rb.o.Progress != nil {
			rb.o.Progress(rb.records)
		}
		sealed, err := readAll(ctx, b, it.Name)
		if err != nil {
			if errors.Is(err, backends.ErrNotFound) {
				return nil
			}
			if errors.Is(err, ErrCorruptRecord) {
				rb.fail(it.Name, nil, err)
				return nil
			}
			return err
		}
		if epoch, _ := rb.ns.names.epoch(); it.Name == epoch {
			r, err := rb.ns.openEpoch(sealed)
			if err != nil {
				rb.fail(it.Name, nil, err)
			} else if r.Generation > rb.epoch {
				rb.epoch, rb.epochSealed = r.Generation, sealed
			}
			return nil
		}
		r, err := rb.ns.openStoredRecord(it.Name, sealed)
		if err != nil {
			rb.fail(it.Name, nil, err)
			return nil
		}
		if bs := rb.buckets[r.Bucket]; r.Key != "" && (r.Kind == kindObject || r.Kind == kindDeleteMarker) && (bs == nil || (bs.record == nil && !bs.created)) {
			if err := addMeta(rb.pending[rb.cur], it.Name); err != nil {
				return err
			}
			if bs == nil {
				rb.buckets[r.Bucket] = &bucketState{}
			}
			return nil
		}
		return rb.enter(ctx, r, sealed)
	})
	if err != nil {
		return err
	}
	shares, err := rb.ns.rebuildShares(ctx, b, rb.o.Catalog, func(name string, err error) { rb.fail(name, nil, err) })
	rb.rep.Shares += shares
	return err
}

func (rb *rebuilder) fail(name string, r *record, err error) {
	f := RecoverFailure{Name: name, Err: err}
	if r != nil {
		f.Bucket, f.Key = r.Bucket, r.Key
	}
	rb.rep.Failed = append(rb.rep.Failed, f)
	rb.log.Warn("meta record left out", "record", name, "bucket", f.Bucket, "key", f.Key, "err", err)
}

// enter puts one authenticated record into the catalog, unless it holds
// the same or a newer generation of the name.
func (rb *rebuilder) enter(ctx context.Context, r *record, sealed []byte) error {
	cat := rb.o.Catalog
	bs := rb.buckets[r.Bucket]
	if bs == nil {
		bs = &bucketState{}
		rb.buckets[r.Bucket] = bs
	}
	switch {
	case r.Key == "" && r.Kind == kindBucket:
		if bs.record == nil || r.Generation > bs.record.Generation {
			bs.record = r
		}
		return nil
	case r.Key == "" && r.Kind == kindTombstone:
		if bs.tombstone == nil || r.Generation > bs.tombstone.Generation {
			bs.tombstone, bs.tombSealed = r, sealed
		}
		return nil
	case r.Kind == kindTombstone && r.VersionID != "":
		// The tombstone of one version. The gateway that wrote it had
		// checked the version's lock (or its GOVERNANCE bypass).
		t := tombstoneOf(r, sealed)
		_, err := cat.DeleteVersion(ctx, t, catalog.DeleteVersionOptions{BypassGovernance: true})
		if errors.Is(err, catalog.ErrLocked) {
			rb.fail(fmt.Sprintf("%s/%s?versionId=%s", r.Bucket, r.Key, r.VersionID), r, fmt.Errorf("a tombstone of a version that another backend holds locked: %w", err))
			return nil
		}
		return rb.count(err, &rb.rep.Tombstones, r)
	case r.Kind == kindTombstone:
		_, err := cat.PutTombstone(ctx, tombstoneOf(r, sealed))
		if errors.Is(err, catalog.ErrVersioned) {
			// The key's tombstone is its null version's too.
			t := tombstoneOf(r, sealed)
			t.VersionID = NullVersion
			_, err = cat.DeleteVersion(ctx, t, catalog.DeleteVersionOptions{BypassGovernance: true})
		}
		return rb.count(err, &rb.rep.Tombstones, r)
	}
	if rb.settled && bs.tombstone != nil && r.Generation <= bs.tombstone.Generation && (bs.record == nil || bs.tombstone.Generation > bs.record.Generation) {
		rb.rep.Skipped++ // held by a bucket deleted since
		return nil
	}
	if !bs.created {
		created, owner := r.ModTime, ""
		if bs.record != nil {
			created, owner = bs.record.ModTime, bs.record.Owner
		} else {
			bs.implied = true
		}
		if err := cat.CreateBucket(ctx, catalog.Bucket{Name: r.Bucket, Created: created, Owner: owner}); err != nil && !errors.Is(err, catalog.ErrBucketExists) {
			return err
		}
		bs.created = true
	}
	if r.VersionID != "" || r.Kind == kindDeleteMarker {
		_, err := cat.PutVersion(ctx, rb.ns.versionOf(r, sealed))
		return rb.count(err, &rb.rep.Versions, r)
	}
	_, err := cat.Put(ctx, rb.ns.entryOf(r, sealed))
	if errors.Is(err, catalog.ErrVersioned) {
		// An object written before versioning, now the null version of
		// a key with versions.
		_, err = cat.PutVersion(ctx, rb.ns.versionOf(r, sealed))
	}
	return rb.count(err, &rb.rep.Objects, r)
}

// count tallies the outcome of one catalog write.
func (rb *rebuilder) count(err error, n *int, r *record) error {
	switch {
	case errors.Is(err, catalog.ErrStale):
		rb.rep.Skipped++
	case err != nil:
		return fmt.Errorf("%s/%s: %w", r.Bucket, r.Key, err)
	default:
		*n++
	}
	return nil
}

// settleBuckets decides every bucket from its newest bucket-level record: a
// bucket record (newer than any bucket tombstone) keeps or creates the
// bucket; a bucket tombstone newer than the bucket's record deletes the
// bucket, with the objects it held when it was deleted (records at or below
// the tombstone's generation), unless newer objects show it was created
// again.
func (rb *rebuilder) settleBuckets(ctx context.Context) error {
	cat := rb.o.Catalog
	for name, bs := range rb.buckets {
		deleted := bs.tombstone != nil && (bs.record == nil || bs.tombstone.Generation > bs.record.Generation)
		if !deleted {
			if bs.record == nil {
				continue // created, if at all, for its objects
			}
			if !bs.created {
				if err := cat.CreateBucket(ctx, catalog.Bucket{Name: name, Created: bs.record.ModTime, Owner: bs.record.Owner}); err != nil && !errors.Is(err, catalog.ErrBucketExists) {
					return err
				}
			}
			if v := bs.record.Versioning; v != nil {
				if err := cat.SetBucketVersioning(ctx, name, v.catalog(bs.record.Generation)); err != nil && !errors.Is(err, catalog.ErrStale) {
					return fmt.Errorf("bucket %s: versioning: %w", name, err)
				}
			}
			rb.rep.Buckets++
			continue
		}
		if !bs.created {
			if err := rb.putTombstone(ctx, bs); err != nil {
				return err
			}
			continue
		}
		// Drop what the bucket held when it was deleted; keep what was
		// written after.
		var dead []catalog.Entry
		newer := false
		err := cat.Walk(ctx, func(e catalog.Entry) error {
			if e.Bucket != name {
				return nil
			}
			if e.Generation <= bs.tombstone.Generation {
				dead = append(dead, e)
			} else {
				newer = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range dead {
			if _, err := cat.Delete(ctx, e.Bucket, e.Key, e.Generation); err != nil && !errors.Is(err, catalog.ErrNotFound) && !errors.Is(err, catalog.ErrVersioned) {
				return err
			}
			rb.rep.Objects--
			rb.rep.Skipped++
		}
		if newer {
			bs.implied = true
			continue
		}
		if err := cat.DeleteBucket(ctx, name); err != nil {
			return err
		}
		if err := rb.putTombstone(ctx, bs); err != nil {
			return err
		}
	}
	return nil
}

// putTombstone enters a deleted bucket's tombstone.
func (rb *rebuilder) putTombstone(ctx context.Context, bs *bucketState) error {
	_, err := rb.o.Catalog.PutTombstone(ctx, tombstoneOf(bs.tombstone, bs.tombSealed))
	return rb.count(err, &rb.rep.Tombstones, bs.tombstone)
}
