// Package lease gives once-per-deployment background work (the background
// scrub, for one) to one gateway instance at a time. A Leaser grants a
// named lease for a time-to-live; its holder renews it while it works and
// releases it at the end, and a lease whose holder died lapses by itself,
// so that another instance takes the work over.
//
// Local grants every lease: a single instance has no one to share with.
// Redis keeps leases in Redis for instances that share one (see Redis).
package lease

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrLost means a lease is no longer its holder's: it lapsed, and another
// holder may have it.
var ErrLost = errors.New("lease lost")

// Leaser grants named leases.
type Leaser interface {
	// Acquire takes the lease name for ttl if nobody holds it. ok is
	// false, with no error, when another holder has it; err reports that
	// the leaser cannot tell.
	Acquire(ctx context.Context, name string, ttl time.Duration) (l Lease, ok bool, err error)
}

// Lease is a lease held.
type Lease interface {
	// Renew extends the lease to ttl from now; ErrLost if it lapsed
	// first.
	Renew(ctx context.Context, ttl time.Duration) error
	// Release gives the lease up if it is still this holder's.
	Release(ctx context.Context) error
}

// Local is the Leaser of a single instance: it grants every lease, at
// once, whoever else holds it.
type Local struct{}

// Acquire implements Leaser.
func (Local) Acquire(context.Context, string, time.Duration) (Lease, bool, error) {
	return localLease{}, true, nil
}

type localLease struct{}

func (localLease) Renew(context.Context, time.Duration) error { return nil }
func (localLease) Release(context.Context) error              { return nil }

// DoOptions configure Do.
type DoOptions struct {
	// TTL is the lease's time-to-live while the work runs; it is renewed
	// every TTL/3. It bounds how long the work stays stopped when its
	// instance dies.
	TTL time.Duration
	// Keep, when positive, keeps the lease that long after the work
	// succeeded instead of releasing it, so that no other instance starts
	// the same work again before Keep has passed.
	Keep time.Duration
}

// Do runs work under the lease name of lr if it can take it, renewing it
// while work runs (see Hold), and gives it up afterwards (or keeps it, see
// DoOptions.Keep). ran is false when another holder has the lease; err is
// then the leaser's error, if any. When a renewal finds the lease lost,
// work's context is cancelled and Do returns ErrLost (joined with work's
// error). Otherwise Do returns work's error.
func Do(ctx context.Context, lr Leaser, name string, o DoOptions, work func(ctx context.Context) error) (ran bool, err error) {
	h, ok, err := Hold(ctx, lr, name, o.TTL)
	if err != nil || !ok {
		return false, err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopWatch := context.AfterFunc(h.lostCtx, cancel)
	err = work(wctx)
	stopWatch()
	h.stopRenewing()
	if h.Lost() {
		return true, errors.Join(ErrLost, err)
	}
	if err == nil && o.Keep > 0 {
		if kerr := h.l.Renew(ctx, o.Keep); kerr == nil {
			return true, nil
		}
	}
	h.l.Release(context.WithoutCancel(ctx))
	return true, err
}

// Held is a lease that Hold keeps renewed until Release.
type Held struct {
	l        Lease
	lostCtx  context.Context // done when a renewal found the lease lost
	markLost context.CancelFunc
	stop     chan struct{}
	renewing chan struct{} // closed when the renewal goroutine ends
	once     sync.Once
}

// Hold takes the lease name of lr for ttl, as Acquire does, and renews it
// every ttl/3 in the background, whatever becomes of ctx, until Release.
// ok is false, with no error, when another holder has it. A renewal that
// fails for another reason than ErrLost (the leaser is unreachable) is
// retried at the next tick: the lease may still hold.
func Hold(ctx context.Context, lr Leaser, name string, ttl time.Duration) (h *Held, ok bool, err error) {
	l, ok, err := lr.Acquire(ctx, name, ttl)
	if err != nil || !ok {
		return nil, false, err
	}
	lostCtx, markLost := context.WithCancel(context.Background())
	h = &Held{l: l, lostCtx: lostCtx, markLost: markLost, stop: make(chan struct{}), renewing: make(chan struct{})}
	go func() {
		defer close(h.renewing)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ttl/3)
				err := l.Renew(rctx, ttl)
				cancel()
				if errors.Is(err, ErrLost) {
					markLost()
					return
				}
			}
		}
	}()
	return h, true, nil
}

// Lost reports whether a renewal found the lease lost: it lapsed while
// held, and another holder may have had it since.
func (h *Held) Lost() bool { return h.lostCtx.Err() != nil }

// stopRenewing ends the renewals and waits for the goroutine.
func (h *Held) stopRenewing() {
	h.once.Do(func() { close(h.stop) })
	<-h.renewing
}

// Release stops the renewals and gives the lease up if it is still this
// holder's. It returns ErrLost when the lease lapsed while held (whether
// a renewal or the release found out).
func (h *Held) Release(ctx context.Context) error {
	h.stopRenewing()
	if h.Lost() {
		return ErrLost
	}
	err := h.l.Release(ctx)
	if errors.Is(err, ErrLost) {
		h.markLost()
	}
	return err
}
