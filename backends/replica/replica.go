// Package replica implements the replicated set: one backends.Backend that
// fans every write out to several member backends (in different
// jurisdictions) and serves reads from the healthiest member, failing over
// to the others, also in the middle of a stream.
//
// # Writes
//
// Put reads its input once and tees it through one bounded buffer
// (Options.BufferSize) to every member at the same time, so memory is
// bounded by the buffer size, never by the object size. A slow member
// throttles the write; a member whose Put fails drops out of the tee, and a
// member that accepts no data for Options.StallTimeout is aborted. The write
// succeeds when at least Options.MinWrites members succeeded (default: all)
// and the durable Queue accepted one OpPut repair task per member that
// missed it.
//
// When fewer than MinWrites members succeed, Put returns a *QuorumError and
// rolls back: it deletes the object, best-effort, from the members where it
// did succeed, and queues an OpPut task for each of them. The names written
// through the set are fresh random blob ids or meta records that the layer
// above rewrites on retry; the rollback keeps a failed write invisible, and
// the queued tasks copy back any older version the failed members still
// hold (a task finds no copy anywhere for a fresh blob and is dropped).
//
// Delete goes to every member. If at least MinWrites members succeed, the
// others get OpDelete tasks; otherwise Delete returns a *QuorumError.
//
// # Reads
//
// Get, Stat and List try members in order of health: members marked down
// last (they are skipped), then Priority (lower first), then recent
// failures, then the observed latency average. Get returns a reader that
// fails over mid-stream: after an error at offset N it reopens the object
// at N on the next member. A member that answers ErrNotFound for an object
// another member holds is skipped and gets an OpPut repair task. An object
// is reported missing (ErrNotFound) only when so many members answered
// ErrNotFound that no acknowledged write can exist: at least
// len(members)-MinWrites+1 of them; otherwise the error wraps
// ErrUnavailable. List pages come from a single member (the first healthy
// one) and therefore reflect that member's view: an object that member is
// still missing (pending repair) is not listed.
//
// The reader returned by Get implements Refetcher: the decrypting layer
// calls Refetch(off) when bytes from absolute object offset off failed
// authentication. Offsets are in the same coordinates as Get's offset
// parameter (bytes from the start of the object).
//
// # Health
//
// Each member has a circuit breaker: after BreakerOptions.Threshold
// consecutive availability failures (ErrUnavailable-kind errors and
// timeouts, not ErrNotFound or ErrPrecondition) it is marked down for a
// cooldown that doubles after every failed probe, up to MaxCooldown. While
// down, reads skip it and writes count it as failed at once (queued when
// MinWrites allows). When the cooldown has ended, the next request that
// needs it first sends one probe (List with limit 1); success brings it
// back. Probe sends one at once, for callers that learnt otherwise that the
// member may be back. A member given with Member.Unreachable (it could not
// be reached when the set was built) starts marked down, so that a set can
// be built, and serve, while a provider is out.
//
// # Repair
//
// Repair runs one pass over the Queue: OpPut tasks are healed by copying
// the ciphertext as is from a member that holds the object, OpDelete tasks
// by deleting. Tasks for members that are down are left for a later pass;
// RunRepairer starts a pass as soon as a member marked down comes back.
// Repairs, Puts and Deletes of the same name are serialised within one
// Set.
package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/twincrypt/twincrypt/backends"
)

// Errors returned by the set. They are wrapped; test with errors.Is.
var (
	// ErrQuorum means fewer than MinWrites members completed a write or
	// delete. The *QuorumError carrying it lists each member's error. It
	// wraps backends.ErrQuorum.
	ErrQuorum = fmt.Errorf("replica: too few members succeeded: %w", backends.ErrQuorum)
	// ErrExhausted means a read has no member left to continue from. It
	// wraps backends.ErrUnavailable.
	ErrExhausted = fmt.Errorf("replica: no member left to read from: %w", backends.ErrUnavailable)
	// ErrMemberDown means a member was skipped because its circuit
	// breaker has it marked down. It wraps backends.ErrUnavailable.
	ErrMemberDown = fmt.Errorf("member marked down: %w", backends.ErrUnavailable)
	// ErrStalled means a member made no progress within the stall or
	// request timeout. It wraps backends.ErrUnavailable.
	ErrStalled = fmt.Errorf("member stalled: %w", backends.ErrUnavailable)
	// ErrInvalidTask means a repair task lacks a backend, a name or a
	// valid Op.
	ErrInvalidTask = errors.New("replica: invalid repair task")
	// ErrConfig means the members or options given to New are invalid.
	ErrConfig = errors.New("replica: invalid configuration")
	// ErrUnknownMember means a name given to the set is not one of its
	// members.
	ErrUnknownMember = errors.New("replica: no such member")
)

