// Package redislocks keeps WebDAV locks in Redis, so that several gateway
// instances grant, check and release the same locks: a LOCK taken through
// one instance makes a PUT without its token fail on every other one.
//
// Locks implements dav.SharedLockSystem with the semantics of
// dav.MemLocks (exclusive and shared write locks of depth 0 or infinity,
// timeouts, a lock confirmed by a request in progress cannot be confirmed,
// refreshed or unlocked by another one). Every check-and-set is one Lua
// script on keys that share one hash tag, so it is atomic across instances
// and works on a Redis Cluster.
//
// Redis holds no path and no owner text: a lock record names its root by a
// keyed hash (HMAC-SHA-256 under a key derived from the keyring), and its
// details (root path and owner XML, which a refresh answers with) are
// sealed with AES-256-GCM under another subkey. Key layout, with T the hash
// tag {<prefix>:davlocks}:
//
//	T:lock:<token>   hash: root hash, depth, scope, expiry, owning instance,
//	                 ancestor hashes, sealed details
//	T:at:<h>         set of the tokens whose root hashes to h
//	T:under:<h>      set of the tokens whose root lies strictly below the
//	                 path that hashes to h
//	T:all            set of every token (for the sweep)
//	T:inst:<id>      an instance's lease (PX Options.Lease), renewed by Run
//	T:hold:<token>   the hold of a request that confirmed the lock (PX
//	                 Options.Hold), renewed while the request runs
//
// A lock lives while its own timeout has not passed and the instance that
// took (or last refreshed) it holds its lease: when an instance dies, its
// locks expire with its lease. Dead records are deleted by the scripts that
// meet them and by a sweep that Run makes every minute.
//
// The webdav.LockSystem interface carries no context; every call gets
// Options.Timeout. A Redis failure is reported as an error wrapping
// dav.ErrUnavailable, which the front end answers with 503: an unreachable
// Redis is never taken for "no locks".
package redislocks

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/net/webdav"

	"github.com/twincrypt/twincrypt/gateway/dav"
)

// KeyLabel is the keyring label (Keyring.Derive) of the key that Options.Key
// takes: the path hashes and the sealed details of WebDAV locks in Redis.
const KeyLabel = "twincrypt/v1/redis/dav-locks"

// Defaults of Options.
const (
	DefaultLease   = 30 * time.Second
	DefaultHold    = 30 * time.Second
	DefaultTimeout = 5 * time.Second
	sweepEvery     = time.Minute
	retryEvery     = time.Second
	// maxToken bounds a client-supplied token; longer ones name no lock.
	maxToken = 256
	// maxPending bounds the failed unlocks kept for a retry.
	maxPending = 10000
)

// Options configure New.
type Options struct {
	// Key is the secret the path hashes and sealed details derive from:
	// Keyring.Derive(KeyLabel). Every instance must use the same key.
	Key *[32]byte
	// Prefix starts every key, inside the hash tag; "" means "twincrypt".
	Prefix string
	// Lease is how long this instance's locks outlive it: the instance's
	// lease is renewed every Lease/3 by Run. 0 means DefaultLease.
	Lease time.Duration
	// Hold is the time-to-live of the hold a confirmed request keeps on
	// its locks, renewed every Hold/3 until the request ends. 0 means
	// DefaultHold.
	Hold time.Duration
	// Timeout bounds every Redis call; 0 means DefaultTimeout.
	Timeout time.Duration
	// Logger receives renewal failures; nil discards them.
	Logger *slog.Logger
}

// Locks is a dav.SharedLockSystem on Redis (see the package comment). It is
// safe for concurrent use; Run must run while it is in use.
type Locks struct {
	c       redis.UniversalClient
	tag     string
	id      string // this instance
	pathKey []byte
	aead    cipher.AEAD
	lease   time.Duration
	hold    time.Duration
	timeout time.Duration
	log     *slog.Logger
	allKey  string

	// pending holds the tokens whose Unlock failed because Redis was
	// unreachable; Run retries them (see Unlock).
	mu      sync.Mutex
	pending map[string]bool
}

