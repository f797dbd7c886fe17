package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"time"

	"github.com/twincrypt/twincrypt/gateway/checksum"
)

// PutAsBlob stores body as bucket/key the way objects were stored before
// inline objects: as a blob, whatever its size.
func (ns *Namespace) PutAsBlob(ctx context.Context, bucket, key string, body io.Reader, size int64) error {
	part, sum, ck, err := ns.writeBlob(ctx, body, size, checksum.Default, false)
	if err != nil {
		return err
	}
	rec := &record{Kind: kindObject, Bucket: bucket, Key: key, ETag: hex.EncodeToString(sum),
		Checksum: &checksumRecord{Alg: checksum.Default, Type: checksum.FullObject, Sum: ck}}
	if part != nil {
		rec.Parts, rec.Size = []partRecord{*part}, part.Size
	}
	_, err = ns.commit(ctx, rec, PutOptions{})
	return err
}

// Inline reports whether the current version of bucket/key is inline.
func (o *Object) Inline() bool {
	return len(o.rec.Parts) == 1 && o.rec.Parts[0].inline()
}

// FlipInlineByte rewrites the record of the inline object bucket/key, a
// valid sealed record whose inline blob has byte i of its data flipped: what
// only a bug could write, which deep scrub and reads must catch.
func (ns *Namespace) FlipInlineByte(ctx context.Context, bucket, key string, i int) error {
	o, err := ns.Object(ctx, bucket, key)
	if err == nil {
		err = o.load(ctx)
	}
	if err != nil {
		return err
	}
	if !o.Inline() {
		return errors.New("not inline")
	}
	rec := *o.rec
	rec.Parts = []partRecord{rec.Parts[0]}
	rec.Parts[0].Data = append([]byte(nil), rec.Parts[0].Data...)
	rec.Parts[0].Data[i] ^= 1
	rec.ModTime = rec.ModTime.Add(1)
	_, err = ns.commit(ctx, &rec, PutOptions{})
	return err
}

// SettleSoon makes the Namespace ask the catalog about a write it did not
// answer for after d instead of seconds; WaitSettled waits until those
// questions are settled.
func (ns *Namespace) SettleSoon(d time.Duration) { ns.settleAfter = d }

// WaitSettled waits for settleLater's goroutines.
func (ns *Namespace) WaitSettled() { ns.settles.Wait() }

// SettleNever keeps the records of writes the catalog did not answer for
// where they are, as a gateway stopped before it could ask the catalog
// again leaves them (settleLater does not run).
func (ns *Namespace) SettleNever() { ns.settleAfter = -1 }
