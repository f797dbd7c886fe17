package s3api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/s3api"
	"github.com/twincrypt/twincrypt/internal/testns"
)

// The users of the ACL tests: the test user owns "unit"; bob owns nothing
// of it; carol may read it.
var (
	ownerID = strings.Repeat("0a", 32)
	bobID   = strings.Repeat("0b", 32)
	carolID = strings.Repeat("0c", 32)
	aclKeys = map[string]string{accessKey: secretKey, "bob": "bob-secret-key", "carol": "carol-secret-key"}
)

// newACLServer serves a namespace with the three users; the test user
// has made "unit" and put "doc" in it.
func newACLServer(t *testing.T) *httptest.Server {
	t.Helper()
	ns := testns.New(t, testns.Options{Users: []gateway.User{
		{AccessKey: accessKey, ID: ownerID, DisplayName: "Owner"},
		{AccessKey: "bob", ID: bobID, DisplayName: "Bob"},
		{AccessKey: "carol", ID: carolID, DisplayName: "Carol", Grants: map[string]gateway.Access{"unit": gateway.AccessRead}},
	}}).NS
	srv := httptest.NewServer(s3api.New(ns, s3api.Options{Users: aclKeys}))
	t.Cleanup(srv.Close)
	for _, r := range []struct{ method, path, body string }{{"PUT", "/unit", ""}, {"PUT", "/unit/doc", "the document"}} {
		if got := do(t, srv, r.method, r.path, nil, r.body); got.status != http.StatusOK {
			t.Fatalf("%s %s: %d %s", r.method, r.path, got.status, got.body)
		}
	}
	return srv
}

