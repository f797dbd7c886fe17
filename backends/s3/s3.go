// Package s3 implements a backends.Backend on an S3-compatible object store
// (AWS S3, MinIO, versitygw, Ceph RGW, and the like) with minio-go.
//
// # Objects
//
// An object name maps to the key Config.Prefix + name in Config.Bucket. S3
// replaces objects atomically, so readers see the old or the new object,
// never a mix.
//
// # Uploads and memory
//
// A body of known size above 1 MiB is streamed without buffering: one PUT
// request up to 5 GiB, above that a multipart upload whose parts (of
// Config.PartSize, or more when 10000 parts would not suffice) are sent one
// after the other. Such a Put holds a few hundred KiB whatever the size, so
// many of them can run at once; its requests are not retried (the body
// cannot be replayed), and a member that fails one is healed by the
// replicated set's repair queue or the client's retry.
//
// Smaller bodies, and bodies of unknown size (-1), are read into part
// buffers of Config.PartSize bytes (16 MiB by default), which makes each
// request retryable. A body that fits in one part is sent with one PUT
// request; a larger one becomes a multipart upload with up to
// Config.Concurrency parts (2 by default) in flight while the next is read.
// Such a Put holds at most PartSize x Concurrency bytes (32 MiB by default)
// whatever the object's size. A body that
// fails, or is shorter or longer than its declared size, aborts the upload
// before anything becomes visible. A multipart upload that this process
// could not abort (because it crashed) stays invisible but holds storage
// until the bucket's lifecycle rule AbortIncompleteMultipartUpload removes
// it; configure one.
//
// # Payload integrity
//
// Requests are signed with SigV4. A single-request PUT (every body up to
// 5 GiB) signs its headers and sends the payload as UNSIGNED-PAYLOAD with a
// trailing x-amz-checksum-crc32c of the whole body, which the provider
// checks before it stores anything: a body damaged in transit is refused.
// Signing the payload would add a SHA-256 pass over every byte on both ends
// (over plain HTTP, where minio-go would otherwise sign each chunk) and would
// protect nothing more: the body is twincrypt ciphertext, authenticated
// end to end, so a provider or a man in the middle that alters it is caught
// by the reader, which then reads the other copy. The provider must accept
// aws-chunked bodies with trailing checksums (AWS S3, MinIO and versitygw
// do); Config.SignPayload goes back to signed payloads for one that does
// not. Parts of multipart uploads keep streaming SHA-256 signatures: a part
// checksum would have to be declared when the upload is created and
// repeated when it completes.
//
// # Retries, timeouts and errors
//
// minio-go retries a failed request up to Config.MaxRetries attempts with
// jittered exponential backoff (200 ms unit, capped at 1 s) on network
// errors, 5xx and throttling responses. Config.Timeout bounds connecting, the
// TLS handshake and the wait for response headers of each request; it never
// bounds a whole transfer, so large objects are not cut off. Errors wrap the
// sentinels of package backends: a missing key is ErrNotFound, a network
// failure, 5xx, throttling or a missing bucket is ErrUnavailable, and an
// unsatisfiable range is ErrPrecondition.
//
// # Bucket
//
// New checks that the bucket exists. If it does not, New creates it when
// Config.CreateBucket is set and fails with ErrNotFound otherwise, so that a
// typo in a production config does not silently create a new bucket. A
// provider that cannot be reached makes New fail with ErrUnavailable, unless
// Config.SkipBucketCheck is set: then New does no I/O and the first requests
// find out.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/twincrypt/twincrypt/backends"
)

// Defaults for the zero values of Config fields.
const (
	DefaultPartSize    = 16 << 20
	MinPartSize        = 5 << 20 // the smallest part S3 accepts (but the last)
	MaxPartSize        = 5 << 30
	DefaultConcurrency = 2
	DefaultMaxRetries  = 10
	DefaultTimeout     = time.Minute
	defaultPageSize    = 1000
	smallBody          = 1 << 20 // a body of unknown size is first read into a growing buffer up to this size; a larger body of known size is streamed
	maxSinglePut       = 5 << 30 // the largest object S3 accepts in one PUT request
	maxParts           = 10000   // the most parts of one multipart upload
)

// Lookup selects how the bucket is addressed.
type Lookup int

