package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/twincrypt/twincrypt/backends"
)

// Refetcher is implemented by the reader Get returns.
type Refetcher interface {
	io.ReadCloser
	// Refetch discards buffered data, marks the member that served the
	// bytes at absolute object offset off as having served corrupt data
	// for this object (queueing an OpPut repair for it), and resumes the
	// stream at off on the next member. off is in Get's coordinates
	// (bytes from the start of the object) and must lie between Get's
	// offset and the offset of the next byte not yet delivered. With no
	// member left it returns an error wrapping ErrExhausted.
	Refetch(off int64) error
}

// Stat returns the object's size and modification time from the first
// healthy member that has it.
func (s *Set) Stat(ctx context.Context, name string) (backends.Info, error) {
	if !backends.ValidName(name) {
		return backends.Info{}, &backends.Error{Backend: s.name, Op: "stat", Name: name, Err: backends.ErrInvalidName}
	}
	var info backends.Info
	var missing []*member
	var errs *multierror.Error
	notFound := 0
	for _, m := range s.ordered(ctx) {
		if !s.available(ctx, m) {
			errs = multierror.Append(errs, s.memberErr(m, "stat", name, ErrMemberDown))
			continue
		}
		rctx, cancel := s.requestContext(ctx)
		start := s.clock()
		i, err := m.b.Stat(rctx, name)
		cancel()
		err = timeoutErr(ctx, err)
		s.record(ctx, m, start, err)
		if err == nil {
			info = i
			s.queueRepairs(ctx, name, missing, "object missing on member")
			return info, nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return info, &backends.Error{Backend: s.name, Op: "stat", Name: name, Err: cerr}
		}
		if errors.Is(err, backends.ErrNotFound) {
			notFound++
			missing = append(missing, m)
			continue
		}
		errs = multierror.Append(errs, s.memberErr(m, "stat", name, err))
	}
	return info, s.readFailure("stat", name, notFound, errs)
}

// readFailure builds the error for a read no member could serve: not found
// when enough members said so (see notFoundQuorum), else unavailable.
func (s *Set) readFailure(op, name string, notFound int, errs *multierror.Error) error {
	if s.notFoundQuorum(notFound) {
		return &backends.Error{Backend: s.name, Op: op, Name: name, Err: backends.ErrNotFound}
	}
	detail := s.combine(errs)
	if notFound > 0 {
		return &backends.Error{Backend: s.name, Op: op, Name: name,
			Err: fmt.Errorf("%w: %d member(s) do not have it, others failed: %w", ErrExhausted, notFound, detail)}
	}
	return &backends.Error{Backend: s.name, Op: op, Name: name, Err: fmt.Errorf("%w: %w", ErrExhausted, detail)}
}

// List returns one page of the listing from the first healthy member,
// failing over to the next on errors. Pages reflect that member's view.
func (s *Set) List(ctx context.Context, prefix, startAfter string, limit int) (backends.ListPage, error) {
	var errs *multierror.Error
	for _, m := range s.ordered(ctx) {
		if !s.available(ctx, m) {
			errs = multierror.Append(errs, s.memberErr(m, "list", "", ErrMemberDown))
			continue
		}
		rctx, cancel := s.requestContext(ctx)
		start := s.clock()
		page, err := m.b.List(rctx, prefix, startAfter, limit)
		cancel()
		err = timeoutErr(ctx, err)
		s.record(ctx, m, start, err)
		if err == nil {
			return page, nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return backends.ListPage{}, &backends.Error{Backend: s.name, Op: "list", Err: cerr}
		}
		if !isAvailabilityError(err) {
			// A problem with the request itself; another member
			// would say the same.
			return backends.ListPage{}, &backends.Error{Backend: s.name, Op: "list", Err: err}
		}
		errs = multierror.Append(errs, s.memberErr(m, "list", "", err))
	}
	return backends.ListPage{}, &backends.Error{Backend: s.name, Op: "list", Err: fmt.Errorf("%w: %w", ErrExhausted, s.combine(errs))}
}

// Get returns a reader over length bytes of name from offset (length -1:
// to the end), served by the healthiest member and failing over to the
// others on errors, also mid-stream. The reader implements Refetcher.
func (s *Set) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if !backends.ValidName(name) {
		return nil, &backends.Error{Backend: s.name, Op: "get", Name: name, Err: backends.ErrInvalidName}
	}
	if offset < 0 || length < -1 {
		return nil, &backends.Error{Backend: s.name, Op: "get", Name: name,
			Err: fmt.Errorf("%w: offset %d length %d", backends.ErrPrecondition, offset, length)}
	}
	r := &reader{
		s:        s,
		ctx:      ctx,
		name:     name,
		offset:   offset,
		length:   length,
		order:    s.ordered(ctx),
		excluded: make(map[*member]bool),
	}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

// segment records which member served the stream from absolute offset
// from onward.
type segment struct {
	m    *member
	from int64
}

