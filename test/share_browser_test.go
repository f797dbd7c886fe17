package e2e

// Browser tests of the share page (gateway/sharepage): a real headless
// Chromium, driven with chromedp, opens share links, types passwords and
// clicks "Save"; the tests check the files the browser saved and the text
// the page shows. Debian's chromium (test/setup installs it) is required
// under CI=true and skipped elsewhere when missing.
//
// TestSharePage* without "Gateway" run the page against the fixture server
// of sharepage_fixture_test.go, which serves manifests and blobs built with
// gateway/sharelink and gateway/seal and can misbehave as a broken or
// hostile server would. TestSharePageGateway* run it against the real
// `twincrypt serve` (gateway/share), with links made by `twincrypt share
// create`.
//
// Headless Chromium has no File System Access picker anyone could answer,
// so the page is opened with ?fsa=0 and saves through its Service Worker
// (or, with ?sw=0, through a Blob in memory).
//
// Screenshots go to $TWINCRYPT_TEST_OUT/<test name>/ when that is set, and
// otherwise to the test's artifact directory (kept with go test -artifacts).

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	rand2 "math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/twincrypt/twincrypt/gateway/seal"
	"github.com/twincrypt/twincrypt/internal/testenv"
)

// The messages of share.js that the tests compare exactly.
const (
	pageMsgWrongLink     = "This link is damaged or not for this file."
	pageMsgWrongPassword = "Wrong password."
	pageMsgNoFragment    = "This link is incomplete: the part after “#” is missing. Copy the whole link, including everything after “#”, and open it again."
	pageMsgBadFragment   = "This link is damaged: the part after “#” is not a valid key. Copy the whole link and open it again."
)

// pageMsgIntegrity is share.js's message for a file that fails to authenticate.
func pageMsgIntegrity(name string) string {
	return "“" + name + "” failed to authenticate: the data was damaged or tampered with. Nothing was saved."
}

// browserOutDir is where a test writes screenshots and measurements:
// $TWINCRYPT_TEST_OUT/<test name> when set, else the test's artifact
// directory.
func browserOutDir(t *testing.T) string {
	t.Helper()
	if base := os.Getenv("TWINCRYPT_TEST_OUT"); base != "" {
		dir := filepath.Join(base, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.ArtifactDir()
}

// browserDownload is what the browser reported about one download.
type browserDownload struct {
	GUID     string
	URL      string
	Name     string // suggested file name
	State    browser.DownloadProgressState
	Received float64
	FilePath string
}

// shareBrowser is a headless Chromium with a fresh profile and its own
// download directory.
type shareBrowser struct {
	t      *testing.T
	ctx    context.Context
	DLDir  string
	OutDir string

	mu        sync.Mutex
	closed    bool // the test ended: log nothing more
	downloads map[string]*browserDownload
	order     []string // GUIDs in the order downloads began
	changed   chan struct{}
	console   []string
}

// newShareBrowser starts Chromium; it is stopped when the test ends. limit
// bounds the whole browser session.
func newShareBrowser(t *testing.T, limit time.Duration) *shareBrowser {
	t.Helper()
	exe := testenv.Tool(t, "chromium", "/usr/bin/chromium")
	b := &shareBrowser{t: t, DLDir: t.TempDir(), OutDir: browserOutDir(t), downloads: map[string]*browserDownload{}, changed: make(chan struct{}, 1)}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 760),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
	}
	limitCtx, cancelLimit := context.WithTimeout(context.Background(), limit)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(limitCtx, opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelLimit()
	})
	// Runs before the cancels above (cleanups run last-in, first-out).
	t.Cleanup(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
	})
	b.ctx = ctx
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		testenv.Unavailable(t, "cannot start %s: %v", exe, err)
	}
	if err := chromedp.Listen(ctx, b.event); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.ListenBrowser(ctx, b.event); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior:      browser.SetDownloadBehaviorBehaviorAllow,
		DownloadPath:  b.DLDir,
		EventsEnabled: new(true),
	}); err != nil {
		t.Fatal(err)
	}
	return b
}

