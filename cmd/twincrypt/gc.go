package main

import (
	"context"
	"fmt"
	"time"

	"github.com/twincrypt/twincrypt/gateway"
)

// defaultGCGrace protects blobs of writes that may still be in progress.
const defaultGCGrace = 24 * time.Hour

// minLiveGCGrace is the shortest grace gc accepts inside a serving gateway.
const minLiveGCGrace = time.Hour

func runGC(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "gc", "-c FILE [--grace DURATION] [--dry-run]\n\n"+
		"Deletes blobs that no catalog entry or version, multipart upload in\n"+
		"progress or meta record on any backend references (other than a\n"+
		"superseded one), once they are older than the grace period: what\n"+
		"crashes and failed deletes leave behind; superseded meta records (older\n"+
		"than the catalog's record of their key) older than the grace period; and\n"+
		"the temporary files of interrupted writes older than the grace period\n"+
		"(not with --dry-run). It has no --resume:\n"+
		"it marks every referenced blob before it deletes anything, and a mark\n"+
		"kept from an interrupted run could miss what was written since; after an\n"+
		"interruption run it again (what it deleted stays deleted). While a gateway\n"+
		"serves the config, gc runs inside it (through listen.admin) with a grace\n"+
		"of at least 1h.\n\nflags:")
	cfgPath := fs.String("c", "", "config `FILE` (required)")
	grace := fs.Duration("grace", defaultGCGrace, "keep unreferenced blobs and superseded meta records younger than this `duration`")
	dry := fs.Bool("dry-run", false, "report what would be deleted, delete nothing")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *grace < 0 {
		return fmt.Errorf("%w: --grace must not be negative", errUsage)
	}
	if c.running != nil && *grace < minLiveGCGrace {
		return fmt.Errorf("%w: while the gateway serves, --grace must be at least %v: uploads in flight write their blobs before their records", errUsage, minLiveGCGrace)
	}
	st, err := openMaintenance(ctx, c, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	var prog *progress
	phase := ""
	rep, err := st.ns.GC(ctx, gateway.GCOptions{Members: st.backendList(), Grace: *grace, DryRun: *dry,
		Progress: func(p gateway.GCProgress) {
			if p.Phase != phase {
				if prog != nil {
					prog.finish()
				}
				phase, prog = p.Phase, newProgress(c, "gc "+p.Phase, "names")
				prog.counts = true
			}
			prog.update(p.Items, p.Total, 0)
		}})
	if prog != nil {
		prog.finish()
	}
	if rep == nil {
		return err
	}
	verb := "deleted"
	if *dry {
		verb = "would delete"
	}
	fmt.Fprintf(c.stdout, "referenced blobs: %d (meta records the catalog lacks: %d; foreign files skipped: %d)\n", rep.Referenced, rep.Uncataloged, rep.Foreign)
	fmt.Fprintf(c.stdout, "superseded meta records (older than the catalog's): %d %s, %d within the grace period, %d failed\n", rep.Superseded, verb, rep.SupersededYoung, rep.SupersededFailed)
	total := 0
	for _, b := range rep.Backends {
		total += b.Deleted
		fmt.Fprintf(c.stdout, "backend %s: %d blobs, %d unreferenced, %d within the grace period, %s %d (%s), %d failed; temporary files of interrupted writes removed: %d\n",
			b.Name, b.Blobs, b.Unreferenced, b.Young, verb, b.Deleted, humanBytes(b.DeletedBytes), b.Failed, b.Temp)
	}
	fmt.Fprintf(c.stdout, "%s: %d\n", verb, total)
	if rep.Uncataloged > 0 {
		fmt.Fprintln(c.stdout, "meta records the catalog lacks keep their blobs; 'twincrypt repair' lists them and 'twincrypt repair --adopt' brings them back")
	}
	return err
}