var _ dav.SharedLockSystem = (*Locks)(nil)

// New returns the lock system on c. It does not contact Redis.
func New(c redis.UniversalClient, o Options) (*Locks, error) {
	if o.Key == nil {
		return nil, errors.New("redislocks: no key")
	}
	pk, err := hkdf.Expand(sha256.New, o.Key[:], "path hash", 32)
	if err != nil {
		return nil, err
	}
	sk, err := hkdf.Expand(sha256.New, o.Key[:], "details seal", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(sk)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	prefix := o.Prefix
	if prefix == "" {
		prefix = "twincrypt"
	}
	if strings.ContainsAny(prefix, "{}") {
		return nil, fmt.Errorf("redislocks: prefix %q holds a brace", prefix)
	}
	l := &Locks{
		c: c, tag: "{" + prefix + ":davlocks}", id: rand.Text(), pathKey: pk, aead: aead,
		lease: cmp(o.Lease, DefaultLease), hold: cmp(o.Hold, DefaultHold), timeout: cmp(o.Timeout, DefaultTimeout),
		log: o.Logger, pending: make(map[string]bool),
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.allKey = l.tag + ":all"
	return l, nil
}

func cmp(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Run keeps this instance's lease until ctx is done, sweeps dead lock
// records every minute and retries failed unlocks every second. It returns ctx's error. Renewal failures are
// logged; the lease of an instance that cannot reach Redis lapses, and
// with it its locks.
func (l *Locks) Run(ctx context.Context) error {
	renew := time.NewTicker(l.lease / 3)
	defer renew.Stop()
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	retry := time.NewTicker(retryEvery)
	defer retry.Stop()
	l.renewLease(ctx)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-renew.C:
			l.renewLease(ctx)
		case <-retry.C:
			l.retryUnlocks(ctx)
		case <-sweep.C:
			if err := l.Sweep(ctx); err != nil && ctx.Err() == nil {
				l.log.Warn("webdav locks: sweep of expired locks failed", "err", err)
			}
		}
	}
}

func (l *Locks) renewLease(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	if err := l.c.Set(ctx, l.tag+":inst:"+l.id, "1", l.lease).Err(); err != nil && ctx.Err() == nil {
		l.log.Warn("webdav locks: renewing this instance's lease in Redis failed", "err", err)
	}
}

// retryUnlocks retries the unlocks that failed while Redis was unreachable.
func (l *Locks) retryUnlocks(ctx context.Context) {
	l.mu.Lock()
	if len(l.pending) == 0 {
		l.mu.Unlock()
		return
	}
	tokens := make([]string, 0, len(l.pending))
	for t := range l.pending {
		tokens = append(tokens, t)
	}
	l.mu.Unlock()
	now := ms(time.Now())
	for _, t := range tokens {
		ctx, cancel := context.WithTimeout(ctx, l.timeout)
		res, err := unlockScript.Run(ctx, l.c, []string{l.allKey}, l.tag, now, t).Text()
		cancel()
		if err != nil {
			return // still unreachable; the next round retries
		}
		if res != "held" {
			l.mu.Lock()
			delete(l.pending, t)
			l.mu.Unlock()
		}
	}
}

// Sweep deletes the records of locks that have expired or whose instance
// has lost its lease.
func (l *Locks) Sweep(ctx context.Context) error {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	cursor := "0"
	for {
		ctx, cancel := context.WithTimeout(ctx, l.timeout)
		res, err := sweepScript.Run(ctx, l.c, []string{l.allKey}, l.tag, now, cursor).Text()
		cancel()
		if err != nil {
			return unavailable(err)
		}
		if cursor = res; cursor == "0" {
			return nil
		}
	}
}

// unavailable wraps a Redis error so that the front end answers 503.
func unavailable(err error) error {
	return fmt.Errorf("%w: redis: %w", dav.ErrUnavailable, err)
}

// hashes returns the keyed hashes of name and of each of its ancestors,
// nearest first, ending with "/". name is clean.
func (l *Locks) hashes(name string) []string {
	var out []string
	for {
		m := hmac.New(sha256.New, l.pathKey)
		m.Write([]byte(name))
		out = append(out, hex.EncodeToString(m.Sum(nil)[:16]))
		if name == "/" {
			return out
		}
		name = path.Dir(name)
	}
}

// sealed is the plaintext of a lock's sealed details.
type sealed struct {
	Root  string `json:"r"`
	Owner string `json:"o"`
}

func (l *Locks) seal(token string, d webdav.LockDetails) []byte {
	pt, _ := json.Marshal(sealed{Root: d.Root, Owner: d.OwnerXML})
	nonce := make([]byte, l.aead.NonceSize())
	rand.Read(nonce)
	return l.aead.Seal(nonce, nonce, pt, []byte(token))
}

func (l *Locks) open(token string, ct []byte) (sealed, error) {
	var s sealed
	n := l.aead.NonceSize()
	if len(ct) < n {
		return s, errors.New("redislocks: sealed details too short")
	}
	pt, err := l.aead.Open(nil, ct[:n], ct[n:], []byte(token))
	if err != nil {
		return s, fmt.Errorf("redislocks: sealed details of a lock do not open: %w", err)
	}
	if err := json.Unmarshal(pt, &s); err != nil {
		return s, fmt.Errorf("redislocks: sealed details: %w", err)
	}
	return s, nil
}

func (l *Locks) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), l.timeout)
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Create implements webdav.LockSystem with an exclusive lock.
func (l *Locks) Create(now time.Time, details webdav.LockDetails) (string, error) {
	return l.create(now, details, false)
}

