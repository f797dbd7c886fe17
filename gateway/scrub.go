package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/seal"
	"github.com/twincrypt/twincrypt/internal/spill"
)

// ProblemKind classifies what a scrub found wrong with one stored object
// (a blob or a meta record) on one backend.
type ProblemKind string

// Problem kinds reported by Scrub.
const (
	// ProblemMissing: the backend does not hold the object.
	ProblemMissing ProblemKind = "missing"
	// ProblemCorrupt: the backend's copy has the wrong size, does not
	// authenticate, or is bound to another name.
	ProblemCorrupt ProblemKind = "corrupt"
	// ProblemStale: the backend serves a meta record of an older
	// generation than the catalog's (a rollback), a record of a deleted
	// name at or below its deletion (a resurrection), or different bytes
	// of the same generation.
	ProblemStale ProblemKind = "stale"
	// ProblemAhead: the backend serves a meta record (or tombstone) of a
	// newer generation than the catalog's: a write that stopped between
	// its meta record and its catalog update, or a catalog rebuilt from a
	// provider that was behind. Repair adopts the newer record.
	ProblemAhead ProblemKind = "ahead"
	// ProblemSuperseded: the backend holds a record of a key or version
	// that the catalog's record or tombstone replaced: an older
	// generation (or a legacy record without a generation in its name)
	// left behind by a write whose delete of it failed. It is garbage,
	// never served nor adopted: Repair deletes it.
	ProblemSuperseded ProblemKind = "superseded"
	// ProblemUncataloged: the backend holds a meta record the catalog
	// neither lists nor remembers deleting. Repair adopts it only when
	// told to (RepairOptions.Adopt), since it brings back an object the
	// gateway does not know of; uncataloged tombstones it adopts always.
	ProblemUncataloged ProblemKind = "uncataloged"
	// ProblemUnavailable: the backend could not be asked.
	ProblemUnavailable ProblemKind = "unavailable"
	// ProblemForeign: a file under the meta-record prefix that is not a
	// record of this gateway (it does not authenticate, or is too large
	// to be one). It is reported, never touched, and counted apart: it
	// cannot be an object, so it needs no repair.
	ProblemForeign ProblemKind = "foreign"
)

// Problem is one finding of a scrub.
type Problem struct {
	Backend string      // backend name
	Kind    ProblemKind //
	// Name is the backend object name: "b/<id>", or the meta record's
	// name as stored ("m/<hash>", followed by the generation for a record
	// of a key; see RecordName).
	Name   string
	Bucket string // the bucket concerned, when known
	Key    string // the object key concerned, when known (empty for bucket records)
	// VersionID is the version concerned, for the records of versions
	// in buckets with versioning (and their tombstones).
	VersionID string
	Err       error       // details
	part      *partRecord // for blob problems: the part the blob holds
	tomb      bool        // the name is deleted: the catalog holds its tombstone
	epoch     bool        // the namespace epoch record
}

// String describes the problem on one line: backend, kind, name, the
// object concerned and the details.
func (p Problem) String() string {
	what := p.Name
	if p.Bucket != "" {
		what = fmt.Sprintf("%s (%s/%s)", p.Name, p.Bucket, p.Key)
	}
	if p.VersionID != "" {
		what = fmt.Sprintf("%s (%s/%s?versionId=%s)", p.Name, p.Bucket, p.Key, p.VersionID)
	}
	if p.Err != nil {
		return fmt.Sprintf("%s: %s %s: %v", p.Backend, p.Kind, what, p.Err)
	}
	return fmt.Sprintf("%s: %s %s", p.Backend, p.Kind, what)
}

// BackendCounts counts the problems a scrub found on one backend.
type BackendCounts struct {
	Name                                                     string
	Missing, Corrupt, Stale, Ahead, Uncataloged, Unavailable int
	// Superseded counts records the catalog replaced that the backend
	// still holds.
	Superseded int
	// Foreign counts files that are not records of this gateway; they
	// are not problems (Total leaves them out).
	Foreign int
}

// Total returns the number of problems.
func (c BackendCounts) Total() int {
	return c.Missing + c.Corrupt + c.Stale + c.Ahead + c.Uncataloged + c.Unavailable + c.Superseded
}

// ScrubOptions configure Scrub.
type ScrubOptions struct {
	// Members are the backends to check, one by one; normally the
	// members of the replicated set.
	Members []backends.Backend
	// Deep reads and authenticates every chunk of every blob on every
	// backend; otherwise blobs are only checked for presence and size.
	Deep bool
	// Workers is how many objects are checked at once; <= 0 means 4.
	Workers int
	// Progress, when set, is called after every object (never
	// concurrently).
	Progress func(ScrubProgress)
	// Only, when not empty, names the members to check; the others are
	// left unchecked (Repair still copies from them). Every name must be
	// one of Members.
	Only []string
	// Spread, when > 0, paces the objects evenly over this duration
	// (the catalog is counted first): a scrub in the background asks the
	// providers for a steady trickle rather than all it needs at once.
	// The checks of the buckets, the deletions and the listings for
	// uncataloged records are not paced.
	Spread time.Duration
	// Resume, when set, continues an interrupted scrub: the keys before
	// Resume.After are not checked again, except those that had problems
	// (Resume.Recheck), and the report adds Resume's counts. The epoch
	// and bucket records and the listings for uncataloged records are
	// always checked in full.
	Resume *ScrubResume
	// Checkpoint, when set, is called (never concurrently) each time the
	// checks of one more key are done, and all those before it: passed as
	// Resume to a later scrub, its argument continues from there. Work in
	// flight on other keys is not covered.
	Checkpoint func(ScrubResume)
	// MaxProblems bounds how many problems the report lists (see
	// ScrubReport.Problems); <= 0 means DefaultMaxProblems. Every problem
	// is counted all the same.
	MaxProblems int

	// segment makes a scrub for Repair stop once its list is full: the
	// report then covers the keys up to the last one listed in full, and
	// says where the next segment of the pass resumes (ScrubReport.rest).
	// A segment after the first (noHead) leaves out the checks of the
	// epoch and bucket records, which the first made.
	segment, noHead bool
}

