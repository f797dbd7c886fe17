package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/twincrypt/twincrypt/backends"
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
}

// RunScrubber runs a light repair pass (Repair without Deep: meta records
// compared with the catalog, blobs checked for presence and size) every
// Interval until ctx is done, and returns ctx's error. It is meant to run
// inside the gateway next to the replicated set's repairer: the passes take
// the same per-name locks as writes, so they are safe alongside traffic in
// the same process. Deep checks stay with `twincrypt scrub --deep`.
func (ns *Namespace) RunScrubber(ctx context.Context, o ScrubberOptions) error {
	interval := o.Interval
	if interval <= 0 {
		interval = 24 * time.Hour
	}
	log := o.Logger
	if log == nil {
		log = ns.log
	}
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		rep, err := ns.Repair(ctx, RepairOptions{Members: o.Members})
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			log.Warn("background scrub failed", "err", err)
		case rep.Actions() > 0 || len(rep.Unrepaired) > 0:
			log.Warn("background scrub repaired the backends", "objects", rep.Found.Objects,
				"meta_rewritten", rep.MetaRewritten, "blobs_copied", rep.BlobsCopied,
				"adopted", rep.Adopted, "discarded", rep.Discarded, "unrepaired", len(rep.Unrepaired))
		default:
			log.Info("background scrub found nothing to repair", "objects", rep.Found.Objects, "blobs", rep.Found.Blobs)
		}
		if rep != nil {
			for _, p := range rep.Unrepaired {
				log.Warn("background scrub could not repair", "problem", p.String())
			}
		}
		t.Reset(interval)
	}
}
