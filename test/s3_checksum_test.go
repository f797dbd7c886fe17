package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/twincrypt/twincrypt/gateway/checksum"
)

// checksumScript exercises checksums with boto3: put_object with each
// algorithm (CRC32, SHA1 and SHA256 computed by botocore; CRC32C and
// CRC64NVME, which this botocore cannot compute, sent as values), head and
// get with ChecksumMode, a wrong checksum, and multipart uploads with
// ChecksumAlgorithm. It prints what the gateway answered as JSON.
const checksumScript = `
import json, sys
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
endpoint, bucket, path, crc32c, crc64nvme, wrong = sys.argv[1:7]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
data = open(path, "rb").read()
out = {}
for alg in ["CRC32", "SHA1", "SHA256"]:
    r = s3.put_object(Bucket=bucket, Key="b-" + alg, Body=data, ChecksumAlgorithm=alg)
    out["put-" + alg] = r.get("Checksum" + alg, "")
r = s3.put_object(Bucket=bucket, Key="b-CRC32C", Body=data, ChecksumCRC32C=crc32c)
out["put-CRC32C"] = r.get("ChecksumCRC32C", "")
def add_crc64(request, **kwargs):
    request.headers["x-amz-checksum-crc64nvme"] = crc64nvme
s3.meta.events.register("before-sign.s3.PutObject", add_crc64)
r = s3.put_object(Bucket=bucket, Key="b-CRC64NVME", Body=data)
s3.meta.events.unregister("before-sign.s3.PutObject", add_crc64)
out["put-CRC64NVME"] = r["ResponseMetadata"]["HTTPHeaders"].get("x-amz-checksum-crc64nvme", "")
for alg in ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]:
    h = s3.head_object(Bucket=bucket, Key="b-" + alg, ChecksumMode="ENABLED")
    out["head-" + alg] = h["ResponseMetadata"]["HTTPHeaders"].get("x-amz-checksum-" + alg.lower(), "")
    g = s3.get_object(Bucket=bucket, Key="b-" + alg, ChecksumMode="ENABLED")
    out["get-" + alg] = g["ResponseMetadata"]["HTTPHeaders"].get("x-amz-checksum-" + alg.lower(), "")
    out["body-" + alg] = g["Body"].read() == data
    g = s3.get_object(Bucket=bucket, Key="b-" + alg)
    out["plain-" + alg] = g["ResponseMetadata"]["HTTPHeaders"].get("x-amz-checksum-" + alg.lower(), "")
try:
    s3.put_object(Bucket=bucket, Key="b-wrong", Body=data, ChecksumSHA256=wrong)
    out["wrong"] = "stored"
except ClientError as e:
    out["wrong"] = e.response["Error"]["Code"] + ": " + e.response["Error"]["Message"]
try:
    s3.head_object(Bucket=bucket, Key="b-wrong")
    out["wrong-head"] = 200
except ClientError as e:
    out["wrong-head"] = e.response["ResponseMetadata"]["HTTPStatusCode"]
part1 = data * (5 * 1024 * 1024 // len(data) + 1)
part2 = data
for alg in ["SHA256", "CRC32"]:
    key = "mp-" + alg
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=alg)
    parts = []
    for n, p in [(1, part1), (2, part2)]:
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n, Body=p, ChecksumAlgorithm=alg)
        parts.append({"PartNumber": n, "ETag": r["ETag"], "Checksum" + alg: r["Checksum" + alg]})
    lp = s3.list_parts(Bucket=bucket, Key=key, UploadId=up["UploadId"])
    out["listparts-" + alg] = [p.get("Checksum" + alg, "") for p in lp["Parts"]]
    r = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"], MultipartUpload={"Parts": parts})
    out["complete-" + alg] = r.get("Checksum" + alg, "")
    h = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    out["mphead-" + alg] = h.get("Checksum" + alg, "")
    a = s3.get_object_attributes(Bucket=bucket, Key=key, ObjectAttributes=["Checksum", "ObjectParts"])
    out["attrs-" + alg] = a.get("Checksum", {}).get("Checksum" + alg, "")
    out["attrparts-" + alg] = [p.get("Checksum" + alg, "") for p in a.get("ObjectParts", {}).get("Parts", [])]
    g = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    out["mpbody-" + alg] = g["Body"].read() == part1 + part2
print(json.dumps(out))
`