// DefaultMaxProblems is how many problems a scrub report lists unless
// ScrubOptions.MaxProblems says otherwise: a few MB, whatever the number of
// problems a pass finds.
const DefaultMaxProblems = 10000

// ScrubResume is how far an interrupted scrub came (see
// ScrubOptions.Resume): everything up to After is checked.
type ScrubResume struct {
	After WalkPosition `json:"after"`
	// Objects, Tombstones, Blobs and Bytes count the checks of the keys
	// up to After that found nothing wrong.
	Objects    int   `json:"objects"`
	Tombstones int   `json:"tombstones"`
	Blobs      int   `json:"blobs"`
	Bytes      int64 `json:"bytes"`
	// Recheck lists the keys up to After whose checks found problems:
	// they are checked again, so that the report of the resumed scrub
	// lists their problems as they are then (and Repair can fix them).
	Recheck []WalkPosition `json:"recheck,omitempty"`
	// Total is the number of objects and versions of the whole pass, when
	// the pass counted them (for its progress): a resumed pass, and the
	// next segment of a repair, take it instead of walking the catalog
	// again to count.
	Total int `json:"total,omitempty"`
}

// maxRecheck bounds ScrubResume.Recheck: past this many keys with problems
// a scrub stops moving its checkpoint on (a resumed scrub starts from the
// last one), rather than make every checkpoint larger.
const maxRecheck = 100000

// ScrubProgress reports how far a scrub has come.
type ScrubProgress struct {
	Objects, TotalObjects int   // objects checked so far, and in all
	Bytes                 int64 // ciphertext bytes checked so far
}

// ScrubReport is the result of a scrub.
type ScrubReport struct {
	Buckets int // buckets checked
	Objects int // objects checked
	// Tombstones counts the deletions checked.
	Tombstones int
	Blobs      int   // blob copies checked (one per part and backend)
	Bytes      int64 // ciphertext bytes checked: sizes stat'ed, or bytes read when deep
	// Catalog counts catalog entries whose own record does not open.
	Catalog int
	// Backends counts problems per backend, in member order.
	Backends []BackendCounts
	// Problems lists the findings, meta records first for each object, up
	// to ScrubOptions.MaxProblems of them; ProblemsOmitted counts those
	// past it, which are counted above but not listed.
	Problems        []Problem
	ProblemsOmitted int

	max int // the most Problems lists
	// rest, for a segment that stopped with its list full, is where the
	// next segment resumes.
	rest *ScrubResume
}

// Clean reports whether the scrub found nothing wrong.
func (r *ScrubReport) Clean() bool {
	if r.Catalog > 0 {
		return false
	}
	for _, c := range r.Backends {
		if c.Total() > 0 {
			return false
		}
	}
	return true
}

func (r *ScrubReport) add(p Problem) {
	r.list(p)
	if p.Backend == catalogSource {
		r.Catalog++
	}
	for i := range r.Backends {
		if r.Backends[i].Name != p.Backend {
			continue
		}
		c := &r.Backends[i]
		switch p.Kind {
		case ProblemMissing:
			c.Missing++
		case ProblemCorrupt:
			c.Corrupt++
		case ProblemStale:
			c.Stale++
		case ProblemAhead:
			c.Ahead++
		case ProblemUncataloged:
			c.Uncataloged++
		case ProblemSuperseded:
			c.Superseded++
		case ProblemUnavailable:
			c.Unavailable++
		case ProblemForeign:
			c.Foreign++
		}
	}
}

// list adds p to Problems, or counts it in ProblemsOmitted when Problems
// holds the most it may.
func (r *ScrubReport) list(p Problem) {
	if len(r.Problems) >= r.max {
		r.ProblemsOmitted++
		return
	}
	r.Problems = append(r.Problems, p)
}

// downAfter is how many availability failures in a row make a scrub or
// repair pass stop asking a backend: the rest of its checks are reported as
// unavailable without waiting for timeouts, and the next pass asks again.
const downAfter = 5

// errSkipped marks checks not made because their backend kept failing.
var errSkipped = fmt.Errorf("skipped after %d failures in a row: %w", downAfter, backends.ErrUnavailable)

// reachability counts availability failures in a row per backend.
type reachability struct {
	mu    sync.Mutex
	fails map[string]int
}

// down reports whether backend name failed downAfter times in a row.
func (r *reachability) down(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fails[name] >= downAfter
}

// note records the outcome of one request to backend name.
func (r *reachability) note(name string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fails == nil {
		r.fails = make(map[string]int)
	}
	if err != nil && classify(err) == ProblemUnavailable {
		r.fails[name]++
	} else {
		r.fails[name] = 0
	}
}

// unavailable returns the problem's error when the backend could not be
// read (what counts towards skipping it), nil for any other finding: a
// stale, ahead or corrupt copy is an answer.
func (p Problem) unavailable() error {
	if p.Kind == ProblemUnavailable {
		return p.Err
	}
	return nil
}

// catalogSource is the Backend of problems found in the catalog itself;
// config.ReservedBackendName keeps it from naming a backend.
const catalogSource = "catalog"

