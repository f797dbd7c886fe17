package guard

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// throttleStores are the stores every throttle test runs against: in
// memory, on one Redis server and on a three-master Redis Cluster.
func throttleStores(t *testing.T) map[string]func(t *testing.T) ThrottleStore {
	single := testenv.StartRedis(t)
	cluster := testenv.StartRedisCluster(t)
	key := [32]byte{5}
	onRedis := func(url string) func(t *testing.T) ThrottleStore {
		return func(t *testing.T) ThrottleStore {
			c := testenv.RedisClient(t, url)
			return NewRedisThrottleStore(c, &key, strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()))
		}
	}
	return map[string]func(t *testing.T) ThrottleStore{
		"memory":  func(*testing.T) ThrottleStore { return NewMemThrottleStore(0) },
		"single":  onRedis(single.URL()),
		"cluster": onRedis(cluster.URL()),
	}
}

func TestThrottle(t *testing.T) {
	for name, open := range throttleStores(t) {
		t.Run(name, func(t *testing.T) { testThrottle(t, open(t)) })
	}
}

func testThrottle(t *testing.T, store ThrottleStore) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := NewThrottle(ThrottleOptions{Burst: 3, Interval: 10 * time.Second, Now: clock.now, Store: store})
	const a, b = "192.0.2.1", "192.0.2.2"
	type step struct {
		advance   time.Duration
		op        string // "allow" or "fail"
		addr      string
		ok        bool          // allow: allowed; fail: now throttled
		wantRetry time.Duration // the returned wait
	}
	steps := []step{
		{0, "allow", a, true, 0},
		{0, "fail", a, false, 0},
		{0, "fail", a, false, 0},
		{0, "allow", a, true, 0},
		{0, "fail", a, true, 10 * time.Second}, // the third failure in a row
		{0, "allow", a, false, 10 * time.Second},
		{0, "allow", b, true, 0}, // other addresses are not affected
		{0, "fail", b, false, 0},
		{4 * time.Second, "allow", a, false, 6 * time.Second},
		{6 * time.Second, "allow", a, true, 0}, // one failure earned back
		{0, "fail", a, true, 10 * time.Second},
		{0, "fail", a, false, 10 * time.Second}, // failing while throttled: still 10 s, not more
		{25 * time.Second, "allow", a, true, 0},
		{time.Hour, "fail", a, false, 0}, // refilled to the burst, not beyond
		{0, "fail", a, false, 0},
		{0, "fail", a, true, 10 * time.Second},
		{2500 * time.Millisecond, "allow", a, false, 7500 * time.Millisecond},
		{0, "allow", "2001:db8::/64", true, 0},
	}
	for i, s := range steps {
		clock.add(s.advance)
		var ok bool
		var wait time.Duration
		switch s.op {
		case "allow":
			wait, ok = th.Allow(ctx, s.addr)
		case "fail":
			wait, ok = th.Failure(ctx, s.addr)
		}
		if ok != s.ok || wait != s.wantRetry {
			t.Fatalf("step %d (%s %s after %v): %v %v, want %v %v", i, s.op, s.addr, s.advance, ok, wait, s.ok, s.wantRetry)
		}
	}
	if got := th.Refused(); got != 3 {
		t.Errorf("Refused() = %d, want 3", got)
	}
}

// TestThrottleShared: two gateway instances on one Redis count an
// address's failures together, also when they fail at the same moment.
func TestThrottleShared(t *testing.T) {
	stores := throttleStores(t)
	for _, name := range []string{"single", "cluster"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			o := ThrottleOptions{Burst: 20, Interval: time.Hour, Now: clock.now}
			o.Store = stores[name](t)
			a := NewThrottle(o)
			o.Store = NewRedisThrottleStore(o.Store.(*RedisThrottleStore).c, &[32]byte{5}, o.Store.(*RedisThrottleStore).prefix)
			b := NewThrottle(o)
			var wg sync.WaitGroup
			var throttled atomic.Int32
			for i := range 20 {
				th := a
				if i%2 == 1 {
					th = b
				}
				wg.Go(func() {
					if _, now := th.Failure(ctx, "198.51.100.7"); now {
						throttled.Add(1)
					}
				})
			}
			wg.Wait()
			if n := throttled.Load(); n != 1 {
				t.Errorf("%d failures reported the address throttled, want exactly 1", n)
			}
			for _, th := range []*Throttle{a, b} {
				if _, ok := th.Allow(ctx, "198.51.100.7"); ok {
					t.Errorf("an instance allows the address after 20 failures on two instances")
				}
			}
		})
	}
}

