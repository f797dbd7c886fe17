package gateway_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/seal"
)

// resumeEnv is a store with objects in two buckets, versions, delete
// markers, deletions of keys and of versions, and faults on member 1 (a
// missing blob, a corrupt blob, a missing meta record), so that every walk
// of a maintenance pass has items and finds problems.
func resumeEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	ctx := context.Background()
	if err := e.ns.CreateBucket(ctx, "second"); err != nil {
		t.Fatal(err)
	}
	if err := e.ns.CreateBucket(ctx, "ver"); err != nil {
		t.Fatal(err)
	}
	if err := e.ns.SetBucketVersioning(ctx, "ver", gateway.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	var blobs [][]string
	for i := range 30 {
		blobs = append(blobs, e.put(t, fmt.Sprintf("k/%02d", i), payload(100+i*(gateway.InlineMax/2), uint64(i))))
	}
	for i := range 12 {
		data := payload(3000+i, uint64(100+i))
		if _, err := e.ns.PutObject(ctx, "second", fmt.Sprintf("s%02d", i), bytes.NewReader(data), int64(len(data)), gateway.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		key := fmt.Sprintf("v%d", i)
		var first string
		for j := range 3 {
			data := payload(2000+j, uint64(200+10*i+j))
			info, err := e.ns.PutObject(ctx, "ver", key, bytes.NewReader(data), int64(len(data)), gateway.PutOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if j == 0 {
				first = info.VersionID
			}
		}
		if i%2 == 0 {
			if _, err := e.ns.Delete(ctx, "ver", key, gateway.DeleteOptions{}); err != nil { // a delete marker
				t.Fatal(err)
			}
		}
		if i < 3 {
			if _, err := e.ns.Delete(ctx, "ver", key, gateway.DeleteOptions{VersionID: first}); err != nil { // a version tombstone
				t.Fatal(err)
			}
		}
	}
	for _, i := range []int{3, 9, 17} {
		if err := e.ns.DeleteObject(ctx, "bucket", fmt.Sprintf("k/%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Faults on member 1.
	if err := os.Remove(e.file(1, blobs[5][0])); err != nil {
		t.Fatal(err)
	}
	flipByte(t, e.file(1, blobs[21][0]), seal.HeaderSize+3)
	if err := os.Remove(e.file(1, e.recordName(t, "second", "s07", ""))); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(e.file(1, e.recordName(t, "bucket", "k/09", ""))); err != nil { // a deletion's tombstone
		t.Fatal(err)
	}
	return e
}

// scrubLines renders a scrub report: its counts and its problems, sorted.
func scrubLines(rep *gateway.ScrubReport) []string {
	out := []string{fmt.Sprintf("buckets %d objects %d tombstones %d blobs %d bytes %d catalog %d", rep.Buckets, rep.Objects, rep.Tombstones, rep.Blobs, rep.Bytes, rep.Catalog)}
	for _, b := range rep.Backends {
		out = append(out, fmt.Sprintf("%+v", b))
	}
	for _, p := range rep.Problems {
		out = append(out, p.String())
	}
	slices.Sort(out[1+len(rep.Backends):])
	return out
}

// interrupted runs op until it completes: each run is cancelled after its
// k-th checkpoint and the next resumes from the last checkpoint reported.
// It returns the result of the run that completed and the number of runs.
func interrupted[C any, R any](t *testing.T, k int, op func(ctx context.Context, resume *C, checkpoint func(C)) (R, error)) (R, int) {
	t.Helper()
	var resume *C
	for runs := 1; ; runs++ {
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		var last *C
		rep, err := op(ctx, resume, func(c C) {
			last = &c
			if n++; n == k {
				cancel()
			}
		})
		cancel()
		if err == nil {
			return rep, runs
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("run %d: %v", runs, err)
		}
		if runs > 1000 {
			t.Fatal("no progress")
		}
		if last != nil {
			resume = last
		}
	}
}

func TestScrubResumesWhereItStopped(t *testing.T) {
	e := resumeEnv(t)
	for _, deep := range []bool{false, true} {
		full := e.scrub(t, deep)
		if full.Clean() || full.Tombstones == 0 || full.Objects < 50 {
			t.Fatalf("deep=%v: the store has no problems or no deletions: %v", deep, scrubLines(full))
		}
		want := scrubLines(full)
		for _, k := range []int{1, 2, 3, 7, 20, 41, 60, 200} {
			t.Run(fmt.Sprintf("deep=%v/every=%d", deep, k), func(t *testing.T) {
				rep, runs := interrupted(t, k, func(ctx context.Context, r *gateway.ScrubResume, ck func(gateway.ScrubResume)) (*gateway.ScrubReport, error) {
					return e.ns.Scrub(ctx, gateway.ScrubOptions{Members: e.backendsOf(), Deep: deep, Workers: 3, Resume: r, Checkpoint: ck})
				})
				if got := scrubLines(rep); !slices.Equal(got, want) {
					t.Errorf("after %d runs:\n%s\nwant (one run):\n%s", runs, join(got), join(want))
				}
				if k < 20 && runs < 3 {
					t.Errorf("only %d runs: the interruptions did not happen", runs)
				}
			})
		}
	}
}

func join(lines []string) string {
	var b bytes.Buffer
	for _, l := range lines {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	return b.String()
}

func TestScrubResumeRejectsUnknownPhase(t *testing.T) {
	e := newEnv(t)
	_, err := e.ns.Scrub(context.Background(), gateway.ScrubOptions{Members: e.backendsOf(),
		Resume: &gateway.ScrubResume{After: gateway.WalkPosition{Phase: "nonsense"}}})
	if err == nil {
		t.Fatal("a resume position of an unknown phase was accepted")
	}
}

func TestRepairResumeRejectsUnknownRound(t *testing.T) {
	e := newEnv(t)
	for _, round := range []int{-1, 5, 1 << 30} {
		_, err := e.ns.Repair(context.Background(), gateway.RepairOptions{Members: e.backendsOf(),
			Resume: &gateway.RepairResume{Round: round}})
		if err == nil || !strings.Contains(err.Error(), "round") {
			t.Errorf("a resume in round %d: %v, want a refusal", round, err)
		}
	}
}

// repairOutcome renders what a repair did and the state it left.
func repairOutcome(t *testing.T, e *env, rep *gateway.RepairReport) []string {
	t.Helper()
	after := e.scrub(t, true)
	out := []string{fmt.Sprintf("actions %d unrepaired %d", rep.Actions(), len(rep.Unrepaired))}
	return append(out, scrubLines(after)...)
}

func TestRepairResumesWhereItStopped(t *testing.T) {
	ref := resumeEnv(t)
	full, err := ref.ns.Repair(context.Background(), gateway.RepairOptions{Members: ref.backendsOf(), Deep: true})
	if err != nil {
		t.Fatal(err)
	}
	want := repairOutcome(t, ref, full)
	if full.Actions() == 0 {
		t.Fatal("nothing to repair")
	}
	for _, k := range []int{1, 3, 10, 40, 90} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			e := resumeEnv(t)
			rep, runs := interrupted(t, k, func(ctx context.Context, r *gateway.RepairResume, ck func(gateway.RepairResume)) (*gateway.RepairReport, error) {
				return e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf(), Deep: true, Workers: 3, Resume: r, Checkpoint: ck})
			})
			if got := repairOutcome(t, e, rep); !slices.Equal(got, want) {
				t.Errorf("after %d runs:\n%s\nwant (one run):\n%s", runs, join(got), join(want))
			}
		})
	}
}

func TestRewrapResumesWhereItStopped(t *testing.T) {
	for _, k := range []int{1, 2, 5, 17, 1000} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			e := resumeEnv(t)
			if _, err := e.keys.Rotate(); err != nil {
				t.Fatal(err)
			}
			rep, runs := interrupted(t, k, func(ctx context.Context, r *gateway.RewrapResume, ck func(gateway.RewrapResume)) (*gateway.RewrapReport, error) {
				return e.ns.RewrapWith(ctx, gateway.RewrapOptions{Resume: r, Checkpoint: ck})
			})
			// 27 objects of bucket, 12 of second, 5 keys of 3 versions
			// (one deleted for 3 of them) and 3 delete markers.
			const objects = 27 + 12 + 5*3 - 3 + 3
			if rep.Objects != objects || rep.ObjectsRewrapped != objects || rep.Failed != 0 {
				t.Errorf("after %d runs: %+v; want %d objects, all rewrapped", runs, rep, objects)
			}
			again, err := e.ns.Rewrap(context.Background())
			if err != nil || again.ObjectsRewrapped != 0 || again.Objects != objects {
				t.Errorf("a second rewrap: %+v, %v; want nothing left to rewrap", again, err)
			}
		})
	}
}

