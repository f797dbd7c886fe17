package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/backends/backendtest"
	"github.com/twincrypt/twincrypt/backends/s3"
	"github.com/twincrypt/twincrypt/internal/testenv"
)

func config(srv *testenv.S3Server, bucket string) s3.Config {
	return s3.Config{
		Name:      "vgw",
		Endpoint:  srv.Endpoint,
		Region:    srv.Region,
		Bucket:    bucket,
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
		Lookup:    s3.LookupPath,
		PartSize:  s3.MinPartSize,
	}
}

func open(t *testing.T, cfg s3.Config) *s3.Backend {
	t.Helper()
	b, err := s3.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	srv := testenv.StartVersityGW(t)
	n := 0
	backendtest.Run(t, func(t *testing.T) backends.Backend {
		n++
		cfg := config(srv, fmt.Sprintf("conformance-%d", n))
		cfg.CreateBucket = true
		b, err := s3.New(context.Background(), cfg)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return b
	})
}

// TestConformancePrefix runs the suite on a key prefix in a bucket that also
// holds keys outside the prefix and keys that are not valid object names.
func TestConformancePrefix(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	srv := testenv.StartVersityGW(t)
	n := 0
	backendtest.Run(t, func(t *testing.T) backends.Backend {
		n++
		bucket := fmt.Sprintf("prefix-%d", n)
		srv.Bucket(t, bucket)
		other := open(t, config(srv, bucket))
		for _, name := range []string{"b/outside", "m/outside", "z"} {
			if err := other.Put(context.Background(), name, strings.NewReader("x"), 1); err != nil {
				t.Fatal(err)
			}
		}
		cfg := config(srv, bucket)
		cfg.Prefix = "tenant/"
		cfg.Concurrency = 3
		b, err := s3.New(context.Background(), cfg)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return b
	})
}

func TestNew(t *testing.T) {
	srv := testenv.StartVersityGW(t)
	srv.Bucket(t, "exists")
	good := config(srv, "exists")
	tests := []struct {
		name   string
		modify func(*s3.Config)
		want   error // nil: any error
	}{
		{"no name", func(c *s3.Config) { c.Name = "" }, nil},
		{"no scheme", func(c *s3.Config) { c.Endpoint = strings.TrimPrefix(c.Endpoint, "http://") }, nil},
		{"ftp", func(c *s3.Config) { c.Endpoint = "ftp://127.0.0.1:1" }, nil},
		{"path", func(c *s3.Config) { c.Endpoint += "/bucket" }, nil},
		{"no bucket", func(c *s3.Config) { c.Bucket = "" }, nil},
		{"bad prefix", func(c *s3.Config) { c.Prefix = "../" }, backends.ErrInvalidName},
		{"part too small", func(c *s3.Config) { c.PartSize = 1 << 20 }, nil},
		{"negative concurrency", func(c *s3.Config) { c.Concurrency = -1 }, nil},
		{"bad lookup", func(c *s3.Config) { c.Lookup = 42 }, nil},
		{"missing bucket", func(c *s3.Config) { c.Bucket = "missing" }, backends.ErrNotFound},
		{"wrong secret", func(c *s3.Config) { c.SecretKey = "wrong" }, nil},
		{"server down", func(c *s3.Config) { c.Endpoint = "http://" + testenv.FreeAddr(t); c.MaxRetries = 1 }, backends.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.modify(&cfg)
			b, err := s3.New(context.Background(), cfg)
			if err == nil {
				b.Close()
				t.Fatal("New succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("New: %v, want %v", err, tc.want)
			}
		})
	}
	b := open(t, good)
	if b.Name() != "vgw" {
		t.Errorf("Name = %q", b.Name())
	}
	cfg := config(srv, "created")
	cfg.CreateBucket = true
	open(t, cfg)
	if fi, err := os.Stat(srv.Dir + "/created"); err != nil || !fi.IsDir() {
		t.Fatalf("bucket not created: %v", err)
	}
}

