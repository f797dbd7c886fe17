package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNoLifecycle means the bucket has no lifecycle configuration.
var ErrNoLifecycle = errors.New("bucket has no lifecycle configuration")

// ErrInvalidLifecycle means a lifecycle rule the gateway cannot take.
var ErrInvalidLifecycle = errors.New("invalid lifecycle configuration")

// Limits of lifecycle configurations, as on S3.
const (
	maxLifecycleRules      = 1000
	maxNewerNoncurrent     = 100
	maxLifecycleRuleIDLen  = 255
	maxNoncurrentDaysValue = 1 << 20
)

// NoncurrentRule is a lifecycle rule for the noncurrent versions of the
// keys under Prefix: a noncurrent version is deleted for good once it has
// been noncurrent for Days days and at least Keep newer noncurrent
// versions of its key exist. Days 0 expires at once what Keep does not
// keep. Locked versions stay until they are not.
type NoncurrentRule struct {
	ID      string
	Prefix  string
	Enabled bool
	Days    int // NoncurrentDays
	Keep    int // NewerNoncurrentVersions
}

// lifecycleRule is a NoncurrentRule in a bucket's sealed record.
type lifecycleRule struct {
	ID      string `json:"id,omitempty"`
	Prefix  string `json:"prefix,omitempty"`
	Enabled bool   `json:"enabled,omitempty"`
	Days    int    `json:"days,omitempty"`
	Keep    int    `json:"keep,omitempty"`
}

func checkLifecycle(rules []NoncurrentRule) error {
	if len(rules) == 0 || len(rules) > maxLifecycleRules {
		return fmt.Errorf("%w: 1 to %d rules", ErrInvalidLifecycle, maxLifecycleRules)
	}
	ids := make(map[string]bool)
	for _, r := range rules {
		switch {
		case len(r.ID) > maxLifecycleRuleIDLen:
			return fmt.Errorf("%w: a rule ID longer than %d characters", ErrInvalidLifecycle, maxLifecycleRuleIDLen)
		case r.ID != "" && ids[r.ID]:
			return fmt.Errorf("%w: rule ID %q given twice", ErrInvalidLifecycle, r.ID)
		case r.Days < 0 || r.Days > maxNoncurrentDaysValue:
			return fmt.Errorf("%w: NoncurrentDays must be a positive integer", ErrInvalidLifecycle)
		case r.Keep < 0 || r.Keep > maxNewerNoncurrent:
			return fmt.Errorf("%w: NewerNoncurrentVersions must be between 1 and %d", ErrInvalidLifecycle, maxNewerNoncurrent)
		case r.Days == 0 && r.Keep == 0:
			return fmt.Errorf("%w: NoncurrentVersionExpiration needs NoncurrentDays or NewerNoncurrentVersions", ErrInvalidLifecycle)
		}
		ids[r.ID] = true
	}
	return nil
}

// BucketLifecycle returns the lifecycle rules of bucket; ErrNoLifecycle if
// it has none. They live in the bucket's sealed record.
func (ns *Namespace) BucketLifecycle(ctx context.Context, bucket string) ([]NoncurrentRule, error) {
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
	if len(r.Lifecycle) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoLifecycle, bucket)
	}
	out := make([]NoncurrentRule, len(r.Lifecycle))
	for i, l := range r.Lifecycle {
		out[i] = NoncurrentRule(l)
	}
	return out, nil
}

// SetBucketLifecycle replaces the lifecycle rules of bucket; nil removes
// them.
func (ns *Namespace) SetBucketLifecycle(ctx context.Context, bucket string, rules []NoncurrentRule) error {
	if err := ns.Authorize(ctx, bucket, AccessOwner); err != nil {
		return err
	}
	if rules != nil {
		if err := checkLifecycle(rules); err != nil {
			return err
		}
	}
	return ns.updateBucketRecord(ctx, bucket, func(r *record) error {
		r.Lifecycle = nil
		for _, l := range rules {
			r.Lifecycle = append(r.Lifecycle, lifecycleRule(l))
		}
		return nil
	})
}

// LifecycleReport counts what ApplyLifecycle did.
type LifecycleReport struct {
	Buckets int // buckets with rules
	Expired int // noncurrent versions deleted
	Locked  int // noncurrent versions due but locked, kept
}

// ApplyLifecycle applies the lifecycle rules of every bucket at now:
// noncurrent versions past their rule are deleted for good (with a
// tombstone, as DeleteObject with a version ID). A version that became
// noncurrent at the time its next newer version was written; locked
// versions are kept. Versions of a key that a page boundary of the listing
// cuts may wait for the next run.
func (ns *Namespace) ApplyLifecycle(ctx context.Context, now time.Time) (*LifecycleReport, error) {
	rep := &LifecycleReport{}
	buckets, err := ns.cat.ListBuckets(ctx)
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, b := range buckets {
		cfg, err := ns.cat.GetBucketVersioning(ctx, b.Name)
		if err != nil || cfg.Status == "" {
			continue
		}
		rules, err := ns.BucketLifecycle(ctx, b.Name)
		if errors.Is(err, ErrNoLifecycle) || errors.Is(err, ErrNoSuchBucket) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rep.Buckets++
		for _, r := range rules {
			if !r.Enabled {
				continue
			}
			if err := ns.applyRule(ctx, b.Name, r, now, rep); err != nil {
				errs = append(errs, fmt.Errorf("bucket %s, rule %q: %w", b.Name, r.ID, err))
			}
		}
	}
	return rep, errors.Join(errs...)
}

// applyRule applies one rule to the versions of one bucket.
func (ns *Namespace) applyRule(ctx context.Context, bucket string, r NoncurrentRule, now time.Time, rep *LifecycleReport) error {
	o := VersionListOptions{Prefix: r.Prefix, Limit: 1000}
	var key string
	var newer time.Time // when the version after the current one was written
	noncurrent := 0     // noncurrent versions of key seen so far
	skip := false       // key's current version was not seen: leave it
	for {
		page, err := ns.ListVersions(ctx, bucket, o)
		if err != nil {
			return err
		}
		for _, v := range page.Versions {
			if v.Key != key || v.Latest {
				key, noncurrent, newer = v.Key, 0, v.ModTime
				skip = !v.Latest
				continue
			}
			if skip {
				continue
			}
			since := newer // it became noncurrent when the next newer one was written
			newer = v.ModTime
			noncurrent++
			if noncurrent <= r.Keep || now.Before(since.AddDate(0, 0, r.Days)) {
				continue
			}
			_, err := ns.Delete(ctx, bucket, v.Key, DeleteOptions{VersionID: v.VersionID})
			switch {
			case errors.Is(err, ErrObjectLocked):
				rep.Locked++
			case err != nil:
				return err
			default:
				rep.Expired++
			}
		}
		if !page.Truncated {
			return nil
		}
		o.KeyMarker, o.VersionIDMarker = page.NextKeyMarker, page.NextVersionIDMarker
		if !strings.HasPrefix(o.KeyMarker, r.Prefix) {
			return nil
		}
	}
}
