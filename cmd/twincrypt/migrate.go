package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/twincrypt/twincrypt/config"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/tlscert"
	"github.com/twincrypt/twincrypt/internal/redisconn"
)

func runMigrateCatalog(ctx context.Context, c *cli, args []string) error {
	flags := newFlagSet(c, "migrate-catalog", "-c FILE --to redis://HOST:PORT[/DB] | rediss://... | bolt:PATH | PATH [--force]\n\n"+
		"Copies the catalog the config names into another one: an embedded catalog\n"+
		"into Redis (one server or a cluster, see docs/CONFIG.md for the URL), or a\n"+
		"Redis catalog into an embedded file, or an embedded file into another one\n"+
		"(a compacted copy: an embedded destination is compacted once written). It\n"+
		"copies buckets, objects, versions, deletions,\n"+
		"the epoch, share links with their download counts, multipart uploads in\n"+
		"progress with their parts, and the repair queue; then it scrubs the\n"+
		"backends against the new catalog and prints the report. The destination\n"+
		"must be empty unless --force. Stop every gateway serving the config\n"+
		"first, and then point catalog: in the config at the destination.\n\nflags:")
	cfgPath := flags.String("c", "", "config `FILE` (required)")
	to := flags.String("to", "", "destination `URL` or path (required)")
	force := flags.Bool("force", false, "copy into a destination that is not empty (newer records there win)")
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	if *to == "" {
		return fmt.Errorf("%w: --to is required", errUsage)
	}
	cfg, err := loadConfigFlag(c, *cfgPath)
	if err != nil {
		return err
	}
	dstCat, err := destinationCatalog(cfg, *to)
	if err != nil {
		return err
	}
	if dstCat == cfg.Catalog {
		return fmt.Errorf("%w: the destination is the catalog the config already names", errUsage)
	}
	ac, err := newAdminClient(cfg)
	if err != nil {
		return err
	}
	if ac != nil {
		// A listener that answers, even with another certificate than
		// the configured one, is a gateway serving this config.
		if err := ac.alive(ctx); err == nil || errors.Is(err, tlscert.ErrUnpinned) {
			return fmt.Errorf("a gateway serves %s (admin API %s): stop every instance before migrating its catalog", cfg.Path, ac.base)
		}
	}

	rdb, err := openRedis(cfg, nil)
	if err != nil {
		return err
	}
	if rdb != nil {
		defer rdb.Close()
	}
	src, err := openCatalog(ctx, cfg, rdb)
	if errors.Is(err, catalog.ErrInUse) {
		return fmt.Errorf("%w: a gateway serves this config; stop it before migrating its catalog", err)
	}
	if err != nil {
		return err
	}
	defer src.Close()

	dstCfg := *cfg
	dstCfg.Catalog = dstCat
	drdb, err := openRedis(&dstCfg, nil)
	if err != nil {
		return err
	}
	if drdb != nil {
		defer drdb.Close()
	}
	// The keyring first: a wrong passphrase leaves no destination behind.
	keys, err := unlockKeyring(ctx, c, cfg)
	if err != nil {
		return err
	}
	c.unlocked, c.unlockedPath = keys, cfg.Keyring // for the scrub below
	// A new embedded destination is written without a sync per entry and
	// synced when closed (then compacted): a copy cut short is started
	// again with --force. One that exists (--force) may hold data a power
	// loss must not take: it is written as always.
	var dstOpts []catalog.BoltOption
	if dstCat.Type == config.CatalogBolt {
		if _, err := os.Stat(dstCat.Path); errors.Is(err, fs.ErrNotExist) {
			dstOpts = append(dstOpts, catalog.WithNoSync())
		}
	}
	dst, err := openCatalog(ctx, &dstCfg, drdb, dstOpts...)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	empty, err := catalog.Empty(ctx, dst)
	if err != nil {
		dst.Close()
		return fmt.Errorf("destination: %w", err)
	}
	if !empty && !*force {
		dst.Close()
		return fmt.Errorf("the destination catalog %s is not empty; pass --force to copy into it", describeCatalog(dstCat))
	}
	prog := newProgress(c, "migrate-catalog", "objects")
	// Records of objects and versions go into the destination in the
	// catalog form (docs/FORMAT.md, "Catalog records").
	st, err := catalog.Copy(ctx, dst, src, func(n int) { prog.update(n, 0, 0) }, catalog.ConvertRecords(gateway.CatalogFormConverter(keys)))
	prog.finish()
	if cerr := dst.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil && dstCat.Type == config.CatalogBolt {
		compactCatalogFile(ctx, c, dstCat.Path)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "copied into %s: %d buckets, %d objects, %d versions, %d deletions, %d deleted versions, %d share links, %d uploads with %d parts, %d repair tasks, epoch %d\n",
		describeCatalog(dstCat), st.Buckets, st.Entries, st.Versions, st.Tombstones, st.VersionTombstones, st.Shares, st.Uploads, st.Parts, st.Tasks, st.Epoch)
	if err := src.Close(); err != nil {
		return err
	}

	// Scrub the backends against the new catalog.
	store, err := openStore(ctx, c, &dstCfg, maintenanceLogger(c))
	if err != nil {
		return fmt.Errorf("scrub against the new catalog: %w", err)
	}
	defer store.Close()
	prog = newProgress(c, "scrub", "objects")
	rep, err := store.ns.Scrub(ctx, gateway.ScrubOptions{
		Members:  store.backendList(),
		Progress: func(p gateway.ScrubProgress) { prog.update(p.Objects, p.TotalObjects, p.Bytes) },
	})
	prog.finish()
	if rep != nil {
		printScrub(c.stdout, rep, false)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "to serve from it, set in %s:\n%s", cfg.Path, catalogYAML(dstCat))
	if !rep.Clean() {
		return fmt.Errorf("%w: the scrub against the new catalog found %d problem(s); run 'twincrypt repair' once the config names it", errProblems, countProblems(rep))
	}
	return nil
}

// destinationCatalog parses migrate-catalog's --to.
func destinationCatalog(cfg *config.Config, to string) (config.Catalog, error) {
	if strings.HasPrefix(to, "redis://") || strings.HasPrefix(to, "rediss://") {
		rdb, err := redisconn.Open(to, redisconn.Options{})
		if err != nil {
			return config.Catalog{}, fmt.Errorf("%w: --to: %w", errUsage, err)
		}
		rdb.Close()
		return config.Catalog{Type: config.CatalogRedis, URL: to}, nil
	}
	path := strings.TrimPrefix(to, "bolt:")
	if path == "" {
		return config.Catalog{}, fmt.Errorf("%w: --to names no file", errUsage)
	}
	if !filepath.IsAbs(path) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return config.Catalog{}, err
		}
		path = abs
	}
	return config.Catalog{Type: config.CatalogBolt, Path: path}, nil
}

// describeCatalog names a catalog in messages, without a password.
func describeCatalog(c config.Catalog) string {
	if c.Type == config.CatalogRedis {
		return redactedURL(c.URL)
	}
	return c.Path
}

// catalogYAML is the catalog: section that names c.
func catalogYAML(c config.Catalog) string {
	if c.Type == config.CatalogRedis {
		return fmt.Sprintf("  catalog:\n    type: redis\n    url: %s\n", redactedURL(c.URL))
	}
	return fmt.Sprintf("  catalog:\n    type: bolt\n    path: %s\n", c.Path)
}
