package replica

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twincrypt/twincrypt/backends"
)

// BreakerOptions configures the per-member circuit breaker.
type BreakerOptions struct {
	// Threshold is the number of consecutive availability failures that
	// mark a member down. Default 3.
	Threshold int
	// Cooldown is how long a member stays down before one probe request
	// may bring it back. Default 30s.
	Cooldown time.Duration
	// MaxCooldown caps the cooldown, which doubles after every failed
	// probe. Default 10 minutes.
	MaxCooldown time.Duration
}

func (b BreakerOptions) withDefaults() BreakerOptions {
	if b.Threshold <= 0 {
		b.Threshold = 3
	}
	if b.Cooldown <= 0 {
		b.Cooldown = 30 * time.Second
	}
	if b.MaxCooldown <= 0 {
		b.MaxCooldown = 10 * time.Minute
	}
	if b.MaxCooldown < b.Cooldown {
		b.MaxCooldown = b.Cooldown
	}
	return b
}

// State is a member's breaker state.
type State string

// Breaker states reported by Health.
const (
	StateUp      State = "up"      // requests go to the member
	StateDown    State = "down"    // the member is skipped until its cooldown ends
	StateProbing State = "probing" // one probe request is in flight
)

// MemberHealth is a snapshot of one member's health for metrics and status
// pages.
type MemberHealth struct {
	Name                string
	Jurisdiction        string
	Priority            int
	State               State
	ConsecutiveFailures int
	// DownUntil is when the cooldown ends; zero while the member is up.
	DownUntil time.Time
	// Cooldown is the length of the current (or next) down period.
	Cooldown time.Duration
	// Latency is the exponentially weighted moving average of successful
	// request latencies.
	Latency   time.Duration
	Successes uint64
	Failures  uint64
	// ReadBytes and WrittenBytes count the bytes read from the member by
	// Get readers and handed to it by Put.
	ReadBytes, WrittenBytes int64
	// LastError is the most recent availability error, if any.
	LastError string
}

// member is one backend of the set together with its breaker and
// statistics.
type member struct {
	b            backends.Backend
	name         string
	jurisdiction string
	priority     int
	index        int

	mu          sync.Mutex
	consecutive int
	open        bool
	probing     bool
	downUntil   time.Time
	cooldown    time.Duration
	ewma        time.Duration
	recentErr   float64 // decaying count of recent failures
	successes   uint64
	failures    uint64
	lastErr     string

	readBytes, writtenBytes atomic.Int64
}

// isAvailabilityError reports whether err counts against a member's health:
// everything except answers about the object or the request itself.
func isAvailabilityError(err error) bool {
	if err == nil {
		return false
	}
	return !errors.Is(err, backends.ErrNotFound) &&
		!errors.Is(err, backends.ErrPrecondition) &&
		!errors.Is(err, backends.ErrInvalidName)
}

// record updates the member's breaker and statistics after a request that
// started at start. callerCtx is the caller's context: failures caused by
// the caller giving up are not the member's fault and are not counted.
func (s *Set) record(callerCtx context.Context, m *member, start time.Time, err error) {
	now := s.clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recentErr *= 0.9
	if !isAvailabilityError(err) {
		if err == nil || errors.Is(err, backends.ErrNotFound) || errors.Is(err, backends.ErrPrecondition) {
			d := now.Sub(start)
			if d < 0 {
				d = 0
			}
			if m.ewma == 0 {
				m.ewma = d
			} else {
				m.ewma = (m.ewma*7 + d) / 8
			}
		}
		m.successes++
		m.consecutive = 0
		if m.open {
			s.log.Info("replica member back up", "member", m.name)
			select {
			case s.revived <- struct{}{}:
			default: // a pass is due already
			}
		}
		m.open = false
		m.probing = false
		m.cooldown = 0
		m.downUntil = time.Time{}
		return
	}
	if callerCtx.Err() != nil {
		return
	}
	m.failures++
	m.recentErr++
	m.lastErr = err.Error()
	m.consecutive++
	switch {
	case m.probing:
		// The probe failed: stay down, twice as long.
		m.probing = false
		m.cooldown = min(m.cooldown*2, s.breaker.MaxCooldown)
		m.downUntil = now.Add(m.cooldown)
		s.log.Warn("replica member probe failed", "member", m.name, "cooldown", m.cooldown, "err", err)
	case m.open:
		// A request that was already in flight when the member went
		// down; the cooldown is not extended.
	case m.consecutive >= s.breaker.Threshold:
		m.open = true
		m.cooldown = s.breaker.Cooldown
		m.downUntil = now.Add(m.cooldown)
		s.log.Warn("replica member marked down", "member", m.name, "failures", m.consecutive, "cooldown", m.cooldown, "err", err)
	}
}

