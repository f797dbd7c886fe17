package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
