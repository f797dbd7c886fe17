package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/seal"
)

// The namespace epoch is a number the gateway raises at every start and
// periodically, seals into a record that every provider holds, and keeps in
// the catalog. A provider that serves an old snapshot of the namespace
// serves an old epoch too, which one read reveals, at start and in every
// scrub, before any single record is compared.
const kindEpoch = "epoch"

// epoch returns the backend name of the epoch record and the object id its
// sealed form is bound to. The name looks like any meta record's.
func (n names) epoch() (string, seal.ObjectID) {
	m := hmac.New(sha256.New, n.key[:])
	m.Write([]byte("twincrypt epoch name v1\x00"))
	var h [32]byte
	m.Sum(h[:0])
	var id seal.ObjectID
	copy(id[:], h[:])
	return metaPrefix + hex.EncodeToString(h[:]), id
}

// EpochMember is one provider's epoch as CheckEpoch found it.
type EpochMember struct {
	Backend string
	Epoch   uint64 // 0: the provider holds no epoch record
	// Behind reports an epoch below the catalog's that no queued repair
	// explains: the provider serves an old snapshot of the namespace. A
	// provider with no epoch record at all (new, or wiped) is not behind.
	Behind bool
	Err    error // the record could not be read or does not authenticate
}

// EpochReport is what CheckEpoch found.
type EpochReport struct {
	Catalog uint64 // the catalog's epoch
	Members []EpochMember
}

// CheckEpoch reads every member's epoch record and compares it with the
// catalog's. queued, when set, reports whether a repair of the epoch record
// is still queued for a member (it missed the last raise while down); such
// a member is not reported as behind.
func (ns *Namespace) CheckEpoch(ctx context.Context, members []backends.Backend, queued func(backend, name string) bool) (*EpochReport, error) {
	cur, _, err := ns.cat.Epoch(ctx)
	if err != nil {
		return nil, err
	}
	name, _ := ns.names.epoch()
	rep := &EpochReport{Catalog: cur}
	for _, m := range members {
		em := EpochMember{Backend: m.Name()}
		sealed, err := readAll(ctx, m, name)
		switch {
		case errors.Is(err, backends.ErrNotFound):
		case err != nil:
			em.Err = err
		default:
			r, err := ns.openEpoch(sealed)
			if err != nil {
				em.Err = err
			} else {
				em.Epoch = r.Generation
			}
		}
		// A provider without any epoch record is new or was wiped, not
		// rolled back: the next raise gives it one.
		if em.Err == nil && em.Epoch > 0 && em.Epoch < cur && (queued == nil || !queued(m.Name(), name)) {
			em.Behind = true
		}
		rep.Members = append(rep.Members, em)
	}
	return rep, nil
}

// openEpoch authenticates an epoch record.
func (ns *Namespace) openEpoch(sealed []byte) (*record, error) {
	_, id := ns.names.epoch()
	r, err := ns.openRecord(sealed, id)
	if err != nil {
		return nil, err
	}
	if r.Kind != kindEpoch {
		return nil, fmt.Errorf("%w: the epoch record holds a %s record", ErrCorruptRecord, r.Kind)
	}
	return r, nil
}

// AdvanceEpoch raises the namespace epoch above the catalog's and every
// epoch in seen, writes its record to the store and records it in the
// catalog. It returns the new epoch.
func (ns *Namespace) AdvanceEpoch(ctx context.Context, seen ...uint64) (uint64, error) {
	name, id := ns.names.epoch()
	unlock, lerr := ns.lock(ctx, name, "")
	if lerr != nil {
		return 0, lerr
	}
	defer unlock()
	cur, _, err := ns.cat.Epoch(ctx)
	if err != nil {
		return 0, err
	}
	for _, s := range seen {
		cur = max(cur, s)
	}
	r := &record{Kind: kindEpoch, ModTime: ns.now().UTC().Truncate(time.Millisecond), Generation: ns.nextGeneration(cur)}
	sealed, err := ns.sealRecord(r, id)
	if err != nil {
		return 0, err
	}
	if err := ns.putBytes(ctx, name, sealed); err != nil {
		return 0, fmt.Errorf("write the namespace epoch: %w", err)
	}
	if err := ns.cat.AdvanceEpoch(ctx, r.Generation, sealed); err != nil {
		return 0, err
	}
	return r.Generation, nil
}

// checkEpochs is scrub's part: every member must hold the catalog's epoch
// record.
func (s *scrubber) checkEpochs(ctx context.Context) error {
	cur, rec, err := s.ns.cat.Epoch(ctx)
	if err != nil {
		return fmt.Errorf("scrub: epoch: %w", err)
	}
	name, _ := s.ns.names.epoch()
	h, _ := metaHashOf(name)
	s.know(h)
	if cur == 0 || s.o.noHead {
		return nil
	}
	for _, m := range s.checked {
		p := Problem{Backend: m.Name(), Name: name, epoch: true}
		sealed, err := readAll(ctx, m, name)
		if err == nil && bytes.Equal(sealed, rec) {
			continue
		}
		if err != nil {
			p.Kind, p.Err = classify(err), err
			s.rep.add(p)
			continue
		}
		r, err := s.ns.openEpoch(sealed)
		switch {
		case err != nil:
			p.Kind, p.Err = ProblemCorrupt, err
		case r.Generation < cur:
			p.Kind, p.Err = ProblemStale, fmt.Errorf("namespace epoch %d, the catalog's is %d: the provider serves an old snapshot, or missed writes", r.Generation, cur)
		case r.Generation > cur:
			p.Kind, p.Err = ProblemAhead, fmt.Errorf("namespace epoch %d, the catalog's is %d", r.Generation, cur)
		default:
			continue // the same epoch, sealed anew by a repair
		}
		s.rep.add(p)
	}
	return nil
}

// fixEpoch repairs one member's epoch record: a newer one is taken into the
// catalog, anything else replaced by the catalog's.
func (ns *Namespace) fixEpoch(ctx context.Context, members []backends.Backend, dst backends.Backend, p Problem) (wrote bool, adopted bool, err error) {
	if dst == nil {
		return false, false, fmt.Errorf("unknown backend %q", p.Backend)
	}
	if p.Kind == ProblemAhead {
		sealed, err := readAll(ctx, dst, p.Name)
		if err != nil {
			return false, false, err
		}
		r, err := ns.openEpoch(sealed)
		if err != nil {
			return false, false, err
		}
		err = ns.cat.AdvanceEpoch(ctx, r.Generation, sealed)
		if errors.Is(err, catalog.ErrStale) {
			return false, false, nil
		}
		return false, err == nil, err
	}
	_, rec, err := ns.cat.Epoch(ctx)
	if err != nil {
		return false, false, err
	}
	if _, err := ns.openEpoch(rec); err != nil {
		return false, false, fmt.Errorf("the catalog's epoch record: %w", err)
	}
	if err := dst.Put(ctx, p.Name, bytes.NewReader(rec), int64(len(rec))); err != nil {
		return false, false, err
	}
	return true, false, nil
}
