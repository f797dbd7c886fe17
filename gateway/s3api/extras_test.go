package s3api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/signer"
)

// response is a raw response, read whole.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request signed with the test user's keys.
func do(t *testing.T, srv *httptest.Server, method, path string, header map[string]string, body string) response {
	t.Helper()
	return doAs(t, srv, accessKey, secretKey, method, path, header, body)
}

// doAs sends a request signed with the given keys.
func doAs(t *testing.T, srv *httptest.Server, accessKey, secretKey, method, path string, header map[string]string, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256([]byte(body))
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	req = signer.SignV4(*req, accessKey, secretKey, "", "us-east-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: compact(string(b))}
}

// compact removes the white space between XML elements.
func compact(s string) string {
	for _, ws := range []string{">\n", "> "} {
		for strings.Contains(s, ws) {
			s = strings.ReplaceAll(s, ws, ">")
		}
	}
	return s
}

// TestListUploadsEmptyBucket checks that a bucket without uploads since
// the gateway started lists none instead of answering NoSuchUpload.
func TestListUploadsEmptyBucket(t *testing.T) {
	_, srv := newServer(t)
	for _, tt := range []struct {
		path       string
		wantStatus int
		want       string
	}{
		{"/unit?uploads", 200, "<ListMultipartUploadsResult"},
		{"/unit?uploads&prefix=a%2F&max-uploads=5", 200, "<MaxUploads>5</MaxUploads>"},
		{"/missing?uploads", 404, "NoSuchBucket"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			r := do(t, srv, "GET", tt.path, nil, "")
			if r.status != tt.wantStatus || !strings.Contains(r.body, tt.want) || strings.Contains(r.body, "<Upload>") {
				t.Errorf("status %d, body %s", r.status, r.body)
			}
		})
	}
	// Once the bucket has an upload, the listing shows it.
	r := do(t, srv, "POST", "/unit/k?uploads", nil, "")
	if r.status != 200 {
		t.Fatalf("create upload: %d %s", r.status, r.body)
	}
	if r := do(t, srv, "GET", "/unit?uploads", nil, ""); r.status != 200 || !strings.Contains(r.body, "<Key>k</Key>") {
		t.Errorf("listing with an upload: %d %s", r.status, r.body)
	}
}

// TestHeadRange checks that HEAD with a Range header answers as the ranged
// GET does.
func TestHeadRange(t *testing.T) {
	c, srv := newServer(t)
	data := bytes.Repeat([]byte("0123456789"), 100)
	if _, err := c.PutObject(context.Background(), "unit", "obj", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		rng        string
		status     int
		length, cr string
	}{
		{"", 200, "1000", ""},
		{"bytes=0-9", 206, "10", "bytes 0-9/1000"},
		{"bytes=990-", 206, "10", "bytes 990-999/1000"},
		{"bytes=-5", 206, "5", "bytes 995-999/1000"},
		{"bytes=500-2000", 206, "500", "bytes 500-999/1000"},
		{"bytes=1000-", 416, "", "bytes */1000"},
	} {
		t.Run(tt.rng, func(t *testing.T) {
			h := map[string]string{}
			if tt.rng != "" {
				h["Range"] = tt.rng
			}
			head := do(t, srv, "HEAD", "/unit/obj", h, "")
			if head.status != tt.status || head.header.Get("Content-Range") != tt.cr || (tt.length != "" && head.header.Get("Content-Length") != tt.length) {
				t.Errorf("HEAD: %d, Content-Length %q, Content-Range %q; want %d %q %q", head.status,
					head.header.Get("Content-Length"), head.header.Get("Content-Range"), tt.status, tt.length, tt.cr)
			}
			if tt.status == 416 {
				return
			}
			get := do(t, srv, "GET", "/unit/obj", h, "")
			if get.status != head.status || get.header.Get("Content-Range") != head.header.Get("Content-Range") ||
				get.header.Get("Content-Length") != head.header.Get("Content-Length") {
				t.Errorf("GET answers %d %q %q, HEAD %d %q %q", get.status, get.header.Get("Content-Length"), get.header.Get("Content-Range"),
					head.status, head.header.Get("Content-Length"), head.header.Get("Content-Range"))
			}
		})
	}
}