const (
	// LookupAuto uses virtual-host style for endpoints known to support it
	// (AWS, Google, Aliyun) and path style elsewhere.
	LookupAuto Lookup = iota
	// LookupPath addresses the bucket in the path: http://host/bucket/key.
	LookupPath
	// LookupVirtualHost addresses the bucket in the host name:
	// http://bucket.host/key.
	LookupVirtualHost
)

// Config describes one S3-compatible backend.
type Config struct {
	Name      string // backend name, used in errors and logs
	Endpoint  string // base URL: http://127.0.0.1:7070 or https://s3.eu-central-1.amazonaws.com
	Region    string // for example "us-east-1"; empty: ask the server
	Bucket    string
	AccessKey string
	SecretKey string
	// Prefix is prepended to every object name to form the key, for
	// example "twincrypt/" to share a bucket. Empty by default.
	Prefix string
	// Lookup selects path-style or virtual-host-style addressing.
	Lookup Lookup
	// PartSize is the size of one upload part and of one upload buffer;
	// 0 means DefaultPartSize. It must lie in [MinPartSize, MaxPartSize].
	PartSize int64
	// Concurrency is how many parts of one Put are uploaded at once;
	// 0 means DefaultConcurrency.
	Concurrency int
	// MaxRetries is how many attempts each request gets; 0 means
	// DefaultMaxRetries, 1 disables retries.
	MaxRetries int
	// Timeout bounds dialing, the TLS handshake and the wait for
	// response headers of one request; 0 means DefaultTimeout. It does
	// not bound the transfer of a body.
	Timeout time.Duration
	// CreateBucket lets New create a missing bucket.
	CreateBucket bool
	// SkipBucketCheck makes New build the backend without contacting the
	// provider, for a server that starts while the provider is
	// unreachable. The bucket is never created then; if it is missing,
	// every request fails with ErrUnavailable (NoSuchBucket) until it
	// exists.
	SkipBucketCheck bool
	// SignPayload sends single-request uploads as minio-go does by
	// default, without a trailing checksum: with a streaming SHA-256
	// signature over http, unsigned over https. It is for providers that
	// refuse aws-chunked bodies with trailing checksums.
	SignPayload bool
	// Transport replaces the HTTP transport, for example to inject
	// faults in tests. Timeout does not apply to it.
	Transport http.RoundTripper
}

// Backend stores objects in an S3 bucket. It is safe for concurrent use.
type Backend struct {
	name        string
	bucket      string
	prefix      string
	partSize    int
	concurrency int
	client      *minio.Client
	core        minio.Core
	transport   http.RoundTripper
	bufs        sync.Pool // *[]byte of capacity partSize
	signPayload bool      // Config.SignPayload
}

var _ backends.Backend = (*Backend)(nil)

// New connects to the bucket described by cfg and checks that it exists,
// creating it if cfg.CreateBucket is set.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if cfg.Name == "" {
		return nil, errors.New("s3 backend: empty name")
	}
	fail := func(err error) (*Backend, error) {
		return nil, &backends.Error{Backend: cfg.Name, Op: "open", Err: err}
	}
	u, err := url.Parse(cfg.Endpoint)
	switch {
	case err != nil:
		return fail(fmt.Errorf("endpoint: %w", err))
	case u.Scheme != "http" && u.Scheme != "https":
		return fail(fmt.Errorf("endpoint %q: scheme must be http or https", cfg.Endpoint))
	case u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil:
		return fail(fmt.Errorf("endpoint %q: want scheme://host[:port] without path, query or user", cfg.Endpoint))
	case cfg.Bucket == "":
		return fail(errors.New("empty bucket"))
	case cfg.Prefix != "" && !backends.ValidName(cfg.Prefix+"x"):
		return fail(fmt.Errorf("prefix %q: %w", cfg.Prefix, backends.ErrInvalidName))
	case cfg.PartSize != 0 && (cfg.PartSize < MinPartSize || cfg.PartSize > MaxPartSize):
		return fail(fmt.Errorf("part size %d outside [%d, %d]", cfg.PartSize, MinPartSize, MaxPartSize))
	case cfg.Concurrency < 0 || cfg.MaxRetries < 0 || cfg.Timeout < 0:
		return fail(errors.New("negative concurrency, retries or timeout"))
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	transport := cfg.Transport
	if transport == nil {
		transport = newTransport(cfg.Timeout)
	}
	lookup := map[Lookup]minio.BucketLookupType{
		LookupAuto:        minio.BucketLookupAuto,
		LookupPath:        minio.BucketLookupPath,
		LookupVirtualHost: minio.BucketLookupDNS,
	}
	bl, ok := lookup[cfg.Lookup]
	if !ok {
		return fail(fmt.Errorf("unknown bucket lookup %d", cfg.Lookup))
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Transport:    transport,
		Region:       cfg.Region,
		BucketLookup: bl,
		MaxRetries:   cfg.MaxRetries,
		// Trailing checksums: single PUTs carry a CRC32C of the body.
		TrailingHeaders: !cfg.SignPayload,
	})
	if err != nil {
		return fail(err)
	}
	b := &Backend{
		name:        cfg.Name,
		bucket:      cfg.Bucket,
		prefix:      cfg.Prefix,
		partSize:    int(cfg.PartSize),
		concurrency: cfg.Concurrency,
		client:      client,
		core:        minio.Core{Client: client},
		transport:   transport,
		signPayload: cfg.SignPayload,
	}
	if cfg.SkipBucketCheck {
		return b, nil
	}
	exists, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return fail(fmt.Errorf("bucket %s: %w", cfg.Bucket, mapErr(ctx, err)))
	}
	if !exists {
		if !cfg.CreateBucket {
			return fail(fmt.Errorf("bucket %s: %w", cfg.Bucket, backends.ErrNotFound))
		}
		err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region})
		if err != nil {
			code := minio.ToErrorResponse(err).Code
			if code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
				return fail(fmt.Errorf("create bucket %s: %w", cfg.Bucket, mapErr(ctx, err)))
			}
		}
	}
	return b, nil
}

