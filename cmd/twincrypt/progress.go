package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/config"
	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// Progress output timing.
const (
	// progressRedraw is the least time between two redraws of the bar.
	progressRedraw = 200 * time.Millisecond
	// progressLineEvery is how often a plain progress line is printed
	// when stderr is not a terminal ...
	progressLineEvery = 10 * time.Second
	// ... or after how many items, whichever comes first.
	progressLineItems = 1000
)

// progress reports how far a long operation has come on stderr: a bar with
// rate and ETA redrawn in place on a terminal, otherwise a plain line every
// progressLineEvery or progressLineItems items.
type progress struct {
	w     io.Writer
	term  bool
	label string
	unit  string
	now   func() time.Time
	// counts reports items only: a rate of items instead of bytes.
	counts bool

	mu        sync.Mutex
	start     time.Time
	last      time.Time
	lastItems int
	drawn     bool
}

// newProgress returns a progress reporter for items of the named unit.
func newProgress(c *cli, label, unit string) *progress {
	term := false
	if f, ok := c.stderr.(*os.File); ok {
		term = isTerminal(f)
	}
	now := time.Now()
	return &progress{w: c.stderr, term: term, label: label, unit: unit, now: time.Now, start: now, last: now}
}

// counting shows on a terminal how many items a counting pass, which gives
// the total before the work starts, found so far. Plain output shows
// nothing of it: its lines start with the work.
func (p *progress) counting(n int) {
	if !p.term {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.drawn && now.Sub(p.last) < progressRedraw {
		return
	}
	p.last = now
	fmt.Fprintf(p.w, "\r\033[K%s: counting... %d %s", p.label, n, p.unit)
	p.drawn = true
}

// restart starts the clock of the rate and the ETA anew, as the work
// starts after a counting pass.
func (p *progress) restart() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p.start, p.last, p.lastItems = now, now, 0
}

// update reports done of total items (total 0: unknown) and bytes
// processed so far. A total may be an estimate: past it, the report
// counts on without a total (and ETA) rather than show more than 100%.
func (p *progress) update(done, total int, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.term {
		if now.Sub(p.last) < progressRedraw && done != total {
			return
		}
		p.last = now
		fmt.Fprintf(p.w, "\r\033[K%s", p.line(now, done, total, bytes, true))
		p.drawn = true
		return
	}
	if now.Sub(p.last) < progressLineEvery && done-p.lastItems < progressLineItems {
		return
	}
	p.last, p.lastItems = now, done
	fmt.Fprintln(p.w, p.line(now, done, total, bytes, false))
}

// line formats one progress report.
func (p *progress) line(now time.Time, done, total int, bytes int64, bar bool) string {
	elapsed := now.Sub(p.start).Seconds()
	if done > total {
		total = 0 // an estimate, passed
	}
	var b strings.Builder
	b.WriteString(p.label)
	if bar && total > 0 {
		const width = 24
		n := done * width / total
		fmt.Fprintf(&b, " [%s%s] %3d%%", strings.Repeat("#", n), strings.Repeat("-", width-n), done*100/total)
	} else {
		b.WriteString(":")
	}
	if total > 0 {
		fmt.Fprintf(&b, " %d/%d %s", done, total, p.unit)
	} else {
		fmt.Fprintf(&b, " %d %s", done, p.unit)
	}
	if p.counts {
		if elapsed > 0 {
			fmt.Fprintf(&b, ", %.0f/s", float64(done)/elapsed)
		}
	} else {
		fmt.Fprintf(&b, ", %s", humanBytes(bytes))
		if elapsed > 0 {
			fmt.Fprintf(&b, ", %s/s", humanBytes(int64(float64(bytes)/elapsed)))
		}
	}
	if elapsed > 0 && total > 0 && done > 0 && done < total {
		eta := time.Duration(elapsed / float64(done) * float64(total-done) * float64(time.Second))
		fmt.Fprintf(&b, ", ETA %s", eta.Round(time.Second))
	}
	return b.String()
}

// finish ends the bar's line on a terminal; a second call does nothing
// more.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.term && p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// humanBytes formats a byte count with a binary unit.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// maintenanceLogger logs warnings and errors of maintenance commands to
// stderr.
func maintenanceLogger(c *cli) *slog.Logger {
	return slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// loadConfigFlag loads the config named by a required -c flag.
func loadConfigFlag(c *cli, path string) (*config.Config, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: -c FILE is required", errUsage)
	}
	return config.LoadWithEnv(path, c.getenv)
}

// openMaintenance opens the store described by the config at path for a
// maintenance command. The embedded catalog admits one process at a time,
// so a command cannot open it while a gateway serves: it runs inside the
// gateway instead (remote.go), which sets c.running.
func openMaintenance(ctx context.Context, c *cli, path string) (*store, error) {
	if c.running != nil {
		// Run inside the gateway: its store, which this command must
		// not close.
		st := *c.running
		st.borrowed = true
		return &st, nil
	}
	cfg, err := loadConfigFlag(c, path)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, c, cfg, maintenanceLogger(c))
	if errors.Is(err, catalog.ErrInUse) {
		return nil, fmt.Errorf("%w: a gateway serves this config; set listen.admin in it so that maintenance commands run through the gateway", err)
	}
	if err == nil {
		maintenanceGC(c.getenv)
	}
	return st, err
}

// The collector settings of serve and of the maintenance commands (see
// tuneHeap). They differ on purpose, for two kinds of work.
const (
	// serveGCPercent and serveMemoryLimit are the collector of a
	// server, whose live heap is small (chunk and copy buffers, a few
	// MiB per transfer) and whose allocation rate is high (a request
	// allocates its headers, records and cipher states): the heap may
	// grow to five times the live data before a collection instead of
	// twice, which cuts the collector's CPU by about a fifth on small
	// requests (docs/BENCHMARKS.md), with a soft limit of 256 MiB that
	// makes it collect sooner when many transfers hold memory at once.
	serveGCPercent   = 400
	serveMemoryLimit = 256 << 20
	// maintenanceMemoryLimit is the soft limit of a maintenance pass,
	// whose live heap grows with what it walks and whose garbage comes
	// in bursts (a provider listing of a large flat directory makes the
	// heap grow to twice the live data): with Go's default percentage
	// kept, past 192 MiB the collector runs more often rather than let
	// garbage pile up.
	maintenanceMemoryLimit = 192 << 20
)

// tuneHeap prepares the heap for the work that follows the unlocking of
// the keyring, in serve and in the maintenance commands alike: it gives
// back the 64 MiB Argon2id used to unlock it (otherwise the heap may grow
// to twice that peak before the first collection, and the process keeps
// it resident), so that the heap's goal follows the work's own working
// set; then it sets the GC percentage (unless gcPercent is 0: Go's default
// is kept) and the soft memory limit. GOGC and GOMEMLIMIT in the
// environment (read with getenv) take precedence, as they do for any Go
// program.
func tuneHeap(getenv func(string) string, gcPercent int, memoryLimit int64) {
	debug.FreeOSMemory()
	if gcPercent != 0 && getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}

// maintenanceGC prepares the heap for a maintenance pass: tuneHeap with
// Go's default percentage and maintenanceMemoryLimit.
func maintenanceGC(getenv func(string) string) {
	tuneHeap(getenv, 0, maintenanceMemoryLimit)
}

// backendList returns the store's members as plain backends, in config
// order.
func (st *store) backendList() []backends.Backend {
	out := make([]backends.Backend, len(st.members))
	for i, m := range st.members {
		out[i] = m.Backend
	}
	return out
}
