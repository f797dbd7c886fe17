package catalogtest

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// item is one listed key or common prefix.
type item struct {
	s        string
	isPrefix bool
}

// Reference computes a listing by brute force over the sorted keys of a
// bucket: the items (keys and common prefixes) sorted in byte order,
// filtered to those after StartAfter and cut at Limit. It is the
// definition catalog.List must meet.
func Reference(keys []string, o catalog.ListOptions) (entries, prefixes []string, truncated bool, next string) {
	limit := o.Limit
	if limit <= 0 {
		limit = catalog.DefaultLimit
	}
	seen := make(map[string]bool)
	var items []item
	for _, k := range keys {
		if !strings.HasPrefix(k, o.Prefix) {
			continue
		}
		it := item{s: k}
		if o.Delimiter != "" {
			if i := strings.Index(k[len(o.Prefix):], o.Delimiter); i >= 0 {
				it = item{s: k[:len(o.Prefix)+i+len(o.Delimiter)], isPrefix: true}
			}
		}
		if it.s <= o.StartAfter || seen[it.s] {
			continue
		}
		seen[it.s] = true
		items = append(items, it)
	}
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.s, b.s) })
	if len(items) > limit {
		items, truncated = items[:limit], true
	}
	for _, it := range items {
		if it.isPrefix {
			prefixes = append(prefixes, it.s)
		} else {
			entries = append(entries, it.s)
		}
		next = it.s
	}
	return entries, prefixes, truncated, next
}

// checkList runs one List and compares it with Reference.
func checkList(t *testing.T, c catalog.Catalog, keys []string, o catalog.ListOptions) catalog.ListResult {
	t.Helper()
	res, err := c.List(t.Context(), o)
	if err != nil {
		t.Fatalf("List(%+v): %v", o, err)
	}
	wantE, wantP, wantT, wantN := Reference(keys, o)
	var gotE []string
	for _, e := range res.Entries {
		gotE = append(gotE, e.Key)
		if e.Bucket != o.Bucket || e.Generation == 0 || len(e.Record) == 0 {
			t.Errorf("List(%+v): entry %q is incomplete: %+v", o, e.Key, e)
		}
	}
	if !slices.Equal(gotE, wantE) || !slices.Equal(res.CommonPrefixes, wantP) || res.Truncated != wantT || res.Next != wantN {
		t.Errorf("List(%+v)\n got entries %q prefixes %q truncated %v next %q\nwant entries %q prefixes %q truncated %v next %q",
			o, gotE, res.CommonPrefixes, res.Truncated, res.Next, wantE, wantP, wantT, wantN)
	}
	// The same listing without records: the same page, every field but
	// the record.
	bare := o
	bare.WithoutRecords = true
	got, err := c.List(t.Context(), bare)
	if err != nil {
		t.Fatalf("List(%+v): %v", bare, err)
	}
	want := res
	want.Entries = make([]catalog.Entry, len(res.Entries))
	for i, e := range res.Entries {
		e.Record = nil
		want.Entries[i] = e
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("List(%+v)\n got %+v\nwant %+v", bare, got, want)
	}
	return res
}

func putKeys(t *testing.T, c catalog.Catalog, bucket string, keys []string) {
	t.Helper()
	mustCreateBucket(t, c, bucket)
	for _, k := range keys {
		mustPut(t, c, entry(bucket, k, 1))
	}
}

var tableKeys = []string{
	"a", "a/", "a/b", "a/b/c", "a/b/d", "a/c", "a//x", "a-b", "a0",
	"b/1", "b/2", "b/3/x",
	"c", "photos/2024/jan/1.jpg", "photos/2024/feb/2.jpg", "photos/2025/x.jpg", "photos/index.html",
	"z\xff/", "z\xff\xff", "z\xffa", "\xff\xff",
}