// newTransport returns an HTTP transport whose timeouts bound each step of a
// request but not the transfer of its body.
func newTransport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   timeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		// Compressed responses would make ranges and sizes meaningless.
		DisableCompression: true,
		ForceAttemptHTTP2:  true,
	}
}

// Name returns the backend's configured name.
func (b *Backend) Name() string { return b.name }

// Close releases idle connections.
func (b *Backend) Close() error {
	if t, ok := b.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	return nil
}

// mapErr wraps err in the backends sentinel it corresponds to, if any. An
// error caused by the end of ctx is returned as is; a timeout of the
// transport (which also matches context.DeadlineExceeded) is ErrUnavailable.
func mapErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
		return err
	}
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		// Not an answer from the server: a network failure.
		return fmt.Errorf("%w: %w", backends.ErrUnavailable, err)
	}
	switch resp.Code {
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%w: %w", backends.ErrNotFound, err)
	case "InvalidRange":
		return fmt.Errorf("%w: %w", backends.ErrPrecondition, err)
	case "NoSuchBucket", "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "RequestTimeTooSkewed":
		return fmt.Errorf("%w: %w", backends.ErrUnavailable, err)
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return fmt.Errorf("%w: %w", backends.ErrUnavailable, err)
	}
	return err
}

func (b *Backend) wrap(op, name string, err error) error {
	return &backends.Error{Backend: b.name, Op: op, Name: name, Err: err}
}

func (b *Backend) check(ctx context.Context, op, name string) error {
	if !backends.ValidName(name) {
		return b.wrap(op, name, backends.ErrInvalidName)
	}
	if err := ctx.Err(); err != nil {
		return b.wrap(op, name, err)
	}
	return nil
}

// Put stores r under name, replacing any previous object atomically.
func (b *Backend) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := b.check(ctx, "put", name); err != nil {
		return err
	}
	if size < -1 {
		return b.wrap("put", name, fmt.Errorf("%w: negative size %d", backends.ErrPrecondition, size))
	}
	if err := b.put(ctx, b.prefix+name, r, size); err != nil {
		return b.wrap("put", name, err)
	}
	return nil
}

