package gateway_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/seal"
)

// backendsOf returns the env's members as plain backends.
func (e *env) backendsOf() []backends.Backend {
	out := make([]backends.Backend, len(e.members))
	for i, m := range e.members {
		out[i] = m
	}
	return out
}

// rebuildFrom runs RebuildCatalog from members into a new bolt catalog,
// which it closes at the end of the test, and returns that catalog and the
// report; a failed rebuild fails the test.
func (e *env) rebuildFrom(t *testing.T, members []backends.Backend) (*catalog.Bolt, *gateway.RebuildReport) {
	t.Helper()
	fresh, err := catalog.OpenBolt(filepath.Join(t.TempDir(), "rebuilt.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fresh.Close() })
	rep, err := gateway.RebuildCatalog(context.Background(), gateway.RebuildOptions{Keys: e.keys, Backends: members, Catalog: fresh})
	if err != nil {
		t.Fatal(err)
	}
	return fresh, rep
}

// recordName returns the backend name of the record the catalog holds
// for bucket/key/versionID (entry, version, else tombstone): the name of
// its generation, what a test tampers with.
func (e *env) recordName(t *testing.T, bucket, key, versionID string) string {
	t.Helper()
	name, err := e.ns.RecordName(context.Background(), bucket, key, versionID)
	if err != nil {
		t.Fatalf("record name of %s/%s?versionId=%s: %v", bucket, key, versionID, err)
	}
	return name
}

// file returns the path of object name on member i.
func (e *env) file(i int, name string) string {
	return e.members[i].File(name)
}

// put stores data under key and returns the names of the blobs it added
// on member 0.
func (e *env) put(t *testing.T, key string, data []byte) []string {
	t.Helper()
	before := e.names(t, 0, "b/")
	if _, err := e.ns.PutObject(context.Background(), "bucket", key, bytes.NewReader(data), int64(len(data)), gateway.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	var added []string
	for _, n := range e.names(t, 0, "b/") {
		if !slices.Contains(before, n) {
			added = append(added, n)
		}
	}
	return added
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}

func (e *env) scrub(t *testing.T, deep bool) *gateway.ScrubReport {
	t.Helper()
	rep, err := e.ns.Scrub(context.Background(), gateway.ScrubOptions{Members: e.backendsOf(), Deep: deep})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// summary renders the problems as sorted "backend kind name" lines.
func summary(rep *gateway.ScrubReport) []string {
	var out []string
	for _, p := range rep.Problems {
		out = append(out, fmt.Sprintf("%s %s %s", p.Backend, p.Kind, p.Name))
	}
	slices.Sort(out)
	return out
}

func TestScrubCleanStore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sizes := []int{0, 1, 3*seal.ChunkSize + 5}
	for i, n := range sizes {
		e.put(t, fmt.Sprintf("k%d", i), payload(n, uint64(i)))
	}
	var progress []gateway.ScrubProgress
	for _, deep := range []bool{false, true} {
		progress = progress[:0]
		rep, err := e.ns.Scrub(ctx, gateway.ScrubOptions{Members: e.backendsOf(), Deep: deep, Progress: func(p gateway.ScrubProgress) { progress = append(progress, p) }})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Clean() || len(rep.Problems) != 0 {
			t.Fatalf("deep=%v: problems on a clean store: %v", deep, summary(rep))
		}
		// The empty object has no blob and the 1-byte object's is in its
		// record (inline): 1 blob on each of 2 backends.
		wantBytes := 2 * seal.CiphertextSize(int64(sizes[2]))
		if rep.Buckets != 1 || rep.Objects != 3 || rep.Blobs != 2 || rep.Bytes != wantBytes {
			t.Errorf("deep=%v: counted %d buckets, %d objects, %d blobs, %d bytes; want 1, 3, 2, %d", deep, rep.Buckets, rep.Objects, rep.Blobs, rep.Bytes, wantBytes)
		}
		if len(progress) != 3 || progress[2].Objects != 3 || progress[2].TotalObjects != 3 || progress[2].Bytes != wantBytes {
			t.Errorf("deep=%v: progress %+v", deep, progress)
		}
	}
}

func TestScrubAndRepair(t *testing.T) {
	data := payload(2*seal.ChunkSize+100, 7)
	type fault struct {
		name string
		// apply damages the store and returns the expected problems
		// ("backend kind name") for a lite and a deep scrub.
		apply      func(t *testing.T, e *env, blob, meta string) (lite, deep []string)
		unrepaired int
	}
	faults := []fault{
		{"blob missing", func(t *testing.T, e *env, blob, meta string) ([]string, []string) {
			os.Remove(e.file(1, blob))
			w := []string{"b1 missing " + blob}
			return w, w
		}, 0},
		{"blob bit flip", func(t *testing.T, e *env, blob, meta string) ([]string, []string) {
			flipByte(t, e.file(0, blob), seal.HeaderSize+seal.ChunkSize+20)
			return nil, []string{"b0 corrupt " + blob}
		}, 0},
		{"blob header flip", func(t *testing.T, e *env, blob, meta string) ([]string, []string) {
			flipByte(t, e.file(1, blob), 40)
			return nil, []string{"b1 corrupt " + blob}
		}, 0},
		{"blob truncated", func(t *testing.T, e *env, blob, meta string) ([]string, []string) {
			os.Truncate(e.file(0, blob), 1000)
			w := []string{"b0 corrupt " + blob}
			return w, w
		}, 0},
		{"blob appended", func(t *testing.T, e *env, blob, meta string) ([]string, []string) {
			f, _ := os.OpenFile(e.file(1, blob), os.O_APPEND|os.O_WRONLY, 0)
			f.Write(make([]byte, 16))
			f.Close()
			w := []string{"b1 corrupt " + blob}
			return w, w
		}, 0},
		{"meta missing", func(t *testing.T, e *env, blob, meta string) ([]string, []string) {
			os.Remove(e.file(1, meta))
			w := []string{"b1 missing " + meta}
			return w, w
		}, 0},
		{"meta bit flip", func(t *testing.T, e *env, blob, meta string) ([]string, []string) {
			flipByte(t, e.file(0, meta), 200)
			w := []string{"b0 corrupt " + meta}
			return w, w
		}, 0},
		{"bucket record missing", func(t *testing.T, e *env, blob, meta string) ([]string, []string) {
			name := e.ns.MetaName("bucket", "")
			os.Remove(e.file(0, name))
			w := []string{"b0 missing " + name}
			return w, w
		}, 0},
		{"blob corrupt on both", func(t *testing.T, e *env, blob, meta string) ([]string, []string) {
			flipByte(t, e.file(0, blob), seal.HeaderSize+3)
			flipByte(t, e.file(1, blob), seal.HeaderSize+3)
			return nil, []string{"b0 corrupt " + blob, "b1 corrupt " + blob}
		}, 2},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			blobs := e.put(t, "obj", data)
			e.put(t, "other", []byte("untouched"))
			if len(blobs) != 1 {
				t.Fatalf("blobs %v", blobs)
			}
			meta := e.recordName(t, "bucket", "obj", "")
			lite, deep := f.apply(t, e, blobs[0], meta)
			if got := summary(e.scrub(t, false)); fmt.Sprint(got) != fmt.Sprint(lite) {
				t.Errorf("lite scrub found %q, want %q", got, lite)
			}
			if got := summary(e.scrub(t, true)); fmt.Sprint(got) != fmt.Sprint(deep) {
				t.Errorf("deep scrub found %q, want %q", got, deep)
			}
			rep, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf(), Deep: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Unrepaired) != f.unrepaired {
				t.Fatalf("unrepaired %v, want %d", rep.Unrepaired, f.unrepaired)
			}
			if f.unrepaired > 0 {
				// Neither copy authenticates: the read fails and
				// releases no byte.
				o, err := e.ns.Object(ctx, "bucket", "obj")
				if err != nil {
					t.Fatal(err)
				}
				r, err := o.NewReader(ctx, 0, -1)
				if err == nil {
					var got []byte
					got, err = io.ReadAll(r)
					r.Close()
					if len(got) > 0 {
						t.Errorf("read released %d bytes of a corrupt object", len(got))
					}
				}
				if !errors.Is(err, gateway.ErrIntegrity) {
					t.Errorf("read of an object corrupt everywhere: %v, want ErrIntegrity", err)
				}
				return
			}
			if rep.Actions() != len(deep) {
				t.Errorf("repair made %d changes, want %d", rep.Actions(), len(deep))
			}
			if after := e.scrub(t, true); !after.Clean() || len(after.Problems) != 0 {
				t.Errorf("after repair: %v", summary(after))
			}
			again, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf(), Deep: true})
			if err != nil || again.Actions() != 0 || again.Rounds != 1 {
				t.Errorf("second repair: %d changes in %d rounds, %v; want none", again.Actions(), again.Rounds, err)
			}
			if got := e.get(t, "obj", 0, -1); !bytes.Equal(got, data) {
				t.Error("object differs after repair")
			}
		})
	}
}

