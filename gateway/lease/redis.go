package lease

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Leaser on Redis, for instances that share a Redis server or
// Cluster. A lease is one key, <prefix>:lease:{<name>}, whose value is a
// random holder id and whose time-to-live is the lease's: taking it is
// SET NX PX, renewing and releasing are scripts that act only while the
// value is still the holder's. Redis learns the lease names ("scrub") and
// when they are held, nothing else.
type Redis struct {
	c      redis.UniversalClient
	prefix string
}

// NewRedis returns a Leaser on c whose keys start with prefix ("" means
// "twincrypt").
func NewRedis(c redis.UniversalClient, prefix string) *Redis {
	if prefix == "" {
		prefix = "twincrypt"
	}
	return &Redis{c: c, prefix: prefix}
}

// Acquire implements Leaser. A Redis failure is an error, never a lease.
func (r *Redis) Acquire(ctx context.Context, name string, ttl time.Duration) (Lease, bool, error) {
	l := &redisLease{c: r.c, key: r.prefix + ":lease:{" + name + "}", id: rand.Text()}
	ok, err := r.c.SetNX(ctx, l.key, l.id, ttl).Result()
	if err != nil {
		return nil, false, fmt.Errorf("lease %q: redis: %w", name, err)
	}
	if !ok {
		return nil, false, nil
	}
	return l, true, nil
}

type redisLease struct {
	c       redis.UniversalClient
	key, id string
}

var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

func (l *redisLease) Renew(ctx context.Context, ttl time.Duration) error {
	n, err := renewScript.Run(ctx, l.c, []string{l.key}, l.id, ttl.Milliseconds()).Int()
	switch {
	case err != nil:
		return fmt.Errorf("lease renewal: redis: %w", err)
	case n == 0:
		return ErrLost
	}
	return nil
}

func (l *redisLease) Release(ctx context.Context) error {
	n, err := releaseScript.Run(ctx, l.c, []string{l.key}, l.id).Int()
	switch {
	case err != nil:
		return fmt.Errorf("lease release: redis: %w", err)
	case n == 0:
		return ErrLost
	}
	return nil
}
