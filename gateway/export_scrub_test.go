package gateway

import (
	"context"
	"encoding/json"

	"github.com/twincrypt/twincrypt/gateway/seal"
)

// LegacyRecord returns the record the catalog holds for bucket/key sealed
// as a record written before records of keys were named by generation
// (version 1), with the name such a record has: the key's name alone. gen,
// when not 0, replaces its generation.
func (ns *Namespace) LegacyRecord(ctx context.Context, bucket, key string, gen uint64) (string, []byte, error) {
	e, err := ns.cat.Get(ctx, bucket, key)
	if err != nil {
		return "", nil, err
	}
	base, id := ns.names.meta(bucket, key)
	r, err := ns.openRecord(e.Record, id)
	if err != nil {
		return "", nil, err
	}
	r.Version = recordVersion
	if gen != 0 {
		r.Generation = gen
	}
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
