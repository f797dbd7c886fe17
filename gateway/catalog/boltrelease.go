package catalog

import (
	"context"

	"go.etcd.io/bbolt"
)

// releaseEvery is how many walk batches run between two releases of the
// catalog's mapped pages: about 8 MiB of catalog at 1 KiB records.
const releaseEvery = 32

// walkView is view for the batches of a walk over the whole catalog. bbolt
// reads the file through a shared read-only memory mapping, and every page a
// walk reads stays in the process's resident set: a walk over a catalog of
// a million objects would make the process resident over the whole file.
// Every releaseEvery batches the pages are dropped from the mapping (they
// stay in the page cache; a later read maps them again), so that a walk's
// resident memory does not grow with the catalog.
func (c *Bolt) walkView(ctx context.Context, op string, fn func(tx *bbolt.Tx) error) error {
	if err := c.view(ctx, op, fn); err != nil {
		return err
	}
	if c.walkBatches.Add(1)%releaseEvery == 0 {
		c.releaseMapped()
	}
	return nil
}

// releaseMapped drops the catalog's pages from the process's mapping. It
// runs inside a read transaction, which keeps bbolt from remapping the file
// meanwhile.
func (c *Bolt) releaseMapped() {
	_ = c.db.View(func(tx *bbolt.Tx) error {
		dropMapped(c.db.Info().Data, uintptr(tx.Size()))
		return nil
	})
}