// event records download events and the page's console. It runs on
// chromedp's reading goroutine, so it only takes a lock and returns.
func (b *shareBrowser) event(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *browser.EventDownloadWillBegin:
		d := b.downloads[ev.GUID]
		if d == nil {
			d = &browserDownload{GUID: ev.GUID}
			b.downloads[ev.GUID] = d
			b.order = append(b.order, ev.GUID)
		}
		d.URL, d.Name = ev.URL, ev.SuggestedFilename
	case *browser.EventDownloadProgress:
		d := b.downloads[ev.GUID]
		if d == nil {
			d = &browserDownload{GUID: ev.GUID}
			b.downloads[ev.GUID] = d
			b.order = append(b.order, ev.GUID)
		}
		d.State, d.Received = ev.State, ev.ReceivedBytes
		if ev.FilePath != "" {
			d.FilePath = ev.FilePath
		}
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			if a.Value != nil {
				args = append(args, string(a.Value))
			} else {
				args = append(args, a.Description)
			}
		}
		b.console = append(b.console, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
	case *runtime.EventExceptionThrown:
		b.console = append(b.console, fmt.Sprintf("exception: %s %s", ev.ExceptionDetails.Text, pageExceptionText(ev.ExceptionDetails)))
	default:
		return
	}
	select {
	case b.changed <- struct{}{}:
	default:
	}
}

func pageExceptionText(d *runtime.ExceptionDetails) string {
	if d == nil || d.Exception == nil {
		return ""
	}
	return d.Exception.Description
}

// Console returns what the page wrote to the console so far.
func (b *shareBrowser) Console() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.console)
}

// Do runs actions, failing the test on error.
func (b *shareBrowser) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\nconsole: %q", what, err, b.Console())
	}
}

// Navigate opens url.
func (b *shareBrowser) Navigate(url string) {
	b.t.Helper()
	b.Do("navigate", chromedp.Navigate(url))
}

// pageState is what the page shows (both the share page and gone.html).
type pageState struct {
	Title    string   `json:"title"`
	Error    string   `json:"error"`    // the text of #error when visible
	Ready    bool     `json:"ready"`    // the files are listed
	Password bool     `json:"password"` // the password form waits for input
	Rows     []string `json:"rows"`     // data-state of each file row
	Names    []string `json:"names"`
	Sizes    []string `json:"sizes"`
}

const pageStateJS = `(() => {
	const byId = (id) => document.getElementById(id);
	const err = byId('error');
	const form = byId('password-form');
	const pw = byId('password');
	const rows = [...document.querySelectorAll('#files li')];
	return JSON.stringify({
		title: byId('title') ? byId('title').textContent : '',
		error: err && !err.hidden ? err.textContent : '',
		ready: document.body !== null && document.body.dataset.ready === 'true',
		password: !!form && !form.hidden && !!pw && !pw.disabled,
		rows: rows.map((li) => li.dataset.state),
		names: rows.map((li) => li.querySelector('.name').textContent),
		sizes: rows.map((li) => li.querySelector('.size').textContent),
	});
})()`

// State reads the page state.
func (b *shareBrowser) State() (pageState, error) {
	var st pageState
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](pageStateJS))
	if err != nil {
		return st, err
	}
	err = json.Unmarshal([]byte(s), &st)
	return st, err
}

// WaitState polls the page until cond holds and returns that state.
func (b *shareBrowser) WaitState(what string, timeout time.Duration, cond func(pageState) bool) pageState {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	var last pageState
	var lastErr error
	for time.Now().Before(deadline) {
		st, err := b.State()
		if err == nil && cond(st) {
			return st
		}
		last, lastErr = st, err
		time.Sleep(100 * time.Millisecond)
	}
	b.Screenshot("timeout-" + what)
	b.t.Fatalf("page did not reach %q within %v: last state %+v (err %v)\nconsole: %q", what, timeout, last, lastErr, b.Console())
	return last
}

// Screenshot saves a full-page PNG screenshot as <out dir>/<name>.png.
func (b *shareBrowser) Screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.OutDir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	b.t.Logf("screenshot: %s", path)
}

// Downloads returns a copy of the downloads so far, in the order they began.
func (b *shareBrowser) Downloads() []browserDownload {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []browserDownload
	for _, g := range b.order {
		out = append(out, *b.downloads[g])
	}
	return out
}

// WaitDownload waits until the download of a file suggested as name ends
// and returns it; it fails the test if it is canceled.
func (b *shareBrowser) WaitDownload(name string, timeout time.Duration) browserDownload {
	b.t.Helper()
	d, ok := b.waitDownloadEnd(name, timeout)
	if !ok {
		b.Screenshot("timeout-download-" + name)
		st, _ := b.State()
		b.t.Fatalf("download of %q did not end within %v: downloads %+v, page %+v\nconsole: %q", name, timeout, b.Downloads(), st, b.Console())
	}
	if d.State != browser.DownloadProgressStateCompleted {
		st, _ := b.State()
		b.t.Fatalf("download of %q ended %s; page %+v\nconsole: %q", name, d.State, st, b.Console())
	}
	return d
}

