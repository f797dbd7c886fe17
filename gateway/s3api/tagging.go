package s3api

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rclone/gofakes3"

	"github.com/twincrypt/twincrypt/gateway"
)

// Limits on tags, as on S3.
const (
	maxObjectTags  = 10
	maxBucketTags  = 50
	maxTagKeyLen   = 128 // Unicode characters
	maxTagValueLen = 256 // Unicode characters
	// maxTaggingBody bounds the XML body of a PutObjectTagging request
	// the front end reads to check it: 50 tags of the longest keys and
	// values in 4-byte characters, with room for the XML.
	maxTaggingBody = 256 << 10
)

// tag is one key and value, in request order.
type tag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

// taggingBody is the XML body of PutObjectTagging / PutBucketTagging and
// the answer to their GET.
type taggingBody struct {
	XMLName xml.Name `xml:"Tagging"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	TagSet  tagSet   `xml:"TagSet"`
}

type tagSet struct {
	Tags []tag `xml:"Tag"`
}

// tagError is the S3 error for a tag set S3 refuses.
func tagError(code, msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: msg}
}

// validTagChar reports whether r may appear in a tag key or value: AWS
// allows letters, digits, white space and _ . : / = + - @.
func validTagChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsSpace(r) || unicode.In(r, unicode.Z) ||
		strings.ContainsRune("_.:/=+-@", r)
}

// checkTags checks a tag set against S3's rules and returns it as a map.
// max is the largest number of tags (10 for objects, 50 for buckets).
// The errors are AWS's: BadRequest for too many tags, InvalidTag for the
// rest.
func checkTags(tags []tag, max int, what string) (map[string]string, *apiError) {
	if len(tags) > max {
		if what == "bucket" {
			return nil, tagError("BadRequest", "Bucket tag count cannot be greater than 50")
		}
		return nil, tagError("BadRequest", "Object tags cannot be greater than 10")
	}
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		switch {
		case t.Key == "" || !utf8.ValidString(t.Key):
			return nil, tagError("InvalidTag", "The TagKey you have provided is invalid")
		case utf8.RuneCountInString(t.Key) > maxTagKeyLen:
			return nil, tagError("InvalidTag", "The TagKey you have provided is too long, max 128")
		case !utf8.ValidString(t.Value):
			return nil, tagError("InvalidTag", "The TagValue you have provided is invalid")
		case utf8.RuneCountInString(t.Value) > maxTagValueLen:
			return nil, tagError("InvalidTag", "The TagValue you have provided is too long, max 256")
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return nil, tagError("InvalidTag", "Your TagKey cannot be prefixed with aws:")
		case strings.IndexFunc(t.Key, func(r rune) bool { return !validTagChar(r) }) >= 0:
			return nil, tagError("InvalidTag", "The TagKey you have provided is invalid")
		case strings.IndexFunc(t.Value, func(r rune) bool { return !validTagChar(r) }) >= 0:
			return nil, tagError("InvalidTag", "The TagValue you have provided is invalid")
		}
		if _, dup := out[t.Key]; dup {
			return nil, tagError("InvalidTag", "Cannot provide multiple Tags with the same key")
		}
		out[t.Key] = t.Value
	}
	return out, nil
}

// parseTaggingHeader parses and checks the x-amz-tagging header of a
// PutObject, CreateMultipartUpload or CopyObject (URL query encoded tags).
func parseTaggingHeader(v string) (map[string]string, *apiError) {
	values, err := url.ParseQuery(v)
	if err != nil {
		return nil, &apiError{Status: http.StatusBadRequest, Code: "InvalidArgument",
			Message: "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates."}
	}
	var tags []tag
	for _, k := range sortedKeys(values) {
		for _, val := range values[k] {
			tags = append(tags, tag{Key: k, Value: val})
		}
	}
	return checkTags(tags, maxObjectTags, "object")
}

// parseTaggingBody reads and checks the XML body of a PutObjectTagging or
// PutBucketTagging request.
func parseTaggingBody(r *http.Request, max int, what string) (map[string]string, []byte, *apiError, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxTaggingBody+1))
	if err != nil {
		return nil, nil, nil, err
	}
	if len(body) > maxTaggingBody {
		return nil, nil, &apiError{Status: http.StatusBadRequest, Code: "MalformedXML",
			Message: "The XML you provided was not well-formed or did not validate against our published schema"}, nil
	}
	var in taggingBody
	if err := xml.Unmarshal(body, &in); err != nil || in.XMLName.Local != "Tagging" {
		return nil, nil, &apiError{Status: http.StatusBadRequest, Code: "MalformedXML",
			Message: "The XML you provided was not well-formed or did not validate against our published schema"}, nil
	}
	tags, e := checkTags(in.TagSet.Tags, max, what)
	return tags, body, e, nil
}

// encodeTags returns tags URL query encoded, sorted by key: the form
// gofakes3 keeps them in, in the metadata under TaggingMetadataKey.
func encodeTags(tags map[string]string) string {
	if len(tags) == 0 {
		return ""
	}
	v := make(url.Values, len(tags))
	for k, val := range tags {
		v.Set(k, val)
	}
	return v.Encode()
}

// decodeTags is the inverse of encodeTags. The string comes from gofakes3,
// which has checked it (and the front end before it).
func decodeTags(s string) map[string]string {
	if s == "" {
		return nil
	}
	v, _ := url.ParseQuery(s)
	out := make(map[string]string, len(v))
	for k, vs := range v {
		if len(vs) > 0 {
			out[k] = vs[0]
		}
	}
	return out
}

// splitTags removes the tags gofakes3 put into meta and returns them.
func splitTags(meta map[string]string) (map[string]string, map[string]string) {
	s, ok := meta[gofakes3.TaggingMetadataKey]
	if !ok {
		return meta, nil
	}
	rest := make(map[string]string, len(meta))
	for k, v := range meta {
		if k != gofakes3.TaggingMetadataKey {
			rest[k] = v
		}
	}
	return rest, decodeTags(s)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// tagSetXML returns the GET ?tagging answer for tags, sorted by key.
func tagSetXML(tags map[string]string) []byte {
	out := taggingBody{Xmlns: "http://s3.amazonaws.com/doc/2006-03-01/"}
	out.TagSet.Tags = []tag{}
	for _, k := range sortedKeys(tags) {
		out.TagSet.Tags = append(out.TagSet.Tags, tag{Key: k, Value: tags[k]})
	}
	b, _ := xml.Marshal(out)
	return append([]byte(xml.Header), b...)
}

// checkTagging checks the tags of a request before gofakes3 sees it: the
// x-amz-tagging header of writes and the body of PutObjectTagging, which
// gofakes3 would check with other error codes than AWS's. object reports
// whether the request names an object. It reports whether the request may
// go on; if not, it has answered it. A body it read is put back.
func checkTagging(w http.ResponseWriter, r *http.Request, object bool) bool {
	if v := r.Header.Get("X-Amz-Tagging"); v != "" && (r.Method == http.MethodPut || r.Method == http.MethodPost) {
		if _, e := parseTaggingHeader(v); e != nil {
			writeError(w, r, e)
			return false
		}
	}
	if _, ok := r.URL.Query()["tagging"]; ok && object && r.Method == http.MethodPut {
		_, body, e, err := parseTaggingBody(r, maxObjectTags, "object")
		if err != nil {
			// A body that failed verification: the sigv4
			// middleware replaces this answer with the body's error.
			writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "IncompleteBody", Message: err.Error()})
			return false
		}
		if e != nil {
			writeError(w, r, e)
			return false
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	return true
}

// bucketTagging answers GetBucketTagging, PutBucketTagging and
// DeleteBucketTagging, which gofakes3 does not implement. The tags live
// in the bucket's sealed record.
func bucketTagging(ns *gateway.Namespace, w http.ResponseWriter, r *http.Request, bucket string) {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		tags, err := ns.BucketTags(ctx, bucket)
		if err != nil {
			writeNSError(w, r, err, bucket, "")
			return
		}
		if len(tags) == 0 {
			writeError(w, r, &apiError{Status: http.StatusNotFound, Code: "NoSuchTagSet", Message: "The TagSet does not exist"})
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusOK)
		w.Write(tagSetXML(tags))
	case http.MethodPut:
		tags, ok := readTagging(w, r, maxBucketTags, "bucket")
		if !ok {
			return
		}
		if err := ns.SetBucketTags(ctx, bucket, tags); err != nil {
			writeNSError(w, r, err, bucket, "")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		if err := ns.SetBucketTags(ctx, bucket, nil); err != nil {
			writeNSError(w, r, err, bucket, "")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, r, methodNotAllowed())
	}
}

// readTagging reads the Tagging body of a PUT of bucket or object tags
// (what: "bucket" or "object", at most max tags) and answers the request
// itself when it is not one; ok reports that it is.
func readTagging(w http.ResponseWriter, r *http.Request, max int, what string) (tags map[string]string, ok bool) {
	tags, _, e, err := parseTaggingBody(r, max, what)
	if err != nil {
		// A body that failed verification: the sigv4 middleware
		// replaces this answer with the body's error.
		writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "IncompleteBody", Message: err.Error()})
		return nil, false
	}
	if e != nil {
		writeError(w, r, e)
		return nil, false
	}
	return tags, true
}

// objectTagging answers GetObjectTagging, PutObjectTagging and
// DeleteObjectTagging of an object's current version (id empty) or of one
// version (id). gofakes3 would answer them for the current version too,
// but leaves out the empty TagSet element S3 sends for an object without
// tags, and answers a write on a current delete marker 404, not S3's 405.
// The tags live in the version's sealed record; in a bucket with
// versioning the answers carry the ID of the version they concern, as
// S3's.
func objectTagging(ns *gateway.Namespace, w http.ResponseWriter, r *http.Request, bucket, key, id string) {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		var tags map[string]string
		if id == "" {
			o, err := ns.Object(ctx, bucket, key)
			if err != nil {
				writeNSError(w, r, err, bucket, key)
				return
			}
			tags = o.Tags
			if o.VersionID != "" {
				w.Header().Set(hdrVersionID, o.VersionID)
			}
		} else {
			o, err := ns.ObjectVersion(ctx, bucket, key, id)
			if err != nil {
				writeNSError(w, r, err, bucket, key)
				return
			}
			tags = o.Tags
			w.Header().Set(hdrVersionID, id)
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusOK)
		w.Write(tagSetXML(tags))
	case http.MethodPut, http.MethodDelete:
		var tags map[string]string
		if r.Method == http.MethodPut {
			var ok bool
			if tags, ok = readTagging(w, r, maxObjectTags, "object"); !ok {
				return
			}
		}
		var info gateway.ObjectInfo
		var err error
		if id == "" {
			info, err = ns.SetTags(ctx, bucket, key, tags)
			err = writeOnDeleteMarker(err)
		} else {
			info, err = ns.SetVersionTags(ctx, bucket, key, id, tags)
		}
		if err != nil {
			writeNSError(w, r, err, bucket, key)
			return
		}
		if id == "" {
			id = info.VersionID // the current version's, in a bucket with versioning
		}
		if id != "" {
			w.Header().Set(hdrVersionID, id)
		}
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(http.StatusOK)
	default:
		writeError(w, r, methodNotAllowed())
	}
}
