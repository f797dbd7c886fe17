package catalog_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// dumpBolt returns every bucket path, key, value and bucket sequence of
// the bbolt file at path, one line each, in order.
func dumpBolt(t *testing.T, path string) []string {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []string
	var walk func(prefix string, b *bbolt.Bucket) error
	walk = func(prefix string, b *bbolt.Bucket) error {
		out = append(out, fmt.Sprintf("%s seq=%d", prefix, b.Sequence()))
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				return walk(fmt.Sprintf("%s/%x", prefix, k), b.Bucket(k))
			}
			out = append(out, fmt.Sprintf("%s %x=%x", prefix, k, v))
			return nil
		})
	}
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error { return walk(fmt.Sprintf("%x", name), b) })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCompactBolt(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "catalog.db")
	c := openBolt(t, src)
	now := time.Unix(1700000000, 0).UTC()
	for _, b := range []string{"photos", "backups", "empty"} {
		if err := c.CreateBucket(ctx, catalog.Bucket{Name: b, Created: now}); err != nil {
			t.Fatal(err)
		}
	}
	// Keys in random order, as PUTs write them: pages end up part full.
	r := rand.New(rand.NewPCG(3, 4))
	const n = 6000
	for _, i := range r.Perm(n) {
		b := []string{"photos", "backups"}[i%2]
		rec := bytes.Repeat([]byte{byte(i)}, 300+i%200)
		e := catalog.Entry{Bucket: b, Key: fmt.Sprintf("p%03d/o%06d", i%97, i), Size: int64(i), ETag: fmt.Sprintf("%032x", i), ModTime: now, Generation: uint64(i + 1), Record: rec}
		if _, err := c.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PutTombstone(ctx, catalog.Tombstone{Bucket: "photos", Key: "gone", Generation: 9, Deleted: now, Record: []byte("t")}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	dst := filepath.Join(dir, "compact.db")
	if err := catalog.CompactBolt(ctx, src, dst); err != nil {
		t.Fatal(err)
	}
	want, got := dumpBolt(t, src), dumpBolt(t, dst)
	if len(want) != len(got) {
		t.Fatalf("compacted file has %d lines, the source %d", len(got), len(want))
	}
	for i := range want {
		if want[i] != got[i] {
			t.Fatalf("line %d: got %.80s, want %.80s", i, got[i], want[i])
		}
	}
	si, _ := os.Stat(src)
	di, _ := os.Stat(dst)
	if di.Size() >= si.Size()*9/10 {
		t.Errorf("compacted file %d bytes, source %d: not smaller", di.Size(), si.Size())
	}
	t.Logf("%d objects: %d -> %d bytes", n, si.Size(), di.Size())

	// The copy is a working catalog.
	cc := openBolt(t, dst)
	defer cc.Close()
	e, err := cc.Get(ctx, "backups", "p001/o000001")
	if err != nil || e.Size != 1 || e.Generation != 2 {
		t.Fatalf("Get from the compacted catalog: %+v, %v", e, err)
	}
	if _, err := cc.Put(ctx, catalog.Entry{Bucket: "empty", Key: "new", Generation: 1, ModTime: now, Record: []byte("r")}); err != nil {
		t.Fatalf("Put into the compacted catalog: %v", err)
	}

	// It refuses to overwrite, and leaves nothing behind on failure.
	if err := catalog.CompactBolt(ctx, src, dst); err == nil {
		t.Fatal("CompactBolt over an existing file succeeded")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	other := filepath.Join(dir, "other.db")
	if err := catalog.CompactBolt(cancelled, src, other); err == nil {
		t.Fatal("CompactBolt with a cancelled context succeeded")
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Fatalf("a failed compaction left %s: %v", other, err)
	}
}
