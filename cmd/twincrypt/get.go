package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/twincrypt/twincrypt/gateway/seal"
	"github.com/twincrypt/twincrypt/gateway/sharelink"
	"github.com/twincrypt/twincrypt/gateway/sharelink/fetch"
)

// partialSuffix names the file a download is written to until every chunk
// of it has authenticated.
const partialSuffix = ".partial"

// passwordTries is how many passwords a terminal user may type.
const passwordTries = 3

// errFailed marks a get whose reasons were already printed.
var errFailed = errors.New("download failed")

// getOptions are the flags of get.
type getOptions struct {
	out    string
	resume bool
	force  bool
	quiet  bool
}

func runGet(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "get", "[-o FILE|DIR] [--continue] [--force] [-q] LINK\n\n"+
		"Downloads what a share link shares (docs/SHARING.md): a file, or a folder's\n"+
		"files. No config is needed. Every chunk is authenticated with the key the\n"+
		"link carries after '#', which never leaves this machine. A file is written\n"+
		"to NAME.partial and renamed to NAME only when all of it has authenticated;\n"+
		"after a failure NAME.partial stays, and --continue resumes it.\n\n"+
		"A file link is saved under its own name in the current directory, or at\n"+
		"-o FILE, or in -o DIR when DIR exists (or ends in '/'). A folder link's\n"+
		"files are saved under their names below -o DIR (created if missing;\n"+
		"default: the current directory).\n\n"+
		"A password-protected link takes its password from "+envSharePassword+"\n"+
		"or asks on the terminal. LINK '-' reads the link from the first line of\n"+
		"standard input, keeping it out of the process list. Each run opens the\n"+
		"link once, which counts as a download against --max-downloads.\n"+
		"Exit status: 0 when every file was saved, 1 otherwise.\n\nflags:")
	var o getOptions
	fs.StringVar(&o.out, "o", "", "save to `PATH`: a file, or a directory (see above)")
	fs.BoolVar(&o.resume, "continue", false, "resume from NAME.partial; with a folder link, also keep files already saved whole")
	fs.BoolVar(&o.force, "force", false, "overwrite an existing NAME, and start NAME.partial over")
	fs.BoolVar(&o.quiet, "q", false, "quiet: no progress bar or messages, only errors")
	pos, err := parseInterleaved(fs, args, nil)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want one LINK (https://HOST/s/ID#SECRET, quoted)", errUsage)
	}
	if o.resume && o.force {
		return fmt.Errorf("%w: --continue and --force exclude each other", errUsage)
	}
	raw := pos[0]
	if raw == "-" {
		line, err := readLine(c.stdin)
		if err != nil {
			return fmt.Errorf("reading the link from standard input: %w", err)
		}
		raw = string(line)
		clear(line)
	}
	link, err := sharelink.Parse(raw)
	if err != nil {
		return err
	}
	return getLink(ctx, c, link, &o)
}

// getLink opens link and saves its files as o says.
func getLink(ctx context.Context, c *cli, link sharelink.Link, o *getOptions) error {
	bar := newGetBar(c, o.quiet)
	client := fetch.New(link, fetch.WithProgress(bar.update))
	sh, err := client.Open(ctx)
	if err != nil {
		return err
	}
	if sh.NeedsPassword() {
		if err := unlockShare(c, sh); err != nil {
			return err
		}
	}
	files := sh.Files()
	dir, single, err := getTarget(sh.Kind(), o.out)
	if err != nil {
		return err
	}
	if sh.Kind() == fetch.KindFolder || single == "" && o.out != "" {
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return err
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	failed := 0
	for i, e := range files {
		name := e.Name
		if single != "" {
			name = single
		}
		shown := displayPath(filepath.Join(dir, filepath.FromSlash(name)))
		err := getFile(ctx, c, sh, i, root, name, shown, o, bar)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: interrupted (run again with --continue to resume)", shown)
		}
		if len(files) == 1 {
			return err
		}
		fmt.Fprintf(c.stderr, "twincrypt get: %v\n", err)
		failed++
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d files not saved", errFailed, failed, len(files))
	}
	if sh.Kind() == fetch.KindFolder && !o.quiet {
		fmt.Fprintf(c.stderr, "%d files saved below %s\n", len(files), dir)
	}
	return nil
}

