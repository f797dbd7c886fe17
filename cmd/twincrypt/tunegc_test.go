package main

import (
	"runtime/debug"
	"testing"
)

// TestTuneGC checks the collector settings serve applies, and that GOGC and
// GOMEMLIMIT in the environment keep theirs.
func TestTuneGC(t *testing.T) {
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(1<<40)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
	for _, tc := range []struct {
		env     map[string]string
		percent int
		limit   int64
	}{
		{map[string]string{}, 400, 256 << 20},
		{map[string]string{"GOGC": "50"}, 100, 256 << 20},
		{map[string]string{"GOMEMLIMIT": "1GiB"}, 400, 1 << 40},
		{map[string]string{"GOGC": "off", "GOMEMLIMIT": "1GiB"}, 100, 1 << 40},
	} {
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(1 << 40)
		tuneGC(func(k string) string { return tc.env[k] })
		if got := debug.SetGCPercent(100); got != tc.percent {
			t.Errorf("env %v: GC percent %d, want %d", tc.env, got, tc.percent)
		}
		if got := debug.SetMemoryLimit(-1); got != tc.limit {
			t.Errorf("env %v: memory limit %d, want %d", tc.env, got, tc.limit)
		}
	}
}
