package gateway

import (
	"context"
	"encoding/json"

	"github.com/twincrypt/twincrypt/gateway/seal"
)

// SealLegacyRecord seals the record the catalog holds of bucket/key anew
// in the form written before records of a key were named by generation
// ("v":1, stored under the key's name alone), at generation gen, and
// returns that name and the sealed record.
func (ns *Namespace) SealLegacyRecord(ctx context.Context, bucket, key string, gen uint64) (string, []byte, error) {
	e, err := ns.cat.Get(ctx, bucket, key)
	if err != nil {
		return "", nil, err
	}
	base, id := ns.names.meta(bucket, key)
	r, err := ns.openRecord(e.Record, id)
	if err != nil {
		return "", nil, err
	}
	r.Version, r.Generation = recordVersion, gen
	plain, err := json.Marshal(r)
	if err != nil {
		return "", nil, err
	}
	s, err := seal.NewSealer(ns.keys, id, ns.rand)
	if err != nil {
		return "", nil, err
	}
	return base, s.Seal(nil, padRecord(plain)), nil
}
