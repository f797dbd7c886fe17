package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"slices"
	"strings"
	"time"
)

// VersionsDir is the directory under a recovery directory that Recover
// with AllVersions fills with every version of every key of a bucket with
// versioning: VersionsDir/<bucket>/<key>/<time>-<version ID>, the time
// being the version's modification time in UTC (20060102T150405.000Z).
// No bucket can be named so. VersionsManifest, in it, lists every version
// and delete marker, one JSON object a line.
const (
	VersionsDir      = "%versions"
	VersionsManifest = "versions.jsonl"
)

// versionCand is one record of a version found by Recover.
type versionCand struct {
	name      string // backend name of its record
	versionID string
	seq       uint64
	marker    bool
	modTime   time.Time
	// deferred: met while listing and not restored then (every record
	// that names a version); the key's own unversioned record was.
	deferred bool
}

// versionSet collects the records of versions by bucket and key.
type versionSet map[[2]string][]versionCand

func (vs versionSet) add(name string, r *record, deferred bool) {
	k := [2]string{r.Bucket, r.Key}
	id := r.VersionID
	if id == "" {
		id = NullVersion
	}
	seq := r.Seq
	if seq == 0 {
		seq = r.Generation
	}
	vs[k] = append(vs[k], versionCand{name: name, versionID: id, seq: seq, marker: r.Kind == kindDeleteMarker, modTime: r.ModTime, deferred: deferred})
}

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

// recoverVersions restores, for every key with versions, its current
// version as Dir/<bucket>/<key> (or, if it is a delete marker, nothing:
// an object restored there from the key's own record is removed), and
// with all every version under VersionsDir.
func (ns *Namespace) recoverVersions(ctx context.Context, root *os.Root, vs versionSet, all bool, rep *RecoverReport, log *slog.Logger) error {
	keys := make([][2]string, 0, len(vs))
	for k := range vs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	var manifest bytes.Buffer
	enc := json.NewEncoder(&manifest)
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		bucket, key := k[0], k[1]
		cands := vs[k]
		// An object written before versioning is the key's null version,
		// under the key's own name, restored as an unversioned object.
		own, _ := ns.names.meta(bucket, key)
		if !slices.ContainsFunc(cands, func(c versionCand) bool { return c.name == own }) {
			if sealed, err := readAll(ctx, ns.store, own); err == nil {
				if r, err := ns.openStoredRecord(own, sealed); err == nil && r.Kind == kindObject {
					vs.add(own, r, false)
					cands = vs[k]
				}
			}
		}
		// Newest first, as the catalog orders them.
		slices.SortFunc(cands, func(a, b versionCand) int {
			if a.seq != b.seq {
				if a.seq > b.seq {
					return -1
				}
				return 1
			}
			return strings.Compare(a.versionID, b.versionID)
		})
		rel, dir, _ := filePath(bucket, key, 0)
		cur := cands[0]
		switch {
		case cur.marker:
			// Deleted: what the key's own record restored goes.
			if !dir {
				if err := root.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
					rep.Failed = append(rep.Failed, RecoverFailure{Name: cur.name, Bucket: bucket, Key: key, Err: err})
				}
			}
			rep.Deleted++
		case cur.deferred:
			if f := ns.recoverVersion(ctx, root, cur.name, "", rep); f != nil {
				rep.Failed = append(rep.Failed, *f)
				log.Warn("not recovered", "record", f.Name, "bucket", f.Bucket, "key", f.Key, "err", f.Err)
			}
		}
		if !all {
			continue
		}
		for i, c := range cands {
			e := VersionEntry{Bucket: bucket, Key: key, VersionID: c.versionID, Latest: i == 0, DeleteMarker: c.marker, ModTime: c.modTime}
			if !c.marker {
				vrel, _, _ := filePath(VersionsDir+"/"+bucket, key, 1)
				vrel = path.Join(vrel, c.modTime.UTC().Format("20060102T150405.000Z")+"-"+encodeSegment(c.versionID))
				if f := ns.recoverVersion(ctx, root, c.name, vrel, rep); f != nil {
					rep.Failed = append(rep.Failed, *f)
					log.Warn("version not recovered", "record", f.Name, "bucket", f.Bucket, "key", f.Key, "err", f.Err)
					continue
				}
				rep.Versions++
				e.Path = vrel
			}
			enc.Encode(e)
		}
	}
	if all && manifest.Len() > 0 {
		if err := root.MkdirAll(VersionsDir, 0o700); err != nil {
			return err
		}
		if err := root.WriteFile(VersionsDir+"/"+VersionsManifest, manifest.Bytes(), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// recoverVersion restores the object record name to rel (empty: the
// object's own path, counted as an object); it returns a failure or nil.
func (ns *Namespace) recoverVersion(ctx context.Context, root *os.Root, name, rel string, rep *RecoverReport) *RecoverFailure {
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
			if err := mkdirAside(root, rel, rep); err != nil {
				return &RecoverFailure{Name: name, Bucket: r.Bucket, Key: r.Key, Err: err}
			}
			rep.Dirs++
			return nil
		}
		n, used, err := ns.restoreFile(ctx, root, rel, r, rep)
		rep.Bytes += n
		if err != nil {
			return &RecoverFailure{Name: name, Bucket: r.Bucket, Key: r.Key, Err: err}
		}
		if encoded || used != plainPath(r.Bucket, r.Key) {
			rep.Renamed = append(rep.Renamed, RenamedKey{Bucket: r.Bucket, Key: r.Key, Path: used})
		}
		rep.Objects++
		return nil
	}
	n, _, err := ns.restoreFile(ctx, root, rel, r, rep)
	rep.Bytes += n
	if err != nil {
		return &RecoverFailure{Name: name, Bucket: r.Bucket, Key: r.Key, Err: err}
	}
	return nil
}
