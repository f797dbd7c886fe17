package gateway

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/lease"
)

// ScrubLease is the name of the lease (package lease) under which a
// background scrub runs, so that of several gateway instances sharing a
// catalog one scrubs at a time.
const ScrubLease = "scrub"

// Timings of the scrub lease.
const (
	// scrubLeaseTTL is how long the lease outlives an instance that died
	// during a pass; it is renewed every third of it.
	scrubLeaseTTL = time.Minute
	// scrubRetry is how soon an instance that found the lease held, or
	// could not reach the leaser, tries again.
	scrubRetry = 5 * time.Minute
	// scrubShare is the part of Interval over which a pass spreads its
	// objects (ScrubOptions.Spread): a pass over a million objects every
	// 24 hours checks about 23 a second, leaving the other half of the
	// interval as slack for slow providers and repairs.
	scrubShare = 2
	// scrubReportEvery is how often a pass in progress logs how far it got.
	scrubReportEvery = 10 * time.Minute
)

// ScrubberOptions configure RunScrubber.
type ScrubberOptions struct {
	// Members are the backends to check; normally the members of the
	// replicated set.
	Members []backends.Backend
	// Interval is the time between the end of one pass and the start of
	// the next; <= 0 means 24 hours.
	Interval time.Duration
	// Logger receives one line per pass and one per problem left; nil:
	// the namespace's logger.
	Logger *slog.Logger
	// Lease grants the pass to one instance of several (ScrubLease). A
	// pass that succeeded keeps the lease for the half of Interval it did
	// not spread its objects over, so that the instances together scrub
	// about once per Interval; an instance that finds
	// it held tries again after Retry. nil means lease.Local{}: every pass
	// runs.
	Lease lease.Leaser
	// Retry is how soon to try again when the lease is held elsewhere or
	// the leaser is unreachable; <= 0 means 5 minutes (at most Interval).
	Retry time.Duration
}

// RunScrubber runs a light repair pass (Repair without Deep: meta records
// compared with the catalog, blobs checked for presence and size) every
// Interval until ctx is done, and returns ctx's error. A pass spreads its
// objects evenly over half of Interval (ScrubOptions.Spread), so that the
// providers see a steady trickle of requests rather than a burst, and logs
// how far it got every ten minutes and when it ends or is stopped; the next
// pass starts half an Interval after one ends. It is meant to run
// inside the gateway next to the replicated set's repairer: the passes take
// the same per-name locks as writes, so they are safe alongside traffic in
// the same process. Deep checks stay with `twincrypt scrub --deep`. With
// several instances, the lease of o.Lease lets one pass run at a time.
func (ns *Namespace) RunScrubber(ctx context.Context, o ScrubberOptions) error {
	interval := o.Interval
	if interval <= 0 {
		interval = 24 * time.Hour
	}
	log := o.Logger
	if log == nil {
		log = ns.log
	}
	leaser := o.Lease
	if leaser == nil {
		leaser = lease.Local{}
	}
	retry := o.Retry
	if retry <= 0 {
		retry = scrubRetry
	}
	retry = min(retry, interval)
	// A pass takes about spread; the next starts the rest of the interval
	// after it ends, here and (by the lease kept that long) on the other
	// instances, so that the deployment scrubs about once per interval.
	spread := interval / scrubShare
	rest := interval - spread
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		ran, err := lease.Do(ctx, leaser, ScrubLease, lease.DoOptions{TTL: scrubLeaseTTL, Keep: rest}, func(ctx context.Context) error {
			ns.scrubPass(ctx, o.Members, spread, log)
			return ctx.Err()
		})
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, lease.ErrLost):
			log.Warn("background scrub stopped: its lease lapsed, another instance may scrub", "err", err)
			t.Reset(retry)
		case err != nil:
			log.Warn("background scrub skipped: the lease store is unreachable", "retry_in", retry, "err", err)
			t.Reset(retry)
		case !ran:
			log.Debug("background scrub skipped: another instance holds the scrub lease", "retry_in", retry)
			t.Reset(retry)
		default:
			t.Reset(rest)
		}
	}
}

// scrubPass runs one pass of RunScrubber and logs what it found.
func (ns *Namespace) scrubPass(ctx context.Context, members []backends.Backend, spread time.Duration, log *slog.Logger) {
	var last ScrubProgress
	reported := time.Now()
	progress := func(p ScrubProgress) {
		last = p
		if time.Since(reported) >= scrubReportEvery {
			reported = time.Now()
			log.Info("background scrub in progress", "objects", p.Objects, "of", p.TotalObjects)
		}
	}
	rep, err := ns.Repair(ctx, RepairOptions{Members: members, Spread: spread, Progress: progress})
	switch {
	case ctx.Err() != nil:
		log.Info("background scrub stopped", "objects", last.Objects, "of", last.TotalObjects)
		return
	case err != nil:
		log.Warn("background scrub failed", "err", err)
	case rep.Actions() > 0 || rep.UnrepairedCount() > 0:
		log.Warn("background scrub repaired the backends", "objects", rep.Found.Objects,
			"meta_rewritten", rep.MetaRewritten, "blobs_copied", rep.BlobsCopied,
			"adopted", rep.Adopted, "discarded", rep.Discarded, "superseded_deleted", rep.Superseded, "unrepaired", rep.UnrepairedCount())
	default:
		log.Info("background scrub found nothing to repair", "objects", rep.Found.Objects, "blobs", rep.Found.Blobs)
	}
	if rep != nil {
		for _, p := range rep.Unrepaired {
			log.Warn("background scrub could not repair", "problem", p.String())
		}
		if rep.UnrepairedOmitted > 0 {
			log.Warn("background scrub could not repair more problems than it lists", "not_listed", rep.UnrepairedOmitted)
		}
	}
}
