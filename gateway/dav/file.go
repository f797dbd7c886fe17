package dav

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/net/webdav"

	"github.com/twincrypt/twincrypt/gateway"
)

// fileInfo describes a path from the catalog alone. It implements
// webdav.ETager and webdav.ContentTyper, so that PROPFIND never opens
// content.
type fileInfo struct {
	loc    loc
	name   string
	dir    bool
	marker bool // a directory with its marker object
	size   int64
	mod    time.Time
	etag   string // files: the namespace ETag, without quotes
	ctype  string // files: the stored Content-Type, if any
	props  map[string]string
	obj    *gateway.Object // files: the handle Stat found, if any
}

var (
	_ webdav.ETager       = (*fileInfo)(nil)
	_ webdav.ContentTyper = (*fileInfo)(nil)
)

// objectInfo describes the file l from an object's information; obj may
// be nil (listings).
func objectInfo(l loc, oi *gateway.ObjectInfo, obj *gateway.Object) *fileInfo {
	return &fileInfo{loc: l, name: path.Base(l.key), size: oi.Size, mod: oi.MTime(), etag: oi.ETag,
		ctype: oi.Meta["Content-Type"], props: oi.Props, obj: obj}
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.size }
func (fi *fileInfo) ModTime() time.Time { return fi.mod }
func (fi *fileInfo) IsDir() bool        { return fi.dir }
func (fi *fileInfo) Sys() any           { return nil }

func (fi *fileInfo) Mode() fs.FileMode {
	if fi.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

// ETag implements webdav.ETager with the namespace ETag, the one the S3
// front end serves too.
func (fi *fileInfo) ETag(context.Context) (string, error) {
	if fi.dir {
		return "", webdav.ErrNotImplemented
	}
	return `"` + fi.etag + `"`, nil
}

// ContentType implements webdav.ContentTyper: the stored Content-Type, else
// one from the name's extension, else application/octet-stream. It never
// reads content.
func (fi *fileInfo) ContentType(context.Context) (string, error) {
	if fi.dir {
		return "httpd/unix-directory", nil
	}
	return contentType(fi.ctype, fi.name), nil
}

func contentType(stored, name string) string {
	if stored != "" {
		return stored
	}
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		return ct
	}
	return "application/octet-stream"
}

// file is an open WebDAV resource. Reading is lazy: Seek only records the
// offset and Read opens the object's content at that offset when needed.
// Writing replaces the whole object: ReadFrom streams a body into
// Namespace.PutObject, and a body that fails changes nothing.
type file struct {
	fs   *fileSystem
	ctx  context.Context
	loc  loc
	flag int
	info *fileInfo // nil for a file not yet written

	// Reading.
	off   int64
	rd    io.ReadCloser
	rdOff int64

	// Directory listing.
	children []os.FileInfo
	listed   bool
	pos      int

	// Writing.
	written bool // ReadFrom or Write was called: Close must not write
	pw      *io.PipeWriter
	done    chan error
}

var (
	_ webdav.File            = (*file)(nil)
	_ webdav.DeadPropsHolder = (*file)(nil)
	_ io.ReaderFrom          = (*file)(nil)
)

// Stat returns what OpenFile found, or the object just written. A file
// opened to be truncated or created and not written is first stored empty:
// webdav.Handler never hands an empty PUT body to ReadFrom, and asks for
// the new ETag before Close.
func (f *file) Stat() (os.FileInfo, error) {
	if err := f.storeEmpty(); err != nil {
		return nil, err
	}
	if f.info == nil {
		return nil, notExist("stat", f.loc.path)
	}
	return f.info, nil
}

// Seek records the new offset; nothing is read until Read.
func (f *file) Seek(offset int64, whence int) (int64, error) {
	var size int64
	if f.info != nil {
		size = f.info.size
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += size
	default:
		return f.off, fmt.Errorf("seek %s: invalid whence %d", f.loc.path, whence)
	}
	if offset < 0 {
		return f.off, fmt.Errorf("seek %s: negative offset", f.loc.path)
	}
	f.off = offset
	return offset, nil
}

