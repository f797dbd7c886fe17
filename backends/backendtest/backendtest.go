// Package backendtest is the conformance suite that every backends.Backend
// implementation runs. It checks the contract documented on the interface:
// exact round trips for empty, tiny and multi-part objects, ranges, typed
// errors, atomic overwrites, rejected partial writes, lexical listing with
// pagination, name validation and context cancellation.
//
// An implementation's test calls Run with a constructor that returns a fresh,
// empty backend for each subtest:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) backends.Backend {
//			b, err := local.New("test", t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			return b
//		})
//	}
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/twincrypt/twincrypt/backends"
)

// Sizes used by the suite. LargeSize is big enough to make an S3 backend
// configured with the minimum part size (5 MiB) upload several parts.
const (
	MiB       = 1 << 20
	LargeSize = 12*MiB + 3
)

// Run runs the conformance suite. newBackend must return a new, empty backend
// for every call; Run closes it when the subtest ends.
func Run(t *testing.T, newBackend func(t *testing.T) backends.Backend) {
	t.Helper()
	open := func(t *testing.T) backends.Backend {
		t.Helper()
		b := newBackend(t)
		t.Cleanup(func() {
			if err := b.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return b
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, b backends.Backend)
	}{
		{"RoundTrip", testRoundTrip},
		{"Ranges", testRanges},
		{"Stat", testStat},
		{"NotFound", testNotFound},
		{"Delete", testDelete},
		{"Overwrite", testOverwrite},
		{"AtomicOverwrite", testAtomicOverwrite},
		{"FailedPut", testFailedPut},
		{"List", testList},
		{"InvalidNames", testInvalidNames},
		{"Canceled", testCanceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// Pattern returns n deterministic pseudo-random bytes derived from seed.
func Pattern(seed uint64, n int) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)}))
	p := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			p[i+j] = byte(v >> (8 * j))
		}
	}
	return p
}

// opaque hides every method of r except Read, so that implementations cannot
// learn the size or seek.
type opaque struct{ r io.Reader }

func (o opaque) Read(p []byte) (int, error) { return o.r.Read(p) }

// failingReader yields data and then fails with err instead of io.EOF.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// cancelingReader yields data and cancels a context once after yielding at
// least `after` bytes, then keeps yielding.
type cancelingReader struct {
	r      io.Reader
	after  int
	read   int
	cancel context.CancelFunc
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	if c.read >= c.after {
		c.cancel()
	}
	return n, err
}

var errInjected = errors.New("injected read failure")

func mustPut(t *testing.T, b backends.Backend, name string, data []byte) {
	t.Helper()
	if err := b.Put(context.Background(), name, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put %s (%d bytes): %v", name, len(data), err)
	}
}

func read(t *testing.T, b backends.Backend, name string, off, n int64) ([]byte, error) {
	t.Helper()
	rc, err := b.Get(context.Background(), name, off, n)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return data, err
}

func mustGet(t *testing.T, b backends.Backend, name string) []byte {
	t.Helper()
	data, err := read(t, b, name, 0, -1)
	if err != nil {
		t.Fatalf("Get %s: %v", name, err)
	}
	return data
}

func checkBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: got %d bytes, want %d; first difference at byte %d", what, len(got), len(want), i)
	}
}

func checkErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
	var be *backends.Error
	if !errors.As(err, &be) {
		t.Fatalf("%s: error %v (%T) is not a *backends.Error", what, err, err)
	}
}

func testRoundTrip(t *testing.T, b backends.Backend) {
	for _, size := range []int{0, 1, MiB + 1, LargeSize} {
		for _, known := range []bool{true, false} {
			t.Run(fmt.Sprintf("size=%d/known=%v", size, known), func(t *testing.T) {
				name := fmt.Sprintf("b/rt-%d-%v", size, known)
				data := Pattern(uint64(size), size)
				var r io.Reader = opaque{bytes.NewReader(data)}
				n := int64(-1)
				if known {
					n = int64(size)
				}
				if err := b.Put(context.Background(), name, r, n); err != nil {
					t.Fatalf("Put: %v", err)
				}
				checkBytes(t, "Get", mustGet(t, b, name), data)
				info, err := b.Stat(context.Background(), name)
				if err != nil {
					t.Fatalf("Stat: %v", err)
				}
				if info.Size != int64(size) || info.Name != name {
					t.Fatalf("Stat = %+v, want name %s size %d", info, name, size)
				}
			})
		}
	}
}