// maxRecordSize bounds how much of a meta record is read.
const maxRecordSize = 64 << 20

// readAll reads a whole small object from one backend.
func readAll(ctx context.Context, b backends.Backend, name string) ([]byte, error) {
	rc, err := b.Get(ctx, name, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxRecordSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxRecordSize {
		return nil, fmt.Errorf("%w: meta record %s larger than %d bytes", ErrCorruptRecord, name, maxRecordSize)
	}
	return data, nil
}

// classify turns a backend error into a problem kind.
func classify(err error) ProblemKind {
	switch {
	case errors.Is(err, backends.ErrNotFound):
		return ProblemMissing
	case errors.Is(err, seal.ErrIntegrity), errors.Is(err, ErrCorruptRecord), errors.Is(err, backends.ErrPrecondition):
		return ProblemCorrupt
	}
	return ProblemUnavailable
}

// metaHashOf parses the hash of a meta record name (parseMetaName).
func metaHashOf(name string) ([32]byte, bool) {
	m, ok := parseMetaName(name)
	return m.hash, ok
}

// openStoredRecord authenticates a meta record read from backend name and
// checks that it is bound to that name.
func (ns *Namespace) openStoredRecord(name string, sealed []byte) (*record, error) {
	h, ok := metaHashOf(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a meta record name", ErrCorruptRecord, name)
	}
	var id seal.ObjectID
	copy(id[:], h[:])
	r, err := ns.openSealed(sealed, id)
	if err != nil {
		return nil, err
	}
	kindOK := false
	switch r.Kind {
	case kindBucket:
		kindOK = r.Key == "" && r.VersionID == ""
	case kindObject:
		kindOK = r.Key != ""
	case kindDeleteMarker:
		kindOK = r.Key != "" && r.VersionID != ""
	case kindTombstone:
		kindOK = r.Key != "" || r.VersionID == ""
	}
	if base, _ := ns.names.version(r.Bucket, r.Key, r.VersionID); storedName(base, r) != name || !kindOK {
		return nil, fmt.Errorf("%w: %s holds a %s record of %q/%q", ErrCorruptRecord, name, r.Kind, r.Bucket, r.Key)
	}
	return r, nil
}

// Scrub checks that every backend holds every bucket record, every object's
// meta record under the name the catalog's record is stored under (byte for
// byte the catalog's, else it reports the difference in generation) and
// every blob (present with its expected size; with Deep, every chunk
// authenticates against the object's header). It then lists the meta
// records on each backend to find ones the catalog does not name: records
// it replaced (superseded), records newer than its own (ahead), and
// records of names it holds nothing of (uncataloged).
//
// Scrub reads only. The error reports a failure to read the catalog;
// problems with the data, and backends that cannot be read or listed
// (ProblemUnavailable), go in the report.
func (ns *Namespace) Scrub(ctx context.Context, o ScrubOptions) (*ScrubReport, error) {
	s := &scrubber{ns: ns, o: o, rep: &ScrubReport{max: o.MaxProblems}, known: newMetaSet(), pending: make(map[int]itemResult)}
	if s.rep.max <= 0 {
		s.rep.max = DefaultMaxProblems
	}
	defer s.known.Close()
	if len(o.Members) == 0 {
		return nil, errors.New("scrub: no backends")
	}
	if r := o.Resume; r != nil {
		if !r.After.Valid() {
			return nil, fmt.Errorf("scrub: resume position %q is not a walk phase", r.After.Phase)
		}
		s.ck = ScrubResume{After: r.After, Objects: r.Objects, Tombstones: r.Tombstones, Blobs: r.Blobs, Bytes: r.Bytes, Total: r.Total,
			Recheck: slices.Clone(r.Recheck)}
		s.recheck = make(map[WalkPosition]bool, len(r.Recheck))
		for _, k := range r.Recheck {
			s.recheck[k] = true
		}
		s.rep.Objects, s.rep.Tombstones, s.rep.Blobs, s.rep.Bytes = r.Objects, r.Tombstones, r.Blobs, r.Bytes
	}
	s.listed = keyTally{objects: s.rep.Objects, tombstones: s.rep.Tombstones, blobs: s.rep.Blobs, bytes: s.rep.Bytes}
	checked, err := selectMembers(o.Members, o.Only)
	if err != nil {
		return nil, err
	}
	s.checked = checked
	for _, m := range checked {
		s.rep.Backends = append(s.rep.Backends, BackendCounts{Name: m.Name()})
	}
	if err := s.checkEpochs(ctx); err != nil {
		return s.rep, err
	}
	if err := s.buckets(ctx); err != nil {
		return s.rep, err
	}
	if err := s.objects(ctx); err != nil {
		return s.rep, err
	}
	if err := s.tombstones(ctx); err != nil {
		return s.rep, err
	}
	s.mu.Lock()
	s.closeKey()
	if s.full {
		s.stop()
		s.mu.Unlock()
		return s.rep, ctx.Err()
	}
	s.advance(WalkPosition{Phase: PhaseEnd})
	s.mu.Unlock()
	if err := s.uncataloged(ctx); err != nil {
		return s.rep, err
	}
	// A pass cut short reports what it checked, with the error: its
	// last checks may have failed for the cancellation alone.
	return s.rep, ctx.Err()
}

// selectMembers returns the members named in only, in member order; all
// of them when only is empty.
func selectMembers(members []backends.Backend, only []string) ([]backends.Backend, error) {
	if len(only) == 0 {
		return members, nil
	}
	var out []backends.Backend
	for _, m := range members {
		if slices.Contains(only, m.Name()) {
			out = append(out, m)
		}
	}
	if len(out) != len(only) {
		return nil, fmt.Errorf("scrub: %q names backends that are not members, or one twice", only)
	}
	return out, nil
}

type scrubber struct {
	ns      *Namespace
	o       ScrubOptions
	checked []backends.Backend // the members checked: o.Members, or those o.Only names
	mu      sync.Mutex         // guards rep, known, done
	rep     *ScrubReport
	// known holds the meta record names the catalog accounts for (the
	// exact names of the records it holds), in bounded memory (see
	// sets.go); knownErr is the first error adding to it.
	known    *spill.Set
	knownErr error
	done     ScrubProgress
	reach    reachability

	// The checks of the walks are entered into rep in walk order, so
	// that a checkpoint covers a prefix of the walks: next is the
	// sequence number of the next item to enter, pending the results of
	// items done out of order.
	next    int
	pending map[int]itemResult
	// cur accumulates the key being entered; ck is the checkpoint up to
	// the last key entered in full; recheck holds Resume.Recheck.
	cur     keyTally
	ck      ScrubResume
	recheck map[WalkPosition]bool
	stalled bool // Recheck is full: the checkpoint no longer moves
	// full: a segment's list is full, and the keys entered since are
	// left to the next segment; listed holds the position and the
	// report's counts after the last key listed, nlisted how many keys
	// were listed.
	full    bool
	listed  keyTally
	nlisted int
}

// errFull stops the walks of a segment whose list is full.
var errFull = errors.New("scrub: the list of problems is full")

// itemResult is what the checks of one walk item found.
type itemResult struct {
	pos        WalkPosition
	names      []string // the meta record names the item accounts for
	objects    int      // 1 for an object or version
	tombstones int      // 1 for a deletion
	blobs      int
	bytes      int64
	found      []Problem
}

// keyTally sums the results of the items of one key.
type keyTally struct {
	set                        bool
	pos                        WalkPosition
	objects, tombstones, blobs int
	bytes                      int64
	problems                   bool
	found                      []Problem // the key's problems, listed when it closes
}

// skip reports whether the item at pos was checked by the scrub this one
// resumes: it is only noted as known.
func (s *scrubber) skip(pos WalkPosition) bool {
	return s.o.Resume != nil && s.o.Resume.After.done(pos) && !s.recheck[WalkPosition{Phase: pos.Phase, Bucket: pos.Bucket, Key: pos.Key}]
}

// enter adds the result of walk item seq to the report once every item
// before it is entered. The caller holds mu.
func (s *scrubber) enter(seq int, r itemResult) {
	s.pending[seq] = r
	for {
		r, ok := s.pending[s.next]
		if !ok {
			return
		}
		delete(s.pending, s.next)
		s.next++
		s.apply(r)
	}
}

// apply adds one item's result to the report, in walk order. The caller
// holds mu.
func (s *scrubber) apply(r itemResult) {
	if s.cur.set && !s.cur.pos.sameKey(r.pos) {
		s.closeKey()
	}
	s.cur.set, s.cur.pos = true, r.pos
	s.cur.objects += r.objects
	s.cur.tombstones += r.tombstones
	s.cur.blobs += r.blobs
	s.cur.bytes += r.bytes
	s.cur.problems = s.cur.problems || len(r.found) > 0
	s.cur.found = append(s.cur.found, r.found...)
	for _, n := range r.names {
		s.knowName(n)
	}
	s.rep.Objects += r.objects
	s.rep.Tombstones += r.tombstones
	s.rep.Blobs += r.blobs
	s.rep.Bytes += r.bytes
	if r.objects > 0 {
		s.done.Objects++
		s.done.Bytes += r.bytes
		if s.o.Progress != nil {
			s.o.Progress(s.done)
		}
	}
}

// closeKey moves the checkpoint past the key being entered, whose items
// are all entered. The caller holds mu.
func (s *scrubber) closeKey() {
	t := s.cur
	s.cur = keyTally{}
	if !t.set || !s.listKey(t) || s.stalled {
		return
	}
	if s.ck.After.done(t.pos) {
		return // a key rechecked: it stays in Recheck
	}
	if t.problems {
		if len(s.ck.Recheck) >= maxRecheck {
			s.stalled = true
			return
		}
		s.ck.Recheck = append(s.ck.Recheck, t.pos)
	} else {
		s.ck.Objects += t.objects
		s.ck.Tombstones += t.tombstones
		s.ck.Blobs += t.blobs
		s.ck.Bytes += t.bytes
	}
	s.advance(t.pos)
}

// listKey adds the problems of a key whose items are all entered to the
// report, and reports whether it did. A segment whose list cannot take
// them all (unless it is the first key listed, which leaves the rest
// unlisted) is full: the key and those after it are left to the next
// segment. The caller holds mu.
func (s *scrubber) listKey(t keyTally) bool {
	if s.full {
		return false
	}
	if s.o.segment && s.nlisted > 0 && len(t.found) > 0 && len(s.rep.Problems)+len(t.found) > s.rep.max {
		s.full, s.stalled = true, true
		return false
	}
	for _, p := range t.found {
		s.rep.add(p)
	}
	s.nlisted++
	s.listed = keyTally{pos: t.pos, objects: s.rep.Objects, tombstones: s.rep.Tombstones, blobs: s.rep.Blobs, bytes: s.rep.Bytes}
	return true
}

// stop ends a segment whose list is full: the report's counts go back to
// those after the last key listed, and rest says where the next segment
// resumes: after that key or the resumed position, whichever is later,
// with the keys to check again that it did not reach. The caller holds mu.
func (s *scrubber) stop() {
	l := s.listed
	s.rep.Objects, s.rep.Tombstones, s.rep.Blobs, s.rep.Bytes = l.objects, l.tombstones, l.blobs, l.bytes
	rest := &ScrubResume{After: l.pos, Objects: l.objects, Tombstones: l.tombstones, Blobs: l.blobs, Bytes: l.bytes, Total: s.ck.Total}
	if r := s.o.Resume; r != nil {
		if l.pos.compare(r.After) < 0 {
			rest.After = r.After
		}
		for _, k := range r.Recheck {
			if !l.pos.done(k) {
				rest.Recheck = append(rest.Recheck, k)
			}
		}
	}
	s.rep.rest = rest
}

// advance moves the checkpoint to pos and reports it. The caller holds mu.
func (s *scrubber) advance(pos WalkPosition) {
	if s.stalled || s.ck.After.done(pos) {
		return
	}
	s.ck.After = pos
	if s.o.Checkpoint != nil {
		ck := s.ck
		ck.Recheck = ck.Recheck[:len(ck.Recheck):len(ck.Recheck)]
		s.o.Checkpoint(ck)
	}
}

// know adds the meta record name of hash h without a generation (a bucket
// record, the epoch) to known. The caller holds mu, or no worker runs.
func (s *scrubber) know(h [32]byte) {
	if err := s.known.Add(metaName{hash: h}.key()); err != nil && s.knownErr == nil {
		s.knownErr = err
	}
}

// knowName adds a meta record name to known. The caller holds mu, or no
// worker runs.
func (s *scrubber) knowName(name string) {
	if err := addMeta(s.known, name); err != nil && s.knownErr == nil {
		s.knownErr = err
	}
}

func (s *scrubber) buckets(ctx context.Context) error {
	bs, err := s.ns.cat.ListBuckets(ctx)
	if err != nil {
		return fmt.Errorf("scrub: list buckets: %w", err)
	}
	for _, b := range bs {
		s.rep.Buckets++
		name, _ := s.ns.names.meta(b.Name, "")
		h, _ := metaHashOf(name)
		s.know(h)
		if s.o.noHead {
			continue
		}
		for _, m := range s.checked {
			p := Problem{Backend: m.Name(), Name: name, Bucket: b.Name}
			sealed, err := readAll(ctx, m, name)
			if err == nil {
				var r *record
				if r, err = s.ns.openStoredRecord(name, sealed); err == nil {
					err = checkRecord(r, kindBucket, b.Name, "")
				}
			}
			if err != nil {
				p.Kind, p.Err = classify(err), err
				s.rep.add(p)
			}
		}
	}
	return nil
}

// scrubItem is one record to check: an unversioned object or one version
// of a key in a bucket with versioning.
type scrubItem struct {
	e      catalog.Entry
	marker bool // a delete marker
	seq    int  // its place in the walk order
}

func (s *scrubber) objects(ctx context.Context) error {
	total := 0
	switch {
	case s.o.Progress == nil && s.o.Spread <= 0:
	case s.ck.Total > 0:
		// Counted by the pass this one resumes: what it has not checked.
		total = max(s.ck.Total-s.ck.Objects, 0)
	default:
		if err := s.ns.cat.Walk(ctx, func(e catalog.Entry) error {
			if e.VersionID == "" && !s.skip(WalkPosition{Phase: PhaseObjects, Bucket: e.Bucket, Key: e.Key}) {
				total++
			}
			return nil
		}); err != nil {
			return fmt.Errorf("scrub: walk catalog: %w", err)
		}
		if err := s.ns.cat.WalkVersions(ctx, func(v catalog.Version) error {
			if !s.skip(WalkPosition{Phase: PhaseVersions, Bucket: v.Bucket, Key: v.Key}) {
				total++
			}
			return nil
		}); err != nil {
			return fmt.Errorf("scrub: walk versions: %w", err)
		}
		s.mu.Lock()
		s.ck.Total = total + s.ck.Objects
		s.mu.Unlock()
	}
	s.done.TotalObjects = total
	workers := s.o.Workers
	if workers <= 0 {
		workers = 4
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	items := make(chan scrubItem)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for it := range items {
				r := s.object(ctx, it.e, it.marker)
				if ctx.Err() != nil {
					continue // its checks may have been cut short
				}
				s.mu.Lock()
				s.enter(it.seq, r)
				s.mu.Unlock()
			}
		})
	}
	pace := newPacer(total, s.o.Spread)
	seq := 0
	send := func(it scrubItem) error {
		if s.isFull() {
			return errFull
		}
		phase := PhaseObjects
		if it.e.VersionID != "" {
			phase = PhaseVersions
		}
		if s.skip(WalkPosition{Phase: phase, Bucket: it.e.Bucket, Key: it.e.Key}) {
			_, _, known, _ := s.ns.catalogNames(it.e.Bucket, it.e.Key, it.e.VersionID, it.e.Generation, it.e.Record)
			s.mu.Lock()
			for _, n := range known {
				s.knowName(n)
			}
			s.mu.Unlock()
			return nil
		}
		it.seq = seq
		seq++
		if err := pace.wait(ctx); err != nil {
			return err
		}
		select {
		case items <- it:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// The current version of a key with versions is checked with the
	// key's other versions.
	err := s.ns.cat.Walk(ctx, func(e catalog.Entry) error {
		if e.VersionID != "" {
			return nil
		}
		return send(scrubItem{e: e})
	})
	if err == nil {
		err = s.ns.cat.WalkVersions(ctx, func(v catalog.Version) error {
			return send(scrubItem{e: catalog.Entry{Bucket: v.Bucket, Key: v.Key, VersionID: v.VersionID, Size: v.Size, ETag: v.ETag,
				ModTime: v.ModTime, Generation: v.Generation, Record: v.Record}, marker: v.DeleteMarker})
		})
	}
	close(items)
	wg.Wait()
	if err != nil && !errors.Is(err, errFull) {
		return fmt.Errorf("scrub: walk catalog: %w", err)
	}
	return nil
}

// isFull reports whether a segment's list is full.
func (s *scrubber) isFull() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.full
}

