package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/seal"
)

// The catalog form of an inline object's record does not keep the
// object's blob (docs/FORMAT.md, "Catalog records"): the providers'
// sealed record holds it, and the Namespace's inline cache holds the
// sealed records of the inline objects it wrote or read recently. A
// reader of the blob loads it (loadInline) from the cache or, on a miss,
// from a provider. No write overwrites such a record: each goes under a
// name of its own generation (docs/FORMAT.md, "Records on a backend"),
// and the record the catalog names is deleted only once the catalog names
// another.

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
	base, id := ns.names.version(r.Bucket, r.Key, r.VersionID)
	name := storedName(base, r)
	sealed, err := ns.inlineSealed(ctx, name, r.catDigest)
	if errors.Is(err, backends.ErrNotFound) {
		// No provider holds it: either a write replaced it since the
		// catalog was read (the write deletes the record it replaced
		// before it answers), and the reader may try again, or it is
		// lost.
		vid := r.VersionID
		if vid == "" {
			vid = NullVersion
		}
		if cur, cerr := ns.RecordName(ctx, r.Bucket, r.Key, vid); cerr != nil || cur != name {
			return fmt.Errorf("%s/%s: %w", r.Bucket, r.Key, ErrObjectChanged)
		}
		return fmt.Errorf("%w: %s/%s: no provider holds the meta record its catalog entry names (scrub reports it)", ErrIntegrity, r.Bucket, r.Key)
	}
	if err != nil {
		return fmt.Errorf("%s/%s: %w", r.Bucket, r.Key, err)
	}
	return ns.fillInline(r, sealed, id)
}

// ErrObjectChanged means an object was replaced or deleted while it was
// read: its bytes are no longer there, and reading it again gets what
// replaced it. It wraps backends.ErrUnavailable, so that front ends answer
// it as a failure to try again.
var ErrObjectChanged = fmt.Errorf("the object changed while it was read; try again: %w", backends.ErrUnavailable)

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
		if len(errs) > 0 && !slices.ContainsFunc(errs, func(err error) bool { return !errors.Is(err, backends.ErrNotFound) }) {
			return nil, fmt.Errorf("read the meta record of an inline object: %w", backends.ErrNotFound)
		}
		if len(errs) > 0 {
			return nil, fmt.Errorf("read the meta record of an inline object: %w", errors.Join(errs...))
		}
		return nil, fmt.Errorf("%w: no provider holds the meta record its catalog entry names", ErrIntegrity)
	}
	ns.inline.Add(d, b)
	return b, nil
}
