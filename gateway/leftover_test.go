package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/twincrypt/twincrypt/gateway"
)

// TestInterruptedRename recreates what a crash inside Rename can leave (or a
// provider replaying the old name's record): the old name's meta record
// still on the backends after the catalog moved the name. Repair must put
// the old name's tombstone back rather than adopt the record, and a rebuilt
// catalog must not list it: two listed names sharing blobs would let
// deleting one destroy the other's content.
func TestInterruptedRename(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := payload(150_000, 9)
	e.put(t, "old", data)
	oldMeta := e.recordName(t, "bucket", "old", "")
	var saved [][]byte
	for i := range e.members {
		b, err := os.ReadFile(e.file(i, oldMeta))
		if err != nil {
			t.Fatal(err)
		}
		saved = append(saved, b)
	}
	if _, err := e.ns.Rename(ctx, "bucket", "old", "bucket", "new"); err != nil {
		t.Fatal(err)
	}
	// The crash came before the old name's tombstone reached the
	// backends (the catalog holds it): the old record is the newest
	// record of its name they hold.
	tombName := e.recordName(t, "bucket", "old", "")
	tomb, err := os.ReadFile(e.file(0, tombName))
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range saved {
		if err := os.Remove(e.file(i, tombName)); err != nil {
			t.Fatal(err)
		}
		p := e.file(i, oldMeta)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// A rebuilt catalog lists the new name only.
	fresh, rb := e.rebuildFrom(t, e.backendsOf()[:1])
	if rb.Objects != 1 || rb.RenameLeftovers != 1 {
		t.Errorf("rebuild: %d objects, %d rename leftovers; want 1 and 1", rb.Objects, rb.RenameLeftovers)
	}
	if _, err := fresh.Get(ctx, "bucket", "old"); err == nil {
		t.Error("the rebuilt catalog lists the old name")
	}

	// Repair puts the old name's tombstone back on both backends and
	// deletes the old record, which the tombstone supersedes.
	rep, err := e.ns.Repair(ctx, gateway.RepairOptions{Members: e.backendsOf(), Adopt: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Adopted != 0 || rep.MetaRewritten != 2 {
		t.Errorf("repair adopted %d, rewrote %d, found %+v; want 0 and 2", rep.Adopted, rep.MetaRewritten, rep.Found.Backends)
	}
	if _, err := e.ns.Object(ctx, "bucket", "old"); err == nil {
		t.Error("the old name came back")
	}
	for i := range e.members {
		if _, err := os.Stat(e.file(i, oldMeta)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("backend %d still holds the old record: %v", i, err)
		}
		if b, err := os.ReadFile(e.file(i, tombName)); err != nil || !bytes.Equal(b, tomb) {
			t.Errorf("backend %d lacks the old name's tombstone: %v", i, err)
		}
	}
	// The object is intact under its new name, and deleting it leaves
	// nothing behind.
	if got := e.get(t, "new", 0, -1); string(got) != string(data) {
		t.Fatalf("new name: %d bytes differ", len(got))
	}
	if sr := e.scrub(t, true); len(sr.Problems) != 0 {
		t.Errorf("scrub after repair: %v", sr.Problems)
	}
	if err := e.ns.DeleteObject(ctx, "bucket", "new"); err != nil {
		t.Fatal(err)
	}
	for i := range e.members {
		if left := e.names(t, i, ""); len(left) != 3 { // the bucket record and the tombstones of "old" and "new"
			t.Errorf("backend %d after the delete: %v, want the bucket record and two tombstones", i, left)
		}
	}
}
