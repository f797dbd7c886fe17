package gateway

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
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

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/seal"
)

// ErrUnsafePath means an object key cannot be restored as a file without
// leaving the target directory or being ambiguous.
var ErrUnsafePath = errors.New("key does not map to a safe file path")

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
	Failed  []RecoverFailure
}

// Recover restores every bucket and object as plaintext files under Dir,
// from one backend and the keyring alone: no catalog and no config. It lists
// the meta records on the backend, authenticates each (and its binding to
// its name), and for objects streams their blobs through the object format
// into Dir/<bucket>/<key>, written to a temporary file, synced, given the
// object's modification time and renamed into place. Empty buckets become
// empty directories and keys ending in "/" with no content directories.
// Keys that would leave Dir or do not map to one path (absolute, "..", ".",
// empty segments) are refused. Files already present are replaced.
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
	err = listAll(ctx, o.Backend, metaPrefix, func(it backends.Info) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		f := ns.recoverOne(ctx, root, it.Name, rep)
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
	return rep, nil
}

// readOnlyNamespace returns a namespace that can open records and blobs of
// store without a catalog.
func readOnlyNamespace(keys Keys, store backends.Backend, log *slog.Logger) *Namespace {
	return &Namespace{keys: keys, store: store, log: log, rand: rand.Reader, now: time.Now, names: names{key: *keys.NameKey()}}
}

// recoverOne restores the record name; it returns a failure or nil.
func (ns *Namespace) recoverOne(ctx context.Context, root *os.Root, name string, rep *RecoverReport) *RecoverFailure {
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
	if r.Kind == kindBucket {
		if err := root.MkdirAll(r.Bucket, 0o700); err != nil {
			return fail(r, err)
		}
		rep.Buckets++
		return nil
	}
	rel, dir, err := filePath(r.Bucket, r.Key)
	if err != nil {
		return fail(r, err)
	}
	if dir {
		if r.Size != 0 {
			return fail(r, fmt.Errorf("%w: key ends in \"/\" but holds %d bytes", ErrUnsafePath, r.Size))
		}
		if err := root.MkdirAll(rel, 0o700); err != nil {
			return fail(r, err)
		}
		rep.Dirs++
		return nil
	}
	n, err := ns.restoreFile(ctx, root, rel, r)
	rep.Bytes += n
	if err != nil {
		return fail(r, err)
	}
	rep.Objects++
	return nil
}

// filePath maps bucket/key to a slash-separated path relative to the
// recovery directory, and reports whether the key names a directory
// (ends in "/").
func filePath(bucket, key string) (string, bool, error) {
	dir := strings.HasSuffix(key, "/")
	k := strings.TrimSuffix(key, "/")
	if k == "" || strings.HasPrefix(key, "/") || strings.ContainsRune(key, 0) {
		return "", false, fmt.Errorf("%w: %q", ErrUnsafePath, key)
	}
	for _, seg := range strings.Split(k, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", false, fmt.Errorf("%w: %q", ErrUnsafePath, key)
		}
	}
	return path.Join(bucket, k), dir, nil
}

// restoreFile writes the plaintext of r to rel atomically and returns the
// bytes written.
func (ns *Namespace) restoreFile(ctx context.Context, root *os.Root, rel string, r *record) (n int64, err error) {
	if err := root.MkdirAll(path.Dir(rel), 0o700); err != nil {
		return 0, err
	}
	var rnd [8]byte
	if _, err := io.ReadFull(rand.Reader, rnd[:]); err != nil {
		return 0, err
	}
	tmp := path.Join(path.Dir(rel), ".twincrypt-recover-"+hex.EncodeToString(rnd[:]))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
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
			return n, fmt.Errorf("part %d: %w", i+1, err)
		}
		total += r.Parts[i].Size
	}
	if total != r.Size {
		return n, fmt.Errorf("%w: parts hold %d bytes, record says %d", ErrCorruptRecord, total, r.Size)
	}
	if sum != nil && r.ETag != "" && hex.EncodeToString(sum.Sum(nil)) != r.ETag {
		return n, fmt.Errorf("%w: content MD5 differs from the ETag", ErrIntegrity)
	}
	if err := f.Sync(); err != nil {
		return n, err
	}
	if err := f.Close(); err != nil {
		f = nil
		return n, err
	}
	f = nil
	if !r.ModTime.IsZero() {
		if err := root.Chtimes(tmp, r.ModTime, r.ModTime); err != nil {
			return n, err
		}
	}
	if fi, err := root.Lstat(rel); err == nil && fi.IsDir() {
		return n, fmt.Errorf("%w: %s is a directory (another key continues below it)", ErrUnsafePath, rel)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return n, err
	}
	if err := root.Rename(tmp, rel); err != nil {
		return n, err
	}
	return n, nil
}

// copyPart writes the plaintext of one part to w.
func (ns *Namespace) copyPart(ctx context.Context, w io.Writer, p *partRecord) (int64, error) {
	op, err := ns.partOpener(p)
	if err != nil {
		return 0, err
	}
	id, _ := parseBlobID(p.Blob)
	boff, blen := op.Window(p.Size, 0, -1)
	rc, err := ns.store.Get(ctx, blobName(id), boff, blen)
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