// TestMultipartAttributes checks GetObjectAttributes and partNumber reads
// of an object completed from one part and of a single-part object.
func TestMultipartAttributes(t *testing.T) {
	c, srv := newServer(t)
	ctx := context.Background()
	core := minio.Core{Client: c}
	id, err := core.NewMultipartUpload(ctx, "unit", "mp1", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	part, err := core.PutObjectPart(ctx, "unit", "mp1", id, 1, strings.NewReader("only part"), 9, minio.PutObjectPartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	up, err := core.CompleteMultipartUpload(ctx, "unit", "mp1", id, []minio.CompletePart{{PartNumber: 1, ETag: part.ETag}}, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(up.ETag, "-1") {
		t.Fatalf("ETag %q", up.ETag)
	}
	if _, err := c.PutObject(ctx, "unit", "single", strings.NewReader("single part"), 11, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	attrs := map[string]string{"X-Amz-Object-Attributes": "ETag,ObjectParts,ObjectSize,StorageClass"}
	for _, tt := range []struct {
		key       string
		want      []string
		notWant   string
		partCount string // x-amz-mp-parts-count of GET and HEAD ?partNumber=1
		status    int
	}{
		{"mp1", []string{"<ETag>" + strings.Trim(up.ETag, `"`) + "</ETag>", "<PartsCount>1</PartsCount>", "<Size>9</Size>", "<StorageClass>STANDARD</StorageClass>", "<ObjectSize>9</ObjectSize>"}, "", "1", 206},
		{"single", []string{"<ObjectSize>11</ObjectSize>", "<StorageClass>STANDARD</StorageClass>"}, "ObjectParts", "", 200},
	} {
		t.Run(tt.key, func(t *testing.T) {
			r := do(t, srv, "GET", "/unit/"+tt.key+"?attributes", attrs, "")
			if r.status != 200 {
				t.Fatalf("attributes: %d %s", r.status, r.body)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.body, w) {
					t.Errorf("attributes lack %s: %s", w, r.body)
				}
			}
			if tt.notWant != "" && strings.Contains(r.body, tt.notWant) {
				t.Errorf("attributes have %s: %s", tt.notWant, r.body)
			}
			for _, m := range []string{"GET", "HEAD"} {
				r := do(t, srv, m, "/unit/"+tt.key+"?partNumber=1", nil, "")
				if r.status != tt.status || r.header.Get("X-Amz-Mp-Parts-Count") != tt.partCount {
					t.Errorf("%s partNumber=1: %d, parts count %q; want %d %q", m, r.status, r.header.Get("X-Amz-Mp-Parts-Count"), tt.status, tt.partCount)
				}
			}
		})
	}
	if r := do(t, srv, "GET", "/unit/single?attributes", map[string]string{"X-Amz-Object-Attributes": "Bogus"}, ""); r.status != 400 || !strings.Contains(r.body, "InvalidArgument") {
		t.Errorf("bogus attribute: %d %s", r.status, r.body)
	}
	if r := do(t, srv, "GET", "/unit/nokey?attributes", attrs, ""); r.status != 404 || !strings.Contains(r.body, "NoSuchKey") {
		t.Errorf("missing key: %d %s", r.status, r.body)
	}
}

// TestStoredHeadersAndStorageClass checks Content-Language and Expires are
// kept and returned, and which storage classes a write may name.
func TestStoredHeadersAndStorageClass(t *testing.T) {
	_, srv := newServer(t)
	for _, tt := range []struct {
		class  string
		status int
		code   string
	}{
		{"", 200, ""},
		{"STANDARD", 200, ""},
		{"REDUCED_REDUNDANCY", 200, ""},
		{"GLACIER", 400, "InvalidStorageClass"},
		{"STANDARD_IA", 400, "InvalidStorageClass"},
		{"NO_SUCH_CLASS", 400, "InvalidStorageClass"},
	} {
		t.Run("class "+tt.class, func(t *testing.T) {
			h := map[string]string{"Content-Language": "de-CH", "Expires": "Thu, 01 Dec 2044 16:00:00 GMT"}
			if tt.class != "" {
				h["X-Amz-Storage-Class"] = tt.class
			}
			key := "/unit/obj-" + tt.class
			for _, req := range []struct{ method, path string }{{"PUT", key}, {"POST", key + "?uploads"}, {"PUT", key + "-copy"}} {
				hh := h
				if req.path == key+"-copy" {
					hh = map[string]string{"X-Amz-Copy-Source": "/unit/obj-", "X-Amz-Storage-Class": tt.class}
					if tt.class == "" {
						continue
					}
				}
				body := ""
				if req.method == "PUT" && req.path == key {
					body = "data"
				}
				r := do(t, srv, req.method, req.path, hh, body)
				if r.status != tt.status || (tt.code != "" && !strings.Contains(r.body, tt.code)) {
					t.Errorf("%s %s: %d %s", req.method, req.path, r.status, r.body)
				}
			}
			if tt.status != 200 {
				return
			}
			r := do(t, srv, "HEAD", key, nil, "")
			if r.header.Get("Content-Language") != "de-CH" || r.header.Get("Expires") != "Thu, 01 Dec 2044 16:00:00 GMT" || r.header.Get("X-Amz-Storage-Class") != "" {
				t.Errorf("HEAD headers %v", r.header)
			}
		})
	}
	r := do(t, srv, "GET", "/unit?list-type=2", nil, "")
	if n := strings.Count(r.body, "<StorageClass>STANDARD</StorageClass>"); n != strings.Count(r.body, "<Key>") || n == 0 {
		t.Errorf("listing: %s", r.body)
	}
}

// tagXML returns a Tagging body with the given key=value pairs.
func tagXML(pairs ...string) string {
	var b strings.Builder
	b.WriteString(`<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>`)
	for _, p := range pairs {
		k, v, _ := strings.Cut(p, "=")
		fmt.Fprintf(&b, "<Tag><Key>%s</Key><Value>%s</Value></Tag>", k, v)
	}
	b.WriteString("</TagSet></Tagging>")
	return b.String()
}

func manyTags(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("k%d=v%d", i, i))
	}
	return out
}

// TestObjectTagging checks PutObjectTagging, GetObjectTagging,
// DeleteObjectTagging, x-amz-tagging on writes and the tagging directive
// of copies, with S3's limits and errors.
func TestObjectTagging(t *testing.T) {
	_, srv := newServer(t)
	if r := do(t, srv, "PUT", "/unit/obj", nil, "data"); r.status != 200 {
		t.Fatal(r.status, r.body)
	}
	for _, tt := range []struct {
		name   string
		body   string
		status int
		code   string
		msg    string
	}{
		{"two tags", tagXML("project=apollo", "tier=gold"), 200, "", ""},
		{"ten tags", tagXML(manyTags(10)...), 200, "", ""},
		{"no tags", tagXML(), 200, "", ""},
		{"longest key and value, in characters", tagXML(strings.Repeat("é", 128) + "=" + strings.Repeat("ü", 256)), 200, "", ""},
		{"allowed characters", tagXML("a b_c.d:e/f=g+h-i@j=x y"), 200, "", ""},
		{"eleven tags", tagXML(manyTags(11)...), 400, "BadRequest", "Object tags cannot be greater than 10"},
		{"duplicate key", tagXML("a=1", "a=2"), 400, "InvalidTag", "Cannot provide multiple Tags with the same key"},
		{"key too long", tagXML(strings.Repeat("k", 129) + "=v"), 400, "InvalidTag", "The TagKey you have provided is too long, max 128"},
		{"value too long", tagXML("k=" + strings.Repeat("v", 257)), 400, "InvalidTag", "The TagValue you have provided is too long, max 256"},
		{"aws: prefix", tagXML("aws:cloudformation=x"), 400, "InvalidTag", "Your TagKey cannot be prefixed with aws:"},
		{"empty key", tagXML("=v"), 400, "InvalidTag", "The TagKey you have provided is invalid"},
		{"invalid character", tagXML("k=v*"), 400, "InvalidTag", "The TagValue you have provided is invalid"},
		{"not XML", "<Tagging>", 400, "MalformedXML", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := do(t, srv, "GET", "/unit/obj?tagging", nil, "")
			r := do(t, srv, "PUT", "/unit/obj?tagging", nil, tt.body)
			if r.status != tt.status || !strings.Contains(r.body, tt.code) || !strings.Contains(r.body, tt.msg) {
				t.Fatalf("PUT ?tagging: %d %s", r.status, r.body)
			}
			after := do(t, srv, "GET", "/unit/obj?tagging", nil, "")
			if tt.status != 200 {
				if after.body != before.body {
					t.Errorf("refused tags changed the tag set: %s", after.body)
				}
				return
			}
			if after.status != 200 || strings.Count(after.body, "<Tag>") != strings.Count(tt.body, "<Tag>") {
				t.Errorf("GET ?tagging: %d %s", after.status, after.body)
			}
		})
	}
	// The body of PutObjectTagging is verified like any other.
	if r := do(t, srv, "PUT", "/unit/obj?tagging", map[string]string{"Content-Md5": "1B2M2Y8AsgTpgAmY7PhCfg=="}, tagXML("x=y")); r.status != 400 || !strings.Contains(r.body, "BadDigest") {
		t.Errorf("PUT ?tagging with a wrong Content-MD5: %d %s", r.status, r.body)
	}
	do(t, srv, "PUT", "/unit/obj?tagging", nil, tagXML("project=apollo"))
	if r := do(t, srv, "GET", "/unit/obj", nil, ""); r.body != "data" || r.header.Get("X-Amz-Tagging-Count") != "1" {
		t.Errorf("GET after tagging: %q, tagging count %q", r.body, r.header.Get("X-Amz-Tagging-Count"))
	}
	if r := do(t, srv, "DELETE", "/unit/obj?tagging", nil, ""); r.status != 204 {
		t.Errorf("DELETE ?tagging: %d %s", r.status, r.body)
	}
	if r := do(t, srv, "GET", "/unit/obj?tagging", nil, ""); r.status != 200 || strings.Contains(r.body, "<Tag>") || !strings.Contains(r.body, "<TagSet></TagSet>") {
		t.Errorf("GET ?tagging after DELETE: %d %s", r.status, r.body)
	}
	if r := do(t, srv, "GET", "/unit/obj", nil, ""); r.body != "data" {
		t.Errorf("content after DELETE ?tagging: %q", r.body)
	}
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		if r := do(t, srv, m, "/unit/nokey?tagging", nil, tagXML("a=b")); r.status != 404 || !strings.Contains(r.body, "NoSuchKey") {
			t.Errorf("%s ?tagging of a missing key: %d %s", m, r.status, r.body)
		}
	}
	if r := do(t, srv, "GET", "/nobucket/k?tagging", nil, ""); r.status != 404 || !strings.Contains(r.body, "NoSuchBucket") {
		t.Errorf("GET ?tagging in a missing bucket: %d %s", r.status, r.body)
	}

	// x-amz-tagging on writes, and copies.
	eleven := strings.Join(manyTags(11), "&")
	for _, tt := range []struct {
		name     string
		method   string
		path     string
		header   map[string]string
		status   int
		code     string
		tagsOf   string // key whose tags to check afterwards
		wantTags []string
	}{
		{"put with tags", "PUT", "/unit/src", map[string]string{"X-Amz-Tagging": "project=apollo&tier=gold"}, 200, "", "src", []string{"<Key>project</Key><Value>apollo</Value>", "<Key>tier</Key>"}},
		{"put with eleven tags", "PUT", "/unit/bad", map[string]string{"X-Amz-Tagging": eleven}, 400, "BadRequest", "", nil},
		{"put with an aws: tag", "PUT", "/unit/bad", map[string]string{"X-Amz-Tagging": "aws%3Ax=1"}, 400, "InvalidTag", "", nil},
		{"upload with tags", "POST", "/unit/mp?uploads", map[string]string{"X-Amz-Tagging": "a=b"}, 200, "", "", nil},
		{"copy keeps tags", "PUT", "/unit/copy", map[string]string{"X-Amz-Copy-Source": "/unit/src"}, 200, "", "copy", []string{"<Key>project</Key>", "<Key>tier</Key>"}},
		{"copy with COPY directive", "PUT", "/unit/copy2", map[string]string{"X-Amz-Copy-Source": "/unit/src", "X-Amz-Tagging-Directive": "COPY", "X-Amz-Tagging": "x=y"}, 200, "", "copy2", []string{"<Key>project</Key>", "<Key>tier</Key>"}},
		{"copy with REPLACE directive", "PUT", "/unit/copy3", map[string]string{"X-Amz-Copy-Source": "/unit/src", "X-Amz-Tagging-Directive": "REPLACE", "X-Amz-Tagging": "x=y"}, 200, "", "copy3", []string{"<Key>x</Key><Value>y</Value>"}},
		{"copy with REPLACE and no tags", "PUT", "/unit/copy4", map[string]string{"X-Amz-Copy-Source": "/unit/src", "X-Amz-Tagging-Directive": "REPLACE"}, 200, "", "copy4", nil},
		{"copy with an unknown directive", "PUT", "/unit/copy5", map[string]string{"X-Amz-Copy-Source": "/unit/src", "X-Amz-Tagging-Directive": "MERGE"}, 400, "InvalidArgument", "", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := ""
			if tt.method == "PUT" && tt.header["X-Amz-Copy-Source"] == "" {
				body = "content"
			}
			r := do(t, srv, tt.method, tt.path, tt.header, body)
			if r.status != tt.status || !strings.Contains(r.body, tt.code) {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if tt.tagsOf == "" {
				return
			}
			g := do(t, srv, "GET", "/unit/"+tt.tagsOf+"?tagging", nil, "")
			if strings.Count(g.body, "<Tag>") != len(tt.wantTags) {
				t.Errorf("tags %s, want %v", g.body, tt.wantTags)
			}
			for _, w := range tt.wantTags {
				if !strings.Contains(g.body, w) {
					t.Errorf("tags %s lack %s", g.body, w)
				}
			}
		})
	}
	if r := do(t, srv, "GET", "/unit/bad", nil, ""); r.status != 404 {
		t.Errorf("a refused put stored the object: %d", r.status)
	}
}

