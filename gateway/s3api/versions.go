package s3api

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/twincrypt/twincrypt/gateway"
)

// maxConfigBody bounds the XML bodies of versioning, object-lock,
// retention and legal-hold requests.
const maxConfigBody = 64 << 10

// Headers of versions and object lock.
const (
	hdrVersionID       = "X-Amz-Version-Id"
	hdrDeleteMarker    = "X-Amz-Delete-Marker"
	hdrBypassGov       = "X-Amz-Bypass-Governance-Retention"
	hdrLockEnabled     = "X-Amz-Bucket-Object-Lock-Enabled"
	hdrLockMode        = "X-Amz-Object-Lock-Mode"
	hdrLockUntil       = "X-Amz-Object-Lock-Retain-Until-Date"
	hdrLockLegalHold   = "X-Amz-Object-Lock-Legal-Hold"
	hdrCopySrcVersion  = "X-Amz-Copy-Source-Version-Id"
	legalHoldOn        = "ON"
	legalHoldOff       = "OFF"
	objectLockEnabled  = "Enabled"
	lockChecksumNeeded = "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters"
)

// versionRoutes answers what the gateway does for versions and object lock
// beside gofakes3: bucket versioning, ListObjectVersions, object-lock
// configuration, retention and legal hold. It also takes the versionId of
// GET, HEAD and DELETE and the object-lock headers of writes into the
// request state, for the backend adapter, and hides them from gofakes3,
// which has no versions of its own. It reports whether it answered.
func versionRoutes(ns *gateway.Namespace, w http.ResponseWriter, r *http.Request, bucket, object string) bool {
	q := r.URL.Query()
	st := stateFrom(r.Context())
	switch {
	case object == "" && bucket != "" && q.Has("versioning"):
		bucketVersioning(ns, w, r, bucket)
		return true
	case object == "" && bucket != "" && q.Has("versions") && r.Method == http.MethodGet:
		listVersions(ns, w, r, bucket)
		return true
	case object == "" && bucket != "" && q.Has("lifecycle"):
		bucketLifecycle(ns, w, r, bucket)
		return true
	case object == "" && bucket != "" && q.Has("object-lock"):
		objectLockConfig(ns, w, r, bucket)
		return true
	case object != "" && q.Has("retention"):
		objectRetention(ns, w, r, bucket, object)
		return true
	case object != "" && q.Has("legal-hold"):
		objectLegalHold(ns, w, r, bucket, object)
		return true
	case object == "" && bucket != "" && q.Has("delete") && r.Method == http.MethodPost:
		return deleteVersions(ns, w, r, bucket)
	case q.Has("versions") || q.Has("versioning") || q.Has("object-lock") || q.Has("lifecycle"):
		writeError(w, r, methodNotAllowed())
		return true
	}
	if st == nil {
		return false
	}
	// A copy (UploadPartCopy) has no body to check.
	st.hasChecksum = hasChecksum(r.Header) || r.Header.Get("X-Amz-Copy-Source") != ""
	if object == "" && bucket != "" && r.Method == http.MethodPut && len(q) == 0 {
		switch v := strings.ToLower(r.Header.Get(hdrLockEnabled)); v {
		case "":
		case "true":
			st.objectLock = true
			// gofakes3 refuses the header; the backend adapter reads it
			// from the state.
			r.Header.Del(hdrLockEnabled)
		default:
			writeError(w, r, argError("x-amz-bucket-object-lock-enabled must be true or false"))
			return true
		}
	}
	if object != "" && q.Has("versionId") {
		id, e := versionParam(q)
		if e != nil {
			writeError(w, r, e)
			return true
		}
		switch {
		case q.Has("tagging"):
			objectTagging(ns, w, r, bucket, object, id)
			return true
		case q.Has("attributes") && r.Method == http.MethodGet:
			objectAttributes(ns, w, r, bucket, object, id)
			return true
		case unsupportedSub(q) != "":
			// A sub-resource the gateway has for no version of an
			// object: normalize answers NotImplemented.
			return false
		case q.Has("uploadId") || q.Has("uploads"):
			writeError(w, r, errNoVersionID)
			return true
		case r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodDelete:
			st.versionID = id
			q.Del("versionId")
			r.URL.RawQuery = q.Encode()
		default:
			// PutObject, CopyObject, POST: S3 takes no version ID
			// there either.
			writeError(w, r, errNoVersionID)
			return true
		}
	}
	if object != "" && r.Method == http.MethodDelete {
		st.bypassGovernance = strings.EqualFold(r.Header.Get(hdrBypassGov), "true")
	}
	if object != "" && (r.Method == http.MethodPut || r.Method == http.MethodPost) {
		if e := lockHeaders(r, st); e != nil {
			writeError(w, r, e)
			return true
		}
		if src := r.Header.Get("X-Amz-Copy-Source"); src != "" && r.Method == http.MethodPut {
			if path, query, ok := strings.Cut(src, "?"); ok {
				vq, err := url.ParseQuery(query)
				if err != nil || !vq.Has("versionId") || vq.Get("versionId") == "" {
					writeError(w, r, argError("Invalid version id specified"))
					return true
				}
				st.copySourceVersion = vq.Get("versionId")
				r.Header.Set("X-Amz-Copy-Source", path)
				// Copying an old version onto its own key restores it, as
				// S3 allows; gofakes3 would refuse a copy onto itself
				// without REPLACE.
				if p, err := url.PathUnescape(path); err == nil && strings.TrimLeft(p, "/") == bucket+"/"+object &&
					r.Header.Get("X-Amz-Metadata-Directive") == "" {
					st.copyRestore = true
					r.Header.Set("X-Amz-Metadata-Directive", "REPLACE")
				}
			}
		}
	}
	return false
}

