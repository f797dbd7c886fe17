package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// Object-lock retention modes, as S3 spells them.
const (
	RetainGovernance = catalog.RetainGovernance
	RetainCompliance = catalog.RetainCompliance
)

// Errors of object lock.
var (
	// ErrObjectLocked means a version may not be removed or replaced: it
	// is under a legal hold or retained. It is also the error of an
	// attempt to shorten or lift a retention the caller may not.
	ErrObjectLocked = errors.New("object version is locked")
	// ErrInvalidLock means an object-lock request makes no sense: an
	// unknown mode, a retain-until date in the past, a default retention
	// without a period.
	ErrInvalidLock = errors.New("invalid object lock request")
	// ErrNoLockConfig means the bucket has no object lock: also the error
	// of lock settings on a write to such a bucket.
	ErrNoLockConfig = errors.New("bucket has no object lock configuration")
)

// Retention is a version's object-lock retention.
type Retention struct {
	Mode  string // RetainGovernance or RetainCompliance
	Until time.Time
}

// lockedError describes why v may not be removed at now.
func lockedError(v *catalog.Version, now time.Time) error {
	if v.LegalHold {
		return fmt.Errorf("%w: %s/%s?versionId=%s is under a legal hold", ErrObjectLocked, v.Bucket, v.Key, v.VersionID)
	}
	return fmt.Errorf("%w: %s/%s?versionId=%s is retained in %s mode until %s", ErrObjectLocked, v.Bucket, v.Key, v.VersionID,
		v.RetainMode, v.RetainUntil.UTC().Format(time.RFC3339))
}

func checkRetention(r *Retention, now time.Time) error {
	if r.Mode != RetainGovernance && r.Mode != RetainCompliance {
		return fmt.Errorf("%w: retention mode %q", ErrInvalidLock, r.Mode)
	}
	if !r.Until.After(now) {
		return fmt.Errorf("%w: the retain-until date must be in the future", ErrInvalidLock)
	}
	return nil
}

// applyDefaultRetention sets the lock of a new version: the one o asks for
// or the bucket's default retention.
func (ns *Namespace) applyDefaultRetention(rec *record, cfg catalog.BucketVersioning, o PutOptions) error {
	if !cfg.ObjectLock {
		if o.Retention != nil || o.LegalHold {
			return fmt.Errorf("%w: %s", ErrNoLockConfig, rec.Bucket)
		}
		return nil
	}
	if rec.Kind == kindDeleteMarker {
		return nil
	}
	rec.LegalHold = o.LegalHold
	switch {
	case o.Retention != nil:
		if err := checkRetention(o.Retention, ns.now()); err != nil {
			return err
		}
		rec.Retention = &retentionRecord{Mode: o.Retention.Mode, Until: o.Retention.Until.UTC()}
	case cfg.DefaultMode != "":
		until := rec.ModTime.AddDate(cfg.DefaultYears, 0, cfg.DefaultDays)
		rec.Retention = &retentionRecord{Mode: cfg.DefaultMode, Until: until.UTC()}
	}
	return nil
}

// LockConfig is a bucket's object-lock configuration.
type LockConfig struct {
	// Mode and one of Days and Years are the default retention of new
	// versions; Mode empty: none.
	Mode        string
	Days, Years int
}

// ObjectLockConfig returns the object-lock configuration of bucket;
// ErrNoLockConfig if it has no object lock.
func (ns *Namespace) ObjectLockConfig(ctx context.Context, bucket string) (LockConfig, error) {
	if err := ns.Authorize(ctx, bucket, AccessRead); err != nil {
		return LockConfig{}, err
	}
	cfg, err := ns.BucketVersioning(ctx, bucket)
	if err != nil {
		return LockConfig{}, err
	}
	if !cfg.ObjectLock {
		return LockConfig{}, fmt.Errorf("%w: %s", ErrNoLockConfig, bucket)
	}
	return LockConfig{Mode: cfg.DefaultMode, Days: cfg.DefaultDays, Years: cfg.DefaultYears}, nil
}

// SetObjectLockConfig sets the default retention of an object-lock
// bucket (Mode empty: none). Object lock itself is set when the bucket is
// created (CreateBucketWith) and cannot be turned off.
func (ns *Namespace) SetObjectLockConfig(ctx context.Context, bucket string, c LockConfig) error {
	if err := ns.Authorize(ctx, bucket, AccessOwner); err != nil {
		return err
	}
	if c.Mode != "" {
		if c.Mode != RetainGovernance && c.Mode != RetainCompliance {
			return fmt.Errorf("%w: retention mode %q", ErrInvalidLock, c.Mode)
		}
		if (c.Days > 0) == (c.Years > 0) || c.Days < 0 || c.Years < 0 {
			return fmt.Errorf("%w: a default retention needs a positive number of days or of years, not both", ErrInvalidLock)
		}
	} else if c.Days != 0 || c.Years != 0 {
		return fmt.Errorf("%w: a default retention needs a mode", ErrInvalidLock)
	}
	var cfg catalog.BucketVersioning
	err := ns.updateBucketRecord(ctx, bucket, func(r *record) error {
		if r.Versioning == nil || !r.Versioning.ObjectLock {
			return fmt.Errorf("%w: %s", ErrNoLockConfig, bucket)
		}
		r.Versioning.DefaultMode, r.Versioning.DefaultDays, r.Versioning.DefaultYears = c.Mode, c.Days, c.Years
		cfg = r.Versioning.catalog(r.Generation)
		return nil
	})
	if err != nil {
		return err
	}
	return ns.recordVersioning(ctx, bucket, cfg)
}

