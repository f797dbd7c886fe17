package s3api_test

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestVersionsRaw checks, with raw signed requests, the answers of the
// version and object-lock routes that clients hide: status codes, error
// codes, headers.
func TestVersionsRaw(t *testing.T) {
	_, srv := newServer(t)
	until := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	lockBody := `<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>1</Days></DefaultRetention></Rule></ObjectLockConfiguration>`
	if r := do(t, srv, "PUT", "/locked", map[string]string{"X-Amz-Bucket-Object-Lock-Enabled": "true"}, ""); r.status != 200 {
		t.Fatalf("create object-lock bucket: %d %s", r.status, r.body)
	}
	if r := do(t, srv, "PUT", "/locked?object-lock", nil, lockBody); r.status != 200 {
		t.Fatalf("put object-lock configuration: %d %s", r.status, r.body)
	}
	if r := do(t, srv, "PUT", "/unit?versioning", nil, `<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>`); r.status != 200 {
		t.Fatalf("enable versioning: %d %s", r.status, r.body)
	}
	put := do(t, srv, "PUT", "/unit/k", nil, "body")
	vid := put.header.Get("X-Amz-Version-Id")
	if put.status != 200 || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(vid) {
		t.Fatalf("PUT in a versioned bucket: %d, version %q", put.status, vid)
	}
	del := do(t, srv, "DELETE", "/unit/k", nil, "")
	marker := del.header.Get("X-Amz-Version-Id")
	if del.status != 204 || del.header.Get("X-Amz-Delete-Marker") != "true" || marker == "" {
		t.Fatalf("DELETE: %d %v", del.status, del.header)
	}
	tests := []struct {
		name, method, path string
		header             map[string]string
		body               string
		status             int
		code               string // in the body
		headers            map[string]string
	}{
		{"GET of a current delete marker", "GET", "/unit/k", nil, "", 404, "NoSuchKey", map[string]string{"X-Amz-Delete-Marker": "true", "X-Amz-Version-Id": marker}},
		{"GET of a delete marker by ID", "GET", "/unit/k?versionId=" + marker, nil, "", 405, "MethodNotAllowed", map[string]string{"X-Amz-Delete-Marker": "true", "X-Amz-Version-Id": marker}},
		{"GET of an old version", "GET", "/unit/k?versionId=" + vid, nil, "", 200, "", map[string]string{"X-Amz-Version-Id": vid}},
		{"GET of a missing version", "GET", "/unit/k?versionId=0123456789abcdef0123456789abcdef", nil, "", 404, "NoSuchVersion", nil},
		{"GET of a malformed version", "GET", "/unit/k?versionId=../../x", nil, "", 400, "InvalidArgument", nil},
		{"empty version id", "GET", "/unit/k?versionId=", nil, "", 400, "InvalidArgument", nil},
		{"tagging of a version", "GET", "/unit/k?tagging&versionId=" + vid, nil, "", 200, "<TagSet></TagSet>", map[string]string{"X-Amz-Version-Id": vid}},
		{"versions listing", "GET", "/unit?versions", nil, "", 200, "<DeleteMarker><Key>k</Key><VersionId>" + marker + "</VersionId><IsLatest>true</IsLatest>", nil},
		{"bad max-keys", "GET", "/unit?versions&max-keys=x", nil, "", 400, "InvalidArgument", nil},
		{"versioning off", "PUT", "/unit?versioning", nil, `<VersioningConfiguration><Status>Off</Status></VersioningConfiguration>`, 400, "IllegalVersioningConfigurationException", nil},
		{"malformed versioning", "PUT", "/unit?versioning", nil, `<Versioning`, 400, "MalformedXML", nil},
		{"suspend an object-lock bucket", "PUT", "/locked?versioning", nil, `<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>`, 409, "InvalidBucketState", nil},
		{"lock configuration of a plain bucket", "GET", "/unit?object-lock", nil, "", 404, "ObjectLockConfigurationNotFoundError", nil},
		{"lock configuration on a plain bucket", "PUT", "/unit?object-lock", nil, lockBody, 409, "InvalidBucketState", nil},
		{"lock headers in a plain bucket", "PUT", "/unit/x", map[string]string{"X-Amz-Object-Lock-Legal-Hold": "ON", "Content-Md5": "ndTkYSaMgDT1yFZOFVxnpg=="}, "x", 400, "Bucket is missing Object Lock Configuration", nil},
		{"a locking PUT without a checksum", "PUT", "/locked/x", nil, "x", 400, "Content-MD5 OR x-amz-checksum-", nil},
		{"unknown lock mode", "PUT", "/locked/x", map[string]string{"X-Amz-Object-Lock-Mode": "FOREVER", "X-Amz-Object-Lock-Retain-Until-Date": until}, "x", 400, "InvalidArgument", nil},
		{"a mode without a date", "PUT", "/locked/x", map[string]string{"X-Amz-Object-Lock-Mode": "COMPLIANCE"}, "x", 400, "InvalidArgument", nil},
		{"retention of a plain bucket's object", "GET", "/unit/k?retention&versionId=" + vid, nil, "", 400, "InvalidRequest", nil},
		{"a lifecycle Expiration rule", "PUT", "/unit?lifecycle", nil, `<LifecycleConfiguration><Rule><Status>Enabled</Status><Filter><Prefix></Prefix></Filter><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>`, 501, "NotImplemented", nil},
		{"a lifecycle tag filter", "PUT", "/unit?lifecycle", nil, `<LifecycleConfiguration><Rule><Status>Enabled</Status><Filter><Tag><Key>a</Key><Value>b</Value></Tag></Filter><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration></Rule></LifecycleConfiguration>`, 501, "NotImplemented", nil},
		{"no lifecycle", "GET", "/unit?lifecycle", nil, "", 404, "NoSuchLifecycleConfiguration", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, srv, tt.method, tt.path, tt.header, tt.body)
			if r.status != tt.status || (tt.code != "" && !strings.Contains(r.body, tt.code)) {
				t.Errorf("%s %s: %d %s; want %d %s", tt.method, tt.path, r.status, r.body, tt.status, tt.code)
			}
			for k, v := range tt.headers {
				if got := r.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestDeleteNullVersionUnversionedBucket: in a bucket that never had
// versioning, DELETE ?versionId=null deletes the object (204), answers
// 204 when the key is not there, as S3 does, and leaves the key an
// ordinary object that can be written, tagged and deleted again.
func TestDeleteNullVersionUnversionedBucket(t *testing.T) {
	_, srv := newServer(t)
	do(t, srv, "PUT", "/plain", nil, "")
	do(t, srv, "PUT", "/plain/p", nil, "plain")
	for _, tc := range []struct {
		what string
		want int
	}{{"present", 204}, {"missing", 204}} {
		if r := do(t, srv, "DELETE", "/plain/p?versionId=null", nil, ""); r.status != tc.want {
			t.Errorf("DELETE ?versionId=null of a %s key: %d %s, want %d", tc.what, r.status, r.body, tc.want)
		}
	}
	if r := do(t, srv, "GET", "/plain/p", nil, ""); r.status != 404 {
		t.Errorf("GET after DELETE ?versionId=null: %d, want 404", r.status)
	}
	for _, req := range []struct{ method, path, body string }{
		{"PUT", "/plain/p", "again"},
		{"PUT", "/plain/p?tagging", `<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>`},
		{"DELETE", "/plain/p", ""},
	} {
		if r := do(t, srv, req.method, req.path, nil, req.body); r.status/100 != 2 {
			t.Errorf("%s %s after DELETE ?versionId=null: %d %s", req.method, req.path, r.status, r.body)
		}
	}
}