// TestThrottleStoreDown: with Redis unreachable the throttle fails open
// (the credentials are still checked by the caller) and says so in the
// log; when Redis is back, it counts again.
func TestThrottleStoreDown(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := testenv.RedisClient(t, srv.URL())
	var logs strings.Builder
	th := NewThrottle(ThrottleOptions{Burst: 1, Interval: time.Hour,
		Store: NewRedisThrottleStore(c, &[32]byte{5}, ""), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := context.Background()
	srv.Stop()
	if _, now := th.Failure(ctx, "192.0.2.1"); now {
		t.Error("Failure with Redis down throttled")
	}
	if _, ok := th.Allow(ctx, "192.0.2.1"); !ok {
		t.Error("Allow with Redis down refused")
	}
	if !strings.Contains(logs.String(), "store of failed logins is unreachable") {
		t.Errorf("no log line about the unreachable store:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "192.0.2.1") {
		t.Errorf("log line does not name the client:\n%s", logs.String())
	}
	srv.Start()
	if _, now := th.Failure(ctx, "192.0.2.1"); !now {
		t.Error("Failure after Redis is back did not throttle")
	}
	if _, ok := th.Allow(ctx, "192.0.2.1"); ok {
		t.Error("Allow after Redis is back allowed a throttled address")
	}
	// Redis holds no address.
	keys := c.Keys(ctx, "*").Val()
	if len(keys) != 1 || strings.Contains(keys[0], "192.0.2") {
		t.Errorf("keys in Redis: %q", keys)
	}
}

func TestThrottleNil(t *testing.T) {
	var th *Throttle
	if _, ok := th.Allow(context.Background(), "192.0.2.1"); !ok {
		t.Error("a nil Throttle refused")
	}
	if _, throttled := th.Failure(context.Background(), "192.0.2.1"); throttled {
		t.Error("a nil Throttle throttled")
	}
}

func TestThrottleBounded(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := NewThrottle(ThrottleOptions{Burst: 1, Interval: time.Minute, MaxClients: 3, Now: clock.now})
	for i := range 3 {
		th.Failure(context.Background(), fmt.Sprintf("192.0.2.%d", i))
		clock.add(time.Second)
	}
	// A fourth address makes room by dropping the one idle the longest.
	th.Failure(context.Background(), "192.0.2.3")
	if len(th.store.(*MemThrottleStore).clients) != 3 {
		t.Fatalf("%d addresses tracked, want at most 3", len(th.store.(*MemThrottleStore).clients))
	}
	if _, ok := th.Allow(context.Background(), "192.0.2.0"); !ok {
		t.Error("the oldest address is still tracked")
	}
	for _, addr := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		if _, ok := th.Allow(context.Background(), addr); ok {
			t.Errorf("%s was dropped instead of the oldest", addr)
		}
	}
	// Addresses that have earned everything back go first.
	clock.add(time.Hour)
	th.Failure(context.Background(), "192.0.2.9")
	if len(th.store.(*MemThrottleStore).clients) != 1 {
		t.Errorf("%d addresses tracked after the others were forgiven, want 1", len(th.store.(*MemThrottleStore).clients))
	}
}

func TestClientAddr(t *testing.T) {
	tests := []struct{ remote, want string }{
		{"192.0.2.7:43210", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.7]:80", "192.0.2.7"},
		{"[::1]:80", "::/64"},
		{"not an address", "not an address"},
		{"", ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if got := ClientAddr(r); got != tt.want {
			t.Errorf("ClientAddr(%q) = %q, want %q", tt.remote, got, tt.want)
		}
	}
}

// poll calls cond until it holds or a generous bound of attempts passes.
func poll(cond func() bool) bool {
	for range 400 {
		if cond() {
			return true
		}
		time.Sleep(25 * time.Millisecond)
	}
	return cond()
}

// pollClosed polls until ch is closed, up to poll's bound.
func pollClosed(ch <-chan struct{}) bool {
	return poll(func() bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	})
}

// rawRequest sends raw on a new connection to srv and returns the
// connection and a reader of it.
func rawRequest(t *testing.T, srv *httptest.Server, raw string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// readResponse reads one response from br in a goroutine and polls for
// it, so that a server that never answers fails the test.
func readResponse(t *testing.T, br *bufio.Reader) *http.Response {
	t.Helper()
	ch := make(chan *http.Response, 1)
	go func() {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			close(ch)
			return
		}
		io.Copy(io.Discard, resp.Body)
		ch <- resp
	}()
	var resp *http.Response
	var got bool
	if !poll(func() bool {
		select {
		case resp, got = <-ch:
			return true
		default:
			return false
		}
	}) {
		t.Fatal("no response")
	}
	if !got {
		t.Fatal("the connection ended without a response")
	}
	return resp
}

func TestProtectMaxRequests(t *testing.T) {
	entered := make(chan struct{}, 2)
	release := make(chan struct{})
	h := Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, "done")
	}), Options{MaxRequests: 2, Busy: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	})})
	srv := httptest.NewServer(h)
	defer srv.Close()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("a request within the limit got %d", resp.StatusCode)
			}
		})
	}
	<-entered
	<-entered
	// Two in flight: a third, with a body it never sends, is refused at
	// once and its connection closed.
	c, br := rawRequest(t, srv, "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
	resp := readResponse(t, br)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !resp.Close {
		t.Errorf("over the limit: %d, Retry-After %q, close %v", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close)
	}
	c.Close()
	close(release)
	wg.Wait()
	// The slots are free again.
	resp2, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 200 {
		t.Errorf("after the others finished: %d", resp2.StatusCode)
	}
}

