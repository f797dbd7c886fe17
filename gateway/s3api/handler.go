// Package s3api is twincrypt's S3 front end. It composes these handlers,
// outermost first: the limits of package guard (requests in flight, body
// read deadlines), request state and response fixing, the refusal of
// clients throttled after failed logins, CORS preflights (answered from
// the bucket's rules without credentials), browser POST uploads (their
// form's policy authenticated and enforced, see postUpload), AWS Signature
// V4 verification
// (gateway/s3api/sigv4), the attachment of the signing user to the request
// (withUser: the namespace allows that user only its own and granted
// buckets), a filter (normalize) that answers ListBuckets, ListObjects
// and ListObjectsV2 (see lister), the ACL and
// ownership sub-resources and refuses canned ACLs it cannot honour (see
// acl.go), answers NotImplemented for sub-resources the gateway does not
// support, refuses storage classes
// and tag sets S3 would refuse, answers what gofakes3 cannot (bucket
// tagging and CORS, object tagging, GetObjectAttributes with multipart
// ETags), sets the
// CORS headers of responses and drops headers
// gofakes3 misreads, and gofakes3's protocol handler over an adapter to the
// namespace.
//
// gofakes3 parses requests and encodes responses; every object byte, name and
// metadata value goes through *gateway.Namespace, which encrypts it. What
// gofakes3 cannot express is patched in the response by the fixer: the ETag
// of multipart objects (gofakes3 writes an MD5 from the object hash), errors
// whose HTTP status gofakes3 does not know (such as
// XAmzContentSHA256Mismatch), and the status and range headers of a HEAD
// with a Range header (gofakes3 ignores it). Multipart uploads live in the
// catalog: ListMultipartUploads and ListParts are answered from it, and an
// upload gofakes3 has not seen (begun before a restart) is made known to it
// before a request continues it (see multipartRoutes).
package s3api

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rclone/gofakes3"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/guard"
	"github.com/twincrypt/twincrypt/gateway/s3api/sigv4"
)

// Options configure the S3 front end.
type Options struct {
	// Users maps access keys to secret keys. Every request must be signed
	// by one of them.
	Users map[string]string
	// Logger receives request failures and failed logins; nil discards
	// them.
	Logger *slog.Logger
	// Throttle counts failed logins (a wrong signature or an unknown
	// access key) per client address; a client it throttles is answered
	// 503 SlowDown before its signature is checked. nil: no throttling.
	Throttle *guard.Throttle
	// MaxRequests bounds the requests handled at once; more are answered
	// 503 SlowDown. 0: no bound.
	MaxRequests int
	// BodyTimeout is how long a read of a request body may wait for data
	// before the request fails and its connection is closed. 0: no limit.
	BodyTimeout time.Duration
}

// New returns the S3 front end for ns.
func New(ns *gateway.Namespace, o Options) http.Handler {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &backend{ns: ns}
	fake := gofakes3.New(b,
		gofakes3.WithoutVersioning(),
		gofakes3.WithIntegrityCheck(true),
		gofakes3.WithLogger(gofakesLogger{log}),
	)
	h := multipartRoutes(b, fake.Server())
	cors := newCORSCache(ns)
	h = normalize(ns, cors, newLister(ns), h)
	failed := sigv4.LoginFailures(o.Throttle, log, "s3")
	v := sigv4.New(sigv4.StaticCredentials(o.Users), sigv4.WithFailureHook(failed))
	h = withUser(ns, h)
	h = v.Middleware(h)
	h = postUpload(ns, cors, v, o.Throttle, failed, h)
	h = preflight(cors, h)
	h = sigv4.Throttle(o.Throttle, http.HandlerFunc(slowDown), h)
	h = withState(log, h)
	return guard.Protect(h, guard.Options{MaxRequests: o.MaxRequests, BodyTimeout: o.BodyTimeout, Busy: http.HandlerFunc(slowDown)})
}

// slowDown answers 503 SlowDown, which S3 clients retry after a pause.
func slowDown(w http.ResponseWriter, r *http.Request) {
	sigv4.WriteError(w, r, &sigv4.Error{Code: "SlowDown", Status: http.StatusServiceUnavailable,
		Message: "Please reduce your request rate."})
}

