package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/seal"
)

// The catalog form of an inline object's record does not keep the
// object's blob (docs/FORMAT.md, "Catalog records"): the providers'
// sealed record holds it, and the Namespace's inline cache holds the
// sealed records of the inline objects it wrote or read recently. A
// reader of the blob loads it (loadInline) from the cache or, on a miss,
// from a provider; a writer that is about to overwrite such a record on
// the providers holds it first (holdInline), so that it can put the
// record back should the catalog refuse the write.

// errInlineNotLoaded means a record whose inline blob was not loaded was
// about to be sealed: sealing it would drop the object's bytes.
var errInlineNotLoaded = errors.New("the blob of an inline object was not loaded")

// memberSource is implemented by a store made of members (a
// *replica.Set): a reader whose copy does not match the catalog asks each
// member in turn.
type memberSource interface {
	Members(ctx context.Context) []backends.Backend
}

// loadInline gives every inline part of r that its catalog form left to
// the providers its header and data, from the sealed record the catalog
// entry names: out of the inline cache, else read from the store (and,
// when that copy is not the one the catalog names, from each provider in
// turn). A record with nothing to load costs nothing.
func (ns *Namespace) loadInline(ctx context.Context, r *record) error {
	if !r.unloaded() {
		return nil
	}
	name, id := ns.names.version(r.Bucket, r.Key, r.VersionID)
	sealed, err := ns.inlineSealed(ctx, name, r.catDigest)
	if err != nil {
		return fmt.Errorf("%s/%s: %w", r.Bucket, r.Key, err)
	}
	return ns.fillInline(r, sealed, id)
}

// fillInline gives the inline parts of r that its catalog form left to the
// providers their header and data from sealed, the sealed record (bound to
// id) the catalog entry names.
func (ns *Namespace) fillInline(r *record, sealed []byte, id seal.ObjectID) error {
	full, err := ns.openSealed(sealed, id)
	if err != nil {
		return fmt.Errorf("%s/%s: %w", r.Bucket, r.Key, err)
	}
	if len(full.Parts) != len(r.Parts) {
		return fmt.Errorf("%w: %s/%s: the sealed record has %d parts, its catalog entry %d", ErrIntegrity, r.Bucket, r.Key, len(full.Parts), len(r.Parts))
	}
	for i := range r.Parts {
		p, q := &r.Parts[i], &full.Parts[i]
		if !p.unloaded() {
			continue
		}
		if q.Blob != p.Blob || q.Size != p.Size || len(q.Data) == 0 {
			return fmt.Errorf("%w: %s/%s: part %d of the sealed record is not the catalog entry's", ErrIntegrity, r.Bucket, r.Key, i)
		}
		p.Header, p.Data = q.Header, q.Data
	}
	return nil
}

// inlineSealed returns the sealed record under name whose digest is d:
// from the inline cache, else from the store, else from each member of
// the store; what it reads goes into the cache.
func (ns *Namespace) inlineSealed(ctx context.Context, name string, d [catDigestSize]byte) ([]byte, error) {
	if b, ok := ns.inline.Get(d); ok {
		return b, nil
	}
	var errs []error
	match := func(b []byte, err error) bool {
		if err != nil {
			errs = append(errs, err)
			return false
		}
		return recordDigest(b) == d
	}
	b, err := readAll(ctx, ns.store, name)
	if !match(b, err) {
		b = nil
		if ms, ok := ns.store.(memberSource); ok {
			for _, m := range ms.Members(ctx) {
				if c, err := readAll(ctx, m, name); match(c, err) {
					b = c
					break
				}
			}
		}
	}
	if b == nil {
		if len(errs) > 0 {
			return nil, fmt.Errorf("read the meta record of an inline object: %w", errors.Join(errs...))
		}
		return nil, fmt.Errorf("%w: no provider holds the meta record its catalog entry names", ErrIntegrity)
	}
	ns.inline.Add(d, b)
	return b, nil
}

// holdInline returns, when rec (the catalog's record of the meta record
// under name, bound to id) is the catalog form of an inline object, the
// sealed record it names, so that a writer about to overwrite that meta
// record can put it back (restoreHeld) should the catalog refuse the
// write; nil for any other record, or when no provider holds it (then it
// is lost already, and scrub reports it).
func (ns *Namespace) holdInline(ctx context.Context, name string, rec []byte, id seal.ObjectID) []byte {
	if isSealedForm(rec) {
		return nil
	}
	r, err := ns.openCatRecord(rec, id)
	if err != nil || !r.unloaded() {
		return nil
	}
	b, err := ns.inlineSealed(ctx, name, r.catDigest)
	if err != nil {
		ns.log.Warn("read the meta record of an inline object before overwriting it", "err", err)
		return nil
	}
	return b
}

// restoreHeld is restoreRecord for a writer that holds (holdInline) the
// sealed record the catalog record rec stands for: it puts those very
// bytes back.
func (ns *Namespace) restoreHeld(ctx context.Context, metaName string, rec, held []byte, id seal.ObjectID, anew bool) error {
	if held != nil && sameRecord(held, rec) {
		return ns.putBytes(ctx, metaName, held)
	}
	return ns.restoreRecord(ctx, metaName, rec, id, anew)
}
