// Package inlinecache holds the sealed meta records of recently written or
// read inline objects, so that a GET of a small object needs no provider
// round trip while the catalog keeps only the record's fields.
//
// A record is found by the digest its catalog entry names (the first 16
// bytes of the SHA-256 of the sealed bytes, docs/FORMAT.md, "Catalog
// records"): the cache is addressed by content, so an entry can never
// stand for another record, and a record another gateway instance
// replaced is simply not found. The cache is bounded in bytes and evicts
// the least recently used records first.
package inlinecache

import (
	"container/list"
	"sync"
)

// Digest names a sealed record: the first 16 bytes of its SHA-256.
type Digest = [16]byte

// entryOverhead approximates the bytes a cached record costs beyond its
// own: the list element, the map entry and the slice header.
const entryOverhead = 128

// Cache is a byte-bounded LRU set of sealed records keyed by digest. The
// zero value and a nil *Cache hold nothing. It is safe for concurrent use.
type Cache struct {
	mu    sync.Mutex
	max   int64
	used  int64
	order *list.List // front: most recently used; values are *item
	byKey map[Digest]*list.Element
}

type item struct {
	d Digest
	b []byte
}

// New returns a cache of at most maxBytes (records and bookkeeping); a
// cache of 0 bytes or less holds nothing.
func New(maxBytes int64) *Cache {
	return &Cache{max: maxBytes, order: list.New(), byKey: make(map[Digest]*list.Element)}
}

// Get returns the record with digest d, if the cache holds it. The caller
// must not modify the bytes.
func (c *Cache) Get(d Digest) ([]byte, bool) {
	if c == nil || c.byKey == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[d]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*item).b, true
}

// Add keeps b, a sealed record whose digest is d, evicting the least
// recently used records as needed. b must not be modified afterwards. A
// record larger than the whole cache is not kept.
func (c *Cache) Add(d Digest, b []byte) {
	if c == nil || c.byKey == nil {
		return
	}
	cost := int64(len(b)) + entryOverhead
	if cost > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[d]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.byKey[d] = c.order.PushFront(&item{d: d, b: b})
	c.used += cost
	for c.used > c.max {
		e := c.order.Back()
		it := e.Value.(*item)
		c.order.Remove(e)
		delete(c.byKey, it.d)
		c.used -= int64(len(it.b)) + entryOverhead
	}
}

// Len returns the number of records held.
func (c *Cache) Len() int {
	if c == nil || c.byKey == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byKey)
}

// Bytes returns the bytes the cache accounts for, records and bookkeeping.
func (c *Cache) Bytes() int64 {
	if c == nil || c.byKey == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
