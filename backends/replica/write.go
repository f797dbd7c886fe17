package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/twincrypt/twincrypt/backends"
)

// errStoppedReading is reported for a member whose Put returned success
// before consuming the whole input.
var errStoppedReading = errors.New("member stopped reading before the end of the input")

// putStream is one member's leg of a teed Put.
type putStream struct {
	m      *member
	pw     *io.PipeWriter
	cancel context.CancelFunc
	start  time.Time
	done   chan struct{}
	err    error // Put's result; valid after done is closed

	writing  atomic.Bool // inside pw.Write
	aborted  atomic.Bool
	writeErr error // first write failure seen by the tee
}

// abort stops the member's leg: its input ends with err and its context is
// cancelled, so its Put fails and makes nothing visible.
func (p *putStream) abort(err error) {
	p.aborted.Store(true)
	p.cancel()
	p.pw.CloseWithError(err)
}

// Put stores r on every member at once, reading r once. See the package
// documentation for quorum, rollback and repair behaviour.
func (s *Set) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if !backends.ValidName(name) {
		return &backends.Error{Backend: s.name, Op: "put", Name: name, Err: backends.ErrInvalidName}
	}
	if r == nil {
		return &backends.Error{Backend: s.name, Op: "put", Name: name, Err: fmt.Errorf("%w: nil reader", backends.ErrPrecondition)}
	}
	unlock := s.locks.lock(name)
	defer unlock()

	results := make(map[*member]error, len(s.members))
	var up []*member
	for _, m := range s.members {
		if s.available(ctx, m) {
			up = append(up, m)
		} else {
			results[m] = s.memberErr(m, "put", name, ErrMemberDown)
		}
	}
	if len(up) < s.minWrites {
		// Too few members up to reach the quorum: write nothing.
		var errs *multierror.Error
		for _, m := range s.members {
			if err := results[m]; err != nil {
				errs = multierror.Append(errs, err)
			}
		}
		return &QuorumError{Op: "put", Name: name, Needed: s.minWrites, Err: s.combine(errs)}
	}
	streams := make([]*putStream, 0, len(up))
	for _, m := range up {
		pr, pw := io.Pipe()
		mctx, cancel := context.WithCancel(ctx)
		st := &putStream{m: m, pw: pw, cancel: cancel, start: s.clock(), done: make(chan struct{})}
		streams = append(streams, st)
		go func() {
			defer close(st.done)
			err := m.b.Put(mctx, name, pr, size)
			if err != nil {
				pr.CloseWithError(err)
			} else {
				pr.CloseWithError(errStoppedReading)
			}
			st.err = err
		}()
	}
	defer func() {
		for _, st := range streams {
			st.cancel()
		}
	}()

	readErr := s.tee(ctx, r, size, streams)
	for _, st := range streams {
		if readErr != nil {
			st.abort(readErr)
		} else if st.writeErr == nil {
			st.pw.Close()
		}
	}
	for _, st := range streams {
		results[st.m] = s.finish(ctx, name, st, readErr == nil)
	}
	return s.putOutcome(ctx, name, results, readErr)
}

// tee copies r to every stream through one buffer, no larger than a body
// of known size needs (backends.CopyBuffer). It returns a non-nil error
// only when reading r failed; members that fail drop out.
func (s *Set) tee(ctx context.Context, r io.Reader, size int64, streams []*putStream) error {
	buf := backends.CopyBuffer(size, s.bufSize)
	active := streams
	var wg sync.WaitGroup
	for len(active) > 0 {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			chunk := buf[:n]
			for _, st := range active {
				st.writing.Store(true)
				wg.Go(func() {
					defer st.writing.Store(false)
					n, werr := st.pw.Write(chunk)
					s.traffic.writtenBytes.Add(int64(n))
					st.m.writtenBytes.Add(int64(n))
					if werr != nil {
						st.writeErr = werr
					}
				})
			}
			writing := active
			stall := time.AfterFunc(s.stallTimeout, func() {
				for _, st := range writing {
					if st.writing.Load() {
						st.abort(fmt.Errorf("%w: no progress for %v", ErrStalled, s.stallTimeout))
					}
				}
			})
			wg.Wait()
			stall.Stop()
			next := active[:0:0]
			for _, st := range active {
				if st.writeErr == nil {
					next = append(next, st)
				}
			}
			active = next
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return nil
		case err != nil:
			return fmt.Errorf("reading input: %w", err)
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
	}
	return nil
}

// finish waits for a stream's Put to return, aborting it when it takes
// longer than the stall timeout after its input ended, and abandoning it
// (as failed) when it ignores the abort for another stall timeout. The
// outcome counts towards the member's health only if blame is set (not
// when the input itself failed).
func (s *Set) finish(ctx context.Context, name string, st *putStream, blame bool) error {
	err, ok := s.waitDone(st)
	if !ok {
		st.abort(fmt.Errorf("%w: put did not finish within %v", ErrStalled, s.stallTimeout))
		err, ok = s.waitDone(st)
		if !ok {
			err = fmt.Errorf("%w: put ignored cancellation", ErrStalled)
		}
	}
	if err == nil && st.writeErr != nil {
		err = fmt.Errorf("%w: %w", backends.ErrUnavailable, errStoppedReading)
	}
	if err != nil && st.aborted.Load() && ctx.Err() == nil && !errors.Is(err, ErrStalled) && !errors.Is(err, backends.ErrPrecondition) {
		err = fmt.Errorf("%w: %w", ErrStalled, err)
	}
	if blame {
		s.record(ctx, st.m, st.start, err)
	}
	if err != nil {
		return s.memberErr(st.m, "put", name, err)
	}
	return nil
}