// errNoVersionID is S3's answer to a versionId on an operation that takes
// none (PutObject, UploadPart, ListParts, CompleteMultipartUpload ...).
var errNoVersionID = argError("This operation does not accept a version-id.")

// versionParam returns the versionId of a request on an object: empty
// when it has none, an error when it is present but empty.
func versionParam(q url.Values) (string, *apiError) {
	if !q.Has("versionId") {
		return "", nil
	}
	id := q.Get("versionId")
	if id == "" {
		return "", argError("Version id cannot be the empty string")
	}
	return id, nil
}

// lockHeaders takes the x-amz-object-lock-* headers of a write into st.
func lockHeaders(r *http.Request, st *state) *apiError {
	mode, until, hold := r.Header.Get(hdrLockMode), r.Header.Get(hdrLockUntil), r.Header.Get(hdrLockLegalHold)
	if mode == "" && until == "" && hold == "" {
		return nil
	}
	if (mode == "") != (until == "") {
		return argError("x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied")
	}
	if mode != "" {
		if mode != gateway.RetainGovernance && mode != gateway.RetainCompliance {
			return argError("Unknown wormMode directive.")
		}
		t, err := time.Parse(time.RFC3339, until)
		if err != nil {
			return argError("The retain until date must be provided in ISO 8601 format")
		}
		st.retention = &gateway.Retention{Mode: mode, Until: t}
	}
	switch strings.ToUpper(hold) {
	case "":
	case legalHoldOn:
		st.legalHold = true
	case legalHoldOff:
	default:
		return argError("Legal Hold must be either of 'ON' or 'OFF'")
	}
	st.lockHeaders = true
	// gofakes3 refuses them; the backend adapter reads them from st.
	for _, h := range []string{hdrLockMode, hdrLockUntil, hdrLockLegalHold} {
		r.Header.Del(h)
	}
	return nil
}

// argError is a 400 InvalidArgument with msg.
func argError(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "InvalidArgument", Message: msg}
}

// readXML decodes a bounded XML request body into v.
func readXML(r *http.Request, v any) *apiError {
	_, e := readXMLBody(r, v, maxConfigBody)
	return e
}

