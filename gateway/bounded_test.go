package gateway_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway"
)

// boundedObjects is how many objects the stores of TestScrubAndRepairBounded
// hold, and boundedMax the list bound the scrubs and repairs run with.
const (
	boundedObjects = 60
	boundedMax     = 5
)

// counts renders the counts of a scrub report, without its problems.
func counts(rep *gateway.ScrubReport) string {
	return fmt.Sprintf("buckets %d objects %d tombstones %d blobs %d bytes %d catalog %d backends %+v",
		rep.Buckets, rep.Objects, rep.Tombstones, rep.Blobs, rep.Bytes, rep.Catalog, rep.Backends)
}

// problemCount counts the problems of a scrub report that need repair.
func problemCount(rep *gateway.ScrubReport) int {
	n := rep.Catalog
	for _, b := range rep.Backends {
		n += b.Total()
	}
	return n
}

func TestScrubAndRepairBounded(t *testing.T) {
	type outcome struct {
		problems   int // problems found by the first scrub
		actions    int // changes made by the repair
		adopted    int
		unrepaired int
		rounds     int
	}
	const n = boundedObjects
	cases := []struct {
		name  string
		adopt bool
		// damage damages a store whose objects are keys, and returns
		// the expected outcome.
		damage func(t *testing.T, e *env, keys []string) outcome
	}{
		{"provider lost everything", false, func(t *testing.T, e *env, keys []string) outcome {
			for _, prefix := range []string{"b/", "m/"} {
				for _, name := range e.names(t, 1, prefix) {
					if err := os.Remove(e.file(1, name)); err != nil {
						t.Fatal(err)
					}
				}
			}
			// Every meta record and blob, and the bucket's record:
			// the repair rewrites 61 records and copies 60 blobs in
			// one round, and a second finds nothing.
			return outcome{problems: 2*n + 1, actions: 2*n + 1, rounds: 2}
		}},
		{"blobs gone from both", false, func(t *testing.T, e *env, keys []string) outcome {
			for i := range e.members {
				for _, name := range e.names(t, i, "b/") {
					if err := os.Remove(e.file(i, name)); err != nil {
						t.Fatal(err)
					}
				}
			}
			return outcome{problems: 2 * n, unrepaired: 2 * n, rounds: 1}
		}},
		{"catalog lost its entries", false, func(t *testing.T, e *env, keys []string) outcome {
			for _, k := range keys {
				if _, err := e.cat.Delete(context.Background(), "bucket", k, 0); err != nil {
					t.Fatal(err)
				}
			}
			// Not adopted: the records are reported, on each
			// backend, and left alone.
			return outcome{problems: 2 * n, unrepaired: 2 * n, rounds: 1}
		}},
		{"catalog lost its entries, adopted", true, func(t *testing.T, e *env, keys []string) outcome {
			for _, k := range keys {
				if _, err := e.cat.Delete(context.Background(), "bucket", k, 0); err != nil {
					t.Fatal(err)
				}
			}
			// The uncataloged records are listed after the walks:
			// each round adopts the first boundedMax of them, and
			// rounds go on past maxRepairRounds while each finds
			// fewer.
			return outcome{problems: 2 * n, actions: n, adopted: n, rounds: n/boundedMax + 1}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			var keys []string
			for i := range n {
				key := fmt.Sprintf("k%03d", i)
				e.put(t, key, payload(gateway.InlineMax+100, uint64(i)))
				keys = append(keys, key)
			}
			want := c.damage(t, e, keys)

			// A scrub counts every problem and lists boundedMax:
			// the first of those a scrub without a bound lists.
			full, err := e.ns.Scrub(ctx, gateway.ScrubOptions{Members: e.backendsOf(), MaxProblems: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := e.ns.Scrub(ctx, gateway.ScrubOptions{Members: e.backendsOf(), MaxProblems: boundedMax})
			if err != nil {
				t.Fatal(err)
			}
			if got := problemCount(full); got != want.problems || len(full.Problems) != want.problems || full.ProblemsOmitted != 0 {
				t.Fatalf("unbounded scrub: %d problems, %d listed, %d omitted; want %d, all listed", got, len(full.Problems), full.ProblemsOmitted, want.problems)
			}
			if got, want := counts(rep), counts(full); got != want {
				t.Errorf("bounded scrub counts\n%s\nwant\n%s", got, want)
			}
			if len(rep.Problems) != boundedMax || rep.ProblemsOmitted != want.problems-boundedMax {
				t.Errorf("bounded scrub lists %d problems and omits %d; want %d and %d", len(rep.Problems), rep.ProblemsOmitted, boundedMax, want.problems-boundedMax)
			}
			for i := range min(len(rep.Problems), len(full.Problems)) {
				if got, want := rep.Problems[i].String(), full.Problems[i].String(); got != want {
					t.Errorf("problem %d: %s, want %s", i, got, want)
				}
			}
			if rep.Clean() {
				t.Error("a scrub with problems reports clean")
			}

			// Repair holds at most boundedMax problems at a time and
			// still repairs every one it can.
			largest := 0
			fixed, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf(), MaxProblems: boundedMax, Adopt: c.adopt,
				Fixed: func(_, total int) { largest = max(largest, total) }})
			if err != nil {
				t.Fatal(err)
			}
			if largest > boundedMax {
				t.Errorf("a repair segment tried %d problems at once, more than %d", largest, boundedMax)
			}
			got := outcome{problems: problemCount(fixed.Found), actions: fixed.Actions(), adopted: fixed.Adopted, unrepaired: fixed.UnrepairedCount(), rounds: fixed.Rounds}
			if got != want {
				t.Errorf("repair: %+v, want %+v", got, want)
			}
			if counts(fixed.Found) != counts(full) || len(fixed.Found.Problems) > boundedMax || len(fixed.Found.Problems)+fixed.Found.ProblemsOmitted != want.problems {
				t.Errorf("repair found\n%s (%d listed, %d omitted)\nwant\n%s", counts(fixed.Found), len(fixed.Found.Problems), fixed.Found.ProblemsOmitted, counts(full))
			}
			if len(fixed.Unrepaired) != min(want.unrepaired, boundedMax) {
				t.Errorf("repair lists %d unrepaired problems, want %d", len(fixed.Unrepaired), min(want.unrepaired, boundedMax))
			}
			after, err := e.ns.Scrub(ctx, gateway.ScrubOptions{Members: e.backendsOf(), MaxProblems: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			if problemCount(after) != want.unrepaired {
				t.Errorf("after repair a scrub finds %d problems, want %d: %v", problemCount(after), want.unrepaired, summary(after))
			}
			if want.unrepaired == 0 {
				for _, k := range keys {
					if got := e.get(t, k, 0, -1); len(got) != gateway.InlineMax+100 {
						t.Errorf("%s: %d bytes after repair", k, len(got))
					}
				}
			}
		})
	}
}

// TestRepairBoundedResumes interrupts a repair that repairs in segments and
// resumes it from its checkpoints: it ends as one run does.
func TestRepairBoundedResumes(t *testing.T) {
	setup := func(t *testing.T) *env {
		e := newEnv(t)
		for i := range 20 {
			e.put(t, fmt.Sprintf("k%02d", i), payload(gateway.InlineMax+100, uint64(i)))
		}
		for _, name := range e.names(t, 1, "b/") {
			os.Remove(e.file(1, name))
		}
		return e
	}
	for _, k := range []int{1, 2, 5, 13} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			e := setup(t)
			rep, runs := interrupted(t, k, func(ctx context.Context, r *gateway.RepairResume, ck func(gateway.RepairResume)) (*gateway.RepairReport, error) {
				return e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf(), MaxProblems: 3, Workers: 2, Resume: r, Checkpoint: ck})
			})
			if runs < 2 && k < 13 {
				t.Errorf("only %d runs: the interruptions did not happen", runs)
			}
			if rep.BlobsCopied != 20 || rep.UnrepairedCount() != 0 {
				t.Errorf("after %d runs: %d blobs copied (want 20), unrepaired %v", runs, rep.BlobsCopied, rep.Unrepaired)
			}
			if after := e.scrub(t, true); !after.Clean() {
				t.Errorf("after %d runs: %v", runs, summary(after))
			}
		})
	}
}