// unsupported lists the sub-resources the gateway does not implement. They
// are answered with NotImplemented for every method, so that no request
// meant to change them can change object data instead.
// Without this list gofakes3 would take some of them for another
// request on the same path (PUT /bucket?abac for CreateBucket, DELETE
// /bucket?metadataConfiguration for DeleteBucket, PUT
// /bucket/key?renameObject for PutObject).
var unsupported = []string{
	"abac", "accelerate", "acl", "analytics", "encryption", "intelligent-tiering",
	"inventory", "logging", "metadataConfiguration",
	"metadataInventoryTable", "metadataJournalTable", "metadataTable", "metrics",
	"notification", "ownershipControls", "policy", "policyStatus",
	"publicAccessBlock", "renameObject", "replication", "requestPayment", "restore",
	"select", "session", "torrent", "website",
}

// unsupportedSub returns the first sub-resource of q that the gateway does
// not implement, "" if none.
func unsupportedSub(q url.Values) string {
	for _, sub := range unsupported {
		if q.Has(sub) {
			return sub
		}
	}
	return ""
}

// normalize answers NotImplemented for unsupported sub-resources and takes
// the checksum headers into the request state (prepareChecksums), hiding
// them from gofakes3, which would take X-Amz-Checksum-Algorithm for a
// checksum of an unknown algorithm and hash the body once more.
func normalize(ns *gateway.Namespace, cors *corsCache, list *lister, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		bucket, object, _ := strings.Cut(strings.TrimLeft(r.URL.Path, "/"), "/")
		cw := &corsWriter{ResponseWriter: w, h: corsHeaders(cors, r, bucket)}
		defer func() {
			if !cw.wrote {
				// A handler that wrote nothing (an implicit 200)
				// still gets its CORS headers.
				cw.WriteHeader(http.StatusOK)
			}
		}()
		w = cw
		if bucket == "" && r.Method == http.MethodGet {
			listBuckets(ns, w, r)
			return
		}
		if _, ok := q["acl"]; ok && bucket != "" {
			aclRequest(ns, w, r, bucket, object)
			return
		}
		if _, ok := q["ownershipControls"]; ok && object == "" && bucket != "" {
			ownershipRequest(ns, w, r, bucket)
			return
		}
		if r.Method == http.MethodPut || r.Method == http.MethodPost {
			createBucket := r.Method == http.MethodPut && object == "" && len(q) == 0
			if e := checkCannedACL(r.Header.Get("X-Amz-Acl"), r.Header, createBucket); e != nil {
				writeError(w, r, e)
				return
			}
		}
		if _, ok := q["tagging"]; ok && object == "" && bucket != "" {
			bucketTagging(ns, w, r, bucket)
			return
		}
		if _, ok := q["cors"]; ok && object == "" && bucket != "" {
			bucketCORS(ns, cors, w, r, bucket)
			return
		}
		if _, ok := q["cors"]; ok {
			writeError(w, r, &apiError{Status: http.StatusNotImplemented, Code: "NotImplemented",
				Message: "The cors sub-resource is not supported on objects."})
			return
		}
		if _, ok := q["attributes"]; ok && object != "" && r.Method != http.MethodGet && r.Method != http.MethodHead {
			// GetObjectAttributes is the sub-resource's only operation;
			// gofakes3 would answer 400 (and a versionId would reach
			// DeleteObject).
			writeError(w, r, methodNotAllowed())
			return
		}
		if versionRoutes(ns, w, r, bucket, object) {
			return
		}
		if sub := unsupportedSub(q); sub != "" {
			writeError(w, r, &apiError{Status: http.StatusNotImplemented, Code: "NotImplemented",
				Message: fmt.Sprintf("The %s sub-resource is not supported by this gateway.", sub)})
			return
		}
		if e := checkStorageClass(r); e != nil {
			writeError(w, r, e)
			return
		}
		if !prepareChecksums(w, r, object) {
			return
		}
		// sigv4 verifies Content-MD5 against the body (a mismatch fails
		// the body's last read). Record it for the namespace, which then
		// takes it as the body's MD5, and hide it from gofakes3, which
		// would hash the body once more to check it.
		if v := r.Header.Get("Content-Md5"); v != "" && r.Header.Get("X-Amz-Copy-Source") == "" {
			if sum, err := base64.StdEncoding.DecodeString(v); err == nil && len(sum) == md5.Size {
				if st := stateFrom(r.Context()); st != nil {
					st.contentMD5 = sum
				}
				r.Header.Del("Content-Md5")
			}
		}
		if !checkTagging(w, r, object != "") {
			return
		}
		if _, ok := q["tagging"]; ok && object != "" && (r.Method == http.MethodGet || r.Method == http.MethodPut || r.Method == http.MethodDelete) {
			objectTagging(ns, w, r, bucket, object, "")
			return
		}
		if _, ok := q["attributes"]; ok && object != "" && r.Method == http.MethodGet {
			objectAttributes(ns, w, r, bucket, object, "")
			return
		}
		if isListObjects(r, q, bucket, object) {
			list.serve(w, r, bucket, q)
			return
		}
		for _, h := range etagConditions {
			if v := r.Header.Get(h); v != "" {
				r.Header.Set(h, md5Part(v))
			}
		}
		next.ServeHTTP(w, r)
	})
}