// readXMLBody decodes an XML request body of at most limit bytes into v
// and returns the body.
func readXMLBody(r *http.Request, v any, limit int64) ([]byte, *apiError) {
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		if e, ok := bodyError(err); ok {
			return nil, e
		}
		return nil, &apiError{Status: http.StatusBadRequest, Code: "IncompleteBody", Message: "The request body could not be read."}
	}
	if int64(len(body)) > limit {
		return nil, malformedXML()
	}
	if err := xml.Unmarshal(body, v); err != nil {
		return nil, malformedXML()
	}
	return body, nil
}

// versioningConfiguration is the body of Get/PutBucketVersioning.
type versioningConfiguration struct {
	XMLName   xml.Name `xml:"VersioningConfiguration"`
	Xmlns     string   `xml:"xmlns,attr,omitempty"`
	Status    string   `xml:"Status,omitempty"`
	MFADelete string   `xml:"MfaDelete,omitempty"`
}

// bucketVersioning answers GetBucketVersioning and PutBucketVersioning.
func bucketVersioning(ns *gateway.Namespace, w http.ResponseWriter, r *http.Request, bucket string) {
	switch r.Method {
	case http.MethodGet:
		cfg, err := ns.BucketVersioning(r.Context(), bucket)
		if err != nil {
			writeNSError(w, r, err, bucket, "")
			return
		}
		writeXML(w, versioningConfiguration{Xmlns: s3Xmlns, Status: cfg.Status})
	case http.MethodPut:
		var in versioningConfiguration
		if e := readXML(r, &in); e != nil {
			writeError(w, r, e)
			return
		}
		if in.MFADelete == "Enabled" {
			writeError(w, r, &apiError{Status: http.StatusNotImplemented, Code: "NotImplemented", Message: "MFA delete is not supported by this gateway."})
			return
		}
		if in.Status != gateway.VersioningEnabled && in.Status != gateway.VersioningSuspended {
			writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "IllegalVersioningConfigurationException",
				Message: "The Versioning element must be specified"})
			return
		}
		if err := ns.SetBucketVersioning(r.Context(), bucket, in.Status); err != nil {
			if errors.Is(err, gateway.ErrInvalidVersioning) {
				writeError(w, r, &apiError{Status: http.StatusConflict, Code: "InvalidBucketState",
					Message: "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed."})
				return
			}
			writeNSError(w, r, err, bucket, "")
			return
		}
		w.WriteHeader(http.StatusOK)
	default:
		writeError(w, r, methodNotAllowed())
	}
}