// reader is the failover reader returned by Get. It is not safe for
// concurrent use.
type reader struct {
	s      *Set
	ctx    context.Context
	name   string
	offset int64 // Get's offset
	length int64 // Get's length, -1 for to the end

	delivered int64 // bytes returned to the caller since offset
	order     []*member
	excluded  map[*member]bool // failed, served corrupt data or ended early
	missing   []*member        // answered ErrNotFound
	// short are members whose copy ended before the position the stream
	// needed (ErrPrecondition, or io.EOF before the end of a bounded
	// range): damaged copies once another member delivers bytes from
	// there, and the end of the object if none can.
	short    []*member
	notFound int
	failures int // members excluded for failing or serving corrupt data
	// ioFailed are members excluded for an I/O failure, not for what they
	// served: Refetch may ask them again.
	ioFailed map[*member]bool
	errs     *multierror.Error

	cur      *member
	rc       io.ReadCloser
	cancel   context.CancelFunc
	segments []segment
	eof      bool
	closed   bool
}

// remaining returns how many bytes are still wanted, -1 for to the end.
func (r *reader) remaining() int64 {
	if r.length < 0 {
		return -1
	}
	return r.length - r.delivered
}

// open opens the stream at the current position on the first usable
// member.
//
// A member that answers ErrPrecondition holds a copy that ends before this
// position (so does one whose stream ended before a bounded range did, see
// Read). That is only the end of the object when no other member has more:
// open asks the others, and once one of them delivers bytes from there,
// the short copies are queued for repair. When every member that has the
// object ends before this position and none failed, the range itself is
// wrong (before the first byte: ErrPrecondition) or the stream has reached
// the end of the object.
func (r *reader) open() error {
	s := r.s
	pos := r.offset + r.delivered
	if r.remaining() == 0 {
		r.eof = true
		return nil
	}
	failed := 0 // members down or failing at this position
	var beyondErr error
	for _, m := range r.order {
		if r.excluded[m] {
			continue
		}
		if !s.available(r.ctx, m) {
			failed++
			r.errs = multierror.Append(r.errs, s.memberErr(m, "get", r.name, ErrMemberDown))
			continue
		}
		mctx, cancel := context.WithCancel(r.ctx)
		timer := time.AfterFunc(s.requestTimeout, cancel)
		start := s.clock()
		rc, err := m.b.Get(mctx, r.name, pos, r.remaining())
		timer.Stop()
		err = timeoutErr(r.ctx, err)
		s.record(r.ctx, m, start, err)
		if err == nil {
			s.traffic.reads.Add(1)
			if rem := r.remaining(); rem > 0 {
				s.traffic.requestedBytes.Add(rem)
			}
			r.cur, r.rc, r.cancel = m, rc, cancel
			r.segments = append(r.segments, segment{m: m, from: pos})
			s.queueRepairs(r.ctx, r.name, r.missing, "object missing on member")
			r.missing = nil
			return nil
		}
		cancel()
		if cerr := r.ctx.Err(); cerr != nil {
			return &backends.Error{Backend: s.name, Op: "get", Name: r.name, Err: cerr}
		}
		r.excluded[m] = true
		switch {
		case errors.Is(err, backends.ErrNotFound):
			r.notFound++
			r.missing = append(r.missing, m)
		case errors.Is(err, backends.ErrPrecondition):
			beyondErr = err
			r.short = append(r.short, m)
			r.errs = multierror.Append(r.errs, s.memberErr(m, "get", r.name, err))
		default:
			failed++
			r.failures++
			r.markIOFailed(m)
			r.errs = multierror.Append(r.errs, s.memberErr(m, "get", r.name, err))
		}
	}
	if len(r.short) > 0 && failed == 0 && r.failures == 0 && (len(r.segments) > 0 || r.notFound == 0) {
		// Every member that has the object ends before pos, and none
		// failed: this is the end of the object, not damage.
		r.short = nil
		if len(r.segments) == 0 && beyondErr != nil {
			// The range itself is wrong (starts beyond the end).
			return &backends.Error{Backend: s.name, Op: "get", Name: r.name, Err: beyondErr}
		}
		// Nothing is left at pos. The layer above authenticates what
		// it got.
		r.eof = true
		return nil
	}
	if len(r.segments) == 0 {
		return s.readFailure("get", r.name, r.notFound, r.errs)
	}
	return &backends.Error{Backend: s.name, Op: "get", Name: r.name,
		Err: fmt.Errorf("%w at offset %d: %w", ErrExhausted, pos, s.combine(r.errs))}
}

// dropCurrent closes the current member's stream.
func (r *reader) dropCurrent() {
	if r.rc != nil {
		r.cancel()
		r.rc.Close()
		r.rc, r.cur, r.cancel = nil, nil, nil
	}
}