// TestUsersAndACLs checks what each user may do to a bucket and what the
// ACL operations answer.
func TestUsersAndACLs(t *testing.T) {
	srv := newACLServer(t)
	tests := []struct {
		name, user, method, path string
		header                   map[string]string
		body                     string
		status                   int
		want, notWant            []string
	}{
		{name: "owner lists buckets", user: accessKey, method: "GET", path: "/", status: 200,
			want: []string{"<Name>unit</Name>", "<Owner><ID>" + ownerID + "</ID><DisplayName>Owner</DisplayName></Owner>"}, notWant: []string{"GoFakeS3"}},
		{name: "stranger lists buckets", user: "bob", method: "GET", path: "/", status: 200,
			want: []string{"<ID>" + bobID + "</ID>", "<Buckets></Buckets>"}, notWant: []string{"unit"}},
		{name: "grantee lists buckets", user: "carol", method: "GET", path: "/", status: 200,
			want: []string{"<Name>unit</Name>", "<ID>" + carolID + "</ID>"}},
		{name: "bucket acl", user: accessKey, method: "GET", path: "/unit?acl", status: 200,
			want: []string{"<Owner><ID>" + ownerID + "</ID>", `xsi:type="CanonicalUser"><ID>` + ownerID + "</ID><DisplayName>Owner</DisplayName></Grantee><Permission>FULL_CONTROL</Permission>",
				"<ID>" + carolID + "</ID><DisplayName>Carol</DisplayName></Grantee><Permission>READ</Permission>"},
			notWant: []string{"WRITE", bobID}},
		{name: "object acl", user: "carol", method: "GET", path: "/unit/doc?acl", status: 200,
			want: []string{"<Owner><ID>" + ownerID + "</ID>", "FULL_CONTROL", "<Permission>READ</Permission>"}},
		{name: "object acl of a missing key", user: accessKey, method: "GET", path: "/unit/missing?acl", status: 404, want: []string{"NoSuchKey"}},
		{name: "ownership controls", user: accessKey, method: "GET", path: "/unit?ownershipControls", status: 200,
			want: []string{"<Rule><ObjectOwnership>BucketOwnerEnforced</ObjectOwnership></Rule>"}},
		{name: "listing owner", user: "carol", method: "GET", path: "/unit?list-type=2&fetch-owner=true", status: 200,
			want: []string{"<Owner><ID>" + ownerID + "</ID><DisplayName>Owner</DisplayName></Owner>"}, notWant: []string{"GoFakeS3"}},
		{name: "version listing owner", user: "carol", method: "GET", path: "/unit?versions", status: 200,
			want: []string{"<Key>doc</Key>", "<Owner><ID>" + ownerID + "</ID><DisplayName>Owner</DisplayName></Owner>"}, notWant: []string{"GoFakeS3", "fe7272ea"}},
		{name: "stranger lists versions", user: "bob", method: "GET", path: "/unit?versions", status: 403, want: []string{"AccessDenied"}},
		{name: "v1 listing owner", user: accessKey, method: "GET", path: "/unit", status: 200,
			want: []string{"<ID>" + ownerID + "</ID>"}, notWant: []string{"GoFakeS3"}},

		{name: "stranger gets", user: "bob", method: "GET", path: "/unit/doc", status: 403, want: []string{"<Code>AccessDenied</Code>"}},
		{name: "stranger heads bucket", user: "bob", method: "HEAD", path: "/unit", status: 403},
		{name: "stranger lists", user: "bob", method: "GET", path: "/unit?list-type=2", status: 403, want: []string{"AccessDenied"}},
		{name: "stranger puts", user: "bob", method: "PUT", path: "/unit/x", body: "x", status: 403, want: []string{"AccessDenied"}},
		{name: "stranger deletes", user: "bob", method: "DELETE", path: "/unit/doc", status: 403, want: []string{"AccessDenied"}},
		{name: "stranger deletes bucket", user: "bob", method: "DELETE", path: "/unit", status: 403, want: []string{"AccessDenied"}},
		{name: "stranger reads acl", user: "bob", method: "GET", path: "/unit?acl", status: 403, want: []string{"AccessDenied"}},
		{name: "stranger starts upload", user: "bob", method: "POST", path: "/unit/mp?uploads", status: 403, want: []string{"AccessDenied"}},
		{name: "stranger copies out", user: "bob", method: "PUT", path: "/unit/copy", header: map[string]string{"X-Amz-Copy-Source": "/unit/doc"}, status: 403},
		{name: "stranger takes the name", user: "bob", method: "PUT", path: "/unit", status: 409, want: []string{"<Code>BucketAlreadyExists</Code>"}},
		{name: "owner makes it again", user: accessKey, method: "PUT", path: "/unit", status: 409, want: []string{"<Code>BucketAlreadyOwnedByYou</Code>"}},

		{name: "grantee reads", user: "carol", method: "GET", path: "/unit/doc", status: 200, want: []string{"the document"}},
		{name: "grantee lists", user: "carol", method: "GET", path: "/unit?list-type=2", status: 200, want: []string{"<Key>doc</Key>"}},
		{name: "grantee puts", user: "carol", method: "PUT", path: "/unit/y", body: "y", status: 403, want: []string{"AccessDenied"}},
		{name: "grantee deletes", user: "carol", method: "DELETE", path: "/unit/doc", status: 403, want: []string{"AccessDenied"}},
		{name: "grantee sets bucket acl", user: "carol", method: "PUT", path: "/unit?acl", header: map[string]string{"X-Amz-Acl": "private"}, status: 403},
		{name: "grantee tags bucket", user: "carol", method: "PUT", path: "/unit?tagging", body: "<Tagging><TagSet></TagSet></Tagging>", status: 403},

		{name: "public-read object", user: accessKey, method: "PUT", path: "/unit/a", header: map[string]string{"X-Amz-Acl": "public-read"}, body: "a", status: 400,
			want: []string{"<Code>AccessControlListNotSupported</Code><Message>The bucket does not allow ACLs</Message>"}},
		{name: "grant header", user: accessKey, method: "PUT", path: "/unit/a", header: map[string]string{"X-Amz-Grant-Read": `id="` + bobID + `"`}, body: "a", status: 400,
			want: []string{"AccessControlListNotSupported"}},
		{name: "public-read upload", user: accessKey, method: "POST", path: "/unit/mp?uploads", header: map[string]string{"X-Amz-Acl": "public-read-write"}, status: 400,
			want: []string{"AccessControlListNotSupported"}},
		{name: "public-read copy", user: accessKey, method: "PUT", path: "/unit/c", header: map[string]string{"X-Amz-Copy-Source": "/unit/doc", "X-Amz-Acl": "authenticated-read"}, status: 400,
			want: []string{"AccessControlListNotSupported"}},
		{name: "public-read bucket", user: accessKey, method: "PUT", path: "/newbucket", header: map[string]string{"X-Amz-Acl": "public-read"}, status: 400,
			want: []string{"<Code>InvalidBucketAclWithObjectOwnership</Code>"}},
		{name: "public-read bucket acl", user: accessKey, method: "PUT", path: "/unit?acl", header: map[string]string{"X-Amz-Acl": "public-read"}, status: 400,
			want: []string{"AccessControlListNotSupported"}},
		{name: "private object", user: accessKey, method: "PUT", path: "/unit/a", header: map[string]string{"X-Amz-Acl": "private"}, body: "a", status: 200},
		{name: "bucket-owner-full-control object", user: accessKey, method: "PUT", path: "/unit/b", header: map[string]string{"X-Amz-Acl": "bucket-owner-full-control"}, body: "b", status: 200},
		{name: "private bucket acl", user: accessKey, method: "PUT", path: "/unit?acl", header: map[string]string{"X-Amz-Acl": "private"}, status: 200},
		{name: "private object acl", user: accessKey, method: "PUT", path: "/unit/doc?acl", header: map[string]string{"X-Amz-Acl": "private"}, status: 200},
		{name: "private new bucket", user: accessKey, method: "PUT", path: "/private-bucket", header: map[string]string{"X-Amz-Acl": "private"}, status: 200},
		{name: "acl body granting more", user: accessKey, method: "PUT", path: "/unit?acl", status: 400, want: []string{"AccessControlListNotSupported"},
			body: `<AccessControlPolicy><Owner><ID>` + ownerID + `</ID></Owner><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>`},
		{name: "malformed acl body", user: accessKey, method: "PUT", path: "/unit?acl", body: "<AccessControlPolicy", status: 400, want: []string{"MalformedACLError"}},
		{name: "ownership controls other than enforced", user: accessKey, method: "PUT", path: "/unit?ownershipControls", status: 400,
			body: "<OwnershipControls><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule></OwnershipControls>", want: []string{"BucketOwnerEnforced"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := doAs(t, srv, tt.user, aclKeys[tt.user], tt.method, tt.path, tt.header, tt.body)
			if got.status != tt.status {
				t.Errorf("status %d, want %d: %s", got.status, tt.status, got.body)
			}
			for _, w := range tt.want {
				if !strings.Contains(got.body, w) {
					t.Errorf("body lacks %q:\n%s", w, got.body)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got.body, w) {
					t.Errorf("body holds %q:\n%s", w, got.body)
				}
			}
		})
	}
	// Putting back the ACL that GetBucketAcl shows is accepted.
	acl := do(t, srv, "GET", "/unit?acl", nil, "")
	if got := do(t, srv, "PUT", "/unit?acl", nil, acl.body); got.status != http.StatusOK {
		t.Errorf("put back the bucket's own ACL: %d %s", got.status, got.body)
	}
	// The refused writes wrote nothing.
	for _, key := range []string{"x", "y", "a-public"} {
		if got := do(t, srv, "HEAD", "/unit/"+key, nil, ""); got.status != http.StatusNotFound {
			t.Errorf("HEAD %s: %d after a refused write", key, got.status)
		}
	}
	if got := do(t, srv, "GET", "/unit/doc", nil, ""); got.body != "the document" {
		t.Errorf("doc after refused deletes: %d %q", got.status, got.body)
	}
	if got := do(t, srv, "HEAD", "/newbucket", nil, ""); got.status != http.StatusNotFound {
		t.Errorf("bucket made with a refused ACL: HEAD %d", got.status)
	}
}