// catalogLines renders a catalog's content: buckets, entries, versions and
// tombstones, with a hash of each record.
func catalogLines(t *testing.T, cat catalog.Catalog) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	h := func(b []byte) string { s := sha256.Sum256(b); return fmt.Sprintf("%x", s[:6]) }
	bs, err := cat.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		v, _ := cat.GetBucketVersioning(ctx, b.Name)
		out = append(out, fmt.Sprintf("bucket %s %v %s %+v", b.Name, b.Created.UnixNano(), b.Owner, v))
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cat.Walk(ctx, func(e catalog.Entry) error {
		out = append(out, fmt.Sprintf("entry %s/%s %s gen %d size %d %s", e.Bucket, e.Key, e.VersionID, e.Generation, e.Size, h(e.Record)))
		return nil
	}))
	must(cat.WalkVersions(ctx, func(v catalog.Version) error {
		out = append(out, fmt.Sprintf("version %s/%s %s gen %d marker %v %s", v.Bucket, v.Key, v.VersionID, v.Generation, v.DeleteMarker, h(v.Record)))
		return nil
	}))
	must(cat.WalkTombstones(ctx, func(v catalog.Tombstone) error {
		out = append(out, fmt.Sprintf("tombstone %s/%s %s gen %d %s", v.Bucket, v.Key, v.VersionID, v.Generation, h(v.Record)))
		return nil
	}))
	must(cat.WalkVersionTombstones(ctx, func(v catalog.Tombstone) error {
		out = append(out, fmt.Sprintf("version tombstone %s/%s %s gen %d %s", v.Bucket, v.Key, v.VersionID, v.Generation, h(v.Record)))
		return nil
	}))
	cur, rec, err := cat.Epoch(ctx)
	must(err)
	return append(out, fmt.Sprintf("epoch %d %s", cur, h(rec)))
}

