package guard

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Throttle limits failed logins per client address with a token bucket:
// an address may fail Burst times in a row, and then once more per
// Interval. While an address has no failure left, its logins are refused
// before their credentials are checked, whether they would succeed or not,
// so that guessing from it learns nothing. The buckets live in a
// ThrottleStore. A nil *Throttle allows everything. It is safe for
// concurrent use.
//
// A store that fails (Redis unreachable) fails open: the login is checked
// as if the address had failures left, and the failure is logged. The
// credentials are still checked, so an outage of the store costs only the
// throttling, never the authentication.
type Throttle struct {
	bucket Bucket
	now    func() time.Time
	store  ThrottleStore
	log    *slog.Logger

	refused atomic.Int64
}

// Bucket is the token bucket of every address.
type Bucket struct {
	// Burst is how many failures in a row an address has; at least 1.
	Burst int
	// Interval is how often an address earns one back; positive.
	Interval time.Duration
}

// ThrottleStore keeps the buckets of a Throttle's addresses.
type ThrottleStore interface {
	// Wait returns how long, at now, addr must wait until a login from it
	// may be checked: 0 if it has a whole failure left.
	Wait(ctx context.Context, addr string, now time.Time, b Bucket) (time.Duration, error)
	// Fail takes one failure from addr's bucket at now. It returns how
	// long addr must wait after it and whether the bucket had a whole
	// failure before.
	Fail(ctx context.Context, addr string, now time.Time, b Bucket) (wait time.Duration, had bool, err error)
}

// ThrottleOptions configure NewThrottle.
type ThrottleOptions struct {
	// Burst is how many failed logins in a row an address may make
	// before it is throttled; at least 1.
	Burst int
	// Interval is how often an address earns one more failed login;
	// it must be positive (<= 0 means a minute).
	Interval time.Duration
	// Store keeps the buckets; nil means NewMemThrottleStore(MaxClients).
	Store ThrottleStore
	// MaxClients bounds the addresses the default store tracks; see
	// NewMemThrottleStore.
	MaxClients int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives failures of the store; nil discards them.
	Logger *slog.Logger
}

// NewThrottle returns a Throttle with the settings of o.
func NewThrottle(o ThrottleOptions) *Throttle {
	t := &Throttle{
		bucket: Bucket{Burst: max(o.Burst, 1), Interval: o.Interval},
		now:    o.Now,
		store:  o.Store,
		log:    o.Logger,
	}
	if t.bucket.Interval <= 0 {
		t.bucket.Interval = time.Minute
	}
	if t.store == nil {
		t.store = NewMemThrottleStore(o.MaxClients)
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	return t
}

// Allow reports whether a login from the client address addr (see
// ClientAddr) may be checked, and if not, how long until it may.
func (t *Throttle) Allow(ctx context.Context, addr string) (retryAfter time.Duration, ok bool) {
	if t == nil {
		return 0, true
	}
	w, err := t.store.Wait(ctx, addr, t.now(), t.bucket)
	if err != nil {
		t.log.Error("login throttle: the store of failed logins is unreachable; checking the login unthrottled", "client", addr, "err", err)
		return 0, true
	}
	if w > 0 {
		t.refused.Add(1)
		return w, false
	}
	return 0, true
}

// Failure records a failed login from addr. It returns whether this
// failure used up the address's last one (so that the caller logs, once,
// that the address is now throttled) and how long it will be refused.
func (t *Throttle) Failure(ctx context.Context, addr string) (retryAfter time.Duration, nowThrottled bool) {
	if t == nil {
		return 0, false
	}
	w, had, err := t.store.Fail(ctx, addr, t.now(), t.bucket)
	if err != nil {
		t.log.Error("login throttle: the store of failed logins is unreachable; a failed login was not counted", "client", addr, "err", err)
		return 0, false
	}
	return w, had && w > 0
}

// Refused returns how many logins Allow has refused so far in this process.
func (t *Throttle) Refused() int64 {
	if t == nil {
		return 0
	}
	return t.refused.Load()
}

// MemThrottleStore keeps buckets in this process. It is safe for
// concurrent use.
type MemThrottleStore struct {
	max     int
	mu      sync.Mutex
	clients map[string]*bucket
}

// bucket is the failures an address has left.
type bucket struct {
	tokens float64
	last   time.Time
}

// NewMemThrottleStore returns an empty store that tracks at most
// maxClients addresses (<= 0 means 10000). When it is full, addresses that
// have earned back every failure are dropped first, then the one seen
// least recently.
func NewMemThrottleStore(maxClients int) *MemThrottleStore {
	if maxClients <= 0 {
		maxClients = 10000
	}
	return &MemThrottleStore{max: maxClients, clients: make(map[string]*bucket)}
}

// refill brings b up to date at now.
func refill(b *bucket, now time.Time, p Bucket) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(float64(p.Burst), b.tokens+float64(d)/float64(p.Interval))
	}
	b.last = now
}

// wait is how long until b has a whole token.
func wait(b *bucket, p Bucket) time.Duration {
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(p.Interval))
}

// Wait implements ThrottleStore.
func (s *MemThrottleStore) Wait(_ context.Context, addr string, now time.Time, p Bucket) (time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.clients[addr]
	if b == nil {
		return 0, nil
	}
	refill(b, now, p)
	return wait(b, p), nil
}

// Fail implements ThrottleStore.
func (s *MemThrottleStore) Fail(_ context.Context, addr string, now time.Time, p Bucket) (time.Duration, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.clients[addr]
	if b == nil {
		s.makeRoom(now, p)
		b = &bucket{tokens: float64(p.Burst), last: now}
		s.clients[addr] = b
	}
	refill(b, now, p)
	had := b.tokens >= 1
	b.tokens = max(b.tokens-1, 0)
	return wait(b, p), had, nil
}

// makeRoom drops entries until there is room for one more. The caller
// holds s.mu.
func (s *MemThrottleStore) makeRoom(now time.Time, p Bucket) {
	if len(s.clients) < s.max {
		return
	}
	for addr, b := range s.clients {
		if b.tokens+float64(now.Sub(b.last))/float64(p.Interval) >= float64(p.Burst) {
			delete(s.clients, addr)
		}
	}
	for len(s.clients) >= s.max {
		var oldest string
		var at time.Time
		for addr, b := range s.clients {
			if oldest == "" || b.last.Before(at) {
				oldest, at = addr, b.last
			}
		}
		delete(s.clients, oldest)
	}
}
