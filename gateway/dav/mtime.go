package dav

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/twincrypt/twincrypt/gateway"
)

// ownCloud's and Nextcloud's WebDAV conventions, which rclone (vendor
// owncloud) and the ownCloud clients follow:
//
//   - a PUT may carry X-OC-Mtime, the client's modification time of the
//     file in Unix seconds; a server that stores it answers with the
//     header X-OC-Mtime: accepted;
//   - PROPPATCH of DAV:lastmodified (Unix seconds) sets it later;
//   - the oc:checksums property holds the content's checksums as
//     <oc:checksum>MD5:hex ...</oc:checksum>.
//
// The client's modification time is stored as the object's metadata
// gateway.MtimeMeta and reported as DAV:getlastmodified; PROPPATCH of
// DAV:getlastmodified (an HTTP date) sets it too.
const (
	ocNamespace    = "http://owncloud.org/ns"
	ocMtimeHeader  = "X-OC-Mtime"
	ocMtimeAccepts = "accepted"
)

var (
	// checksumsName is ownCloud's property of content checksums.
	checksumsName = xml.Name{Space: ocNamespace, Local: "checksums"}
	// lastmodifiedName is the property ownCloud (sabre/dav) lets clients
	// set to a Unix time.
	lastmodifiedName = xml.Name{Space: "DAV:", Local: "lastmodified"}
	// getlastmodifiedName is the live property of RFC 4918.
	getlastmodifiedName = xml.Name{Space: "DAV:", Local: "getlastmodified"}
	// setGetlastmodifiedName stands in for getlastmodifiedName in the
	// PROPPATCH body the fixer hands to x/net/webdav, which refuses to
	// patch live properties (see renameGetlastmodified).
	setGetlastmodifiedName = xml.Name{Space: "DAV:", Local: "getlastmodified.twincrypt-set"}
)

// parseOCMtime parses the value of an X-OC-Mtime header or of a PROPPATCH
// of DAV:lastmodified: Unix seconds, optionally with a decimal fraction.
func parseOCMtime(v string) (time.Time, bool) {
	return gateway.ParseMtime(v)
}

var md5Syntax = regexp.MustCompile(`^[0-9a-f]{32}$`)

// contentMD5 returns the hex MD5 of the plaintext of a file, which is its
// ETag for objects stored in one part, or "" when there is none (multipart
// objects, whose ETag is md5-N, have no whole-content MD5).
func (fi *fileInfo) contentMD5() string {
	if fi.dir || !md5Syntax.MatchString(fi.etag) {
		return ""
	}
	return fi.etag
}

// checksumsXML is the inner XML of oc:checksums for an MD5.
func checksumsXML(md5 string) []byte {
	return []byte(`<checksum xmlns="` + ocNamespace + `">MD5:` + md5 + `</checksum>`)
}

// md5sIn returns the MD5 values named in the inner XML of an oc:checksums
// property ("MD5:hex", among others separated by spaces).
func md5sIn(innerXML []byte) []string {
	var out []string
	d := xml.NewDecoder(bytes.NewReader(innerXML))
	for {
		tok, err := d.Token()
		if err != nil {
			return out
		}
		cd, ok := tok.(xml.CharData)
		if !ok {
			continue
		}
		for _, f := range strings.Fields(string(cd)) {
			if algo, v, ok := strings.Cut(f, ":"); ok && strings.EqualFold(algo, "md5") {
				out = append(out, strings.ToLower(v))
			}
		}
	}
}

// propText returns the character data of a property's inner XML.
func propText(innerXML []byte) string {
	var b strings.Builder
	d := xml.NewDecoder(bytes.NewReader(innerXML))
	for {
		tok, err := d.Token()
		if err != nil {
			return strings.TrimSpace(b.String())
		}
		if cd, ok := tok.(xml.CharData); ok {
			b.Write(cd)
		}
	}
}

// renameGetlastmodified returns the PROPPATCH body with every
// DAV:getlastmodified property of its set and remove instructions renamed
// to setGetlastmodifiedName, so that x/net/webdav hands it to
// file.Patch instead of refusing it as a live property. Only the element
// names change; prefixes, namespace declarations and values stay as the
// client wrote them. ok is false when there is nothing to rename or the
// body is not well-formed XML (x/net/webdav then answers as before).
func renameGetlastmodified(body []byte) (out []byte, ok bool) {
	d := xml.NewDecoder(bytes.NewReader(body))
	var stack []xml.Name
	var edits []int // offsets of names to rename
	for {
		start := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, false
		}
		end := d.InputOffset()
		switch t := tok.(type) {
		case xml.StartElement:
			stack = append(stack, t.Name)
			if t.Name == getlastmodifiedName && len(stack) == 4 &&
				stack[0] == (xml.Name{Space: "DAV:", Local: "propertyupdate"}) &&
				(stack[1] == xml.Name{Space: "DAV:", Local: "set"} || stack[1] == xml.Name{Space: "DAV:", Local: "remove"}) &&
				stack[2] == (xml.Name{Space: "DAV:", Local: "prop"}) {
				if i := bytes.Index(body[start:end], []byte(getlastmodifiedName.Local)); i >= 0 {
					edits = append(edits, int(start)+i)
				}
			}
		case xml.EndElement:
			if t.Name == getlastmodifiedName && len(stack) == 4 && end > start {
				// Not a self-closing tag: its end tag names it too.
				if i := bytes.Index(body[start:end], []byte(getlastmodifiedName.Local)); i >= 0 {
					edits = append(edits, int(start)+i)
				}
			}
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	if len(edits) == 0 {
		return nil, false
	}
	out = make([]byte, 0, len(body)+len(edits)*len(setGetlastmodifiedName.Local))
	last := 0
	for _, e := range edits {
		out = append(out, body[last:e]...)
		out = append(out, setGetlastmodifiedName.Local...)
		last = e + len(getlastmodifiedName.Local)
	}
	return append(out, body[last:]...), true
}

// mtimeChange is what a PROPPATCH asks of the modification time.
type mtimeChange struct {
	set    bool      // change it
	mtime  time.Time // the new time; zero: back to the time of the upload
	status int       // not 0: the property cannot be patched so
}

// patchSpecial interprets a PROPPATCH of the properties that are not dead
// properties: DAV:lastmodified and DAV:getlastmodified set or clear the
// client's modification time; oc:checksums is computed, and a set that
// agrees with the content's MD5 is accepted without being stored. It
// returns false for other names.
func (f *file) patchSpecial(n xml.Name, remove bool, innerXML []byte, mt *mtimeChange) (status int, special bool) {
	switch n {
	case lastmodifiedName, setGetlastmodifiedName:
		if remove {
			mt.set, mt.mtime = true, time.Time{}
			return http.StatusOK, true
		}
		v := propText(innerXML)
		var t time.Time
		var ok bool
		if n == lastmodifiedName {
			t, ok = parseOCMtime(v)
		} else {
			var err error
			t, err = http.ParseTime(v)
			ok = err == nil
		}
		if !ok {
			return http.StatusConflict, true
		}
		mt.set, mt.mtime = true, t
		return http.StatusOK, true
	case checksumsName:
		if remove {
			return http.StatusForbidden, true
		}
		have := ""
		if f.info != nil {
			have = f.info.contentMD5()
		}
		for _, m := range md5sIn(innerXML) {
			if m != have {
				return http.StatusConflict, true
			}
		}
		return http.StatusOK, true
	}
	return 0, false
}
