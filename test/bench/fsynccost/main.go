// Command fsynccost measures what one durable new file costs on the file
// system of a directory: create a temporary file, write a small body, fsync
// it, rename it into place and fsync the directory, which is what
// backends/local does for every blob and meta record. It prints the CPU time
// (user + system of this process) and the wall time per file, one writer at
// a time and with several at once:
//
//	go run ./test/bench/fsynccost [-dir DIR] [-n 2000] [-size 4096]
//
// A 4 KiB PUT through twincrypt with two local backends makes four such
// files (a blob and a meta record on each backend), so four times the CPU
// per file is a floor under the CPU time of a durable small PUT.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

func main() {
	dir := flag.String("dir", "", "directory on the file system to measure (default: a new one under the temporary directory)")
	n := flag.Int("n", 2000, "files per measurement")
	size := flag.Int("size", 4096, "bytes per file")
	flag.Parse()
	root, err := os.MkdirTemp(*dir, "fsynccost-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(root)
	body := make([]byte, *size)
	for _, writers := range []int{1, 8} {
		tmp, dst := filepath.Join(root, fmt.Sprint("tmp", writers)), filepath.Join(root, fmt.Sprint("b", writers))
		for _, d := range []string{tmp, dst} {
			if err := os.Mkdir(d, 0o700); err != nil {
				fail(err)
			}
		}
		c0, t0 := cpu(), time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Go(func() {
				for i := range *n / writers {
					name := fmt.Sprintf("%d-%d", w, i)
					if err := durable(filepath.Join(tmp, name), filepath.Join(dst, name), dst, body); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			fail(err)
		}
		per := time.Duration(*n)
		fmt.Printf("%d writer(s): %v CPU and %v wall per durable %d-byte file\n",
			writers, ((cpu() - c0) / per).Round(time.Microsecond), (time.Since(t0) / per).Round(time.Microsecond), *size)
	}
}

// durable writes body to tmp, fsyncs it, renames it to dst and fsyncs dir.
func durable(tmp, dst, dir string, body []byte) error {
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(body); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// cpu returns the CPU time the process has used.
func cpu() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "fsynccost:", err)
	os.Exit(1)
}
