package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/seal"
)

// RewrapReport counts what Rewrap did.
type RewrapReport struct {
	KEK              uint32 // the key-encryption key everything is now under
	Objects          int    // objects examined
	ObjectsRewrapped int    // objects whose meta record was rewritten
	Buckets          int    // bucket records examined
	BucketsRewrapped int    // bucket records resealed
	Failed           int    // objects or buckets that failed; run again
}

// rewrapErrors is how many of the objects that failed Rewrap names in its
// error; RewrapReport.Failed counts them all.
const rewrapErrors = 20

// Rewrap puts every object's data keys under the current key-encryption
// key, after a key rotation, without re-uploading data: the part headers
// kept in each meta record get their key slot rewrapped (the blobs keep
// theirs, which the format does not authenticate), and the record itself is
// resealed under the current key with a new generation, written to the
// store and then to the catalog, under the object's lock. Bucket records
// are resealed likewise. Records already entirely under the current key
// are skipped, so an interrupted Rewrap continues where it stopped when run
// again. Multipart uploads in progress keep their keys until they complete.
func (ns *Namespace) Rewrap(ctx context.Context) (*RewrapReport, error) {
	return ns.RewrapWith(ctx, RewrapOptions{})
}

// RewrapOptions configure RewrapWith.
type RewrapOptions struct {
	// Progress, when set, is called after every object examined, with
	// the number examined and the number to examine (never
	// concurrently).
	Progress func(done, total int)
	// Resume, when set, continues an interrupted rewrap: the keys up to
	// Resume.After are not examined again, and the report adds Resume's
	// counts. Bucket records are always examined.
	Resume *RewrapResume
	// Checkpoint, when set, is called (never concurrently) after the
	// records of each key are rewrapped; passed as Resume to a later
	// rewrap, its argument continues from there.
	Checkpoint func(RewrapResume)
}

// RewrapResume is how far an interrupted rewrap came (see
// RewrapOptions.Resume).
type RewrapResume struct {
	After            WalkPosition `json:"after"`
	Objects          int          `json:"objects"`
	ObjectsRewrapped int          `json:"objectsRewrapped"`
	Failed           int          `json:"failed"`
}