// pacer spaces n events evenly over a duration.
type pacer struct {
	step time.Duration // 0: no pacing
	next time.Time
}

func newPacer(n int, over time.Duration) *pacer {
	if n <= 0 || over <= 0 {
		return &pacer{}
	}
	return &pacer{step: over / time.Duration(n)}
}

// wait returns when the next event is due, or ctx's error.
func (p *pacer) wait(ctx context.Context) error {
	if p.step == 0 {
		return nil
	}
	now := time.Now()
	if p.next.IsZero() || p.next.Before(now) {
		p.next = now // no credit is saved up while a check is slow
	}
	if d := p.next.Sub(now); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	p.next = p.next.Add(p.step)
	return nil
}

// object checks one catalog entry, or one version (marker: a delete
// marker), on every backend.
func (s *scrubber) object(ctx context.Context, e catalog.Entry, marker bool) itemResult {
	// The record is checked under its exact name: that of its
	// generation, or the key's name alone for a legacy record.
	name, rec, known, err := s.ns.catalogNames(e.Bucket, e.Key, e.VersionID, e.Generation, e.Record)
	var found []Problem
	var blobs int
	var nbytes int64
	kind := kindObject
	if marker {
		kind = kindDeleteMarker
	}
	if err == nil {
		err = checkRecord(rec, kind, e.Bucket, e.Key)
	}
	if err != nil {
		// Without a catalog record that opens there is nothing to
		// compare the backends' copies with; Repair restores the
		// catalog's from them.
		found = append(found, Problem{Backend: catalogSource, Kind: ProblemCorrupt, Name: name, Bucket: e.Bucket, Key: e.Key, Err: err})
		rec = nil
	} else {
		var matched []byte // a backend's copy that matches the catalog's
		for _, m := range s.checked {
			if s.reach.down(m.Name()) {
				found = append(found, Problem{Backend: m.Name(), Kind: ProblemUnavailable, Name: name, Bucket: e.Bucket, Key: e.Key, Err: errSkipped})
				continue
			}
			p, sealed, ok := s.ns.checkMeta(ctx, m, name, e)
			s.reach.note(m.Name(), p.unavailable())
			if !ok {
				found = append(found, p)
			} else if matched == nil {
				matched = sealed
			}
		}
		if rec.unloaded() {
			// The catalog form leaves an inline object's blob to the
			// backends, whose copies match the catalog's digest (checked
			// above): a shallow scrub has nothing more to check, a deep
			// one checks the blob of a matching copy.
			if !s.o.Deep || matched == nil {
				rec.Parts = slices.DeleteFunc(rec.Parts, func(p partRecord) bool { return p.unloaded() })
			} else if err := s.ns.fillInline(rec, matched, s.ns.names.entryID(&e)); err != nil {
				found = append(found, Problem{Backend: catalogSource, Kind: ProblemCorrupt, Name: name, Bucket: e.Bucket, Key: e.Key, Err: err})
				rec = nil
			}
		}
	}
	if rec != nil {
		for i := range rec.Parts {
			part := &rec.Parts[i]
			op, err := s.ns.partOpener(part)
			if part.inline() {
				// The blob is in the record, which every backend's copy
				// matches (checked above): check it once.
				if err == nil {
					err = checkInline(part, op, s.o.Deep)
				}
				if err != nil {
					found = append(found, Problem{Backend: catalogSource, Kind: ProblemCorrupt, Name: name, Bucket: e.Bucket, Key: e.Key,
						Err: fmt.Errorf("inline blob %s: %w", part.Blob, err)})
				}
				continue
			}
			for _, m := range s.checked {
				blobs++
				p := Problem{Backend: m.Name(), Name: blobPrefix + part.Blob, Bucket: e.Bucket, Key: e.Key, part: part}
				if err != nil {
					p.Kind, p.Err = ProblemCorrupt, fmt.Errorf("part header in the meta record: %w", err)
					found = append(found, p)
					continue
				}
				if s.reach.down(m.Name()) {
					p.Kind, p.Err = ProblemUnavailable, errSkipped
					found = append(found, p)
					continue
				}
				n, cerr := s.ns.checkBlob(ctx, m, part, op, s.o.Deep)
				s.reach.note(m.Name(), cerr)
				nbytes += n
				if cerr != nil {
					p.Kind, p.Err = classify(cerr), cerr
					found = append(found, p)
				}
			}
		}
	}
	for i := range found {
		found[i].VersionID = e.VersionID
	}
	phase := PhaseObjects
	if e.VersionID != "" {
		phase = PhaseVersions
	}
	return itemResult{pos: WalkPosition{Phase: phase, Bucket: e.Bucket, Key: e.Key}, names: known, objects: 1, blobs: blobs, bytes: nbytes, found: found}
}

