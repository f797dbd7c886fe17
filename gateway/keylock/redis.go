package keylock

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/lease"
)

// KeyLabel is the keyring label (Keyring.Derive) of the key that
// RedisOptions.Key takes: the keyed hashes that name object locks in
// Redis.
const KeyLabel = "twincrypt/v1/redis/key-locks"

// Defaults of RedisOptions.
const (
	DefaultTTL      = 15 * time.Second
	minBackoff      = 2 * time.Millisecond
	maxBackoff      = 250 * time.Millisecond
	releaseTimeout  = 5 * time.Second
	leaseNamePrefix = "keylock:"
)

// RedisOptions configure NewRedis.
type RedisOptions struct {
	// Key keys the hashes of the locked names: Keyring.Derive(KeyLabel).
	// Every instance must use the same key.
	Key *[32]byte
	// Prefix starts every Redis key; "" means "twincrypt".
	Prefix string
	// TTL is how long a lock outlives a holder that stopped renewing it
	// (a dead or stalled instance); it is renewed every TTL/3 while held.
	// 0 means DefaultTTL.
	TTL time.Duration
	// Logger receives lapsed locks; nil discards them.
	Logger *slog.Logger
}

// Redis is a Locker on Redis, for gateway instances that share one. The
// lock of a name is a lease (gateway/lease) named keylock:<h>, where h is
// the first 16 bytes, in hex, of HMAC-SHA-256 under RedisOptions.Key of
// the bucket, a NUL and the key: Redis never sees a bucket or key name.
// Taking it is SET NX PX with a random holder id (retried with a growing,
// jittered pause while another holder has it), a background renewal
// extends it while held, and releasing it deletes it only if it is still
// the holder's.
type Redis struct {
	lr  lease.Leaser
	key []byte
	ttl time.Duration
	log *slog.Logger
}

// NewRedis returns the Locker on c. It does not contact Redis.
func NewRedis(c redis.UniversalClient, o RedisOptions) (*Redis, error) {
	if o.Key == nil {
		return nil, errors.New("keylock: no key")
	}
	r := &Redis{lr: lease.NewRedis(c, o.Prefix), key: o.Key[:], ttl: o.TTL, log: o.Logger}
	if r.ttl <= 0 {
		r.ttl = DefaultTTL
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

// hash returns the name under which n's lock is kept.
func (r *Redis) hash(n Name) string {
	m := hmac.New(sha256.New, r.key)
	m.Write([]byte(n.Bucket))
	m.Write([]byte{0})
	m.Write([]byte(n.Key))
	return leaseNamePrefix + hex.EncodeToString(m.Sum(nil)[:16])
}

// Lock implements Locker. The locks are taken in the order of their
// hashes. A Redis failure is an error wrapping catalog.ErrUnavailable.
func (r *Redis) Lock(ctx context.Context, names ...Name) (Unlock, error) {
	hs := make([]string, 0, len(names))
	for _, n := range names {
		hs = append(hs, r.hash(n))
	}
	hs = sortedUnique(hs)
	held := make([]*lease.Held, 0, len(hs))
	release := func() bool {
		kept := true
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		for _, h := range slices.Backward(held) {
			if err := h.Release(rctx); errors.Is(err, lease.ErrLost) {
				kept = false
			} else if err != nil {
				// Unreachable: the lock lapses by itself after its TTL.
				r.log.Warn("release object lock; it lapses by itself", "err", err)
			}
		}
		return kept
	}
	for _, name := range hs {
		h, err := r.acquire(ctx, name)
		if err != nil {
			release()
			return nil, err
		}
		held = append(held, h)
	}
	return func() bool {
		kept := release()
		if !kept {
			r.log.Warn("an object lock lapsed while held")
		}
		return kept
	}, nil
}

// acquire takes the lease name, waiting while another holder has it.
func (r *Redis) acquire(ctx context.Context, name string) (*lease.Held, error) {
	wait := minBackoff
	for {
		h, ok, err := lease.Hold(ctx, r.lr, name, r.ttl)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil:
			return nil, fmt.Errorf("%w: object lock: %w", catalog.ErrUnavailable, err)
		case ok:
			return h, nil
		}
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, maxBackoff)
	}
}
