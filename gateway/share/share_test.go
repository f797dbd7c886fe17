package share_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/seal"
	"github.com/twincrypt/twincrypt/gateway/share"
	"github.com/twincrypt/twincrypt/gateway/sharelink"
	"github.com/twincrypt/twincrypt/internal/testns"
)

// assets stands in for the page files; the page itself is tested in
// gateway/sharepage and in the browser tests.
var assets = fstest.MapFS{
	"page.html": {Data: []byte("<!doctype html><title>page</title>")},
	"gone.html": {Data: []byte("<!doctype html><h1>{{.Title}}</h1><p>{{.Message}}</p>")},
	"share.js":  {Data: []byte("// js")},
	"share.css": {Data: []byte("/* css */")},
	"sw.js":     {Data: []byte("// sw")},
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	*testns.Env
	svc   *share.Service
	srv   *httptest.Server
	clock *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{Env: testns.New(t, testns.Options{Bucket: "bkt"}), clock: &clock{t: time.Now()}}
	svc, err := share.New(share.Options{Namespace: e.NS, PublicURL: "http://placeholder", TicketKey: e.Keys.Derive(share.TicketKeyLabel),
		Iterations: sharelink.MinIterations, Clock: e.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	h, err := svc.Handler(assets)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	// Links must point at the test server: make a second service with
	// its URL over the same namespace and keys.
	e.svc, err = share.New(share.Options{Namespace: e.NS, PublicURL: e.srv.URL, TicketKey: e.Keys.Derive(share.TicketKeyLabel),
		Iterations: sharelink.MinIterations, Clock: e.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) put(t *testing.T, key string, data []byte) {
	t.Helper()
	if _, err := e.NS.PutObject(context.Background(), "bkt", key, bytes.NewReader(data), int64(len(data)),
		gateway.PutOptions{Meta: map[string]string{"Content-Type": "application/x-test"}}); err != nil {
		t.Fatal(err)
	}
}

func random(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// open posts the link's token and returns the status and manifest.
func open(t *testing.T, l sharelink.Link) (int, *share.Manifest, string) {
	t.Helper()
	return openWithToken(t, l, sharelink.DeriveToken(l.ID, l.Secret).String())
}

func openWithToken(t *testing.T, l sharelink.Link, token string) (int, *share.Manifest, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, l.PageURL()+"/open", nil)
	req.Header.Set(share.TokenHeader, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, string(b)
	}
	var m share.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, &m, ""
}

// getBlob fetches a blob range (rng "" for all) with a ticket.
func getBlob(t *testing.T, l sharelink.Link, ticket string, file, part int, rng string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/f/%d/%d", l.PageURL(), file, part), nil)
	req.Header.Set(share.TicketHeader, ticket)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read blob body: %v", err)
	}
	return resp.StatusCode, b
}

// download opens the link as a recipient does and returns every file's
// entry and plaintext, reading each blob in ranges of two chunks.
func download(t *testing.T, l sharelink.Link, password []byte) ([]*sharelink.Entry, [][]byte) {
	t.Helper()
	status, m, body := open(t, l)
	if status != http.StatusOK {
		t.Fatalf("open: %d %s", status, body)
	}
	iter := 0
	if m.Password != nil {
		iter = m.Password.Iterations
	}
	keys, err := sharelink.DeriveKeys(l.ID, l.Secret, password, iter)
	if err != nil {
		t.Fatal(err)
	}
	var entries []*sharelink.Entry
	var data [][]byte
	for i, s := range m.Entries {
		sealed, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		e, err := keys.OpenEntry(uint32(i), sealed)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		var plain []byte
		for j, p := range e.Parts {
			blobSize := m.Files[i].Parts[j].BlobSize
			if blobSize != seal.CiphertextSize(p.Size) {
				t.Fatalf("file %d part %d: blob size %d, want %d", i, j, blobSize, seal.CiphertextSize(p.Size))
			}
			var blob []byte
			const step = 2 * (seal.ChunkSize + seal.TagSize)
			for off := int64(0); off < blobSize; off += step {
				status, b := getBlob(t, l, m.Ticket, i, j, fmt.Sprintf("bytes=%d-%d", off, min(off+step, blobSize)-1))
				if status != http.StatusPartialContent {
					t.Fatalf("blob %d/%d range at %d: %d %s", i, j, off, status, b)
				}
				blob = append(blob, b...)
			}
			op, err := seal.PayloadOpener(seal.ObjectID(p.ObjectID), (*[32]byte)(p.Salt), (*[32]byte)(p.DataKey))
			if err != nil {
				t.Fatal(err)
			}
			bo, bl := op.Window(p.Size, 0, -1)
			pt, err := io.ReadAll(op.NewReader(bytes.NewReader(blob[bo:bo+bl]), p.Size, 0, -1))
			if err != nil {
				t.Fatalf("decrypt file %d part %d: %v", i, j, err)
			}
			plain = append(plain, pt...)
		}
		entries = append(entries, e)
		data = append(data, plain)
	}
	return entries, data
}

func TestFileLinkRoundTrip(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, size := range []int{0, 1, seal.ChunkSize, 3*seal.ChunkSize + 17} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := random(t, size)
			e.put(t, "docs/report.bin", data)
			link, info, err := e.svc.Create(ctx, share.CreateOptions{Target: "bkt/docs/report.bin"})
			if err != nil {
				t.Fatal(err)
			}
			if info.Kind != "file" || info.Files != 1 || info.State != "active" || info.Target != "bkt/docs/report.bin" {
				t.Fatalf("info = %+v", info)
			}
			if !strings.HasPrefix(link.String(), e.srv.URL+"/s/"+info.ID+"#") {
				t.Fatalf("link %q", link)
			}
			entries, got := download(t, link, nil)
			if len(entries) != 1 || entries[0].Name != "report.bin" || entries[0].Size != int64(size) ||
				entries[0].ContentType != "application/x-test" || !bytes.Equal(got[0], data) {
				t.Fatalf("entry %+v, %d bytes back, want report.bin with %d bytes", entries[0], len(got[0]), size)
			}
		})
	}
}

