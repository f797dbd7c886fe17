package gateway

import (
	"context"
	"slices"
)

// CORSRule is one rule of a bucket's CORS configuration, as S3's
// PutBucketCors takes it. The namespace stores rules as given; the front
// end checks them.
type CORSRule struct {
	ID             string   `json:"id,omitempty"`
	AllowedOrigins []string `json:"origins"`
	AllowedMethods []string `json:"methods"`
	AllowedHeaders []string `json:"headers,omitempty"`
	ExposeHeaders  []string `json:"expose,omitempty"`
	// MaxAgeSeconds is how long a browser may cache a preflight answer;
	// nil: not said.
	MaxAgeSeconds *int `json:"max_age,omitempty"`
}

// BucketCORS returns the CORS rules of bucket (nil when it has none). Like
// the tags, they live in the bucket's sealed record.
func (ns *Namespace) BucketCORS(ctx context.Context, bucket string) ([]CORSRule, error) {
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
	return cloneCORS(r.CORS), nil
}

// SetBucketCORS replaces the CORS rules of bucket (nil or empty: removes
// them) and writes its record anew, one generation up.
func (ns *Namespace) SetBucketCORS(ctx context.Context, bucket string, rules []CORSRule) error {
	if err := ns.Authorize(ctx, bucket, AccessOwner); err != nil {
		return err
	}
	return ns.updateBucketRecord(ctx, bucket, func(r *record) error { r.CORS = cloneCORS(rules); return nil })
}

func cloneCORS(rules []CORSRule) []CORSRule {
	if len(rules) == 0 {
		return nil
	}
	out := make([]CORSRule, len(rules))
	for i, r := range rules {
		out[i] = r
		out[i].AllowedOrigins = slices.Clone(r.AllowedOrigins)
		out[i].AllowedMethods = slices.Clone(r.AllowedMethods)
		out[i].AllowedHeaders = slices.Clone(r.AllowedHeaders)
		out[i].ExposeHeaders = slices.Clone(r.ExposeHeaders)
		if r.MaxAgeSeconds != nil {
			n := *r.MaxAgeSeconds
			out[i].MaxAgeSeconds = &n
		}
	}
	return out
}
