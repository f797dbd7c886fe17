package gateway

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/twincrypt/twincrypt/backends"
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

// newestStored returns the newest record that authenticates among those
// the store holds under base, the name of a key or version, and under the
// names of its generations (a record written before records were named by
// generation, and records a failed deletion left behind, may be there
// besides the newest); nil if there is none or the store cannot be listed.
func (ns *Namespace) newestStored(ctx context.Context, base string) (string, *record) {
	s, found, err := ns.newestUnder(ctx, []backends.Backend{ns.store}, base, nil)
	if !found || err != nil {
		return "", nil
	}
	return s.name, s.r
}
