package fetch_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/gateway/seal"
	"github.com/twincrypt/twincrypt/gateway/sharelink"
	"github.com/twincrypt/twincrypt/gateway/sharelink/fetch"
	"github.com/twincrypt/twincrypt/internal/sharetest"
)

const chunkCipher = seal.ChunkSize + seal.TagSize

// pattern returns n bytes that differ from chunk to chunk and file to file.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%251) ^ byte(i>>16) ^ seed
	}
	return b
}

// open opens the fake's link with opts and fails the test on error.
func open(t *testing.T, srv *sharetest.Server, opts ...fetch.Option) *fetch.Share {
	t.Helper()
	sh, err := fetch.New(srv.Link, opts...).Open(context.Background())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return sh
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		parts []int
	}{
		{"empty", []int{0}},
		{"one byte", []int{1}},
		{"one chunk", []int{seal.ChunkSize}},
		{"chunk plus one", []int{seal.ChunkSize + 1}},
		{"3 MiB and change", []int{3<<20 + 12345}},
		{"two parts", []int{100_000, 3*seal.ChunkSize + 7}},
		{"parts with an empty one", []int{seal.ChunkSize, 0, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f sharetest.File
			f.Name = "data.bin"
			for i, n := range tt.parts {
				f.Parts = append(f.Parts, pattern(n, byte(i)))
			}
			srv := sharetest.New(t, sharetest.Options{}, f)
			var reports []fetch.Progress
			sh := open(t, srv, fetch.WithWindow(1<<20), fetch.WithProgress(func(p fetch.Progress) { reports = append(reports, p) }))
			if sh.Kind() != fetch.KindFile || sh.NeedsPassword() {
				t.Fatalf("kind %q, needs password %v", sh.Kind(), sh.NeedsPassword())
			}
			files := sh.Files()
			if len(files) != 1 || files[0].Name != "data.bin" || files[0].Size != int64(len(f.Data())) {
				t.Fatalf("files = %+v", files)
			}
			var out bytes.Buffer
			n, err := sh.Download(context.Background(), 0, &out)
			if err != nil {
				t.Fatalf("Download: %v", err)
			}
			if n != int64(out.Len()) || !bytes.Equal(out.Bytes(), f.Data()) {
				t.Fatalf("got %d bytes (n=%d), want %d, equal=%v", out.Len(), n, len(f.Data()), bytes.Equal(out.Bytes(), f.Data()))
			}
			if len(f.Data()) > 0 {
				last := reports[len(reports)-1]
				if last.Done != last.Size || last.Size != int64(len(f.Data())) || last.Name != "data.bin" {
					t.Errorf("last progress %+v", last)
				}
			}
			// Every request asks for whole chunks from a chunk boundary,
			// at most the window.
			for _, r := range srv.Ranges() {
				a, b := parseRange(t, r)
				if (a-seal.HeaderSize)%chunkCipher != 0 || b-a+1 > 16*chunkCipher {
					t.Errorf("range %q not chunk-aligned or larger than the window", r)
				}
			}
			if got := srv.Opens(); got != 1 {
				t.Errorf("%d opens, want 1", got)
			}
		})
	}
}

func parseRange(t *testing.T, h string) (int64, int64) {
	t.Helper()
	a, b, ok := strings.Cut(strings.TrimPrefix(h, "bytes="), "-")
	x, err1 := strconv.ParseInt(a, 10, 64)
	y, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("bad Range header %q", h)
	}
	return x, y
}

func TestFolder(t *testing.T) {
	files := []sharetest.File{
		sharetest.OnePart("a.txt", []byte("hello")),
		sharetest.OnePart("sub/b.bin", pattern(200_000, 1)),
		sharetest.OnePart("sub/deeper/empty", nil),
	}
	srv := sharetest.New(t, sharetest.Options{Folder: true}, files...)
	sh := open(t, srv)
	if sh.Kind() != fetch.KindFolder || len(sh.Files()) != len(files) {
		t.Fatalf("kind %q, %d files", sh.Kind(), len(sh.Files()))
	}
	for i, e := range sh.Files() {
		if e.Name != files[i].Name {
			t.Errorf("file %d named %q, want %q", i, e.Name, files[i].Name)
		}
		var out bytes.Buffer
		if _, err := sh.Download(context.Background(), i, &out); err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
		if !bytes.Equal(out.Bytes(), files[i].Data()) {
			t.Errorf("file %d differs", i)
		}
	}
}

