package gateway

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/seal"
)

// RepairOptions configure Repair.
type RepairOptions struct {
	// Members are the backends to bring into agreement; normally the
	// members of the replicated set.
	Members []backends.Backend
	// Deep finds corrupt blobs by reading and authenticating every blob
	// on every backend (see ScrubOptions.Deep). Without it only missing
	// and wrongly sized blobs are found.
	Deep bool
	// Workers is passed to Scrub.
	Workers int
	// Progress is passed to Scrub.
	Progress func(ScrubProgress)
	// Deleting, when set, reports whether a delete of the backend object
	// name is still queued for some backend; such meta records are not
	// adopted into the catalog.
	Deleting func(name string) bool
	// Adopt brings meta records that the catalog neither lists nor
	// remembers deleting back into the catalog (their blobs must exist).
	// Without it such records are reported, with the objects they would
	// bring back, and left alone: a provider must not be able to add
	// objects to the namespace on its own. With it, too, a catalog entry
	// whose record does not open is restored from the newest record the
	// providers hold even when that is older than the entry's generation
	// (without it such an entry is left as is: the older record may be
	// one the entry replaced).
	Adopt bool
	// Only, when not empty, names the members to check and repair; the
	// others serve as sources only (see ScrubOptions.Only).
	Only []string
	// Spread paces the first round's scrub (see ScrubOptions.Spread); the
	// rounds that check the repairs run unpaced.
	Spread time.Duration
	// Fixed, when set, is called after every problem a round tried to
	// repair, with the number tried so far and the number that round
	// found (never concurrently).
	Fixed func(done, total int)
	// Resume, when set, continues an interrupted repair from its last
	// checkpoint: in the round it stopped in, with that round's scrub
	// resumed (see ScrubOptions.Resume) and the changes made so far
	// counted in the report.
	Resume *RepairResume
	// Checkpoint, when set, is called (never concurrently) as the scrub
	// of a round moves on (see ScrubOptions.Checkpoint); passed as Resume
	// to a later repair, its argument continues from there.
	Checkpoint func(RepairResume)
	// MaxProblems bounds how many problems a round holds at once, and
	// how many RepairReport.Unrepaired lists; <= 0 means
	// DefaultMaxProblems. A round whose scrub finds more repairs them in
	// segments: it repairs those listed, then scrubs on from the last key
	// listed.
	MaxProblems int
}

// RepairResume is how far an interrupted repair came (see
// RepairOptions.Resume). A round's repairs happen after its scrub; a repair
// stopped while repairing resumes with a scrub that checks only the keys
// with problems again, then repairs them.
type RepairResume struct {
	Round int         `json:"round"` // the round stopped in, from 0
	Scrub ScrubResume `json:"scrub"` // how far that round's scrub came
	// The changes made by the rounds before (see RepairReport).
	MetaRewritten int `json:"metaRewritten"`
	BlobsCopied   int `json:"blobsCopied"`
	CatalogFixed  int `json:"catalogFixed"`
	Adopted       int `json:"adopted"`
	Discarded     int `json:"discarded"`
	Superseded    int `json:"superseded,omitempty"`
	// FoundObjects and FoundProblems sum up the first round's scrub
	// (RepairReport.Found) once it is done; a repair resumed in a later
	// round reports no Found of its own.
	FoundObjects  int `json:"foundObjects,omitempty"`
	FoundProblems int `json:"foundProblems,omitempty"`
	// Extra counts the rounds past maxRepairRounds granted so far:
	// rounds that left problems unlisted (past MaxProblems) and found
	// fewer problems than the round before.
	Extra int `json:"extraRounds,omitempty"`
	// Left counts the problems that the round's segments before the
	// checkpoint could not repair; a resumed round that changes nothing
	// is then followed by one more, which finds them again.
	Left int `json:"left,omitempty"`
}

// problems counts the problems of a scrub report that need repair.
func (r *ScrubReport) problems() int {
	n := r.Catalog
	for _, c := range r.Backends {
		n += c.Total()
	}
	return n
}

// RepairReport says what Repair found and did.
type RepairReport struct {
	// Found is the first scrub's report: the state before any repair
	// (nil when resumed past the first round; see RepairResume).
	Found *ScrubReport
	// Rounds is the number of scrubs run: one when nothing needed
	// repair, otherwise one more after the last round that changed
	// something, to verify the result.
	Rounds int
	// MetaRewritten counts meta record copies written to backends.
	MetaRewritten int
	// BlobsCopied counts blob copies written to backends.
	BlobsCopied int
	// CatalogFixed counts catalog entries whose record did not open,
	// replaced by a backend's copy that does.
	CatalogFixed int
	// Adopted counts meta records the catalog lacked and now lists, and
	// records newer than the catalog's (ahead) that it took over.
	Adopted int
	// Discarded counts meta records the catalog lacked whose blobs no
	// backend holds any more; they were deleted.
	Discarded int
	// Superseded counts copies of records that the catalog's record or
	// tombstone replaced (ProblemSuperseded), deleted from the backends
	// that held them.
	Superseded int
	// Unrepaired lists what the last round found and could not repair,
	// up to RepairOptions.MaxProblems of them; UnrepairedOmitted counts
	// those past it (and those the round found past the list of its
	// scrub, which it did not try).
	Unrepaired        []Problem
	UnrepairedOmitted int

	// retryLeft counts per backend the unrepaired problems that may go
	// away on another attempt (see retryable), those not listed
	// included.
	retryLeft map[string]int
}

