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

// RepairStats counts what one Repair pass did.
type RepairStats struct {
	Examined int // tasks taken from the queue
	Healed   int // tasks carried out and removed
	Stale    int // tasks no longer needed (removed without action)
	Skipped  int // tasks left for later: the member, or every source, is down
	Failed   int // tasks whose repair failed; they stay queued
}

// repairResult is the outcome of one task.
type repairResult int

const (
	repairHealed repairResult = iota
	repairStale
	repairSkipped
	repairFailed
)

// Queue returns the set's repair queue.
func (s *Set) Queue() Queue { return s.queue }

// Repair runs one pass over the oldest Options.RepairBatch tasks of the
// queue. OpPut tasks are healed by copying the object, ciphertext as is,
// from a healthy member that has it; OpDelete tasks by deleting. A task
// whose member (or every possible source) is down is skipped and stays
// queued. A task made obsolete by later writes is removed without action:
// an OpPut whose object no member holds any more, an OpDelete whose object
// another member (not itself queued for deletion) holds again. Running
// Repair again is harmless. The error combines the failed tasks' errors and
// any queue error.
func (s *Set) Repair(ctx context.Context) (RepairStats, error) {
	var st RepairStats
	tasks, err := s.queue.Pending(ctx, s.repairBatch)
	if err != nil {
		return st, fmt.Errorf("replica repair: reading queue: %w", err)
	}
	pendingDelete := make(map[taskKey]bool)
	for _, t := range tasks {
		if t.Op == OpDelete {
			pendingDelete[taskKey{t.Backend, t.Name}] = true
		}
	}
	var errs *multierror.Error
	for _, t := range tasks {
		if err := ctx.Err(); err != nil {
			errs = multierror.Append(errs, err)
			break
		}
		st.Examined++
		res, err := s.repairOne(ctx, t, pendingDelete)
		switch res {
		case repairHealed, repairStale:
			if res == repairHealed {
				st.Healed++
			} else {
				st.Stale++
			}
			if err := s.queue.Remove(ctx, t); err != nil {
				errs = multierror.Append(errs, fmt.Errorf("replica repair: removing task: %w", err))
			}
			if t.Op == OpDelete {
				delete(pendingDelete, taskKey{t.Backend, t.Name})
			}
		case repairSkipped:
			st.Skipped++
		case repairFailed:
			st.Failed++
			errs = multierror.Append(errs, err)
			s.log.Warn("replica repair failed", "member", t.Backend, "name", t.Name, "op", t.Op, "err", err)
		}
	}
	return st, s.combine(errs)
}

// RunRepairer runs Repair every interval, and at once whenever a member
// marked down comes back up, until ctx is done, logging failures, and
// returns ctx's error.
func (s *Set) RunRepairer(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		st, err := s.Repair(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("replica repair pass had failures", "err", err, "healed", st.Healed, "failed", st.Failed)
		} else if st.Healed+st.Stale > 0 {
			s.log.Info("replica repair pass", "healed", st.Healed, "stale", st.Stale, "skipped", st.Skipped)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-s.revived:
		}
	}
}

func (s *Set) repairOne(ctx context.Context, t Task, pendingDelete map[taskKey]bool) (repairResult, error) {
	target := s.byName[t.Backend]
	if target == nil {
		s.log.Warn("replica repair: dropping task for unknown member", "member", t.Backend, "name", t.Name)
		return repairStale, nil
	}
	if !backends.ValidName(t.Name) || (t.Op != OpPut && t.Op != OpDelete) {
		s.log.Warn("replica repair: dropping invalid task", "member", t.Backend, "name", t.Name, "op", t.Op)
		return repairStale, nil
	}
	if !s.available(ctx, target) {
		return repairSkipped, nil
	}
	unlock := s.locks.lock(t.Name)
	defer unlock()
	if t.Op == OpDelete {
		return s.repairDelete(ctx, t, target, pendingDelete)
	}
	return s.repairPut(ctx, t, target)
}

