package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/backends/local"
	"github.com/twincrypt/twincrypt/backends/replica"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/internal/testns"
)

// tripLog records provider requests as intervals on a logical clock, so
// that the round trips one namespace operation waits for can be counted:
// the longest chain of requests each of which started after the one
// before it ended.
type tripLog struct {
	clock atomic.Int64
	mu    sync.Mutex
	reqs  []trip
	// open and maxOpen count the Gets requested and not yet closed.
	open, maxOpen int
}

// opened and closed track the streams open at once.
func (l *tripLog) opened() {
	l.mu.Lock()
	l.open++
	l.maxOpen = max(l.maxOpen, l.open)
	l.mu.Unlock()
}

func (l *tripLog) closed() {
	l.mu.Lock()
	l.open--
	l.mu.Unlock()
}

// streams returns how many Gets are requested and not closed, and the most that were
// open at once since the last call, and starts counting anew.
func (l *tripLog) streams() (open, most int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	open, most = l.open, l.maxOpen
	l.maxOpen = l.open
	return open, most
}

type trip struct {
	member, op string
	start, end int64
}

func (l *tripLog) begin() int64 { return l.clock.Add(1) }

func (l *tripLog) done(member, op string, start int64) {
	end := l.clock.Add(1)
	l.mu.Lock()
	l.reqs = append(l.reqs, trip{member: member, op: op, start: start, end: end})
	l.mu.Unlock()
}

// take returns the requests recorded since the last call and forgets them.
func (l *tripLog) take() []trip {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.reqs
	l.reqs = nil
	return out
}

// roundTrips is the length of the longest chain of requests in which each
// began after the previous one ended.
func roundTrips(reqs []trip) int {
	sort.Slice(reqs, func(i, j int) bool { return reqs[i].end < reqs[j].end })
	depth := make([]int, len(reqs))
	best := 0
	for i, r := range reqs {
		depth[i] = 1
		for j := range i {
			if reqs[j].end < r.start {
				depth[i] = max(depth[i], depth[j]+1)
			}
		}
		best = max(best, depth[i])
	}
	return best
}

// farBackend is a provider that answers every request after a delay, as a
// provider far away does, and records each request in a tripLog. A Get
// lasts from the request until its reader is closed, so that a part read
// while the next one is requested counts as overlapping it.
type farBackend struct {
	backends.Backend
	log   *tripLog
	delay time.Duration
}

func (b *farBackend) wait(ctx context.Context) {
	t := time.NewTimer(b.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Put starts its request as a provider upload does: a body of up to
// 1 MiB once it is complete (it is buffered to be retryable), a larger one
// with its first bytes (it is streamed).
func (b *farBackend) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	var body io.Reader
	if size >= 0 && size <= 1<<20 {
		all, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		body = bytes.NewReader(all)
	} else {
		first := make([]byte, 64<<10)
		n, err := io.ReadAtLeast(r, first, 1)
		if err != nil && err != io.EOF {
			return err
		}
		body = io.MultiReader(bytes.NewReader(first[:n]), r)
	}
	s := b.log.begin()
	err := b.Backend.Put(ctx, name, body, size)
	b.wait(ctx)
	b.log.done(b.Name(), "put", s)
	return err
}

func (b *farBackend) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	s := b.log.begin()
	b.log.opened()
	b.wait(ctx)
	rc, err := b.Backend.Get(ctx, name, off, n)
	if err != nil {
		b.log.closed()
		b.log.done(b.Name(), "get", s)
		return nil, err
	}
	return &farReader{ReadCloser: rc, b: b, ctx: ctx, done: func() { b.log.closed(); b.log.done(b.Name(), "get", s) }}, nil
}

// farReader is a stream from a farBackend: its body takes another delay
// to arrive after the response's headers.
type farReader struct {
	io.ReadCloser
	b       *farBackend
	ctx     context.Context
	started bool
	once    sync.Once
	done    func()
}

