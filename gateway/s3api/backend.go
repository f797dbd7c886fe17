package s3api

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/rclone/gofakes3"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/checksum"
)

// backend adapts the namespace to gofakes3's Backend and MultipartBackend.
// gofakes3 parses requests and writes responses; every byte and every name
// goes through the namespace.
type backend struct {
	ns      *gateway.Namespace
	uploads uploadTable
}

var (
	_ gofakes3.Backend          = (*backend)(nil)
	_ gofakes3.MultipartBackend = (*backend)(nil)
)

func (b *backend) ListBuckets(ctx context.Context) ([]gofakes3.BucketInfo, error) {
	bs, err := b.ns.Buckets(ctx)
	if err != nil {
		return nil, s3Error(ctx, err, "", "")
	}
	out := make([]gofakes3.BucketInfo, len(bs))
	for i, bk := range bs {
		out[i] = gofakes3.BucketInfo{Name: bk.Name, CreationDate: gofakes3.NewContentTime(bk.Created)}
	}
	return out, nil
}

// ListBucket lists a page of a bucket for gofakes3. The S3 front end
// answers ListObjects itself (see lister); this is the same listing in
// gofakes3's form.
func (b *backend) ListBucket(ctx context.Context, name string, prefix *gofakes3.Prefix, page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	var pre, delim string
	if prefix != nil {
		pre, delim = prefix.Prefix, prefix.Delimiter
	}
	res, err := b.ns.List(ctx, name, listOptions(pre, delim, page.Marker, page.HasMarker, int(page.MaxKeys)))
	if err != nil {
		return nil, s3Error(ctx, err, name, "")
	}
	// Objects belong to the bucket's owner (S3's BucketOwnerEnforced).
	var owner *gofakes3.UserInfo
	if len(res.Objects) > 0 {
		bk, err := b.ns.Bucket(ctx, name)
		if err != nil {
			return nil, s3Error(ctx, err, name, "")
		}
		owner = &gofakes3.UserInfo{ID: bk.Owner.ID, DisplayName: bk.Owner.DisplayName}
	}
	out := gofakes3.NewObjectList()
	for _, obj := range res.Objects {
		out.Add(&gofakes3.Content{
			Key:          obj.Key,
			LastModified: gofakes3.NewContentTime(obj.ModTime),
			ETag:         quoteETag(obj.ETag),
			Size:         obj.Size,
			StorageClass: listStorageClass,
			Owner:        owner,
		})
	}
	for _, p := range res.CommonPrefixes {
		out.AddPrefix(p)
	}
	out.IsTruncated = res.Truncated
	if res.Truncated {
		out.NextMarker = res.Next
	}
	return out, nil
}

func (b *backend) CreateBucket(ctx context.Context, name string) error {
	var o gateway.CreateBucketOptions
	if st := stateFrom(ctx); st != nil {
		o.ObjectLock = st.objectLock
	}
	return s3Error(ctx, b.ns.CreateBucketWith(ctx, name, o), name, "")
}

func (b *backend) BucketExists(ctx context.Context, name string) (bool, error) {
	_, err := b.ns.Bucket(ctx, name)
	if errors.Is(err, gateway.ErrNoSuchBucket) {
		return false, nil
	}
	return err == nil, s3Error(ctx, err, name, "")
}

func (b *backend) DeleteBucket(ctx context.Context, name string) error {
	return s3Error(ctx, b.ns.DeleteBucket(ctx, name), name, "")
}

