package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twincrypt/twincrypt/backends"
)

// markerName is the backend name of the provider marker (docs/FORMAT.md,
// "Provider marker"). It lies outside b/, m/ and s/, so scrub, repair, gc,
// recover and rebuild-catalog never see it.
const markerName = "twincrypt-provider"

// markerMagic is the first line of a provider marker and, followed by NUL,
// the domain of its MAC.
const markerMagic = "twincrypt provider marker v1"

// maxMarkerSize bounds how much of a marker is read.
const maxMarkerSize = 1 << 10

// ErrMarker means a provider holds a marker that does not authenticate as
// its own: another provider's, another installation's, or damaged.
var ErrMarker = errors.New("provider marker does not authenticate")

// ProviderState is what CheckProvider found on a provider.
type ProviderState string

// Provider states.
const (
	// ProviderFilled: the provider holds its marker, written once it held
	// every object.
	ProviderFilled ProviderState = "filled"
	// ProviderEmpty: the provider holds no marker: it is new, or it lost
	// its data.
	ProviderEmpty ProviderState = "empty"
	// ProviderForeign: the provider holds a marker that does not
	// authenticate as its own (ErrMarker).
	ProviderForeign ProviderState = "foreign"
	// ProviderUnreachable: the provider could not be asked.
	ProviderUnreachable ProviderState = "unreachable"
)

// markerMAC returns the MAC of a marker of the provider called name written
// at written: HMAC-SHA-256 under the name key, over the magic, NUL, the
// length-prefixed name and the time as written in the marker.
func (ns *Namespace) markerMAC(name, written string) []byte {
	m := hmac.New(sha256.New, ns.names.key[:])
	m.Write([]byte(markerMagic + "\x00"))
	var l [2]byte
	binary.BigEndian.PutUint16(l[:], uint16(len(name)))
	m.Write(l[:])
	m.Write([]byte(name))
	m.Write([]byte(written))
	return m.Sum(nil)
}

// marker returns the marker of the provider called name, written now.
func (ns *Namespace) marker(name string) []byte {
	written := ns.now().UTC().Format(time.RFC3339Nano)
	return fmt.Appendf(nil, "%s\nwritten %s\nmac %s\n", markerMagic, written, hex.EncodeToString(ns.markerMAC(name, written)))
}

// openMarker checks that data is a marker of the provider called name and
// returns when it was written.
func (ns *Namespace) openMarker(name string, data []byte) (time.Time, error) {
	lines := strings.Split(string(data), "\n")
	if len(lines) != 4 || lines[0] != markerMagic || lines[3] != "" {
		return time.Time{}, fmt.Errorf("%w: not a marker", ErrMarker)
	}
	written, ok1 := strings.CutPrefix(lines[1], "written ")
	mac, ok2 := strings.CutPrefix(lines[2], "mac ")
	got, err := hex.DecodeString(mac)
	if !ok1 || !ok2 || err != nil {
		return time.Time{}, fmt.Errorf("%w: not a marker", ErrMarker)
	}
	if !hmac.Equal(got, ns.markerMAC(name, written)) {
		return time.Time{}, fmt.Errorf("%w: it is not %s's marker under this keyring", ErrMarker, name)
	}
	t, err := time.Parse(time.RFC3339Nano, written)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", ErrMarker, err)
	}
	return t, nil
}

// CheckProvider reads b's marker and reports what it found: filled (with
// the time the marker was written), empty, foreign (the error wraps
// ErrMarker) or unreachable (the error says why).
func (ns *Namespace) CheckProvider(ctx context.Context, b backends.Backend) (ProviderState, time.Time, error) {
	rc, err := b.Get(ctx, markerName, 0, -1)
	if errors.Is(err, backends.ErrNotFound) {
		return ProviderEmpty, time.Time{}, nil
	}
	if err != nil {
		return ProviderUnreachable, time.Time{}, err
	}
	data, err := io.ReadAll(io.LimitReader(rc, maxMarkerSize+1))
	rc.Close()
	if err != nil {
		return ProviderUnreachable, time.Time{}, err
	}
	written, err := ns.openMarker(b.Name(), data)
	if err != nil {
		return ProviderForeign, time.Time{}, err
	}
	return ProviderFilled, written, nil
}