// etagConditions are the request headers that compare ETags.
var etagConditions = []string{"If-Match", "If-None-Match", "X-Amz-Copy-Source-If-Match", "X-Amz-Copy-Source-If-None-Match"}

// md5Part rewrites the ETags in a condition header to the form gofakes3
// compares them in: it knows an object's ETag only as the hex of its hash,
// which for a multipart object is the MD5 part of "<md5>-<parts>". Each
// ETag in the list loses its "-<parts>" suffix.
func md5Part(v string) string {
	items := strings.Split(v, ",")
	for i, it := range items {
		it = strings.TrimSpace(it)
		weak := strings.HasPrefix(it, "W/")
		tag := strings.Trim(strings.TrimPrefix(it, "W/"), `"`)
		if j := strings.LastIndexByte(tag, '-'); j > 0 {
			if _, err := strconv.Atoi(tag[j+1:]); err == nil {
				tag = tag[:j]
			}
		}
		if tag == "*" {
			items[i] = "*"
			continue
		}
		items[i] = `"` + tag + `"`
		if weak {
			items[i] = "W/" + items[i]
		}
	}
	return strings.Join(items, ", ")
}

// state carries per-request facts from the backend adapter to the fixer.
type state struct {
	log      *slog.Logger
	etag     string    // quoted ETag to send instead of gofakes3's
	override *apiError // error response to send instead of gofakes3's
	// contentMD5 is the request's Content-MD5, verified against the body
	// by sigv4 as it is read.
	contentMD5 []byte
	// checksum is what the request says about checksums.
	checksum reqChecksum
	// respHeaders are set on a successful response (the checksum of a
	// PutObject or UploadPart, the algorithm of a new upload).
	respHeaders http.Header
	// completed is the object a CompleteMultipartUpload made; its
	// answer, with the checksum, replaces gofakes3's.
	completed *gateway.ObjectInfo
	// hasChecksum reports a Content-MD5 or x-amz-checksum-* header, or a
	// copy source (no body).
	hasChecksum bool

	// versionID is the versionId of a GET, HEAD or DELETE (see
	// versionRoutes); copySourceVersion the one of a copy's source, and
	// copyRestore marks a copy of an old version onto its own key.
	versionID, copySourceVersion string
	copyRestore                  bool
	// bypassGovernance is x-amz-bypass-governance-retention: true.
	bypassGovernance bool
	// objectLock is x-amz-bucket-object-lock-enabled: true on CreateBucket.
	objectLock bool
	// retention and legalHold are the x-amz-object-lock-* headers of a
	// write; lockHeaders reports that it had any.
	retention   *gateway.Retention
	legalHold   bool
	lockHeaders bool
	// header holds response headers to send whatever the handler
	// writes (version IDs, delete markers), errors included.
	header http.Header
}

