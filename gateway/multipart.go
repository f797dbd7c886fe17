package gateway

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/checksum"
	"github.com/twincrypt/twincrypt/gateway/seal"
)

// kindUpload marks the sealed record of a multipart upload in progress.
const kindUpload = "upload"

// UploadInfo describes a multipart upload in progress.
type UploadInfo struct {
	ID        string
	Bucket    string
	Key       string
	Initiated time.Time
	// ChecksumAlgorithm and ChecksumType are those the upload was
	// created with ("" when it named no algorithm; Upload only).
	ChecksumAlgorithm checksum.Algorithm
	ChecksumType      checksum.Type
}

// PartInfo describes one uploaded part.
type PartInfo struct {
	Number   int
	Size     int64
	ETag     string // without quotes
	Uploaded time.Time
	// Checksum is the part's checksum (of the upload's algorithm, or
	// checksum.Default); nil for a part stored before checksums were
	// kept.
	Checksum *checksum.Checksum
}

// CompletedPart names a part in a CompleteMultipartUpload request.
type CompletedPart struct {
	Number int
	ETag   string
	// Checksum, when set, is the part's checksum as the client lists
	// it: one of the upload's algorithm must match the stored part's.
	Checksum *checksum.Checksum
}

// CompleteOptions are the optional parts of CompleteUploadWith.
type CompleteOptions struct {
	// Checksum, when set, is the object's checksum as the client
	// computed it: it must be of the upload's algorithm and match.
	Checksum *checksum.Checksum
	// ChecksumType, when set, must be the upload's checksum type.
	ChecksumType checksum.Type
}

// uploadChecksum returns the algorithm and type of an upload's checksum
// from its record, and whether the client named the algorithm.
func uploadChecksum(r *record) (checksum.Algorithm, checksum.Type, bool) {
	if r.Checksum == nil || r.Checksum.Alg == "" {
		return checksum.Default, checksum.DefaultType(checksum.Default), false
	}
	return r.Checksum.Alg, r.Checksum.Type, true
}

// uploadObjectID binds an upload's sealed record to its id.
func uploadObjectID(uploadID string) (seal.ObjectID, error) {
	var id seal.ObjectID
	b, err := hex.DecodeString(uploadID)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("%w: %q", ErrNoSuchUpload, uploadID)
	}
	copy(id[:], b)
	return id, nil
}

// CreateUpload starts a multipart upload of bucket/key and returns its id.
func (ns *Namespace) CreateUpload(ctx context.Context, bucket, key string, meta map[string]string) (string, error) {
	return ns.CreateUploadWith(ctx, bucket, key, PutOptions{Meta: meta})
}

// CreateUploadWith starts a multipart upload of bucket/key with the
// metadata, tags and object lock of o (its conditions are not used) and
// returns its id. The completed object gets them.
func (ns *Namespace) CreateUploadWith(ctx context.Context, bucket, key string, o PutOptions) (string, error) {
	if err := ns.Authorize(ctx, bucket, AccessWrite); err != nil {
		return "", err
	}
	if err := checkKey(key); err != nil {
		return "", err
	}
	if _, err := ns.cat.GetBucket(ctx, bucket); err != nil {
		return "", mapCatalogErr(err, bucket, key)
	}
	urec := &record{Kind: kindUpload, Bucket: bucket, Key: key, Meta: StoredMeta(o.Meta), Tags: cloneTags(o.Tags), LegalHold: o.LegalHold}
	if o.Retention != nil || o.LegalHold {
		// Checked now, as S3 does, and again when the upload completes.
		cfg, err := ns.BucketVersioning(ctx, bucket)
		if err != nil {
			return "", err
		}
		if !cfg.ObjectLock {
			return "", fmt.Errorf("%w: %s", ErrNoLockConfig, bucket)
		}
		if o.Retention != nil {
			if err := checkRetention(o.Retention, ns.now()); err != nil {
				return "", err
			}
			urec.Retention = &retentionRecord{Mode: o.Retention.Mode, Until: o.Retention.Until.UTC()}
		}
	}
	var id seal.ObjectID
	if _, err := io.ReadFull(ns.rand, id[:]); err != nil {
		return "", fmt.Errorf("upload id: %w", err)
	}
	uploadID := hex.EncodeToString(id[:])
	ck, err := newUploadChecksum(o.Checksum, o.ChecksumType)
	if err != nil {
		return "", err
	}
	urec.Checksum = ck
	sealed, err := ns.sealRecord(urec, id)
	if err != nil {
		return "", err
	}
	err = ns.cat.CreateUpload(ctx, catalog.Upload{ID: uploadID, Bucket: bucket, Key: key, Initiated: ns.now().UTC(), Record: sealed})
	if err != nil {
		return "", mapCatalogErr(err, bucket, key)
	}
	return uploadID, nil
}

