package s3api_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/checksum"
)

// TestPutGetChecksums stores an object with each algorithm's header and
// checks what PUT, GET and HEAD return, with and without
// x-amz-checksum-mode, and for a range.
func TestPutGetChecksums(t *testing.T) {
	_, srv := newServer(t)
	data := "checksummed content"
	mode := map[string]string{"X-Amz-Checksum-Mode": "ENABLED"}
	for _, a := range checksum.Algorithms {
		t.Run(string(a), func(t *testing.T) {
			want := checksum.Encode(a.Sum([]byte(data)))
			key := "/unit/" + string(a)
			r := do(t, srv, "PUT", key, map[string]string{a.Header(): want}, data)
			if r.status != 200 || r.header.Get(a.Header()) != want || r.header.Get("X-Amz-Checksum-Type") != "FULL_OBJECT" {
				t.Fatalf("PUT: %d %v %s", r.status, r.header, r.body)
			}
			for _, m := range []string{"GET", "HEAD"} {
				r := do(t, srv, m, key, mode, "")
				if r.status != 200 || r.header.Get(a.Header()) != want || r.header.Get("X-Amz-Checksum-Type") != "FULL_OBJECT" {
					t.Errorf("%s with checksum mode: %d %q %q", m, r.status, r.header.Get(a.Header()), r.header.Get("X-Amz-Checksum-Type"))
				}
				if r := do(t, srv, m, key, nil, ""); r.header.Get(a.Header()) != "" {
					t.Errorf("%s without checksum mode returned %s", m, a.Header())
				}
			}
			r = do(t, srv, "GET", key, map[string]string{"X-Amz-Checksum-Mode": "ENABLED", "Range": "bytes=0-3"}, "")
			if r.status != 206 || r.header.Get(a.Header()) != "" {
				t.Errorf("ranged GET: %d, checksum %q", r.status, r.header.Get(a.Header()))
			}
			r = do(t, srv, "GET", key+"?attributes", map[string]string{"X-Amz-Object-Attributes": "Checksum"}, "")
			tag := "Checksum" + string(a)
			if want := "<Checksum><" + tag + ">" + want + "</" + tag + "><ChecksumType>FULL_OBJECT</ChecksumType></Checksum>"; r.status != 200 || !strings.Contains(r.body, want) {
				t.Errorf("attributes: %d %s, want %s", r.status, r.body, want)
			}
		})
	}
}

// TestChecksumRefusals checks the answers to wrong and malformed
// checksums, and that nothing is stored.
func TestChecksumRefusals(t *testing.T) {
	_, srv := newServer(t)
	data := "some data"
	for _, tc := range []struct {
		name   string
		header map[string]string
		code   string
		msg    string
	}{
		{"wrong crc32", map[string]string{"x-amz-checksum-crc32": checksum.Encode(checksum.CRC32.Sum([]byte("other")))}, "BadDigest", "The CRC32 you specified did not match the calculated checksum."},
		{"wrong sha256", map[string]string{"x-amz-checksum-sha256": checksum.Encode(checksum.SHA256.Sum([]byte("other")))}, "BadDigest", "The SHA256 you specified did not match the calculated checksum."},
		{"wrong crc64nvme", map[string]string{"x-amz-checksum-crc64nvme": checksum.Encode(checksum.CRC64NVME.Sum([]byte("other")))}, "BadDigest", "The CRC64NVME you specified did not match the calculated checksum."},
		{"malformed", map[string]string{"x-amz-checksum-crc32c": "not base64"}, "InvalidRequest", "Value for x-amz-checksum-crc32c header is invalid."},
		{"wrong length", map[string]string{"x-amz-checksum-sha1": checksum.Encode([]byte{1, 2, 3, 4})}, "InvalidRequest", "Value for x-amz-checksum-sha1 header is invalid."},
		{"two", map[string]string{"x-amz-checksum-crc32": checksum.Encode(checksum.CRC32.Sum([]byte(data))), "x-amz-checksum-sha1": checksum.Encode(checksum.SHA1.Sum([]byte(data)))}, "InvalidRequest", "Multiple checksum Types are not allowed."},
		{"unknown algorithm", map[string]string{"x-amz-checksum-algorithm": "MD5"}, "InvalidRequest", "Checksum algorithm provided is unsupported."},
		{"unknown type", map[string]string{"x-amz-checksum-type": "PARTIAL"}, "InvalidRequest", "Value for x-amz-checksum-type header is invalid."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, srv, "PUT", "/unit/refused", tc.header, data)
			if r.status != 400 || !strings.Contains(r.body, "<Code>"+tc.code+"</Code>") || !strings.Contains(r.body, tc.msg) {
				t.Errorf("PUT: %d %s, want 400 %s %q", r.status, r.body, tc.code, tc.msg)
			}
			if r := do(t, srv, "HEAD", "/unit/refused", nil, ""); r.status != 404 {
				t.Errorf("object stored: HEAD %d", r.status)
			}
		})
	}
}

