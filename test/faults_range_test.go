package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

// TestFaultTruncatedRange truncates the copy of a blob on the provider that
// reads go to first and reads ranges beyond and across the cut over S3 and
// WebDAV. The other provider is intact, so every range must be served in
// full (206 with the right bytes), the short copy must be queued for
// repair, and repair must leave a deep scrub with nothing to report.
func TestFaultTruncatedRange(t *testing.T) {
	// local0 is read first.
	g := StartGateway(t, Setup{Local: 2, Priority: []int{0, 1}})
	ctx := context.Background()
	c := faultClient(t, g)
	const bucket = "ranges"
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	dirs := g.blobDirs()
	// Five chunks; the copy is cut inside the second.
	const size = 300 << 10
	cut := int64(sealHeaderSize + sealChunkBytes + 1000)
	tests := []struct {
		name     string
		front    string // "s3" or "webdav"
		from, to int64  // inclusive byte range; from -1: the last to bytes
	}{
		{"s3 beyond the cut", "s3", 200000, 250000},
		{"s3 across the cut", "s3", 60000, 140000},
		{"s3 from the last chunk to the end", "s3", 4 << 16, size - 1},
		{"s3 suffix", "s3", -1, 5000},
		{"webdav beyond the cut", "webdav", 200000, 250000},
		{"webdav across the cut", "webdav", 60000, 140000},
		{"webdav suffix", "webdav", -1, 5000},
	}
	var cutBlobs []string
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("object-%d", i)
			data := faultData(size, uint64(100+i))
			before := blobNames(t, dirs[0])
			if _, err := c.PutObject(ctx, bucket, key, bytes.NewReader(data), size, minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
			var blob string
			for _, b := range blobNames(t, dirs[0]) {
				if !slices.Contains(before, b) {
					blob = b
				}
			}
			if blob == "" {
				t.Fatalf("no new blob for %s", key)
			}
			if err := os.Truncate(filepath.Join(dirs[0], blob), cut); err != nil {
				t.Fatal(err)
			}
			cutBlobs = append(cutBlobs, blob)

			from, to := tc.from, tc.to
			rangeHdr := fmt.Sprintf("bytes=%d-%d", from, to)
			if from < 0 {
				from, to = size-tc.to, size-1
				rangeHdr = fmt.Sprintf("bytes=-%d", tc.to)
			}
			want := data[from : to+1]
			var status int
			var got []byte
			switch tc.front {
			case "s3":
				var opts minio.GetObjectOptions
				opts.Set("Range", rangeHdr)
				o, err := c.GetObject(ctx, bucket, key, opts)
				if err != nil {
					t.Fatal(err)
				}
				got, err = io.ReadAll(o)
				o.Close()
				if err != nil {
					t.Fatalf("S3 GET %s of %s with one copy cut at %d: %v after %d bytes", rangeHdr, key, cut, err, len(got))
				}
				status = http.StatusPartialContent
			case "webdav":
				resp, b := NewDAV(t, g).Do("GET", "/"+bucket+"/"+key, nil, "Range", rangeHdr)
				status, got = resp.StatusCode, b
			}
			if status != http.StatusPartialContent || !bytes.Equal(got, want) {
				t.Fatalf("%s GET %s with one copy cut at %d: status %d, %d bytes (want 206, %d bytes, equal: %v)",
					tc.front, rangeHdr, cut, status, len(got), len(want), bytes.Equal(got, want))
			}
		})
	}

	// Every read met the cut copy and queued it for repair; the serve log
	// names the member and the blob. The log reaches the test through a
	// pipe, so it is polled for.
	queued := func(out string) (missing []string) {
		for _, blob := range cutBlobs {
			if !strings.Contains(out, `msg="replica member needs repair" member=local0 name=b/`+filepath.Base(blob)) {
				missing = append(missing, blob)
			}
		}
		return missing
	}
	out := g.WaitOutput(func(out string) bool { return len(queued(out)) == 0 })
	if len(queued(out)) > 0 {
		t.Errorf("no repair queued for local0's copy of %v:\n%s", queued(out), out)
	}
	g.Stop()
	if t.Failed() {
		return
	}
	// The serve process's repairer may have healed some copies already
	// (it runs every 30 s); scrub finds the others by their size, repair
	// heals them, after which a deep scrub finds nothing.
	out, _ = g.Run("scrub", "-c", g.Config)
	if n := faultNumber(t, out, "problems:"); n > len(cutBlobs) {
		t.Errorf("scrub reported %d problems, more than the %d cut copies:\n%s", n, len(cutBlobs), out)
	}
	t.Logf("scrub: problems: %d; %s", faultNumber(t, out, "problems:"), regexp.MustCompile(`(?m)^.*local0:.*$`).FindString(out))
	out = g.mustRun(t, 0, "repair", "-c", g.Config)
	t.Logf("repair: %s", strings.Join(strings.Fields(firstLine(out)), " "))
	if out := g.mustRun(t, 0, "scrub", "-c", g.Config, "--deep"); faultNumber(t, out, "problems:") != 0 {
		t.Fatalf("deep scrub after repair:\n%s", out)
	}
}
