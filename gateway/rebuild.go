package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/internal/spill"
)

// RebuildOptions configure RebuildCatalog.
type RebuildOptions struct {
	// Keys opens the meta records.
	Keys Keys
	// Backends are read, every one of them: for each name the newest
	// authenticated record any of them holds wins, so a provider that
	// rolled back cannot roll the catalog back with it.
	Backends []backends.Backend
	// Catalog receives the buckets and objects; normally a new, empty
	// one.
	Catalog catalog.Catalog
	// Progress, when set, is called after every meta record read from
	// the listings of the backends. CountMetaRecords gives their number
	// beforehand.
	Progress func(records int)
	// Reread, when set, is called once every backend is read, after
	// every record read again: the object records met in a listing
	// before any record of their bucket wait until every bucket is
	// settled and are read again then (on average half of a bucket's
	// objects). total is their number, known when the listings end.
	Reread func(done, total int)
	// Logger receives a line per record that could not be used; nil:
	// discard.
	Logger *slog.Logger
	// Resume, when set, continues an interrupted rebuild into the same
	// Catalog, which holds what it entered: the backends are read on
	// from where it stopped. Backends must be the same, in the same
	// order.
	Resume *RebuildResume
	// Checkpoint, when set, is called after every meta record entered
	// while the backends are read; passed as Resume to a later rebuild
	// into the same catalog, its argument continues from there. Once
	// every backend is read no checkpoint follows: a rebuild resumed
	// from the last one reads no more records, only settles the buckets
	// and enters the records that wait for them.
	Checkpoint func(RebuildResume)
}

// RebuildResume is how far an interrupted RebuildCatalog came: the records
// of the backends before Backend, and those of Backend up to After, are
// entered into the catalog (or wait for their bucket's record, which the
// resumed rebuild finds again from the catalog and the listings), along
// with what the rebuild keeps in memory: the bucket-level records, the
// namespace epoch and the counts.
type RebuildResume struct {
	Backend int    `json:"backend"` // index in RebuildOptions.Backends
	After   string `json:"after"`   // the last meta record name of Backend entered
	Records int    `json:"records"` // meta records read so far
	// BucketRecords holds the bucket records and bucket tombstones read
	// so far, by name.
	BucketRecords []NamedRecord `json:"bucketRecords,omitempty"`
	// BucketsKnown says where each bucket became known (its record
	// read, or its first object entered): the objects of a bucket read
	// before that wait for it.
	BucketsKnown []BucketKnown `json:"bucketsKnown,omitempty"`
	// Epoch is the newest namespace epoch record read so far.
	Epoch      *NamedRecord `json:"epoch,omitempty"`
	Objects    int          `json:"objects"`
	Versions   int          `json:"versions"`
	Tombstones int          `json:"tombstones"`
	Skipped    int          `json:"skipped"`
	Shares     int          `json:"shares"`
	// Unreachable and Failed are those of RebuildReport so far, the
	// failures' errors as text.
	Unreachable []string        `json:"unreachable,omitempty"`
	Failed      []FailureRecord `json:"failed,omitempty"`
}

// BucketKnown is the place in a rebuild's reading order (backend index,
// then meta record name) where a bucket became known.
type BucketKnown struct {
	Bucket  string `json:"bucket"`
	Backend int    `json:"backend"`
	Name    string `json:"name"`
}

// before reports whether the record name of backend is read before the
// bucket became known.
func (k BucketKnown) before(backend int, name string) bool {
	return backend < k.Backend || backend == k.Backend && name < k.Name
}

// NamedRecord is a sealed meta record with its backend name.
type NamedRecord struct {
	Name   string `json:"name"`
	Sealed []byte `json:"sealed"`
}

// FailureRecord is a RecoverFailure with its error as text.
type FailureRecord struct {
	Name   string `json:"name"`
	Bucket string `json:"bucket,omitempty"`
	Key    string `json:"key,omitempty"`
	Err    string `json:"err"`
}

