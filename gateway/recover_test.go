package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/backends/replica"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/seal"
)

// multipart stores data as a two-part upload of key.
func (e *env) multipart(t *testing.T, key string, data []byte) {
	t.Helper()
	ctx := context.Background()
	id, err := e.ns.CreateUpload(ctx, "bucket", key, nil)
	if err != nil {
		t.Fatal(err)
	}
	var done []gateway.CompletedPart
	for n, p := range [][]byte{data[:gateway.MinPartSize], data[gateway.MinPartSize:]} {
		etag, err := e.ns.UploadPart(ctx, "bucket", key, id, n+1, bytes.NewReader(p), int64(len(p)))
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, gateway.CompletedPart{Number: n + 1, ETag: etag})
	}
	if _, err := e.ns.CompleteUpload(ctx, "bucket", key, id, done); err != nil {
		t.Fatal(err)
	}
}

func TestRecover(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.ns.CreateBucket(ctx, "empty-bucket"); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"a.txt":         []byte("hello"),
		"dir/sub/b.bin": payload(3*seal.ChunkSize+1, 1),
		"empty":         nil,
		"big":           payload(gateway.MinPartSize+1000, 2),
	}
	for k, v := range files {
		if k == "big" {
			e.multipart(t, k, v)
			continue
		}
		e.put(t, k, v)
	}
	e.put(t, "marker/", nil)
	// Keys a file system cannot hold as they are: restored under encoded
	// names, never outside the directory.
	encoded := map[string]string{
		"../escape": "bucket/%2E%2E/escape", "x/../../y": "bucket/x/%2E%2E/%2E%2E/y", "/abs": "bucket/%/abs",
		"a//b": "bucket/a/%/b", "./dot": "bucket/%2E/dot", "100%": "bucket/100%25",
		strings.Repeat("n", 300): "bucket/" + strings.Repeat("n", 238) + "%",
	}
	for k := range encoded {
		e.put(t, k, []byte("content of "+k))
	}
	e.put(t, "deleted", []byte("gone"))
	if err := e.ns.DeleteObject(ctx, "bucket", "deleted"); err != nil {
		t.Fatal(err)
	}
	corrupt := e.put(t, "corrupt", payload(gateway.InlineMax+1000, 3))
	flipByte(t, e.file(1, corrupt[0]), seal.HeaderSize+10)

	out := filepath.Join(t.TempDir(), "out")
	rep, err := gateway.Recover(ctx, gateway.RecoverOptions{Keys: e.keys, Backend: e.members[1], Dir: out})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Buckets != 2 || rep.Objects != len(files)+len(encoded) || rep.Dirs != 1 || rep.Deleted != 1 {
		t.Errorf("restored %d buckets, %d files, %d dirs, %d deleted; want 2, %d, 1, 1", rep.Buckets, rep.Objects, rep.Dirs, rep.Deleted, len(files)+len(encoded))
	}
	for _, f := range rep.Failed {
		if f.Key != "corrupt" || !errors.Is(f.Err, gateway.ErrIntegrity) {
			t.Errorf("unexpected failure %s/%s: %v", f.Bucket, f.Key, f.Err)
		}
	}
	if len(rep.Renamed) != len(encoded) {
		t.Errorf("%d renamed, want %d: %+v", len(rep.Renamed), len(encoded), rep.Renamed)
	}
	names, err := os.ReadFile(filepath.Join(out, gateway.RenamesFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Renamed {
		want, ok := encoded[r.Key]
		if !ok || !strings.HasPrefix(r.Path, want) {
			t.Errorf("%q restored as %q, want %q", r.Key, r.Path, want)
			continue
		}
		got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(r.Path)))
		if err != nil || string(got) != "content of "+r.Key {
			t.Errorf("%q at %s: %q, %v", r.Key, r.Path, got, err)
		}
		line, _ := json.Marshal(r)
		if !bytes.Contains(names, line) {
			t.Errorf("%s does not list %s", gateway.RenamesFile, line)
		}
	}
	for k, want := range files {
		p := filepath.Join(out, "bucket", filepath.FromSlash(k))
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v; want %d bytes", k, len(got), err, len(want))
			continue
		}
		o, err := e.ns.Object(ctx, "bucket", k)
		if err != nil {
			t.Fatal(err)
		}
		if st, _ := os.Stat(p); !st.ModTime().Equal(o.ModTime) {
			t.Errorf("%s: mtime %v, want %v", k, st.ModTime(), o.ModTime)
		}
	}
	for _, d := range []string{"empty-bucket", "bucket/marker"} {
		if st, err := os.Stat(filepath.Join(out, d)); err != nil || !st.IsDir() {
			t.Errorf("%s: not a directory: %v", d, err)
		}
	}
	// Nothing escaped, no partial file of the corrupt object, no temp file.
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
		t.Errorf("recovery wrote beside its directory: %v", ents)
	}
	var all []string
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if !d.IsDir() {
			rel, _ := filepath.Rel(out, p)
			all = append(all, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(all)
	want := []string{gateway.RenamesFile, "bucket/a.txt", "bucket/big", "bucket/dir/sub/b.bin", "bucket/empty"}
	for _, p := range encoded {
		want = append(want, p)
	}
	slices.Sort(want)
	if len(all) != len(want) {
		t.Errorf("files %v, want %v", all, want)
	}
	for i := range min(len(all), len(want)) {
		if !strings.HasPrefix(all[i], want[i]) {
			t.Errorf("file %q, want %q", all[i], want[i])
		}
	}
	// Running it again replaces the files with the same content.
	if again, err := gateway.Recover(ctx, gateway.RecoverOptions{Keys: e.keys, Backend: e.members[1], Dir: out}); err != nil || again.Objects != len(files)+len(encoded) {
		t.Errorf("second recovery: %+v %v", again, err)
	}
}

func TestRecoverFilePathRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cases := []struct {
		key  string
		size int
		ok   bool
		file string
	}{
		{"plain", 1, true, "bucket/plain"},
		{"a/b/c", 1, true, "bucket/a/b/c"},
		{"dir/", 0, true, ""},
		{"dir2/", 3, true, "bucket/dir2/%"},
		{"..", 1, true, "bucket/%2E%2E"},
		{"a/..", 1, true, "bucket/a/%2E%2E"},
		{"a\\..\\b", 1, true, "bucket/a\\..\\b"},
		// A key that is both an object and a folder of other keys: the
		// object goes beside the folder.
		{"both", 2, true, "bucket/both%"},
		{"both/inner", 1, true, "bucket/both/inner"},
	}
	for _, c := range cases {
		if _, err := e.ns.PutObject(ctx, "bucket", c.key, bytes.NewReader(make([]byte, c.size)), int64(c.size), gateway.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	rep, err := gateway.Recover(ctx, gateway.RecoverOptions{Keys: e.keys, Backend: e.members[0], Dir: out})
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]bool{}
	for _, f := range rep.Failed {
		failed[f.Key] = true
	}
	for _, c := range cases {
		if failed[c.key] == c.ok {
			t.Errorf("%q: failed=%v, want ok=%v", c.key, failed[c.key], c.ok)
		}
		if c.file != "" {
			if _, err := os.Stat(filepath.Join(out, c.file)); err != nil {
				t.Errorf("%q: %v", c.key, err)
			}
		}
	}
}

func TestRebuildCatalog(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, b := range []string{"second", "third"} {
		if err := e.ns.CreateBucket(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 25 {
		e.put(t, fmt.Sprintf("k/%02d", i), payload(i*1000, uint64(i)))
	}
	if _, err := e.ns.PutObject(ctx, "second", "x", bytes.NewReader([]byte("x")), 1, gateway.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	e.put(t, "k/03", []byte("overwritten")) // a later generation
	// "third" loses its record on backend 0, "second" too: its bucket is
	// implied by its object, "third" is gone.
	for _, b := range []string{"second", "third"} {
		os.Remove(e.file(0, e.ns.MetaName(b, "")))
	}

	fresh, rep := e.rebuildFrom(t, e.backendsOf()[:1])
	if rep.Buckets != 1 || rep.ImpliedBuckets != 1 || rep.Objects != 26 || len(rep.Failed) != 0 {
		t.Errorf("rebuilt %+v; want 1 bucket, 1 implied, 26 objects", rep)
	}
	n := 0
	err := e.cat.Walk(ctx, func(want catalog.Entry) error {
		n++
		got, err := fresh.Get(ctx, want.Bucket, want.Key)
		if err != nil {
			return err
		}
		if !bytes.Equal(got.Record, want.Record) || got.Size != want.Size || got.ETag != want.ETag ||
			!got.ModTime.Equal(want.ModTime) || got.Generation != want.Generation {
			t.Errorf("%s/%s: rebuilt %+v, want %+v", want.Bucket, want.Key, got, want)
		}
		return nil
	})
	if err != nil || n != 26 {
		t.Fatalf("compared %d entries: %v", n, err)
	}
	orig, _ := e.cat.GetBucket(ctx, "bucket")
	if got, err := fresh.GetBucket(ctx, "bucket"); err != nil || !got.Created.Equal(orig.Created) {
		t.Errorf("bucket: %+v %v, want created %v", got, err, orig.Created)
	}
	if _, err := fresh.GetBucket(ctx, "third"); !errors.Is(err, catalog.ErrNoSuchBucket) {
		t.Errorf("bucket without record or objects: %v", err)
	}

	// A namespace over the rebuilt catalog serves the objects.
	var members []replica.Member
	for i, m := range e.members {
		members = append(members, replica.Member{Backend: m, Jurisdiction: fmt.Sprint(i)})
	}
	set, err := replica.New(members, replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := gateway.New(gateway.Options{Keys: e.keys, Store: set, Catalog: fresh})
	if err != nil {
		t.Fatal(err)
	}
	o, err := ns.Object(ctx, "bucket", "k/20")
	if err != nil {
		t.Fatal(err)
	}
	r, err := o.NewReader(ctx, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil || !bytes.Equal(buf.Bytes(), payload(20000, 20)) {
		t.Errorf("read through the rebuilt catalog: %v", err)
	}
}

// minKEK is a key source that refuses key-encryption keys below min.
type minKEK struct {
	gateway.Keys
	min uint32
}

func (k minKEK) KEK(id uint32) (*[32]byte, error) {
	if id < k.min {
		return nil, fmt.Errorf("key-encryption key %d retired", id)
	}
	return k.Keys.KEK(id)
}

func TestRewrap(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := map[string][]byte{"a": []byte("aaa"), "b": payload(2*seal.ChunkSize+9, 4), "empty": nil}
	for k, v := range data {
		e.put(t, k, v)
	}
	before := map[string]gateway.ObjectInfo{}
	for k := range data {
		o, err := e.ns.Object(ctx, "bucket", k)
		if err != nil {
			t.Fatal(err)
		}
		before[k] = o.ObjectInfo
	}
	blobsBefore := map[string][]byte{}
	for _, n := range e.names(t, 0, "b/") {
		blobsBefore[n], _ = os.ReadFile(e.file(0, n))
	}
	cur, err := e.keys.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := e.ns.Rewrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.KEK != cur || rep.Objects != 3 || rep.ObjectsRewrapped != 3 || rep.Buckets != 1 || rep.BucketsRewrapped != 1 || rep.Failed != 0 {
		t.Errorf("rewrap %+v", rep)
	}
	for n, b := range blobsBefore {
		if got, _ := os.ReadFile(e.file(0, n)); !bytes.Equal(got, b) {
			t.Errorf("blob %s rewritten; only meta records may change", n)
		}
	}
	// A namespace that no longer has the old key reads everything.
	var members []replica.Member
	for i, m := range e.members {
		members = append(members, replica.Member{Backend: m, Jurisdiction: fmt.Sprint(i)})
	}
	set, err := replica.New(members, replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	retired, err := gateway.New(gateway.Options{Keys: minKEK{e.keys, cur}, Store: set, Catalog: e.cat})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range data {
		o, err := retired.Object(ctx, "bucket", k)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if o.Generation <= before[k].Generation || !o.ModTime.Equal(before[k].ModTime) || o.ETag != before[k].ETag {
			t.Errorf("%s: generation %d -> %d, mtime %v -> %v", k, before[k].Generation, o.Generation, before[k].ModTime, o.ModTime)
		}
		r, err := o.NewReader(ctx, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(r)
		r.Close()
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s differs after rewrap", k)
		}
	}
	members2 := e.backendsOf()
	if sr, err := retired.Scrub(ctx, gateway.ScrubOptions{Members: members2, Deep: true}); err != nil || len(sr.Problems) != 0 {
		t.Errorf("deep scrub without the old key: %v %v", summary(sr), err)
	}
	again, err := e.ns.Rewrap(ctx)
	if err != nil || again.ObjectsRewrapped != 0 || again.BucketsRewrapped != 0 {
		t.Errorf("second rewrap %+v %v; want nothing to do", again, err)
	}
}