// lockVersion opens one version (versionID empty: the current one) of an
// object in a bucket with object lock, for a change of its lock.
func (ns *Namespace) lockVersion(ctx context.Context, bucket, key, versionID string) (catalog.Version, *record, error) {
	if err := checkKey(key); err != nil {
		return catalog.Version{}, nil, err
	}
	cfg, err := ns.BucketVersioning(ctx, bucket)
	if err != nil {
		return catalog.Version{}, nil, err
	}
	if !cfg.ObjectLock {
		return catalog.Version{}, nil, fmt.Errorf("%w: %s", ErrNoLockConfig, bucket)
	}
	if versionID != "" {
		if err := checkVersionID(versionID); err != nil {
			return catalog.Version{}, nil, err
		}
	}
	v, err := ns.cat.GetVersion(ctx, bucket, key, versionID)
	if errors.Is(err, catalog.ErrNotFound) {
		if versionID != "" {
			return v, nil, fmt.Errorf("%w: %s/%s?versionId=%s", ErrNoSuchVersion, bucket, key, versionID)
		}
		return v, nil, fmt.Errorf("%w: %s/%s", ErrNoSuchKey, bucket, key)
	}
	if err != nil {
		return v, nil, mapCatalogErr(err, bucket, key)
	}
	if v.DeleteMarker {
		return v, nil, &DeleteMarkerError{Bucket: bucket, Key: key, VersionID: v.VersionID, Current: versionID == ""}
	}
	r, err := ns.openVersion(&v)
	return v, r, err
}

// ObjectRetention returns the retention of one version (versionID empty:
// the current one); nil if it has none.
func (ns *Namespace) ObjectRetention(ctx context.Context, bucket, key, versionID string) (*Retention, error) {
	if err := ns.Authorize(ctx, bucket, AccessRead); err != nil {
		return nil, err
	}
	_, r, err := ns.lockVersion(ctx, bucket, key, versionID)
	if err != nil {
		return nil, err
	}
	if r.Retention == nil {
		return nil, nil
	}
	return &Retention{Mode: r.Retention.Mode, Until: r.Retention.Until}, nil
}

// SetObjectRetention sets the retention of one version. A COMPLIANCE
// retention can only be extended; a GOVERNANCE one can be shortened,
// lifted or changed to COMPLIANCE, the first two only with
// bypassGovernance. nil lifts the retention.
func (ns *Namespace) SetObjectRetention(ctx context.Context, bucket, key, versionID string, ret *Retention, bypassGovernance bool) (ObjectInfo, error) {
	if err := ns.Authorize(ctx, bucket, AccessWrite); err != nil {
		return ObjectInfo{}, err
	}
	unlock, lerr := ns.lock(ctx, bucket, key)
	if lerr != nil {
		return ObjectInfo{}, lerr
	}
	defer unlock()
	v, r, err := ns.lockVersion(ctx, bucket, key, versionID)
	if err != nil {
		return ObjectInfo{}, err
	}
	now := ns.now()
	if ret != nil {
		if err := checkRetention(ret, now); err != nil {
			return ObjectInfo{}, err
		}
	}
	if old := r.Retention; old != nil && old.Until.After(now) {
		weaker := ret == nil || ret.Until.Before(old.Until) || (old.Mode == RetainCompliance && ret.Mode != RetainCompliance)
		if weaker && (old.Mode == RetainCompliance || !bypassGovernance) {
			return ObjectInfo{}, fmt.Errorf("%w: the retention of %s/%s?versionId=%s (%s until %s) cannot be shortened or lifted", ErrObjectLocked,
				bucket, key, v.VersionID, old.Mode, old.Until.UTC().Format(time.RFC3339))
		}
	}
	r.Retention = nil
	if ret != nil {
		r.Retention = &retentionRecord{Mode: ret.Mode, Until: ret.Until.UTC()}
	}
	return ns.rewriteVersion(ctx, &v, r)
}

// ObjectLegalHold reports whether one version is under a legal hold.
func (ns *Namespace) ObjectLegalHold(ctx context.Context, bucket, key, versionID string) (bool, error) {
	if err := ns.Authorize(ctx, bucket, AccessRead); err != nil {
		return false, err
	}
	_, r, err := ns.lockVersion(ctx, bucket, key, versionID)
	if err != nil {
		return false, err
	}
	return r.LegalHold, nil
}

// SetObjectLegalHold places or lifts the legal hold of one version.
func (ns *Namespace) SetObjectLegalHold(ctx context.Context, bucket, key, versionID string, on bool) (ObjectInfo, error) {
	if err := ns.Authorize(ctx, bucket, AccessWrite); err != nil {
		return ObjectInfo{}, err
	}
	unlock, lerr := ns.lock(ctx, bucket, key)
	if lerr != nil {
		return ObjectInfo{}, lerr
	}
	defer unlock()
	v, r, err := ns.lockVersion(ctx, bucket, key, versionID)
	if err != nil {
		return ObjectInfo{}, err
	}
	r.LegalHold = on
	return ns.rewriteVersion(ctx, &v, r)
}

// rewriteVersion writes r, changed from the record of v, as the new record
// of the same version, one generation up. The caller holds the key's lock.
func (ns *Namespace) rewriteVersion(ctx context.Context, v *catalog.Version, r *record) (ObjectInfo, error) {
	if err := ns.loadInline(ctx, r); err != nil {
		return ObjectInfo{}, err
	}
	r.VersionID, r.Seq = v.VersionID, v.Seq
	r.Generation = ns.nextGeneration(v.Generation)
	info, err := ns.putVersion(ctx, r)
	if err != nil {
		return ObjectInfo{}, err
	}
	info.VersionID = v.VersionID
	return info, nil
}
