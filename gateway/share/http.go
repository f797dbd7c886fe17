package share

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/sharelink"
)

// Header names of the share protocol.
const (
	TokenHeader  = "X-Twincrypt-Token"
	TicketHeader = "X-Twincrypt-Ticket"
)

// ContentSecurityPolicy is sent with every answer of the share listener: the
// page runs only its own script and style, talks only to its own origin, and
// cannot be framed.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; worker-src 'self'; manifest-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Page files expected in the assets given to Handler.
const (
	pageFile = "page.html"
	goneFile = "gone.html"
)

// static maps the asset paths below /s/ to files of the assets.
var static = map[string]string{
	"static/share.js":  "share.js",
	"static/share.css": "share.css",
	"sw.js":            "sw.js",
}

// Handler serves the share listener (docs/SHARING.md, "The share listener"):
// no login; every request names a link. assets holds page.html, gone.html
// (an html/template with .Title and .Message), share.js, share.css and
// sw.js.
func (s *Service) Handler(assets fs.FS) (http.Handler, error) {
	page, err := fs.ReadFile(assets, pageFile)
	if err != nil {
		return nil, fmt.Errorf("share page: %w", err)
	}
	gone, err := template.ParseFS(assets, goneFile)
	if err != nil {
		return nil, fmt.Errorf("share page: %w", err)
	}
	files := make(map[string][]byte, len(static))
	for p, name := range static {
		if files[p], err = fs.ReadFile(assets, name); err != nil {
			return nil, fmt.Errorf("share page: %w", err)
		}
	}
	return &handler{s: s, page: page, gone: gone, files: files}, nil
}

type handler struct {
	s     *Service
	page  []byte
	gone  *template.Template
	files map[string][]byte
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	rest, ok := strings.CutPrefix(r.URL.Path, "/s/")
	if !ok {
		h.pageError(w, r, http.StatusNotFound, "Not found", "There is nothing here.")
		return
	}
	if b, ok := h.files[rest]; ok {
		h.asset(w, r, rest, b)
		return
	}
	seg := strings.Split(rest, "/")
	id := seg[0]
	if _, err := sharelink.ParseID(id); err != nil {
		h.pageError(w, r, http.StatusNotFound, "No such link", "This link does not exist. Check that it was copied whole.")
		return
	}
	switch {
	case len(seg) == 1:
		h.servePage(w, r, id)
	case len(seg) == 2 && seg[1] == "open":
		h.serveOpen(w, r, id)
	case len(seg) == 4 && seg[1] == "f":
		file, err1 := strconv.Atoi(seg[2])
		part, err2 := strconv.Atoi(seg[3])
		if err1 != nil || err2 != nil {
			h.jsonError(w, http.StatusNotFound, "no such file")
			return
		}
		h.serveBlob(w, r, id, file, part)
	default:
		h.pageError(w, r, http.StatusNotFound, "Not found", "There is nothing here.")
	}
}

// asset serves one static file.
func (h *handler) asset(w http.ResponseWriter, r *http.Request, name string, b []byte) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET, HEAD")
		return
	}
	ct := "text/javascript; charset=utf-8"
	if strings.HasSuffix(name, ".css") {
		ct = "text/css; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}

// servePage answers GET /s/ID: the page, or a page saying why the link no
// longer opens.
func (h *handler) servePage(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET, HEAD")
		return
	}
	rec, err := h.s.ns.Share(r.Context(), id)
	if err != nil {
		h.fail(w, r, err, true)
		return
	}
	if st := rec.State(h.s.now()); st != catalog.ShareActive {
		h.pageError(w, r, http.StatusGone, "This link no longer opens", goneMessage(st.String()))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(h.page))
}

// serveOpen answers POST /s/ID/open.
func (h *handler) serveOpen(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, "POST")
		return
	}
	m, err := h.s.Open(r.Context(), id, r.Header.Get(TokenHeader))
	if err != nil {
		h.fail(w, r, err, false)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(m)
}

