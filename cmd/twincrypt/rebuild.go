package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/config"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
)

func runRebuildCatalog(ctx context.Context, c *cli, args []string) error {
	flags := newFlagSet(c, "rebuild-catalog", "-c FILE [--from BACKEND] [--force] [--resume]\n\n"+
		"Rebuilds the catalog from the meta records on every reachable backend:\n"+
		"buckets, every object with its sealed record, size, ETag, modification\n"+
		"time and generation, every deletion, and the share links; for each name\n"+
		"the newest record any backend holds wins, so a backend that was rolled\n"+
		"back cannot roll the catalog back. It lists every backend's names once\n"+
		"first, for the total its progress shows. An existing catalog file is\n"+
		"refused unless --force, which moves it aside to FILE.old-<time> (with\n"+
		"-2, -3 ... appended when that name is taken; it never replaces a file).\n"+
		"Multipart uploads in progress and the repair queue are not recovered:\n"+
		"run 'twincrypt repair' and 'twincrypt gc' afterwards. Every few seconds it writes how far it came to\n"+
		"FILE.rebuild-catalog.checkpoint next to the config; interrupted (SIGINT,\n"+
		"SIGTERM), it writes it at once, and --resume goes on filling the same\n"+
		"catalog from there (with the same --from). A run without --resume starts\n"+
		"over (the partial catalog then needs --force); a run that completes removes\n"+
		"the file. An embedded catalog is compacted once complete (its pages\n"+
		"filled; about a third smaller) through FILE.compacting, which replaces a\n"+
		"leftover one; a compaction that fails or is interrupted leaves the\n"+
		"complete catalog as it is, with a warning. While a gateway serves the\n"+
		"config, the rebuild runs inside it (through listen.admin) and adds to\n"+
		"its live catalog what it lacks.\n\nflags:")
	cfgPath := flags.String("c", "", "config `FILE` (required)")
	from := flags.String("from", "", "read only the backend of this `name` (default: every backend)")
	force := flags.Bool("force", false, "move an existing catalog file aside")
	resume := addResumeFlags(flags)
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	cfg, err := loadConfigFlag(c, *cfgPath)
	if err != nil {
		return err
	}
	var srcs []config.Backend
	for _, b := range cfg.Backends {
		if *from == "" || b.Name == *from {
			srcs = append(srcs, b)
		}
	}
	if len(srcs) == 0 {
		return fmt.Errorf("%w: no backend named %q in %s", errUsage, *from, cfg.Path)
	}
	if c.running != nil {
		// Inside a running gateway: add to its live catalog what the
		// backends hold and it lacks; the newest record of a name wins,
		// so nothing the catalog holds is rolled back.
		var bes []backends.Backend
		for _, m := range c.running.backendList() {
			for _, src := range srcs {
				if m.Name() == src.Name {
					bes = append(bes, m)
				}
			}
		}
		if *resume {
			return fmt.Errorf("%w: --resume: a rebuild inside a running gateway adds to its catalog; run it again instead", errUsage)
		}
		return rebuildInto(ctx, c, c.running.keys, bes, srcs, c.running.cat, nil, nil)
	}
	var state gateway.RebuildResume
	cp, resumed, err := openCheckpoint(c, cfg, "rebuild-catalog", *resume, &state, "from="+*from)
	if err != nil {
		return err
	}
	defer cp.warn()
	keys, err := unlockKeyring(ctx, c, cfg)
	if err != nil {
		return err
	}
	maintenanceGC(c.getenv)
	if cfg.Catalog.Type == config.CatalogBolt && !resumed {
		if _, err := os.Stat(cfg.Catalog.Path); err == nil {
			if !*force {
				return fmt.Errorf("catalog %s exists: move it away, or pass --force to move it aside", cfg.Catalog.Path)
			}
			cp.discardStale() // the first change: an earlier run's checkpoint no longer applies
			aside, err := moveAside(cfg.Catalog.Path, time.Now())
			if err != nil {
				return fmt.Errorf("move the old catalog aside: %w", err)
			}
			fmt.Fprintf(c.stdout, "moved the old catalog to %s\n", aside)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	var bes []backends.Backend
	for _, src := range srcs {
		be, err := openBackend(ctx, src)
		if err != nil {
			return err
		}
		defer be.Close()
		bes = append(bes, be)
	}
	rdb, err := openRedis(cfg, nil)
	if err != nil {
		return err
	}
	if rdb != nil {
		defer rdb.Close()
	}
	cat, err := openCatalog(ctx, cfg, rdb)
	if err != nil {
		return err
	}
	defer cat.Close()
	if bs, err := cat.ListBuckets(ctx); err != nil {
		return err
	} else if len(bs) > 0 && !*force && !resumed {
		return fmt.Errorf("catalog already holds %d bucket(s); pass --force to add to it", len(bs))
	}
	var rs *gateway.RebuildResume
	if resumed {
		rs = &state
	}
	err = rebuildInto(ctx, c, keys, bes, srcs, cat, cp, rs)
	if cfg.Catalog.Type == config.CatalogRedis || (err != nil && !errors.Is(err, errProblems)) {
		return err
	}
	// The records arrived in the backends' name order, which is random
	// in keys: compact the file (about a third smaller).
	if cerr := cat.Close(); cerr != nil {
		return cerr
	}
	compactCatalogFile(ctx, c, cfg.Catalog.Path)
	return err
}

// maxAsideNames bounds the names moveAside tries for one time stamp.
const maxAsideNames = 1000

// moveAside moves the file at path to a new name beside it,
// path.old-<now, to the second>, and returns that name. It never
// replaces an existing file: when the name is taken (an earlier move in
// the same second), it tries the name with -2, -3 ... appended. The
// file is linked under the new name, which fails on an existing target,
// and then removed from path; where hard links are not supported, it
// falls back to a check for the name followed by a rename.
func moveAside(path string, now time.Time) (string, error) {
	base := path + ".old-" + now.UTC().Format("20060102T150405Z")
	for i := 1; i <= maxAsideNames; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		err := os.Link(path, name)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if err == nil {
			err = os.Remove(path)
		} else if _, serr := os.Lstat(name); serr == nil {
			continue // links unsupported, and the name is taken
		} else if errors.Is(serr, fs.ErrNotExist) {
			err = os.Rename(path, name)
		} else {
			return "", serr
		}
		if err != nil {
			return "", err
		}
		if err := syncDir(filepath.Dir(path)); err != nil {
			return "", fmt.Errorf("moved %s to %s: %w", path, name, err)
		}
		return name, nil
	}
	return "", fmt.Errorf("%s and %s-2 ... %s-%d exist already", base, base, base, maxAsideNames)
}

// rebuildInto rebuilds cat from bes and prints the report; with cp it
// keeps a checkpoint, and resumes from rs when set.
func rebuildInto(ctx context.Context, c *cli, keys gateway.Keys, bes []backends.Backend, srcs []config.Backend, cat catalog.Catalog, cp *checkpointer, rs *gateway.RebuildResume) error {
	prog := newProgress(c, "rebuild-catalog", "records")
	prog.counts = true
	prior := 0
	if rs != nil {
		prior = rs.Records
	}
	total, err := countRebuild(ctx, prog, bes, rs)
	if err != nil {
		prog.finish()
		if cp != nil {
			return cp.interrupted(err)
		}
		return err
	}
	prog.restart()
	var again *progress // the records read again once the listings end
	o := gateway.RebuildOptions{
		Keys: keys, Backends: bes, Catalog: cat, Logger: maintenanceLogger(c),
		Progress: func(n int) { prog.update(n-prior, total, 0) },
		Reread: func(done, total int) {
			if again == nil {
				prog.finish()
				again = newProgress(c, "rebuild-catalog reread", "records")
				again.counts = true
			}
			again.update(done, total, 0)
		},
		Resume: rs,
	}
	if cp != nil {
		o.Checkpoint = func(r gateway.RebuildResume) {
			where := "every backend read"
			if r.Backend < len(bes) {
				where = fmt.Sprintf("reading %s (backend %d of %d)", bes[r.Backend].Name(), r.Backend+1, len(bes))
			}
			cp.update(r, fmt.Sprintf("%d meta records read; %s", r.Records, where))
		}
	}
	rep, err := gateway.RebuildCatalog(ctx, o)
	prog.finish()
	if again != nil {
		again.finish()
	}
	if err != nil && ctx.Err() != nil && cp != nil {
		return cp.interrupted(err)
	}
	if rep != nil && rs != nil {
		fmt.Fprint(c.stdout, cp.resumedNote())
	}
	if rep != nil {
		var names []string
		for _, b := range srcs {
			names = append(names, b.Name)
		}
		fmt.Fprintf(c.stdout, "rebuilt from %s: %d buckets (%d implied by their objects), %d objects, %d deletions, %d skipped, %d share links, %d failed\n",
			strings.Join(names, ", "), rep.Buckets, rep.ImpliedBuckets, rep.Objects, rep.Tombstones, rep.Skipped, rep.Shares, len(rep.Failed))
		for _, u := range rep.Unreachable {
			fmt.Fprintf(c.stdout, "  %s could not be read: records only it holds are missing\n", u)
		}
		for _, f := range rep.Failed {
			fmt.Fprintf(c.stdout, "  %s %s/%s: %v\n", f.Name, f.Bucket, f.Key, f.Err)
		}
	}
	if err != nil {
		return err
	}
	if cp != nil {
		cp.finish()
	}
	if len(rep.Failed) > 0 || len(rep.Unreachable) > 0 {
		return fmt.Errorf("%w: %d meta record(s) could not be used, %d backend(s) unreachable", errProblems, len(rep.Failed), len(rep.Unreachable))
	}
	return nil
}

// countRebuild returns the number of meta records the rebuild is to read
// from the listings of bes (from where rs stopped, if set): the total of
// its progress, counted from the listings of names beforehand. A backend
// that cannot be listed counts nothing (the rebuild reports it); only an
// interruption is an error.
func countRebuild(ctx context.Context, prog *progress, bes []backends.Backend, rs *gateway.RebuildResume) (int, error) {
	total, first := 0, 0
	if rs != nil {
		first = rs.Backend
	}
	for i := first; i < len(bes); i++ {
		after := ""
		if rs != nil && i == rs.Backend {
			after = rs.After
		}
		n, err := gateway.CountMetaRecords(ctx, bes[i], after, func(n gateway.MetaCount) { prog.counting(total + n.Records) })
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if err == nil {
			total += n.Records
		}
	}
	return total, nil
}