func testRanges(t *testing.T, b backends.Backend) {
	const size = 100_000
	data := Pattern(7, size)
	mustPut(t, b, "b/range", data)
	mustPut(t, b, "b/empty", nil)
	tests := []struct {
		name        string
		obj         string
		off, length int64
		want        []byte
		err         error
	}{
		{"whole", "b/range", 0, -1, data, nil},
		{"start", "b/range", 0, 10, data[:10], nil},
		{"middle", "b/range", 40_000, 12_345, data[40_000:52_345], nil},
		{"tail", "b/range", 99_000, -1, data[99_000:], nil},
		{"exact end", "b/range", 99_990, 10, data[99_990:], nil},
		{"past end truncated", "b/range", 99_990, 1000, data[99_990:], nil},
		{"one byte", "b/range", 4242, 1, data[4242:4243], nil},
		{"zero length", "b/range", 10, 0, nil, nil},
		{"at end", "b/range", size, -1, nil, nil},
		{"beyond end", "b/range", size + 1, 10, nil, backends.ErrPrecondition},
		{"far beyond end", "b/range", 10 * size, -1, nil, backends.ErrPrecondition},
		{"negative offset", "b/range", -1, 10, nil, backends.ErrPrecondition},
		{"negative length", "b/range", 0, -2, nil, backends.ErrPrecondition},
		{"empty whole", "b/empty", 0, -1, nil, nil},
		{"empty beyond", "b/empty", 1, -1, nil, backends.ErrPrecondition},
		{"missing", "b/missing", 0, 10, nil, backends.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := read(t, b, tc.obj, tc.off, tc.length)
			if tc.err != nil {
				checkErr(t, "Get", err, tc.err)
				return
			}
			if err != nil {
				t.Fatalf("Get(%d, %d): %v", tc.off, tc.length, err)
			}
			checkBytes(t, "Get", got, tc.want)
		})
	}
}

func testStat(t *testing.T, b backends.Backend) {
	data := Pattern(3, 4321)
	mustPut(t, b, "m/stat", data)
	info, err := b.Stat(context.Background(), "m/stat")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.Name != "m/stat" || info.Size != 4321 || info.ModTime.IsZero() {
		t.Fatalf("Stat = %+v, want name m/stat, size 4321, a modification time", info)
	}
}

func testNotFound(t *testing.T, b backends.Backend) {
	ctx := context.Background()
	mustPut(t, b, "b/present", []byte("x"))
	for _, name := range []string{"b/absent", "m/absent", "b/present/below", "b"} {
		_, err := b.Stat(ctx, name)
		checkErr(t, "Stat "+name, err, backends.ErrNotFound)
		rc, err := b.Get(ctx, name, 0, -1)
		if err == nil {
			rc.Close()
		}
		checkErr(t, "Get "+name, err, backends.ErrNotFound)
	}
}

