// Package sharetest is a test double of the share listener of
// docs/SHARING.md ("The share listener"): POST /s/ID/open and
// GET /s/ID/f/FILE/PART, serving blobs sealed with gateway/seal and entries
// sealed with gateway/sharelink, with switches for the failures a client
// must handle (410, 403, 404, tampered, truncated or swapped blobs, cut
// connections).
//
// It exists for the unit tests of share-link clients (gateway/sharelink/fetch
// and `twincrypt get`). It is not the gateway's implementation and shares no
// code with it; end-to-end tests run against the real server.
package sharetest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/gateway/seal"
	"github.com/twincrypt/twincrypt/gateway/sharelink"
)

// File is one shared file: its name and the plaintext of each of its parts.
type File struct {
	// Name is the entry's name (the last key segment for a file link, the
	// key below the prefix for a folder link).
	Name string
	// Parts holds the plaintext of each part (one blob each); a file of one
	// part has one element, the empty file one empty element.
	Parts [][]byte
	// ModTime is the entry's modification time (default: a fixed date).
	ModTime time.Time
}

// OnePart returns a File of one part.
func OnePart(name string, data []byte) File { return File{Name: name, Parts: [][]byte{data}} }

// Data returns the whole plaintext of f.
func (f File) Data() []byte { return bytes.Join(f.Parts, nil) }

// Options configure a Server.
type Options struct {
	// Folder makes the link a folder link; the default is a file link,
	// which must have exactly one file.
	Folder bool
	// Password protects the link with a password when non-empty.
	Password string
	// Iterations is the PBKDF2 count announced and used (default
	// sharelink.MinIterations, to keep tests fast).
	Iterations int
	// AnnouncedIterations, when non-zero, is the count the manifest
	// announces instead of Iterations (a lying or broken server).
	AnnouncedIterations int
}

// Server is a running fake share listener. Its methods are safe for
// concurrent use.
type Server struct {
	*httptest.Server
	// Link is the share link, secret included, with the server's URL as
	// its base.
	Link sharelink.Link

	files    []File
	entries  []string
	blobs    [][][]byte
	manifest []byte
	ticket   string

	mu           sync.Mutex
	status       int
	message      string
	fileStatus   map[int]int
	tamper       func(file, part int, blob []byte) []byte
	cutAfter     int64
	cuts         int
	anyToken     bool
	badTicket    bool
	opens        int
	blobRequests int
	ranges       []string
}

// keySource is a KeySource with one fixed KEK.
type keySource struct{ k [32]byte }

func (k *keySource) CurrentKEK() (uint32, *[32]byte) { return 1, &k.k }

func (k *keySource) KEK(id uint32) (*[32]byte, error) {
	if id != 1 {
		return nil, fmt.Errorf("sharetest: unknown key %d", id)
	}
	return &k.k, nil
}

// New seals files and starts a server for them, closed when the test ends.
func New(t testing.TB, opts Options, files ...File) *Server {
	t.Helper()
	if !opts.Folder && len(files) != 1 {
		t.Fatalf("sharetest: a file link has exactly one file, got %d", len(files))
	}
	if opts.Iterations == 0 {
		opts.Iterations = sharelink.MinIterations
	}
	id, secret, err := sharelink.New(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var pw []byte
	if opts.Password != "" {
		pw = []byte(opts.Password)
	}
	keys, err := sharelink.DeriveKeys(id, secret, pw, opts.Iterations)
	if err != nil {
		t.Fatal(err)
	}
	ks := &keySource{}
	rand.Read(ks.k[:])
	s := &Server{files: files, ticket: "ticket-" + rand.Text(), fileStatus: map[int]int{}}
	type part struct {
		BlobSize int64 `json:"blob_size"`
	}
	type file struct {
		Parts []part `json:"parts"`
	}
	var mfiles []file
	for i, f := range files {
		mtime := f.ModTime
		if mtime.IsZero() {
			mtime = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
		}
		e := &sharelink.Entry{Name: f.Name, ContentType: "application/octet-stream", ModTime: mtime, ETag: fmt.Sprintf("\"etag-%d\"", i)}
		var blobs [][]byte
		var mf file
		for _, plain := range f.Parts {
			var oid seal.ObjectID
			rand.Read(oid[:])
			sl, err := seal.NewSealer(ks, oid, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			blob := sl.Seal(nil, plain)
			h, err := seal.ParseHeader(blob)
			if err != nil {
				t.Fatal(err)
			}
			op, err := h.Open(ks)
			if err != nil {
				t.Fatal(err)
			}
			e.Parts = append(e.Parts, sharelink.Part{
				Size:     int64(len(plain)),
				ObjectID: append([]byte(nil), oid[:]...),
				Salt:     append([]byte(nil), h.Salt[:]...),
				DataKey:  append([]byte(nil), op.DataKey()[:]...),
			})
			e.Size += int64(len(plain))
			blobs = append(blobs, blob)
			mf.Parts = append(mf.Parts, part{BlobSize: int64(len(blob))})
		}
		sealed, err := keys.SealEntry(rand.Reader, uint32(i), e)
		if err != nil {
			t.Fatal(err)
		}
		s.entries = append(s.entries, base64.RawURLEncoding.EncodeToString(sealed))
		s.blobs = append(s.blobs, blobs)
		mfiles = append(mfiles, mf)
	}
	m := map[string]any{
		"v":              1,
		"kind":           "file",
		"entries":        s.entries,
		"files":          mfiles,
		"ticket":         s.ticket,
		"ticket_expires": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	}
	if opts.Folder {
		m["kind"] = "folder"
	}
	if pw != nil {
		n := opts.Iterations
		if opts.AnnouncedIterations != 0 {
			n = opts.AnnouncedIterations
		}
		m["password"] = map[string]any{"kdf": "pbkdf2-sha256", "iterations": n}
	}
	if s.manifest, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	s.Link = sharelink.Link{Base: s.URL, ID: id, Secret: secret}
	return s
}

// URLString returns the link as a string, as a user would paste it.
func (s *Server) URLString() string { return s.Link.String() }

// Files returns the files the server shares.
func (s *Server) Files() []File { return s.files }

// Blob returns the stored blob of part j of file i.
func (s *Server) Blob(i, j int) []byte { return s.blobs[i][j] }

// Fail makes every request answer code with body {"error": message}; code
// 0 restores normal service.
func (s *Server) Fail(code int, message string) {
	s.mu.Lock()
	s.status, s.message = code, message
	s.mu.Unlock()
}

// FailFile makes the blob requests of file i answer code (0: normal again),
// as for a file replaced since the link was made (410).
func (s *Server) FailFile(i, code int) {
	s.mu.Lock()
	s.fileStatus[i] = code
	s.mu.Unlock()
}

// Tamper makes the server serve f(file, part, blob) instead of the stored
// blob (nil: the stored blob again). f must not modify blob.
func (s *Server) Tamper(f func(file, part int, blob []byte) []byte) {
	s.mu.Lock()
	s.tamper = f
	s.mu.Unlock()
}

// CutAfter makes the next times blob responses abort the connection after
// n body bytes (times < 0: every response; 0 turns cutting off).
func (s *Server) CutAfter(n int64, times int) {
	s.mu.Lock()
	s.cutAfter, s.cuts = n, times
	s.mu.Unlock()
}

// AcceptAnyToken makes the open request succeed whatever token it carries,
// as a broken or hostile server might.
func (s *Server) AcceptAnyToken() {
	s.mu.Lock()
	s.anyToken = true
	s.mu.Unlock()
}

// RejectTicket makes blob requests answer 403, as for an expired ticket.
func (s *Server) RejectTicket(reject bool) {
	s.mu.Lock()
	s.badTicket = reject
	s.mu.Unlock()
}

// Opens returns how many open requests succeeded.
func (s *Server) Opens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opens
}

// BlobRequests returns how many blob requests were made.
func (s *Server) BlobRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blobRequests
}