// listVersionsResult is the answer to ListObjectVersions. Versions and
// delete markers interleave in key and age order, as on S3.
type listVersionsResult struct {
	XMLName             xml.Name       `xml:"ListVersionsResult"`
	Xmlns               string         `xml:"xmlns,attr"`
	Name                string         `xml:"Name"`
	Prefix              string         `xml:"Prefix"`
	KeyMarker           string         `xml:"KeyMarker"`
	VersionIDMarker     string         `xml:"VersionIdMarker"`
	NextKeyMarker       string         `xml:"NextKeyMarker,omitempty"`
	NextVersionIDMarker string         `xml:"NextVersionIdMarker,omitempty"`
	MaxKeys             int            `xml:"MaxKeys"`
	Delimiter           string         `xml:"Delimiter,omitempty"`
	EncodingType        string         `xml:"EncodingType,omitempty"`
	IsTruncated         bool           `xml:"IsTruncated"`
	Items               []any          `xml:",any"`
	CommonPrefixes      []commonPrefix `xml:"CommonPrefixes"`
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

type versionEntry struct {
	XMLName      xml.Name `xml:"Version"`
	Key          string   `xml:"Key"`
	VersionID    string   `xml:"VersionId"`
	IsLatest     bool     `xml:"IsLatest"`
	LastModified string   `xml:"LastModified"`
	ETag         string   `xml:"ETag"`
	Size         int64    `xml:"Size"`
	StorageClass string   `xml:"StorageClass"`
	Owner        *owner   `xml:"Owner,omitempty"`
}

type deleteMarkerEntry struct {
	XMLName      xml.Name `xml:"DeleteMarker"`
	Key          string   `xml:"Key"`
	VersionID    string   `xml:"VersionId"`
	IsLatest     bool     `xml:"IsLatest"`
	LastModified string   `xml:"LastModified"`
	Owner        *owner   `xml:"Owner,omitempty"`
}

// s3Time formats a time as S3's listings do.
func s3Time(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// listVersions answers ListObjectVersions from the catalog.
func listVersions(ns *gateway.Namespace, w http.ResponseWriter, r *http.Request, bucket string) {
	q := r.URL.Query()
	o := gateway.VersionListOptions{Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"),
		KeyMarker: q.Get("key-marker"), VersionIDMarker: q.Get("version-id-marker"), Limit: 1000}
	enc := q.Get("encoding-type")
	if enc != "" && enc != "url" {
		writeError(w, r, argError("Invalid Encoding Method specified in Request"))
		return
	}
	if o.VersionIDMarker != "" && o.KeyMarker == "" {
		writeError(w, r, argError("A version-id marker cannot be specified without a key marker."))
		return
	}
	if v := q.Get("max-keys"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, r, argError("Provided max-keys not an integer or within integer range"))
			return
		}
		o.Limit = min(n, 1000)
	}
	res := listVersionsResult{Xmlns: s3Xmlns, Name: bucket, Prefix: o.Prefix, KeyMarker: o.KeyMarker,
		VersionIDMarker: o.VersionIDMarker, MaxKeys: o.Limit, Delimiter: o.Delimiter, EncodingType: enc}
	bk, err := ns.Bucket(r.Context(), bucket)
	if err != nil {
		writeNSError(w, r, err, bucket, "")
		return
	}
	// Every version belongs to the bucket's owner, as in ListObjects.
	own := &owner{ID: bk.Owner.ID, DisplayName: bk.Owner.DisplayName}
	if o.Limit > 0 {
		page, err := ns.ListVersions(r.Context(), bucket, o)
		if err != nil {
			if errors.Is(err, gateway.ErrInvalidVersionID) {
				writeError(w, r, argError("Invalid version id specified"))
				return
			}
			writeNSError(w, r, err, bucket, "")
			return
		}
		for _, v := range page.Versions {
			if v.DeleteMarker {
				res.Items = append(res.Items, deleteMarkerEntry{Key: v.Key, VersionID: v.VersionID, IsLatest: v.Latest, LastModified: s3Time(v.ModTime), Owner: own})
				continue
			}
			res.Items = append(res.Items, versionEntry{Key: v.Key, VersionID: v.VersionID, IsLatest: v.Latest,
				LastModified: s3Time(v.ModTime), ETag: `"` + v.ETag + `"`, Size: v.Size, StorageClass: "STANDARD", Owner: own})
		}
		for _, p := range page.CommonPrefixes {
			res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: p})
		}
		res.IsTruncated = page.Truncated
		if page.Truncated {
			res.NextKeyMarker, res.NextVersionIDMarker = page.NextKeyMarker, page.NextVersionIDMarker
		}
	}
	if enc == "url" {
		esc := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
		res.Prefix, res.KeyMarker, res.NextKeyMarker, res.Delimiter = esc(res.Prefix), esc(res.KeyMarker), esc(res.NextKeyMarker), esc(res.Delimiter)
		for i, it := range res.Items {
			switch v := it.(type) {
			case versionEntry:
				v.Key = esc(v.Key)
				res.Items[i] = v
			case deleteMarkerEntry:
				v.Key = esc(v.Key)
				res.Items[i] = v
			}
		}
		for i := range res.CommonPrefixes {
			res.CommonPrefixes[i].Prefix = esc(res.CommonPrefixes[i].Prefix)
		}
	}
	writeXML(w, res)
}