func (b *Backend) put(ctx context.Context, key string, r io.Reader, size int64) error {
	if size > smallBody {
		return b.putStream(ctx, key, &endChecked{r: backends.ExactReader(ctx, r, size), left: size}, size)
	}
	body := &peekReader{r: backends.ExactReader(ctx, r, size)}
	// The first part: sized exactly for a small known size; for an
	// unknown size grown on demand up to smallBody and then moved into a
	// full part buffer, so small objects stay cheap and large ones leave
	// little garbage.
	var (
		first []byte
		eof   bool
		err   error
	)
	switch {
	case size >= 0 && size < int64(b.partSize):
		first, eof, err = fill(body, make([]byte, 0, size), int(size))
	case size >= 0:
		first, eof, err = fill(body, b.getBuf(), b.partSize)
	default:
		first, eof, err = fill(body, nil, min(smallBody, b.partSize))
		if err == nil && !eof && len(first) < b.partSize {
			first, eof, err = fill(body, append(b.getBuf(), first...), b.partSize)
		}
	}
	if err != nil {
		return err
	}
	if !eof {
		if eof, err = body.peek(); err != nil {
			return err
		}
	}
	if eof {
		_, err := b.client.PutObject(ctx, b.bucket, key, bytes.NewReader(first), int64(len(first)), singlePut(b.signPayload))
		b.putBuf(first)
		return mapErr(ctx, err)
	}
	return b.putMultipart(ctx, key, body, first)
}

// singlePut returns the options of every single-request PUT: an unsigned
// payload with a trailing CRC32C checksum, computed by minio-go, or with
// sign set minio-go's default signing (see "Payload integrity" in the
// package documentation).
func singlePut(sign bool) minio.PutObjectOptions {
	if sign {
		return minio.PutObjectOptions{DisableMultipart: true}
	}
	return minio.PutObjectOptions{DisableMultipart: true, DisableContentSha256: true, Checksum: minio.ChecksumCRC32C}
}

// putStream uploads a body of known size without buffering it: as one PUT
// request when S3 allows (up to 5 GiB), else as a multipart upload whose
// parts are sent one after the other, each streamed from body.
func (b *Backend) putStream(ctx context.Context, key string, body io.Reader, size int64) (err error) {
	if size <= maxSinglePut {
		_, err := b.client.PutObject(ctx, b.bucket, key, body, size, singlePut(b.signPayload))
		return mapErr(ctx, err)
	}
	partSize := max(int64(b.partSize), (size+maxParts-1)/maxParts)
	uploadID, err := b.core.NewMultipartUpload(ctx, b.bucket, key, minio.PutObjectOptions{})
	if err != nil {
		return mapErr(ctx, err)
	}
	defer b.abortOnError(ctx, key, uploadID, &err)
	var parts []minio.CompletePart
	for num, off := 1, int64(0); off < size; num, off = num+1, off+partSize {
		n := min(partSize, size-off)
		part, err := b.core.PutObjectPart(ctx, b.bucket, key, uploadID, num,
			io.LimitReader(body, n), n, minio.PutObjectPartOptions{})
		if err != nil {
			return fmt.Errorf("part %d: %w", num, mapErr(ctx, err))
		}
		parts = append(parts, minio.CompletePart{PartNumber: num, ETag: part.ETag})
	}
	// The declared size is exhausted: make the body report a longer one.
	if _, err := body.Read(make([]byte, 1)); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("%w: body longer than its declared size", backends.ErrPrecondition)
		}
		return err
	}
	if _, err := b.core.CompleteMultipartUpload(ctx, b.bucket, key, uploadID, parts, minio.PutObjectOptions{}); err != nil {
		return mapErr(ctx, err)
	}
	return nil
}

// endChecked passes through a body from backends.ExactReader of left bytes
// and, together with the last of them, makes sure the body ends there: a
// request sender stops reading once it has the declared length, so without
// the check a longer body would be stored cut short instead of failing.
type endChecked struct {
	r    io.Reader
	left int64
}

func (e *endChecked) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return e.r.Read(p)
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == nil && e.left == 0 {
		// ExactReader probes for excess bytes itself.
		if _, perr := e.r.Read(nil); perr != io.EOF {
			return 0, perr
		}
	}
	return n, err
}

// abortOnError aborts the multipart upload uploadID of key when *err is set
// (deferred by the functions that start one). It aborts even when ctx is
// done; the client's retries bound it.
func (b *Backend) abortOnError(ctx context.Context, key, uploadID string, err *error) {
	if *err == nil {
		return
	}
	if aerr := b.core.AbortMultipartUpload(context.WithoutCancel(ctx), b.bucket, key, uploadID); aerr != nil {
		*err = fmt.Errorf("%w (abort of upload %s also failed: %v)", *err, uploadID, aerr)
	}
}

