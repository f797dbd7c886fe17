package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// listKeys lists a bucket through S3, recursively or with the delimiter
// "/", and returns keys and common prefixes in order.
func listKeys(t testing.TB, c *minio.Client, bucket string, recursive bool) ([]string, error) {
	t.Helper()
	var out []string
	for o := range c.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: recursive}) {
		if o.Err != nil {
			return out, o.Err
		}
		out = append(out, o.Key)
	}
	slices.Sort(out) // minio-go gives objects before common prefixes
	return out, nil
}

// putTree stores top plus dir/0 .. dir/n-1 and returns what a recursive
// listing must show.
func putTree(t testing.TB, c *minio.Client, bucket string, n int) []string {
	t.Helper()
	want := []string{"top"}
	mustPut(t, c, bucket, "top", faultData(4096, 0))
	for i := range n {
		k := fmt.Sprintf("dir/%02d", i)
		mustPut(t, c, bucket, k, faultData(4096, uint64(i+1)))
		want = append(want, k)
	}
	slices.Sort(want)
	return want
}

// checkTree lists and reads what putTree stored.
func checkTree(t testing.TB, c *minio.Client, bucket string, want []string) {
	t.Helper()
	got, err := listKeys(t, c, bucket, true)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("recursive listing: %q, %v; want %q", got, err, want)
	}
	got, err = listKeys(t, c, bucket, false)
	if err != nil || !slices.Equal(got, []string{"dir/", "top"}) {
		t.Fatalf("listing with delimiter: %q, %v; want [dir/ top]", got, err)
	}
	mustGet(t, c, bucket, "dir/03", faultData(4096, 4))
	mustGet(t, c, bucket, "top", faultData(4096, 0))
}

// statusOf returns the HTTP status of a failed minio-go call, or 0.
func statusOf(err error) int {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		return er.StatusCode
	}
	return 0
}