// unlockShare asks for the link's password and unlocks sh: once from the
// environment, up to passwordTries times on a terminal.
func unlockShare(c *cli, sh *fetch.Share) error {
	if v := c.getenv(envSharePassword); v != "" {
		pw := []byte(v)
		defer clear(pw)
		if err := sh.Unlock(pw); err != nil {
			if errors.Is(err, fetch.ErrWrongPassword) {
				return fmt.Errorf("wrong password (from %s)", envSharePassword)
			}
			return err
		}
		return nil
	}
	if !c.term {
		return fmt.Errorf("this link needs a password: set %s or run on a terminal", envSharePassword)
	}
	for try := 1; ; try++ {
		pw, err := promptSecret(c, "Password for this link: ")
		if err != nil {
			return fmt.Errorf("read password: %w", err)
		}
		err = sh.Unlock(pw)
		clear(pw)
		if err == nil {
			return nil
		}
		if !errors.Is(err, fetch.ErrWrongPassword) && !errors.Is(err, fetch.ErrPasswordRequired) {
			return err
		}
		if try == passwordTries {
			return errors.New("wrong password")
		}
		fmt.Fprintln(c.stderr, "Wrong password, try again.")
	}
}

// getTarget returns the directory files are saved in and, for a file link
// saved under another name (-o FILE), that name.
func getTarget(kind fetch.Kind, out string) (dir, single string, err error) {
	if kind == fetch.KindFolder || out == "" {
		if out == "" {
			out = "."
		}
		return out, "", nil
	}
	if strings.HasSuffix(out, "/") || strings.HasSuffix(out, string(filepath.Separator)) {
		return out, "", nil
	}
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		return out, "", nil
	}
	dir, single = filepath.Split(out)
	if dir == "" {
		dir = "."
	}
	if single == "." || single == ".." {
		return "", "", fmt.Errorf("%w: -o %s: not a file name", errUsage, out)
	}
	return dir, single, nil
}

// getFile downloads file i of sh to name below root (shown as shown in
// messages).
func getFile(ctx context.Context, c *cli, sh *fetch.Share, i int, root *os.Root, name, shown string, o *getOptions, bar *getBar) error {
	if err := saveFile(ctx, c, sh, i, root, name, shown, o, bar); err != nil {
		return fmt.Errorf("%s: %w", shown, err)
	}
	return nil
}

