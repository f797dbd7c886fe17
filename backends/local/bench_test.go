package local_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends/local"
)

// BenchmarkListPage lists pages of a directory of many meta records, as
// scrub and gc do. The tree is written in the flat layout of earlier
// versions (every name a file of m/), so the same benchmark measures an
// earlier version and this one; this one first moves the files into their
// fan-out directories, and the time that takes is reported as
// migrate-s. TWINCRYPT_BENCH_N sets the number of names (default
// 100,000):
//
//	TWINCRYPT_BENCH_N=1000000 go test -run '^$' -bench ListPage -benchtime 20x ./backends/local/
func BenchmarkListPage(b *testing.B) {
	n := 100_000
	if s := os.Getenv("TWINCRYPT_BENCH_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatalf("TWINCRYPT_BENCH_N: %v", err)
		}
	}
	root := filepath.Join(b.TempDir(), "root")
	names := flatTree(b, root, n)
	start := time.Now()
	be, err := local.Open("disk", root)
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	b.Logf("%d names: opened (migrated) in %v", n, time.Since(start))
	migrate := time.Since(start).Seconds()
	for _, limit := range []int{1000, 50_000} {
		b.Run(fmt.Sprintf("n=%d/limit=%d", n, limit), func(b *testing.B) {
			ctx := context.Background()
			r := rand.New(rand.NewPCG(3, 4))
			b.ReportAllocs()
			b.ReportMetric(migrate, "migrate-s")
			for b.Loop() {
				after := "m/" + names[r.IntN(len(names))]
				page, err := be.List(ctx, "m/", after, limit)
				if err != nil {
					b.Fatal(err)
				}
				if len(page.Items) == 0 {
					b.Fatalf("empty page after %s", after)
				}
			}
		})
	}
}

// flatTree writes n empty files named by 64 hex digits into root/m, the
// flat layout, and returns their names.
func flatTree(b *testing.B, root string, n int) []string {
	b.Helper()
	if err := os.MkdirAll(filepath.Join(root, "m"), 0o700); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	names := make([]string, n)
	start := time.Now()
	for i := range names {
		names[i] = fmt.Sprintf("%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64())
		f, err := os.OpenFile(filepath.Join(root, "m", names[i]), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	b.Logf("%d names written in %v", n, time.Since(start))
	return names
}

// BenchmarkPutNew stores 1 KiB meta records under new random names into a
// fresh directory, one at a time: in a small store most of them create
// their fan-out directory (and sync its parent) as well.
//
//	go test -run '^$' -bench PutNew -benchtime 2000x ./backends/local/
func BenchmarkPutNew(b *testing.B) {
	be, err := local.New("disk", filepath.Join(b.TempDir(), "root"))
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))
	body := make([]byte, 1024)
	for b.Loop() {
		name := fmt.Sprintf("m/%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64())
		if err := be.Put(ctx, name, bytes.NewReader(body), int64(len(body))); err != nil {
			b.Fatal(err)
		}
	}
}