// waitDownloadEnd waits until a download suggested as name is completed or
// canceled.
func (b *shareBrowser) waitDownloadEnd(name string, timeout time.Duration) (browserDownload, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		for _, d := range b.Downloads() {
			if d.Name == name && (d.State == browser.DownloadProgressStateCompleted || d.State == browser.DownloadProgressStateCanceled) {
				return d, true
			}
		}
		select {
		case <-b.changed:
		case <-time.After(200 * time.Millisecond):
		case <-timer.C:
			return browserDownload{}, false
		case <-b.ctx.Done():
			return browserDownload{}, false
		}
	}
}

// SavedPath is where a completed download was written.
func (b *shareBrowser) SavedPath(d browserDownload) string {
	if d.FilePath != "" {
		return d.FilePath
	}
	return filepath.Join(b.DLDir, d.Name)
}

// Save clicks the Save button of file row index, waits until the page
// says the file is saved and the browser completed the download, and
// returns the saved file's path.
func (b *shareBrowser) Save(index int, name string, timeout time.Duration) string {
	b.t.Helper()
	b.Do("click Save", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#files li[data-index="%d"] button.save`, index))))
	b.WaitState("file saved", timeout, func(st pageState) bool {
		if st.Error != "" {
			b.t.Fatalf("saving %s: the page shows %q", name, st.Error)
		}
		return index < len(st.Rows) && st.Rows[index] == "done"
	})
	return b.SavedPath(b.WaitDownload(name, timeout))
}

// pageRandomBytes returns n random bytes.
func pageRandomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// checkSavedFile compares the SHA-256 of the file at path with want.
func checkSavedFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("saved file: %v", err)
	}
	if g, w := sha256.Sum256(got), sha256.Sum256(want); g != w {
		t.Fatalf("%s: %d bytes, SHA-256 %s; want %d bytes, SHA-256 %s", path, len(got), hex.EncodeToString(g[:]), len(want), hex.EncodeToString(w[:]))
	}
}

// checkSecretKept fails the test if secret (a link's secret, a password)
// reached the server in any request, or the page's console.
func checkSecretKept(t *testing.T, f *pageFixture, b *shareBrowser, secret string) {
	t.Helper()
	if f.Received(secret) {
		t.Errorf("the server received the secret %q", secret)
	}
	for _, line := range b.Console() {
		if strings.Contains(line, secret) {
			t.Errorf("the console shows the secret: %q", line)
		}
	}
}

// TestSharePageFile saves a 20 MiB file (a two-part object) from a file
// link and checks every byte; it also checks that the download streamed
// through the Service Worker and that the link was opened once.
func TestSharePageFile(t *testing.T) {
	f := newPageFixture(t)
	data := pageRandomBytes(t, 20<<20)
	s := f.Share([]fixtureFile{{Name: "holiday video.bin", Data: data, Parts: 2}}, fixtureOptions{})
	b := newShareBrowser(t, 3*time.Minute)

	b.Navigate(f.PageURL(s, "fsa=0") + "#" + s.Secret.String())
	st := b.WaitState("files listed", 30*time.Second, func(st pageState) bool { return st.Ready || st.Error != "" })
	if st.Error != "" {
		t.Fatalf("page shows %q", st.Error)
	}
	if st.Title != "holiday video.bin" || !slices.Equal(st.Names, []string{"holiday video.bin"}) || !slices.Equal(st.Sizes, []string{"20.0 MiB"}) {
		t.Errorf("page shows %+v", st)
	}
	b.Screenshot("1-opened")

	start := time.Now()
	path := b.Save(0, "holiday video.bin", 2*time.Minute)
	t.Logf("saved 20 MiB in %v", time.Since(start).Round(time.Millisecond))
	b.Screenshot("2-saved")
	checkSavedFile(t, path, data)

	if n := f.dlRequests.Load(); n != 0 {
		t.Errorf("%d download requests reached the server: the Service Worker did not answer them", n)
	}
	checkSecretKept(t, f, b, s.Secret.String())
	if n := f.opens.Load(); n != 1 {
		t.Errorf("the link was opened %d times, want 1", n)
	}

	// A download id the Service Worker does not know (as after a restart
	// of the worker) is answered with a download that fails, never with a
	// page that would replace the share page.
	b.Do("follow unknown download", chromedp.Evaluate[chromedp.Void](`(() => {
		const a = document.createElement('a');
		a.href = '/s/dl/AAAAAAAAAAAAAAAAAAAAAA';
		document.body.append(a);
		a.click();
		a.remove();
	})()`))
	if d, ok := b.waitDownloadEnd("download", 20*time.Second); !ok || d.State != browser.DownloadProgressStateCanceled {
		t.Errorf("unknown download: %+v (ended: %v), want canceled", d, ok)
	}
	if st, err := b.State(); err != nil || !st.Ready || st.Rows[0] != "done" {
		t.Errorf("after an unknown download the page shows %+v (%v)", st, err)
	}
	if n := f.dlRequests.Load(); n != 0 {
		t.Errorf("%d download requests reached the server", n)
	}
}