func (s *Set) waitDone(st *putStream) (error, bool) {
	t := time.NewTimer(s.stallTimeout)
	defer t.Stop()
	select {
	case <-st.done:
		return st.err, true
	case <-t.C:
		return nil, false
	}
}

// putOutcome decides a Put from the members' results: success with repair
// tasks queued, or failure with a rollback.
func (s *Set) putOutcome(ctx context.Context, name string, results map[*member]error, readErr error) error {
	var ok, failed []*member
	var errs *multierror.Error
	for _, m := range s.members {
		err := results[m]
		if err == nil {
			ok = append(ok, m)
			continue
		}
		failed = append(failed, m)
		errs = multierror.Append(errs, err)
	}
	if readErr != nil {
		s.rollback(ctx, name, ok)
		return &backends.Error{Backend: s.name, Op: "put", Name: name, Err: readErr}
	}
	if len(ok) >= s.minWrites {
		if len(failed) == 0 {
			return nil
		}
		now := s.clock().Round(0)
		tasks := make([]Task, len(failed))
		for i, m := range failed {
			tasks[i] = Task{Backend: m.name, Name: name, Op: OpPut, Added: now}
		}
		if err := s.queue.Add(ctx, tasks...); err != nil {
			s.rollback(ctx, name, ok)
			return &backends.Error{Backend: s.name, Op: "put", Name: name,
				Err: fmt.Errorf("queueing repair after partial write (%v): %w", s.combine(errs), err)}
		}
		s.log.Warn("replica put reached only some members; repair queued", "name", name, "ok", len(ok), "failed", s.combine(errs))
		return nil
	}
	s.rollback(ctx, name, ok)
	return &QuorumError{Op: "put", Name: name, Succeeded: names(ok), Needed: s.minWrites, Err: s.combine(errs)}
}

// rollback deletes name, best-effort, from the members where a failed Put
// succeeded, and queues OpPut tasks for them so that an older version
// still held by other members is copied back (the tasks are dropped as
// stale when no member holds the name).
func (s *Set) rollback(ctx context.Context, name string, ok []*member) {
	if len(ok) == 0 {
		return
	}
	bg := context.WithoutCancel(ctx)
	for _, m := range ok {
		dctx, cancel := s.requestContext(bg)
		err := m.b.Delete(dctx, name)
		cancel()
		if err != nil {
			s.log.Error("replica: rollback of failed put left the object on a member", "member", m.name, "name", name, "err", err)
		}
	}
	s.queueRepairs(bg, name, ok, "rollback of failed put")
}

// Delete removes name from every member. Members that fail are queued for
// an OpDelete repair when at least MinWrites members succeeded; otherwise
// Delete returns a *QuorumError.
func (s *Set) Delete(ctx context.Context, name string) error {
	if !backends.ValidName(name) {
		return &backends.Error{Backend: s.name, Op: "delete", Name: name, Err: backends.ErrInvalidName}
	}
	unlock := s.locks.lock(name)
	defer unlock()

	results := make([]error, len(s.members))
	var wg sync.WaitGroup
	for i, m := range s.members {
		if !s.available(ctx, m) {
			results[i] = s.memberErr(m, "delete", name, ErrMemberDown)
			continue
		}
		wg.Go(func() {
			dctx, cancel := s.requestContext(ctx)
			defer cancel()
			start := s.clock()
			err := timeoutErr(ctx, m.b.Delete(dctx, name))
			s.record(ctx, m, start, err)
			if err != nil {
				results[i] = s.memberErr(m, "delete", name, err)
			}
		})
	}
	wg.Wait()
	var ok, failed []*member
	var errs *multierror.Error
	for i, m := range s.members {
		if results[i] == nil {
			ok = append(ok, m)
		} else {
			failed = append(failed, m)
			errs = multierror.Append(errs, results[i])
		}
	}
	if len(ok) < s.minWrites {
		return &QuorumError{Op: "delete", Name: name, Succeeded: names(ok), Needed: s.minWrites, Err: s.combine(errs)}
	}
	if len(failed) == 0 {
		return nil
	}
	now := s.clock().Round(0)
	tasks := make([]Task, len(failed))
	for i, m := range failed {
		tasks[i] = Task{Backend: m.name, Name: name, Op: OpDelete, Added: now}
	}
	if err := s.queue.Add(ctx, tasks...); err != nil {
		return &backends.Error{Backend: s.name, Op: "delete", Name: name,
			Err: fmt.Errorf("queueing repair after partial delete (%v): %w", s.combine(errs), err)}
	}
	s.log.Warn("replica delete reached only some members; repair queued", "name", name, "failed", s.combine(errs))
	return nil
}

func names(ms []*member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.name
	}
	return out
}
