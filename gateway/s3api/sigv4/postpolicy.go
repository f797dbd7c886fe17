package sigv4

import (
	"net/http"
	"time"
)

// VerifyPolicy authenticates a browser POST upload: the signature of its
// form is the hex HMAC-SHA256 of the base64 policy under the signing key
// of the credential's scope. algorithm, credential, date, policy and
// signature are the form's x-amz-algorithm, x-amz-credential, x-amz-date,
// policy and x-amz-signature fields. The policy's own conditions and
// expiration are for the caller to check; the signing time need not be
// near the clock (a form may be used until its policy expires).
//
// Errors are *Error: SignatureDoesNotMatch and InvalidAccessKeyId (which
// the failure hook of Middleware does not see: the caller counts them)
// and AccessDenied or InvalidArgument for malformed fields.
func (v *Verifier) VerifyPolicy(alg, credential, date, policy, signature string) (Identity, error) {
	bad := func(msg string) *Error { return newError(CodeInvalidArgument, http.StatusBadRequest, msg) }
	if alg != algorithm {
		return Identity{}, bad(`X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`)
	}
	cred, e := parseCredential(credential, func(msg string) *Error { return bad("Error parsing the X-Amz-Credential field; " + msg) })
	if e != nil {
		return Identity{}, e
	}
	if e := v.checkRegion(cred.scope, bad); e != nil {
		return Identity{}, e
	}
	t, err := time.Parse(iso8601, date)
	if err != nil || t.Format(yyyymmdd) != cred.scope.date {
		return Identity{}, bad("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\" and on the credential's date")
	}
	secret, e := v.secret(cred.accessKey)
	if e != nil {
		return Identity{}, e
	}
	if !signatureEqual(sign(v.keys.get(secret, cred.scope), policy), signature) {
		return Identity{}, newError(CodeSignatureDoesNotMatch, http.StatusForbidden,
			"The request signature we calculated does not match the signature you provided. Check your key and signing method.").
			with("AWSAccessKeyId", cred.accessKey).
			with("StringToSign", policy)
	}
	return Identity{AccessKey: cred.accessKey, Region: cred.scope.region}, nil
}