func TestPassword(t *testing.T) {
	f := sharetest.OnePart("secret.pdf", pattern(70_000, 3))
	srv := sharetest.New(t, sharetest.Options{Password: "open sesame"}, f)
	sh := open(t, srv)
	if !sh.NeedsPassword() || sh.Files() != nil {
		t.Fatal("a password link is unlocked without a password")
	}
	if _, err := sh.Download(context.Background(), 0, io.Discard); !errors.Is(err, fetch.ErrPasswordRequired) {
		t.Fatalf("Download while locked: %v", err)
	}
	if err := sh.Unlock(nil); !errors.Is(err, fetch.ErrPasswordRequired) {
		t.Fatalf("Unlock(nil): %v", err)
	}
	err := sh.Unlock([]byte("open sesame!"))
	if !errors.Is(err, fetch.ErrWrongPassword) || !errors.Is(err, sharelink.ErrOpen) || errors.Is(err, fetch.ErrWrongSecret) {
		t.Fatalf("wrong password: %v", err)
	}
	if !strings.Contains(err.Error(), "wrong password") {
		t.Errorf("wrong password error says %q", err)
	}
	// Another try needs no new open.
	if err := sh.Unlock([]byte("open sesame")); err != nil {
		t.Fatalf("right password: %v", err)
	}
	var out bytes.Buffer
	if _, err := sh.Download(context.Background(), 0, &out); err != nil || !bytes.Equal(out.Bytes(), f.Data()) {
		t.Fatalf("Download: %v (equal %v)", err, bytes.Equal(out.Bytes(), f.Data()))
	}
	if srv.Opens() != 1 {
		t.Errorf("%d opens, want 1", srv.Opens())
	}
}

func TestPasswordIterationsRefused(t *testing.T) {
	for _, n := range []int{1000, sharelink.MinIterations - 1, sharelink.MaxIterations + 1} {
		srv := sharetest.New(t, sharetest.Options{Password: "pw", AnnouncedIterations: n}, sharetest.OnePart("x", []byte("x")))
		_, err := fetch.New(srv.Link).Open(context.Background())
		if !errors.Is(err, fetch.ErrManifest) || !strings.Contains(err.Error(), "iterations") {
			t.Errorf("%d iterations: %v", n, err)
		}
	}
	// A count in range but not the one sealed with opens nothing.
	srv := sharetest.New(t, sharetest.Options{Password: "pw", AnnouncedIterations: sharelink.MinIterations + 1}, sharetest.OnePart("x", []byte("x")))
	sh := open(t, srv)
	if err := sh.Unlock([]byte("pw")); !errors.Is(err, sharelink.ErrOpen) {
		t.Errorf("wrong iteration count: %v", err)
	}
}

func TestWrongSecret(t *testing.T) {
	srv := sharetest.New(t, sharetest.Options{}, sharetest.OnePart("x", []byte("data")))
	bad := srv.Link
	bad.Secret[0] ^= 1

	// The gateway refuses the token derived from a wrong secret.
	_, err := fetch.New(bad).Open(context.Background())
	var se *fetch.StatusError
	if !errors.Is(err, fetch.ErrForbidden) || !errors.As(err, &se) || se.StatusCode != http.StatusForbidden {
		t.Fatalf("wrong secret: %v", err)
	}

	// A gateway that lets it through still hands out nothing that opens.
	srv.AcceptAnyToken()
	_, err = fetch.New(bad).Open(context.Background())
	if !errors.Is(err, fetch.ErrWrongSecret) || !errors.Is(err, sharelink.ErrOpen) || errors.Is(err, fetch.ErrWrongPassword) {
		t.Fatalf("wrong secret, token accepted: %v", err)
	}
}