// putMultipart uploads first and the rest of body as a multipart upload with
// up to b.concurrency parts in flight, and aborts it on any failure.
func (b *Backend) putMultipart(ctx context.Context, key string, body io.Reader, first []byte) (err error) {
	uploadID, err := b.core.NewMultipartUpload(ctx, b.bucket, key, minio.PutObjectOptions{})
	if err != nil {
		return mapErr(ctx, err)
	}
	defer b.abortOnError(ctx, key, uploadID, &err)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		parts []minio.CompletePart
	)
	free := make(chan []byte, b.concurrency)
	allocated := 1
	upload := func(num int, buf []byte) {
		defer wg.Done()
		defer func() { free <- buf }()
		part, err := b.core.PutObjectPart(ctx, b.bucket, key, uploadID, num,
			bytes.NewReader(buf), int64(len(buf)), minio.PutObjectPartOptions{})
		if err != nil {
			cancel(fmt.Errorf("part %d: %w", num, mapErr(ctx, err)))
			return
		}
		mu.Lock()
		parts = append(parts, minio.CompletePart{PartNumber: num, ETag: part.ETag})
		mu.Unlock()
	}

	cur := first
	var readErr error
	for num := 1; ; num++ {
		wg.Add(1)
		go upload(num, cur)
		var next []byte
		if allocated < b.concurrency {
			allocated++
			next = b.getBuf()
		} else {
			select {
			case next = <-free:
			case <-ctx.Done():
			}
		}
		if next == nil {
			break // a part failed or ctx is done
		}
		var eof bool
		next, eof, readErr = fill(body, next[:0], b.partSize)
		if readErr != nil || len(next) == 0 {
			free <- next
			break
		}
		cur = next
		if eof {
			wg.Add(1)
			go upload(num+1, cur)
			break
		}
	}
	wg.Wait()
	close(free)
	for buf := range free {
		b.putBuf(buf)
	}
	if readErr != nil {
		return readErr
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	slices.SortFunc(parts, func(a, b minio.CompletePart) int { return a.PartNumber - b.PartNumber })
	if _, err := b.core.CompleteMultipartUpload(ctx, b.bucket, key, uploadID, parts, minio.PutObjectOptions{}); err != nil {
		return mapErr(ctx, err)
	}
	return nil
}

// getBuf returns an empty buffer with capacity partSize.
func (b *Backend) getBuf() []byte {
	if p, ok := b.bufs.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, b.partSize)
}

// putBuf returns a buffer to the pool if it has the full part size.
func (b *Backend) putBuf(buf []byte) {
	if cap(buf) == b.partSize {
		buf = buf[:0]
		b.bufs.Put(&buf)
	}
}

// fill appends to buf from r until it holds limit bytes or r is exhausted,
// growing buf by doubling (from 64 KiB) up to limit. eof reports that r is
// exhausted.
func fill(r io.Reader, buf []byte, limit int) (_ []byte, eof bool, _ error) {
	for len(buf) < limit {
		if len(buf) == cap(buf) {
			c := max(2*cap(buf), 64<<10)
			buf = slices.Grow(buf, min(c, limit)-len(buf))
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, true, nil
		}
		if err != nil {
			return buf, false, err
		}
	}
	return buf, false, nil
}

// peekReader can look one byte ahead, to tell a body of exactly one part
// from a longer one.
type peekReader struct {
	r    io.Reader
	b    [1]byte
	has  bool
	done bool
}

// peek reads one byte ahead; eof reports that the body is exhausted.
func (p *peekReader) peek() (eof bool, err error) {
	for {
		n, err := p.r.Read(p.b[:])
		if n == 1 {
			p.has = true
			return false, nil
		}
		if err == io.EOF {
			p.done = true
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}

func (p *peekReader) Read(q []byte) (int, error) {
	if len(q) == 0 {
		return 0, nil
	}
	if p.has {
		q[0] = p.b[0]
		p.has = false
		return 1, nil
	}
	if p.done {
		return 0, io.EOF
	}
	return p.r.Read(q)
}

// Get returns a reader over length bytes of the object starting at offset.
// The first response arrives before Get returns, so a missing object or an
// unreachable server is reported by Get, not by the first Read.
func (b *Backend) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if err := b.check(ctx, "get", name); err != nil {
		return nil, err
	}
	if offset < 0 || length < -1 {
		return nil, b.wrap("get", name, fmt.Errorf("%w: invalid range offset %d length %d", backends.ErrPrecondition, offset, length))
	}
	key := b.prefix + name
	if length == 0 {
		return b.emptyAt(ctx, name, offset)
	}
	var opts minio.GetObjectOptions
	switch {
	case length > 0:
		opts.SetRange(offset, offset+length-1)
	case offset > 0:
		opts.SetRange(offset, 0)
	}
	body, _, _, err := b.core.GetObject(ctx, b.bucket, key, opts)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "InvalidRange" {
			// S3 refuses any range of an empty object and a range
			// starting exactly at the end; both are empty reads here.
			return b.emptyAt(ctx, name, offset)
		}
		return nil, b.wrap("get", name, mapErr(ctx, err))
	}
	return &objectReader{ctx: ctx, b: b, name: name, rc: body}, nil
}