// TestRedisCatalog serves with the catalog in Redis: objects stored
// through S3 list and read back, also after a restart of the gateway;
// with redis-server stopped every request answers 503, never "not found";
// once a fresh (empty) Redis answers, rebuild-catalog restores the
// listing from the providers.
func TestRedisCatalog(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	g := StartGateway(t, Setup{Local: 2, Share: true, CatalogURL: srv.URL() + "?dial_timeout=300ms&read_timeout=1s&max_retries=1"})
	c := faultClient(t, g)
	ctx := context.Background()
	if err := c.MakeBucket(ctx, "photos", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	want := putTree(t, c, "photos", 12)
	checkTree(t, c, "photos", want)

	g.Stop()
	g.Start()
	checkTree(t, c, "photos", want)

	srv.Stop()
	checks := []struct {
		name string
		fn   func() error
	}{
		{"GET", func() error { _, err := getObject(ctx, c, "photos", "top"); return err }},
		{"HEAD", func() error { _, err := c.StatObject(ctx, "photos", "top", minio.StatObjectOptions{}); return err }},
		{"HEAD of a missing key", func() error { _, err := c.StatObject(ctx, "photos", "nope", minio.StatObjectOptions{}); return err }},
		{"LIST", func() error { _, err := listKeys(t, c, "photos", true); return err }},
		{"PUT", func() error {
			_, err := c.PutObject(ctx, "photos", "during", strings.NewReader("x"), 1, minio.PutObjectOptions{})
			return err
		}},
		{"DELETE", func() error { return c.RemoveObject(ctx, "photos", "top", minio.RemoveObjectOptions{}) }},
	}
	for _, ch := range checks {
		err := ch.fn()
		if got := statusOf(err); got != http.StatusServiceUnavailable {
			t.Errorf("%s with Redis down: status %d (%v), want 503", ch.name, got, err)
		}
	}
	// The raw answers say when to try again, on S3 and WebDAV.
	s3req, _ := http.NewRequest(http.MethodGet, g.Endpoint()+"/photos/dir/", nil)
	s3req.Header.Set("X-Amz-Content-Sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	s3req = signer.SignV4(*s3req, g.AccessKey, g.SecretKey, "", "us-east-1")
	davreq, _ := http.NewRequest("PROPFIND", "http://"+g.DAVAddr+"/photos/dir/", nil)
	davreq.Header.Set("Depth", "1")
	davreq.SetBasicAuth(g.AccessKey, g.SecretKey)
	for _, req := range []*http.Request{s3req, davreq} {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s with Redis down: %s, Retry-After %q; want 503 with Retry-After", req.Method, req.URL, resp.Status, resp.Header.Get("Retry-After"))
		}
	}
	resp, err := http.Get("http://" + g.AdminAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "catalog") {
		t.Errorf("/readyz with Redis down: %s %q, want 503 naming the catalog", resp.Status, body)
	}
	out := g.WaitOutput(func(out string) bool { return strings.Contains(out, "catalog unavailable") })
	if !strings.Contains(out, "catalog unavailable") {
		t.Errorf("no log line says the catalog is unavailable:\n%s", out)
	}

	// Redis comes back empty (it keeps nothing on disk): the gateway
	// serves again without a restart, and rebuild-catalog (run inside the
	// gateway through its admin API) restores the namespace.
	srv.Start()
	for range 100 {
		if _, err = c.ListBuckets(ctx); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the gateway does not answer after Redis came back: %v", err)
	}
	if out := g.mustRun(t, 0, "rebuild-catalog", "-c", g.Config); !strings.Contains(out, "13 objects") {
		t.Errorf("rebuild-catalog:\n%s", out)
	}
	checkTree(t, c, "photos", want)
	mustPut(t, c, "photos", "after", []byte("after the outage"))
	mustGet(t, c, "photos", "after", []byte("after the outage"))
	if _, err := getObject(ctx, c, "photos", "during"); statusOf(err) != http.StatusNotFound {
		t.Errorf("the PUT refused during the outage: %v, want 404", err)
	}
}

// TestRedisMigrateCatalog moves an embedded catalog into Redis (a
// cluster) with migrate-catalog, serves from Redis, and moves it back.
func TestRedisMigrateCatalog(t *testing.T) {
	cluster := testenv.StartRedisCluster(t)
	g := StartGateway(t, Setup{Local: 2})
	c := faultClient(t, g)
	ctx := context.Background()
	if err := c.MakeBucket(ctx, "docs", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	want := putTree(t, c, "docs", 8)
	if err := c.RemoveObject(ctx, "docs", "dir/07", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	want = slices.DeleteFunc(want, func(k string) bool { return k == "dir/07" })

	// Refused while the gateway holds the file.
	if out := g.mustRun(t, 1, "migrate-catalog", "-c", g.Config, "--to", cluster.URL()); !strings.Contains(out, "stop it") {
		t.Errorf("migrate-catalog while serving:\n%s", out)
	}
	g.Stop()
	out := g.mustRun(t, 0, "migrate-catalog", "-c", g.Config, "--to", cluster.URL())
	for _, s := range []string{"1 buckets", "8 objects", "1 deletions", "problems: 0"} {
		if !strings.Contains(out, s) {
			t.Errorf("migrate-catalog output lacks %q:\n%s", s, out)
		}
	}
	// A second run finds the destination full.
	if out := g.mustRun(t, 1, "migrate-catalog", "-c", g.Config, "--to", cluster.URL()); !strings.Contains(out, "not empty") {
		t.Errorf("second migrate-catalog:\n%s", out)
	}
	cfg, err := os.ReadFile(g.Config)
	if err != nil {
		t.Fatal(err)
	}
	bolt := "catalog:\n  type: bolt\n  path: twincrypt.db\n"
	redisCfg := strings.Replace(string(cfg), bolt, "catalog:\n  type: redis\n  url: "+cluster.URL()+"\n", 1)
	if redisCfg == string(cfg) {
		t.Fatal("config has no bolt catalog section")
	}
	if err := os.WriteFile(g.Config, []byte(redisCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	g.Start()
	checkTree(t, c, "docs", want)
	if _, err := getObject(ctx, c, "docs", "dir/07"); statusOf(err) != http.StatusNotFound {
		t.Errorf("deleted object after migration: %v", err)
	}
	mustPut(t, c, "docs", "new", []byte("written to redis"))
	want = append(want, "new")
	slices.Sort(want)
	g.Stop()

	// And back into a new embedded file.
	out = g.mustRun(t, 0, "migrate-catalog", "-c", g.Config, "--to", "bolt:"+g.Dir+"/back.db")
	if !strings.Contains(out, "9 objects") || !strings.Contains(out, "problems: 0") {
		t.Errorf("migrate-catalog back:\n%s", out)
	}
	back := strings.Replace(string(cfg), bolt, "catalog:\n  type: bolt\n  path: back.db\n", 1)
	if err := os.WriteFile(g.Config, []byte(back), 0o600); err != nil {
		t.Fatal(err)
	}
	g.Start()
	got, err := listKeys(t, c, "docs", true)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("after migrating back: %q, %v; want %q", got, err, want)
	}
	mustGet(t, c, "docs", "new", []byte("written to redis"))
}

// secondInstance starts another `twincrypt serve` on g's config with its
// own listeners: the same keyring, providers and (Redis) catalog.
func secondInstance(t *testing.T, g *Gateway) *Gateway {
	t.Helper()
	cfg, err := os.ReadFile(g.Config)
	if err != nil {
		t.Fatal(err)
	}
	g2 := &Gateway{t: t, Bin: g.Bin, Dir: g.Dir, Config: g.Dir + "/second.yaml", Addr: testenv.FreeAddr(t), DAVAddr: testenv.FreeAddr(t),
		AccessKey: g.AccessKey, SecretKey: g.SecretKey, LocalDirs: g.LocalDirs, logFormat: "text"}
	s := strings.Replace(string(cfg), "s3: "+g.Addr, "s3: "+g2.Addr, 1)
	s = strings.Replace(s, "webdav: "+g.DAVAddr, "webdav: "+g2.DAVAddr, 1)
	if g.AdminAddr != "" {
		g2.ShareAddr, g2.AdminAddr = testenv.FreeAddr(t), testenv.FreeAddr(t)
		s = strings.Replace(s, "share: "+g.ShareAddr, "share: "+g2.ShareAddr, 1)
		s = strings.Replace(s, "admin: "+g.AdminAddr, "admin: "+g2.AdminAddr, 1)
	}
	if err := os.WriteFile(g2.Config, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	g2.Start()
	t.Cleanup(g2.Stop)
	return g2
}

// TestRedisTwoInstances runs two gateways on one Redis catalog (a
// cluster) and the same providers: what one writes the other lists and
// reads, a multipart upload begun on one takes parts on both and completes
// on the other, and a deletion on one is seen by the other.
func TestRedisTwoInstances(t *testing.T) {
	cluster := testenv.StartRedisCluster(t)
	a := StartGateway(t, Setup{Local: 2, CatalogURL: cluster.URL()})
	b := secondInstance(t, a)
	ca, cb := faultClient(t, a), faultClient(t, b)
	ctx := context.Background()
	if err := ca.MakeBucket(ctx, "shared", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cb.MakeBucket(ctx, "shared", minio.MakeBucketOptions{}); statusOf(err) != http.StatusConflict {
		t.Errorf("second CreateBucket through the other instance: %v, want 409", err)
	}
	want := putTree(t, ca, "shared", 6)
	checkTree(t, cb, "shared", want)

	// Multipart: begun on a, part 1 on a, part 2 on b, completed on b.
	core := minio.Core{Client: ca}
	coreB := minio.Core{Client: cb}
	id, err := core.NewMultipartUpload(ctx, "shared", "big", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := faultData(5<<20, 11), faultData(1000, 12)
	part1, err := core.PutObjectPart(ctx, "shared", "big", id, 1, strings.NewReader(string(p1)), int64(len(p1)), minio.PutObjectPartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	part2, err := coreB.PutObjectPart(ctx, "shared", "big", id, 2, strings.NewReader(string(p2)), int64(len(p2)), minio.PutObjectPartOptions{})
	if err != nil {
		t.Fatalf("part 2 through the other instance: %v", err)
	}
	res, err := coreB.ListObjectParts(ctx, "shared", "big", id, 0, 0)
	if err != nil || len(res.ObjectParts) != 2 {
		t.Fatalf("ListParts through b: %+v, %v", res.ObjectParts, err)
	}
	_, err = coreB.CompleteMultipartUpload(ctx, "shared", "big", id, []minio.CompletePart{
		{PartNumber: 1, ETag: part1.ETag}, {PartNumber: 2, ETag: part2.ETag}}, minio.PutObjectOptions{})
	if err != nil {
		t.Fatalf("complete through b: %v", err)
	}
	mustGet(t, ca, "shared", "big", append(p1, p2...))

	if err := cb.RemoveObject(ctx, "shared", "top", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := getObject(ctx, ca, "shared", "top"); statusOf(err) != http.StatusNotFound {
		t.Errorf("GET through a of what b deleted: %v, want 404", err)
	}
	// Maintenance commands run beside the serving instances (no admin
	// listener here: they open Redis themselves).
	if out := a.mustRun(t, 0, "scrub", "-c", a.Config); !strings.Contains(out, "problems: 0") {
		t.Errorf("scrub while two instances serve:\n%s", out)
	}
	if out := a.mustRun(t, 0, "repair", "-c", a.Config); !strings.Contains(out, "found: 0 problem(s) in 7 objects") {
		t.Errorf("repair while two instances serve:\n%s", out)
	}
	// Both instances restart on the shared catalog.
	a.Stop()
	b.Stop()
	a.Start()
	b.Start()
	got, err := listKeys(t, cb, "shared", true)
	want = append(slices.DeleteFunc(want, func(k string) bool { return k == "top" }), "big")
	slices.Sort(want)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("after restarting both: %q, %v; want %q", got, err, want)
	}
}
