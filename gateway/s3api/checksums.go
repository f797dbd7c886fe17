package s3api

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/checksum"
	"github.com/twincrypt/twincrypt/gateway/s3api/sigv4"
)

// Checksums (x-amz-checksum-*). sigv4 verifies a checksum a body declares,
// in a header or a trailer, while the body streams; the front end passes
// the algorithm (and the verified value, so it is not computed twice) to
// the namespace, which stores the object's checksum in its sealed record,
// and hides the checksum headers from gofakes3, which would hash the body
// once more and keep the value with the metadata. Responses get the
// stored checksums: GET and HEAD with x-amz-checksum-mode: ENABLED (not
// for a range or a part, as on S3), PutObject and UploadPart, ListParts,
// CompleteMultipartUpload and GetObjectAttributes.

// reqChecksum is what a request says about checksums, gathered by
// prepareChecksums for the backend adapter.
type reqChecksum struct {
	// body is the algorithm of the checksum the body declared and
	// sigv4 verifies; value returns it once the body has been read.
	body  checksum.Algorithm
	value func() []byte
	// alg and typ are x-amz-checksum-algorithm and x-amz-checksum-type
	// (PutObject without a value, CopyObject, CreateMultipartUpload,
	// CompleteMultipartUpload).
	alg checksum.Algorithm
	typ checksum.Type
	// object is the whole object's checksum a CompleteMultipartUpload
	// sends in an x-amz-checksum-<alg> header.
	object *checksum.Checksum
	// parts are the parts' checksums in a CompleteMultipartUpload body.
	parts map[int]*checksum.Checksum
}

// algorithm returns the algorithm a write asked for: the one its body
// declared, else x-amz-checksum-algorithm ("" for none).
func (c *reqChecksum) algorithm() checksum.Algorithm {
	if c.body != "" {
		return c.body
	}
	return c.alg
}

// maxCompleteBody bounds the CompleteMultipartUpload body the front end
// reads to learn the parts' checksums (10,000 parts with every element).
const maxCompleteBody = 8 << 20

// prepareChecksums reads the checksum headers of r into its request
// state and removes those gofakes3 would act on. It answers the request
// itself (and returns false) when they are malformed.
func prepareChecksums(w http.ResponseWriter, r *http.Request, object string) bool {
	st := stateFrom(r.Context())
	if st == nil {
		return true
	}
	c := &st.checksum
	if alg, value, ok := sigv4.Checksum(r.Body); ok {
		c.body, c.value = alg, value
	}
	if v := r.Header.Get("X-Amz-Checksum-Algorithm"); v != "" {
		a, err := checksum.Parse(v)
		if err != nil {
			writeChecksumError(w, r, err)
			return false
		}
		c.alg = a
	}
	r.Header.Del("X-Amz-Checksum-Algorithm")
	t, err := checksum.ParseType(r.Header.Get("X-Amz-Checksum-Type"))
	if err != nil {
		writeChecksumError(w, r, err)
		return false
	}
	c.typ = t
	q := r.URL.Query()
	complete := r.Method == http.MethodPost && object != "" && q.Has("uploadId")
	seen := 0
	for _, a := range checksum.Algorithms {
		name := http.CanonicalHeaderKey(a.Header())
		v := r.Header.Get(name)
		if v == "" {
			continue
		}
		if seen++; seen > 1 {
			writeChecksumError(w, r, checksum.Invalidf("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."))
			return false
		}
		if complete && c.object == nil {
			sum, parts, err := checksum.Decode(a, v)
			if err != nil {
				writeChecksumError(w, r, err)
				return false
			}
			c.object = &checksum.Checksum{Algorithm: a, Sum: sum, Parts: parts}
		}
		// sigv4 has verified a body's checksum; gofakes3 must not
		// hash the body again nor keep the value as metadata.
		r.Header.Del(name)
	}
	if complete {
		return readCompleteParts(w, r, c)
	}
	return true
}

// completePart is a Part of a CompleteMultipartUpload body, with the
// checksums gofakes3 does not parse.
type completePart struct {
	PartNumber int `xml:"PartNumber"`
	checksumXML
}

