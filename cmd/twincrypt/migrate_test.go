package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// TestMigrateCatalogToFile copies an embedded catalog into another file:
// the copy is compacted, serves the same objects (a scrub against it is
// clean) and refuses a destination that is not empty.
func TestMigrateCatalogToFile(t *testing.T) {
	objects := map[string][]byte{}
	for i := range 300 {
		objects[fmt.Sprintf("dir%02d/file%04d", i%7, i)] = bytes.Repeat([]byte{byte(i)}, 100+i*31)
	}
	cfg, cfgPath := populated(t, objects)
	env := passEnv("passphrase-one")
	dst := filepath.Join(t.TempDir(), "copy.db")

	r := runCLI(t, "", env, false, "migrate-catalog", "-c", cfgPath, "--to", "bolt:"+dst)
	r.expect(t, 0)
	for _, want := range []string{"2 buckets, 300 objects", "compacted the catalog: ", "checked 2 buckets, 300 objects"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("migrate-catalog output lacks %q:\n%s", want, r.stdout)
		}
	}
	src, err := os.Stat(cfg.Catalog.Path)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size() > src.Size() {
		t.Errorf("compacted copy is %d bytes, the original %d", cp.Size(), src.Size())
	}
	if _, err := os.Stat(dst + ".compacting"); !os.IsNotExist(err) {
		t.Errorf("compaction left its temporary file: %v", err)
	}
	runCLI(t, "", env, false, "migrate-catalog", "-c", cfgPath, "--to", "bolt:"+dst).expect(t, 1, "not empty")
}

// TestMigrateCatalogForce: --force copies into a destination that is not
// empty and keeps what it holds where it is newer (the generation rules of
// the catalog): a copy made again after the source changed equals the
// source (objects replaced, deleted and added since), and entries only
// the destination holds, or holds in a newer generation, are kept, which
// the scrub against it then reports.
func TestMigrateCatalogForce(t *testing.T) {
	objects := map[string][]byte{}
	for i := range 30 {
		objects[fmt.Sprintf("k%02d", i)] = bytes.Repeat([]byte{byte(i)}, 100+i*997)
	}
	cfg, cfgPath := populated(t, objects)
	env := passEnv("passphrase-one")
	dst := filepath.Join(t.TempDir(), "copy.db")
	runCLI(t, "", env, false, "migrate-catalog", "-c", cfgPath, "--to", "bolt:"+dst).expect(t, 0)
	if got, want := catalogDump(t, dst), catalogDump(t, cfg.Catalog.Path); !slices.Equal(got, want) {
		t.Fatalf("first copy:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The source changes: an object replaced, one deleted, one added.
	ctx := context.Background()
	c := &cli{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: func(k string) string { return env[k] }}
	st, err := openStore(ctx, c, cfg, maintenanceLogger(c))
	if err != nil {
		t.Fatal(err)
	}
	for _, put := range []struct {
		key  string
		data []byte
	}{{"k01", []byte("replaced")}, {"added", bytes.Repeat([]byte("n"), 50000)}} {
		if _, err := st.ns.PutObject(ctx, "photos", put.key, bytes.NewReader(put.data), int64(len(put.data)), gateway.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.ns.DeleteObject(ctx, "photos", "k02"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	want := catalogDump(t, cfg.Catalog.Path)

	runCLI(t, "", env, false, "migrate-catalog", "-c", cfgPath, "--to", "bolt:"+dst).expect(t, 1, "is not empty; pass --force")
	r := runCLI(t, "", env, false, "migrate-catalog", "-c", cfgPath, "--to", "bolt:"+dst, "--force")
	r.expect(t, 0)
	if !strings.Contains(r.stdout, "2 buckets, 30 objects, 0 versions, 1 deletions") || number(t, r.stdout, "problems:") != 0 {
		t.Errorf("copy again with --force:\n%s", r.stdout)
	}
	if got := catalogDump(t, dst); !slices.Equal(got, want) {
		t.Errorf("copy again with --force:\n%s\nwant (the source):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// What the destination holds and the source does not, or holds in
	// a newer generation, stays.
	cat, err := catalog.OpenBolt(dst)
	if err != nil {
		t.Fatal(err)
	}
	own := []catalog.Entry{
		{Bucket: "photos", Key: "only-in-destination", Size: 1, ETag: "e1", ModTime: time.Unix(1, 0), Generation: 1, Record: []byte("not a record")},
		{Bucket: "photos", Key: "k03", Size: 2, ETag: "e2", ModTime: time.Unix(2, 0), Generation: 1 << 63, Record: []byte("newer, and not a record")},
	}
	for _, e := range own {
		if _, err := cat.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	cat.Close()
	withOwn := catalogDump(t, dst)
	r = runCLI(t, "", env, false, "migrate-catalog", "-c", cfgPath, "--to", "bolt:"+dst, "--force")
	r.expect(t, 1, "the scrub against the new catalog found 2 problem(s)")
	got := catalogDump(t, dst)
	if !slices.Equal(got, withOwn) {
		t.Errorf("copy into a destination with entries of its own:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(withOwn, "\n"))
	}
	for _, e := range own {
		if !slices.ContainsFunc(got, func(l string) bool {
			return strings.HasPrefix(l, fmt.Sprintf("%s/%s %d %d %s ", e.Bucket, e.Key, e.Generation, e.Size, e.ETag))
		}) {
			t.Errorf("%s/%s of the destination is gone", e.Bucket, e.Key)
		}
	}
}
