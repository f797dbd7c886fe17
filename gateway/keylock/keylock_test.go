package keylock_test

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

	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/keylock"
	"github.com/twincrypt/twincrypt/internal/testenv"
)

var testKey = [32]byte{1, 2, 3}

func newRedis(t *testing.T, c redis.UniversalClient, ttl time.Duration) *keylock.Redis {
	t.Helper()
	l, err := keylock.NewRedis(c, keylock.RedisOptions{Key: &testKey, Prefix: "t", TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// exclusion runs writers that lock overlapping sets of names through the
// lockers, in turn, and fails if two ever held one name at once or if any
// lock call failed.
func exclusion(t *testing.T, lockers ...keylock.Locker) {
	t.Helper()
	a, b, c := keylock.Name{Bucket: "b", Key: "a"}, keylock.Name{Bucket: "b", Key: "b"}, keylock.Name{Bucket: "other", Key: "c"}
	sets := [][]keylock.Name{{a}, {b}, {a, b}, {b, a}, {c, a}, {a, a}}
	inside := map[keylock.Name]*atomic.Int32{a: {}, b: {}, c: {}}
	var overlaps, done atomic.Int32
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Go(func() {
			l := lockers[i%len(lockers)]
			set := sets[i%len(sets)]
			for range 5 {
				unlock, err := l.Lock(context.Background(), set...)
				if err != nil {
					t.Errorf("Lock %v: %v", set, err)
					return
				}
				uniq := map[keylock.Name]bool{}
				for _, n := range set {
					uniq[n] = true
				}
				for n := range uniq {
					if inside[n].Add(1) != 1 {
						overlaps.Add(1)
					}
				}
				time.Sleep(time.Millisecond)
				for n := range uniq {
					inside[n].Add(-1)
				}
				if !unlock() {
					t.Errorf("lock of %v lapsed while held", set)
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if overlaps.Load() != 0 || done.Load() != 24*5 {
		t.Fatalf("%d overlapping holders, %d of %d critical sections", overlaps.Load(), done.Load(), 24*5)
	}
}

func TestStriped(t *testing.T) {
	var s keylock.Striped
	exclusion(t, &s)
}

func TestRedis(t *testing.T) {
	single := testenv.StartRedis(t)
	cluster := testenv.StartRedisCluster(t)
	for _, tc := range []struct{ name, url string }{{"single", single.URL()}, {"cluster", cluster.URL()}} {
		t.Run(tc.name, func(t *testing.T) { testRedis(t, tc.url) })
	}
}

func testRedis(t *testing.T, url string) {
	ctx := context.Background()
	ca, cb := testenv.RedisClient(t, url), testenv.RedisClient(t, url)
	la, lb := newRedis(t, ca, time.Second), newRedis(t, cb, time.Second)

	// Two instances exclude each other, also while a holder keeps its
	// lock past the TTL (the renewal keeps it).
	exclusion(t, la, lb)
	name := keylock.Name{Bucket: "secret-bucket", Key: "secret/key.txt"}
	unlock, err := la.Lock(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	var gotAt atomic.Bool
	go func() {
		u, err := lb.Lock(ctx, name)
		gotAt.Store(true)
		if err == nil {
			u()
		}
		got <- err
	}()
	time.Sleep(2500 * time.Millisecond) // past two TTLs: renewed meanwhile
	if gotAt.Load() {
		t.Fatal("the other instance took a held lock")
	}

	// Redis sees no bucket or key name.
	var (
		mu   sync.Mutex // ForEachMaster calls scan on every master at once
		keys []string
	)
	scan := func(c *redis.Client) error {
		k, err := c.Keys(ctx, "*").Result()
		mu.Lock()
		defer mu.Unlock()
		keys = append(keys, k...)
		return err
	}
	if cc, ok := ca.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(c) })
	} else {
		err = scan(ca.(*redis.Client))
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("no lock key in Redis")
	}
	for _, k := range keys {
		if strings.Contains(k, "secret") || !strings.HasPrefix(k, "t:lease:{keylock:") {
			t.Errorf("Redis key %q", k)
		}
	}
	if !unlock() {
		t.Error("a renewed lock lapsed")
	}
	if err := <-got; err != nil {
		t.Fatalf("the waiting instance: %v", err)
	}

	// A lock that lapses while held (here: removed behind the holder's
	// back, as if it had stalled past its TTL) is reported at unlock, and
	// the other instance gets it meanwhile.
	unlock, err = la.Lock(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := ca.Del(ctx, k).Err(); err != nil {
			t.Fatal(err)
		}
	}
	u2, err := lb.Lock(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if unlock() {
		t.Error("unlock of a lapsed lock reports it kept")
	}
	if !u2() {
		t.Error("the new holder's lock lapsed")
	}

	// A waiter gives up when its context ends.
	unlock, _ = la.Lock(ctx, name)
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := lb.Lock(wctx, name); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock with a context that ends: %v", err)
	}
	unlock()
}

func TestRedisDown(t *testing.T) {
	srv := testenv.StartRedis(t)
	l := newRedis(t, testenv.RedisClient(t, srv.URL()+"?dial_timeout=300ms&max_retries=1"), time.Second)
	srv.Stop()
	for i := range 2 {
		names := []keylock.Name{{Bucket: "b", Key: fmt.Sprint(i)}, {Bucket: "b", Key: "x"}}
		if _, err := l.Lock(context.Background(), names[:i+1]...); !errors.Is(err, catalog.ErrUnavailable) {
			t.Fatalf("Lock with Redis down: %v, want catalog.ErrUnavailable", err)
		}
	}
	srv.Start()
	unlock, err := l.Lock(context.Background(), keylock.Name{Bucket: "b", Key: "k"})
	if err != nil || !unlock() {
		t.Fatalf("Lock after Redis is back: %v", err)
	}
}
