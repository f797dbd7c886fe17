package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	rand2 "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// TestShareThroughput measures, in one run and alternating, how fast one
// object comes back through a plain S3 GET (aws cli), through `twincrypt get`
// of a share link, and through the share page in headless Chromium, with the
// peak memory of the downloading process. It is a benchmark, not part of
// the default suite: set TWINCRYPT_BENCH=1 (and TWINCRYPT_BENCH_MIB for a
// size other than 1024, TWINCRYPT_BENCH_ROUNDS for other than 3). The table
// goes to the test log and to share-throughput.md in the output directory
// (TWINCRYPT_TEST_OUT). docs/BENCHMARKS.md, "Share links", has the numbers.
func TestShareThroughput(t *testing.T) {
	if os.Getenv("TWINCRYPT_BENCH") != "1" {
		t.Skip("a benchmark: set TWINCRYPT_BENCH=1")
	}
	mib := envInt("TWINCRYPT_BENCH_MIB", 1024)
	rounds := envInt("TWINCRYPT_BENCH_ROUNDS", 3)
	size := int64(mib) << 20
	timeBin := testenv.Tool(t, "time", "/usr/bin/time")
	sg := startShareGateway(t)
	aws := NewAWS(t, sg.Gateway)
	h := sha256.New()
	sg.Put(t, "bench/object.bin", io.TeeReader(io.LimitReader(rand2.NewChaCha8([32]byte{9}), size), h), size)
	want := hex.EncodeToString(h.Sum(nil))
	link := sg.CreateLink(t, "bench/object.bin")
	out := t.TempDir()

	type result struct{ secs, rssMiB []float64 }
	results := map[string]*result{"S3 GET (aws cli)": {}, "twincrypt get": {}, "share page (Chromium)": {}}
	measure := map[string]func() (time.Duration, float64){
		"S3 GET (aws cli)": func() (time.Duration, float64) {
			dst := filepath.Join(out, "s3.bin")
			rss := filepath.Join(out, "rss")
			start := time.Now()
			run(t, aws.env, "", timeBin, "-q", "-f", "%M", "-o", rss, aws.bin, "--endpoint-url", sg.Endpoint(), "s3", "cp", "--only-show-errors",
				"s3://"+sg.Bucket+"/bench/object.bin", dst).must(t, "aws s3 cp")
			took := time.Since(start)
			checkBench(t, dst, want)
			return took, readRSS(t, rss)
		},
		"twincrypt get": func() (time.Duration, float64) {
			dst := filepath.Join(out, "get.bin")
			rss := filepath.Join(out, "rss")
			start := time.Now()
			run(t, cleanEnv(), out, timeBin, "-q", "-f", "%M", "-o", rss, sg.Bin, "get", "-q", "--force", "-o", dst, link).must(t, "twincrypt get")
			took := time.Since(start)
			checkBench(t, dst, want)
			return took, readRSS(t, rss)
		},
		"share page (Chromium)": func() (time.Duration, float64) {
			b := newShareBrowser(t, 30*time.Minute) // a fresh browser, download folder and renderer
			b.Navigate(pageLinkQuery(link, "fsa=0"))
			b.WaitState("files listed", 60*time.Second, func(st pageState) bool { return st.Ready })
			start := time.Now()
			path := b.Save(0, "object.bin", 30*time.Minute)
			took := time.Since(start)
			checkBench(t, path, want)
			os.Remove(path)
			peak := int64(0)
			for _, m := range rendererMemory(browserPID(b)) {
				peak = max(peak, m.HWMKiB)
			}
			return took, float64(peak) / 1024
		},
	}
	order := []string{"S3 GET (aws cli)", "twincrypt get", "share page (Chromium)"}
	for round := range rounds {
		for i := range order {
			name := order[(i+round)%len(order)]
			syncDisks()
			took, rss := measure[name]()
			r := results[name]
			r.secs = append(r.secs, took.Seconds())
			r.rssMiB = append(r.rssMiB, rss)
			t.Logf("round %d %s: %.2f s, peak RSS %.0f MiB", round+1, name, took.Seconds(), rss)
		}
	}
	base := median(results[order[0]].secs)
	var table strings.Builder
	fmt.Fprintf(&table, "| %d MiB, median of %d | time | MiB/s | ratio to S3 GET | peak RSS of the client |\n|---|---:|---:|---:|---:|\n", mib, rounds)
	for _, name := range order {
		r := results[name]
		s := median(r.secs)
		fmt.Fprintf(&table, "| %s | %.2f s | %.0f | %.2fx | %.0f MiB |\n", name, s, float64(mib)/s, s/base, median(r.rssMiB))
	}
	t.Logf("\n%s", table.String())
	if dir := os.Getenv("TWINCRYPT_TEST_OUT"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "share-throughput.md"), []byte(table.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func checkBench(t *testing.T, path, want string) {
	t.Helper()
	if got := fileSum(t, path); got != want {
		t.Fatalf("%s: SHA-256 %s, want %s", path, got, want)
	}
}

func readRSS(t *testing.T, path string) float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kib, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		t.Fatal(err)
	}
	return kib / 1024
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// syncDisks flushes dirty pages, so that one measurement's writes do not
// slow the next.
func syncDisks() { syscall.Sync() }

// browserPID returns the pid of the browser process.
func browserPID(b *shareBrowser) int { return chromedp.FromContext(b.ctx).Browser.Process().Pid }
