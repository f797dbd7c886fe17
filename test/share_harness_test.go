package e2e

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

// shareGateway is a running gateway with a share listener and an admin API
// (Setup.Share), through which the share commands the tests run reach it,
// and a bucket to share from. The share page, get and command tests use it.
type shareGateway struct {
	*Gateway
	Bucket string
	s3     *minio.Client
}

// startShareGateway starts a gateway on two local backends with
// listen.share and listen.admin, and makes a bucket. serve binds every
// listener before it accepts on the S3 one, which StartGateway waits for.
func startShareGateway(t testing.TB) *shareGateway {
	t.Helper()
	g := StartGateway(t, Setup{Local: 2, Share: true})
	sg := &shareGateway{Gateway: g, Bucket: "shared-" + randHex(t, 4), s3: faultClient(t, g)}
	if err := sg.s3.MakeBucket(context.Background(), sg.Bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	return sg
}

// Put stores an object of size bytes read from r.
func (sg *shareGateway) Put(t testing.TB, key string, r io.Reader, size int64) {
	t.Helper()
	if _, err := sg.s3.PutObject(context.Background(), sg.Bucket, key, r, size, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// PutFile uploads the file at path as key.
func (sg *shareGateway) PutFile(t testing.TB, key, path string) {
	t.Helper()
	if _, err := sg.s3.FPutObject(context.Background(), sg.Bucket, key, path, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// ShareCmd runs `twincrypt share SUBCOMMAND -c CONFIG ARGS...` with env
// added to the environment.
func (sg *shareGateway) ShareCmd(t testing.TB, env []string, sub string, args ...string) Result {
	t.Helper()
	args = append([]string{"share", sub, "-c", sg.Config}, args...)
	return run(t, cleanEnv(append([]string{"TWINCRYPT_PASSPHRASE=" + passphrase}, env...)...), sg.Dir, sg.Bin, args...)
}

// CreateLink makes a link to target, relative to the bucket, and returns
// it.
func (sg *shareGateway) CreateLink(t testing.TB, target string, flags ...string) string {
	t.Helper()
	return sg.CreateLinkEnv(t, nil, target, flags...)
}

// CreateLinkEnv is CreateLink with env added to the command's environment
// (for example the password of --password).
func (sg *shareGateway) CreateLinkEnv(t testing.TB, env []string, target string, flags ...string) string {
	t.Helper()
	r := sg.ShareCmd(t, env, "create", append([]string{sg.Bucket + "/" + target}, flags...)...).must(t, "share create")
	link := linkOf(t, r.Stdout)
	if !strings.HasPrefix(link, sg.ShareURL()+"/s/") {
		t.Fatalf("the link %q does not start with the share listener's URL %s", link, sg.ShareURL())
	}
	return link
}

// Revoke runs `twincrypt share revoke` on the link's id.
func (sg *shareGateway) Revoke(t testing.TB, link string) {
	t.Helper()
	sg.ShareCmd(t, nil, "revoke", linkID(link)).must(t, "share revoke")
}

// linkOf returns the last line of `share create`'s output: the link.
func linkOf(t testing.TB, out string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	link := strings.TrimSpace(lines[len(lines)-1])
	if !strings.Contains(link, "/s/") || !strings.Contains(link, "#") {
		t.Fatalf("the last line of share create is not a link:\n%s", out)
	}
	return link
}

// linkID returns the id of a link.
func linkID(link string) string {
	id := link[strings.LastIndex(link, "/s/")+3:]
	return id[:strings.IndexByte(id, '#')]
}