func testDelete(t *testing.T, b backends.Backend) {
	ctx := context.Background()
	mustPut(t, b, "b/del", []byte("doomed"))
	mustPut(t, b, "b/keep", []byte("kept"))
	for i := range 2 { // the second Delete removes a missing object
		if err := b.Delete(ctx, "b/del"); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if err := b.Delete(ctx, "m/never-existed"); err != nil {
		t.Fatalf("Delete of a missing object: %v", err)
	}
	_, err := b.Stat(ctx, "b/del")
	checkErr(t, "Stat after Delete", err, backends.ErrNotFound)
	checkBytes(t, "other object", mustGet(t, b, "b/keep"), []byte("kept"))
	page, err := b.List(ctx, "", "", 0)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(page.Items) != 1 || page.Items[0].Name != "b/keep" {
		t.Fatalf("List after Delete = %+v, want only b/keep", page.Items)
	}
}

func testOverwrite(t *testing.T, b backends.Backend) {
	for i, size := range []int{MiB + 1, 10, 0, 3 * MiB} {
		data := Pattern(uint64(100+i), size)
		mustPut(t, b, "b/over", data)
		checkBytes(t, fmt.Sprintf("overwrite #%d", i), mustGet(t, b, "b/over"), data)
	}
}

// testAtomicOverwrite overwrites one object with two contents of different
// sizes and byte values while a reader reads it in a loop; every read must
// return exactly one of the two contents.
func testAtomicOverwrite(t *testing.T, b backends.Backend) {
	const rounds = 24
	a := bytes.Repeat([]byte{0xA5}, 200*1024)
	c := bytes.Repeat([]byte{0x5A}, 300*1024+7)
	mustPut(t, b, "b/atomic", a)

	done := make(chan struct{})
	type result struct {
		reads, sawA, sawC int
		err               error
	}
	res := make(chan result, 1)
	go func() {
		var r result
		defer func() { res <- r }()
		for {
			select {
			case <-done:
				return
			default:
			}
			rc, err := b.Get(context.Background(), "b/atomic", 0, -1)
			if err != nil {
				r.err = fmt.Errorf("read %d: Get: %w", r.reads, err)
				return
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				r.err = fmt.Errorf("read %d: %w", r.reads, err)
				return
			}
			r.reads++
			switch {
			case bytes.Equal(got, a):
				r.sawA++
			case bytes.Equal(got, c):
				r.sawC++
			default:
				r.err = fmt.Errorf("read %d: %d bytes that are neither the old nor the new object", r.reads, len(got))
				return
			}
		}
	}()
	var putErr error
	for i := range rounds {
		data := c
		if i%2 == 1 {
			data = a
		}
		if err := b.Put(context.Background(), "b/atomic", bytes.NewReader(data), int64(len(data))); err != nil {
			putErr = fmt.Errorf("Put #%d: %w", i, err)
			break
		}
	}
	close(done)
	r := <-res
	if putErr != nil {
		t.Fatal(putErr)
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.reads == 0 || r.sawA+r.sawC != r.reads {
		t.Fatalf("reader: %+v", r)
	}
	t.Logf("%d concurrent reads: %d old, %d new", r.reads, r.sawA, r.sawC)
	checkBytes(t, "final", mustGet(t, b, "b/atomic"), a)
}

// testFailedPut checks that a Put whose body fails, falls short of or
// exceeds its declared size returns an error and changes nothing.
func testFailedPut(t *testing.T, b backends.Backend) {
	old := Pattern(1, 5000)
	tests := []struct {
		name string
		body func() io.Reader
		size int64
		want error // nil: any error
	}{
		{"error early known size", func() io.Reader { return &failingReader{Pattern(2, 1000), errInjected} }, 4000, errInjected},
		{"error early unknown size", func() io.Reader { return &failingReader{Pattern(2, 1000), errInjected} }, -1, errInjected},
		{"error at start", func() io.Reader { return &failingReader{nil, errInjected} }, -1, errInjected},
		{"error late known size", func() io.Reader { return &failingReader{Pattern(2, LargeSize-5), errInjected} }, LargeSize, errInjected},
		{"error late unknown size", func() io.Reader { return &failingReader{Pattern(2, LargeSize-5), errInjected} }, -1, errInjected},
		{"short", func() io.Reader { return opaque{bytes.NewReader(Pattern(3, 500))} }, 1000, backends.ErrPrecondition},
		{"short by one", func() io.Reader { return opaque{bytes.NewReader(Pattern(3, 999))} }, 1000, backends.ErrPrecondition},
		{"empty but sized", func() io.Reader { return opaque{bytes.NewReader(nil)} }, 10, backends.ErrPrecondition},
		{"short large", func() io.Reader { return opaque{bytes.NewReader(Pattern(3, LargeSize-1))} }, LargeSize, backends.ErrPrecondition},
		{"long", func() io.Reader { return opaque{bytes.NewReader(Pattern(4, 1001))} }, 1000, backends.ErrPrecondition},
		{"long from empty", func() io.Reader { return opaque{bytes.NewReader([]byte("x"))} }, 0, backends.ErrPrecondition},
		{"long large", func() io.Reader { return opaque{bytes.NewReader(Pattern(4, LargeSize+1))} }, LargeSize, backends.ErrPrecondition},
		{"negative size", func() io.Reader { return opaque{bytes.NewReader(Pattern(4, 10))} }, -2, backends.ErrPrecondition},
	}
	ctx := context.Background()
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			existing := fmt.Sprintf("b/failed-old-%d", i)
			fresh := fmt.Sprintf("b/failed-new-%d", i)
			mustPut(t, b, existing, old)
			for _, name := range []string{existing, fresh} {
				err := b.Put(ctx, name, tc.body(), tc.size)
				if err == nil {
					t.Fatalf("Put %s succeeded, want an error", name)
				}
				if tc.want != nil && !errors.Is(err, tc.want) {
					t.Fatalf("Put %s: got %v, want %v", name, err, tc.want)
				}
			}
			checkBytes(t, "old object after failed Put", mustGet(t, b, existing), old)
			_, err := b.Stat(ctx, fresh)
			checkErr(t, "Stat of a failed new object", err, backends.ErrNotFound)
		})
	}
	page, err := b.List(ctx, "", "", 0)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(page.Items) != len(tests) {
		t.Fatalf("List after failed Puts: %d objects, want %d", len(page.Items), len(tests))
	}
}

