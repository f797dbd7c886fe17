package s3api_test

import (
	"encoding/xml"
	"testing"
)

// TestSubresourceMethods checks the answers to methods an object
// sub-resource does not take (?attributes is GetObjectAttributes only) and
// to ACL and tagging requests on a key whose current version is a delete
// marker, as S3 gives them: status, error code and headers.
func TestSubresourceMethods(t *testing.T) {
	_, srv := newServer(t)
	setup := func(method, path, body string, status int) response {
		t.Helper()
		r := do(t, srv, method, path, nil, body)
		if r.status != status {
			t.Fatalf("%s %s: %d %s; want %d", method, path, r.status, r.body, status)
		}
		return r
	}
	setup("PUT", "/unit?versioning", `<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>`, 200)
	v := setup("PUT", "/unit/k", "live", 200).header.Get("X-Amz-Version-Id")
	setup("PUT", "/unit/gone", "x", 200)
	dm := setup("DELETE", "/unit/gone", "", 204).header.Get("X-Amz-Version-Id")
	setup("PUT", "/plain", "", 200)
	setup("PUT", "/plain/p", "plain", 200)
	if v == "" || dm == "" {
		t.Fatalf("version ids %q %q", v, dm)
	}
	attrs := map[string]string{"X-Amz-Object-Attributes": "ETag"}
	private := map[string]string{"X-Amz-Acl": "private"}
	marker := map[string]string{"X-Amz-Delete-Marker": "true", "X-Amz-Version-Id": dm}
	noMarker := map[string]string{"X-Amz-Delete-Marker": ""}
	const tags = `<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>`
	for _, tc := range []struct {
		name, method, path string
		header             map[string]string
		status             int
		code               string            // the error's Code; "" for a success
		headers            map[string]string // "" : the header is absent
		body               string
	}{
		{"DeleteObjectAttributes of a version", "DELETE", "/unit/k?attributes&versionId=" + v, attrs, 405, "MethodNotAllowed", noMarker, ""},
		{"DeleteObjectAttributes", "DELETE", "/unit/k?attributes", attrs, 405, "MethodNotAllowed", noMarker, ""},
		{"DeleteObjectAttributes of a delete marker", "DELETE", "/unit/gone?attributes&versionId=" + dm, attrs, 405, "MethodNotAllowed", noMarker, ""},
		{"DeleteObjectAttributes without versioning", "DELETE", "/plain/p?attributes", attrs, 405, "MethodNotAllowed", nil, ""},
		{"PutObjectAttributes", "PUT", "/unit/k?attributes", attrs, 405, "MethodNotAllowed", nil, ""},
		{"PutObjectAttributes of a version", "PUT", "/unit/k?attributes&versionId=" + v, attrs, 405, "MethodNotAllowed", nil, ""},
		{"PostObjectAttributes", "POST", "/unit/k?attributes", attrs, 405, "MethodNotAllowed", nil, ""},
		{"the version is still there", "GET", "/unit/k?versionId=" + v, nil, 200, "", map[string]string{"X-Amz-Version-Id": v}, ""},
		{"and still current", "GET", "/unit/k?attributes", attrs, 200, "", map[string]string{"X-Amz-Version-Id": v}, ""},
		{"the object without versioning is still there", "GET", "/plain/p", nil, 200, "", nil, ""},

		{"GetObject of a current delete marker", "GET", "/unit/gone", nil, 404, "NoSuchKey", marker, ""},
		{"GetObjectAcl of a current delete marker", "GET", "/unit/gone?acl", nil, 404, "NoSuchKey", marker, ""},
		{"PutObjectAcl of a current delete marker", "PUT", "/unit/gone?acl", private, 405, "MethodNotAllowed", marker, ""},
		{"PutObjectAcl of a delete marker by ID", "PUT", "/unit/gone?acl&versionId=" + dm, private, 405, "MethodNotAllowed", marker, ""},
		{"GetObjectAcl of a delete marker by ID", "GET", "/unit/gone?acl&versionId=" + dm, nil, 405, "MethodNotAllowed", marker, ""},
		{"PutObjectAcl of a live object", "PUT", "/unit/k?acl", private, 200, "", noMarker, ""},
		{"PutObjectAcl of a missing key", "PUT", "/unit/none?acl", private, 404, "NoSuchKey", noMarker, ""},

		{"PutObjectTagging of a current delete marker", "PUT", "/unit/gone?tagging", nil, 405, "MethodNotAllowed", marker, tags},
		{"DeleteObjectTagging of a current delete marker", "DELETE", "/unit/gone?tagging", nil, 405, "MethodNotAllowed", marker, ""},
		{"GetObjectTagging of a current delete marker", "GET", "/unit/gone?tagging", nil, 404, "NoSuchKey", marker, ""},
		{"PutObjectTagging of a delete marker by ID", "PUT", "/unit/gone?tagging&versionId=" + dm, nil, 405, "MethodNotAllowed", marker, tags},
		{"DeleteObjectTagging of a delete marker by ID", "DELETE", "/unit/gone?tagging&versionId=" + dm, nil, 405, "MethodNotAllowed", marker, ""},
		{"GetObjectTagging of a delete marker by ID", "GET", "/unit/gone?tagging&versionId=" + dm, nil, 405, "MethodNotAllowed", marker, ""},
		{"PutObjectTagging of a live object", "PUT", "/unit/k?tagging", nil, 200, "", noMarker, tags},
		{"DeleteObjectTagging of a live object", "DELETE", "/unit/k?tagging", nil, 204, "", noMarker, ""},
		{"PutObjectTagging of a missing key", "PUT", "/unit/none?tagging", nil, 404, "NoSuchKey", noMarker, tags},
		{"DeleteObjectTagging of a missing key", "DELETE", "/unit/none?tagging", nil, 404, "NoSuchKey", noMarker, ""},
		{"the marker is still current", "GET", "/unit/gone", nil, 404, "NoSuchKey", marker, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, srv, tc.method, tc.path, tc.header, tc.body)
			if r.status != tc.status {
				t.Errorf("status %d, want %d\n%s", r.status, tc.status, r.body)
			}
			if tc.code != "" {
				var e struct {
					Code string `xml:"Code"`
				}
				if err := xml.Unmarshal([]byte(r.body), &e); err != nil || e.Code != tc.code {
					t.Errorf("error code %q (%v), want %q\n%s", e.Code, err, tc.code, r.body)
				}
				if ct := r.header.Get("Content-Type"); ct != "application/xml" {
					t.Errorf("Content-Type %q, want application/xml", ct)
				}
			}
			for k, want := range tc.headers {
				if got := r.header.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
		})
	}
}
