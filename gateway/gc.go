package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/internal/spill"
)

// ErrUnsafeGC means garbage collection refused to run because it could not
// establish which blobs are in use.
var ErrUnsafeGC = errors.New("gc: cannot tell which blobs are in use")

// GCOptions configure GC.
type GCOptions struct {
	// Members are the backends to collect; normally the members of the
	// replicated set.
	Members []backends.Backend
	// Grace protects blobs younger than this (by backend modification
	// time), so that writes in progress keep their blobs. Zero collects
	// every unreferenced blob: use it only while no gateway writes.
	Grace time.Duration
	// DryRun counts what would be deleted and deletes nothing.
	DryRun bool
	// Now is the current time; nil means time.Now.
	Now func() time.Time
	// Progress, when set, is called as GC goes (never concurrently).
	Progress func(GCProgress)
}

// GCProgress reports how far GC has come: the phase it is in and how many
// names it went through in that phase, of about how many.
type GCProgress struct {
	// Phase is "catalog" (entries and versions walked), "meta records"
	// (names listed on the backends, in turn) or "blobs" (likewise).
	Phase string
	Items int
	// Total is the number of items the phase is expected to go through
	// (0: unknown). In "catalog" it is the catalog's count of entries
	// and versions (catalog.Counter) when the walk starts; in "meta
	// records" the meta records the catalog accounts for, times the
	// backends; in "blobs" the blobs in use (GCReport.Referenced), times
	// the backends. The last two are estimates: a backend holds more
	// (records the catalog lacks, unreferenced blobs) or fewer (what it
	// lost), so Items may end above or below Total.
	Total int
}

// GCBackend counts what GC saw and did on one backend.
type GCBackend struct {
	Name         string
	Blobs        int   // blobs listed
	Unreferenced int   // blobs no meta record or upload references
	Young        int   // unreferenced blobs kept for the grace period
	Deleted      int   // unreferenced blobs deleted (or, with DryRun, to delete)
	DeletedBytes int64 // their size
	Foreign      int   // names under b/ that are not blob names; left alone
	Failed       int   // deletions that failed; left for the next run
	// Temp counts the temporary files of interrupted writes removed
	// (older than the grace period; see backends.TempSweeper), or with
	// DryRun 0: they are not counted.
	Temp int
}

// GCReport is the result of GC.
type GCReport struct {
	// Referenced is the number of distinct blobs in use: by catalog
	// entries, multipart uploads in progress, and meta records on the
	// backends that the catalog does not list.
	Referenced int
	// Uncataloged counts meta records on the backends that the catalog
	// does not list and that are not superseded (of a key or version it
	// lacks, or newer than its record: ahead); their blobs are kept (see
	// Repair).
	Uncataloged int
	// Superseded counts meta records on the backends that are older than
	// the record or tombstone the catalog holds of the same key or
	// version (a deletion of a replaced record that failed), deleted
	// (with DryRun: to delete) since they were older than the grace
	// period. Their blobs are not kept for them: only the catalog's
	// records keep theirs. SupersededYoung counts those kept, with their
	// blobs, for the grace period; SupersededFailed those whose deletion
	// failed (kept with their blobs, left for the next run), summed over
	// the backends.
	Superseded, SupersededYoung, SupersededFailed int
	// Foreign counts files under the meta-record prefix that are not
	// records of this gateway; they reference no blob.
	Foreign  int
	Backends []GCBackend
}