// RewrapWith is Rewrap with progress reports and checkpoints.
func (ns *Namespace) RewrapWith(ctx context.Context, o RewrapOptions) (*RewrapReport, error) {
	cur, _ := ns.keys.CurrentKEK()
	rep := &RewrapReport{KEK: cur}
	var ck RewrapResume
	if r := o.Resume; r != nil {
		if !r.After.Valid() {
			return nil, fmt.Errorf("rewrap: resume position %q is not a walk phase", r.After.Phase)
		}
		ck = *r
		rep.Objects, rep.ObjectsRewrapped, rep.Failed = r.Objects, r.ObjectsRewrapped, r.Failed
	}
	skip := func(pos WalkPosition) bool { return o.Resume != nil && o.Resume.After.done(pos) }
	// Each key's records are counted into ck once the walk has moved
	// past the key.
	var at WalkPosition
	var tally RewrapResume
	step := func(pos WalkPosition) {
		if !at.IsStart() && !at.sameKey(pos) {
			ck.After = at
			ck.Objects += tally.Objects
			ck.ObjectsRewrapped += tally.ObjectsRewrapped
			ck.Failed += tally.Failed
			tally = RewrapResume{}
			if o.Checkpoint != nil {
				o.Checkpoint(ck)
			}
		}
		at = pos
	}
	total, done := 0, 0
	if o.Progress != nil {
		if err := ns.cat.Walk(ctx, func(e catalog.Entry) error {
			if e.VersionID == "" && !skip(WalkPosition{Phase: PhaseObjects, Bucket: e.Bucket, Key: e.Key}) {
				total++
			}
			return nil
		}); err != nil {
			return rep, fmt.Errorf("rewrap: %w", err)
		}
		if err := ns.cat.WalkVersions(ctx, func(v catalog.Version) error {
			if !skip(WalkPosition{Phase: PhaseVersions, Bucket: v.Bucket, Key: v.Key}) {
				total++
			}
			return nil
		}); err != nil {
			return rep, fmt.Errorf("rewrap: %w", err)
		}
	}
	examined := func() {
		done++
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}
	var errs []error
	buckets, err := ns.cat.ListBuckets(ctx)
	if err != nil {
		return rep, fmt.Errorf("rewrap: %w", err)
	}
	for _, b := range buckets {
		rep.Buckets++
		done, err := ns.rewrapBucket(ctx, b, cur)
		if err != nil {
			rep.Failed++
			errs = append(errs, fmt.Errorf("bucket %s: %w", b.Name, err))
		} else if done {
			rep.BucketsRewrapped++
		}
	}
	// Each record is rewrapped as the walk meets it (the walks allow fn
	// to modify the catalog), so that memory does not grow with the
	// number of objects; only the first rewrapErrors errors are kept.
	rewrap := func(bucket, key, versionID string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		var done bool
		var err error
		if versionID != "" {
			done, err = ns.rewrapVersion(ctx, bucket, key, versionID, cur)
		} else {
			done, err = ns.rewrapObject(ctx, bucket, key, cur)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err() // not counted: the key is not done
			}
			rep.Failed++
			tally.Failed++
			if len(errs) < rewrapErrors {
				errs = append(errs, fmt.Errorf("%s/%s (version %q): %w", bucket, key, versionID, err))
			}
		} else if done {
			rep.ObjectsRewrapped++
			tally.ObjectsRewrapped++
		}
		return nil
	}
	err = ns.cat.Walk(ctx, func(e catalog.Entry) error {
		if e.VersionID != "" {
			return nil // rewrapped with the key's other versions
		}
		pos := WalkPosition{Phase: PhaseObjects, Bucket: e.Bucket, Key: e.Key}
		if skip(pos) {
			return nil
		}
		step(pos)
		examined()
		rep.Objects++
		tally.Objects++
		_, id := ns.names.meta(e.Bucket, e.Key)
		r, err := ns.openRecord(e.Record, id)
		if err != nil || !underKEK(e.Record, r, cur) {
			return rewrap(e.Bucket, e.Key, "")
		}
		return nil
	})
	if err == nil {
		err = ns.cat.WalkVersions(ctx, func(v catalog.Version) error {
			pos := WalkPosition{Phase: PhaseVersions, Bucket: v.Bucket, Key: v.Key}
			if skip(pos) {
				return nil
			}
			step(pos)
			examined()
			rep.Objects++
			tally.Objects++
			r, err := ns.openVersion(&v)
			if err != nil || !underKEK(v.Record, r, cur) {
				return rewrap(v.Bucket, v.Key, v.VersionID)
			}
			return nil
		})
	}
	if err == nil {
		step(WalkPosition{Phase: PhaseEnd})
	}
	if err != nil {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		return rep, fmt.Errorf("rewrap: %w", errors.Join(append(errs, err)...))
	}
	if len(errs) > 0 {
		return rep, fmt.Errorf("rewrap: %w", errors.Join(errs...))
	}
	return rep, nil
}

// underKEK reports whether a record as the catalog holds it, rec (r
// opened), and every part header in it are wrapped under the KEK cur. Of
// a record in the catalog form, the KEK of the providers' sealed form is
// in its fields.
func underKEK(rec []byte, r *record, cur uint32) bool {
	if r.catalogForm {
		if r.sealKEK != cur {
			return false
		}
	} else if h, err := seal.ParseHeader(rec); err != nil || h.KeyID != cur {
		return false
	}
	for _, p := range r.Parts {
		if p.unloaded() {
			if p.headerKEK != cur {
				return false
			}
			continue
		}
		if h, err := seal.ParseHeader(p.Header); err != nil || h.KeyID != cur {
			return false
		}
	}
	return true
}

// rewrapParts puts the part headers of r under the KEK cur.
func (ns *Namespace) rewrapParts(r *record, cur uint32) error {
	for i := range r.Parts {
		h, err := seal.ParseHeader(r.Parts[i].Header)
		if err != nil {
			return err
		}
		if h.KeyID == cur {
			continue
		}
		nh, err := h.Rewrap(ns.keys, cur)
		if err != nil {
			return fmt.Errorf("part %s: %w", r.Parts[i].Blob, err)
		}
		r.Parts[i].Header = nh.Marshal()
	}
	return nil
}

