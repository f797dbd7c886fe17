package sigv4

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Credentials looks up the secret key of an access key.
type Credentials interface {
	// Secret returns the secret key of accessKey, and false if the access
	// key is unknown.
	Secret(accessKey string) (secret string, ok bool)
}

// StaticCredentials is a fixed set of access key to secret key pairs.
type StaticCredentials map[string]string

// Secret implements Credentials.
func (c StaticCredentials) Secret(accessKey string) (string, bool) {
	s, ok := c[accessKey]
	return s, ok
}

// Default limits.
const (
	// DefaultMaxSkew is how far the signing time of a request may be
	// from the server's clock, as on AWS.
	DefaultMaxSkew = 15 * time.Minute
	// DefaultMaxPresignExpiry is the longest X-Amz-Expires accepted, as on
	// AWS (604800 seconds).
	DefaultMaxPresignExpiry = 7 * 24 * time.Hour
	// DefaultMaxChunkSize is the largest aws-chunked chunk accepted when
	// chunks are signed; such a chunk is held in memory until its
	// signature is verified. Clients use 8 KiB to 128 KiB.
	DefaultMaxChunkSize = 1 << 20
)

// Verifier authenticates S3 requests signed with AWS Signature Version 4
// and verifies their bodies. Create one with New; it is safe for
// concurrent use.
type Verifier struct {
	creds        Credentials
	now          func() time.Time
	maxSkew      time.Duration
	maxExpiry    time.Duration
	maxChunkSize int
	region       string
	keys         keyCache
	onFailure    func(*http.Request, *Error)
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithClock sets the clock used for skew and expiry checks.
func WithClock(now func() time.Time) Option { return func(v *Verifier) { v.now = now } }

// WithMaxSkew sets the largest accepted difference between the signing
// time of a request and the clock.
func WithMaxSkew(d time.Duration) Option { return func(v *Verifier) { v.maxSkew = d } }

// WithMaxPresignExpiry sets the largest accepted X-Amz-Expires of a
// presigned URL. Values above 7 days are lowered to 7 days.
func WithMaxPresignExpiry(d time.Duration) Option {
	return func(v *Verifier) { v.maxExpiry = min(d, DefaultMaxPresignExpiry) }
}

// WithMaxChunkSize sets the largest signed aws-chunked chunk accepted.
func WithMaxChunkSize(n int) Option { return func(v *Verifier) { v.maxChunkSize = n } }

// WithRegion pins the region: signatures scoped to any other region are
// refused with AuthorizationHeaderMalformed (or
// AuthorizationQueryParametersError). Without it any region is accepted.
func WithRegion(region string) Option { return func(v *Verifier) { v.region = region } }

// WithFailureHook makes Middleware call f with every request that fails
// authentication and its error, before the error response is written; for
// example to count failed logins per client. f must not write a response
// or read the body.
func WithFailureHook(f func(r *http.Request, e *Error)) Option {
	return func(v *Verifier) { v.onFailure = f }
}

// New returns a Verifier that looks secrets up in creds.
func New(creds Credentials, opts ...Option) *Verifier {
	v := &Verifier{
		creds:        creds,
		now:          time.Now,
		maxSkew:      DefaultMaxSkew,
		maxExpiry:    DefaultMaxPresignExpiry,
		maxChunkSize: DefaultMaxChunkSize,
	}
	for _, o := range opts {
		o(v)
	}
	return v
}

// Identity describes an authenticated request.
type Identity struct {
	// AccessKey is the access key that signed the request.
	AccessKey string
	// Region is the region of the signature's credential scope.
	Region string
	// Presigned is set for query-string (presigned URL) authentication.
	Presigned bool
	// ContentSHA256 is the x-amz-content-sha256 header as the client sent
	// it (a hex hash, UNSIGNED-PAYLOAD or a STREAMING-* mode), or "" if
	// there was none.
	ContentSHA256 string
}

type identityKey struct{}

type payloadHashKey struct{}

// ContextWithPayloadHash returns a context that gives a request without an
// x-amz-content-sha256 header the hex SHA-256 of its body, computed by the
// caller, as its payload hash: what signers of services other than S3 (for
// example curl's --aws-sigv4) sign without sending the header. The body is
// still verified against it.
func ContextWithPayloadHash(ctx context.Context, hexHash string) context.Context {
	return context.WithValue(ctx, payloadHashKey{}, hexHash)
}

// IdentityFromContext returns the Identity that Middleware stored in the
// context of an authenticated request.
func IdentityFromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// authorization is a verified request signature.
type authorization struct {
	id        Identity
	scope     scope
	key       []byte // signing key
	signature string // seed signature for aws-chunked bodies
	t         time.Time
	// queryPayload is the hex SHA-256 of the body that a presigned URL
	// signs in its X-Amz-Content-Sha256 parameter, or "" if it signs
	// UNSIGNED-PAYLOAD. The body must match it as it must match the
	// header of the same name.
	queryPayload string
}

// errors of the authorization header
func malformedHeader(msg string) *Error {
	return newError(CodeAuthorizationHeaderMalformed, http.StatusBadRequest,
		"The authorization header is malformed; "+msg)
}

func malformedQuery(msg string) *Error {
	return newError(CodeAuthorizationQueryParamsError, http.StatusBadRequest, msg)
}

var errUnsupportedMechanism = newError(CodeInvalidRequest, http.StatusBadRequest,
	"The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")

// Verify authenticates r without touching its body. On success it returns
// the Identity of the request; on failure an *Error. Middleware calls it
// and then sets up verification of the body.
func (v *Verifier) Verify(r *http.Request) (Identity, error) {
	a, err := v.authenticate(r)
	if err != nil {
		return Identity{}, err
	}
	return a.id, nil
}

func (v *Verifier) authenticate(r *http.Request) (*authorization, *Error) {
	authz := r.Header.Values("Authorization")
	q := r.URL.Query()
	_, hasQuerySig := q["X-Amz-Signature"]
	_, hasQueryAlg := q["X-Amz-Algorithm"]
	_, hasV2QuerySig := q["Signature"]
	switch {
	case len(authz) > 0 && (hasQuerySig || hasQueryAlg):
		return nil, newError(CodeInvalidArgument, http.StatusBadRequest,
			"Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
	case len(authz) > 1:
		return nil, malformedHeader("more than one Authorization header.")
	case len(authz) == 1:
		return v.authenticateHeader(r, authz[0])
	case hasQuerySig || hasQueryAlg:
		return v.authenticateQuery(r, q)
	case hasV2QuerySig && q.Has("AWSAccessKeyId"):
		return nil, errUnsupportedMechanism
	}
	return nil, newError(CodeAccessDenied, http.StatusForbidden,
		"Anonymous access is not allowed; sign requests with AWS Signature Version 4.")
}

// credential is a parsed Credential element.
type credential struct {
	accessKey string
	scope     scope
}

func parseCredential(s string, bad func(string) *Error) (credential, *Error) {
	parts := strings.Split(s, "/")
	if len(parts) < 5 || parts[0] == "" {
		return credential{}, bad(`the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`)
	}
	n := len(parts)
	c := credential{
		accessKey: strings.Join(parts[:n-4], "/"),
		scope:     scope{date: parts[n-4], region: parts[n-3]},
	}
	if _, err := time.Parse(yyyymmdd, c.scope.date); err != nil || len(c.scope.date) != 8 {
		return credential{}, bad(fmt.Sprintf("incorrect date format %q. This date in the credential must be in the format \"yyyyMMdd\".", c.scope.date))
	}
	if c.scope.region == "" {
		return credential{}, bad("the region in the Credential is empty.")
	}
	if parts[n-2] != service {
		return credential{}, bad(fmt.Sprintf("incorrect service %q. This endpoint belongs to %q.", parts[n-2], service))
	}
	if parts[n-1] != terminator {
		return credential{}, bad(fmt.Sprintf("incorrect terminal %q. This endpoint uses %q.", parts[n-1], terminator))
	}
	return c, nil
}

// parseSignedHeaders splits a SignedHeaders value. Names must be lower
// case and sorted, as the specification requires.
func parseSignedHeaders(s string) ([]string, bool) {
	if s == "" {
		return nil, false
	}
	names := strings.Split(s, ";")
	for i, n := range names {
		if n == "" || n != strings.ToLower(n) || (i > 0 && names[i-1] >= n) {
			return nil, false
		}
	}
	return names, true
}

func isHexSignature(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && s == strings.ToLower(s)
}

// parseAuthorization parses an Authorization header value of the form
// "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
func parseAuthorization(h string) (cred credential, signed []string, sig string, e *Error) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	switch {
	case alg == algorithm:
	case alg == "AWS":
		return cred, nil, "", errUnsupportedMechanism
	case alg == "AWS4-ECDSA-P256-SHA256":
		return cred, nil, "", newError(CodeNotImplemented, http.StatusNotImplemented,
			"Signature Version 4A (AWS4-ECDSA-P256-SHA256) is not supported.")
	default:
		return cred, nil, "", newError(CodeInvalidArgument, http.StatusBadRequest, "Unsupported Authorization Type")
	}
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok {
			return cred, nil, "", malformedHeader(fmt.Sprintf("the element %q is not of the form name=value.", strings.TrimSpace(f)))
		}
		if _, dup := fields[k]; dup {
			return cred, nil, "", malformedHeader(fmt.Sprintf("the element %q appears more than once.", k))
		}
		fields[k] = val
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if fields[k] == "" {
			return cred, nil, "", malformedHeader(fmt.Sprintf("missing %s.", k))
		}
	}
	if len(fields) != 3 {
		return cred, nil, "", malformedHeader("expecting exactly Credential, SignedHeaders and Signature.")
	}
	cred, e = parseCredential(fields["Credential"], malformedHeader)
	if e != nil {
		return cred, nil, "", e
	}
	signed, ok := parseSignedHeaders(fields["SignedHeaders"])
	if !ok {
		return cred, nil, "", malformedHeader("SignedHeaders must be lower-case header names, sorted and separated by ';'.")
	}
	if !isHexSignature(fields["Signature"]) {
		return cred, nil, "", malformedHeader("the Signature must be 64 lower-case hex digits.")
	}
	return cred, signed, fields["Signature"], nil
}

