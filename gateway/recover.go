package gateway

import (
	"bufio"
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
// "path"}, in the order they were restored.
const RenamesFile = ".twincrypt-recover-names.jsonl"

// RecoverListMax is how many renamed objects and how many failures a
// RecoverReport lists; beyond it they are only counted (RenamesFile and
// the log list them all).
const RecoverListMax = 1000

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

	// spillBuffer is the number of version keys held in memory before
	// they are written to disk (spill.DefaultBuffer when <= 0); listMax
	// replaces RecoverListMax when > 0; sample, when set, is called after
	// every record (false) and every key with versions (true). For tests.
	spillBuffer int
	listMax     int
	sample      func(versions bool)
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
	// Renamed lists the first RecoverListMax objects restored under a
	// path other than their key (see filePath); RenamedCount counts them
	// all, and RenamesFile lists them all.
	Renamed      []RenamedKey
	RenamedCount int
	// Failed lists the first RecoverListMax objects that were not
	// restored; FailedCount counts them all, and the Logger receives
	// one line for each.
	Failed      []RecoverFailure
	FailedCount int
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
// its name), takes of the records of one key or version the newest (a
// superseded record a failed deletion left beside it is passed over), and
// for objects streams their blobs through the object format
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
//
// Memory does not grow with the number of objects: the records of
// versions wait in a spill set in temporary files under os.TempDir()
// (versionSpill), the manifest and RenamesFile are written as they are
// produced, and the report keeps at most RecoverListMax renames and
// failures.
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
	vs, err := newVersionSpill(root, o.spillBuffer)
	if err != nil {
		return nil, fmt.Errorf("recover: %w", err)
	}
	defer vs.close()
	rc := &recovery{ns: ns, root: root, rep: &RecoverReport{}, log: log, vs: vs, listMax: o.listMax}
	if rc.listMax <= 0 {
		rc.listMax = RecoverListMax
	}
	defer func() {
		if rc.names != nil {
			rc.names.abort()
		}
	}()
	rep := rc.rep
	var prog RecoverProgress
	// The records of one key or version (the names of one hash: the
	// base name, then those of each generation, in byte order) come one
	// after another: the newest that authenticates is restored once the
	// last is read, the others being superseded.
	var grp recordGroup
	settle := func() error {
		if grp.r == nil {
			return nil
		}
		f, err := rc.recoverRecord(ctx, grp.name, grp.r)
		grp = recordGroup{}
		if err != nil {
			return err
		}
		if f != nil {
			rc.fail("not recovered", *f)
		}
		return nil
	}
	err = listAll(ctx, o.Backend, metaPrefix, func(it backends.Info) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if m, ok := parseMetaName(it.Name); ok && m.hash != grp.hash {
			if err := settle(); err != nil {
				return err
			}
			grp.hash = m.hash
		}
		name, r, f := rc.openOne(ctx, it.Name)
		if f != nil {
			rc.fail("not recovered", *f)
		}
		if r != nil && (grp.r == nil || r.Generation > grp.r.Generation) {
			grp.name, grp.r = name, r
		}
		prog.Records++
		prog.Bytes = rep.Bytes
		if o.Progress != nil {
			o.Progress(prog)
		}
		if o.sample != nil {
			o.sample(false)
		}
		return nil
	})
	if err == nil {
		err = settle()
	}
	if err != nil {
		return rep, fmt.Errorf("recover: list %s: %w", o.Backend.Name(), err)
	}
	rc.sample = o.sample
	if err := rc.recoverVersions(ctx, o.AllVersions); err != nil {
		return rep, fmt.Errorf("recover: %w", err)
	}
	if err := rc.writeRenames(); err != nil {
		return rep, fmt.Errorf("recover: %w", err)
	}
	return rep, nil
}

// recovery is the state of one Recover run.
type recovery struct {
	ns      *Namespace
	root    *os.Root
	rep     *RecoverReport
	log     *slog.Logger
	vs      *versionSpill
	listMax int
	// names receives every RenamedKey as it is produced (writeRenames
	// completes it).
	names  *tempFile
	sample func(versions bool)
}

// fail counts and logs a failure, and lists it in the report if there is
// room.
func (rc *recovery) fail(msg string, f RecoverFailure) {
	rc.rep.FailedCount++
	if len(rc.rep.Failed) < rc.listMax {
		rc.rep.Failed = append(rc.rep.Failed, f)
	}
	rc.log.Warn(msg, "record", f.Name, "bucket", f.Bucket, "key", f.Key, "err", f.Err)
}

// renamed counts an object restored under another path, lists it in the
// report if there is room and writes it to the renames stream. An error
// writing the stream is kept by its buffer and returned by writeRenames.
func (rc *recovery) renamed(r RenamedKey) {
	rc.rep.RenamedCount++
	if len(rc.rep.Renamed) < rc.listMax {
		rc.rep.Renamed = append(rc.rep.Renamed, r)
	}
	if rc.names == nil {
		t, err := createTemp(rc.root, ".")
		if err != nil {
			rc.names = &tempFile{w: bufio.NewWriterSize(errWriter{err}, 16)}
			return
		}
		rc.names = t
	}
	b, _ := json.Marshal(r)
	rc.names.w.Write(append(b, '\n'))
}

// errWriter fails every write with err.
type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

