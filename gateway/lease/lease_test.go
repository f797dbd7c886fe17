package lease_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/gateway/lease"
	"github.com/twincrypt/twincrypt/internal/testenv"
)

func TestLocalGrantsEverything(t *testing.T) {
	ctx := context.Background()
	for range 2 {
		l, ok, err := lease.Local{}.Acquire(ctx, "scrub", time.Minute)
		if !ok || err != nil || l.Renew(ctx, time.Minute) != nil || l.Release(ctx) != nil {
			t.Fatalf("Local: %v %v", ok, err)
		}
	}
	ran, err := lease.Do(ctx, lease.Local{}, "scrub", lease.DoOptions{TTL: time.Minute, Keep: time.Hour}, func(context.Context) error { return nil })
	if !ran || err != nil {
		t.Fatalf("Do on Local: %v %v", ran, err)
	}
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
	a, b := lease.NewRedis(ca, "t"), lease.NewRedis(cb, "t")

	// Of many instances trying at once, one gets it.
	var wins atomic.Int32
	var won lease.Lease
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 16 {
		lr := a
		if i%2 == 1 {
			lr = b
		}
		wg.Go(func() {
			l, ok, err := lr.Acquire(ctx, "race", time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
				mu.Lock()
				won = l
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d holders of one lease, want 1", n)
	}
	if err := won.Renew(ctx, time.Minute); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	if err := won.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if _, ok, err := b.Acquire(ctx, "race", time.Minute); !ok || err != nil {
		t.Fatalf("Acquire after Release: %v %v", ok, err)
	}

	// A holder that stops renewing loses the lease after its TTL; it can
	// neither renew nor release what another holder has taken since.
	stale, ok, err := a.Acquire(ctx, "lapse", 300*time.Millisecond)
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	var next lease.Lease
	for start := time.Now(); next == nil && time.Since(start) < time.Minute; time.Sleep(20 * time.Millisecond) {
		next, _, err = b.Acquire(ctx, "lapse", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
	}
	if next == nil {
		t.Fatal("the lapsed lease was never taken over")
	}
	if err := stale.Renew(ctx, time.Minute); !errors.Is(err, lease.ErrLost) {
		t.Errorf("Renew of a lapsed lease: %v", err)
	}
	if err := stale.Release(ctx); !errors.Is(err, lease.ErrLost) {
		t.Errorf("Release of a lapsed lease: %v", err)
	}
	if _, ok, _ := a.Acquire(ctx, "lapse", time.Minute); ok {
		t.Errorf("the stale holder's Release freed the new holder's lease")
	}

	// Do: work runs only under the lease; Keep holds it afterwards.
	runs := 0
	work := func(context.Context) error { runs++; return nil }
	if ran, err := lease.Do(ctx, a, "lapse", lease.DoOptions{TTL: time.Minute}, work); ran || err != nil || runs != 0 {
		t.Errorf("Do under another's lease: ran %v, err %v, runs %d", ran, err, runs)
	}
	if ran, err := lease.Do(ctx, a, "kept", lease.DoOptions{TTL: time.Minute, Keep: time.Hour}, work); !ran || err != nil || runs != 1 {
		t.Errorf("Do: ran %v, err %v, runs %d", ran, err, runs)
	}
	if ttl := ca.PTTL(ctx, "t:lease:{kept}").Val(); ttl <= time.Minute {
		t.Errorf("kept lease has TTL %v, want about an hour", ttl)
	}
	if ran, _ := lease.Do(ctx, b, "kept", lease.DoOptions{TTL: time.Minute}, work); ran {
		t.Errorf("Do during another instance's Keep ran")
	}
	if ran, err := lease.Do(ctx, a, "released", lease.DoOptions{TTL: time.Minute}, work); !ran || err != nil {
		t.Errorf("Do: %v %v", ran, err)
	}
	if ran, err := lease.Do(ctx, b, "released", lease.DoOptions{TTL: time.Minute}, work); !ran || err != nil {
		t.Errorf("Do after the other instance's Do released the lease: %v %v", ran, err)
	}

	// A lease lost during the work cancels the work.
	ran, err := lease.Do(ctx, a, "lost", lease.DoOptions{TTL: 300 * time.Millisecond}, func(ctx context.Context) error {
		if err := ca.Del(ctx, "t:lease:{lost}").Err(); err != nil {
			return err
		}
		<-ctx.Done()
		return ctx.Err()
	})
	if !ran || !errors.Is(err, lease.ErrLost) || !errors.Is(err, context.Canceled) {
		t.Errorf("Do losing its lease: ran %v, err %v", ran, err)
	}
}

func TestRedisDown(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := testenv.RedisClient(t, srv.URL())
	lr := lease.NewRedis(c, "")
	ctx := context.Background()
	srv.Stop()
	if _, ok, err := lr.Acquire(ctx, "scrub", time.Minute); ok || err == nil {
		t.Fatalf("Acquire with Redis down: %v %v", ok, err)
	}
	if ran, err := lease.Do(ctx, lr, "scrub", lease.DoOptions{TTL: time.Minute}, func(context.Context) error { return nil }); ran || err == nil {
		t.Fatalf("Do with Redis down: ran %v, err %v", ran, err)
	}
	srv.Start()
	if _, ok, err := lr.Acquire(ctx, "scrub", time.Minute); !ok || err != nil {
		t.Fatalf("Acquire after Redis is back: %v %v", ok, err)
	}
}
