package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/gateway"
)

// manyVersions fills a versioned bucket with keys*perKey versions: the
// first keys written before versioning (null versions), every seventh
// key's current version a delete marker, and some keys a file system
// cannot hold as they are. It returns the names of the keys with
// versions; "../pre" is written once, before versioning.
func manyVersions(t *testing.T, e *env, keys, perKey int) []string {
	t.Helper()
	ctx := context.Background()
	var names []string
	for i := range keys {
		k := fmt.Sprintf("k%04d/file", i)
		switch i % 10 {
		case 3:
			k = fmt.Sprintf("../up%d", i) // encoded
		case 4:
			k = fmt.Sprintf("k%04d/file/x", i-2) // k%04d/file is a file and a folder
		}
		if i == 5 {
			k = "../pre/x" // ../pre, written once before versioning, is a file and a folder
		}
		names = append(names, k)
	}
	e.putv(t, "bucket", "../pre", "before versioning ../pre")
	for _, k := range names[:3] {
		e.putv(t, "bucket", k, "before versioning "+k)
	}
	if err := e.ns.SetBucketVersioning(ctx, "bucket", gateway.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	for v := range perKey {
		for i, k := range names {
			if i%7 == 0 && v == perKey-1 {
				if err := e.ns.DeleteObject(ctx, "bucket", k); err != nil {
					t.Fatal(err)
				}
				continue
			}
			e.putv(t, "bucket", k, fmt.Sprintf("%s v%d", k, v))
		}
	}
	return names
}

// manifestOf parses a versions manifest.
func manifestOf(t *testing.T, s string) []gateway.VersionEntry {
	t.Helper()
	var out []gateway.VersionEntry
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		var v gateway.VersionEntry
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("manifest line %q: %v", line, err)
		}
		out = append(out, v)
	}
	return out
}