// UnrepairedCount returns the number of problems the last round could not
// repair: those listed in Unrepaired and those past the list.
func (r *RepairReport) UnrepairedCount() int {
	return len(r.Unrepaired) + r.UnrepairedOmitted
}

// leave adds p to what a round could not repair, listed when fewer than
// limit are.
func (r *RepairReport) leave(p Problem, limit int) {
	if retryable(p) {
		if r.retryLeft == nil {
			r.retryLeft = make(map[string]int)
		}
		r.retryLeft[p.Backend]++
	}
	if len(r.Unrepaired) >= limit {
		r.UnrepairedOmitted++
		return
	}
	r.Unrepaired = append(r.Unrepaired, p)
}

// unlisted counts as unrepaired the problems sr counted but did not list,
// which a round does not try, and returns their number. As their details
// are unknown, any of them may go away on another attempt.
func (r *RepairReport) unlisted(sr *ScrubReport) int {
	n := 0
	for _, c := range sr.Backends {
		k := c.Total()
		for _, p := range sr.Problems {
			if p.Backend == c.Name && p.Kind != ProblemForeign {
				k--
			}
		}
		if k > 0 {
			if r.retryLeft == nil {
				r.retryLeft = make(map[string]int)
			}
			r.retryLeft[c.Name] += k
			n += k
		}
	}
	k := sr.Catalog
	for _, p := range sr.Problems {
		if p.Backend == catalogSource {
			k--
		}
	}
	n += max(k, 0)
	r.UnrepairedOmitted += n
	return n
}

// merge adds the report of a later segment of the same pass to r: the
// counts that a segment carries from the one before (see
// ScrubOptions.Resume) are taken over, the problem counts summed, and its
// problems listed while r's list has room.
func (r *ScrubReport) merge(sr *ScrubReport) {
	r.Objects, r.Tombstones, r.Blobs, r.Bytes = sr.Objects, sr.Tombstones, sr.Blobs, sr.Bytes
	r.Catalog += sr.Catalog
	for i := range r.Backends {
		if i >= len(sr.Backends) || sr.Backends[i].Name != r.Backends[i].Name {
			continue
		}
		c, d := &r.Backends[i], sr.Backends[i]
		c.Missing += d.Missing
		c.Corrupt += d.Corrupt
		c.Stale += d.Stale
		c.Ahead += d.Ahead
		c.Uncataloged += d.Uncataloged
		c.Unavailable += d.Unavailable
		c.Foreign += d.Foreign
		c.Superseded += d.Superseded
	}
	for _, p := range sr.Problems {
		r.list(p)
	}
	r.ProblemsOmitted += sr.ProblemsOmitted
	r.rest = sr.rest
}

// Actions returns the number of changes Repair made.
func (r *RepairReport) Actions() int {
	return r.MetaRewritten + r.BlobsCopied + r.CatalogFixed + r.Adopted + r.Discarded + r.Superseded
}

// maxRepairRounds bounds how often Repair scrubs and fixes; one more scrub
// then only reports.
const maxRepairRounds = 4