// TestDefaultAndCopyChecksums checks the default CRC64NVME of a write
// without a checksum, x-amz-checksum-algorithm without a value, and
// copies.
func TestDefaultAndCopyChecksums(t *testing.T) {
	_, srv := newServer(t)
	data := "default checksum"
	mode := map[string]string{"X-Amz-Checksum-Mode": "ENABLED"}
	if r := do(t, srv, "PUT", "/unit/plain", nil, data); r.status != 200 {
		t.Fatal(r.status, r.body)
	}
	want := checksum.Encode(checksum.CRC64NVME.Sum([]byte(data)))
	if r := do(t, srv, "HEAD", "/unit/plain", mode, ""); r.header.Get("X-Amz-Checksum-Crc64nvme") != want {
		t.Errorf("default checksum %q, want %q", r.header.Get("X-Amz-Checksum-Crc64nvme"), want)
	}
	if r := do(t, srv, "PUT", "/unit/named", map[string]string{"X-Amz-Checksum-Algorithm": "sha1"}, data); r.status != 200 {
		t.Fatal(r.status, r.body)
	}
	if r, want := do(t, srv, "HEAD", "/unit/named", mode, ""), checksum.Encode(checksum.SHA1.Sum([]byte(data))); r.header.Get("X-Amz-Checksum-Sha1") != want {
		t.Errorf("named algorithm: %v, want sha1 %s", r.header, want)
	}
	for _, tc := range []struct {
		alg  string
		want checksum.Algorithm
	}{{"", checksum.SHA1}, {"CRC32", checksum.CRC32}} {
		h := map[string]string{"X-Amz-Copy-Source": "/unit/named"}
		if tc.alg != "" {
			h["X-Amz-Checksum-Algorithm"] = tc.alg
		}
		if r := do(t, srv, "PUT", "/unit/copy", h, ""); r.status != 200 {
			t.Fatal(r.status, r.body)
		}
		r := do(t, srv, "GET", "/unit/copy", mode, "")
		if want := checksum.Encode(tc.want.Sum([]byte(data))); r.header.Get(tc.want.Header()) != want || r.body != data {
			t.Errorf("copy with %q: %v, want %s %s", tc.alg, r.header, tc.want.Header(), want)
		}
	}
}