// objectLockConfiguration is the body of Get/PutObjectLockConfiguration.
type objectLockConfiguration struct {
	XMLName           xml.Name  `xml:"ObjectLockConfiguration"`
	Xmlns             string    `xml:"xmlns,attr,omitempty"`
	ObjectLockEnabled string    `xml:"ObjectLockEnabled,omitempty"`
	Rule              *lockRule `xml:"Rule,omitempty"`
}

type lockRule struct {
	DefaultRetention *defaultRetention `xml:"DefaultRetention"`
}

type defaultRetention struct {
	Mode  string `xml:"Mode"`
	Days  int    `xml:"Days,omitempty"`
	Years int    `xml:"Years,omitempty"`
}

var errNoLockConfig = &apiError{Status: http.StatusNotFound, Code: "ObjectLockConfigurationNotFoundError",
	Message: "Object Lock configuration does not exist for this bucket"}

// objectLockConfig answers Get/PutObjectLockConfiguration.
func objectLockConfig(ns *gateway.Namespace, w http.ResponseWriter, r *http.Request, bucket string) {
	switch r.Method {
	case http.MethodGet:
		c, err := ns.ObjectLockConfig(r.Context(), bucket)
		if errors.Is(err, gateway.ErrNoLockConfig) {
			writeError(w, r, errNoLockConfig)
			return
		}
		if err != nil {
			writeNSError(w, r, err, bucket, "")
			return
		}
		out := objectLockConfiguration{Xmlns: s3Xmlns, ObjectLockEnabled: objectLockEnabled}
		if c.Mode != "" {
			out.Rule = &lockRule{DefaultRetention: &defaultRetention{Mode: c.Mode, Days: c.Days, Years: c.Years}}
		}
		writeXML(w, out)
	case http.MethodPut:
		var in objectLockConfiguration
		if e := readXML(r, &in); e != nil {
			writeError(w, r, e)
			return
		}
		if in.ObjectLockEnabled != objectLockEnabled {
			writeError(w, r, malformedXML())
			return
		}
		var c gateway.LockConfig
		if in.Rule != nil {
			d := in.Rule.DefaultRetention
			if d == nil {
				writeError(w, r, malformedXML())
				return
			}
			if d.Mode != gateway.RetainGovernance && d.Mode != gateway.RetainCompliance {
				writeError(w, r, malformedXML())
				return
			}
			if (d.Days != 0) == (d.Years != 0) {
				writeError(w, r, malformedXML())
				return
			}
			if d.Days < 0 || d.Years < 0 {
				writeError(w, r, argError("Default retention period must be a positive integer value"))
				return
			}
			c = gateway.LockConfig{Mode: d.Mode, Days: d.Days, Years: d.Years}
		}
		if err := ns.SetObjectLockConfig(r.Context(), bucket, c); err != nil {
			if errors.Is(err, gateway.ErrNoLockConfig) {
				writeError(w, r, &apiError{Status: http.StatusConflict, Code: "InvalidBucketState",
					Message: "Object Lock configuration cannot be enabled on existing buckets"})
				return
			}
			writeNSError(w, r, err, bucket, "")
			return
		}
		w.WriteHeader(http.StatusOK)
	default:
		writeError(w, r, methodNotAllowed())
	}
}

// retentionBody is the body of Get/PutObjectRetention.
type retentionBody struct {
	XMLName         xml.Name `xml:"Retention"`
	Xmlns           string   `xml:"xmlns,attr,omitempty"`
	Mode            string   `xml:"Mode,omitempty"`
	RetainUntilDate string   `xml:"RetainUntilDate,omitempty"`
}