// MarkProvider writes b's marker, which says that b held every object when
// it was written.
func (ns *Namespace) MarkProvider(ctx context.Context, b backends.Backend) error {
	m := ns.marker(b.Name())
	return b.Put(ctx, markerName, bytes.NewReader(m), int64(len(m)))
}

// RefillOptions configure Refill.
type RefillOptions struct {
	// Members are all the backends, normally the members of the
	// replicated set; the others than the targets are the sources.
	Members []backends.Backend
	// Targets names the members to refill.
	Targets []string
	// Logger receives progress lines; nil: the namespace's logger.
	Logger *slog.Logger
	// ProgressEvery is the least time between two progress lines;
	// <= 0 means 10 seconds.
	ProgressEvery time.Duration
	// Deleting is passed to Repair: meta records whose delete is still
	// queued are not adopted.
	Deleting func(name string) bool
}

// Refill gives the target members every bucket record, meta record and
// blob the catalog lists that they lack, copied from the other members and
// authenticated on the way (Repair without Deep, checking the targets
// only), and logs its progress every ProgressEvery: objects checked out of
// all (phase check), problems repaired out of all found (phase copy, with a
// last line when done), objects checked again (phase verify). It then writes the marker of every target
// that is left without a problem another pass could solve (one that was
// unavailable, itself or every source), and returns the repair report and
// the names of the targets it marked. A target left unmarked is refilled
// again by the next pass of WatchProviders.
func (ns *Namespace) Refill(ctx context.Context, o RefillOptions) (*RepairReport, []string, error) {
	log := o.Logger
	if log == nil {
		log = ns.log
	}
	every := o.ProgressEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	targets := strings.Join(o.Targets, ",")
	var last time.Time
	progress := func(phase string, done, total int, final bool) {
		now := time.Now()
		if !final && now.Sub(last) < every {
			return
		}
		last = now
		log.Info("refilling providers", "providers", targets, "phase", phase, "progress", fmt.Sprintf("%d/%d", done, total))
	}
	// Repair scans (check), repairs what it found (copy), and scans again
	// to verify.
	phase := "check"
	rep, err := ns.Repair(ctx, RepairOptions{
		Members:  o.Members,
		Only:     o.Targets,
		Deleting: o.Deleting,
		Progress: func(p ScrubProgress) {
			if phase == "copy" {
				phase = "verify"
			}
			progress(phase, p.Objects, p.TotalObjects, false)
		},
		Fixed: func(done, total int) {
			phase = "copy"
			progress(phase, done, total, done == total)
		},
	})
	if err != nil {
		return rep, nil, fmt.Errorf("refill %s: %w", targets, err)
	}
	var marked []string
	for _, m := range o.Members {
		name := m.Name()
		if !slices.Contains(o.Targets, name) || rep.retryLeft[name] > 0 {
			continue
		}
		if err := ns.MarkProvider(ctx, m); err != nil {
			log.Warn("refill: writing the provider marker failed; the next check refills again", "provider", name, "err", err)
			continue
		}
		marked = append(marked, name)
	}
	return rep, marked, nil
}

// retryable reports whether a problem left by a repair may go away on
// another attempt: the provider or every source was unavailable.
func retryable(p Problem) bool {
	return p.Kind == ProblemUnavailable || errors.Is(p.Err, backends.ErrUnavailable)
}

// WatchOptions configure WatchProviders.
type WatchOptions struct {
	// Members are the backends to watch, normally the members of the
	// replicated set.
	Members []backends.Backend
	// Interval is the time between the end of one check and the start of
	// the next; <= 0 means DefaultWatchInterval.
	Interval time.Duration
	// Logger receives what the checks find; nil: the namespace's logger.
	Logger *slog.Logger
	// Reachable, when set, is called with the name of every member a
	// check reached, so that the replicated set can take a member it has
	// marked down back at once (replica.Set.Probe).
	Reachable func(ctx context.Context, name string)
	// Deleting, when set, is called before every refill and returns its
	// RefillOptions.Deleting: whether a delete of a backend object name
	// is still queued (normally read from the replicated set's repair
	// queue). An error postpones the refill to the next check.
	Deleting func(ctx context.Context) (func(name string) bool, error)
}

