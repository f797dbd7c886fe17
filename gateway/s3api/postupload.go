package s3api

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/checksum"
	"github.com/twincrypt/twincrypt/gateway/guard"
	"github.com/twincrypt/twincrypt/gateway/s3api/sigv4"
)

// Limits of browser POST uploads.
const (
	// maxPostFields bounds the bytes of the form fields before the file,
	// which are held in memory (20 KB on S3; a policy with many
	// conditions takes a few).
	maxPostFields = 64 << 10
	// maxPostObject is the largest object a POST may upload, as on S3.
	maxPostObject = 5 << 30
)

// postFormStored are the form fields a POST upload stores with the object,
// besides x-amz-meta-*.
var postFormStored = []string{"Cache-Control", "Content-Type", "Content-Disposition", "Content-Encoding", "Expires"}

// isBrowserUpload reports whether r is a browser POST upload: a POST of
// multipart/form-data to a bucket, without a signature of its own.
func isBrowserUpload(r *http.Request) bool {
	if r.Method != http.MethodPost || sigv4.HasCredentials(r) || r.URL.RawQuery != "" {
		return false
	}
	bucket, object, _ := strings.Cut(strings.TrimLeft(r.URL.Path, "/"), "/")
	if bucket == "" || object != "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "multipart/form-data"
}

// policyDenied is AWS's answer to a POST its policy does not allow.
func policyDenied(msg string) *apiError {
	return &apiError{Status: http.StatusForbidden, Code: "AccessDenied", Message: "Invalid according to Policy: " + msg}
}

func invalidPolicy(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "InvalidPolicyDocument", Message: "Invalid Policy: " + msg}
}

func malformedPOST() *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "MalformedPOSTRequest",
		Message: "The body of your POST request is not well-formed multipart/form-data."}
}

// condition is one condition of a POST policy: op ("eq", "starts-with",
// "content-length-range") on the form field field (lower case, without
// "$"), or a length range; raw is its JSON text, for the error message.
type condition struct {
	op       string
	field    string
	value    string
	min, max int64
	raw      string
}

// postPolicy is a decoded POST policy.
type postPolicy struct {
	expiration time.Time
	conds      []condition
}