func TestMultipartObject(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	up, err := e.NS.CreateUpload(ctx, "bkt", "big", nil)
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := random(t, gateway.MinPartSize), random(t, 1000)
	var parts []gateway.CompletedPart
	for i, p := range [][]byte{p1, p2} {
		etag, err := e.NS.UploadPart(ctx, "bkt", "big", up, i+1, bytes.NewReader(p), int64(len(p)))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, gateway.CompletedPart{Number: i + 1, ETag: etag})
	}
	if _, err := e.NS.CompleteUpload(ctx, "bkt", "big", up, parts); err != nil {
		t.Fatal(err)
	}
	link, _, err := e.svc.Create(ctx, share.CreateOptions{Target: "bkt/big"})
	if err != nil {
		t.Fatal(err)
	}
	entries, got := download(t, link, nil)
	if len(entries[0].Parts) != 2 || !bytes.Equal(got[0], append(p1, p2...)) {
		t.Fatalf("multipart: %d parts, content equal %v", len(entries[0].Parts), bytes.Equal(got[0], append(p1, p2...)))
	}
}

func TestWrongTokenCountsNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "f", []byte("hello"))
	link, info, err := e.svc.Create(ctx, share.CreateOptions{Target: "bkt/f", MaxDownloads: 1})
	if err != nil {
		t.Fatal(err)
	}
	other := link
	other.Secret[0] ^= 1
	for _, tok := range []string{"", "AAAA", sharelink.DeriveToken(other.ID, other.Secret).String()} {
		if status, _, body := openWithToken(t, link, tok); status != http.StatusForbidden || !strings.Contains(body, "wrong or missing share token") {
			t.Errorf("token %q: %d %s, want 403", tok, status, body)
		}
	}
	if got, _ := e.svc.Get(ctx, info.ID); got.Downloads != 0 {
		t.Fatalf("wrong tokens counted %d downloads", got.Downloads)
	}
	// The id alone opens no ciphertext: no ticket, a forged ticket, or
	// another link's ticket.
	e.put(t, "g", []byte("other"))
	link2, _, err := e.svc.Create(ctx, share.CreateOptions{Target: "bkt/g"})
	if err != nil {
		t.Fatal(err)
	}
	_, m2, _ := open(t, link2)
	for name, ticket := range map[string]string{"none": "", "forged": "v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "other link's": m2.Ticket} {
		if status, b := getBlob(t, link, ticket, 0, 0, ""); status != http.StatusForbidden {
			t.Errorf("%s ticket: %d %s, want 403", name, status, b)
		}
	}
}

