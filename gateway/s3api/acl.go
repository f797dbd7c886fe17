package s3api

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/s3api/sigv4"
)

// Users and ACLs. Every request runs as the user that signed it
// (withUser); the namespace decides what that user may do to a bucket.
// Buckets behave like S3 buckets whose Object Ownership is
// BucketOwnerEnforced: ACLs are disabled, the bucket owner owns every
// object, and access is what the configuration grants. GetBucketAcl and
// GetObjectAcl answer that truthfully; a request that would set any other
// ACL is refused with AccessControlListNotSupported.

// accessDenied is S3's answer to a request the user may not make.
var accessDenied = &apiError{Status: http.StatusForbidden, Code: "AccessDenied", Message: "Access Denied"}

// aclNotSupported is S3's answer to setting an ACL on a bucket whose ACLs
// are disabled.
var aclNotSupported = &apiError{Status: http.StatusBadRequest, Code: "AccessControlListNotSupported", Message: "The bucket does not allow ACLs"}

// bucketACLNotSupported is S3's answer to CreateBucket with an ACL other
// than private when Object Ownership is BucketOwnerEnforced.
var bucketACLNotSupported = &apiError{Status: http.StatusBadRequest, Code: "InvalidBucketAclWithObjectOwnership",
	Message: "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"}

// cannedACLs are the canned ACLs a bucket whose ACLs are disabled accepts.
var cannedACLs = map[string]bool{"": true, "private": true, "bucket-owner-full-control": true}

// grantHeaders are the request headers that grant access explicitly.
var grantHeaders = []string{"X-Amz-Grant-Read", "X-Amz-Grant-Write", "X-Amz-Grant-Read-Acp", "X-Amz-Grant-Write-Acp", "X-Amz-Grant-Full-Control"}

// checkCannedACL refuses a canned ACL (x-amz-acl, or a POST form's acl
// field) or grant header that the access model cannot honour. h may be
// nil; createBucket selects CreateBucket's error.
func checkCannedACL(acl string, h http.Header, createBucket bool) *apiError {
	refused := !cannedACLs[acl]
	for _, g := range grantHeaders {
		if h != nil && h.Get(g) != "" {
			refused = true
		}
	}
	switch {
	case !refused:
		return nil
	case createBucket:
		return bucketACLNotSupported
	}
	return aclNotSupported
}

// withUser runs every request signed by a known access key as that user
// (gateway.WithUser). It sits inside the SigV4 verifier.
func withUser(ns *gateway.Namespace, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := sigv4.IdentityFromContext(r.Context())
		if !ok {
			writeError(w, r, accessDenied)
			return
		}
		ctx, err := ns.UserContext(r.Context(), id.AccessKey)
		if err != nil {
			writeError(w, r, accessDenied)
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// owner is an S3 Owner element.
type owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName,omitempty"`
}

// grantee is a Grantee element; only canonical users are ever answered.
type grantee struct {
	XMLName     xml.Name `xml:"Grantee"`
	XMLNSXSI    string   `xml:"xmlns:xsi,attr,omitempty"`
	Type        string   `xml:"xsi:type,attr,omitempty"`
	ID          string   `xml:"ID,omitempty"`
	DisplayName string   `xml:"DisplayName,omitempty"`
	URI         string   `xml:"URI,omitempty"`
	Email       string   `xml:"EmailAddress,omitempty"`
}

// grant is a Grant element.
type grant struct {
	Grantee    grantee `xml:"Grantee"`
	Permission string  `xml:"Permission"`
}

// accessControlPolicy is the body of GetBucketAcl, GetObjectAcl and their
// Put counterparts.
type accessControlPolicy struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Owner   owner    `xml:"Owner"`
	Grants  []grant  `xml:"AccessControlList>Grant"`
}

// policyOf is the ACL of a bucket, and of every object in it: FULL_CONTROL
// for the owner, READ for a read grant, READ and WRITE for a read-write
// grant.
func policyOf(acl gateway.BucketACL) accessControlPolicy {
	user := func(o gateway.Owner, perm string) grant {
		return grant{Grantee: grantee{XMLNSXSI: "http://www.w3.org/2001/XMLSchema-instance", Type: "CanonicalUser",
			ID: o.ID, DisplayName: o.DisplayName}, Permission: perm}
	}
	p := accessControlPolicy{Xmlns: s3Xmlns, Owner: owner{ID: acl.Owner.ID, DisplayName: acl.Owner.DisplayName}}
	p.Grants = append(p.Grants, user(acl.Owner, "FULL_CONTROL"))
	for _, g := range acl.Grants {
		p.Grants = append(p.Grants, user(g.Grantee, "READ"))
		if g.Access >= gateway.AccessWrite {
			p.Grants = append(p.Grants, user(g.Grantee, "WRITE"))
		}
	}
	return p
}

