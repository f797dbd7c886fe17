package main

import (
	"runtime/debug"
	"testing"
)

// TestTuneHeap checks the collector settings serve and the maintenance
// commands apply, and that GOGC and GOMEMLIMIT in the environment keep
// theirs.
func TestTuneHeap(t *testing.T) {
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(1<<40)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
	serve := func(getenv func(string) string) { tuneHeap(getenv, serveGCPercent, serveMemoryLimit) }
	for _, tc := range []struct {
		name    string
		tune    func(getenv func(string) string)
		env     map[string]string
		percent int
		limit   int64
	}{
		{"serve", serve, map[string]string{}, 400, 256 << 20},
		{"serve", serve, map[string]string{"GOGC": "50"}, 100, 256 << 20},
		{"serve", serve, map[string]string{"GOMEMLIMIT": "1GiB"}, 400, 1 << 40},
		{"serve", serve, map[string]string{"GOGC": "off", "GOMEMLIMIT": "1GiB"}, 100, 1 << 40},
		// A maintenance pass keeps Go's percentage.
		{"maintenance", maintenanceGC, map[string]string{}, 100, 192 << 20},
		{"maintenance", maintenanceGC, map[string]string{"GOGC": "50"}, 100, 192 << 20},
		{"maintenance", maintenanceGC, map[string]string{"GOMEMLIMIT": "1GiB"}, 100, 1 << 40},
	} {
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(1 << 40)
		tc.tune(func(k string) string { return tc.env[k] })
		if got := debug.SetGCPercent(100); got != tc.percent {
			t.Errorf("%s, env %v: GC percent %d, want %d", tc.name, tc.env, got, tc.percent)
		}
		if got := debug.SetMemoryLimit(-1); got != tc.limit {
			t.Errorf("%s, env %v: memory limit %d, want %d", tc.name, tc.env, got, tc.limit)
		}
	}
}