// Member is one backend of a replicated set.
type Member struct {
	// Backend stores the ciphertext; its Name identifies the member.
	Backend backends.Backend
	// Jurisdiction labels where the provider is (for example "DE").
	Jurisdiction string
	// Priority orders reads: lower values are tried first. Members with
	// equal priority are ordered by observed health and latency.
	Priority int
	// Unreachable, when set, says why the member could not be reached
	// when the set was built: the member starts marked down, as if its
	// breaker had just opened with this error, so that no request waits
	// on it; it comes back through the usual probes (or Probe).
	Unreachable error
}

// Options configures a Set. The zero value is usable.
type Options struct {
	// Name is the set's backend name in errors. Default "replica".
	Name string
	// MinWrites is how many members must hold a write before Put (and
	// Delete) succeed. 0 means all members.
	MinWrites int
	// Queue receives repair tasks. Default: a new MemQueue, which is not
	// durable; production use passes the catalog's queue.
	Queue Queue
	// Breaker configures the per-member circuit breakers.
	Breaker BreakerOptions
	// Clock returns the current time for the breakers and task times.
	// Default time.Now.
	Clock func() time.Time
	// Logger receives warnings about members and repairs. Default: discard.
	Logger *slog.Logger
	// BufferSize is the size of the one buffer Put tees through.
	// Default 256 KiB.
	BufferSize int
	// RequestTimeout bounds Stat, Delete, List, probes, and opening a Get
	// stream on one member. Default 30s.
	RequestTimeout time.Duration
	// StallTimeout is how long a member may take to accept one buffer of
	// a Put, to return one Read of a Get, or to finish a Put after its
	// last byte before it is aborted and counted as failed. Default 2m.
	StallTimeout time.Duration
	// RepairBatch is the number of tasks one Repair pass takes from the
	// queue. Default 1000.
	RepairBatch int
	// Verify, when set, wraps the stream of every copy a repair makes
	// from one member to another: the reader it returns must yield the
	// same bytes and fail (before passing them on) on any that do not
	// authenticate, so that a repair never spreads a corrupt copy over a
	// good one. An error wrapping ErrCannotVerify means the object cannot
	// be checked here (not that it is corrupt): the task is left to the
	// gateway's own scrub and repair. Without Verify, copies are made as
	// they are.
	Verify func(name string, size int64, r io.Reader) io.Reader
}

// ErrCannotVerify is wrapped by a Verify reader's error when it cannot
// check an object at all.
var ErrCannotVerify = errors.New("replica: the object cannot be verified here")

// Set is a replicated set of backends. It implements backends.Backend.
type Set struct {
	name           string
	members        []*member
	byName         map[string]*member
	minWrites      int
	queue          Queue
	breaker        BreakerOptions
	clock          func() time.Time
	log            *slog.Logger
	bufSize        int
	requestTimeout time.Duration
	stallTimeout   time.Duration
	repairBatch    int
	verify         func(name string, size int64, r io.Reader) io.Reader
	locks          nameLocks
	probes         sync.WaitGroup // background probes started by reads
	traffic        traffic
	// revived receives a token when a member marked down comes back up,
	// so that RunRepairer drains the repair queue at once.
	revived chan struct{}
}

var _ backends.Backend = (*Set)(nil)

// CheckJurisdictions validates a member list: every member has a backend
// with a name and a jurisdiction, names are unique, and at least two
// distinct jurisdictions are present unless allowSingle is set.
func CheckJurisdictions(members []Member, allowSingle bool) error {
	if len(members) == 0 {
		return fmt.Errorf("%w: no members", ErrConfig)
	}
	names := make(map[string]bool, len(members))
	jurisdictions := make(map[string]bool)
	for i, m := range members {
		if m.Backend == nil {
			return fmt.Errorf("%w: member %d has no backend", ErrConfig, i)
		}
		n := m.Backend.Name()
		if strings.TrimSpace(n) == "" {
			return fmt.Errorf("%w: member %d has no name", ErrConfig, i)
		}
		if names[n] {
			return fmt.Errorf("%w: duplicate member name %q", ErrConfig, n)
		}
		names[n] = true
		j := strings.TrimSpace(m.Jurisdiction)
		if j == "" {
			return fmt.Errorf("%w: member %q has no jurisdiction", ErrConfig, n)
		}
		jurisdictions[j] = true
	}
	if len(jurisdictions) < 2 && !allowSingle {
		return fmt.Errorf("%w: members span %d jurisdiction, need at least 2", ErrConfig, len(jurisdictions))
	}
	return nil
}

