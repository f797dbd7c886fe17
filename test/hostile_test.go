package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// newFiles returns the regular files below dir (relative paths) that are
// not in before.
func newFiles(t testing.TB, dir string, before map[string][]byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for p, b := range snapshotDir(t, dir) {
		if _, ok := before[p]; !ok {
			out[p] = b
		}
	}
	return out
}

// snapshotDir returns every regular file below dir with its content.
func snapshotDir(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// restore writes files back below dir, as a provider replaying them would.
func restore(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for rel, b := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHostileResurrection is a provider that copies a deleted object's old
// meta record and blob, and a deleted bucket's record, back into its
// directory: scrub reports the bucket's as stale and the object's as
// superseded by its tombstone, repair puts the bucket's tombstone back and
// deletes the object's record, and nothing comes back, with serve running
// or not.
func TestHostileResurrection(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	ctx := context.Background()
	c := faultClient(t, g)
	if err := c.MakeBucket(ctx, "keep", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	hostile := g.LocalDirs[1]
	before := snapshotDir(t, hostile)
	data := faultData(150_000, 1)
	if _, err := c.PutObject(ctx, "keep", "b.bin", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.MakeBucket(ctx, "emptied", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	saved := newFiles(t, hostile, before)
	if len(saved) != 3 { // B's record and blob, the bucket's record
		t.Fatalf("%d new files on the provider, want 3", len(saved))
	}
	if err := c.RemoveObject(ctx, "keep", "b.bin", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveBucket(ctx, "emptied"); err != nil {
		t.Fatal(err)
	}
	restore(t, hostile, saved) // while serving

	// While serving, nothing comes back.
	if _, err := getObject(ctx, c, "keep", "b.bin"); minio.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Fatalf("GET of the deleted object with its record replayed: %v, want NoSuchKey", err)
	}
	if ok, err := c.BucketExists(ctx, "emptied"); ok || err != nil {
		t.Fatalf("deleted bucket: exists %v, %v", ok, err)
	}
	g.Stop()
	out := g.mustRun(t, 1, "scrub", "--deep", "-c", g.Config)
	// The bucket's record, rewritten in place, is stale against its
	// tombstone; the object's, named by its generation, is superseded
	// by the object's tombstone.
	if faultNumber(t, out, "problems:") != 2 || faultNumber(t, out, "local1: missing 0, corrupt 0, stale") != 1 ||
		faultCount(t, out, `local1: .*superseded (\d+)`) != 1 || !strings.Contains(out, "deleted at generation") {
		t.Fatalf("scrub after the replay:\n%s", out)
	}
	out = g.mustRun(t, 0, "repair", "-c", g.Config)
	if faultCount(t, out, `(\d+) meta record copies rewritten`) != 1 || faultCount(t, out, `(\d+) superseded records deleted`) != 1 ||
		faultCount(t, out, `(\d+) records adopted`) != 0 {
		t.Fatalf("repair:\n%s", out)
	}
	if out := g.mustRun(t, 0, "scrub", "--deep", "-c", g.Config); faultNumber(t, out, "problems:") != 0 {
		t.Fatalf("scrub after repair:\n%s", out)
	}
	// A catalog rebuilt from the providers keeps the deletions too.
	g.mustRun(t, 0, "rebuild-catalog", "--force", "-c", g.Config)
	g.Start()
	if _, err := getObject(ctx, c, "keep", "b.bin"); minio.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Fatalf("GET after repair and rebuild: %v, want NoSuchKey", err)
	}
	if ok, _ := c.BucketExists(ctx, "emptied"); ok {
		t.Fatal("the deleted bucket came back after rebuild")
	}
	// Re-creating the name works, with a generation above the deletion.
	if _, err := c.PutObject(ctx, "keep", "b.bin", bytes.NewReader([]byte("new")), 3, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := getObject(ctx, c, "keep", "b.bin"); err != nil || string(got) != "new" {
		t.Fatalf("re-created object: %q, %v", got, err)
	}
}

// TestHostileRollbackRebuild is a provider that serves an old object's
// record and blob again after the object was overwritten, followed by a
// catalog rebuild, repair and gc: the newest version survives, whichever
// provider the rebuild reads.
func TestHostileRollbackRebuild(t *testing.T) {
	for _, tc := range []struct {
		name string
		from []string // rebuild-catalog arguments
	}{
		{"every provider", nil},
		{"the rolled-back provider only", []string{"--from", "local0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := StartGateway(t, Setup{Local: 2})
			ctx := context.Background()
			c := faultClient(t, g)
			if err := c.MakeBucket(ctx, "docs", minio.MakeBucketOptions{}); err != nil {
				t.Fatal(err)
			}
			hostile := g.LocalDirs[0]
			before := snapshotDir(t, hostile)
			a, a2 := faultData(120_000, 2), faultData(90_000, 3)
			if _, err := c.PutObject(ctx, "docs", "a", bytes.NewReader(a), int64(len(a)), minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
			old := newFiles(t, hostile, before)
			if _, err := c.PutObject(ctx, "docs", "a", bytes.NewReader(a2), int64(len(a2)), minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
			honestBlobs := blobNames(t, filepath.Join(g.LocalDirs[1], "b"))
			g.Stop()
			restore(t, hostile, old)

			g.mustRun(t, 0, append([]string{"rebuild-catalog", "--force", "-c", g.Config}, tc.from...)...)
			out := g.mustRun(t, 0, "repair", "-c", g.Config)
			t.Logf("repair: %s", firstLine(out[strings.Index(out, "repaired:"):]))
			g.mustRun(t, 0, "gc", "--grace", "0s", "-c", g.Config)
			if out := g.mustRun(t, 0, "scrub", "--deep", "-c", g.Config); faultNumber(t, out, "problems:") != 0 {
				t.Fatalf("scrub after rebuild, repair and gc:\n%s", out)
			}
			for _, b := range honestBlobs {
				for _, d := range g.LocalDirs {
					if _, err := os.Stat(filepath.Join(d, "b", b)); err != nil {
						t.Errorf("the newest version's blob %s is gone from %s: %v", b, d, err)
					}
				}
			}
			g.Start()
			if got, err := getObject(ctx, c, "docs", "a"); err != nil || !bytes.Equal(got, a2) {
				t.Fatalf("GET after the rollback, rebuild, repair and gc: %d bytes, %v; want the newest version", len(got), err)
			}
		})
	}
}

// TestForeignFilesNeverStopMaintenance puts files that are not records of
// this gateway under a provider's m/: a 65 MiB one and a small undecodable
// one. scrub reports them as foreign, repair and gc finish with exit 0 and
// leave them alone.
func TestForeignFilesNeverStopMaintenance(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	ctx := context.Background()
	c := faultClient(t, g)
	if err := c.MakeBucket(ctx, "data", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, "data", "x", bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	g.Stop()
	// Where the local backend keeps meta records: in fan-out directories
	// named by the first three hex digits.
	big := filepath.Join(g.LocalDirs[0], "m", "aba+", strings.Repeat("ab", 32))
	small := filepath.Join(g.LocalDirs[1], "m", "cdc+", strings.Repeat("cd", 32))
	for _, p := range []string{big, small} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(big, bytes.Repeat([]byte{7}, 65<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(small, []byte("not a record"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := g.mustRun(t, 0, "scrub", "-c", g.Config)
	if faultCount(t, out, `local0: .* foreign (\d+)`) != 1 || faultCount(t, out, `local1: .* foreign (\d+)`) != 1 {
		t.Fatalf("scrub with foreign files:\n%s", out)
	}
	g.mustRun(t, 0, "repair", "-c", g.Config)
	out = g.mustRun(t, 0, "gc", "--grace", "0s", "-c", g.Config)
	if !strings.Contains(out, "foreign files skipped: 2") {
		t.Fatalf("gc with foreign files:\n%s", out)
	}
	for _, p := range []string{big, small} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("maintenance touched the foreign file %s: %v", p, err)
		}
	}
	if !slices.Contains(blobNames(t, filepath.Join(g.LocalDirs[0], "m")), filepath.Join("aba+", strings.Repeat("ab", 32))) {
		t.Error("the foreign file is gone")
	}
}

// TestMetaRecordSizeClasses writes objects whose keys are 1 to 300 bytes
// long and checks that a provider sees their meta records in a few size
// classes, not one size per name length.
func TestMetaRecordSizeClasses(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	ctx := context.Background()
	c := faultClient(t, g)
	if err := c.MakeBucket(ctx, "sizes", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 300; n += 7 { // 43 lengths
		key := strings.Repeat("k", n)
		if _, err := c.PutObject(ctx, "sizes", key, bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sizes := map[int]int{}
	for _, b := range snapshotDir(t, filepath.Join(g.LocalDirs[0], "m")) {
		sizes[len(b)]++
	}
	if len(sizes) != 1 {
		t.Fatalf("meta records of 43 key lengths and the bucket record come in %d sizes, want 1: %v", len(sizes), sizes)
	}
	t.Logf("meta record sizes on the provider (size: count): %v", sizes)
}

// TestHostileSnapshotRollback is a provider that goes back, as a whole, to
// an older consistent snapshot of its directory: the gateway says so at
// start from the namespace epoch alone, scrub reports the old epoch and
// every record the snapshot lacks or holds in an older version, and repair
// brings the provider forward.
func TestHostileSnapshotRollback(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	ctx := context.Background()
	c := faultClient(t, g)
	if err := c.MakeBucket(ctx, "snap", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, n int, seed uint64) {
		t.Helper()
		d := faultData(n, seed)
		if _, err := c.PutObject(ctx, "snap", key, bytes.NewReader(d), int64(len(d)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put("kept", 10_000, 1)
	put("changed", 10_000, 2)
	put("deleted", 10_000, 3)
	g.Stop()
	hostile := g.LocalDirs[1]
	snapshot := snapshotDir(t, hostile)
	g.Start()
	put("changed", 20_000, 4)
	put("new", 10_000, 5)
	if err := c.RemoveObject(ctx, "snap", "deleted", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	g.Stop()
	if err := os.RemoveAll(hostile); err != nil {
		t.Fatal(err)
	}
	restore(t, hostile, snapshot)

	g.Start()
	if got, err := getObject(ctx, c, "snap", "changed"); err != nil || !bytes.Equal(got, faultData(20_000, 4)) {
		t.Fatalf("GET with a rolled-back provider: %d bytes, %v", len(got), err)
	}
	g.Stop()
	if out := g.Output(); !strings.Contains(out, "a provider serves an old snapshot of the namespace") || !strings.Contains(out, "backend=local1") {
		t.Fatalf("serve did not report the rolled-back provider:\n%s", out)
	}
	out := g.mustRun(t, 1, "scrub", "-c", g.Config)
	for _, want := range []string{"the provider serves an old snapshot", "local1: missing"} {
		if !strings.Contains(out, want) {
			t.Errorf("scrub of the rolled-back provider does not say %q:\n%s", want, out)
		}
	}
	// changed (its new record and blob missing, the old one
	// superseded), deleted (its tombstone missing, its record
	// superseded), new (missing record and blob): every one is found.
	if n := faultCount(t, out, `local1: missing (\d+)`); n < 2 {
		t.Errorf("scrub found %d missing copies on local1, want the new object's record and blob:\n%s", n, out)
	}
	// Records of a key are named by generation: the snapshot's records
	// of changed and deleted are older ones, superseded by the catalog's
	// (the newer record, or the tombstone, is missing there).
	if n := faultCount(t, out, `local1: missing \d+, corrupt \d+, stale \d+, ahead \d+, unavailable \d+, uncataloged \d+, foreign \d+, superseded (\d+)`); n != 2 {
		t.Errorf("scrub found %d superseded records on local1, want changed and deleted:\n%s", n, out)
	}
	g.mustRun(t, 0, "repair", "-c", g.Config)
	if out := g.mustRun(t, 0, "scrub", "--deep", "-c", g.Config); faultNumber(t, out, "problems:") != 0 {
		t.Fatalf("scrub after repair:\n%s", out)
	}
	g.Start()
	if _, err := getObject(ctx, c, "snap", "deleted"); minio.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Fatalf("the deleted object after the rollback and repair: %v", err)
	}
}

// TestHostileMisattributedFailover is issue 12's scenario 3: the provider
// read first (versitygw, through a proxy) breaks its stream 1,000 bytes
// into chunk 2, and the other provider's copy has a byte flipped later in
// chunk 2. The read must come back intact from the honest copy, no repair
// may copy the corrupt ciphertext over it, and repair then heals the
// corrupt copy from the honest one.
func TestHostileMisattributedFailover(t *testing.T) {
	vgw := testenv.StartVersityGW(t)
	px := testenv.StartProxy(t, vgw.Addr)
	g := StartGateway(t, Setup{Local: 1, S3: []*testenv.S3Server{vgw}, S3Via: []*testenv.Proxy{px}, Priority: []int{1, 0}})
	ctx := context.Background()
	c := faultClient(t, g)
	if err := c.MakeBucket(ctx, "scene", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	data := faultData(5*sealChunkBytes, 3)
	if _, err := c.PutObject(ctx, "scene", "film", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	blobs := blobNames(t, filepath.Join(g.LocalDirs[0], "b"))
	if len(blobs) != 1 {
		t.Fatalf("%d blobs on the local provider, want 1", len(blobs))
	}
	chunk2 := int64(sealHeaderSize + 2*sealChunkBytes)
	flipFileByte(t, filepath.Join(g.LocalDirs[0], "b", blobs[0]), chunk2+30_000)
	honest := filepath.Join(vgw.Dir, g.Buckets[0].Bucket, "b", filepath.Base(blobs[0]))
	honestBytes, err := os.ReadFile(honest)
	if err != nil {
		t.Fatal(err)
	}
	// The response headers come first: the cut lands 1,000 bytes into
	// chunk 2 plus their length, well inside the chunk.
	px.CutOnceAfter(chunk2 + 1_000 + 600)
	got, err := getObject(ctx, c, "scene", "film")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GET with the honest stream cut and the other copy corrupt: %d bytes, %v; want it intact", len(got), err)
	}
	g.Stop() // the queue is drained by repair below, as serve would
	out := g.mustRun(t, 0, "repair", "-c", g.Config)
	if now, _ := os.ReadFile(honest); !bytes.Equal(now, honestBytes) {
		t.Fatalf("the honest copy changed:\n%s", out)
	}
	if faultCount(t, out, `(\d+) blob copies copied`) != 1 {
		t.Errorf("repair did not heal the corrupt copy from the honest one:\n%s", out)
	}
	if out := g.mustRun(t, 0, "scrub", "--deep", "-c", g.Config); faultNumber(t, out, "problems:") != 0 {
		t.Fatalf("scrub after repair:\n%s", out)
	}
}

// TestRecoverEveryKey writes objects under keys S3 accepts and a file
// system cannot hold as they are ("..", ".", empty segments, a leading
// "/", a segment over 255 bytes, a key that is also a folder), and
// recovers them from one provider with the keyring alone: every one comes
// back, under an encoded name listed in .twincrypt-recover-names.jsonl.
func TestRecoverEveryKey(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	ctx := context.Background()
	c := faultClient(t, g)
	if err := c.MakeBucket(ctx, "odd", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	keys := []string{"../escape", "a/./b", "x//y", "/lead", strings.Repeat("s", 300) + "/f", "100%", "both", "both/inner", "plain.txt"}
	for _, k := range keys {
		body := "content of " + k
		if _, err := c.PutObject(ctx, "odd", k, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatalf("PUT %q: %v", k, err)
		}
	}
	g.Stop()
	dir := filepath.Join(t.TempDir(), "restored")
	out := g.mustRun(t, 0, "recover", "--keyring", filepath.Join(g.Dir, "twincrypt.keyring"), "--backend", g.LocalDirs[1], "--to", dir)
	if !strings.Contains(out, "recovered 1 buckets, 9 objects") || !strings.Contains(out, "7 objects restored under other names") {
		t.Fatalf("recover:\n%s", out)
	}
	names, err := os.ReadFile(filepath.Join(dir, ".twincrypt-recover-names.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	type renamed struct{ Bucket, Key, Path string }
	paths := map[string]string{"plain.txt": "odd/plain.txt", "both/inner": "odd/both/inner"}
	for _, line := range strings.Split(strings.TrimSpace(string(names)), "\n") {
		var r renamed
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		paths[r.Key] = r.Path
	}
	for _, k := range keys {
		p, ok := paths[k]
		if !ok {
			t.Errorf("%q: not listed", k)
			continue
		}
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil || string(got) != "content of "+k {
			t.Errorf("%q restored at %s: %q, %v", k, p, got, err)
		}
		if rel, err := filepath.Rel(dir, filepath.Join(dir, filepath.FromSlash(p))); err != nil || strings.HasPrefix(rel, "..") {
			t.Errorf("%q restored outside the directory: %s", k, p)
		}
	}
}