// Repair scrubs the backends and repairs what it finds:
//
//   - a meta record or tombstone that is missing, corrupt or stale (rolled
//     back, or an old record of a deleted name) on a backend is rewritten
//     with the catalog's bytes; a bucket record is copied from a backend
//     whose copy authenticates, or resealed from the catalog;
//   - a record newer than the catalog's (ahead) is never overwritten: the
//     catalog takes it over (for an object, when its blobs exist), and the
//     next round copies it to the other backends;
//   - a blob that is missing, of the wrong size or (with Deep) fails to
//     authenticate is copied, ciphertext as is, from another backend whose
//     copy authenticates while it is copied; the new copy is then read
//     back and authenticated;
//   - a record of a key or version that the catalog's record or tombstone
//     replaced (superseded: a write's delete of it failed) is deleted from
//     the backend that holds it; it is never adopted nor copied;
//   - a meta record the catalog lacks (a write that stopped after its meta
//     record, or a catalog that lost entries) is deleted when no backend
//     holds its blobs, adopted into the catalog with Adopt, and otherwise
//     reported; a tombstone the catalog lacks is adopted.
//
// Repair runs rounds of scrub and repair until a round changes nothing, so
// running it again right away finds nothing to do. A round holds at most
// MaxProblems problems at a time: past them its scrub stops, the problems
// listed are repaired, and the scrub goes on after the last key listed.
// Writes of meta records hold the namespace's lock of their name.
func (ns *Namespace) Repair(ctx context.Context, o RepairOptions) (*RepairReport, error) {
	rep := &RepairReport{}
	first, extra, left := 0, 0, 0
	var found [2]int // FoundObjects, FoundProblems
	if r := o.Resume; r != nil {
		if r.Round < 0 || r.Extra < 0 || r.Extra > r.Round || r.Round > maxRepairRounds+r.Extra {
			return rep, fmt.Errorf("repair: resume: round %d is not one of 0 to %d", r.Round, maxRepairRounds+max(r.Extra, 0))
		}
		found = [2]int{r.FoundObjects, r.FoundProblems}
		first, extra, left = r.Round, r.Extra, r.Left
		rep.MetaRewritten, rep.BlobsCopied, rep.CatalogFixed, rep.Adopted, rep.Discarded = r.MetaRewritten, r.BlobsCopied, r.CatalogFixed, r.Adopted, r.Discarded
		rep.Superseded = r.Superseded
		rep.Rounds = r.Round
	}
	maxProblems := o.MaxProblems
	if maxProblems <= 0 {
		maxProblems = DefaultMaxProblems
	}
	prev := -1 // the problems the round before found; -1: not known
	for round := first; ; round++ {
		last := round >= maxRepairRounds+extra
		so := ScrubOptions{Members: o.Members, Deep: o.Deep, Workers: o.Workers, Progress: o.Progress, Only: o.Only, MaxProblems: maxProblems, segment: !last}
		if round == 0 {
			so.Spread = o.Spread
		}
		if round == first && o.Resume != nil {
			so.Resume = &o.Resume.Scrub
		}
		ck := RepairResume{Round: round, FoundObjects: found[0], FoundProblems: found[1], Extra: extra}
		// checkpoint reports ck with the changes made so far.
		checkpoint := func() {
			if o.Checkpoint == nil {
				return
			}
			ck.MetaRewritten, ck.BlobsCopied, ck.CatalogFixed, ck.Adopted, ck.Discarded = rep.MetaRewritten, rep.BlobsCopied, rep.CatalogFixed, rep.Adopted, rep.Discarded
			ck.Superseded = rep.Superseded
			ck.Left = rep.UnrepairedCount()
			o.Checkpoint(ck)
		}
		so.Checkpoint = func(s ScrubResume) {
			ck.Scrub = s
			checkpoint()
		}
		before := rep.Actions()
		rep.Unrepaired, rep.UnrepairedOmitted, rep.retryLeft = nil, 0, nil
		var total *ScrubReport // the round's scrub: its segments summed up
		unlisted := 0
		for seg := 0; ; seg++ {
			sr, err := ns.Scrub(ctx, so)
			if seg == 0 {
				rep.Rounds++
				total = sr
			} else if sr != nil {
				total.merge(sr)
			}
			if round == 0 {
				rep.Found = total
			}
			if err != nil {
				return rep, err
			}
			if last {
				// Still changing after every round: report what this
				// last scrub sees instead of repairing further.
				for _, p := range sr.Problems {
					if p.Kind != ProblemForeign {
						rep.leave(p, maxProblems)
					}
				}
				rep.unlisted(sr)
				break
			}
			fo := o
			fo.Fixed = func(done, total int) {
				// The scrub's checkpoint stands: a repair resumed from it
				// scrubs the keys with problems again and repairs what is
				// still wrong; the changes made so far are counted.
				checkpoint()
				if o.Fixed != nil {
					o.Fixed(done, total)
				}
			}
			for _, p := range ns.fix(ctx, fo, sr, rep) {
				rep.leave(p, maxProblems)
			}
			unlisted += rep.unlisted(sr)
			if sr.rest == nil || ctx.Err() != nil {
				break
			}
			// The next segment: after the last key listed, with the
			// counts so far; the first checked the epoch and bucket
			// records.
			rest := *sr.rest
			so.Resume, so.noHead, so.Spread = &rest, true, 0
			if o.Progress != nil {
				done, nbytes := rest.Objects, rest.Bytes
				so.Progress = func(p ScrubProgress) {
					o.Progress(ScrubProgress{Objects: done + p.Objects, TotalObjects: done + p.TotalObjects, Bytes: nbytes + p.Bytes})
				}
			}
		}
		if last {
			break
		}
		if round == 0 {
			found = [2]int{total.Objects, total.problems()}
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		n := total.problems()
		if unlisted > 0 && prev >= 0 && n < prev && round+1 >= maxRepairRounds+extra {
			// Problems left unlisted, and fewer than the round
			// before: one more round, which cannot go on forever.
			extra++
		}
		prev = n
		if rep.Actions() == before && (round != first || left == 0) {
			break
		}
	}
	return rep, ctx.Err()
}

// fix repairs the problems of one scrub and returns those it could not.
func (ns *Namespace) fix(ctx context.Context, o RepairOptions, sr *ScrubReport, rep *RepairReport) []Problem {
	byName := make(map[string]backends.Backend, len(o.Members))
	for _, m := range o.Members {
		byName[m.Name()] = m
	}
	var left []Problem
	var reach reachability
	uncataloged := make(map[string][]Problem)
	var order []string
	total, done := 0, 0
	for _, p := range sr.Problems {
		if p.Kind != ProblemUncataloged {
			total++
		}
	}
	tried := func() {
		done++
		if o.Fixed != nil {
			o.Fixed(done, total)
		}
	}
	// Records ahead of the catalog are taken over first: the problems of
	// the catalog's older record (a copy missing, say) then need no
	// repair, rather than have it sealed anew above the newer one.
	probs := slices.Clone(sr.Problems)
	slices.SortStableFunc(probs, func(a, b Problem) int {
		return cmp.Compare(aheadFirst(a), aheadFirst(b))
	})
	for _, p := range probs {
		if ctx.Err() != nil {
			left = append(left, p)
			if p.Kind != ProblemUncataloged {
				tried()
			}
			continue
		}
		if p.Kind != ProblemUncataloged && reach.down(p.Backend) {
			p.Err = fmt.Errorf("%v; repair %w", p.Err, errSkipped)
			left = append(left, p)
			tried()
			continue
		}
		var err error
		switch {
		case p.Kind == ProblemForeign:
			continue // not ours: reported, never touched
		case p.Kind == ProblemUncataloged:
			if _, ok := uncataloged[p.Name]; !ok {
				order = append(order, p.Name)
			}
			uncataloged[p.Name] = append(uncataloged[p.Name], p)
			continue
		case p.Name == metaPrefix || p.Name == blobPrefix:
			err = errors.New("the backend could not be listed")
		case p.Kind == ProblemSuperseded:
			var dropped bool
			dropped, err = ns.dropSuperseded(ctx, byName[p.Backend], p)
			if dropped {
				rep.Superseded++
			}
		case p.epoch:
			var wrote, adopted bool
			wrote, adopted, err = ns.fixEpoch(ctx, o.Members, byName[p.Backend], p)
			if wrote {
				rep.MetaRewritten++
			}
			if adopted {
				rep.Adopted++
			}
		case p.Kind == ProblemAhead && strings.HasPrefix(p.Name, metaPrefix) && p.Key != "":
			var adopted bool
			adopted, err = ns.adoptNewer(ctx, o.Members, p)
			if adopted {
				rep.Adopted++
			}
		case p.tomb && p.Kind == ProblemAhead:
			err = errors.New("a newer record of a deleted bucket's name; not overwritten ('twincrypt repair --adopt' brings the bucket back)")
		case p.tomb:
			var wrote bool
			wrote, err = ns.fixTombstone(ctx, byName[p.Backend], p)
			if wrote {
				rep.MetaRewritten++
			}
		case p.Backend == catalogSource:
			var fixed bool
			fixed, err = ns.fixCatalogEntry(ctx, o.Members, p, o.Adopt)
			if fixed {
				rep.CatalogFixed++
			}
		case p.part != nil:
			err = ns.fixBlob(ctx, o.Members, byName[p.Backend], p)
			if err == nil {
				rep.BlobsCopied++
			}
		case strings.HasPrefix(p.Name, metaPrefix) && p.Key == "":
			var wrote bool
			wrote, err = ns.fixBucketRecord(ctx, o.Members, byName[p.Backend], p)
			if wrote {
				rep.MetaRewritten++
			}
		case strings.HasPrefix(p.Name, metaPrefix):
			var wrote bool
			wrote, err = ns.fixMeta(ctx, o.Members, byName[p.Backend], p)
			if wrote {
				rep.MetaRewritten++
			}
		default:
			err = errors.New("no repair for this problem")
		}
		reach.note(p.Backend, err)
		if err != nil {
			p.Err = fmt.Errorf("%v; repair failed: %w", p.Err, err)
			left = append(left, p)
		}
		tried()
	}
	var owners map[string]uint64
	if len(order) > 0 {
		// The blobs of every copy of the records to judge: newestCopy
		// picks one of these copies.
		want := make(map[string]bool)
		for _, name := range order {
			_ = ns.eachCopy(ctx, byName, name, uncataloged[name], func(_ backends.Backend, r *record, _ []byte) error {
				for _, p := range r.Parts {
					want[p.Blob] = true
				}
				return nil
			})
		}
		var err error
		if owners, err = ns.blobOwners(ctx, ns.cat, want); err != nil {
			p := uncataloged[order[0]][0]
			p.Err = fmt.Errorf("cannot adopt: %w", err)
			return append(left, p)
		}
	}
	// Newest first: of the records of one key (names that differ in
	// their generation alone), on whichever backends, the newest is
	// judged first, and the older ones, once it is adopted, are
	// superseded in the next round.
	slices.SortStableFunc(order, newestFirst)
	for _, name := range order {
		ps := uncataloged[name]
		if o.Deleting != nil && o.Deleting(name) {
			continue
		}
		adopted, discarded, err := ns.adopt(ctx, o.Members, byName, name, ps, owners, o.Adopt)
		if adopted {
			rep.Adopted++
		}
		rep.Discarded += discarded
		if err != nil {
			p := ps[0]
			p.Err = err
			if !errors.Is(err, errNotAdopted) {
				p.Err = fmt.Errorf("cannot adopt: %w", err)
			}
			left = append(left, p)
		}
	}
	return left
}

// newestFirst orders meta record names by their hash, and the names of
// one hash by generation, newest first (a legacy name, of no generation,
// last).
func newestFirst(a, b string) int {
	ma, _ := parseMetaName(a)
	mb, _ := parseMetaName(b)
	if c := bytes.Compare(ma.hash[:], mb.hash[:]); c != 0 {
		return c
	}
	return cmp.Compare(mb.gen, ma.gen)
}

// aheadFirst orders the problems of a round: 0 for a record ahead of the
// catalog, 1 for any other.
func aheadFirst(p Problem) int {
	if p.Kind == ProblemAhead {
		return 0
	}
	return 1
}

// errNotAdopted is the repair failure of an uncataloged record that Repair
// was not told to adopt.
var errNotAdopted = errors.New("not adopted: 'twincrypt repair --adopt' brings it back")

// fixTombstone rewrites one backend's copy of a deleted name's record with
// the catalog's tombstone. It reports whether it wrote.
func (ns *Namespace) fixTombstone(ctx context.Context, dst backends.Backend, p Problem) (bool, error) {
	if p.VersionID != "" {
		return ns.fixVersionTombstone(ctx, dst, p)
	}
	if dst == nil {
		return false, fmt.Errorf("unknown backend %q", p.Backend)
	}
	unlock, lerr := ns.lock(ctx, p.Bucket, p.Key)
	if lerr != nil {
		return false, lerr
	}
	defer unlock()
	t, err := ns.cat.GetTombstone(ctx, p.Bucket, p.Key)
	if errors.Is(err, catalog.ErrNotFound) {
		return false, nil // written again meanwhile
	}
	if err != nil {
		return false, err
	}
	base, id := ns.names.meta(p.Bucket, p.Key)
	r, err := ns.openRecord(t.Record, id)
	if err == nil && (r.Kind != kindTombstone || r.Bucket != p.Bucket || r.Key != p.Key) {
		err = fmt.Errorf("%w: the catalog's tombstone holds a %s record of %q/%q", ErrCorruptRecord, r.Kind, r.Bucket, r.Key)
	}
	if err != nil {
		return false, fmt.Errorf("the catalog's tombstone: %w", err)
	}
	name := storedName(base, r)
	if name != p.Name {
		return false, nil // deleted again meanwhile: the next round checks the new tombstone
	}
	if err := dst.Put(ctx, name, bytes.NewReader(t.Record), int64(len(t.Record))); err != nil {
		return false, err
	}
	return true, nil
}

// adoptNewer takes over the newest authenticated record of p's name that
// any backend holds when it is newer than what the catalog holds (an entry
// or a tombstone): an object record when its blobs exist, a tombstone
// always. It reports whether the catalog changed.
func (ns *Namespace) adoptNewer(ctx context.Context, members []backends.Backend, p Problem) (bool, error) {
	var best *record
	var bestSealed []byte
	for _, m := range members {
		sealed, err := readAll(ctx, m, p.Name)
		if err != nil {
			continue
		}
		r, err := ns.openStoredRecord(p.Name, sealed)
		if err != nil || r.Bucket != p.Bucket || r.Key != p.Key || r.VersionID != p.VersionID {
			continue
		}
		if best == nil || r.Generation > best.Generation {
			best, bestSealed = r, sealed
		}
	}
	if best == nil {
		return false, errors.New("no copy authenticates")
	}
	if isVersionRecord(best) || ns.keyVersioned(ctx, best.Bucket, best.Key) {
		return ns.adoptVersion(ctx, members, best, bestSealed)
	}
	if best.Kind == kindObject {
		held, err := ns.blobsHeld(ctx, members, best)
		if err != nil {
			return false, err
		}
		if !held {
			return false, fmt.Errorf("the newer record's blobs are missing on every backend; left as is (generation %d)", best.Generation)
		}
		if err := ns.ensureBucket(ctx, best.Bucket, best.ModTime); err != nil {
			return false, err
		}
	}
	unlock, lerr := ns.lock(ctx, p.Bucket, p.Key)
	if lerr != nil {
		return false, lerr
	}
	defer unlock()
	var cur uint64
	if e, err := ns.cat.Get(ctx, p.Bucket, p.Key); err == nil {
		cur = e.Generation
	} else if g, err := ns.tombstoneGen(ctx, p.Bucket, p.Key); err == nil {
		cur = g
	}
	if best.Generation <= cur {
		return false, nil // the catalog caught up meanwhile
	}
	var err error
	switch best.Kind {
	case kindObject:
		_, err = ns.cat.Put(ctx, ns.entryOf(best, bestSealed))
	case kindTombstone:
		_, err = ns.cat.PutTombstone(ctx, tombstoneOf(best, bestSealed))
	default:
		return false, fmt.Errorf("%w: kind %q under an object's name", ErrCorruptRecord, best.Kind)
	}
	if errors.Is(err, catalog.ErrStale) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ns.log.Info("repair: took over a newer record", "bucket", p.Bucket, "key", p.Key, "kind", best.Kind, "generation", best.Generation)
	return true, nil
}

// fixMeta rewrites one backend's copy of an object's meta record, under the
// exact name of the catalog's record, with the record the catalog holds:
// its bytes, or, when the catalog holds the
// catalog form, the copy of another member that matches its digest. When
// no member holds that copy, the record is sealed anew under a new
// generation and written to every member and the catalog, as a rewrap
// does: a copy that only this backend held would not match the catalog.
// It reports whether it wrote.
func (ns *Namespace) fixMeta(ctx context.Context, members []backends.Backend, dst backends.Backend, p Problem) (bool, error) {
	if p.VersionID != "" {
		return ns.fixVersionMeta(ctx, members, dst, p)
	}
	if dst == nil {
		return false, fmt.Errorf("unknown backend %q", p.Backend)
	}
	unlock, lerr := ns.lock(ctx, p.Bucket, p.Key)
	if lerr != nil {
		return false, lerr
	}
	defer unlock()
	e, err := ns.cat.Get(ctx, p.Bucket, p.Key)
	if errors.Is(err, catalog.ErrNotFound) || errors.Is(err, catalog.ErrNoSuchBucket) {
		return false, nil // deleted meanwhile
	}
	if err != nil {
		return false, err
	}
	// Never spread a catalog record that does not open.
	base, id := ns.names.meta(p.Bucket, p.Key)
	r, err := ns.openRecord(e.Record, id)
	if err == nil {
		err = checkRecord(r, kindObject, p.Bucket, p.Key)
	}
	if err != nil {
		return false, fmt.Errorf("the catalog's record: %w", err)
	}
	name := storedName(base, r)
	if name != p.Name {
		return false, nil // written again meanwhile: the next round checks the new record
	}
	good := ns.providerCopy(ctx, members, dst, name, e.Record)
	if good == nil {
		if newer := ns.newerRecord(ctx, members, base, r); newer != "" {
			return false, fmt.Errorf("no backend holds the catalog's record, and %s is newer: left for repair to take over", newer)
		}
		if err := ns.reseal(ctx, base, id, r); err != nil && !errors.Is(err, catalog.ErrStale) {
			return false, err
		}
		return true, nil
	}
	if err := dst.Put(ctx, name, bytes.NewReader(good), int64(len(good))); err != nil {
		return false, err
	}
	return true, nil
}

// fixBucketRecord gives dst a bucket record: another backend's copy that
// authenticates, or a new one sealed from the catalog. It reports whether
// it wrote.
func (ns *Namespace) fixBucketRecord(ctx context.Context, members []backends.Backend, dst backends.Backend, p Problem) (bool, error) {
	if dst == nil {
		return false, fmt.Errorf("unknown backend %q", p.Backend)
	}
	unlock, lerr := ns.lock(ctx, p.Bucket, "")
	if lerr != nil {
		return false, lerr
	}
	defer unlock()
	b, err := ns.cat.GetBucket(ctx, p.Bucket)
	if errors.Is(err, catalog.ErrNoSuchBucket) {
		return false, nil // deleted meanwhile
	}
	if err != nil {
		return false, err
	}
	var good []byte
	for _, m := range members {
		if m == dst {
			continue
		}
		sealed, err := readAll(ctx, m, p.Name)
		if err != nil {
			continue
		}
		if r, err := ns.openStoredRecord(p.Name, sealed); err == nil && checkRecord(r, kindBucket, p.Bucket, "") == nil {
			good = sealed
			break
		}
	}
	if good == nil {
		_, id := ns.names.meta(p.Bucket, "")
		good, err = ns.sealRecord(&record{Kind: kindBucket, Bucket: p.Bucket, ModTime: b.Created, Generation: ns.nextGeneration(0), Owner: b.Owner}, id)
		if err != nil {
			return false, err
		}
	}
	if err := dst.Put(ctx, p.Name, bytes.NewReader(good), int64(len(good))); err != nil {
		return false, err
	}
	return true, nil
}

// fixCatalogEntry replaces a catalog entry whose record does not open with
// the newest copy a backend holds that authenticates, of a generation at
// least the entry's: an older record is one the entry replaced (a drop
// that failed), which would roll the object back. With adopt, the newest
// copy is taken whatever its generation (the entry's generation is not
// authenticated either). It reports whether it replaced the entry.
func (ns *Namespace) fixCatalogEntry(ctx context.Context, members []backends.Backend, p Problem, adopt bool) (bool, error) {
	unlock, lerr := ns.lock(ctx, p.Bucket, p.Key)
	if lerr != nil {
		return false, lerr
	}
	defer unlock()
	e, err := ns.cat.Get(ctx, p.Bucket, p.Key)
	if errors.Is(err, catalog.ErrNotFound) || errors.Is(err, catalog.ErrNoSuchBucket) {
		return false, nil // deleted meanwhile
	}
	if err != nil {
		return false, err
	}
	// The catalog's record names no generation: every record of the
	// key, under any generation's name, is a candidate.
	base, _ := ns.names.meta(p.Bucket, p.Key)
	best, found, lerr := ns.newestUnder(ctx, members, base, func(r *record) bool {
		return checkRecord(r, kindObject, p.Bucket, p.Key) == nil
	})
	if lerr != nil {
		ns.log.Warn("repair: list the records of a catalog entry", "err", lerr)
	}
	if !found {
		return false, errors.New("no backend holds a meta record that authenticates")
	}
	if best.r.Generation < e.Generation && !adopt {
		return false, fmt.Errorf("no provider holds a record at or above generation %d, the catalog's; the newest is %d; 'twincrypt repair --adopt' takes it", e.Generation, best.r.Generation)
	}
	if _, err := ns.cat.Delete(ctx, p.Bucket, p.Key, 0); err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return false, err
	}
	if _, err := ns.cat.Put(ctx, ns.entryOf(best.r, best.sealed)); err != nil {
		return false, err
	}
	return true, nil
}

