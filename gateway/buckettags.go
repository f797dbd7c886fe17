package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// BucketTags returns the tags of bucket (nil when it has none). They live
// in the bucket's sealed record, which only the providers hold, so this
// reads one provider.
func (ns *Namespace) BucketTags(ctx context.Context, bucket string) (map[string]string, error) {
	if err := ns.Authorize(ctx, bucket, AccessRead); err != nil {
		return nil, err
	}
	b, err := ns.cat.GetBucket(ctx, bucket)
	if err != nil {
		return nil, mapCatalogErr(err, bucket, "")
	}
	r, err := ns.bucketRecord(ctx, b)
	if err != nil {
		return nil, err
	}
	return cloneTags(r.Tags), nil
}

// SetBucketTags replaces the tags of bucket (nil or empty: removes them)
// and writes its record anew, one generation up.
func (ns *Namespace) SetBucketTags(ctx context.Context, bucket string, tags map[string]string) error {
	if err := ns.Authorize(ctx, bucket, AccessOwner); err != nil {
		return err
	}
	return ns.updateBucketRecord(ctx, bucket, func(r *record) error { r.Tags = cloneTags(tags); return nil })
}

// updateBucketRecord applies change to the record of bucket and writes it
// anew, one generation up. An error from change stops it.
func (ns *Namespace) updateBucketRecord(ctx context.Context, bucket string, change func(*record) error) error {
	unlock, lerr := ns.lock(ctx, bucket, "")
	if lerr != nil {
		return lerr
	}
	defer unlock()
	b, err := ns.cat.GetBucket(ctx, bucket)
	if err != nil {
		return mapCatalogErr(err, bucket, "")
	}
	r, err := ns.bucketRecord(ctx, b)
	if err != nil {
		return err
	}
	r.Generation = ns.nextGeneration(r.Generation)
	if err := change(r); err != nil {
		return err
	}
	metaName, id := ns.names.meta(bucket, "")
	sealed, err := ns.sealRecord(r, id)
	if err != nil {
		return err
	}
	if err := ns.putBytes(ctx, metaName, sealed); err != nil {
		return fmt.Errorf("bucket %s: write record: %w", bucket, err)
	}
	return nil
}

// bucketRecord reads and authenticates the record of bucket; a record no
// provider holds (lost, not yet repaired) is taken as one without tags.
func (ns *Namespace) bucketRecord(ctx context.Context, b catalog.Bucket) (*record, error) {
	bucket := b.Name
	metaName, id := ns.names.meta(bucket, "")
	sealed, err := readAll(ctx, ns.store, metaName)
	if errors.Is(err, backends.ErrNotFound) {
		return &record{Kind: kindBucket, Bucket: bucket, ModTime: b.Created, Owner: b.Owner}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: read record: %w", bucket, err)
	}
	r, err := ns.openRecord(sealed, id)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", bucket, err)
	}
	if err := checkRecord(r, kindBucket, bucket, ""); err != nil {
		return nil, err
	}
	return r, nil
}