// object converts namespace information to gofakes3's form. The ETag of a
// multipart object is not an MD5; it travels to the response through the
// request state, see fixer.
func object(ctx context.Context, info gateway.ObjectInfo) *gofakes3.Object {
	meta := make(map[string]string, len(info.Meta)+1)
	for k, v := range info.Meta {
		meta[k] = v
	}
	meta["Last-Modified"] = info.ModTime.UTC().Format(http.TimeFormat)
	if t := encodeTags(info.Tags); t != "" {
		meta[gofakes3.TaggingMetadataKey] = t
	}
	hash, err := hex.DecodeString(info.ETag)
	if err != nil || len(hash) != md5.Size {
		// md5-of-md5s-N: give gofakes3 a hash and let the fixer put
		// the real ETag into the response.
		hash, _ = hex.DecodeString(strings.SplitN(info.ETag, "-", 2)[0])
		if st := stateFrom(ctx); st != nil {
			st.etag = `"` + info.ETag + `"`
		}
	}
	if c := info.Checksum; c != nil {
		// gofakes3 sends the X-Amz-Checksum-* metadata with
		// x-amz-checksum-mode: ENABLED, for the whole object only.
		meta[http.CanonicalHeaderKey(c.Algorithm.Header())] = c.String()
		meta["X-Amz-Checksum-Type"] = string(c.Type)
	}
	// gofakes3 takes an object with part sizes for a multipart one
	// (partNumber, x-amz-mp-parts-count); one completed from a single
	// part is one too, and its ETag says so.
	var parts []int64
	if n := partsCount(info.ETag); n > 0 && len(info.PartSizes) == n {
		parts = info.PartSizes
	}
	return &gofakes3.Object{
		Name:      info.Key,
		Metadata:  meta,
		Size:      info.Size,
		Hash:      hash,
		PartSizes: parts,
		VersionID: gofakes3.VersionID(info.VersionID),
	}
}

// open opens the object a request names: the version of its versionId
// (or of its copy source's), else the current one.
func (b *backend) open(ctx context.Context, bucket, key string) (*gateway.Object, error) {
	if st := stateFrom(ctx); st != nil {
		if id := st.versionID + st.copySourceVersion; id != "" {
			return b.ns.ObjectVersion(ctx, bucket, key, id)
		}
	}
	return b.ns.Object(ctx, bucket, key)
}

func (b *backend) HeadObject(ctx context.Context, bucket, key string) (*gofakes3.Object, error) {
	o, err := b.open(ctx, bucket, key)
	if err != nil {
		return nil, s3Error(ctx, err, bucket, key)
	}
	obj := object(ctx, o.ObjectInfo)
	obj.Contents = io.NopCloser(strings.NewReader(""))
	return obj, nil
}

func (b *backend) GetObject(ctx context.Context, bucket, key string, rng *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	o, err := b.open(ctx, bucket, key)
	if err != nil {
		return nil, s3Error(ctx, err, bucket, key)
	}
	obj := object(ctx, o.ObjectInfo)
	r, err := rng.Range(o.Size)
	if err != nil {
		return nil, err
	}
	off, n := int64(0), o.Size
	if r != nil {
		off, n = r.Start, r.Length
	}
	body, err := o.NewReader(ctx, off, n)
	if err != nil {
		return nil, s3Error(ctx, err, bucket, key)
	}
	obj.Range = r
	obj.Contents = body
	return obj, nil
}

func (b *backend) DeleteObject(ctx context.Context, bucket, key string) (gofakes3.ObjectDeleteResult, error) {
	var o gateway.DeleteOptions
	if st := stateFrom(ctx); st != nil {
		o.VersionID, o.BypassGovernance = st.versionID, st.bypassGovernance
	}
	res, err := b.ns.Delete(ctx, bucket, key, o)
	if errors.Is(err, gateway.ErrNoSuchKey) {
		// Deleting a missing key succeeds on S3.
		err = nil
	}
	return gofakes3.ObjectDeleteResult{IsDeleteMarker: res.DeleteMarker, VersionID: gofakes3.VersionID(res.VersionID)}, s3Error(ctx, err, bucket, key)
}

// bodyMD5 returns ctx carrying the MD5 of a request body when one is at hand
// without hashing the body again: the verified Content-MD5, else the MD5
// gofakes3 computes of every PutObject body (input exposes it with a Sum
// method once read to the end).
func bodyMD5(ctx context.Context, input io.Reader) context.Context {
	if st := stateFrom(ctx); st != nil && st.contentMD5 != nil {
		sum := st.contentMD5
		return gateway.WithBodyMD5(ctx, func() []byte { return sum })
	}
	if h, ok := input.(interface{ Sum([]byte) []byte }); ok {
		return gateway.WithBodyMD5(ctx, func() []byte { return h.Sum(nil) })
	}
	return ctx
}

