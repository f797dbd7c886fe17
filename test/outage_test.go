package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// Polling bounds of the outage tests. The conditions they wait for take a
// few check intervals (1 s here); the bound is a safety net for a slow
// machine, never a measure of speed.
const (
	outagePolls = 3000
	outagePause = 100 * time.Millisecond
)

// waitCond polls cond until it holds, at most outagePolls times, and
// returns how many polls it took; it fails the test if cond never holds.
func waitCond(t testing.TB, g *Gateway, what string, cond func() bool) int {
	t.Helper()
	for i := range outagePolls {
		if cond() {
			return i
		}
		time.Sleep(outagePause)
	}
	t.Fatalf("%s: still not the case after %d polls\nserve's log:\n%s", what, outagePolls, g.Output())
	return 0
}

// storedNames lists the blobs and meta records in a backend's directory
// (a local backend's, or the directory of a versitygw bucket) as
// slash-separated names, sorted.
func storedNames(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"b", "m"} {
		// A local backend keeps these names in fan-out directories
		// (b/3f2+/3f2a...), a versitygw bucket directly.
		err := filepath.WalkDir(filepath.Join(dir, sub), func(p string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				out = append(out, sub+"/"+d.Name())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(out)
	return out
}

// holdsAll reports whether have contains every name of want.
func holdsAll(have, want []string) bool {
	for _, n := range want {
		if _, ok := slices.BinarySearch(have, n); !ok {
			return false
		}
	}
	return true
}

// sameRecords reports whether every meta record of dir b holds the same bytes
// in dir a: a returned provider has caught up with the records (the
// namespace epoch's among them) rewritten while it was away, not only with
// their names.
func sameRecords(t testing.TB, a, b string) bool {
	t.Helper()
	for _, n := range storedNames(t, b) {
		if !strings.HasPrefix(n, "m/") {
			continue
		}
		want, err := os.ReadFile(filepath.Join(b, n))
		if err != nil {
			continue // replaced meanwhile
		}
		got, err := os.ReadFile(filepath.Join(a, n))
		if err != nil || !bytes.Equal(got, want) {
			return false
		}
	}
	return true
}

// mustPut stores data under bucket/key through the S3 API.
func mustPut(t testing.TB, c *minio.Client, bucket, key string, data []byte) {
	t.Helper()
	if _, err := c.PutObject(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("PUT %s: %v", key, err)
	}
}

// mustGet reads bucket/key and fails the test unless it holds want.
func mustGet(t testing.TB, c *minio.Client, bucket, key string, want []byte) {
	t.Helper()
	got, err := getObject(context.Background(), c, bucket, key)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("GET %s: %d bytes, %v; want the %d stored", key, len(got), err, len(want))
	}
}

// logValue returns the value of key=value in the last line of the log that
// contains msg, or "".
func logValue(log, msg, key string) string {
	var line string
	for l := range strings.SplitSeq(log, "\n") {
		if strings.Contains(l, msg) {
			line = l
		}
	}
	m := regexp.MustCompile(`\b` + regexp.QuoteMeta(key) + `=("[^"]*"|\S+)`).FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	return strings.Trim(m[1], `"`)
}

// TestOutageServeStartsAndHeals restarts the gateway while one of its two
// providers (versitygw) is down, with min_writes 1: serve must start, PUTs
// and GETs must succeed, and once the provider is back everything written
// meanwhile must reach it without a restart or an operator; scrub then
// finds nothing.
func TestOutageServeStartsAndHeals(t *testing.T) {
	vgw := testenv.StartVersityGW(t)
	g := StartGateway(t, Setup{Local: 1, S3: []*testenv.S3Server{vgw}, MinWrites: 1, CheckInterval: time.Second})
	c := faultClient(t, g)
	const bucket = "outage-start"
	if err := c.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	data := map[string][]byte{}
	for i := range 3 {
		key := fmt.Sprintf("before/%d", i)
		data[key] = faultData(1000+i*70<<10, uint64(i))
		mustPut(t, c, bucket, key, data[key])
	}

	// A reboot during the provider's outage.
	g.Stop()
	vgw.Stop()
	g.Start() // fails the test if serve exits
	waitCond(t, g, "serve says that a backend is unreachable", func() bool {
		return strings.Contains(g.Output(), "backend unreachable at start")
	})
	for i := range 10 {
		key := fmt.Sprintf("during/%d", i)
		data[key] = faultData(1+i*40<<10, uint64(100+i))
		mustPut(t, c, bucket, key, data[key])
	}
	aws := NewAWS(t, g)
	body := filepath.Join(t.TempDir(), "body")
	data["during/aws"] = faultData(5000, 200)
	if err := os.WriteFile(body, data["during/aws"], 0o600); err != nil {
		t.Fatal(err)
	}
	aws.Must("s3api", "put-object", "--bucket", bucket, "--key", "during/aws", "--body", body)
	for key, want := range data {
		mustGet(t, c, bucket, key, want)
	}
	local, remote := g.LocalDirs[0], filepath.Join(vgw.Dir, g.Buckets[0].Bucket)
	if holdsAll(storedNames(t, remote), storedNames(t, local)) {
		t.Fatal("the provider that is down already holds everything; the test proves nothing")
	}

	// The provider comes back: what was written meanwhile reaches it.
	vgw.Start()
	want := storedNames(t, local)
	polls := waitCond(t, g, "the returned provider holds every blob and the newest meta records", func() bool {
		return holdsAll(storedNames(t, remote), want) && sameRecords(t, remote, local)
	})
	t.Logf("provider back: it held all %d blobs and the newest meta records after %d polls of %v", len(want), polls, outagePause)
	for key, want := range data {
		mustGet(t, c, bucket, key, want)
	}
	g.Stop()
	out := g.mustRun(t, 0, "scrub", "-c", g.Config)
	if faultNumber(t, out, "problems:") != 0 {
		t.Fatalf("scrub after the provider returned:\n%s", out)
	}
	t.Logf("scrub: %s", firstLine(out))
}

// TestOutageWipedProviderRefilled has one of two local providers lose all
// its data while the gateway serves: emptied in place, or its directory
// removed and, later, created again empty. The gateway must notice and copy
// every object back from the other provider without an operator; while
// the directory is missing, writes (which need both providers) answer 503,
// never 500, and the directory is not recreated by the gateway.
func TestOutageWipedProviderRefilled(t *testing.T) {
	tests := []struct {
		name      string
		removeDir bool
	}{
		{"emptied", false},
		{"directory removed and created again", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := StartGateway(t, Setup{Local: 2, CheckInterval: time.Second})
			c := faultClient(t, g)
			const bucket = "wiped"
			if err := c.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
				t.Fatal(err)
			}
			data := map[string][]byte{}
			for i := range 30 {
				key := fmt.Sprintf("docs/file-%02d", i)
				data[key] = faultData(1+i*9<<10, uint64(i))
				mustPut(t, c, bucket, key, data[key])
			}
			keep, wiped := g.LocalDirs[0], g.LocalDirs[1]
			want := storedNames(t, keep)
			if got := storedNames(t, wiped); !slices.Equal(got, want) {
				t.Fatalf("before the wipe the providers differ: %d and %d names", len(want), len(got))
			}

			if tc.removeDir {
				if err := os.RemoveAll(wiped); err != nil {
					t.Fatal(err)
				}
				// Writes need both providers (min_writes: all).
				aws := NewAWS(t, g)
				aws.env = append(aws.env, "AWS_MAX_ATTEMPTS=1")
				body := filepath.Join(t.TempDir(), "body")
				if err := os.WriteFile(body, []byte("while the directory is missing"), 0o600); err != nil {
					t.Fatal(err)
				}
				r := aws.Run("s3api", "put-object", "--bucket", bucket, "--key", "missing/aws", "--body", body)
				if r.Err == nil || !strings.Contains(r.Stderr, "(ServiceUnavailable)") || !strings.Contains(r.Stderr, "Too few storage providers are reachable") {
					t.Errorf("aws cli PUT while a provider's directory is missing: %v\n%s", r.Err, r.Stderr)
				}
				t.Logf("aws cli: %s", strings.TrimSpace(r.Stderr))
				for i := range 3 {
					_, err := c.PutObject(context.Background(), bucket, fmt.Sprintf("missing/%d", i), strings.NewReader("x"), 1, minio.PutObjectOptions{})
					if er := minio.ToErrorResponse(err); er.StatusCode != http.StatusServiceUnavailable || er.Code != "ServiceUnavailable" {
						t.Errorf("S3 PUT %d while a provider's directory is missing: %d %s (%v), want 503 ServiceUnavailable", i, er.StatusCode, er.Code, err)
					}
				}
				resp, _ := NewDAV(t, g).Do("PUT", "/"+bucket+"/docs/dav-while-missing", strings.NewReader("dav"))
				if resp.StatusCode != http.StatusServiceUnavailable {
					t.Errorf("WebDAV PUT while a provider's directory is missing: %s, want 503", resp.Status)
				}
				// Reads are served by the other provider.
				for key, want := range data {
					mustGet(t, c, bucket, key, want)
				}
				if _, err := os.Stat(wiped); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("the gateway recreated the missing directory: %v", err)
				}
				if err := os.Mkdir(wiped, 0o700); err != nil {
					t.Fatal(err)
				}
			} else {
				ents, err := os.ReadDir(wiped)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range ents {
					if err := os.RemoveAll(filepath.Join(wiped, e.Name())); err != nil {
						t.Fatal(err)
					}
				}
				// The emptied directory takes writes at once.
				data["after-wipe"] = faultData(3000, 300)
				mustPut(t, c, bucket, "after-wipe", data["after-wipe"])
				want = storedNames(t, keep)
			}

			polls := waitCond(t, g, "the wiped provider holds every blob and meta record again", func() bool {
				return holdsAll(storedNames(t, wiped), want)
			})
			const refilled = `msg="providers refilled" providers=local1 `
			waitCond(t, g, "serve logs the end of the refill", func() bool { return strings.Contains(g.Output(), refilled) })
			t.Logf("wiped provider refilled after %d polls of %v: %d names; serve logged blobs_copied=%s meta_rewritten=%s",
				polls, outagePause, len(want), logValue(g.Output(), refilled, "blobs_copied"), logValue(g.Output(), refilled, "meta_rewritten"))
			if n := logValue(g.Output(), refilled, "blobs_copied"); n == "0" || n == "" {
				t.Errorf("the refill copied %q blobs:\n%s", n, g.Output())
			}
			if m := regexp.MustCompile(`msg="refilling providers" providers=local1 phase=copy progress=(\d+)/(\d+)`).FindAllStringSubmatch(g.Output(), -1); len(m) == 0 || m[len(m)-1][1] != m[len(m)-1][2] {
				t.Errorf("no refill progress up to done/total in serve's log:\n%s", g.Output())
			} else {
				t.Logf("last progress line: phase=copy progress=%s/%s", m[len(m)-1][1], m[len(m)-1][2])
			}
			// Writes work again, on both providers.
			data["after-refill"] = faultData(7000, 400)
			mustPut(t, c, bucket, "after-refill", data["after-refill"])
			NewDAV(t, g).Must(http.StatusCreated, "PUT", "/"+bucket+"/after-refill-dav", strings.NewReader("dav"))
			for key, want := range data {
				mustGet(t, c, bucket, key, want)
			}
			g.Stop()
			if got, want := storedNames(t, wiped), storedNames(t, keep); !slices.Equal(got, want) {
				t.Errorf("after the refill the providers differ: %d and %d names", len(got), len(want))
			}
			out := g.mustRun(t, 0, "scrub", "-c", g.Config)
			if faultNumber(t, out, "problems:") != 0 {
				t.Fatalf("scrub after the refill:\n%s", out)
			}
			t.Logf("scrub: %s", firstLine(out))
		})
	}
}
