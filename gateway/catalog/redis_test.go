package catalog_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twincrypt/twincrypt/backends/replica"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/catalog/catalogtest"
	"github.com/twincrypt/twincrypt/internal/testenv"
)

// openRedis opens a catalog with its own key prefix, so that every call
// starts empty on a shared server.
func openRedis(t testing.TB, rdb redis.UniversalClient, prefix string, opts ...catalog.RedisOption) *catalog.Redis {
	t.Helper()
	c, err := catalog.OpenRedis(t.Context(), rdb, append([]catalog.RedisOption{catalog.WithKeyPrefix(prefix)}, opts...)...)
	if err != nil {
		t.Fatalf("OpenRedis: %v", err)
	}
	return c
}

func TestRedisConformance(t *testing.T) {
	servers := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"single", func(t *testing.T) string { return testenv.StartRedis(t).URL() }},
		{"cluster", func(t *testing.T) string { return testenv.StartRedisCluster(t).URL() }},
	}
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			rdb := testenv.RedisClient(t, s.url(t))
			var n atomic.Int64
			catalogtest.Run(t, func(t *testing.T) catalog.Catalog {
				return openRedis(t, rdb, fmt.Sprintf("t%d:", n.Add(1)))
			})
		})
	}
}

// TestRedisRacingInstances has 50 writers on two clients (two instances)
// overwrite one key and tombstone it: the key ends at the highest
// generation any writer got acknowledged, and no acknowledged write is
// followed by a lower generation.
func TestRedisRacingInstances(t *testing.T) {
	for _, cluster := range []bool{false, true} {
		t.Run(fmt.Sprintf("cluster=%v", cluster), func(t *testing.T) {
			var url string
			if cluster {
				url = testenv.StartRedisCluster(t).URL()
			} else {
				url = testenv.StartRedis(t).URL()
			}
			ctx := t.Context()
			a := openRedis(t, testenv.RedisClient(t, url), "race:")
			b := openRedis(t, testenv.RedisClient(t, url), "race:")
			if err := a.CreateBucket(ctx, catalog.Bucket{Name: "bkt", Created: when}); err != nil {
				t.Fatal(err)
			}
			if err := b.CreateBucket(ctx, catalog.Bucket{Name: "bkt", Created: when}); !errors.Is(err, catalog.ErrBucketExists) {
				t.Fatalf("second instance's CreateBucket: %v, want ErrBucketExists", err)
			}
			const workers, rounds = 50, 20
			var (
				wg      sync.WaitGroup
				maxAck  atomic.Uint64
				badErrs = make(chan error, workers*rounds)
			)
			for w := range workers {
				c := a
				if w%2 == 1 {
					c = b
				}
				wg.Go(func() {
					last := uint64(0)
					for i := range rounds {
						gen := uint64(i*workers + w + 1)
						var err error
						if i%5 == 4 {
							_, err = c.PutTombstone(ctx, catalog.Tombstone{Bucket: "bkt", Key: "hot", Generation: gen, Deleted: when})
						} else {
							_, err = c.Put(ctx, catalog.Entry{Bucket: "bkt", Key: "hot", Generation: gen, ModTime: when, Record: []byte{byte(w)}})
						}
						if err != nil && !errors.Is(err, catalog.ErrStale) {
							badErrs <- err
							continue
						}
						if err == nil {
							for {
								m := maxAck.Load()
								if gen <= m || maxAck.CompareAndSwap(m, gen) {
									break
								}
							}
						}
						// What this writer reads never goes back.
						g := uint64(0)
						if e, err := c.Get(ctx, "bkt", "hot"); err == nil {
							g = e.Generation
						} else if ts, err := c.GetTombstone(ctx, "bkt", "hot"); err == nil {
							g = ts.Generation
						}
						if g != 0 && g < last { // 0: the two reads raced a write
							badErrs <- fmt.Errorf("writer %d read generation %d after %d", w, g, last)
						}
						last = max(last, g)
					}
				})
			}
			wg.Wait()
			close(badErrs)
			for err := range badErrs {
				t.Error(err)
			}
			got := uint64(0)
			e, err := a.Get(ctx, "bkt", "hot")
			if err == nil {
				got = e.Generation
				if _, err := a.GetTombstone(ctx, "bkt", "hot"); !errors.Is(err, catalog.ErrNotFound) {
					t.Errorf("entry and tombstone of one key coexist: %v", err)
				}
			} else if ts, terr := a.GetTombstone(ctx, "bkt", "hot"); terr == nil {
				got = ts.Generation
			} else {
				t.Fatalf("neither entry (%v) nor tombstone (%v)", err, terr)
			}
			if want := maxAck.Load(); got != want {
				t.Errorf("final generation %d, want the highest acknowledged, %d", got, want)
			}
		})
	}
}

