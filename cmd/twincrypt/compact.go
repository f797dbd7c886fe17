package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// compactCatalogFile replaces the embedded catalog file at path, which no
// one has open, with a compacted copy (catalog.CompactBolt): rebuild-catalog
// and migrate-catalog write keys in an order that leaves bbolt's pages part
// full. The copy is made beside the file (PATH.compacting, replacing a
// leftover one), made durable, and renamed over it, so an interruption
// leaves the complete original. Compacting is optional: the catalog is
// complete without it, so a failure (or an interruption) is a warning on
// stderr, never the command's failure.
func compactCatalogFile(ctx context.Context, c *cli, path string) {
	if err := compactFile(ctx, c, path); err != nil {
		fmt.Fprintf(c.stderr, "twincrypt: the catalog %s is complete but not compacted: %v\n", path, err)
	}
}

// compactFile is compactCatalogFile's work.
func compactFile(ctx context.Context, c *cli, path string) error {
	tmp := path + ".compacting"
	if err := os.Remove(tmp); err != nil && !os.IsNotExist(err) {
		return err
	}
	before, err := os.Stat(path)
	if err != nil {
		return err
	}
	if err := catalog.CompactBolt(ctx, path, tmp); err != nil {
		return err
	}
	after, err := os.Stat(tmp)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	fmt.Fprintf(c.stdout, "compacted the catalog: %d -> %d bytes\n", before.Size(), after.Size())
	return nil
}

// syncDir makes the entries of the directory dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