// entryOf returns the catalog entry of an object record.
func (ns *Namespace) entryOf(r *record, sealed []byte) catalog.Entry {
	return catalog.Entry{Bucket: r.Bucket, Key: r.Key, Size: r.Size, ETag: r.ETag, ModTime: r.ModTime, Generation: r.Generation, Record: ns.catRecord(r, sealed)}
}

// fixBlob copies a blob to dst from the first other backend whose copy
// authenticates.
func (ns *Namespace) fixBlob(ctx context.Context, members []backends.Backend, dst backends.Backend, p Problem) error {
	if dst == nil {
		return fmt.Errorf("unknown backend %q", p.Backend)
	}
	op, err := ns.partOpener(p.part)
	if err != nil {
		return fmt.Errorf("the meta record's part header: %w", err)
	}
	var errs []error
	for _, src := range members {
		if src == dst {
			continue
		}
		if err := copyBlob(ctx, src, dst, p.part, op); err != nil {
			errs = append(errs, fmt.Errorf("from %s: %w", src.Name(), err))
			continue
		}
		if _, err := ns.checkBlob(ctx, dst, p.part, op, true); err != nil {
			errs = append(errs, fmt.Errorf("copy from %s does not read back: %w", src.Name(), err))
			continue
		}
		return nil
	}
	if len(errs) == 0 {
		return errors.New("no other backend to copy from")
	}
	return errors.Join(errs...)
}

