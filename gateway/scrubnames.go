package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// expectedNames returns the backend name scrub expects the catalog's
// record rec of bucket/key/versionID, of generation gen, under: its stored
// name (storedName), with the record. When rec does not open, the name is
// the key's base name, the record nil and err says why; known then lists
// both names a record of generation gen can have (the legacy base name and
// the name of its generation), which scrub counts as accounted for so that
// the copies a repair of the catalog entry needs are not judged on their
// own. Otherwise known holds the stored name alone.
func (ns *Namespace) expectedNames(bucket, key, versionID string, gen uint64, rec []byte) (name string, r *record, known []string, err error) {
	name, r, err = ns.recordNameOf(bucket, key, versionID, rec)
	if err == nil {
		return name, r, []string{name}, nil
	}
	base, _ := ns.names.version(bucket, key, versionID)
	known = []string{base}
	if gen > 0 {
		known = append(known, genName(base, gen))
	}
	return base, nil, known, err
}

// catalogHeld is what the catalog holds of the name of a record found on a
// backend: the newest generation of its record or tombstone, and the
// stored names of those the catalog holds.
type catalogHeld struct {
	found bool
	// gen is the newest generation among the catalog's records of the
	// key that authenticate; unverified is set when one does not (a
	// damaged entry, or a tombstone sealed under a retired key), whose
	// generation is not taken on trust.
	gen        uint64
	unverified bool
	names      []string
}

// named reports whether the catalog names name.
func (h catalogHeld) named(name string) bool {
	for _, n := range h.names {
		if n == name {
			return true
		}
	}
	return false
}

// heldFor looks up what the catalog holds of the key or version that r, a
// record of a key, belongs to: the version (for the null version or a
// record without a version id, also the key's entry) and its tombstone.
func (ns *Namespace) heldFor(ctx context.Context, r *record) (catalogHeld, error) {
	var h catalogHeld
	vid := r.VersionID
	if vid == "" {
		vid = NullVersion
	}
	add := func(lookupVID string, rec []byte) {
		h.found = true
		name, cr, err := ns.recordNameOf(r.Bucket, r.Key, lookupVID, rec)
		if err != nil {
			h.unverified = true
			return
		}
		h.gen = max(h.gen, cr.Generation)
		h.names = append(h.names, name)
	}
	v, err := ns.cat.GetVersion(ctx, r.Bucket, r.Key, vid)
	switch {
	case err == nil:
		add(vid, v.Record)
	case !errors.Is(err, catalog.ErrNotFound) && !errors.Is(err, catalog.ErrNoSuchBucket):
		return h, err
	}
	t, err := ns.cat.GetVersionTombstone(ctx, r.Bucket, r.Key, vid)
	switch {
	case err == nil:
		add(vid, t.Record)
	case !errors.Is(err, catalog.ErrNotFound) && !errors.Is(err, catalog.ErrNoSuchBucket):
		return h, err
	}
	return h, nil
}

// classifyListed judges r, an authenticated record of a key found on a
// backend under name, which the catalog does not name, against what the
// catalog holds of its key or version: ProblemSuperseded when the catalog's
// record or tombstone is newer, or of the same generation under another
// name (a legacy record whose key has a record named by generation);
// ProblemAhead when r is newer; ProblemUncataloged when the catalog holds
// nothing of it. ok is false when the catalog names name after all (a
// write that landed meanwhile): nothing is wrong.
func (ns *Namespace) classifyListed(ctx context.Context, name string, r *record) (kind ProblemKind, detail error, ok bool, err error) {
	h, err := ns.heldFor(ctx, r)
	if err != nil {
		return "", nil, false, err
	}
	switch {
	case !h.found:
		return ProblemUncataloged, fmt.Errorf("%s record of generation %d", r.Kind, r.Generation), true, nil
	case h.named(name):
		return "", nil, false, nil
	case r.Generation > h.gen && h.unverified:
		// A catalog record of the key does not open: scrub reports
		// that, and repair takes a copy for it. Against a generation
		// the catalog cannot vouch for, r is neither judged older (and
		// deleted) nor newer (and adopted).
		return "", nil, false, nil
	case r.Generation > h.gen:
		return ProblemAhead, fmt.Errorf("%s record of generation %d, catalog has %d", r.Kind, r.Generation, h.gen), true, nil
	}
	return ProblemSuperseded, fmt.Errorf("%s record of generation %d, catalog has %d", r.Kind, r.Generation, h.gen), true, nil
}

// hexHash returns the lowercase hex of a name hash.
func hexHash(h [32]byte) string { return hex.EncodeToString(h[:]) }

// dropSuperseded deletes from dst the copy p names of a record that the
// catalog's record or tombstone replaced, after judging it again under its
// key's lock: a copy that is gone, no longer opens, or is no longer
// superseded (the catalog changed meanwhile) stays for the next round to
// judge. It reports whether it deleted.
func (ns *Namespace) dropSuperseded(ctx context.Context, dst backends.Backend, p Problem) (bool, error) {
	if dst == nil {
		return false, fmt.Errorf("unknown backend %q", p.Backend)
	}
	unlock, lerr := ns.lock(ctx, p.Bucket, p.Key)
	if lerr != nil {
		return false, lerr
	}
	defer unlock()
	sealed, err := readAll(ctx, dst, p.Name)
	if errors.Is(err, backends.ErrNotFound) {
		return false, nil // deleted meanwhile
	}
	if err != nil {
		return false, err
	}
	r, err := ns.openStoredRecord(p.Name, sealed)
	if err != nil {
		return false, fmt.Errorf("the copy no longer opens; left as is: %w", err)
	}
	kind, _, wrong, err := ns.classifyListed(ctx, p.Name, r)
	if err != nil {
		return false, err
	}
	if !wrong || kind != ProblemSuperseded {
		return false, nil
	}
	if err := dst.Delete(ctx, p.Name); err != nil && !errors.Is(err, backends.ErrNotFound) {
		return false, err
	}
	ns.log.Info("repair: deleted a superseded record", "backend", dst.Name(), "name", p.Name, "bucket", r.Bucket, "key", r.Key, "version", r.VersionID, "generation", r.Generation)
	return true, nil
}

// newerRecord returns the name of a record of the key or version whose
// records are named after base, above generation gen, that a member
// holds and that authenticates; "" if none does. Repair asks before it
// seals the catalog's record anew: a newer record is a write the catalog
// missed, which is taken over (adoptNewer) rather than buried under a
// generation above it.
func (ns *Namespace) newerRecord(ctx context.Context, members []backends.Backend, base string, r *record) string {
	vid := func(v string) string {
		if v == NullVersion {
			return ""
		}
		return v
	}
	for _, m := range members {
		found := ""
		_ = listAll(ctx, m, base, func(it backends.Info) error {
			mn, ok := parseMetaName(it.Name)
			if !ok || mn.gen <= r.Generation || metaPrefix+hexHash(mn.hash) != base {
				return nil
			}
			sealed, err := readAll(ctx, m, it.Name)
			if err != nil {
				return nil
			}
			o, err := ns.openStoredRecord(it.Name, sealed)
			if err != nil || o.Bucket != r.Bucket || o.Key != r.Key || vid(o.VersionID) != vid(r.VersionID) {
				return nil
			}
			found = it.Name
			return errFound
		})
		if found != "" {
			return found
		}
	}
	return ""
}

// errFound ends a listing that found what it looked for.
var errFound = errors.New("found")
