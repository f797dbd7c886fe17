package main

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/net/webdav"

	"github.com/twincrypt/twincrypt/config"
	"github.com/twincrypt/twincrypt/gateway/dav"
	"github.com/twincrypt/twincrypt/gateway/lease"
	"github.com/twincrypt/twincrypt/internal/testenv"
	"github.com/twincrypt/twincrypt/keyring"
)

// TestSharedState: without Redis, an instance keeps its state to itself;
// on Redis, two instances built by newSharedState see each other's locks,
// failed logins and leases.
func TestSharedState(t *testing.T) {
	keys, err := keyring.Create(filepath.Join(t.TempDir(), "keyring"), []byte("pw"), keyring.Params{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	lim := config.Limits{LoginFailures: 1, LoginFailureInterval: time.Hour}
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	now := time.Now()
	d := webdav.LockDetails{Root: "/bucket/doc", Duration: time.Minute}

	local, err := newSharedState(nil, keys, lim, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := local.locks.(*dav.MemLocks); !ok {
		t.Errorf("locks without Redis: %T", local.locks)
	}
	if _, ok := local.lease.(lease.Local); !ok {
		t.Errorf("leaser without Redis: %T", local.lease)
	}

	srv := testenv.StartRedis(t)
	var inst [2]*sharedState
	for i := range inst {
		c := testenv.RedisClient(t, srv.URL())
		var err error
		if inst[i], err = newSharedState(c, keys, lim, log); err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		t.Cleanup(stop)
		go inst[i].run(runCtx)
	}
	if _, err := inst[0].locks.Create(now, d); err != nil {
		t.Fatal(err)
	}
	if _, err := inst[1].locks.Create(now, d); !errors.Is(err, webdav.ErrLocked) {
		t.Errorf("lock through the second instance: %v, want locked", err)
	}
	inst[0].throttle.Failure(ctx, "192.0.2.1")
	if _, ok := inst[1].throttle.Allow(ctx, "192.0.2.1"); ok {
		t.Errorf("the second instance allows an address the first throttled")
	}
	if _, ok, err := inst[0].lease.Acquire(ctx, "scrub", time.Minute); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if _, ok, err := inst[1].lease.Acquire(ctx, "scrub", time.Minute); ok || err != nil {
		t.Errorf("both instances hold the lease: %v %v", ok, err)
	}
}
