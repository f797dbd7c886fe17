package replica_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/backends/backendtest"
	"github.com/twincrypt/twincrypt/backends/local"
	"github.com/twincrypt/twincrypt/backends/replica"
	"github.com/twincrypt/twincrypt/backends/s3"
	"github.com/twincrypt/twincrypt/internal/testenv"
)

// counting wraps a backend and counts Get calls.
type counting struct {
	backends.Backend
	mu   sync.Mutex
	gets int
}

func (c *counting) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	return c.Backend.Get(ctx, name, off, n)
}

func (c *counting) Gets() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets
}

// hookReader calls hook once, after at bytes have been read.
type hookReader struct {
	r    io.Reader
	n    int64
	at   int64
	hook func()
}

func (h *hookReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.n += int64(n)
	if h.hook != nil && h.n >= h.at {
		h.hook()
		h.hook = nil
	}
	return n, err
}

// patternReader yields size deterministic bytes.
func patternReader(size int64) io.Reader {
	block := backendtest.Pattern(7, 1<<20)
	return io.LimitReader(&repeat{block: block}, size)
}

type repeat struct {
	block []byte
	off   int
}

func (r *repeat) Read(p []byte) (int, error) {
	n := copy(p, r.block[r.off:])
	r.off = (r.off + n) % len(r.block)
	return n, nil
}