// Read implements io.Reader, failing over to the next member at the
// current offset when the current member fails.
func (r *reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, &backends.Error{Backend: r.s.name, Op: "get", Name: r.name, Err: errors.New("read after close")}
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if r.eof {
			return 0, io.EOF
		}
		if rem := r.remaining(); rem == 0 {
			r.eof = true
			r.dropCurrent()
			return 0, io.EOF
		} else if rem > 0 && int64(len(p)) > rem {
			p = p[:rem]
		}
		if r.rc == nil {
			if err := r.open(); err != nil {
				return 0, err
			}
			continue
		}
		m, cancel := r.cur, r.cancel
		stall := time.AfterFunc(r.s.stallTimeout, cancel)
		start := r.s.clock()
		n, err := r.rc.Read(p)
		stalled := !stall.Stop()
		r.delivered += int64(n)
		r.s.traffic.readBytes.Add(int64(n))
		m.readBytes.Add(int64(n))
		if n > 0 && len(r.short) > 0 {
			// This member has bytes where the short ones ended.
			r.s.queueRepairs(r.ctx, r.name, r.short, "copy shorter than on another member")
			r.short = nil
		}
		if err == nil {
			return n, nil
		}
		if err == io.EOF {
			r.dropCurrent()
			if r.remaining() > 0 {
				// The member's copy ended before the bounded range
				// did. Another member may have the rest; if none
				// has, open reports the end.
				r.s.log.Warn("replica read ended early; failing over", "member", m.name, "name", r.name, "offset", r.offset+r.delivered)
				r.excluded[m] = true
				r.short = append(r.short, m)
				r.errs = multierror.Append(r.errs, r.s.memberErr(m, "get", r.name,
					fmt.Errorf("copy ends at offset %d, before the end of the range", r.offset+r.delivered)))
				if n > 0 {
					return n, nil
				}
				continue
			}
			r.eof = true
			if n > 0 {
				return n, nil
			}
			return 0, io.EOF
		}
		if cerr := r.ctx.Err(); cerr != nil {
			r.dropCurrent()
			return n, &backends.Error{Backend: r.s.name, Op: "get", Name: r.name, Err: cerr}
		}
		if stalled {
			err = fmt.Errorf("%w: no data for %v: %w", ErrStalled, r.s.stallTimeout, err)
		} else if !isAvailabilityError(err) {
			err = fmt.Errorf("%w: %w", backends.ErrUnavailable, err)
		}
		r.s.record(r.ctx, m, start, err)
		r.s.log.Warn("replica read failed mid-stream; failing over", "member", m.name, "name", r.name, "offset", r.offset+r.delivered, "err", err)
		r.errs = multierror.Append(r.errs, r.s.memberErr(m, "get", r.name, err))
		r.excluded[m] = true
		r.markIOFailed(m)
		r.failures++
		r.dropCurrent()
		if n > 0 {
			return n, nil
		}
	}
}

// markIOFailed notes that m was excluded for an I/O failure.
func (r *reader) markIOFailed(m *member) {
	if r.ioFailed == nil {
		r.ioFailed = make(map[*member]bool)
	}
	r.ioFailed[m] = true
}

// Refetch implements Refetcher.
func (r *reader) Refetch(off int64) error {
	if r.closed {
		return &backends.Error{Backend: r.s.name, Op: "get", Name: r.name, Err: errors.New("refetch after close")}
	}
	end := r.offset + r.delivered
	if off < r.offset || off > end {
		return &backends.Error{Backend: r.s.name, Op: "get", Name: r.name,
			Err: fmt.Errorf("%w: refetch offset %d outside delivered range [%d, %d]", backends.ErrPrecondition, off, r.offset, end)}
	}
	// The members that served the bytes from off to what was delivered
	// (for off at the end: the last member that served anything) served
	// what failed. Segments are in ascending order of their start.
	var culprit *member
	served := map[*member]bool{}
	keep := 0
	for _, sg := range r.segments {
		if sg.from <= off {
			culprit = sg.m
			clear(served)
		}
		served[sg.m] = true
		if sg.from < off {
			keep++
		}
	}
	r.segments = r.segments[:keep]
	r.dropCurrent()
	if len(served) > 1 {
		// The failing bytes came from several members, after one failed
		// mid-stream: which of them served the bad part is unknown, so
		// none is blamed. The part is read again whole from one member,
		// and members that failed only for I/O may serve it.
		r.s.log.Warn("replica read: bytes assembled from several members failed authentication; reading them again from one",
			"name", r.name, "offset", off)
		culprit = nil
		for m := range r.ioFailed {
			delete(r.excluded, m)
			delete(r.ioFailed, m)
		}
	}
	if culprit != nil {
		r.excluded[culprit] = true
		r.failures++
		r.errs = multierror.Append(r.errs, r.s.memberErr(culprit, "get", r.name,
			fmt.Errorf("served data that failed authentication at offset %d", off)))
		r.s.queueRepairs(r.ctx, r.name, []*member{culprit}, "served corrupt data")
	}
	r.delivered = off - r.offset
	r.eof = false
	return r.open()
}

// Close releases the current member's stream.
func (r *reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.rc != nil {
		r.cancel()
		err := r.rc.Close()
		r.rc, r.cur, r.cancel = nil, nil, nil
		if err != nil && !errors.Is(err, context.Canceled) {
			return &backends.Error{Backend: r.s.name, Op: "get", Name: r.name, Err: err}
		}
	}
	return nil
}