// rollBack makes member 1 serve its records of keys as they were: the
// records the catalog holds now are missing there, and the old records
// (name to bytes) are back under their own names.
func (e *env) rollBack(t *testing.T, keys []string, old map[string][]byte) {
	t.Helper()
	for _, key := range keys {
		if err := os.Remove(e.file(1, e.recordName(t, "bucket", key, ""))); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range old {
		if err := e.members[1].Put(context.Background(), name, bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
}

// readRecord returns the bytes of the record of bucket/key on member i,
// under the name of the record the catalog holds.
func (e *env) readRecord(t *testing.T, i int, key string) (string, []byte) {
	t.Helper()
	name := e.recordName(t, "bucket", key, "")
	b, err := os.ReadFile(e.file(i, name))
	if err != nil {
		t.Fatal(err)
	}
	return name, b
}

func TestScrubDetectsRollback(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "obj", []byte("version one"))
	oldName, old := e.readRecord(t, 1, "obj")
	e.put(t, "obj", []byte("version two, longer"))
	meta := e.recordName(t, "bucket", "obj", "")
	if meta == oldName {
		t.Fatalf("both writes named their record %s", meta)
	}
	if _, err := os.Stat(e.file(1, oldName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the replaced record stays on the provider: %v", err)
	}
	// The provider serves its older state again: the newer record is
	// gone, the older one back.
	e.rollBack(t, []string{"obj"}, map[string][]byte{oldName: old})
	rep := e.scrub(t, false)
	want := []string{"b1 missing " + meta, "b1 superseded " + oldName}
	slices.Sort(want)
	if got := summary(rep); fmt.Sprint(got) != fmt.Sprint(want) || rep.Backends[1].Missing != 1 || rep.Backends[1].Superseded != 1 || rep.Clean() {
		t.Fatalf("scrub after rollback: %v %+v", got, rep.Backends)
	}
	fixed, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf()})
	if err != nil || fixed.MetaRewritten != 1 || fixed.Superseded != 1 || fixed.Adopted != 0 || len(fixed.Unrepaired) != 0 {
		t.Fatalf("repair: %+v %v", fixed, err)
	}
	now, _ := os.ReadFile(e.file(0, meta))
	if got, _ := os.ReadFile(e.file(1, meta)); !bytes.Equal(got, now) {
		t.Error("missing record not rewritten with the catalog's bytes")
	}
	if _, err := os.Stat(e.file(1, oldName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the superseded record stays: %v", err)
	}
	if got := e.get(t, "obj", 0, -1); string(got) != "version two, longer" {
		t.Errorf("object reads %q after repair", got)
	}
}

// TestScrubWholeProviderRolledBack: a provider that serves an older record
// of every object answers; its copies are stale, however many there are
// in a row, never "unavailable" (which would skip the provider's every
// later check), and repair rewrites them all.
func TestScrubWholeProviderRolledBack(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const n = 12
	old := make(map[string][]byte, n)
	var keys []string
	for i := range n {
		key := fmt.Sprintf("obj%02d", i)
		e.put(t, key, []byte("version one of "+key))
		name, b := e.readRecord(t, 1, key)
		old[name] = b
		keys = append(keys, key)
	}
	for _, key := range keys {
		e.put(t, key, []byte("version two of "+key))
	}
	e.rollBack(t, keys, old)
	rep := e.scrub(t, false)
	if b := rep.Backends[1]; b.Missing != n || b.Superseded != n || b.Unavailable != 0 || rep.Backends[0].Total() != 0 {
		t.Fatalf("scrub of a provider stale throughout: %+v", rep.Backends)
	}
	fixed, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf()})
	if err != nil || fixed.MetaRewritten != n || fixed.Superseded != n || len(fixed.Unrepaired) != 0 {
		t.Fatalf("repair: %+v %v", fixed, err)
	}
	if rep := e.scrub(t, false); !rep.Clean() {
		t.Fatalf("scrub after repair: %v", summary(rep))
	}
}