// copyBlob streams a blob from src to dst, authenticating it on the way: a
// chunk that fails makes the stream fail, so dst keeps nothing of it.
func copyBlob(ctx context.Context, src, dst backends.Backend, p *partRecord, op *seal.Opener) error {
	name := blobPrefix + p.Blob
	rc, err := src.Get(ctx, name, 0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	pr, pw := io.Pipe()
	verified := make(chan error, 1)
	go func() {
		err := verifyBlob(io.TeeReader(rc, pw), p, op)
		pw.CloseWithError(err)
		verified <- err
	}()
	err = dst.Put(ctx, name, pr, seal.CiphertextSize(p.Size))
	pr.CloseWithError(errors.New("copy ended"))
	verr := <-verified
	if verr != nil {
		return verr
	}
	return err
}

// adopt brings a meta record the catalog lacks into the catalog, or deletes
// it when the object's blobs are gone from every backend or it is the old
// record of an interrupted rename (owners: see blobOwners). ps are the
// backends that hold it. Every change happens under the name's lock, after
// checking again that the catalog still lacks the name and the backends
// still hold the record, so that a concurrent delete is never undone.
func (ns *Namespace) adopt(ctx context.Context, members []backends.Backend, byName map[string]backends.Backend, name string, ps []Problem, owners map[string]uint64, bringBack bool) (adopted bool, discarded int, err error) {
	best, bestSealed := ns.newestCopy(ctx, byName, name, ps)
	if best == nil {
		return false, 0, errors.New("no copy authenticates")
	}
	if isVersionRecord(best) || ns.keyVersioned(ctx, best.Bucket, best.Key) {
		if !bringBack && best.Kind != kindTombstone {
			return false, 0, fmt.Errorf("%w: %s/%s?versionId=%s (%d bytes, modified %s)", errNotAdopted, best.Bucket, best.Key, best.VersionID, best.Size, best.ModTime.Format(time.RFC3339))
		}
		adopted, err := ns.adoptVersion(ctx, members, best, bestSealed)
		return adopted, 0, err
	}
	switch best.Kind {
	case kindTombstone:
		// A deletion the catalog does not know of: taking it over
		// removes nothing newer (PutTombstone refuses that).
		unlock, lerr := ns.lock(ctx, best.Bucket, best.Key)
		if lerr != nil {
			return false, 0, lerr
		}
		defer unlock()
		if best.Key == "" {
			if _, err := ns.cat.GetBucket(ctx, best.Bucket); err == nil {
				return false, 0, nil // the bucket exists; its record is checked as such
			}
		}
		_, err := ns.cat.PutTombstone(ctx, tombstoneOf(best, bestSealed))
		if errors.Is(err, catalog.ErrStale) {
			return false, 0, nil
		}
		return err == nil, 0, err
	case kindBucket:
		if !bringBack {
			return false, 0, fmt.Errorf("%w: bucket %s", errNotAdopted, best.Bucket)
		}
		unlock, lerr := ns.lock(ctx, best.Bucket, "")
		if lerr != nil {
			return false, 0, lerr
		}
		defer unlock()
		if _, err := ns.cat.GetBucket(ctx, best.Bucket); err == nil {
			return false, 0, nil
		}
		if r, _ := ns.newestCopy(ctx, byName, name, ps); r == nil {
			return false, 0, nil // deleted meanwhile
		}
		if err := ns.cat.CreateBucket(ctx, catalog.Bucket{Name: best.Bucket, Created: best.ModTime, Owner: best.Owner}); err != nil && !errors.Is(err, catalog.ErrBucketExists) {
			return false, 0, err
		}
		return true, 0, nil
	case kindObject:
	default:
		return false, 0, fmt.Errorf("%w: kind %q", ErrCorruptRecord, best.Kind)
	}
	held, err := ns.blobsHeld(ctx, members, best)
	if err != nil {
		return false, 0, err
	}
	if !held || renameLeftover(best, owners) {
		// Debris: a record whose blobs are gone everywhere, or whose
		// blobs a newer object owns after a rename.
		unlock, lerr := ns.lock(ctx, best.Bucket, best.Key)
		if lerr != nil {
			return false, 0, lerr
		}
		defer unlock()
		if _, err := ns.cat.Get(ctx, best.Bucket, best.Key); err == nil {
			return false, 0, nil
		}
		err := ns.eachCopy(ctx, byName, name, ps, func(m backends.Backend, r *record, _ []byte) error {
			if r.Generation != best.Generation {
				return nil // replaced meanwhile
			}
			if err := m.Delete(ctx, name); err != nil {
				return err
			}
			discarded++
			return nil
		})
		return false, discarded, err
	}
	if !bringBack {
		return false, 0, fmt.Errorf("%w: %s/%s (%d bytes, modified %s)", errNotAdopted, best.Bucket, best.Key, best.Size, best.ModTime.Format(time.RFC3339))
	}
	// The bucket's lock may share a stripe with the key's: take it first,
	// never while holding the key's.
	if err := ns.ensureBucket(ctx, best.Bucket, best.ModTime); err != nil {
		return false, 0, err
	}
	unlock, lerr := ns.lock(ctx, best.Bucket, best.Key)
	if lerr != nil {
		return false, 0, lerr
	}
	defer unlock()
	if _, err := ns.cat.Get(ctx, best.Bucket, best.Key); err == nil {
		return false, 0, nil // written meanwhile
	}
	now, sealed := ns.newestCopy(ctx, byName, name, ps)
	if now == nil {
		return false, 0, nil // deleted meanwhile
	}
	if _, err := ns.cat.Put(ctx, ns.entryOf(now, sealed)); err != nil {
		return false, 0, err
	}
	return true, 0, nil
}

// newestCopy reads the meta record name from the backends of ps and
// returns the newest copy that authenticates, or nil.
func (ns *Namespace) newestCopy(ctx context.Context, byName map[string]backends.Backend, name string, ps []Problem) (*record, []byte) {
	var best *record
	var bestSealed []byte
	ns.eachCopy(ctx, byName, name, ps, func(_ backends.Backend, r *record, sealed []byte) error {
		if best == nil || r.Generation > best.Generation {
			best, bestSealed = r, sealed
		}
		return nil
	})
	return best, bestSealed
}

// eachCopy calls fn with every copy of the meta record name, on the
// backends of ps, that can be read and authenticates; copies that cannot
// are skipped. It stops at fn's first error and returns it.
func (ns *Namespace) eachCopy(ctx context.Context, byName map[string]backends.Backend, name string, ps []Problem, fn func(m backends.Backend, r *record, sealed []byte) error) error {
	for _, p := range ps {
		m := byName[p.Backend]
		if m == nil {
			continue
		}
		sealed, err := readAll(ctx, m, name)
		if err != nil {
			continue
		}
		r, err := ns.openStoredRecord(name, sealed)
		if err != nil {
			continue
		}
		if err := fn(m, r, sealed); err != nil {
			return err
		}
	}
	return nil
}

// blobsHeld reports whether every blob of r exists, with its size, on at
// least one backend.
func (ns *Namespace) blobsHeld(ctx context.Context, members []backends.Backend, r *record) (bool, error) {
	for i := range r.Parts {
		part := &r.Parts[i]
		if part.inline() {
			continue // in the record itself
		}
		held := false
		for _, m := range members {
			info, err := m.Stat(ctx, blobPrefix+part.Blob)
			if err == nil && info.Size == seal.CiphertextSize(part.Size) {
				held = true
				break
			}
			if err != nil && !errors.Is(err, backends.ErrNotFound) {
				return false, fmt.Errorf("stat blob on %s: %w", m.Name(), err)
			}
		}
		if !held {
			return false, nil
		}
	}
	return true, nil
}

// ensureBucket creates bucket in the catalog, with a record on the store,
// unless it exists.
func (ns *Namespace) ensureBucket(ctx context.Context, bucket string, created time.Time) error {
	unlock, lerr := ns.lock(ctx, bucket, "")
	if lerr != nil {
		return lerr
	}
	defer unlock()
	if _, err := ns.cat.GetBucket(ctx, bucket); err == nil {
		return nil
	} else if !errors.Is(err, catalog.ErrNoSuchBucket) {
		return err
	}
	metaName, id := ns.names.meta(bucket, "")
	sealed, err := ns.sealRecord(&record{Kind: kindBucket, Bucket: bucket, ModTime: created, Generation: ns.nextGeneration(0)}, id)
	if err != nil {
		return err
	}
	if err := ns.putBytes(ctx, metaName, sealed); err != nil {
		return err
	}
	if err := ns.cat.CreateBucket(ctx, catalog.Bucket{Name: bucket, Created: created}); err != nil && !errors.Is(err, catalog.ErrBucketExists) {
		return err
	}
	return nil
}