// TestSharePageFolder saves every file of a folder link: a small text
// file, a file in a subfolder that ends mid-chunk, and an empty file.
func TestSharePageFolder(t *testing.T) {
	f := newPageFixture(t)
	files := []fixtureFile{
		{Name: "notes.txt", Data: []byte(strings.Repeat("twincrypt share page\n", 60))},
		{Name: "photos/beach.jpg", Data: pageRandomBytes(t, 3<<20+12345), Parts: 1},
		{Name: "empty.bin", Data: nil},
	}
	s := f.Share(files, fixtureOptions{Folder: true})
	b := newShareBrowser(t, 3*time.Minute)

	b.Navigate(f.PageURL(s, "fsa=0") + "#" + s.Secret.String())
	st := b.WaitState("files listed", 30*time.Second, func(st pageState) bool { return st.Ready || st.Error != "" })
	if st.Error != "" {
		t.Fatalf("page shows %q", st.Error)
	}
	if want := []string{"notes.txt", "photos/beach.jpg", "empty.bin"}; !slices.Equal(st.Names, want) {
		t.Errorf("files listed: %q, want %q", st.Names, want)
	}
	b.Screenshot("1-opened")
	for i, file := range files {
		name := file.Name[strings.LastIndex(file.Name, "/")+1:]
		checkSavedFile(t, b.Save(i, name, time.Minute), file.Data)
	}
	b.Screenshot("2-saved")
	if n := f.opens.Load(); n != 1 {
		t.Errorf("the link was opened %d times, want 1", n)
	}
}

// TestSharePageMemoryFallback saves a file with neither the File System
// Access API nor the Service Worker (?fsa=0&sw=0): the page assembles it
// in memory and says so.
func TestSharePageMemoryFallback(t *testing.T) {
	f := newPageFixture(t)
	data := pageRandomBytes(t, 2<<20+7)
	s := f.Share([]fixtureFile{{Name: "report.pdf", Data: data}}, fixtureOptions{})
	b := newShareBrowser(t, 2*time.Minute)

	b.Navigate(f.PageURL(s, "fsa=0&sw=0") + "#" + s.Secret.String())
	b.WaitState("files listed", 30*time.Second, func(st pageState) bool { return st.Ready })
	checkSavedFile(t, b.Save(0, "report.pdf", time.Minute), data)
	note, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.getElementById('memory-note').hidden ? '' : document.getElementById('memory-note').textContent`))
	if err != nil || !strings.Contains(note, "kept in memory") {
		t.Errorf("memory note: %q, %v", note, err)
	}
	b.Screenshot("saved-in-memory")

	// Beyond 256 MiB the page refuses at once rather than fill the memory.
	big := f.Share([]fixtureFile{{Name: "film.mkv", FakeSize: 300 << 20}}, fixtureOptions{})
	b.Navigate(f.PageURL(big, "fsa=0&sw=0") + "#" + big.Secret.String())
	b.WaitState("files listed", 30*time.Second, func(st pageState) bool { return st.Ready })
	b.Do("click Save", chromedp.Click(chromedp.CSS(`#files li[data-index="0"] button.save`)))
	st := b.WaitState("refused", 30*time.Second, func(st pageState) bool { return st.Error != "" })
	if want := "“film.mkv” is larger than 256 MiB, which this browser can only save by keeping the whole file in memory."; !strings.HasPrefix(st.Error, want) {
		t.Errorf("page shows %q, want it to start with %q", st.Error, want)
	}
	b.Screenshot("too-large-for-memory")
}

