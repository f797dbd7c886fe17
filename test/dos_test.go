package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// slowConn is a connection that sent a request's headers, announcing a
// body it never sends.
type slowConn struct {
	c        net.Conn
	status   atomic.Int32 // the response's status, once read
	answered chan struct{}
	closed   chan struct{} // the server closed the connection
}

// openSlow connects to addr and sends the headers of an unauthenticated
// PUT of path with Content-Length 100000, and no body. A goroutine reads
// the response and then waits for the server to close.
func openSlow(t testing.TB, addr, path string) *slowConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	s := &slowConn{c: c, answered: make(chan struct{}), closed: make(chan struct{})}
	if _, err := fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 100000\r\n\r\n", path, addr); err != nil {
		t.Fatalf("write headers to %s: %v", addr, err)
	}
	go func() {
		defer close(s.closed)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return
		}
		s.status.Store(int32(resp.StatusCode))
		close(s.answered)
		io.Copy(io.Discard, br)
	}()
	return s
}

// waitAll polls until every channel of chans is closed, up to a bound, and
// returns how many are.
func waitAll(chans []chan struct{}) int {
	done := func() int {
		n := 0
		for _, c := range chans {
			select {
			case <-c:
				n++
			default:
			}
		}
		return n
	}
	for range 300 {
		if done() == len(chans) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return done()
}

// TestDoSSlowUnauthenticated opens 300 connections to each front end that
// send the headers of an unauthenticated PUT with Content-Length 100000
// and then nothing. Each must be refused (403 over S3, 401 over WebDAV)
// without the gateway waiting for the body, and closed; and while they
// stay open on the client's side, aws cli and curl requests of a user with
// credentials must succeed.
func TestDoSSlowUnauthenticated(t *testing.T) {
	curl := testenv.Tool(t, "curl")
	g := StartGateway(t, Setup{Local: 2})
	aws := NewAWS(t, g)
	aws.Must("s3", "mb", "s3://dos")
	const n = 300
	var conns []*slowConn
	t.Cleanup(func() {
		for _, s := range conns {
			s.c.Close()
		}
	})
	for i := range n {
		conns = append(conns, openSlow(t, g.Addr, fmt.Sprintf("/dos/slow-%d", i)))
		conns = append(conns, openSlow(t, g.DAVAddr, fmt.Sprintf("/dos/slow-%d", i)))
	}

	// A user's requests, over both front ends.
	dir := t.TempDir()
	src := filepath.Join(dir, "src.bin")
	writeFile(t, src, 300<<10, 7)
	aws.Must("s3", "cp", src, "s3://dos/file.bin")
	aws.Must("s3", "cp", "s3://dos/file.bin", filepath.Join(dir, "back.bin"))
	sameFile(t, src, filepath.Join(dir, "back.bin"))
	if out := aws.Must("s3", "ls", "s3://dos/").Stdout; !strings.Contains(out, "file.bin") {
		t.Errorf("aws s3 ls: %q", out)
	}
	user := g.AccessKey + ":" + g.SecretKey
	run(t, cleanEnv(), dir, curl, "-sSf", "-u", user, "-T", src, "http://"+g.DAVAddr+"/dos/dav.bin").must(t, "curl PUT")
	run(t, cleanEnv(), dir, curl, "-sSf", "-u", user, "-o", filepath.Join(dir, "dav.bin"), "http://"+g.DAVAddr+"/dos/dav.bin").must(t, "curl GET")
	sameFile(t, src, filepath.Join(dir, "dav.bin"))

	// Every slow connection was answered and closed by the gateway.
	var answered, closed []chan struct{}
	for _, s := range conns {
		answered = append(answered, s.answered)
		closed = append(closed, s.closed)
	}
	if got := waitAll(answered); got != len(conns) {
		t.Errorf("%d of %d unauthenticated connections without a body got an answer", got, len(conns))
	}
	if got := waitAll(closed); got != len(conns) {
		t.Errorf("%d of %d unauthenticated connections without a body were closed", got, len(conns))
	}
	for i, s := range conns {
		want := int32(http.StatusForbidden)
		if i%2 == 1 {
			want = http.StatusUnauthorized
		}
		if got := s.status.Load(); got != 0 && got != want {
			t.Errorf("connection %d answered %d, want %d", i, got, want)
			break
		}
	}
	g.Stop()
	scrubClean(t, g, 2)
}

// scrubClean runs a deep scrub of g, which must be stopped, and fails the
// test unless it reports no problem and every backend holds exactly blobs
// blobs (one per single-part object): refused uploads left nothing behind.
func scrubClean(t *testing.T, g *Gateway, blobs int) {
	t.Helper()
	out := g.mustRun(t, 0, "scrub", "-c", g.Config, "--deep")
	if n := faultNumber(t, out, "problems:"); n != 0 {
		t.Errorf("deep scrub:\n%s", out)
	}
	for _, d := range g.blobDirs() {
		if got := len(blobNames(t, d)); got != blobs {
			t.Errorf("%s holds %d blobs, want %d", d, got, blobs)
		}
	}
	t.Logf("scrub --deep: problems: 0; %d blobs per backend", blobs)
}

// stalledPut sends a PUT of path signed by g's user with UNSIGNED-PAYLOAD
// and Content-Length 100000, then the first 10 bytes of the body and
// nothing more. The returned slowConn sees the response and the close.
func stalledPut(t testing.TB, g *Gateway, path string) *slowConn {
	t.Helper()
	c, err := net.Dial("tcp", g.Addr)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	req, err := http.NewRequest("PUT", g.Endpoint()+path, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 100000
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	req = signer.SignV4(*req, g.AccessKey, g.SecretKey, "", "us-east-1")
	go req.Write(c)
	go pw.Write(make([]byte, 10))
	s := &slowConn{c: c, answered: make(chan struct{}), closed: make(chan struct{})}
	go func() {
		defer close(s.closed)
		br := bufio.NewReader(c)
		if resp, err := http.ReadResponse(br, nil); err == nil {
			s.status.Store(int32(resp.StatusCode))
			close(s.answered)
		}
		io.Copy(io.Discard, br)
	}()
	t.Cleanup(func() { c.Close() })
	return s
}

// TestDoSLimits runs the gateway with small limits and checks each:
// an authenticated upload whose body stops is cut off after
// limits.body_timeout; while max_requests such uploads are in flight,
// further requests are answered 503 SlowDown, and served again once the
// uploads are cut off; connections that never finish their headers are
// closed after limits.header_timeout, and clients beyond max_connections
// wait for them instead of failing.
func TestDoSLimits(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2, Extra: "limits:\n  max_connections: 40\n  max_requests: 3\n  header_timeout: 2s\n  body_timeout: 2s\n"})
	if status, code, body := g.do(t, request{method: "PUT", path: "/limits"}); status != 200 {
		t.Fatalf("create bucket: %d %s %s", status, code, body)
	}
	closedAll := func(conns []*slowConn) int {
		var chans []chan struct{}
		for _, s := range conns {
			chans = append(chans, s.closed)
		}
		return waitAll(chans)
	}

	t.Run("stalled bodies hold requests until body_timeout", func(t *testing.T) {
		var all []*slowConn // every stalled upload sent
		stall := func() *slowConn {
			s := stalledPut(t, g, fmt.Sprintf("/limits/stalled-%d", len(all)))
			all = append(all, s)
			return s
		}
		holding := []*slowConn{stall(), stall(), stall()}
		// Wait until the gateway is handling all three: a fourth
		// request is then refused. A stalled upload that arrived while
		// one of these requests was in flight was refused itself; it is
		// replaced.
		var status int
		var code string
		for range 100 {
			status, code, _ = g.do(t, request{method: "GET", path: "/limits"})
			if status == http.StatusServiceUnavailable {
				break
			}
			for i, s := range holding {
				if s.status.Load() == http.StatusServiceUnavailable {
					holding[i] = stall()
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		if status != http.StatusServiceUnavailable || code != "SlowDown" {
			t.Errorf("with max_requests uploads stalled: %d %s, want 503 SlowDown", status, code)
		}
		if got := closedAll(all); got != len(all) {
			t.Fatalf("%d of %d stalled uploads were cut off:\n%s", got, len(all), g.Output())
		}
		if status, code, _ := g.do(t, request{method: "GET", path: "/limits"}); status != 200 {
			t.Errorf("after the stalled uploads were cut off: %d %s", status, code)
		}
		for i := range all {
			if status, _, _ := g.do(t, request{method: "HEAD", path: fmt.Sprintf("/limits/stalled-%d", i)}); status != http.StatusNotFound {
				t.Errorf("stalled upload %d was stored: HEAD %d", i, status)
			}
		}
	})

	t.Run("slow headers", func(t *testing.T) {
		var slow []*slowConn
		for range 60 {
			c, err := net.Dial("tcp", g.Addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			fmt.Fprintf(c, "PUT /limits/x HTTP/1.1\r\nHost: %s\r\n", g.Addr)
			s := &slowConn{c: c, answered: make(chan struct{}), closed: make(chan struct{})}
			go func() { io.Copy(io.Discard, c); close(s.closed) }()
			slow = append(slow, s)
		}
		// More connections than max_connections hold the gateway; a
		// user's request waits for a free one and is served.
		body := bytes.Repeat([]byte("content "), 1024) // more than 4 KiB: a blob, not inline
		if status, code, _ := g.do(t, request{method: "PUT", path: "/limits/after-slow-headers", body: body}); status != 200 {
			t.Errorf("PUT while slow headers fill the connections: %d %s", status, code)
		}
		if got := closedAll(slow); got != len(slow) {
			t.Fatalf("%d of %d connections with unfinished headers were closed", got, len(slow))
		}
	})
	g.Stop()
	scrubClean(t, g, 1)
}

// TestDoSLoginThrottle guesses 2000 WebDAV passwords from 127.0.0.2
// against the real binary with the default limits: only the first 10 are
// checked (401) and logged, without the password; the rest, the right
// password from that address too, and S3 requests from it are refused
// (429, 503 SlowDown). A user on 127.0.0.1 is not affected.
func TestDoSLoginThrottle(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	attacker := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	defer attacker.CloseIdleConnections()
	send := func(c *http.Client, user, pass string) int {
		t.Helper()
		req, err := http.NewRequest("PROPFIND", "http://"+g.DAVAddr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Depth", "0")
		req.SetBasicAuth(user, pass)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	counts := map[int]int{}
	for i := range 2000 {
		counts[send(attacker, g.AccessKey, fmt.Sprintf("guess-%06d", i))]++
	}
	if counts[http.StatusUnauthorized] != 10 || counts[http.StatusTooManyRequests] != 1990 {
		t.Errorf("2000 wrong passwords: %v, want 10 401 and 1990 429", counts)
	}
	if got := send(attacker, g.AccessKey, g.SecretKey); got != http.StatusTooManyRequests {
		t.Errorf("the right password from the guessing address: %d, want 429", got)
	}
	if got := send(http.DefaultClient, g.AccessKey, g.SecretKey); got != 207 {
		t.Errorf("the right password from another address: %d, want 207", got)
	}
	// The throttle is shared with S3.
	req, _ := http.NewRequest("GET", g.Endpoint()+"/", nil)
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	req = signer.SignV4(*req, g.AccessKey, g.SecretKey, "", "us-east-1")
	resp, err := attacker.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("S3 from the guessing address: %d (Retry-After %q), want 503", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if status, code, _ := g.do(t, request{method: "GET", path: "/"}); status != 200 {
		t.Errorf("S3 from another address: %d %s", status, code)
	}
	failed := `msg="webdav login failed" client=127.0.0.2 user=` + g.AccessKey
	throttled := `msg="client throttled after failed logins" client=127.0.0.2 front_end=webdav`
	out := g.WaitOutput(func(out string) bool {
		return strings.Count(out, failed) >= 10 && strings.Contains(out, throttled)
	})
	if n := strings.Count(out, failed); n != 10 {
		t.Errorf("%d failed logins logged, want 10", n)
	}
	if n := strings.Count(out, throttled); n != 1 {
		t.Errorf("throttling logged %d times, want once", n)
	}
	if strings.Contains(out, "guess-") || strings.Contains(out, g.SecretKey) {
		t.Errorf("a password reached the log")
	}
	if t.Failed() {
		t.Logf("serve output:\n%s", out)
	}
}

// TestDoSLoginThrottleAdmin makes wrong signatures from 127.0.0.3 on the
// S3 listener and on the admin API of the real binary with the default
// limits: they count together, so that after 5 on each (10 in all) the
// right signature from that address is refused on both listeners (503,
// Retry-After; the admin API's answer is its JSON error), while
// /healthz answers it and the user on 127.0.0.1 is not affected. The
// refusals show in twincrypt_login_refused_total.
func TestDoSLoginThrottleAdmin(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2, Share: true})
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}}
	attacker := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	defer attacker.CloseIdleConnections()
	s3URL := g.Endpoint() + "/"
	adminURL := "http://" + g.AdminAddr + "/api/v1/shares"
	send := func(c *http.Client, url, secret string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if secret != "" {
			req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			req = signer.SignV4(*req, g.AccessKey, secret, "", "us-east-1")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	const wrong = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name   string
		client *http.Client
		url    string
		secret string // "": unsigned
		times  int
		status int
		body   string // a part of the answer
	}{
		{"right S3 logins do not count", attacker, s3URL, g.SecretKey, 20, 200, ""},
		{"right admin logins do not count", attacker, adminURL, g.SecretKey, 20, 200, `"shares"`},
		{"wrong S3 signatures", attacker, s3URL, wrong, 5, 403, "SignatureDoesNotMatch"},
		{"wrong admin signatures", attacker, adminURL, wrong, 4, 403, "SignatureDoesNotMatch"},
		{"the right admin signature still works after 9", attacker, adminURL, g.SecretKey, 1, 200, `"shares"`},
		{"the 10th failure", attacker, adminURL, wrong, 1, 403, "SignatureDoesNotMatch"},
		{"then the right admin signature is refused", attacker, adminURL, g.SecretKey, 1, 503, `{
  "error": "Too many failed logins from this address; try again later."
}`},
		{"and the right S3 signature", attacker, s3URL, g.SecretKey, 1, 503, "<Code>SlowDown</Code>"},
		{"healthz still answers", attacker, "http://" + g.AdminAddr + "/healthz", "", 1, 200, "ok"},
		{"another address uses the admin API", http.DefaultClient, adminURL, g.SecretKey, 1, 200, `"shares"`},
		{"and S3", http.DefaultClient, s3URL, g.SecretKey, 1, 200, ""},
	}
	refused := 0
	for _, tt := range tests {
		for i := range tt.times {
			status, h, body := send(tt.client, tt.url, tt.secret)
			if status != tt.status || !strings.Contains(body, tt.body) {
				t.Fatalf("%s (#%d): %d %s, want %d with %q", tt.name, i+1, status, body, tt.status, tt.body)
			}
			if status == http.StatusServiceUnavailable {
				refused++
				if h.Get("Retry-After") == "" {
					t.Errorf("%s: no Retry-After", tt.name)
				}
			}
		}
	}
	if _, exposition := httpGet(t, "http://"+g.AdminAddr+"/metrics"); !strings.Contains(exposition, fmt.Sprintf("\ntwincrypt_login_refused_total %d\n", refused)) {
		t.Errorf("twincrypt_login_refused_total is not %d", refused)
	}
	throttled := `msg="client throttled after failed logins" client=127.0.0.3 front_end=admin`
	out := g.WaitOutput(func(out string) bool { return strings.Contains(out, throttled) })
	for _, c := range []struct {
		line string
		n    int
	}{
		{`msg="s3 login failed" client=127.0.0.3 access_key=` + g.AccessKey + ` reason=SignatureDoesNotMatch method=GET path=/`, 5},
		{`msg="admin login failed" client=127.0.0.3 access_key=` + g.AccessKey + ` reason=SignatureDoesNotMatch method=GET path=/api/v1/shares`, 5},
		{`msg="client throttled after failed logins"`, 1},
		{throttled, 1},
	} {
		if n := strings.Count(out, c.line); n != c.n {
			t.Errorf("%d log lines with %s, want %d", n, c.line, c.n)
		}
	}
	if strings.Contains(out, g.SecretKey) || strings.Contains(out, wrong) {
		t.Errorf("a secret reached the log")
	}
	if t.Failed() {
		t.Logf("serve output:\n%s", out)
	}
}
