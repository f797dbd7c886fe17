package e2e

// A stand-in for the share listener (docs/SHARING.md, "The share listener"),
// for the browser tests of the share page: it serves gateway/sharepage at
// the paths the real listener uses, and manifests and blobs that the test
// builds with gateway/sharelink and gateway/seal. It can also serve what a
// broken or hostile server would (a flipped byte, a truncated or extended
// blob, any token accepted), which the real listener never does.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/gateway/seal"
	"github.com/twincrypt/twincrypt/gateway/sharelink"
	"github.com/twincrypt/twincrypt/gateway/sharepage"
)

// pageFixture is a share server on an httptest listener.
type pageFixture struct {
	t   testing.TB
	srv *httptest.Server
	kek fixtureKEK

	mu     sync.Mutex
	shares map[string]*fixtureShare

	// dlRequests counts requests for /s/dl/… that reached the server: the
	// Service Worker answers those, so a streamed download keeps it at 0.
	dlRequests atomic.Int64
	// opens counts POST /s/<id>/open that succeeded.
	opens atomic.Int64

	// requests records every request: method, URL and headers.
	reqMu    sync.Mutex
	requests []string
}

// fixtureKEK is a key source with one random key-encryption key.
type fixtureKEK struct{ key [32]byte }

func (k *fixtureKEK) CurrentKEK() (uint32, *[32]byte) { return 1, &k.key }

func (k *fixtureKEK) KEK(id uint32) (*[32]byte, error) {
	if id != 1 {
		return nil, errors.New("unknown key-encryption key")
	}
	return &k.key, nil
}

// fixtureFile is one file of a share: its name in the share and its
// content, cut into Parts blobs (at least 1), as a multipart object is.
type fixtureFile struct {
	Name  string
	Data  []byte
	Parts int
	// FakeSize, when positive, makes the entry claim a file of this many
	// bytes (one part, random keys) with no blob behind it: enough for the
	// page's checks that come before any download.
	FakeSize int64
}

// fixtureOptions are the options of a fixture share.
type fixtureOptions struct {
	Folder     bool   // kind "folder" (else "file", exactly one file)
	Password   string // "" for none
	Iterations int    // PBKDF2 iterations; sharelink.MinIterations if 0
	// AnyToken makes the server accept any download token, as a hostile
	// server could, so the page's own check of the keys is what fails.
	AnyToken bool
}

// fixtureShare is one share of the fixture.
type fixtureShare struct {
	ID        sharelink.ID
	Secret    sharelink.Secret
	tokenHash [sha256.Size]byte
	anyToken  bool
	manifest  []byte
	ticket    string
	// Blobs[file][part] is served as /s/<id>/f/<file>/<part>; tests may
	// change them (tamper) before the page fetches them.
	Blobs [][][]byte

	mu      sync.Mutex
	revoked bool
}

