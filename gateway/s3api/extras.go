package s3api

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/rclone/gofakes3"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/checksum"
)

// storageClasses are the storage classes a write may name. The gateway
// has one class, with STANDARD's semantics; REDUCED_REDUNDANCY, which
// older clients still send (s3cmd --rr), is accepted and stored as
// STANDARD, a class at least as durable. Every other class (the archive
// and infrequent-access ones, unknown names) is refused.
var storageClasses = map[string]bool{"STANDARD": true, "REDUCED_REDUNDANCY": true}

// checkStorageClass refuses a write (PutObject, CopyObject,
// CreateMultipartUpload) whose x-amz-storage-class the gateway does not
// offer, with AWS's 400 InvalidStorageClass.
func checkStorageClass(r *http.Request) *apiError {
	v := r.Header.Get("X-Amz-Storage-Class")
	if v == "" || (r.Method != http.MethodPut && r.Method != http.MethodPost) || storageClasses[v] {
		return nil
	}
	return &apiError{Status: http.StatusBadRequest, Code: "InvalidStorageClass",
		Message: "The storage class you specified is not valid"}
}

// writeNSError writes the S3 error for a namespace error, for the handlers
// that answer without gofakes3.
func writeNSError(w http.ResponseWriter, r *http.Request, err error, bucket, key string) {
	writeError(w, r, nsAPIError(r, err, bucket, key))
}

// nsAPIError returns the S3 error for a namespace error.
func nsAPIError(r *http.Request, err error, bucket, key string) *apiError {
	e := s3Error(r.Context(), err, bucket, key)
	if st := stateFrom(r.Context()); st != nil && st.override != nil {
		a := st.override
		st.override = nil
		return a
	}
	var ge interface{ ErrorCode() gofakes3.ErrorCode }
	if !errors.As(e, &ge) {
		return &apiError{Status: http.StatusInternalServerError, Code: "InternalError", Message: "We encountered an internal error. Please try again."}
	}
	code := ge.ErrorCode()
	msg := code.Message()
	var er *gofakes3.ErrorResponse
	if errors.As(e, &er) && er.Message != "" {
		msg = er.Message
	}
	if msg == "" && code == gofakes3.ErrNoSuchUpload {
		// aws cli fails on an error without a message.
		msg = "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
	}
	return &apiError{Status: code.Status(), Code: string(code), Message: msg}
}

// partsCount returns the number of parts of a multipart object from its
// ETag ("<md5>-<parts>"), 0 for an object not made by a multipart upload.
func partsCount(etag string) int {
	i := strings.LastIndexByte(etag, '-')
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(etag[i+1:])
	if err != nil || n < 1 {
		return 0
	}
	return n
}

// attributesResult is the answer to GetObjectAttributes.
type attributesResult struct {
	XMLName      xml.Name            `xml:"GetObjectAttributesResponse"`
	Xmlns        string              `xml:"xmlns,attr"`
	ETag         string              `xml:"ETag,omitempty"`
	Checksum     *attributesChecksum `xml:"Checksum,omitempty"`
	ObjectParts  *attributesParts    `xml:"ObjectParts,omitempty"`
	StorageClass string              `xml:"StorageClass,omitempty"`
	ObjectSize   *int64              `xml:"ObjectSize,omitempty"`
}

type attributesParts struct {
	PartsCount           int                `xml:"PartsCount"`
	PartNumberMarker     int                `xml:"PartNumberMarker"`
	NextPartNumberMarker int                `xml:"NextPartNumberMarker"`
	MaxParts             int                `xml:"MaxParts"`
	IsTruncated          bool               `xml:"IsTruncated"`
	Parts                []attributesPartID `xml:"Part"`
}

type attributesPartID struct {
	PartNumber int   `xml:"PartNumber"`
	Size       int64 `xml:"Size"`
	checksumXML
}

type attributesChecksum struct {
	checksumXML
	ChecksumType string `xml:"ChecksumType"`
}

