package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/twincrypt/twincrypt/gateway"
)

// errProblems marks a maintenance command that ran but found or left
// problems; the exit code is 1.
var errProblems = errors.New("problems remain")

func runScrub(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "scrub", "-c FILE [--deep] [--resume]\n\n"+
		"Checks that every backend holds every bucket record, every object's meta\n"+
		"record (under the name of the catalog's generation) and every blob\n"+
		"(present, of the right size). --deep also reads every blob on every\n"+
		"backend and authenticates every chunk. Then judges every meta record\n"+
		"the catalog does not name: superseded (older than the catalog's), ahead\n"+
		"(newer), uncataloged (of a key the catalog lacks) or foreign. Counts\n"+
		"every problem and lists the first 10000. Exits 1 when any is found.\n"+
		"Every few seconds it writes how far it came to FILE.scrub.checkpoint\n"+
		"next to the config; interrupted (SIGINT, SIGTERM), it writes it at once\n"+
		"and --resume continues from there (with the same --deep). A run without\n"+
		"--resume starts over; a run that completes removes the file.\n"+
		"While a gateway serves the config, scrub runs inside it (through\n"+
		"listen.admin): the embedded catalog admits one process.\n\nflags:")
	cfgPath := fs.String("c", "", "config `FILE` (required)")
	deep := fs.Bool("deep", false, "read and authenticate every blob on every backend")
	resume := addResumeFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	st, err := openMaintenance(ctx, c, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	var state gateway.ScrubResume
	cp, resumed, err := openCheckpoint(c, st.cfg, "scrub", *resume, &state, fmt.Sprintf("deep=%v", *deep))
	if err != nil {
		return err
	}
	defer cp.warn()
	prog := newProgress(c, "scrub", "objects")
	o := gateway.ScrubOptions{Members: st.backendList(), Deep: *deep}
	prior := 0
	if resumed {
		o.Resume, prior = &state, state.Objects
	}
	o.Progress, o.Checkpoint = scrubProgress(prog, cp, prior)
	rep, err := st.ns.Scrub(ctx, o)
	prog.finish()
	if err != nil && ctx.Err() != nil {
		return cp.interrupted(err)
	}
	if rep != nil {
		if resumed {
			fmt.Fprint(c.stdout, cp.resumedNote())
		}
		printScrub(c.stdout, rep, *deep)
	}
	if err != nil {
		return err
	}
	cp.finish()
	if !rep.Clean() {
		return fmt.Errorf("%w: %d problem(s) found; run 'twincrypt repair'", errProblems, countProblems(rep))
	}
	return nil
}

// scrubProgress returns the Progress and Checkpoint callbacks of a scrub
// that draw prog and keep cp; prior counts the objects a resumed scrub
// does not check again.
func scrubProgress(prog *progress, cp *checkpointer, prior int) (func(gateway.ScrubProgress), func(gateway.ScrubResume)) {
	var last gateway.ScrubProgress
	progress := func(p gateway.ScrubProgress) {
		last = p
		prog.update(p.Objects, p.TotalObjects, p.Bytes)
	}
	checkpoint := func(r gateway.ScrubResume) { cp.update(r, scrubDone(r, last, prior)) }
	return progress, checkpoint
}

// scrubDone says how far a scrub came, for a checkpoint: the share of the
// objects checked (prior: those checked before it was resumed) and the
// position.
func scrubDone(r gateway.ScrubResume, p gateway.ScrubProgress, prior int) string {
	done, total := prior+p.Objects, prior+p.TotalObjects
	pct := 100
	if total > 0 {
		pct = 100 * done / total
	}
	return fmt.Sprintf("%d%% of the objects checked; next after %s", pct, positionString(r.After))
}

// positionString describes a walk position.
func positionString(p gateway.WalkPosition) string {
	switch {
	case p.IsStart():
		return "the start"
	case p.Phase == gateway.PhaseEnd:
		return "the last walk (listings for uncataloged records)"
	}
	return fmt.Sprintf("%s %q/%q", p.Phase, p.Bucket, p.Key)
}

// countProblems counts the problems that need repair.
func countProblems(rep *gateway.ScrubReport) int {
	n := rep.Catalog
	for _, b := range rep.Backends {
		n += b.Total()
	}
	return n
}

// printScrub prints a scrub report: totals, one line per backend, then
// the findings it lists, and how many more it found.
func printScrub(w io.Writer, rep *gateway.ScrubReport, deep bool) {
	mode := "presence and size"
	if deep {
		mode = "deep: every chunk authenticated"
	}
	fmt.Fprintf(w, "checked %d buckets, %d objects, %d deletions, %d blobs, %s (%s)\n", rep.Buckets, rep.Objects, rep.Tombstones, rep.Blobs, humanBytes(rep.Bytes), mode)
	for _, b := range rep.Backends {
		fmt.Fprintf(w, "backend %s: missing %d, corrupt %d, stale %d, ahead %d, unavailable %d, uncataloged %d, foreign %d, superseded %d\n",
			b.Name, b.Missing, b.Corrupt, b.Stale, b.Ahead, b.Unavailable, b.Uncataloged, b.Foreign, b.Superseded)
	}
	if rep.Catalog > 0 {
		fmt.Fprintf(w, "catalog: %d entries whose record does not open\n", rep.Catalog)
	}
	fmt.Fprintf(w, "problems: %d\n", countProblems(rep))
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
	printOmitted(w, rep.ProblemsOmitted)
}

// printOmitted says how many findings a report counts but does not list.
func printOmitted(w io.Writer, n int) {
	if n > 0 {
		fmt.Fprintf(w, "  ... %d more not listed (a report lists the first %d)\n", n, gateway.DefaultMaxProblems)
	}
}
