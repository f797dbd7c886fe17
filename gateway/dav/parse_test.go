package dav

import (
	"bytes"
	"encoding/xml"
	"errors"
	"testing"
	"time"

	"golang.org/x/net/webdav"
)

func TestParseIf(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want string // formatIf of the result
	}{
		{`(<urn:a>)`, true, `(<urn:a>)`},
		{`(<urn:a> ["e1"]) (Not <DAV:no-lock> ["e1"])`, true, `(<urn:a> ["e1"]) (Not <DAV:no-lock> ["e1"])`},
		{`  (Not ["x"])  `, true, `(Not ["x"])`},
		{`<http://h/a> (<urn:a>) (["e"]) <http://h/b> (<urn:b>)`, true, `<http://h/a> (<urn:a>) <http://h/a> (["e"]) <http://h/b> (<urn:b>)`},
		{`(W/"weak")`, false, ""},
		{`([W/"weak"])`, true, `([W/"weak"])`},
		{``, false, ""},
		{`()`, false, ""},
		{`(Not)`, false, ""},
		{`(<urn:a>`, false, ""},
		{`(<urn:a) `, false, ""},
		{`(["e"`, false, ""},
		{`(<urn:a>) <http://h/b> (<urn:b>)`, false, ""},
		{`<http://h/a>`, false, ""},
		{`garbage`, false, ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			lists, ok := parseIf(tc.in)
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v (%+v)", ok, tc.ok, lists)
			}
			if ok && formatIf(lists) != tc.want {
				t.Errorf("parsed as %s, want %s", formatIf(lists), tc.want)
			}
		})
	}
}