func TestRepairAdoptsUncatalogedRecords(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := payload(100000, 3)
	e.put(t, "kept", data)
	debrisBlobs := e.put(t, "debris", payload(gateway.InlineMax+10, 4))
	// The catalog loses both entries, as after a crash between the meta
	// record and the catalog update; "debris" also loses its blob.
	for _, k := range []string{"kept", "debris"} {
		if _, err := e.cat.Delete(ctx, "bucket", k, 0); err != nil {
			t.Fatal(err)
		}
	}
	rep := e.scrub(t, false)
	if n := rep.Backends[0].Uncataloged + rep.Backends[1].Uncataloged; n != 4 || rep.Clean() {
		t.Fatalf("uncataloged %d (want 4), clean %v (want not clean): %v", n, rep.Clean(), summary(rep))
	}
	for _, b := range debrisBlobs {
		os.Remove(e.file(0, b))
		os.Remove(e.file(1, b))
	}
	// Without Adopt, repair discards the debris and reports what adopting
	// would bring back.
	fixed, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf()})
	if err != nil {
		t.Fatal(err)
	}
	if fixed.Adopted != 0 || fixed.Discarded != 2 || len(fixed.Unrepaired) != 1 ||
		!strings.Contains(fixed.Unrepaired[0].String(), "not adopted") || !strings.Contains(fixed.Unrepaired[0].String(), "bucket/kept (100000 bytes") {
		t.Fatalf("without Adopt: adopted %d (want 0), discarded %d (want 2), unrepaired %v", fixed.Adopted, fixed.Discarded, fixed.Unrepaired)
	}
	if _, err := e.ns.Object(ctx, "bucket", "kept"); !errors.Is(err, gateway.ErrNoSuchKey) {
		t.Fatalf("kept came back without Adopt: %v", err)
	}
	fixed, err = e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf(), Adopt: true})
	if err != nil {
		t.Fatal(err)
	}
	if fixed.Adopted != 1 || len(fixed.Unrepaired) != 0 {
		t.Fatalf("with Adopt: adopted %d (want 1), unrepaired %v", fixed.Adopted, fixed.Unrepaired)
	}
	if got := e.get(t, "kept", 0, -1); !bytes.Equal(got, data) {
		t.Error("adopted object differs")
	}
	if _, err := e.ns.Object(ctx, "bucket", "debris"); !errors.Is(err, gateway.ErrNoSuchKey) {
		t.Errorf("debris: %v", err)
	}
	if after := e.scrub(t, true); len(after.Problems) != 0 {
		t.Errorf("after repair: %v", summary(after))
	}
}

func TestRepairSkipsPendingDeletes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "gone", []byte("deleted"))
	meta := e.recordName(t, "bucket", "gone", "")
	if _, err := e.cat.Delete(ctx, "bucket", "gone", 0); err != nil {
		t.Fatal(err)
	}
	rep, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf(), Deleting: func(name string) bool { return name == meta }})
	if err != nil || rep.Adopted != 0 {
		t.Fatalf("adopted %d, %v; want 0", rep.Adopted, err)
	}
}

