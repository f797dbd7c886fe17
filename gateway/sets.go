package gateway

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/seal"
	"github.com/twincrypt/twincrypt/internal/spill"
)

// Maintenance (scrub, gc) compares what the catalog accounts for with what
// the providers list. Both sides can hold millions of names, so neither is
// kept in a map: the catalog's side is gathered into a spill.Set (sorted
// runs on disk past a bounded buffer) and merge-joined with each
// provider's listing, which backends return in byte order. Meta record
// names are "m/" and the lowercase hex of a 32-byte hash, optionally
// followed by that of a 64-bit generation (metaName.key: the hash and the
// generation, 0 for a name without one), blob names "b/" and the
// lowercase hex of a 16-byte id, so byte order of names is byte order of
// the keys.

// newMetaSet returns a set of meta record names.
func newMetaSet() *spill.Set { return spill.New("", 40, 0) }

// newBlobSet returns a set of blob ids.
func newBlobSet() *spill.Set { return spill.New("", len(seal.ObjectID{}), 0) }

// addMeta adds the meta record name to set.
func addMeta(set *spill.Set, name string) error {
	m, ok := parseMetaName(name)
	if !ok {
		return fmt.Errorf("meta record name %q", name)
	}
	return set.Add(m.key())
}

// addBlob adds the blob id (hex, as in a part record) to set; an id that
// does not parse names no blob and is left out.
func addBlob(set *spill.Set, id string) error {
	b, err := parseBlobID(id)
	if err != nil {
		return nil
	}
	return set.Add(b[:])
}

// addBlobsOf adds the blobs that the parts of r keep to set; an inline part
// has none.
func addBlobsOf(set *spill.Set, r *record) error {
	for _, p := range r.Parts {
		if p.inline() {
			continue
		}
		if err := addBlob(set, p.Blob); err != nil {
			return err
		}
	}
	return nil
}

// metaKey returns the set key of a meta record name as the gateway writes
// it; false for any other name, which no set holds.
func metaKey(name string) ([]byte, bool) {
	m, ok := parseMetaName(name)
	if !ok {
		return nil, false
	}
	return m.key(), true
}

// blobKey returns the id of a blob name as the gateway writes it; false
// for any other name.
func blobKey(name string) ([]byte, bool) {
	if len(name) < len(blobPrefix) || name[:len(blobPrefix)] != blobPrefix {
		return nil, false
	}
	id, err := parseBlobID(name[len(blobPrefix):])
	if err != nil || name[len(blobPrefix):] != hex.EncodeToString(id[:]) {
		return nil, false
	}
	return id[:], true
}

// listJoin lists the names under prefix on b and calls fn for each with
// whether set holds its key (key gives it; a name without one is never
// held). It relies on the byte order of listings: a backend that lists
// out of order fails the listing with spill.ErrOrder rather than have a
// name taken for unknown.
func listJoin(ctx context.Context, b backends.Backend, prefix string, set *spill.Set, key func(string) ([]byte, bool), fn func(it backends.Info, held bool) error) error {
	it, err := set.Iter()
	if err != nil {
		return err
	}
	cur := spill.NewCursor(it)
	return listAll(ctx, b, prefix, func(info backends.Info) error {
		held := false
		if k, ok := key(info.Name); ok {
			var err error
			if held, err = cur.Contains(k); err != nil {
				return fmt.Errorf("listing of %s: %w", b.Name(), err)
			}
		}
		return fn(info, held)
	})
}

// countSet returns the number of distinct keys in set.
func countSet(set *spill.Set) (int, error) {
	it, err := set.Iter()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ok := it.Next(); ok; _, ok = it.Next() {
		n++
	}
	return n, it.Err()
}