// GC deletes blobs that nothing references. The referenced set is built
// first, from every catalog entry, every version (current or not, retained
// or not: a version's blobs go only with the version), every part of every multipart upload in
// progress, and every meta record on any backend that the catalog does not
// list (so that Repair can still adopt it); then each backend's blobs are
// listed and those outside the set, older than the grace period, deleted.
// The catalog's records are known by their exact names (a record of a key
// goes under a name of its own generation): a record on a backend that the
// catalog does not name but that is older than the catalog's record or
// tombstone of the same key or version is superseded (its deletion after a
// write failed); it is deleted once older than the grace period, and its
// blobs are kept only if the catalog's records reference them.
// A catalog record that does not authenticate stops GC with ErrUnsafeGC:
// without it, GC cannot know which blobs the object uses.
//
// The two sets are kept in memory up to a bounded buffer and beyond it in
// sorted runs in the temporary directory ($TMPDIR), and each backend's
// listing is merge-joined with them: GC's memory does not grow with the
// number of objects or blobs. A backend that lists out of byte order
// stops GC for that backend.
func (ns *Namespace) GC(ctx context.Context, o GCOptions) (*GCReport, error) {
	if len(o.Members) == 0 {
		return nil, errors.New("gc: no backends")
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	// The blobs in use and the meta records the catalog accounts for,
	// held in bounded memory (see sets.go).
	refs, known := newBlobSet(), newMetaSet()
	defer refs.Close()
	defer known.Close()
	rep := &GCReport{}
	// begin starts a phase, its total given by total (called only when
	// progress is reported: it costs a count); step counts an item.
	var prog GCProgress
	begin := func(phase string, total func() (int, error)) error {
		if o.Progress == nil {
			return nil
		}
		n, err := total()
		prog = GCProgress{Phase: phase, Total: n}
		return err
	}
	step := func() {
		if o.Progress != nil {
			prog.Items++
			o.Progress(prog)
		}
	}

	buckets, err := ns.cat.ListBuckets(ctx)
	if err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	for _, b := range buckets {
		name, _ := ns.names.meta(b.Name, "")
		if err := addMeta(known, name); err != nil {
			return nil, fmt.Errorf("gc: %w", err)
		}
	}
	epoch, _ := ns.names.epoch()
	if err := addMeta(known, epoch); err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	knowTombstone := func(t catalog.Tombstone) error {
		_, _, names, _ := ns.catalogNames(t.Bucket, t.Key, t.VersionID, t.Generation, t.Record)
		for _, name := range names {
			if err := addMeta(known, name); err != nil {
				return err
			}
		}
		return nil
	}
	err = ns.cat.WalkTombstones(ctx, knowTombstone)
	if err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	err = begin("catalog", func() (int, error) {
		n, err := ns.cat.Count(ctx)
		return n.Entries + n.Versions, err
	})
	if err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	err = ns.cat.Walk(ctx, func(e catalog.Entry) error {
		step()
		name, r, err := ns.recordNameOf(e.Bucket, e.Key, e.VersionID, e.Record)
		if err != nil {
			return fmt.Errorf("%w: catalog record of %s/%s: %w", ErrUnsafeGC, e.Bucket, e.Key, err)
		}
		if err := addMeta(known, name); err != nil {
			return err
		}
		return addBlobsOf(refs, r)
	})
	if err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	// Every version of every key, current or not, keeps its blobs.
	err = ns.cat.WalkVersions(ctx, func(v catalog.Version) error {
		step()
		r, err := ns.openVersion(&v)
		if err != nil {
			return fmt.Errorf("%w: catalog record of %s/%s?versionId=%s: %w", ErrUnsafeGC, v.Bucket, v.Key, v.VersionID, err)
		}
		base, _ := ns.names.version(v.Bucket, v.Key, v.VersionID)
		if err := addMeta(known, storedName(base, r)); err != nil {
			return err
		}
		return addBlobsOf(refs, r)
	})
	if err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	err = ns.cat.WalkVersionTombstones(ctx, knowTombstone)
	if err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	if err := ns.uploadRefs(ctx, buckets, refs); err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	err = begin("meta records", func() (int, error) {
		n, err := countSet(known)
		return n * len(o.Members), err
	})
	if err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	cutoff := now().Add(-o.Grace)
	var errs []error
	for _, m := range o.Members {
		err := listJoin(ctx, m, metaPrefix, known, metaKey, func(it backends.Info, held bool) error {
			step()
			if held {
				return nil
			}
			if _, ok := metaHashOf(it.Name); !ok {
				rep.Foreign++ // not a name the gateway writes: never deleted
				return nil
			}
			sealed, err := readAll(ctx, m, it.Name)
			if errors.Is(err, ErrCorruptRecord) {
				rep.Foreign++ // too large to be a record
				return nil
			}
			if errors.Is(err, backends.ErrNotFound) {
				return nil // deleted since it was listed
			}
			if err != nil {
				return fmt.Errorf("%w: read uncataloged meta record %s: %w", ErrUnsafeGC, it.Name, err)
			}
			r, err := ns.openStoredRecord(it.Name, sealed)
			if err != nil {
				rep.Foreign++ // not a record of this gateway: it references nothing
				return nil
			}
			old, err := ns.superseded(ctx, it.Name, r)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrUnsafeGC, err)
			}
			switch {
			case !old:
				rep.Uncataloged++
			case o.Grace > 0 && !it.ModTime.Before(cutoff):
				// Kept for now, with what it references.
				rep.SupersededYoung++
			case o.DryRun:
				rep.Superseded++
				return nil
			default:
				deleted, err := ns.deleteSuperseded(ctx, m, it.Name, r.Bucket, r.Key)
				if err != nil {
					rep.SupersededFailed++
					if rep.SupersededFailed <= maxDeleteErrors {
						errs = append(errs, fmt.Errorf("gc: delete superseded meta record %s on %s: %w", it.Name, m.Name(), err))
					}
					break // still there: its blobs stay
				}
				if !deleted {
					break // judged again, kept (or gone): its blobs stay this round
				}
				rep.Superseded++
				return nil
			}
			return addBlobsOf(refs, r)
		})
		if err != nil {
			return nil, fmt.Errorf("gc: list meta records on %s: %w", m.Name(), err)
		}
	}
	if n := rep.SupersededFailed - maxDeleteErrors; n > 0 {
		errs = append(errs, fmt.Errorf("gc: %d more superseded meta records could not be deleted", n))
	}
	if rep.Referenced, err = countSet(refs); err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}

	_ = begin("blobs", func() (int, error) { return rep.Referenced * len(o.Members), nil }) // cannot fail
	for _, m := range o.Members {
		gb := GCBackend{Name: m.Name()}
		err := listJoin(ctx, m, blobPrefix, refs, blobKey, func(it backends.Info, held bool) error {
			step()
			gb.Blobs++
			if _, err := parseBlobID(it.Name[len(blobPrefix):]); err != nil {
				gb.Foreign++
				return nil
			}
			if held {
				return nil
			}
			gb.Unreferenced++
			if o.Grace > 0 && !it.ModTime.Before(cutoff) {
				gb.Young++
				return nil
			}
			if !o.DryRun {
				if err := m.Delete(ctx, it.Name); err != nil {
					gb.Failed++
					errs = append(errs, err)
					return nil
				}
			}
			gb.Deleted++
			gb.DeletedBytes += it.Size
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("gc: list blobs on %s: %w", m.Name(), err))
		}
		if ts, ok := m.(backends.TempSweeper); ok && !o.DryRun {
			n, err := ts.SweepTemp(ctx, cutoff)
			gb.Temp = n
			if err != nil {
				errs = append(errs, fmt.Errorf("gc: temporary files on %s: %w", m.Name(), err))
			}
		}
		rep.Backends = append(rep.Backends, gb)
	}
	return rep, errors.Join(errs...)
}

