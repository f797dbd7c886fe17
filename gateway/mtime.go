package gateway

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// MtimeMeta is the stored metadata header that holds a client's
// modification time of an object: Unix seconds with an optional decimal
// fraction, the format of rclone's S3 backend (X-Amz-Meta-Mtime). The
// WebDAV front end stores the X-OC-Mtime of a PUT here and reports it as
// getlastmodified; the S3 front end serves it as x-amz-meta-mtime, while
// S3's Last-Modified stays the time the gateway stored the object.
const MtimeMeta = "X-Amz-Meta-Mtime"

var mtimeSyntax = regexp.MustCompile(`^-?[0-9]{1,12}(\.[0-9]{1,9})?$`)

// ParseMtime parses a modification time in the format of MtimeMeta.
func ParseMtime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if !mtimeSyntax.MatchString(s) {
		return time.Time{}, false
	}
	secs, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	var nsec int64
	if frac != "" {
		nsec, _ = strconv.ParseInt((frac + "000000000")[:9], 10, 64)
		if strings.HasPrefix(secs, "-") {
			nsec = -nsec
		}
	}
	return time.Unix(sec, nsec).UTC(), true
}

// FormatMtime formats t in the format of MtimeMeta: whole seconds without
// a fraction, else nanoseconds without trailing zeros.
func FormatMtime(t time.Time) string {
	sec, nsec := t.Unix(), t.Nanosecond()
	if nsec == 0 {
		return strconv.FormatInt(sec, 10)
	}
	if sec < 0 {
		// time.Unix(-1, 5e8) is -0.5 s: write it as -0.5.
		sec, nsec = sec+1, 1e9-nsec
		return "-" + strconv.FormatInt(-sec, 10) + "." + strings.TrimRight(strconv.Itoa(1e9 + nsec)[1:], "0")
	}
	return strconv.FormatInt(sec, 10) + "." + strings.TrimRight(strconv.Itoa(1e9 + nsec)[1:], "0")
}

// MTime returns the client's modification time of the object when its
// metadata holds one (MtimeMeta), else ModTime, the time the gateway
// stored it.
func (oi *ObjectInfo) MTime() time.Time {
	if v, ok := oi.Meta[MtimeMeta]; ok {
		if t, ok := ParseMtime(v); ok {
			return t
		}
	}
	return oi.ModTime
}