func TestGC(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := payload(70000, 9)
	e.put(t, "live", data)
	id, err := e.ns.CreateUpload(ctx, "bucket", "mp", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ns.UploadPart(ctx, "bucket", "mp", id, 1, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	// Blobs a crash left behind, and a stray file under b/.
	for i := range e.members {
		for j := range 3 {
			name := fmt.Sprintf("b/%032x", 0xdead0000+j)
			if err := e.members[i].Put(ctx, name, strings.NewReader("orphan"), 6); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.members[i].Put(ctx, "b/not-a-blob", strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
		// The temporary file of a write a crash interrupted.
		if err := os.WriteFile(filepath.Join(e.members[i].Root(), "~tmp", "interrupted"), []byte("part"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tempLeft := func(i int) int {
		ents, err := os.ReadDir(filepath.Join(e.members[i].Root(), "~tmp"))
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	opts := func(grace time.Duration, dry bool) gateway.GCOptions {
		return gateway.GCOptions{Members: e.backendsOf(), Grace: grace, DryRun: dry}
	}
	cases := []struct {
		name                        string
		o                           gateway.GCOptions
		listed, unreferenced, young int
		deleted, namesAfter         int
		temp, tempAfter             int
	}{
		// Listed: 2 referenced blobs, 3 orphans, 1 foreign name.
		{"dry run", opts(0, true), 6, 3, 0, 3, 6, 0, 1},
		{"within grace", opts(time.Hour, false), 6, 3, 3, 0, 6, 0, 1},
		{"collect", opts(0, false), 6, 3, 0, 3, 3, 1, 0},
		{"nothing left", opts(0, false), 3, 0, 0, 0, 3, 0, 0},
	}
	for _, c := range cases {
		rep, err := e.ns.GC(ctx, c.o)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if rep.Referenced != 2 {
			t.Errorf("%s: referenced %d, want 2 (object and upload part)", c.name, rep.Referenced)
		}
		for i, b := range rep.Backends {
			if b.Blobs != c.listed || b.Unreferenced != c.unreferenced || b.Young != c.young || b.Deleted != c.deleted || b.Foreign != 1 || b.Temp != c.temp {
				t.Errorf("%s: backend %d: %+v", c.name, i, b)
			}
			if n := len(e.names(t, i, "b/")); n != c.namesAfter {
				t.Errorf("%s: backend %d holds %d names under b/, want %d", c.name, i, n, c.namesAfter)
			}
			if n := tempLeft(i); n != c.tempAfter {
				t.Errorf("%s: backend %d holds %d temporary files, want %d", c.name, i, n, c.tempAfter)
			}
		}
	}
	if got := e.get(t, "live", 0, -1); !bytes.Equal(got, data) {
		t.Error("live object damaged by gc")
	}
	if _, err := e.ns.CompleteUpload(ctx, "bucket", "mp", id, []gateway.CompletedPart{{Number: 1, ETag: fmt.Sprintf("%x", md5sum(data))}}); err != nil {
		t.Fatalf("upload in progress damaged by gc: %v", err)
	}
	if got := e.get(t, "mp", 0, -1); !bytes.Equal(got, data) {
		t.Error("multipart object differs")
	}
}

func TestGCKeepsBlobsOfUncatalogedRecords(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "crashed", payload(gateway.InlineMax+1, 9)) // with a blob
	if _, err := e.cat.Delete(ctx, "bucket", "crashed", 0); err != nil {
		t.Fatal(err)
	}
	rep, err := e.ns.GC(ctx, gateway.GCOptions{Members: e.backendsOf()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Uncataloged != 2 || rep.Backends[0].Deleted != 0 || rep.Referenced != 1 {
		t.Errorf("gc %+v", rep)
	}
}

func md5sum(b []byte) []byte {
	s := md5.Sum(b)
	return s[:]
}

func TestRunScrubberRepairsInTheBackground(t *testing.T) {
	e := newEnv(t)
	data := payload(1000, 1)
	e.put(t, "obj", data)
	meta := e.recordName(t, "bucket", "obj", "")
	if err := os.Remove(e.file(1, meta)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- e.ns.RunScrubber(ctx, gateway.ScrubberOptions{Members: e.backendsOf(), Interval: time.Millisecond})
	}()
	for {
		if _, err := os.Stat(e.file(1, meta)); err == nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("RunScrubber returned %v, want context.Canceled", err)
	}
	if got := e.get(t, "obj", 0, -1); !bytes.Equal(got, data) {
		t.Error("object differs")
	}
}

// ignoresWrites is a backend that acknowledges writes of meta records
// without storing them, as a misbehaving provider might.
type ignoresWrites struct{ backends.Backend }

func (b ignoresWrites) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if strings.HasPrefix(name, "m/") {
		_, err := io.Copy(io.Discard, r)
		return err
	}
	return b.Backend.Put(ctx, name, r, size)
}

func TestRepairReportsWhatDoesNotStick(t *testing.T) {
	e := newEnv(t)
	e.put(t, "obj", []byte("data"))
	meta := e.recordName(t, "bucket", "obj", "")
	os.Remove(e.file(1, meta))
	members := []backends.Backend{e.members[0], ignoresWrites{e.members[1]}}
	rep, err := e.ns.Repair(context.Background(), gateway.RepairOptions{Members: members})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Unrepaired) != 1 || rep.Unrepaired[0].Name != meta || rep.Unrepaired[0].Kind != gateway.ProblemMissing || rep.Rounds != 5 {
		t.Errorf("after %d rounds, unrepaired %v; want the meta record still missing on b1", rep.Rounds, rep.Unrepaired)
	}
}

func TestRepairRestoresCorruptCatalogEntry(t *testing.T) {
	// The damaged entry's generation is not authenticated either: one
	// raised far above the providers' record must not make their copies
	// look superseded (repair and gc would delete the only good ones).
	for _, raise := range []bool{false, true} {
		t.Run(fmt.Sprintf("generation raised=%v", raise), func(t *testing.T) { testRepairRestoresCorruptCatalogEntry(t, raise) })
	}
}

func testRepairRestoresCorruptCatalogEntry(t *testing.T, raise bool) {
	e := newEnv(t)
	ctx := context.Background()
	data := []byte("catalog copy damaged")
	e.put(t, "obj", data)
	ent, err := e.cat.Get(ctx, "bucket", "obj")
	if err != nil {
		t.Fatal(err)
	}
	name := e.recordName(t, "bucket", "obj", "")
	if _, err := e.cat.Delete(ctx, "bucket", "obj", 0); err != nil {
		t.Fatal(err)
	}
	ent.Record = bytes.Clone(ent.Record)
	ent.Record[len(ent.Record)-1] ^= 1
	if raise {
		ent.Generation = 1 << 62
	}
	if _, err := e.cat.Put(ctx, ent); err != nil {
		t.Fatal(err)
	}
	rep := e.scrub(t, false)
	// Only the catalog is reported: the backends' good copies are not
	// compared with a record that does not open.
	if got := summary(rep); rep.Catalog != 1 || rep.Clean() || fmt.Sprint(got) != fmt.Sprint([]string{"catalog corrupt " + e.ns.MetaName("bucket", "obj")}) {
		t.Fatalf("scrub: catalog problems %d: %v", rep.Catalog, summary(rep))
	}
	if _, err := e.ns.Object(ctx, "bucket", "obj"); !errors.Is(err, gateway.ErrIntegrity) {
		t.Fatalf("open with a corrupt catalog record: %v", err)
	}
	if _, err := e.ns.GC(ctx, gateway.GCOptions{Members: e.backendsOf()}); !errors.Is(err, gateway.ErrUnsafeGC) {
		t.Fatalf("gc with a catalog record that does not open: %v, want ErrUnsafeGC", err)
	}
	for i := range e.members {
		if _, err := os.Stat(e.file(i, name)); err != nil {
			t.Fatalf("member %d lost the record: %v", i, err)
		}
	}
	if raise {
		// The providers' record is below the entry's generation: repair
		// does not take it on its own (it could be one the entry
		// replaced), and leaves every copy where it is.
		held, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf()})
		if err != nil || held.CatalogFixed != 0 || held.Superseded != 0 || len(held.Unrepaired) != 1 ||
			!strings.Contains(held.Unrepaired[0].Err.Error(), "--adopt") {
			t.Fatalf("repair without adopt: %+v %v; want one unrepaired problem that names --adopt", held, err)
		}
		for i := range e.members {
			if _, err := os.Stat(e.file(i, name)); err != nil {
				t.Fatalf("member %d lost the record: %v", i, err)
			}
		}
	}
	// With a raised generation the entry is repaired with Adopt alone.
	fixed, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf(), Adopt: raise})
	if err != nil || fixed.CatalogFixed != 1 || fixed.Superseded != 0 || len(fixed.Unrepaired) != 0 {
		t.Fatalf("repair: %+v %v", fixed, err)
	}
	if got := e.get(t, "obj", 0, -1); !bytes.Equal(got, data) {
		t.Error("object differs after the catalog entry was restored")
	}
	if after := e.scrub(t, true); len(after.Problems) != 0 {
		t.Errorf("after repair: %v", summary(after))
	}
}

// TestRepairCatalogEntryKeepsGeneration checks that repair does not
// restore a catalog entry whose record does not open from a record older
// than the entry (one the entry replaced, whose deletion failed), which
// would roll the object back, unless told to adopt it; the older record
// stays on the providers either way.
func TestRepairCatalogEntryKeepsGeneration(t *testing.T) {
	for _, adopt := range []bool{false, true} {
		t.Run(fmt.Sprintf("adopt=%v", adopt), func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			old, cur := []byte("first version"), []byte("second version, acknowledged")
			e.put(t, "obj", old)
			oldName := e.recordName(t, "bucket", "obj", "")
			saved := make([][]byte, len(e.members))
			for i := range e.members {
				b, err := os.ReadFile(e.file(i, oldName))
				if err != nil {
					t.Fatal(err)
				}
				saved[i] = b
			}
			e.put(t, "obj", cur)
			newName := e.recordName(t, "bucket", "obj", "")
			for i := range e.members {
				e.writeFile(t, i, oldName, saved[i]) // a drop that failed
				if err := os.Remove(e.file(i, newName)); err != nil {
					t.Fatal(err)
				}
			}
			ent, err := e.cat.Get(ctx, "bucket", "obj")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.cat.Delete(ctx, "bucket", "obj", 0); err != nil {
				t.Fatal(err)
			}
			ent.Record = bytes.Clone(ent.Record)
			ent.Record[len(ent.Record)-1] ^= 1
			if _, err := e.cat.Put(ctx, ent); err != nil {
				t.Fatal(err)
			}
			rep, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf(), Adopt: adopt})
			if err != nil {
				t.Fatal(err)
			}
			for i := range e.members {
				if !e.exists(t, i, oldName) {
					t.Errorf("member %d lost the older record", i)
				}
			}
			if !adopt {
				want := fmt.Sprintf("at or above generation %d", ent.Generation)
				if rep.CatalogFixed != 0 || len(rep.Unrepaired) != 1 || !strings.Contains(rep.Unrepaired[0].Err.Error(), want) {
					t.Fatalf("repair: %d catalog entries fixed, unrepaired %v; want none fixed and one problem naming %q", rep.CatalogFixed, rep.Unrepaired, want)
				}
				if _, err := e.ns.Object(ctx, "bucket", "obj"); !errors.Is(err, gateway.ErrIntegrity) {
					t.Fatalf("object after repair: %v; want the damaged entry left as it was (ErrIntegrity)", err)
				}
				return
			}
			if rep.CatalogFixed != 1 || len(rep.Unrepaired) != 0 {
				t.Fatalf("repair with adopt: %d catalog entries fixed, unrepaired %v; want 1 and none", rep.CatalogFixed, rep.Unrepaired)
			}
			if got := e.get(t, "obj", 0, -1); !bytes.Equal(got, old) {
				t.Errorf("after adopting: %q, want the older record's %q", got, old)
			}
		})
	}
}

