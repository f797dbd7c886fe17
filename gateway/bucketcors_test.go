package gateway_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/twincrypt/twincrypt/gateway"
)

// TestBucketCORS checks that a bucket's CORS rules are kept in its
// record beside its tags, and go with the bucket.
func TestBucketCORS(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.ns
	age := 300
	rules := []gateway.CORSRule{
		{ID: "web", AllowedOrigins: []string{"https://app.example"}, AllowedMethods: []string{"GET", "PUT"},
			AllowedHeaders: []string{"*"}, ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: &age},
		{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"HEAD"}},
	}
	if got, err := ns.BucketCORS(ctx, "bucket"); err != nil || got != nil {
		t.Fatalf("new bucket: %v, %v", got, err)
	}
	if err := ns.SetBucketTags(ctx, "bucket", map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	if err := ns.SetBucketCORS(ctx, "bucket", rules); err != nil {
		t.Fatal(err)
	}
	if got, err := ns.BucketCORS(ctx, "bucket"); err != nil || !reflect.DeepEqual(got, rules) {
		t.Errorf("BucketCORS = %+v, %v; want %+v", got, err, rules)
	}
	if tags, err := ns.BucketTags(ctx, "bucket"); err != nil || tags["a"] != "b" {
		t.Errorf("tags after SetBucketCORS: %v %v", tags, err)
	}
	if err := ns.SetBucketTags(ctx, "bucket", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := ns.BucketCORS(ctx, "bucket"); err != nil || len(got) != 2 {
		t.Errorf("rules after SetBucketTags: %v %v", got, err)
	}
	if err := ns.SetBucketCORS(ctx, "bucket", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := ns.BucketCORS(ctx, "bucket"); err != nil || got != nil {
		t.Errorf("after removal: %v %v", got, err)
	}
	if err := ns.SetBucketCORS(ctx, "missing", rules); !errors.Is(err, gateway.ErrNoSuchBucket) {
		t.Errorf("missing bucket: %v", err)
	}
	if err := ns.SetBucketCORS(ctx, "bucket", rules); err != nil {
		t.Fatal(err)
	}
	if err := ns.DeleteBucket(ctx, "bucket"); err != nil {
		t.Fatal(err)
	}
	if err := ns.CreateBucket(ctx, "bucket"); err != nil {
		t.Fatal(err)
	}
	if got, err := ns.BucketCORS(ctx, "bucket"); err != nil || got != nil {
		t.Errorf("re-created bucket has rules %v (%v)", got, err)
	}
}
