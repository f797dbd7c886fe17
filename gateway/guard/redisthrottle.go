package guard

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ThrottleKeyLabel is the keyring label (Keyring.Derive) of the key that
// RedisThrottleStore hashes client addresses with.
const ThrottleKeyLabel = "twincrypt/v1/redis/throttle"

// RedisThrottleStore keeps the buckets in Redis, so that every gateway
// instance sharing it counts an address's failed logins together. An
// address's bucket is one hash, <prefix>:throttle:<h>, where h is the
// HMAC-SHA-256 of the address (truncated to 128 bits) under a key derived
// from the keyring: Redis holds no client address. The hash holds the
// failures left and the time of the last update (the gateway's clock), and
// expires once the address has earned every failure back. Each update is
// one script, so concurrent failures on several instances all count.
type RedisThrottleStore struct {
	c      redis.UniversalClient
	key    []byte
	prefix string
}

// NewRedisThrottleStore returns a store on c whose address hashes use key
// (Keyring.Derive(ThrottleKeyLabel)) and whose keys start with prefix (""
// means "twincrypt").
func NewRedisThrottleStore(c redis.UniversalClient, key *[32]byte, prefix string) *RedisThrottleStore {
	if prefix == "" {
		prefix = "twincrypt"
	}
	return &RedisThrottleStore{c: c, key: key[:], prefix: prefix}
}

func (s *RedisThrottleStore) bucketKey(addr string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(addr))
	return s.prefix + ":throttle:" + hex.EncodeToString(m.Sum(nil)[:16])
}

// throttleScript: KEYS[1] the bucket; ARGV now ms, burst, interval ms,
// take ("1": take a failure). Returns {wait ms, had a whole failure}.
var throttleScript = redis.NewScript(`
local now, burst, iv = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local v = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens = burst
if v[1] then
  tokens = tonumber(v[1])
  local d = now - tonumber(v[2])
  if d > 0 then tokens = math.min(burst, tokens + d / iv) end
end
local had = 0
if tokens >= 1 then had = 1 end
if ARGV[4] == '1' then
  tokens = math.max(tokens - 1, 0)
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'last', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * iv) + 1000)
end
local wait = 0
if tokens < 1 then wait = math.ceil((1 - tokens) * iv) end
return {wait, had}
`)

func (s *RedisThrottleStore) run(ctx context.Context, addr string, now time.Time, p Bucket, take string) (time.Duration, bool, error) {
	res, err := throttleScript.Run(ctx, s.c, []string{s.bucketKey(addr)},
		now.UnixMilli(), p.Burst, max(p.Interval.Milliseconds(), 1), take).Int64Slice()
	if err != nil {
		return 0, false, fmt.Errorf("login throttle: redis: %w", err)
	}
	return time.Duration(res[0]) * time.Millisecond, res[1] == 1, nil
}

// Wait implements ThrottleStore.
func (s *RedisThrottleStore) Wait(ctx context.Context, addr string, now time.Time, p Bucket) (time.Duration, error) {
	w, _, err := s.run(ctx, addr, now, p, "0")
	return w, err
}

// Fail implements ThrottleStore.
func (s *RedisThrottleStore) Fail(ctx context.Context, addr string, now time.Time, p Bucket) (time.Duration, bool, error) {
	return s.run(ctx, addr, now, p, "1")
}
