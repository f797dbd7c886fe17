package main

import (
	"context"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/twincrypt/twincrypt/config"
	"github.com/twincrypt/twincrypt/gateway/dav"
	"github.com/twincrypt/twincrypt/gateway/dav/redislocks"
	"github.com/twincrypt/twincrypt/gateway/guard"
	"github.com/twincrypt/twincrypt/gateway/lease"
	"github.com/twincrypt/twincrypt/keyring"
)

// sharedState is what, besides the catalog, makes several gateway
// instances one gateway (docs/OPERATIONS.md): the WebDAV locks, the
// counts of failed logins, and the leases of once-per-deployment
// background work.
type sharedState struct {
	locks    dav.SharedLockSystem
	throttle *guard.Throttle
	lease    lease.Leaser
	// run does the background work the state needs (the instance's lease
	// on its WebDAV locks, the sweep of expired ones) until ctx is done.
	run func(ctx context.Context)
}

// newSharedState returns the shared state on client, or this process's
// own when client is nil (a single instance). Keys derived from keys hash
// the paths and client addresses Redis sees and seal the lock details.
func newSharedState(client redis.UniversalClient, keys *keyring.Keyring, lim config.Limits, log *slog.Logger) (*sharedState, error) {
	to := guard.ThrottleOptions{Burst: lim.LoginFailures, Interval: lim.LoginFailureInterval, Logger: log}
	if client == nil {
		return &sharedState{
			locks:    dav.NewMemLocks(),
			throttle: guard.NewThrottle(to),
			lease:    lease.Local{},
			run:      func(context.Context) {},
		}, nil
	}
	locks, err := redislocks.New(client, redislocks.Options{Key: keys.Derive(redislocks.KeyLabel), Logger: log})
	if err != nil {
		return nil, err
	}
	to.Store = guard.NewRedisThrottleStore(client, keys.Derive(guard.ThrottleKeyLabel), "")
	return &sharedState{
		locks:    locks,
		throttle: guard.NewThrottle(to),
		lease:    lease.NewRedis(client, ""),
		run:      func(ctx context.Context) { locks.Run(ctx) },
	}, nil
}
