package main

import (
	"context"
	"fmt"

	"github.com/twincrypt/twincrypt/gateway"
)

// runKeysRewrap implements "twincrypt keys rewrap".
func runKeysRewrap(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "keys rewrap", "-c FILE [--resume]\n\n"+
		"After 'keys rotate', puts every object's data keys under the current\n"+
		"key-encryption key by rewriting meta records only: no data is uploaded\n"+
		"again. Records already under the current key are skipped, so running it\n"+
		"again after an interruption continues where it stopped; --resume also\n"+
		"skips reading the records it had examined, from FILE.rewrap.checkpoint\n"+
		"next to the config (written every few seconds, and at once on SIGINT or\n"+
		"SIGTERM; removed when a run completes). While a gateway\n"+
		"serves the config, it runs inside it (through listen.admin); run 'keys\n"+
		"rotate' the same way first, so that the gateway knows the new key.\n\nflags:")
	cfgPath := fs.String("c", "", "config `FILE` (required)")
	resume := addResumeFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	st, err := openMaintenance(ctx, c, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	var state gateway.RewrapResume
	cp, resumed, err := openCheckpoint(c, st.cfg, "rewrap", *resume, &state)
	if err != nil {
		return err
	}
	defer cp.warn()
	prog := newProgress(c, "keys rewrap", "objects")
	prog.counts = true
	var done, total int
	o := gateway.RewrapOptions{
		Progress: func(d, t int) {
			done, total = d, t
			prog.update(d, t, 0)
		},
		Checkpoint: func(r gateway.RewrapResume) {
			cp.update(r, fmt.Sprintf("%d objects examined, %d to go; next after %s", r.Objects, total-done, positionString(r.After)))
		},
	}
	if resumed {
		o.Resume = &state
	}
	rep, err := st.ns.RewrapWith(ctx, o)
	prog.finish()
	if err != nil && ctx.Err() != nil {
		return cp.interrupted(err)
	}
	if err == nil {
		cp.finish()
	}
	if rep != nil && resumed {
		fmt.Fprint(c.stdout, cp.resumedNote())
	}
	if rep != nil {
		fmt.Fprintf(c.stdout, "key-encryption key %d: %d of %d objects rewrapped, %d of %d bucket records resealed, %d failed\n",
			rep.KEK, rep.ObjectsRewrapped, rep.Objects, rep.BucketsRewrapped, rep.Buckets, rep.Failed)
	}
	return err
}