// policyIn is an AccessControlPolicy as a client sends it; its xsi:type
// attribute is read by namespace.
type policyIn struct {
	Owner  owner `xml:"Owner"`
	Grants []struct {
		Grantee struct {
			Type  string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
			ID    string `xml:"ID"`
			URI   string `xml:"URI"`
			Email string `xml:"EmailAddress"`
		} `xml:"Grantee"`
		Permission string `xml:"Permission"`
	} `xml:"AccessControlList>Grant"`
}

// grantKey is one grant reduced for comparison.
func grantKey(typ, id, uri, email, perm string) string {
	return strings.Join([]string{typ, id, uri, email, perm}, "\x00")
}

// sameGrants reports whether in grants exactly what p does, to the same
// owner (when in names one).
func sameGrants(in policyIn, p accessControlPolicy) bool {
	if in.Owner.ID != "" && in.Owner.ID != p.Owner.ID {
		return false
	}
	var got, want []string
	for _, g := range in.Grants {
		got = append(got, grantKey(g.Grantee.Type, g.Grantee.ID, g.Grantee.URI, g.Grantee.Email, g.Permission))
	}
	for _, g := range p.Grants {
		want = append(want, grantKey(g.Grantee.Type, g.Grantee.ID, g.Grantee.URI, g.Grantee.Email, g.Permission))
	}
	slices.Sort(got)
	slices.Sort(want)
	return slices.Equal(slices.Compact(got), slices.Compact(want))
}

// maxACLBody bounds the body of PutBucketAcl and PutObjectAcl.
const maxACLBody = 64 << 10