// writeRenames writes RenamesFile from the renames stream: each entry
// whose path became a directory later (other keys continue below it) is
// given the path its file was moved to (aside), as mkdirAside did to
// the entries in the report.
func (rc *recovery) writeRenames() error {
	if rc.names == nil {
		return nil
	}
	src := rc.names
	if err := src.w.Flush(); err != nil {
		return err
	}
	if src.f == nil {
		return errors.New("renames file not created")
	}
	if _, err := src.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	dst, err := createTemp(rc.root, ".")
	if err != nil {
		return err
	}
	br := bufio.NewReaderSize(src.f, 64<<10)
	enc := json.NewEncoder(dst.w)
	for {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) && len(line) == 0 {
			break
		}
		if err != nil {
			dst.abort()
			return err
		}
		var r RenamedKey
		if err := json.Unmarshal(line, &r); err != nil {
			dst.abort()
			return err
		}
		if movedAside(rc.root, r.Path) {
			r.Path = aside(r.Path)
		}
		if err := enc.Encode(r); err != nil {
			dst.abort()
			return err
		}
	}
	if err := dst.commit(RenamesFile); err != nil {
		return err
	}
	rc.names = nil
	src.abort()
	return nil
}

// movedAside reports whether the file restored at p was moved aside: p is
// a directory now and aside(p) a file.
func movedAside(root *os.Root, p string) bool {
	fi, err := root.Lstat(p)
	if err != nil || !fi.IsDir() {
		return false
	}
	fi, err = root.Lstat(aside(p))
	return err == nil && fi.Mode().IsRegular()
}

// readOnlyNamespace returns a namespace that can open records and blobs of
// store without a catalog.
func readOnlyNamespace(keys Keys, store backends.Backend, log *slog.Logger) *Namespace {
	return &Namespace{keys: keys, store: store, log: log, rand: rand.Reader, now: time.Now, names: names{key: *keys.NameKey()}}
}

// recordGroup is the newest authenticated record, so far, of the names of
// one meta hash in a listing.
type recordGroup struct {
	hash [32]byte
	name string
	r    *record
}

// openOne reads and authenticates the record name; it returns the record,
// nil for a name that holds nothing to restore (not a meta record name,
// the namespace epoch), or a failure.
func (rc *recovery) openOne(ctx context.Context, name string) (string, *record, *RecoverFailure) {
	ns := rc.ns
	if _, ok := metaHashOf(name); !ok {
		return name, nil, nil // not a meta record name: nothing of ours
	}
	if epoch, _ := ns.names.epoch(); name == epoch {
		return name, nil, nil // the namespace epoch: nothing to restore
	}
	sealed, err := readAll(ctx, ns.store, name)
	if err != nil {
		return name, nil, &RecoverFailure{Name: name, Err: err}
	}
	r, err := ns.openStoredRecord(name, sealed)
	if err != nil {
		return name, nil, &RecoverFailure{Name: name, Err: err}
	}
	return name, r, nil
}

// recoverRecord restores r, the authenticated record name, the newest of
// its key or version; it returns a failure or nil, and an error if the
// versions could not be noted. The records of versions are only noted in
// rc.vs, for recoverVersions.
func (rc *recovery) recoverRecord(ctx context.Context, name string, r *record) (*RecoverFailure, error) {
	root, rep := rc.root, rc.rep
	fail := func(r *record, err error) *RecoverFailure {
		f := &RecoverFailure{Name: name, Err: err}
		if r != nil {
			f.Bucket, f.Key = r.Bucket, r.Key
		}
		return f
	}
	if r.Kind == kindTombstone {
		rep.Deleted++ // deleted: nothing to restore
		return nil, nil
	}
	if !ValidBucketName(r.Bucket) {
		return fail(r, fmt.Errorf("%w: bucket %q", ErrUnsafePath, r.Bucket)), nil
	}
	if isVersionRecord(r) {
		if err := rc.vs.add(rc.ns.names, name, r); err != nil {
			return nil, fmt.Errorf("note version: %w", err)
		}
		return nil, nil
	}
	if r.Kind == kindBucket {
		if err := root.MkdirAll(r.Bucket, 0o700); err != nil {
			return fail(r, err), nil
		}
		rep.Buckets++
		return nil, nil
	}
	rel, dir, encoded := filePath(r.Bucket, r.Key, r.Size)
	if dir {
		if err := rc.mkdirAside(rel); err != nil {
			return fail(r, err), nil
		}
		rep.Dirs++
		return nil, nil
	}
	n, rel, err := rc.restoreFile(ctx, rel, r)
	if err != nil {
		rep.Bytes += n
		return fail(r, err), nil
	}
	if encoded || rel != plainPath(r.Bucket, r.Key) {
		rc.renamed(RenamedKey{Bucket: r.Bucket, Key: r.Key, Path: rel})
	}
	rep.Bytes += n
	rep.Objects++
	return nil, nil
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

// mkdirAside creates dir and its parents under root; an object file
// standing where a directory must be is moved aside (aside), so that both
// keys are restored.
func (rc *recovery) mkdirAside(dir string) error {
	root, rep := rc.root, rc.rep
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
		// A file restored under a path of its own was listed when it was
		// restored (writeRenames gives it its new path); one restored
		// under its key is listed now.
		if !listedPath(p) {
			rc.renamed(RenamedKey{Bucket: segs[0], Key: strings.Join(segs[1:i+1], "/"), Path: aside(p)})
		}
		return rc.mkdirAside(dir)
	}
	return err
}

// listedPath reports whether the object file at p was listed as renamed
// when it was restored: its path holds an encoded segment, and only
// encoding puts a "%" into a path (files under VersionsDir are not
// listed).
func listedPath(p string) bool {
	return !strings.HasPrefix(p, VersionsDir+"/") && strings.Contains(p, "%")
}

// restoreFile writes the plaintext of r to rel atomically and returns the
// bytes written and the path it used: rel, or aside(rel) when rel is a
// directory other keys need.
func (rc *recovery) restoreFile(ctx context.Context, rel string, r *record) (n int64, _ string, err error) {
	ns, root := rc.ns, rc.root
	if err := rc.mkdirAside(path.Dir(rel)); err != nil {
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