// Read reads from the current offset, opening the object's content there
// if the last Read did not end at it.
func (f *file) Read(p []byte) (int, error) {
	if f.info == nil || f.info.dir {
		return 0, &os.PathError{Op: "read", Path: f.loc.path, Err: errors.New("is a directory")}
	}
	if f.off >= f.info.size {
		return 0, io.EOF
	}
	if err := f.openReader(); err != nil {
		return 0, err
	}
	n, err := f.rd.Read(p)
	f.off += int64(n)
	f.rdOff += int64(n)
	return n, err
}

// openReader opens the object's content at the current offset unless the
// open reader is there already. Opening requests the first ciphertext
// from the store, so a store that cannot serve it fails here.
func (f *file) openReader() error {
	if f.info == nil || f.info.dir || f.off >= f.info.size {
		return nil
	}
	if f.rd != nil && f.rdOff == f.off {
		return nil
	}
	f.closeReader()
	o := f.info.obj
	if o == nil {
		var err error
		if o, err = f.fs.ns.Object(f.ctx, f.loc.bucket, f.loc.key); err != nil {
			return err
		}
		if o.ETag != f.info.etag || o.Size != f.info.size {
			return fmt.Errorf("read %s: %w: changed while open", f.loc.path, gateway.ErrPrecondition)
		}
		f.info.obj = o
	}
	rd, err := o.NewReader(f.ctx, f.off, -1)
	if err != nil {
		return err
	}
	f.rd, f.rdOff = rd, f.off
	return nil
}

func (f *file) closeReader() {
	if f.rd != nil {
		f.rd.Close()
		f.rd = nil
	}
}

// Readdir lists a directory from the catalog, a page at a time: buckets
// at the root; elsewhere the keys and common prefixes of a listing with
// delimiter "/". Marker objects are the directories themselves and are not
// listed as files.
func (f *file) Readdir(count int) ([]os.FileInfo, error) {
	if f.info == nil || !f.info.dir {
		return nil, &os.PathError{Op: "readdir", Path: f.loc.path, Err: errors.New("not a directory")}
	}
	if !f.listed {
		children, err := f.list()
		if err != nil {
			return nil, err
		}
		f.children, f.listed = children, true
	}
	rest := f.children[f.pos:]
	if count <= 0 {
		f.pos = len(f.children)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n := min(count, len(rest))
	f.pos += n
	return rest[:n], nil
}

func (f *file) list() ([]os.FileInfo, error) {
	ctx, ns := f.ctx, f.fs.ns
	st := stateFrom(ctx)
	remember := func(fi *fileInfo) {
		if st != nil && st.cache != nil {
			st.cache[fi.loc.path] = fi
		}
	}
	var out []os.FileInfo
	if f.loc.isRoot() {
		bs, err := ns.Buckets(ctx)
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			fi := &fileInfo{loc: parse("/" + b.Name), name: b.Name, dir: true, mod: b.Created}
			remember(fi)
			out = append(out, fi)
		}
		return out, nil
	}
	bucketMod := time.Unix(0, 0).UTC()
	if b, err := ns.Bucket(ctx, f.loc.bucket); err == nil {
		bucketMod = b.Created
	}
	prefix := f.loc.dirPrefix()
	after := ""
	for {
		res, err := ns.ListDetailed(ctx, f.loc.bucket, gateway.ListOptions{Prefix: prefix, Delimiter: "/", StartAfter: after, Limit: listPage})
		if err != nil {
			return nil, f.fs.lookupErr(ctx, "readdir", f.loc, err)
		}
		for i := range res.Objects {
			oi := &res.Objects[i]
			name := strings.TrimPrefix(oi.Key, prefix)
			if name == "" {
				continue // the directory's own marker
			}
			fi := objectInfo(parse("/"+f.loc.bucket+"/"+oi.Key), oi, nil)
			if fi.loc.key != oi.Key {
				continue // not reachable as a path (such as "a/./b")
			}
			remember(fi)
			out = append(out, fi)
		}
		for _, cp := range res.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(cp, prefix), "/")
			l := parse("/" + f.loc.bucket + "/" + prefix + name)
			if name == "" || l.dirPrefix() != cp {
				continue // not reachable as a path (such as "a//")
			}
			out = append(out, &fileInfo{loc: l, name: name, dir: true, mod: bucketMod})
		}
		if !res.Truncated || res.Next == "" {
			return out, nil
		}
		after = res.Next
	}
}