// TestMultipartChecksumsS3 runs multipart uploads with checksums through
// raw requests: composite SHA256, full-object CRC32 and the refusals.
func TestMultipartChecksumsS3(t *testing.T) {
	_, srv := newServer(t)
	p1 := strings.Repeat("x", gateway.MinPartSize)
	p2 := "last part"
	for _, tc := range []struct {
		alg  checksum.Algorithm
		typ  string
		want checksum.Checksum
	}{
		{checksum.SHA256, "", checksum.CompositeOf(checksum.SHA256, [][]byte{checksum.SHA256.Sum([]byte(p1)), checksum.SHA256.Sum([]byte(p2))})},
		{checksum.CRC32, "FULL_OBJECT", checksum.Checksum{Algorithm: checksum.CRC32, Type: checksum.FullObject, Sum: checksum.CRC32.Sum([]byte(p1 + p2))}},
	} {
		t.Run(string(tc.alg), func(t *testing.T) {
			key := "/unit/mp-" + string(tc.alg)
			h := map[string]string{"X-Amz-Checksum-Algorithm": string(tc.alg)}
			if tc.typ != "" {
				h["X-Amz-Checksum-Type"] = tc.typ
			}
			r := do(t, srv, "POST", key+"?uploads", h, "")
			if r.status != 200 || r.header.Get("X-Amz-Checksum-Algorithm") != string(tc.alg) || r.header.Get("X-Amz-Checksum-Type") != string(tc.want.Type) {
				t.Fatalf("create: %d %v %s", r.status, r.header, r.body)
			}
			id := between(r.body, "<UploadId>", "</UploadId>")
			var parts []string
			for i, p := range []string{p1, p2} {
				sum := checksum.Encode(tc.alg.Sum([]byte(p)))
				r := do(t, srv, "PUT", fmt.Sprintf("%s?partNumber=%d&uploadId=%s", key, i+1, id), map[string]string{tc.alg.Header(): sum}, p)
				if r.status != 200 || r.header.Get(tc.alg.Header()) != sum {
					t.Fatalf("part %d: %d %v %s", i+1, r.status, r.header, r.body)
				}
				parts = append(parts, fmt.Sprintf("<Part><PartNumber>%d</PartNumber><ETag>%s</ETag><Checksum%s>%s</Checksum%s></Part>", i+1, r.header.Get("ETag"), tc.alg, sum, tc.alg))
			}
			other := checksum.SHA1
			if r := do(t, srv, "PUT", fmt.Sprintf("%s?partNumber=3&uploadId=%s", key, id), map[string]string{other.Header(): checksum.Encode(other.Sum([]byte("x")))}, "x"); r.status != 400 || !strings.Contains(r.body, "Checksum Type mismatch occurred") {
				t.Errorf("part of another algorithm: %d %s", r.status, r.body)
			}
			r = do(t, srv, "GET", key+"?uploadId="+id, nil, "")
			if wantEl := fmt.Sprintf("<Checksum%s>%s</Checksum%s>", tc.alg, checksum.Encode(tc.alg.Sum([]byte(p2))), tc.alg); !strings.Contains(r.body, wantEl) || !strings.Contains(r.body, "<ChecksumAlgorithm>"+string(tc.alg)+"</ChecksumAlgorithm>") {
				t.Errorf("ListParts lacks %s: %s", wantEl, r.body)
			}
			bad := strings.Replace(parts[1], checksum.Encode(tc.alg.Sum([]byte(p2))), checksum.Encode(tc.alg.Sum([]byte("nope"))), 1)
			r = do(t, srv, "POST", key+"?uploadId="+id, nil, "<CompleteMultipartUpload>"+parts[0]+bad+"</CompleteMultipartUpload>")
			if r.status != 400 || !strings.Contains(r.body, "InvalidPart") {
				t.Errorf("complete with a wrong part checksum: %d %s", r.status, r.body)
			}
			r = do(t, srv, "POST", key+"?uploadId="+id, map[string]string{tc.alg.Header(): checksum.Encode(tc.alg.Sum([]byte("nope")))}, "<CompleteMultipartUpload>"+parts[0]+parts[1]+"</CompleteMultipartUpload>")
			if r.status != 400 || !strings.Contains(r.body, "BadDigest") {
				t.Errorf("complete with a wrong object checksum: %d %s", r.status, r.body)
			}
			r = do(t, srv, "POST", key+"?uploadId="+id, map[string]string{tc.alg.Header(): tc.want.String()}, "<CompleteMultipartUpload>"+parts[0]+parts[1]+"</CompleteMultipartUpload>")
			wantEl := fmt.Sprintf("<Checksum%s>%s</Checksum%s><ChecksumType>%s</ChecksumType>", tc.alg, tc.want, tc.alg, tc.want.Type)
			if r.status != 200 || !strings.Contains(r.body, wantEl) || !strings.Contains(r.body, "<ETag>&#34;") {
				t.Fatalf("complete: %d %s, want %s", r.status, r.body, wantEl)
			}
			r = do(t, srv, "HEAD", key, map[string]string{"X-Amz-Checksum-Mode": "ENABLED"}, "")
			if r.header.Get(tc.alg.Header()) != tc.want.String() || r.header.Get("X-Amz-Checksum-Type") != string(tc.want.Type) {
				t.Errorf("HEAD: %v, want %s", r.header, tc.want)
			}
			r = do(t, srv, "GET", key+"?attributes", map[string]string{"X-Amz-Object-Attributes": "Checksum,ObjectParts"}, "")
			if want := fmt.Sprintf("<Checksum%s>%s</Checksum%s>", tc.alg, checksum.Encode(tc.want.Sum), tc.alg); !strings.Contains(r.body, want) || !strings.Contains(r.body, "<ChecksumType>"+string(tc.want.Type)) {
				t.Errorf("attributes: %s, want %s", r.body, want)
			}
		})
	}
	for _, h := range []map[string]string{
		{"X-Amz-Checksum-Algorithm": "SHA256", "X-Amz-Checksum-Type": "FULL_OBJECT"},
		{"X-Amz-Checksum-Algorithm": "CRC64NVME", "X-Amz-Checksum-Type": "COMPOSITE"},
		{"X-Amz-Checksum-Type": "COMPOSITE"},
	} {
		if r := do(t, srv, "POST", "/unit/refused?uploads", h, ""); r.status != 400 || !strings.Contains(r.body, "InvalidRequest") {
			t.Errorf("create with %v: %d %s", h, r.status, r.body)
		}
	}
}