// deadBackend fails every request as unreachable and counts them.
type deadBackend struct{ calls *int }

func (d deadBackend) fail(op string) error {
	*d.calls++
	return &backends.Error{Backend: "dead", Op: op, Err: backends.ErrUnavailable}
}
func (d deadBackend) Name() string { return "dead" }
func (d deadBackend) Put(context.Context, string, io.Reader, int64) error {
	return d.fail("put")
}
func (d deadBackend) Get(context.Context, string, int64, int64) (io.ReadCloser, error) {
	return nil, d.fail("get")
}
func (d deadBackend) Stat(context.Context, string) (backends.Info, error) {
	return backends.Info{}, d.fail("stat")
}
func (d deadBackend) Delete(context.Context, string) error { return d.fail("delete") }
func (d deadBackend) List(context.Context, string, string, int) (backends.ListPage, error) {
	return backends.ListPage{}, d.fail("list")
}
func (d deadBackend) Close() error { return nil }

func TestScrubStopsAskingADeadBackend(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 10 {
		e.put(t, fmt.Sprintf("k%d", i), payload(gateway.InlineMax+1, uint64(i))) // with a blob each
	}
	calls := 0
	members := []backends.Backend{e.members[0], deadBackend{&calls}}
	rep, err := e.ns.Scrub(ctx, gateway.ScrubOptions{Members: members, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	// The bucket record, 5 checks before giving up, the listing.
	if calls != 7 || rep.Backends[1].Unavailable != 22 || rep.Backends[0].Total() != 0 {
		t.Errorf("scrub asked the dead backend %d times (want 7); counts %+v", calls, rep.Backends)
	}
	calls = 0
	fixed, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: members, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 7+5 || fixed.Actions() != 0 || len(fixed.Unrepaired) != 22 {
		t.Errorf("repair asked the dead backend %d times (want 12), %d changes, %d unrepaired (want 22)", calls, fixed.Actions(), len(fixed.Unrepaired))
	}
}

// reversedLists lists each page in reverse byte order, against the
// backends.Backend contract.
type reversedLists struct{ backends.Backend }

func (r reversedLists) List(ctx context.Context, prefix, after string, limit int) (backends.ListPage, error) {
	p, err := r.Backend.List(ctx, prefix, after, limit)
	slices.Reverse(p.Items)
	return p, err
}

// GC and scrub merge-join the catalog with sorted listings: a provider that
// lists out of order must stop them, never make a referenced blob look
// unreferenced or a cataloged record look uncataloged.
func TestMaintenanceRefusesUnorderedListings(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var keep [][]byte
	for i := range 5 {
		data := payload(1000+i, uint64(i))
		e.put(t, fmt.Sprintf("k%d", i), data)
		keep = append(keep, data)
	}
	members := e.backendsOf()
	members[0] = reversedLists{members[0]}
	before := e.names(t, 0, "b/")
	_, err := e.ns.GC(ctx, gateway.GCOptions{Members: members})
	if err == nil || !strings.Contains(err.Error(), "out of order") {
		t.Fatalf("gc over an unordered listing: %v, want an out-of-order error", err)
	}
	if after := e.names(t, 0, "b/"); !slices.Equal(before, after) {
		t.Fatalf("gc deleted blobs from the unordered backend: %d names before, %d after", len(before), len(after))
	}
	rep, err := e.ns.Scrub(ctx, gateway.ScrubOptions{Members: members})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Backends[0].Uncataloged != 0 || rep.Backends[0].Unavailable != 1 {
		t.Fatalf("scrub over an unordered listing: %+v, want no uncataloged records and the listing unavailable", rep.Backends[0])
	}
	for i, data := range keep {
		if got := e.get(t, fmt.Sprintf("k%d", i), 0, -1); !bytes.Equal(got, data) {
			t.Fatalf("object k%d damaged", i)
		}
	}
}

// A scrub with Spread checks its objects evenly over the duration: the
// last one no sooner than (n-1)/n of it after the start. A cancelled pass
// stops with the context's error.
func TestScrubSpread(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const n = 5
	for i := range n {
		e.put(t, fmt.Sprintf("k%d", i), payload(100, uint64(i)))
	}
	var times []time.Time
	start := time.Now()
	rep, err := e.ns.Scrub(ctx, gateway.ScrubOptions{Members: e.backendsOf(), Workers: 1, Spread: 500 * time.Millisecond,
		Progress: func(gateway.ScrubProgress) { times = append(times, time.Now()) }})
	if err != nil || !rep.Clean() || rep.Objects != n {
		t.Fatalf("scrub: %v, %+v", err, rep)
	}
	if len(times) != n {
		t.Fatalf("%d progress calls, want %d", len(times), n)
	}
	// The n-th object is handed to a worker (n-1)/n of the way through.
	if took := times[n-1].Sub(start); took < 400*time.Millisecond {
		t.Fatalf("%d objects spread over 500ms were all checked within %v", n, took)
	}
	cctx, cancel := context.WithCancel(ctx)
	_, err = e.ns.Scrub(cctx, gateway.ScrubOptions{Members: e.backendsOf(), Workers: 1, Spread: time.Hour,
		Progress: func(gateway.ScrubProgress) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled paced scrub: %v, want context.Canceled", err)
	}
}

// TestScrubRepairSupersededRecords leaves on one provider a record that
// the catalog's record or tombstone replaced (a write whose delete of the
// record it replaced did not reach the provider): scrub reports it as
// superseded, repair deletes it and adopts or copies nothing, the catalog
// stays as it was, and scrub then finds nothing.
func TestScrubRepairSupersededRecords(t *testing.T) {
	ctx := context.Background()
	put := func(t *testing.T, e *env, bucket, key, data string) gateway.ObjectInfo {
		t.Helper()
		info, err := e.ns.PutObject(ctx, bucket, key, strings.NewReader(data), int64(len(data)), gateway.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	versioned := func(t *testing.T, e *env) {
		t.Helper()
		if err := e.ns.CreateBucket(ctx, "ver"); err != nil {
			t.Fatal(err)
		}
		if err := e.ns.SetBucketVersioning(ctx, "ver", gateway.VersioningEnabled); err != nil {
			t.Fatal(err)
		}
	}
	// Each case changes the store and returns the name and bytes of the
	// record it replaced, as member 1 held them.
	cases := []struct {
		name  string
		leave func(t *testing.T, e *env) (string, []byte)
	}{
		{"object overwritten", func(t *testing.T, e *env) (string, []byte) {
			put(t, e, "bucket", "obj", "version one")
			name, old := e.readRecord(t, 1, "obj")
			put(t, e, "bucket", "obj", "version two, longer")
			return name, old
		}},
		{"object deleted", func(t *testing.T, e *env) (string, []byte) {
			put(t, e, "bucket", "obj", "deleted")
			name, old := e.readRecord(t, 1, "obj")
			if err := e.ns.DeleteObject(ctx, "bucket", "obj"); err != nil {
				t.Fatal(err)
			}
			return name, old
		}},
		{"legacy record of the same generation", func(t *testing.T, e *env) (string, []byte) {
			put(t, e, "bucket", "obj", "named by generation")
			name, old, err := e.ns.LegacyRecord(ctx, "bucket", "obj", 0)
			if err != nil {
				t.Fatal(err)
			}
			return name, old
		}},
		{"version record rewritten", func(t *testing.T, e *env) (string, []byte) {
			versioned(t, e)
			info := put(t, e, "ver", "obj", "tagged later")
			name := e.versionName(t, "ver", "obj", info.VersionID)
			old, err := os.ReadFile(e.file(1, name))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.ns.SetVersionTags(ctx, "ver", "obj", info.VersionID, map[string]string{"a": "b"}); err != nil {
				t.Fatal(err)
			}
			return name, old
		}},
		{"version deleted", func(t *testing.T, e *env) (string, []byte) {
			versioned(t, e)
			info := put(t, e, "ver", "obj", "deleted version")
			put(t, e, "ver", "obj", "current version")
			name := e.versionName(t, "ver", "obj", info.VersionID)
			old, err := os.ReadFile(e.file(1, name))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.ns.Delete(ctx, "ver", "obj", gateway.DeleteOptions{VersionID: info.VersionID}); err != nil {
				t.Fatal(err)
			}
			return name, old
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			name, old := c.leave(t, e)
			for i := range e.members {
				if _, err := os.Stat(e.file(i, name)); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("member %d holds the replaced record %s: %v", i, name, err)
				}
			}
			if err := e.members[1].Put(ctx, name, bytes.NewReader(old), int64(len(old))); err != nil {
				t.Fatal(err)
			}
			before := catalogLines(t, e.cat)
			rep := e.scrub(t, false)
			if got := summary(rep); fmt.Sprint(got) != fmt.Sprint([]string{"b1 superseded " + name}) || rep.Backends[1].Superseded != 1 || rep.Clean() {
				t.Fatalf("scrub: %q %+v; want the record superseded on b1", got, rep.Backends)
			}
			fixed, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf(), Adopt: true})
			if err != nil {
				t.Fatal(err)
			}
			if fixed.Superseded != 1 || fixed.Actions() != 1 || len(fixed.Unrepaired) != 0 {
				t.Fatalf("repair: %+v; want the superseded record deleted, nothing else", fixed)
			}
			if _, err := os.Stat(e.file(1, name)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the superseded record stays on b1: %v", err)
			}
			if after := catalogLines(t, e.cat); !slices.Equal(after, before) {
				t.Errorf("repair changed the catalog:\n%s\nwas:\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
			}
			if after := e.scrub(t, true); !after.Clean() || len(after.Problems) != 0 {
				t.Errorf("after repair: %v", summary(after))
			}
		})
	}
}

// TestScrubRefusesRecordsMovedToAnotherGeneration: a provider that serves
// an older record under the name of another generation (a newer one, or
// the catalog's own) cannot pass it off as that generation: the record
// binds its generation to its name. Scrub reports it as foreign or
// corrupt, and repair never adopts it.
func TestScrubRefusesRecordsMovedToAnotherGeneration(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		// at returns the name to serve the old record under, given the
		// catalog's record name.
		at   func(cur string) string
		kind gateway.ProblemKind
	}{
		{"a newer generation's name", func(cur string) string {
			gen, err := strconv.ParseUint(cur[len(cur)-16:], 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("%s%016x", cur[:len(cur)-16], gen+1000)
		}, gateway.ProblemForeign},
		{"the catalog's name", func(cur string) string { return cur }, gateway.ProblemCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.put(t, "obj", []byte("version one"))
			_, old := e.readRecord(t, 1, "obj")
			e.put(t, "obj", []byte("version two, longer"))
			cur := e.recordName(t, "bucket", "obj", "")
			if len(cur) != len("m/")+64+16 {
				t.Fatalf("record name %s has no generation", cur)
			}
			name := c.at(cur)
			if err := e.members[1].Put(ctx, name, bytes.NewReader(old), int64(len(old))); err != nil {
				t.Fatal(err)
			}
			before := catalogLines(t, e.cat)
			rep := e.scrub(t, false)
			if got := summary(rep); fmt.Sprint(got) != fmt.Sprint([]string{fmt.Sprintf("b1 %s %s", c.kind, name)}) {
				t.Fatalf("scrub: %q; want %s on b1", got, c.kind)
			}
			fixed, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf(), Adopt: true})
			if err != nil {
				t.Fatal(err)
			}
			if fixed.Adopted != 0 || fixed.CatalogFixed != 0 || len(fixed.Unrepaired) != 0 {
				t.Fatalf("repair: %+v", fixed)
			}
			if after := catalogLines(t, e.cat); !slices.Equal(after, before) {
				t.Errorf("repair changed the catalog:\n%s\nwas:\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
			}
			if got := e.get(t, "obj", 0, -1); string(got) != "version two, longer" {
				t.Errorf("object reads %q after repair", got)
			}
			after := e.scrub(t, false)
			if !after.Clean() {
				t.Errorf("after repair: %v", summary(after))
			}
			if c.kind == gateway.ProblemForeign {
				// Not a record of this gateway: reported, never touched.
				if after.Backends[1].Foreign != 1 {
					t.Errorf("after repair: %+v; want the foreign file still reported", after.Backends[1])
				}
			} else if got, _ := os.ReadFile(e.file(1, name)); !bytes.Equal(got, mustRead(t, e.file(0, name))) {
				t.Error("the corrupt copy was not rewritten with the catalog's record")
			}
		})
	}
}

// mustRead returns the content of the file at path.
func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRepairAdoptsRecordAheadOfTheCatalog: the catalog holds an older
// record than the providers (a catalog update that was lost), so the
// providers lack the catalog's record and hold a newer one. Repair takes
// the newer record over rather than seal the catalog's anew above it.
func TestRepairAdoptsRecordAheadOfTheCatalog(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "obj", []byte("version one"))
	oldName := e.recordName(t, "bucket", "obj", "")
	oldEntry, err := e.cat.Get(ctx, "bucket", "obj")
	if err != nil {
		t.Fatal(err)
	}
	e.put(t, "obj", []byte("version two, longer"))
	newName := e.recordName(t, "bucket", "obj", "")
	if _, err := e.cat.Delete(ctx, "bucket", "obj", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cat.Put(ctx, oldEntry); err != nil {
		t.Fatal(err)
	}
	rep := e.scrub(t, false)
	want := []string{"b0 ahead " + newName, "b0 missing " + oldName, "b1 ahead " + newName, "b1 missing " + oldName}
	slices.Sort(want)
	if got := summary(rep); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("scrub: %q, want %q", got, want)
	}
	fixed, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf()})
	if err != nil {
		t.Fatal(err)
	}
	if fixed.Adopted != 1 || fixed.MetaRewritten != 0 || len(fixed.Unrepaired) != 0 {
		t.Fatalf("repair: %+v; want the newer record adopted", fixed)
	}
	if got := e.recordName(t, "bucket", "obj", ""); got != newName {
		t.Errorf("the catalog names %s, want %s", got, newName)
	}
	if got := e.get(t, "obj", 0, -1); string(got) != "version two, longer" {
		t.Errorf("object reads %q after repair", got)
	}
	if after := e.scrub(t, true); !after.Clean() || len(after.Problems) != 0 {
		t.Errorf("after repair: %v", summary(after))
	}
}

