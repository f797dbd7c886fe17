package gateway

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/seal"
)

// ErrUnsafePath means a bucket name cannot be restored as a directory, or an
// object's content conflicts with the path its key maps to.
var ErrUnsafePath = errors.New("key does not map to a safe file path")

// RenamesFile lists, in the recovery directory, every object restored under
// a path other than its key: one JSON object per line, {"bucket", "key",
// "path"}.
const RenamesFile = ".twincrypt-recover-names.jsonl"

// RecoverOptions configure Recover.
type RecoverOptions struct {
	// Keys opens the meta records and blobs: the keyring alone.
	Keys Keys
	// Backend is the one backend to read from.
	Backend backends.Backend
	// Dir receives one directory per bucket and one file per object.
	Dir string
	// Progress, when set, is called after every meta record.
	Progress func(RecoverProgress)
	// Logger receives one line per object that failed; nil: discard.
	Logger *slog.Logger
	// AllVersions also restores every version of every key of a bucket
	// with versioning under Dir/%versions (see VersionsDir), with a
	// manifest; without it only current versions are restored.
	AllVersions bool
}

// RecoverProgress reports how far a recovery has come.
type RecoverProgress struct {
	Records int   // meta records handled
	Bytes   int64 // plaintext bytes written
}

// RecoverFailure is one object that could not be restored.
type RecoverFailure struct {
	Name        string // backend name of the meta record
	Bucket, Key string // empty when the record did not open
	Err         error
}

// RecoverReport counts what Recover restored.
type RecoverReport struct {
	Buckets int   // bucket directories created
	Objects int   // files written
	Dirs    int   // directory markers (keys ending in "/") created
	Bytes   int64 // plaintext bytes written
	// Deleted counts tombstones: deleted objects and buckets, not
	// restored.
	Deleted int
	// Versions counts the versions written under VersionsDir (with
	// AllVersions).
	Versions int
	// Renamed lists the objects restored under a path other than their
	// key (see filePath); they are also written to RenamesFile.
	Renamed []RenamedKey
	Failed  []RecoverFailure
}

// RenamedKey is an object restored under a path other than its key.
type RenamedKey struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	Path   string `json:"path"` // relative to the recovery directory, '/'-separated
}

