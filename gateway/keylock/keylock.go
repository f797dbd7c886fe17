// Package keylock serialises the writers of one object name, so that the
// meta record on the providers and the catalog entry of a name change in
// the same order. Every write that changes both (put, delete, tags, copy,
// rename, multipart completion, repair) holds the name's lock from reading
// the current generation until the catalog has the new one.
//
// Striped serialises the writers of one process; Redis the writers of every
// gateway instance that shares a Redis server or Cluster.
package keylock

import (
	"cmp"
	"context"
	"hash/fnv"
	"slices"
	"sync"
)

// Name is one lockable name: an object (bucket and key) or, with an empty
// key, a bucket's own record (and the namespace's other single records,
// which the gateway names the same way).
type Name struct {
	Bucket, Key string
}

// Unlock releases the locks Lock took. kept is false when a lock lapsed
// while it was held (its holder stalled past the lock's time-to-live), so
// that another writer may have held it meanwhile: the caller then puts the
// catalog's state of the names back on the providers (see
// docs/RELIABILITY.md).
type Unlock func() (kept bool)

// Locker takes the locks of names.
type Locker interface {
	// Lock takes the locks of all names, waiting while another writer
	// holds any of them, in a fixed order so that two callers locking
	// overlapping sets cannot deadlock. It fails when ctx ends first or
	// when the lock store cannot be reached (an error wrapping
	// catalog.ErrUnavailable); nothing is held then.
	Lock(ctx context.Context, names ...Name) (Unlock, error)
}

// stripes is the number of mutexes of a Striped.
const stripes = 64

// Striped is the Locker of a single instance: a table of mutexes indexed
// by a hash of the name. Two names may share a mutex; that only serialises
// more than needed. The zero value is ready to use.
type Striped struct {
	mu [stripes]sync.Mutex
}

// Lock implements Locker. It waits for the mutexes whatever ctx does.
func (s *Striped) Lock(_ context.Context, names ...Name) (Unlock, error) {
	idx := make([]int, 0, len(names))
	for _, n := range names {
		idx = append(idx, stripe(n))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		s.mu[i].Lock()
	}
	return func() bool {
		for _, i := range slices.Backward(idx) {
			s.mu[i].Unlock()
		}
		return true
	}, nil
}

// stripe returns the index of the mutex that guards n.
func stripe(n Name) int {
	h := fnv.New32a()
	h.Write([]byte(n.Bucket))
	h.Write([]byte{0})
	h.Write([]byte(n.Key))
	return int(h.Sum32() % stripes)
}

// sortedUnique returns xs sorted without repeats.
func sortedUnique[T cmp.Ordered](xs []T) []T {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return slices.Compact(xs)
}
