package main

import (
	"context"
	"fmt"

	"github.com/twincrypt/twincrypt/backends/replica"
	"github.com/twincrypt/twincrypt/gateway"
)

// maxQueuePasses bounds how many passes over the repair queue one repair
// command makes.
const maxQueuePasses = 100

func runRepair(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "repair", "-c FILE [--deep=false] [--adopt] [--resume]\n\n"+
		"Drains the repair queue, then scrubs every backend and repairs what it\n"+
		"finds: missing or corrupt blobs are copied, ciphertext as is, from a\n"+
		"backend whose copy authenticates; missing, corrupt or stale meta records\n"+
		"and tombstones (an old record of a deleted name included) get another\n"+
		"backend's copy that matches the catalog, or, when none does, the\n"+
		"catalog's record sealed anew under a new generation; a record newer\n"+
		"than the catalog's is taken over, never overwritten; a superseded one\n"+
		"(older than the catalog's record of its key) is deleted; meta records the\n"+
		"catalog lacks are deleted when their blobs are gone everywhere, and\n"+
		"otherwise listed with what they would bring back: --adopt brings them\n"+
		"back into the catalog. It repairs at most 10000 problems at a time and\n"+
		"goes on after them, so memory does not grow with the problems; it lists\n"+
		"the first 10000 it could not repair and counts the rest.\n"+
		"Running it twice in a row makes no change the second time. Exits 1 when\n"+
		"something could not be repaired. Every few seconds it writes how far it\n"+
		"came to FILE.repair.checkpoint next to the config; interrupted (SIGINT,\n"+
		"SIGTERM), it writes it at once and --resume continues from there (the\n"+
		"keys found with problems are checked again). A run without --resume\n"+
		"starts over; a run that completes removes the file.\n"+
		"While a gateway serves the config,\n"+
		"repair runs inside it (through listen.admin).\n\nflags:")
	cfgPath := fs.String("c", "", "config `FILE` (required)")
	deep := fs.Bool("deep", true, "read every blob to find corrupt copies (false: presence and size only)")
	adopt := fs.Bool("adopt", false, "bring meta records the catalog lacks back into it (objects the gateway does not know of)")
	resume := addResumeFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	st, err := openMaintenance(ctx, c, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	var state gateway.RepairResume
	cp, resumed, err := openCheckpoint(c, st.cfg, "repair", *resume, &state, fmt.Sprintf("deep=%v", *deep), fmt.Sprintf("adopt=%v", *adopt))
	if err != nil {
		return err
	}
	defer cp.warn()

	var q replica.RepairStats
	var qerr error
	for range maxQueuePasses {
		rs, err := st.set.Repair(ctx)
		q.Examined += rs.Examined
		q.Healed += rs.Healed
		q.Stale += rs.Stale
		q.Skipped, q.Failed, qerr = rs.Skipped, rs.Failed, err
		if rs.Examined == 0 || rs.Healed+rs.Stale == 0 || ctx.Err() != nil {
			break
		}
	}
	fmt.Fprintf(c.stdout, "repair queue: %d healed, %d no longer needed, %d skipped (backend down), %d failed\n", q.Healed, q.Stale, q.Skipped, q.Failed)
	if qerr != nil {
		fmt.Fprintf(c.stderr, "repair queue: %v\n", qerr)
	}
	deleting, err := queuedDeletes(ctx, st.set.Queue())
	if err != nil {
		return err
	}

	prog := newProgress(c, "repair", "objects")
	var last gateway.ScrubProgress
	o := gateway.RepairOptions{
		Members: st.backendList(),
		Deep:    *deep,
		Progress: func(p gateway.ScrubProgress) {
			last = p
			prog.update(p.Objects, p.TotalObjects, p.Bytes)
		},
		Deleting: deleting,
		Adopt:    *adopt,
	}
	if resumed {
		o.Resume = &state
	}
	o.Checkpoint = func(r gateway.RepairResume) {
		prior := 0
		if resumed && r.Round == state.Round {
			prior = state.Scrub.Objects
		}
		cp.update(r, fmt.Sprintf("round %d: %s", r.Round+1, scrubDone(r.Scrub, last, prior)))
	}
	rep, err := st.ns.Repair(ctx, o)
	prog.finish()
	if err != nil && ctx.Err() != nil {
		return cp.interrupted(err)
	}
	if rep != nil && resumed {
		fmt.Fprint(c.stdout, cp.resumedNote())
	}
	if rep != nil && rep.Found != nil {
		fmt.Fprintf(c.stdout, "found: %d problem(s) in %d objects\n", countProblems(rep.Found), rep.Found.Objects)
	} else if rep != nil && resumed {
		fmt.Fprintf(c.stdout, "found: %d problem(s) in %d objects\n", state.FoundProblems, state.FoundObjects)
	}
	if rep != nil {
		fmt.Fprintf(c.stdout, "repaired: %d meta record copies rewritten, %d blob copies copied, %d catalog entries restored, %d records adopted, %d records discarded, %d superseded records deleted\n",
			rep.MetaRewritten, rep.BlobsCopied, rep.CatalogFixed, rep.Adopted, rep.Discarded, rep.Superseded)
		fmt.Fprintf(c.stdout, "actions: %d\n", q.Healed+rep.Actions())
		fmt.Fprintf(c.stdout, "unrepaired: %d\n", rep.UnrepairedCount())
		for _, p := range rep.Unrepaired {
			fmt.Fprintf(c.stdout, "  %s\n", p)
		}
		printOmitted(c.stdout, rep.UnrepairedOmitted)
	}
	if err != nil {
		return err
	}
	cp.finish()
	if rep.UnrepairedCount() > 0 || q.Failed > 0 {
		return fmt.Errorf("%w: %d problem(s) could not be repaired, %d queued repair(s) failed", errProblems, rep.UnrepairedCount(), q.Failed)
	}
	return nil
}

// queuedDeletes reads the repair queue and returns whether a delete of a
// backend object name is on it, for RepairOptions.Deleting.
func queuedDeletes(ctx context.Context, q replica.Queue) (func(name string) bool, error) {
	pending, err := q.Pending(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("read repair queue: %w", err)
	}
	deleting := make(map[string]bool)
	for _, t := range pending {
		if t.Op == replica.OpDelete {
			deleting[t.Name] = true
		}
	}
	return func(name string) bool { return deleting[name] }, nil
}
