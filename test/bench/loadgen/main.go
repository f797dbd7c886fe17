// Command loadgen is the S3 and WebDAV load generator of test/bench/run. It
// runs one workload against one server and prints one JSON line:
//
//	{"ops":N,"bytes":N,"secs":F,"p50_ms":F,"p99_ms":F,"client_cpu_s":F}
//
// client_cpu_s is the CPU time (user + system) loadgen itself used over the
// whole run: on a machine where client and server share the cores, it shows
// how much of them the client took.
//
// The S3 side uses minio-go v7 with its defaults (path-style, SigV4 with a
// streaming-signed payload over plain HTTP), so every server sees the same
// requests. Payload bytes come from a fixed pseudo-random pattern, never
// from disk, and downloads are discarded.
//
// Workloads (-w):
//
//	mkbucket   create -bucket (an existing bucket is fine)
//	put        -count objects of -size bytes named -prefix + index, -parallel at a time
//	           (single PUT requests: multipart disabled)
//	get        read them back, -parallel at a time
//	list       list -prefix completely, -count times; ops counts listed keys
//	range      -count one-byte range GETs at random offsets of object -prefix (size -size)
//	dav-put    WebDAV PUT of -count files of -size bytes at -dav URL + prefix + index
//	dav-get    WebDAV GET of them
//	propfind   -count PROPFIND Depth 1 of -dav URL + -prefix; ops counts entries
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

