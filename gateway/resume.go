package gateway

import "cmp"

// Walk phases: the catalog walks of the maintenance passes, in the order
// Scrub and Rewrap make them. A WalkPosition names one of them.
const (
	PhaseObjects           = "objects"            // Walk: unversioned entries
	PhaseVersions          = "versions"           // WalkVersions
	PhaseTombstones        = "tombstones"         // WalkTombstones
	PhaseVersionTombstones = "version-tombstones" // WalkVersionTombstones
	// PhaseEnd is past every walk: only the passes that are always run
	// again (the bucket records, and the listings for uncataloged
	// records) are left.
	PhaseEnd = "end"
)

// phaseRank ranks the walk phases: 0 is the start, -1 an unknown phase.
func phaseRank(phase string) int {
	switch phase {
	case "":
		return 0
	case PhaseObjects:
		return 1
	case PhaseVersions:
		return 2
	case PhaseTombstones:
		return 3
	case PhaseVersionTombstones:
		return 4
	case PhaseEnd:
		return 5
	}
	return -1
}

// WalkPosition is a place in a maintenance pass over the catalog: every key
// of the walks before Phase, and every key of Phase up to and including
// (Bucket, Key) in byte order, is done. The zero WalkPosition is the start.
// Positions are whole keys: the versions of one key (which the catalog walks
// newest first) are done or not done together.
type WalkPosition struct {
	Phase  string `json:"phase,omitempty"`
	Bucket string `json:"bucket,omitempty"`
	Key    string `json:"key,omitempty"`
}

// IsStart reports whether p is the start of a pass.
func (p WalkPosition) IsStart() bool { return p.Phase == "" }

// Valid reports whether p names a known phase (or the start).
func (p WalkPosition) Valid() bool {
	return phaseRank(p.Phase) >= 0
}

// compare orders positions: phase, then bucket, then key.
func (p WalkPosition) compare(q WalkPosition) int {
	if c := cmp.Compare(phaseRank(p.Phase), phaseRank(q.Phase)); c != 0 {
		return c
	}
	if c := cmp.Compare(p.Bucket, q.Bucket); c != 0 {
		return c
	}
	return cmp.Compare(p.Key, q.Key)
}

// done reports whether the key at q is done by a pass resumed after p.
func (p WalkPosition) done(q WalkPosition) bool {
	return !p.IsStart() && q.compare(p) <= 0
}

// sameKey reports whether p and q name the same key of the same walk.
func (p WalkPosition) sameKey(q WalkPosition) bool {
	return p.Phase == q.Phase && p.Bucket == q.Bucket && p.Key == q.Key
}