func (b *backend) PutObject(ctx context.Context, bucket, key string, meta map[string]string, input io.Reader, size int64) (gofakes3.PutObjectResult, error) {
	meta, tags := splitTags(meta)
	o := gateway.PutOptions{Meta: meta, Tags: tags}
	if st := stateFrom(ctx); st != nil {
		o.Checksum = st.checksum.algorithm()
	}
	if err := b.lockOptions(ctx, bucket, &o, "Put Object"); err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	info, err := b.ns.PutObject(bodyChecksum(bodyMD5(ctx, input)), bucket, key, input, size, o)
	if err != nil {
		return gofakes3.PutObjectResult{}, s3Error(ctx, err, bucket, key)
	}
	respondChecksum(ctx, info.Checksum)
	return gofakes3.PutObjectResult{ETag: `"` + info.ETag + `"`, VersionID: gofakes3.VersionID(info.VersionID)}, nil
}

// lockOptions sets the object lock of a write from its headers and, as
// S3 does, refuses one without a checksum of its body that would lock the
// new version (by its headers or the bucket's default retention).
func (b *backend) lockOptions(ctx context.Context, bucket string, o *gateway.PutOptions, what string) error {
	st := stateFrom(ctx)
	if st == nil {
		return nil
	}
	o.Retention, o.LegalHold = st.retention, st.legalHold
	if st.hasChecksum {
		return nil
	}
	locking := st.lockHeaders
	if !locking {
		cfg, err := b.ns.BucketVersioning(ctx, bucket)
		if err != nil {
			return s3Error(ctx, err, bucket, "")
		}
		locking = cfg.DefaultMode != ""
	}
	if locking {
		return override(ctx, http.StatusBadRequest, "InvalidRequest", "Content-MD5 OR x-amz-checksum- HTTP header is required for "+what+" requests with Object Lock parameters")
	}
	return nil
}

// bodyChecksum returns ctx carrying the checksum of the request body that
// sigv4 verifies, if the body declared one (see gateway.WithBodyChecksum).
func bodyChecksum(ctx context.Context) context.Context {
	if st := stateFrom(ctx); st != nil && st.checksum.body != "" {
		return gateway.WithBodyChecksum(ctx, st.checksum.body, st.checksum.value)
	}
	return ctx
}

// respondChecksum has the response carry c in its checksum headers.
func respondChecksum(ctx context.Context, c *checksum.Checksum) {
	st := stateFrom(ctx)
	if st == nil || c == nil {
		return
	}
	if st.respHeaders == nil {
		st.respHeaders = http.Header{}
	}
	setChecksumHeaders(st.respHeaders, c)
}

func (b *backend) DeleteMulti(ctx context.Context, bucket string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	var out gofakes3.MultiDeleteResult
	for _, key := range keys {
		_, err := b.ns.Delete(ctx, bucket, key, gateway.DeleteOptions{})
		if err == nil || errors.Is(err, gateway.ErrNoSuchKey) {
			out.Deleted = append(out.Deleted, gofakes3.ObjectID{Key: key})
			continue
		}
		res := gofakes3.ErrorResultFromError(s3Error(ctx, err, bucket, key))
		res.Key = key
		out.Error = append(out.Error, res)
	}
	return out, nil
}

func (b *backend) CopyObject(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	// gofakes3 has applied x-amz-metadata-directive and
	// x-amz-tagging-directive: meta holds the copy's metadata and tags.
	meta, tags := splitTags(meta)
	o := gateway.CopyOptions{Meta: meta, ReplaceTags: true, Tags: tags}
	if st := stateFrom(ctx); st != nil {
		o.SourceVersionID = st.copySourceVersion
		o.Checksum = st.checksum.alg
		if st.copyRestore {
			// A copy of an old version onto its key keeps the version's
			// metadata and tags.
			o.Meta, o.ReplaceTags, o.Tags = nil, false, nil
		}
		o.Retention, o.LegalHold = st.retention, st.legalHold
	}
	info, err := b.ns.CopyObjectWith(ctx, srcBucket, srcKey, dstBucket, dstKey, o)
	if err != nil {
		return gofakes3.CopyObjectResult{}, s3Error(ctx, err, srcBucket, srcKey)
	}
	if st := stateFrom(ctx); st != nil && info.VersionID != "" {
		st.setHeader(hdrVersionID, info.VersionID)
	}
	return gofakes3.CopyObjectResult{ETag: `"` + info.ETag + `"`, LastModified: gofakes3.NewContentTime(info.ModTime)}, nil
}

