package dav

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/net/webdav"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway"
)

// listPage is the page size of the catalog listings directories are read
// with.
const listPage = 1000

// fileSystem maps WebDAV paths onto the namespace: "/" is the list of
// buckets, "/b" a bucket, "/b/k" the object b/k or, failing that, the
// directory b/k/: a zero-byte marker object "k/" (made by MKCOL, as the S3
// console does) or any key that starts with "k/".
type fileSystem struct {
	ns  *gateway.Namespace
	log *slog.Logger
}

var _ webdav.FileSystem = (*fileSystem)(nil)

// loc is a parsed WebDAV path: bucket "" is the root; key "" a bucket.
type loc struct {
	path, bucket, key string
}

func parse(name string) loc {
	p := cleanPath(name)
	bucket, key, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	return loc{path: p, bucket: bucket, key: key}
}

func (l loc) isRoot() bool   { return l.bucket == "" }
func (l loc) isBucket() bool { return l.bucket != "" && l.key == "" }

// dirPrefix is the key prefix of the directory l: "" for a bucket.
func (l loc) dirPrefix() string {
	if l.key == "" {
		return ""
	}
	return l.key + "/"
}

// parent returns the directory that holds l.
func (l loc) parent() loc { return parse(path.Dir(l.path)) }

// notExist is the error for a path that names nothing.
func notExist(op, name string) error {
	return &os.PathError{Op: op, Path: name, Err: os.ErrNotExist}
}

// stat looks l up in the catalog: object, then directory marker, then any
// key below it. It never reads a backend.
func (fs *fileSystem) stat(ctx context.Context, l loc) (*fileInfo, error) {
	st := stateFrom(ctx)
	if st != nil && st.cache != nil {
		if fi, ok := st.cache[l.path]; ok {
			return fi, nil
		}
	}
	fi, err := fs.lookup(ctx, l)
	if err == nil && st != nil && st.cache != nil {
		st.cache[l.path] = fi
	}
	return fi, err
}

func (fs *fileSystem) lookup(ctx context.Context, l loc) (*fileInfo, error) {
	switch {
	case l.isRoot():
		return &fileInfo{loc: l, name: "/", dir: true, mod: time.Unix(0, 0).UTC()}, nil
	case l.isBucket():
		b, err := fs.ns.Bucket(ctx, l.bucket)
		if err != nil {
			return nil, fs.lookupErr(ctx, "stat", l, err)
		}
		return &fileInfo{loc: l, name: l.bucket, dir: true, mod: b.Created}, nil
	}
	o, err := fs.ns.Object(ctx, l.bucket, l.key)
	if err == nil {
		return objectInfo(l, &o.ObjectInfo, o), nil
	}
	if !errors.Is(err, gateway.ErrNoSuchKey) {
		return nil, fs.lookupErr(ctx, "stat", l, err)
	}
	m, err := fs.ns.Object(ctx, l.bucket, l.dirPrefix())
	if err == nil {
		return &fileInfo{loc: l, name: path.Base(l.key), dir: true, marker: true, mod: m.MTime(), props: m.Props}, nil
	}
	if !errors.Is(err, gateway.ErrNoSuchKey) {
		return nil, fs.lookupErr(ctx, "stat", l, err)
	}
	res, err := fs.ns.List(ctx, l.bucket, gateway.ListOptions{Prefix: l.dirPrefix(), Limit: 1})
	if err != nil {
		return nil, fs.lookupErr(ctx, "stat", l, err)
	}
	if len(res.Objects) == 0 && len(res.CommonPrefixes) == 0 {
		return nil, notExist("stat", l.path)
	}
	mod := time.Unix(0, 0).UTC()
	if b, err := fs.ns.Bucket(ctx, l.bucket); err == nil {
		mod = b.Created
	}
	return &fileInfo{loc: l, name: path.Base(l.key), dir: true, mod: mod}, nil
}

