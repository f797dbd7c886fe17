package dav_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/webdav"

	"github.com/twincrypt/twincrypt/gateway"
)

const (
	findMtime = `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getlastmodified/><D:getetag/></D:prop></D:propfind>`
	findSums  = `<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>` +
		`<d:getlastmodified/><oc:checksums/></d:prop></d:propfind>`
)

func httpDate(sec int64) string { return time.Unix(sec, 0).UTC().Format(http.TimeFormat) }

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestOCMtimePut stores the X-OC-Mtime of a PUT as the file's modification
// time, reported by PROPFIND (Depth 0 and 1) and HEAD and served over S3
// as x-amz-meta-mtime, while the object's own time stays the upload time.
func TestOCMtimePut(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusCreated, "MKCOL", "/bucket/dir/", "")
	resp, _ := e.must(http.StatusCreated, "PUT", "/bucket/dir/a.txt", "first", "X-OC-Mtime", "1600000000")
	if got := resp.Header.Get("X-OC-Mtime"); got != "accepted" {
		t.Errorf("X-OC-Mtime answer %q, want accepted", got)
	}
	want := httpDate(1600000000)
	_, body := e.must(webdav.StatusMulti, "PROPFIND", "/bucket/dir/a.txt", findMtime, "Depth", "0")
	if !strings.Contains(body, want) {
		t.Errorf("PROPFIND Depth 0 lacks %s:\n%s", want, body)
	}
	_, body = e.must(webdav.StatusMulti, "PROPFIND", "/bucket/dir/", findMtime, "Depth", "1")
	if !strings.Contains(body, want) {
		t.Errorf("PROPFIND Depth 1 lacks %s:\n%s", want, body)
	}
	resp, _ = e.must(http.StatusOK, "HEAD", "/bucket/dir/a.txt", "")
	if got := resp.Header.Get("Last-Modified"); got != want {
		t.Errorf("Last-Modified %q, want %q", got, want)
	}
	o, err := e.ns.Object(context.Background(), "bucket", "dir/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	if o.Meta[gateway.MtimeMeta] != "1600000000" || !o.MTime().Equal(time.Unix(1600000000, 0)) {
		t.Errorf("meta %v, MTime %v", o.Meta, o.MTime())
	}
	if time.Since(o.ModTime) > time.Minute {
		t.Errorf("the object's ModTime %v is not the upload time", o.ModTime)
	}

	// Fractions are kept; a replacement without X-OC-Mtime has the upload
	// time; a bad value is refused and changes nothing.
	e.must(http.StatusCreated, "PUT", "/bucket/dir/a.txt", "second", "X-OC-Mtime", "1600000001.5")
	if o, _ := e.ns.Object(context.Background(), "bucket", "dir/a.txt"); !o.MTime().Equal(time.Unix(1600000001, 5e8)) {
		t.Errorf("fractional mtime: %v %v", o.Meta, o.MTime())
	}
	for _, bad := range []string{"yesterday", "1e9", "16000000000000", "-"} {
		resp, _ := e.do("PUT", "/bucket/dir/a.txt", "third", "X-OC-Mtime", bad)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("X-OC-Mtime %q: %s", bad, resp.Status)
		}
	}
	_, body = e.must(http.StatusOK, "GET", "/bucket/dir/a.txt", "")
	if body != "second" {
		t.Errorf("content after refused PUTs: %q", body)
	}
	resp, _ = e.must(http.StatusCreated, "PUT", "/bucket/dir/a.txt", "fourth")
	if resp.Header.Get("X-OC-Mtime") != "" {
		t.Errorf("X-OC-Mtime answered to a PUT without it")
	}
	o, _ = e.ns.Object(context.Background(), "bucket", "dir/a.txt")
	if _, ok := o.Meta[gateway.MtimeMeta]; ok || !o.MTime().Equal(o.ModTime) {
		t.Errorf("PUT without X-OC-Mtime kept %v", o.Meta)
	}
	// An empty PUT keeps it too.
	e.must(http.StatusCreated, "PUT", "/bucket/dir/empty", "", "X-OC-Mtime", "1234567890")
	if o, _ := e.ns.Object(context.Background(), "bucket", "dir/empty"); o.Meta[gateway.MtimeMeta] != "1234567890" {
		t.Errorf("empty PUT: %v", o.Meta)
	}
	// MOVE and COPY keep it.
	e.must(http.StatusCreated, "MOVE", "/bucket/dir/empty", "", "Destination", e.url+"/bucket/dir/moved")
	e.must(http.StatusCreated, "COPY", "/bucket/dir/moved", "", "Destination", e.url+"/bucket/dir/copied")
	for _, k := range []string{"dir/moved", "dir/copied"} {
		if o, _ := e.ns.Object(context.Background(), "bucket", k); o.Meta[gateway.MtimeMeta] != "1234567890" {
			t.Errorf("%s: %v", k, o.Meta)
		}
	}
}

