package local_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends"
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

// BenchmarkPutNewParallel stores 1,300-byte records (a 1 KiB object's
// sealed meta record) under new random names from 8 writers at once, each
// record into two backends at once on the same file system, as a gateway
// taking small PUTs on two local providers does, into directories that
// already hold 20,000 of them in their fan-out directories. Run it on a
// build before and after a change, alternating, to compare:
//
//	go test -run '^$' -bench PutNewParallel -benchtime 4000x -count 5 ./backends/local/
//
// Each run writes into a fresh temporary directory, removed at its end; a
// run that follows the removal of another's files creates its files among
// inodes freed moments ago, which costs more on some file systems (see
// docs/BENCHMARKS.md). TWINCRYPT_BENCH_DIR names a directory to write into
// instead, kept across runs (filled with the 20,000 records on the first).
func BenchmarkPutNewParallel(b *testing.B) {
	dir := os.Getenv("TWINCRYPT_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	_, statErr := os.Stat(filepath.Join(dir, "a"))
	var bes [2]*local.Backend
	for i, n := range []string{"a", "b"} {
		be, err := local.New(n, filepath.Join(dir, n))
		if err != nil {
			b.Fatal(err)
		}
		defer be.Close()
		bes[i] = be
	}
	ctx := context.Background()
	body := make([]byte, 1300)
	put := func(r *rand.Rand) error {
		name := fmt.Sprintf("m/%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64())
		var errs [2]error
		var wg sync.WaitGroup
		for i, be := range bes {
			wg.Go(func() { errs[i] = be.Put(ctx, name, bytes.NewReader(body), int64(len(body))) })
		}
		wg.Wait()
		return errors.Join(errs[:]...)
	}
	const prefill, writers = 20_000, 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		if statErr == nil {
			break // filled by an earlier run
		}
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 8))
			for range prefill / writers {
				if errs[w] = put(r); errs[w] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	var seed atomic.Uint64
	b.Run(fmt.Sprintf("n=%d/writers=%d", prefill, writers), func(b *testing.B) {
		b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			r := rand.New(rand.NewPCG(seed.Add(1), uint64(time.Now().UnixNano())))
			for pb.Next() {
				if err := put(r); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkStatGet stats and reads 1 KiB meta records (64 hex digits,
// stored in fan-out directories) of a directory of 10,000, as a GET of a
// small object does, and stats names that are not there (a HEAD of a
// missing object, which also looks at the flat place):
//
//	go test -run '^$' -bench StatGet ./backends/local/
func BenchmarkStatGet(b *testing.B) {
	be, err := local.New("disk", filepath.Join(b.TempDir(), "root"))
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 8))
	body := make([]byte, 1024)
	names := make([]string, 10_000)
	for i := range names {
		names[i] = fmt.Sprintf("m/%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64())
		if err := be.Put(ctx, names[i], bytes.NewReader(body), int64(len(body))); err != nil {
			b.Fatal(err)
		}
	}
	buf := make([]byte, 2048)
	b.Run("stat", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := be.Stat(ctx, names[i%len(names)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			rc, err := be.Get(ctx, names[i%len(names)], 0, -1)
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.ReadFull(rc, buf)
			rc.Close()
			if n != len(body) {
				b.Fatalf("read %d bytes", n)
			}
			i++
		}
	})
	b.Run("stat-missing", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			name := fmt.Sprintf("m/%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64())
			if _, err := be.Stat(ctx, name); !errors.Is(err, backends.ErrNotFound) {
				b.Fatal(err)
			}
		}
	})
}
