package gateway

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// metaNameOfKey returns the backend name of a meta record set key
// (metaName.key): the inverse of metaKey.
func metaNameOfKey(k []byte) string {
	name := metaPrefix + hex.EncodeToString(k[:32])
	if len(k) > 32 {
		if gen := binary.BigEndian.Uint64(k[32:]); gen != 0 {
			name = genName(name, gen)
		}
	}
	return name
}

// superseded reports whether r, the record of a key read from a backend
// under name, which the catalog does not hold, is older than the record or
// tombstone the catalog holds of the same key or version (as scrub judges
// it, classifyListed): a drop that failed (dropRecord), garbage that no
// read is ever served from.
func (ns *Namespace) superseded(ctx context.Context, name string, r *record) (bool, error) {
	if r.Key == "" {
		return false, nil // a bucket-level record: one name, rewritten in place
	}
	kind, _, wrong, err := ns.classifyListed(ctx, name, r)
	if err != nil {
		return false, fmt.Errorf("catalog record of %s/%s: %w", r.Bucket, r.Key, err)
	}
	return wrong && kind == ProblemSuperseded, nil
}

// catalogRecordName returns the backend name of rec, the record the
// catalog holds of bucket/key/versionID (entry, version or tombstone): the
// name of its generation, or the base name for a record written before
// records were named by generation. A record that does not open gives the
// base name.
func (ns *Namespace) catalogRecordName(bucket, key, versionID string, rec []byte) string {
	name, _, err := ns.recordNameOf(bucket, key, versionID, rec)
	if err != nil {
		name, _ = ns.names.version(bucket, key, versionID)
	}
	return name
}

// newestStored returns the newest record that authenticates among those
// the store holds under base, the name of a key or version, and under the
// names of its generations (a record written before records were named by
// generation, and records a failed deletion left behind, may be there
// besides the newest); nil if there is none.
func (ns *Namespace) newestStored(ctx context.Context, base string) (string, *record) {
	var name string
	var newest *record
	err := listAll(ctx, ns.store, base, func(it backends.Info) error {
		if m, ok := parseMetaName(it.Name); !ok || metaPrefix+hex.EncodeToString(m.hash[:]) != base {
			return nil
		}
		sealed, err := readAll(ctx, ns.store, it.Name)
		if err != nil {
			return nil
		}
		r, err := ns.openStoredRecord(it.Name, sealed)
		if err == nil && (newest == nil || r.Generation > newest.Generation) {
			name, newest = it.Name, r
		}
		return nil
	})
	if err != nil {
		return "", nil
	}
	return name, newest
}

// tombstoneNames returns the backend names the record of the catalog's
// tombstone t can have: its exact name when it opens; otherwise (sealed
// under a key-encryption key retired since) the name of its generation,
// for a key's, and the name alone, which a bucket's tombstone and one
// written before records were named by generation have.
func (ns *Namespace) tombstoneNames(t catalog.Tombstone) []string {
	base, _ := ns.names.version(t.Bucket, t.Key, t.VersionID)
	if name, _, err := ns.recordNameOf(t.Bucket, t.Key, t.VersionID, t.Record); err == nil {
		return []string{name}
	}
	if t.Key == "" {
		return []string{base}
	}
	return []string{base, genName(base, t.Generation)}
}