// TestProppatchMtime sets the modification time with PROPPATCH of
// DAV:lastmodified (Unix seconds, as rclone and ownCloud do) and of
// DAV:getlastmodified (an HTTP date); the content and ETag stay.
func TestProppatchMtime(t *testing.T) {
	e := newEnv(t)
	resp, _ := e.must(http.StatusCreated, "PUT", "/bucket/f", "content")
	etag := resp.Header.Get("ETag")
	patch := func(body string) string {
		_, out := e.must(webdav.StatusMulti, "PROPPATCH", "/bucket/f", `<?xml version="1.0"?>`+body)
		return out
	}
	mtime := func() string {
		_, body := e.must(webdav.StatusMulti, "PROPFIND", "/bucket/f", findMtime, "Depth", "0")
		if !strings.Contains(body, etag) {
			t.Errorf("ETag changed:\n%s", body)
		}
		return body
	}

	out := patch(`<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><lastmodified xmlns="DAV:">1500000000</lastmodified></D:prop></D:set></D:propertyupdate>`)
	if !strings.Contains(out, "200 OK") {
		t.Fatalf("PROPPATCH lastmodified:\n%s", out)
	}
	if body := mtime(); !strings.Contains(body, httpDate(1500000000)) {
		t.Errorf("after DAV:lastmodified:\n%s", body)
	}
	for i, body := range []string{
		`<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:getlastmodified>` + httpDate(1400000000) + `</D:getlastmodified></D:prop></D:set></D:propertyupdate>`,
		`<propertyupdate xmlns="DAV:"><set><prop><getlastmodified>` + httpDate(1400000001) + `</getlastmodified></prop></set></propertyupdate>`,
	} {
		out := patch(body)
		if !strings.Contains(out, "200 OK") || !strings.Contains(out, "getlastmodified") || strings.Contains(out, "twincrypt") {
			t.Fatalf("PROPPATCH getlastmodified %d:\n%s", i, out)
		}
		if body := mtime(); !strings.Contains(body, httpDate(1400000000+int64(i))) {
			t.Errorf("after DAV:getlastmodified %d:\n%s", i, body)
		}
	}
	// A bad value fails, and so does everything else in the request.
	out = patch(`<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x"><D:set><D:prop><Z:color>red</Z:color>` +
		`<D:getlastmodified>last tuesday</D:getlastmodified></D:prop></D:set></D:propertyupdate>`)
	if !strings.Contains(out, "409 Conflict") || !strings.Contains(out, "424 Failed Dependency") {
		t.Errorf("bad getlastmodified:\n%s", out)
	}
	if props, _ := e.ns.Props(context.Background(), "bucket", "f"); len(props) != 0 {
		t.Errorf("props stored by a failed PROPPATCH: %v", props)
	}
	if body := mtime(); !strings.Contains(body, httpDate(1400000001)) {
		t.Errorf("after a failed PROPPATCH:\n%s", body)
	}
	// Removing it goes back to the upload time.
	patch(`<D:propertyupdate xmlns:D="DAV:"><D:remove><D:prop><D:lastmodified/></D:prop></D:remove></D:propertyupdate>`)
	o, _ := e.ns.Object(context.Background(), "bucket", "f")
	if _, ok := o.Meta[gateway.MtimeMeta]; ok {
		t.Errorf("mtime left after removal: %v", o.Meta)
	}
	if body := mtime(); !strings.Contains(body, o.ModTime.UTC().Format(http.TimeFormat)) {
		t.Errorf("after removal (want %v):\n%s", o.ModTime, body)
	}
}

