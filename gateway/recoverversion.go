package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"syscall"
	"time"
)

// VersionsDir is the directory under a recovery directory that Recover
// with AllVersions fills with every version of every key of a bucket with
// versioning: VersionsDir/<bucket>/<key>/<time>-<version ID>, the time
// being the version's modification time in UTC (20060102T150405.000Z).
// No bucket can be named so. VersionsManifest, in it, lists every version
// and delete marker, one JSON object a line: the versions of a key on
// consecutive lines, newest first; the keys in no particular order.
const (
	VersionsDir      = "%versions"
	VersionsManifest = "versions.jsonl"
)

// VersionEntry is one line of VersionsManifest.
type VersionEntry struct {
	Bucket       string    `json:"bucket"`
	Key          string    `json:"key"`
	VersionID    string    `json:"versionId"`
	Latest       bool      `json:"latest"`
	DeleteMarker bool      `json:"deleteMarker,omitempty"`
	ModTime      time.Time `json:"modTime"`
	// Path is the file of the version, relative to the recovery
	// directory and '/'-separated; empty for a delete marker.
	Path string `json:"path,omitempty"`
}

// ownCandidate returns the key's own unversioned object record (an object
// written before versioning, the key's null version) as a candidate, or
// nil.
func (rc *recovery) ownCandidate(ctx context.Context, g *versionGroup) *versionCand {
	base, _ := rc.ns.names.meta(g.bucket, g.key)
	own, r := rc.ns.newestStored(ctx, base)
	if r == nil || r.Kind != kindObject || isVersionRecord(r) {
		return nil
	}
	return &versionCand{name: own, versionID: NullVersion, seq: recordSeq(r), modTime: r.ModTime}
}

// recoverVersions restores, for every key with versions, its current
// version as Dir/<bucket>/<key> (or, if it is a delete marker, nothing:
// an object restored there from the key's own record is removed), and
// with all every version under VersionsDir, listed in VersionsManifest.
// The keys come in the order of their meta hashes (versionSpill), the
// versions of each newest first.
func (rc *recovery) recoverVersions(ctx context.Context, all bool) (err error) {
	var manifest *tempFile
	defer func() {
		if manifest != nil && err != nil {
			manifest.abort()
		}
	}()
	var enc *json.Encoder
	err = rc.vs.eachGroup(ctx, func(g *versionGroup) *versionCand { return rc.ownCandidate(ctx, g) },
		func(g *versionGroup, next func() (*versionCand, bool, error)) error {
			if rc.sample != nil {
				rc.sample(true)
			}
			bucket, key := g.bucket, g.key
			rel, dir, _ := filePath(bucket, key, 0)
			for i := 0; ; i++ {
				c, ok, err := next()
				if err != nil {
					return err
				}
				if !ok {
					return nil
				}
				if i == 0 {
					switch {
					case c.marker:
						// Deleted: what the key's own record restored goes.
						if !dir {
							// ENOTDIR: a parent is a file, so rel is not there either.
							if err := rc.root.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
								rc.fail("not removed", RecoverFailure{Name: c.name, Bucket: bucket, Key: key, Err: err})
							}
						}
						rc.rep.Deleted++
					case c.deferred:
						if f := rc.recoverVersion(ctx, c.name, ""); f != nil {
							rc.fail("not recovered", *f)
						}
					}
				}
				if !all {
					return nil
				}
				e := VersionEntry{Bucket: bucket, Key: key, VersionID: c.versionID, Latest: i == 0, DeleteMarker: c.marker, ModTime: c.modTime}
				if !c.marker {
					vrel, _, _ := filePath(VersionsDir+"/"+bucket, key, 1)
					vrel = path.Join(vrel, c.modTime.UTC().Format("20060102T150405.000Z")+"-"+encodeSegment(c.versionID))
					if f := rc.recoverVersion(ctx, c.name, vrel); f != nil {
						rc.fail("version not recovered", *f)
						continue
					}
					rc.rep.Versions++
					e.Path = vrel
				}
				if manifest == nil {
					if err := rc.root.MkdirAll(VersionsDir, 0o700); err != nil {
						return err
					}
					if manifest, err = createTemp(rc.root, VersionsDir); err != nil {
						return err
					}
					enc = json.NewEncoder(manifest.w)
				}
				if err := enc.Encode(e); err != nil {
					return err
				}
			}
		})
	if err != nil || manifest == nil {
		return err
	}
	m := manifest
	manifest = nil
	return m.commit(VersionsDir + "/" + VersionsManifest)
}

// recoverVersion restores the object record name to rel (empty: the
// object's own path, counted as an object); it returns a failure or nil.
func (rc *recovery) recoverVersion(ctx context.Context, name, rel string) *RecoverFailure {
	ns := rc.ns
	sealed, err := readAll(ctx, ns.store, name)
	if err != nil {
		return &RecoverFailure{Name: name, Err: err}
	}
	r, err := ns.openStoredRecord(name, sealed)
	if err != nil {
		return &RecoverFailure{Name: name, Err: err}
	}
	if r.Kind != kindObject {
		return &RecoverFailure{Name: name, Bucket: r.Bucket, Key: r.Key, Err: fmt.Errorf("%w: a %s record where a version was", ErrCorruptRecord, r.Kind)}
	}
	current := rel == ""
	if current {
		var dir, encoded bool
		rel, dir, encoded = filePath(r.Bucket, r.Key, r.Size)
		if dir {
			if err := rc.mkdirAside(rel); err != nil {
				return &RecoverFailure{Name: name, Bucket: r.Bucket, Key: r.Key, Err: err}
			}
			rc.rep.Dirs++
			return nil
		}
		n, used, err := rc.restoreFile(ctx, rel, r)
		rc.rep.Bytes += n
		if err != nil {
			return &RecoverFailure{Name: name, Bucket: r.Bucket, Key: r.Key, Err: err}
		}
		if encoded || used != plainPath(r.Bucket, r.Key) {
			rc.renamed(RenamedKey{Bucket: r.Bucket, Key: r.Key, Path: used})
		}
		rc.rep.Objects++
		return nil
	}
	n, _, err := rc.restoreFile(ctx, rel, r)
	rc.rep.Bytes += n
	if err != nil {
		return &RecoverFailure{Name: name, Bucket: r.Bucket, Key: r.Key, Err: err}
	}
	return nil
}