// TestSharePageWrongFragment opens links whose fragment is wrong, damaged
// or missing, and checks the exact message the page shows.
func TestSharePageWrongFragment(t *testing.T) {
	f := newPageFixture(t)
	s := f.Share([]fixtureFile{{Name: "secret.txt", Data: []byte("not for you")}}, fixtureOptions{})
	// The same file behind a server that accepts any token, as a hostile
	// server could: the page's own check (the commitment) must refuse.
	lax := f.Share([]fixtureFile{{Name: "secret.txt", Data: []byte("not for you")}}, fixtureOptions{AnyToken: true})
	other := base64.RawURLEncoding.EncodeToString(pageRandomBytes(t, 32))
	b := newShareBrowser(t, 2*time.Minute)
	parent := t

	for _, c := range []struct {
		name, url, want string
	}{
		{"other secret", f.PageURL(s, "fsa=0") + "#" + other, pageMsgWrongLink},
		{"other secret, any token accepted", f.PageURL(lax, "fsa=0") + "#" + other, pageMsgWrongLink},
		{"missing fragment", f.PageURL(s, "fsa=0"), pageMsgNoFragment},
		{"damaged fragment", f.PageURL(s, "fsa=0") + "#" + other[:20] + "!" + other[21:], pageMsgBadFragment},
		{"short fragment", f.PageURL(s, "fsa=0") + "#" + other[:40], pageMsgBadFragment},
	} {
		t.Run(c.name, func(t *testing.T) {
			b.t = t
			defer func() { b.t = parent }()
			b.Navigate("about:blank")
			b.Navigate(c.url)
			st := b.WaitState("error shown", 30*time.Second, func(st pageState) bool { return st.Error != "" || st.Ready })
			if st.Error != c.want {
				t.Errorf("page shows %q, want %q", st.Error, c.want)
			}
			if len(st.Rows) != 0 {
				t.Errorf("page lists files: %+v", st)
			}
			b.Screenshot(regexp.MustCompile(`\W+`).ReplaceAllString(c.name, "-"))
		})
	}
	if n := f.opens.Load(); n != 1 {
		t.Errorf("%d opens succeeded, want 1 (the link whose server accepts any token)", n)
	}
}

// TestSharePagePassword opens a password link: a wrong password shows the
// wrong-password message and asks again, the right one opens the file.
func TestSharePagePassword(t *testing.T) {
	f := newPageFixture(t)
	data := pageRandomBytes(t, 1<<20+1)
	s := f.Share([]fixtureFile{{Name: "contract.pdf", Data: data}}, fixtureOptions{Password: "correct horse ✓ battery"})
	b := newShareBrowser(t, 2*time.Minute)

	b.Navigate(f.PageURL(s, "fsa=0") + "#" + s.Secret.String())
	b.WaitState("password asked", 30*time.Second, func(st pageState) bool { return st.Password })
	b.Screenshot("1-password-asked")

	b.Do("type wrong password",
		chromedp.SendKeys(chromedp.ID("password"), "correct horse battery"),
		chromedp.Click(chromedp.ID("password-submit")))
	st := b.WaitState("wrong password", 30*time.Second, func(st pageState) bool { return st.Error != "" && st.Password })
	if st.Error != pageMsgWrongPassword {
		t.Errorf("page shows %q, want %q", st.Error, pageMsgWrongPassword)
	}
	if st.Ready || len(st.Rows) != 0 {
		t.Errorf("a wrong password listed files: %+v", st)
	}
	b.Screenshot("2-wrong-password")

	b.Do("type right password",
		chromedp.SendKeys(chromedp.ID("password"), "correct horse ✓ battery"),
		chromedp.Click(chromedp.ID("password-submit")))
	st = b.WaitState("files listed", 30*time.Second, func(st pageState) bool { return st.Ready })
	if st.Error != "" {
		t.Errorf("page still shows %q", st.Error)
	}
	checkSavedFile(t, b.Save(0, "contract.pdf", time.Minute), data)
	b.Screenshot("3-saved")
	checkSecretKept(t, f, b, s.Secret.String())
	checkSecretKept(t, f, b, "correct horse ✓ battery")
	if n := f.opens.Load(); n != 1 {
		t.Errorf("the link was opened %d times, want 1", n)
	}
}