// uploadRefs adds the blobs of every multipart upload in progress to refs.
func (ns *Namespace) uploadRefs(ctx context.Context, buckets []catalog.Bucket, refs *spill.Set) error {
	for _, b := range buckets {
		keyMarker, idMarker := "", ""
		for {
			us, more, err := ns.cat.ListUploads(ctx, b.Name, "", keyMarker, idMarker, 1000)
			if err != nil {
				return err
			}
			for _, u := range us {
				keyMarker, idMarker = u.Key, u.ID
				parts, err := ns.allParts(ctx, u.ID)
				if errors.Is(err, ErrNoSuchUpload) {
					continue // completed or aborted meanwhile
				}
				if err != nil {
					return err
				}
				for _, p := range parts {
					var pr partRecord
					if err := json.Unmarshal(p.Record, &pr); err != nil {
						return fmt.Errorf("%w: part %d of upload %s: %w", ErrUnsafeGC, p.Number, u.ID, err)
					}
					if err := addBlob(refs, pr.Blob); err != nil {
						return err
					}
				}
			}
			if !more || len(us) == 0 {
				break
			}
		}
	}
	return nil
}

// maxDeleteErrors is how many failed deletions of superseded records GC
// reports one by one; the others are counted (a provider that refuses
// every delete would otherwise give one error per object).
const maxDeleteErrors = 10