// TestRedisQueueLease checks that two instances never get the same task
// from Pending with a limit while the lease lasts, and that a lease of an
// instance that stops runs out.
func TestRedisQueueLease(t *testing.T) {
	url := testenv.StartRedis(t).URL()
	ctx := t.Context()
	a := openRedis(t, testenv.RedisClient(t, url), "lease:", catalog.WithQueueLease(time.Hour))
	b := openRedis(t, testenv.RedisClient(t, url), "lease:", catalog.WithQueueLease(time.Hour))
	var tasks []replica.Task
	for i := range 10 {
		tasks = append(tasks, replica.Task{Backend: "m", Name: fmt.Sprintf("o%d", i), Op: replica.OpPut, Added: when.Add(time.Duration(i))})
	}
	if err := a.Add(ctx, tasks...); err != nil {
		t.Fatal(err)
	}
	ta, err := a.Pending(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.Pending(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(ta) != 4 || len(tb) != 6 {
		t.Fatalf("instances got %d and %d tasks, want 4 and 6", len(ta), len(tb))
	}
	seen := map[string]bool{}
	for _, task := range append(ta, tb...) {
		if seen[task.Name] {
			t.Errorf("task %s handed to both instances", task.Name)
		}
		seen[task.Name] = true
	}
	// The same instance sees its own leased tasks again.
	if again, err := a.Pending(ctx, 4); err != nil || len(again) != 4 || again[0].Name != ta[0].Name {
		t.Errorf("a's second Pending: %v, %v", again, err)
	}
	// A look at the whole queue sees everything and leases nothing.
	if all, err := b.Pending(ctx, 0); err != nil || len(all) != 10 {
		t.Errorf("Pending(0): %d tasks, %v", len(all), err)
	}
	// An instance whose lease ran out loses its tasks to another.
	c := openRedis(t, testenv.RedisClient(t, url), "lease:", catalog.WithQueueLease(time.Millisecond))
	d := openRedis(t, testenv.RedisClient(t, url), "lease:", catalog.WithQueueLease(time.Hour))
	if err := c.Add(ctx, replica.Task{Backend: "n", Name: "x", Op: replica.OpDelete, Added: when.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Pending(ctx, 1); err != nil || len(got) != 1 || got[0].Name != "x" {
		t.Fatalf("c's Pending: %v, %v", got, err)
	}
	time.Sleep(20 * time.Millisecond)
	if got, err := d.Pending(ctx, 1); err != nil || len(got) != 1 || got[0].Name != "x" {
		t.Errorf("after c's lease ran out, d's Pending: %v, %v", got, err)
	}
	if n, err := a.QueueLen(ctx); err != nil || n != 11 {
		t.Errorf("QueueLen = %d, %v; want 11", n, err)
	}
}

// TestRedisOutage stops redis-server under an open catalog: every call
// fails with ErrUnavailable, none answers "not found" or an empty listing;
// once the server is back (empty: it keeps nothing) the same catalog works
// again without being reopened.
func TestRedisOutage(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := testenv.RedisClient(t, srv.URL()+"?dial_timeout=200ms&read_timeout=500ms&max_retries=1")
	ctx := t.Context()
	c := openRedis(t, rdb, "out:")
	if err := c.CreateBucket(ctx, catalog.Bucket{Name: "b", Created: when}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, catalog.Entry{Bucket: "b", Key: "k", Generation: 1, ModTime: when}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	calls := []struct {
		name string
		fn   func() error
	}{
		{"Get", func() error { _, err := c.Get(ctx, "b", "k"); return err }},
		{"Get missing", func() error { _, err := c.Get(ctx, "b", "nope"); return err }},
		{"GetBucket", func() error { _, err := c.GetBucket(ctx, "b"); return err }},
		{"List", func() error { _, err := c.List(ctx, catalog.ListOptions{Bucket: "b"}); return err }},
		{"List delimiter", func() error { _, err := c.List(ctx, catalog.ListOptions{Bucket: "b", Delimiter: "/"}); return err }},
		{"ListBuckets", func() error { _, err := c.ListBuckets(ctx); return err }},
		{"Put", func() error { _, err := c.Put(ctx, catalog.Entry{Bucket: "b", Key: "k", Generation: 2}); return err }},
		{"Delete", func() error { _, err := c.Delete(ctx, "b", "k", 0); return err }},
		{"GetUpload", func() error { _, err := c.GetUpload(ctx, "u"); return err }},
		{"GetShare", func() error { _, err := c.GetShare(ctx, "s"); return err }},
		{"CountDownload", func() error { _, err := c.CountDownload(ctx, "s", when); return err }},
		{"Epoch", func() error { _, _, err := c.Epoch(ctx); return err }},
		{"Pending", func() error { _, err := c.Pending(ctx, 0); return err }},
		{"GetTombstone", func() error { _, err := c.GetTombstone(ctx, "b", "k"); return err }},
		{"Ping", func() error { return c.Ping(ctx) }},
	}
	for _, call := range calls {
		if err := call.fn(); !errors.Is(err, catalog.ErrUnavailable) {
			t.Errorf("%s with Redis down: %v, want ErrUnavailable", call.name, err)
		}
	}
	srv.Start()
	var err error
	for range 50 { // the pool reconnects on its own
		if err = c.CreateBucket(ctx, catalog.Bucket{Name: "b2", Created: when}); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("CreateBucket after Redis came back: %v", err)
	}
	if _, err := c.Put(ctx, catalog.Entry{Bucket: "b2", Key: "k", Generation: 1, ModTime: when}); err != nil {
		t.Fatal(err)
	}
	if e, err := c.Get(ctx, "b2", "k"); err != nil || e.Generation != 1 {
		t.Errorf("Get after recovery: %+v, %v", e, err)
	}
}

// TestRedisRacingVersions has writers on two instances add versions of one
// key, rewrite them and delete some at once (on a cluster): every version
// acknowledged and not deleted is there, and the object index mirrors the
// newest.
func TestRedisRacingVersions(t *testing.T) {
	url := testenv.StartRedisCluster(t).URL()
	ctx := t.Context()
	a := openRedis(t, testenv.RedisClient(t, url), "rv:")
	b := openRedis(t, testenv.RedisClient(t, url), "rv:")
	if err := a.CreateBucket(ctx, catalog.Bucket{Name: "bkt", Created: when}); err != nil {
		t.Fatal(err)
	}
	const workers, perWorker = 10, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker*3)
	for w := range workers {
		c := a
		if w%2 == 1 {
			c = b
		}
		wg.Go(func() {
			for i := range perWorker {
				seq := uint64(i*workers + w + 1)
				v := catalog.Version{Bucket: "bkt", Key: "hot", VersionID: fmt.Sprintf("v%03d", seq), Seq: seq, Generation: seq, ModTime: when, Size: int64(seq)}
				if _, err := c.PutVersion(ctx, v); err != nil {
					errs <- err
					continue
				}
				v.Generation += 1000 // a rewrite of the record (tags, retention)
				if _, err := c.PutVersion(ctx, v); err != nil {
					errs <- err
				}
				if seq%3 == 0 {
					_, err := c.DeleteVersion(ctx, catalog.Tombstone{Bucket: "bkt", Key: "hot", VersionID: v.VersionID, Generation: v.Generation + 1, Deleted: when}, catalog.DeleteVersionOptions{})
					if err != nil {
						errs <- err
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	res, err := a.ListVersions(ctx, catalog.VersionListOptions{Bucket: "bkt"})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for seq := workers * perWorker; seq >= 1; seq-- {
		if seq%3 != 0 {
			want = append(want, fmt.Sprintf("v%03d", seq))
		}
	}
	var got []string
	for _, v := range res.Versions {
		got = append(got, v.VersionID)
		if v.Generation != v.Seq+1000 {
			t.Errorf("%s: generation %d, want the rewrite's %d", v.VersionID, v.Generation, v.Seq+1000)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("versions %v, want %v", got, want)
	}
	e, err := b.Get(ctx, "bkt", "hot")
	if err != nil || e.VersionID != want[0] {
		t.Errorf("object index: %+v, %v; want version %s", e, err, want[0])
	}
}

// TestRedisCorruptValues puts garbage where the catalog keeps records, as
// a faulty or hostile writer to Redis could: every read fails with
// ErrCorrupt, nothing panics, and other keys are unaffected.
func TestRedisCorruptValues(t *testing.T) {
	rdb := testenv.RedisClient(t, testenv.StartRedis(t).URL())
	ctx := t.Context()
	c := openRedis(t, rdb, "bad:")
	if err := c.CreateBucket(ctx, catalog.Bucket{Name: "b", Created: when}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"good", "short", "badcodec"} {
		if _, err := c.Put(ctx, catalog.Entry{Bucket: "b", Key: k, Generation: 3, ModTime: when}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.PutShare(ctx, catalog.Share{ID: "s", Generation: 1, Created: when}); err != nil {
		t.Fatal(err)
	}
	writes := map[string][2]string{
		"short":    {"bad:{b:b}:e", "123"},
		"badcodec": {"bad:{b:b}:e", "00000000000000000003\x09garbage"},
	}
	for field, kv := range writes {
		if err := rdb.HSet(ctx, kv[0], field, kv[1]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.Set(ctx, "bad:{s}:s:s", "\x01\xff", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, "bad:{b:b}:b", "", 0).Err(); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		fn   func() error
	}{
		{"Get short", func() error { _, err := c.Get(ctx, "b", "short"); return err }},
		{"Get bad codec", func() error { _, err := c.Get(ctx, "b", "badcodec"); return err }},
		{"List", func() error { _, err := c.List(ctx, catalog.ListOptions{Bucket: "b"}); return err }},
		{"Put over it", func() error {
			_, err := c.Put(ctx, catalog.Entry{Bucket: "b", Key: "badcodec", Generation: 9})
			return err
		}},
		{"GetShare", func() error { _, err := c.GetShare(ctx, "s"); return err }},
		{"CountDownload", func() error { _, err := c.CountDownload(ctx, "s", when); return err }},
		{"GetBucket", func() error { _, err := c.GetBucket(ctx, "b"); return err }},
	}
	for _, ch := range checks {
		if err := ch.fn(); !errors.Is(err, catalog.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", ch.name, err)
		}
	}
	if e, err := c.Get(ctx, "b", "good"); err != nil || e.Generation != 3 {
		t.Errorf("Get of an intact key: %+v, %v", e, err)
	}
}

// TestRedisShareCountTwoInstances has two instances count one share link
// at once: it opens exactly MaxDownloads times in all.
func TestRedisShareCountTwoInstances(t *testing.T) {
	url := testenv.StartRedisCluster(t).URL()
	ctx := t.Context()
	a := openRedis(t, testenv.RedisClient(t, url), "sc:")
	b := openRedis(t, testenv.RedisClient(t, url), "sc:")
	if err := a.PutShare(ctx, catalog.Share{ID: "link", Generation: 1, Created: when, MaxDownloads: 10}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var opened, gone atomic.Int64
	errs := make(chan error, 40)
	for i := range 40 {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Go(func() {
			_, err := c.CountDownload(ctx, "link", when)
			switch {
			case err == nil:
				opened.Add(1)
			case errors.Is(err, catalog.ErrShareGone):
				gone.Add(1)
			default:
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if opened.Load() != 10 || gone.Load() != 30 {
		t.Errorf("opened %d, refused %d; want 10 and 30", opened.Load(), gone.Load())
	}
	if s, err := b.GetShare(ctx, "link"); err != nil || s.Downloads != 10 {
		t.Errorf("stored share: %+v, %v", s, err)
	}
}