// TestSharePageTampered serves blobs that do not authenticate: the page
// must show the authentication error, and the download directory must not
// hold a file under the real name.
func TestSharePageTampered(t *testing.T) {
	f := newPageFixture(t)
	b := newShareBrowser(t, 3*time.Minute)
	parent := t
	chunkOff := func(i int) int { return seal.HeaderSize + i*(seal.ChunkSize+16) }
	for i, c := range []struct {
		name   string
		size   int
		tamper func([]byte) []byte
	}{
		{"flipped byte in chunk 2", 1 << 20, func(blob []byte) []byte {
			blob[chunkOff(2)+100] ^= 0x01
			return blob
		}},
		// Chunk 70 is in the second window of 64 chunks: the first window
		// was already handed to the download when the error comes.
		{"flipped byte in chunk 70", 6 << 20, func(blob []byte) []byte {
			blob[chunkOff(70)+7] ^= 0x80
			return blob
		}},
		{"last chunk missing", 1<<20 + 100, func(blob []byte) []byte {
			return blob[:chunkOff(16)]
		}},
		{"chunk appended", 1 << 20, func(blob []byte) []byte {
			return append(blob, blob[chunkOff(0):chunkOff(1)]...)
		}},
		{"chunks swapped", 1 << 20, func(blob []byte) []byte {
			c3 := slices.Clone(blob[chunkOff(3):chunkOff(4)])
			copy(blob[chunkOff(3):], blob[chunkOff(4):chunkOff(5)])
			copy(blob[chunkOff(4):], c3)
			return blob
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b.t = t
			defer func() { b.t = parent }()
			name := fmt.Sprintf("data-%d.bin", i)
			s := f.Share([]fixtureFile{{Name: name, Data: pageRandomBytes(t, c.size)}}, fixtureOptions{})
			s.SetBlob(0, 0, c.tamper(slices.Clone(s.Blobs[0][0])))

			b.Navigate(f.PageURL(s, "fsa=0") + "#" + s.Secret.String())
			b.WaitState("files listed", 30*time.Second, func(st pageState) bool { return st.Ready })
			b.Do("click Save", chromedp.Click(chromedp.CSS(`#files li[data-index="0"] button.save`)))
			st := b.WaitState("error shown", time.Minute, func(st pageState) bool { return st.Error != "" || (len(st.Rows) == 1 && st.Rows[0] == "done") })
			if want := pageMsgIntegrity(name); st.Error != want {
				t.Errorf("page shows %q, want %q", st.Error, want)
			}
			if len(st.Rows) != 1 || st.Rows[0] != "failed" {
				t.Errorf("file row state %q, want failed", st.Rows)
			}
			b.Screenshot(regexp.MustCompile(`\W+`).ReplaceAllString(c.name, "-"))

			// A download that began must end canceled, never completed.
			began := false
			for _, d := range b.Downloads() {
				if d.Name == name {
					began = true
				}
			}
			if began {
				d, ok := b.waitDownloadEnd(name, 20*time.Second)
				if !ok {
					t.Errorf("the failed download of %s did not end", name)
				} else if d.State != browser.DownloadProgressStateCanceled {
					t.Errorf("the failed download of %s ended %s", name, d.State)
				}
			}
			entries, err := os.ReadDir(b.DLDir)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
				if e.Name() == name {
					t.Errorf("%s was saved under its real name", name)
				}
			}
			t.Logf("download began: %v; download directory: %q", began, names)
		})
	}
}

// TestSharePageGone opens a revoked link: the server answers the gone page.
func TestSharePageGone(t *testing.T) {
	f := newPageFixture(t)
	s := f.Share([]fixtureFile{{Name: "old.txt", Data: []byte("old")}}, fixtureOptions{})
	s.Revoke()
	b := newShareBrowser(t, time.Minute)
	b.Navigate(f.Link(s))
	st := b.WaitState("gone page", 30*time.Second, func(st pageState) bool { return st.Error != "" })
	if st.Title != "Link revoked" || st.Error != "This link was revoked by its owner." {
		t.Errorf("gone page shows %+v", st)
	}
	b.Screenshot("gone")
}

// ---------------------------------------------------------------------
// The same page against the real gateway: twincrypt serve with its share
// listener (gateway/share) and admin API, links made with `twincrypt share
// create`.
// ---------------------------------------------------------------------

// pageLinkQuery adds a query string to a link, before its fragment.
func pageLinkQuery(link, query string) string {
	page, fragment, _ := strings.Cut(link, "#")
	return page + "?" + query + "#" + fragment
}

// TestSharePageGatewayFile saves a 20 MiB object (a multipart upload, so
// a file of several parts) through a link of the real gateway.
func TestSharePageGatewayFile(t *testing.T) {
	sg := startShareGateway(t)
	data := faultData(20<<20, 11)
	sg.Put(t, "videos/holiday.mp4", bytes.NewReader(data), int64(len(data)))
	link := sg.CreateLink(t, "videos/holiday.mp4")

	b := newShareBrowser(t, 3*time.Minute)
	b.Navigate(pageLinkQuery(link, "fsa=0"))
	st := b.WaitState("files listed", 30*time.Second, func(st pageState) bool { return st.Ready || st.Error != "" })
	if st.Error != "" {
		t.Fatalf("page shows %q\nserve:\n%s", st.Error, sg.Output())
	}
	if !slices.Equal(st.Names, []string{"holiday.mp4"}) || !slices.Equal(st.Sizes, []string{"20.0 MiB"}) {
		t.Errorf("page shows %+v", st)
	}
	b.Screenshot("1-opened")
	start := time.Now()
	checkSavedFile(t, b.Save(0, "holiday.mp4", 2*time.Minute), data)
	t.Logf("saved 20 MiB from the gateway in %v", time.Since(start).Round(time.Millisecond))
	b.Screenshot("2-saved")
}