// serveBlob answers GET /s/ID/f/FILE/PART, with a single byte range or
// whole.
func (h *handler) serveBlob(w http.ResponseWriter, r *http.Request, id string, file, part int) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET, HEAD")
		return
	}
	ctx := r.Context()
	blob, err := h.s.Blob(ctx, id, r.Header.Get(TicketHeader), file, part)
	if err != nil {
		h.fail(w, r, err, false)
		return
	}
	size := blob.Size()
	off, length, partial, err := parseRange(r.Header.Get("Range"), size)
	if err != nil {
		w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		h.jsonError(w, http.StatusRequestedRangeNotSatisfiable, err.Error())
		return
	}
	b, err := blob.Open(ctx, off, length)
	if err != nil {
		h.fail(w, r, err, false)
		return
	}
	defer b.Close()
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Accept-Ranges", "bytes")
	hd.Set("Content-Length", strconv.FormatInt(length, 10))
	status := http.StatusOK
	if partial {
		hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+length-1, size))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if n, err := io.Copy(w, b); err != nil && ctx.Err() == nil {
		// The status is sent; cutting the body short tells the client.
		h.s.log.Warn("share download cut off", "share", id, "file", file, "part", part, "sent", n, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// parseRange parses a Range header of one byte range against size. No
// header means the whole blob.
func parseRange(v string, size int64) (off, length int64, partial bool, err error) {
	if v == "" {
		return 0, size, false, nil
	}
	spec, ok := strings.CutPrefix(v, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, 0, false, errors.New("only one byte range is supported")
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, 0, false, errors.New("malformed range")
	}
	switch {
	case a == "":
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false, errors.New("malformed range")
		}
		n = min(n, size)
		return size - n, n, true, nil
	default:
		start, err := strconv.ParseInt(a, 10, 64)
		if err != nil || start < 0 || start >= size {
			return 0, 0, false, errors.New("range starts beyond the blob")
		}
		end := size - 1
		if b != "" {
			if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
				return 0, 0, false, errors.New("malformed range")
			}
			end = min(end, size-1)
		}
		return start, end - start + 1, true, nil
	}
}

// fail maps an error to a status: as a page for the page, as JSON for the
// protocol's requests.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error, page bool) {
	status, title, msg := http.StatusServiceUnavailable, "Temporarily unavailable",
		"The files cannot be reached right now. Try again in a few minutes."
	switch {
	case errors.Is(err, gateway.ErrNoSuchShare):
		status, title, msg = http.StatusNotFound, "No such link", "This link does not exist. Check that it was copied whole."
	case errors.Is(err, gateway.ErrShareGone):
		status, title, msg = http.StatusGone, "This link no longer opens", "This link was revoked, has expired, or has been used as often as allowed."
	case errors.Is(err, gateway.ErrBlobGone):
		status, title, msg = http.StatusGone, "File no longer available", "The owner replaced or deleted this file after sharing it."
	case errors.Is(err, ErrBadToken):
		status, title, msg = http.StatusForbidden, "Wrong link", err.Error()
	case errors.Is(err, gateway.ErrNoSuchKey), errors.Is(err, gateway.ErrInvalidRange):
		status, title, msg = http.StatusNotFound, "Not found", "There is no such file in this link."
	default:
		h.s.log.Warn("share request failed", "path", r.URL.Path, "err", err)
	}
	if page {
		h.pageError(w, r, status, title, msg)
		return
	}
	h.jsonError(w, status, msg)
}

// goneMessage says why a link no longer opens.
func goneMessage(state string) string {
	switch state {
	case "revoked":
		return "The owner revoked this link."
	case "expired":
		return "This link has expired."
	case "used up":
		return "This link has been used as often as its owner allowed."
	}
	return "This link no longer opens."
}

func (h *handler) pageError(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	h.gone.Execute(w, struct{ Title, Message string }{title, msg})
}

func (h *handler) jsonError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{msg})
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
}
