package catalog

import (
	"context"

	"go.etcd.io/bbolt"
)

// bbolt reads the file through a shared read-only memory mapping, and every
// page a transaction reads stays in the process's resident set: a walk over
// a catalog of a million objects, or a gateway that has served reads of
// every key for a while, would be resident over the whole file (about 2 GB).
// So the catalog estimates the pages its transactions read, and once about
// releasePages were read since the last release it drops them from the
// mapping (they stay in the page cache; the next read maps them again):
// the process's resident memory does not grow with the catalog. A page
// fault maps up to 16 neighbouring pages that are in the page cache
// (the kernel's fault-around), so releasePages pages read can leave up to
// 16 times as many resident: 256 keeps that under 16 MiB.
const (
	releasePages = 256
	// Pages a transaction reads, estimated: a lookup or a write reads
	// the root, a branch and a leaf; a walk batch or a listing about a
	// page per three entries of 1 to 1.3 KiB.
	opPages    = 4
	walkPages  = walkBatch / 3
	entryPages = 3 // entries per page, for listings
)

// touched notes that a transaction read about pages pages and releases the
// mapping when enough were read since the last release.
func (c *Bolt) touched(pages int64) {
	n := c.touchedPages.Add(pages)
	if n >= releasePages && c.touchedPages.CompareAndSwap(n, 0) {
		c.releaseMapped()
	}
}

// walkView is view for the batches of a walk over the whole catalog.
func (c *Bolt) walkView(ctx context.Context, op string, fn func(tx *bbolt.Tx) error) error {
	if err := c.view(ctx, op, fn); err != nil {
		return err
	}
	c.touched(walkPages - opPages)
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
