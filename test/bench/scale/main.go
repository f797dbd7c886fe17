// Command scale is the object-count harness of test/bench/scale.sh.
//
//	scale populate -c FILE -n N -p P [-bucket B] [-size S] [-parallel K]
//
// creates N objects of S bytes spread over P prefixes ("pNNNNN/oNNNNNNNN")
// in bucket B, directly through a gateway.Namespace wired as `twincrypt
// serve` wires it from the config FILE (keyring unlocked with
// $TWINCRYPT_PASSPHRASE, every configured local backend, the replicated
// set, the embedded catalog), K at a time. It is resumable: objects already
// in the catalog are skipped, so a run that was stopped continues. At the
// end it writes every backend's provider marker, as serve does once a
// provider is filled.
//
//	scale catstat -db FILE -n N
//
// prints, for an embedded catalog file, its size and the bytes its pages
// take (allocated, and in use by keys and values) per object, by top-level
// bucket.
//
//	scale probe -s3 HOST:PORT -dav URL -access A -secret S [-bucket B] [-p P] [-count K]
//
// measures, against a running `twincrypt serve`, the latency of a
// 1,000-key S3 listing page (through minio-go, and as one signed request
// read to its last byte without parsing), a HEAD of one object and a
// PROPFIND Depth 1 of one folder, each K times at random prefixes, one at
// a time, and prints
// one JSON line with the median, p90 and p99 of each in milliseconds.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"
	"go.etcd.io/bbolt"

	"github.com/twincrypt/twincrypt/backends/local"
	"github.com/twincrypt/twincrypt/backends/replica"
	"github.com/twincrypt/twincrypt/config"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/keyring"
)

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: scale populate|probe [flags]"))
	}
	ctx := context.Background()
	var err error
	switch os.Args[1] {
	case "populate":
		err = populate(ctx, os.Args[2:])
	case "probe":
		err = probe(ctx, os.Args[2:])
	case "catstat":
		err = catstat(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "scale:", err)
	os.Exit(1)
}

// objectName is the key of object i of n spread over p prefixes: object i
// lives in prefix i mod p, so every prefix holds n/p objects.
func objectName(i, p int) string {
	return fmt.Sprintf("p%05d/o%08d", i%p, i)
}

func populate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("populate", flag.ExitOnError)
	cfgPath := fs.String("c", "", "config file")
	n := fs.Int("n", 100000, "objects")
	p := fs.Int("p", 1000, "prefixes")
	bucket := fs.String("bucket", "bench", "bucket")
	size := fs.Int("size", 1024, "object size in bytes")
	par := fs.Int("parallel", 16, "objects in flight")
	fs.Parse(args)
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	keys, err := keyring.Open(cfg.Keyring, []byte(os.Getenv("TWINCRYPT_PASSPHRASE")))
	if err != nil {
		return err
	}
	if cfg.Catalog.Type != config.CatalogBolt {
		return fmt.Errorf("populate needs the embedded catalog, not %q", cfg.Catalog.Type)
	}
	cat, err := catalog.OpenBolt(cfg.Catalog.Path)
	if err != nil {
		return err
	}
	defer cat.Close()
	var members []replica.Member
	for _, b := range cfg.Backends {
		if b.Type != "local" {
			return fmt.Errorf("backend %s: populate needs local backends", b.Name)
		}
		lb, err := local.New(b.Name, b.Path)
		if err != nil {
			return err
		}
		defer lb.Close()
		members = append(members, replica.Member{Backend: lb, Jurisdiction: b.Jurisdiction, Priority: b.Priority})
	}
	set, err := replica.New(members, replica.Options{Name: "replicas", MinWrites: cfg.Replication.MinWrites, Queue: cat})
	if err != nil {
		return err
	}
	ns, err := gateway.New(gateway.Options{Keys: keys, Store: set, Catalog: cat})
	if err != nil {
		return err
	}
	if err := ns.CreateBucket(ctx, *bucket); err != nil && !errors.Is(err, gateway.ErrBucketExists) {
		return err
	}
	body := make([]byte, *size)
	var next, done, skipped atomic.Int64
	start := time.Now()
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				d := done.Load()
				el := time.Since(start).Seconds()
				fmt.Fprintf(os.Stderr, "populate: %d/%d (%d skipped), %.0f/s\n", d+skipped.Load(), *n, skipped.Load(), float64(d)/el)
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, *par)
	for range *par {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= *n {
					return
				}
				key := objectName(i, *p)
				if _, err := ns.Object(ctx, *bucket, key); err == nil {
					skipped.Add(1)
					continue
				}
				b := slices.Clone(body)
				copy(b, key)
				if _, err := ns.PutObject(ctx, *bucket, key, bytes.NewReader(b), int64(len(b)), gateway.PutOptions{}); err != nil {
					errs <- fmt.Errorf("%s: %w", key, err)
					next.Store(int64(*n))
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	close(stop)
	select {
	case err := <-errs:
		return err
	default:
	}
	// Every object is on every backend now: mark them filled, as serve
	// does after filling a provider, so that the serve measured next
	// does not start by refilling both.
	for _, m := range members {
		if err := ns.MarkProvider(ctx, m.Backend); err != nil {
			return err
		}
	}
	el := time.Since(start).Seconds()
	json.NewEncoder(os.Stdout).Encode(map[string]any{"created": done.Load(), "skipped": skipped.Load(), "secs": el, "per_s": float64(done.Load()) / el})
	return nil
}

// stats are latency figures in milliseconds.
type stats struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
}

