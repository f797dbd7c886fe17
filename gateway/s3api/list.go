package s3api

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/rclone/gofakes3"

	"github.com/twincrypt/twincrypt/gateway"
)

// Listing limits, as gofakes3 and S3 have them.
const (
	// maxListKeys is the most keys one ListObjects page holds; a larger
	// max-keys is taken as this.
	maxListKeys = 1000
	// listStorageClass is the storage class of every listed object.
	listStorageClass = "STANDARD"
	// maxPooledListing bounds the listing buffers kept for reuse.
	maxPooledListing = 1 << 20
)

// lister answers ListObjects (V1) and ListObjectsV2 from the namespace,
// writing the XML itself: the answer has the bytes gofakes3's listing
// had (same elements, order, indentation and escaping), without its
// reflection-based encoder. Its buffers are reused across requests.
type lister struct {
	ns   *gateway.Namespace
	bufs sync.Pool // of *[]byte
}

func newLister(ns *gateway.Namespace) *lister {
	return &lister{ns: ns}
}

// isListObjects reports whether a request for bucket (no key) is a
// ListObjects or ListObjectsV2: a GET that names no sub-resource gofakes3
// would route elsewhere.
func isListObjects(r *http.Request, q url.Values, bucket, object string) bool {
	if r.Method != http.MethodGet || bucket == "" || object != "" {
		return false
	}
	for _, sub := range notListing {
		if _, ok := q[sub]; ok {
			return false
		}
	}
	if q.Get("uploadId") != "" {
		return false
	}
	if v := q["versionId"]; len(v) > 0 && v[0] != "" && v[0] != "null" {
		return false
	}
	return true
}

// notListing are the query parameters that make a GET of a bucket
// something other than a listing of its objects (gofakes3's routes and
// unsupported sub-resources).
var notListing = []string{
	"accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption",
	"intelligent-tiering", "inventory", "legal-hold", "lifecycle", "location",
	"logging", "metadataTable", "metrics", "notification", "object-lock",
	"ownershipControls", "policy", "policyStatus", "publicAccessBlock",
	"replication", "requestPayment", "restore", "retention", "select", "tagging",
	"torrent", "uploads", "versioning", "versions", "website",
}

// listRequest is what a ListObjects request asks for.
type listRequest struct {
	v2                bool // list-type=2
	prefix, delimiter string
	maxKeys           int // 0 to maxListKeys
	// marker is where the page starts (after marker, the decoded
	// continuation-token or start-after, the first the request has);
	// hasMarker whether it has one.
	marker       string
	hasMarker    bool
	encodingType string // "" or "url"
	urlEncoding  bool   // encodingType is "url"
	withOwner    bool   // V1, or V2 with fetch-owner=true
	// token is the continuation-token parameter, hasToken whether the
	// request had one; startAfter is the start-after parameter.
	token      string
	hasToken   bool
	startAfter string
}

// parseListRequest reads a ListObjects request's parameters, failing as
// gofakes3 did: InvalidArgument for a max-keys that is no integer,
// InvalidToken for a continuation-token that is not base64, and
// InvalidArgument for an encoding-type other than url.
func parseListRequest(q url.Values) (listRequest, error) {
	l := listRequest{prefix: q.Get("prefix"), delimiter: q.Get("delimiter"), maxKeys: maxListKeys}
	if v := q.Get("max-keys"); v != "" {
		n, err := strconv.ParseInt(v, 10, 0)
		if err != nil {
			return l, gofakes3.ErrInvalidArgument
		}
		l.maxKeys = int(min(max(n, 0), maxListKeys))
	}
	// V1 starts after marker; V2 after its continuation-token, else after
	// start-after. A token is the base64 of the last page's NextMarker.
	if _, l.hasMarker = q["marker"]; l.hasMarker {
		l.marker = q.Get("marker")
	} else if _, l.hasMarker = q["continuation-token"]; l.hasMarker {
		tok, err := base64.URLEncoding.DecodeString(q.Get("continuation-token"))
		if err != nil {
			return l, gofakes3.ErrInvalidToken
		}
		l.marker = string(tok)
	} else if _, l.hasMarker = q["start-after"]; l.hasMarker {
		l.marker = q.Get("start-after")
	}
	l.v2 = q.Get("list-type") == "2"
	l.encodingType = q.Get("encoding-type")
	l.urlEncoding = l.encodingType == "url"
	if !l.urlEncoding && l.encodingType != "" {
		return l, gofakes3.ErrInvalidArgument
	}
	l.withOwner = !l.v2 || q.Get("fetch-owner") == "true"
	_, l.hasToken = q["continuation-token"]
	l.token = q.Get("continuation-token")
	l.startAfter = q.Get("start-after")
	return l, nil
}

// listOptions returns the namespace listing of a ListObjects page of
// maxKeys (> 0) keys: it starts after marker if the request had one. Both
// the front end and gofakes3's adapter (backend.ListBucket) list this way.
func listOptions(prefix, delimiter, marker string, hasMarker bool, maxKeys int) gateway.ListOptions {
	o := gateway.ListOptions{Prefix: prefix, Delimiter: delimiter, Limit: maxKeys}
	if hasMarker {
		o.StartAfter = marker
	}
	return o
}

