package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// kindTombstone is the kind of the record a deletion leaves under the
// deleted name (an object, or with an empty key a bucket): it carries the
// generation of the deletion, so that no older record of the name, replayed
// by a provider, is ever served, copied or adopted again.
const kindTombstone = "tombstone"

// tombstoneGen returns the generation of the catalog's tombstone of
// bucket/key, 0 if there is none.
func (ns *Namespace) tombstoneGen(ctx context.Context, bucket, key string) (uint64, error) {
	gen, _, err := ns.keyTombstone(ctx, bucket, key)
	return gen, err
}

// keyTombstone returns the generation of the catalog's tombstone of
// bucket/key (0 if there is none) and the backend name of its record: ""
// when there is none, or when it does not open (sealed under a retired
// key), so that a writer that replaces it knows which record to delete.
func (ns *Namespace) keyTombstone(ctx context.Context, bucket, key string) (uint64, string, error) {
	t, err := ns.cat.GetTombstone(ctx, bucket, key)
	switch {
	case err == nil:
		name, _, oerr := ns.recordNameOf(bucket, key, "", t.Record)
		if oerr != nil {
			name = ""
		}
		return t.Generation, name, nil
	case errors.Is(err, catalog.ErrNotFound):
		return 0, "", nil
	}
	return 0, "", err
}

// writeTombstone seals a tombstone of bucket/key at a generation above
// after, writes it to the store and returns it for the catalog, with the
// name it went under (a key's tombstone has a name of its own generation;
// a bucket's replaces the bucket's record). The caller holds the name's
// lock.
func (ns *Namespace) writeTombstone(ctx context.Context, bucket, key string, after uint64) (catalog.Tombstone, string, error) {
	now := ns.now().UTC().Truncate(time.Millisecond)
	r := &record{Kind: kindTombstone, Bucket: bucket, Key: key, ModTime: now, Generation: ns.nextGeneration(after)}
	base, id := ns.names.meta(bucket, key)
	sealed, err := ns.sealRecord(r, id)
	if err != nil {
		return catalog.Tombstone{}, "", err
	}
	name := storedName(base, r)
	if err := ns.putBytes(ctx, name, sealed); err != nil {
		return catalog.Tombstone{}, "", fmt.Errorf("write tombstone: %w", err)
	}
	return catalog.Tombstone{Bucket: bucket, Key: key, Generation: r.Generation, Deleted: now, Record: sealed}, name, nil
}

// tombstoneOf returns the catalog tombstone of an authenticated tombstone
// record.
func tombstoneOf(r *record, sealed []byte) catalog.Tombstone {
	return catalog.Tombstone{Bucket: r.Bucket, Key: r.Key, VersionID: r.VersionID, Generation: r.Generation, Deleted: r.ModTime, Record: sealed}
}
