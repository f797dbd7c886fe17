package catalog

import (
	"context"
	"time"
)

// Tombstone records the deletion of an object (or, with an empty Key, of a
// bucket) at a generation: nothing of that name with a generation at or
// below it may come back, whatever a provider serves. Record is the sealed
// tombstone as the providers hold it, opaque to the catalog.
//
// With a VersionID it records the deletion of one version of a key
// (Versions.DeleteVersion); the key's own tombstone (VersionID empty)
// also stands for its null version.
type Tombstone struct {
	Bucket, Key string
	VersionID   string
	Generation  uint64
	Deleted     time.Time
	Record      []byte
}

// Tombstones is the part of the catalog that remembers deletions. Catalog
// embeds it. An object entry and a tombstone of one name never coexist: a
// newer entry replaces the tombstone (Put), a newer tombstone replaces the
// entry (PutTombstone), and a Put at or below a tombstone's generation is
// ErrStale.
type Tombstones interface {
	// PutTombstone records t. For an object it removes the entry of the
	// name and returns it, unless the entry's generation is at or above
	// t.Generation (then ErrStale and nothing changes); for a bucket
	// (empty Key) the bucket must already be deleted. A tombstone at or
	// below a stored one is ErrStale. t.VersionID must be empty (see
	// Versions.DeleteVersion), and an object that has versions is
	// ErrVersioned.
	PutTombstone(ctx context.Context, t Tombstone) (removed *Entry, err error)
	// GetTombstone returns the tombstone of bucket/key (key empty: of
	// the bucket); ErrNotFound if there is none.
	GetTombstone(ctx context.Context, bucket, key string) (Tombstone, error)
	// WalkTombstones calls fn for every tombstone, by bucket and key; fn
	// may modify the catalog.
	WalkTombstones(ctx context.Context, fn func(Tombstone) error) error
}

func encodeTombstone(t *Tombstone) []byte {
	enc := newEncoder()
	enc.Uvarint(t.Generation)
	enc.time(t.Deleted)
	enc.Bytes(t.Record)
	return enc.B
}

func decodeTombstone(bucket, key string, v []byte) (Tombstone, error) {
	d := newDecoder(v, "tombstone", bucket+"/"+key)
	t := Tombstone{Bucket: bucket, Key: key}
	t.Generation = d.Uvarint()
	t.Deleted = d.time()
	t.Record = d.bytes()
	return t, d.Done()
}