// DefaultWatchInterval is the time between two checks of WatchProviders
// when WatchOptions.Interval is not set.
const DefaultWatchInterval = time.Minute

// WatchProviders checks every member's provider marker at once and then
// every Interval until ctx is done, and returns ctx's error. A member that
// holds no marker (new, or wiped: emptied, its directory or bucket
// replaced) or one that is not its own is refilled from the others with
// Refill, which marks it when done. Members that cannot be reached are
// logged when they go and when they come back. It is meant to run inside
// the gateway next to the replicated set's repairer.
func (ns *Namespace) WatchProviders(ctx context.Context, o WatchOptions) error {
	interval := o.Interval
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	log := o.Logger
	if log == nil {
		log = ns.log
	}
	prev := make(map[string]ProviderState, len(o.Members))
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		ns.watchPass(ctx, o, log, prev)
		if err := ctx.Err(); err != nil {
			return err
		}
		t.Reset(interval)
	}
}

// watchPass checks every member once and refills those that need it; prev
// holds each member's state at the previous pass.
func (ns *Namespace) watchPass(ctx context.Context, o WatchOptions, log *slog.Logger, prev map[string]ProviderState) {
	type result struct {
		state   ProviderState
		written time.Time
		err     error
	}
	results := make([]result, len(o.Members))
	var wg sync.WaitGroup
	for i, m := range o.Members {
		wg.Go(func() {
			st, written, err := ns.CheckProvider(ctx, m)
			results[i] = result{st, written, err}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	// A new installation: no provider holds a marker and the catalog
	// holds nothing. Marking them is routine, not a loss.
	fresh := true
	for _, r := range results {
		fresh = fresh && r.state == ProviderEmpty
	}
	if fresh {
		if bs, err := ns.cat.ListBuckets(ctx); err != nil || len(bs) > 0 {
			fresh = false
		}
	}
	var targets []string
	for i, m := range o.Members {
		name, r := m.Name(), results[i]
		was := prev[name]
		prev[name] = r.state
		switch r.state {
		case ProviderUnreachable:
			if was != ProviderUnreachable {
				log.Warn("provider unreachable; checking again every interval", "provider", name, "err", r.err)
			}
			continue
		case ProviderEmpty:
			if fresh {
				log.Info("new provider: marking it", "provider", name)
			} else {
				log.Warn("provider holds no marker: it is new or lost its data; refilling it from the others", "provider", name)
			}
			targets = append(targets, name)
		case ProviderForeign:
			log.Warn("provider holds a marker that is not its own; refilling it from the others", "provider", name, "err", r.err)
			targets = append(targets, name)
		case ProviderFilled:
			if was == ProviderUnreachable {
				log.Info("provider reachable again", "provider", name, "marked", r.written)
			}
		}
		if o.Reachable != nil {
			o.Reachable(ctx, name)
		}
	}
	if len(targets) == 0 {
		return
	}
	var deleting func(string) bool
	if o.Deleting != nil {
		var err error
		if deleting, err = o.Deleting(ctx); err != nil {
			log.Warn("refill postponed: reading the queued deletes failed", "providers", strings.Join(targets, ","), "err", err)
			return
		}
	}
	start := time.Now()
	rep, marked, err := ns.Refill(ctx, RefillOptions{Members: o.Members, Targets: targets, Logger: log, Deleting: deleting})
	switch {
	case ctx.Err() != nil:
		return
	case err != nil:
		log.Warn("refill failed; the next check tries again", "providers", strings.Join(targets, ","), "err", err)
		return
	}
	for _, name := range targets {
		if slices.Contains(marked, name) {
			prev[name] = ProviderFilled
		}
	}
	log.Info("providers refilled", "providers", strings.Join(targets, ","), "marked", strings.Join(marked, ","),
		"objects", rep.Found.Objects, "blobs_copied", rep.BlobsCopied, "meta_rewritten", rep.MetaRewritten,
		"unrepaired", rep.UnrepairedCount(), "took", time.Since(start).Round(time.Millisecond))
	for _, p := range rep.Unrepaired {
		log.Warn("refill could not repair", "problem", p.String())
	}
	if rep.UnrepairedOmitted > 0 {
		log.Warn("refill could not repair more problems than it lists", "not_listed", rep.UnrepairedOmitted)
	}
}