func (b *backend) CreateMultipartUpload(ctx context.Context, bucket, key string, meta map[string]string) (gofakes3.UploadID, error) {
	if id, ok := resumedID(ctx); ok {
		// gofakes3 learns of an upload the catalog has (see resume).
		b.uploads.known.Store(id, struct{}{})
		return gofakes3.UploadID(id), nil
	}
	meta, tags := splitTags(meta)
	o := gateway.PutOptions{Meta: meta, Tags: tags}
	st := stateFrom(ctx)
	if st != nil {
		o.Checksum, o.ChecksumType = st.checksum.alg, st.checksum.typ
		o.Retention, o.LegalHold = st.retention, st.legalHold
	}
	id, err := b.ns.CreateUploadWith(ctx, bucket, key, o)
	if err != nil {
		return "", s3Error(ctx, err, bucket, key)
	}
	if st != nil && o.Checksum != "" {
		typ := o.ChecksumType
		if typ == "" {
			typ = checksum.DefaultType(o.Checksum)
		}
		st.respHeaders = http.Header{"X-Amz-Checksum-Algorithm": {string(o.Checksum)}, "X-Amz-Checksum-Type": {string(typ)}}
	}
	b.uploads.known.Store(id, struct{}{})
	return gofakes3.UploadID(id), nil
}

func (b *backend) UploadPart(ctx context.Context, bucket, key string, id gofakes3.UploadID, n int, size int64, body io.Reader) (string, error) {
	if err := b.lockOptions(ctx, bucket, &gateway.PutOptions{}, "Put Part"); err != nil {
		return "", err
	}
	var declared checksum.Algorithm
	st := stateFrom(ctx)
	if st != nil {
		declared = st.checksum.body
	}
	p, err := b.ns.UploadPartWith(bodyChecksum(bodyMD5(ctx, nil)), bucket, key, string(id), n, body, size, declared)
	if err != nil {
		return "", s3Error(ctx, err, bucket, key)
	}
	if c := p.Checksum; declared != "" && (c == nil || c.Algorithm != declared) {
		// The part is stored with the default algorithm of an upload
		// created without one; the answer names the client's own,
		// verified.
		p.Checksum = &checksum.Checksum{Algorithm: declared, Type: checksum.FullObject, Sum: st.checksum.value()}
	}
	respondChecksum(ctx, p.Checksum)
	return `"` + p.ETag + `"`, nil
}

func (b *backend) CompleteMultipartUpload(ctx context.Context, bucket, key string, id gofakes3.UploadID, in *gofakes3.CompleteMultipartUploadRequest) (gofakes3.VersionID, string, error) {
	st := stateFrom(ctx)
	var o gateway.CompleteOptions
	var sums map[int]*checksum.Checksum
	if st != nil {
		o.Checksum, o.ChecksumType, sums = st.checksum.object, st.checksum.typ, st.checksum.parts
	}
	parts := make([]gateway.CompletedPart, len(in.Parts))
	for i, p := range in.Parts {
		parts[i] = gateway.CompletedPart{Number: p.PartNumber, ETag: p.ETag, Checksum: sums[p.PartNumber]}
	}
	info, err := b.ns.CompleteUploadWith(ctx, bucket, key, string(id), parts, o)
	if err != nil {
		return "", "", s3Error(ctx, err, bucket, key)
	}
	if st != nil {
		st.completed = &info
	}
	b.uploads.known.Delete(string(id))
	return gofakes3.VersionID(info.VersionID), `"` + info.ETag + `"`, nil
}

func (b *backend) AbortMultipartUpload(ctx context.Context, bucket, key string, id gofakes3.UploadID) error {
	if _, ok := resumedID(ctx); ok {
		// gofakes3 already knew the upload it was to learn: it stays.
		return nil
	}
	err := b.ns.AbortUpload(ctx, bucket, key, string(id))
	if err == nil || errors.Is(err, gateway.ErrNoSuchUpload) {
		b.uploads.known.Delete(string(id))
	}
	return s3Error(ctx, err, bucket, key)
}