// quoteETag returns the ETag of a listed object as S3 sends it.
func quoteETag(etag string) string { return `"` + etag + `"` }

// serve answers a ListObjects or ListObjectsV2 request for bucket; q is
// its query.
func (l *lister) serve(w http.ResponseWriter, r *http.Request, bucket string, q url.Values) {
	ctx := r.Context()
	req, perr := parseListRequest(q)
	var res gateway.ListResult
	var err error
	if perr == nil && req.maxKeys > 0 {
		// One namespace call: the bucket's existence, the access check,
		// its owner and the page.
		res, err = l.ns.List(ctx, bucket, listOptions(req.prefix, req.delimiter, req.marker, req.hasMarker, req.maxKeys))
	} else {
		// max-keys=0 gets no keys, without asking for a page (the
		// namespace takes 0 for its default); a bad request is refused
		// only once the bucket is known and readable, as S3 does.
		var bk gateway.BucketInfo
		bk, err = l.ns.Bucket(ctx, bucket)
		res.Owner = bk.Owner
	}
	if err != nil {
		writeError(w, r, fakeAPIError(r, s3Error(ctx, err, bucket, "")))
		return
	}
	if perr != nil {
		writeError(w, r, fakeAPIError(r, perr))
		return
	}
	bp, _ := l.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	if need := listingSize(bucket, res.Owner, res); cap(*bp) < need {
		*bp = make([]byte, 0, need)
	}
	body := appendListing((*bp)[:0], bucket, res.Owner, req, res)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	if cap(body) <= maxPooledListing {
		*bp = body
		l.bufs.Put(bp)
	}
}

// fakeAPIError returns the error response gofakes3 answered err with (its
// status, code and message), or the one the request state holds for it
// (see override).
func fakeAPIError(r *http.Request, err error) *apiError {
	if st := stateFrom(r.Context()); st != nil && st.override != nil {
		a := st.override
		st.override = nil
		return a
	}
	ge, ok := err.(gofakes3.Error)
	if !ok {
		return &apiError{Status: http.StatusInternalServerError, Code: string(gofakes3.ErrInternal), Message: "Internal Error"}
	}
	code := ge.ErrorCode()
	// gofakes3's errors read "<code>: <message>", a bare code reads as
	// itself and is its own message.
	msg := strings.TrimPrefix(ge.Error(), string(code)+": ")
	return &apiError{Status: code.Status(), Code: string(code), Message: msg}
}

// listingSize estimates the bytes of a listing's XML, so that one
// allocation (or none, with a reused buffer) holds it.
func listingSize(bucket string, own gateway.Owner, res gateway.ListResult) int {
	n := 512 + 2*len(bucket)
	per := 200 + len(own.ID) + len(own.DisplayName)
	for _, o := range res.Objects {
		n += per + len(o.Key) + len(o.Key)/2 + len(o.ETag)
	}
	for _, p := range res.CommonPrefixes {
		n += 60 + len(p) + len(p)/2
	}
	return n
}

const s3ListXmlns = "http://s3.amazonaws.com/doc/2006-03-01/"