// Ranges returns the Range headers of the blob requests so far ("" for a
// request without one).
func (s *Server) Ranges() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...)
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/s/")
	if !ok {
		jsonError(w, http.StatusNotFound, "not found")
		return
	}
	seg := strings.Split(rest, "/")
	if seg[0] != s.Link.ID.String() {
		jsonError(w, http.StatusNotFound, "no such share")
		return
	}
	s.mu.Lock()
	status, message := s.status, s.message
	s.mu.Unlock()
	if status != 0 {
		jsonError(w, status, message)
		return
	}
	switch {
	case len(seg) == 2 && seg[1] == "open":
		s.open(w, r)
	case len(seg) == 4 && seg[1] == "f":
		i, err1 := strconv.Atoi(seg[2])
		j, err2 := strconv.Atoi(seg[3])
		if err1 != nil || err2 != nil || i < 0 || i >= len(s.blobs) || j < 0 || j >= len(s.blobs[i]) {
			jsonError(w, http.StatusNotFound, "no such file")
			return
		}
		s.blob(w, r, i, j)
	default:
		jsonError(w, http.StatusNotFound, "not found")
	}
}

func (s *Server) open(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		jsonError(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	s.mu.Lock()
	anyToken := s.anyToken
	s.mu.Unlock()
	want := sharelink.DeriveToken(s.Link.ID, s.Link.Secret).String()
	if !anyToken && r.Header.Get("X-Twincrypt-Token") != want {
		jsonError(w, http.StatusForbidden, "bad token")
		return
	}
	s.mu.Lock()
	s.opens++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write(s.manifest)
}

func (s *Server) blob(w http.ResponseWriter, r *http.Request, i, j int) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		jsonError(w, http.StatusMethodNotAllowed, "GET only")
		return
	}
	s.mu.Lock()
	s.blobRequests++
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	badTicket, code, tamper := s.badTicket, s.fileStatus[i], s.tamper
	var cut int64
	if s.cutAfter > 0 && s.cuts != 0 {
		cut = s.cutAfter
		if s.cuts > 0 {
			s.cuts--
		}
	}
	s.mu.Unlock()
	if badTicket || r.Header.Get("X-Twincrypt-Ticket") != s.ticket {
		jsonError(w, http.StatusForbidden, "bad or expired ticket")
		return
	}
	if code != 0 {
		jsonError(w, code, "this file was replaced or deleted since the link was made")
		return
	}
	blob := s.blobs[i][j]
	if tamper != nil {
		blob = tamper(i, j, blob)
	}
	var out http.ResponseWriter = w
	if cut > 0 {
		out = &cutWriter{ResponseWriter: w, left: cut}
	}
	out.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(out, r, "", time.Time{}, bytes.NewReader(blob))
}

// cutWriter aborts the connection once left body bytes have been written.
type cutWriter struct {
	http.ResponseWriter
	left int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) >= c.left {
		c.ResponseWriter.Write(p[:c.left])
		if f, ok := c.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	c.left -= int64(len(p))
	return c.ResponseWriter.Write(p)
}