// lookupErr turns a namespace error from a lookup into a file system
// error: names that cannot exist do not exist.
func (fs *fileSystem) lookupErr(ctx context.Context, op string, l loc, err error) error {
	switch {
	case errors.Is(err, gateway.ErrNoSuchBucket), errors.Is(err, gateway.ErrNoSuchKey),
		errors.Is(err, gateway.ErrInvalidKey), errors.Is(err, gateway.ErrKeyTooLong):
		return notExist(op, l.path)
	case errors.Is(err, gateway.ErrAccessDenied):
		return &os.PathError{Op: op, Path: l.path, Err: os.ErrPermission}
	case errors.Is(err, gateway.ErrCatalogUnavailable):
		fs.log.Error("catalog unavailable: answering 503", "op", op, "path", l.path, "err", err)
		fail(ctx, http.StatusServiceUnavailable)
	}
	return fmt.Errorf("%s %s: %w", op, l.path, err)
}

// Stat implements webdav.FileSystem. It reads the catalog only.
func (fs *fileSystem) Stat(ctx context.Context, name string) (os.FileInfo, error) {
	fi, err := fs.stat(ctx, parse(name))
	if err != nil {
		return nil, err
	}
	return fi, nil
}

// parentDir checks that the directory holding l exists, failing with
// os.ErrNotExist (409 Conflict) if not.
func (fs *fileSystem) parentDir(ctx context.Context, op string, l loc) error {
	p, err := fs.stat(ctx, l.parent())
	if err != nil {
		if os.IsNotExist(err) {
			fail(ctx, http.StatusConflict)
		}
		return err
	}
	if !p.dir {
		fail(ctx, http.StatusConflict)
		return notExist(op, l.parent().path)
	}
	return nil
}

// OpenFile implements webdav.FileSystem. Opening reads only the catalog;
// a file opened for writing is written by ReadFrom (or Write) and Close.
func (fs *fileSystem) OpenFile(ctx context.Context, name string, flag int, perm os.FileMode) (webdav.File, error) {
	l := parse(name)
	writing := flag&(os.O_WRONLY|os.O_RDWR) != 0
	fi, err := fs.stat(ctx, l)
	switch {
	case err == nil:
		if writing && flag&(os.O_TRUNC|os.O_CREATE) != 0 && fi.dir {
			// PUT onto a collection.
			fail(ctx, http.StatusMethodNotAllowed)
			return nil, &os.PathError{Op: "open", Path: l.path, Err: errors.New("is a directory")}
		}
		if flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL {
			return nil, &os.PathError{Op: "open", Path: l.path, Err: os.ErrExist}
		}
		f := &file{fs: fs, ctx: ctx, loc: l, flag: flag, info: fi}
		if st := stateFrom(ctx); st != nil && st.get && !writing && !fi.dir {
			// The last file a GET opens is the one it serves.
			st.content = f
		}
		return f, nil
	case !os.IsNotExist(err):
		return nil, err
	case !writing || flag&os.O_CREATE == 0:
		return nil, err
	}
	// A new file.
	if l.isRoot() || l.isBucket() {
		fail(ctx, http.StatusForbidden)
		return nil, &os.PathError{Op: "open", Path: l.path, Err: os.ErrPermission}
	}
	if err := fs.parentDir(ctx, "open", l); err != nil {
		return nil, err
	}
	return &file{fs: fs, ctx: ctx, loc: l, flag: flag}, nil
}

// Mkdir implements webdav.FileSystem: at the root it creates a bucket;
// elsewhere it stores the directory's zero-byte marker object "key/".
func (fs *fileSystem) Mkdir(ctx context.Context, name string, perm os.FileMode) error {
	l := parse(name)
	switch {
	case l.isRoot():
		return &os.PathError{Op: "mkdir", Path: l.path, Err: os.ErrExist}
	case l.isBucket():
		err := fs.ns.CreateBucket(ctx, l.bucket)
		switch {
		case errors.Is(err, gateway.ErrBucketExists):
			return &os.PathError{Op: "mkdir", Path: l.path, Err: os.ErrExist}
		case errors.Is(err, gateway.ErrInvalidBucketName):
			fail(ctx, http.StatusForbidden)
		}
		return unavailable(ctx, err)
	}
	if _, err := fs.stat(ctx, l); err == nil {
		return &os.PathError{Op: "mkdir", Path: l.path, Err: os.ErrExist}
	} else if !os.IsNotExist(err) {
		return err
	}
	if err := fs.parentDir(ctx, "mkdir", l); err != nil {
		return err
	}
	_, err := fs.ns.PutObject(ctx, l.bucket, l.dirPrefix(), http.NoBody, 0, gateway.PutOptions{IfNoneMatch: "*"})
	switch {
	case errors.Is(err, gateway.ErrPrecondition):
		return &os.PathError{Op: "mkdir", Path: l.path, Err: os.ErrExist}
	case errors.Is(err, gateway.ErrInvalidKey), errors.Is(err, gateway.ErrKeyTooLong):
		fail(ctx, http.StatusBadRequest)
	}
	return unavailable(ctx, err)
}

