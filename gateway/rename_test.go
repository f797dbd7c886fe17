package gateway_test

import (
	"context"
	"strings"
	"testing"

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
