package s3api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	xxml "github.com/minio/xxml"
	"github.com/rclone/gofakes3"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/internal/testns"
)

// listUsers own "unit" (alice, the first user) or may not read it (bob).
var listUsers = []gateway.User{
	{AccessKey: "alice", ID: strings.Repeat("a1", 32), DisplayName: "Alice <&'\">"},
	{AccessKey: "bob", ID: strings.Repeat("b2", 32), DisplayName: "Bob"},
}

// listKeys are the keys of the differential test's bucket: XML specials,
// control characters, URL specials, unicode and common prefixes.
var listKeys = []string{
	"a", "a b", "a+b", "a%b", "a%2Fb", "a&b<c>'d\"e", "a~b", "a=b?c#d",
	"ctl\x01\x02\x07x", "ctl\x08\x0b\x1fx", "tab\tnl\ncr\rx", "del\x7fx",
	"dir/", "dir/x", "dir/y", "dir/sub/z", "dir/sub/w", "dir2/q", "dir b/x",
	"é/ü", "日本/語", "emoji😀", "bad\xffutf8", "surrogate\xed\xa0\x80", "fffe\uFFFE", "repl\uFFFD",
	"z/1", "z/2", "z/3", "zz",
}

// listChains returns the listing as gofakes3 answered it (over the same
// backend adapter) and as the front end answers it now, both behind the
// request state and fixer and with the user of the X-Test-User header.
// The new chain fails the test if a listing reaches gofakes3.
func listChains(t *testing.T, ns *gateway.Namespace) (old, cur http.Handler) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	asUser := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u := r.Header.Get("X-Test-User"); u != "" {
				ctx, err := ns.UserContext(r.Context(), u)
				if err != nil {
					t.Fatal(err)
				}
				r = r.WithContext(ctx)
			}
			next.ServeHTTP(w, r)
		})
	}
	b := &backend{ns: ns}
	fake := gofakes3.New(b, gofakes3.WithoutVersioning(), gofakes3.WithIntegrityCheck(true), gofakes3.WithLogger(gofakesLogger{log}))
	old = withState(log, asUser(multipartRoutes(b, fake.Server())))
	trap := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("%s %s reached gofakes3", r.Method, r.URL)
		w.WriteHeader(http.StatusTeapot)
	})
	cur = withState(log, asUser(normalize(ns, newCORSCache(ns), newLister(ns), trap)))
	return old, cur
}

