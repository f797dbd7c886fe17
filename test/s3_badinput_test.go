package e2e

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7/pkg/signer"
)

// request is one hand-made S3 request.
type request struct {
	method, path string
	body         []byte
	header       map[string]string
	secret       string // signing secret; "" signs with the gateway's
	accessKey    string
	unsigned     bool // send no signature at all
}

// do sends r signed with SigV4 and returns status, S3 error code and body.
func (g *Gateway) do(t testing.TB, r request) (int, string, []byte) {
	t.Helper()
	var body io.Reader = bytes.NewReader(r.body)
	req, err := http.NewRequest(r.method, g.Endpoint()+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(r.body))
	sum := sha256.Sum256(r.body)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	if !r.unsigned {
		ak, sk := g.AccessKey, g.SecretKey
		if r.accessKey != "" {
			ak = r.accessKey
		}
		if r.secret != "" {
			sk = r.secret
		}
		req = signer.SignV4(*req, ak, sk, "", "us-east-1")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	code := ""
	if i := bytes.Index(b, []byte("<Code>")); i >= 0 {
		rest := b[i+6:]
		if j := bytes.Index(rest, []byte("</Code>")); j >= 0 {
			code = string(rest[:j])
		}
	}
	return resp.StatusCode, code, b
}

// TestS3BadInput sends malformed, unauthenticated and truncated requests and
// checks each gets the right S3 error and changes nothing.
func TestS3BadInput(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	mustStatus := func(t *testing.T, r request, status int, code string) []byte {
		t.Helper()
		got, gotCode, body := g.do(t, r)
		if got != status || gotCode != code {
			t.Errorf("%s %s: %d %s, want %d %s\n%s", r.method, r.path, got, gotCode, status, code, body)
		}
		return body
	}
	mustStatus(t, request{method: "PUT", path: "/bad-input"}, 200, "")
	old := []byte("the original content, which must survive every bad request")
	mustStatus(t, request{method: "PUT", path: "/bad-input/obj", body: old}, 200, "")
	intact := func(t *testing.T) {
		t.Helper()
		status, _, body := g.do(t, request{method: "GET", path: "/bad-input/obj"})
		if status != 200 || !bytes.Equal(body, old) {
			t.Fatalf("object changed: %d %q", status, body)
		}
	}

	tests := []struct {
		name   string
		r      request
		status int
		code   string
	}{
		{"no signature", request{method: "GET", path: "/bad-input/obj", unsigned: true}, 403, "AccessDenied"},
		{"wrong secret", request{method: "PUT", path: "/bad-input/obj", body: []byte("evil"), secret: "wrong-secret-key"}, 403, "SignatureDoesNotMatch"},
		{"unknown access key", request{method: "GET", path: "/bad-input/obj", accessKey: "nobody"}, 403, "InvalidAccessKeyId"},
		{"payload hash mismatch", request{method: "PUT", path: "/bad-input/obj", body: []byte("evil"),
			header: map[string]string{"X-Amz-Content-Sha256": strings.Repeat("ab", 32)}}, 400, "XAmzContentSHA256Mismatch"},
		{"content-md5 mismatch", request{method: "PUT", path: "/bad-input/obj", body: []byte("evil"),
			header: map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(md5.New().Sum(nil))}}, 400, "BadDigest"},
		{"malformed content-md5", request{method: "PUT", path: "/bad-input/obj", body: []byte("evil"),
			header: map[string]string{"Content-MD5": "not base64!"}}, 400, "InvalidDigest"},
		{"key over 1024 bytes", request{method: "PUT", path: "/bad-input/" + strings.Repeat("k", 1025), body: []byte("x")}, 400, "KeyTooLongError"},
		{"invalid bucket name", request{method: "PUT", path: "/Bad_Bucket"}, 400, "InvalidBucketName"},
		{"malformed delete XML", request{method: "POST", path: "/bad-input?delete", body: []byte("<Delete><Object><Key>obj"),
			header: map[string]string{"Content-MD5": md5b64("<Delete><Object><Key>obj")}}, 400, "MalformedXML"},
		{"crc32 checksum mismatch", request{method: "PUT", path: "/bad-input/obj", body: []byte("evil"),
			header: map[string]string{"X-Amz-Checksum-Algorithm": "CRC32", "X-Amz-Checksum-Crc32": "AAAAAA=="}}, 400, "BadDigest"},
		{"tagging keeps the object's content", request{method: "PUT", path: "/bad-input/obj?tagging",
			body: []byte(`<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>`)}, 200, ""},
		{"malformed tagging XML", request{method: "PUT", path: "/bad-input/obj?tagging", body: []byte(`<Tagging><TagSet><Tag>`)}, 400, "MalformedXML"},
		{"tag with an aws: key", request{method: "PUT", path: "/bad-input/obj?tagging",
			body: []byte(`<Tagging><TagSet><Tag><Key>aws:a</Key><Value>b</Value></Tag></TagSet></Tagging>`)}, 400, "InvalidTag"},
		{"unknown storage class", request{method: "PUT", path: "/bad-input/obj", body: []byte("evil"),
			header: map[string]string{"X-Amz-Storage-Class": "DEEP_ARCHIVE"}}, 400, "InvalidStorageClass"},
		{"an acl that grants less is refused", request{method: "PUT", path: "/bad-input/obj?acl", body: []byte("<AccessControlPolicy/>")}, 400, "AccessControlListNotSupported"},
		{"a public acl is refused", request{method: "PUT", path: "/bad-input/obj", body: []byte("evil"),
			header: map[string]string{"X-Amz-Acl": "public-read"}}, 400, "AccessControlListNotSupported"},
		{"policy is not implemented", request{method: "GET", path: "/bad-input?policy"}, 501, "NotImplemented"},
		{"range beyond the end", request{method: "GET", path: "/bad-input/obj", header: map[string]string{"Range": "bytes=1000-2000"}}, 416, "InvalidRange"},
		{"missing key", request{method: "GET", path: "/bad-input/missing"}, 404, "NoSuchKey"},
		{"missing bucket", request{method: "GET", path: "/no-such-bucket/obj"}, 404, "NoSuchBucket"},
		{"unknown upload", request{method: "PUT", path: "/bad-input/obj?partNumber=1&uploadId=00112233445566778899aabbccddeeff", body: []byte("x")}, 404, "NoSuchUpload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustStatus(t, tt.r, tt.status, tt.code)
			intact(t)
		})
	}

	t.Run("checksum headers of the newer SDKs", func(t *testing.T) {
		// x-amz-checksum-algorithm names the algorithm of the checksum
		// header that comes with it.
		body := []byte("checked content")
		mustStatus(t, request{method: "PUT", path: "/bad-input/checked", body: body,
			header: map[string]string{"X-Amz-Checksum-Algorithm": "CRC32", "X-Amz-Checksum-Crc32": crc32b64(body)}}, 200, "")
		status, _, got := g.do(t, request{method: "GET", path: "/bad-input/checked"})
		if status != 200 || !bytes.Equal(got, body) {
			t.Errorf("GET: %d %q", status, got)
		}
	})

	t.Run("malformed complete XML", func(t *testing.T) {
		body := mustStatus(t, request{method: "POST", path: "/bad-input/mp?uploads"}, 200, "")
		id := between(string(body), "<UploadId>", "</UploadId>")
		if id == "" {
			t.Fatalf("no upload id in %s", body)
		}
		mustStatus(t, request{method: "POST", path: "/bad-input/mp?uploadId=" + id, body: []byte("<CompleteMultipartUpload><Part>")}, 400, "MalformedXML")
		mustStatus(t, request{method: "POST", path: "/bad-input/mp?uploadId=" + id,
			body: []byte("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"00\"</ETag></Part></CompleteMultipartUpload>")}, 400, "InvalidPart")
		mustStatus(t, request{method: "DELETE", path: "/bad-input/mp?uploadId=" + id}, 204, "")
	})

	t.Run("body shorter than Content-Length", func(t *testing.T) {
		// The client declares 1 MiB, sends 1000 bytes and hangs up.
		req, _ := http.NewRequest("PUT", g.Endpoint()+"/bad-input/obj", io.MultiReader(bytes.NewReader(make([]byte, 1000)), errReader{}))
		req.ContentLength = 1 << 20
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		req = signer.SignV4(*req, g.AccessKey, g.SecretKey, "", "us-east-1")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 400 {
				t.Errorf("truncated body accepted: %d", resp.StatusCode)
			}
		}
		intact(t)
		status, _, _ := g.do(t, request{method: "HEAD", path: "/bad-input/obj"})
		if status != 200 {
			t.Errorf("HEAD after truncated PUT: %d", status)
		}
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("client hung up") }

func crc32b64(b []byte) string {
	h := crc32.NewIEEE()
	h.Write(b)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func md5b64(s string) string {
	sum := md5.Sum([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	j := strings.Index(s, b)
	if j < 0 {
		return ""
	}
	return s[:j]
}