// checkMeta compares backend m's copy of the meta record name with the
// catalog entry e; it returns the copy when it matches.
func (ns *Namespace) checkMeta(ctx context.Context, m backends.Backend, name string, e catalog.Entry) (Problem, []byte, bool) {
	p := Problem{Backend: m.Name(), Name: name, Bucket: e.Bucket, Key: e.Key}
	sealed, err := readAll(ctx, m, name)
	if err != nil {
		p.Kind, p.Err = classify(err), err
		return p, nil, false
	}
	if sameRecord(sealed, e.Record) {
		return p, sealed, true
	}
	r, err := ns.openStoredRecord(name, sealed)
	if err != nil {
		p.Kind, p.Err = ProblemCorrupt, err
		return p, nil, false
	}
	switch {
	case r.Generation < e.Generation:
		p.Kind, p.Err = ProblemStale, fmt.Errorf("generation %d, catalog has %d", r.Generation, e.Generation)
	case r.Generation > e.Generation:
		p.Kind, p.Err = ProblemAhead, fmt.Errorf("generation %d, catalog has %d", r.Generation, e.Generation)
	default:
		p.Kind, p.Err = ProblemStale, fmt.Errorf("generation %d with bytes that differ from the catalog's", r.Generation)
	}
	return p, nil, false
}