// newUploadChecksum checks the checksum algorithm and type a multipart
// upload is created with and returns them for its record.
func newUploadChecksum(alg checksum.Algorithm, t checksum.Type) (*checksumRecord, error) {
	if alg == "" {
		if t != "" {
			return nil, checksum.Invalidf("The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
		}
		return nil, nil
	}
	if !alg.Valid() {
		return nil, checksum.Invalidf("Checksum algorithm %q is unsupported.", alg)
	}
	if t == "" {
		t = checksum.DefaultType(alg)
	}
	if err := checksum.CheckType(alg, t); err != nil {
		return nil, err
	}
	return &checksumRecord{Alg: alg, Type: t}, nil
}

// uploadRecord returns an upload's catalog entry and its opened record.
func (ns *Namespace) uploadRecord(ctx context.Context, bucket, key, uploadID string) (catalog.Upload, *record, error) {
	u, err := ns.upload(ctx, bucket, key, uploadID)
	if err != nil {
		return u, nil, err
	}
	uid, _ := uploadObjectID(uploadID)
	r, err := ns.openRecord(u.Record, uid)
	return u, r, err
}

// upload returns the upload and checks that it belongs to bucket/key.
func (ns *Namespace) upload(ctx context.Context, bucket, key, uploadID string) (catalog.Upload, error) {
	if _, err := uploadObjectID(uploadID); err != nil {
		return catalog.Upload{}, err
	}
	u, err := ns.cat.GetUpload(ctx, uploadID)
	if err != nil {
		return u, mapCatalogErr(err, bucket, uploadID)
	}
	if u.Bucket != bucket || u.Key != key {
		return u, fmt.Errorf("%w: %s is not an upload of %s/%s", ErrNoSuchUpload, uploadID, bucket, key)
	}
	return u, nil
}

// UploadPart stores part number n (1..10000) of an upload, streaming and
// encrypting it as it arrives. It returns the part's ETag (hex MD5).
// Uploading the same number again replaces the earlier part.
func (ns *Namespace) UploadPart(ctx context.Context, bucket, key, uploadID string, n int, body io.Reader, size int64) (string, error) {
	p, err := ns.UploadPartWith(ctx, bucket, key, uploadID, n, body, size, "")
	return p.ETag, err
}

// UploadPartWith is UploadPart for a client that declared a checksum of
// algorithm declared with the part ("": none): in an upload created with
// an algorithm, it must be that one (else a checksum.ErrInvalid error).
// The part is stored with its checksum of the upload's algorithm
// (checksum.Default for an upload without one), which the returned
// PartInfo holds.
func (ns *Namespace) UploadPartWith(ctx context.Context, bucket, key, uploadID string, n int, body io.Reader, size int64, declared checksum.Algorithm) (PartInfo, error) {
	if err := ns.Authorize(ctx, bucket, AccessWrite); err != nil {
		return PartInfo{}, err
	}
	if n < 1 || n > 10000 {
		return PartInfo{}, fmt.Errorf("%w: part number %d", ErrInvalidPart, n)
	}
	_, urec, err := ns.uploadRecord(ctx, bucket, key, uploadID)
	if err != nil {
		return PartInfo{}, err
	}
	alg, _, named := uploadChecksum(urec)
	if named && declared != "" && declared != alg {
		return PartInfo{}, checksum.Invalidf("Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s",
			strings.ToLower(string(alg)), strings.ToLower(string(declared)))
	}
	part, sum, ck, err := ns.writeBlob(ctx, body, size, alg, false)
	if err != nil {
		return PartInfo{}, err
	}
	etag := hex.EncodeToString(sum)
	pr := partRecord{ETag: etag}
	if part != nil {
		pr = *part
		pr.ETag = etag
	}
	pr.Sum = ck
	raw, err := json.Marshal(pr)
	if err != nil {
		return PartInfo{}, err
	}
	now := ns.now().UTC()
	// Under the object's lock a completion or an abort of the upload
	// (which read the parts, or delete their blobs) is not under way.
	unlock, err := ns.lock(ctx, bucket, key)
	if err != nil {
		ns.deleteBlobs(ctx, parts(pr))
		return PartInfo{}, err
	}
	defer unlock()
	prev, err := ns.cat.PutPart(ctx, uploadID, catalog.Part{Number: n, Size: pr.Size, ETag: etag, Record: raw, Uploaded: now})
	if err != nil {
		if !errors.Is(err, catalog.ErrUnavailable) {
			// Else the part may have landed (its answer lost): its blob
			// stays, for gc to collect if it did not.
			ns.deleteBlobs(ctx, parts(pr))
		}
		return PartInfo{}, mapCatalogErr(err, bucket, uploadID)
	}
	if prev != nil {
		ns.deleteBlobs(ctx, decodeParts(*prev))
	}
	return PartInfo{Number: n, Size: pr.Size, ETag: etag, Uploaded: now,
		Checksum: &checksum.Checksum{Algorithm: alg, Type: checksum.FullObject, Sum: ck}}, nil
}

// parts returns p as a slice, or nothing for an empty part (no blob).
func parts(p partRecord) []partRecord {
	if p.Blob == "" {
		return nil
	}
	return []partRecord{p}
}

// decodeParts decodes the part record kept in the catalog.
func decodeParts(cp catalog.Part) []partRecord {
	var pr partRecord
	if err := json.Unmarshal(cp.Record, &pr); err != nil {
		return nil
	}
	return parts(pr)
}

// CompleteUpload assembles the listed parts into the object bucket/key.
// Parts must be in ascending order, exist with the given ETags, and all but
// the last be at least MinPartSize bytes. The object's ETag is the MD5 of the
// parts' binary MD5s, a dash and the part count, as on S3.
func (ns *Namespace) CompleteUpload(ctx context.Context, bucket, key, uploadID string, want []CompletedPart) (ObjectInfo, error) {
	return ns.CompleteUploadWith(ctx, bucket, key, uploadID, want, CompleteOptions{})
}

// CompleteUploadWith is CompleteUpload with the checksums a client sends
// with the completion. The object's checksum is of the upload's algorithm
// and type: COMPOSITE, the checksum of the parts' checksums; FULL_OBJECT
// (CRCs only), the CRC of the whole object, combined from the parts'.
// An upload created without an algorithm gets a FULL_OBJECT
// checksum.Default.
func (ns *Namespace) CompleteUploadWith(ctx context.Context, bucket, key, uploadID string, want []CompletedPart, o CompleteOptions) (ObjectInfo, error) {
	if err := ns.Authorize(ctx, bucket, AccessWrite); err != nil {
		return ObjectInfo{}, err
	}
	// The object's lock, held from reading the parts until the upload is
	// gone, keeps an abort (which deletes the parts' blobs) or a new
	// part (which replaces one) from coming between.
	unlock, err := ns.lock(ctx, bucket, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	defer unlock()
	_, urec, err := ns.uploadRecord(ctx, bucket, key, uploadID)
	if err != nil {
		return ObjectInfo{}, err
	}
	if len(want) == 0 {
		return ObjectInfo{}, fmt.Errorf("%w: no parts", ErrInvalidPart)
	}
	stored, err := ns.allParts(ctx, uploadID)
	if err != nil {
		return ObjectInfo{}, err
	}
	alg, typ, named := uploadChecksum(urec)
	if o.ChecksumType != "" && named && o.ChecksumType != typ {
		return ObjectInfo{}, checksum.Invalidf("The upload was created using the %s checksum mode. The complete request must use the same checksum mode.", typ)
	}
	rec := &record{Kind: kindObject, Bucket: bucket, Key: key, Meta: urec.Meta, Tags: urec.Tags}
	var sums [][]byte
	var sizes []int64
	for i := 1; i < len(want); i++ {
		if want[i].Number <= want[i-1].Number {
			return ObjectInfo{}, ErrInvalidPartOrder
		}
	}
	md5s := md5.New()
	for i, w := range want {
		cp, ok := stored[w.Number]
		if !ok || strings.Trim(w.ETag, `"`) != cp.ETag {
			return ObjectInfo{}, fmt.Errorf("%w: part %d", ErrInvalidPart, w.Number)
		}
		if i < len(want)-1 && cp.Size < MinPartSize {
			return ObjectInfo{}, fmt.Errorf("%w: part %d has %d bytes", ErrEntityTooSmall, w.Number, cp.Size)
		}
		var pr partRecord
		if err := json.Unmarshal(cp.Record, &pr); err != nil {
			return ObjectInfo{}, fmt.Errorf("%w: part %d: %v", ErrCorruptRecord, w.Number, err)
		}
		if w.Checksum != nil && w.Checksum.Algorithm == alg && pr.Sum != nil && !bytes.Equal(w.Checksum.Sum, pr.Sum) {
			return ObjectInfo{}, fmt.Errorf("%w: part %d: %s checksum", ErrInvalidPart, w.Number, alg)
		}
		sums = append(sums, pr.Sum)
		sizes = append(sizes, pr.Size)
		raw, _ := hex.DecodeString(cp.ETag)
		md5s.Write(raw)
		rec.Size += pr.Size
		if pr.Blob != "" {
			rec.Parts = append(rec.Parts, pr)
		}
	}
	rec.ETag = fmt.Sprintf("%s-%d", hex.EncodeToString(md5s.Sum(nil)), len(want))
	if !slices.ContainsFunc(sums, func(s []byte) bool { return s == nil }) {
		// Parts stored before checksums were kept leave the object
		// without one.
		var ck checksum.Checksum
		if typ == checksum.Composite {
			ck = checksum.CompositeOf(alg, sums)
		} else if ck, err = checksum.FullObjectOf(alg, sums, sizes); err != nil {
			return ObjectInfo{}, err
		}
		if c := o.Checksum; c != nil {
			if c.Algorithm != alg {
				return ObjectInfo{}, checksum.Invalidf("The upload was created using a %s checksum. The complete request must use the same checksum algorithm.", strings.ToLower(string(alg)))
			}
			if !bytes.Equal(c.Sum, ck.Sum) {
				return ObjectInfo{}, checksum.MismatchError(alg)
			}
		}
		rec.Checksum = newChecksumRecord(ck)
	}
	po := PutOptions{LegalHold: urec.LegalHold}
	if r := urec.Retention; r != nil {
		po.Retention = &Retention{Mode: r.Mode, Until: r.Until}
	}
	info, err := ns.commitLocked(ctx, rec, po)
	if err != nil {
		return ObjectInfo{}, err
	}
	removed, err := ns.cat.DeleteUpload(ctx, uploadID)
	if err != nil {
		ns.log.Warn("forget completed upload", "upload", uploadID, "err", err)
		return info, nil
	}
	used := make(map[int]bool, len(want))
	for _, w := range want {
		used[w.Number] = true
	}
	for _, p := range removed {
		if !used[p.Number] {
			ns.deleteBlobs(ctx, decodeParts(p))
		}
	}
	return info, nil
}

// allParts returns every stored part of an upload by number.
func (ns *Namespace) allParts(ctx context.Context, uploadID string) (map[int]catalog.Part, error) {
	out := make(map[int]catalog.Part)
	marker := 0
	for {
		ps, more, err := ns.cat.ListParts(ctx, uploadID, marker, 1000)
		if err != nil {
			return nil, mapCatalogErr(err, "", uploadID)
		}
		for _, p := range ps {
			out[p.Number] = p
			marker = p.Number
		}
		if !more || len(ps) == 0 {
			return out, nil
		}
	}
}

// AbortUpload discards an upload and the blobs of its parts.
func (ns *Namespace) AbortUpload(ctx context.Context, bucket, key, uploadID string) error {
	if err := ns.Authorize(ctx, bucket, AccessWrite); err != nil {
		return err
	}
	unlock, err := ns.lock(ctx, bucket, key)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := ns.upload(ctx, bucket, key, uploadID); err != nil {
		return err
	}
	return ns.abort(ctx, uploadID)
}

// abortLocked aborts u under the lock of its object.
func (ns *Namespace) abortLocked(ctx context.Context, u catalog.Upload) error {
	unlock, err := ns.lock(ctx, u.Bucket, u.Key)
	if err != nil {
		return err
	}
	defer unlock()
	return ns.abort(ctx, u.ID)
}

// abort deletes an upload and its parts' blobs; the caller holds the lock
// of the upload's object.
func (ns *Namespace) abort(ctx context.Context, uploadID string) error {
	removed, err := ns.cat.DeleteUpload(ctx, uploadID)
	if err != nil {
		return mapCatalogErr(err, "", uploadID)
	}
	for _, p := range removed {
		ns.deleteBlobs(ctx, decodeParts(p))
	}
	return nil
}

// Parts lists the parts of an upload after part number marker.
func (ns *Namespace) Parts(ctx context.Context, bucket, key, uploadID string, marker, limit int) ([]PartInfo, bool, error) {
	if err := ns.Authorize(ctx, bucket, AccessRead); err != nil {
		return nil, false, err
	}
	_, urec, err := ns.uploadRecord(ctx, bucket, key, uploadID)
	if err != nil {
		return nil, false, err
	}
	alg, _, _ := uploadChecksum(urec)
	ps, more, err := ns.cat.ListParts(ctx, uploadID, marker, limit)
	if err != nil {
		return nil, false, mapCatalogErr(err, bucket, uploadID)
	}
	out := make([]PartInfo, len(ps))
	for i, p := range ps {
		out[i] = PartInfo{Number: p.Number, Size: p.Size, ETag: p.ETag, Uploaded: p.Uploaded}
		var pr partRecord
		if json.Unmarshal(p.Record, &pr) == nil && len(pr.Sum) == alg.Size() {
			out[i].Checksum = &checksum.Checksum{Algorithm: alg, Type: checksum.FullObject, Sum: pr.Sum}
		}
	}
	return out, more, nil
}

// Uploads lists the uploads in progress in a bucket.
func (ns *Namespace) Uploads(ctx context.Context, bucket, prefix, keyMarker, idMarker string, limit int) ([]UploadInfo, bool, error) {
	if err := ns.Authorize(ctx, bucket, AccessRead); err != nil {
		return nil, false, err
	}
	us, more, err := ns.cat.ListUploads(ctx, bucket, prefix, keyMarker, idMarker, limit)
	if err != nil {
		return nil, false, mapCatalogErr(err, bucket, "")
	}
	out := make([]UploadInfo, len(us))
	for i, u := range us {
		out[i] = UploadInfo{ID: u.ID, Bucket: u.Bucket, Key: u.Key, Initiated: u.Initiated}
	}
	return out, more, nil
}

// AbortStaleUploads aborts every upload initiated before cutoff and returns
// how many it aborted. serve runs it periodically so abandoned uploads do not
// keep their blobs forever.
func (ns *Namespace) AbortStaleUploads(ctx context.Context, cutoff time.Time) (int, error) {
	buckets, err := ns.cat.ListBuckets(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, b := range buckets {
		keyMarker, idMarker := "", ""
		for {
			us, more, err := ns.cat.ListUploads(ctx, b.Name, "", keyMarker, idMarker, 1000)
			if err != nil {
				errs = append(errs, err)
				break
			}
			for _, u := range us {
				if u.Initiated.Before(cutoff) {
					if err := ns.abortLocked(ctx, u); errors.Is(err, ErrNoSuchUpload) {
						continue // completed or aborted meanwhile
					} else if err != nil {
						errs = append(errs, err)
						continue
					}
					n++
				}
				keyMarker, idMarker = u.Key, u.ID
			}
			if !more || len(us) == 0 {
				break
			}
		}
	}
	return n, errors.Join(errs...)
}

// Upload returns the upload uploadID of bucket/key, or ErrNoSuchUpload.
func (ns *Namespace) Upload(ctx context.Context, bucket, key, uploadID string) (UploadInfo, error) {
	if err := ns.Authorize(ctx, bucket, AccessRead); err != nil {
		return UploadInfo{}, err
	}
	u, r, err := ns.uploadRecord(ctx, bucket, key, uploadID)
	if err != nil {
		return UploadInfo{}, err
	}
	info := UploadInfo{ID: u.ID, Bucket: u.Bucket, Key: u.Key, Initiated: u.Initiated}
	if alg, typ, named := uploadChecksum(r); named {
		info.ChecksumAlgorithm, info.ChecksumType = alg, typ
	}
	return info, nil
}