// ListNames returns the 2,500 names that testList stores: blobs under b/ and
// meta records under m/, and neighbours that sort around the directories
// ("b-x" < "b.x" < "b/..." < "b0").
func ListNames() []string {
	names := []string{"a", "b-x", "b.x", "b0", "ba", "c/d/e", "m-", "m.0", "z"}
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	for len(names) < 2500 {
		p := "b/"
		if len(names)%2 == 0 {
			p = "m/"
		}
		n := p + fmt.Sprintf("%016x", r.Uint64())[:4+r.IntN(12)]
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

func listAll(t *testing.T, b backends.Backend, prefix, startAfter string, limit int) ([]backends.Info, int) {
	t.Helper()
	var all []backends.Info
	pages := 0
	for {
		page, err := b.List(context.Background(), prefix, startAfter, limit)
		if err != nil {
			t.Fatalf("List(%q, %q, %d): %v", prefix, startAfter, limit, err)
		}
		pages++
		if limit > 0 && len(page.Items) > limit {
			t.Fatalf("List(%q, %q, %d) returned %d items", prefix, startAfter, limit, len(page.Items))
		}
		all = append(all, page.Items...)
		if page.Next == "" {
			return all, pages
		}
		if len(page.Items) == 0 || page.Next != page.Items[len(page.Items)-1].Name {
			t.Fatalf("List(%q, %q, %d): Next %q does not name the last of %d items", prefix, startAfter, limit, page.Next, len(page.Items))
		}
		startAfter = page.Next
		if pages > 10_000 {
			t.Fatalf("List does not terminate")
		}
	}
}

func testList(t *testing.T, b backends.Backend) {
	names := ListNames()
	sizes := map[string]int64{}
	var wg sync.WaitGroup
	errs := make(chan error, len(names))
	work := make(chan string)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				size := len(n) % 3
				if err := b.Put(context.Background(), n, bytes.NewReader(Pattern(9, size)), int64(size)); err != nil {
					errs <- fmt.Errorf("Put %s: %w", n, err)
				}
			}
		}()
	}
	for _, n := range names {
		sizes[n] = int64(len(n) % 3)
		work <- n
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	filter := func(prefix, after string) []string {
		var out []string
		for _, n := range names {
			if strings.HasPrefix(n, prefix) && n > after {
				out = append(out, n)
			}
		}
		return out
	}
	bName := filter("b/", "")[100]
	tests := []struct {
		prefix, after string
		limit         int
		pages         int // expected page count, 0: do not check
	}{
		{"", "", 0, 0},
		{"", "", 1000, 3},
		{"", "", 333, 8},
		{"", "", 2500, 1},
		{"b/", "", 100, 0},
		{"m/", "", 0, 0},
		{"b", "", 250, 0},
		{"c/", "", 0, 1},
		{"c/d", "", 0, 1},
		{"m", "m/", 0, 0},
		{"", bName, 500, 0},
		{"b/", bName, 0, 0},
		{"", "b/", 0, 0},
		{"", "b-", 700, 0},
		{"", "m", 0, 0},
		{"", "zz", 0, 1},
		{"nothing/", "", 0, 1},
		{"b/", "c", 0, 1},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("prefix=%q/after=%q/limit=%d", tc.prefix, tc.after, tc.limit), func(t *testing.T) {
			got, pages := listAll(t, b, tc.prefix, tc.after, tc.limit)
			want := filter(tc.prefix, tc.after)
			gotNames := make([]string, len(got))
			for i, it := range got {
				gotNames[i] = it.Name
				if it.Size != sizes[it.Name] {
					t.Fatalf("%s: size %d, want %d", it.Name, it.Size, sizes[it.Name])
				}
			}
			if !slices.Equal(gotNames, want) {
				t.Fatalf("listed %d names, want %d; first difference: %s", len(gotNames), len(want), firstDiff(gotNames, want))
			}
			if tc.pages != 0 && pages != tc.pages {
				t.Fatalf("%d pages, want %d", pages, tc.pages)
			}
		})
	}
}