func TestParseTimeout(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"", -1, false},
		{"Infinite", -1, false},
		{"Second-3600", time.Hour, false},
		{"Second-10, Infinite", 10 * time.Second, false},
		{"Infinite, Second-10", -1, false},
		{"Second-", 0, true},
		{"Second--1", 0, true},
		{"Second-99999999999", 0, true},
		{"Minute-3", 0, true},
	} {
		got, err := parseTimeout(tc.in)
		if (err != nil) != tc.err || (err == nil && got != tc.want) {
			t.Errorf("parseTimeout(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestPropKey(t *testing.T) {
	for _, n := range []xml.Name{{Space: "DAV:", Local: "x"}, {Space: "", Local: "plain"}, {Space: "http://a/b}c", Local: "y"}} {
		k := propKey(n)
		got, ok := parsePropKey(k)
		// A "}" in the namespace cannot round-trip; the first "}" ends it.
		if n.Space == "http://a/b}c" {
			if ok && got == n {
				t.Errorf("%q round-tripped unexpectedly", k)
			}
			continue
		}
		if !ok || got != n {
			t.Errorf("%v -> %q -> %v, %v", n, k, got, ok)
		}
	}
	for _, bad := range []string{"", "noparen", "{DAV:}", "{unclosed"} {
		if _, ok := parsePropKey(bad); ok {
			t.Errorf("parsePropKey(%q) accepted", bad)
		}
	}
}

func TestMemLocks(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	excl := func(root string, zero bool) webdav.LockDetails {
		return webdav.LockDetails{Root: root, Duration: time.Minute, ZeroDepth: zero}
	}
	type step struct {
		op     string // "x" exclusive, "s" shared
		d      webdav.LockDetails
		locked bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"shared twice", []step{{"s", excl("/a", true), false}, {"s", excl("/a", true), false}}},
		{"exclusive after shared", []step{{"s", excl("/a", true), false}, {"x", excl("/a", true), true}}},
		{"shared after exclusive", []step{{"x", excl("/a", true), false}, {"s", excl("/a", true), true}}},
		{"depth infinity covers children", []step{{"x", excl("/a", false), false}, {"x", excl("/a/b/c", true), true}}},
		{"depth 0 does not", []step{{"x", excl("/a", true), false}, {"x", excl("/a/b", true), false}}},
		{"parent over a locked child", []step{{"x", excl("/a/b", true), false}, {"x", excl("/a", false), true}}},
		{"siblings", []step{{"x", excl("/a/b", false), false}, {"x", excl("/a/bc", false), false}}},
		{"root lock", []step{{"x", excl("/", false), false}, {"s", excl("/z", true), true}}},
		{"trailing slash", []step{{"x", excl("/a/", true), false}, {"x", excl("/a", true), true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMemLocks()
			for i, s := range tc.steps {
				var err error
				if s.op == "s" {
					_, err = m.CreateShared(now, s.d)
				} else {
					_, err = m.Create(now, s.d)
				}
				if got := errors.Is(err, webdav.ErrLocked); got != s.locked || (err != nil && !got) {
					t.Fatalf("step %d: err %v, want locked %v", i, err, s.locked)
				}
			}
		})
	}

	m := NewMemLocks()
	tok, err := m.CreateShared(now, excl("/f", true))
	if err != nil || !m.IsShared(now, tok) {
		t.Fatalf("CreateShared: %q %v", tok, err)
	}
	release, err := m.Confirm(now, "/f", "", webdav.Condition{Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Confirm(now, "/f", "", webdav.Condition{Token: tok}); !errors.Is(err, webdav.ErrConfirmationFailed) {
		t.Errorf("second Confirm while held: %v", err)
	}
	if err := m.Unlock(now, tok); !errors.Is(err, webdav.ErrLocked) {
		t.Errorf("Unlock while held: %v", err)
	}
	release()
	if _, err := m.Confirm(now, "/g", "", webdav.Condition{Token: tok}); !errors.Is(err, webdav.ErrConfirmationFailed) {
		t.Errorf("Confirm of another resource: %v", err)
	}
	if _, err := m.Confirm(now, "/f", "", webdav.Condition{Token: tok, Not: true}); !errors.Is(err, webdav.ErrConfirmationFailed) {
		t.Errorf("Confirm with Not: %v", err)
	}
	if ld, err := m.Refresh(now, tok, 2*time.Minute); err != nil || ld.Duration != 2*time.Minute {
		t.Errorf("Refresh: %+v %v", ld, err)
	}
	// Expiry.
	later := now.Add(3 * time.Minute)
	if _, err := m.Refresh(later, tok, time.Minute); !errors.Is(err, webdav.ErrNoSuchLock) {
		t.Errorf("Refresh after expiry: %v", err)
	}
	if _, err := m.Create(later, excl("/f", true)); err != nil {
		t.Errorf("Create after expiry: %v", err)
	}
	if err := m.Unlock(later, "opaquelocktoken:nope"); !errors.Is(err, webdav.ErrNoSuchLock) {
		t.Errorf("Unlock of an unknown token: %v", err)
	}
	inf, err := m.Create(later, webdav.LockDetails{Root: "/forever", Duration: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Refresh(later.Add(1000*time.Hour), inf, -1); err != nil {
		t.Errorf("infinite lock expired: %v", err)
	}
}

func TestCheckNamespaces(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`, true},
		{`<propfind xmlns="DAV:"><prop><x xmlns=""/></prop></propfind>`, true},
		{`<D:propfind xmlns:D="DAV:"><D:prop><bar:foo xmlns:bar=""/></D:prop></D:propfind>`, false},
		{`<D:propfind xmlns:D="DAV:"><unclosed>`, false},
		{``, true},
	} {
		if err := checkNamespaces([]byte(tc.body)); (err == nil) != tc.ok {
			t.Errorf("checkNamespaces(%q) = %v, want ok %v", tc.body, err, tc.ok)
		}
	}
}

func TestRewriter(t *testing.T) {
	const in = "xxABCyyABABCzzAB"
	for _, size := range []int{1, 2, 3, 4, 5, len(in)} {
		var out bytes.Buffer
		r := &rewriter{w: &out, old: []byte("ABC"), new: []byte("[abc]")}
		for i := 0; i < len(in); i += size {
			if n, err := r.Write([]byte(in[i:min(i+size, len(in))])); err != nil || n != min(size, len(in)-i) {
				t.Fatalf("Write: %d, %v", n, err)
			}
		}
		if err := r.flush(); err != nil {
			t.Fatal(err)
		}
		if want := "xx[abc]yyAB[abc]zzAB"; out.String() != want {
			t.Errorf("pieces of %d: %q, want %q", size, out.String(), want)
		}
	}
}
