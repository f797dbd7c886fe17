package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Share errors. Implementations wrap them; test with errors.Is.
var (
	// ErrNoSuchShare means no share link has the given id.
	ErrNoSuchShare = errors.New("catalog: no such share")
	// ErrShareGone means a share link is revoked, expired or used up, so
	// CountDownload counted nothing.
	ErrShareGone = errors.New("catalog: share link no longer opens")
)

// ShareState says whether a share link still opens.
type ShareState int

// Share states. Every state but ShareActive is final: a revoked, expired or
// used-up link never opens again.
const (
	ShareActive ShareState = iota
	ShareRevoked
	ShareExpired
	ShareUsedUp
)

// String returns the state as `twincrypt share list` shows it.
func (s ShareState) String() string {
	switch s {
	case ShareActive:
		return "active"
	case ShareRevoked:
		return "revoked"
	case ShareExpired:
		return "expired"
	case ShareUsedUp:
		return "used up"
	}
	return fmt.Sprintf("ShareState(%d)", int(s))
}

// Share is the catalog's view of one share link. Record is the sealed share
// record, opaque to the catalog; the other fields are what the catalog needs
// to enforce the link's limits atomically (CountDownload), which several
// gateway instances must agree on.
type Share struct {
	ID         string
	Generation uint64    // orders the records of one share; only goes up
	Created    time.Time // when the link was made
	// Expires is when the link stops opening; zero means never.
	Expires time.Time
	// MaxDownloads is how many times the link opens; 0 means no limit.
	MaxDownloads int64
	// Downloads counts the times the link was opened.
	Downloads int64
	Revoked   bool
	Record    []byte
}

// State returns the share's state at time now.
func (s *Share) State(now time.Time) ShareState {
	switch {
	case s.Revoked:
		return ShareRevoked
	case !s.Expires.IsZero() && !now.Before(s.Expires):
		return ShareExpired
	case s.MaxDownloads > 0 && s.Downloads >= s.MaxDownloads:
		return ShareUsedUp
	}
	return ShareActive
}

// Shares is the part of the catalog that holds share links. Catalog embeds
// it.
type Shares interface {
	// PutShare stores s unless the catalog holds the same share with a
	// generation >= s.Generation, or holds it revoked while s is not
	// (then ErrStale): a share only moves forward, and a revoked one
	// stays revoked. The stored download count is the larger of the two.
	PutShare(ctx context.Context, s Share) error
	// GetShare returns one share; ErrNoSuchShare if there is none.
	GetShare(ctx context.Context, id string) (Share, error)
	// ListShares returns every share, ordered by creation time and id.
	ListShares(ctx context.Context) ([]Share, error)
	// CountDownload atomically counts one opening of an active share at
	// time now and returns the share as stored afterwards. A share that
	// is not active is returned unchanged with ErrShareGone.
	CountDownload(ctx context.Context, id string, now time.Time) (Share, error)
}

// checkShareID refuses an empty id.
func checkShareID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("%w: share id of %d bytes", ErrInvalid, len(id))
	}
	return nil
}

// mergeShare decides what PutShare stores when old is already there.
func mergeShare(old *Share, s Share) (Share, error) {
	if old == nil {
		return s, nil
	}
	if old.Generation >= s.Generation {
		return Share{}, fmt.Errorf("%w: share %s holds generation %d, not below %d", ErrStale, s.ID, old.Generation, s.Generation)
	}
	if old.Revoked && !s.Revoked {
		return Share{}, fmt.Errorf("%w: share %s is revoked", ErrStale, s.ID)
	}
	s.Downloads = max(s.Downloads, old.Downloads)
	return s, nil
}

func encodeShare(s *Share) []byte {
	enc := newEncoder()
	enc.Uvarint(s.Generation)
	enc.time(s.Created)
	enc.time(s.Expires)
	enc.Varint(s.MaxDownloads)
	enc.Varint(s.Downloads)
	revoked := uint64(0)
	if s.Revoked {
		revoked = 1
	}
	enc.Uvarint(revoked)
	enc.Bytes(s.Record)
	return enc.B
}

func decodeShare(id string, v []byte) (Share, error) {
	d := newDecoder(v, "share", id)
	s := Share{ID: id}
	s.Generation = d.Uvarint()
	s.Created = d.time()
	s.Expires = d.time()
	s.MaxDownloads = d.Varint()
	s.Downloads = d.Varint()
	switch d.Uvarint() {
	case 0:
	case 1:
		s.Revoked = true
	default:
		d.Fail("revoked flag")
	}
	s.Record = d.bytes()
	return s, d.Done()
}