// newListNS returns a namespace whose bucket "unit" holds listKeys (those
// the namespace takes) and whose bucket "empty" is empty.
func newListNS(t *testing.T) (*gateway.Namespace, []string) {
	t.Helper()
	ns := testns.New(t, testns.Options{Users: listUsers}).NS
	ctx, err := ns.UserContext(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"unit", "empty"} {
		if err := ns.CreateBucket(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	for i, k := range listKeys {
		body := strings.Repeat("x", i)
		if _, err := ns.PutObject(ctx, "unit", k, strings.NewReader(body), int64(len(body)), gateway.PutOptions{}); err != nil {
			t.Logf("key %q not stored: %v", k, err)
			continue
		}
		keys = append(keys, k)
	}
	return ns, keys
}

type listResponse struct {
	status      int
	contentType string
	body        []byte
}

func serveList(h http.Handler, target, user string) listResponse {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if user != "" {
		r.Header.Set("X-Test-User", user)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return listResponse{w.Code, w.Header().Get("Content-Type"), w.Body.Bytes()}
}

// s3ErrorBody is the part of an error answer both paths must agree on.
type s3ErrorBody struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// listQueries are the listings compared, each asked as V1 and V2.
func listQueries() []string {
	tok := func(s string) string { return url.QueryEscape(base64.URLEncoding.EncodeToString([]byte(s))) }
	qs := []string{
		"", "prefix=dir/", "delimiter=/", "prefix=dir/&delimiter=/", "prefix=dir&delimiter=/",
		"prefix=nothing", "prefix=&delimiter=", "delimiter=sub", "delimiter=%2F&prefix=dir%2Fsub%2F",
		"max-keys=0", "max-keys=1", "max-keys=2", "max-keys=1000", "max-keys=5000", "max-keys=-3",
		"max-keys=bad", "max-keys=", "max-keys=99999999999999999999",
		"max-keys=2&delimiter=/", "max-keys=1&delimiter=/&prefix=dir/", "max-keys=3&delimiter=/&start-after=dir/",
		"marker=a", "marker=dir/", "marker=", "marker=zzz", "marker=dir/&delimiter=/&max-keys=1",
		"start-after=dir/", "start-after=a%20b", "start-after=",
		"continuation-token=" + tok("dir/x"), "continuation-token=" + tok("dir/"),
		"continuation-token=" + tok("dir/") + "&delimiter=/&max-keys=1", "continuation-token=",
		"continuation-token=!!!", "continuation-token=" + tok("a") + "&start-after=z",
		"marker=dir&continuation-token=" + tok("a"),
		"encoding-type=url", "encoding-type=url&delimiter=/", "encoding-type=url&prefix=a&max-keys=2",
		"encoding-type=url&prefix=a%20&delimiter=%20", "encoding-type=url&delimiter=+",
		"encoding-type=url&marker=a%2Bb&start-after=a%25b", "encoding-type=url&start-after=%E6%97%A5",
		"encoding-type=url&max-keys=1&delimiter=/&prefix=dir/",
		"encoding-type=url&max-keys=1&continuation-token=" + tok("a b"),
		"encoding-type=bad", "encoding-type=URL", "encoding-type=", "encoding-type=bad&max-keys=bad",
		"fetch-owner=true", "fetch-owner=false", "fetch-owner=true&delimiter=/&max-keys=2",
		"prefix=a%20", "prefix=%C3%A9", "prefix=ctl%01", "prefix=a%26b%3C",
		"unknown=1", "x-id=ListObjects", "versionId=null",
	}
	var out []string
	for _, q := range qs {
		out = append(out, q)
		if q == "" {
			out = append(out, "list-type=2")
		} else {
			out = append(out, "list-type=2&"+q)
		}
	}
	return out
}

// TestListDifferential answers many listings the way gofakes3 did and the
// way the front end does now, over the same namespace, and requires the
// same status, the same bytes for a listing and the same error code and
// message for an error.
func TestListDifferential(t *testing.T) {
	ns, keys := newListNS(t)
	if len(keys) < len(listKeys)-6 {
		t.Fatalf("only %d of %d keys stored", len(keys), len(listKeys))
	}
	old, cur := listChains(t, ns)
	type target struct{ path, user string }
	var targets []target
	for _, q := range listQueries() {
		for _, p := range []string{"/unit", "/empty"} {
			targets = append(targets, target{p + "?" + q, "alice"})
		}
	}
	targets = append(targets,
		target{"/unit", ""}, target{"/unit?list-type=2&fetch-owner=true", ""},
		target{"/missing", "alice"}, target{"/missing?list-type=2&max-keys=bad", "alice"},
		target{"/unit", "bob"}, target{"/unit?list-type=2&max-keys=bad", "bob"},
		target{"/unit/", "alice"},
	)
	listings := 0
	for _, tg := range targets {
		t.Run(tg.user+" "+tg.path, func(t *testing.T) {
			want := serveList(old, tg.path, tg.user)
			got := serveList(cur, tg.path, tg.user)
			if got.status != want.status {
				t.Fatalf("status %d, want %d\ngot:  %s\nwant: %s", got.status, want.status, got.body, want.body)
			}
			if want.status != http.StatusOK {
				var we, ge s3ErrorBody
				if err := xml.Unmarshal(want.body, &we); err != nil {
					t.Fatalf("old error body: %v\n%s", err, want.body)
				}
				if err := xml.Unmarshal(got.body, &ge); err != nil {
					t.Fatalf("new error body: %v\n%s", err, got.body)
				}
				if ge != we || ge.Code == "" {
					t.Errorf("error %+v, want %+v", ge, we)
				}
				return
			}
			listings++
			if got.contentType != "application/xml" {
				t.Errorf("Content-Type %q (gofakes3's %q)", got.contentType, want.contentType)
			}
			if !bytes.Equal(got.body, want.body) {
				t.Errorf("body differs\ngot:  %q\nwant: %q", got.body, want.body)
			}
		})
	}
	if listings < len(targets)/2 {
		t.Errorf("only %d of %d requests were listings", listings, len(targets))
	}
}

// TestListPages follows V1 markers and V2 continuation tokens page by page
// on both paths: the pages are the same, and together they hold every key
// once.
func TestListPages(t *testing.T) {
	ns, keys := newListNS(t)
	old, cur := listChains(t, ns)
	type page struct {
		Contents              []struct{ Key string }
		CommonPrefixes        []struct{ Prefix string }
		IsTruncated           bool
		NextMarker            string
		NextContinuationToken string
	}
	for _, tt := range []struct {
		name, query string
		v2          bool
	}{
		// V1 pages go by keys, which XML cannot carry whole (U+0008
		// becomes U+FFFD): they are URL-encoded.
		{"v1", "max-keys=2&encoding-type=url", false},
		{"v1 delimiter", "max-keys=1&delimiter=/&encoding-type=url", false},
		{"v2", "list-type=2&max-keys=3", true},
		{"v2 delimiter url", "list-type=2&max-keys=1&delimiter=/&encoding-type=url", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seen, next := 0, ""
			for n := 0; ; n++ {
				if n > len(keys)+1 {
					t.Fatal("listing does not end")
				}
				q := tt.query
				if next != "" && tt.v2 {
					q += "&continuation-token=" + url.QueryEscape(next)
				} else if next != "" {
					q += "&marker=" + url.QueryEscape(next)
				}
				want := serveList(old, "/unit?"+q, "alice")
				got := serveList(cur, "/unit?"+q, "alice")
				if got.status != http.StatusOK || !bytes.Equal(got.body, want.body) {
					t.Fatalf("page %d: %d %q\nwant %d %q", n, got.status, got.body, want.status, want.body)
				}
				var p page
				// Parsers refuse U+0000 to U+0007, which listings send as
				// references: they pass the parse as placeholders.
				body := got.body
				for c := range 8 {
					body = bytes.ReplaceAll(body, fmt.Appendf(nil, "&#x%d;", c), fmt.Appendf(nil, "{ctl%d}", c))
				}
				if err := xml.Unmarshal(body, &p); err != nil {
					t.Fatal(err)
				}
				for i := range p.Contents {
					for c := range 8 {
						p.Contents[i].Key = strings.ReplaceAll(p.Contents[i].Key, fmt.Sprintf("{ctl%d}", c), string(rune(c)))
					}
				}
				seen += len(p.Contents)
				seen += len(p.CommonPrefixes)
				if !p.IsTruncated {
					break
				}
				switch {
				case tt.v2:
					next = p.NextContinuationToken
				case p.NextMarker != "":
					next = p.NextMarker
				default:
					next = p.Contents[len(p.Contents)-1].Key
				}
				if !tt.v2 {
					var err error
					if next, err = url.PathUnescape(next); err != nil {
						t.Fatal(err)
					}
				}
			}
			if strings.Contains(tt.query, "delimiter") {
				return // a common prefix stands for several keys
			}
			if seen != len(keys) {
				t.Errorf("pages held %d keys, want %d", seen, len(keys))
			}
		})
	}
}

// TestAppendXMLText checks the escaping of listing text against
// gofakes3's encoder for every ASCII byte, invalid UTF-8, and runes at
// the edges of XML's character range.
func TestAppendXMLText(t *testing.T) {
	var ins []string
	for c := 0; c < utf8.RuneSelf; c++ {
		ins = append(ins, string(rune(c)), "a"+string(rune(c))+"b")
	}
	for _, r := range []rune{0x80, 0x7ff, 0xd7ff, 0xe000, 0xfffd, 0xfffe, 0xffff, 0x10000, 0x10ffff} {
		ins = append(ins, string(r), "x"+string(r)+"y")
	}
	ins = append(ins, "\xff", "a\xffb", "\xed\xa0\x80", "\xe6\x97", "日本語", `<a href="x">'&'</a>`)
	for _, s := range ins {
		var want bytes.Buffer
		if err := xxml.EscapeText(&want, []byte(s)); err != nil {
			t.Fatal(err)
		}
		if got := appendXMLText([]byte("pre"), s); string(got) != "pre"+want.String() {
			t.Errorf("appendXMLText(%q) = %q, want %q", s, got[3:], want.String())
		}
	}
}

// TestAppendURLEncoded checks encoding-type=url against gofakes3.URLEncode
// for every byte.
func TestAppendURLEncoded(t *testing.T) {
	var all []byte
	for c := 0; c < 256; c++ {
		all = append(all, byte(c))
	}
	for _, s := range []string{"", "plain/key-_.*", "a b+c%d~e", string(all), "日本"} {
		if got, want := string(appendURLEncoded(nil, s)), gofakes3.URLEncode(s); got != want {
			t.Errorf("appendURLEncoded(%q) = %q, want %q", s, got, want)
		}
	}
}

// listBenchNS returns a namespace whose bucket "bench" holds n keys.
func listBenchNS(b *testing.B, n int) *gateway.Namespace {
	b.Helper()
	ns := testns.New(b, testns.Options{Bucket: "bench"}).NS
	ctx := context.Background()
	for i := range n {
		k := fmt.Sprintf("photos/2026/%04d/img-%06d.jpg", i/100, i)
		if _, err := ns.PutObject(ctx, "bench", k, strings.NewReader("x"), 1, gateway.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	return ns
}

// BenchmarkListPage lists a page of 1,000 keys (ListObjectsV2) through
// the front end's handler chain below signature checking, as gofakes3
// answered it ("gofakes3") and as it is answered now ("direct").
func BenchmarkListPage(b *testing.B) {
	ns := listBenchNS(b, 1000)
	log := slog.New(slog.DiscardHandler)
	bk := &backend{ns: ns}
	fake := gofakes3.New(bk, gofakes3.WithoutVersioning(), gofakes3.WithIntegrityCheck(true), gofakes3.WithLogger(gofakesLogger{log}))
	b.Run("namespace", func(b *testing.B) {
		// The namespace's share of either: the catalog page alone.
		b.ReportAllocs()
		for b.Loop() {
			if res, err := ns.List(context.Background(), "bench", gateway.ListOptions{Limit: 1000}); err != nil || len(res.Objects) != 1000 {
				b.Fatal(len(res.Objects), err)
			}
		}
	})
	for _, h := range []struct {
		name string
		h    http.Handler
	}{
		{"gofakes3", withState(log, multipartRoutes(bk, fake.Server()))},
		{"direct", withState(log, normalize(ns, newCORSCache(ns), newLister(ns), multipartRoutes(bk, fake.Server())))},
	} {
		b.Run(h.name, func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for b.Loop() {
				r := httptest.NewRequest(http.MethodGet, "/bench?list-type=2&max-keys=1000", nil)
				w := httptest.NewRecorder()
				h.h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
				size = w.Body.Len()
			}
			b.ReportMetric(float64(size), "resp-bytes")
		})
	}
}