// newPageFixture starts the fixture server; it stops when the test ends.
func newPageFixture(t testing.TB) *pageFixture {
	t.Helper()
	f := &pageFixture{t: t, shares: map[string]*fixtureShare{}}
	if _, err := rand.Read(f.kek.key[:]); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /s/static/share.js", f.static(sharepage.ScriptFile, "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /s/static/share.css", f.static(sharepage.StyleFile, "text/css; charset=utf-8"))
	mux.HandleFunc("GET /s/sw.js", f.static(sharepage.WorkerFile, "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /s/dl/{download}", func(w http.ResponseWriter, r *http.Request) {
		f.dlRequests.Add(1)
		http.NotFound(w, r)
	})
	mux.HandleFunc("GET /s/{id}", f.page)
	mux.HandleFunc("POST /s/{id}/open", f.open)
	mux.HandleFunc("GET /s/{id}/f/{file}/{part}", f.blob)
	f.srv = httptest.NewServer(fixtureHeaders(f.record(mux)))
	t.Cleanup(f.srv.Close)
	return f
}

// record notes every request before h answers it.
func (f *pageFixture) record(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL.String())
		r.Header.Write(&b)
		f.reqMu.Lock()
		f.requests = append(f.requests, b.String())
		f.reqMu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// Received reports whether any request so far (its URL or a header)
// contained s.
func (f *pageFixture) Received(s string) bool {
	f.reqMu.Lock()
	defer f.reqMu.Unlock()
	for _, r := range f.requests {
		if strings.Contains(r, s) {
			return true
		}
	}
	return false
}

// fixtureHeaders adds the headers the share listener sends with every
// response.
func fixtureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", sharepage.CSP)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

// static serves one embedded file.
func (f *pageFixture) static(name, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := fs.ReadFile(sharepage.Static, name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(b)
	}
}

// lookup returns the share of the request's {id}, or answers 404 or 410
// (with the gone page or a JSON error) and returns nil.
func (f *pageFixture) lookup(w http.ResponseWriter, r *http.Request, html bool) *fixtureShare {
	f.mu.Lock()
	s := f.shares[r.PathValue("id")]
	f.mu.Unlock()
	status, title, msg := 0, "", ""
	switch {
	case s == nil:
		status, title, msg = http.StatusNotFound, "No such link", "There is no share at this address."
	case s.isRevoked():
		status, title, msg = http.StatusGone, "Link revoked", "This link was revoked by its owner."
	default:
		return s
	}
	if html {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		sharepage.Gone.Execute(w, sharepage.GoneData{Title: title, Message: msg})
	} else {
		fixtureJSONError(w, status, msg)
	}
	return nil
}

func fixtureJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// page answers GET /s/<id> with the share page.
func (f *pageFixture) page(w http.ResponseWriter, r *http.Request) {
	if f.lookup(w, r, true) == nil {
		return
	}
	b, _ := fs.ReadFile(sharepage.Static, sharepage.PageFile)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

// open answers POST /s/<id>/open: the manifest, for the right token.
func (f *pageFixture) open(w http.ResponseWriter, r *http.Request) {
	s := f.lookup(w, r, false)
	if s == nil {
		return
	}
	tok, err := sharelink.ParseToken(r.Header.Get("X-Twincrypt-Token"))
	if !s.anyToken && (err != nil || !tok.Matches(s.tokenHash)) {
		fixtureJSONError(w, http.StatusForbidden, "wrong token")
		return
	}
	f.opens.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(s.manifest)
}

// blob answers GET /s/<id>/f/<file>/<part>, whole or a Range (206).
func (f *pageFixture) blob(w http.ResponseWriter, r *http.Request) {
	s := f.lookup(w, r, false)
	if s == nil {
		return
	}
	if r.Header.Get("X-Twincrypt-Ticket") != s.ticket {
		fixtureJSONError(w, http.StatusForbidden, "bad ticket")
		return
	}
	file, err1 := strconv.Atoi(r.PathValue("file"))
	part, err2 := strconv.Atoi(r.PathValue("part"))
	s.mu.Lock()
	ok := err1 == nil && err2 == nil && file >= 0 && file < len(s.Blobs) && part >= 0 && part < len(s.Blobs[file])
	var b []byte
	if ok {
		b = s.Blobs[file][part]
	}
	s.mu.Unlock()
	if !ok {
		fixtureJSONError(w, http.StatusNotFound, "no such file")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}

func (s *fixtureShare) isRevoked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revoked
}

// Revoke makes every request of the share answer 410.
func (s *fixtureShare) Revoke() {
	s.mu.Lock()
	s.revoked = true
	s.mu.Unlock()
}

// SetBlob replaces the blob of a part.
func (s *fixtureShare) SetBlob(file, part int, b []byte) {
	s.mu.Lock()
	s.Blobs[file][part] = b
	s.mu.Unlock()
}

// Link is the share link: page URL and fragment.
func (f *pageFixture) Link(s *fixtureShare) string {
	return f.srv.URL + "/s/" + s.ID.String() + "#" + s.Secret.String()
}

// PageURL is the share page's URL with the query query (may be "") and no
// fragment.
func (f *pageFixture) PageURL(s *fixtureShare, query string) string {
	u := f.srv.URL + "/s/" + s.ID.String()
	if query != "" {
		u += "?" + query
	}
	return u
}

// fixtureManifest is the JSON of POST /s/<id>/open (docs/SHARING.md).
type fixtureManifest struct {
	V             int                   `json:"v"`
	Kind          string                `json:"kind"`
	Entries       []string              `json:"entries"`
	Files         []fixtureManifestFile `json:"files"`
	Password      *fixtureManifestKDF   `json:"password,omitempty"`
	Ticket        string                `json:"ticket"`
	TicketExpires time.Time             `json:"ticket_expires"`
}

type fixtureManifestFile struct {
	Parts []fixtureManifestPart `json:"parts"`
}

type fixtureManifestPart struct {
	BlobSize int64 `json:"blob_size"`
}

type fixtureManifestKDF struct {
	KDF        string `json:"kdf"`
	Iterations int    `json:"iterations"`
}

// Share adds a share of files and returns it.
func (f *pageFixture) Share(files []fixtureFile, o fixtureOptions) *fixtureShare {
	t := f.t
	t.Helper()
	if !o.Folder && len(files) != 1 {
		t.Fatalf("a file share has exactly one file, not %d", len(files))
	}
	id, secret, err := sharelink.New(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := &fixtureShare{ID: id, Secret: secret, anyToken: o.AnyToken, ticket: "tk-" + randHex(t, 16)}
	s.tokenHash = sharelink.DeriveToken(id, secret).Hash()
	var pw []byte
	iterations := 0
	if o.Password != "" {
		pw = []byte(o.Password)
		iterations = o.Iterations
		if iterations == 0 {
			iterations = sharelink.MinIterations
		}
	}
	keys, err := sharelink.DeriveKeys(id, secret, pw, iterations)
	if err != nil {
		t.Fatal(err)
	}
	m := fixtureManifest{V: 1, Kind: "file", Ticket: s.ticket, TicketExpires: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}
	if o.Folder {
		m.Kind = "folder"
	}
	if pw != nil {
		m.Password = &fixtureManifestKDF{KDF: "pbkdf2-sha256", Iterations: iterations}
	}
	for i, file := range files {
		entry := sharelink.Entry{Name: file.Name, Size: int64(len(file.Data)), ContentType: "application/octet-stream",
			ModTime: time.Now().UTC().Truncate(time.Second), ETag: "fixture"}
		var blobs [][]byte
		var mf fixtureManifestFile
		if file.FakeSize > 0 {
			entry.Size = file.FakeSize
			entry.Parts = []sharelink.Part{{Size: file.FakeSize, ObjectID: pageRandomBytes(t, 16), Salt: pageRandomBytes(t, 32), DataKey: pageRandomBytes(t, 32)}}
			blobs = [][]byte{nil}
			mf.Parts = []fixtureManifestPart{{BlobSize: seal.CiphertextSize(file.FakeSize)}}
		}
		for _, data := range fixtureSplitParts(file.Data, file.Parts) {
			if file.FakeSize > 0 {
				break
			}
			part, blob := f.sealPart(data)
			entry.Parts = append(entry.Parts, part)
			blobs = append(blobs, blob)
			mf.Parts = append(mf.Parts, fixtureManifestPart{BlobSize: int64(len(blob))})
		}
		sealed, err := keys.SealEntry(rand.Reader, uint32(i), &entry)
		if err != nil {
			t.Fatal(err)
		}
		m.Entries = append(m.Entries, base64.RawURLEncoding.EncodeToString(sealed))
		m.Files = append(m.Files, mf)
		s.Blobs = append(s.Blobs, blobs)
	}
	if s.manifest, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.shares[id.String()] = s
	f.mu.Unlock()
	return s
}

// fixtureSplitParts cuts data into n parts (n >= 1) of about equal size, each
// but the last a whole number of chunks, as multipart objects are.
func fixtureSplitParts(data []byte, n int) [][]byte {
	if n <= 1 {
		return [][]byte{data}
	}
	size := (len(data)/n + seal.ChunkSize - 1) / seal.ChunkSize * seal.ChunkSize
	var parts [][]byte
	for i := 0; i < n-1 && len(data) > size; i++ {
		parts = append(parts, data[:size])
		data = data[size:]
	}
	return append(parts, data)
}

// sealPart encrypts data as one blob and returns the entry's part for it:
// the object id, salt and data key a recipient needs.
func (f *pageFixture) sealPart(data []byte) (sharelink.Part, []byte) {
	t := f.t
	var oid seal.ObjectID
	if _, err := rand.Read(oid[:]); err != nil {
		t.Fatal(err)
	}
	s, err := seal.NewSealer(&f.kek, oid, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blob := s.Seal(nil, data)
	hdr, err := seal.ParseHeader(blob)
	if err != nil {
		t.Fatal(err)
	}
	op, err := hdr.Open(&f.kek)
	if err != nil {
		t.Fatal(err)
	}
	return sharelink.Part{Size: int64(len(data)), ObjectID: oid[:], Salt: hdr.Salt[:], DataKey: op.DataKey()[:]}, blob
}
