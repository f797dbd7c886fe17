package dav

import (
	"bytes"
	"encoding/xml"
	"testing"
	"time"
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
