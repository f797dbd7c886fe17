package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestProgressEstimate checks the counting pass on a terminal, the clock
// restarted after it, and a total passed (an estimate): counted on without
// a total rather than shown above 100%.
func TestProgressEstimate(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &progress{w: &out, term: true, label: "recover", unit: "records", counts: true, now: func() time.Time { return now }, start: now, last: now}
	p.counting(3000)
	p.counting(4000) // too soon: not drawn
	now = now.Add(time.Minute)
	p.counting(5000)
	if want := "\r\033[Krecover: counting... 3000 records\r\033[Krecover: counting... 5000 records"; out.String() != want {
		t.Errorf("counting %q, want %q", out.String(), want)
	}
	out.Reset()
	p.restart() // the minute of counting is not in the rate
	now = now.Add(10 * time.Second)
	p.update(1000, 5000, 0)
	if want := "\r\033[Krecover [####--------------------]  20% 1000/5000 records, 100/s, ETA 40s"; out.String() != want {
		t.Errorf("after counting %q, want %q", out.String(), want)
	}
	out.Reset()
	now = now.Add(50 * time.Second)
	p.update(5002, 5000, 0)
	p.finish()
	p.finish() // once
	if want := "\r\033[Krecover: 5002 records, 83/s\n"; out.String() != want {
		t.Errorf("past the total %q, want %q", out.String(), want)
	}

	// Plain output shows no counting, and a passed total likewise.
	out.Reset()
	plain := &progress{w: &out, label: "gc blobs", unit: "names", counts: true, now: func() time.Time { return now }, start: now.Add(-10 * time.Second), last: now.Add(-progressLineEvery)}
	plain.counting(10)
	plain.update(2000, 1000, 0)
	if want := "gc blobs: 2000 names, 200/s\n"; out.String() != want {
		t.Errorf("plain past the total %q, want %q", out.String(), want)
	}
}

// progressLine matches a plain progress line with a total and an ETA.
var progressLine = regexp.MustCompile(`(?m)^([a-z -]+): (\d+)/(\d+) ([a-z]+), \d+(\.\d+ [KMG]iB, \d+\.\d+ [KMG]iB/s|/s), ETA [0-9hms]+$`)

// totals returns, by label, the total of the first plain progress line
// with an ETA, as "done/total unit".
func totals(stderr string) map[string]string {
	out := make(map[string]string)
	for _, m := range progressLine.FindAllStringSubmatch(stderr, -1) {
		if _, ok := out[m[1]]; !ok {
			out[m[1]] = m[2] + "/" + m[3] + " " + m[4]
		}
	}
	return out
}

// TestMaintenanceProgressTotals checks that gc, rebuild-catalog and recover
// report their progress with a total and an ETA.
func TestMaintenanceProgressTotals(t *testing.T) {
	// 1100 objects in "photos", and the buckets "photos" and "empty":
	// 1102 meta records on each of the two backends.
	cfg, cfgPath := manyObjects(t, 1100)
	env := passEnv("passphrase-one")
	recoverArgs := []string{"recover", "--keyring", cfg.Keyring, "--backend", cfg.Backends[1].Path, "--to", t.TempDir()}
	cases := []struct {
		args []string
		want map[string]string // by label, the first line's "done/total unit"
	}{
		{[]string{"gc", "-c", cfgPath}, map[string]string{
			// The catalog's count of entries.
			"gc catalog": "1000/1100 names",
			// The meta records the catalog accounts for, the epoch's
			// name among them (this store has no epoch record yet),
			// on each backend: an estimate.
			"gc meta records": "1000/2206 names",
		}},
		// The meta records counted on both backends beforehand.
		{[]string{"rebuild-catalog", "-c", cfgPath, "--force"}, map[string]string{"rebuild-catalog": "1000/2204 records"}},
		// The names under m/ on the backend, counted beforehand.
		{recoverArgs, map[string]string{"recover": "1000/1102 records"}},
	}
	for _, c := range cases {
		r := runCLI(t, "", env, false, c.args...)
		r.expect(t, 0)
		got := totals(r.stderr)
		for label, want := range c.want {
			if got[label] != want {
				t.Errorf("%s: first progress line of %q shows %q, want %q\n%s", c.args[0], label, got[label], want, r.stderr)
			}
		}
		for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
			if !progressLine.MatchString(line) {
				t.Errorf("%s: progress line without a total or ETA: %q", c.args[0], line)
			}
		}
	}
}