// TestBucketTagging checks GetBucketTagging, PutBucketTagging and
// DeleteBucketTagging with S3's limits and errors.
func TestBucketTagging(t *testing.T) {
	_, srv := newServer(t)
	for _, tt := range []struct {
		name   string
		method string
		path   string
		body   string
		status int
		want   string
	}{
		{"get without tags", "GET", "/unit?tagging", "", 404, "<Code>NoSuchTagSet</Code>"},
		{"put", "PUT", "/unit?tagging", tagXML("env=prod", "team=storage"), 204, ""},
		{"get", "GET", "/unit?tagging", "", 200, "<TagSet><Tag><Key>env</Key><Value>prod</Value></Tag><Tag><Key>team</Key><Value>storage</Value></Tag></TagSet>"},
		{"put fifty", "PUT", "/unit?tagging", tagXML(manyTags(50)...), 204, ""},
		{"get fifty", "GET", "/unit?tagging", "", 200, "<Key>k49</Key>"},
		{"put fifty-one", "PUT", "/unit?tagging", tagXML(manyTags(51)...), 400, "Bucket tag count cannot be greater than 50"},
		{"put aws: prefix", "PUT", "/unit?tagging", tagXML("aws:x=y"), 400, "<Code>InvalidTag</Code>"},
		{"put duplicate", "PUT", "/unit?tagging", tagXML("a=1", "a=2"), 400, "<Code>InvalidTag</Code>"},
		{"refused puts change nothing", "GET", "/unit?tagging", "", 200, "<Key>k49</Key>"},
		{"delete", "DELETE", "/unit?tagging", "", 204, ""},
		{"get after delete", "GET", "/unit?tagging", "", 404, "<Code>NoSuchTagSet</Code>"},
		{"missing bucket", "PUT", "/missing?tagging", tagXML("a=b"), 404, "<Code>NoSuchBucket</Code>"},
		{"the bucket is still there", "GET", "/unit", "", 200, "<ListBucketResult"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, srv, tt.method, tt.path, nil, tt.body)
			if r.status != tt.status || !strings.Contains(r.body, tt.want) {
				t.Errorf("%d %s", r.status, r.body)
			}
		})
	}
}