// objectRetention answers Get/PutObjectRetention.
func objectRetention(ns *gateway.Namespace, w http.ResponseWriter, r *http.Request, bucket, key string) {
	id, e := versionParam(r.URL.Query())
	if e != nil {
		writeError(w, r, e)
		return
	}
	switch r.Method {
	case http.MethodGet:
		ret, err := ns.ObjectRetention(r.Context(), bucket, key, id)
		if err != nil {
			writeLockError(w, r, err, bucket, key)
			return
		}
		if ret == nil {
			writeError(w, r, &apiError{Status: http.StatusNotFound, Code: "NoSuchObjectLockConfiguration",
				Message: "The specified object does not have a ObjectLock configuration"})
			return
		}
		writeXML(w, retentionBody{Xmlns: s3Xmlns, Mode: ret.Mode, RetainUntilDate: ret.Until.UTC().Format(time.RFC3339Nano)})
	case http.MethodPut:
		var in retentionBody
		if e := readXML(r, &in); e != nil {
			writeError(w, r, e)
			return
		}
		var ret *gateway.Retention
		if in.Mode != "" || in.RetainUntilDate != "" {
			if in.Mode != gateway.RetainGovernance && in.Mode != gateway.RetainCompliance {
				writeError(w, r, malformedXML())
				return
			}
			t, err := time.Parse(time.RFC3339, in.RetainUntilDate)
			if err != nil {
				writeError(w, r, malformedXML())
				return
			}
			ret = &gateway.Retention{Mode: in.Mode, Until: t}
		}
		bypass := strings.EqualFold(r.Header.Get(hdrBypassGov), "true")
		info, err := ns.SetObjectRetention(r.Context(), bucket, key, id, ret, bypass)
		if err != nil {
			writeLockError(w, r, err, bucket, key)
			return
		}
		if info.VersionID != "" {
			w.Header().Set(hdrVersionID, info.VersionID)
		}
		w.WriteHeader(http.StatusOK)
	default:
		writeError(w, r, methodNotAllowed())
	}
}