// CreateShared implements dav.SharedLockSystem.
func (l *Locks) CreateShared(now time.Time, details webdav.LockDetails) (string, error) {
	return l.create(now, details, true)
}

func (l *Locks) create(now time.Time, details webdav.LockDetails, shared bool) (string, error) {
	details.Root = path.Clean("/" + details.Root)
	token := dav.NewLockToken()
	exp := "0"
	if details.Duration >= 0 {
		exp = ms(now.Add(details.Duration))
		if exp == "0" {
			exp = "1"
		}
	}
	hs := l.hashes(details.Root)
	args := []any{l.tag, ms(now), flag(shared), flag(details.ZeroDepth), exp, l.id, l.lease.Milliseconds(),
		token, l.seal(token, details)}
	for _, h := range hs {
		args = append(args, h)
	}
	ctx, cancel := l.ctx()
	defer cancel()
	ok, err := createScript.Run(ctx, l.c, []string{l.allKey}, args...).Int()
	switch {
	case err != nil:
		return "", unavailable(err)
	case ok == 0:
		return "", webdav.ErrLocked
	}
	return token, nil
}

// Confirm implements webdav.LockSystem: every non-empty name must be
// covered by a lock named in conditions that no other request holds. The
// locks are held (in Redis, so on every instance) until release is called.
func (l *Locks) Confirm(now time.Time, name0, name1 string, conditions ...webdav.Condition) (func(), error) {
	holdID := rand.Text()
	args := []any{l.tag, ms(now), l.hold.Milliseconds(), holdID}
	names := 0
	for _, name := range []string{name0, name1} {
		if name == "" {
			args = append(args, 0)
			continue
		}
		names++
		hs := l.hashes(path.Clean("/" + name))
		args = append(args, len(hs))
		for _, h := range hs {
			args = append(args, h)
		}
	}
	if names == 0 {
		return func() {}, nil
	}
	for _, c := range conditions {
		if !c.Not && c.Token != "" && len(c.Token) <= maxToken {
			args = append(args, c.Token)
		}
	}
	ctx, cancel := l.ctx()
	defer cancel()
	held, err := confirmScript.Run(ctx, l.c, []string{l.allKey}, args...).StringSlice()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, webdav.ErrConfirmationFailed
	case err != nil:
		return nil, unavailable(err)
	case len(held) == 0:
		return nil, webdav.ErrConfirmationFailed
	}
	return l.keepHold(holdID, held), nil
}