func TestHTTPErrors(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(*sharetest.Server)
		link    func(sharelink.Link) sharelink.Link
		atOpen  bool
		want    error
		status  int
		message string
	}{
		{"revoked", func(s *sharetest.Server) { s.Fail(410, "this link was revoked") }, nil, true, fetch.ErrGone, 410, "this link was revoked"},
		{"unknown id", nil, func(l sharelink.Link) sharelink.Link { l.ID[0] ^= 1; return l }, true, fetch.ErrNotFound, 404, "no such share"},
		{"refused", func(s *sharetest.Server) { s.Fail(403, "bad token") }, nil, true, fetch.ErrForbidden, 403, "bad token"},
		{"message sanitized", func(s *sharetest.Server) { s.Fail(410, "gone\x1b[2J\r\nnow") }, nil, true, fetch.ErrGone, 410, "gone[2Jnow"},
		{"file replaced", func(s *sharetest.Server) { s.FailFile(0, 410) }, nil, false, fetch.ErrGone, 410, "replaced"},
		{"ticket refused", func(s *sharetest.Server) { s.RejectTicket(true) }, nil, false, fetch.ErrForbidden, 403, "ticket"},
		{"server error", func(s *sharetest.Server) { s.FailFile(0, 500) }, nil, false, nil, 500, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := sharetest.New(t, sharetest.Options{}, sharetest.OnePart("x", pattern(100, 0)))
			link := srv.Link
			if tt.link != nil {
				link = tt.link(link)
			}
			c := fetch.New(link, fetch.WithRetries(1))
			var err error
			if tt.atOpen {
				if tt.setup != nil {
					tt.setup(srv)
				}
				_, err = c.Open(context.Background())
			} else {
				sh, oerr := c.Open(context.Background())
				if oerr != nil {
					t.Fatal(oerr)
				}
				tt.setup(srv)
				var out bytes.Buffer
				_, err = sh.Download(context.Background(), 0, &out)
				if out.Len() != 0 {
					t.Errorf("%d bytes written", out.Len())
				}
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			var se *fetch.StatusError
			if !errors.As(err, &se) || se.StatusCode != tt.status || !strings.Contains(se.Message, tt.message) {
				t.Fatalf("error %#v, want status %d with message %q", err, tt.status, tt.message)
			}
			if errors.Is(err, seal.ErrIntegrity) {
				t.Errorf("an HTTP error is reported as an integrity failure: %v", err)
			}
			if tt.status == 410 && !strings.Contains(err.Error(), "gone") {
				t.Errorf("410 error does not say gone: %v", err)
			}
		})
	}
}

func TestIntegrity(t *testing.T) {
	data := pattern(5*seal.ChunkSize+100, 7)
	flip := func(off int) func(int, int, []byte) []byte {
		return func(_, _ int, b []byte) []byte {
			b = bytes.Clone(b)
			b[off] ^= 0x40
			return b
		}
	}
	tests := []struct {
		name   string
		tamper func(srv *sharetest.Server) func(int, int, []byte) []byte
		// written is how many bytes may reach the writer: the chunks
		// before the bad one.
		written int
	}{
		{"tampered chunk 2", func(*sharetest.Server) func(int, int, []byte) []byte {
			return flip(seal.HeaderSize + 2*chunkCipher + 10)
		}, 2 * seal.ChunkSize},
		{"tampered tag of the last chunk", func(*sharetest.Server) func(int, int, []byte) []byte {
			return flip(int(seal.CiphertextSize(int64(len(data)))) - 1)
		}, 5 * seal.ChunkSize},
		{"truncated inside the last chunk", func(*sharetest.Server) func(int, int, []byte) []byte {
			return func(_, _ int, b []byte) []byte { return b[:len(b)-50] }
		}, 5 * seal.ChunkSize},
		{"truncated at a chunk boundary", func(*sharetest.Server) func(int, int, []byte) []byte {
			return func(_, _ int, b []byte) []byte { return b[:seal.HeaderSize+3*chunkCipher] }
		}, 3 * seal.ChunkSize},
		{"only the header", func(*sharetest.Server) func(int, int, []byte) []byte {
			return func(_, _ int, b []byte) []byte { return b[:seal.HeaderSize] }
		}, 0},
		{"blob of another file", func(srv *sharetest.Server) func(int, int, []byte) []byte {
			return func(_, _ int, _ []byte) []byte { return srv.Blob(1, 0) }
		}, 0},
		{"chunks swapped", func(*sharetest.Server) func(int, int, []byte) []byte {
			return func(_, _ int, b []byte) []byte {
				b = bytes.Clone(b)
				c1 := b[seal.HeaderSize+chunkCipher : seal.HeaderSize+2*chunkCipher]
				c2 := b[seal.HeaderSize+2*chunkCipher : seal.HeaderSize+3*chunkCipher]
				tmp := bytes.Clone(c1)
				copy(c1, c2)
				copy(c2, tmp)
				return b
			}
		}, seal.ChunkSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := sharetest.New(t, sharetest.Options{Folder: true},
				sharetest.OnePart("victim", data),
				sharetest.OnePart("other", pattern(len(data), 9)))
			sh := open(t, srv, fetch.WithWindow(2*seal.ChunkSize))
			srv.Tamper(tt.tamper(srv))
			var out bytes.Buffer
			_, err := sh.Download(context.Background(), 0, &out)
			if !errors.Is(err, seal.ErrIntegrity) {
				t.Fatalf("error %v, want seal.ErrIntegrity", err)
			}
			if out.Len() != tt.written || !bytes.Equal(out.Bytes(), data[:out.Len()]) {
				t.Fatalf("%d bytes written (prefix ok: %v), want the %d bytes before the bad chunk",
					out.Len(), bytes.Equal(out.Bytes(), data[:min(out.Len(), len(data))]), tt.written)
			}
		})
	}
}