// TestChecksumsProperty serves the MD5 of single-part files as ownCloud's
// oc:checksums property, by name, in allprop and in propname; multipart
// objects and directories have none.
func TestChecksumsProperty(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.must(http.StatusCreated, "PUT", "/bucket/f", "hello checksum", "X-OC-Mtime", "1600000000")
	e.must(http.StatusCreated, "MKCOL", "/bucket/dir/", "")
	want := "MD5:" + md5hex("hello checksum")
	_, body := e.must(webdav.StatusMulti, "PROPFIND", "/bucket/f", findSums, "Depth", "0")
	if !strings.Contains(body, want) || !strings.Contains(body, "http://owncloud.org/ns") || !strings.Contains(body, httpDate(1600000000)) {
		t.Errorf("PROPFIND by name lacks %s:\n%s", want, body)
	}
	_, body = e.must(webdav.StatusMulti, "PROPFIND", "/bucket/", findSums, "Depth", "1")
	if !strings.Contains(body, want) {
		t.Errorf("PROPFIND Depth 1 lacks %s:\n%s", want, body)
	}
	_, body = e.must(webdav.StatusMulti, "PROPFIND", "/bucket/f", `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`, "Depth", "0")
	if !strings.Contains(body, want) {
		t.Errorf("allprop lacks %s:\n%s", want, body)
	}
	_, body = e.must(webdav.StatusMulti, "PROPFIND", "/bucket/f", `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>`, "Depth", "0")
	if !strings.Contains(body, "checksums") {
		t.Errorf("propname lacks checksums:\n%s", body)
	}
	_, body = e.must(webdav.StatusMulti, "PROPFIND", "/bucket/dir/", findSums, "Depth", "0")
	if strings.Contains(body, "MD5:") || !strings.Contains(body, "404 Not Found") {
		t.Errorf("directory checksums:\n%s", body)
	}

	// A multipart object has no whole-content MD5.
	id, err := e.ns.CreateUpload(ctx, "bucket", "multi", nil)
	if err != nil {
		t.Fatal(err)
	}
	pe, err := e.ns.UploadPart(ctx, "bucket", "multi", id, 1, strings.NewReader("one part"), 8)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ns.CompleteUpload(ctx, "bucket", "multi", id, []gateway.CompletedPart{{Number: 1, ETag: pe}}); err != nil {
		t.Fatal(err)
	}
	_, body = e.must(webdav.StatusMulti, "PROPFIND", "/bucket/multi", findSums, "Depth", "0")
	if strings.Contains(body, "MD5:") || !strings.Contains(body, "404 Not Found") {
		t.Errorf("multipart checksums:\n%s", body)
	}

	// oc:checksums is computed: a PROPPATCH that agrees is accepted and
	// stores nothing; one that disagrees fails; removal is forbidden.
	setSums := func(v string) string {
		_, out := e.must(webdav.StatusMulti, "PROPPATCH", "/bucket/f", `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:oc="http://owncloud.org/ns">`+
			`<D:set><D:prop><lastmodified xmlns="DAV:">1700000000</lastmodified><oc:checksums><oc:checksum>`+v+`</oc:checksum></oc:checksums></D:prop></D:set></D:propertyupdate>`)
		return out
	}
	if out := setSums(want); strings.Contains(out, "Conflict") || !strings.Contains(out, "200 OK") {
		t.Errorf("agreeing checksums:\n%s", out)
	}
	if out := setSums("SHA1:0123 MD5:" + md5hex("other")); !strings.Contains(out, "409 Conflict") {
		t.Errorf("disagreeing checksums:\n%s", out)
	}
	o, _ := e.ns.Object(ctx, "bucket", "f")
	if len(o.Props) != 0 || o.Meta[gateway.MtimeMeta] != "1700000000" {
		t.Errorf("after checksum PROPPATCHes: props %v, meta %v", o.Props, o.Meta)
	}
	_, out := e.must(webdav.StatusMulti, "PROPPATCH", "/bucket/f", `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:oc="http://owncloud.org/ns">`+
		`<D:remove><D:prop><oc:checksums/></D:prop></D:remove></D:propertyupdate>`)
	if !strings.Contains(out, "403 Forbidden") {
		t.Errorf("removing checksums:\n%s", out)
	}
}
