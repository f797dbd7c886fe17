package dav_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/dav"
	"github.com/twincrypt/twincrypt/internal/testns"
)

// TestUserAccess checks that WebDAV logins are the namespace's users: the
// root lists one's own and granted buckets, another user's bucket is
// refused, and a read grant allows reading only.
func TestUserAccess(t *testing.T) {
	logins := map[string]string{"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}
	ns := testns.New(t, testns.Options{Users: []gateway.User{
		{AccessKey: "alice", ID: strings.Repeat("a1", 32), DisplayName: "Alice"},
		{AccessKey: "bob", ID: strings.Repeat("b2", 32), DisplayName: "Bob"},
		{AccessKey: "carol", ID: strings.Repeat("c3", 32), DisplayName: "Carol", Grants: map[string]gateway.Access{"alices": gateway.AccessRead}},
	}}).NS
	srv := httptest.NewServer(dav.New(ns, dav.Options{Users: logins}))
	t.Cleanup(srv.Close)
	do := func(user, method, path, body string, hdr ...string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(user, logins[user])
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, s := range []struct{ user, method, path, body string }{
		{"alice", "MKCOL", "/alices", ""}, {"alice", "PUT", "/alices/doc.txt", "alice's text"}, {"bob", "MKCOL", "/bobs", ""},
	} {
		if code, body := do(s.user, s.method, s.path, s.body); code != http.StatusCreated {
			t.Fatalf("%s %s as %s: %d %s", s.method, s.path, s.user, code, body)
		}
	}
	lock := `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`
	tests := []struct {
		name, user, method, path, body string
		hdr                            []string
		status                         int
		want, notWant                  []string
	}{
		{name: "owner's root", user: "alice", method: "PROPFIND", path: "/", hdr: []string{"Depth", "1"}, status: 207,
			want: []string{"/alices/"}, notWant: []string{"/bobs/"}},
		{name: "stranger's root", user: "bob", method: "PROPFIND", path: "/", hdr: []string{"Depth", "1"}, status: 207,
			want: []string{"/bobs/"}, notWant: []string{"/alices/"}},
		{name: "grantee's root", user: "carol", method: "PROPFIND", path: "/", hdr: []string{"Depth", "1"}, status: 207,
			want: []string{"/alices/"}, notWant: []string{"/bobs/"}},

		{name: "stranger gets", user: "bob", method: "GET", path: "/alices/doc.txt", status: 403, notWant: []string{"alice's text"}},
		{name: "stranger lists", user: "bob", method: "PROPFIND", path: "/alices/", hdr: []string{"Depth", "1"}, status: 403, notWant: []string{"doc.txt"}},
		{name: "stranger puts", user: "bob", method: "PUT", path: "/alices/new.txt", body: "x", status: 403},
		{name: "stranger deletes", user: "bob", method: "DELETE", path: "/alices/doc.txt", status: 403},
		{name: "stranger deletes bucket", user: "bob", method: "DELETE", path: "/alices", status: 403},
		{name: "stranger moves out", user: "bob", method: "MOVE", path: "/alices/doc.txt", hdr: []string{"Destination", srv.URL + "/bobs/doc.txt"}, status: 403},
		{name: "stranger copies out", user: "bob", method: "COPY", path: "/alices/doc.txt", hdr: []string{"Destination", srv.URL + "/bobs/doc.txt"}, status: 403},
		{name: "stranger copies in", user: "bob", method: "COPY", path: "/bobs", hdr: []string{"Destination", srv.URL + "/alices/bobs"}, status: 403},
		{name: "stranger makes the bucket", user: "bob", method: "MKCOL", path: "/alices", status: 403},

		{name: "grantee gets", user: "carol", method: "GET", path: "/alices/doc.txt", status: 200, want: []string{"alice's text"}},
		{name: "grantee lists", user: "carol", method: "PROPFIND", path: "/alices/", hdr: []string{"Depth", "1"}, status: 207, want: []string{"doc.txt"}},
		{name: "grantee puts", user: "carol", method: "PUT", path: "/alices/new.txt", body: "x", status: 403},
		{name: "grantee deletes", user: "carol", method: "DELETE", path: "/alices/doc.txt", status: 403},
		{name: "grantee makes a directory", user: "carol", method: "MKCOL", path: "/alices/dir", status: 403},
		{name: "grantee moves", user: "carol", method: "MOVE", path: "/alices/doc.txt", hdr: []string{"Destination", srv.URL + "/alices/moved.txt"}, status: 403},
		{name: "grantee copies within", user: "carol", method: "COPY", path: "/alices/doc.txt", hdr: []string{"Destination", srv.URL + "/alices/copy.txt"}, status: 403},
		{name: "grantee sets a property", user: "carol", method: "PROPPATCH", path: "/alices/doc.txt", status: 403,
			body: `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:p>v</Z:p></D:prop></D:set></D:propertyupdate>`},
		{name: "grantee locks", user: "carol", method: "LOCK", path: "/alices/doc.txt", body: lock, status: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(tt.user, tt.method, tt.path, tt.body, tt.hdr...)
			if code != tt.status {
				t.Errorf("status %d, want %d: %s", code, tt.status, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(body, w) {
					t.Errorf("body holds %q:\n%s", w, body)
				}
			}
		})
	}
	// Nothing the refused requests asked for happened.
	if code, body := do("alice", "GET", "/alices/doc.txt", ""); code != 200 || body != "alice's text" {
		t.Errorf("doc.txt after refusals: %d %q", code, body)
	}
	for _, p := range []string{"/alices/new.txt", "/alices/moved.txt", "/alices/copy.txt", "/alices/bobs", "/bobs/doc.txt"} {
		owner := "alice"
		if strings.HasPrefix(p, "/bobs") {
			owner = "bob"
		}
		if code, _ := do(owner, "GET", p, ""); code != http.StatusNotFound {
			t.Errorf("GET %s: %d after a refused write", p, code)
		}
	}
}
