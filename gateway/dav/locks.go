package dav

import (
	"crypto/rand"
	"errors"
	"path"
	"sync"
	"time"

	"golang.org/x/net/webdav"
)

// SharedLockSystem is a webdav.LockSystem that also grants shared write
// locks. x/net/webdav knows exclusive locks only; when Options.Locks
// implements SharedLockSystem, the front end grants shared LOCK requests
// too, and otherwise answers them 501 Not Implemented.
type SharedLockSystem interface {
	webdav.LockSystem
	// CreateShared creates a shared write lock, which conflicts only with
	// exclusive locks. Errors are those of Create.
	CreateShared(now time.Time, details webdav.LockDetails) (token string, err error)
	// IsShared reports whether token names a live shared lock.
	IsShared(now time.Time, token string) bool
}

// ErrUnavailable is wrapped by the errors of a lock system that cannot
// reach the store its locks live in (Redis, for one). The front end
// answers a request that fails with it 503 Service Unavailable: a lock
// system that cannot tell whether a resource is locked must not answer as
// if it were not.
var ErrUnavailable = errors.New("webdav: lock store unavailable")

// NewLockToken returns a new, unique lock token: a URI of the
// opaquelocktoken scheme with 128 random bits.
func NewLockToken() string {
	return "opaquelocktoken:" + rand.Text()
}

// MemLocks is an in-memory SharedLockSystem: exclusive and shared write
// locks of depth 0 or infinity, with timeouts. Locks live in this process
// only; they are lost on restart and not seen by other gateway instances.
// It is safe for concurrent use.
type MemLocks struct {
	mu    sync.Mutex
	locks map[string]*memLock // by token
}

var _ SharedLockSystem = (*MemLocks)(nil)

type memLock struct {
	token   string
	details webdav.LockDetails
	shared  bool
	expires time.Time // zero: never
	held    bool      // confirmed by a request in progress
}

// NewMemLocks returns an empty MemLocks.
func NewMemLocks() *MemLocks {
	return &MemLocks{locks: make(map[string]*memLock)}
}

// covers reports whether the lock applies to name.
func (l *memLock) covers(name string) bool {
	root := l.details.Root
	if name == root {
		return true
	}
	if l.details.ZeroDepth {
		return false
	}
	return root == "/" || (len(name) > len(root) && name[:len(root)] == root && name[len(root)] == '/')
}

// expire drops locks whose timeout has passed. The caller holds m.mu.
func (m *MemLocks) expire(now time.Time) {
	for t, l := range m.locks {
		if !l.expires.IsZero() && !now.Before(l.expires) {
			delete(m.locks, t)
		}
	}
}

// Confirm implements webdav.LockSystem: every non-empty name must be
// covered by a lock named in conditions that no other request holds. The
// locks are held until release is called.
func (m *MemLocks) Confirm(now time.Time, name0, name1 string, conditions ...webdav.Condition) (func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	var held []*memLock
	for _, name := range []string{name0, name1} {
		if name == "" {
			continue
		}
		name = path.Clean("/" + name)
		l := m.lookup(name, conditions)
		if l == nil {
			return nil, webdav.ErrConfirmationFailed
		}
		held = append(held, l)
	}
	for _, l := range held {
		l.held = true
	}
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, l := range held {
			l.held = false
		}
	}, nil
}

// lookup returns a lock named by a (positive) token condition that covers
// name and is not held.
func (m *MemLocks) lookup(name string, conditions []webdav.Condition) *memLock {
	for _, c := range conditions {
		if c.Not || c.Token == "" {
			continue
		}
		if l := m.locks[c.Token]; l != nil && !l.held && l.covers(name) {
			return l
		}
	}
	return nil
}

// Create implements webdav.LockSystem with an exclusive lock.
func (m *MemLocks) Create(now time.Time, details webdav.LockDetails) (string, error) {
	return m.create(now, details, false)
}

// CreateShared implements SharedLockSystem.
func (m *MemLocks) CreateShared(now time.Time, details webdav.LockDetails) (string, error) {
	return m.create(now, details, true)
}

func (m *MemLocks) create(now time.Time, details webdav.LockDetails, shared bool) (string, error) {
	details.Root = path.Clean("/" + details.Root)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	nl := &memLock{details: details, shared: shared}
	for _, l := range m.locks {
		if shared && l.shared {
			continue
		}
		if l.covers(details.Root) || nl.covers(l.details.Root) {
			return "", webdav.ErrLocked
		}
	}
	nl.token = NewLockToken()
	if details.Duration >= 0 {
		nl.expires = now.Add(details.Duration)
	}
	m.locks[nl.token] = nl
	return nl.token, nil
}

// Refresh implements webdav.LockSystem.
func (m *MemLocks) Refresh(now time.Time, token string, duration time.Duration) (webdav.LockDetails, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	l := m.locks[token]
	switch {
	case l == nil:
		return webdav.LockDetails{}, webdav.ErrNoSuchLock
	case l.held:
		return webdav.LockDetails{}, webdav.ErrLocked
	}
	l.details.Duration = duration
	l.expires = time.Time{}
	if duration >= 0 {
		l.expires = now.Add(duration)
	}
	return l.details, nil
}

// Unlock implements webdav.LockSystem.
func (m *MemLocks) Unlock(now time.Time, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	l := m.locks[token]
	switch {
	case l == nil:
		return webdav.ErrNoSuchLock
	case l.held:
		return webdav.ErrLocked
	}
	delete(m.locks, token)
	return nil
}

// IsShared implements SharedLockSystem.
func (m *MemLocks) IsShared(now time.Time, token string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	l := m.locks[token]
	return l != nil && l.shared
}