// putOptions returns the options of a write of the object, with the PUT
// request's conditions when body is the request's body.
func (f *file) putOptions(body io.Reader) (gateway.PutOptions, int64) {
	ct := ""
	size := int64(-1)
	var o gateway.PutOptions
	st := stateFrom(f.ctx)
	if st != nil && st.body != nil && body == st.body {
		size = st.size
		ct = st.contentType
		o.IfMatch, o.IfNoneMatch = st.ifMatch, st.ifNoneMatch
	}
	o.Meta = map[string]string{"Content-Type": contentType(ct, f.loc.key)}
	o.RefuseLocked = true
	if st != nil && st.mtime != "" && body != nil && body == st.body {
		o.Meta[gateway.MtimeMeta] = st.mtime
	}
	return o, size
}

// checkConditions fails early, before any upload, when the If-Match or
// If-None-Match of the request cannot hold; the namespace checks them
// again under its lock when it commits.
func (f *file) checkConditions(o gateway.PutOptions) error {
	exists := f.info != nil && !f.info.dir
	etag := ""
	if exists {
		etag = f.info.etag
	}
	bad := (o.IfMatch != "" && (!exists || (o.IfMatch != "*" && strings.Trim(o.IfMatch, `"`) != etag))) ||
		(o.IfNoneMatch != "" && exists && (o.IfNoneMatch == "*" || strings.Trim(o.IfNoneMatch, `"`) == etag))
	if bad {
		fail(f.ctx, http.StatusPreconditionFailed)
		return fmt.Errorf("put %s: %w", f.loc.path, gateway.ErrPrecondition)
	}
	return nil
}

