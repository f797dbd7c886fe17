package catalog

import "context"

// Epochs is the part of the catalog that remembers the namespace epoch: a
// number the gateway raises at every start and periodically, writes in a
// sealed record to every provider, and keeps here, so that a provider
// serving an old snapshot of the namespace is noticed by its epoch alone.
// Catalog embeds it.
type Epochs interface {
	// Epoch returns the highest epoch recorded, 0 if none, and its sealed
	// record.
	Epoch(ctx context.Context) (uint64, []byte, error)
	// AdvanceEpoch records epoch and its sealed record unless the catalog
	// holds the same or a higher epoch (then ErrStale): epochs only go up.
	AdvanceEpoch(ctx context.Context, epoch uint64, record []byte) error
}

func encodeEpoch(epoch uint64, record []byte) []byte {
	enc := newEncoder()
	enc.Uvarint(epoch)
	enc.Bytes(record)
	return enc.B
}

func decodeEpoch(v []byte) (uint64, []byte, error) {
	d := newDecoder(v, "epoch", "")
	e := d.Uvarint()
	r := d.bytes()
	return e, r, d.Done()
}