func digest(t *testing.T, b backends.Backend, name string) ([32]byte, int64) {
	t.Helper()
	rc, err := b.Get(context.Background(), name, 0, -1)
	if err != nil {
		t.Fatalf("%s: Get: %v", b.Name(), err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		t.Fatalf("%s: read: %v", b.Name(), err)
	}
	return [32]byte(h.Sum(nil)), n
}

type s3Env struct {
	srv   *testenv.S3Server
	local *local.Backend
	s3    *s3.Backend
}

// newS3Env starts versitygw and returns a local member and an S3 member
// reaching the server at endpoint (the server's own, or a proxy's when
// endpoint is not empty).
func newS3Env(t *testing.T, proxy bool) (*s3Env, *testenv.Proxy) {
	t.Helper()
	srv := testenv.StartVersityGW(t)
	srv.Bucket(t, "twincrypt")
	endpoint := srv.Endpoint
	var p *testenv.Proxy
	if proxy {
		p = testenv.StartProxy(t, srv.Addr)
		endpoint = p.Endpoint()
	}
	lb, err := local.New("frankfurt", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sb, err := s3.New(context.Background(), s3.Config{
		Name: "zurich", Endpoint: endpoint, Region: srv.Region, Bucket: "twincrypt",
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Lookup: s3.LookupPath,
		PartSize: s3.MinPartSize, MaxRetries: 2, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close(); lb.Close() })
	return &s3Env{srv: srv, local: lb, s3: sb}, p
}

// TestS3KillMidWrite kills versitygw in the middle of a 200 MiB write
// through a set of a local and an S3 member.
func TestS3KillMidWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 200 MiB to two members")
	}
	const size = 200 << 20
	tests := []struct {
		name      string
		minWrites int
	}{
		{"min_writes 2 fails cleanly", 2},
		{"min_writes 1 succeeds and repairs", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := newS3Env(t, false)
			q := replica.NewMemQueue()
			set, err := replica.New([]replica.Member{
				{Backend: env.local, Jurisdiction: "DE"},
				{Backend: env.s3, Jurisdiction: "CH"},
			}, replica.Options{MinWrites: tc.minWrites, Queue: q})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			r := &hookReader{r: patternReader(size), at: size / 2, hook: env.srv.Stop}
			err = set.Put(ctx, "b/big", r, size)
			if tc.minWrites == 2 {
				if !errors.Is(err, replica.ErrQuorum) || !strings.Contains(err.Error(), "zurich") {
					t.Fatalf("Put = %v, want a quorum error naming zurich", err)
				}
				if _, err := env.local.Stat(ctx, "b/big"); !errors.Is(err, backends.ErrNotFound) {
					t.Errorf("local member after failed write: Stat = %v, want ErrNotFound", err)
				}
				env.srv.Start()
				if _, err := env.s3.Stat(ctx, "b/big"); !errors.Is(err, backends.ErrNotFound) {
					t.Errorf("s3 member after failed write: Stat = %v, want ErrNotFound", err)
				}
				for _, b := range []backends.Backend{env.local, env.s3} {
					page, err := b.List(ctx, "", "", 0)
					if err != nil || len(page.Items) != 0 {
						t.Errorf("%s lists %+v, %v after a failed write; want nothing", b.Name(), page.Items, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Put with min_writes 1: %v", err)
			}
			tasks, _ := q.Pending(ctx, 0)
			if len(tasks) != 1 || tasks[0].Backend != "zurich" || tasks[0].Op != replica.OpPut {
				t.Fatalf("queue %+v, want one OpPut task for zurich", tasks)
			}
			env.srv.Start()
			st, err := set.Repair(ctx)
			if err != nil || st.Healed != 1 || q.Len() != 0 {
				t.Fatalf("Repair %+v, %v, queue %d", st, err, q.Len())
			}
			dl, nl := digest(t, env.local, "b/big")
			ds, ns := digest(t, env.s3, "b/big")
			dw, _ := digest(t, backendFromReader(patternReader(size)), "b/big")
			if nl != size || ns != size || dl != ds || dl != dw {
				t.Fatalf("after repair: local %d bytes, s3 %d bytes, identical %v, match input %v", nl, ns, dl == ds, dl == dw)
			}
		})
	}
}

// backendFromReader is a one-object backend for digest.
func backendFromReader(r io.Reader) backends.Backend { return readerBackend{r} }

type readerBackend struct{ r io.Reader }

func (b readerBackend) Name() string { return "input" }
func (b readerBackend) Get(context.Context, string, int64, int64) (io.ReadCloser, error) {
	return io.NopCloser(b.r), nil
}
func (readerBackend) Put(context.Context, string, io.Reader, int64) error { return nil }
func (readerBackend) Stat(context.Context, string) (backends.Info, error) {
	return backends.Info{}, nil
}
func (readerBackend) Delete(context.Context, string) error { return nil }
func (readerBackend) List(context.Context, string, string, int) (backends.ListPage, error) {
	return backends.ListPage{}, nil
}
func (readerBackend) Close() error { return nil }

// TestS3HangingMemberViaProxy puts a TCP proxy in front of versitygw and
// makes it hang: reads keep coming from the local member, the S3 member
// receives only as many requests as the breaker threshold, and after the
// proxy passes again a probe brings it back.
func TestS3HangingMemberViaProxy(t *testing.T) {
	env, proxy := newS3Env(t, true)
	cs3 := &counting{Backend: env.s3}
	var clkMu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { clkMu.Lock(); defer clkMu.Unlock(); return now }
	q := replica.NewMemQueue()
	set, err := replica.New([]replica.Member{
		{Backend: cs3, Jurisdiction: "CH", Priority: 0},
		{Backend: env.local, Jurisdiction: "DE", Priority: 1},
	}, replica.Options{
		MinWrites:      1,
		Queue:          q,
		Clock:          clock,
		RequestTimeout: time.Second,
		StallTimeout:   time.Minute,
		Breaker:        replica.BreakerOptions{Threshold: 2, Cooldown: time.Minute},
		Logger:         slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := backendtest.Pattern(3, 3<<20)
	if err := set.Put(ctx, "b/obj", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	proxy.Hang()
	for i := range 5 {
		rc, err := set.Get(ctx, "b/obj", 0, -1)
		if err != nil {
			t.Fatalf("Get %d: %v", i, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Get %d: %d bytes, %v", i, len(got), err)
		}
	}
	if n := cs3.Gets(); n != 2 {
		t.Errorf("hanging S3 member received %d Gets, want 2 (the breaker threshold)", n)
	}
	if h := set.Health()[0]; h.State != replica.StateDown {
		t.Fatalf("S3 member state %s, want down", h.State)
	}
	// A write while it is down goes to the local member and is queued.
	big := backendtest.Pattern(4, 12<<20)
	if err := set.Put(ctx, "b/while-down", bytes.NewReader(big), int64(len(big))); err != nil {
		t.Fatal(err)
	}
	if q.Len() != 1 {
		t.Fatalf("queue holds %d tasks, want 1", q.Len())
	}
	proxy.Cut()
	proxy.Pass()
	clkMu.Lock()
	now = now.Add(time.Minute)
	clkMu.Unlock()
	st, err := set.Repair(ctx) // probes inline, then heals
	if err != nil || st.Healed != 1 {
		t.Fatalf("Repair %+v, %v", st, err)
	}
	if h := set.Health()[0]; h.State != replica.StateUp {
		t.Fatalf("S3 member state %s after probe, want up", h.State)
	}
	if d1, _ := digest(t, env.s3, "b/while-down"); d1 != sha256.Sum256(big) {
		t.Fatal("repaired S3 copy differs")
	}
}

// TestS3StalledWriteViaProxy hangs the proxy in front of versitygw during a
// write with min_writes 1: the stalled S3 member is aborted, the write
// succeeds on the local member with a repair task, and Repair heals the S3
// member once the proxy passes again.
func TestS3StalledWriteViaProxy(t *testing.T) {
	env, proxy := newS3Env(t, true)
	q := replica.NewMemQueue()
	set, err := replica.New([]replica.Member{
		{Backend: env.local, Jurisdiction: "DE"},
		{Backend: env.s3, Jurisdiction: "CH"},
	}, replica.Options{MinWrites: 1, Queue: q, StallTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	proxy.Hang()
	data := backendtest.Pattern(5, 16<<20)
	if err := set.Put(ctx, "b/stalled", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put: %v", err)
	}
	tasks, _ := q.Pending(ctx, 0)
	if len(tasks) != 1 || tasks[0].Backend != "zurich" {
		t.Fatalf("queue %+v, want one task for zurich", tasks)
	}
	proxy.Cut()
	proxy.Pass()
	if _, err := env.s3.Stat(ctx, "b/stalled"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("aborted S3 write is visible: Stat = %v", err)
	}
	if st, err := set.Repair(ctx); err != nil || st.Healed != 1 {
		t.Fatalf("Repair %+v, %v", st, err)
	}
	if d, n := digest(t, env.s3, "b/stalled"); n != int64(len(data)) || d != sha256.Sum256(data) {
		t.Fatal("repaired S3 copy differs")
	}
}

// testWriter sends log output to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