// Recover restores every bucket and object as plaintext files under Dir,
// from one backend and the keyring alone: no catalog and no config. It lists
// the meta records on the backend, authenticates each (and its binding to
// its name), and for objects streams their blobs through the object format
// into Dir/<bucket>/<key>, written to a temporary file, synced, given the
// object's modification time and renamed into place. Empty buckets become
// empty directories and keys ending in "/" with no content directories.
// Every key S3 accepts is restored: segments a file system cannot hold are
// encoded (filePath), an object whose path another key needs as a directory
// is restored beside it with a "%" appended, and both are listed in the
// report and in RenamesFile. Files already present are replaced.
//
// Failures of single objects are collected in the report and do not stop
// the recovery; the error reports what stopped it (listing, Dir).
func Recover(ctx context.Context, o RecoverOptions) (*RecoverReport, error) {
	if o.Keys == nil || o.Backend == nil || o.Dir == "" {
		return nil, errors.New("recover: Keys, Backend and Dir are required")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ns := readOnlyNamespace(o.Keys, o.Backend, log)
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("recover: %w", err)
	}
	root, err := os.OpenRoot(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("recover: %w", err)
	}
	defer root.Close()
	rep := &RecoverReport{}
	var prog RecoverProgress
	vs := make(versionSet)
	err = listAll(ctx, o.Backend, metaPrefix, func(it backends.Info) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		f := ns.recoverOne(ctx, root, it.Name, rep, vs)
		if f != nil {
			rep.Failed = append(rep.Failed, *f)
			log.Warn("not recovered", "record", f.Name, "bucket", f.Bucket, "key", f.Key, "err", f.Err)
		}
		prog.Records++
		prog.Bytes = rep.Bytes
		if o.Progress != nil {
			o.Progress(prog)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("recover: list %s: %w", o.Backend.Name(), err)
	}
	if err := ns.recoverVersions(ctx, root, vs, o.AllVersions, rep, log); err != nil {
		return rep, fmt.Errorf("recover: %w", err)
	}
	if len(rep.Renamed) > 0 {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		for _, r := range rep.Renamed {
			enc.Encode(r)
		}
		if err := root.WriteFile(RenamesFile, b.Bytes(), 0o600); err != nil {
			return rep, fmt.Errorf("recover: %w", err)
		}
	}
	return rep, nil
}

// readOnlyNamespace returns a namespace that can open records and blobs of
// store without a catalog.
func readOnlyNamespace(keys Keys, store backends.Backend, log *slog.Logger) *Namespace {
	return &Namespace{keys: keys, store: store, log: log, rand: rand.Reader, now: time.Now, names: names{key: *keys.NameKey()}}
}

// recoverOne restores the record name; it returns a failure or nil. The
// records of versions are only noted in vs, for recoverVersions.
func (ns *Namespace) recoverOne(ctx context.Context, root *os.Root, name string, rep *RecoverReport, vs versionSet) *RecoverFailure {
	fail := func(r *record, err error) *RecoverFailure {
		f := &RecoverFailure{Name: name, Err: err}
		if r != nil {
			f.Bucket, f.Key = r.Bucket, r.Key
		}
		return f
	}
	if _, ok := metaHashOf(name); !ok {
		return nil // not a meta record name: nothing of ours
	}
	if epoch, _ := ns.names.epoch(); name == epoch {
		return nil // the namespace epoch: nothing to restore
	}
	sealed, err := readAll(ctx, ns.store, name)
	if err != nil {
		return fail(nil, err)
	}
	r, err := ns.openStoredRecord(name, sealed)
	if err != nil {
		return fail(nil, err)
	}
	if r.Kind == kindTombstone {
		rep.Deleted++ // deleted: nothing to restore
		return nil
	}
	if !ValidBucketName(r.Bucket) {
		return fail(r, fmt.Errorf("%w: bucket %q", ErrUnsafePath, r.Bucket))
	}
	if isVersionRecord(r) {
		vs.add(name, r, true)
		return nil
	}
	if r.Kind == kindBucket {
		if err := root.MkdirAll(r.Bucket, 0o700); err != nil {
			return fail(r, err)
		}
		rep.Buckets++
		return nil
	}
	rel, dir, encoded := filePath(r.Bucket, r.Key, r.Size)
	if dir {
		if err := mkdirAside(root, rel, rep); err != nil {
			return fail(r, err)
		}
		rep.Dirs++
		return nil
	}
	n, rel, err := ns.restoreFile(ctx, root, rel, r, rep)
	if err != nil {
		rep.Bytes += n
		return fail(r, err)
	}
	if encoded || rel != plainPath(r.Bucket, r.Key) {
		rep.Renamed = append(rep.Renamed, RenamedKey{Bucket: r.Bucket, Key: r.Key, Path: rel})
	}
	rep.Bytes += n
	rep.Objects++
	return nil
}

// filePath maps bucket/key to a slash-separated path relative to the
// recovery directory, and reports whether the key names a directory
// (ends in "/").
func filePath(bucket, key string, size int64) (rel string, dir, encoded bool) {
	dir = size == 0 && strings.HasSuffix(key, "/") && key != "/"
	k := key
	if dir {
		k = strings.TrimSuffix(key, "/")
	}
	segs := strings.Split(k, "/")
	for i, seg := range segs {
		if e := encodeSegment(seg); e != seg {
			segs[i], encoded = e, true
		}
	}
	return bucket + "/" + strings.Join(segs, "/"), dir, encoded
}

// plainPath is the path of bucket/key when nothing is encoded.
func plainPath(bucket, key string) string { return bucket + "/" + key }

// encodeSegment maps one segment of a key to a file name any file system
// holds, reversibly apart from shortening: "%" becomes "%25"; an empty
// segment (a leading, doubled or trailing "/") becomes "%", "." "%2E" and
// ".." "%2E%2E"; a segment longer than 255 bytes keeps its first bytes and
// ends in "%" and 16 hex digits of its SHA-256. A name with "%" never comes
// from a key unchanged, so encoded names and plain ones never collide.
func encodeSegment(seg string) string {
	seg = strings.ReplaceAll(seg, "%", "%25")
	switch seg {
	case "":
		return "%"
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	if len(seg) > 255 {
		sum := sha256.Sum256([]byte(seg))
		cut := strings.ToValidUTF8(seg[:255-17], "")
		for len(cut) > 0 && !utf8.ValidString(cut) {
			cut = cut[:len(cut)-1]
		}
		return cut + "%" + hex.EncodeToString(sum[:8])
	}
	return seg
}

// aside is the path an object takes when its own path is a directory that
// other keys need: its name with "%" appended.
func aside(rel string) string { return rel + "%" }

// mkdirAll creates dir and its parents under root; an object file standing
// where a directory must be is moved aside (aside), so that both keys are
// restored.
func mkdirAside(root *os.Root, dir string, rep *RecoverReport) error {
	err := root.MkdirAll(dir, 0o700)
	if err == nil {
		return nil
	}
	// Find the first component that is a file and move it aside.
	segs := strings.Split(dir, "/")
	for i := range segs {
		p := strings.Join(segs[:i+1], "/")
		fi, serr := root.Lstat(p)
		if serr != nil || fi.IsDir() {
			continue
		}
		if rerr := root.Rename(p, aside(p)); rerr != nil {
			return errors.Join(err, rerr)
		}
		for j := range rep.Renamed {
			if rep.Renamed[j].Path == p {
				rep.Renamed[j].Path = aside(p)
			}
		}
		if _, ok := renamedAt(rep, aside(p)); !ok {
			rep.Renamed = append(rep.Renamed, RenamedKey{Bucket: segs[0], Key: strings.Join(segs[1:i+1], "/"), Path: aside(p)})
		}
		return mkdirAside(root, dir, rep)
	}
	return err
}

// renamedAt finds the rename entry for path.
func renamedAt(rep *RecoverReport, p string) (int, bool) {
	for i, r := range rep.Renamed {
		if r.Path == p {
			return i, true
		}
	}
	return 0, false
}

// restoreFile writes the plaintext of r to rel atomically and returns the
// bytes written and the path it used: rel, or aside(rel) when rel is a
// directory other keys need.
func (ns *Namespace) restoreFile(ctx context.Context, root *os.Root, rel string, r *record, rep *RecoverReport) (n int64, _ string, err error) {
	if err := mkdirAside(root, path.Dir(rel), rep); err != nil {
		return 0, rel, err
	}
	var rnd [8]byte
	if _, err := io.ReadFull(rand.Reader, rnd[:]); err != nil {
		return 0, rel, err
	}
	tmp := path.Join(path.Dir(rel), ".twincrypt-recover-"+hex.EncodeToString(rnd[:]))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, rel, err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil {
			root.Remove(tmp)
		}
	}()
	var sum hash.Hash
	var w io.Writer = f
	if len(r.Parts) <= 1 && !strings.Contains(r.ETag, "-") {
		sum = md5.New()
		w = io.MultiWriter(f, sum)
	}
	var total int64
	for i := range r.Parts {
		m, err := ns.copyPart(ctx, w, &r.Parts[i])
		n += m
		if err != nil {
			return n, rel, fmt.Errorf("part %d: %w", i+1, err)
		}
		total += r.Parts[i].Size
	}
	if total != r.Size {
		return n, rel, fmt.Errorf("%w: parts hold %d bytes, record says %d", ErrCorruptRecord, total, r.Size)
	}
	if sum != nil && r.ETag != "" && hex.EncodeToString(sum.Sum(nil)) != r.ETag {
		return n, rel, fmt.Errorf("%w: content MD5 differs from the ETag", ErrIntegrity)
	}
	if err := f.Sync(); err != nil {
		return n, rel, err
	}
	if err := f.Close(); err != nil {
		f = nil
		return n, rel, err
	}
	f = nil
	if !r.ModTime.IsZero() {
		if err := root.Chtimes(tmp, r.ModTime, r.ModTime); err != nil {
			return n, rel, err
		}
	}
	if fi, err := root.Lstat(rel); err == nil && fi.IsDir() {
		rel = aside(rel) // other keys continue below this one
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return n, rel, err
	}
	if err := root.Rename(tmp, rel); err != nil {
		return n, rel, err
	}
	return n, rel, nil
}

// copyPart writes the plaintext of one part to w.
func (ns *Namespace) copyPart(ctx context.Context, w io.Writer, p *partRecord) (int64, error) {
	op, err := ns.partOpener(p)
	if err != nil {
		return 0, err
	}
	id, _ := parseBlobID(p.Blob)
	boff, blen := op.Window(p.Size, 0, -1)
	rc, err := ns.partBytes(ctx, p, id, boff, blen)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.Copy(w, op.NewReader(rc, p.Size, 0, -1))
	if err == nil && n != p.Size {
		err = fmt.Errorf("%w: part yielded %d of %d bytes", seal.ErrIntegrity, n, p.Size)
	}
	return n, err
}
