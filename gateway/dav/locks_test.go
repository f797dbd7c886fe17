package dav_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/webdav"

	"github.com/twincrypt/twincrypt/gateway/dav"
	"github.com/twincrypt/twincrypt/gateway/dav/locktest"
	"github.com/twincrypt/twincrypt/gateway/dav/redislocks"
	"github.com/twincrypt/twincrypt/internal/testenv"
)

func TestMemLocks(t *testing.T) {
	locktest.Run(t, func(t *testing.T) dav.SharedLockSystem { return dav.NewMemLocks() })
}

// redisLocks returns a lock system on its own connection to url.
func redisLocks(t *testing.T, url string) *redislocks.Locks {
	t.Helper()
	c := testenv.RedisClient(t, url)
	key := [32]byte{7}
	l, err := redislocks.New(c, redislocks.Options{Key: &key, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestLocksAcrossFrontEnds serves one namespace through two front ends
// whose locks live in the same Redis, as two gateway instances do: a lock
// taken through one holds on the other. When Redis is unreachable, every
// request that needs the locks fails with 503, and works again when Redis
// is back.
func TestLocksAcrossFrontEnds(t *testing.T) {
	srv := testenv.StartRedis(t)
	cluster := testenv.StartRedisCluster(t)
	t.Run("cluster", func(t *testing.T) {
		a, b := twoFrontEnds(t, cluster.URL())
		crossLocks(t, a, b)
	})
	a, b := twoFrontEnds(t, srv.URL())
	token := crossLocks(t, a, b)

	srv.Stop()
	for _, e := range []*env{a, b} {
		e.must(http.StatusServiceUnavailable, "PUT", "/bucket/doc", "v3")
		e.must(http.StatusServiceUnavailable, "PUT", "/bucket/doc", "v3", "If", "("+token+")")
		e.must(http.StatusServiceUnavailable, "LOCK", "/bucket/other", lockBody)
		e.must(http.StatusServiceUnavailable, "LOCK", "/bucket/doc", "", "If", "("+token+")")
		e.must(http.StatusServiceUnavailable, "UNLOCK", "/bucket/doc", "", "Lock-Token", token)
		e.must(http.StatusServiceUnavailable, "DELETE", "/bucket/doc", "")
	}
	_, body := a.must(http.StatusOK, "GET", "/bucket/doc", "")
	if body != "v2" {
		t.Fatalf("GET after the refused writes: %q", body)
	}

	srv.Start() // a restarted Redis without persistence has lost the locks
	b.must(http.StatusCreated, "PUT", "/bucket/doc", "v4")
	resp, _ := b.must(http.StatusOK, "LOCK", "/bucket/doc", lockBody)
	a.must(webdav.StatusLocked, "PUT", "/bucket/doc", "v5")
	a.must(http.StatusNoContent, "UNLOCK", "/bucket/doc", "", "Lock-Token", resp.Header.Get("Lock-Token"))
	a.must(http.StatusCreated, "PUT", "/bucket/doc", "v5")
}

const lockBody = `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>` +
	`<D:locktype><D:write/></D:locktype><D:owner>me</D:owner></D:lockinfo>`

// twoFrontEnds returns two front ends on one namespace whose locks live in
// the Redis at url, each on its own connection.
func twoFrontEnds(t *testing.T, url string) (a, b *env) {
	a = newEnv(t, func(o *dav.Options) { o.Locks = redisLocks(t, url) })
	sb := httptest.NewServer(dav.New(a.ns, dav.Options{Users: map[string]string{user: pass}, Locks: redisLocks(t, url)}))
	t.Cleanup(sb.Close)
	bb := *a
	bb.url = sb.URL
	return a, &bb
}

// crossLocks locks /bucket/doc through a and checks that b honours the
// lock; it returns the lock's token.
func crossLocks(t *testing.T, a, b *env) string {
	a.must(http.StatusCreated, "PUT", "/bucket/doc", "v1")
	resp, _ := a.must(http.StatusOK, "LOCK", "/bucket/doc", lockBody, "Timeout", "Second-600")
	token := resp.Header.Get("Lock-Token")
	b.must(webdav.StatusLocked, "PUT", "/bucket/doc", "v2")
	b.must(webdav.StatusLocked, "LOCK", "/bucket/", lockBody)
	b.must(webdav.StatusLocked, "DELETE", "/bucket/doc", "")
	b.must(http.StatusCreated, "PUT", "/bucket/doc", "v2", "If", "("+token+")")
	_, body := a.must(http.StatusOK, "GET", "/bucket/doc", "")
	if body != "v2" {
		t.Fatalf("GET after the locked PUT through the other front end: %q", body)
	}
	return token
}

// litmusSummary matches litmus's per-group result line.
var litmusSummary = regexp.MustCompile("<- summary for `(\\w+)': of (\\d+) tests run: (\\d+) passed, (\\d+) failed")

// TestLitmusOnRedisLocks runs litmus's lock tests (and the groups whose
// writes take locks) against a front end whose locks live in Redis, on one
// server and on a three-master cluster: every test must pass, as with
// MemLocks (test/webdav_test.go).
func TestLitmusOnRedisLocks(t *testing.T) {
	litmus := testenv.Tool(t, "litmus", "/usr/bin/litmus")
	single := testenv.StartRedis(t)
	cluster := testenv.StartRedisCluster(t)
	for _, tc := range []struct{ name, url string }{{"single", single.URL()}, {"cluster", cluster.URL()}} {
		t.Run(tc.name, func(t *testing.T) {
			locks := redisLocks(t, tc.url)
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			go locks.Run(ctx)
			e := newEnv(t, func(o *dav.Options) { o.Locks = locks })
			e.must(http.StatusCreated, "MKCOL", "/bucket/litmus/", "")
			groups := []string{"basic", "copymove", "locks"}
			cmd := exec.Command(litmus, "-k", e.url+"/bucket/litmus/", user, pass)
			cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "TESTS="+strings.Join(groups, " "))
			cmd.Dir = t.TempDir()
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("litmus: %v\n%s", err, out)
			}
			found := map[string]bool{}
			for _, m := range litmusSummary.FindAllStringSubmatch(string(out), -1) {
				ran, _ := strconv.Atoi(m[2])
				passed, _ := strconv.Atoi(m[3])
				found[m[1]] = true
				t.Logf("litmus %s: %d run, %d passed", m[1], ran, passed)
				if passed != ran || ran == 0 {
					t.Errorf("litmus group %s: %d of %d passed", m[1], passed, ran)
				}
			}
			for _, g := range groups {
				if !found[g] {
					t.Errorf("litmus printed no summary for %s", g)
				}
			}
			if t.Failed() {
				t.Logf("litmus output:\n%s", out)
			}
		})
	}
}