// saveFile does the work of getFile; its errors do not name the file.
func saveFile(ctx context.Context, c *cli, sh *fetch.Share, i int, root *os.Root, name, shown string, o *getOptions, bar *getBar) error {
	e := sh.Files()[i]
	// sharelink.CheckName has vetted entry names; os.Root keeps every
	// path below the directory, symbolic links included.
	if !filepath.IsLocal(filepath.FromSlash(name)) {
		return errors.New("unsafe file name")
	}
	name = filepath.FromSlash(name)
	part := name + partialSuffix
	partShown := displayPath(filepath.Base(part))
	if fi, err := root.Lstat(name); err == nil {
		switch {
		case o.resume && fi.Mode().IsRegular() && fi.Size() == e.Size:
			if !o.quiet {
				fmt.Fprintf(c.stderr, "kept %s (already there, %s)\n", shown, humanBytes(e.Size))
			}
			return nil
		case fi.IsDir():
			return errors.New("is a directory")
		case !o.force:
			return errors.New("exists (--force overwrites it)")
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if d := filepath.Dir(name); d != "." {
		if err := root.MkdirAll(d, 0o777); err != nil {
			return err
		}
	}
	f, off, created, err := openPartial(root, part, partShown, e.Size, o)
	if err != nil {
		return err
	}
	bar.start(shown, off)
	err = downloadInto(ctx, sh, i, f, off)
	bar.done()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err == nil:
	case created && off == 0 && isEmpty(root, part):
		// Nothing was written: leave no empty file behind.
		root.Remove(part)
		return err
	case errors.Is(err, errPartialMismatch):
		return err
	case errors.Is(err, seal.ErrIntegrity):
		return fmt.Errorf("the download does not authenticate: it was altered or damaged on the way (%w); "+
			"what authenticated before it is kept in %s (--continue retries from there)", err, partShown)
	default:
		return fmt.Errorf("%w (what authenticated is kept in %s; run again with --continue to resume)", err, partShown)
	}
	if err := root.Rename(part, name); err != nil {
		return err
	}
	if !e.ModTime.IsZero() {
		root.Chtimes(name, time.Now(), e.ModTime)
	}
	if !o.quiet {
		fmt.Fprintf(c.stderr, "saved %s (%s)\n", shown, humanBytes(e.Size))
	}
	return nil
}

// isEmpty reports whether name below root is an empty file.
func isEmpty(root *os.Root, name string) bool {
	fi, err := root.Lstat(name)
	return err == nil && fi.Mode().IsRegular() && fi.Size() == 0
}

// openPartial opens NAME.partial for writing: from the start, or with
// --continue from its length rounded down to a whole chunk. It returns the
// offset to download from and whether the file was created.
func openPartial(root *os.Root, part, partShown string, size int64, o *getOptions) (f *os.File, off int64, created bool, err error) {
	fi, err := root.Lstat(part)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f, err = root.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		return f, 0, true, err
	case err != nil:
		return nil, 0, false, err
	case !fi.Mode().IsRegular():
		return nil, 0, false, fmt.Errorf("%s is not a regular file", partShown)
	case o.force:
		f, err = root.OpenFile(part, os.O_WRONLY|os.O_TRUNC, 0)
		return f, 0, false, err
	case !o.resume:
		return nil, 0, false, fmt.Errorf("%s exists from an earlier download: --continue resumes it, --force starts over", partShown)
	case fi.Size() > size:
		return nil, 0, false, fmt.Errorf("%s is larger (%d bytes) than the file (%d bytes): not from this link? (--force starts over)",
			partShown, fi.Size(), size)
	}
	f, err = root.OpenFile(part, os.O_RDWR, 0)
	if err != nil {
		return nil, 0, false, err
	}
	// Keep whole chunks only: a run that stopped may have written part
	// of one.
	off = fi.Size() / seal.ChunkSize * seal.ChunkSize
	if err := f.Truncate(off); err != nil {
		f.Close()
		return nil, 0, false, err
	}
	return f, off, false, nil
}