// emptyAt returns an empty reader if offset is within or at the end of the
// object, and ErrPrecondition if it lies beyond.
func (b *Backend) emptyAt(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	info, err := b.Stat(ctx, name)
	if err != nil {
		return nil, err
	}
	if offset > info.Size {
		return nil, b.wrap("get", name, fmt.Errorf("%w: offset %d beyond end of %d-byte object", backends.ErrPrecondition, offset, info.Size))
	}
	return io.NopCloser(bytes.NewReader(nil)), nil
}

// objectReader reports errors in the middle of a body as backend errors.
type objectReader struct {
	ctx  context.Context
	b    *Backend
	name string
	rc   io.ReadCloser
}

func (r *objectReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if err != nil && err != io.EOF {
		err = r.b.wrap("get", r.name, mapErr(r.ctx, err))
	}
	return n, err
}

func (r *objectReader) Close() error { return r.rc.Close() }

// Stat returns the object's size and modification time.
func (b *Backend) Stat(ctx context.Context, name string) (backends.Info, error) {
	if err := b.check(ctx, "stat", name); err != nil {
		return backends.Info{}, err
	}
	oi, err := b.client.StatObject(ctx, b.bucket, b.prefix+name, minio.StatObjectOptions{})
	if err != nil {
		return backends.Info{}, b.wrap("stat", name, mapErr(ctx, err))
	}
	return backends.Info{Name: name, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// Delete removes the object; a missing object is not an error.
func (b *Backend) Delete(ctx context.Context, name string) error {
	if err := b.check(ctx, "delete", name); err != nil {
		return err
	}
	err := b.client.RemoveObject(ctx, b.bucket, b.prefix+name, minio.RemoveObjectOptions{})
	if err != nil && !errors.Is(mapErr(ctx, err), backends.ErrNotFound) {
		return b.wrap("delete", name, mapErr(ctx, err))
	}
	return nil
}

// List returns up to limit objects whose names start with prefix and sort
// after startAfter, in byte order. Keys under Config.Prefix that are not
// valid object names are skipped.
func (b *Backend) List(ctx context.Context, prefix, startAfter string, limit int) (backends.ListPage, error) {
	if prefix != "" && !backends.ValidName(prefix+"x") {
		return backends.ListPage{}, b.wrap("list", "", fmt.Errorf("%w: prefix %q", backends.ErrInvalidName, prefix))
	}
	if err := ctx.Err(); err != nil {
		return backends.ListPage{}, b.wrap("list", "", err)
	}
	if limit <= 0 {
		limit = defaultPageSize
	}
	opts := minio.ListObjectsOptions{
		Prefix:    b.prefix + prefix,
		Recursive: true,
		MaxKeys:   min(limit+1, 1000),
	}
	if startAfter != "" {
		opts.StartAfter = b.prefix + startAfter
	}
	var page backends.ListPage
	for oi := range b.client.ListObjectsIter(ctx, b.bucket, opts) {
		if oi.Err != nil {
			return backends.ListPage{}, b.wrap("list", "", mapErr(ctx, oi.Err))
		}
		name, ok := strings.CutPrefix(oi.Key, b.prefix)
		if !ok || !backends.ValidName(name) || name <= startAfter {
			continue
		}
		if len(page.Items) == limit {
			page.Next = page.Items[limit-1].Name
			break
		}
		page.Items = append(page.Items, backends.Info{Name: name, Size: oi.Size, ModTime: oi.LastModified})
	}
	if err := ctx.Err(); err != nil {
		// The iterator ends silently when ctx is done.
		return backends.ListPage{}, b.wrap("list", "", err)
	}
	return page, nil
}