// TestRepairAdoptsWritesTheCatalogMissed: a write whose catalog update
// could not be made (the catalog unavailable) leaves its record on the
// providers under the name of its newer generation. Scrub reports it as
// ahead, repair takes it over (for an object and for a version alike), and
// the record it replaces, now superseded, goes from every provider.
func TestRepairAdoptsWritesTheCatalogMissed(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		// write makes a write through ns whose catalog update fails and
		// returns the bucket, key and version id of the record.
		write func(t *testing.T, e *env) (bucket, key, vid string)
	}{
		{"object", func(t *testing.T, e *env) (string, string, string) {
			fc := &flakyCatalog{Catalog: e.cat}
			ns, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: fc})
			if err != nil {
				t.Fatal(err)
			}
			ns.SettleNever() // a gateway stopped before it could ask the catalog again
			for i, data := range []string{"written", "catalog missed it"} {
				if i == 1 {
					fc.mode = "down"
				}
				_, err := ns.PutObject(ctx, "bucket", "obj", strings.NewReader(data), int64(len(data)), gateway.PutOptions{})
				if (err != nil) != (i == 1) {
					t.Fatalf("write %d: %v", i, err)
				}
			}
			return "bucket", "obj", ""
		}},
		{"version", func(t *testing.T, e *env) (string, string, string) {
			if err := e.ns.CreateBucket(ctx, "ver"); err != nil {
				t.Fatal(err)
			}
			if err := e.ns.SetBucketVersioning(ctx, "ver", gateway.VersioningEnabled); err != nil {
				t.Fatal(err)
			}
			fc := &versionFaultCatalog{Catalog: e.cat}
			ns, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: fc})
			if err != nil {
				t.Fatal(err)
			}
			ns.SettleNever() // a gateway stopped before it could ask the catalog again
			info, err := ns.PutObject(ctx, "ver", "obj", strings.NewReader("tagged"), 6, gateway.PutOptions{})
			if err != nil {
				t.Fatal(err)
			}
			fc.put = "down"
			if _, err := ns.SetVersionTags(ctx, "ver", "obj", info.VersionID, map[string]string{"a": "b"}); err == nil {
				t.Fatal("the tags were set with the catalog down")
			}
			return "ver", "obj", info.VersionID
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			bucket, key, vid := c.write(t, e)
			oldName, err := e.ns.RecordName(ctx, bucket, key, vid)
			if err != nil {
				t.Fatal(err)
			}
			base := e.ns.MetaName(bucket, key)
			if vid != "" {
				base = e.ns.VersionBase(bucket, key, vid)
			}
			var newName string
			for _, n := range e.names(t, 0, base) {
				if n != oldName {
					newName = n
				}
			}
			if newName == "" || newName <= oldName {
				t.Fatalf("no record after %s on the provider: %q", oldName, e.names(t, 0, base))
			}
			rep := e.scrub(t, false)
			want := []string{"b0 ahead " + newName, "b1 ahead " + newName}
			if got := summary(rep); fmt.Sprint(got) != fmt.Sprint(want) || rep.Backends[0].Ahead != 1 {
				t.Fatalf("scrub: %q %+v, want %q", got, rep.Backends, want)
			}
			fixed, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf()})
			if err != nil {
				t.Fatal(err)
			}
			if fixed.Adopted != 1 || fixed.Superseded != 2 || fixed.MetaRewritten != 0 || len(fixed.Unrepaired) != 0 {
				t.Fatalf("repair: %+v; want the newer record adopted and the older deleted on both", fixed)
			}
			if got, err := e.ns.RecordName(ctx, bucket, key, vid); err != nil || got != newName {
				t.Errorf("the catalog names %s (%v), want %s", got, err, newName)
			}
			for i := range e.members {
				if got := e.names(t, i, base); fmt.Sprint(got) != fmt.Sprint([]string{newName}) {
					t.Errorf("member %d holds %q, want only %s", i, got, newName)
				}
			}
			if after := e.scrub(t, true); !after.Clean() || len(after.Problems) != 0 {
				t.Errorf("after repair: %v", summary(after))
			}
		})
	}
}