// keepHold renews the hold holdID on the tokens until the returned func is
// called, which releases it.
func (l *Locks) keepHold(holdID string, tokens []string) func() {
	keys := []string{l.allKey}
	args := []any{l.tag, holdID, l.hold.Milliseconds()}
	release := []any{l.tag, holdID}
	for _, t := range tokens {
		args = append(args, t)
		release = append(release, t)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(l.hold / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				ctx, cancel := l.ctx()
				err := renewHoldScript.Run(ctx, l.c, keys, args...).Err()
				cancel()
				if err != nil {
					l.log.Warn("webdav locks: renewing the hold of a request in Redis failed", "err", err)
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-done
			ctx, cancel := l.ctx()
			defer cancel()
			if err := releaseHoldScript.Run(ctx, l.c, keys, release...).Err(); err != nil {
				l.log.Warn("webdav locks: releasing the hold of a request in Redis failed; it lapses by itself",
					"hold", l.hold, "err", err)
			}
		})
	}
}

// Refresh implements webdav.LockSystem. The lock passes to this instance:
// it lives from now on as long as this instance's lease.
func (l *Locks) Refresh(now time.Time, token string, duration time.Duration) (webdav.LockDetails, error) {
	if len(token) > maxToken {
		return webdav.LockDetails{}, webdav.ErrNoSuchLock
	}
	exp := "0"
	if duration >= 0 {
		exp = ms(now.Add(duration))
		if exp == "0" {
			exp = "1"
		}
	}
	ctx, cancel := l.ctx()
	defer cancel()
	res, err := refreshScript.Run(ctx, l.c, []string{l.allKey}, l.tag, ms(now), token, exp, l.id, l.lease.Milliseconds()).Slice()
	if err != nil {
		return webdav.LockDetails{}, unavailable(err)
	}
	switch res[0] {
	case "none":
		return webdav.LockDetails{}, webdav.ErrNoSuchLock
	case "held":
		return webdav.LockDetails{}, webdav.ErrLocked
	}
	s, err := l.open(token, []byte(res[1].(string)))
	if err != nil {
		return webdav.LockDetails{}, err
	}
	return webdav.LockDetails{Root: s.Root, OwnerXML: s.Owner, Duration: duration, ZeroDepth: res[2] == "1"}, nil
}

// Unlock implements webdav.LockSystem. An Unlock that fails because Redis
// is unreachable returns the error and is retried by Run until Redis takes
// it: the lock is released late rather than kept. This matters most for the
// lock x/net/webdav takes for the duration of a request that names no
// token, which nothing else would release while this instance lives.
func (l *Locks) Unlock(now time.Time, token string) error {
	if len(token) > maxToken {
		return webdav.ErrNoSuchLock
	}
	ctx, cancel := l.ctx()
	defer cancel()
	res, err := unlockScript.Run(ctx, l.c, []string{l.allKey}, l.tag, ms(now), token).Text()
	switch {
	case err != nil:
		l.mu.Lock()
		if len(l.pending) < maxPending {
			l.pending[token] = true
		} else {
			l.log.Warn("webdav locks: too many unlocks waiting for Redis; this lock lives until its timeout or this instance's end")
		}
		l.mu.Unlock()
		return unavailable(err)
	case res == "none":
		return webdav.ErrNoSuchLock
	case res == "held":
		return webdav.ErrLocked
	}
	return nil
}

// IsShared implements dav.SharedLockSystem. A Redis failure reads as
// false (the interface has no error); IsShared only chooses the scope a
// refresh answer reports.
func (l *Locks) IsShared(now time.Time, token string) bool {
	if len(token) > maxToken {
		return false
	}
	ctx, cancel := l.ctx()
	defer cancel()
	res, err := sharedScript.Run(ctx, l.c, []string{l.allKey}, l.tag, ms(now), token).Int()
	return err == nil && res == 1
}
