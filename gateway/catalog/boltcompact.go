package catalog

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.etcd.io/bbolt"
)

const (
	// compactTxBytes is how many bytes of keys and values one
	// transaction of a compaction writes before it commits: the dirty
	// pages of a transaction are held in memory until then.
	compactTxBytes = 4 << 20
	// compactReleaseBytes is how many bytes of keys and values a
	// compaction reads from the source between two releases of its
	// mapped pages.
	compactReleaseBytes = 1 << 20
)

// CompactBolt copies the embedded catalog file src into a new file dst
// with every page filled: bbolt fills pages to about 70% when keys arrive
// in random order (as PUTs and rebuild-catalog write them) and to 50% when
// they arrive in order, and never gives the difference back; a compacted
// file takes about a third less. src must not be open elsewhere for
// writing; dst must not exist. The copy holds every bucket, key, value and
// bucket sequence of src, so it is the same catalog. Memory stays bounded:
// the pages of src it has read are released from the mapping as it goes
// (see touched), and dst commits every few megabytes.
func CompactBolt(ctx context.Context, src, dst string) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("catalog compact: %w", err)
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("catalog compact: %s exists", dst)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("catalog compact: %w", err)
	}
	from, err := bbolt.Open(src, 0o600, &bbolt.Options{ReadOnly: true, Timeout: DefaultLockTimeout})
	if err != nil {
		return fmt.Errorf("catalog compact: open %s: %w", src, err)
	}
	defer from.Close()
	to, err := bbolt.Open(dst, 0o600, &bbolt.Options{NoSync: true, Timeout: DefaultLockTimeout})
	if err != nil {
		return fmt.Errorf("catalog compact: create %s: %w", dst, err)
	}
	defer func() {
		if cerr := to.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("catalog compact: %w", cerr)
		}
		if err != nil {
			os.Remove(dst)
		}
	}()
	c := &compactor{ctx: ctx, to: to}
	err = from.View(func(tx *bbolt.Tx) error {
		c.release = func() { dropMapped(from.Info().Data, uintptr(tx.Size())) }
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			return c.bucket(nil, name, b)
		})
	})
	if err == nil {
		err = c.commit()
	}
	if err == nil {
		// NoSync skipped the syncs of every commit: one at the end
		// makes the whole file durable before it is used.
		err = to.Sync()
	}
	if err != nil {
		if c.tx != nil {
			c.tx.Rollback()
		}
		return fmt.Errorf("catalog compact: %w", err)
	}
	return nil
}

// compactor writes the copy, one transaction per compactTxBytes.
type compactor struct {
	ctx     context.Context
	to      *bbolt.DB
	tx      *bbolt.Tx
	size    int
	read    int // bytes of the source read since the last release
	release func()
}

// begin starts a write transaction unless one is open.
func (c *compactor) begin() error {
	if c.tx != nil {
		return nil
	}
	tx, err := c.to.Begin(true)
	if err != nil {
		return err
	}
	c.tx, c.size = tx, 0
	return nil
}

// target returns the bucket at path (at least one name) in the current
// transaction.
func (c *compactor) target(path [][]byte) (*bbolt.Bucket, error) {
	if err := c.begin(); err != nil {
		return nil, err
	}
	b := c.tx.Bucket(path[0])
	for _, p := range path[1:] {
		b = b.Bucket(p)
	}
	b.FillPercent = 1.0
	return b, nil
}

// commit commits the current transaction, if any, and releases the pages
// of the copy that it read through its mapping: the copy is read too (the
// path to the last leaf of every bucket), and grows by gigabytes.
func (c *compactor) commit() error {
	if c.tx == nil {
		return nil
	}
	err := c.tx.Commit()
	c.tx = nil
	if err != nil {
		return err
	}
	// Inside a read transaction bbolt does not map the file anew.
	return c.to.View(func(tx *bbolt.Tx) error {
		dropMapped(c.to.Info().Data, uintptr(tx.Size()))
		return nil
	})
}

// bucket copies the bucket src named name inside the bucket at path (nil:
// the top level).
func (c *compactor) bucket(path [][]byte, name []byte, src *bbolt.Bucket) error {
	var nb *bbolt.Bucket
	var err error
	if len(path) == 0 {
		if err := c.begin(); err != nil {
			return err
		}
		nb, err = c.tx.CreateBucket(name)
	} else {
		var parent *bbolt.Bucket
		if parent, err = c.target(path); err != nil {
			return err
		}
		nb, err = parent.CreateBucket(name)
	}
	if err != nil {
		return err
	}
	if err := nb.SetSequence(src.Sequence()); err != nil {
		return err
	}
	here := append(append([][]byte{}, path...), name)
	return src.ForEach(func(k, v []byte) error {
		if v == nil {
			return c.bucket(here, k, src.Bucket(k))
		}
		if c.size >= compactTxBytes {
			if err := c.ctx.Err(); err != nil {
				return err
			}
			if err := c.commit(); err != nil {
				return err
			}
		}
		b, err := c.target(here)
		if err != nil {
			return err
		}
		c.size += len(k) + len(v)
		c.read += len(k) + len(v)
		if c.read >= compactReleaseBytes {
			c.read = 0
			c.release()
		}
		return b.Put(k, v)
	})
}