// unavailable records 503 Service Unavailable for an error that says too
// few storage providers, or not the catalog, were reachable, and returns
// err.
func unavailable(ctx context.Context, err error) error {
	if errors.Is(err, backends.ErrQuorum) || errors.Is(err, backends.ErrUnavailable) || errors.Is(err, gateway.ErrCatalogUnavailable) {
		fail(ctx, http.StatusServiceUnavailable)
	}
	return err
}

// keepParent makes sure the directory holding l survives l's removal: an
// implicit directory (one without a marker) vanishes with its last key, so
// it is given a marker first.
func (fs *fileSystem) keepParent(ctx context.Context, l loc) error {
	p := l.parent()
	if p.isRoot() || p.isBucket() {
		return nil
	}
	if _, err := fs.ns.Object(ctx, p.bucket, p.dirPrefix()); err == nil || !errors.Is(err, gateway.ErrNoSuchKey) {
		return err
	}
	_, err := fs.ns.PutObject(ctx, p.bucket, p.dirPrefix(), http.NoBody, 0, gateway.PutOptions{IfNoneMatch: "*"})
	if errors.Is(err, gateway.ErrPrecondition) {
		return nil
	}
	return err
}

// eachKey calls fn for every key that starts with prefix, in order, a page
// of the catalog at a time. fn may delete or rename the key.
func (fs *fileSystem) eachKey(ctx context.Context, bucket, prefix string, fn func(key string) error) error {
	after := ""
	for {
		res, err := fs.ns.List(ctx, bucket, gateway.ListOptions{Prefix: prefix, StartAfter: after, Limit: listPage})
		if err != nil {
			return err
		}
		for _, o := range res.Objects {
			if err := fn(o.Key); err != nil {
				return err
			}
			after = o.Key
		}
		if !res.Truncated || len(res.Objects) == 0 {
			return nil
		}
	}
}

// RemoveAll implements webdav.FileSystem. A directory is removed with
// everything below it; a bucket too, and then the bucket itself.
func (fs *fileSystem) RemoveAll(ctx context.Context, name string) error {
	l := parse(name)
	if l.isRoot() {
		fail(ctx, http.StatusForbidden)
		return &os.PathError{Op: "remove", Path: l.path, Err: os.ErrPermission}
	}
	fi, err := fs.stat(ctx, l)
	if err != nil {
		return err
	}
	del := func(key string) error {
		if err := fs.ns.DeleteObject(ctx, l.bucket, key); err != nil && !errors.Is(err, gateway.ErrNoSuchKey) {
			return fs.writeErr(ctx, err)
		}
		return nil
	}
	if l.isBucket() {
		if err := fs.eachKey(ctx, l.bucket, "", del); err != nil {
			return err
		}
		if err := fs.abortUploads(ctx, l.bucket); err != nil {
			return err
		}
		return fs.ns.DeleteBucket(ctx, l.bucket)
	}
	if err := fs.keepParent(ctx, l); err != nil {
		return err
	}
	if !fi.dir {
		return del(l.key)
	}
	return fs.eachKey(ctx, l.bucket, l.dirPrefix(), del)
}