// parsePolicy decodes the base64 JSON policy of a POST form.
func parsePolicy(b64 string) (*postPolicy, *apiError) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, invalidPolicy("Invalid JSON.")
	}
	var doc struct {
		Expiration *string            `json:"expiration"`
		Conditions *[]json.RawMessage `json:"conditions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, invalidPolicy("Invalid JSON.")
	}
	if doc.Expiration == nil {
		return nil, invalidPolicy("Policy missing expiration.")
	}
	if doc.Conditions == nil {
		return nil, invalidPolicy("Policy missing conditions.")
	}
	exp, err := time.Parse(time.RFC3339Nano, *doc.Expiration)
	if err != nil {
		return nil, invalidPolicy("Invalid 'expiration' value: '" + *doc.Expiration + "'")
	}
	p := &postPolicy{expiration: exp}
	for _, c := range *doc.Conditions {
		var obj map[string]string
		if json.Unmarshal(c, &obj) == nil {
			if len(obj) != 1 {
				return nil, invalidPolicy("Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
			}
			for k, v := range obj {
				p.conds = append(p.conds, condition{op: "eq", field: strings.ToLower(k), value: v, raw: string(c)})
			}
			continue
		}
		var arr []json.RawMessage
		if json.Unmarshal(c, &arr) != nil || len(arr) != 3 {
			return nil, invalidPolicy("Invalid Condition: " + string(c))
		}
		var op string
		if json.Unmarshal(arr[0], &op) != nil {
			return nil, invalidPolicy("Invalid Condition: " + string(c))
		}
		op = strings.ToLower(op)
		switch op {
		case "content-length-range":
			var lo, hi int64
			if json.Unmarshal(arr[1], &lo) != nil || json.Unmarshal(arr[2], &hi) != nil || lo < 0 || hi < lo {
				return nil, invalidPolicy("Invalid content-length-range: " + string(c))
			}
			p.conds = append(p.conds, condition{op: op, min: lo, max: hi, raw: string(c)})
		case "eq", "starts-with":
			var field, value string
			if json.Unmarshal(arr[1], &field) != nil || json.Unmarshal(arr[2], &value) != nil || !strings.HasPrefix(field, "$") {
				return nil, invalidPolicy("Invalid Condition: " + string(c))
			}
			p.conds = append(p.conds, condition{op: op, field: strings.ToLower(field[1:]), value: value, raw: string(c)})
		default:
			return nil, invalidPolicy("Invalid Condition: unknown operation " + strconv.Quote(op))
		}
	}
	return p, nil
}

// postExempt are the form fields no condition needs to name.
func postExempt(name string) bool {
	switch name {
	case "x-amz-signature", "file", "policy":
		return true
	}
	return strings.HasPrefix(name, "x-ignore-")
}

// check checks the form fields (lower-case names) of a POST to bucket
// against the policy, at time now; the length range is returned for the
// file, which has not been read.
func (p *postPolicy) check(fields map[string]string, bucket string, now time.Time) (min, max int64, e *apiError) {
	if !now.Before(p.expiration) {
		return 0, 0, policyDenied("Policy expired.")
	}
	min, max = 0, maxPostObject
	named := map[string]bool{}
	for _, c := range p.conds {
		if c.op == "content-length-range" {
			min, max = c.min, c.max
			continue
		}
		named[c.field] = true
		v, ok := fields[c.field]
		if c.field == "bucket" {
			v, ok = bucket, true
		}
		switch {
		case c.op == "eq" && (!ok || v != c.value):
			return 0, 0, policyDenied("Policy Condition failed: " + c.raw)
		case c.op == "starts-with" && c.field == "content-type":
			// Content-Type may list several values, each of which
			// must start with the prefix.
			for _, part := range strings.Split(v, ",") {
				if !strings.HasPrefix(strings.TrimSpace(part), c.value) {
					return 0, 0, policyDenied("Policy Condition failed: " + c.raw)
				}
			}
		case c.op == "starts-with" && !strings.HasPrefix(v, c.value):
			return 0, 0, policyDenied("Policy Condition failed: " + c.raw)
		}
	}
	for name := range fields {
		if !named[name] && !postExempt(name) {
			return 0, 0, policyDenied("Extra input fields: " + name)
		}
	}
	return min, max, nil
}

// errPolicyLength is the error of a file outside its content-length-range.
type errPolicyLength struct{ min, max int64 }

func (e errPolicyLength) Error() string {
	return fmt.Sprintf("the file is outside its content-length-range [%d, %d]", e.min, e.max)
}

// rangeReader fails when the bytes through it leave [min, max]: at once
// when there are more, at the end when there are fewer. err records the
// first error other than io.EOF.
type rangeReader struct {
	r        io.Reader
	min, max int64
	n        int64
	err      error
}

func (l *rangeReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if int64(len(p)) > l.max-l.n+1 {
		p = p[:l.max-l.n+1]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	switch {
	case l.n > l.max:
		l.err = errPolicyLength{l.min, l.max}
		return 0, l.err
	case err == io.EOF && l.n < l.min:
		l.err = errPolicyLength{l.min, l.max}
		return n, l.err
	case err != nil && err != io.EOF:
		l.err = err
	}
	return n, err
}

// postResponse is the answer to a POST with success_action_status 201.
type postResponse struct {
	XMLName  xml.Name `xml:"PostResponse"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

// postUpload answers browser POST uploads (isBrowserUpload): the form's
// policy is authenticated with v and its conditions enforced before the
// file is read; the file is streamed to the namespace. A client that t
// throttles is answered SlowDown before the form is read, and a policy
// whose signature fails is reported to failed (the front end's
// sigv4.LoginFailures). Every other request goes to next.
func postUpload(ns *gateway.Namespace, cors *corsCache, v *sigv4.Verifier, t *guard.Throttle, failed func(*http.Request, *sigv4.Error), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isBrowserUpload(r) {
			next.ServeHTTP(w, r)
			return
		}
		if t.Refuse(w, r, http.HandlerFunc(slowDown)) {
			return
		}
		bucket := strings.Trim(r.URL.Path, "/")
		cw := &corsWriter{ResponseWriter: w, h: corsHeaders(cors, r, bucket)}
		defer func() {
			if !cw.wrote {
				cw.WriteHeader(http.StatusOK)
			}
		}()
		if e := browserUpload(ns, v, failed, cw, r, bucket); e != nil {
			guard.CloseAfter(cw, r)
			writeError(cw, r, e)
		}
	})
}