// rewrapVersion rewraps one version of a key (an object or a delete
// marker) as a new record of the same version; it reports whether it
// wrote.
func (ns *Namespace) rewrapVersion(ctx context.Context, bucket, key, versionID string, cur uint32) (bool, error) {
	unlock, lerr := ns.lock(ctx, bucket, key)
	if lerr != nil {
		return false, lerr
	}
	defer unlock()
	v, err := ns.cat.GetVersion(ctx, bucket, key, versionID)
	if errors.Is(err, catalog.ErrNotFound) || errors.Is(err, catalog.ErrNoSuchBucket) {
		return false, nil // deleted meanwhile
	}
	if err != nil {
		return false, err
	}
	r, err := ns.openVersion(&v)
	if err != nil {
		return false, err
	}
	if underKEK(v.Record, r, cur) {
		return false, nil
	}
	if err := ns.loadInline(ctx, r); err != nil {
		return false, err
	}
	if err := ns.rewrapParts(r, cur); err != nil {
		return false, err
	}
	if _, err := ns.rewriteVersion(ctx, &v, r); err != nil {
		if errors.Is(err, ErrPrecondition) {
			return false, nil // rewritten meanwhile, under the current key
		}
		return false, err
	}
	return true, nil
}

// rewrapObject rewraps one object; it reports whether it wrote.
func (ns *Namespace) rewrapObject(ctx context.Context, bucket, key string, cur uint32) (bool, error) {
	unlock, lerr := ns.lock(ctx, bucket, key)
	if lerr != nil {
		return false, lerr
	}
	defer unlock()
	e, err := ns.cat.Get(ctx, bucket, key)
	if errors.Is(err, catalog.ErrNotFound) || errors.Is(err, catalog.ErrNoSuchBucket) {
		return false, nil // deleted meanwhile
	}
	if err != nil {
		return false, err
	}
	base, id := ns.names.meta(bucket, key)
	r, err := ns.openRecord(e.Record, id)
	if err != nil {
		return false, err
	}
	if err := checkRecord(r, kindObject, bucket, key); err != nil {
		return false, err
	}
	if underKEK(e.Record, r, cur) {
		return false, nil
	}
	if err := ns.loadInline(ctx, r); err != nil {
		return false, err
	}
	if err := ns.rewrapParts(r, cur); err != nil {
		return false, err
	}
	oldName := storedName(base, r)
	r.Generation = ns.nextGeneration(e.Generation)
	sealed, err := ns.sealRecord(r, id)
	if err != nil {
		return false, err
	}
	name := storedName(base, r)
	if err := ns.putBytes(ctx, name, sealed); err != nil {
		return false, fmt.Errorf("write meta record: %w", err)
	}
	replaced, err := ns.cat.Put(context.WithoutCancel(ctx), ns.entryOf(r, sealed))
	if err != nil {
		ns.dropUncommitted(ctx, recordKey{bucket, key, ""}, name, err)
		if errors.Is(err, catalog.ErrStale) {
			return false, nil // another gateway wrote it meanwhile, under the current key
		}
		return false, err
	}
	ns.dropRecord(ctx, ns.replacedName(replaced, oldName), name)
	return true, nil
}

// rewrapBucket reseals a bucket record that is not under the KEK cur.
func (ns *Namespace) rewrapBucket(ctx context.Context, b catalog.Bucket, cur uint32) (bool, error) {
	unlock, lerr := ns.lock(ctx, b.Name, "")
	if lerr != nil {
		return false, lerr
	}
	defer unlock()
	metaName, id := ns.names.meta(b.Name, "")
	sealed, err := readAll(ctx, ns.store, metaName)
	var r *record
	switch {
	case errors.Is(err, backends.ErrNotFound):
		r = &record{Kind: kindBucket, Bucket: b.Name, ModTime: b.Created, Owner: b.Owner}
	case err != nil:
		return false, err
	default:
		if h, herr := seal.ParseHeader(sealed); herr == nil && h.KeyID == cur {
			return false, nil
		}
		if r, err = ns.openStoredRecord(metaName, sealed); err != nil {
			return false, err
		}
		if err := checkRecord(r, kindBucket, b.Name, ""); err != nil {
			return false, err
		}
	}
	r.Generation = ns.nextGeneration(r.Generation)
	out, err := ns.sealRecord(r, id)
	if err != nil {
		return false, err
	}
	if err := ns.putBytes(ctx, metaName, out); err != nil {
		return false, err
	}
	return true, nil
}