func TestRebuildCatalogResumesWhereItStopped(t *testing.T) {
	e := resumeEnv(t)
	ctx := context.Background()
	// A bucket deleted (its tombstone), one whose record member 0 lacks.
	if err := e.ns.CreateBucket(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := e.ns.DeleteBucket(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	os.Remove(e.file(0, e.ns.MetaName("second", "")))
	// Member 1 rolled back: it serves older records of keys overwritten
	// since, in a bucket whose record sorts late, so that on member 0 most
	// of its objects are met before it and wait for it. The newest record
	// wins, whichever backend is read first and wherever the interruptions
	// fall.
	late := ""
	for i := 0; late == ""; i++ {
		if b := fmt.Sprintf("late-%d", i); e.ns.MetaName(b, "") > "m/e" {
			late = b
		}
	}
	if err := e.ns.CreateBucket(ctx, late); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		key := fmt.Sprintf("r%d", i)
		var old []byte
		var oldName string
		for j := range 2 {
			data := payload(100+j, uint64(600+i))
			if _, err := e.ns.PutObject(ctx, late, key, bytes.NewReader(data), int64(len(data)), gateway.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			if j == 0 {
				var err error
				oldName = e.recordName(t, late, key, "")
				if old, err = os.ReadFile(e.file(1, oldName)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := os.Remove(e.file(1, e.recordName(t, late, key, ""))); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(e.file(1, oldName)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.file(1, oldName), old, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A record on member 1 that does not open: reported once.
	flipByte(t, e.file(1, e.recordName(t, "second", "s03", "")), 40)
	rebuild := func(ctx context.Context, path string, r *gateway.RebuildResume, ck func(gateway.RebuildResume)) (*gateway.RebuildReport, []string, error) {
		cat, err := catalog.OpenBolt(path)
		if err != nil {
			t.Fatal(err)
		}
		defer cat.Close()
		rep, err := gateway.RebuildCatalog(ctx, gateway.RebuildOptions{Keys: e.keys, Backends: e.backendsOf(), Catalog: cat, Resume: r, Checkpoint: ck})
		if err != nil {
			return rep, nil, err
		}
		return rep, catalogLines(t, cat), nil
	}
	fullRep, want, err := rebuild(ctx, filepath.Join(t.TempDir(), "full.db"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if orig := catalogLines(t, e.cat); !slices.Equal(want[:len(want)-1], orig[:len(orig)-1]) {
		// The epoch line aside: the gateway's catalog has none.
		t.Fatalf("one rebuild:\n%s\nwant (the gateway's catalog):\n%s", join(want), join(orig))
	}
	if fullRep.Objects == 0 || fullRep.Versions == 0 || fullRep.Tombstones == 0 || len(fullRep.Failed) != 1 {
		t.Fatalf("rebuilt %+v", fullRep)
	}
	for _, k := range []int{1, 2, 5, 13, 50, 120} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "resumed.db")
			type result struct {
				rep   *gateway.RebuildReport
				lines []string
			}
			res, runs := interrupted(t, k, func(ctx context.Context, r *gateway.RebuildResume, ck func(gateway.RebuildResume)) (result, error) {
				rep, lines, err := rebuild(ctx, path, r, ck)
				return result{rep, lines}, err
			})
			if !slices.Equal(res.lines, want) {
				t.Errorf("after %d runs:\n%s\nwant (one run):\n%s", runs, join(res.lines), join(want))
			}
			got, wantRep := *res.rep, *fullRep
			if got.Buckets != wantRep.Buckets || got.ImpliedBuckets != wantRep.ImpliedBuckets || got.Objects != wantRep.Objects ||
				got.Versions != wantRep.Versions || got.Tombstones != wantRep.Tombstones || got.Shares != wantRep.Shares || len(got.Failed) != len(wantRep.Failed) {
				t.Errorf("after %d runs: %+v, want %+v", runs, got, wantRep)
			}
			if k < 50 && runs < 3 {
				t.Errorf("only %d runs: the interruptions did not happen", runs)
			}
		})
	}
}