// TestRepairBoundedStopsWhenNothingSticks repairs, in segments, a backend
// that takes writes and keeps none: the rounds stop at their usual limit and
// report every problem as unrepaired.
func TestRepairBoundedStopsWhenNothingSticks(t *testing.T) {
	e := newEnv(t)
	for i := range 12 {
		e.put(t, fmt.Sprintf("k%02d", i), payload(gateway.InlineMax+100, uint64(i)))
	}
	for _, name := range e.names(t, 1, "m/") {
		if err := os.Remove(e.file(1, name)); err != nil {
			t.Fatal(err)
		}
	}
	members := []backends.Backend{e.members[0], ignoresWrites{e.members[1]}}
	rep, err := e.ns.Repair(context.Background(), gateway.RepairOptions{Members: members, MaxProblems: boundedMax})
	if err != nil {
		t.Fatal(err)
	}
	// 12 object records and the bucket's, written again in each of 4
	// rounds, then a scrub that reports them.
	if rep.Rounds != 5 || rep.UnrepairedCount() != 13 || len(rep.Unrepaired) != boundedMax || rep.MetaRewritten != 4*13 {
		t.Errorf("%d rounds, %d rewritten, %d unrepaired (%d listed); want 5, %d, 13 (%d listed)",
			rep.Rounds, rep.MetaRewritten, rep.UnrepairedCount(), len(rep.Unrepaired), 4*13, boundedMax)
	}
}
