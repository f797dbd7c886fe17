package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/twincrypt/twincrypt/backends/replica"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/catalog/catalogtest"
)

func openBolt(t testing.TB, path string) *catalog.Bolt {
	t.Helper()
	c, err := catalog.OpenBolt(path)
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	return c
}

func TestBoltConformance(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Catalog {
		return openBolt(t, filepath.Join(t.TempDir(), "catalog.db"))
	})
}

func TestMemQueueConformance(t *testing.T) {
	// The queue suite holds for the in-memory reference queue too.
	catalogtest.RunQueue(t, func(*testing.T) replica.Queue { return replica.NewMemQueue() })
}

var when = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

func TestBoltReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sub", "dir", "catalog.db")
	c := openBolt(t, path)
	if err := c.CreateBucket(ctx, catalog.Bucket{Name: "b", Created: when}); err != nil {
		t.Fatal(err)
	}
	e := catalog.Entry{Bucket: "b", Key: "k/\x00/é", Size: 42, ETag: "abc", ModTime: when, Generation: 7, Record: []byte{1, 2, 3}}
	if _, err := c.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateUpload(ctx, catalog.Upload{ID: "u", Bucket: "b", Key: "big", Initiated: when, Record: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutPart(ctx, "u", catalog.Part{Number: 3, Size: 9, ETag: "p3", Uploaded: when}); err != nil {
		t.Fatal(err)
	}
	task := replica.Task{Backend: "zurich", Name: "b/1", Op: replica.OpPut, Added: when}
	if err := c.Add(ctx, task); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("catalog file mode %o, want 600", mode)
	}

	c = openBolt(t, path)
	defer c.Close()
	got, err := c.Get(ctx, "b", e.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != 42 || got.ETag != "abc" || !got.ModTime.Equal(when) || got.Generation != 7 || string(got.Record) != "\x01\x02\x03" {
		t.Errorf("after reopen: %+v", got)
	}
	if b, err := c.GetBucket(ctx, "b"); err != nil || !b.Created.Equal(when) {
		t.Errorf("bucket after reopen: %+v, %v", b, err)
	}
	if ps, _, err := c.ListParts(ctx, "u", 0, 0); err != nil || len(ps) != 1 || ps[0].ETag != "p3" {
		t.Errorf("parts after reopen: %+v, %v", ps, err)
	}
	ts, err := c.Pending(ctx, 0)
	if err != nil || len(ts) != 1 || ts[0].Backend != task.Backend || ts[0].Name != task.Name || ts[0].Op != task.Op || !ts[0].Added.Equal(when) {
		t.Errorf("queue after reopen: %+v, %v", ts, err)
	}
}

func TestBoltLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	c := openBolt(t, path)
	defer c.Close()
	// bbolt locks with flock, which conflicts between two open files even
	// inside one process, so this stands in for a second process.
	_, err := catalog.OpenBolt(path, catalog.WithLockTimeout(50*time.Millisecond))
	if !errors.Is(err, catalog.ErrInUse) {
		t.Fatalf("second OpenBolt: err = %v, want ErrInUse", err)
	}
	if want := "catalog is in use by another process"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

func TestBoltRejectsNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	openBolt(t, path).Close()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("version"), []byte{0, 0, 0, 99})
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := catalog.OpenBolt(path); err == nil || !strings.Contains(err.Error(), "schema version 99") {
		t.Errorf("OpenBolt of a newer schema: err = %v", err)
	}
}

func TestBoltCorruptValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	c := openBolt(t, path)
	ctx := t.Context()
	if err := c.CreateBucket(ctx, catalog.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ key, value string }{
		{"empty", ""},
		{"version", "\x09"},
		{"truncated", "\x01\x02\x05ab"},
		{"trailing", "\x01\x00\x00\x00\x00\x00\x00\x00extra"},
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		ob := tx.Bucket([]byte("objects")).Bucket([]byte("b"))
		for _, tt := range tests {
			if err := ob.Put([]byte(tt.key), []byte(tt.value)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	c = openBolt(t, path)
	defer c.Close()
	for _, tt := range tests {
		if _, err := c.Get(ctx, "b", tt.key); !errors.Is(err, catalog.ErrCorrupt) {
			t.Errorf("Get of %s value: err = %v, want ErrCorrupt", tt.key, err)
		}
	}
	if _, err := c.List(ctx, catalog.ListOptions{Bucket: "b"}); !errors.Is(err, catalog.ErrCorrupt) {
		t.Errorf("List over corrupt values: err = %v, want ErrCorrupt", err)
	}
}

func TestBoltConcurrent(t *testing.T) {
	// Writers and readers at once, for the race detector.
	c := openBolt(t, filepath.Join(t.TempDir(), "catalog.db"))
	defer c.Close()
	ctx := t.Context()
	if err := c.CreateBucket(ctx, catalog.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				key := fmt.Sprintf("d%d/k%03d", w, i)
				if _, err := c.Put(ctx, catalog.Entry{Bucket: "b", Key: key, Generation: 1, Record: []byte(key)}); err != nil {
					t.Error(err)
					return
				}
				if _, err := c.List(ctx, catalog.ListOptions{Bucket: "b", Delimiter: "/"}); err != nil {
					t.Error(err)
					return
				}
				if err := c.Add(ctx, replica.Task{Backend: "x", Name: key, Op: replica.OpPut, Added: when}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	res, err := c.List(ctx, catalog.ListOptions{Bucket: "b", Delimiter: "/"})
	if err != nil || len(res.CommonPrefixes) != 4 {
		t.Errorf("top level = %q, %v", res.CommonPrefixes, err)
	}
	if ts, err := c.Pending(ctx, 0); err != nil || len(ts) != 200 {
		t.Errorf("pending %d tasks, %v; want 200", len(ts), err)
	}
}

func TestBoltQueueLen(t *testing.T) {
	c := openBolt(t, filepath.Join(t.TempDir(), "catalog.db"))
	ctx := context.Background()
	now := time.Now()
	for i := range 5 {
		if err := c.Add(ctx, replica.Task{Backend: "b", Name: fmt.Sprint("n", i%3), Op: replica.OpPut, Added: now}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.QueueLen(ctx); n != 3 || err != nil {
		t.Errorf("QueueLen = %d, %v; want 3 (a task per name)", n, err)
	}
	tasks, _ := c.Pending(ctx, 0)
	c.Remove(ctx, tasks[0])
	if n, err := c.QueueLen(ctx); n != 2 || err != nil {
		t.Errorf("QueueLen after a Remove = %d, %v; want 2", n, err)
	}
}