// legalHoldBody is the body of Get/PutObjectLegalHold.
type legalHoldBody struct {
	XMLName xml.Name `xml:"LegalHold"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Status  string   `xml:"Status"`
}

// objectLegalHold answers Get/PutObjectLegalHold.
func objectLegalHold(ns *gateway.Namespace, w http.ResponseWriter, r *http.Request, bucket, key string) {
	id, e := versionParam(r.URL.Query())
	if e != nil {
		writeError(w, r, e)
		return
	}
	switch r.Method {
	case http.MethodGet:
		on, err := ns.ObjectLegalHold(r.Context(), bucket, key, id)
		if err != nil {
			writeLockError(w, r, err, bucket, key)
			return
		}
		status := legalHoldOff
		if on {
			status = legalHoldOn
		}
		writeXML(w, legalHoldBody{Xmlns: s3Xmlns, Status: status})
	case http.MethodPut:
		var in legalHoldBody
		if e := readXML(r, &in); e != nil {
			writeError(w, r, e)
			return
		}
		if in.Status != legalHoldOn && in.Status != legalHoldOff {
			writeError(w, r, malformedXML())
			return
		}
		info, err := ns.SetObjectLegalHold(r.Context(), bucket, key, id, in.Status == legalHoldOn)
		if err != nil {
			writeLockError(w, r, err, bucket, key)
			return
		}
		if info.VersionID != "" {
			w.Header().Set(hdrVersionID, info.VersionID)
		}
		w.WriteHeader(http.StatusOK)
	default:
		writeError(w, r, methodNotAllowed())
	}
}

// writeLockError writes the S3 error of a retention or legal-hold request.
func writeLockError(w http.ResponseWriter, r *http.Request, err error, bucket, key string) {
	switch {
	case errors.Is(err, gateway.ErrNoLockConfig):
		writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "InvalidRequest", Message: "Bucket is missing Object Lock Configuration"})
	case errors.Is(err, gateway.ErrInvalidLock):
		writeError(w, r, argError("The retain until date must be in the future!"))
	default:
		writeNSError(w, r, err, bucket, key)
	}
}

// hasChecksum reports whether a request carries a checksum of its body: a
// Content-MD5, an x-amz-checksum-* header, or one announced as a trailer.
func hasChecksum(h http.Header) bool {
	if h.Get("Content-Md5") != "" || h.Get("X-Amz-Sdk-Checksum-Algorithm") != "" ||
		strings.Contains(strings.ToLower(h.Get("X-Amz-Trailer")), "x-amz-checksum-") {
		return true
	}
	for k := range h {
		if strings.HasPrefix(k, "X-Amz-Checksum-") && k != "X-Amz-Checksum-Algorithm" && k != "X-Amz-Checksum-Type" {
			return true
		}
	}
	return false
}

// maxDeleteBody bounds the body of DeleteObjects: 1000 keys of up to 1024
// bytes, escaped, with version IDs and XML.
const maxDeleteBody = 8 << 20

// deleteRequest is the body of DeleteObjects.
type deleteRequest struct {
	Quiet   bool `xml:"Quiet"`
	Objects []struct {
		Key              string `xml:"Key"`
		VersionID        string `xml:"VersionId"`
		ETag             string `xml:"ETag"`
		LastModifiedTime string `xml:"LastModifiedTime"`
		Size             string `xml:"Size"`
	} `xml:"Object"`
}

type deleteResult struct {
	XMLName xml.Name        `xml:"DeleteResult"`
	Xmlns   string          `xml:"xmlns,attr"`
	Deleted []deletedObject `xml:"Deleted"`
	Errors  []deleteError   `xml:"Error"`
}

type deletedObject struct {
	Key                   string `xml:"Key"`
	VersionID             string `xml:"VersionId,omitempty"`
	DeleteMarker          bool   `xml:"DeleteMarker,omitempty"`
	DeleteMarkerVersionID string `xml:"DeleteMarkerVersionId,omitempty"`
}

type deleteError struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
}

// deleteVersions answers DeleteObjects when the bucket has versioning or
// an object names a version: gofakes3 knows neither. Any other
// DeleteObjects goes on to gofakes3 with its body put back. It reports
// whether it answered.
func deleteVersions(ns *gateway.Namespace, w http.ResponseWriter, r *http.Request, bucket string) bool {
	cfg, err := ns.BucketVersioning(r.Context(), bucket)
	if err != nil {
		writeNSError(w, r, err, bucket, "")
		return true
	}
	var in deleteRequest
	body, e := readXMLBody(r, &in, maxDeleteBody)
	if e != nil {
		writeError(w, r, e)
		return true
	}
	versioned := cfg.Status != ""
	for _, o := range in.Objects {
		versioned = versioned || o.VersionID != ""
	}
	if !versioned {
		r.Body = io.NopCloser(bytes.NewReader(body))
		return false
	}
	if len(in.Objects) > 1000 {
		writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "MalformedXML", Message: "a maximum of 1000 keys can be deleted in one request"})
		return true
	}
	bypass := strings.EqualFold(r.Header.Get(hdrBypassGov), "true")
	out := deleteResult{Xmlns: s3Xmlns}
	for _, o := range in.Objects {
		if o.ETag != "" || o.LastModifiedTime != "" || o.Size != "" {
			out.Errors = append(out.Errors, deleteError{Key: o.Key, VersionID: o.VersionID, Code: "NotImplemented",
				Message: "Conditional deletes in a versioned bucket are not supported by this gateway."})
			continue
		}
		res, err := ns.Delete(r.Context(), bucket, o.Key, gateway.DeleteOptions{VersionID: o.VersionID, BypassGovernance: bypass})
		if err != nil && !errors.Is(err, gateway.ErrNoSuchKey) {
			a := nsAPIError(r, err, bucket, o.Key)
			out.Errors = append(out.Errors, deleteError{Key: o.Key, VersionID: o.VersionID, Code: a.Code, Message: a.Message})
			continue
		}
		if in.Quiet {
			continue
		}
		d := deletedObject{Key: o.Key, VersionID: o.VersionID, DeleteMarker: res.DeleteMarker}
		if o.VersionID == "" && res.DeleteMarker {
			d.DeleteMarkerVersionID = res.VersionID
		}
		out.Deleted = append(out.Deleted, d)
	}
	writeXML(w, out)
	return true
}