// objectAttributes answers GetObjectAttributes from the namespace; gofakes3
// knows a multipart ETag only without its "-<parts>" suffix. Checksum is
// the object's stored checksum (none for an object stored before checksums
// were kept); the parts of a multipart object carry their own. versionID,
// if not empty, names the version asked for.
func objectAttributes(ns *gateway.Namespace, w http.ResponseWriter, r *http.Request, bucket, key, versionID string) {
	attrs := map[string]bool{}
	for _, v := range r.Header.Values("X-Amz-Object-Attributes") {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				attrs[a] = true
			}
		}
	}
	for a := range attrs {
		switch a {
		case "ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize":
		default:
			writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "InvalidArgument", Message: "Invalid attribute name specified."})
			return
		}
	}
	if len(attrs) == 0 {
		writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "InvalidArgument", Message: "Invalid attribute name specified."})
		return
	}
	maxParts, marker := 1000, 0
	if v := r.Header.Get("X-Amz-Max-Parts"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "InvalidArgument", Message: "Argument max-parts must be an integer between 0 and 2147483647"})
			return
		}
		maxParts = min(n, 1000)
	}
	if v := r.Header.Get("X-Amz-Part-Number-Marker"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "InvalidArgument", Message: "Argument part-number-marker must be an integer between 0 and 2147483647"})
			return
		}
		marker = n
	}
	var o *gateway.Object
	var err error
	if versionID != "" {
		o, err = ns.ObjectVersion(r.Context(), bucket, key, versionID)
	} else {
		o, err = ns.Object(r.Context(), bucket, key)
	}
	if err != nil {
		writeNSError(w, r, err, bucket, key)
		return
	}
	res := attributesResult{Xmlns: "http://s3.amazonaws.com/doc/2006-03-01/"}
	if attrs["ETag"] {
		res.ETag = o.ETag
	}
	if attrs["StorageClass"] {
		res.StorageClass = "STANDARD"
	}
	if attrs["Checksum"] && o.Checksum != nil {
		res.Checksum = &attributesChecksum{checksumXML: newChecksumXML(o.Checksum), ChecksumType: string(o.Checksum.Type)}
		if o.Checksum.Type == checksum.Composite {
			// S3 gives the composite value without its "-N".
			*res.Checksum.field(o.Checksum.Algorithm) = checksum.Encode(o.Checksum.Sum)
		}
	}
	if attrs["ObjectSize"] {
		size := o.Size
		res.ObjectSize = &size
	}
	if n := partsCount(o.ETag); attrs["ObjectParts"] && n > 0 {
		p := &attributesParts{PartsCount: n, PartNumberMarker: marker, MaxParts: maxParts}
		// Parts of zero bytes keep no blob: sizes are known part by
		// part only when every part has one.
		if len(o.PartSizes) == n {
			for i := marker; i < n; i++ {
				if len(p.Parts) == maxParts {
					p.IsTruncated = true
					break
				}
				part := attributesPartID{PartNumber: i + 1, Size: o.PartSizes[i]}
				if c := o.Checksum; c != nil && len(o.PartChecksums) == n {
					part.checksumXML = newChecksumXML(&checksum.Checksum{Algorithm: c.Algorithm, Type: checksum.FullObject, Sum: o.PartChecksums[i]})
				}
				p.Parts = append(p.Parts, part)
				p.NextPartNumberMarker = i + 1
			}
		}
		res.ObjectParts = p
	}
	body, _ := xml.Marshal(res)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Last-Modified", o.ModTime.UTC().Format(http.TimeFormat))
	if o.VersionID != "" {
		w.Header().Set(hdrVersionID, o.VersionID)
	}
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(xml.Header))
	w.Write(body)
}

// captureWriter holds a response back so that it can be replaced.
type captureWriter struct {
	http.ResponseWriter
	code int
	buf  bytes.Buffer
}

func (c *captureWriter) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	return c.buf.Write(p)
}

// headRange makes a HEAD of an object with a Range header answer as the
// ranged GET would (gofakes3 ignores the header on HEAD): 206 with the
// range's Content-Length and a Content-Range, or 416 for a range the object
// cannot satisfy. h holds gofakes3's headers for the whole object; the
// status to send is returned.
func headRange(h http.Header, r *http.Request) int {
	rng := r.Header.Get("Range")
	_, object, _ := strings.Cut(strings.TrimLeft(r.URL.Path, "/"), "/")
	if rng == "" || object == "" || r.URL.Query().Has("partNumber") || h.Get("Content-Range") != "" {
		return http.StatusOK
	}
	size, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64)
	if err != nil || h.Get("ETag") == "" {
		return http.StatusOK
	}
	start, length, ok, multi := parseRange(rng, size)
	switch {
	case multi:
		return http.StatusOK
	case !ok:
		h.Del("Content-Length")
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		return http.StatusRequestedRangeNotSatisfiable
	}
	h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, size))
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	return http.StatusPartialContent
}

// parseRange resolves a Range header against an object of size bytes by
// the rules of gofakes3's GET: one range, "a-b", "a-" or "-n". ok is false
// for a malformed or unsatisfiable range; multi reports several ranges,
// which GET does not serve either.
func parseRange(s string, size int64) (start, length int64, ok, multi bool) {
	spec, found := strings.CutPrefix(s, "bytes=")
	if !found {
		return 0, 0, false, false
	}
	if strings.Contains(spec, ",") {
		return 0, 0, false, true
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if !found {
		return 0, 0, false, false
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 || size == 0 {
			return 0, 0, false, false
		}
		n = min(n, size)
		return size - n, n, true, false
	}
	from, err := strconv.ParseInt(a, 10, 64)
	if err != nil || from < 0 || from >= size {
		return 0, 0, false, false
	}
	to := size - 1
	if b != "" {
		t, err := strconv.ParseInt(b, 10, 64)
		if err != nil || t < from {
			return 0, 0, false, false
		}
		to = min(t, size-1)
	}
	return from, to - from + 1, true, false
}
