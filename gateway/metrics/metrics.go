// Package metrics exposes the gateway's Prometheus metrics: a middleware
// that counts the requests of each listener (protocol, operation, status,
// bytes, latency), and a collector that reads the providers' health and
// traffic, the repair queue, the catalog's totals, share downloads and
// refused logins when it is scraped. Everything lives in one Registry made
// by New; nothing is registered with the global default registry.
package metrics

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/twincrypt/twincrypt/backends/replica"
)

// Protocols, the values of the protocol label.
const (
	S3     = "s3"
	WebDAV = "webdav"
	Share  = "share"
	Admin  = "admin"
)

// Sources are what the collector reads at scrape time. Every field may be
// nil: its metrics are then left out.
type Sources struct {
	// Health returns the replicated set's members.
	Health func() []replica.MemberHealth
	// Traffic returns the replicated set's traffic counters (the reads
	// opened; bytes are counted per member from Health).
	Traffic func() replica.Traffic
	// QueueDepth counts the tasks on the repair queue. It is called at
	// most once per QueueEvery.
	QueueDepth func(ctx context.Context) (int, error)
	// Stored counts the objects in the catalog and their plaintext
	// bytes. It is called at most once per StoredEvery.
	Stored func(ctx context.Context) (objects, bytes int64, err error)
	// ShareDownloads counts the share links opened.
	ShareDownloads func() int64
	// LoginRefused counts the logins the throttle refused.
	LoginRefused func() int64
}

// How often the collector recomputes the values that cost a pass over
// the catalog or the queue; scrapes in between see the last value.
const (
	QueueEvery  = 10 * time.Second
	StoredEvery = time.Minute
)

// Metrics holds the registry and the request metrics.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	bytesIn  *prometheus.CounterVec
	bytesOut *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New returns the metrics of one gateway, with the Go runtime's and the
// process's collectors and a collector over src.
func New(src Sources) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twincrypt_http_requests_total",
			Help: "HTTP requests answered, by listener, operation and status code.",
		}, []string{"protocol", "operation", "code"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twincrypt_http_request_bytes_total",
			Help: "Bytes of request bodies read, by listener.",
		}, []string{"protocol"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twincrypt_http_response_bytes_total",
			Help: "Bytes of response bodies written, by listener.",
		}, []string{"protocol"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "twincrypt_http_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its answer, by listener and operation.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"protocol", "operation"}),
	}
	m.reg.MustRegister(m.requests, m.bytesIn, m.bytesOut, m.latency,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newCollector(src))
	return m
}

// Registry returns the registry, for tests and further collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the exposition (GET /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Observe is called once per request when its handler has returned.
type Observe func(r *http.Request, info Info)

// Info describes one answered request.
type Info struct {
	Protocol, Operation string
	Status              int
	BytesIn, BytesOut   int64
	Duration            time.Duration
}

// Wrap returns h counting its requests under protocol; op names the
// operation of a request (S3Operation, WebDAVOperation, ShareOperation,
// AdminOperation). Each observe function, if any, is called after the
// request with what was counted (the access log).
func (m *Metrics) Wrap(protocol string, op func(*http.Request) string, h http.Handler, observe ...Observe) http.Handler {
	in, out := m.bytesIn.WithLabelValues(protocol), m.bytesOut.WithLabelValues(protocol)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		operation := op(r)
		rec := &recorder{ResponseWriter: w}
		var body *countingBody
		if r.Body != nil && r.Body != http.NoBody {
			body = &countingBody{ReadCloser: r.Body}
			r.Body = body
		}
		defer func() {
			d := time.Since(start)
			status := rec.status
			if status == 0 {
				// A handler that panicked (the server answers
				// nothing) or wrote nothing: net/http sends 200
				// for the latter.
				status = http.StatusOK
			}
			var n int64
			if body != nil {
				n = body.n
			}
			in.Add(float64(n))
			out.Add(float64(rec.n))
			m.requests.WithLabelValues(protocol, operation, strconv.Itoa(status)).Inc()
			m.latency.WithLabelValues(protocol, operation).Observe(d.Seconds())
			for _, o := range observe {
				o(r, Info{Protocol: protocol, Operation: operation, Status: status, BytesIn: n, BytesOut: rec.n, Duration: d})
			}
		}()
		h.ServeHTTP(rec, r)
	})
}

// recorder records the status and the body bytes of a response. Unwrap
// lets http.ResponseController reach the connection (deadlines, hijack);
// Flush is passed on for handlers that assert http.Flusher.
type recorder struct {
	http.ResponseWriter
	status int
	n      int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.n += int64(n)
	return n, err
}

// ReadFrom keeps the server's sendfile path for io.Copy into the response.
func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := r.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(struct{ io.Writer }{r.ResponseWriter}, src)
	}
	r.n += n
	return n, err
}

