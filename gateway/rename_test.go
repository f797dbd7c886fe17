package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/checksum"
)

// TestRenameKeepsChecksum: a rename (WebDAV MOVE) keeps the object's
// full-object checksum, in the answer and in the renamed object's record,
// in a bucket without versioning and in one with versioning.
func TestRenameKeepsChecksum(t *testing.T) {
	ctx := context.Background()
	for _, versioned := range []bool{false, true} {
		name := "unversioned"
		if versioned {
			name = "versioned"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			if versioned {
				if err := e.ns.SetBucketVersioning(ctx, "bucket", gateway.VersioningEnabled); err != nil {
					t.Fatal(err)
				}
			}
			for _, b := range []string{"summed", body("summed")} { // inline and with a blob
				ck, err := e.ns.PutObject(ctx, "bucket", "a", strings.NewReader(b), int64(len(b)), gateway.PutOptions{Checksum: checksum.SHA256})
				if err != nil || ck.Checksum == nil {
					t.Fatalf("put with a checksum: %+v, %v", ck, err)
				}
				info, err := e.ns.Rename(ctx, "bucket", "a", "bucket", "b")
				if err != nil {
					t.Fatal(err)
				}
				if info.Checksum == nil || info.Checksum.String() != ck.Checksum.String() {
					t.Errorf("rename answers checksum %v, want %v", info.Checksum, ck.Checksum)
				}
				o, err := e.ns.Object(ctx, "bucket", "b")
				if err != nil {
					t.Fatal(err)
				}
				if o.Checksum == nil || o.Checksum.String() != ck.Checksum.String() {
					t.Errorf("checksum after rename: %v, want %v", o.Checksum, ck.Checksum)
				}
			}
			e.scrubClean(t)
		})
	}
}

// TestRenameVersionedKeepsAll: a rename from a bucket with versioning (or
// versioning suspended) makes a new version at the destination that keeps
// everything a rename without versioning keeps: ETag, metadata, dead
// properties, tags, checksum and the part layout with each part's
// checksum, in fresh blobs; the source gets a delete marker. The
// modification time is kept in a destination bucket without versioning;
// one with versioning gets a new version of the time of the rename.
func TestRenameVersionedKeepsAll(t *testing.T) {
	ctx := context.Background()
	p1 := payload(gateway.MinPartSize, 1)
	p2 := []byte("the last part")
	for _, status := range []string{gateway.VersioningEnabled, gateway.VersioningSuspended} {
		for _, kind := range []string{"inline", "blob", "multipart"} {
			for _, to := range []string{"bucket", "plain"} {
				t.Run(status+"/"+kind+"/to-"+to, func(t *testing.T) {
					e := newEnv(t)
					if err := e.ns.SetBucketVersioning(ctx, "bucket", status); err != nil {
						t.Fatal(err)
					}
					if err := e.ns.CreateBucket(ctx, "plain"); err != nil {
						t.Fatal(err)
					}
					o := gateway.PutOptions{Meta: map[string]string{"Content-Type": "text/x-example", "X-Amz-Meta-Owner": "carol"},
						Tags: map[string]string{"project": "blue"}, Checksum: checksum.SHA256}
					var content []byte
					switch kind {
					case "inline", "blob":
						content = []byte("small")
						if kind == "blob" {
							content = []byte(body("blob"))
						}
						if _, err := e.ns.PutObject(ctx, "bucket", "a", bytes.NewReader(content), int64(len(content)), o); err != nil {
							t.Fatal(err)
						}
					case "multipart":
						content = append(append([]byte(nil), p1...), p2...)
						id, err := e.ns.CreateUploadWith(ctx, "bucket", "a", o)
						if err != nil {
							t.Fatal(err)
						}
						var done []gateway.CompletedPart
						for i, p := range [][]byte{p1, p2} {
							pi, err := e.ns.UploadPartWith(ctx, "bucket", "a", id, i+1, bytes.NewReader(p), int64(len(p)), checksum.SHA256)
							if err != nil {
								t.Fatal(err)
							}
							done = append(done, gateway.CompletedPart{Number: i + 1, ETag: pi.ETag, Checksum: pi.Checksum})
						}
						if _, err := e.ns.CompleteUpload(ctx, "bucket", "a", id, done); err != nil {
							t.Fatal(err)
						}
					}
					if _, err := e.ns.SetAttrs(ctx, "bucket", "a", map[string]string{"{urn:example:}color": "deep blue"}, nil, nil); err != nil {
						t.Fatal(err)
					}
					src, err := e.ns.Object(ctx, "bucket", "a")
					if err != nil {
						t.Fatal(err)
					}
					// An hour later: a rename that set the modification time
					// anew would show.
					hour := src.ModTime.Add(time.Hour)
					later, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: e.cat,
						Clock: func() time.Time { return hour }})
					if err != nil {
						t.Fatal(err)
					}
					info, err := later.Rename(ctx, "bucket", "a", to, "b")
					if err != nil {
						t.Fatal(err)
					}
					dst, err := e.ns.Object(ctx, to, "b")
					if err != nil {
						t.Fatal(err)
					}
					want := src.ObjectInfo
					want.Bucket, want.Key, want.Generation, want.VersionID = to, "b", dst.Generation, dst.VersionID
					if to == "bucket" {
						want.ModTime = hour
					}
					for what, got := range map[string]gateway.ObjectInfo{"answer": info, "object": dst.ObjectInfo} {
						if !reflect.DeepEqual(got, want) {
							t.Errorf("%s after rename:\n got %+v\nwant %+v", what, got, want)
						}
					}
					if status == gateway.VersioningEnabled && dst.VersionID == src.VersionID {
						t.Errorf("the destination has the source's version ID %s", dst.VersionID)
					}
					if got := e.getFrom(t, to, "b"); !bytes.Equal(got, content) {
						t.Errorf("content after rename differs (%d bytes, want %d)", len(got), len(content))
					}
					if _, err := e.ns.Object(ctx, "bucket", "a"); !errors.Is(err, gateway.ErrNoSuchKey) {
						t.Errorf("source after rename: %v, want ErrNoSuchKey", err)
					}
					if status == gateway.VersioningEnabled {
						// Suspended: the delete marker replaces the null version.
						old, err := e.ns.ObjectVersion(ctx, "bucket", "a", src.VersionID)
						if err != nil || old.ETag != src.ETag {
							t.Fatalf("source version after rename: %v", err)
						}
					}
					e.scrubClean(t)
				})
			}
		}
	}
}