// RebuildReport counts what RebuildCatalog did.
type RebuildReport struct {
	Buckets int // buckets created from bucket records
	// ImpliedBuckets counts buckets created because objects named them
	// while no bucket record was found.
	ImpliedBuckets int
	Objects        int // objects entered
	// Versions counts versions (and delete markers) of keys in buckets
	// with versioning entered; Objects does not count them.
	Versions int
	// Tombstones counts deletions entered.
	Tombstones int
	// Skipped counts records not entered because the catalog already
	// holds the same or a newer generation of their name (another
	// backend's copy, or a deletion).
	Skipped int
	// RenameLeftovers counts old records of interrupted renames: left
	// out because a newer record references the same blobs.
	RenameLeftovers int
	// Shares counts share links entered from their records.
	Shares int
	// Unreachable names the backends that could not be listed; what
	// only they held is missing from the catalog.
	Unreachable []string
	Failed      []RecoverFailure
}

// RebuildCatalog fills a catalog from the meta records on the backends:
// every bucket, every object with its sealed record byte for byte, its
// size, ETag, modification time and generation, every deletion (tombstone)
// and every share link, taking for each name the newest authenticated record
// any backend holds: a key's records go under names of their own
// generation, and of those of one key or version (and a record of the
// form written before, under its name alone) the newest wins, the others
// counting as skipped. Records that do not authenticate or are bound to
// another name (among them a record moved to the name of another
// generation) are reported in Failed and left out. A backend that cannot be listed
// is reported in Unreachable; the rebuild goes on with the others. Multipart
// uploads in progress and the repair queue live only in the catalog and are
// not recovered; the blobs of such uploads are left for gc.
func RebuildCatalog(ctx context.Context, o RebuildOptions) (*RebuildReport, error) {
	if o.Keys == nil || len(o.Backends) == 0 || o.Catalog == nil {
		return nil, errors.New("rebuild catalog: Keys, Backends and Catalog are required")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rb := &rebuilder{o: o, log: log, rep: &RebuildReport{}, buckets: make(map[string]*bucketState)}
	for range o.Backends {
		rb.pending = append(rb.pending, newMetaSet())
	}
	defer func() {
		for _, p := range rb.pending {
			p.Close()
		}
	}()
	first, after := 0, ""
	if r := o.Resume; r != nil {
		if r.Backend < 0 || r.Backend > len(o.Backends) {
			return nil, fmt.Errorf("rebuild catalog: resume at backend %d of %d", r.Backend, len(o.Backends))
		}
		if err := rb.resume(ctx, r); err != nil {
			return rb.rep, fmt.Errorf("rebuild catalog: resume: %w", err)
		}
		first, after = r.Backend, r.After
	}
	for i := first; i < len(o.Backends); i++ {
		b := o.Backends[i]
		rb.ns = readOnlyNamespace(o.Keys, b, log)
		rb.cur = i
		if i > first {
			after = ""
		}
		if err := rb.backend(ctx, b, after); err != nil {
			if ctx.Err() != nil {
				return rb.rep, ctx.Err()
			}
			log.Warn("backend left out of the rebuild", "backend", b.Name(), "err", err)
			rb.rep.Unreachable = append(rb.rep.Unreachable, b.Name())
		}
		rb.checkpoint(i+1, "")
	}
	if rb.ns == nil { // resumed with every backend read
		rb.ns = readOnlyNamespace(o.Keys, o.Backends[len(o.Backends)-1], log)
	}
	if len(rb.rep.Unreachable) == len(o.Backends) {
		return rb.rep, fmt.Errorf("rebuild catalog: no backend could be read")
	}
	if err := rb.settleBuckets(ctx); err != nil {
		return rb.rep, fmt.Errorf("rebuild catalog: %w", err)
	}
	rb.settled = true
	if o.Reread != nil {
		for _, p := range rb.pending {
			n, err := countSet(p)
			if err != nil {
				return rb.rep, fmt.Errorf("rebuild catalog: %w", err)
			}
			rb.rereadTotal += n
		}
	}
	for i, b := range o.Backends {
		if err := rb.enterPending(ctx, b, rb.pending[i]); err != nil {
			return rb.rep, err
		}
	}
	for name, bs := range rb.buckets {
		if bs.implied && bs.record == nil {
			rb.rep.ImpliedBuckets++
			rb.log.Warn("bucket record missing; bucket created from its objects", "bucket", name)
		}
	}
	if rb.epoch > 0 {
		if err := o.Catalog.AdvanceEpoch(ctx, rb.epoch, rb.epochSealed); err != nil && !errors.Is(err, catalog.ErrStale) {
			return rb.rep, fmt.Errorf("rebuild catalog: epoch: %w", err)
		}
	}
	n, err := rb.ns.dropRenameLeftovers(ctx, o.Catalog)
	if err != nil {
		return rb.rep, fmt.Errorf("rebuild catalog: %w", err)
	}
	rb.rep.Objects -= n
	rb.rep.RenameLeftovers = n
	return rb.rep, nil
}

// bucketState is what the rebuild learnt of one bucket's own records.
type bucketState struct {
	record     *record // the newest bucket record, if any
	tombstone  *record // the newest bucket tombstone, if any
	tombSealed []byte  // its sealed bytes
	created    bool    // the catalog holds the bucket
	implied    bool    // created for its objects, without a bucket record
}

type rebuilder struct {
	o       RebuildOptions
	ns      *Namespace // reads the backend at hand
	log     *slog.Logger
	rep     *RebuildReport
	records int
	buckets map[string]*bucketState
	// pending are, by backend, the names of object records met before
	// any record of their bucket (their set keys, in bounded memory, see
	// sets.go): entered once every bucket is settled. With a bucket's
	// record anywhere in the hash order, that is on average half of its
	// objects.
	pending []*spill.Set
	cur     int // the index of the backend being read
	settled bool
	// epoch is the highest namespace epoch found, with its record.
	epoch       uint64
	epochSealed []byte
	epochName   string
	// bucketRecords are the bucket-level records read, for checkpoints;
	// resumed is set when the rebuild continues an interrupted one.
	bucketRecords []NamedRecord
	failed        []FailureRecord // rep.Failed, for checkpoints
	// failedSeen holds the failures of the rebuild this one resumes.
	failedSeen map[FailureRecord]bool
	// knownAt says where each bucket became known; bucketsKnown lists
	// the same, for checkpoints.
	knownAt      map[string]BucketKnown
	bucketsKnown []BucketKnown
	resumed      bool
	// reread counts the pending records read again, of rereadTotal
	// (for RebuildOptions.Reread).
	reread, rereadTotal int
}

// checkpoint reports that the records of the backends before backend,
// and those of backend up to after, are entered.
func (rb *rebuilder) checkpoint(backend int, after string) {
	if rb.o.Checkpoint == nil {
		return
	}
	ck := RebuildResume{Backend: backend, After: after, Records: rb.records,
		BucketRecords: rb.bucketRecords[:len(rb.bucketRecords):len(rb.bucketRecords)],
		BucketsKnown:  rb.bucketsKnown[:len(rb.bucketsKnown):len(rb.bucketsKnown)],
		Objects:       rb.rep.Objects, Versions: rb.rep.Versions, Tombstones: rb.rep.Tombstones, Skipped: rb.rep.Skipped, Shares: rb.rep.Shares,
		Unreachable: slices.Clone(rb.rep.Unreachable)}
	if rb.epoch > 0 {
		ck.Epoch = &NamedRecord{Name: rb.epochName, Sealed: rb.epochSealed}
	}
	ck.Failed = rb.failed[:len(rb.failed):len(rb.failed)]
	rb.o.Checkpoint(ck)
}

// errStopListing ends a listing early.
var errStopListing = errors.New("stop listing")

// resume restores what an interrupted rebuild kept in memory: the counts,
// the bucket-level records and the epoch from r, and the records that wait
// for their bucket's record (pending): the names the backends read so far
// list that the catalog holds no record of (an entry, a version or a
// tombstone), other than the bucket-level records, the epoch and the
// records that failed.
func (rb *rebuilder) resume(ctx context.Context, r *RebuildResume) error {
	rb.resumed = true
	rb.records = r.Records
	rb.rep.Objects, rb.rep.Versions, rb.rep.Tombstones, rb.rep.Skipped, rb.rep.Shares = r.Objects, r.Versions, r.Tombstones, r.Skipped, r.Shares
	rb.rep.Unreachable = slices.Clone(r.Unreachable)
	// skip holds the names of the bucket-level records and the epoch.
	// A record that could not be used on one backend may wait on
	// another: it is read again, and its failure not reported twice.
	skip := make(map[string]bool)
	rb.failedSeen = make(map[FailureRecord]bool)
	for _, f := range r.Failed {
		rb.rep.Failed = append(rb.rep.Failed, RecoverFailure{Name: f.Name, Bucket: f.Bucket, Key: f.Key, Err: errors.New(f.Err)})
		rb.failed = append(rb.failed, f)
		rb.failedSeen[f] = true
	}
	ns := readOnlyNamespace(rb.o.Keys, rb.o.Backends[0], rb.log)
	if r.Epoch != nil {
		ep, err := ns.openEpoch(r.Epoch.Sealed)
		if err != nil {
			return fmt.Errorf("epoch record: %w", err)
		}
		rb.epoch, rb.epochSealed, rb.epochName = ep.Generation, r.Epoch.Sealed, r.Epoch.Name
	}
	if name, _ := ns.names.epoch(); name != "" {
		skip[name] = true
	}
	rb.bucketRecords = slices.Clone(r.BucketRecords)
	for _, k := range r.BucketsKnown {
		rb.noteKnown(k)
	}
	for _, br := range r.BucketRecords {
		rec, err := ns.openStoredRecord(br.Name, br.Sealed)
		if err != nil {
			return fmt.Errorf("bucket record %s: %w", br.Name, err)
		}
		if err := rb.enter(ctx, rec, br.Sealed); err != nil {
			return err
		}
		skip[br.Name] = true
	}
	bs, err := rb.o.Catalog.ListBuckets(ctx)
	if err != nil {
		return err
	}
	for _, b := range bs {
		st := rb.buckets[b.Name]
		if st == nil {
			st = &bucketState{}
			rb.buckets[b.Name] = st
		}
		st.created = true
		st.implied = st.record == nil
	}
	// A name the catalog holds waits on the backends that were read
	// before its bucket became known: another backend's copy was entered
	// since, and this one, maybe newer, is still to be compared with it.
	// (Read again where the backend lacks it, it is passed over.)
	entered := newMetaSet()
	defer entered.Close()
	add := func(bucket, key, versionID string, rec []byte) error {
		name, _, _, _ := ns.catalogNames(bucket, key, versionID, 0, rec)
		if skip[name] {
			return nil
		}
		known, ok := rb.knownAt[bucket]
		for j := 0; j <= r.Backend && j < len(rb.o.Backends); j++ {
			read := j < r.Backend || name <= r.After
			if read && (!ok || known.before(j, name)) && !slices.Contains(r.Unreachable, rb.o.Backends[j].Name()) {
				if err := addMeta(rb.pending[j], name); err != nil {
					return err
				}
			}
		}
		return addMeta(entered, name)
	}
	if err := rb.o.Catalog.Walk(ctx, func(e catalog.Entry) error { return add(e.Bucket, e.Key, e.VersionID, e.Record) }); err != nil {
		return err
	}
	if err := rb.o.Catalog.WalkVersions(ctx, func(v catalog.Version) error { return add(v.Bucket, v.Key, v.VersionID, v.Record) }); err != nil {
		return err
	}
	if err := rb.o.Catalog.WalkTombstones(ctx, func(t catalog.Tombstone) error { return add(t.Bucket, t.Key, t.VersionID, t.Record) }); err != nil {
		return err
	}
	if err := rb.o.Catalog.WalkVersionTombstones(ctx, func(t catalog.Tombstone) error { return add(t.Bucket, t.Key, t.VersionID, t.Record) }); err != nil {
		return err
	}
	for i := 0; i <= r.Backend && i < len(rb.o.Backends); i++ {
		b := rb.o.Backends[i]
		if slices.Contains(r.Unreachable, b.Name()) {
			continue
		}
		err := listJoin(ctx, b, metaPrefix, entered, metaKey, func(it backends.Info, held bool) error {
			if i == r.Backend && it.Name > r.After {
				return errStopListing
			}
			if _, ok := metaHashOf(it.Name); !ok || held || skip[it.Name] {
				return nil
			}
			return addMeta(rb.pending[i], it.Name)
		})
		if err != nil && !errors.Is(err, errStopListing) {
			return fmt.Errorf("list %s: %w", b.Name(), err)
		}
	}
	return nil
}

// enterPending reads again and enters the pending records of backend b.
func (rb *rebuilder) enterPending(ctx context.Context, b backends.Backend, pending *spill.Set) error {
	ns := readOnlyNamespace(rb.o.Keys, b, rb.log)
	it, err := pending.Iter()
	if err != nil {
		return fmt.Errorf("rebuild catalog: %w", err)
	}
	for h, ok := it.Next(); ok; h, ok = it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if rb.o.Reread != nil {
			rb.reread++
			rb.o.Reread(rb.reread, rb.rereadTotal)
		}
		name := metaNameOfKey(h)
		sealed, err := readAll(ctx, b, name)
		if err != nil && rb.resumed && errors.Is(err, backends.ErrNotFound) {
			continue // gone since it was listed, as a first listing would skip it
		}
		if err != nil {
			rb.fail(name, nil, err)
			continue
		}
		r, err := ns.openStoredRecord(name, sealed)
		if err != nil {
			rb.fail(name, nil, err)
			continue
		}
		if err := rb.enter(ctx, r, sealed); err != nil {
			return fmt.Errorf("rebuild catalog: %w", err)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("rebuild catalog: %w", err)
	}
	return nil
}

// backend enters the records of one backend, those after the name after.
func (rb *rebuilder) backend(ctx context.Context, b backends.Backend, after string) error {
	err := listAllAfter(ctx, b, metaPrefix, after, func(it backends.Info) error {
		if _, ok := metaHashOf(it.Name); !ok {
			return nil
		}
		if err := rb.record(ctx, b, it.Name); err != nil {
			return err
		}
		rb.checkpoint(rb.cur, it.Name)
		return nil
	})
	if err != nil {
		return err
	}
	shares, err := rb.ns.rebuildShares(ctx, b, rb.o.Catalog, func(name string, err error) { rb.fail(name, nil, err) })
	rb.rep.Shares += shares
	return err
}

// record reads and enters the meta record name of backend b.
func (rb *rebuilder) record(ctx context.Context, b backends.Backend, name string) error {
	it := backends.Info{Name: name}
	rb.records++
	if rb.o.Progress != nil {
		rb.o.Progress(rb.records)
	}
	sealed, err := readAll(ctx, b, it.Name)
	if err != nil {
		if errors.Is(err, backends.ErrNotFound) {
			return nil
		}
		if errors.Is(err, ErrCorruptRecord) {
			rb.fail(it.Name, nil, err)
			return nil
		}
		return err
	}
	if epoch, _ := rb.ns.names.epoch(); it.Name == epoch {
		r, err := rb.ns.openEpoch(sealed)
		if err != nil {
			rb.fail(it.Name, nil, err)
		} else if r.Generation > rb.epoch {
			rb.epoch, rb.epochSealed, rb.epochName = r.Generation, sealed, it.Name
		}
		return nil
	}
	r, err := rb.ns.openStoredRecord(it.Name, sealed)
	if err != nil {
		rb.fail(it.Name, nil, err)
		return nil
	}
	if r.Key == "" && (r.Kind == kindBucket || r.Kind == kindTombstone) {
		rb.bucketRecords = append(rb.bucketRecords, NamedRecord{Name: it.Name, Sealed: sealed})
	}
	if bs := rb.buckets[r.Bucket]; r.Key != "" && (r.Kind == kindObject || r.Kind == kindDeleteMarker) && (bs == nil || (bs.record == nil && !bs.created)) {
		if err := addMeta(rb.pending[rb.cur], it.Name); err != nil {
			return err
		}
		if bs == nil {
			rb.buckets[r.Bucket] = &bucketState{}
		}
		return nil
	}
	if err := rb.enter(ctx, r, sealed); err != nil {
		return err
	}
	if bs := rb.buckets[r.Bucket]; bs != nil && (bs.record != nil || bs.created) {
		rb.noteKnown(BucketKnown{Bucket: r.Bucket, Backend: rb.cur, Name: name})
	}
	return nil
}

// noteKnown records where a bucket became known, unless it was known
// before.
func (rb *rebuilder) noteKnown(k BucketKnown) {
	if _, ok := rb.knownAt[k.Bucket]; ok {
		return
	}
	if rb.knownAt == nil {
		rb.knownAt = make(map[string]BucketKnown)
	}
	rb.knownAt[k.Bucket] = k
	rb.bucketsKnown = append(rb.bucketsKnown, k)
}

func (rb *rebuilder) fail(name string, r *record, err error) {
	f := RecoverFailure{Name: name, Err: err}
	if r != nil {
		f.Bucket, f.Key = r.Bucket, r.Key
	}
	fr := FailureRecord{Name: f.Name, Bucket: f.Bucket, Key: f.Key, Err: err.Error()}
	if rb.failedSeen[fr] {
		return // reported by the rebuild this one resumes, read again
	}
	rb.rep.Failed = append(rb.rep.Failed, f)
	rb.failed = append(rb.failed, fr)
	rb.log.Warn("meta record left out", "record", name, "bucket", f.Bucket, "key", f.Key, "err", err)
}

// enter puts one authenticated record into the catalog, unless it holds
// the same or a newer generation of the name.
func (rb *rebuilder) enter(ctx context.Context, r *record, sealed []byte) error {
	cat := rb.o.Catalog
	bs := rb.buckets[r.Bucket]
	if bs == nil {
		bs = &bucketState{}
		rb.buckets[r.Bucket] = bs
	}
	switch {
	case r.Key == "" && r.Kind == kindBucket:
		if bs.record == nil || r.Generation > bs.record.Generation {
			bs.record = r
		}
		return nil
	case r.Key == "" && r.Kind == kindTombstone:
		if bs.tombstone == nil || r.Generation > bs.tombstone.Generation {
			bs.tombstone, bs.tombSealed = r, sealed
		}
		return nil
	case r.Kind == kindTombstone && r.VersionID != "":
		// The tombstone of one version. The gateway that wrote it had
		// checked the version's lock (or its GOVERNANCE bypass).
		t := tombstoneOf(r, sealed)
		removed, err := cat.DeleteVersion(ctx, t, catalog.DeleteVersionOptions{BypassGovernance: true})
		if errors.Is(err, catalog.ErrLocked) {
			rb.fail(fmt.Sprintf("%s/%s?versionId=%s", r.Bucket, r.Key, r.VersionID), r, fmt.Errorf("a tombstone of a version that another backend holds locked: %w", err))
			return nil
		}
		rb.uncount(err == nil && removed != nil, &rb.rep.Versions)
		return rb.count(err, &rb.rep.Tombstones, r)
	case r.Kind == kindTombstone:
		removed, err := cat.PutTombstone(ctx, tombstoneOf(r, sealed))
		rb.uncount(err == nil && removed != nil, &rb.rep.Objects)
		if errors.Is(err, catalog.ErrVersioned) {
			// The key's tombstone is its null version's too.
			t := tombstoneOf(r, sealed)
			t.VersionID = NullVersion
			var v *catalog.Version
			v, err = cat.DeleteVersion(ctx, t, catalog.DeleteVersionOptions{BypassGovernance: true})
			rb.uncount(err == nil && v != nil, &rb.rep.Versions)
		}
		return rb.count(err, &rb.rep.Tombstones, r)
	}
	if rb.settled && bs.tombstone != nil && r.Generation <= bs.tombstone.Generation && (bs.record == nil || bs.tombstone.Generation > bs.record.Generation) {
		rb.rep.Skipped++ // held by a bucket deleted since
		return nil
	}
	if !bs.created {
		created, owner := r.ModTime, ""
		if bs.record != nil {
			created, owner = bs.record.ModTime, bs.record.Owner
		} else {
			bs.implied = true
		}
		if err := cat.CreateBucket(ctx, catalog.Bucket{Name: r.Bucket, Created: created, Owner: owner}); err != nil && !errors.Is(err, catalog.ErrBucketExists) {
			return err
		}
		bs.created = true
	}
	if r.VersionID != "" || r.Kind == kindDeleteMarker {
		prev, err := cat.PutVersion(ctx, rb.ns.versionOf(r, sealed))
		rb.uncount(err == nil && prev != nil, &rb.rep.Versions)
		return rb.count(err, &rb.rep.Versions, r)
	}
	prev, err := cat.Put(ctx, rb.ns.entryOf(r, sealed))
	rb.uncount(err == nil && prev != nil, &rb.rep.Objects)
	if errors.Is(err, catalog.ErrVersioned) {
		// An object written before versioning, now the null version of
		// a key with versions.
		var v *catalog.Version
		v, err = cat.PutVersion(ctx, rb.ns.versionOf(r, sealed))
		rb.uncount(err == nil && v != nil, &rb.rep.Versions)
	}
	return rb.count(err, &rb.rep.Objects, r)
}

// uncount takes back, when replaced, an object or version counted in n
// that a newer record of the same name (another backend's copy, a record
// of a later generation beside it, or its deletion) replaced: it counts
// as skipped, so that n counts what the catalog holds.
func (rb *rebuilder) uncount(replaced bool, n *int) {
	if replaced {
		*n--
		rb.rep.Skipped++
	}
}

// count tallies the outcome of one catalog write.
func (rb *rebuilder) count(err error, n *int, r *record) error {
	switch {
	case errors.Is(err, catalog.ErrStale):
		rb.rep.Skipped++
	case err != nil:
		return fmt.Errorf("%s/%s: %w", r.Bucket, r.Key, err)
	default:
		*n++
	}
	return nil
}

// settleBuckets decides every bucket from its newest bucket-level record: a
// bucket record (newer than any bucket tombstone) keeps or creates the
// bucket; a bucket tombstone newer than the bucket's record deletes the
// bucket, with the objects it held when it was deleted (records at or below
// the tombstone's generation), unless newer objects show it was created
// again.
func (rb *rebuilder) settleBuckets(ctx context.Context) error {
	cat := rb.o.Catalog
	for name, bs := range rb.buckets {
		deleted := bs.tombstone != nil && (bs.record == nil || bs.tombstone.Generation > bs.record.Generation)
		if !deleted {
			if bs.record == nil {
				continue // created, if at all, for its objects
			}
			if !bs.created {
				if err := cat.CreateBucket(ctx, catalog.Bucket{Name: name, Created: bs.record.ModTime, Owner: bs.record.Owner}); err != nil && !errors.Is(err, catalog.ErrBucketExists) {
					return err
				}
			}
			if v := bs.record.Versioning; v != nil {
				if err := cat.SetBucketVersioning(ctx, name, v.catalog(bs.record.Generation)); err != nil && !errors.Is(err, catalog.ErrStale) {
					return fmt.Errorf("bucket %s: versioning: %w", name, err)
				}
			}
			rb.rep.Buckets++
			continue
		}
		if !bs.created {
			if err := rb.putTombstone(ctx, bs); err != nil {
				return err
			}
			continue
		}
		// Drop what the bucket held when it was deleted; keep what was
		// written after.
		var dead []catalog.Entry
		newer := false
		err := cat.Walk(ctx, func(e catalog.Entry) error {
			if e.Bucket != name {
				return nil
			}
			if e.Generation <= bs.tombstone.Generation {
				dead = append(dead, e)
			} else {
				newer = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range dead {
			if _, err := cat.Delete(ctx, e.Bucket, e.Key, e.Generation); err != nil && !errors.Is(err, catalog.ErrNotFound) && !errors.Is(err, catalog.ErrVersioned) {
				return err
			}
			rb.rep.Objects--
			rb.rep.Skipped++
		}
		if newer {
			bs.implied = true
			continue
		}
		if err := cat.DeleteBucket(ctx, name); err != nil {
			return err
		}
		if err := rb.putTombstone(ctx, bs); err != nil {
			return err
		}
	}
	return nil
}

// putTombstone enters a deleted bucket's tombstone.
func (rb *rebuilder) putTombstone(ctx context.Context, bs *bucketState) error {
	_, err := rb.o.Catalog.PutTombstone(ctx, tombstoneOf(bs.tombstone, bs.tombSealed))
	return rb.count(err, &rb.rep.Tombstones, bs.tombstone)
}