func (r *recorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	http.NewResponseController(r.ResponseWriter).Flush()
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// countingBody counts the bytes read from a request body. The server
// reads it from one goroutine at a time.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// collector reads Sources at scrape time.
type collector struct {
	src Sources

	up, latency, successes, failures     *prometheus.Desc
	reads, readBytes, writtenBytes       *prometheus.Desc
	queue, objects, storedBytes          *prometheus.Desc
	shareDownloads, loginRefused         *prometheus.Desc
	queueCache                           cached
	storedCache                          cached
	mu                                   sync.Mutex
	lastObjects, lastBytes, lastQueueLen float64
}

// cached remembers when a value was last computed.
type cached struct {
	at time.Time
	ok bool
}

func (c *cached) due(every time.Duration, now time.Time) bool {
	return !c.ok || now.Sub(c.at) >= every
}

func newCollector(src Sources) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &collector{
		src:            src,
		up:             d("twincrypt_provider_up", "1 while a provider's breaker lets requests through, 0 while it is down or probing.", "provider"),
		latency:        d("twincrypt_provider_latency_seconds", "Moving average of a provider's successful request latencies.", "provider"),
		successes:      d("twincrypt_provider_requests_succeeded_total", "Provider requests that succeeded.", "provider"),
		failures:       d("twincrypt_provider_errors_total", "Provider requests that failed with an availability error (not an answer about the object).", "provider"),
		reads:          d("twincrypt_provider_reads_total", "Provider read streams opened, summed over providers (failovers included)."),
		readBytes:      d("twincrypt_provider_read_bytes_total", "Bytes read from a provider.", "provider"),
		writtenBytes:   d("twincrypt_provider_written_bytes_total", "Bytes written to a provider.", "provider"),
		queue:          d("twincrypt_repair_queue_tasks", "Tasks on the repair queue (recomputed at most every 10s)."),
		objects:        d("twincrypt_stored_objects", "Objects in the catalog (recomputed at most once a minute)."),
		storedBytes:    d("twincrypt_stored_bytes", "Plaintext bytes of the objects in the catalog (recomputed at most once a minute)."),
		shareDownloads: d("twincrypt_share_downloads_total", "Share links opened (downloads counted against a link)."),
		loginRefused:   d("twincrypt_login_refused_total", "Logins refused by the per-address throttle after repeated failures."),
	}
}

// Describe sends every description (not prometheus.DescribeByCollect,
// which would count the catalog at registration).
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.latency, c.successes, c.failures, c.reads, c.readBytes,
		c.writtenBytes, c.queue, c.objects, c.storedBytes, c.shareDownloads, c.loginRefused} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src
	if s.Health != nil {
		for _, h := range s.Health() {
			up := 0.0
			if h.State == replica.StateUp {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, h.Name)
			ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, h.Latency.Seconds(), h.Name)
			ch <- prometheus.MustNewConstMetric(c.successes, prometheus.CounterValue, float64(h.Successes), h.Name)
			ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(h.Failures), h.Name)
			ch <- prometheus.MustNewConstMetric(c.readBytes, prometheus.CounterValue, float64(h.ReadBytes), h.Name)
			ch <- prometheus.MustNewConstMetric(c.writtenBytes, prometheus.CounterValue, float64(h.WrittenBytes), h.Name)
		}
	}
	if s.Traffic != nil {
		t := s.Traffic()
		ch <- prometheus.MustNewConstMetric(c.reads, prometheus.CounterValue, float64(t.Reads))
	}
	if s.ShareDownloads != nil {
		ch <- prometheus.MustNewConstMetric(c.shareDownloads, prometheus.CounterValue, float64(s.ShareDownloads()))
	}
	if s.LoginRefused != nil {
		ch <- prometheus.MustNewConstMetric(c.loginRefused, prometheus.CounterValue, float64(s.LoginRefused()))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.QueueDepth != nil {
		if c.queueCache.due(QueueEvery, now) {
			if n, err := s.QueueDepth(ctx); err == nil {
				c.lastQueueLen = float64(n)
				c.queueCache = cached{at: now, ok: true}
			}
		}
		if c.queueCache.ok {
			ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, c.lastQueueLen)
		}
	}
	if s.Stored != nil {
		if c.storedCache.due(StoredEvery, now) {
			if objs, n, err := s.Stored(ctx); err == nil {
				c.lastObjects, c.lastBytes = float64(objs), float64(n)
				c.storedCache = cached{at: now, ok: true}
			}
		}
		if c.storedCache.ok {
			ch <- prometheus.MustNewConstMetric(c.objects, prometheus.GaugeValue, c.lastObjects)
			ch <- prometheus.MustNewConstMetric(c.storedBytes, prometheus.GaugeValue, c.lastBytes)
		}
	}
}