// repairPut copies t.Name to target from the first healthy member that
// holds it.
func (s *Set) repairPut(ctx context.Context, t Task, target *member) (repairResult, error) {
	unknown := 0
	badSource := false // a source's copy did not verify
	var errs *multierror.Error
	for _, src := range s.ordered(ctx) {
		if src == target {
			continue
		}
		if !s.available(ctx, src) {
			unknown++
			continue
		}
		rctx, cancel := s.requestContext(ctx)
		start := s.clock()
		info, err := src.b.Stat(rctx, t.Name)
		cancel()
		err = timeoutErr(ctx, err)
		s.record(ctx, src, start, err)
		if errors.Is(err, backends.ErrNotFound) {
			continue
		}
		if err != nil {
			unknown++
			errs = multierror.Append(errs, s.memberErr(src, "stat", t.Name, err))
			continue
		}
		err = s.copyObject(ctx, src, target, t.Name, info.Size)
		if err == nil {
			s.log.Info("replica repaired object", "member", target.name, "name", t.Name, "from", src.name, "size", info.Size)
			return repairHealed, nil
		}
		var ve *verifyError
		if errors.As(err, &ve) {
			if errors.Is(err, ErrCannotVerify) {
				s.log.Info("replica repair: left to the gateway's repair, which can verify it", "member", target.name, "name", t.Name, "err", err)
				return repairStale, nil
			}
			// The source's copy is corrupt: it is not copied, and the
			// source gets a repair of its own.
			s.log.Warn("replica repair: the source's copy does not authenticate; not copied", "member", target.name, "name", t.Name, "from", src.name, "err", err)
			if qerr := s.queue.Add(ctx, Task{Backend: src.name, Name: t.Name, Op: OpPut, Added: s.clock()}); qerr != nil {
				errs = multierror.Append(errs, qerr)
			}
			errs = multierror.Append(errs, err)
			unknown++
			badSource = true
			continue
		}
		var se *sourceError
		if errors.As(err, &se) {
			unknown++
			errs = multierror.Append(errs, err)
			continue
		}
		return repairFailed, err
	}
	if badSource && s.targetVerifies(ctx, target, t.Name) {
		// The only other copies are bad and the target's is good: the
		// task is moot (the bad sources have tasks of their own).
		s.log.Info("replica repair: the member's own copy authenticates; nothing to copy", "member", target.name, "name", t.Name)
		return repairStale, nil
	}
	if errs != nil {
		return repairFailed, fmt.Errorf("replica repair put %s on %s: no source: %w", t.Name, target.name, s.combine(errs))
	}
	if unknown > 0 {
		return repairSkipped, nil
	}
	return repairStale, nil
}

// targetVerifies reports whether target holds name whole and Verify accepts
// it.
func (s *Set) targetVerifies(ctx context.Context, target *member, name string) bool {
	if s.verify == nil {
		return false
	}
	info, err := target.b.Stat(ctx, name)
	if err != nil {
		return false
	}
	rc, err := target.b.Get(ctx, name, 0, -1)
	if err != nil {
		return false
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, s.verify(name, info.Size, rc))
	return err == nil
}

// verifyError marks a copy whose source bytes did not authenticate.
type verifyError struct{ err error }

func (e *verifyError) Error() string { return e.err.Error() }
func (e *verifyError) Unwrap() error { return e.err }

// sourceError marks a copy failure caused by the source member.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// sourceReader records read errors from the source so that they are not
// blamed on the target.
type sourceReader struct {
	r   io.Reader
	err error
}

// verifyReader records the error of a Verify reader.
type verifyReader struct {
	r   io.Reader
	err error
}

func (r *verifyReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

func (r *sourceReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

func (s *Set) copyObject(ctx context.Context, src, dst *member, name string, size int64) error {
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	timer := time.AfterFunc(s.requestTimeout, cancel)
	start := s.clock()
	rc, err := src.b.Get(gctx, name, 0, -1)
	if !timer.Stop() {
		if err == nil {
			rc.Close()
			err = ErrStalled
		} else {
			err = fmt.Errorf("%w: %w", ErrStalled, err)
		}
	}
	s.record(ctx, src, start, err)
	if err != nil {
		return &sourceError{s.memberErr(src, "get", name, err)}
	}
	defer rc.Close()
	sr := &sourceReader{r: rc}
	var body io.Reader = sr
	var vr *verifyReader
	if s.verify != nil {
		vr = &verifyReader{r: s.verify(name, size, sr)}
		body = vr
	}
	start = s.clock()
	err = dst.b.Put(ctx, name, body, size)
	if vr != nil && vr.err != nil && sr.err == nil {
		// The target received none of what failed, and its Put
		// failed with the stream: nothing of the bad copy stays.
		return &verifyError{fmt.Errorf("replica: %s on %s: %w", name, src.name, vr.err)}
	}
	if sr.err != nil {
		s.record(ctx, src, start, fmt.Errorf("%w: %w", backends.ErrUnavailable, sr.err))
		return &sourceError{s.memberErr(src, "get", name, sr.err)}
	}
	s.record(ctx, dst, start, err)
	if err != nil {
		return s.memberErr(dst, "put", name, err)
	}
	return nil
}

// repairDelete deletes t.Name from target unless another member holds
// the object again (a later write made the task obsolete) or cannot be
// asked.
func (s *Set) repairDelete(ctx context.Context, t Task, target *member, pendingDelete map[taskKey]bool) (repairResult, error) {
	for _, other := range s.members {
		if other == target || pendingDelete[taskKey{other.name, t.Name}] {
			continue
		}
		if !s.available(ctx, other) {
			return repairSkipped, nil
		}
		rctx, cancel := s.requestContext(ctx)
		start := s.clock()
		_, err := other.b.Stat(rctx, t.Name)
		cancel()
		err = timeoutErr(ctx, err)
		s.record(ctx, other, start, err)
		switch {
		case err == nil:
			return repairStale, nil
		case errors.Is(err, backends.ErrNotFound):
		default:
			return repairSkipped, nil
		}
	}
	rctx, cancel := s.requestContext(ctx)
	defer cancel()
	start := s.clock()
	err := timeoutErr(ctx, target.b.Delete(rctx, t.Name))
	s.record(ctx, target, start, err)
	if err != nil {
		return repairFailed, s.memberErr(target, "delete", t.Name, err)
	}
	s.log.Info("replica repaired delete", "member", target.name, "name", t.Name)
	return repairHealed, nil
}
