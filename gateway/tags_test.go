package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/checksum"
)

// TestTags checks that an object's tags are kept in its meta record by
// every way of writing it, survive changes that keep the object, and are
// replaced or removed only when asked.
func TestTags(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.ns
	tags := map[string]string{"project": "apollo", "tier": "gold"}
	other := map[string]string{"owner": "ops"}
	put := func(key string, tags map[string]string) gateway.ObjectInfo {
		t.Helper()
		info, err := ns.PutObject(ctx, "bucket", key, strings.NewReader("data of "+key), -1, gateway.PutOptions{Tags: tags})
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	src := put("src", tags)
	put("plain", nil)

	steps := []struct {
		name string
		do   func() (gateway.ObjectInfo, error)
		key  string
		want map[string]string
	}{
		{"put with tags", nil, "src", tags},
		{"put without tags", nil, "plain", nil},
		{"copy keeps the source's tags", func() (gateway.ObjectInfo, error) {
			return ns.CopyObject(ctx, "bucket", "src", "bucket", "copy", nil)
		}, "copy", tags},
		{"copy replacing tags", func() (gateway.ObjectInfo, error) {
			return ns.CopyObjectWith(ctx, "bucket", "src", "bucket", "copy2", gateway.CopyOptions{ReplaceTags: true, Tags: other})
		}, "copy2", other},
		{"copy onto itself replacing tags", func() (gateway.ObjectInfo, error) {
			return ns.CopyObjectWith(ctx, "bucket", "copy2", "bucket", "copy2", gateway.CopyOptions{Meta: map[string]string{"Content-Type": "a/b"}, ReplaceTags: true})
		}, "copy2", nil},
		{"set tags", func() (gateway.ObjectInfo, error) { return ns.SetTags(ctx, "bucket", "plain", other) }, "plain", other},
		{"props keep tags", func() (gateway.ObjectInfo, error) {
			return ns.SetProps(ctx, "bucket", "plain", map[string]string{"{DAV:}x": "y"}, nil)
		}, "plain", other},
		{"rename keeps tags", func() (gateway.ObjectInfo, error) { return ns.Rename(ctx, "bucket", "plain", "bucket", "moved") }, "moved", other},
		{"delete tags", func() (gateway.ObjectInfo, error) { return ns.SetTags(ctx, "bucket", "copy", nil) }, "copy", nil},
		{"set tags of a missing key", func() (gateway.ObjectInfo, error) { return ns.SetTags(ctx, "bucket", "missing", other) }, "", nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.do != nil {
				_, err := st.do()
				if st.key == "" {
					if err == nil {
						t.Fatal("no error")
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			o, err := ns.Object(ctx, "bucket", st.key)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(o.Tags, st.want) {
				t.Errorf("tags %v, want %v", o.Tags, st.want)
			}
		})
	}

	// Tagging changes neither content, ETag nor modification time.
	after, err := ns.Object(ctx, "bucket", "src")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ns.SetTags(ctx, "bucket", "src", other); err != nil {
		t.Fatal(err)
	}
	o, _ := ns.Object(ctx, "bucket", "src")
	if o.ETag != src.ETag || !o.ModTime.Equal(after.ModTime) || o.Generation <= after.Generation {
		t.Errorf("after SetTags: etag %s mtime %v gen %d; before %s %v %d", o.ETag, o.ModTime, o.Generation, src.ETag, after.ModTime, after.Generation)
	}
	if got := e.get(t, "src", 0, -1); string(got) != "data of src" {
		t.Errorf("content %q", got)
	}

	// A multipart upload keeps the tags it was created with.
	id, err := ns.CreateUploadWith(ctx, "bucket", "mp", gateway.PutOptions{Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	etag, err := ns.UploadPart(ctx, "bucket", "mp", id, 1, bytes.NewReader([]byte("one part")), 8)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ns.CompleteUpload(ctx, "bucket", "mp", id, []gateway.CompletedPart{{Number: 1, ETag: etag}}); err != nil {
		t.Fatal(err)
	}
	if o, err := ns.Object(ctx, "bucket", "mp"); err != nil || !maps.Equal(o.Tags, tags) {
		t.Errorf("multipart object tags %v (%v), want %v", o.Tags, err, tags)
	}

	// Tags and properties keep the object's checksum.
	ck, err := ns.PutObject(ctx, "bucket", "summed", strings.NewReader("summed"), 6, gateway.PutOptions{Checksum: checksum.SHA256})
	if err != nil || ck.Checksum == nil {
		t.Fatalf("put with a checksum: %+v, %v", ck, err)
	}
	for _, change := range []func() (gateway.ObjectInfo, error){
		func() (gateway.ObjectInfo, error) { return ns.SetTags(ctx, "bucket", "summed", other) },
		func() (gateway.ObjectInfo, error) {
			return ns.SetProps(ctx, "bucket", "summed", map[string]string{"{DAV:}x": "y"}, nil)
		},
	} {
		if _, err := change(); err != nil {
			t.Fatal(err)
		}
		if o, err := ns.Object(ctx, "bucket", "summed"); err != nil || o.Checksum == nil || o.Checksum.String() != ck.Checksum.String() {
			t.Errorf("checksum after a change of tags or properties: %+v, %v; want %v", o, err, ck.Checksum)
		}
	}
}

// TestStoredMeta checks which request headers are kept with an object.
func TestStoredMeta(t *testing.T) {
	in := map[string]string{
		"content-type": "text/plain", "Content-Language": "de-CH", "expires": "Thu, 01 Dec 2044 16:00:00 GMT",
		"Cache-Control": "no-cache", "X-Amz-Meta-Color": "blue", "X-Amz-Storage-Class": "STANDARD",
		"X-Amz-Tagging": "a=b", "Authorization": "secret", "Content-Length": "4",
	}
	want := map[string]string{
		"Content-Type": "text/plain", "Content-Language": "de-CH", "Expires": "Thu, 01 Dec 2044 16:00:00 GMT",
		"Cache-Control": "no-cache", "X-Amz-Meta-Color": "blue",
	}
	if got := gateway.StoredMeta(in); !maps.Equal(got, want) {
		t.Errorf("StoredMeta = %v, want %v", got, want)
	}
}

// TestBucketTags checks that a bucket's tags are kept in its record, and
// go with the bucket.
func TestBucketTags(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.ns
	a := map[string]string{"cost-center": "42"}
	b := map[string]string{"env": "prod", "team": "storage"}
	for _, tt := range []struct {
		name string
		set  map[string]string
		want map[string]string
	}{
		{"none yet", nil, nil},
		{"set", a, a},
		{"replace", b, b},
		{"remove", map[string]string{}, nil},
		{"set again", a, a},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name != "none yet" {
				if err := ns.SetBucketTags(ctx, "bucket", tt.set); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ns.BucketTags(ctx, "bucket")
			if err != nil || !maps.Equal(got, tt.want) {
				t.Errorf("BucketTags = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	for _, err := range []error{ns.SetBucketTags(ctx, "missing", a), func() error { _, err := ns.BucketTags(ctx, "missing"); return err }()} {
		if !errors.Is(err, gateway.ErrNoSuchBucket) {
			t.Errorf("missing bucket: %v", err)
		}
	}
	if err := ns.DeleteBucket(ctx, "bucket"); err != nil {
		t.Fatal(err)
	}
	if err := ns.CreateBucket(ctx, "bucket"); err != nil {
		t.Fatal(err)
	}
	if got, err := ns.BucketTags(ctx, "bucket"); err != nil || got != nil {
		t.Errorf("re-created bucket has tags %v (%v)", got, err)
	}
}
