package s3api_test

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"
)

// md5Header returns the Content-MD5 header of body.
func md5Header(body string) map[string]string {
	sum := md5.Sum([]byte(body))
	return map[string]string{"Content-Md5": base64.StdEncoding.EncodeToString(sum[:])}
}

// merge returns the union of header maps.
func merge(hs ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, h := range hs {
		for k, v := range h {
			out[k] = v
		}
	}
	return out
}

// tagAnswer is the exact (compacted) GetObjectTagging answer for pairs
// given in key order.
func tagAnswer(pairs ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>`)
	for _, p := range pairs {
		k, v, _ := strings.Cut(p, "=")
		fmt.Fprintf(&b, "<Tag><Key>%s</Key><Value>%s</Value></Tag>", k, v)
	}
	b.WriteString("</TagSet></Tagging>")
	return b.String()
}

// retentionXML is a PutObjectRetention body.
func retentionXML(mode string, until time.Time) string {
	return fmt.Sprintf(`<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Mode>%s</Mode><RetainUntilDate>%s</RetainUntilDate></Retention>`,
		mode, until.UTC().Format(time.RFC3339))
}

// TestVersionSubresources checks tagging, attributes, retention and legal
// hold addressed to one version by versionId: status codes, error codes,
// version headers and bodies, that a change of one version leaves the
// other versions, the current object and every version's bytes as they
// were, and that the operations S3 takes no version ID for refuse one.
// The steps run in order; each sees the state the previous ones left.
func TestVersionSubresources(t *testing.T) {
	_, srv := newServer(t)
	mustDo := func(method, path string, header map[string]string, body string, status int) response {
		t.Helper()
		r := do(t, srv, method, path, header, body)
		if r.status != status {
			t.Fatalf("%s %s: %d %s; want %d", method, path, r.status, r.body, status)
		}
		return r
	}
	mustDo("PUT", "/unit?versioning", nil, `<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>`, 200)
	v1 := mustDo("PUT", "/unit/k", nil, "one", 200).header.Get("X-Amz-Version-Id")
	v2 := mustDo("PUT", "/unit/k", nil, "two!", 200).header.Get("X-Amz-Version-Id")
	mustDo("PUT", "/unit/gone", nil, "x", 200)
	dm := mustDo("DELETE", "/unit/gone", nil, "", 204).header.Get("X-Amz-Version-Id")
	mustDo("PUT", "/plain", nil, "", 200)
	mustDo("PUT", "/plain/p", nil, "plain", 200)
	mustDo("PUT", "/locked", map[string]string{"X-Amz-Bucket-Object-Lock-Enabled": "true"}, "", 200)
	l1 := mustDo("PUT", "/locked/o", md5Header("first"), "first", 200).header.Get("X-Amz-Version-Id")
	l2 := mustDo("PUT", "/locked/o", md5Header("second"), "second", 200).header.Get("X-Amz-Version-Id")
	if v1 == "" || v2 == "" || dm == "" || l1 == "" || l2 == "" || v1 == v2 || l1 == l2 {
		t.Fatalf("version ids %q %q %q %q %q", v1, v2, dm, l1, l2)
	}
	const missing = "0123456789abcdef0123456789abcdef"
	now := time.Now().UTC().Truncate(time.Second)
	hour, half, twoHours := now.Add(time.Hour), now.Add(30*time.Minute), now.Add(2*time.Hour)
	bypass := map[string]string{"X-Amz-Bypass-Governance-Retention": "true"}
	attrs := map[string]string{"X-Amz-Object-Attributes": "ETag,ObjectSize,StorageClass"}
	etag := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
	noVersionID := "<Code>InvalidArgument</Code><Message>This operation does not accept a version-id.</Message>"
	deleteMarker := map[string]string{"X-Amz-Delete-Marker": "true", "X-Amz-Version-Id": dm}
	tag := func(id string) string { return "/unit/k?tagging&versionId=" + id }

	steps := []struct {
		name, method, path string
		header             map[string]string
		body               string
		status             int
		want               string // the whole body if it starts with "<?xml", else a part of it
		headers            map[string]string
	}{
		// Tagging of one version.
		{"put tags of the old version", "PUT", tag(v1), nil, tagXML("b=2", "a=1"), 200, "", map[string]string{"X-Amz-Version-Id": v1}},
		{"get tags of the old version", "GET", tag(v1), nil, "", 200, tagAnswer("a=1", "b=2"), map[string]string{"X-Amz-Version-Id": v1}},
		{"the current version keeps no tags", "GET", "/unit/k?tagging", nil, "", 200, tagAnswer(), nil},
		{"the old version keeps its bytes", "GET", "/unit/k?versionId=" + v1, nil, "", 200, "one", map[string]string{"X-Amz-Version-Id": v1, "X-Amz-Tagging-Count": "2"}},
		{"the current object keeps its bytes", "GET", "/unit/k", nil, "", 200, "two!", map[string]string{"X-Amz-Version-Id": v2}},
		{"put tags of the current version by id", "PUT", tag(v2), nil, tagXML("c=3"), 200, "", map[string]string{"X-Amz-Version-Id": v2}},
		{"the current object has them", "GET", "/unit/k?tagging", nil, "", 200, tagAnswer("c=3"), nil},
		{"the old version keeps its own", "GET", tag(v1), nil, "", 200, tagAnswer("a=1", "b=2"), nil},
		{"delete tags of the old version", "DELETE", tag(v1), nil, "", 204, "", map[string]string{"X-Amz-Version-Id": v1}},
		{"the old version has none", "GET", tag(v1), nil, "", 200, tagAnswer(), nil},
		{"the current version keeps its tags", "GET", tag(v2), nil, "", 200, tagAnswer("c=3"), nil},
		{"eleven tags", "PUT", tag(v1), nil, tagXML(manyTags(11)...), 400, "<Code>BadRequest</Code>", nil},
		{"invalid tag", "PUT", tag(v1), nil, tagXML("aws:x=1"), 400, "<Code>InvalidTag</Code>", nil},
		{"malformed tagging body", "PUT", tag(v1), nil, "<Tagging", 400, "<Code>MalformedXML</Code>", nil},
		{"get tags of a delete marker", "GET", "/unit/gone?tagging&versionId=" + dm, nil, "", 405, "<Code>MethodNotAllowed</Code>", deleteMarker},
		{"put tags of a delete marker", "PUT", "/unit/gone?tagging&versionId=" + dm, nil, tagXML("a=1"), 405, "<Code>MethodNotAllowed</Code>", deleteMarker},
		{"delete tags of a delete marker", "DELETE", "/unit/gone?tagging&versionId=" + dm, nil, "", 405, "<Code>MethodNotAllowed</Code>", deleteMarker},
		{"get tags of a missing version", "GET", tag(missing), nil, "", 404, "<Code>NoSuchVersion</Code>", nil},
		{"put tags of a missing version", "PUT", tag(missing), nil, tagXML("a=1"), 404, "<Code>NoSuchVersion</Code>", nil},
		{"delete tags of a missing version", "DELETE", tag(missing), nil, "", 404, "<Code>NoSuchVersion</Code>", nil},
		{"tags of a malformed version id", "GET", tag("nope"), nil, "", 400, "<Message>Invalid version id specified</Message>", nil},
		{"tags of an empty version id", "PUT", tag(""), nil, tagXML("a=1"), 400, "<Message>Version id cannot be the empty string</Message>", nil},
		{"tags of a version by POST", "POST", tag(v1), nil, "", 405, "<Code>MethodNotAllowed</Code>", nil},
		{"tags of the null version in an unversioned bucket", "PUT", "/plain/p?tagging&versionId=null", nil, tagXML("n=1"), 200, "", nil},
		{"are the object's", "GET", "/plain/p?tagging", nil, "", 200, tagAnswer("n=1"), nil},
		{"and the null version's", "GET", "/plain/p?tagging&versionId=null", nil, "", 200, tagAnswer("n=1"), nil},
		{"another version in an unversioned bucket", "PUT", "/plain/p?tagging&versionId=" + missing, nil, tagXML("n=1"), 404, "<Code>NoSuchVersion</Code>", nil},
		{"the null version of a missing key", "PUT", "/plain/none?tagging&versionId=null", nil, tagXML("n=1"), 404, "<Code>NoSuchVersion</Code>", nil},

		// GetObjectAttributes of one version.
		{"attributes of the old version", "GET", "/unit/k?attributes&versionId=" + v1, attrs, "", 200,
			`<?xml version="1.0" encoding="UTF-8"?><GetObjectAttributesResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ETag>` + etag("one") +
				`</ETag><StorageClass>STANDARD</StorageClass><ObjectSize>3</ObjectSize></GetObjectAttributesResponse>`, map[string]string{"X-Amz-Version-Id": v1}},
		{"attributes of the current object", "GET", "/unit/k?attributes", attrs, "", 200, "<ObjectSize>4</ObjectSize>", map[string]string{"X-Amz-Version-Id": v2}},
		{"attributes of a delete marker", "GET", "/unit/gone?attributes&versionId=" + dm, attrs, "", 405, "<Code>MethodNotAllowed</Code>", deleteMarker},
		{"attributes of a missing version", "GET", "/unit/k?attributes&versionId=" + missing, attrs, "", 404, "<Code>NoSuchVersion</Code>", nil},
		{"attributes of a version without attributes", "GET", "/unit/k?attributes&versionId=" + v1, nil, "", 400, "<Code>InvalidArgument</Code>", nil},

		// ACL of one version.
		{"ACL of the old version", "GET", "/unit/k?acl&versionId=" + v1, nil, "", 200, "<AccessControlPolicy", nil},
		{"ACL of a delete marker", "GET", "/unit/gone?acl&versionId=" + dm, nil, "", 405, "<Code>MethodNotAllowed</Code>", deleteMarker},
		{"ACL of a missing version", "GET", "/unit/k?acl&versionId=" + missing, nil, "", 404, "<Code>NoSuchVersion</Code>", nil},
		{"ACL of an empty version id", "GET", "/unit/k?acl&versionId=", nil, "", 400, "<Message>Version id cannot be the empty string</Message>", nil},

		// Operations that take no version ID.
		{"ListParts", "GET", "/unit/k?uploadId=abc&versionId=" + v1, nil, "", 400, noVersionID, nil},
		{"AbortMultipartUpload", "DELETE", "/unit/k?uploadId=abc&versionId=" + v1, nil, "", 400, noVersionID, nil},
		{"UploadPart", "PUT", "/unit/k?partNumber=1&uploadId=abc&versionId=" + v1, nil, "x", 400, noVersionID, nil},
		{"CreateMultipartUpload", "POST", "/unit/k?uploads&versionId=" + v1, nil, "", 400, noVersionID, nil},
		{"CompleteMultipartUpload", "POST", "/unit/k?uploadId=abc&versionId=" + v1, nil, "<CompleteMultipartUpload/>", 400, noVersionID, nil},
		{"UploadPartCopy", "PUT", "/unit/k?partNumber=1&uploadId=abc&versionId=" + v1, map[string]string{"X-Amz-Copy-Source": "/unit/k"}, "", 400, noVersionID, nil},
		{"CopyObject onto a version", "PUT", "/unit/k?versionId=" + v1, map[string]string{"X-Amz-Copy-Source": "/unit/k?versionId=" + v2}, "", 400, noVersionID, nil},
		{"PutObject", "PUT", "/unit/k?versionId=" + v1, nil, "overwritten", 400, noVersionID, nil},
		{"which wrote nothing", "GET", "/unit/k?versionId=" + v1, nil, "", 200, "one", nil},
		{"nor a new version", "GET", "/unit/k", nil, "", 200, "two!", map[string]string{"X-Amz-Version-Id": v2}},
		{"a sub-resource the gateway lacks", "POST", "/unit/k?restore&versionId=" + v1, nil, "", 501, "<Code>NotImplemented</Code>", nil},

		// Retention and legal hold of one version.
		{"retain the old version", "PUT", "/locked/o?retention&versionId=" + l1, nil, retentionXML("GOVERNANCE", hour), 200, "", map[string]string{"X-Amz-Version-Id": l1}},
		{"its retention", "GET", "/locked/o?retention&versionId=" + l1, nil, "", 200,
			`<?xml version="1.0" encoding="UTF-8"?><Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Mode>GOVERNANCE</Mode><RetainUntilDate>` + hour.Format(time.RFC3339) + `</RetainUntilDate></Retention>`, nil},
		{"the current version has none", "GET", "/locked/o?retention", nil, "", 404, "<Code>NoSuchObjectLockConfiguration</Code>", nil},
		{"nor by id", "GET", "/locked/o?retention&versionId=" + l2, nil, "", 404, "<Code>NoSuchObjectLockConfiguration</Code>", nil},
		{"the retained version cannot be deleted", "DELETE", "/locked/o?versionId=" + l1, nil, "", 403, "<Code>AccessDenied</Code>", nil},
		{"governance cannot be shortened", "PUT", "/locked/o?retention&versionId=" + l1, nil, retentionXML("GOVERNANCE", half), 403, "<Code>AccessDenied</Code>", nil},
		{"nor lifted", "PUT", "/locked/o?retention&versionId=" + l1, nil, `<Retention/>`, 403, "<Code>AccessDenied</Code>", nil},
		{"unless bypassed", "PUT", "/locked/o?retention&versionId=" + l1, bypass, retentionXML("GOVERNANCE", half), 200, "", nil},
		{"shortened", "GET", "/locked/o?retention&versionId=" + l1, nil, "", 200, "<RetainUntilDate>" + half.Format(time.RFC3339) + "</RetainUntilDate>", nil},
		{"governance becomes compliance, extended", "PUT", "/locked/o?retention&versionId=" + l1, nil, retentionXML("COMPLIANCE", twoHours), 200, "", nil},
		{"compliance cannot be shortened", "PUT", "/locked/o?retention&versionId=" + l1, bypass, retentionXML("COMPLIANCE", hour), 403, "<Code>AccessDenied</Code>", nil},
		{"nor made governance", "PUT", "/locked/o?retention&versionId=" + l1, bypass, retentionXML("GOVERNANCE", twoHours), 403, "<Code>AccessDenied</Code>", nil},
		{"nor lifted, bypass or not", "PUT", "/locked/o?retention&versionId=" + l1, bypass, `<Retention/>`, 403, "<Code>AccessDenied</Code>", nil},
		{"compliance kept", "GET", "/locked/o?retention&versionId=" + l1, nil, "", 200,
			"<Mode>COMPLIANCE</Mode><RetainUntilDate>" + twoHours.Format(time.RFC3339) + "</RetainUntilDate>", nil},
		{"a retained version takes tags", "PUT", "/locked/o?tagging&versionId=" + l1, nil, tagXML("t=1"), 200, "", nil},
		{"and keeps its retention", "GET", "/locked/o?retention&versionId=" + l1, nil, "", 200, "<Mode>COMPLIANCE</Mode>", nil},
		{"retention in the past", "PUT", "/locked/o?retention&versionId=" + l2, nil, retentionXML("GOVERNANCE", now.Add(-time.Hour)), 400, "<Code>InvalidArgument</Code>", nil},
		{"retention of a missing version", "PUT", "/locked/o?retention&versionId=" + missing, nil, retentionXML("GOVERNANCE", hour), 404, "<Code>NoSuchVersion</Code>", nil},
		{"retention of an empty version id", "GET", "/locked/o?retention&versionId=", nil, "", 400, "<Message>Version id cannot be the empty string</Message>", nil},
		{"legal hold of the current version by id", "PUT", "/locked/o?legal-hold&versionId=" + l2, nil, `<LegalHold><Status>ON</Status></LegalHold>`, 200, "", map[string]string{"X-Amz-Version-Id": l2}},
		{"is on", "GET", "/locked/o?legal-hold&versionId=" + l2, nil, "", 200, "<Status>ON</Status>", nil},
		{"on the current object too", "GET", "/locked/o?legal-hold", nil, "", 200, "<Status>ON</Status>", nil},
		{"and not on the old version", "GET", "/locked/o?legal-hold&versionId=" + l1, nil, "", 200, "<Status>OFF</Status>", nil},
		{"a held version cannot be deleted", "DELETE", "/locked/o?versionId=" + l2, nil, "", 403, "<Code>AccessDenied</Code>", nil},
		{"lift the hold", "PUT", "/locked/o?legal-hold&versionId=" + l2, nil, `<LegalHold><Status>OFF</Status></LegalHold>`, 200, "", nil},
		{"is off", "GET", "/locked/o?legal-hold&versionId=" + l2, nil, "", 200, "<Status>OFF</Status>", nil},
		{"bad hold status", "PUT", "/locked/o?legal-hold&versionId=" + l2, nil, `<LegalHold><Status>MAYBE</Status></LegalHold>`, 400, "<Code>MalformedXML</Code>", nil},
		{"both versions keep their bytes", "GET", "/locked/o?versionId=" + l1, nil, "", 200, "first", nil},
		{"the current one too", "GET", "/locked/o", nil, "", 200, "second", map[string]string{"X-Amz-Version-Id": l2}},
		{"the unheld version can be deleted", "DELETE", "/locked/o?versionId=" + l2, nil, "", 204, "", nil},
		{"the retained one is current now", "GET", "/locked/o", nil, "", 200, "first", map[string]string{"X-Amz-Version-Id": l1}},
	}
	for _, st := range steps {
		r := do(t, srv, st.method, st.path, st.header, st.body)
		ok := r.status == st.status
		if strings.HasPrefix(st.want, "<?xml") {
			ok = ok && r.body == st.want
		} else {
			ok = ok && strings.Contains(r.body, st.want)
		}
		if !ok {
			t.Errorf("%s: %s %s: %d %s; want %d %s", st.name, st.method, st.path, r.status, r.body, st.status, st.want)
		}
		for k, v := range st.headers {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s: header %s = %q, want %q", st.name, k, got, v)
			}
		}
	}

	// Retention and legal hold of a delete marker.
	dm2 := mustDo("DELETE", "/locked/o", nil, "", 204).header.Get("X-Amz-Version-Id")
	for _, st := range []struct{ method, path, body string }{
		{"PUT", "/locked/o?retention&versionId=" + dm2, retentionXML("GOVERNANCE", hour)},
		{"GET", "/locked/o?retention&versionId=" + dm2, ""},
		{"PUT", "/locked/o?legal-hold&versionId=" + dm2, `<LegalHold><Status>ON</Status></LegalHold>`},
		{"GET", "/locked/o?legal-hold&versionId=" + dm2, ""},
	} {
		r := do(t, srv, st.method, st.path, nil, st.body)
		if r.status != 405 || !strings.Contains(r.body, "<Code>MethodNotAllowed</Code>") || r.header.Get("X-Amz-Delete-Marker") != "true" {
			t.Errorf("%s %s of a delete marker: %d %s %v; want 405 MethodNotAllowed", st.method, st.path, r.status, r.body, r.header)
		}
	}
}