// aclRequest answers GET and PUT ?acl of a bucket (object empty) or an
// object (with a versionId: that version of it). A PUT is accepted when it asks for what the bucket already has:
// a canned ACL of private or bucket-owner-full-control, or a policy that
// grants exactly what GetBucketAcl shows; anything else is
// AccessControlListNotSupported.
func aclRequest(ns *gateway.Namespace, w http.ResponseWriter, r *http.Request, bucket, object string) {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPut:
		need := gateway.AccessOwner
		if object != "" {
			need = gateway.AccessWrite
		}
		if err := ns.Authorize(ctx, bucket, need); err != nil {
			writeNSError(w, r, err, bucket, object)
			return
		}
	default:
		writeError(w, r, methodNotAllowed())
		return
	}
	acl, err := ns.BucketACL(ctx, bucket)
	if err != nil {
		writeNSError(w, r, err, bucket, object)
		return
	}
	if object != "" {
		id, e := versionParam(r.URL.Query())
		if e != nil {
			writeError(w, r, e)
			return
		}
		if id != "" {
			_, err = ns.ObjectVersion(ctx, bucket, object, id)
		} else {
			_, err = ns.Object(ctx, bucket, object)
		}
		if r.Method == http.MethodPut {
			// A GetObjectAcl of a current delete marker stays 404
			// NoSuchKey, as a GetObject.
			err = writeOnDeleteMarker(err)
		}
		if err != nil {
			writeNSError(w, r, err, bucket, object)
			return
		}
	}
	want := policyOf(acl)
	if r.Method != http.MethodPut {
		writeXML(w, want)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxACLBody+1))
	if err != nil {
		writeNSError(w, r, err, bucket, object)
		return
	}
	canned := r.Header.Get("X-Amz-Acl")
	if e := checkCannedACL(canned, r.Header, false); e != nil {
		writeError(w, r, e)
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if canned == "" {
			writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "MissingSecurityHeader",
				Message: "Your request was missing a required header: x-amz-acl, or an AccessControlPolicy body."})
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if canned != "" {
		writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "UnexpectedContent",
			Message: "This request does not support content with an x-amz-acl header."})
		return
	}
	var got policyIn
	if len(body) > maxACLBody || xml.Unmarshal(body, &got) != nil {
		writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "MalformedACLError",
			Message: "The XML you provided was not well-formed or did not validate against our published schema."})
		return
	}
	if !sameGrants(got, want) {
		writeError(w, r, aclNotSupported)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// ownershipControls is the body of GetBucketOwnershipControls.
type ownershipControls struct {
	XMLName xml.Name `xml:"OwnershipControls"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Rules   []struct {
		ObjectOwnership string `xml:"ObjectOwnership"`
	} `xml:"Rule"`
}

// bucketOwnerEnforced is the only Object Ownership setting of a bucket.
const bucketOwnerEnforced = "BucketOwnerEnforced"

// ownershipRequest answers ?ownershipControls of a bucket: GET shows
// BucketOwnerEnforced; PUT accepts only BucketOwnerEnforced (the owner
// alone); DELETE is refused, since no other setting exists.
func ownershipRequest(ns *gateway.Namespace, w http.ResponseWriter, r *http.Request, bucket string) {
	ctx := r.Context()
	fixed := &apiError{Status: http.StatusBadRequest, Code: "InvalidArgument",
		Message: "Object Ownership is always BucketOwnerEnforced on this gateway: ACLs are disabled."}
	switch r.Method {
	case http.MethodGet:
		if _, err := ns.Bucket(ctx, bucket); err != nil {
			writeNSError(w, r, err, bucket, "")
			return
		}
		var oc ownershipControls
		oc.Xmlns = s3Xmlns
		oc.Rules = append(oc.Rules, struct {
			ObjectOwnership string `xml:"ObjectOwnership"`
		}{bucketOwnerEnforced})
		writeXML(w, oc)
	case http.MethodPut:
		if err := ns.Authorize(ctx, bucket, gateway.AccessOwner); err != nil {
			writeNSError(w, r, err, bucket, "")
			return
		}
		if _, err := ns.Bucket(ctx, bucket); err != nil {
			writeNSError(w, r, err, bucket, "")
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxACLBody))
		if err != nil {
			writeNSError(w, r, err, bucket, "")
			return
		}
		var oc ownershipControls
		if xml.Unmarshal(body, &oc) != nil || len(oc.Rules) != 1 || oc.Rules[0].ObjectOwnership != bucketOwnerEnforced {
			writeError(w, r, fixed)
			return
		}
		w.WriteHeader(http.StatusOK)
	default:
		writeError(w, r, fixed)
	}
}

// listAllMyBuckets is the body of ListBuckets.
type listAllMyBuckets struct {
	XMLName           xml.Name       `xml:"ListAllMyBucketsResult"`
	Xmlns             string         `xml:"xmlns,attr"`
	Owner             owner          `xml:"Owner"`
	Buckets           []bucketResult `xml:"Buckets>Bucket"`
	ContinuationToken string         `xml:"ContinuationToken,omitempty"`
	Prefix            string         `xml:"Prefix,omitempty"`
}

type bucketResult struct {
	Name         string `xml:"Name"`
	CreationDate string `xml:"CreationDate"`
}

// maxBuckets is the largest page of ListBuckets.
const maxBuckets = 10000

// listBuckets answers ListBuckets with the buckets the user owns or holds
// a grant on, and the user as Owner; prefix, max-buckets and
// continuation-token page it as on S3.
func listBuckets(ns *gateway.Namespace, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := maxBuckets
	if v := q.Get("max-buckets"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxBuckets {
			writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "InvalidArgument", Message: "max-buckets must be between 1 and 10000"})
			return
		}
		limit = n
	}
	after := ""
	if tok := q.Get("continuation-token"); tok != "" {
		b, err := base64.URLEncoding.DecodeString(tok)
		if err != nil {
			writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "InvalidArgument", Message: "The continuation token provided is incorrect"})
			return
		}
		after = string(b)
	}
	bs, err := ns.Buckets(r.Context())
	if err != nil {
		writeNSError(w, r, err, "", "")
		return
	}
	res := listAllMyBuckets{Xmlns: s3Xmlns, Prefix: q.Get("prefix"), Buckets: []bucketResult{}}
	if u, ok := gateway.UserFrom(r.Context()); ok {
		res.Owner = owner{ID: u.ID, DisplayName: u.DisplayName}
	} else if id, ok := sigv4.IdentityFromContext(r.Context()); ok {
		res.Owner = owner{ID: id.AccessKey, DisplayName: id.AccessKey}
	}
	for _, b := range bs {
		if b.Name <= after || !strings.HasPrefix(b.Name, res.Prefix) {
			continue
		}
		if len(res.Buckets) == limit {
			res.ContinuationToken = base64.URLEncoding.EncodeToString([]byte(res.Buckets[limit-1].Name))
			break
		}
		res.Buckets = append(res.Buckets, bucketResult{Name: b.Name, CreationDate: b.Created.UTC().Format("2006-01-02T15:04:05.999Z")})
	}
	writeXML(w, res)
}