// partOpener authenticates a part's header as stored in its meta record.
func (ns *Namespace) partOpener(p *partRecord) (*seal.Opener, error) {
	id, err := parseBlobID(p.Blob)
	if err != nil {
		return nil, err
	}
	h, err := seal.ParseHeader(p.Header)
	if err != nil {
		return nil, err
	}
	if h.ObjectID != id {
		return nil, fmt.Errorf("%w: header names another blob", ErrIntegrity)
	}
	return h.Open(ns.keys)
}

// checkBlob checks one blob on one backend and returns the number of
// ciphertext bytes it covered. Without deep it compares the stored size
// with the size the format gives for the part; with deep it reads the
// whole blob and authenticates every chunk.
func (ns *Namespace) checkBlob(ctx context.Context, m backends.Backend, p *partRecord, op *seal.Opener, deep bool) (int64, error) {
	want := seal.CiphertextSize(p.Size)
	if !deep {
		info, err := m.Stat(ctx, blobPrefix+p.Blob)
		if err != nil {
			return 0, err
		}
		if info.Size != want {
			return info.Size, fmt.Errorf("%w: blob is %d bytes, want %d", ErrIntegrity, info.Size, want)
		}
		return info.Size, nil
	}
	rc, err := m.Get(ctx, blobPrefix+p.Blob, 0, -1)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	cr := &byteCounter{r: rc}
	err = verifyBlob(cr, p, op)
	return cr.n, err
}