func (r *farReader) Read(p []byte) (int, error) {
	if !r.started {
		r.started = true
		r.b.wait(r.ctx)
	}
	return r.ReadCloser.Read(p)
}

func (r *farReader) Close() error {
	r.once.Do(r.done)
	return r.ReadCloser.Close()
}

func (b *farBackend) Stat(ctx context.Context, name string) (backends.Info, error) {
	s := b.log.begin()
	b.wait(ctx)
	i, err := b.Backend.Stat(ctx, name)
	b.log.done(b.Name(), "stat", s)
	return i, err
}

func (b *farBackend) Delete(ctx context.Context, name string) error {
	s := b.log.begin()
	b.wait(ctx)
	err := b.Backend.Delete(ctx, name)
	op := "delete"
	if strings.HasPrefix(name, "m/") {
		op = "delete-record" // a superseded meta record
	}
	b.log.done(b.Name(), op, s)
	return err
}

func (b *farBackend) List(ctx context.Context, prefix, after string, limit int) (backends.ListPage, error) {
	s := b.log.begin()
	b.wait(ctx)
	p, err := b.Backend.List(ctx, prefix, after, limit)
	b.log.done(b.Name(), "list", s)
	return p, err
}

// farNamespace returns a namespace with a bucket "bucket" and an inline
// cache over two local providers that answer 20 ms late, another without
// an inline cache over the same providers and catalog, and the log of the
// providers' requests.
func farNamespace(t *testing.T) (ns, cold *gateway.Namespace, log *tripLog) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	keys := testns.Keys(t, dir)
	log = &tripLog{}
	var members []replica.Member
	for i, j := range []string{"DE", "CH"} {
		b, err := local.New(fmt.Sprintf("b%d", i), filepath.Join(dir, fmt.Sprintf("b%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, replica.Member{Backend: &farBackend{Backend: b, log: log, delay: 20 * time.Millisecond}, Jurisdiction: j})
	}
	cat, err := catalog.OpenBolt(filepath.Join(dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	set, err := replica.New(members, replica.Options{Queue: cat})
	if err != nil {
		t.Fatal(err)
	}
	ns, err = gateway.New(gateway.Options{Keys: keys, Store: set, Catalog: cat, InlineCache: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if cold, err = gateway.New(gateway.Options{Keys: keys, Store: set, Catalog: cat}); err != nil {
		t.Fatal(err)
	}
	if err := ns.CreateBucket(ctx, "bucket"); err != nil {
		t.Fatal(err)
	}
	return ns, cold, log
}

// TestProviderRoundTrips counts the provider requests and the round trips
// on each operation's critical path, with two providers that each take
// 20 ms to answer (the table "Provider round trips per operation" in
// docs/BENCHMARKS.md). A round trip is a request that could only start
// after another had ended; requests to the two providers at once, or to
// one provider at once, are one round trip.
func TestProviderRoundTrips(t *testing.T) {
	ctx := context.Background()
	ns, cold, log := farNamespace(t)
	small := bytes.Repeat([]byte("s"), 4096)    // inline: in its meta record
	medium := bytes.Repeat([]byte("m"), 12<<10) // more than InlineMax: a blob
	large := bytes.Repeat([]byte("L"), 3<<20)
	part := bytes.Repeat([]byte("p"), 5<<20)
	var getFrom func(ns *gateway.Namespace, key string, want int)
	var putTo func(ns *gateway.Namespace, key string, data []byte)
	put := func(key string, data []byte) { putTo(ns, key, data) }
	putTo = func(ns *gateway.Namespace, key string, data []byte) {
		t.Helper()
		if _, err := ns.PutObject(ctx, "bucket", key, bytes.NewReader(data), int64(len(data)), gateway.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(key string, want int) { getFrom(ns, key, want) }
	getFrom = func(ns *gateway.Namespace, key string, want int) {
		t.Helper()
		o, err := ns.Object(ctx, "bucket", key)
		if err != nil {
			t.Fatal(err)
		}
		r, err := o.NewReader(ctx, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, r)
		r.Close()
		if err != nil || n != int64(want) {
			t.Fatalf("GET %s: %d bytes, %v; want %d", key, n, err, want)
		}
	}
	var upload string
	var etags []gateway.CompletedPart
	steps := []struct {
		name string
		do   func()
		// want: provider requests in all (both providers) and round trips,
		// and of those the deletes of superseded meta records
		// (Namespace.dropRecord)
		reqs, trips, drops int
	}{
		{"PUT 4 KiB (new key)", func() { put("small", small) }, 2, 1, 0},
		{"PUT 4 KiB (overwrite)", func() { put("small", small) }, 4, 2, 2},
		{"PUT 12 KiB (new key)", func() { put("medium", medium) }, 4, 2, 0},
		{"PUT 12 KiB (overwrite)", func() { put("medium", medium) }, 8, 3, 2},
		{"PUT 3 MiB (new key)", func() { put("large", large) }, 4, 2, 0},
		{"GET 4 KiB", func() { get("small", len(small)) }, 0, 0, 0},
		{"GET 12 KiB", func() { get("medium", len(medium)) }, 1, 1, 0},
		{"GET 3 MiB", func() { get("large", len(large)) }, 1, 1, 0},
		{"HEAD", func() {
			if _, err := ns.Object(ctx, "bucket", "small"); err != nil {
				t.Fatal(err)
			}
		}, 0, 0, 0},
		{"LIST", func() {
			if _, err := ns.List(ctx, "bucket", gateway.ListOptions{}); err != nil {
				t.Fatal(err)
			}
		}, 0, 0, 0},
		{"COPY 4 KiB", func() {
			if _, err := ns.CopyObject(ctx, "bucket", "small", "bucket", "copy", nil); err != nil {
				t.Fatal(err)
			}
		}, 2, 1, 0},
		{"DELETE 4 KiB", func() {
			if err := ns.DeleteObject(ctx, "bucket", "copy"); err != nil {
				t.Fatal(err)
			}
		}, 4, 2, 2},
		{"multipart create", func() {
			var err error
			if upload, err = ns.CreateUpload(ctx, "bucket", "mp", nil); err != nil {
				t.Fatal(err)
			}
		}, 0, 0, 0},
		{"multipart part (5 MiB)", func() {
			for n := 1; n <= 3; n++ {
				etag, err := ns.UploadPart(ctx, "bucket", "mp", upload, n, bytes.NewReader(part), int64(len(part)))
				if err != nil {
					t.Fatal(err)
				}
				etags = append(etags, gateway.CompletedPart{Number: n, ETag: etag})
				if n < 3 {
					log.take()
				}
			}
		}, 2, 1, 0},
		{"multipart complete (3 parts)", func() {
			if _, err := ns.CompleteUpload(ctx, "bucket", "mp", upload, etags); err != nil {
				t.Fatal(err)
			}
		}, 2, 1, 0},
		{"GET 3 parts of 5 MiB", func() { get("mp", 3*len(part)) }, 3, 1, 0},
		{"PUT 4 KiB over the 3-part object", func() { put("mp", small) }, 10, 2, 2},
		{"WebDAV MOVE (rename)", func() {
			if _, err := ns.Rename(ctx, "bucket", "large", "bucket", "moved"); err != nil {
				t.Fatal(err)
			}
		}, 6, 3, 2},
		{"DELETE 5 MiB", func() {
			put("five", part)
			log.take()
			if err := ns.DeleteObject(ctx, "bucket", "five"); err != nil {
				t.Fatal(err)
			}
		}, 6, 2, 2},
		// A gateway whose inline cache does not hold the object (another
		// instance wrote it, or it was evicted) reads its record from
		// one provider; an overwrite or delete needs nothing of it.
		{"GET 4 KiB (not in the inline cache)", func() { getFrom(cold, "small", len(small)) }, 1, 1, 0},
		{"PUT 4 KiB overwrite (not in the inline cache)", func() { putTo(cold, "mp", small) }, 4, 2, 2},
		{"DELETE 4 KiB (not in the inline cache)", func() {
			if err := cold.DeleteObject(ctx, "bucket", "small"); err != nil {
				t.Fatal(err)
			}
		}, 4, 2, 2},
	}
	var table strings.Builder
	table.WriteString("| operation | provider requests | round trips | superseded records deleted |\n|---|---:|---:|---:|\n")
	for _, st := range steps {
		log.take()
		st.do()
		reqs := log.take()
		drops := 0
		for _, r := range reqs {
			if r.op == "delete-record" {
				drops++
			}
		}
		n, rt := len(reqs), roundTrips(reqs)
		fmt.Fprintf(&table, "| %s | %d | %d | %d |\n", st.name, n, rt, drops)
		if n != st.reqs || rt != st.trips || drops != st.drops {
			ops := make([]string, 0, len(reqs))
			for _, r := range reqs {
				ops = append(ops, fmt.Sprintf("%s:%s[%d,%d]", r.member, r.op, r.start, r.end))
			}
			slices.Sort(ops)
			t.Errorf("%s: %d provider requests in %d round trips, %d superseded records deleted, want %d in %d and %d: %v", st.name, n, rt, drops, st.reqs, st.trips, st.drops, ops)
		}
	}
	t.Logf("\n%s", table.String())
}

// TestPartsAheadBounded reads objects of many parts from far providers:
// the reader keeps at most 8 parts (or 64 MiB) requested beyond the one it
// reads, and every stream is closed once the reader is, also when it is
// closed early.
func TestPartsAheadBounded(t *testing.T) {
	ctx := context.Background()
	ns, _, log := farNamespace(t)
	tests := []struct {
		name     string
		parts    int
		partSize int
		readN    int64 // bytes read before Close; -1: all
		wantMost int   // the most streams requested at once
	}{
		{"12 parts of 5 MiB: 8 ahead", 12, 5 << 20, -1, 9},
		{"6 parts of 20 MiB: 64 MiB ahead", 6, 20 << 20, -1, 5},
		{"closed after one byte", 12, 5 << 20, 1, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := ns.CreateUpload(ctx, "bucket", "many", nil)
			if err != nil {
				t.Fatal(err)
			}
			part := bytes.Repeat([]byte("m"), tt.partSize)
			var done []gateway.CompletedPart
			for n := 1; n <= tt.parts; n++ {
				etag, err := ns.UploadPart(ctx, "bucket", "many", id, n, bytes.NewReader(part), int64(len(part)))
				if err != nil {
					t.Fatal(err)
				}
				done = append(done, gateway.CompletedPart{Number: n, ETag: etag})
			}
			if _, err := ns.CompleteUpload(ctx, "bucket", "many", id, done); err != nil {
				t.Fatal(err)
			}
			o, err := ns.Object(ctx, "bucket", "many")
			if err != nil {
				t.Fatal(err)
			}
			log.streams()
			r, err := o.NewReader(ctx, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			var n int64
			if tt.readN < 0 {
				n, err = io.Copy(io.Discard, r)
				if want := int64(tt.parts * tt.partSize); n != want {
					t.Errorf("read %d bytes, want %d", n, want)
				}
			} else {
				n, err = io.CopyN(io.Discard, r, tt.readN)
			}
			if err != nil {
				t.Fatalf("after %d bytes: %v", n, err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			open, most := log.streams()
			if open != 0 {
				t.Errorf("%d provider streams still open after Close", open)
			}
			if most > tt.wantMost || most < 2 {
				t.Errorf("%d provider streams requested at once, want 2 to %d", most, tt.wantMost)
			}
		})
	}
}
