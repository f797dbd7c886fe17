package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// redisDeployment is a Redis server or cluster that tests can crash and
// bring back with its data.
type redisDeployment struct {
	url         string
	stop, start func()
}

// TestRedisMultiInstance runs two `twincrypt serve` processes on one Redis
// (a single server, then a three-master Redis Cluster) and the same two
// providers, and checks that they act as one gateway: what one stores the
// other lists and serves at once, over S3 and WebDAV; WebDAV locks,
// multipart uploads and share links' download limits span both; concurrent
// overwrites of one key through both end with catalog and providers
// agreeing; the crash of one instance mid-upload leaves nothing visible and
// nothing that gc does not collect, and its locks expire; and an outage of
// Redis gives 503s, never a wrong answer or a lost acknowledged write, and
// ends without restarting the gateways.
func TestRedisMultiInstance(t *testing.T) {
	t.Parallel()
	// Short Redis timeouts: an outage answers 503 quickly.
	const opts = "dial_timeout=300ms&read_timeout=1s&write_timeout=1s&max_retries=1"
	t.Run("single", func(t *testing.T) {
		t.Parallel()
		srv := testenv.StartRedisDurable(t)
		testMultiInstance(t, redisDeployment{url: srv.URL() + "?" + opts, stop: srv.Stop, start: srv.Start})
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		c := testenv.StartRedisClusterDurable(t)
		testMultiInstance(t, redisDeployment{url: c.URL() + "&" + opts, stop: c.Stop, start: c.Start})
	})
}