// checkInline checks the blob of an inline part, which its meta record
// holds: its size, and with deep every chunk, as checkBlob does for a
// stored one.
func checkInline(p *partRecord, op *seal.Opener, deep bool) error {
	if got, want := seal.HeaderSize+int64(len(p.Data)), seal.CiphertextSize(p.Size); got != want {
		return fmt.Errorf("%w: blob is %d bytes, want %d", ErrIntegrity, got, want)
	}
	if !deep {
		return nil
	}
	return verifyBlob(io.MultiReader(bytes.NewReader(p.Header), bytes.NewReader(p.Data)), p, op)
}

// verifyBlob reads a whole blob from r and authenticates it against the
// part's header: the blob's own header must match it outside the key slot
// (which a rewrap changes in the meta record only), every chunk must
// authenticate, and nothing may follow the final chunk.
func verifyBlob(r io.Reader, p *partRecord, op *seal.Opener) error {
	var hb [seal.HeaderSize]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: blob shorter than its header", ErrIntegrity)
		}
		return err
	}
	h, err := seal.ParseHeader(hb[:])
	if err != nil {
		return err
	}
	want := op.Header()
	if h.Version != want.Version || h.Suite != want.Suite || h.ChunkSize != want.ChunkSize ||
		h.ObjectID != want.ObjectID || h.Salt != want.Salt || h.MAC != want.MAC {
		return fmt.Errorf("%w: blob header does not match its meta record", ErrIntegrity)
	}
	if _, err := io.Copy(io.Discard, op.NewReader(r, p.Size, 0, -1)); err != nil {
		return err
	}
	var extra [1]byte
	if n, err := io.ReadFull(r, extra[:]); n > 0 {
		return fmt.Errorf("%w: data after the final chunk", ErrIntegrity)
	} else if err != nil && err != io.EOF {
		return err
	}
	return nil
}

// byteCounter counts the bytes read through it.
type byteCounter struct {
	r io.Reader
	n int64
}