// New builds a set from members. Members must have distinct, non-empty
// names and jurisdictions (a single jurisdiction is accepted here; config
// validation calls CheckJurisdictions to enforce two). MinWrites must be
// between 0 and len(members).
func New(members []Member, opts Options) (*Set, error) {
	if err := CheckJurisdictions(members, true); err != nil {
		return nil, err
	}
	if opts.MinWrites < 0 || opts.MinWrites > len(members) {
		return nil, fmt.Errorf("%w: min_writes %d with %d members", ErrConfig, opts.MinWrites, len(members))
	}
	s := &Set{
		name:           opts.Name,
		byName:         make(map[string]*member, len(members)),
		minWrites:      opts.MinWrites,
		queue:          opts.Queue,
		breaker:        opts.Breaker.withDefaults(),
		clock:          opts.Clock,
		log:            opts.Logger,
		bufSize:        opts.BufferSize,
		requestTimeout: opts.RequestTimeout,
		stallTimeout:   opts.StallTimeout,
		repairBatch:    opts.RepairBatch,
		verify:         opts.Verify,
		locks:          nameLocks{m: make(map[string]*nameLock)},
		revived:        make(chan struct{}, 1),
	}
	if s.name == "" {
		s.name = "replica"
	}
	if s.minWrites == 0 {
		s.minWrites = len(members)
	}
	if s.queue == nil {
		s.queue = NewMemQueue()
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.bufSize <= 0 {
		s.bufSize = 256 << 10
	}
	if s.requestTimeout <= 0 {
		s.requestTimeout = 30 * time.Second
	}
	if s.stallTimeout <= 0 {
		s.stallTimeout = 2 * time.Minute
	}
	if s.repairBatch <= 0 {
		s.repairBatch = 1000
	}
	for i, m := range members {
		mm := &member{
			b:            m.Backend,
			name:         m.Backend.Name(),
			jurisdiction: strings.TrimSpace(m.Jurisdiction),
			priority:     m.Priority,
			index:        i,
		}
		if m.Unreachable != nil {
			mm.open = true
			mm.consecutive = s.breaker.Threshold
			mm.cooldown = s.breaker.Cooldown
			mm.downUntil = s.clock().Add(mm.cooldown)
			mm.failures = 1
			mm.lastErr = m.Unreachable.Error()
			s.log.Warn("replica member starts marked down", "member", mm.name, "cooldown", mm.cooldown, "err", m.Unreachable)
		}
		s.members = append(s.members, mm)
		s.byName[mm.name] = mm
	}
	return s, nil
}

// Name returns the set's name.
func (s *Set) Name() string { return s.name }

// MinWrites returns the effective number of members a write must reach.
func (s *Set) MinWrites() int { return s.minWrites }

// Health returns a snapshot of every member's health, in member order.
func (s *Set) Health() []MemberHealth {
	out := make([]MemberHealth, len(s.members))
	for i, m := range s.members {
		out[i] = m.health()
	}
	return out
}

// Close waits for background probes, closes every member and returns
// their errors combined.
func (s *Set) Close() error {
	s.probes.Wait()
	var errs *multierror.Error
	for _, m := range s.members {
		if err := m.b.Close(); err != nil {
			errs = multierror.Append(errs, &backends.Error{Backend: m.name, Op: "close", Err: err})
		}
	}
	return s.combine(errs)
}

// QuorumError reports a write or delete that fewer than the required
// number of members completed. errors.Is(err, ErrQuorum) holds, and
// errors.Is also matches the sentinels of the member errors.
type QuorumError struct {
	Op        string   // "put" or "delete"
	Name      string   // object name
	Succeeded []string // members that completed the operation
	Needed    int      // MinWrites
	// Err combines the failed members' errors (a *multierror.Error of
	// *backends.Error values naming each member).
	Err error
}

func (e *QuorumError) Error() string {
	return fmt.Sprintf("replica %s %s: %d member(s) succeeded, need %d: %v", e.Op, e.Name, len(e.Succeeded), e.Needed, e.Err)
}

// Unwrap returns the combined member errors.
func (e *QuorumError) Unwrap() error { return e.Err }

// Is reports whether target is ErrQuorum or backends.ErrQuorum.
func (e *QuorumError) Is(target error) bool {
	return target == ErrQuorum || target == backends.ErrQuorum
}

// combine formats a multierror on one line; nil when empty.
func (s *Set) combine(errs *multierror.Error) error {
	if errs == nil || len(errs.Errors) == 0 {
		return nil
	}
	errs.ErrorFormat = func(es []error) string {
		parts := make([]string, len(es))
		for i, e := range es {
			parts[i] = e.Error()
		}
		return strings.Join(parts, "; ")
	}
	return errs
}

func (s *Set) memberErr(m *member, op, name string, err error) error {
	var be *backends.Error
	if errors.As(err, &be) && be.Backend == m.name {
		return err
	}
	return &backends.Error{Backend: m.name, Op: op, Name: name, Err: err}
}

func (s *Set) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.requestTimeout)
}

