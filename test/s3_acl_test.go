package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// ownerID is the owner id the gateway derives from an access key
// (docs/CONFIG.md, users[].id), computed here independently.
func ownerID(accessKey string) string {
	h := sha256.Sum256([]byte("twincrypt owner id v1\x00" + accessKey))
	return hex.EncodeToString(h[:])
}

// acl is the JSON aws s3api prints for get-bucket-acl and get-object-acl.
type acl struct {
	Owner  struct{ ID, DisplayName string }
	Grants []struct {
		Grantee    struct{ ID, DisplayName, Type string }
		Permission string
	}
}

// grants returns "id permission" of every grant, sorted.
func (a acl) grants() []string {
	var out []string
	for _, g := range a.Grants {
		out = append(out, g.Grantee.Type+" "+g.Grantee.ID+" "+g.Grantee.DisplayName+" "+g.Permission)
	}
	slices.Sort(out)
	return out
}

// TestUsersAndACLs runs three users against one gateway with aws cli,
// WebDAV (net/http and rclone) and the admin API: the first owns a bucket,
// bob owns another, carol may read the first one. It checks ListBuckets
// filtering and owners, the ACLs S3 reports, the canned ACLs it accepts
// and refuses, and that every refusal leaves the data as it was.
func TestUsersAndACLs(t *testing.T) {
	t.Parallel()
	const (
		bobSecret   = "bob-secret-key-e2e"
		carolSecret = "carol-secret-key-e2e"
		bucket      = "alices-bucket"
		bobs        = "bobs-bucket"
	)
	g := StartGateway(t, Setup{Local: 2, Share: true, Users: fmt.Sprintf(
		"  - access_key: bob\n    secret_key: %s\n    display_name: Bob\n"+
			"  - access_key: carol\n    secret_key: %s\n    display_name: Carol\n    grants:\n      - {bucket: %s, access: read}\n",
		bobSecret, carolSecret, bucket)})
	alice := NewAWS(t, g)
	bob := NewAWSAs(t, g, "bob", bobSecret)
	carol := NewAWSAs(t, g, "carol", carolSecret)
	aliceID, bobID, carolID := ownerID(g.AccessKey), ownerID("bob"), ownerID("carol")

	body := filepath.Join(t.TempDir(), "body.txt")
	if err := os.WriteFile(body, []byte("alice's report"), 0o600); err != nil {
		t.Fatal(err)
	}
	alice.Must("s3api", "create-bucket", "--bucket", bucket)
	alice.Must("s3api", "put-object", "--bucket", bucket, "--key", "report.txt", "--body", body, "--acl", "private")
	alice.Must("s3api", "put-object", "--bucket", bucket, "--key", "owner-full.txt", "--body", body, "--acl", "bucket-owner-full-control")
	bob.Must("s3api", "create-bucket", "--bucket", bobs)
	bob.Must("s3api", "put-object", "--bucket", bobs, "--key", "bob.txt", "--body", body)

	t.Run("list-buckets", func(t *testing.T) {
		for _, tt := range []struct {
			who        *AWS
			id, name   string
			want, hide []string
		}{
			{alice, aliceID, g.AccessKey, []string{bucket}, []string{bobs}},
			{bob, bobID, "Bob", []string{bobs}, []string{bucket}},
			{carol, carolID, "Carol", []string{bucket}, []string{bobs}},
		} {
			var out struct {
				Owner   struct{ ID, DisplayName string }
				Buckets []struct{ Name string }
			}
			r := tt.who.Must("s3api", "list-buckets")
			if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
				t.Fatalf("list-buckets: %v\n%s", err, r.Stdout)
			}
			var names []string
			for _, b := range out.Buckets {
				names = append(names, b.Name)
			}
			if out.Owner.ID != tt.id || out.Owner.DisplayName != tt.name || !slices.Equal(names, tt.want) {
				t.Errorf("list-buckets as %s: owner %+v, buckets %q; want %s %s, %q", tt.name, out.Owner, names, tt.id, tt.name, tt.want)
			}
			if strings.Contains(r.Stdout, "GoFakeS3") {
				t.Errorf("list-buckets names GoFakeS3:\n%s", r.Stdout)
			}
		}
	})

	t.Run("get-acl", func(t *testing.T) {
		want := []string{
			"CanonicalUser " + aliceID + " " + g.AccessKey + " FULL_CONTROL",
			"CanonicalUser " + carolID + " Carol READ",
		}
		slices.Sort(want)
		for _, args := range [][]string{
			{"get-bucket-acl", "--bucket", bucket},
			{"get-object-acl", "--bucket", bucket, "--key", "report.txt"},
		} {
			for _, who := range []*AWS{alice, carol} {
				var a acl
				r := who.Must(append([]string{"s3api"}, args...)...)
				if err := json.Unmarshal([]byte(r.Stdout), &a); err != nil {
					t.Fatalf("%s: %v\n%s", args[0], err, r.Stdout)
				}
				if a.Owner.ID != aliceID || !slices.Equal(a.grants(), want) {
					t.Errorf("%s: owner %s, grants %q; want %s, %q", args[0], a.Owner.ID, a.grants(), aliceID, want)
				}
			}
		}
		r := alice.Must("s3api", "get-bucket-ownership-controls", "--bucket", bucket)
		if !strings.Contains(r.Stdout, `"ObjectOwnership": "BucketOwnerEnforced"`) {
			t.Errorf("get-bucket-ownership-controls:\n%s", r.Stdout)
		}
		for _, args := range [][]string{
			{"list-objects-v2", "--bucket", bucket, "--fetch-owner"},
			{"list-objects", "--bucket", bucket},
			{"list-object-versions", "--bucket", bucket},
		} {
			r = carol.Must(append([]string{"s3api"}, args...)...)
			if !strings.Contains(r.Stdout, `"ID": "`+aliceID+`"`) || strings.Contains(r.Stdout, "GoFakeS3") {
				t.Errorf("%s: want owner %s\n%s", args[0], aliceID, r.Stdout)
			}
		}
	})

	t.Run("canned-acls", func(t *testing.T) {
		refused := []struct {
			name string
			args []string
			code string
		}{
			{"put-object public-read", []string{"put-object", "--bucket", bucket, "--key", "public.txt", "--body", body, "--acl", "public-read"}, "AccessControlListNotSupported"},
			{"put-object grant-read", []string{"put-object", "--bucket", bucket, "--key", "public.txt", "--body", body, "--grant-read", "id=" + bobID}, "AccessControlListNotSupported"},
			{"copy-object public-read", []string{"copy-object", "--bucket", bucket, "--key", "public.txt", "--copy-source", bucket + "/report.txt", "--acl", "public-read"}, "AccessControlListNotSupported"},
			{"create-multipart-upload public-read", []string{"create-multipart-upload", "--bucket", bucket, "--key", "public.txt", "--acl", "public-read"}, "AccessControlListNotSupported"},
			{"put-bucket-acl public-read", []string{"put-bucket-acl", "--bucket", bucket, "--acl", "public-read"}, "AccessControlListNotSupported"},
			{"put-object-acl authenticated-read", []string{"put-object-acl", "--bucket", bucket, "--key", "report.txt", "--acl", "authenticated-read"}, "AccessControlListNotSupported"},
			{"put-bucket-acl grant", []string{"put-bucket-acl", "--bucket", bucket, "--grant-read", "id=" + bobID}, "AccessControlListNotSupported"},
			{"create-bucket public-read", []string{"create-bucket", "--bucket", "public-bucket", "--acl", "public-read"}, "InvalidBucketAclWithObjectOwnership"},
		}
		for _, tt := range refused {
			r := alice.Run(append([]string{"s3api"}, tt.args...)...)
			if r.Err == nil || !strings.Contains(r.Stderr, "("+tt.code+")") {
				t.Errorf("%s: %v, want %s\n%s", tt.name, r.Err, tt.code, r.Stderr)
			}
			if tt.code == "AccessControlListNotSupported" && !strings.Contains(r.Stderr, "The bucket does not allow ACLs") {
				t.Errorf("%s: message\n%s", tt.name, r.Stderr)
			}
		}
		for _, args := range [][]string{
			{"put-bucket-acl", "--bucket", bucket, "--acl", "private"},
			{"put-object-acl", "--bucket", bucket, "--key", "report.txt", "--acl", "bucket-owner-full-control"},
			{"create-bucket", "--bucket", "private-bucket", "--acl", "private"},
		} {
			alice.Must(append([]string{"s3api"}, args...)...)
		}
		if r := alice.Run("s3api", "head-object", "--bucket", bucket, "--key", "public.txt"); r.Err == nil {
			t.Error("a refused put-object stored public.txt")
		}
		if r := alice.Run("s3api", "head-bucket", "--bucket", "public-bucket"); r.Err == nil {
			t.Error("a refused create-bucket made public-bucket")
		}
	})

	t.Run("refusals", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			who  *AWS
			args []string
			code string
		}{
			{"bob get-object", bob, []string{"get-object", "--bucket", bucket, "--key", "report.txt", filepath.Join(t.TempDir(), "out")}, "AccessDenied"},
			{"bob head-object", bob, []string{"head-object", "--bucket", bucket, "--key", "report.txt"}, "403"},
			{"bob put-object", bob, []string{"put-object", "--bucket", bucket, "--key", "bobs.txt", "--body", body}, "AccessDenied"},
			{"bob list-objects-v2", bob, []string{"list-objects-v2", "--bucket", bucket}, "AccessDenied"},
			{"bob delete-object", bob, []string{"delete-object", "--bucket", bucket, "--key", "report.txt"}, "AccessDenied"},
			{"bob delete-objects", bob, []string{"delete-objects", "--bucket", bucket, "--delete", `{"Objects":[{"Key":"report.txt"}]}`}, "AccessDenied"},
			{"bob copy-object out", bob, []string{"copy-object", "--bucket", bobs, "--key", "stolen.txt", "--copy-source", bucket + "/report.txt"}, "AccessDenied"},
			{"bob delete-bucket", bob, []string{"delete-bucket", "--bucket", bucket}, "AccessDenied"},
			{"bob get-bucket-acl", bob, []string{"get-bucket-acl", "--bucket", bucket}, "AccessDenied"},
			{"bob put-bucket-tagging", bob, []string{"put-bucket-tagging", "--bucket", bucket, "--tagging", `{"TagSet":[{"Key":"k","Value":"v"}]}`}, "AccessDenied"},
			{"bob create-bucket taken", bob, []string{"create-bucket", "--bucket", bucket}, "BucketAlreadyExists"},
			{"alice create-bucket again", alice, []string{"create-bucket", "--bucket", bucket}, "BucketAlreadyOwnedByYou"},
			{"carol put-object", carol, []string{"put-object", "--bucket", bucket, "--key", "carols.txt", "--body", body}, "AccessDenied"},
			{"carol delete-object", carol, []string{"delete-object", "--bucket", bucket, "--key", "report.txt"}, "AccessDenied"},
			{"carol put-bucket-acl", carol, []string{"put-bucket-acl", "--bucket", bucket, "--acl", "private"}, "AccessDenied"},
			{"carol create-multipart-upload", carol, []string{"create-multipart-upload", "--bucket", bucket, "--key", "mp"}, "AccessDenied"},
		} {
			r := tt.who.Run(append([]string{"s3api"}, tt.args...)...)
			if r.Err == nil || !strings.Contains(r.Stderr, tt.code) {
				t.Errorf("%s: %v, want %s\n%s%s", tt.name, r.Err, tt.code, r.Stdout, r.Stderr)
			}
		}
		// carol may read.
		out := filepath.Join(t.TempDir(), "out")
		carol.Must("s3api", "get-object", "--bucket", bucket, "--key", "report.txt", out)
		if b, err := os.ReadFile(out); err != nil || string(b) != "alice's report" {
			t.Errorf("carol's get-object: %q, %v", b, err)
		}
		r := carol.Must("s3api", "list-objects-v2", "--bucket", bucket)
		if !strings.Contains(r.Stdout, `"Key": "report.txt"`) {
			t.Errorf("carol's list-objects-v2:\n%s", r.Stdout)
		}
		// Nothing refused changed anything.
		r = alice.Must("s3api", "list-objects-v2", "--bucket", bucket)
		for _, k := range []string{"bobs.txt", "carols.txt", "public.txt"} {
			if strings.Contains(r.Stdout, k) {
				t.Errorf("%s stored by a refused request:\n%s", k, r.Stdout)
			}
		}
		if !strings.Contains(r.Stdout, `"Key": "report.txt"`) {
			t.Errorf("report.txt gone after refused deletes:\n%s", r.Stdout)
		}
		if r := bob.Run("s3api", "head-object", "--bucket", bobs, "--key", "stolen.txt"); r.Err == nil {
			t.Error("bob copied alice's object out")
		}
	})

	t.Run("webdav", func(t *testing.T) {
		bobDAV := NewDAVAs(t, g, "bob", bobSecret)
		carolDAV := NewDAVAs(t, g, "carol", carolSecret)
		_, root := bobDAV.Must(207, "PROPFIND", "/", nil, "Depth", "1")
		if strings.Contains(string(root), bucket) || !strings.Contains(string(root), "/"+bobs+"/") {
			t.Errorf("bob's WebDAV root:\n%s", root)
		}
		bobDAV.Must(http.StatusForbidden, "GET", "/"+bucket+"/report.txt", nil)
		bobDAV.Must(http.StatusForbidden, "PROPFIND", "/"+bucket+"/", nil, "Depth", "1")
		bobDAV.Must(http.StatusForbidden, "PUT", "/"+bucket+"/bob.txt", strings.NewReader("x"))
		bobDAV.Must(http.StatusForbidden, "DELETE", "/"+bucket+"/report.txt", nil)
		_, got := carolDAV.Must(http.StatusOK, "GET", "/"+bucket+"/report.txt", nil)
		if string(got) != "alice's report" {
			t.Errorf("carol's WebDAV GET: %q", got)
		}
		carolDAV.Must(207, "PROPFIND", "/"+bucket+"/", nil, "Depth", "1")
		carolDAV.Must(http.StatusForbidden, "PUT", "/"+bucket+"/carol.txt", strings.NewReader("x"))
		carolDAV.Must(http.StatusForbidden, "MKCOL", "/"+bucket+"/dir", nil)
		carolDAV.Must(http.StatusForbidden, "MOVE", "/"+bucket+"/report.txt", nil, "Destination", carolDAV.URL("/"+bucket+"/moved.txt"))
		carolDAV.Must(http.StatusForbidden, "LOCK", "/"+bucket+"/report.txt",
			strings.NewReader(`<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`))

		// rclone's WebDAV remote sees the same.
		rc := NewRclone(t, g)
		remote := func(user, secret, path string) string {
			obscured := strings.TrimSpace(rc.Must("obscure", secret).Stdout)
			return ":webdav,url='http://" + g.DAVAddr + "/',user=" + user + ",pass=" + obscured + ",vendor=other:" + path
		}
		if r := rc.Must("lsf", remote("bob", bobSecret, "")); strings.TrimSpace(r.Stdout) != bobs+"/" {
			t.Errorf("rclone lsf as bob: %q, want %q", r.Stdout, bobs+"/")
		}
		if r := rc.Run("lsf", remote("bob", bobSecret, bucket)); r.Err == nil {
			t.Errorf("rclone lsf of alice's bucket as bob succeeded:\n%s", r.Stdout)
		}
		if r := rc.Must("cat", remote("carol", carolSecret, bucket+"/report.txt")); r.Stdout != "alice's report" {
			t.Errorf("rclone cat as carol: %q", r.Stdout)
		}
		if r := rc.Run("copyto", body, remote("carol", carolSecret, bucket+"/rclone.txt")); r.Err == nil {
			t.Error("rclone copyto alice's bucket as carol succeeded")
		}
		if r := alice.Run("s3api", "head-object", "--bucket", bucket, "--key", "rclone.txt"); r.Err == nil {
			t.Error("carol's refused WebDAV upload was stored")
		}
	})

	t.Run("admin-api", func(t *testing.T) {
		curl := testenv.Tool(t, "curl")
		api := "http://" + g.AdminAddr + "/api/v1/"
		call := func(user, secret, method, path, data string) (string, string) {
			args := []string{"-s", "-w", "\n%{http_code}", "-X", method, api + path, "--aws-sigv4", "aws:amz:us-east-1:s3", "--user", user + ":" + secret}
			if data != "" {
				args = append(args, "-H", "Content-Type: application/json", "-d", data)
			}
			out := run(t, cleanEnv(), "", curl, args...).must(t, "curl "+method+" "+path).Stdout
			i := strings.LastIndexByte(out, '\n')
			return strings.TrimSpace(out[i+1:]), strings.TrimSpace(out[:max(i, 0)])
		}
		target := `{"target": "` + bucket + `/report.txt"}`
		if code, body := call("bob", bobSecret, "POST", "shares", target); code != "403" || !strings.Contains(body, "access denied") {
			t.Errorf("bob shares alice's file: %s %s", code, body)
		}
		if code, body := call("bob", bobSecret, "POST", "run", `{"args": ["scrub"]}`); code != "403" || !strings.Contains(body, "administrator") {
			t.Errorf("bob runs a command: %s %s", code, body)
		}
		code, body := call("carol", carolSecret, "POST", "shares", target)
		if code != "201" || !strings.Contains(body, g.ShareURL()+"/s/") {
			t.Fatalf("carol shares a file she may read: %s %s", code, body)
		}
		var created struct{ Share struct{ ID string } }
		if err := json.Unmarshal([]byte(body), &created); err != nil || created.Share.ID == "" {
			t.Fatalf("share answer: %v\n%s", err, body)
		}
		if code, body := call("bob", bobSecret, "GET", "shares", ""); code != "200" || strings.Contains(body, created.Share.ID) {
			t.Errorf("bob lists shares: %s %s", code, body)
		}
		if code, body := call("carol", carolSecret, "DELETE", "shares/"+created.Share.ID, ""); code != "403" {
			t.Errorf("carol revokes with read access only: %s %s", code, body)
		}
		if code, body := call(g.AccessKey, g.SecretKey, "GET", "shares", ""); code != "200" || !strings.Contains(body, created.Share.ID) {
			t.Errorf("the administrator lists shares: %s %s", code, body)
		}
		// The command line signs as the administrator.
		if out, err := g.Run("share", "create", "-c", g.Config, bobs+"/"); err != nil || !strings.Contains(out, g.ShareURL()+"/s/") {
			t.Errorf("share create of bob's bucket by the administrator: %v\n%s", err, out)
		}
	})
}
