package redislocks_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/net/webdav"

	"github.com/twincrypt/twincrypt/gateway/dav"
	"github.com/twincrypt/twincrypt/gateway/dav/locktest"
	"github.com/twincrypt/twincrypt/gateway/dav/redislocks"
	"github.com/twincrypt/twincrypt/internal/testenv"
)

var testKey = [32]byte{1, 2, 3}

func newLocks(t *testing.T, c redis.UniversalClient, o redislocks.Options) *redislocks.Locks {
	t.Helper()
	if o.Key == nil {
		o.Key = &testKey
	}
	l, err := redislocks.New(c, o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// servers starts a single server and a three-master cluster and runs f
// against each.
func servers(t *testing.T, f func(t *testing.T, url string)) {
	single := testenv.StartRedis(t)
	cluster := testenv.StartRedisCluster(t)
	t.Run("single", func(t *testing.T) { f(t, single.URL()) })
	t.Run("cluster", func(t *testing.T) { f(t, cluster.URL()) })
}

func TestConformance(t *testing.T) {
	servers(t, func(t *testing.T, url string) {
		c := testenv.RedisClient(t, url)
		n := 0
		locktest.Run(t, func(t *testing.T) dav.SharedLockSystem {
			n++
			return newLocks(t, c, redislocks.Options{Prefix: fmt.Sprintf("conf%d", n)})
		})
	})
}

// TestRace lets many goroutines on two instances, each with its own
// connection, take conflicting locks at once: exactly one wins each round.
func TestRace(t *testing.T) {
	servers(t, func(t *testing.T, url string) {
		a := newLocks(t, testenv.RedisClient(t, url), redislocks.Options{Prefix: "race"})
		b := newLocks(t, testenv.RedisClient(t, url), redislocks.Options{Prefix: "race"})
		now := time.Now()
		// Every pair of these conflicts.
		roots := []webdav.LockDetails{
			{Root: "/r/a", Duration: time.Minute},
			{Root: "/r/a/b/c", Duration: time.Minute, ZeroDepth: true},
			{Root: "/r/a/b", Duration: time.Minute},
			{Root: "/r", Duration: time.Minute},
		}
		for round := range 10 {
			var wins atomic.Int32
			var winner atomic.Value
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for i := range 32 {
				l := a
				if i%2 == 1 {
					l = b
				}
				d := roots[i%len(roots)]
				d.Root = fmt.Sprintf("/round%d%s", round, d.Root)
				wg.Go(func() {
					tok, err := l.Create(now, d)
					switch {
					case err == nil:
						wins.Add(1)
						winner.Store(tok)
					case !errors.Is(err, webdav.ErrLocked):
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if n := wins.Load(); n != 1 {
				t.Fatalf("round %d: %d winners, want 1", round, n)
			}
			// The winner's lock is seen, and released, from both sides.
			tok := winner.Load().(string)
			if _, err := b.Refresh(now, tok, time.Minute); err != nil {
				t.Fatalf("round %d: refresh through the other instance: %v", round, err)
			}
			if err := a.Unlock(now, tok); err != nil {
				t.Fatalf("round %d: unlock: %v", round, err)
			}
		}
		// Confirm: of many requests naming the same lock, one holds it.
		tok, err := a.Create(now, webdav.LockDetails{Root: "/held", Duration: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		var held atomic.Int32
		releases := make(chan func(), 32)
		var wg sync.WaitGroup
		for i := range 32 {
			l := a
			if i%2 == 1 {
				l = b
			}
			wg.Go(func() {
				release, err := l.Confirm(now, "/held/x", "", webdav.Condition{Token: tok})
				switch {
				case err == nil:
					held.Add(1)
					releases <- release
				case !errors.Is(err, webdav.ErrConfirmationFailed):
					t.Error(err)
				}
			})
		}
		wg.Wait()
		close(releases)
		if n := held.Load(); n != 1 {
			t.Fatalf("%d requests confirmed the same lock, want 1", n)
		}
		(<-releases)()
		if err := b.Unlock(now, tok); err != nil {
			t.Fatalf("unlock after release: %v", err)
		}
	})
}

// waitFor polls cond until it holds; the deadline only stops a broken
// test from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); time.Since(start) < time.Minute; time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: never happened", what)
}

// TestHolderVanishes: the locks of an instance that stops renewing its
// lease (it died) expire with the lease, whatever their own timeout; so
// does the hold of a request on an instance that died in the middle.
func TestHolderVanishes(t *testing.T) {
	servers(t, func(t *testing.T, url string) {
		ctx := context.Background()
		const lease = 600 * time.Millisecond
		dead := newLocks(t, testenv.RedisClient(t, url), redislocks.Options{Prefix: "vanish", Lease: lease, Hold: lease})
		live := newLocks(t, testenv.RedisClient(t, url), redislocks.Options{Prefix: "vanish", Lease: lease, Hold: lease})
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		go live.Run(runCtx)

		now := time.Now()
		tok, err := dead.Create(now, webdav.LockDetails{Root: "/doc", Duration: -1})
		if err != nil {
			t.Fatal(err)
		}
		// While the lease lasts, the lock holds on the other instance.
		if _, err := live.Create(now, webdav.LockDetails{Root: "/doc", Duration: -1}); !errors.Is(err, webdav.ErrLocked) {
			t.Fatalf("Create over a live lock of another instance: %v", err)
		}
		// The lock's instance does not renew its lease: it died.
		waitFor(t, "the dead instance's lock expires", func() bool {
			_, err := live.Create(time.Now(), webdav.LockDetails{Root: "/doc", Duration: -1, ZeroDepth: true})
			return err == nil
		})
		if err := live.Unlock(time.Now(), tok); !errors.Is(err, webdav.ErrNoSuchLock) {
			t.Errorf("Unlock of the dead instance's lock: %v", err)
		}

		// A lock of the live instance, confirmed by a request on an
		// instance that dies before it releases it.
		tok, err = live.Create(time.Now(), webdav.LockDetails{Root: "/held", Duration: -1})
		if err != nil {
			t.Fatal(err)
		}
		holderClient := testenv.RedisClient(t, url)
		holder := newLocks(t, holderClient, redislocks.Options{Prefix: "vanish", Lease: lease, Hold: lease})
		if _, err := holder.Confirm(time.Now(), "/held", "", webdav.Condition{Token: tok}); err != nil {
			t.Fatal(err)
		}
		if err := live.Unlock(time.Now(), tok); !errors.Is(err, webdav.ErrLocked) {
			t.Fatalf("Unlock while another instance's request holds the lock: %v", err)
		}
		holderClient.Close() // its renewals fail from now on
		waitFor(t, "the dead request's hold lapses", func() bool {
			return live.Unlock(time.Now(), tok) == nil
		})
	})
}

// TestRedisDown: with Redis unreachable every call fails with an error that
// wraps dav.ErrUnavailable, never "unlocked"; when Redis is back, the same
// lock system works again without being reopened.
func TestRedisDown(t *testing.T) {
	srv := testenv.StartRedis(t)
	l := newLocks(t, testenv.RedisClient(t, srv.URL()), redislocks.Options{Timeout: time.Second})
	now := time.Now()
	tok, err := l.Create(now, webdav.LockDetails{Root: "/a", Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	d := webdav.LockDetails{Root: "/b", Duration: time.Minute}
	if _, err := l.Create(now, d); !errors.Is(err, dav.ErrUnavailable) {
		t.Errorf("Create with Redis down: %v", err)
	}
	if _, err := l.CreateShared(now, d); !errors.Is(err, dav.ErrUnavailable) {
		t.Errorf("CreateShared with Redis down: %v", err)
	}
	if _, err := l.Confirm(now, "/a", "", webdav.Condition{Token: tok}); !errors.Is(err, dav.ErrUnavailable) {
		t.Errorf("Confirm with Redis down: %v", err)
	}
	if _, err := l.Refresh(now, tok, time.Minute); !errors.Is(err, dav.ErrUnavailable) {
		t.Errorf("Refresh with Redis down: %v", err)
	}
	if err := l.Unlock(now, tok); !errors.Is(err, dav.ErrUnavailable) {
		t.Errorf("Unlock with Redis down: %v", err)
	}
	if err := l.Sweep(context.Background()); !errors.Is(err, dav.ErrUnavailable) {
		t.Errorf("Sweep with Redis down: %v", err)
	}
	if strings.Contains(fmt.Sprint(err), "/a") {
		t.Errorf("error names the path: %v", err)
	}
	srv.Start() // empty: the server keeps nothing
	tok, err = l.Create(now, d)
	if err != nil {
		t.Fatalf("Create after Redis is back: %v", err)
	}
	if _, err := l.Create(now, d); !errors.Is(err, webdav.ErrLocked) {
		t.Errorf("second Create after Redis is back: %v", err)
	}
	if err := l.Unlock(now, tok); err != nil {
		t.Errorf("Unlock after Redis is back: %v", err)
	}
}

// TestStoredForm: Redis holds no path and no owner text, and a record
// sealed under another key does not open.
func TestStoredForm(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := testenv.RedisClient(t, srv.URL())
	ctx := context.Background()
	l := newLocks(t, c, redislocks.Options{})
	now := time.Now()
	const owner = "<D:href>mailto:owner-secret@example.com</D:href>"
	tok, err := l.Create(now, webdav.LockDetails{Root: "/bucket/secret-name/file.txt", Duration: time.Minute, OwnerXML: owner})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var dump strings.Builder
	for _, k := range keys {
		dump.WriteString(k + "\n")
		switch typ := c.Type(ctx, k).Val(); typ {
		case "string":
			dump.WriteString(c.Get(ctx, k).Val() + "\n")
		case "set":
			dump.WriteString(strings.Join(c.SMembers(ctx, k).Val(), "\n") + "\n")
		case "hash":
			for f, v := range c.HGetAll(ctx, k).Val() {
				dump.WriteString(f + "=" + v + "\n")
			}
		default:
			t.Errorf("key %s of type %s", k, typ)
		}
	}
	for _, secret := range []string{"secret-name", "file.txt", "bucket", "owner-secret"} {
		if strings.Contains(dump.String(), secret) {
			t.Errorf("Redis holds %q:\n%s", secret, dump.String())
		}
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "{twincrypt:davlocks}:") {
			t.Errorf("key %q outside the hash tag", k)
		}
	}
	otherKey := [32]byte{9}
	other := newLocks(t, c, redislocks.Options{Key: &otherKey})
	if _, err := other.Refresh(now, tok, time.Minute); err == nil || errors.Is(err, webdav.ErrNoSuchLock) {
		t.Errorf("Refresh under another key: %v, want an error opening the record", err)
	}
	if _, err := other.Confirm(now, "/bucket/secret-name/file.txt", "", webdav.Condition{Token: tok}); !errors.Is(err, webdav.ErrConfirmationFailed) {
		t.Errorf("Confirm under another key (other path hashes): %v", err)
	}
}

// TestUnlockRetried: an Unlock that fails while Redis is unreachable
// (here: the connection hangs) is retried when it answers again, so that
// the lock, which its instance's lease would keep alive, does not stay.
func TestUnlockRetried(t *testing.T) {
	srv := testenv.StartRedis(t)
	proxy := testenv.StartProxy(t, srv.Addr)
	cut := newLocks(t, testenv.RedisClient(t, "redis://"+proxy.Addr+"/0"), redislocks.Options{Lease: time.Hour, Timeout: 300 * time.Millisecond})
	other := newLocks(t, testenv.RedisClient(t, srv.URL()), redislocks.Options{})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go cut.Run(ctx)

	d := webdav.LockDetails{Root: "/bucket/doc", Duration: -1, ZeroDepth: true}
	tok, err := cut.Create(time.Now(), d)
	if err != nil {
		t.Fatal(err)
	}
	proxy.Hang()
	if err := cut.Unlock(time.Now(), tok); !errors.Is(err, dav.ErrUnavailable) {
		t.Fatalf("Unlock through a hanging connection: %v", err)
	}
	if _, err := other.Create(time.Now(), d); !errors.Is(err, webdav.ErrLocked) {
		t.Fatalf("Create while the failed unlock waits: %v", err)
	}
	proxy.Pass()
	waitFor(t, "the failed unlock is retried", func() bool {
		_, err := other.Create(time.Now(), d)
		return err == nil
	})
}
