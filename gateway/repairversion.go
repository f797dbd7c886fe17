package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// isVersionRecord reports whether r belongs to a version of a key in a
// bucket with versioning: it names a version, or is a delete marker.
func isVersionRecord(r *record) bool {
	return r.Kind != kindBucket && (r.VersionID != "" || r.Kind == kindDeleteMarker)
}

// keyVersioned reports whether the catalog keeps bucket/key as versions.
func (ns *Namespace) keyVersioned(ctx context.Context, bucket, key string) bool {
	if key == "" {
		return false
	}
	if e, err := ns.cat.Get(ctx, bucket, key); err == nil {
		return e.VersionID != ""
	}
	v, err := ns.cat.GetVersion(ctx, bucket, key, "")
	return err == nil && v.DeleteMarker
}

// fixVersionMeta rewrites one backend's copy of a version's record with
// the record the catalog holds, as fixMeta does for an object. It reports
// whether it wrote.
func (ns *Namespace) fixVersionMeta(ctx context.Context, members []backends.Backend, dst backends.Backend, p Problem) (bool, error) {
	if dst == nil {
		return false, fmt.Errorf("unknown backend %q", p.Backend)
	}
	unlock, lerr := ns.lock(ctx, p.Bucket, p.Key)
	if lerr != nil {
		return false, lerr
	}
	defer unlock()
	v, err := ns.cat.GetVersion(ctx, p.Bucket, p.Key, p.VersionID)
	if errors.Is(err, catalog.ErrNotFound) || errors.Is(err, catalog.ErrNoSuchBucket) {
		return false, nil // deleted meanwhile
	}
	if err != nil {
		return false, err
	}
	// Never spread a catalog record that does not open.
	r, err := ns.openVersion(&v)
	if err != nil {
		return false, fmt.Errorf("the catalog's record: %w", err)
	}
	base, _ := ns.names.version(p.Bucket, p.Key, p.VersionID)
	name := storedName(base, r)
	if name != p.Name {
		return false, nil // written again meanwhile: the next round checks the new record
	}
	good := ns.providerCopy(ctx, members, dst, name, v.Record)
	if good == nil {
		if newer := ns.newerRecord(ctx, members, base, r); newer != "" {
			return false, fmt.Errorf("no backend holds the catalog's record, and %s is newer: left for repair to take over", newer)
		}
		if _, err := ns.rewriteVersion(ctx, &v, r); err != nil && !errors.Is(err, ErrPrecondition) {
			return false, err
		}
		ns.log.Info("repair: no backend held the catalog's version record; sealed it anew", "bucket", v.Bucket, "key", v.Key, "version", v.VersionID)
		return true, nil
	}
	if err := dst.Put(ctx, name, bytes.NewReader(good), int64(len(good))); err != nil {
		return false, err
	}
	return true, nil
}

// fixVersionTombstone rewrites one backend's copy of a deleted version's
// record with the catalog's tombstone. It reports whether it wrote.
func (ns *Namespace) fixVersionTombstone(ctx context.Context, dst backends.Backend, p Problem) (bool, error) {
	if dst == nil {
		return false, fmt.Errorf("unknown backend %q", p.Backend)
	}
	unlock, lerr := ns.lock(ctx, p.Bucket, p.Key)
	if lerr != nil {
		return false, lerr
	}
	defer unlock()
	t, err := ns.cat.GetVersionTombstone(ctx, p.Bucket, p.Key, p.VersionID)
	if errors.Is(err, catalog.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	base, id := ns.names.version(p.Bucket, p.Key, p.VersionID)
	r, err := ns.openRecord(t.Record, id)
	if err == nil && (r.Kind != kindTombstone || r.Bucket != p.Bucket || r.Key != p.Key || r.VersionID != p.VersionID) {
		err = fmt.Errorf("%w: the catalog's tombstone holds a %s record of %q/%q?versionId=%s", ErrCorruptRecord, r.Kind, r.Bucket, r.Key, r.VersionID)
	}
	if err != nil {
		return false, fmt.Errorf("the catalog's tombstone: %w", err)
	}
	name := storedName(base, r)
	if name != p.Name {
		return false, nil // deleted again meanwhile: the next round checks the new tombstone
	}
	if err := dst.Put(ctx, name, bytes.NewReader(t.Record), int64(len(t.Record))); err != nil {
		return false, err
	}
	return true, nil
}

// adoptVersion takes an authenticated record of a version (or a version's
// tombstone) into the catalog unless it holds the same or a newer one: a
// version whose blobs some backend holds, a tombstone always (the gateway
// that wrote it checked the version's lock). It reports whether the
// catalog changed.
func (ns *Namespace) adoptVersion(ctx context.Context, members []backends.Backend, r *record, sealed []byte) (bool, error) {
	if r.Kind == kindObject {
		held, err := ns.blobsHeld(ctx, members, r)
		if err != nil {
			return false, err
		}
		if !held {
			return false, fmt.Errorf("the version's blobs are missing on every backend; left as is (generation %d)", r.Generation)
		}
	}
	if r.Kind != kindTombstone {
		if err := ns.ensureBucket(ctx, r.Bucket, r.ModTime); err != nil {
			return false, err
		}
	}
	unlock, lerr := ns.lock(ctx, r.Bucket, r.Key)
	if lerr != nil {
		return false, lerr
	}
	defer unlock()
	var err error
	switch r.Kind {
	case kindTombstone:
		t := tombstoneOf(r, sealed)
		if t.VersionID == "" {
			t.VersionID = NullVersion
		}
		_, err = ns.cat.DeleteVersion(ctx, t, catalog.DeleteVersionOptions{BypassGovernance: true})
	case kindObject, kindDeleteMarker:
		_, err = ns.cat.PutVersion(ctx, ns.versionOf(r, sealed))
	default:
		return false, fmt.Errorf("%w: kind %q under a version's name", ErrCorruptRecord, r.Kind)
	}
	if errors.Is(err, catalog.ErrStale) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ns.log.Info("repair: took over a version's record", "bucket", r.Bucket, "key", r.Key, "version", r.VersionID, "kind", r.Kind, "generation", r.Generation)
	return true, nil
}
