package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends"
)

func TestPhysical(t *testing.T) {
	hex32 := strings.Repeat("3f2a", 8)
	hex64 := strings.Repeat("0123456789abcdef", 4)
	tests := []struct{ name, want string }{
		{"m/" + hex64, "m/012+/" + hex64},
		{"b/" + hex32, "b/3f2+/" + hex32},
		{hex32, "3f2+/" + hex32},
		{"c/d/" + hex32, "c/d/3f2+/" + hex32},
		{hex32 + "/x", hex32 + "/x"},                                   // directories never fan out
		{"m/" + hex32[:31], "m/" + hex32[:31]},                         // too short
		{"m/" + strings.ToUpper(hex32), "m/" + strings.ToUpper(hex32)}, // not lowercase
		{"m/" + hex32 + "g", "m/" + hex32 + "g"},                       // not hex
		{"m/" + hex32 + ".x", "m/" + hex32 + ".x"},                     // not hex
		{"twincrypt-provider", "twincrypt-provider"},
		{"b/x", "b/x"},
	}
	for _, tc := range tests {
		if got := physical(tc.name); got != tc.want {
			t.Errorf("physical(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
	// A fan-out directory's name is never a valid name segment, so it can
	// never be an object or a directory of objects.
	for _, n := range []string{"3f2+", "000+", "fff+"} {
		if _, ok := fanPrefix(n); !ok || backends.ValidName(n) {
			t.Errorf("%q: fan-out directory %v, valid name %v", n, ok, backends.ValidName(n))
		}
	}
	for _, n := range []string{"3f2", "3f2a+", "3F2+", "3g2+", "~tmp", "+"} {
		if _, ok := fanPrefix(n); ok {
			t.Errorf("%q taken for a fan-out directory", n)
		}
	}
}

func newBackend(t *testing.T, root string) *Backend {
	t.Helper()
	b, err := New("disk", root)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// orderNames returns names around fan-out boundaries: names that fan out
// at both ends of several fan-out directories, and names that share a
// fan-out directory's prefix but stay in place (short, upper case, not
// hex, directories), in three directories.
func orderNames() []string {
	pad := func(p string, c byte, n int) string { return p + strings.Repeat(string(c), n-len(p)) }
	var names []string
	for _, dir := range []string{"m/", "", "c/d/"} {
		for _, p := range []string{"000", "3f1", "3f2", "3f3", "fff"} {
			names = append(names,
				dir+pad(p, '0', 32), dir+pad(p, '0', 64), dir+pad(p, 'f', 32), dir+pad(p, 'f', 64),
				dir+pad(p, 'a', 32), dir+pad(p, 'a', 31)+"b",
				dir+p+"a", dir+pad(p, 'a', 31), dir+pad(p, 'A', 32), dir+pad(p, 'g', 32),
				dir+pad(p, 'a', 32)+"-x", dir+pad(p, 'a', 32)+".x",
				dir+p+"b/x", dir+pad(p, 'a', 32)+"/y", // a directory named like a file that fans out
			)
			if p == "3f2" || p == "000" {
				names = append(names, dir+p) // a file named by the prefix
			} else {
				names = append(names, dir+p+"/z") // a directory named by the prefix
			}
		}
		names = append(names, dir+"3f/w", dir+"3f-", dir+"3f.", dir+"3f0", dir+"3fz")
	}
	names = append(names, "m-", "m.0", "m0", "n", "c/d-", "c/e", "twincrypt-provider")
	slices.Sort(names)
	return slices.Compact(names)
}

// TestListAcrossFanOut lists a tree with names on both sides of fan-out
// boundaries, for many prefixes, startAfter values and page sizes, and
// compares every page with a brute-force sorted reference.
func TestListAcrossFanOut(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, filepath.Join(t.TempDir(), "root"))
	names := orderNames()
	for i, n := range names {
		data := fmt.Sprint(i)
		if err := b.Put(ctx, n, strings.NewReader(data), int64(len(data))); err != nil {
			t.Fatalf("Put %s: %v", n, err)
		}
	}
	// The names that fan out are in fan-out directories.
	if _, err := os.Stat(filepath.Join(b.Root(), "m", "3f2+", strings.Repeat("3f2", 1)+strings.Repeat("0", 29))); err != nil {
		t.Fatalf("fanned-out file: %v", err)
	}
	want := func(prefix, after string, limit int) ([]string, string) {
		var out []string
		for _, n := range names {
			if strings.HasPrefix(n, prefix) && n > after {
				out = append(out, n)
			}
		}
		if len(out) > limit {
			return out[:limit], out[limit-1]
		}
		return out, ""
	}
	prefixes := []string{"", "m", "m/", "m/3", "m/3f", "m/3f2", "m/3f2a", "m/3f2" + strings.Repeat("a", 29),
		"m/3f2" + strings.Repeat("a", 29) + "/", "m/3f2/", "c/", "c/d/3f1", "c/d/3f1/", "3f", "3f2a", "fff", "n", "zzz"}
	afters := []string{"", "m", "m/", "m/3f2", "m/3f2/", "m/3f20", "m/3f2~", "zzz"}
	for _, n := range names {
		afters = append(afters, n, n[:len(n)-1], n+"0", n+"/")
	}
	pages := 0
	for _, prefix := range prefixes {
		for _, after := range afters {
			for _, limit := range []int{1, 4} {
				page, err := b.List(ctx, prefix, after, limit)
				if err != nil {
					t.Fatalf("List(%q, %q, %d): %v", prefix, after, limit, err)
				}
				pages++
				got := make([]string, len(page.Items))
				for i, it := range page.Items {
					got[i] = it.Name
				}
				w, next := want(prefix, after, limit)
				if !slices.Equal(got, w) || page.Next != next {
					t.Fatalf("List(%q, %q, %d) = %q next %q, want %q next %q", prefix, after, limit, got, page.Next, w, next)
				}
			}
		}
	}
	// Whole listings in pages of several sizes.
	for _, limit := range []int{1, 2, 3, 7, 1000} {
		var got []string
		after := ""
		for {
			page, err := b.List(ctx, "", after, limit)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range page.Items {
				got = append(got, it.Name)
			}
			if page.Next == "" {
				break
			}
			after = page.Next
		}
		if !slices.Equal(got, names) {
			t.Fatalf("listing in pages of %d: %d names, want %d", limit, len(got), len(names))
		}
	}
	t.Logf("%d names, %d pages compared", len(names), pages)
	// Every name reads back and deletes through its place.
	for i, n := range names {
		if got, err := readAll(b, n); err != nil || got != fmt.Sprint(i) {
			t.Fatalf("Get %s = %q, %v", n, got, err)
		}
	}
	for _, n := range names {
		if err := b.Delete(ctx, n); err != nil {
			t.Fatalf("Delete %s: %v", n, err)
		}
	}
	if page, err := b.List(ctx, "", "", 0); err != nil || len(page.Items) != 0 {
		t.Fatalf("List after deleting everything: %d items, %v", len(page.Items), err)
	}
}

func readAll(b *Backend, name string) (string, error) {
	rc, err := b.Get(context.Background(), name, 0, -1)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	return string(data), err
}

// writeFile writes data to root/rel, making its directories, with the
// given modification time (zero: now).
func writeFile(t *testing.T, root, rel, data string, mtime time.Time) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func hexName(r *rand.Rand, n int) string {
	var s string
	for len(s) < n {
		s += fmt.Sprintf("%016x", r.Uint64())
	}
	return s[:n]
}

// flatTree writes a tree in the flat layout (every name at its own path)
// and returns its contents by name.
func flatTree(t *testing.T, root string, n int) map[string]string {
	t.Helper()
	r := rand.New(rand.NewPCG(5, 6))
	objs := map[string]string{
		"twincrypt-provider":           "marker",
		"b/short":                      "short",
		"c/d/" + hexName(r, 32) + "/x": "below a hex directory",
	}
	for i := range n {
		objs["m/"+hexName(r, 64)] = fmt.Sprint("m", i)
		objs["b/"+hexName(r, 32)] = fmt.Sprint("b", i)
	}
	objs[hexName(r, 32)] = "at the root"
	objs["c/d/"+hexName(r, 32)] = "nested"
	for name, data := range objs {
		writeFile(t, root, name, data, time.Time{})
	}
	return objs
}

// checkTree checks that b holds exactly objs, by Get and by a listing, and
// that no file is left where the fan-out layout does not look for it.
func checkTree(t *testing.T, b *Backend, objs map[string]string) {
	t.Helper()
	var want []string
	for name, data := range objs {
		want = append(want, name)
		if got, err := readAll(b, name); err != nil || got != data {
			t.Fatalf("Get %s = %q, %v; want %q", name, got, err, data)
		}
	}
	slices.Sort(want)
	var got []string
	after := ""
	for {
		page, err := b.List(context.Background(), "", after, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			got = append(got, it.Name)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %d names, want %d", len(got), len(want))
	}
	err := filepath.WalkDir(b.Root(), func(p string, de os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		parent := filepath.Base(filepath.Dir(p))
		if _, fan := fanPrefix(parent); de.Type().IsRegular() && fansOut(de.Name()) && !fan {
			t.Errorf("flat file left: %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrateFlat opens directories written in the flat layout, whole or
// left in the states an interrupted migration leaves, and checks that every
// object is where the fan-out layout looks for it, with its newest content.
func TestMigrateFlat(t *testing.T) {
	hex := func(c string) string { return strings.Repeat(c, 64) }
	old, young := time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
	tests := []struct {
		name string
		// prepare changes the flat tree and objs, the expected contents.
		prepare func(t *testing.T, root string, objs map[string]string)
	}{
		{"flat", func(*testing.T, string, map[string]string) {}},
		{"some moved", func(t *testing.T, root string, objs map[string]string) {
			n := 0
			for name := range objs {
				if strings.HasPrefix(name, "m/") && n < 50 {
					if err := os.MkdirAll(filepath.Dir(filepath.Join(root, physical(name))), 0o700); err != nil {
						t.Fatal(err)
					}
					if err := os.Rename(filepath.Join(root, name), filepath.Join(root, physical(name))); err != nil {
						t.Fatal(err)
					}
					n++
				}
			}
		}},
		{"linked, not yet unlinked", func(t *testing.T, root string, objs map[string]string) {
			name := "m/" + hex("a")
			writeFile(t, root, name, "linked", time.Time{})
			objs[name] = "linked"
			if err := os.MkdirAll(filepath.Dir(filepath.Join(root, physical(name))), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Link(filepath.Join(root, name), filepath.Join(root, physical(name))); err != nil {
				t.Fatal(err)
			}
		}},
		{"both places, fan-out newer", func(t *testing.T, root string, objs map[string]string) {
			name := "m/" + hex("b")
			writeFile(t, root, name, "flat, older", old)
			writeFile(t, root, physical(name), "fan-out, newer", young)
			objs[name] = "fan-out, newer"
		}},
		{"both places, flat newer", func(t *testing.T, root string, objs map[string]string) {
			name := "m/" + hex("c")
			writeFile(t, root, name, "flat, newer", young)
			writeFile(t, root, physical(name), "fan-out, older", old)
			objs[name] = "flat, newer"
		}},
		{"empty fan-out directories", func(t *testing.T, root string, _ map[string]string) {
			for _, d := range []string{"m/000+", "b/fff+", "c/d/3f2+"} {
				if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			objs := flatTree(t, root, 300)
			tc.prepare(t, root, objs)
			b := newBackend(t, root)
			checkTree(t, b, objs)
			// Nothing is left to move: a second migration moves nothing.
			if n, err := b.cur.Load().migrate(); n != 0 || err != nil {
				t.Fatalf("second migration moved %d, %v", n, err)
			}
			b.Close()
			checkTree(t, newBackend(t, root), objs)
		})
	}
}

// TestMigrateInterrupted stops a migration half-way (a foreign file takes
// the place of a fan-out directory): New fails, Open succeeds and the
// backend answers "unavailable", never "not found", and once the obstacle
// is gone the first request after the time to retry finishes the
// migration.
func TestMigrateInterrupted(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	objs := flatTree(t, root, 2000)
	var some string
	for name := range objs {
		if strings.HasPrefix(name, "m/") && fansOut(name[2:]) {
			some = name
			break
		}
	}
	blocker := filepath.Join(root, filepath.Dir(physical(some)))
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := New("disk", root); err == nil || !errors.Is(err, backends.ErrUnavailable) {
		if b != nil {
			b.Close()
		}
		t.Fatalf("New with a file in place of a fan-out directory: %v, want ErrUnavailable", err)
	}
	b, err := Open("disk", root)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Close()
	if err := b.Check(context.Background()); !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("Check: %v, want ErrUnavailable", err)
	}
	for name := range objs {
		if _, err := b.Stat(context.Background(), name); !errors.Is(err, backends.ErrUnavailable) {
			t.Fatalf("Stat %s: %v, want ErrUnavailable", name, err)
		}
		break
	}
	if _, err := b.List(context.Background(), "", "", 0); !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("List: %v, want ErrUnavailable", err)
	}
	// Some files moved, some not.
	fanned := 0
	ents, err := os.ReadDir(filepath.Join(root, "m"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if _, ok := fanPrefix(e.Name()); ok && e.IsDir() {
			fanned++
		}
	}
	if fanned == 0 || fanned == len(ents) {
		t.Fatalf("%d fan-out directories among %d entries: the migration was not interrupted half-way", fanned, len(ents))
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	// Until the time to try again, requests answer the same error
	// without reading the directory; then the next one migrates.
	if _, err := b.Stat(context.Background(), some); !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("Stat %s before the retry: %v, want ErrUnavailable", some, err)
	}
	b.mu.Lock()
	b.now = func() time.Time { return time.Now().Add(retryMax) }
	b.mu.Unlock()
	checkTree(t, b, objs)
}

// TestMigrateConcurrently opens one flat directory from several backends at
// once, as gateway instances sharing it do after an upgrade: every
// migration succeeds and no object is lost or hidden.
func TestMigrateConcurrently(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	objs := flatTree(t, root, 2000)
	const n = 4
	bs := make([]*Backend, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { bs[i], errs[i] = Open("disk", root) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Open #%d: %v", i, errs[i])
		}
		defer bs[i].Close()
	}
	for _, b := range bs {
		checkTree(t, b, objs)
	}
}

// TestListReadsBounded checks that a page of a listing of a directory of
// many names reads the directory of fan-out directories and the few
// fan-out directories the page spans, not every name.
func TestListReadsBounded(t *testing.T) {
	const n = 40_000
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "root")
	b := newBackend(t, root)
	r := rand.New(rand.NewPCG(7, 8))
	names := make([]string, n)
	for i := range names {
		names[i] = "m/" + hexName(r, 64)
		writeFile(t, root, physical(names[i]), "", time.Time{})
	}
	slices.Sort(names)
	perDir := n / (1 << (4 * fanWidth))
	tests := []struct {
		prefix, after string
		limit         int
	}{
		{"m/", "", 1000},
		{"m/", names[n/2], 1000},
		{"m/", names[n-10], 1000},
		{"", names[n/3], 100},
		{"m/", names[n/4], 1},
		{names[n/2][:5], "", 1000},
		{names[n/2][:5], names[n/2], 10},
	}
	for _, tc := range tests {
		page, read, err := b.list(ctx, tc.prefix, tc.after, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) == 0 {
			t.Fatalf("List(%q, %q, %d): empty page", tc.prefix, tc.after, tc.limit)
		}
		// The root (m, ~tmp), m/ (4096 fan-out directories), and the
		// fan-out directories holding the page: the names listed, plus
		// the rest of the first and last one (a few times perDir).
		bound := 2 + 1<<(4*fanWidth) + len(page.Items) + 8*perDir
		t.Logf("List(%q, %q, %d): %d items, %d entries read (bound %d, %d names)", tc.prefix, tc.after, tc.limit, len(page.Items), read, bound, n)
		if read > bound {
			t.Errorf("List(%q, %q, %d) read %d directory entries, want at most %d", tc.prefix, tc.after, tc.limit, read, bound)
		}
	}
	// The same with the allocations of a page: bounded by the entries
	// read, not by n (40,000 names of 64 digits in one directory would
	// take about 10 MB to read).
	page := func() {
		if _, err := b.List(ctx, "m/", names[n/2], 1000); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(5, page)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	page()
	runtime.ReadMemStats(&after)
	bytes := after.TotalAlloc - before.TotalAlloc
	t.Logf("a page of 1,000 allocates %.0f times, %d bytes", allocs, bytes)
	// About one allocation and 16 bytes for each of the 4096 names of
	// fan-out directories, and 10 allocations and 1 KiB for each name
	// listed (measured: 15,700 and 1.5 MB); reading all 40,000 names
	// would take over 80,000 allocations and 9 MB.
	if allocs > 25_000 || bytes > 2<<20 {
		t.Errorf("a page of 1,000 allocates %.0f times and %d bytes, want at most 25,000 and 2 MiB", allocs, bytes)
	}
}

// TestFlatCopies checks Put, Get, List and Delete with flat files that
// appear after the directory was opened (written by an earlier version of
// this package beside this one): they are read and listed until the next
// open moves them, a fan-out copy of the same name takes precedence, and
// Delete removes both.
func TestFlatCopies(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, filepath.Join(t.TempDir(), "root"))
	both, flat := "b/"+strings.Repeat("5", 32), "b/"+strings.Repeat("6", 32)
	if err := b.Put(ctx, both, bytes.NewReader([]byte("new")), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(b.Root(), "b", "555+", strings.Repeat("5", 32))); err != nil {
		t.Fatalf("fan-out file: %v", err)
	}
	writeFile(t, b.Root(), both, "old", time.Time{})
	writeFile(t, b.Root(), flat, "flat", time.Time{})
	page, err := b.List(ctx, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range page.Items {
		got = append(got, it.Name)
	}
	if !slices.Equal(got, []string{both, flat}) {
		t.Fatalf("List = %q, want %q", got, []string{both, flat})
	}
	for name, want := range map[string]string{both: "new", flat: "flat"} {
		if data, err := readAll(b, name); err != nil || data != want {
			t.Fatalf("Get %s = %q, %v; want %q", name, data, err, want)
		}
		if fi, err := b.Stat(ctx, name); err != nil || fi.Size != int64(len(want)) {
			t.Fatalf("Stat %s = %+v, %v", name, fi, err)
		}
	}
	for _, name := range []string{both, flat} {
		if err := b.Delete(ctx, name); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Stat(ctx, name); !errors.Is(err, backends.ErrNotFound) {
			t.Fatalf("Stat %s after Delete: %v", name, err)
		}
	}
	if page, err := b.List(ctx, "", "", 0); err != nil || len(page.Items) != 0 {
		t.Fatalf("List after Delete = %+v, %v", page.Items, err)
	}
}

// TestMigrateNotAFileInTheWay: a directory or a symlink (dangling or not)
// where a flat file's fan-out place is never wins over the file: the flat
// file stays, the store answers unavailable, and once the thing in the way
// is gone the file moves and reads as it was.
func TestMigrateNotAFileInTheWay(t *testing.T) {
	for _, tc := range []struct {
		name string
		put  func(t *testing.T, at, root string)
	}{
		{"a directory", func(t *testing.T, at, _ string) {
			if err := os.MkdirAll(filepath.Join(at, "x"), 0o700); err != nil {
				t.Fatal(err)
			}
		}},
		{"a dangling symlink", func(t *testing.T, at, _ string) {
			if err := os.Symlink("nowhere", at); err != nil {
				t.Fatal(err)
			}
		}},
		{"a symlink to another file", func(t *testing.T, at, root string) {
			other := filepath.Join(filepath.Dir(root), "other")
			if err := os.WriteFile(other, []byte("other"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(other, at); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			name := "m/" + strings.Repeat("ab", 32)
			if err := os.MkdirAll(filepath.Join(root, "m"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, name), []byte("the only copy"), 0o600); err != nil {
				t.Fatal(err)
			}
			at := filepath.Join(root, physical(name))
			if err := os.MkdirAll(filepath.Dir(at), 0o700); err != nil {
				t.Fatal(err)
			}
			tc.put(t, at, root)
			if b, err := New("disk", root); err == nil || !errors.Is(err, backends.ErrUnavailable) {
				if b != nil {
					b.Close()
				}
				t.Fatalf("New: %v, want ErrUnavailable", err)
			}
			if got, err := os.ReadFile(filepath.Join(root, name)); err != nil || string(got) != "the only copy" {
				t.Fatalf("the flat file: %q, %v", got, err)
			}
			if err := os.RemoveAll(at); err != nil {
				t.Fatal(err)
			}
			b, err := New("disk", root)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			checkTree(t, b, map[string]string{name: "the only copy"})
		})
	}
}

// TestListSkipsSymlinkedFanOut: a symlink where a fan-out directory
// belongs (planted in the provider's directory) is a foreign file: a
// listing does not follow it to show another directory's files under
// names of this one.
func TestListSkipsSymlinkedFanOut(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	b, err := New("disk", root)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	blob := "b/" + "3f2" + strings.Repeat("0", 29)
	if err := b.Put(ctx, blob, strings.NewReader("blob"), 4); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "m"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../b/3f2+", filepath.Join(root, "m", "3f2+")); err != nil {
		t.Fatal(err)
	}
	page, err := b.List(ctx, "m/", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 0 {
		t.Fatalf("m/ lists %v through a symlink", page.Items)
	}
	if page, err := b.List(ctx, "b/", "", 0); err != nil || len(page.Items) != 1 || page.Items[0].Name != blob {
		t.Fatalf("b/ lists %v, %v", page.Items, err)
	}
}
