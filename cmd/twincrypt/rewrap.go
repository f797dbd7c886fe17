package main

import (
	"context"
	"fmt"
)

// runKeysRewrap implements "twincrypt keys rewrap".
func runKeysRewrap(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "keys rewrap", "-c FILE\n\n"+
		"After 'keys rotate', puts every object's data keys under the current\n"+
		"key-encryption key by rewriting meta records only: no data is uploaded\n"+
		"again. Records already under the current key are skipped, so running it\n"+
		"again after an interruption continues where it stopped. While a gateway\n"+
		"serves the config, it runs inside it (through listen.admin); run 'keys\n"+
		"rotate' the same way first, so that the gateway knows the new key.\n\nflags:")
	cfgPath := fs.String("c", "", "config `FILE` (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	st, err := openMaintenance(ctx, c, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := st.ns.Rewrap(ctx)
	if rep != nil {
		fmt.Fprintf(c.stdout, "key-encryption key %d: %d of %d objects rewrapped, %d of %d bucket records resealed, %d failed\n",
			rep.KEK, rep.ObjectsRewrapped, rep.Objects, rep.BucketsRewrapped, rep.Buckets, rep.Failed)
	}
	return err
}
