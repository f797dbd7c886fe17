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
	fs := newFlagSet(c, "scrub", "-c FILE [--deep]\n\n"+
		"Checks that every backend holds every bucket record, every object's meta\n"+
		"record (the catalog's generation; older is reported as stale) and every\n"+
		"blob (present, of the right size). --deep also reads every blob on every\n"+
		"backend and authenticates every chunk. Lists meta records the catalog\n"+
		"lacks. Exits 1 when anything is missing, corrupt, stale or unreachable.\n"+
		"While a gateway serves the config, scrub runs inside it (through\n"+
		"listen.admin): the embedded catalog admits one process.\n\nflags:")
	cfgPath := fs.String("c", "", "config `FILE` (required)")
	deep := fs.Bool("deep", false, "read and authenticate every blob on every backend")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	st, err := openMaintenance(ctx, c, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	prog := newProgress(c, "scrub", "objects")
	rep, err := st.ns.Scrub(ctx, gateway.ScrubOptions{
		Members:  st.backendList(),
		Deep:     *deep,
		Progress: func(p gateway.ScrubProgress) { prog.update(p.Objects, p.TotalObjects, p.Bytes) },
	})
	prog.finish()
	if rep != nil {
		printScrub(c.stdout, rep, *deep)
	}
	if err != nil {
		return err
	}
	if !rep.Clean() {
		return fmt.Errorf("%w: %d problem(s) found; run 'twincrypt repair'", errProblems, countProblems(rep))
	}
	return nil
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
// every finding.
func printScrub(w io.Writer, rep *gateway.ScrubReport, deep bool) {
	mode := "presence and size"
	if deep {
		mode = "deep: every chunk authenticated"
	}
	fmt.Fprintf(w, "checked %d buckets, %d objects, %d deletions, %d blobs, %s (%s)\n", rep.Buckets, rep.Objects, rep.Tombstones, rep.Blobs, humanBytes(rep.Bytes), mode)
	for _, b := range rep.Backends {
		fmt.Fprintf(w, "backend %s: missing %d, corrupt %d, stale %d, ahead %d, unavailable %d, uncataloged %d, foreign %d\n",
			b.Name, b.Missing, b.Corrupt, b.Stale, b.Ahead, b.Unavailable, b.Uncataloged, b.Foreign)
	}
	if rep.Catalog > 0 {
		fmt.Fprintf(w, "catalog: %d entries whose record does not open\n", rep.Catalog)
	}
	fmt.Fprintf(w, "problems: %d\n", countProblems(rep))
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
}