// timeoutErr turns a context error caused by the set's own per-request
// timeout (the caller's context still live) into ErrStalled.
func timeoutErr(callerCtx context.Context, err error) error {
	if err != nil && callerCtx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		return fmt.Errorf("%w: %w", ErrStalled, err)
	}
	return err
}

// ordered returns the members in read order: up before down, then by
// Priority, recent failures, latency and configuration order. It starts
// background probes of down members whose cooldown has ended.
func (s *Set) ordered(ctx context.Context) []*member {
	s.probeDue(ctx)
	type key struct {
		down     bool
		priority int
		recent   float64
		latency  time.Duration
		index    int
	}
	keys := make(map[*member]key, len(s.members))
	for _, m := range s.members {
		r, l := m.score()
		keys[m] = key{!m.isUp(), m.priority, r, l, m.index}
	}
	out := slices.Clone(s.members)
	slices.SortStableFunc(out, func(a, b *member) int {
		ka, kb := keys[a], keys[b]
		switch {
		case ka.down != kb.down:
			if ka.down {
				return 1
			}
			return -1
		case ka.priority != kb.priority:
			return ka.priority - kb.priority
		case ka.recent+0.5 < kb.recent:
			return -1
		case kb.recent+0.5 < ka.recent:
			return 1
		case ka.latency != kb.latency:
			if ka.latency < kb.latency {
				return -1
			}
			return 1
		}
		return ka.index - kb.index
	})
	return out
}

// notFoundQuorum reports whether n members answering ErrNotFound prove
// that no acknowledged write of the object exists: an acknowledged write
// reached at least MinWrites members, so it cannot miss more than
// len(members)-MinWrites of them.
func (s *Set) notFoundQuorum(n int) bool {
	return n >= len(s.members)-s.minWrites+1
}

// queueRepairs records OpPut tasks for members that lack an object other
// members hold. Failures are logged: the read itself succeeded.
func (s *Set) queueRepairs(ctx context.Context, name string, ms []*member, why string) {
	if len(ms) == 0 {
		return
	}
	now := s.clock().Round(0)
	tasks := make([]Task, len(ms))
	for i, m := range ms {
		tasks[i] = Task{Backend: m.name, Name: name, Op: OpPut, Added: now}
		s.log.Warn("replica member needs repair", "member", m.name, "name", name, "reason", why)
	}
	if err := s.queue.Add(context.WithoutCancel(ctx), tasks...); err != nil {
		s.log.Error("replica: queueing repair failed", "name", name, "err", err)
	}
}

// nameLocks serialises Put, Delete and repair of the same name.
type nameLocks struct {
	mu sync.Mutex
	m  map[string]*nameLock
}

type nameLock struct {
	mu   sync.Mutex
	refs int
}

func (l *nameLocks) lock(name string) (unlock func()) {
	l.mu.Lock()
	nl := l.m[name]
	if nl == nil {
		nl = &nameLock{}
		l.m[name] = nl
	}
	nl.refs++
	l.mu.Unlock()
	nl.mu.Lock()
	return func() {
		nl.mu.Unlock()
		l.mu.Lock()
		nl.refs--
		if nl.refs == 0 {
			delete(l.m, name)
		}
		l.mu.Unlock()
	}
}

// Members returns the members' backends, in the order reads try them
// now (healthy, preferred and fast members first), so that a caller that
// must read one name from each member in turn asks the best first.
func (s *Set) Members(ctx context.Context) []backends.Backend {
	ms := s.ordered(ctx)
	out := make([]backends.Backend, len(ms))
	for i, m := range ms {
		out[i] = m.b
	}
	return out
}