type result struct {
	Ops   int64   `json:"ops"`
	Bytes int64   `json:"bytes"`
	Secs  float64 `json:"secs"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	CPU   float64 `json:"client_cpu_s"`
}

var (
	endpoint = flag.String("endpoint", "", "S3 endpoint host:port")
	access   = flag.String("access", "", "access key (also the WebDAV user)")
	secret   = flag.String("secret", "", "secret key (also the WebDAV password)")
	bucket   = flag.String("bucket", "bench", "bucket")
	prefix   = flag.String("prefix", "obj", "object name, or prefix of object names")
	size     = flag.Int64("size", 4096, "object size in bytes")
	count    = flag.Int("count", 1, "number of objects or operations")
	parallel = flag.Int("parallel", 1, "concurrent requests")
	davURL   = flag.String("dav", "", "WebDAV base URL, ending in /")
	work     = flag.String("w", "", "workload")
	partSize = flag.Uint64("partsize", 0, "put: multipart upload with parts of this size (0: single PUT requests)")
	threads  = flag.Uint("threads", 4, "put: multipart parts in flight")
)

// pattern is the payload source: 1 MiB of pseudo-random bytes, repeated.
var pattern = func() []byte {
	b := make([]byte, 1<<20)
	r := rand.NewChaCha8([32]byte{'t', 'w', 'i', 'n'})
	r.Read(b)
	return b
}()

// payload is an io.Reader (only: no Seek, no ReadAt, so clients stream it)
// of n pattern bytes.
type payload struct {
	off, n int64
}

func (p *payload) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if rem := p.n - p.off; int64(len(b)) > rem {
		b = b[:rem]
	}
	k := copy(b, pattern[p.off%int64(len(pattern)):])
	p.off += int64(k)
	return k, nil
}

func main() {
	flag.Parse()
	ctx := context.Background()
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	var cl *minio.Client
	if *endpoint != "" {
		var err error
		cl, err = minio.New(*endpoint, &minio.Options{
			Creds:        credentials.NewStaticV4(*access, *secret, ""),
			Secure:       false,
			Region:       "us-east-1",
			BucketLookup: minio.BucketLookupPath,
			Transport:    tr,
		})
		if err != nil {
			fail(err)
		}
	}
	hc := &http.Client{Transport: tr}
	name := func(i int) string {
		if *count == 1 && *work != "dav-put" && *work != "dav-get" {
			return *prefix
		}
		return fmt.Sprintf("%s%06d", *prefix, i)
	}

	var res result
	switch *work {
	case "mkbucket":
		err := cl.MakeBucket(ctx, *bucket, minio.MakeBucketOptions{Region: "us-east-1"})
		if err != nil {
			if ok, e2 := cl.BucketExists(ctx, *bucket); e2 != nil || !ok {
				fail(err)
			}
		}
	case "put":
		res = run(*count, *parallel, func(i int) (int64, error) {
			opts := minio.PutObjectOptions{DisableMultipart: true, ContentType: "application/octet-stream"}
			if *partSize > 0 && uint64(*size) > *partSize {
				opts.DisableMultipart = false
				opts.PartSize, opts.NumThreads, opts.ConcurrentStreamParts = *partSize, *threads, true
			}
			_, err := cl.PutObject(ctx, *bucket, name(i), &payload{n: *size}, *size, opts)
			return *size, err
		})
	case "get":
		res = run(*count, *parallel, func(i int) (int64, error) {
			o, err := cl.GetObject(ctx, *bucket, name(i), minio.GetObjectOptions{})
			if err != nil {
				return 0, err
			}
			defer o.Close()
			n, err := io.Copy(io.Discard, o)
			if err == nil && n != *size {
				err = fmt.Errorf("%s: got %d bytes, want %d", name(i), n, *size)
			}
			return n, err
		})
	case "list":
		var keys atomic.Int64
		res = run(*count, 1, func(int) (int64, error) {
			var n int64
			for o := range cl.ListObjects(ctx, *bucket, minio.ListObjectsOptions{Prefix: *prefix, Recursive: true}) {
				if o.Err != nil {
					return 0, o.Err
				}
				n++
			}
			keys.Add(n)
			return 0, nil
		})
		res.Ops = keys.Load()
	case "range":
		rng := rand.New(rand.NewPCG(1, 2))
		offs := make([]int64, *count)
		for i := range offs {
			offs[i] = rng.Int64N(*size)
		}
		res = run(*count, *parallel, func(i int) (int64, error) {
			var o minio.GetObjectOptions
			if err := o.SetRange(offs[i], offs[i]); err != nil {
				return 0, err
			}
			obj, err := cl.GetObject(ctx, *bucket, *prefix, o)
			if err != nil {
				return 0, err
			}
			defer obj.Close()
			b, err := io.ReadAll(obj)
			if err == nil && (len(b) != 1 || b[0] != pattern[offs[i]%int64(len(pattern))]) {
				err = fmt.Errorf("range %d: got %d bytes %x", offs[i], len(b), b)
			}
			return int64(len(b)), err
		})
	case "dav-put":
		res = run(*count, *parallel, func(i int) (int64, error) {
			req, err := http.NewRequestWithContext(ctx, "PUT", *davURL+name(i), &payload{n: *size})
			if err != nil {
				return 0, err
			}
			req.ContentLength = *size
			req.SetBasicAuth(*access, *secret)
			return *size, do(hc, req, nil)
		})
	case "dav-get":
		res = run(*count, *parallel, func(i int) (int64, error) {
			req, err := http.NewRequestWithContext(ctx, "GET", *davURL+name(i), nil)
			if err != nil {
				return 0, err
			}
			req.SetBasicAuth(*access, *secret)
			var n int64
			err = do(hc, req, func(r io.Reader) error {
				var err error
				n, err = io.Copy(io.Discard, r)
				return err
			})
			if err == nil && n != *size {
				err = fmt.Errorf("%s: got %d bytes, want %d", name(i), n, *size)
			}
			return n, err
		})
	case "propfind":
		var entries atomic.Int64
		body := `<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`
		res = run(*count, 1, func(int) (int64, error) {
			req, err := http.NewRequestWithContext(ctx, "PROPFIND", *davURL+*prefix, strings.NewReader(body))
			if err != nil {
				return 0, err
			}
			req.SetBasicAuth(*access, *secret)
			req.Header.Set("Depth", "1")
			req.Header.Set("Content-Type", "application/xml")
			var n int64
			err = do(hc, req, func(r io.Reader) error {
				b, err := io.ReadAll(r)
				n = int64(bytes.Count(b, []byte("<D:response"))) + int64(bytes.Count(b, []byte("<d:response")))
				if n == 0 {
					n = int64(bytes.Count(b, []byte(":response>"))) / 2
				}
				return err
			})
			entries.Add(n)
			return 0, err
		})
		res.Ops = entries.Load()
	default:
		fail(fmt.Errorf("unknown workload %q", *work))
	}
	res.CPU = cpuSeconds()
	json.NewEncoder(os.Stdout).Encode(res)
}

// cpuSeconds returns the CPU time the process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// do sends req and checks for a 2xx status; body, if set, consumes the
// response body.
func do(hc *http.Client, req *http.Request, body func(io.Reader) error) error {
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, b)
	}
	if body != nil {
		return body(resp.Body)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// run calls op(0..n-1) on parallel workers and summarises the latencies.
func run(n, parallel int, op func(i int) (int64, error)) result {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var bytesDone atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range max(1, min(parallel, n)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				b, err := op(i)
				lat[i] = time.Since(t)
				bytesDone.Add(b)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if firstErr != nil {
		fail(firstErr)
	}
	slices.Sort(lat)
	ms := func(q float64) float64 {
		i := int(q * float64(len(lat)-1))
		return float64(lat[i].Microseconds()) / 1000
	}
	return result{Ops: int64(n), Bytes: bytesDone.Load(), Secs: secs, P50: ms(0.50), P99: ms(0.99)}
}

func fail(err error) {
	var me minio.ErrorResponse
	if errors.As(err, &me) {
		err = fmt.Errorf("%w (code %s, status %s)", err, me.Code, strconv.Itoa(me.StatusCode))
	}
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(1)
}