// browserUpload handles one POST upload; an error it returns is the
// answer, and nothing was stored.
func browserUpload(ns *gateway.Namespace, v *sigv4.Verifier, failed func(*http.Request, *sigv4.Error), w http.ResponseWriter, r *http.Request, bucket string) *apiError {
	_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if params["boundary"] == "" {
		return malformedPOST()
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	fields := map[string]string{}
	size := 0
	var file *multipart.Part
	for file == nil {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return malformedPOST()
		}
		name := strings.ToLower(part.FormName())
		if name == "file" {
			file = part
			break
		}
		b, err := io.ReadAll(io.LimitReader(part, int64(maxPostFields-size+1)))
		if err != nil {
			return malformedPOST()
		}
		size += len(b) + len(name)
		if size > maxPostFields {
			return &apiError{Status: http.StatusBadRequest, Code: "MaxPostPreDataLengthExceeded",
				Message: "Your POST request fields preceeding the upload file was too large."}
		}
		if _, dup := fields[name]; dup {
			return &apiError{Status: http.StatusBadRequest, Code: "InvalidArgument", Message: "Conflicting values provided for the field " + name + "."}
		}
		fields[name] = string(b)
	}
	for _, f := range []string{"policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"} {
		if fields[f] == "" {
			return &apiError{Status: http.StatusForbidden, Code: "AccessDenied",
				Message: "Anonymous access is not allowed; a POST upload needs a policy signed with AWS Signature Version 4 (missing " + f + ")."}
		}
	}
	id, err := v.VerifyPolicy(fields["x-amz-algorithm"], fields["x-amz-credential"], fields["x-amz-date"], fields["policy"], fields["x-amz-signature"])
	if err != nil {
		e, _ := sigv4.AsError(err)
		failed(r, e)
		return &apiError{Status: e.Status, Code: e.Code, Message: e.Message}
	}
	ctx, err := ns.UserContext(r.Context(), id.AccessKey)
	if err != nil {
		return accessDenied
	}
	if e := checkCannedACL(fields["acl"], nil, false); e != nil {
		return e
	}
	if fields["key"] == "" {
		return &apiError{Status: http.StatusBadRequest, Code: "InvalidArgument",
			Message: "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields."}
	}
	if file == nil {
		return &apiError{Status: http.StatusBadRequest, Code: "InvalidArgument", Message: "POST requires exactly one file upload per request."}
	}
	policy, e := parsePolicy(fields["policy"])
	if e != nil {
		return e
	}
	min, max, e := policy.check(fields, bucket, time.Now())
	if e != nil {
		return e
	}
	if v := fields["x-amz-storage-class"]; v != "" && !storageClasses[v] {
		return &apiError{Status: http.StatusBadRequest, Code: "InvalidStorageClass", Message: "The storage class you specified is not valid"}
	}
	key := strings.ReplaceAll(fields["key"], "${filename}", file.FileName())
	meta := map[string]string{}
	for name, val := range fields {
		if strings.HasPrefix(name, "x-amz-meta-") {
			meta[http.CanonicalHeaderKey(name)] = val
		}
	}
	for _, h := range postFormStored {
		if val, ok := fields[strings.ToLower(h)]; ok {
			meta[h] = val
		}
	}
	if _, ok := meta["Content-Type"]; !ok {
		meta["Content-Type"] = "binary/octet-stream"
	}
	o := gateway.PutOptions{Meta: meta}
	if e := postChecksum(fields, &o); e != nil {
		return e
	}
	body := &rangeReader{r: file, min: min, max: min64(max, maxPostObject)}
	info, err := ns.PutObject(ctx, bucket, key, body, -1, o)
	if err != nil {
		var pl errPolicyLength
		switch {
		case errors.As(body.err, &pl):
			return policyDenied(fmt.Sprintf("Policy Condition failed: [\"content-length-range\", %d, %d]", pl.min, pl.max))
		case body.err != nil:
			return malformedPOST()
		}
		writeNSError(w, r, err, bucket, key)
		return nil
	}
	etag := `"` + info.ETag + `"`
	w.Header().Set("ETag", etag)
	location := "http://" + r.Host + "/" + bucket + "/" + url.PathEscape(key)
	if r.TLS != nil {
		location = "https://" + r.Host + "/" + bucket + "/" + url.PathEscape(key)
	}
	w.Header().Set("Location", location)
	redirect := fields["success_action_redirect"]
	if redirect == "" {
		redirect = fields["redirect"]
	}
	if u, err := url.Parse(redirect); redirect != "" && err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		q := u.Query()
		q.Set("bucket", bucket)
		q.Set("key", key)
		q.Set("etag", etag)
		u.RawQuery = q.Encode()
		w.Header().Set("Location", u.String())
		w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	switch fields["success_action_status"] {
	case "200":
		w.WriteHeader(http.StatusOK)
	case "201":
		b, _ := xml.Marshal(postResponse{Location: location, Bucket: bucket, Key: key, ETag: etag})
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(xml.Header))
		w.Write(b)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
	return nil
}

// postChecksum sets the checksum a POST form asks for in o: the
// algorithm of x-amz-checksum-algorithm, or of an x-amz-checksum-<alg>
// field, whose value the file must match (400 BadDigest otherwise).
func postChecksum(fields map[string]string, o *gateway.PutOptions) *apiError {
	if v, ok := fields["x-amz-checksum-algorithm"]; ok {
		a, err := checksum.Parse(v)
		if err != nil {
			return checksumAPIError(err)
		}
		o.Checksum = a
	}
	for _, a := range checksum.Algorithms {
		v, ok := fields[a.Header()]
		if !ok {
			continue
		}
		if o.WantChecksum != nil || (o.Checksum != "" && o.Checksum != a) {
			return checksumAPIError(checksum.Invalidf("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."))
		}
		sum, parts, err := checksum.Decode(a, v)
		if err != nil || parts != 0 {
			return checksumAPIError(checksum.Invalidf("Value for %s header is invalid.", a.Header()))
		}
		o.Checksum, o.WantChecksum = a, sum
	}
	return nil
}

func min64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}
