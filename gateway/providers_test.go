package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/twincrypt/twincrypt/internal/testlog"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/internal/testns"
)

// markerFile is where a local backend keeps its provider marker.
const markerFile = "twincrypt-provider"

// wipe removes everything in member i's directory, as a provider that lost
// its data.
func (e *env) wipe(t *testing.T, i int) {
	t.Helper()
	root := e.members[i].Root()
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		if err := os.RemoveAll(filepath.Join(root, ent.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckProvider(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b0, b1 := e.members[0], e.members[1]
	if err := e.ns.MarkProvider(ctx, b0); err != nil {
		t.Fatal(err)
	}
	own, err := os.ReadFile(filepath.Join(b0.Root(), markerFile))
	if err != nil {
		t.Fatal(err)
	}
	other, err := gateway.New(gateway.Options{Keys: testns.Keys(t, t.TempDir()), Store: e.set, Catalog: e.cat})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		marker  []byte // written to b1 as its marker; nil: none
		b       backends.Backend
		want    gateway.ProviderState
		wantErr error
	}{
		{"own marker", nil, b0, gateway.ProviderFilled, nil},
		{"no marker", nil, b1, gateway.ProviderEmpty, nil},
		{"another provider's marker", own, b1, gateway.ProviderForeign, gateway.ErrMarker},
		{"garbage", []byte("twincrypt provider marker v1\nwritten now\nmac zz\n"), b1, gateway.ProviderForeign, gateway.ErrMarker},
		{"unreachable", nil, deadBackend{new(int)}, gateway.ProviderUnreachable, backends.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(b1.Root(), markerFile)
			os.Remove(path)
			if tc.marker != nil {
				if err := os.WriteFile(path, tc.marker, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, written, err := e.ns.CheckProvider(ctx, tc.b)
			if got != tc.want || (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("CheckProvider = %s, %v; want %s, %v", got, err, tc.want, tc.wantErr)
			}
			if got == gateway.ProviderFilled && time.Since(written) > time.Hour {
				t.Errorf("marker written at %v", written)
			}
		})
	}
	// A marker is bound to the keyring too.
	if got, _, err := other.CheckProvider(ctx, b0); got != gateway.ProviderForeign || !errors.Is(err, gateway.ErrMarker) {
		t.Errorf("marker checked under another keyring: %s, %v", got, err)
	}
}

func TestRefillWipedProvider(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 20 {
		e.put(t, fmt.Sprintf("dir/k%02d", i), payload(100+i*997, uint64(i)))
	}
	e.wipe(t, 1)
	if got := e.names(t, 1, ""); len(got) != 0 {
		t.Fatalf("wiped member still lists %v", got)
	}
	want := e.names(t, 0, "")

	// A scrub of the wiped member only reports on it alone.
	rep, err := e.ns.Scrub(ctx, gateway.ScrubOptions{Members: e.backendsOf(), Only: []string{"b1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Backends) != 1 || rep.Backends[0].Name != "b1" || rep.Backends[0].Missing != 36 { // 21 records, 15 blobs (objects of more than InlineMax bytes)
		t.Fatalf("scrub of b1 only: %+v", rep.Backends)
	}
	if _, err := e.ns.Scrub(ctx, gateway.ScrubOptions{Members: e.backendsOf(), Only: []string{"nobody"}}); err == nil {
		t.Fatal("scrub of an unknown member succeeded")
	}

	var logs testlog.Buffer
	fixed, marked, err := e.ns.Refill(ctx, gateway.RefillOptions{
		Members: e.backendsOf(), Targets: []string{"b1"},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), ProgressEvery: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	if fixed.BlobsCopied != 15 || fixed.MetaRewritten != 21 || len(fixed.Unrepaired) != 0 || !slices.Equal(marked, []string{"b1"}) {
		t.Fatalf("refill: %d blobs, %d records, unrepaired %v, marked %v", fixed.BlobsCopied, fixed.MetaRewritten, fixed.Unrepaired, marked)
	}
	if !strings.Contains(logs.String(), "progress=36/36") {
		t.Errorf("no final progress line in the log:\n%s", logs.String())
	}
	got := slices.DeleteFunc(e.names(t, 1, ""), func(n string) bool { return n == markerFile })
	if !slices.Equal(got, want) {
		t.Errorf("refilled member holds %d objects, the other %d", len(got), len(want))
	}
	if st, _, err := e.ns.CheckProvider(ctx, e.members[1]); st != gateway.ProviderFilled {
		t.Errorf("refilled member: %s, %v", st, err)
	}
	if st, _, _ := e.ns.CheckProvider(ctx, e.members[0]); st != gateway.ProviderEmpty {
		t.Errorf("the source was marked too: %s", st)
	}
	if after := e.scrub(t, true); !after.Clean() {
		t.Errorf("deep scrub after the refill: %v", summary(after))
	}
}

// TestRefillUnreachableTarget checks that a target that could not be
// filled is not marked, so that the next check tries again.
func TestRefillUnreachableTarget(t *testing.T) {
	e := newEnv(t)
	e.put(t, "k", []byte("data"))
	members := []backends.Backend{e.members[0], deadBackend{new(int)}}
	rep, marked, err := e.ns.Refill(context.Background(), gateway.RefillOptions{Members: members, Targets: []string{"dead"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(marked) != 0 || len(rep.Unrepaired) == 0 {
		t.Errorf("refill of an unreachable member: marked %v, unrepaired %v", marked, rep.Unrepaired)
	}
}

// TestWatchProvidersRefillsAWipedProvider runs the watcher: it marks new
// members, finds a member wiped later and refills it without being asked,
// and reports every member it reached.
func TestWatchProvidersRefillsAWipedProvider(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		e.put(t, fmt.Sprintf("k%d", i), payload(1000+i, uint64(i)))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	reached := map[string]int{}
	var logs testlog.Buffer
	done := make(chan error, 1)
	go func() {
		done <- e.ns.WatchProviders(ctx, gateway.WatchOptions{
			Members: e.backendsOf(), Interval: time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			Reachable: func(_ context.Context, name string) {
				mu.Lock()
				reached[name]++
				mu.Unlock()
			},
		})
	}()
	marked := func(i int) bool {
		st, _, _ := e.ns.CheckProvider(context.Background(), e.members[i])
		return st == gateway.ProviderFilled
	}
	waitUntil(t, "both members marked", func() bool { return marked(0) && marked(1) })
	want := e.names(t, 0, "")
	e.wipe(t, 1)
	waitUntil(t, "the wiped member refilled", func() bool { return slices.Equal(e.names(t, 1, ""), want) })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("WatchProviders returned %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if reached["b0"] == 0 || reached["b1"] == 0 {
		t.Errorf("members reported reachable: %v", reached)
	}
	if !strings.Contains(logs.String(), "providers refilled") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// waitUntil polls cond a bounded number of times.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 5000 {
		if cond() {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("condition never held: %s", what)
}

// TestRefillSkipsQueuedDeletes has a wiped-and-restored provider hold the
// meta record and blob of an object deleted while it was away: the refill
// leaves the object deleted, whether or not it is told that the delete is
// still queued, since the catalog's tombstone is newer than the record.
func TestRefillSkipsQueuedDeletes(t *testing.T) {
	tests := []struct {
		name     string
		queued   bool
		wantBack bool
	}{
		{"delete queued", true, false},
		{"delete not known", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			blobs := e.put(t, "gone", []byte("deleted while the provider was away"))
			meta := e.recordName(t, "bucket", "gone", "")
			saved := map[string][]byte{}
			for _, n := range append(blobs, meta) {
				b, err := os.ReadFile(e.file(1, n))
				if err != nil {
					t.Fatal(err)
				}
				saved[n] = b
			}
			if err := e.ns.DeleteObject(ctx, "bucket", "gone"); err != nil {
				t.Fatal(err)
			}
			for n, b := range saved {
				if err := os.WriteFile(e.file(1, n), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var deleting func(string) bool
			if tc.queued {
				deleting = func(name string) bool { return name == meta }
			}
			if _, _, err := e.ns.Refill(ctx, gateway.RefillOptions{Members: e.backendsOf(), Targets: []string{"b1"}, Deleting: deleting}); err != nil {
				t.Fatal(err)
			}
			_, err := e.ns.Object(ctx, "bucket", "gone")
			if back := err == nil; back != tc.wantBack {
				t.Errorf("object back after the refill: %v (%v), want %v", back, err, tc.wantBack)
			}
		})
	}
}
