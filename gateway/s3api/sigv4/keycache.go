package sigv4

import "sync"

// maxCachedKeys bounds the signing key cache; when it is full it starts
// over. A key is valid for one day, region and secret, so a gateway with a
// few users needs a handful.
const maxCachedKeys = 1024

// keyCache remembers derived signing keys. Deriving one costs four HMAC
// computations, and a client signs all its requests of a day with the same
// key. The zero value is ready to use.
type keyCache struct {
	mu   sync.Mutex
	keys map[keyID][]byte
}

// keyID is what a signing key is derived from.
type keyID struct{ secret, date, region string }

// get returns the signing key for secret and scope. The slice is shared:
// callers must not modify it.
func (c *keyCache) get(secret string, sc scope) []byte {
	id := keyID{secret, sc.date, sc.region}
	c.mu.Lock()
	k, ok := c.keys[id]
	c.mu.Unlock()
	if ok {
		return k
	}
	k = signingKey(secret, sc)
	c.mu.Lock()
	if c.keys == nil || len(c.keys) >= maxCachedKeys {
		c.keys = make(map[keyID][]byte)
	}
	c.keys[id] = k
	c.mu.Unlock()
	return k
}