// getFrom reads bucket/key whole.
func (e *env) getFrom(t *testing.T, bucket, key string) []byte {
	t.Helper()
	return readObject(t, e.ns, bucket, key)
}

// readObject reads bucket/key whole through ns.
func readObject(t *testing.T, ns *gateway.Namespace, bucket, key string) []byte {
	t.Helper()
	o, err := ns.Object(context.Background(), bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	r, err := o.NewReader(context.Background(), 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// putHookStore runs hook once, before the first Put of a name with prefix
// once armed.
type putHookStore struct {
	backends.Backend
	prefix string
	armed  atomic.Bool
	once   sync.Once
	hook   func()
}

func (h *putHookStore) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if h.armed.Load() && strings.HasPrefix(name, h.prefix) {
		h.once.Do(h.hook)
	}
	return h.Backend.Put(ctx, name, r, size)
}

// TestRenameVersionedKeepsConcurrentWrite: a rename into or out of a
// bucket with versioning copies the source and then deletes it; a PUT of
// the source that another client had acknowledged while the copy was
// being made is not deleted with it. The rename fails (ErrPrecondition),
// the destination holds what was copied, the source the newer write.
func TestRenameVersionedKeepsConcurrentWrite(t *testing.T) {
	for _, srcVersioned := range []bool{false, true} {
		name := map[bool]string{false: "source without versioning", true: "source with versioning"}[srcVersioned]
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			if err := e.ns.CreateBucket(ctx, "ver"); err != nil {
				t.Fatal(err)
			}
			for _, b := range []string{"ver", map[bool]string{false: "ver", true: "bucket"}[srcVersioned]} {
				if err := e.ns.SetBucketVersioning(ctx, b, gateway.VersioningEnabled); err != nil {
					t.Fatal(err)
				}
			}
			h := &putHookStore{Backend: e.set, prefix: "m/"}
			mover, err := gateway.New(gateway.Options{Keys: e.keys, Store: h, Catalog: e.cat})
			if err != nil {
				t.Fatal(err)
			}
			old, newer := []byte(body("old")), []byte(body("new"))
			if _, err := e.ns.PutObject(ctx, "bucket", "a", bytes.NewReader(old), int64(len(old)), gateway.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			h.hook = func() {
				// Another client's PUT of the source, acknowledged while
				// the move writes its copy's meta record.
				if _, err := e.ns.PutObject(ctx, "bucket", "a", bytes.NewReader(newer), int64(len(newer)), gateway.PutOptions{}); err != nil {
					t.Errorf("concurrent PUT: %v", err)
				}
			}
			h.armed.Store(true)
			_, err = mover.Rename(ctx, "bucket", "a", "ver", "b")
			if !errors.Is(err, gateway.ErrPrecondition) {
				t.Fatalf("rename while the source was written: %v, want ErrPrecondition", err)
			}
			if got := e.getFrom(t, "bucket", "a"); !bytes.Equal(got, newer) {
				t.Errorf("source after the rename: %d bytes, want the acknowledged newer write (%d bytes)", len(got), len(newer))
			}
			if got := e.getFrom(t, "ver", "b"); !bytes.Equal(got, old) {
				t.Errorf("destination after the rename: %d bytes, want the copied content (%d bytes)", len(got), len(old))
			}
		})
	}
}