func firstDiff(got, want []string) string {
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return fmt.Sprintf("at %d got %q want %q", i, g, w)
		}
	}
	return "none"
}

// InvalidNames returns names every backend must refuse with ErrInvalidName.
func InvalidNames() []string {
	return []string{
		"", "/abs", "a/../b", "..", ".", "a/./b", "a//b", "a/", "a\\b", "a\x00b",
		"a b", "ü", "a:b", "a/*", strings.Repeat("a", 513),
	}
}

func testInvalidNames(t *testing.T, b backends.Backend) {
	ctx := context.Background()
	for _, name := range InvalidNames() {
		err := b.Put(ctx, name, bytes.NewReader([]byte("x")), 1)
		checkErr(t, fmt.Sprintf("Put %q", name), err, backends.ErrInvalidName)
		rc, err := b.Get(ctx, name, 0, -1)
		if err == nil {
			rc.Close()
		}
		checkErr(t, fmt.Sprintf("Get %q", name), err, backends.ErrInvalidName)
		_, err = b.Stat(ctx, name)
		checkErr(t, fmt.Sprintf("Stat %q", name), err, backends.ErrInvalidName)
		err = b.Delete(ctx, name)
		checkErr(t, fmt.Sprintf("Delete %q", name), err, backends.ErrInvalidName)
	}
	for _, prefix := range []string{"/abs", "a\x00", "a\\", "../"} {
		_, err := b.List(ctx, prefix, "", 0)
		checkErr(t, fmt.Sprintf("List %q", prefix), err, backends.ErrInvalidName)
	}
	// A name of exactly 512 bytes is valid. Its segments are short enough
	// for any file system (at most 255 bytes each).
	long := "b/" + strings.Repeat(strings.Repeat("x", 99)+"/", 4) + strings.Repeat("y", 110)
	if len(long) != 512 {
		t.Fatalf("test bug: long name has %d bytes", len(long))
	}
	mustPut(t, b, long, []byte("long"))
	checkBytes(t, "512-byte name", mustGet(t, b, long), []byte("long"))
}

func testCanceled(t *testing.T, b backends.Backend) {
	mustPut(t, b, "b/there", []byte("there"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Put(ctx, "b/new", bytes.NewReader([]byte("x")), 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put: got %v, want context.Canceled", err)
	}
	if rc, err := b.Get(ctx, "b/there", 0, -1); !errors.Is(err, context.Canceled) {
		if err == nil {
			rc.Close()
		}
		t.Fatalf("Get: got %v, want context.Canceled", err)
	}
	if _, err := b.Stat(ctx, "b/there"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stat: got %v, want context.Canceled", err)
	}
	if err := b.Delete(ctx, "b/there"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Delete: got %v, want context.Canceled", err)
	}
	if _, err := b.List(ctx, "", "", 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("List: got %v, want context.Canceled", err)
	}

	// Canceled in the middle of a body: nothing becomes visible.
	for _, size := range []int64{LargeSize, -1} {
		ctx, cancel := context.WithCancel(context.Background())
		body := &cancelingReader{r: opaque{bytes.NewReader(Pattern(5, LargeSize))}, after: 2 * MiB, cancel: cancel}
		err := b.Put(ctx, "b/midway", body, size)
		cancel()
		if err == nil {
			t.Fatalf("Put (size %d) canceled midway succeeded", size)
		}
		_, err = b.Stat(context.Background(), "b/midway")
		checkErr(t, "Stat after canceled Put", err, backends.ErrNotFound)
	}
	checkBytes(t, "untouched object", mustGet(t, b, "b/there"), []byte("there"))
}