// admit reports whether a request may go to m now. probe is true when the
// member's cooldown has ended and this caller must send the single probe
// request before using it.
func (s *Set) admit(m *member) (ok, probe bool) {
	now := s.clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.open {
		return true, false
	}
	if m.probing || now.Before(m.downUntil) {
		return false, false
	}
	m.probing = true
	return true, true
}

// available reports whether m may be used, sending the probe request
// (a List with limit 1) first when the member's cooldown has ended.
func (s *Set) available(ctx context.Context, m *member) bool {
	ok, probe := s.admit(m)
	if !ok {
		return false
	}
	if !probe {
		return true
	}
	return s.probe(ctx, m)
}

// probe sends the probe request to m, whose admit reported probe, and
// records its outcome.
func (s *Set) probe(ctx context.Context, m *member) bool {
	pctx, cancel := s.requestContext(ctx)
	start := s.clock()
	_, err := m.b.List(pctx, "", "", 1)
	cancel()
	if err != nil && ctx.Err() != nil {
		// The caller gave up; let someone else probe.
		m.mu.Lock()
		m.probing = false
		m.mu.Unlock()
		return false
	}
	s.record(ctx, m, start, timeoutErr(ctx, err))
	return err == nil
}

// Probe sends the probe request (a List with limit 1) to the named member
// now if it is marked down, without waiting for its cooldown to end, and
// reports whether the member is up afterwards. It is for callers that have
// learnt by other means that the member may be reachable again, such as
// serve's periodic provider checks. A member that is up is not asked; while
// another probe of the member is in flight Probe reports false. The error
// is ErrUnknownMember for a name that is not a member.
func (s *Set) Probe(ctx context.Context, name string) (bool, error) {
	m := s.byName[name]
	if m == nil {
		return false, fmt.Errorf("%w: %q", ErrUnknownMember, name)
	}
	m.mu.Lock()
	switch {
	case !m.open:
		m.mu.Unlock()
		return true, nil
	case m.probing:
		m.mu.Unlock()
		return false, nil
	}
	m.probing = true
	m.mu.Unlock()
	return s.probe(ctx, m), nil
}

// probeDue starts a background probe of every down member whose cooldown
// has ended, so that reads, which skip down members, bring them back
// without waiting on them.
func (s *Set) probeDue(ctx context.Context) {
	for _, m := range s.members {
		if m.isUp() {
			continue
		}
		if ok, probe := s.admit(m); ok && probe {
			s.probes.Go(func() { s.probe(context.WithoutCancel(ctx), m) })
		}
	}
}

// isUp reports whether m is currently not marked down, without probing.
func (m *member) isUp() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.open
}

// score orders members for reads: lower is better.
func (m *member) score() (float64, time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.recentErr, m.ewma
}

func (m *member) health() MemberHealth {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := StateUp
	if m.open {
		st = StateDown
		if m.probing {
			st = StateProbing
		}
	}
	return MemberHealth{
		Name:                m.name,
		Jurisdiction:        m.jurisdiction,
		Priority:            m.priority,
		State:               st,
		ConsecutiveFailures: m.consecutive,
		DownUntil:           m.downUntil,
		Cooldown:            m.cooldown,
		Latency:             m.ewma,
		Successes:           m.successes,
		Failures:            m.failures,
		ReadBytes:           m.readBytes.Load(),
		WrittenBytes:        m.writtenBytes.Load(),
		LastError:           m.lastErr,
	}
}