// TestSharePageGatewayFolder saves the three files of a folder link of the
// real gateway.
func TestSharePageGatewayFolder(t *testing.T) {
	sg := startShareGateway(t)
	files := map[string][]byte{
		"a.txt":     []byte(strings.Repeat("folder link\n", 100)),
		"sub/b.bin": faultData(2<<20+333, 12),
		"c.dat":     faultData(65536, 13),
	}
	for name, data := range files {
		sg.Put(t, "docs/"+name, bytes.NewReader(data), int64(len(data)))
	}
	sg.Put(t, "docsmore.txt", strings.NewReader("not below docs/"), 15) // must not be listed
	link := sg.CreateLink(t, "docs/")

	b := newShareBrowser(t, 3*time.Minute)
	b.Navigate(pageLinkQuery(link, "fsa=0"))
	st := b.WaitState("files listed", 30*time.Second, func(st pageState) bool { return st.Ready || st.Error != "" })
	if st.Error != "" {
		t.Fatalf("page shows %q\nserve:\n%s", st.Error, sg.Output())
	}
	names := slices.Sorted(slices.Values(st.Names))
	if want := []string{"a.txt", "c.dat", "sub/b.bin"}; !slices.Equal(names, want) {
		t.Fatalf("files listed: %q, want %q", st.Names, want)
	}
	b.Screenshot("1-opened")
	for i, name := range st.Names {
		checkSavedFile(t, b.Save(i, name[strings.LastIndex(name, "/")+1:], time.Minute), files[name])
	}
	b.Screenshot("2-saved")
}

// TestSharePageGatewayRevoked revokes a link while its page is open: the
// download that follows fails with the server's reason, and the link then
// answers the 410 page.
func TestSharePageGatewayRevoked(t *testing.T) {
	sg := startShareGateway(t)
	data := faultData(300<<10, 14)
	sg.Put(t, "letters/old.txt", bytes.NewReader(data), int64(len(data)))
	link := sg.CreateLink(t, "letters/old.txt")

	b := newShareBrowser(t, 2*time.Minute)
	b.Navigate(pageLinkQuery(link, "fsa=0"))
	b.WaitState("files listed", 30*time.Second, func(st pageState) bool { return st.Ready })
	sg.Revoke(t, link)
	b.Do("click Save", chromedp.Click(chromedp.CSS(`#files li[data-index="0"] button.save`)))
	st := b.WaitState("error shown", 30*time.Second, func(st pageState) bool { return st.Error != "" })
	if !strings.HasPrefix(st.Error, "This file is no longer available through this link") {
		t.Errorf("after revoking, the page shows %q", st.Error)
	}
	b.Screenshot("1-revoked-while-open")
	if _, err := os.Stat(filepath.Join(b.DLDir, "old.txt")); err == nil {
		t.Errorf("old.txt was saved after the link was revoked")
	}

	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(link))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 410 {
		t.Errorf("GET %s answered %d, want 410", resp.URL, resp.Status)
	}
	st = b.WaitState("gone page", 30*time.Second, func(st pageState) bool { return st.Error != "" })
	if st.Title != "This link no longer opens" || st.Error != "The owner revoked this link." {
		t.Errorf("gone page shows %+v", st)
	}
	b.Screenshot("2-gone-page")
}

