package s3api

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/rclone/gofakes3"

	"github.com/twincrypt/twincrypt/gateway"
)

// Multipart uploads live in the catalog, so that they survive a restart of
// the gateway. gofakes3 keeps a table of the uploads it may continue in
// memory, filled by CreateMultipartUpload: an upload begun by an earlier
// process (or an earlier handler) is unknown to it and every request
// naming it would be answered NoSuchUpload. The front end therefore
//
//   - answers ListMultipartUploads and ListParts itself, from the catalog
//     (listUploads, listParts), and
//   - before an UploadPart, UploadPartCopy, CompleteMultipartUpload or
//     AbortMultipartUpload of an upload gofakes3 does not know, resumes it:
//     it lets gofakes3 initiate the upload once more, with the backend
//     answering the catalog's upload id instead of creating one (resume).
//
// gofakes3 keeps parsing these requests (part bodies, copy sources,
// conditions, the repeated completion of a completed upload); the catalog
// holds every part and decides whether an upload exists.

// uploadTable records the uploads gofakes3's table holds, by id.
type uploadTable struct {
	mu    sync.Mutex // serializes resumes
	known sync.Map   // upload id -> struct{}
}

// resumeKey marks the context of the request that resumes an upload; its
// value is the upload id.
type resumeKey struct{}

// resumedID returns the id of the upload ctx resumes, if any.
func resumedID(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(resumeKey{}).(string)
	return id, ok
}

// resume makes gofakes3 (fake) know the catalog's upload id of
// bucket/key if it does not yet. An upload the catalog does not have is
// left to gofakes3 to answer.
func (b *backend) resume(ctx context.Context, fake http.Handler, bucket, key, id string) {
	if _, ok := b.uploads.known.Load(id); ok {
		return
	}
	b.uploads.mu.Lock()
	defer b.uploads.mu.Unlock()
	if _, ok := b.uploads.known.Load(id); ok {
		return
	}
	if _, err := b.ns.Upload(ctx, bucket, key, id); err != nil {
		return
	}
	r := &http.Request{
		Method:     http.MethodPost,
		URL:        &url.URL{Path: "/" + bucket + "/" + key, RawQuery: "uploads"},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{},
		Body:       http.NoBody,
		Host:       "localhost",
	}
	w := &discardWriter{h: http.Header{}}
	fake.ServeHTTP(w, r.WithContext(context.WithValue(ctx, resumeKey{}, id)))
	if w.code >= 300 {
		logFrom(ctx).Warn("resume multipart upload", "bucket", bucket, "key", key, "upload", id, "status", w.code)
	}
}