// between returns the text of s between from and to.
func between(s, from, to string) string {
	_, rest, _ := strings.Cut(s, from)
	v, _, _ := strings.Cut(rest, to)
	return v
}

// TestMinioTrailingChecksums uploads with minio-go's trailing checksums
// (aws-chunked with x-amz-trailer), single and multipart, and reads the
// stored checksum back with StatObject's checksum mode.
func TestMinioTrailingChecksums(t *testing.T) {
	_, srv := newServer(t)
	ctx := context.Background()
	c, err := minio.New(strings.TrimPrefix(srv.URL, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(accessKey, secretKey, ""), Region: "us-east-1", MaxRetries: 1, TrailingHeaders: true})
	if err != nil {
		t.Fatal(err)
	}
	small := []byte("trailing checksum content")
	for _, tc := range []struct {
		mc  minio.ChecksumType
		alg checksum.Algorithm
	}{
		{minio.ChecksumCRC32, checksum.CRC32}, {minio.ChecksumCRC32C, checksum.CRC32C}, {minio.ChecksumCRC64NVME, checksum.CRC64NVME},
		{minio.ChecksumSHA1, checksum.SHA1}, {minio.ChecksumSHA256, checksum.SHA256},
	} {
		key := "trl-" + string(tc.alg)
		if _, err := c.PutObject(ctx, "unit", key, bytes.NewReader(small), int64(len(small)), minio.PutObjectOptions{Checksum: tc.mc}); err != nil {
			t.Fatalf("%s: %v", tc.alg, err)
		}
		st, err := c.StatObject(ctx, "unit", key, minio.StatObjectOptions{Checksum: true})
		if err != nil {
			t.Fatal(err)
		}
		got := map[checksum.Algorithm]string{checksum.CRC32: st.ChecksumCRC32, checksum.CRC32C: st.ChecksumCRC32C,
			checksum.CRC64NVME: st.ChecksumCRC64NVME, checksum.SHA1: st.ChecksumSHA1, checksum.SHA256: st.ChecksumSHA256}[tc.alg]
		if want := checksum.Encode(tc.alg.Sum(small)); got != want {
			t.Errorf("%s: stat checksum %q, want %q", tc.alg, got, want)
		}
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), (2*gateway.MinPartSize+100)/16)
	for _, mc := range []minio.ChecksumType{minio.ChecksumCRC32C, minio.ChecksumFullObjectCRC32, minio.ChecksumCRC64NVME} {
		key := "trl-mp-" + mc.String()
		up, err := c.PutObject(ctx, "unit", key, bytes.NewReader(big), int64(len(big)),
			minio.PutObjectOptions{Checksum: mc, PartSize: gateway.MinPartSize})
		if err != nil {
			t.Fatalf("%s multipart: %v", mc, err)
		}
		st, err := c.StatObject(ctx, "unit", key, minio.StatObjectOptions{Checksum: true})
		if err != nil {
			t.Fatal(err)
		}
		var want, got string
		switch mc {
		case minio.ChecksumCRC32C:
			var sums [][]byte
			for off := 0; off < len(big); off += gateway.MinPartSize {
				sums = append(sums, checksum.CRC32C.Sum(big[off:min(off+gateway.MinPartSize, len(big))]))
			}
			want, got = checksum.CompositeOf(checksum.CRC32C, sums).String(), st.ChecksumCRC32C
		case minio.ChecksumFullObjectCRC32:
			want, got = checksum.Encode(checksum.CRC32.Sum(big)), st.ChecksumCRC32
		default:
			want, got = checksum.Encode(checksum.CRC64NVME.Sum(big)), st.ChecksumCRC64NVME
		}
		if got != want {
			t.Errorf("%s multipart: stat %q, want %q (upload answered %+v)", mc, got, want, up)
		}
	}
}