func TestProtectBodyTimeout(t *testing.T) {
	type result struct {
		n       int
		err     error
		ctxErr  error
		handled bool
	}
	results := make(chan result, 1)
	const timeout = 30 * time.Millisecond
	h := Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err == nil {
			// Work longer than the body timeout after the body: the
			// request must not be cut off.
			time.Sleep(4 * timeout)
		}
		results <- result{n: len(b), err: err, ctxErr: r.Context().Err(), handled: true}
		if err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusRequestTimeout)
			return
		}
		io.WriteString(w, "stored")
	}), Options{BodyTimeout: timeout})
	srv := httptest.NewServer(h)
	defer srv.Close()

	t.Run("body stops", func(t *testing.T) {
		_, br := rawRequest(t, srv, "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
		var res result
		if !poll(func() bool {
			select {
			case res = <-results:
				return true
			default:
				return false
			}
		}) {
			t.Fatal("the handler still waits for a body that stopped")
		}
		var ne net.Error
		if res.n != 3 || !errors.As(res.err, &ne) || !ne.Timeout() {
			t.Fatalf("handler read %d bytes, error %v; want 3 and a timeout", res.n, res.err)
		}
		if resp := readResponse(t, br); resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("response %d, want the handler's 408", resp.StatusCode)
		}
		// The connection is closed after the response, not kept for
		// another request.
		closed := make(chan struct{})
		go func() { io.Copy(io.Discard, br); close(closed) }()
		if !pollClosed(closed) {
			t.Fatal("the connection of a timed-out body stays open")
		}
	})
	t.Run("slow work after the body", func(t *testing.T) {
		resp, err := http.Post(srv.URL, "text/plain", strings.NewReader("a whole body"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res := <-results
		if resp.StatusCode != 200 || string(b) != "stored" || res.ctxErr != nil {
			t.Fatalf("%d %q, request context %v", resp.StatusCode, b, res.ctxErr)
		}
	})
}

func TestCloseAfter(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		wantClose bool
	}{
		{"body never sent", "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", true},
		{"chunked body never sent", "PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"no body", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		CloseAfter(w, r)
		http.Error(w, "denied", http.StatusForbidden)
	}))
	defer srv.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, br := rawRequest(t, srv, tt.raw)
			resp := readResponse(t, br)
			if resp.StatusCode != http.StatusForbidden || resp.Close != tt.wantClose {
				t.Fatalf("%d, close %v; want 403, close %v", resp.StatusCode, resp.Close, tt.wantClose)
			}
			if tt.wantClose {
				// The server closes without waiting for the body.
				closed := make(chan struct{})
				go func() { io.Copy(io.Discard, br); close(closed) }()
				if !pollClosed(closed) {
					t.Fatal("the server kept the connection open")
				}
			}
		})
	}
}
