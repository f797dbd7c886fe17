package dav

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/webdav"
)

// lockInfo is the body of a LOCK request (RFC 4918, 14.11).
type lockInfo struct {
	XMLName   xml.Name  `xml:"lockinfo"`
	Exclusive *struct{} `xml:"lockscope>exclusive"`
	Shared    *struct{} `xml:"lockscope>shared"`
	Write     *struct{} `xml:"locktype>write"`
	Owner     struct {
		InnerXML string `xml:",innerxml"`
	} `xml:"owner"`
}

// parseTimeout parses a Timeout header (RFC 4918, 10.7): its first value,
// "Infinite" or "Second-N". A missing header means infinite (-1).
func parseTimeout(s string) (time.Duration, error) {
	s, _, _ = strings.Cut(s, ",")
	s = strings.TrimSpace(s)
	switch {
	case s == "" || s == "Infinite":
		return -1, nil
	case strings.HasPrefix(s, "Second-"):
		n, err := strconv.ParseUint(s[len("Second-"):], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("invalid Timeout %q", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	return 0, fmt.Errorf("invalid Timeout %q", s)
}

// serveLock answers LOCK requests: x/net/webdav's handler grants
// exclusive locks only and always reports them as exclusive. This one
// grants shared locks too when the lock system can, creates an empty
// resource when an unmapped URL is locked (RFC 4918, 7.3), and refreshes
// locks named by the If header when the body is empty.
func (f *fixer) serveLock(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	duration, err := parseTimeout(r.Header.Get("Timeout"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading the request body failed", http.StatusBadRequest)
		return
	}
	now := time.Now()
	if len(bytes.TrimSpace(body)) == 0 {
		f.refreshLock(w, r, now, duration)
		return
	}
	var li lockInfo
	if err := xml.Unmarshal(body, &li); err != nil {
		http.Error(w, "malformed lockinfo", http.StatusBadRequest)
		return
	}
	if li.Write == nil || (li.Exclusive == nil) == (li.Shared == nil) {
		http.Error(w, "lockinfo needs a write lock type and one lock scope", http.StatusBadRequest)
		return
	}
	shared := li.Shared != nil
	sls, canShare := f.locks.(SharedLockSystem)
	if shared && !canShare {
		http.Error(w, "shared locks are not supported", http.StatusNotImplemented)
		return
	}
	zeroDepth := false
	switch r.Header.Get("Depth") {
	case "", "infinity":
	case "0":
		zeroDepth = true
	default:
		http.Error(w, "Depth must be 0 or infinity on LOCK", http.StatusBadRequest)
		return
	}
	name := cleanPath(r.URL.Path)
	details := webdav.LockDetails{Root: name, Duration: duration, OwnerXML: li.Owner.InnerXML, ZeroDepth: zeroDepth}
	var token string
	if shared {
		token, err = sls.CreateShared(now, details)
	} else {
		token, err = f.locks.Create(now, details)
	}
	switch {
	case errors.Is(err, webdav.ErrLocked):
		http.Error(w, webdav.StatusText(webdav.StatusLocked), webdav.StatusLocked)
		return
	case err != nil:
		f.lockFailed(w, "lock", name, err)
		return
	}
	created := false
	if _, err := f.fs.stat(ctx, parse(name)); os.IsNotExist(err) {
		file, err := f.fs.OpenFile(ctx, name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err == nil {
			err = file.Close()
		}
		if err != nil {
			f.locks.Unlock(now, token)
			status := http.StatusInternalServerError
			if st := stateFrom(ctx); st != nil && st.status != 0 {
				status = st.status
			} else if os.IsNotExist(err) {
				status = http.StatusConflict
			}
			http.Error(w, webdav.StatusText(status), status)
			return
		}
		created = true
	}
	w.Header().Set("Lock-Token", "<"+token+">")
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeLockDiscovery(w, status, token, details, shared)
}

// refreshLock refreshes the one lock named in the If header.
func (f *fixer) refreshLock(w http.ResponseWriter, r *http.Request, now time.Time, duration time.Duration) {
	lists, ok := parseIf(r.Header.Get("If"))
	token := ""
	if ok && len(lists) == 1 && len(lists[0].conditions) == 1 {
		token = lists[0].conditions[0].token
	}
	if token == "" {
		http.Error(w, "a lock refresh needs an If header naming one lock token", http.StatusBadRequest)
		return
	}
	details, err := f.locks.Refresh(now, token, duration)
	switch {
	case errors.Is(err, webdav.ErrNoSuchLock):
		http.Error(w, "no such lock", http.StatusPreconditionFailed)
		return
	case errors.Is(err, webdav.ErrLocked):
		http.Error(w, webdav.StatusText(webdav.StatusLocked), webdav.StatusLocked)
		return
	case err != nil:
		f.lockFailed(w, "lock refresh", cleanPath(r.URL.Path), err)
		return
	}
	sls, ok := f.locks.(SharedLockSystem)
	writeLockDiscovery(w, http.StatusOK, token, details, ok && sls.IsShared(now, token))
}

// writeLockDiscovery writes the body of a successful LOCK response.
func writeLockDiscovery(w http.ResponseWriter, status int, token string, ld webdav.LockDetails, shared bool) {
	scope, depth, timeout := "exclusive", "infinity", "Infinite"
	if shared {
		scope = "shared"
	}
	if ld.ZeroDepth {
		depth = "0"
	}
	if ld.Duration >= 0 {
		timeout = "Second-" + strconv.FormatInt(int64(ld.Duration/time.Second), 10)
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+
		`<D:prop xmlns:D="DAV:"><D:lockdiscovery><D:activelock>`+
		`<D:locktype><D:write/></D:locktype><D:lockscope><D:%s/></D:lockscope>`+
		`<D:depth>%s</D:depth><D:owner>%s</D:owner><D:timeout>%s</D:timeout>`+
		`<D:locktoken><D:href>%s</D:href></D:locktoken><D:lockroot><D:href>%s</D:href></D:lockroot>`+
		`</D:activelock></D:lockdiscovery></D:prop>`,
		scope, depth, ld.OwnerXML, timeout, xmlEscape(token), xmlEscape(ld.Root))
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// checkNamespaces rejects XML bodies that declare a namespace prefix with
// an empty name, which XML namespaces 1.0 forbids (xmlns:p="").
func checkNamespaces(body []byte) error {
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		t, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if se, ok := t.(xml.StartElement); ok {
			for _, a := range se.Attr {
				if a.Name.Space == "xmlns" && a.Value == "" {
					return fmt.Errorf("empty namespace name for prefix %q", a.Name.Local)
				}
			}
		}
	}
}