// TestSkipBucketCheck builds a backend for a provider that is down:
// requests fail with ErrUnavailable until the provider is back, and a
// missing bucket is neither created nor hidden.
func TestSkipBucketCheck(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartVersityGW(t)
	srv.Bucket(t, "later")
	srv.Stop()
	cfg := config(srv, "later")
	cfg.MaxRetries = 1
	if _, err := s3.New(ctx, cfg); !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("New with the provider down: %v, want ErrUnavailable", err)
	}
	cfg.SkipBucketCheck = true
	b := open(t, cfg)
	if _, err := b.List(ctx, "", "", 1); !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("List with the provider down: %v, want ErrUnavailable", err)
	}
	srv.Start()
	if err := b.Put(ctx, "b/x", strings.NewReader("x"), 1); err != nil {
		t.Fatalf("Put once the provider is back: %v", err)
	}
	cfg.Bucket = "never-made"
	cfg.CreateBucket = true
	m := open(t, cfg)
	if _, err := m.List(ctx, "", "", 1); !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("List of a missing bucket: %v, want ErrUnavailable", err)
	}
	if _, err := os.Stat(srv.Dir + "/never-made"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the skipped check created the bucket: %v", err)
	}
}

// TestPrefixIsolation checks that backends on different prefixes of one
// bucket do not see each other's objects.
func TestPrefixIsolation(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartVersityGW(t)
	srv.Bucket(t, "shared")
	var bs []*s3.Backend
	for _, p := range []string{"one/", "two/"} {
		cfg := config(srv, "shared")
		cfg.Prefix = p
		b := open(t, cfg)
		if err := b.Put(ctx, "b/x", strings.NewReader(p), int64(len(p))); err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	for i, b := range bs {
		page, err := b.List(ctx, "", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 1 || page.Items[0].Name != "b/x" || page.Items[0].Size != 4 {
			t.Fatalf("backend %d lists %+v", i, page.Items)
		}
	}
	if _, err := os.Stat(srv.Dir + "/shared/two/b/x"); err != nil {
		t.Fatalf("key layout: %v", err)
	}
}

// TestUnavailable checks that every operation against a stopped server
// fails with ErrUnavailable and that the backend recovers after a restart.
func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartVersityGW(t)
	cfg := config(srv, "down")
	cfg.CreateBucket = true
	cfg.MaxRetries = 1
	b := open(t, cfg)
	if err := b.Put(ctx, "b/x", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	ops := map[string]func() error{
		"put": func() error { return b.Put(ctx, "b/y", strings.NewReader("y"), 1) },
		"put large": func() error {
			return b.Put(ctx, "b/y", bytes.NewReader(backendtest.Pattern(1, 11<<20)), -1)
		},
		"get": func() error {
			rc, err := b.Get(ctx, "b/x", 0, -1)
			if err == nil {
				rc.Close()
			}
			return err
		},
		"stat":   func() error { _, err := b.Stat(ctx, "b/x"); return err },
		"delete": func() error { return b.Delete(ctx, "b/x") },
		"list":   func() error { _, err := b.List(ctx, "", "", 0); return err },
	}
	for op, fn := range ops {
		if err := fn(); !errors.Is(err, backends.ErrUnavailable) {
			t.Errorf("%s with the server down: %v, want ErrUnavailable", op, err)
		}
	}
	srv.Start()
	if _, err := b.Stat(ctx, "b/x"); err != nil {
		t.Fatalf("Stat after restart: %v", err)
	}
}

// gatedReader yields data, but stops at gate bytes until released.
type gatedReader struct {
	data    []byte
	gate    int
	reached chan struct{}
	release chan struct{}
	off     int
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.off == g.gate {
		close(g.reached)
		<-g.release
		g.gate = -1
	}
	if g.off >= len(g.data) {
		return 0, io.EOF
	}
	end := len(g.data)
	if g.gate > g.off {
		end = g.gate
	}
	n := copy(p, g.data[g.off:end])
	g.off += n
	return n, nil
}

// TestServerKilledMidWrite kills the server in the middle of a multipart
// Put and brings it back: the Put fails, and the old object is intact.
func TestServerKilledMidWrite(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartVersityGW(t)
	cfg := config(srv, "crash")
	cfg.CreateBucket = true
	cfg.MaxRetries = 2
	b := open(t, cfg)
	old := []byte("old contents")
	if err := b.Put(ctx, "b/obj", bytes.NewReader(old), int64(len(old))); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{-1, 17 << 20} {
		body := &gatedReader{
			data:    backendtest.Pattern(2, 17<<20),
			gate:    11 << 20, // two parts read, the third pending
			reached: make(chan struct{}),
			release: make(chan struct{}),
		}
		errc := make(chan error, 1)
		go func() { errc <- b.Put(ctx, "b/obj", body, size) }()
		<-body.reached
		srv.Stop()
		close(body.release)
		err := <-errc
		if !errors.Is(err, backends.ErrUnavailable) {
			t.Fatalf("Put (size %d) with the server killed: %v, want ErrUnavailable", size, err)
		}
		srv.Start()
		rc, err := b.Get(ctx, "b/obj", 0, -1)
		if err != nil {
			t.Fatalf("Get after restart: %v", err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, old) {
			t.Fatalf("object after the failed Put: %q, %v; want the old contents", got, err)
		}
	}
}

// TestPutMemory streams an object of unknown size and measures the peak
// heap while it uploads. It checks that memory is bounded by the part
// buffers, not by the object size. Set TWINCRYPT_PUT_MEMORY_SIZE (bytes) to
// measure with a larger object; the default is 256 MiB.
func TestPutMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	size := int64(256 << 20)
	if v := os.Getenv("TWINCRYPT_PUT_MEMORY_SIZE"); v != "" {
		if _, err := fmt.Sscan(v, &size); err != nil {
			t.Fatalf("TWINCRYPT_PUT_MEMORY_SIZE: %v", err)
		}
	}
	ctx := context.Background()
	srv := testenv.StartVersityGW(t)
	cfg := config(srv, "memory")
	cfg.CreateBucket = true
	cfg.PartSize = s3.DefaultPartSize
	cfg.Concurrency = 2
	b := open(t, cfg)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, total := ms.HeapInuse, ms.TotalAlloc
	var peak, peakAlloc atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			if ms.HeapAlloc > peakAlloc.Load() {
				peakAlloc.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	err := b.Put(ctx, "b/big", io.LimitReader(zeroReader{}, size), -1)
	close(stop)
	<-sampled
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	info, err := b.Stat(ctx, "b/big")
	if err != nil || info.Size != size {
		t.Fatalf("Stat: %+v, %v", info, err)
	}
	budget := uint64(cfg.PartSize) * uint64(cfg.Concurrency)
	grown := peak.Load() - min(base, peak.Load())
	runtime.ReadMemStats(&ms)
	t.Logf("object %d MiB, part buffers %d MiB: heap in use %d MiB before, peak %d MiB (+%d MiB); peak heap alloc %d MiB; %d MiB allocated in total",
		size>>20, budget>>20, base>>20, peak.Load()>>20, grown>>20, peakAlloc.Load()>>20, (ms.TotalAlloc-total)>>20)
	if grown > 2*budget+16<<20 {
		t.Fatalf("heap grew by %d MiB during the upload, want about %d MiB", grown>>20, budget>>20)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestResponseTimeout checks that a server that accepts connections but never
// answers makes requests fail with ErrUnavailable instead of hanging.
func TestResponseTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	_, err = s3.New(context.Background(), s3.Config{
		Name:       "silent",
		Endpoint:   "http://" + l.Addr().String(),
		Region:     "us-east-1",
		Bucket:     "bucket",
		Lookup:     s3.LookupPath,
		MaxRetries: 1,
		Timeout:    100 * time.Millisecond,
	})
	if !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("New against a silent server: %v, want ErrUnavailable", err)
	}
}

// TestVirtualHost addresses the bucket in the host name, as AWS does. The
// host names s3.test and <bucket>.s3.test are dialed at the test server.
func TestVirtualHost(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartVersityGW(t, "--virtual-domain", "s3.test")
	var dialed []string
	var mu sync.Mutex
	dialer := &net.Dialer{}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			dialed = append(dialed, addr)
			mu.Unlock()
			return dialer.DialContext(ctx, network, srv.Addr)
		},
	}
	_, port, _ := net.SplitHostPort(srv.Addr)
	cfg := config(srv, "vhost")
	cfg.Endpoint = "http://s3.test:" + port
	cfg.Lookup = s3.LookupVirtualHost
	cfg.Transport = transport
	cfg.CreateBucket = true
	b := open(t, cfg)
	data := backendtest.Pattern(8, 6<<20+1) // two parts
	if err := b.Put(ctx, "b/v", bytes.NewReader(data), -1); err != nil {
		t.Fatalf("Put: %v", err)
	}
	rc, err := b.Get(ctx, "b/v", 1, -1)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data[1:]) {
		t.Fatalf("Get: %d bytes, %v", len(got), err)
	}
	page, err := b.List(ctx, "b/", "", 0)
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("List: %+v, %v", page, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(dialed, "vhost.s3.test:"+port) {
		t.Fatalf("never dialed the bucket's virtual host; dialed %v", dialed)
	}
}

// payloadTransport records how PUT payloads are signed and, when flip is
// set, flips one byte of every PUT body on its way to the server.
type payloadTransport struct {
	flip bool
	mu   sync.Mutex
	puts []http.Header
}

func (p *payloadTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.Body != nil {
		p.mu.Lock()
		p.puts = append(p.puts, r.Header.Clone())
		p.mu.Unlock()
		if p.flip {
			r = r.Clone(r.Context())
			r.Body = &flipReader{r: r.Body, at: 100}
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

// flipReader inverts the byte at offset at: inside the first aws-chunked
// chunk's data, past its size line.
type flipReader struct {
	r   io.ReadCloser
	at  int64
	off int64
}

func (f *flipReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if i := f.at - f.off; i >= 0 && i < int64(n) {
		p[i] ^= 0xff
	}
	f.off += int64(n)
	return n, err
}

func (f *flipReader) Close() error { return f.r.Close() }

// TestPayloadChecksum checks how single-request PUTs protect their payload:
// by default headers signed, payload unsigned with a trailing CRC32C; with
// SignPayload a streaming SHA-256 signature (over http). In both modes a
// body damaged in transit is refused by the provider and nothing is stored.
func TestPayloadChecksum(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartVersityGW(t)
	for _, mode := range []struct {
		name          string
		sign          bool
		sha256, trail string // X-Amz-Content-Sha256 and X-Amz-Trailer sent
	}{
		{"crc32c trailer", false, "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "x-amz-checksum-crc32c"},
		{"signed payload", true, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", ""},
	} {
		for _, tc := range []struct {
			name string
			size int
		}{
			{"buffered 4 KiB", 4096},
			{"streamed 3 MiB", 3 << 20},
		} {
			t.Run(mode.name+"/"+tc.name, func(t *testing.T) {
				data := backendtest.Pattern(3, tc.size)
				for _, flip := range []bool{false, true} {
					tr := &payloadTransport{flip: flip}
					cfg := config(srv, "checksum")
					cfg.CreateBucket = true
					cfg.Transport = tr
					cfg.MaxRetries = 1
					cfg.SignPayload = mode.sign
					b := open(t, cfg)
					name := fmt.Sprintf("b/%d-%t-%t", tc.size, mode.sign, flip)
					err := b.Put(ctx, name, bytes.NewReader(data), int64(len(data)))
					tr.mu.Lock()
					if len(tr.puts) != 1 {
						t.Fatalf("flip=%t: %d PUT requests, want 1", flip, len(tr.puts))
					}
					h := tr.puts[0]
					tr.mu.Unlock()
					if got := h.Get("X-Amz-Content-Sha256"); got != mode.sha256 {
						t.Errorf("X-Amz-Content-Sha256 = %q, want %q", got, mode.sha256)
					}
					if got := h.Get("X-Amz-Trailer"); got != mode.trail {
						t.Errorf("X-Amz-Trailer = %q, want %q", got, mode.trail)
					}
					if !strings.Contains(h.Get("Authorization"), "Signature=") {
						t.Errorf("request not signed: Authorization %q", h.Get("Authorization"))
					}
					if !flip {
						if err != nil {
							t.Fatalf("Put: %v", err)
						}
						rc, err := b.Get(ctx, name, 0, -1)
						if err != nil {
							t.Fatalf("Get: %v", err)
						}
						got, err := io.ReadAll(rc)
						rc.Close()
						if err != nil || !bytes.Equal(got, data) {
							t.Fatalf("Get: %d bytes, %v; want the %d bytes put", len(got), err, len(data))
						}
						continue
					}
					if err == nil {
						t.Fatal("Put of a body damaged in transit succeeded")
					}
					t.Logf("damaged body refused: %v", err)
					if _, err := b.Stat(ctx, name); !errors.Is(err, backends.ErrNotFound) {
						t.Errorf("Stat after the refused Put: %v, want ErrNotFound", err)
					}
				}
			})
		}
	}
}
