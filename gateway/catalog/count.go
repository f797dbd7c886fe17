package catalog

import "context"

// Counts are how many entries and versions a catalog holds.
type Counts struct {
	// Entries is the number of entries Walk visits.
	Entries int
	// Versions is the number of versions WalkVersions visits.
	Versions int
}

// Counter counts a catalog's entries and versions.
type Counter interface {
	// Count returns how many entries Walk and versions WalkVersions
	// would visit now, read from the catalog's indexes without decoding
	// a value (cheaper than a walk; see docs/BENCHMARKS.md): the total
	// of a walk's progress. Writes meanwhile change the numbers a later
	// walk sees.
	Count(ctx context.Context) (Counts, error)
}