func TestDownloadFrom(t *testing.T) {
	one := pattern(5*seal.ChunkSize+100, 1)
	two := [][]byte{pattern(100_000, 2), pattern(3*seal.ChunkSize+7, 3)}
	tests := []struct {
		name  string
		parts [][]byte
		offs  []int64
	}{
		{"one part", [][]byte{one}, []int64{0, seal.ChunkSize, 3 * seal.ChunkSize, 5 * seal.ChunkSize, int64(len(one)) - 1, int64(len(one))}},
		{"two parts", two, []int64{seal.ChunkSize, 99_999, 100_000, 100_001, 2 * seal.ChunkSize, 4 * seal.ChunkSize, 100_000 + 3*seal.ChunkSize + 7}},
		{"empty", [][]byte{nil}, []int64{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := sharetest.File{Name: "f", Parts: tt.parts}
			srv := sharetest.New(t, sharetest.Options{}, f)
			var last fetch.Progress
			sh := open(t, srv, fetch.WithWindow(seal.ChunkSize), fetch.WithProgress(func(p fetch.Progress) { last = p }))
			data := f.Data()
			for _, off := range tt.offs {
				var out bytes.Buffer
				before := srv.BlobRequests()
				n, err := sh.DownloadFrom(context.Background(), 0, off, &out)
				if err != nil {
					t.Fatalf("from %d: %v", off, err)
				}
				if n != int64(len(data))-off || !bytes.Equal(out.Bytes(), data[off:]) {
					t.Fatalf("from %d: got %d bytes, want %d (equal %v)", off, out.Len(), int64(len(data))-off, bytes.Equal(out.Bytes(), data[off:]))
				}
				if n > 0 && last.Done != int64(len(data)) {
					t.Errorf("from %d: last progress %+v", off, last)
				}
				// Resuming does not fetch what lies before the chunk
				// holding off.
				if off%seal.ChunkSize == 0 && len(tt.parts) == 1 {
					wantReqs := (int64(len(data)) - off + seal.ChunkSize - 1) / seal.ChunkSize
					if wantReqs == 0 && len(data) == 0 {
						wantReqs = 1
					}
					if got := int64(srv.BlobRequests() - before); got != wantReqs {
						t.Errorf("from %d: %d requests, want %d", off, got, wantReqs)
					}
				}
			}
			for _, off := range []int64{-1, int64(len(data)) + 1} {
				if _, err := sh.DownloadFrom(context.Background(), 0, off, io.Discard); err == nil {
					t.Errorf("offset %d accepted", off)
				}
			}
		})
	}
}