func testListTable(t *testing.T, c catalog.Catalog) {
	putKeys(t, c, "b", tableKeys)
	tests := []struct {
		name              string
		o                 catalog.ListOptions
		entries, prefixes []string
		truncated         bool
		next              string
	}{
		{name: "all", o: catalog.ListOptions{}, entries: sorted(tableKeys), next: "\xff\xff"},
		{name: "top level", o: catalog.ListOptions{Delimiter: "/"},
			entries:  []string{"a", "a-b", "a0", "c", "z\xffa", "z\xff\xff", "\xff\xff"},
			prefixes: []string{"a/", "b/", "photos/", "z\xff/"}, next: "\xff\xff"},
		{name: "folder", o: catalog.ListOptions{Prefix: "a/", Delimiter: "/"},
			entries: []string{"a/", "a/b", "a/c"}, prefixes: []string{"a//", "a/b/"}, next: "a/c"},
		{name: "deep", o: catalog.ListOptions{Prefix: "photos/2024/", Delimiter: "/"},
			prefixes: []string{"photos/2024/feb/", "photos/2024/jan/"}, next: "photos/2024/jan/"},
		{name: "prefix not ending in delimiter", o: catalog.ListOptions{Prefix: "photos/20", Delimiter: "/"},
			prefixes: []string{"photos/2024/", "photos/2025/"}, next: "photos/2025/"},
		{name: "limit counts prefixes", o: catalog.ListOptions{Delimiter: "/", Limit: 3},
			entries: []string{"a", "a-b"}, prefixes: []string{"a/"}, truncated: true, next: "a/"},
		{name: "start after a prefix skips its keys", o: catalog.ListOptions{Delimiter: "/", StartAfter: "a/", Limit: 2},
			entries: []string{"a0"}, prefixes: []string{"b/"}, truncated: true, next: "b/"},
		{name: "start after inside a folder", o: catalog.ListOptions{Delimiter: "/", StartAfter: "a/b/c", Limit: 1},
			entries: []string{"a0"}, truncated: true, next: "a0"},
		{name: "start after before prefix", o: catalog.ListOptions{Prefix: "b/", StartAfter: "a"},
			entries: []string{"b/1", "b/2", "b/3/x"}, next: "b/3/x"},
		{name: "start after past everything", o: catalog.ListOptions{StartAfter: "\xff\xff"}},
		{name: "exact limit is not truncated", o: catalog.ListOptions{Prefix: "b/", Limit: 3},
			entries: []string{"b/1", "b/2", "b/3/x"}, next: "b/3/x"},
		{name: "multi-byte delimiter", o: catalog.ListOptions{Prefix: "photos", Delimiter: "/2"},
			entries: []string{"photos/index.html"}, prefixes: []string{"photos/2"}, next: "photos/index.html"},
		{name: "prefix is a key", o: catalog.ListOptions{Prefix: "a/b"},
			entries: []string{"a/b", "a/b/c", "a/b/d"}, next: "a/b/d"},
		{name: "0xff delimiter", o: catalog.ListOptions{Prefix: "z", Delimiter: "\xff"},
			prefixes: []string{"z\xff"}, next: "z\xff"},
		{name: "common prefix without successor", o: catalog.ListOptions{Prefix: "\xff", Delimiter: "\xff"},
			prefixes: []string{"\xff\xff"}, next: "\xff\xff"},
		{name: "no match", o: catalog.ListOptions{Prefix: "nothing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Bucket = "b"
			res := checkList(t, c, tableKeys, tt.o)
			// The table pins the reference itself, so a wrong reference
			// cannot hide a wrong implementation.
			var got []string
			for _, e := range res.Entries {
				got = append(got, e.Key)
			}
			if !slices.Equal(got, tt.entries) || !slices.Equal(res.CommonPrefixes, tt.prefixes) || res.Truncated != tt.truncated || res.Next != tt.next {
				t.Errorf("got entries %q prefixes %q truncated %v next %q\nwant entries %q prefixes %q truncated %v next %q",
					got, res.CommonPrefixes, res.Truncated, res.Next, tt.entries, tt.prefixes, tt.truncated, tt.next)
			}
		})
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// randomKey draws a short key over a small alphabet rich in delimiters,
// so that keys share prefixes and collide with delimiters often.
func randomKey(r interface{ IntN(int) int }, alphabet []string, maxLen int) string {
	var b strings.Builder
	for range 1 + r.IntN(maxLen) {
		b.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

var randomAlphabet = []string{"a", "b", "/", "/", "-", "é", "\x00", "\xff"}

func testListRandom(t *testing.T, c catalog.Catalog) {
	r := seeded(1)
	for set := range 4 {
		bucket := fmt.Sprintf("r%d", set)
		uniq := make(map[string]bool)
		for range 50 + r.IntN(250) {
			uniq[randomKey(r, randomAlphabet, 7)] = true
		}
		keys := sorted(mapKeys(uniq))
		putKeys(t, c, bucket, keys)
		delims := []string{"", "/", "/", "-", "a/", "\xff"}
		for range 150 {
			o := catalog.ListOptions{Bucket: bucket, Delimiter: delims[r.IntN(len(delims))]}
			switch r.IntN(3) {
			case 0:
			case 1:
				k := keys[r.IntN(len(keys))]
				o.Prefix = k[:r.IntN(len(k)+1)]
			case 2:
				o.Prefix = randomKey(r, randomAlphabet, 2)
			}
			switch r.IntN(4) {
			case 0:
			case 1:
				o.StartAfter = keys[r.IntN(len(keys))]
			case 2:
				o.StartAfter = randomKey(r, randomAlphabet, 4)
			case 3:
				k := keys[r.IntN(len(keys))]
				o.StartAfter = k[:r.IntN(len(k)+1)]
			}
			o.Limit = []int{0, 1, 2, 3, 7, 50}[r.IntN(6)]
			checkList(t, c, keys, o)
		}
	}
}

func mapKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// testListPaginate pages through whole listings with Next and checks that
// the pages add up to the unlimited listing, with no item twice.
func testListPaginate(t *testing.T, c catalog.Catalog) {
	r := seeded(2)
	uniq := make(map[string]bool)
	for range 400 {
		uniq[randomKey(r, []string{"a", "b", "c", "/"}, 8)] = true
	}
	keys := sorted(mapKeys(uniq))
	putKeys(t, c, "p", keys)
	for _, delim := range []string{"", "/"} {
		for _, prefix := range []string{"", "a", "a/", "b/c"} {
			for _, limit := range []int{1, 2, 5, 13} {
				t.Run(fmt.Sprintf("d%q/p%q/l%d", delim, prefix, limit), func(t *testing.T) {
					wantE, wantP, _, _ := Reference(keys, catalog.ListOptions{Prefix: prefix, Delimiter: delim, Limit: len(keys) + 1})
					var gotE, gotP []string
					o := catalog.ListOptions{Bucket: "p", Prefix: prefix, Delimiter: delim, Limit: limit}
					for page := 0; ; page++ {
						if page > len(keys)+1 {
							t.Fatal("pagination does not end")
						}
						res := checkList(t, c, keys, o)
						if n := len(res.Entries) + len(res.CommonPrefixes); n > limit || (res.Truncated && n != limit) {
							t.Fatalf("page %d holds %d items with limit %d, truncated %v", page, n, limit, res.Truncated)
						}
						for _, e := range res.Entries {
							gotE = append(gotE, e.Key)
						}
						gotP = append(gotP, res.CommonPrefixes...)
						if !res.Truncated {
							break
						}
						o.StartAfter = res.Next
					}
					if !slices.Equal(gotE, wantE) || !slices.Equal(gotP, wantP) {
						t.Errorf("paged listing differs:\n got %q %q\nwant %q %q", gotE, gotP, wantE, wantP)
					}
				})
			}
		}
	}
}