// readCompleteParts reads the body of a CompleteMultipartUpload for the
// parts' checksums and gives gofakes3 the same bytes to parse.
func readCompleteParts(w http.ResponseWriter, r *http.Request, c *reqChecksum) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCompleteBody+1))
	if err != nil {
		if e, ok := bodyError(err); ok {
			writeError(w, r, e)
		} else {
			writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "IncompleteBody", Message: "The request body could not be read."})
		}
		return false
	}
	if len(body) > maxCompleteBody {
		writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "MalformedXML",
			Message: "The XML you provided was not well-formed or did not validate against our published schema."})
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var doc struct {
		Parts []completePart `xml:"Part"`
	}
	if xml.Unmarshal(body, &doc) != nil {
		// gofakes3 answers a malformed body.
		return true
	}
	for _, p := range doc.Parts {
		ck, err := p.checksum()
		if err != nil {
			writeChecksumError(w, r, err)
			return false
		}
		if ck != nil {
			if c.parts == nil {
				c.parts = make(map[int]*checksum.Checksum)
			}
			c.parts[p.PartNumber] = ck
		}
	}
	return true
}

// writeChecksumError answers a checksum error.
func writeChecksumError(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, checksumAPIError(err))
}

// checksumAPIError returns the S3 error for a checksum error.
func checksumAPIError(err error) *apiError {
	code := "InvalidRequest"
	if errors.Is(err, checksum.ErrMismatch) {
		code = "BadDigest"
	}
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: err.Error()}
}

// checksumXML holds a checksum in the elements of S3's XML documents
// (ListParts, CompleteMultipartUpload, GetObjectAttributes).
type checksumXML struct {
	CRC32     string `xml:"ChecksumCRC32,omitempty"`
	CRC32C    string `xml:"ChecksumCRC32C,omitempty"`
	CRC64NVME string `xml:"ChecksumCRC64NVME,omitempty"`
	SHA1      string `xml:"ChecksumSHA1,omitempty"`
	SHA256    string `xml:"ChecksumSHA256,omitempty"`
}

// field returns the element of x that holds a checksum of algorithm a.
func (x *checksumXML) field(a checksum.Algorithm) *string {
	switch a {
	case checksum.CRC32:
		return &x.CRC32
	case checksum.CRC32C:
		return &x.CRC32C
	case checksum.CRC64NVME:
		return &x.CRC64NVME
	case checksum.SHA1:
		return &x.SHA1
	default:
		return &x.SHA256
	}
}

// newChecksumXML returns c (nil: none) in XML form.
func newChecksumXML(c *checksum.Checksum) checksumXML {
	var x checksumXML
	if c != nil {
		*x.field(c.Algorithm) = c.String()
	}
	return x
}

// checksum returns the checksum x holds (the first, in
// checksum.Algorithms' order), nil for none.
func (x *checksumXML) checksum() (*checksum.Checksum, error) {
	for _, a := range checksum.Algorithms {
		if v := *x.field(a); v != "" {
			sum, parts, err := checksum.Decode(a, strings.TrimSpace(v))
			if err != nil {
				return nil, err
			}
			return &checksum.Checksum{Algorithm: a, Sum: sum, Parts: parts}, nil
		}
	}
	return nil, nil
}

// setChecksumHeaders sets the x-amz-checksum-<alg> and
// x-amz-checksum-type headers of c.
func setChecksumHeaders(h http.Header, c *checksum.Checksum) {
	if c == nil {
		return
	}
	h.Set(c.Algorithm.Header(), c.String())
	h.Set("X-Amz-Checksum-Type", string(c.Type))
}

// completeResult is the CompleteMultipartUpload answer with the object's
// checksum, which gofakes3's lacks.
type completeResult struct {
	XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
	checksumXML
	ChecksumType string `xml:"ChecksumType,omitempty"`
}

// newCompleteResult returns the CompleteMultipartUpload answer for the
// object info.
func newCompleteResult(r *http.Request, info gateway.ObjectInfo) completeResult {
	res := completeResult{Xmlns: s3Xmlns, Bucket: info.Bucket, Key: info.Key, ETag: `"` + info.ETag + `"`,
		checksumXML: newChecksumXML(info.Checksum)}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	res.Location = scheme + "://" + r.Host + r.URL.EscapedPath()
	if info.Checksum != nil {
		res.ChecksumType = string(info.Checksum.Type)
	}
	return res
}