func TestMaxDownloads(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := random(t, 100_000)
	e.put(t, "f", data)
	link, info, err := e.svc.Create(ctx, share.CreateOptions{Target: "bkt/f", MaxDownloads: 1})
	if err != nil {
		t.Fatal(err)
	}
	status, m, _ := open(t, link)
	if status != http.StatusOK {
		t.Fatalf("first open: %d", status)
	}
	if status, _, body := open(t, link); status != http.StatusGone {
		t.Fatalf("second open: %d %s, want 410", status, body)
	}
	// The download that was let through finishes.
	if status, b := getBlob(t, link, m.Ticket, 0, 0, ""); status != http.StatusOK || int64(len(b)) != seal.CiphertextSize(100_000) {
		t.Fatalf("blob after the limit with the first ticket: %d, %d bytes", status, len(b))
	}
	got, _ := e.svc.Get(ctx, info.ID)
	if got.Downloads != 1 || got.State != "used up" {
		t.Fatalf("after the limit: %+v", got)
	}
	if resp, err := http.Get(link.PageURL()); err != nil || resp.StatusCode != http.StatusGone {
		t.Fatalf("page of a used-up link: %v %v", resp.StatusCode, err)
	}
}

func TestConcurrentOpensRespectTheLimit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "f", []byte("x"))
	link, info, err := e.svc.Create(ctx, share.CreateOptions{Target: "bkt/f", MaxDownloads: 3})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			status, _, _ := open(t, link)
			mu.Lock()
			codes[status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[200] != 3 || codes[410] != 9 {
		t.Fatalf("12 concurrent opens of a 3-download link: %v", codes)
	}
	if got, _ := e.svc.Get(ctx, info.ID); got.Downloads != 3 {
		t.Fatalf("downloads %d, want 3", got.Downloads)
	}
}

func TestRevokeAndExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "f", random(t, 200_000))
	revoked, rinfo, err := e.svc.Create(ctx, share.CreateOptions{Target: "bkt/f"})
	if err != nil {
		t.Fatal(err)
	}
	expiring, _, err := e.svc.Create(ctx, share.CreateOptions{Target: "bkt/f", Expires: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	kept, _, err := e.svc.Create(ctx, share.CreateOptions{Target: "bkt/f"})
	if err != nil {
		t.Fatal(err)
	}
	_, m, _ := open(t, revoked)
	if _, err := e.svc.Revoke(ctx, rinfo.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Revoke(ctx, rinfo.ID); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	// At once: the ticket of a download in progress stops working.
	if status, _ := getBlob(t, revoked, m.Ticket, 0, 0, "bytes=154-200"); status != http.StatusGone {
		t.Fatalf("blob of a revoked link: %d, want 410", status)
	}
	resp, err := http.Get(revoked.PageURL())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone || !strings.Contains(string(page), "The owner revoked this link.") {
		t.Fatalf("page of a revoked link: %d %s", resp.StatusCode, page)
	}
	if resp.Header.Get("Content-Security-Policy") != share.ContentSecurityPolicy {
		t.Fatalf("no CSP on the gone page")
	}
	// Another link to the same file is independent.
	if _, got := download(t, kept, nil); len(got[0]) != 200_000 {
		t.Fatalf("the other link: %d bytes", len(got[0]))
	}
	_, em, _ := open(t, expiring)
	e.clock.add(time.Hour)
	if status, _, _ := open(t, expiring); status != http.StatusGone {
		t.Fatalf("open after expiry: %d, want 410", status)
	}
	if status, _ := getBlob(t, expiring, em.Ticket, 0, 0, ""); status != http.StatusGone {
		t.Fatalf("blob after expiry: %d, want 410", status)
	}
	// Tickets themselves expire.
	e.clock.add(share.TicketLifetime)
	if status, _ := getBlob(t, kept, m.Ticket, 0, 0, ""); status != http.StatusForbidden {
		t.Fatalf("expired ticket: %d, want 403", status)
	}
}

func TestFolderSnapshot(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	files := map[string][]byte{
		"photos/a.jpg":       random(t, 1000),
		"photos/2026/b.jpg":  random(t, 70_000),
		"photos/../evil":     []byte("hostile name"),
		"photos//double":     []byte("empty segment"),
		"photosynthesis.txt": []byte("outside the prefix"),
		"other/c.txt":        []byte("outside"),
	}
	for k, v := range files {
		e.put(t, k, v)
	}
	link, info, err := e.svc.Create(ctx, share.CreateOptions{Target: "bkt/photos/"})
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != "folder" || info.Files != 4 {
		t.Fatalf("info %+v, want a folder of 4", info)
	}
	e.put(t, "photos/later.jpg", []byte("added after the link"))
	entries, got := download(t, link, nil)
	want := map[string]string{"a.jpg": "photos/a.jpg", "2026/b.jpg": "photos/2026/b.jpg", "__/evil": "photos/../evil", "_/double": "photos//double"}
	if len(entries) != len(want) {
		t.Fatalf("%d entries, want %d", len(entries), len(want))
	}
	for i, en := range entries {
		key, ok := want[en.Name]
		if !ok {
			t.Fatalf("unexpected entry %q", en.Name)
		}
		if err := sharelink.CheckName(en.Name); err != nil {
			t.Errorf("entry name %q: %v", en.Name, err)
		}
		if !bytes.Equal(got[i], files[key]) {
			t.Errorf("%s: content differs", en.Name)
		}
	}
	// A file replaced after the link was made is gone from it; the rest
	// still opens.
	e.put(t, "photos/a.jpg", []byte("new content"))
	_, m, _ := open(t, link)
	for i, en := range entries {
		status, _ := getBlob(t, link, m.Ticket, i, 0, "")
		want := http.StatusOK
		if en.Name == "a.jpg" {
			want = http.StatusGone
		}
		if status != want {
			t.Errorf("%s after a.jpg was replaced: %d, want %d", en.Name, status, want)
		}
	}
}

func TestPasswordLink(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := random(t, 5000)
	e.put(t, "secret.txt", data)
	link, info, err := e.svc.Create(ctx, share.CreateOptions{Target: "bkt/secret.txt", Password: []byte("correct horse")})
	if err != nil {
		t.Fatal(err)
	}
	if !info.Password {
		t.Fatal("info does not say password")
	}
	status, m, _ := open(t, link)
	if status != 200 || m.Password == nil || m.Password.KDF != "pbkdf2-sha256" || m.Password.Iterations != sharelink.MinIterations {
		t.Fatalf("manifest password %+v", m.Password)
	}
	sealed, _ := base64.RawURLEncoding.DecodeString(m.Entries[0])
	for _, pw := range [][]byte{nil, []byte("wrong"), []byte("correct horse ")} {
		keys, err := sharelink.DeriveKeys(link.ID, link.Secret, pw, m.Password.Iterations)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keys.OpenEntry(0, sealed); !errors.Is(err, sharelink.ErrOpen) {
			t.Errorf("password %q: %v, want ErrOpen", pw, err)
		}
	}
	if _, got := download(t, link, []byte("correct horse")); !bytes.Equal(got[0], data) {
		t.Fatal("right password: content differs")
	}
}

func TestCreateErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "f", []byte("x"))
	for _, tt := range []struct {
		o    share.CreateOptions
		want error
	}{
		{share.CreateOptions{Target: "bkt"}, share.ErrBadTarget},
		{share.CreateOptions{Target: "/f"}, share.ErrBadTarget},
		{share.CreateOptions{Target: "Not_A_Bucket/f"}, share.ErrBadTarget},
		{share.CreateOptions{Target: "bkt/missing"}, gateway.ErrNoSuchKey},
		{share.CreateOptions{Target: "nobucket/f"}, gateway.ErrNoSuchBucket},
		{share.CreateOptions{Target: "nobucket/"}, gateway.ErrNoSuchBucket},
		{share.CreateOptions{Target: "bkt/f", MaxDownloads: -1}, share.ErrBadRequest},
		{share.CreateOptions{Target: "bkt/f", Password: []byte{}}, share.ErrBadRequest},
	} {
		if _, _, err := e.svc.Create(ctx, tt.o); !errors.Is(err, tt.want) {
			t.Errorf("Create(%+v): %v, want %v", tt.o, err, tt.want)
		}
	}
	if _, err := e.svc.Revoke(ctx, "AAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, gateway.ErrNoSuchShare) {
		t.Errorf("revoke unknown: %v", err)
	}
	if resp, err := http.Get(e.srv.URL + "/s/AAAAAAAAAAAAAAAAAAAAAA"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("page of an unknown link: %v", err)
	}
}