func testMultiInstance(t *testing.T, rd redisDeployment) {
	a := StartGateway(t, Setup{Local: 2, Share: true, CatalogURL: rd.url})
	b := secondInstance(t, a)
	ca, cb := faultClient(t, a), faultClient(t, b)
	ctx := context.Background()
	const bucket = "multi"
	if err := ca.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	// known is every object the test stored, with its content.
	known := map[string][]byte{}

	t.Run("visible", func(t *testing.T) {
		data := faultData(300_000, 1)
		mustPut(t, ca, bucket, "dir/hello.bin", data)
		known["dir/hello.bin"] = data
		got, err := listKeys(t, cb, bucket, true)
		if err != nil || !slices.Contains(got, "dir/hello.bin") {
			t.Fatalf("listing through b: %q, %v", got, err)
		}
		mustGet(t, cb, bucket, "dir/hello.bin", data)
		davB := NewDAV(t, b)
		if _, body := davB.Must(http.StatusOK, "GET", "/"+bucket+"/dir/hello.bin", nil); !bytes.Equal(body, data) {
			t.Errorf("WebDAV GET through b: %d bytes, want the %d stored through a", len(body), len(data))
		}
		if _, body := davB.Must(http.StatusMultiStatus, "PROPFIND", "/"+bucket+"/dir/", nil, "Depth", "1"); !strings.Contains(string(body), "hello.bin") {
			t.Errorf("WebDAV PROPFIND through b lacks hello.bin:\n%s", body)
		}
	})

	t.Run("lock", func(t *testing.T) {
		davA, davB := NewDAV(t, a), NewDAV(t, b)
		path := "/" + bucket + "/locked.txt"
		token := davLock(t, davA, path)
		if resp, body := davB.Do("PUT", path, strings.NewReader("from b")); resp.StatusCode != http.StatusLocked {
			t.Fatalf("PUT through b without the token of a's lock: %s, want 423\n%s", resp.Status, body)
		}
		if resp, body := davB.Do("PUT", path, strings.NewReader("with token"), "If", "(<"+token+">)"); resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PUT through b with the token of a's lock: %s\n%s", resp.Status, body)
		}
		if resp, _ := davB.Do("PUT", path, strings.NewReader("with token")); resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusNoContent {
			t.Fatalf("PUT without the token after a PUT with it: %s, want 423", resp.Status)
		}
		davB.Must(http.StatusNoContent, "UNLOCK", path, nil, "Lock-Token", "<"+token+">")
		if resp, body := davA.Do("PUT", path, strings.NewReader("after unlock")); resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PUT through a after the unlock through b: %s\n%s", resp.Status, body)
		}
		known["locked.txt"] = []byte("after unlock")
		mustGet(t, cb, bucket, "locked.txt", []byte("after unlock"))
	})

	t.Run("multipart", func(t *testing.T) {
		coreA, coreB := minio.Core{Client: ca}, minio.Core{Client: cb}
		id, err := coreA.NewMultipartUpload(ctx, bucket, "mp.bin", minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p1, p2, p3 := faultData(5<<20, 21), faultData(5<<20, 22), faultData(12345, 23)
		var parts []minio.CompletePart
		for i, p := range []struct {
			core minio.Core
			data []byte
		}{{coreA, p1}, {coreB, p2}, {coreA, p3}} {
			part, err := p.core.PutObjectPart(ctx, bucket, "mp.bin", id, i+1, bytes.NewReader(p.data), int64(len(p.data)), minio.PutObjectPartOptions{})
			if err != nil {
				t.Fatalf("part %d: %v", i+1, err)
			}
			parts = append(parts, minio.CompletePart{PartNumber: i + 1, ETag: part.ETag})
		}
		if _, err := coreB.CompleteMultipartUpload(ctx, bucket, "mp.bin", id, parts, minio.PutObjectOptions{}); err != nil {
			t.Fatalf("complete through b: %v", err)
		}
		want := slices.Concat(p1, p2, p3)
		known["mp.bin"] = want
		mustGet(t, ca, bucket, "mp.bin", want)
		mustGet(t, cb, bucket, "mp.bin", want)
	})

	t.Run("share", func(t *testing.T) {
		data := faultData(200_000, 31)
		mustPut(t, ca, bucket, "doc.bin", data)
		known["doc.bin"] = data
		out, err := a.Run("share", "create", "-c", a.Config, bucket+"/doc.bin", "--max-downloads", "2")
		if err != nil {
			t.Fatalf("share create through a: %v\n%s", err, out)
		}
		linkA := linkOf(t, out)
		linkB := strings.Replace(linkA, a.ShareURL(), b.ShareURL(), 1)
		if linkB == linkA {
			t.Fatalf("link %q is not on a's share listener %s", linkA, a.ShareURL())
		}
		dir := t.TempDir()
		for i, link := range []string{linkB, linkA} {
			name := fmt.Sprintf("get%d", i)
			if r := twincryptGet(t, a, dir, nil, "-o", name, link); r.Code != 0 {
				t.Fatalf("download %d: exit %d\n%s", i+1, r.Code, r.Stderr)
			}
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("download %d: %d bytes, %v; want the %d stored", i+1, len(got), err, len(data))
			}
		}
		for i, link := range []string{linkB, linkA} {
			if r := twincryptGet(t, a, dir, nil, "-o", fmt.Sprintf("over%d", i), link); !r.gone() {
				t.Errorf("download beyond the limit through %s: exit %d, want 410\n%s", []string{"b", "a"}[i], r.Code, r.Stderr)
			}
		}
	})

	t.Run("race", func(t *testing.T) {
		const n = 50
		contents := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			contents[i] = faultData(40_000+i, uint64(100+i))
			c := []*minio.Client{ca, cb}[i%2]
			wg.Go(func() {
				_, errs[i] = c.PutObject(ctx, bucket, "race", bytes.NewReader(contents[i]), int64(len(contents[i])), minio.PutObjectOptions{})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("PUT %d through %s: %v", i, []string{"a", "b"}[i%2], err)
			}
		}
		gotA, errA := getObject(ctx, ca, bucket, "race")
		gotB, errB := getObject(ctx, cb, bucket, "race")
		if errA != nil || errB != nil || !bytes.Equal(gotA, gotB) {
			t.Fatalf("after the race a reads %d bytes (%v), b %d bytes (%v)", len(gotA), errA, len(gotB), errB)
		}
		winner := slices.IndexFunc(contents, func(c []byte) bool { return bytes.Equal(c, gotA) })
		if winner < 0 {
			t.Fatalf("after the race the object (%d bytes) is none of the %d written", len(gotA), n)
		}
		known["race"] = contents[winner]
		// Both providers hold the same meta records, and they are the
		// catalog's (scrub, run inside a, compares them).
		sameTree(t, filepath.Join(a.LocalDirs[0], "m"), filepath.Join(a.LocalDirs[1], "m"))
		if out := a.mustRun(t, 0, "scrub", "-c", a.Config); !strings.Contains(out, "problems: 0") {
			t.Errorf("scrub after the race:\n%s", out)
		}
		// No blob is left behind by the losers: gc (with no gateway
		// serving, so with no grace) finds nothing to delete, and every
		// object still reads back.
		a.Stop()
		b.Stop()
		out := a.mustRun(t, 0, "gc", "-c", a.Config, "--grace", "0s")
		if !strings.Contains(out, "\ndeleted: 0\n") {
			t.Errorf("gc after the race deleted blobs, so some were left unreferenced:\n%s", out)
		}
		a.Start()
		b.Start()
		checkKnown(t, []*minio.Client{ca, cb}, bucket, known)
	})

	t.Run("redis outage", func(t *testing.T) {
		testRedisOutage(t, rd, []*minio.Client{ca, cb}, bucket, known)
	})

	t.Run("kill mid-upload", func(t *testing.T) {
		davA, davB := NewDAV(t, a), NewDAV(t, b)
		lockPath := "/" + bucket + "/held-by-a.txt"
		token := davLock(t, davA, lockPath)
		local0 := a.LocalDirs[0]
		blobsBefore, tmpBefore := countFiles(t, filepath.Join(local0, "b")), countFiles(t, filepath.Join(local0, "~tmp"))

		// A large upload whose client sends 8 MiB of 64 and then waits.
		release := make(chan struct{})
		body := io.MultiReader(bytes.NewReader(faultData(8<<20, 41)), blockingReader(release))
		req, err := http.NewRequest("PUT", davA.URL("/"+bucket+"/dying.bin"), body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = 64 << 20
		req.SetBasicAuth(a.AccessKey, a.SecretKey)
		uploadDone := make(chan error, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				err = fmt.Errorf("the upload was answered: %s", resp.Status)
			}
			uploadDone <- err
		}()
		// Wait until the providers are writing it.
		for i := 0; countFiles(t, filepath.Join(local0, "~tmp")) == tmpBefore; i++ {
			if i > 600 {
				t.Fatal("the upload never reached the provider")
			}
			time.Sleep(50 * time.Millisecond)
		}
		a.Kill()
		// The client learns of it once it sends more.
		close(release)
		if err := <-uploadDone; err == nil {
			t.Fatal("the upload to the killed instance succeeded")
		}

		// b serves; the lost upload is not visible.
		checkKnown(t, []*minio.Client{cb}, bucket, known)
		if _, err := cb.StatObject(ctx, bucket, "dying.bin", minio.StatObjectOptions{}); statusOf(err) != http.StatusNotFound {
			t.Errorf("HEAD of the lost upload through b: %v, want 404", err)
		}
		if got, err := listKeys(t, cb, bucket, true); err != nil || slices.Contains(got, "dying.bin") {
			t.Errorf("listing through b: %q, %v; want no dying.bin", got, err)
		}
		// a's lock outlives a by its lease at most: b refuses the PUT
		// until it expires, then accepts it.
		if resp, _ := davB.Do("PUT", lockPath, strings.NewReader("from b")); resp.StatusCode != http.StatusLocked {
			t.Errorf("PUT through b right after a died: %s, want 423 (the lock is a's until its lease lapses)", resp.Status)
		}
		expired := false
		for range 1200 {
			resp, _ := davB.Do("PUT", lockPath, strings.NewReader("from b"))
			if resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusNoContent {
				expired = true
				break
			}
			if resp.StatusCode != http.StatusLocked {
				t.Fatalf("PUT through b while a's lock lives: %s, want 423", resp.Status)
			}
			time.Sleep(250 * time.Millisecond)
		}
		if !expired {
			t.Fatalf("the lock %s of the killed instance never expired", token)
		}
		known["held-by-a.txt"] = []byte("from b")

		// gc, with no gateway serving, removes what the lost upload left
		// on the providers and nothing else.
		b.Stop()
		if n := countFiles(t, filepath.Join(local0, "~tmp")); n <= tmpBefore {
			t.Fatalf("no leftover of the lost upload on the provider (%d temporary files)", n)
		}
		if n := countFiles(t, filepath.Join(local0, "b")); n != blobsBefore {
			// The object PUT through b once the lock expired is
			// inline: it added no blob.
			t.Errorf("%d blobs before gc, want %d: the lost upload left a blob", n, blobsBefore)
		}
		out := a.mustRun(t, 0, "gc", "-c", a.Config, "--grace", "0s")
		if n := countFiles(t, filepath.Join(local0, "~tmp")); n != 0 {
			t.Errorf("%d temporary files left after gc:\n%s", n, out)
		}
		// What is left is exactly what is in use (the outage may have
		// left blobs of PUTs answered 503 for gc too).
		m := regexp.MustCompile(`referenced blobs: (\d+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("gc output:\n%s", out)
		}
		if n := countFiles(t, filepath.Join(local0, "b")); strconv.Itoa(n) != m[1] {
			t.Errorf("%d blobs after gc, %s referenced:\n%s", n, m[1], out)
		}
		b.Start()
		checkKnown(t, []*minio.Client{cb}, bucket, known)
	})
}

// davLock takes an exclusive write lock on path and returns its token.
func davLock(t *testing.T, d *DAV, path string) string {
	t.Helper()
	resp, body := d.Do("LOCK", path, strings.NewReader(`<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`),
		"Timeout", "Second-3600")
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		t.Fatalf("LOCK %s: %s\n%s", path, resp.Status, body)
	}
	token := strings.Trim(resp.Header.Get("Lock-Token"), "<>")
	if token == "" {
		t.Fatalf("LOCK %s: no Lock-Token", path)
	}
	return token
}

// blockingReader returns a reader that blocks until release is closed and
// then fails.
func blockingReader(release <-chan struct{}) io.Reader {
	return readerFunc(func([]byte) (int, error) {
		<-release
		return 0, io.ErrUnexpectedEOF
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// countFiles counts the regular files under dir (0 if it does not exist).
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sameTree fails unless the regular files under x and y have the same
// names and bytes.
func sameTree(t *testing.T, x, y string) {
	t.Helper()
	read := func(root string) map[string][]byte {
		out := map[string][]byte{}
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(p)
			rel, _ := filepath.Rel(root, p)
			out[rel] = b
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	mx, my := read(x), read(y)
	if len(mx) != len(my) {
		t.Errorf("%s holds %d files, %s %d", x, len(mx), y, len(my))
	}
	for name, bx := range mx {
		if by, ok := my[name]; !ok || !bytes.Equal(bx, by) {
			t.Errorf("%s differs between the providers (present on both: %v)", name, ok)
		}
	}
}

// checkKnown reads every object of known through each client and compares
// the bytes, and checks that a listing has them all.
func checkKnown(t *testing.T, cs []*minio.Client, bucket string, known map[string][]byte) {
	t.Helper()
	for _, c := range cs {
		got, err := listKeys(t, c, bucket, true)
		if err != nil {
			t.Fatalf("listing: %v", err)
		}
		for key, want := range known {
			if !slices.Contains(got, key) {
				t.Errorf("listing lacks %s", key)
			}
			mustGet(t, c, bucket, key, want)
		}
	}
}

// testRedisOutage runs a workload of PUT, GET and LIST through every
// client, stops Redis in the middle and starts it again: while Redis is
// down every answer is a 503 or a correct success, never a 404 or a wrong
// body; afterwards, without a restart of the gateways, the workload goes
// on, and every acknowledged PUT reads back through every client.
func testRedisOutage(t *testing.T, rd redisDeployment, cs []*minio.Client, bucket string, known map[string][]byte) {
	ctx := context.Background()
	type worker struct {
		acked    atomic.Int64 // acknowledged PUTs
		refused  atomic.Int64 // 503 answers
		mu       sync.Mutex
		ackedMap map[string][]byte
	}
	var stop atomic.Bool
	var wrong sync.Map // description -> true
	ws := make([]*worker, len(cs))
	var wg sync.WaitGroup
	for wi, c := range cs {
		w := &worker{ackedMap: map[string][]byte{}}
		ws[wi] = w
		wg.Go(func() {
			for i := 0; !stop.Load() && i < 5000; i++ {
				key := fmt.Sprintf("load/%d-%04d", wi, i)
				data := faultData(2000+i%500, uint64(10_000*wi+i))
				_, err := c.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
				switch {
				case err == nil:
					w.mu.Lock()
					w.ackedMap[key] = data
					w.mu.Unlock()
					w.acked.Add(1)
				case statusOf(err) == http.StatusServiceUnavailable:
					w.refused.Add(1)
				default:
					wrong.Store(fmt.Sprintf("PUT %s: %v", key, err), true)
				}
				// Read back an earlier acknowledged object.
				w.mu.Lock()
				var prevKey string
				var prev []byte
				if i > 0 {
					prevKey = fmt.Sprintf("load/%d-%04d", wi, i/2)
					prev = w.ackedMap[prevKey]
				}
				snapshot := len(w.ackedMap)
				w.mu.Unlock()
				if prev != nil {
					got, err := getObject(ctx, c, bucket, prevKey)
					switch {
					case err == nil && !bytes.Equal(got, prev):
						wrong.Store(fmt.Sprintf("GET %s: %d bytes, not the %d acknowledged", prevKey, len(got), len(prev)), true)
					case err != nil && statusOf(err) == http.StatusServiceUnavailable:
						w.refused.Add(1)
					case err != nil:
						wrong.Store(fmt.Sprintf("GET %s: %v", prevKey, err), true)
					}
				}
				if i%10 == 0 {
					var mine []string
					lerr := error(nil)
					for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "load/" + strconv.Itoa(wi) + "-", Recursive: true}) {
						if o.Err != nil {
							lerr = o.Err
							break
						}
						mine = append(mine, o.Key)
					}
					switch {
					case lerr == nil && len(mine) < snapshot:
						wrong.Store(fmt.Sprintf("LIST after %d acknowledged PUTs: %d keys", snapshot, len(mine)), true)
					case lerr != nil && statusOf(lerr) == http.StatusServiceUnavailable:
						w.refused.Add(1)
					case lerr != nil:
						wrong.Store(fmt.Sprintf("LIST: %v", lerr), true)
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	waitAll := func(what string, cond func(w *worker) bool) {
		for i := 0; ; i++ {
			ok := true
			for _, w := range ws {
				ok = ok && cond(w)
			}
			if ok {
				return
			}
			if i > 3000 {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("the workload never got to %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitAll("10 acknowledged PUTs per instance", func(w *worker) bool { return w.acked.Load() >= 10 })
	rd.stop()
	refusedAt := make([]int64, len(ws))
	for i, w := range ws {
		refusedAt[i] = w.refused.Load()
	}
	waitAll("5 refusals per instance with Redis down", func(w *worker) bool {
		return w.refused.Load() >= refusedAt[slices.Index(ws, w)]+5
	})
	rd.start()
	ackedAt := make([]int64, len(ws))
	for i, w := range ws {
		ackedAt[i] = w.acked.Load()
	}
	waitAll("10 acknowledged PUTs per instance after Redis came back", func(w *worker) bool {
		return w.acked.Load() >= ackedAt[slices.Index(ws, w)]+10
	})
	stop.Store(true)
	wg.Wait()
	wrong.Range(func(k, _ any) bool {
		t.Errorf("wrong answer: %s", k)
		return true
	})
	for i, w := range ws {
		t.Logf("instance %d: %d acknowledged PUTs, %d answers 503", i, w.acked.Load(), w.refused.Load())
		for k, v := range w.ackedMap {
			known[k] = v
		}
	}
	checkKnown(t, cs, bucket, known)
}