func summarize(d []time.Duration) stats {
	slices.Sort(d)
	q := func(f float64) float64 {
		return float64(d[min(len(d)-1, int(f*float64(len(d))))].Microseconds()) / 1000
	}
	return stats{N: len(d), P50: q(0.5), P90: q(0.9), P99: q(0.99)}
}

func probe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("probe", flag.ExitOnError)
	ep := fs.String("s3", "", "S3 endpoint host:port")
	dav := fs.String("dav", "", "WebDAV base URL, ending in /")
	ak := fs.String("access", "", "access key")
	sk := fs.String("secret", "", "secret key")
	bucket := fs.String("bucket", "bench", "bucket")
	n := fs.Int("n", 100000, "objects populated")
	p := fs.Int("p", 1000, "prefixes populated")
	count := fs.Int("count", 50, "operations of each kind")
	fs.Parse(args)
	cl, err := minio.New(*ep, &minio.Options{Creds: credentials.NewStaticV4(*ak, *sk, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		return err
	}
	hc := &http.Client{}
	rng := rand.New(rand.NewPCG(1, 2))
	out := map[string]stats{}

	// One page of 1,000 keys of a recursive listing, starting at a
	// random prefix with at least 1,000 keys after it: the cost of
	// paging through the whole bucket.
	var d []time.Duration
	need := 1000/max(1, *n / *p) + 1
	for range *count {
		after := fmt.Sprintf("p%05d/", rng.IntN(max(1, *p-need)))
		t := time.Now()
		k := 0
		for o := range cl.ListObjects(ctx, *bucket, minio.ListObjectsOptions{Recursive: true, StartAfter: after, MaxKeys: 1000}) {
			if o.Err != nil {
				return o.Err
			}
			k++
			if k == 1000 {
				break
			}
		}
		d = append(d, time.Since(t))
		if k != 1000 && *n > 2000 {
			return fmt.Errorf("listing after %s: %d keys, want 1000", after, k)
		}
	}
	out["list_page_1000"] = summarize(d)

	// The same page as the wire delivers it: one signed ListObjectsV2
	// request, timed to the last byte of the answer, without parsing
	// its XML (which, for 1,000 keys, takes minio-go longer than the
	// gateway takes to answer).
	d = nil
	emptySum := fmt.Sprintf("%x", sha256.Sum256(nil))
	for range *count {
		after := fmt.Sprintf("p%05d/", rng.IntN(max(1, *p-need)))
		q := url.Values{"list-type": {"2"}, "max-keys": {"1000"}, "start-after": {after}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+*ep+"/"+*bucket+"?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		req.Header.Set("X-Amz-Content-Sha256", emptySum)
		req = signer.SignV4(*req, *ak, *sk, "", "us-east-1")
		t := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		d = append(d, time.Since(t))
		if resp.StatusCode != http.StatusOK || (*n > 2000 && bytes.Count(body, []byte("<Key>")) != 1000) {
			return fmt.Errorf("raw listing after %s: HTTP %d, %d keys", after, resp.StatusCode, bytes.Count(body, []byte("<Key>")))
		}
	}
	out["list_page_1000_wire"] = summarize(d)

	// A delimited listing of one prefix (n/p objects).
	d = nil
	for range *count {
		pre := fmt.Sprintf("p%05d/", rng.IntN(*p))
		t := time.Now()
		k := 0
		for o := range cl.ListObjects(ctx, *bucket, minio.ListObjectsOptions{Prefix: pre, MaxKeys: 1000}) {
			if o.Err != nil {
				return o.Err
			}
			k++
		}
		d = append(d, time.Since(t))
		if k == 0 {
			return fmt.Errorf("listing of %s: empty", pre)
		}
	}
	out["list_prefix"] = summarize(d)

	d = nil
	for range *count {
		key := objectName(rng.IntN(*n), *p)
		t := time.Now()
		if _, err := cl.StatObject(ctx, *bucket, key, minio.StatObjectOptions{}); err != nil {
			return fmt.Errorf("HEAD %s: %w", key, err)
		}
		d = append(d, time.Since(t))
	}
	out["head"] = summarize(d)

	if *dav != "" {
		d = nil
		for range *count {
			pre := fmt.Sprintf("p%05d/", rng.IntN(*p))
			req, err := http.NewRequestWithContext(ctx, "PROPFIND", *dav+*bucket+"/"+pre, strings.NewReader(""))
			if err != nil {
				return err
			}
			req.SetBasicAuth(*ak, *sk)
			req.Header.Set("Depth", "1")
			t := time.Now()
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			d = append(d, time.Since(t))
			if resp.StatusCode != 207 {
				return fmt.Errorf("PROPFIND %s: %s", pre, resp.Status)
			}
			if c := bytes.Count(b, []byte("<D:response>")); c < 2 {
				return fmt.Errorf("PROPFIND %s: %d entries", pre, c)
			}
		}
		out["propfind_depth1"] = summarize(d)
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func catstat(args []string) error {
	fs := flag.NewFlagSet("catstat", flag.ExitOnError)
	path := fs.String("db", "", "catalog file")
	n := fs.Int("n", 1, "objects")
	fs.Parse(args)
	fi, err := os.Stat(*path)
	if err != nil {
		return err
	}
	db, err := bbolt.Open(*path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	out := map[string]any{"file_bytes": fi.Size(), "file_bytes_per_object": fi.Size() / int64(*n)}
	err = db.View(func(tx *bbolt.Tx) error {
		var alloc, inuse int
		per := map[string]map[string]int{}
		err := tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			st := b.Stats()
			a := st.BranchAlloc + st.LeafAlloc
			u := st.BranchInuse + st.LeafInuse
			alloc += a
			inuse += u
			if a > 0 {
				per[string(name)] = map[string]int{"alloc": a, "inuse": u, "keys": st.KeyN}
			}
			return nil
		})
		out["pages_alloc_per_object"] = alloc / *n
		out["pages_inuse_per_object"] = inuse / *n
		out["fill"] = float64(inuse) / float64(max(alloc, 1))
		out["buckets"] = per
		out["free_pages"] = db.Stats().FreePageN
		return err
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}