// abortUploads aborts the multipart uploads in progress in a bucket, which
// would otherwise keep it from being deleted.
func (fs *fileSystem) abortUploads(ctx context.Context, bucket string) error {
	for {
		us, _, err := fs.ns.Uploads(ctx, bucket, "", "", "", listPage)
		if err != nil || len(us) == 0 {
			return err
		}
		for _, u := range us {
			if err := fs.ns.AbortUpload(ctx, u.Bucket, u.Key, u.ID); err != nil && !errors.Is(err, gateway.ErrNoSuchUpload) {
				return err
			}
		}
	}
}

// Rename implements webdav.FileSystem with Namespace.Rename, which moves
// meta records only: a file, or every key of a directory. webdav.Handler
// has already removed an existing destination when overwriting.
func (fs *fileSystem) Rename(ctx context.Context, oldName, newName string) error {
	src, dst := parse(oldName), parse(newName)
	if src.isRoot() || src.isBucket() || dst.isRoot() || dst.isBucket() {
		// Buckets are created and deleted, never renamed.
		fail(ctx, http.StatusForbidden)
		return &os.PathError{Op: "rename", Path: src.path, Err: os.ErrPermission}
	}
	fi, err := fs.stat(ctx, src)
	if err != nil {
		if os.IsNotExist(err) {
			fail(ctx, http.StatusNotFound)
		}
		return err
	}
	if fi.dir && src.bucket == dst.bucket && strings.HasPrefix(dst.dirPrefix(), src.dirPrefix()) {
		fail(ctx, http.StatusForbidden)
		return &os.PathError{Op: "rename", Path: src.path, Err: errors.New("destination inside source")}
	}
	if err := fs.parentDir(ctx, "rename", dst); err != nil {
		return err
	}
	if err := fs.keepParent(ctx, src); err != nil {
		return err
	}
	if !fi.dir {
		_, err := fs.ns.Rename(ctx, src.bucket, src.key, dst.bucket, dst.key)
		return fs.writeErr(ctx, err)
	}
	srcPrefix, dstPrefix := src.dirPrefix(), dst.dirPrefix()
	return fs.eachKey(ctx, src.bucket, srcPrefix, func(key string) error {
		_, err := fs.ns.Rename(ctx, src.bucket, key, dst.bucket, dstPrefix+strings.TrimPrefix(key, srcPrefix))
		if errors.Is(err, gateway.ErrNoSuchKey) {
			return nil // deleted meanwhile
		}
		return fs.writeErr(ctx, err)
	})
}

// writeErr records the status a failed write should be answered with.
func (fs *fileSystem) writeErr(ctx context.Context, err error) error {
	switch {
	case err == nil:
	case errors.Is(err, gateway.ErrPrecondition):
		fail(ctx, http.StatusPreconditionFailed)
	case errors.Is(err, gateway.ErrInvalidKey), errors.Is(err, gateway.ErrKeyTooLong),
		errors.Is(err, gateway.ErrIncompleteBody):
		fail(ctx, http.StatusBadRequest)
	case errors.Is(err, gateway.ErrNoSuchBucket):
		fail(ctx, http.StatusConflict)
	case errors.Is(err, gateway.ErrAccessDenied):
		fail(ctx, http.StatusForbidden)
	case errors.Is(err, gateway.ErrPropsTooLarge):
		fail(ctx, webdav.StatusInsufficientStorage)
	case errors.Is(err, gateway.ErrObjectLocked):
		// A retained or held file of an object-lock bucket: WebDAV
		// shows no versions, so it may not be replaced or removed.
		fail(ctx, http.StatusForbidden)
	case errors.Is(err, context.Canceled):
	case errors.Is(err, backends.ErrQuorum), errors.Is(err, backends.ErrUnavailable):
		// Too few providers reachable: the same request succeeds later.
		fs.log.Warn("webdav write: storage providers unavailable", "err", err)
		unavailable(ctx, err)
	case errors.Is(err, gateway.ErrCatalogUnavailable):
		fs.log.Error("catalog unavailable: answering 503", "err", err)
		unavailable(ctx, err)
	default:
		fs.log.Warn("webdav write", "err", err)
		fail(ctx, http.StatusInternalServerError)
	}
	return err
}