// appendListing appends the XML answer to a listing request, as gofakes3
// encoded it: an XML declaration, then the result indented by two spaces.
func appendListing(b []byte, bucket string, own gateway.Owner, req listRequest, res gateway.ListResult) []byte {
	enc := func(b []byte, s string) []byte {
		if req.urlEncoding {
			return appendURLEncoded(b, s)
		}
		return appendXMLText(b, s)
	}
	b = append(b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<ListBucketResult xmlns="`+s3ListXmlns+`">`...)
	b = append(b, "\n  <Name>"...)
	b = appendXMLText(b, bucket)
	b = append(b, "</Name>\n  <IsTruncated>"...)
	b = strconv.AppendBool(b, res.Truncated)
	b = append(b, "</IsTruncated>"...)
	if req.delimiter != "" {
		b = append(b, "\n  <Delimiter>"...)
		b = enc(b, req.delimiter)
		b = append(b, "</Delimiter>"...)
	}
	// S3 encodes the Prefix of V2 listings but not V1.
	b = append(b, "\n  <Prefix>"...)
	if req.v2 {
		b = enc(b, req.prefix)
	} else {
		b = appendXMLText(b, req.prefix)
	}
	b = append(b, "</Prefix>"...)
	if req.maxKeys != 0 {
		b = append(b, "\n  <MaxKeys>"...)
		b = strconv.AppendInt(b, int64(req.maxKeys), 10)
		b = append(b, "</MaxKeys>"...)
	}
	for _, p := range res.CommonPrefixes {
		b = append(b, "\n  <CommonPrefixes>\n    <Prefix>"...)
		b = enc(b, p)
		b = append(b, "</Prefix>\n  </CommonPrefixes>"...)
	}
	for i := range res.Objects {
		o := &res.Objects[i]
		b = append(b, "\n  <Contents>\n    <Key>"...)
		b = enc(b, o.Key)
		b = append(b, "</Key>"...)
		if !o.ModTime.IsZero() {
			b = append(b, "\n    <LastModified>"...)
			b = o.ModTime.UTC().AppendFormat(b, listTimeFormat)
			b = append(b, "</LastModified>"...)
		}
		// The quotes of the ETag, escaped as encoding/xml does.
		b = append(b, "\n    <ETag>&#34;"...)
		b = appendXMLText(b, o.ETag)
		b = append(b, "&#34;</ETag>\n    <Size>"...)
		b = strconv.AppendInt(b, o.Size, 10)
		b = append(b, "</Size>\n    <StorageClass>"+listStorageClass+"</StorageClass>"...)
		if req.withOwner {
			b = append(b, "\n    <Owner>\n      <ID>"...)
			b = appendXMLText(b, own.ID)
			b = append(b, "</ID>\n      <DisplayName>"...)
			b = appendXMLText(b, own.DisplayName)
			b = append(b, "</DisplayName>\n    </Owner>"...)
		}
		b = append(b, "\n  </Contents>"...)
	}
	if req.encodingType != "" {
		b = append(b, "\n  <EncodingType>"...)
		b = appendXMLText(b, req.encodingType)
		b = append(b, "</EncodingType>"...)
	}
	next := ""
	if res.Truncated {
		next = res.Next
	}
	if !req.v2 {
		b = append(b, "\n  <Marker>"...)
		b = enc(b, req.marker)
		b = append(b, "</Marker>"...)
		// NextMarker is sent only to a request with a delimiter, as S3
		// documents.
		if req.delimiter != "" && next != "" {
			b = append(b, "\n  <NextMarker>"...)
			b = enc(b, next)
			b = append(b, "</NextMarker>"...)
		}
	} else {
		if req.hasToken {
			b = append(b, "\n  <ContinuationToken>"...)
			b = appendXMLText(b, req.token)
			b = append(b, "</ContinuationToken>"...)
		}
		if n := len(res.CommonPrefixes) + len(res.Objects); n != 0 {
			b = append(b, "\n  <KeyCount>"...)
			b = strconv.AppendInt(b, int64(n), 10)
			b = append(b, "</KeyCount>"...)
		}
		if next != "" {
			// The token is the base64 of the NextMarker.
			b = append(b, "\n  <NextContinuationToken>"...)
			b = base64.URLEncoding.AppendEncode(b, []byte(next))
			b = append(b, "</NextContinuationToken>"...)
		}
		if req.startAfter != "" {
			b = append(b, "\n  <StartAfter>"...)
			b = enc(b, req.startAfter)
			b = append(b, "</StartAfter>"...)
		}
	}
	return append(b, "\n</ListBucketResult>"...)
}

// listTimeFormat is the LastModified of listings as gofakes3 wrote it
// (trailing zeros of the milliseconds dropped).
const listTimeFormat = "2006-01-02T15:04:05.999Z"

// appendXMLText appends s escaped as XML character data, the way
// gofakes3's encoder (github.com/minio/xxml, a fork of encoding/xml)
// escapes it: quotes, apostrophes, &, <, >, tab, newline and carriage
// return as character references, U+0000 to U+0007 as "&#x0;" to "&#x7;",
// and every other character outside XML's range (and every invalid UTF-8
// byte) as U+FFFD.
func appendXMLText(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		var esc string
		width := 1
		if c < utf8.RuneSelf {
			switch {
			case c == '"':
				esc = "&#34;"
			case c == '\'':
				esc = "&#39;"
			case c == '&':
				esc = "&amp;"
			case c == '<':
				esc = "&lt;"
			case c == '>':
				esc = "&gt;"
			case c == '\t':
				esc = "&#x9;"
			case c == '\n':
				esc = "&#xA;"
			case c == '\r':
				esc = "&#xD;"
			case c < 8:
				esc = controlRefs[5*c : 5*c+5]
			case c < 0x20:
				esc = "\uFFFD"
			default:
				i++
				continue
			}
		} else {
			var r rune
			r, width = utf8.DecodeRuneInString(s[i:])
			if !(r == utf8.RuneError && width == 1) && inXMLRange(r) {
				i += width
				continue
			}
			esc = "\uFFFD"
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		i += width
		last = i
	}
	return append(b, s[last:]...)
}

// controlRefs are xxml's references for U+0000 to U+0007, five bytes each.
const controlRefs = "&#x0;&#x1;&#x2;&#x3;&#x4;&#x5;&#x6;&#x7;"

// inXMLRange reports whether r (not ASCII) is an XML character.
func inXMLRange(r rune) bool {
	return r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// appendURLEncoded appends s encoded for a listing with
// encoding-type=url, as gofakes3.URLEncode (and S3) encode it: every byte
// but letters, digits and "-_./*" as %XX. The result needs no XML
// escaping.
func appendURLEncoded(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '/' || c == '*' {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return b
}
