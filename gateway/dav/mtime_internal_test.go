package dav

import (
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/gateway"
)

func TestRenameGetlastmodified(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:getlastmodified>x</D:getlastmodified></D:prop></D:set></D:propertyupdate>`,
			`<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:getlastmodified.twincrypt-set>x</D:getlastmodified.twincrypt-set></D:prop></D:set></D:propertyupdate>`},
		{`<propertyupdate xmlns="DAV:"><remove><prop><getlastmodified /></prop></remove></propertyupdate>`,
			`<propertyupdate xmlns="DAV:"><remove><prop><getlastmodified.twincrypt-set /></prop></remove></propertyupdate>`},
		{`<a:propertyupdate xmlns:a="DAV:"><a:set><a:prop><getlastmodified xmlns="DAV:">x</getlastmodified><b:getlastmodified xmlns:b="urn:b">getlastmodified</b:getlastmodified></a:prop></a:set></a:propertyupdate>`,
			`<a:propertyupdate xmlns:a="DAV:"><a:set><a:prop><getlastmodified.twincrypt-set xmlns="DAV:">x</getlastmodified.twincrypt-set><b:getlastmodified xmlns:b="urn:b">getlastmodified</b:getlastmodified></a:prop></a:set></a:propertyupdate>`},
	} {
		got, ok := renameGetlastmodified([]byte(c.in))
		if !ok || string(got) != c.want {
			t.Errorf("rename(%s) =\n%s, %v; want\n%s", c.in, got, ok, c.want)
		}
	}
	for _, in := range []string{
		`<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><Z:getlastmodified xmlns:Z="urn:z">x</Z:getlastmodified></D:prop></D:set></D:propertyupdate>`,
		`<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:getlastmodified>`,
		`<D:propfind xmlns:D="DAV:"><D:prop><D:getlastmodified/></D:prop></D:propfind>`,
	} {
		if got, ok := renameGetlastmodified([]byte(in)); ok {
			t.Errorf("rename(%s) = %s, want no change", in, got)
		}
	}
}

func TestMtimeFormat(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Time
		out  string
	}{
		{"1600000000", time.Unix(1600000000, 0), "1600000000"},
		{"1600000000.5", time.Unix(1600000000, 5e8), "1600000000.5"},
		{"1600000000.123456789", time.Unix(1600000000, 123456789), "1600000000.123456789"},
		{" 0 ", time.Unix(0, 0), "0"},
		{"-1.25", time.Unix(-2, 75e7), "-1.25"},
	} {
		got, ok := gateway.ParseMtime(c.in)
		if !ok || !got.Equal(c.want) {
			t.Errorf("ParseMtime(%q) = %v, %v", c.in, got, ok)
		}
		if s := gateway.FormatMtime(got); s != c.out {
			t.Errorf("FormatMtime(%v) = %q, want %q", got, s, c.out)
		}
	}
	for _, bad := range []string{"", "x", "1e9", "1.", ".5", "1.1234567891", "1234567890123"} {
		if _, ok := gateway.ParseMtime(bad); ok {
			t.Errorf("ParseMtime(%q) accepted", bad)
		}
	}
}