func (c *byteCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// tombstones checks that every backend holds every deletion's tombstone, and
// nothing older under a deleted name.
func (s *scrubber) tombstones(ctx context.Context) error {
	// one checks the tombstone t on every backend, under the name of its
	// record.
	one := func(phase string, t catalog.Tombstone) error {
		pos := WalkPosition{Phase: phase, Bucket: t.Bucket, Key: t.Key}
		vid := ""
		if phase == PhaseVersionTombstones {
			vid = t.VersionID
		}
		// A tombstone that does not open (sealed under a retired key:
		// rewrap does not reseal tombstones) has no name the catalog can
		// tell: its copies are compared with it, byte for byte, under
		// each name it can have, that of its generation first.
		name, _, known, oerr := s.ns.catalogNames(t.Bucket, t.Key, vid, t.Generation, t.Record)
		names := []string{name}
		if oerr != nil && len(known) == 2 {
			names = []string{known[1], known[0]}
		}
		if s.isFull() {
			return errFull
		}
		if s.skip(pos) {
			for _, n := range known {
				s.knowName(n)
			}
			return nil
		}
		r := itemResult{pos: pos, names: known, tombstones: 1}
		for _, m := range s.checked {
			if s.reach.down(m.Name()) {
				r.found = append(r.found, Problem{Backend: m.Name(), Kind: ProblemUnavailable, Name: name, Bucket: t.Bucket, Key: t.Key, VersionID: vid, Err: errSkipped, tomb: true})
				continue
			}
			var p Problem
			var ok bool
			for i, n := range names {
				q, _, qok := s.ns.checkMeta(ctx, m, n, catalog.Entry{Bucket: t.Bucket, Key: t.Key, Generation: t.Generation, Record: t.Record})
				if i == 0 || qok || p.Kind == ProblemMissing && q.Kind != ProblemMissing {
					p, ok = q, qok
				}
				if ok {
					break
				}
			}
			s.reach.note(m.Name(), p.unavailable())
			if !ok {
				p.tomb, p.VersionID = true, vid
				if p.Kind == ProblemStale {
					if vid != "" {
						p.Err = fmt.Errorf("version deleted at generation %d; the backend serves %v", t.Generation, p.Err)
					} else {
						p.Err = fmt.Errorf("deleted at generation %d; the backend serves %v", t.Generation, p.Err)
					}
				}
				r.found = append(r.found, p)
			}
		}
		if err := ctx.Err(); err != nil {
			return err // its checks may have been cut short
		}
		s.mu.Lock()
		s.apply(r)
		s.mu.Unlock()
		return nil
	}
	err := s.ns.cat.WalkTombstones(ctx, func(t catalog.Tombstone) error {
		return one(PhaseTombstones, t)
	})
	if errors.Is(err, errFull) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("scrub: walk tombstones: %w", err)
	}
	err = s.ns.cat.WalkVersionTombstones(ctx, func(t catalog.Tombstone) error {
		return one(PhaseVersionTombstones, t)
	})
	if err != nil && !errors.Is(err, errFull) {
		return fmt.Errorf("scrub: walk version tombstones: %w", err)
	}
	return nil
}

// uncataloged lists the meta records of every backend and reports those
// the catalog does not name: records of keys and versions it holds
// something of are superseded or ahead (classifyListed), others
// uncataloged or foreign.
func (s *scrubber) uncataloged(ctx context.Context) error {
	if s.knownErr != nil {
		return fmt.Errorf("scrub: %w", s.knownErr)
	}
	var catErr error // a failure to read the catalog, which ends the pass
	for _, m := range s.checked {
		err := listJoin(ctx, m, metaPrefix, s.known, metaKey, func(it backends.Info, held bool) error {
			if held {
				return nil
			}
			p := Problem{Backend: m.Name(), Kind: ProblemUncataloged, Name: it.Name}
			if _, ok := metaHashOf(it.Name); !ok {
				// Not a name the gateway writes (upper-case hex, a
				// generation 0, another length): reported, never touched.
				p.Kind, p.Err = ProblemForeign, errors.New("not a meta record name")
			} else if sealed, err := readAll(ctx, m, it.Name); err != nil {
				p.Err = err
				if errors.Is(err, ErrCorruptRecord) {
					p.Kind = ProblemForeign
				}
			} else if r, err := s.ns.openStoredRecord(it.Name, sealed); err != nil {
				p.Kind, p.Err = ProblemForeign, err
			} else {
				p.Bucket, p.Key, p.VersionID = r.Bucket, r.Key, r.VersionID
				p.Err = fmt.Errorf("%s record of generation %d", r.Kind, r.Generation)
				if r.Key != "" {
					// A record of a key the catalog knows of: older than
					// what it holds (superseded) or newer (ahead).
					kind, detail, wrong, err := s.ns.classifyListed(ctx, it.Name, r)
					switch {
					case err != nil:
						catErr = fmt.Errorf("look up %s/%s in the catalog: %w", r.Bucket, r.Key, err)
						return catErr
					case !wrong:
						return nil
					default:
						p.Kind, p.Err = kind, detail
					}
				}
			}
			s.rep.add(p)
			return nil
		})
		if catErr != nil {
			return fmt.Errorf("scrub: %w", catErr)
		}
		if err != nil {
			s.rep.add(Problem{Backend: m.Name(), Kind: ProblemUnavailable, Name: metaPrefix, Err: err})
		}
	}
	return nil
}

// listPage is the page size of listAll. A local directory is read and
// sorted whole for every page (m/ and b/ are flat), so a provider of a
// million names costs 20 such reads per listing rather than the 1,000 of
// pages of 1,000; S3 providers answer at most 1,000 names a request and
// the backend pages on its own. A page of names is about 7 MB.
const listPage = 50000

// listAll calls fn for every object under prefix on b, in byte order.
func listAll(ctx context.Context, b backends.Backend, prefix string, fn func(backends.Info) error) error {
	return listAllAfter(ctx, b, prefix, "", fn)
}

// listAllAfter calls fn for every object under prefix on b whose name
// sorts after after, in byte order.
func listAllAfter(ctx context.Context, b backends.Backend, prefix, after string, fn func(backends.Info) error) error {
	for {
		page, err := b.List(ctx, prefix, after, listPage)
		if err != nil {
			return err
		}
		for _, it := range page.Items {
			if err := fn(it); err != nil {
				return err
			}
		}
		if page.Next == "" || len(page.Items) == 0 {
			return nil
		}
		after = page.Next
	}
}

// MetaName returns the base name of the meta records of bucket/key (the
// bucket's own record for an empty key): the name of a bucket record, and
// what the names of a key's records by generation start with (RecordName
// gives the one the catalog holds).
func (ns *Namespace) MetaName(bucket, key string) string {
	name, _ := ns.names.meta(bucket, key)
	return name
}
