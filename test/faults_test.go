package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// faultClient returns a minio-go client of the gateway. Retries are off so
// that every failed request is seen by the test.
func faultClient(t testing.TB, g *Gateway) *minio.Client {
	t.Helper()
	c, err := minio.New(g.Addr, &minio.Options{
		Creds: credentials.NewStaticV4(g.AccessKey, g.SecretKey, ""), Region: "us-east-1", MaxRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// faultData returns n deterministic pseudo-random bytes.
func faultData(n int, seed uint64) []byte {
	b := make([]byte, n)
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	rand.NewChaCha8(s).Read(b)
	return b
}

// mustRun runs a twincrypt subcommand and fails the test unless it exits
// with want (0 or 1).
func (g *Gateway) mustRun(t testing.TB, want int, args ...string) string {
	t.Helper()
	out, err := g.Run(args...)
	code := 0
	var ee interface{ ExitCode() int }
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("twincrypt %v: %v", args, err)
	}
	if code != want {
		t.Fatalf("twincrypt %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, out)
	}
	return out
}

// faultNumber extracts the integer printed after label.
func faultNumber(t testing.TB, out, label string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)` + regexp.QuoteMeta(label) + ` (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in output:\n%s", label, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// faultCount extracts the integer matched by the first group of re.
func faultCount(t testing.TB, out, re string) int {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s in output:\n%s", re, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// blobDirs returns, per backend, the directory holding its blobs.
func (g *Gateway) blobDirs() []string {
	var out []string
	for _, d := range g.backendDirs() {
		out = append(out, filepath.Join(d, "b"))
	}
	return out
}

// blobNames lists the files below one directory of a local backend (b/ or
// m/), as paths relative to it: "3f2+/3f2a...", since names of 32 hex
// digits or more are kept in fan-out directories.
func blobNames(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == dir {
			return nil
		}
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(dir, p)
			out = append(out, rel)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func flipFileByte(t testing.TB, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x20
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// getObject reads a whole object; it returns what arrived and the error.
func getObject(ctx context.Context, c *minio.Client, bucket, key string) ([]byte, error) {
	o, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	defer o.Close()
	return io.ReadAll(o)
}

// seal format sizes used to aim at the second chunk of a blob.
const (
	sealHeaderSize = 154
	sealChunkBytes = 64<<10 + 16
)

// TestFaultBackendOutage stops one S3 provider during a workload of 500
// mixed requests with min_writes 1: no request may fail. After the provider
// returns, repair converges and a deep scrub finds nothing.
func TestFaultBackendOutage(t *testing.T) {
	vgw := testenv.StartVersityGW(t)
	g := StartGateway(t, Setup{Local: 1, S3: []*testenv.S3Server{vgw}, MinWrites: 1})
	ctx := context.Background()
	c := faultClient(t, g)
	const bucket = "outage"
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}

	const (
		requests = 500
		workers  = 4
		keys     = 40
		stopAt   = 100
		startAt  = 350
	)
	// Each worker owns the keys k with k%workers == its number, so the
	// expected state of every key is known without locking.
	var (
		mu       sync.Mutex
		issued   int
		failures []string
		counts   = map[string]int{}
	)
	next := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if issued == requests {
			return 0, false
		}
		issued++
		switch issued {
		case stopAt:
			vgw.Stop()
		case startAt:
			vgw.Start()
		}
		return issued, true
	}
	model := make([]map[string][]byte, workers)
	var wg sync.WaitGroup
	for w := range workers {
		model[w] = map[string][]byte{}
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				n, ok := next()
				if !ok {
					return
				}
				key := fmt.Sprintf("k%03d", rnd.IntN(keys/workers)*workers+w)
				var op string
				var err error
				switch r := rnd.IntN(10); {
				case r < 4:
					op = "put"
					data := faultData(1+rnd.IntN(200<<10), uint64(n))
					_, err = c.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
					if err == nil {
						model[w][key] = data
					}
				case r < 8:
					op = "get"
					var got []byte
					got, err = getObject(ctx, c, bucket, key)
					want, exists := model[w][key]
					switch {
					case !exists && minio.ToErrorResponse(err).Code == "NoSuchKey":
						err = nil
					case exists && err == nil && !bytes.Equal(got, want):
						err = fmt.Errorf("got %d bytes that differ from the %d stored", len(got), len(want))
					case !exists && err == nil:
						err = errors.New("deleted object still readable")
					}
				default:
					op = "delete"
					err = c.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{})
					if err == nil {
						delete(model[w], key)
					}
				}
				mu.Lock()
				counts[op]++
				if err != nil {
					failures = append(failures, fmt.Sprintf("request %d: %s %s: %v", n, op, key, err))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("workload: %d puts, %d gets, %d deletes; provider down for requests %d..%d", counts["put"], counts["get"], counts["delete"], stopAt, startAt)
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed during the outage:\n%s", len(failures), requests, strings.Join(failures, "\n"))
	}

	g.Stop()
	out := g.mustRun(t, 0, "repair", "-c", g.Config)
	t.Logf("repair after the outage (serve's background repairer may have done part of it): %d changes", faultNumber(t, out, "actions:"))
	out = g.mustRun(t, 0, "scrub", "-c", g.Config, "--deep")
	if faultNumber(t, out, "problems:") != 0 {
		t.Fatalf("deep scrub after repair:\n%s", out)
	}
	t.Logf("scrub --deep after repair: %s", firstLine(out))
	g.mustRun(t, 0, "repair", "-c", g.Config)

	// Every object reads back from the provider that was down alone.
	for _, d := range g.LocalDirs {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
	}
	g.Start()
	stored := 0
	for w := range workers {
		for key, want := range model[w] {
			got, err := getObject(ctx, c, bucket, key)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s from the repaired provider: %d bytes, %v", key, len(got), err)
			}
			stored++
		}
	}
	t.Logf("%d objects read back from the repaired provider alone", stored)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// TestFaultCorruption flips one byte in one replica of 20 objects: reads
// stay correct, a deep scrub reports exactly those 20, repair fixes them.
// Then one object is corrupted on both backends: its read fails and
// releases no wrong byte.
func TestFaultCorruption(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	ctx := context.Background()
	c := faultClient(t, g)
	const bucket = "corruption"
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	const objects = 25
	dirs := g.blobDirs()
	type object struct {
		key  string
		data []byte
		blob string
	}
	var objs []object
	for i := range objects {
		before := blobNames(t, dirs[0])
		o := object{key: fmt.Sprintf("file-%02d", i), data: faultData(150<<10+i*1000, uint64(i))}
		if _, err := c.PutObject(ctx, bucket, o.key, bytes.NewReader(o.data), int64(len(o.data)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, b := range blobNames(t, dirs[0]) {
			if !slices.Contains(before, b) {
				o.blob = b
			}
		}
		if o.blob == "" {
			t.Fatalf("no new blob for %s", o.key)
		}
		objs = append(objs, o)
	}
	// One replica of 20 objects: 10 on each backend, in the second chunk.
	for i, o := range objs[:20] {
		flipFileByte(t, filepath.Join(dirs[i%2], o.blob), sealHeaderSize+sealChunkBytes+int64(i))
	}
	for _, o := range objs {
		got, err := getObject(ctx, c, bucket, o.key)
		if err != nil || !bytes.Equal(got, o.data) {
			t.Errorf("%s with one corrupt replica: %d bytes, %v", o.key, len(got), err)
		}
	}

	g.Stop()
	out := g.mustRun(t, 0, "scrub", "-c", g.Config)
	if faultNumber(t, out, "problems:") != 0 {
		t.Errorf("a scrub without --deep sees sizes only, yet reported:\n%s", out)
	}
	out = g.mustRun(t, 1, "scrub", "-c", g.Config, "--deep")
	if faultNumber(t, out, "problems:") != 20 || faultNumber(t, out, "local0: missing 0, corrupt") != 10 || faultNumber(t, out, "local1: missing 0, corrupt") != 10 {
		t.Fatalf("deep scrub:\n%s", out)
	}
	for _, o := range objs[:20] {
		if !strings.Contains(out, "b/"+filepath.Base(o.blob)+" ("+bucket+"/"+o.key+")") {
			t.Errorf("deep scrub does not name %s", o.key)
		}
	}
	t.Logf("scrub --deep: %s", firstLine(out))
	out = g.mustRun(t, 0, "repair", "-c", g.Config)
	// Reads that met a corrupt replica queued it for repair; the queue
	// heals those, the scrub the others.
	if q, b := faultNumber(t, out, "repair queue:"), faultCount(t, out, `(\d+) blob copies copied`); q+b != 20 {
		t.Errorf("repair healed %d queued and copied %d blobs, want 20 in all:\n%s", q, b, out)
	}
	t.Logf("repair: %d blobs healed from the queue (queued by reads that failed over), %d found by the scrub", faultNumber(t, out, "repair queue:"), faultCount(t, out, `(\d+) blob copies copied`))
	if faultNumber(t, out, "actions:") != 20 {
		t.Errorf("repair made %d changes, want 20:\n%s", faultNumber(t, out, "actions:"), out)
	}
	out = g.mustRun(t, 0, "scrub", "-c", g.Config, "--deep")
	if faultNumber(t, out, "problems:") != 0 {
		t.Fatalf("deep scrub after repair:\n%s", out)
	}
	if out := g.mustRun(t, 0, "repair", "-c", g.Config); faultNumber(t, out, "actions:") != 0 {
		t.Errorf("second repair:\n%s", out)
	}

	// The same object corrupt on both backends.
	victim := objs[22]
	for _, d := range dirs {
		flipFileByte(t, filepath.Join(d, victim.blob), sealHeaderSize+sealChunkBytes+7)
	}
	g.Start()
	got, err := getObject(ctx, c, bucket, victim.key)
	if err == nil {
		t.Fatalf("read of an object corrupt on both backends succeeded with %d bytes", len(got))
	}
	if !bytes.HasPrefix(victim.data, got) || len(got) >= len(victim.data) {
		t.Fatalf("read of an object corrupt everywhere released %d bytes that are not a correct prefix", len(got))
	}
	t.Logf("object corrupt on both backends: error %q after %d correct bytes (first chunk)", err, len(got))
	for _, o := range objs[:20] {
		if got, err := getObject(ctx, c, bucket, o.key); err != nil || !bytes.Equal(got, o.data) {
			t.Errorf("%s after repair: %d bytes, %v", o.key, len(got), err)
		}
	}
	g.Stop()
	out = g.mustRun(t, 1, "repair", "-c", g.Config)
	if faultNumber(t, out, "unrepaired:") != 2 {
		t.Errorf("repair of an object corrupt everywhere:\n%s", out)
	}
}

// TestFaultCrash kills the gateway with SIGKILL during 50 concurrent
// uploads of about 1 MiB: every acknowledged object must read back intact after the
// restart, no object may be partial, and gc removes the orphaned blobs.
func TestFaultCrash(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	ctx := context.Background()
	c := faultClient(t, g)
	const bucket = "crash"
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	const uploads = 50
	data := make([][]byte, uploads)
	for i := range data {
		// Nearly equal sizes: the uploads finish together, so the kill
		// lands while many are between their blobs and their commit.
		data[i] = faultData(1<<20+i*1024, uint64(1000+i))
	}
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		once  sync.Once
		wg    sync.WaitGroup
	)
	for i := range uploads {
		wg.Go(func() {
			key := fmt.Sprintf("upload-%02d", i)
			_, err := c.PutObject(ctx, bucket, key, bytes.NewReader(data[i]), int64(len(data[i])), minio.PutObjectOptions{})
			if err != nil {
				return
			}
			mu.Lock()
			acked[key] = true
			n := len(acked)
			mu.Unlock()
			if n == 10 {
				once.Do(g.Kill)
			}
		})
	}
	wg.Wait()
	once.Do(g.Kill)
	t.Logf("%d of %d uploads acknowledged before the kill", len(acked), uploads)
	if len(acked) == uploads {
		t.Fatal("every upload finished before the kill; the test proves nothing")
	}

	g.Start()
	listed := map[string]int64{}
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		listed[o.Key] = o.Size
	}
	for key := range acked {
		if _, ok := listed[key]; !ok {
			t.Errorf("acknowledged %s is not listed after the restart", key)
		}
	}
	for key, size := range listed {
		var i int
		fmt.Sscanf(key, "upload-%02d", &i)
		got, err := getObject(ctx, c, bucket, key)
		if err != nil || size != int64(len(data[i])) || !bytes.Equal(got, data[i]) {
			t.Errorf("%s (acknowledged %v): listed %d bytes, read %d, %v; want exactly the %d uploaded", key, acked[key], size, len(got), err, len(data[i]))
		}
	}
	t.Logf("%d objects visible after the restart (%d acknowledged), all complete", len(listed), len(acked))
	g.Stop()

	// Writes the crash cut off after their meta records: repair lists
	// them and leaves them out of the catalog; --adopt brings them in.
	out, err := g.Run("repair", "-c", g.Config)
	if faultCount(t, out, `(\d+) records adopted`) != 0 || (err != nil) != strings.Contains(out, "not adopted: 'twincrypt repair --adopt' brings it back") {
		t.Errorf("repair without --adopt: %v\n%s", err, out)
	}
	out = g.mustRun(t, 0, "repair", "--adopt", "-c", g.Config)
	t.Logf("repair --adopt: adopted/discarded: %s", strings.TrimSpace(regexp.MustCompile(`repaired: .*`).FindString(out)))
	scrub := g.mustRun(t, 0, "scrub", "-c", g.Config)
	objects := faultNumber(t, scrub, "buckets,")
	dirs := g.blobDirs()
	var before []int
	for _, d := range dirs {
		before = append(before, len(blobNames(t, d)))
	}
	out = g.mustRun(t, 0, "gc", "-c", g.Config, "--grace", "0")
	deleted := faultNumber(t, out, "deleted:")
	for i, d := range dirs {
		after := len(blobNames(t, d))
		t.Logf("backend %d: %d blobs before gc, %d after; %d objects", i, before[i], after, objects)
		if after != objects {
			t.Errorf("backend %d keeps %d blobs for %d objects after gc:\n%s", i, after, objects, out)
		}
	}
	if total := before[0] + before[1] - 2*objects; deleted != total {
		t.Errorf("gc reports %d deleted, the directories lost %d", deleted, total)
	}
	if out := g.mustRun(t, 0, "gc", "-c", g.Config, "--grace", "0"); faultNumber(t, out, "deleted:") != 0 {
		t.Errorf("second gc:\n%s", out)
	}
	out = g.mustRun(t, 0, "scrub", "-c", g.Config, "--deep")
	if faultNumber(t, out, "problems:") != 0 {
		t.Fatalf("deep scrub after gc:\n%s", out)
	}
	// Uploads whose meta record reached the backends before the kill
	// were adopted by repair: complete, never partial.
	g.Start()
	n := 0
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		var i int
		fmt.Sscanf(o.Key, "upload-%02d", &i)
		if got, err := getObject(ctx, c, bucket, o.Key); err != nil || !bytes.Equal(got, data[i]) {
			t.Errorf("%s after repair and gc: %d bytes, %v", o.Key, len(got), err)
		}
		n++
	}
	if n != objects {
		t.Errorf("%d objects listed after repair and gc, scrub counted %d", n, objects)
	}
}

// TestFaultDisaster loses the catalog and one backend entirely: recover
// restores the tree byte for byte from the other backend (an S3 provider,
// by URL) and the keyring alone; rebuild-catalog and repair then bring the
// gateway back.
func TestFaultDisaster(t *testing.T) {
	vgw := testenv.StartVersityGW(t)
	g := StartGateway(t, Setup{Local: 1, S3: []*testenv.S3Server{vgw}})
	ctx := context.Background()
	c := faultClient(t, g)
	tree := map[string]map[string][]byte{
		"documents": {
			"readme.txt":              []byte("read me"),
			"reports/2025/q1.pdf":     faultData(300<<10, 1),
			"reports/2025/q2.pdf":     faultData(64<<10, 2),
			"reports/empty.txt":       {},
			"photos/a/b/c/deep.jpg":   faultData(1<<20+3, 3),
			"big/video.bin":           faultData(12<<20+5, 4), // multipart
			"name with spaces & ü.md": []byte("unicode"),
		},
		"backups": {"host1/db.dump": faultData(2<<20, 5)},
		"empty":   {},
	}
	dirMarkers := []string{"documents/folder/"}
	for bucket, files := range tree {
		if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		for key, data := range files {
			opts := minio.PutObjectOptions{}
			if len(data) > 8<<20 {
				opts.PartSize = 5 << 20
			}
			if _, err := c.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), opts); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, m := range dirMarkers {
		b, k, _ := strings.Cut(m, "/")
		if _, err := c.PutObject(ctx, b, k, bytes.NewReader(nil), 0, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	g.Stop()

	// The disaster: the catalog and the local backend are gone.
	if err := os.Remove(filepath.Join(g.Dir, "twincrypt.db")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(g.LocalDirs[0]); err != nil {
		t.Fatal(err)
	}
	s3b := g.Buckets[0]
	url := fmt.Sprintf("s3://%s:%s@%s/%s?insecure=true", s3b.Server.AccessKey, s3b.Server.SecretKey, s3b.Server.Addr, s3b.Bucket)
	out := filepath.Join(t.TempDir(), "restored")
	res := g.mustRun(t, 0, "recover", "--keyring", filepath.Join(g.Dir, "twincrypt.keyring"), "--backend", url, "--to", out)
	if strings.Contains(res, s3b.Server.SecretKey) {
		t.Error("recover printed the provider's secret key")
	}
	t.Logf("recover: %s", firstLine(res))

	want := map[string][]byte{}
	for bucket, files := range tree {
		for key, data := range files {
			want[bucket+"/"+key] = data
		}
	}
	got := map[string][]byte{}
	var dirs []string
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		if d.IsDir() {
			dirs = append(dirs, filepath.ToSlash(rel))
			return nil
		}
		b, err := os.ReadFile(p)
		got[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("recovered %d files, want %d", len(got), len(want))
	}
	for name, data := range want {
		if b, ok := got[name]; !ok || !bytes.Equal(b, data) {
			t.Errorf("%s: recovered %d bytes (present %v), want %d", name, len(b), ok, len(data))
		}
	}
	for _, d := range []string{"empty", "documents/folder"} {
		if !slices.Contains(dirs, d) {
			t.Errorf("directory %s not recovered (have %v)", d, dirs)
		}
	}

	// Bring the gateway back: rebuild the catalog from the provider,
	// repair the lost backend, and serve.
	res = g.mustRun(t, 0, "rebuild-catalog", "-c", g.Config, "--from", "s3-0")
	objects := len(want) + len(dirMarkers)
	if !strings.Contains(res, fmt.Sprintf("3 buckets (0 implied by their objects), %d objects", objects)) {
		t.Errorf("rebuild-catalog:\n%s", res)
	}
	res = g.mustRun(t, 0, "repair", "-c", g.Config)
	t.Logf("repair of the lost backend: %s", strings.TrimSpace(regexp.MustCompile(`repaired: .*`).FindString(res)))
	res = g.mustRun(t, 0, "scrub", "-c", g.Config, "--deep")
	if faultNumber(t, res, "problems:") != 0 {
		t.Fatalf("deep scrub after rebuild and repair:\n%s", res)
	}
	g.Start()
	for name, data := range want {
		b, k, _ := strings.Cut(name, "/")
		if got, err := getObject(ctx, c, b, k); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s through the rebuilt gateway: %d bytes, %v", name, len(got), err)
		}
	}
}

// TestFaultRollback has one provider serve an older meta record of an
// object (a rollback: it drops the newest record and keeps the one before):
// reads still return the newest version, scrub reports the newest record
// missing and the older one superseded, and repair copies the one and
// deletes the other.
func TestFaultRollback(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	ctx := context.Background()
	c := faultClient(t, g)
	const bucket, key = "rollback", "contract.txt"
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	metaDir := filepath.Join(g.LocalDirs[1], "m")
	before := blobNames(t, metaDir)
	v1, v2 := []byte("version 1: pay 100"), []byte("version 2: pay 1,000,000")
	if _, err := c.PutObject(ctx, bucket, key, bytes.NewReader(v1), int64(len(v1)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	var record string
	for _, n := range blobNames(t, metaDir) {
		if !slices.Contains(before, n) {
			record = filepath.Join(metaDir, n)
		}
	}
	old, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, bucket, key, bytes.NewReader(v2), int64(len(v2)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	// The provider drops version 2's record and serves version 1's again.
	for _, n := range blobNames(t, metaDir) {
		if p := filepath.Join(metaDir, n); !slices.Contains(before, n) && p != record {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(record, old, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := getObject(ctx, c, bucket, key); err != nil || !bytes.Equal(got, v2) {
		t.Fatalf("read after the rollback: %q, %v; want version 2", got, err)
	}
	g.Stop()
	// Records of a key are named by generation: version 2's is missing
	// there, version 1's is superseded by it.
	out := g.mustRun(t, 1, "scrub", "-c", g.Config)
	if faultNumber(t, out, "problems:") != 2 || faultNumber(t, out, "local1: missing") != 1 || faultCount(t, out, `local1: .*superseded (\d+)`) != 1 {
		t.Fatalf("scrub after the rollback:\n%s", out)
	}
	t.Logf("scrub: %s", strings.TrimSpace(regexp.MustCompile(`local1: superseded .*`).FindString(out)))
	out = g.mustRun(t, 0, "repair", "-c", g.Config)
	if faultNumber(t, out, "actions:") != 2 {
		t.Errorf("repair:\n%s", out)
	}
	if out := g.mustRun(t, 0, "scrub", "-c", g.Config); faultNumber(t, out, "problems:") != 0 {
		t.Errorf("scrub after repair:\n%s", out)
	}
	if got, _ := os.ReadFile(record); bytes.Equal(got, old) {
		t.Error("the rolled-back record is still on the backend")
	}
}