// TestSharePageGateway1GiB saves a 1 GiB object through the page and
// records the peak resident memory (VmHWM) of Chromium's renderer
// processes, which must stay far below the file's size: the page streams.
// It takes a minute or more and runs only with TWINCRYPT_LONG=1.
func TestSharePageGateway1GiB(t *testing.T) {
	if os.Getenv("TWINCRYPT_LONG") != "1" {
		t.Skip("set TWINCRYPT_LONG=1 to save a 1 GiB object through the share page")
	}
	const size = 1 << 30
	sg := startShareGateway(t)
	h := sha256.New()
	gen := rand2.NewChaCha8([32]byte{1, 2, 3})
	start := time.Now()
	sg.Put(t, "big/disk.img", io.TeeReader(io.LimitReader(gen, size), h), size)
	want := hex.EncodeToString(h.Sum(nil))
	t.Logf("uploaded 1 GiB in %v", time.Since(start).Round(time.Millisecond))
	link := sg.CreateLink(t, "big/disk.img")

	b := newShareBrowser(t, 15*time.Minute)
	b.Navigate(pageLinkQuery(link, "fsa=0"))
	b.WaitState("files listed", 30*time.Second, func(st pageState) bool { return st.Ready })
	b.Screenshot("1-opened")

	// Sample the renderers while the download runs: VmHWM is a peak
	// already, but a renderer that exits takes its peak with it.
	pid := browserPID(b)
	peaks := map[int]rendererMemInfo{}
	var timeline strings.Builder // elapsed seconds, pid, VmRSS KiB
	type sample struct {
		at     time.Duration
		rssKiB int64 // the largest VmRSS of any renderer
	}
	var samples []sample
	stop := make(chan struct{})
	sampled := make(chan struct{})
	sampleStart := time.Now()
	go func() {
		defer close(sampled)
		for {
			at := time.Since(sampleStart)
			top := int64(0)
			for _, m := range rendererMemory(pid) {
				if m.HWMKiB >= peaks[m.PID].HWMKiB {
					peaks[m.PID] = m
				}
				top = max(top, m.RSSKiB)
				fmt.Fprintf(&timeline, "%.2f\t%d\t%d\n", at.Seconds(), m.PID, m.RSSKiB)
			}
			samples = append(samples, sample{at, top})
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	start = time.Now()
	path := b.Save(0, "disk.img", 10*time.Minute)
	elapsed := time.Since(start)
	close(stop)
	<-sampled
	b.Screenshot("2-saved")
	if got := fileSum(t, path); got != want {
		t.Fatalf("saved file SHA-256 %s, want %s", got, want)
	}
	t.Logf("saved 1 GiB in %v (%.0f MiB/s)", elapsed.Round(time.Millisecond), float64(size>>20)/elapsed.Seconds())

	var report strings.Builder
	maxHWM := int64(0)
	for _, m := range peaks {
		maxHWM = max(maxHWM, m.HWMKiB)
		fmt.Fprintf(&report, "pid %d VmHWM %d KiB (%.1f MiB) VmRSS %d KiB: %s\n", m.PID, m.HWMKiB, float64(m.HWMKiB)/1024, m.RSSKiB, m.Cmd)
	}
	fmt.Fprintf(&report, "max renderer VmHWM: %d KiB (%.1f MiB) for a %d MiB file saved in %v\n", maxHWM, float64(maxHWM)/1024, size>>20, elapsed.Round(time.Millisecond))
	t.Logf("renderer peak RSS:\n%s", report.String())
	if err := os.WriteFile(filepath.Join(b.OutDir, "renderer-peak-rss.txt"), []byte(report.String()), 0o644); err != nil {
		t.Error(err)
	}
	if err := os.WriteFile(filepath.Join(b.OutDir, "renderer-rss-timeline.tsv"), []byte(timeline.String()), 0o644); err != nil {
		t.Error(err)
	}
	if len(peaks) == 0 {
		t.Errorf("found no renderer process below browser pid %d", pid)
	}
	// A page that held the file would need more than the file's size, and
	// its memory would grow as the download goes on. The renderer's
	// allocators keep several hundred MiB of churned buffers at this rate
	// (measured: 400 to 700 MiB peak, flat from the first second), so the
	// check is on growth, not on a tight bound.
	if maxHWM >= size>>10 {
		t.Errorf("a renderer peaked at %d MiB for a 1 GiB file: the page does not stream", maxHWM>>10)
	}
	var firstHalf, secondHalf int64
	for _, s := range samples {
		if s.at < elapsed/2 {
			firstHalf = max(firstHalf, s.rssKiB)
		} else {
			secondHalf = max(secondHalf, s.rssKiB)
		}
	}
	t.Logf("largest renderer VmRSS: %d MiB in the first half of the download, %d MiB in the second", firstHalf>>10, secondHalf>>10)
	if secondHalf > firstHalf+256<<10 {
		t.Errorf("renderer memory grew from %d MiB to %d MiB during the download: the page does not stream", firstHalf>>10, secondHalf>>10)
	}
}

// rendererMemInfo is the memory of one Chromium renderer process.
type rendererMemInfo struct {
	PID            int
	HWMKiB, RSSKiB int64
	Cmd            string
}

// rendererMemory returns VmHWM and VmRSS of every renderer process below
// the browser process root.
func rendererMemory(root int) []rendererMemInfo {
	parent := map[int]int{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 {
			parent[pid], _ = strconv.Atoi(fields[1])
		}
	}
	below := func(pid int) bool {
		for p, n := pid, 0; p > 1 && n < 64; p, n = parent[p], n+1 {
			if p == root {
				return true
			}
		}
		return false
	}
	var out []rendererMemInfo
	for pid := range parent {
		if pid == root || !below(pid) {
			continue
		}
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(cmd, []byte("--type=renderer")) {
			continue
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		m := rendererMemInfo{PID: pid, Cmd: string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '}))}
		if len(m.Cmd) > 160 {
			m.Cmd = m.Cmd[:160] + "…"
		}
		for _, line := range strings.Split(string(status), "\n") {
			k, v, _ := strings.Cut(line, ":")
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			switch k {
			case "VmHWM":
				m.HWMKiB = n
			case "VmRSS":
				m.RSSKiB = n
			}
		}
		out = append(out, m)
	}
	return out
}