func (v *Verifier) checkRegion(sc scope, bad func(string) *Error) *Error {
	if v.region != "" && sc.region != v.region {
		return bad(fmt.Sprintf("the region '%s' is wrong; expecting '%s'", sc.region, v.region)).with("Region", v.region)
	}
	return nil
}

func (v *Verifier) secret(accessKey string) (string, *Error) {
	s, ok := v.creds.Secret(accessKey)
	if !ok {
		return "", newError(CodeInvalidAccessKeyID, http.StatusForbidden,
			"The AWS Access Key Id you provided does not exist in our records.").with("AWSAccessKeyId", accessKey)
	}
	return s, nil
}

// checkSignedHeaders enforces that host and every x-amz-* header of the
// request are signed.
func checkSignedHeaders(r *http.Request, signed []string, extra ...string) *Error {
	has := func(name string) bool {
		for _, s := range signed {
			if s == name {
				return true
			}
		}
		return false
	}
	var missing []string
	if !has("host") {
		missing = append(missing, "host")
	}
	for name := range r.Header {
		l := strings.ToLower(name)
		if strings.HasPrefix(l, "x-amz-") && !has(l) {
			missing = append(missing, l)
		}
	}
	for _, name := range extra {
		if !has(name) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return newError(CodeAccessDenied, http.StatusForbidden,
			"There were headers present in the request which were not signed").
			with("HeadersNotSigned", strings.Join(missing, ", "))
	}
	return nil
}