// setHeader records a response header for the fixer to send.
func (st *state) setHeader(k, v string) {
	if st.header == nil {
		st.header = make(http.Header)
	}
	st.header.Set(k, v)
}

type stateKey struct{}

func stateFrom(ctx context.Context) *state {
	st, _ := ctx.Value(stateKey{}).(*state)
	return st
}

// withState attaches request state and fixes the response.
func withState(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &state{log: log}
		fw := &fixer{ResponseWriter: w, r: r, st: st}
		next.ServeHTTP(fw, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
		if !fw.wrote {
			// A handler that wrote nothing (HEAD) still gets its
			// headers fixed before net/http sends them.
			fw.WriteHeader(http.StatusOK)
		}
	})
}

// fixer rewrites what gofakes3 cannot express: multipart ETags and error
// statuses for codes it does not know.
type fixer struct {
	http.ResponseWriter
	r       *http.Request
	st      *state
	wrote   bool
	swallow bool
}

func (f *fixer) WriteHeader(code int) {
	if f.wrote {
		return
	}
	f.wrote = true
	if e := f.st.override; e != nil && code >= 400 {
		f.swallow = true
		for k := range f.ResponseWriter.Header() {
			if k != "X-Amz-Request-Id" && k != "Vary" && !strings.HasPrefix(k, "Access-Control-") {
				f.ResponseWriter.Header().Del(k)
			}
		}
		for k, v := range f.st.header {
			f.ResponseWriter.Header()[k] = v
		}
		writeError(f.ResponseWriter, f.r, e)
		return
	}
	for k, v := range f.st.header {
		f.Header()[k] = v
	}
	if code == http.StatusOK && f.r.Method == http.MethodHead {
		code = headRange(f.Header(), f.r)
	}
	if code >= 200 && code < 300 {
		for k, v := range f.st.respHeaders {
			f.Header()[k] = v
		}
	}
	if c := f.st.completed; c != nil && code == http.StatusOK {
		// gofakes3's answer lacks the checksum: send ours instead.
		f.swallow = true
		body, _ := xml.Marshal(newCompleteResult(f.r, *c))
		f.Header().Del("Content-Length")
		f.Header().Set("Content-Type", "application/xml")
		f.ResponseWriter.WriteHeader(code)
		f.ResponseWriter.Write([]byte(xml.Header))
		f.ResponseWriter.Write(body)
		return
	}
	if f.st.etag != "" && f.Header().Get("ETag") != "" {
		f.Header().Set("ETag", f.st.etag)
	}
	f.ResponseWriter.WriteHeader(code)
}

func (f *fixer) Write(p []byte) (int, error) {
	if !f.wrote {
		f.WriteHeader(http.StatusOK)
	}
	if f.swallow {
		return len(p), nil
	}
	return f.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (f *fixer) Unwrap() http.ResponseWriter { return f.ResponseWriter }

// errorBody is the XML form of an S3 error.
type errorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	RequestID string   `xml:"RequestId,omitempty"`
}

// writeError writes an S3 error response.
func writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	w.Header().Set("Content-Type", "application/xml")
	if e.Status == http.StatusServiceUnavailable {
		guard.SetRetryAfter(w, RetryAfter)
	}
	w.WriteHeader(e.Status)
	if r.Method == http.MethodHead {
		return
	}
	body, _ := xml.Marshal(errorBody{Code: e.Code, Message: e.Message, Resource: r.URL.Path, RequestID: w.Header().Get("X-Amz-Request-Id")})
	w.Write([]byte(xml.Header))
	w.Write(body)
}

// gofakesLogger sends gofakes3's log lines to slog: errors as errors, the
// rest at debug level.
type gofakesLogger struct{ log *slog.Logger }

func (l gofakesLogger) Print(level gofakes3.LogLevel, v ...any) {
	msg := strings.TrimSpace(fmt.Sprintln(v...))
	switch level {
	case gofakes3.LogErr:
		l.log.Error("s3: " + msg)
	case gofakes3.LogWarn:
		l.log.Warn("s3: " + msg)
	default:
		l.log.Debug("s3: " + msg)
	}
}
