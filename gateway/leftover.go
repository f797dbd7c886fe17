package gateway

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/seal"
	"github.com/twincrypt/twincrypt/internal/spill"
)

// No two live objects share a blob: every blob is written for one object,
// and a copy writes new blobs. Only an interrupted Rename leaves two meta
// records that reference the same blobs: the new one, which the catalog
// lists with a higher generation, and the old one, left on a backend. The
// functions here recognise such leftovers, so that repair discards them
// instead of adopting them and a rebuilt catalog does not list them: two
// listed names sharing blobs would let the deletion of one destroy the
// other's content.

// blobOwners maps every blob of want that a record in cat references to the
// highest generation among the records that reference it. want holds the
// blobs of the records to be judged with renameLeftover, so that the map
// grows with them, not with the catalog.
func (ns *Namespace) blobOwners(ctx context.Context, cat catalog.Catalog, want map[string]bool) (map[string]uint64, error) {
	owners := make(map[string]uint64)
	err := cat.Walk(ctx, func(e catalog.Entry) error {
		r, err := ns.openRecord(e.Record, ns.names.entryID(&e))
		if err != nil {
			return fmt.Errorf("catalog record of %s/%s: %w", e.Bucket, e.Key, err)
		}
		for _, p := range r.Parts {
			if want[p.Blob] {
				owners[p.Blob] = max(owners[p.Blob], r.Generation)
			}
		}
		return nil
	})
	return owners, err
}

// renameLeftover reports whether r is the old record of an interrupted
// Rename: a newer record in owners references one of its blobs.
func renameLeftover(r *record, owners map[string]uint64) bool {
	for _, p := range r.Parts {
		if g, ok := owners[p.Blob]; ok && g > r.Generation {
			return true
		}
	}
	return false
}

// contestedOwners is blobOwners restricted to the blobs that records of
// different generations reference: for a record of cat, renameLeftover
// answers alike with either. It holds (blob, generation) pairs in a spill
// set, so that its memory grows with the number of interrupted renames,
// not with the catalog.
func (ns *Namespace) contestedOwners(ctx context.Context, cat catalog.Catalog) (map[string]uint64, error) {
	const idLen = len(seal.ObjectID{})
	pairs := spill.New("", idLen+8, 0)
	defer pairs.Close()
	err := cat.Walk(ctx, func(e catalog.Entry) error {
		r, err := ns.openRecord(e.Record, ns.names.entryID(&e))
		if err != nil {
			return fmt.Errorf("catalog record of %s/%s: %w", e.Bucket, e.Key, err)
		}
		for _, p := range r.Parts {
			id, err := parseBlobID(p.Blob)
			if err != nil {
				continue // names no blob
			}
			if err := pairs.Add(binary.BigEndian.AppendUint64(id[:], r.Generation)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	it, err := pairs.Iter()
	if err != nil {
		return nil, err
	}
	owners := make(map[string]uint64)
	var prev []byte
	for k, ok := it.Next(); ok; k, ok = it.Next() {
		// Sorted by blob, then generation: a blob's second pair has a
		// higher generation than its first, its last the highest.
		if prev != nil && bytes.Equal(prev, k[:idLen]) {
			owners[hex.EncodeToString(k[:idLen])] = binary.BigEndian.Uint64(k[idLen:])
		}
		prev = append(prev[:0], k[:idLen]...)
	}
	return owners, it.Err()
}

// dropRenameLeftovers removes from cat every object entry that is the old
// record of an interrupted rename, and returns how many it removed.
func (ns *Namespace) dropRenameLeftovers(ctx context.Context, cat catalog.Catalog) (int, error) {
	owners, err := ns.contestedOwners(ctx, cat)
	if err != nil {
		return 0, err
	}
	var stale []catalog.Entry
	err = cat.Walk(ctx, func(e catalog.Entry) error {
		if e.VersionID != "" {
			return nil // renames in versioned buckets keep the source as a version
		}
		_, id := ns.names.meta(e.Bucket, e.Key)
		if r, err := ns.openRecord(e.Record, id); err == nil && renameLeftover(r, owners) {
			stale = append(stale, e)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, e := range stale {
		if _, err := cat.Delete(ctx, e.Bucket, e.Key, e.Generation); err != nil {
			return 0, fmt.Errorf("drop rename leftover %s/%s: %w", e.Bucket, e.Key, err)
		}
	}
	return len(stale), nil
}