func (v *Verifier) authenticateHeader(r *http.Request, h string) (*authorization, *Error) {
	cred, signed, sig, e := parseAuthorization(h)
	if e != nil {
		return nil, e
	}
	if e := v.checkRegion(cred.scope, malformedHeader); e != nil {
		return nil, e
	}
	secret, e := v.secret(cred.accessKey)
	if e != nil {
		return nil, e
	}

	// The signing time is X-Amz-Date, or else Date; whichever is used must
	// be signed.
	var t time.Time
	var dateHeader string
	if d := r.Header.Get("X-Amz-Date"); d != "" {
		pt, err := time.Parse(iso8601, d)
		if err != nil {
			return nil, newError(CodeAccessDenied, http.StatusForbidden,
				"AWS authentication requires a valid Date or x-amz-date header")
		}
		t = pt
	} else if d := r.Header.Get("Date"); d != "" {
		pt, err := http.ParseTime(d)
		if err != nil {
			return nil, newError(CodeAccessDenied, http.StatusForbidden,
				"AWS authentication requires a valid Date or x-amz-date header")
		}
		t, dateHeader = pt.UTC(), "date"
	} else {
		return nil, newError(CodeAccessDenied, http.StatusForbidden,
			"AWS authentication requires a valid Date or x-amz-date header")
	}
	var extra []string
	if dateHeader != "" {
		extra = append(extra, dateHeader)
	}
	if e := checkSignedHeaders(r, signed, extra...); e != nil {
		return nil, e
	}
	if t.Format(yyyymmdd) != cred.scope.date {
		return nil, malformedHeader("Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	now := v.now()
	if skew := now.Sub(t); skew > v.maxSkew || skew < -v.maxSkew {
		return nil, newError(CodeRequestTimeTooSkewed, http.StatusForbidden,
			"The difference between the request time and the current time is too large.").
			with("RequestTime", t.Format(iso8601)).
			with("ServerTime", now.UTC().Format(iso8601)).
			with("MaxAllowedSkewMilliseconds", strconv.FormatInt(v.maxSkew.Milliseconds(), 10))
	}

	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		payload, _ = r.Context().Value(payloadHashKey{}).(string)
	}
	if payload == "" {
		return nil, newError(CodeInvalidRequest, http.StatusBadRequest,
			"Missing required header for this request: x-amz-content-sha256")
	}
	query, err := canonicalQuery(r.URL.RawQuery, "")
	if err != nil {
		return nil, newError(CodeInvalidURI, http.StatusBadRequest, "Couldn't parse the specified URI.").wrap(err)
	}
	key := v.keys.get(secret, cred.scope)
	creq := canonicalRequest(r, query, signed, payload)
	sts := stringToSign(t, cred.scope, creq)
	if !signatureEqual(sign(key, sts), sig) {
		return nil, signatureMismatch(cred.accessKey, sts, creq)
	}
	return &authorization{
		id:        Identity{AccessKey: cred.accessKey, Region: cred.scope.region, ContentSHA256: payload},
		scope:     cred.scope,
		key:       key,
		signature: sig,
		t:         t,
	}, nil
}

func signatureMismatch(accessKey, sts, creq string) *Error {
	return newError(CodeSignatureDoesNotMatch, http.StatusForbidden,
		"The request signature we calculated does not match the signature you provided. Check your key and signing method.").
		with("AWSAccessKeyId", accessKey).
		with("StringToSign", sts).
		with("CanonicalRequest", creq)
}

func (v *Verifier) authenticateQuery(r *http.Request, q map[string][]string) (*authorization, *Error) {
	get := func(k string) (string, bool) {
		vals := q[k]
		if len(vals) != 1 || vals[0] == "" {
			return "", false
		}
		return vals[0], true
	}
	names := []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Expires"}
	vals := make(map[string]string, len(names))
	for _, k := range names {
		val, ok := get(k)
		if !ok {
			return nil, malformedQuery("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
		}
		vals[k] = val
	}
	if vals["X-Amz-Algorithm"] != algorithm {
		return nil, malformedQuery(`X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`)
	}
	badCred := func(msg string) *Error { return malformedQuery("Error parsing the X-Amz-Credential parameter; " + msg) }
	cred, e := parseCredential(vals["X-Amz-Credential"], badCred)
	if e != nil {
		return nil, e
	}
	if e := v.checkRegion(cred.scope, badCred); e != nil {
		return nil, e
	}
	t, err := time.Parse(iso8601, vals["X-Amz-Date"])
	if err != nil {
		return nil, malformedQuery("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	expires, err := strconv.ParseInt(vals["X-Amz-Expires"], 10, 64)
	switch {
	case err != nil:
		return nil, malformedQuery("X-Amz-Expires should be a number")
	case expires < 0:
		return nil, malformedQuery("X-Amz-Expires must be non-negative")
	case expires > int64(v.maxExpiry/time.Second):
		return nil, malformedQuery(fmt.Sprintf("X-Amz-Expires must be less than a week (in seconds) that is %d", int64(v.maxExpiry/time.Second)))
	}
	signed, ok := parseSignedHeaders(vals["X-Amz-SignedHeaders"])
	if !ok {
		return nil, malformedQuery("X-Amz-SignedHeaders must be lower-case header names, sorted and separated by ';'.")
	}
	sig := vals["X-Amz-Signature"]
	if !isHexSignature(sig) {
		return nil, malformedQuery("X-Amz-Signature must be 64 lower-case hex digits.")
	}
	secret, e := v.secret(cred.accessKey)
	if e != nil {
		return nil, e
	}
	if e := checkSignedHeaders(r, signed); e != nil {
		return nil, e
	}
	if t.Format(yyyymmdd) != cred.scope.date {
		return nil, badCred("Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	now := v.now()
	if t.Sub(now) > v.maxSkew {
		return nil, newError(CodeAccessDenied, http.StatusForbidden, "Request is not valid yet")
	}
	if deadline := t.Add(time.Duration(expires) * time.Second); now.After(deadline) {
		return nil, newError(CodeAccessDenied, http.StatusForbidden, "Request has expired").
			with("X-Amz-Expires", vals["X-Amz-Expires"]).
			with("Expires", deadline.UTC().Format(iso8601)).
			with("ServerTime", now.UTC().Format(iso8601))
	}

	// A presigned URL signs UNSIGNED-PAYLOAD unless it carries the payload
	// hash as a parameter, which the body must then match.
	payload := unsignedPayload
	var queryPayload string
	if vals, ok := q["X-Amz-Content-Sha256"]; ok {
		p, _ := get("X-Amz-Content-Sha256")
		switch {
		case len(vals) != 1:
			return nil, malformedQuery("X-Amz-Content-Sha256 must appear at most once.")
		case p == unsignedPayload:
		case len(p) == 64 && isHex(p):
			queryPayload = strings.ToLower(p)
		default:
			return nil, malformedQuery("X-Amz-Content-Sha256 of a presigned URL must be UNSIGNED-PAYLOAD or the hex SHA-256 of the body.")
		}
		payload = p
	}
	query, err := canonicalQuery(r.URL.RawQuery, "X-Amz-Signature")
	if err != nil {
		return nil, newError(CodeInvalidURI, http.StatusBadRequest, "Couldn't parse the specified URI.").wrap(err)
	}
	key := v.keys.get(secret, cred.scope)
	creq := canonicalRequest(r, query, signed, payload)
	sts := stringToSign(t, cred.scope, creq)
	if !signatureEqual(sign(key, sts), sig) {
		return nil, signatureMismatch(cred.accessKey, sts, creq)
	}
	return &authorization{
		id: Identity{AccessKey: cred.accessKey, Region: cred.scope.region, Presigned: true,
			ContentSHA256: r.Header.Get("X-Amz-Content-Sha256")},
		scope:        cred.scope,
		key:          key,
		signature:    sig,
		t:            t,
		queryPayload: queryPayload,
	}, nil
}