// TestS3ChecksumsBoto3 runs checksumScript against the real binary and
// checks every value against checksums computed here.
func TestS3ChecksumsBoto3(t *testing.T) {
	py := boto3Python(t)
	g := StartGateway(t, Setup{Local: 2})
	aws := NewAWS(t, g)
	const bucket = "checksum-bucket"
	aws.Must("s3", "mb", "s3://"+bucket)
	dir := t.TempDir()
	path := filepath.Join(dir, "data")
	writeFile(t, path, 100_003, 7)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(a checksum.Algorithm, d []byte) string { return checksum.Encode(a.Sum(d)) }
	env := cleanEnv("HOME="+dir, "AWS_ACCESS_KEY_ID="+g.AccessKey, "AWS_SECRET_ACCESS_KEY="+g.SecretKey,
		"AWS_CONFIG_FILE="+filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"), "AWS_EC2_METADATA_DISABLED=true")
	r := run(t, env, dir, py, "-c", checksumScript, g.Endpoint(), bucket, path,
		b64(checksum.CRC32C, data), b64(checksum.CRC64NVME, data), b64(checksum.SHA256, []byte("not the data"))).must(t, "python3 checksums")
	var out map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("%v: %s", err, r.Stdout)
	}
	for _, a := range checksum.Algorithms {
		want := b64(a, data)
		for _, k := range []string{"put-", "head-", "get-"} {
			if out[k+string(a)] != want {
				t.Errorf("%s%s: %v, want %s", k, a, out[k+string(a)], want)
			}
		}
		if out["body-"+string(a)] != true {
			t.Errorf("%s: GET body differs", a)
		}
		if out["plain-"+string(a)] != "" {
			t.Errorf("%s: GET without ChecksumMode returned %v", a, out["plain-"+string(a)])
		}
	}
	if w := out["wrong"]; w != "BadDigest: The SHA256 you specified did not match the calculated checksum." {
		t.Errorf("wrong checksum: %v", w)
	}
	if out["wrong-head"] != float64(404) {
		t.Errorf("object with a wrong checksum stored: HEAD %v", out["wrong-head"])
	}
	part1 := bytes.Repeat(data, 5*1024*1024/len(data)+1)
	for _, a := range []checksum.Algorithm{checksum.SHA256, checksum.CRC32} {
		sums := [][]byte{a.Sum(part1), a.Sum(data)}
		composite := checksum.CompositeOf(a, sums)
		for _, k := range []string{"complete-", "mphead-"} {
			if out[k+string(a)] != composite.String() {
				t.Errorf("%s%s: %v, want %s", k, a, out[k+string(a)], composite)
			}
		}
		if out["attrs-"+string(a)] != checksum.Encode(composite.Sum) {
			t.Errorf("attributes %s: %v, want %s", a, out["attrs-"+string(a)], checksum.Encode(composite.Sum))
		}
		wantParts := []any{checksum.Encode(sums[0]), checksum.Encode(sums[1])}
		for _, k := range []string{"listparts-", "attrparts-"} {
			got, _ := json.Marshal(out[k+string(a)])
			want, _ := json.Marshal(wantParts)
			if string(got) != string(want) {
				t.Errorf("%s%s: %s, want %s", k, a, got, want)
			}
		}
		if out["mpbody-"+string(a)] != true {
			t.Errorf("multipart %s: GET body differs", a)
		}
	}
}

// TestS3ChecksumsAWSCLI stores objects with aws s3api put-object
// --checksum-algorithm and reads the checksum back with head-object
// --checksum-mode ENABLED.
func TestS3ChecksumsAWSCLI(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	aws := NewAWS(t, g)
	const bucket = "cli-checksums"
	aws.Must("s3", "mb", "s3://"+bucket)
	path := filepath.Join(t.TempDir(), "f")
	writeFile(t, path, 70_001, 3)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []checksum.Algorithm{checksum.CRC32, checksum.SHA1, checksum.SHA256} {
		out := aws.Must("s3api", "put-object", "--bucket", bucket, "--key", "k-"+string(a), "--body", path, "--checksum-algorithm", string(a)).Stdout
		want := checksum.Encode(a.Sum(data))
		if !strings.Contains(out, want) {
			t.Errorf("put-object %s: %s, want %s", a, out, want)
		}
		var head map[string]any
		out = aws.Must("s3api", "head-object", "--bucket", bucket, "--key", "k-"+string(a), "--checksum-mode", "ENABLED").Stdout
		if err := json.Unmarshal([]byte(out), &head); err != nil {
			t.Fatal(err)
		}
		if head["Checksum"+string(a)] != want {
			t.Errorf("head-object %s: %v, want %s", a, head, want)
		}
	}
}

// TestS3ChecksumsMinio uploads with minio-go's checksum options (a
// trailing checksum; AutoChecksum on a multipart upload) to the real
// binary and reads the checksums back with StatObject's checksum mode.
func TestS3ChecksumsMinio(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2})
	ctx := context.Background()
	c, err := minio.New(g.Addr, &minio.Options{Creds: credentials.NewStaticV4(g.AccessKey, g.SecretKey, ""),
		Region: "us-east-1", TrailingHeaders: true, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MakeBucket(ctx, "minio-checksums", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	small := bytes.Repeat([]byte("minio checksum "), 1000)
	if _, err := c.PutObject(ctx, "minio-checksums", "sha256", bytes.NewReader(small), int64(len(small)),
		minio.PutObjectOptions{Checksum: minio.ChecksumSHA256}); err != nil {
		t.Fatal(err)
	}
	st, err := c.StatObject(ctx, "minio-checksums", "sha256", minio.StatObjectOptions{Checksum: true})
	if want := checksum.Encode(checksum.SHA256.Sum(small)); err != nil || st.ChecksumSHA256 != want {
		t.Errorf("sha256: %q %v, want %s", st.ChecksumSHA256, err, want)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), (11<<20)/16)
	if _, err := c.PutObject(ctx, "minio-checksums", "big", bytes.NewReader(big), int64(len(big)),
		minio.PutObjectOptions{AutoChecksum: minio.ChecksumCRC64NVME, PartSize: 5 << 20}); err != nil {
		t.Fatal(err)
	}
	st, err = c.StatObject(ctx, "minio-checksums", "big", minio.StatObjectOptions{Checksum: true})
	if want := checksum.Encode(checksum.CRC64NVME.Sum(big)); err != nil || st.ChecksumCRC64NVME != want || st.ChecksumMode != "FULL_OBJECT" {
		t.Errorf("multipart crc64nvme: %q %q %v, want %s FULL_OBJECT", st.ChecksumCRC64NVME, st.ChecksumMode, err, want)
	}
	obj, err := c.GetObject(ctx, "minio-checksums", "big", minio.GetObjectOptions{Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	var got bytes.Buffer
	if _, err := got.ReadFrom(obj); err != nil || !bytes.Equal(got.Bytes(), big) {
		t.Errorf("GET with checksum: %d bytes, %v", got.Len(), err)
	}
}