// TestRecoverManyVersions recovers thousands of versions with a spill
// buffer of a few keys, so that the candidates pass through many runs on
// disk, and checks the result against one recovered in memory and against
// the catalog's listing of every version.
func TestRecoverManyVersions(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	names := manyVersions(t, e, 40, 60) // 2,400 versions and markers
	var all []gateway.VersionInfo
	for opt := (gateway.VersionListOptions{}); ; {
		res, err := e.ns.ListVersions(ctx, "bucket", opt)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, res.Versions...)
		if !res.Truncated {
			break
		}
		opt.KeyMarker, opt.VersionIDMarker = res.NextKeyMarker, res.NextVersionIDMarker
	}
	// Corrupt five versions that are not current: each a failure.
	corrupt := map[string]bool{}
	for _, v := range all {
		if !v.Latest && !v.DeleteMarker && len(corrupt) < 5 && strings.HasPrefix(v.Key, "k") {
			corrupt[v.VersionID] = true
			flipByte(t, e.file(0, e.recordName(t, "bucket", v.Key, v.VersionID)), 40)
		}
	}

	spillDir := t.TempDir()
	t.Setenv("TMPDIR", spillDir)
	maxRuns := 0
	sample := func(bool) {
		ents, _ := os.ReadDir(spillDir)
		n := 0
		for _, d := range ents {
			if strings.HasPrefix(d.Name(), "twincrypt-spill-") {
				n++
			}
		}
		maxRuns = max(maxRuns, n)
	}
	opts := gateway.RecoverOptions{Keys: e.keys, Backend: e.members[0], AllVersions: true}
	refDir := filepath.Join(t.TempDir(), "memory")
	opts.Dir = refDir
	ref, err := gateway.RecoverWith(ctx, opts, 1<<20, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.Dir = filepath.Join(t.TempDir(), "spilled")
	rep, err := gateway.RecoverWith(ctx, opts, 7, 3, sample)
	if err != nil {
		t.Fatal(err)
	}
	// Some 2,400 keys through a buffer of 7: hundreds of runs, merged
	// sixteen at a time, so a few dozen files at most at once.
	if maxRuns < 10 || maxRuns > 60 {
		t.Errorf("at most %d spill runs on disk at once, want 10 to 60", maxRuns)
	}
	if ents, _ := os.ReadDir(spillDir); len(ents) != 0 {
		t.Errorf("spill files left behind: %v", ents)
	}

	// The same files, manifest and renames, byte for byte.
	memTree := readTree(t, refDir)
	got := readTree(t, opts.Dir)
	if !maps.Equal(got, memTree) {
		t.Errorf("spilled recovery differs from the one in memory: %d files vs %d", len(got), len(memTree))
	}
	if rep.Versions != ref.Versions || rep.Objects != ref.Objects || rep.Deleted != ref.Deleted || rep.FailedCount != ref.FailedCount || rep.RenamedCount != ref.RenamedCount {
		t.Errorf("report %+v, in memory %+v", rep, ref)
	}
	// Bounded lists, full counts.
	if rep.FailedCount != len(corrupt) || len(rep.Failed) != 3 || len(ref.Failed) != len(corrupt) {
		t.Errorf("%d failures, %d listed (in memory %d); want %d, 3: %v", rep.FailedCount, len(rep.Failed), len(ref.Failed), len(corrupt), ref.Failed)
	}
	renamed := strings.Count(got[gateway.RenamesFile], "\n")
	if rep.RenamedCount != renamed || len(rep.Renamed) != 3 || len(ref.Renamed) != renamed || renamed < 4 {
		t.Errorf("%d renamed, %d listed, %d in the file", rep.RenamedCount, len(rep.Renamed), renamed)
	}

	// Every file restored under another name is where the renames say,
	// with the current version of its key.
	for _, line := range strings.Split(strings.TrimSpace(got[gateway.RenamesFile]), "\n") {
		var r gateway.RenamedKey
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if want := readVersion(t, e.ns, "bucket", r.Key, ""); got[r.Path] != want {
			t.Errorf("renamed %+v holds %q, want %q", r, got[r.Path], want)
		}
	}
	for _, p := range []string{"bucket/%2E%2E/up3", "bucket/%2E%2E/pre%", "bucket/k0002/file%", "bucket/k0022/file%"} {
		if !strings.Contains(got[gateway.RenamesFile], `"path":"`+p+`"`) {
			t.Errorf("%s not in the renames:\n%s", p, got[gateway.RenamesFile])
		}
	}

	// Against the catalog: every version but the corrupt ones, newest
	// first per key, the current versions in place.
	manifest := manifestOf(t, got[gateway.VersionsDir+"/"+gateway.VersionsManifest])
	byKey := map[string][]gateway.VersionEntry{}
	seen := map[string]bool{}
	for i, m := range manifest {
		if i > 0 && manifest[i-1].Key != m.Key && seen[m.Key] {
			t.Errorf("versions of %q not on consecutive lines", m.Key)
		}
		seen[m.Key] = true
		byKey[m.Key] = append(byKey[m.Key], m)
	}
	wantByKey := map[string][]gateway.VersionEntry{}
	for _, v := range all {
		if corrupt[v.VersionID] || v.Key == "../pre" {
			continue
		}
		wantByKey[v.Key] = append(wantByKey[v.Key], gateway.VersionEntry{Bucket: "bucket", Key: v.Key, VersionID: v.VersionID, Latest: v.Latest, DeleteMarker: v.DeleteMarker})
	}
	if len(byKey) != len(names) || len(wantByKey) != len(names) {
		t.Fatalf("manifest has %d keys, catalog %d, want %d", len(byKey), len(wantByKey), len(names))
	}
	n := 0
	for k, want := range wantByKey {
		have := byKey[k]
		if len(have) != len(want) {
			t.Errorf("%q: %d versions in the manifest, want %d", k, len(have), len(want))
			continue
		}
		for i := range want {
			h := have[i]
			if h.VersionID != want[i].VersionID || h.Latest != want[i].Latest || h.DeleteMarker != want[i].DeleteMarker {
				t.Errorf("%q line %d: %+v, want %+v", k, i, h, want[i])
			}
			if !h.DeleteMarker {
				n++
				if got[h.Path] != readVersion(t, e.ns, "bucket", k, h.VersionID) {
					t.Errorf("%s holds %q", h.Path, got[h.Path])
				}
			}
		}
	}
	if rep.Versions != n {
		t.Errorf("restored %d versions, manifest lists %d", rep.Versions, n)
	}
	for i, k := range names {
		_, err := e.ns.Object(ctx, "bucket", k)
		if i%7 == 0 {
			if err == nil {
				t.Errorf("%q: current version is not a delete marker", k)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", k, err)
		}
	}
}

// TestRecoverMemory checks that the heap of a recovery with every version,
// while it restores the versions, does not grow with their number: 4x the
// versions may add a little (read buffers of spill runs, at most fanIn a
// level), never what holding them in memory would (some 400 bytes a
// version: the candidate and its manifest line). The listing before holds
// a page of up to 50,000 names, a constant not measured here.
func TestRecoverMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 4,000 versions")
	}
	peak := func(keys, perKey int) uint64 {
		ctx := context.Background()
		e := newEnv(t)
		manyVersions(t, e, keys, perKey)
		heap := func() uint64 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return ms.HeapAlloc
		}
		base := heap()
		var top uint64
		calls := 0
		sample := func(versions bool) {
			if calls++; versions && calls%20 == 0 {
				top = max(top, heap())
			}
		}
		rep, err := gateway.RecoverWith(ctx, gateway.RecoverOptions{Keys: e.keys, Backend: e.members[0], AllVersions: true, Dir: t.TempDir()}, 4, 0, sample)
		if err != nil || rep.Versions == 0 {
			t.Fatal(rep, err)
		}
		return max(top, base) - base
	}
	small, large := peak(20, 50), peak(20, 200)
	t.Logf("peak heap growth during the recovery: %d bytes at 1,000 versions, %d at 4,000", small, large)
	if large > small+256<<10 {
		t.Errorf("peak heap grew by %d bytes from 1,000 to 4,000 versions", large-small)
	}
}