func TestRetriesAfterCut(t *testing.T) {
	data := pattern(3<<20+5, 4)
	srv := sharetest.New(t, sharetest.Options{}, sharetest.OnePart("f", data))
	sh := open(t, srv, fetch.WithWindow(1<<20))
	// Cut the first three responses in mid-chunk.
	srv.CutAfter(300_000, 3)
	var out bytes.Buffer
	if _, err := sh.Download(context.Background(), 0, &out); err != nil {
		t.Fatalf("Download: %v", err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("data differs after retries")
	}
	for _, r := range srv.Ranges() {
		if a, _ := parseRange(t, r); (a-seal.HeaderSize)%chunkCipher != 0 {
			t.Errorf("retry range %q does not start on a chunk", r)
		}
	}

	// Every response carries on from where the last was cut, so a download
	// fails only when a response brings no new byte, as a network error
	// (not an integrity failure) after a correct prefix.
	data2 := pattern(3*seal.ChunkSize, 6)
	srv = sharetest.New(t, sharetest.Options{}, sharetest.OnePart("f", data2))
	sh = open(t, srv, fetch.WithRetries(1))
	srv.CutAfter(1000, -1)
	out.Reset()
	_, err := sh.Download(context.Background(), 0, &out)
	if err == nil || errors.Is(err, seal.ErrIntegrity) || errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error %v, want a network error", err)
	}
	if !strings.Contains(err.Error(), "connection closed") {
		t.Errorf("error %q does not say the connection closed", err)
	}
	if out.Len() != 0 {
		t.Fatalf("%d bytes written, want 0", out.Len())
	}
}

func TestCancel(t *testing.T) {
	data := pattern(2<<20, 5)
	srv := sharetest.New(t, sharetest.Options{}, sharetest.OnePart("f", data))
	ctx, cancel := context.WithCancel(context.Background())
	sh, err := fetch.New(srv.Link, fetch.WithWindow(seal.ChunkSize), fetch.WithProgress(func(p fetch.Progress) {
		if p.Done >= 4*seal.ChunkSize {
			cancel()
		}
	})).Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_, err = sh.Download(ctx, 0, &out)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if !bytes.Equal(out.Bytes(), data[:out.Len()]) {
		t.Fatal("written bytes are not a prefix")
	}
}

func TestManifestChecks(t *testing.T) {
	srv := sharetest.New(t, sharetest.Options{}, sharetest.OnePart("f", nil))
	bad := []string{
		`not json`,
		`{"v": 2, "kind": "file", "entries": ["AA"], "ticket": "t"}`,
		`{"v": 1, "kind": "blob", "entries": ["AA"], "ticket": "t"}`,
		`{"v": 1, "kind": "file", "entries": [], "ticket": "t"}`,
		`{"v": 1, "kind": "file", "entries": ["AA"], "ticket": ""}`,
		`{"v": 1, "kind": "file", "entries": ["!!"], "ticket": "t"}`,
		`{"v": 1, "kind": "file", "entries": ["AA"], "ticket": "t", "password": {"kdf": "argon2id", "iterations": 600000}}`,
	}
	for _, body := range bad {
		fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
		link := srv.Link
		link.Base = fake.URL
		if _, err := fetch.New(link).Open(context.Background()); !errors.Is(err, fetch.ErrManifest) {
			t.Errorf("manifest %s: error %v, want ErrManifest", body, err)
		}
		fake.Close()
	}
}

func TestServerIgnoresRange(t *testing.T) {
	data := pattern(4*seal.ChunkSize+3, 8)
	srv := sharetest.New(t, sharetest.Options{}, sharetest.OnePart("f", data))
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Range")
		srv.Config.Handler.ServeHTTP(w, r)
	}))
	defer plain.Close()
	link := srv.Link
	link.Base = plain.URL
	sh, err := fetch.New(link, fetch.WithWindow(seal.ChunkSize)).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{0, 2 * seal.ChunkSize, 2*seal.ChunkSize + 5} {
		var out bytes.Buffer
		if _, err := sh.DownloadFrom(context.Background(), 0, off, &out); err != nil {
			t.Fatalf("from %d: %v", off, err)
		}
		if !bytes.Equal(out.Bytes(), data[off:]) {
			t.Fatalf("from %d: data differs", off)
		}
	}
	// One whole-blob response per download, not one per window.
	if n := srv.BlobRequests(); n != 3 {
		t.Errorf("%d blob requests, want 3", n)
	}
}