// TestPostChecksum checks browser uploads with a checksum field: a
// matching one is stored, a wrong one refused with BadDigest and nothing
// stored, x-amz-checksum-algorithm alone computed.
func TestPostChecksum(t *testing.T) {
	_, srv := newServer(t)
	exp := time.Now().Add(time.Hour)
	data := []byte("posted with a checksum")
	mode := map[string]string{"X-Amz-Checksum-Mode": "ENABLED"}
	for _, tc := range []struct {
		key, name, value string
		status           int
		header, want     string
	}{
		{"ok", "x-amz-checksum-sha256", checksum.Encode(checksum.SHA256.Sum(data)), 204, "X-Amz-Checksum-Sha256", checksum.Encode(checksum.SHA256.Sum(data))},
		{"wrong", "x-amz-checksum-crc32", checksum.Encode(checksum.CRC32.Sum([]byte("x"))), 400, "", "BadDigest"},
		{"malformed", "x-amz-checksum-crc32", "!", 400, "", "InvalidRequest"},
		{"named", "x-amz-checksum-algorithm", "CRC32C", 204, "X-Amz-Checksum-Crc32c", checksum.Encode(checksum.CRC32C.Sum(data))},
	} {
		fields := policyFields(t, secretKey, exp, []any{map[string]string{"bucket": "unit"}, []any{"starts-with", "$key", "p/"}, map[string]string{tc.name: tc.value}},
			field{"key", "p/" + tc.key}, field{tc.name, tc.value})
		r := post(t, srv, "/unit", fields, "f", data, "")
		if r.status != tc.status {
			t.Errorf("%s: %d %s", tc.key, r.status, r.body)
			continue
		}
		h := do(t, srv, "HEAD", "/unit/p/"+tc.key, mode, "")
		if tc.status != 204 {
			if !strings.Contains(r.body, "<Code>"+tc.want+"</Code>") || h.status != 404 {
				t.Errorf("%s: %s, HEAD %d", tc.key, r.body, h.status)
			}
			continue
		}
		if h.header.Get(tc.header) != tc.want {
			t.Errorf("%s: stored %v, want %s %s", tc.key, h.header, tc.header, tc.want)
		}
	}
}