// ReadFrom replaces the object with the bytes of r, streamed and encrypted
// as they arrive, in bounded memory. If r fails before its end (a PUT cut
// short), nothing changes. When r is another open file of this file system
// (a WebDAV COPY), the object is copied inside the gateway.
func (f *file) ReadFrom(r io.Reader) (int64, error) {
	if f.written {
		return 0, fmt.Errorf("write %s: already written", f.loc.path)
	}
	f.written = true
	if src, ok := r.(*file); ok && src.fs == f.fs && src.info != nil && !src.info.dir {
		info, err := f.fs.ns.CopyObjectWith(f.ctx, src.loc.bucket, src.loc.key, f.loc.bucket, f.loc.key, gateway.CopyOptions{RefuseLocked: true})
		if err != nil {
			return 0, f.fs.writeErr(f.ctx, err)
		}
		f.info = objectInfo(f.loc, &info, nil)
		return info.Size, nil
	}
	o, size := f.putOptions(r)
	if err := f.checkConditions(o); err != nil {
		return 0, err
	}
	cr := &countReader{r: r}
	info, err := f.fs.ns.PutObject(f.ctx, f.loc.bucket, f.loc.key, cr, size, o)
	if err != nil {
		return cr.n, f.fs.writeErr(f.ctx, err)
	}
	f.info = objectInfo(f.loc, &info, nil)
	return cr.n, nil
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Write appends to a new version of the object that Close commits; writes
// must be sequential from the start. WebDAV requests use ReadFrom instead.
func (f *file) Write(p []byte) (int, error) {
	if f.flag&(os.O_WRONLY|os.O_RDWR) == 0 || (f.info != nil && f.info.dir) {
		return 0, &os.PathError{Op: "write", Path: f.loc.path, Err: os.ErrPermission}
	}
	if f.pw == nil {
		if f.written {
			return 0, fmt.Errorf("write %s: already written", f.loc.path)
		}
		f.written = true
		o, _ := f.putOptions(nil)
		pr, pw := io.Pipe()
		f.pw, f.done = pw, make(chan error, 1)
		go func() {
			info, err := f.fs.ns.PutObject(f.ctx, f.loc.bucket, f.loc.key, pr, -1, o)
			if err == nil {
				f.info = objectInfo(f.loc, &info, nil)
			}
			pr.CloseWithError(err)
			f.done <- err
		}()
	}
	return f.pw.Write(p)
}

// Close releases the file. A file opened with O_TRUNC (or created) and
// never written becomes an empty object, as after an empty PUT or a LOCK
// of a new name.
func (f *file) Close() error {
	f.closeReader()
	if f.pw != nil {
		f.pw.Close()
		err := <-f.done
		f.pw = nil
		return f.fs.writeErr(f.ctx, err)
	}
	return f.storeEmpty()
}

// storeEmpty stores an empty object if the file was opened to be truncated
// (or created) and has not been written.
func (f *file) storeEmpty() error {
	if f.written || f.flag&(os.O_WRONLY|os.O_RDWR) == 0 || (f.info != nil && f.info.dir) {
		return nil
	}
	if f.flag&os.O_TRUNC == 0 && (f.info != nil || f.flag&os.O_CREATE == 0) {
		return nil
	}
	f.written = true
	o, _ := f.putOptions(stateBody(f.ctx))
	if err := f.checkConditions(o); err != nil {
		return err
	}
	info, err := f.fs.ns.PutObject(f.ctx, f.loc.bucket, f.loc.key, http.NoBody, 0, o)
	if err != nil {
		return f.fs.writeErr(f.ctx, err)
	}
	f.info = objectInfo(f.loc, &info, nil)
	return nil
}

// stateBody returns the request body of a PUT, so that an empty PUT (whose
// body webdav.Handler never hands to ReadFrom) keeps its conditions.
func stateBody(ctx context.Context) io.Reader {
	if st := stateFrom(ctx); st != nil {
		return st.body
	}
	return nil
}

// propKey encodes a property name as the namespace stores it.
func propKey(n xml.Name) string { return "{" + n.Space + "}" + n.Local }

// parsePropKey decodes propKey.
func parsePropKey(k string) (xml.Name, bool) {
	if !strings.HasPrefix(k, "{") {
		return xml.Name{}, false
	}
	space, local, ok := strings.Cut(k[1:], "}")
	if !ok || local == "" {
		return xml.Name{}, false
	}
	return xml.Name{Space: space, Local: local}, true
}

// DeadProps implements webdav.DeadPropsHolder from the meta record that
// Stat or the directory listing decoded.
func (f *file) DeadProps() (map[xml.Name]webdav.Property, error) {
	out := make(map[xml.Name]webdav.Property)
	if f.info == nil {
		return out, nil
	}
	for k, v := range f.info.props {
		if n, ok := parsePropKey(k); ok {
			out[n] = webdav.Property{XMLName: n, InnerXML: []byte(v)}
		}
	}
	// Computed, not stored: the content's MD5 as ownCloud clients read
	// it, for allprop, propname and PROPFIND by name alike.
	if md5 := f.info.contentMD5(); md5 != "" {
		out[checksumsName] = webdav.Property{XMLName: checksumsName, InnerXML: checksumsXML(md5)}
	}
	return out, nil
}

// Patch implements webdav.DeadPropsHolder: all changes are stored at once
// in a new meta record of the object (or of a directory's marker object,
// which is created if the directory has none). Buckets and the root hold
// no dead properties. DAV:lastmodified, DAV:getlastmodified and
// oc:checksums are not dead properties (see patchSpecial).
func (f *file) Patch(patches []webdav.Proppatch) ([]webdav.Propstat, error) {
	var names []xml.Name
	special := make(map[xml.Name]int) // the status of each special name
	failed := false
	var mt mtimeChange
	set := make(map[string]string)
	var remove []string
	for _, p := range patches {
		for _, prop := range p.Props {
			n := prop.XMLName
			if status, ok := f.patchSpecial(n, p.Remove, prop.InnerXML, &mt); ok {
				if n == setGetlastmodifiedName {
					n = getlastmodifiedName
				}
				names = append(names, n)
				if status != http.StatusOK || special[n] == 0 {
					special[n] = status
				}
				failed = failed || status != http.StatusOK
				continue
			}
			names = append(names, n)
			k := propKey(n)
			if p.Remove {
				delete(set, k)
				remove = append(remove, k)
			} else {
				set[k] = string(prop.InnerXML)
			}
		}
	}
	result := func(status int) []webdav.Propstat {
		ps := webdav.Propstat{Status: status}
		for _, n := range names {
			ps.Props = append(ps.Props, webdav.Property{XMLName: n})
		}
		return []webdav.Propstat{ps}
	}
	if len(names) == 0 {
		return result(http.StatusOK), nil
	}
	if f.info == nil || f.loc.isRoot() || f.loc.isBucket() {
		return result(http.StatusForbidden), nil
	}
	if failed {
		// Nothing is applied: the names that failed get their status,
		// the others 424 Failed Dependency.
		byStatus := make(map[int]*webdav.Propstat)
		var out []webdav.Propstat
		for _, n := range names {
			status := http.StatusFailedDependency
			if s := special[n]; s != 0 && s != http.StatusOK {
				status = s
			}
			ps := byStatus[status]
			if ps == nil {
				out = append(out, webdav.Propstat{Status: status})
				ps = &out[len(out)-1]
				byStatus[status] = ps
			}
			ps.Props = append(ps.Props, webdav.Property{XMLName: n})
		}
		return out, nil
	}
	if len(set) == 0 && len(remove) == 0 && !mt.set {
		return result(http.StatusOK), nil // oc:checksums that agree
	}
	// A removal after a set of the same name wins, and a set after a
	// removal too: apply in order by removing only names not set later.
	remove = removeSet(remove, set)
	var meta map[string]string
	if mt.set {
		meta = map[string]string{gateway.MtimeMeta: ""}
		if !mt.mtime.IsZero() {
			meta[gateway.MtimeMeta] = gateway.FormatMtime(mt.mtime)
		}
	}
	key := f.loc.key
	if f.info.dir {
		key = f.loc.dirPrefix()
		if !f.info.marker {
			_, err := f.fs.ns.PutObject(f.ctx, f.loc.bucket, key, http.NoBody, 0, gateway.PutOptions{IfNoneMatch: "*"})
			if err != nil && !errors.Is(err, gateway.ErrPrecondition) {
				return nil, err
			}
		}
	}
	info, err := f.fs.ns.SetAttrs(f.ctx, f.loc.bucket, key, set, remove, meta)
	switch {
	case errors.Is(err, gateway.ErrPropsTooLarge):
		return result(webdav.StatusInsufficientStorage), nil
	case errors.Is(err, gateway.ErrPrecondition):
		return result(http.StatusConflict), nil
	case err != nil:
		return nil, err
	}
	f.info.props = info.Props
	f.info.mod = info.MTime()
	return result(http.StatusOK), nil
}

// removeSet returns the names of remove that set does not hold.
func removeSet(remove []string, set map[string]string) []string {
	out := remove[:0]
	for _, k := range remove {
		if _, ok := set[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}