// multipartRoutes routes the multipart requests that name an upload (see the
// comment at the top of this file): ListMultipartUploads and ListParts are
// answered from the catalog, the others go to gofakes3 (next) once it
// knows the upload.
func multipartRoutes(b *backend, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		bucket, object, _ := strings.Cut(strings.TrimLeft(r.URL.Path, "/"), "/")
		id := q.Get("uploadId")
		switch {
		case bucket == "":
		case id != "" && object != "" && r.Method == http.MethodGet:
			listParts(b.ns, w, r, bucket, object, id)
			return
		case id != "" && object != "":
			b.resume(r.Context(), next, bucket, object, id)
		case q.Has("uploads") && object == "" && r.Method == http.MethodGet:
			listUploads(b.ns, w, r, bucket)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// discardWriter takes a response nobody reads.
type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header { return d.h }
func (d *discardWriter) WriteHeader(code int) {
	if d.code == 0 {
		d.code = code
	}
}
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// listPartsResult is the ListParts answer.
type listPartsResult struct {
	XMLName              xml.Name   `xml:"ListPartsResult"`
	Xmlns                string     `xml:"xmlns,attr"`
	Bucket               string     `xml:"Bucket"`
	Key                  string     `xml:"Key"`
	UploadID             string     `xml:"UploadId"`
	StorageClass         string     `xml:"StorageClass"`
	PartNumberMarker     int        `xml:"PartNumberMarker"`
	NextPartNumberMarker int        `xml:"NextPartNumberMarker"`
	MaxParts             int        `xml:"MaxParts"`
	IsTruncated          bool       `xml:"IsTruncated"`
	ChecksumAlgorithm    string     `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType         string     `xml:"ChecksumType,omitempty"`
	Parts                []partItem `xml:"Part"`
}

type partItem struct {
	PartNumber   int                  `xml:"PartNumber"`
	LastModified gofakes3.ContentTime `xml:"LastModified"`
	ETag         string               `xml:"ETag"`
	Size         int64                `xml:"Size"`
	checksumXML
}

// listUploadsResult is the ListMultipartUploads answer.
type listUploadsResult struct {
	XMLName            xml.Name                `xml:"ListMultipartUploadsResult"`
	Xmlns              string                  `xml:"xmlns,attr"`
	Bucket             string                  `xml:"Bucket"`
	KeyMarker          string                  `xml:"KeyMarker"`
	UploadIDMarker     string                  `xml:"UploadIdMarker"`
	NextKeyMarker      string                  `xml:"NextKeyMarker,omitempty"`
	NextUploadIDMarker string                  `xml:"NextUploadIdMarker,omitempty"`
	Delimiter          string                  `xml:"Delimiter,omitempty"`
	Prefix             string                  `xml:"Prefix,omitempty"`
	MaxUploads         int                     `xml:"MaxUploads"`
	IsTruncated        bool                    `xml:"IsTruncated"`
	Uploads            []uploadItem            `xml:"Upload"`
	CommonPrefixes     []gofakes3.CommonPrefix `xml:"CommonPrefixes,omitempty"`
}

type uploadItem struct {
	Key          string               `xml:"Key"`
	UploadID     string               `xml:"UploadId"`
	StorageClass string               `xml:"StorageClass"`
	Initiated    gofakes3.ContentTime `xml:"Initiated"`
}

const s3Xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"

// writeXML writes v as a 200 XML answer.
func writeXML(w http.ResponseWriter, v any) {
	body, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Del("Content-Length")
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(xml.Header))
	w.Write(body)
}

// queryInt parses the query parameter name: def if absent, at most max;
// ok is false for a malformed or negative value.
func queryInt(q url.Values, name string, def, max int) (int, bool) {
	v := q.Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false
	}
	return min(n, max), true
}

// invalidArgument answers 400 InvalidArgument for the query parameter name.
func invalidArgument(w http.ResponseWriter, r *http.Request, name string) {
	writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "InvalidArgument",
		Message: "Argument " + name + " must be an integer between 0 and 2147483647"})
}

// listParts answers ListParts from the catalog.
func listParts(ns *gateway.Namespace, w http.ResponseWriter, r *http.Request, bucket, key, id string) {
	q := r.URL.Query()
	marker, ok := queryInt(q, "part-number-marker", 0, 10000)
	if !ok {
		invalidArgument(w, r, "part-number-marker")
		return
	}
	maxParts, ok := queryInt(q, "max-parts", 1000, 1000)
	if !ok {
		invalidArgument(w, r, "max-parts")
		return
	}
	if _, err := ns.Bucket(r.Context(), bucket); err != nil {
		writeNSError(w, r, err, bucket, key)
		return
	}
	res := listPartsResult{Xmlns: s3Xmlns, Bucket: bucket, Key: key, UploadID: id, StorageClass: "STANDARD",
		PartNumberMarker: marker, MaxParts: maxParts}
	u, err := ns.Upload(r.Context(), bucket, key, id)
	if err != nil {
		writeNSError(w, r, err, bucket, key)
		return
	}
	res.ChecksumAlgorithm, res.ChecksumType = string(u.ChecksumAlgorithm), string(u.ChecksumType)
	if maxParts == 0 {
		writeXML(w, res)
		return
	}
	ps, more, err := ns.Parts(r.Context(), bucket, key, id, marker, maxParts)
	if err != nil {
		writeNSError(w, r, err, bucket, key)
		return
	}
	for _, p := range ps {
		item := partItem{PartNumber: p.Number, LastModified: gofakes3.NewContentTime(p.Uploaded),
			ETag: `"` + p.ETag + `"`, Size: p.Size}
		if u.ChecksumAlgorithm != "" {
			// Parts of an upload that named no algorithm carry
			// the default one internally; S3 lists none.
			item.checksumXML = newChecksumXML(p.Checksum)
		}
		res.Parts = append(res.Parts, item)
		res.NextPartNumberMarker = p.Number
	}
	res.IsTruncated = more
	writeXML(w, res)
}

// listUploads answers ListMultipartUploads from the catalog. Markers are
// exclusive, as on S3: the listing continues after key-marker (after
// upload-id-marker within key-marker when both are given).
func listUploads(ns *gateway.Namespace, w http.ResponseWriter, r *http.Request, bucket string) {
	q := r.URL.Query()
	maxUploads, ok := queryInt(q, "max-uploads", 1000, 1000)
	if !ok {
		invalidArgument(w, r, "max-uploads")
		return
	}
	if maxUploads == 0 {
		maxUploads = 1000
	}
	if _, err := ns.Bucket(r.Context(), bucket); err != nil {
		writeNSError(w, r, err, bucket, "")
		return
	}
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	keyMarker, idMarker := q.Get("key-marker"), q.Get("upload-id-marker")
	if keyMarker == "" {
		idMarker = ""
	}
	res := listUploadsResult{Xmlns: s3Xmlns, Bucket: bucket, KeyMarker: keyMarker, UploadIDMarker: idMarker,
		Delimiter: delim, Prefix: prefix, MaxUploads: maxUploads}
	seen := map[string]bool{}
	n := 0
	for {
		us, more, err := ns.Uploads(r.Context(), bucket, prefix, keyMarker, idMarker, 1000)
		if err != nil {
			writeNSError(w, r, err, bucket, "")
			return
		}
		for _, u := range us {
			cp := ""
			if delim != "" {
				if i := strings.Index(u.Key[len(prefix):], delim); i >= 0 {
					cp = u.Key[:len(prefix)+i+len(delim)]
				}
			}
			if cp != "" && seen[cp] {
				keyMarker, idMarker = u.Key, u.ID
				res.NextKeyMarker, res.NextUploadIDMarker = u.Key, u.ID
				continue
			}
			if n == maxUploads {
				res.IsTruncated = true
				writeXML(w, res)
				return
			}
			if cp != "" {
				seen[cp] = true
				res.CommonPrefixes = append(res.CommonPrefixes, gofakes3.CommonPrefix{Prefix: cp})
			} else {
				res.Uploads = append(res.Uploads, uploadItem{Key: u.Key, UploadID: u.ID, StorageClass: "STANDARD",
					Initiated: gofakes3.NewContentTime(u.Initiated)})
			}
			n++
			keyMarker, idMarker = u.Key, u.ID
			res.NextKeyMarker, res.NextUploadIDMarker = u.Key, u.ID
		}
		if !more || len(us) == 0 {
			break
		}
	}
	res.NextKeyMarker, res.NextUploadIDMarker = "", ""
	writeXML(w, res)
}
