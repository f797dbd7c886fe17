package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// catalogNames returns the backend names the record rec, which the
// catalog holds of bucket/key/versionID (entry, version or tombstone) with
// generation gen, can have. When rec opens, name is its stored name
// (storedName), r the record and known that name alone. When it does not
// (damaged, or a tombstone sealed under a key-encryption key retired
// since), name is the base name of the key or version, r nil, err says
// why, and known lists every name a record of generation gen can have: the
// base name (a bucket's record, or one written before records were named
// by generation) and, for a key's record, the name of generation gen. Scrub
// counts the names in known as accounted for (the copies a repair of the
// catalog record needs are not judged on their own), gc keeps them and
// rebuild reads name.
func (ns *Namespace) catalogNames(bucket, key, versionID string, gen uint64, rec []byte) (name string, r *record, known []string, err error) {
	name, r, err = ns.recordNameOf(bucket, key, versionID, rec)
	if err == nil {
		return name, r, []string{name}, nil
	}
	base, _ := ns.names.version(bucket, key, versionID)
	known = []string{base}
	if key != "" && gen > 0 {
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
// catalog's record or tombstone replaced (deleteSuperseded). It reports
// whether it deleted.
func (ns *Namespace) dropSuperseded(ctx context.Context, dst backends.Backend, p Problem) (bool, error) {
	if dst == nil {
		return false, fmt.Errorf("unknown backend %q", p.Backend)
	}
	return ns.deleteSuperseded(ctx, dst, p.Name, p.Bucket, p.Key)
}

// deleteSuperseded deletes name, a record of bucket/key that scrub or gc
// judged superseded, from b after judging it again under the key's lock:
// a copy that is gone, no longer opens, or is no longer superseded (the
// catalog changed meanwhile) stays for the next round to judge. Repair
// and gc delete through it. It reports whether it deleted.
func (ns *Namespace) deleteSuperseded(ctx context.Context, b backends.Backend, name, bucket, key string) (bool, error) {
	unlock, lerr := ns.lock(ctx, bucket, key)
	if lerr != nil {
		return false, lerr
	}
	defer unlock()
	sealed, err := readAll(ctx, b, name)
	if errors.Is(err, backends.ErrNotFound) {
		return false, nil // deleted meanwhile
	}
	if err != nil {
		return false, err
	}
	r, err := ns.openStoredRecord(name, sealed)
	if err != nil {
		return false, fmt.Errorf("the copy no longer opens; left as is: %w", err)
	}
	if r.Bucket != bucket || r.Key != key {
		return false, fmt.Errorf("the copy is a record of %s/%s, not of %s/%s; left as is", r.Bucket, r.Key, bucket, key)
	}
	if old, err := ns.superseded(ctx, name, r); err != nil || !old {
		return false, err
	}
	if err := b.Delete(ctx, name); err != nil && !errors.Is(err, backends.ErrNotFound) {
		return false, err
	}
	ns.log.Info("deleted a superseded record", "backend", b.Name(), "name", name, "bucket", r.Bucket, "key", r.Key, "version", r.VersionID, "generation", r.Generation)
	return true, nil
}

// storedRecord is a record read from a backend, with its name and sealed
// bytes.
type storedRecord struct {
	name   string
	sealed []byte
	r      *record
}

// recordsUnder calls fn for every record that b holds of the key or
// version whose records are named after base (its base name: a record
// written before records were named by generation) and after the names of
// its generations, and that authenticates; names of other keys that merely
// begin with base, copies that cannot be read and records that do not open
// are passed over. It returns the listing's error or fn's.
func (ns *Namespace) recordsUnder(ctx context.Context, b backends.Backend, base string, fn func(storedRecord) error) error {
	return listAll(ctx, b, base, func(it backends.Info) error {
		if mn, ok := parseMetaName(it.Name); !ok || metaPrefix+hexHash(mn.hash) != base {
			return nil
		}
		sealed, err := readAll(ctx, b, it.Name)
		if err != nil {
			return nil
		}
		r, err := ns.openStoredRecord(it.Name, sealed)
		if err != nil {
			return nil
		}
		return fn(storedRecord{name: it.Name, sealed: sealed, r: r})
	})
}

// newestUnder returns the newest record, among those that members hold of
// the key or version whose records are named after base (recordsUnder),
// that keep accepts (every one when keep is nil); found is false if there
// is none. err joins the failures to list a member: the newest is then of
// those the others hold.
func (ns *Namespace) newestUnder(ctx context.Context, members []backends.Backend, base string, keep func(*record) bool) (best storedRecord, found bool, err error) {
	var errs []error
	for _, m := range members {
		err := ns.recordsUnder(ctx, m, base, func(s storedRecord) error {
			if (keep == nil || keep(s.r)) && (!found || s.r.Generation > best.r.Generation) {
				best, found = s, true
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("list the records of %s on %s: %w", base, m.Name(), err))
		}
	}
	return best, found, errors.Join(errs...)
}

// newerRecord returns the name of the newest record of the key or version
// whose records are named after base, above the generation of r, that a
// member holds and that authenticates; "" if none does. Repair asks before
// it seals the catalog's record anew: a newer record is a write the
// catalog missed, which is taken over (adoptNewer) rather than buried
// under a generation above it.
func (ns *Namespace) newerRecord(ctx context.Context, members []backends.Backend, base string, r *record) string {
	vid := func(v string) string {
		if v == NullVersion {
			return ""
		}
		return v
	}
	newer, found, _ := ns.newestUnder(ctx, members, base, func(o *record) bool {
		return o.Generation > r.Generation && o.Bucket == r.Bucket && o.Key == r.Key && vid(o.VersionID) == vid(r.VersionID)
	})
	if !found {
		return ""
	}
	return newer.name
}