// TestRecordsSurviveRebuild checks that share links, their counts and their
// revocation come back from the providers' records, and that a provider
// replaying an old, active record of a revoked link changes nothing.
func TestRecordsSurviveRebuild(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "f", random(t, 1000))
	active, ainfo, err := e.svc.Create(ctx, share.CreateOptions{Target: "bkt/f", MaxDownloads: 5})
	if err != nil {
		t.Fatal(err)
	}
	_, rinfo, err := e.svc.Create(ctx, share.CreateOptions{Target: "bkt/f"})
	if err != nil {
		t.Fatal(err)
	}
	open(t, active)
	open(t, active)
	// Keep the revoked link's active record, as a hostile provider would.
	old := shareFiles(t, e)
	if _, err := e.svc.Revoke(ctx, rinfo.ID); err != nil {
		t.Fatal(err)
	}
	fresh, err := catalog.OpenBolt(filepath.Join(t.TempDir(), "rebuilt.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	rep, err := gateway.RebuildCatalog(ctx, gateway.RebuildOptions{Keys: e.Keys, Backends: []backends.Backend{e.Backend}, Catalog: fresh})
	if err != nil || rep.Shares != 2 || len(rep.Failed) != 0 {
		t.Fatalf("rebuild: %+v, %v", rep, err)
	}
	for id, want := range map[string]struct {
		state     string
		downloads int64
	}{ainfo.ID: {"active", 2}, rinfo.ID: {"revoked", 0}} {
		s, err := fresh.GetShare(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st := s.State(time.Now()).String(); st != want.state || s.Downloads != want.downloads {
			t.Errorf("rebuilt %s: %s with %d downloads, want %s with %d", id, st, s.Downloads, want.state, want.downloads)
		}
	}
	// Replay the old records into the provider, then rebuild into the
	// catalog that knows of the revocation: it stays revoked.
	for name, b := range old {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := gateway.RebuildCatalog(ctx, gateway.RebuildOptions{Keys: e.Keys, Backends: []backends.Backend{e.Backend}, Catalog: fresh}); err != nil {
		t.Fatal(err)
	}
	if s, _ := fresh.GetShare(ctx, rinfo.ID); !s.Revoked {
		t.Fatal("a replayed record un-revoked the link")
	}
	// A record moved to another link's name does not authenticate there.
	names := make([]string, 0, len(old))
	for n := range old {
		names = append(names, n)
	}
	if len(names) != 2 {
		t.Fatalf("%d share records on the provider, want 2", len(names))
	}
	b0, _ := os.ReadFile(names[0])
	if err := os.WriteFile(names[1], b0, 0o600); err != nil {
		t.Fatal(err)
	}
	other, err := catalog.OpenBolt(filepath.Join(t.TempDir(), "other.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	rep, err = gateway.RebuildCatalog(ctx, gateway.RebuildOptions{Keys: e.Keys, Backends: []backends.Backend{e.Backend}, Catalog: other})
	if err != nil || rep.Shares != 1 || len(rep.Failed) != 1 || !errors.Is(rep.Failed[0].Err, seal.ErrIntegrity) {
		t.Fatalf("rebuild with a swapped record: %+v, %v", rep, err)
	}
}

// shareFiles returns the share records on the test's provider directory.
func shareFiles(t *testing.T, e *env) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(e.Dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.Contains(filepath.ToSlash(p), "/s/") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[p] = b
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTamperedRecordInCatalog checks that a flipped byte in the catalog's
// copy of a share record makes the link fail closed.
func TestTamperedRecordInCatalog(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "f", []byte("x"))
	link, info, err := e.svc.Create(ctx, share.CreateOptions{Target: "bkt/f"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.Catalog.GetShare(ctx, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.Record[len(s.Record)-3] ^= 1
	s.Generation++
	if err := e.Catalog.PutShare(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Get(ctx, info.ID); !errors.Is(err, seal.ErrIntegrity) {
		t.Fatalf("Get of a tampered record: %v, want ErrIntegrity", err)
	}
	if status, _, _ := open(t, link); status != http.StatusServiceUnavailable {
		t.Fatalf("open of a tampered record: %d, want 503", status)
	}
}

// TestInlineObjectLinks shares objects small enough to live inside their
// meta record: the blob route serves the same bytes a stored blob would
// (header, then chunks; whole and by range), for as long as the object's
// record still holds them: a delete, or an overwrite without versioning,
// ends it (410); with versioning the shared version keeps serving until
// that version is deleted.
func TestInlineObjectLinks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := random(t, 3000)
	e.put(t, "small", data)
	o, err := e.NS.Object(ctx, "bkt", "small")
	if err != nil {
		t.Fatal(err)
	}
	link, _, err := e.svc.Create(ctx, share.CreateOptions{Target: "bkt/small"})
	if err != nil {
		t.Fatal(err)
	}
	entries, got := download(t, link, nil)
	if len(entries) != 1 || !bytes.Equal(got[0], data) || o.Size != 3000 {
		t.Fatalf("download: %d entries, content equal %v", len(entries), len(got) == 1 && bytes.Equal(got[0], data))
	}
	_, m, _ := open(t, link)
	status, whole := getBlob(t, link, m.Ticket, 0, 0, "")
	if status != http.StatusOK || int64(len(whole)) != seal.CiphertextSize(3000) {
		t.Fatalf("whole blob: %d, %d bytes; want 200, %d", status, len(whole), seal.CiphertextSize(3000))
	}
	for _, r := range [][2]int{{0, 10}, {100, 200}, {seal.HeaderSize, len(whole) - 1}, {0, seal.HeaderSize - 1}} {
		status, part := getBlob(t, link, m.Ticket, 0, 0, fmt.Sprintf("bytes=%d-%d", r[0], r[1]))
		if status != http.StatusPartialContent || !bytes.Equal(part, whole[r[0]:r[1]+1]) {
			t.Errorf("range %v: %d, equal %v", r, status, bytes.Equal(part, whole[r[0]:r[1]+1]))
		}
	}
	// Deleted: gone, also for the header alone.
	if err := e.NS.DeleteObject(ctx, "bkt", "small"); err != nil {
		t.Fatal(err)
	}
	for _, rng := range []string{"", "bytes=0-10"} {
		if status, _ := getBlob(t, link, m.Ticket, 0, 0, rng); status != http.StatusGone {
			t.Errorf("after delete, range %q: %d, want 410", rng, status)
		}
	}
	// Recreated with the same content: a new object, still gone.
	e.put(t, "small", data)
	if status, _ := getBlob(t, link, m.Ticket, 0, 0, ""); status != http.StatusGone {
		t.Errorf("after re-create: %d, want 410", status)
	}

	// With versioning, the shared version outlives an overwrite.
	if err := e.NS.SetBucketVersioning(ctx, "bkt", gateway.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	e.put(t, "v", data)
	vo, err := e.NS.Object(ctx, "bkt", "v")
	if err != nil {
		t.Fatal(err)
	}
	vlink, _, err := e.svc.Create(ctx, share.CreateOptions{Target: "bkt/v"})
	if err != nil {
		t.Fatal(err)
	}
	e.put(t, "v", []byte("newer"))
	if _, got := download(t, vlink, nil); !bytes.Equal(got[0], data) {
		t.Error("the shared version does not read after an overwrite")
	}
	if _, err := e.NS.Delete(ctx, "bkt", "v", gateway.DeleteOptions{VersionID: vo.VersionID}); err != nil {
		t.Fatal(err)
	}
	_, vm, _ := open(t, vlink)
	if status, _ := getBlob(t, vlink, vm.Ticket, 0, 0, ""); status != http.StatusGone {
		t.Errorf("after deleting the shared version: %d, want 410", status)
	}
}