// downloadInto writes file i of sh to f from off on. With off > 0 it
// downloads the last kept chunk again and checks that f holds the same
// bytes, so that a NAME.partial of another file (or damaged by a crash) is
// not completed with this one.
func downloadInto(ctx context.Context, sh *fetch.Share, i int, f *os.File, off int64) error {
	from := off
	var w io.Writer = f
	if off > 0 {
		from = off - seal.ChunkSize
		kept := make([]byte, seal.ChunkSize)
		if _, err := f.ReadAt(kept, from); err != nil {
			return err
		}
		w = &resumeWriter{f: f, kept: kept, at: from}
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	_, err := sh.DownloadFrom(ctx, i, from, w)
	return err
}

// errPartialMismatch means NAME.partial does not hold the start of the
// file being downloaded.
var errPartialMismatch = errors.New("the partial file does not match this link's file (from another download?); --force starts over")

// resumeWriter compares the first bytes it is given with kept, the last
// chunk of what a partial file holds, and writes the rest to f.
type resumeWriter struct {
	f    io.Writer
	kept []byte
	at   int64 // file offset of kept
}

func (w *resumeWriter) Write(p []byte) (int, error) {
	n := 0
	if len(w.kept) > 0 {
		k := min(len(p), len(w.kept))
		if string(p[:k]) != string(w.kept[:k]) {
			return 0, fmt.Errorf("%w (bytes %d to %d differ)", errPartialMismatch, w.at, w.at+seal.ChunkSize)
		}
		w.kept = w.kept[k:]
		p = p[k:]
		n = k
	}
	if len(p) == 0 {
		return n, nil
	}
	m, err := w.f.Write(p)
	return n + m, err
}

// getBar reports a file's download progress on stderr: a bar redrawn in
// place on a terminal, otherwise a plain line every progressLineEvery.
type getBar struct {
	w     io.Writer
	term  bool // draw a bar
	plain bool // print plain lines
	now   func() time.Time

	mu    sync.Mutex
	name  string
	from  int64 // bytes there at the start (resume)
	begin time.Time
	last  time.Time
	drawn bool
}

// newGetBar returns the progress reporter of get: silent when quiet.
func newGetBar(c *cli, quiet bool) *getBar {
	b := &getBar{w: c.stderr, now: time.Now}
	if f, ok := c.stderr.(*os.File); ok && isTerminal(f) {
		b.term = !quiet
	} else {
		b.plain = !quiet
	}
	return b
}

// start begins the report of a file of which from bytes are there already.
func (b *getBar) start(name string, from int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.name, b.from = name, from
	if r := []rune(name); len(r) > 40 {
		b.name = "..." + string(r[len(r)-37:])
	}
	b.begin = b.now()
	b.last, b.drawn = b.begin, false
}

// update is the fetch.ProgressFunc.
func (b *getBar) update(p fetch.Progress) {
	if !b.term && !b.plain {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	switch {
	case b.term && (now.Sub(b.last) >= progressRedraw || p.Done == p.Size):
		fmt.Fprintf(b.w, "\r\033[K%s", b.line(now, p, true))
		b.drawn = true
	case b.plain && now.Sub(b.last) >= progressLineEvery && p.Done < p.Size:
		fmt.Fprintln(b.w, b.line(now, p, false))
	default:
		return
	}
	b.last = now
}

// line formats one report.
func (b *getBar) line(now time.Time, p fetch.Progress, bar bool) string {
	pct := int64(100)
	if p.Size > 0 {
		pct = p.Done * 100 / p.Size
	}
	var l strings.Builder
	l.WriteString(b.name)
	if bar {
		const width = 24
		n := int(pct * width / 100)
		fmt.Fprintf(&l, " [%s%s]", strings.Repeat("#", n), strings.Repeat("-", width-n))
	} else {
		l.WriteString(":")
	}
	fmt.Fprintf(&l, " %3d%% %s of %s", pct, humanBytes(p.Done), humanBytes(p.Size))
	if el := now.Sub(b.begin).Seconds(); el >= 1 {
		rate := float64(p.Done-b.from) / el
		fmt.Fprintf(&l, ", %s/s", humanBytes(int64(rate)))
		if rate > 0 && p.Done < p.Size {
			eta := time.Duration(float64(p.Size-p.Done) / rate * float64(time.Second))
			fmt.Fprintf(&l, ", ETA %s", eta.Round(time.Second))
		}
	}
	return l.String()
}

// done clears the bar's line, for the message that follows.
func (b *getBar) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprint(b.w, "\r\033[K")
		b.drawn = false
	}
}

// displayPath returns p as printed in messages: quoted when it holds
// characters a terminal would act on (a file name comes from the link).
func displayPath(p string) string {
	for _, r := range p {
		if !unicode.IsPrint(r) {
			return strconv.Quote(p)
		}
	}
	return p
}
