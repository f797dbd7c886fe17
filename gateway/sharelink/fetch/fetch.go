// Package fetch downloads what a share link shares: it opens the link at
// the gateway (POST /s/ID/open with the download token), opens the sealed
// entries with the keys derived from the link's secret (and password), and
// fetches each file's blobs in ranges of whole chunks, authenticating every
// chunk before it writes a byte of it. Memory stays flat for any file size:
// one chunk and the HTTP buffers.
//
// The protocol is docs/SHARING.md, "The share listener"; the cryptography is
// package sharelink and docs/FORMAT.md. The gateway is not trusted with the
// plaintext nor its integrity: a tampered, truncated or swapped blob fails
// with an error wrapping seal.ErrIntegrity.
//
// Typical use:
//
//	c := fetch.New(link)
//	sh, err := c.Open(ctx)
//	if sh.NeedsPassword() {
//		err = sh.Unlock(password)
//	}
//	for i, e := range sh.Files() {
//		_, err = sh.Download(ctx, i, w)
//	}
package fetch

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/twincrypt/twincrypt/gateway/seal"
	"github.com/twincrypt/twincrypt/gateway/sharelink"
)

// Request headers of the share protocol.
const (
	// HeaderToken carries the download token on the open request.
	HeaderToken = "X-Twincrypt-Token"
	// HeaderTicket carries the manifest's ticket on blob requests.
	HeaderTicket = "X-Twincrypt-Ticket"
)

// Defaults of a Client.
const (
	// DefaultWindow is the plaintext size fetched per range request
	// (rounded to whole chunks).
	DefaultWindow = 16 << 20
	// DefaultRetries is how many times in a row a blob request that fails
	// on the network or with a 5xx status is retried before giving up.
	// Any byte received resets the count.
	DefaultRetries = 4
	// DefaultIdleTimeout is how long a blob request may go without
	// receiving a byte before it is abandoned and retried.
	DefaultIdleTimeout = 2 * time.Minute
)

const (
	// chunkCipherSize is the blob size of a full chunk.
	chunkCipherSize = seal.ChunkSize + seal.TagSize
	// maxManifest bounds the manifest body.
	maxManifest = 64 << 20
	// maxErrorBody bounds the error body read from a failed request.
	maxErrorBody = 4 << 10
	// maxMessage bounds a server's error message as reported.
	maxMessage = 300
)

// Errors a caller can branch on with errors.Is. HTTP failures are
// *StatusError values that unwrap to the first three; failures to open the
// entries wrap sharelink.ErrOpen as well.
var (
	// ErrGone: the link was revoked, has expired or is used up, or the file
	// was replaced or deleted since the link was made (HTTP 410).
	ErrGone = errors.New("share link is gone")
	// ErrNotFound: the gateway knows no such share or file (HTTP 404).
	ErrNotFound = errors.New("share link not found")
	// ErrForbidden: the gateway refused the download token or the ticket
	// (HTTP 403): a damaged link, or a ticket that expired.
	ErrForbidden = errors.New("share link refused")
	// ErrPasswordRequired: the link has a password and none was given.
	ErrPasswordRequired = errors.New("this link needs a password")
	// ErrWrongPassword: the password does not open the link's entries.
	ErrWrongPassword = errors.New("wrong password")
	// ErrWrongSecret: the link's secret does not open its entries (the
	// part after '#' is wrong, or the gateway sent another link's entries).
	ErrWrongSecret = errors.New("the link's secret does not open its files (is the part after '#' complete?)")
	// ErrManifest: the gateway's answer to the open request is malformed.
	ErrManifest = errors.New("malformed share manifest")
)

// opOpen is the Op of the open request.
const opOpen = "open share link"

// StatusError is an HTTP failure of a share request.
type StatusError struct {
	// Op says which request failed: "open share link" or "file I part J".
	Op string
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is the server's {"error": ...} text, stripped of control
	// characters and shortened; empty when the body held none.
	Message string
}

// Error implements error.
func (e *StatusError) Error() string {
	var b strings.Builder
	switch e.StatusCode {
	case http.StatusGone:
		b.WriteString("gone (410): the link was revoked, has expired or was used up, or the file changed since the link was made")
	case http.StatusNotFound:
		b.WriteString("not found (404): the gateway knows no such link")
	case http.StatusForbidden:
		if e.Op == opOpen {
			b.WriteString("refused (403): the gateway does not accept this link's token (is the link complete and unchanged?)")
		} else {
			b.WriteString("refused (403): the gateway did not accept the download ticket (expired?)")
		}
	default:
		fmt.Fprintf(&b, "HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	if e.Message != "" {
		fmt.Fprintf(&b, "; server says: %s", e.Message)
	}
	if e.Op != "" {
		return e.Op + ": " + b.String()
	}
	return b.String()
}

// Unwrap returns ErrGone, ErrNotFound or ErrForbidden for those statuses.
func (e *StatusError) Unwrap() error {
	switch e.StatusCode {
	case http.StatusGone:
		return ErrGone
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusForbidden:
		return ErrForbidden
	}
	return nil
}

// temporary reports whether a retry may succeed.
func (e *StatusError) temporary() bool {
	switch e.StatusCode {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// Progress is one progress report of a download.
type Progress struct {
	File int    // index of the file in Share.Files
	Name string // the file's name
	Done int64  // plaintext bytes of the file written so far, resume offset included
	Size int64  // plaintext size of the file
}

// ProgressFunc receives progress reports: one per chunk written (about
// every 64 KiB), from the goroutine that downloads. It must be quick.
type ProgressFunc func(Progress)

// Client downloads from one share link.
type Client struct {
	link        sharelink.Link
	http        *http.Client
	progress    ProgressFunc
	window      int64 // blob bytes per range request: whole chunks
	retries     int
	idleTimeout time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests with h instead of
// http.DefaultClient. Do not give h an overall Timeout: a large file takes
// as long as it takes; the client has its own idle timeout per request.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithProgress sets a progress callback.
func WithProgress(f ProgressFunc) Option { return func(c *Client) { c.progress = f } }

// WithWindow sets the plaintext bytes fetched per range request; it is
// rounded up to whole chunks (seal.ChunkSize).
func WithWindow(n int64) Option {
	return func(c *Client) {
		chunks := max(1, (n+seal.ChunkSize-1)/seal.ChunkSize)
		c.window = chunks * chunkCipherSize
	}
}

// WithRetries sets how many times in a row a failing blob request is
// retried (see DefaultRetries); 0 disables retries.
func WithRetries(n int) Option { return func(c *Client) { c.retries = max(0, n) } }

// WithIdleTimeout sets how long a blob request may stall (see
// DefaultIdleTimeout).
func WithIdleTimeout(d time.Duration) Option { return func(c *Client) { c.idleTimeout = d } }

// New returns a client for link.
func New(link sharelink.Link, opts ...Option) *Client {
	c := &Client{link: link, http: http.DefaultClient, retries: DefaultRetries, idleTimeout: DefaultIdleTimeout}
	WithWindow(DefaultWindow)(c)
	for _, o := range opts {
		o(c)
	}
	return c
}

// Kind is what a link shares.
type Kind string

// Kinds of links.
const (
	KindFile   Kind = "file"
	KindFolder Kind = "folder"
)

// Manifest is the gateway's answer to the open request (docs/SHARING.md).
// Nothing in it is authenticated but the sealed entries.
type Manifest struct {
	// V is the manifest version, 1.
	V int `json:"v"`
	// Kind is KindFile or KindFolder.
	Kind Kind `json:"kind"`
	// Entries are the sealed entries, base64url.
	Entries []string `json:"entries"`
	// Files says, per entry, the stored size of each part's blob.
	Files []ManifestFile `json:"files"`
	// Password is nil for a link without a password.
	Password *PasswordParams `json:"password,omitempty"`
	// Ticket is sent with every blob request.
	Ticket string `json:"ticket"`
	// TicketExpires is when the gateway stops accepting Ticket.
	TicketExpires time.Time `json:"ticket_expires"`
}

// ManifestFile is the manifest's unauthenticated information on one file.
type ManifestFile struct {
	Parts []ManifestPart `json:"parts"`
}

// ManifestPart is the manifest's unauthenticated information on one part.
type ManifestPart struct {
	// BlobSize is the stored size of the part's blob, header included.
	BlobSize int64 `json:"blob_size"`
}

// PasswordParams say how a link's password is stretched.
type PasswordParams struct {
	// KDF is "pbkdf2-sha256", the only one defined.
	KDF string `json:"kdf"`
	// Iterations is the PBKDF2 count; a reader accepts only
	// [sharelink.MinIterations, sharelink.MaxIterations].
	Iterations int `json:"iterations"`
}

// Share is an opened link: its manifest and, once unlocked, its entries.
type Share struct {
	c       *Client
	m       Manifest
	sealed  [][]byte
	entries []*sharelink.Entry // nil while locked
}

// Open opens the link at the gateway, which counts one download (with
// --max-downloads, every Open uses one up), and reads its manifest. A link
// without a password is unlocked at once; for one with a password, call
// Unlock. Open does not retry.
func (c *Client) Open(ctx context.Context) (*Share, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.link.PageURL()+"/open", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(HeaderToken, sharelink.DeriveToken(c.link.ID, c.link.Secret).String())
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("open share link: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(opOpen, resp)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifest+1))
	if err != nil {
		return nil, fmt.Errorf("open share link: reading manifest: %w", err)
	}
	if len(body) > maxManifest {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrManifest, maxManifest)
	}
	s := &Share{c: c}
	if err := json.Unmarshal(body, &s.m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	if err := s.checkManifest(); err != nil {
		return nil, err
	}
	if s.m.Password == nil {
		if err := s.unlock(nil, 0); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// checkManifest validates the manifest and decodes the sealed entries.
func (s *Share) checkManifest() error {
	m := &s.m
	if m.V != 1 {
		return fmt.Errorf("%w: version %d (this twincrypt reads version 1; a newer one may be needed)", ErrManifest, m.V)
	}
	switch m.Kind {
	case KindFile:
		if len(m.Entries) != 1 {
			return fmt.Errorf("%w: a file link with %d entries", ErrManifest, len(m.Entries))
		}
	case KindFolder:
	default:
		return fmt.Errorf("%w: unknown kind %q", ErrManifest, m.Kind)
	}
	if m.Ticket == "" {
		return fmt.Errorf("%w: no ticket", ErrManifest)
	}
	if strings.ContainsAny(m.Ticket, "\r\n\x00") {
		return fmt.Errorf("%w: bad ticket", ErrManifest)
	}
	if p := m.Password; p != nil {
		if p.KDF != "pbkdf2-sha256" {
			return fmt.Errorf("%w: unknown password KDF %q", ErrManifest, printable(p.KDF))
		}
		if p.Iterations < sharelink.MinIterations || p.Iterations > sharelink.MaxIterations {
			return fmt.Errorf("%w: the gateway asks for %d password iterations, outside [%d, %d]; refusing",
				ErrManifest, p.Iterations, sharelink.MinIterations, sharelink.MaxIterations)
		}
	}
	s.sealed = make([][]byte, len(m.Entries))
	for i, e := range m.Entries {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(e, "="))
		if err != nil {
			return fmt.Errorf("%w: entry %d is not base64url", ErrManifest, i)
		}
		s.sealed[i] = b
	}
	return nil
}

// Kind returns what the link shares.
func (s *Share) Kind() Kind { return s.m.Kind }

// Manifest returns the manifest as the gateway sent it. The caller must
// not modify it.
func (s *Share) Manifest() *Manifest { return &s.m }

// NeedsPassword reports whether the share is locked behind a password that
// has not been given yet.
func (s *Share) NeedsPassword() bool { return s.entries == nil }

// Unlock derives the keys from the link's secret and password (PBKDF2 with
// the manifest's iteration count, which takes a moment by design) and opens
// the entries. A password that does not open them is ErrWrongPassword, and
// Unlock may be called again with another one: no new download is counted.
// For a link without a password, or one already unlocked, Unlock does
// nothing.
func (s *Share) Unlock(password []byte) error {
	if s.entries != nil {
		return nil
	}
	if len(password) == 0 {
		return ErrPasswordRequired
	}
	return s.unlock(password, s.m.Password.Iterations)
}

func (s *Share) unlock(password []byte, iterations int) error {
	keys, err := sharelink.DeriveKeys(s.c.link.ID, s.c.link.Secret, password, iterations)
	if err != nil {
		return err
	}
	entries := make([]*sharelink.Entry, len(s.sealed))
	for i, b := range s.sealed {
		e, err := keys.OpenEntry(uint32(i), b)
		switch {
		case err == nil:
			entries[i] = e
		case err == sharelink.ErrOpen && i == 0 && password != nil:
			// The token, derived from the secret alone, was accepted: the
			// secret is right, so the password is wrong.
			return fmt.Errorf("%w (%w)", ErrWrongPassword, sharelink.ErrOpen)
		case err == sharelink.ErrOpen && i == 0:
			return fmt.Errorf("%w (%w)", ErrWrongSecret, sharelink.ErrOpen)
		default:
			return fmt.Errorf("entry %d: %w", i, err)
		}
	}
	s.entries = entries
	return nil
}

// Files returns the opened entries, in manifest order: one for a file link,
// the folder's files for a folder link. It is nil while the share needs a
// password. Names passed sharelink.CheckName. The caller must not modify
// the entries.
func (s *Share) Files() []*sharelink.Entry { return s.entries }

// TicketExpires returns when the gateway stops accepting this share's
// ticket (zero if it did not say).
func (s *Share) TicketExpires() time.Time { return s.m.TicketExpires }

// Download writes the plaintext of file i to w and returns the bytes
// written. Only authenticated bytes are written; on failure what was
// written is a correct prefix of the file.
func (s *Share) Download(ctx context.Context, i int, w io.Writer) (int64, error) {
	return s.DownloadFrom(ctx, i, 0, w)
}

// DownloadFrom writes the plaintext of file i from byte off on to w, for
// resuming an interrupted download: w receives exactly bytes [off, size).
// Any 0 <= off <= size works (the chunks holding off are fetched whole and
// authenticated); a multiple of seal.ChunkSize wastes nothing. On failure
// what was written is a correct part of the file starting at off.
func (s *Share) DownloadFrom(ctx context.Context, i int, off int64, w io.Writer) (int64, error) {
	if s.entries == nil {
		return 0, ErrPasswordRequired
	}
	if i < 0 || i >= len(s.entries) {
		return 0, fmt.Errorf("share has no file %d", i)
	}
	e := s.entries[i]
	if off < 0 || off > e.Size {
		return 0, fmt.Errorf("file %q: offset %d outside [0, %d]", e.Name, off, e.Size)
	}
	pw := &progressWriter{w: w, f: s.c.progress, p: Progress{File: i, Name: e.Name, Done: off, Size: e.Size}}
	var start int64 // file offset of part j
	for j, p := range e.Parts {
		end := start + p.Size
		// A part wholly before off is skipped. An empty part at off is
		// fetched: its one empty chunk still authenticates, and the request
		// tells whether the link still serves the file.
		if end < off || (end == off && p.Size > 0) {
			start = end
			continue
		}
		if err := s.downloadPart(ctx, i, j, max(0, off-start), pw); err != nil {
			return pw.n, err
		}
		start = end
	}
	return pw.n, nil
}

// downloadPart writes the plaintext of part j of file i from part offset
// off on to w.
func (s *Share) downloadPart(ctx context.Context, i, j int, off int64, w io.Writer) error {
	p := s.entries[i].Parts[j]
	var id seal.ObjectID
	var salt [seal.SaltSize]byte
	var key [seal.KeySize]byte
	copy(id[:], p.ObjectID)
	copy(salt[:], p.Salt)
	copy(key[:], p.DataKey)
	o, err := seal.PayloadOpener(id, &salt, &key)
	clear(key[:])
	if err != nil {
		return err
	}
	blobOff, blobLen := o.Window(p.Size, off, -1)
	src := &rangeSource{
		ctx: ctx,
		c:   s.c,
		op:  fmt.Sprintf("file %d part %d", i, j),
		url: fmt.Sprintf("%s/f/%d/%d", s.c.link.PageURL(), i, j),
		tkt: s.m.Ticket,
		pos: blobOff,
		end: blobOff + blobLen,
	}
	defer src.closeBody()
	r := o.NewReader(src, p.Size, off, -1)
	if _, err := io.Copy(w, r); err != nil {
		if ctx.Err() != nil && !errors.Is(err, seal.ErrIntegrity) {
			return ctx.Err()
		}
		// A failure of the source is reported as is: that it happened at
		// some chunk says nothing.
		var ce *seal.ChunkError
		if errors.As(err, &ce) && !errors.Is(err, seal.ErrIntegrity) {
			err = ce.Err
		}
		if errors.Is(err, ErrForbidden) && !s.m.TicketExpires.IsZero() && time.Now().After(s.m.TicketExpires) {
			return fmt.Errorf("%w (the download ticket expired at %s; open the link again to resume)",
				err, s.m.TicketExpires.Local().Format(time.RFC3339))
		}
		return err
	}
	return nil
}

// progressWriter counts what it writes and reports progress.
type progressWriter struct {
	w io.Writer
	f ProgressFunc
	p Progress
	n int64
}

func (pw *progressWriter) Write(b []byte) (int, error) {
	n, err := pw.w.Write(b)
	pw.n += int64(n)
	pw.p.Done += int64(n)
	if pw.f != nil && n > 0 {
		pw.f(pw.p)
	}
	return n, err
}

// rangeSource yields blob bytes [pos, end) of one part, fetched with range
// requests of c.window bytes that start on chunk boundaries. A request
// that fails on the network or with a temporary status is retried from the
// chunk holding the next byte. A response that ends early but cleanly (the
// blob is shorter than the entry says) ends the source with io.EOF, which
// the seal reader reports as truncation (seal.ErrIntegrity).
type rangeSource struct {
	ctx context.Context
	c   *Client
	op  string
	url string
	tkt string

	pos, end int64 // next blob byte to yield; end of what is needed
	eof      bool  // the blob ended before end
	failures int   // consecutive failed attempts

	// The response being read, if any.
	body   io.ReadCloser
	reqEnd int64 // end of the bytes wanted from it
	reqCtx context.Context
	cancel context.CancelCauseFunc
	idle   *time.Timer
}

// errIdle is the cause of a request abandoned for lack of data.
var errIdle = errors.New("no data received for too long")

// Read implements io.Reader.
func (r *rangeSource) Read(p []byte) (int, error) {
	for {
		if r.pos >= r.end || r.eof {
			return 0, io.EOF
		}
		if r.body == nil {
			if err := r.request(); err != nil {
				if r.retry(err) {
					continue
				}
				return 0, err
			}
			continue
		}
		if int64(len(p)) > r.reqEnd-r.pos {
			p = p[:r.reqEnd-r.pos]
		}
		n, err := r.body.Read(p)
		r.pos += int64(n)
		if n > 0 {
			r.failures = 0
			r.idle.Reset(r.c.idleTimeout)
		}
		if r.pos >= r.reqEnd {
			r.closeBody()
			err = nil
		}
		switch {
		case err == nil:
		case err == io.EOF:
			// The server sent less than asked for: the blob is short.
			r.closeBody()
			r.eof = true
		default:
			err = r.netError(err)
			r.closeBody()
			if n == 0 && !r.retry(err) {
				return 0, err
			}
		}
		if n > 0 {
			return n, nil
		}
	}
}

// retry reports whether a failed attempt should be retried, after waiting
// a little.
func (r *rangeSource) retry(err error) bool {
	if r.ctx.Err() != nil || r.failures >= r.c.retries {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) && !se.temporary() || errors.Is(err, seal.ErrIntegrity) {
		return false
	}
	r.failures++
	t := time.NewTimer(time.Duration(r.failures*r.failures) * 250 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.ctx.Done():
		return false
	}
}

// netError turns a transport error into the error reported: the caller's
// context error if it was cancelled, errIdle for a stalled request, and
// never io.ErrUnexpectedEOF, which the seal reader would take for a
// truncated blob.
func (r *rangeSource) netError(err error) error {
	switch {
	case r.ctx.Err() != nil:
		return r.ctx.Err()
	case r.reqCtx != nil && context.Cause(r.reqCtx) == errIdle:
		return fmt.Errorf("%s: %w (%v)", r.op, errIdle, r.c.idleTimeout)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s: connection closed in mid-transfer", r.op)
	}
	return fmt.Errorf("%s: %w", r.op, err)
}

// Refetch implements seal.Refetcher: after a chunk failed to authenticate,
// fetch it once more (the gateway may read the other provider's copy, and
// a proxy may have damaged it).
func (r *rangeSource) Refetch(off int64) error {
	r.closeBody()
	r.pos, r.eof = off, false
	return nil
}

// request starts the range request for the window holding r.pos. It sets
// r.body, or r.eof when the blob ends before r.pos, or returns an error.
func (r *rangeSource) request() error {
	// Ranges start on a chunk boundary (docs/SHARING.md); bytes before
	// r.pos that the reader already has are skipped.
	start := r.pos
	if start >= seal.HeaderSize {
		start = seal.HeaderSize + (start-seal.HeaderSize)/chunkCipherSize*chunkCipherSize
	}
	end := min(r.end, start+r.c.window)
	ctx, cancel := context.WithCancelCause(r.ctx)
	r.reqCtx, r.cancel = ctx, cancel
	r.idle = time.AfterFunc(r.c.idleTimeout, func() { cancel(errIdle) })
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		r.abort()
		return err
	}
	req.Header.Set(HeaderTicket, r.tkt)
	req.Header.Set("Range", "bytes="+strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(end-1, 10))
	resp, err := r.c.http.Do(req)
	if err != nil {
		err = r.netError(err)
		r.abort()
		return err
	}
	var skip int64
	switch resp.StatusCode {
	case http.StatusPartialContent:
		first, ok := contentRangeStart(resp.Header.Get("Content-Range"))
		if !ok || first != start {
			resp.Body.Close()
			r.abort()
			return fmt.Errorf("%s: %w: asked for bytes from %d, got Content-Range %q",
				r.op, seal.ErrIntegrity, start, printable(resp.Header.Get("Content-Range")))
		}
		skip = r.pos - start
	case http.StatusOK:
		// The whole blob, range ignored: skip to the byte wanted and read
		// on to the end rather than ask again for every window.
		skip, end = r.pos, r.end
	case http.StatusRequestedRangeNotSatisfiable:
		// The blob ends before start: it is short.
		resp.Body.Close()
		r.abort()
		r.eof = true
		return nil
	default:
		err := statusError(r.op, resp)
		resp.Body.Close()
		r.abort()
		return err
	}
	r.body, r.reqEnd = resp.Body, end
	if skip > 0 {
		n, err := io.CopyN(io.Discard, r.body, skip)
		if err != nil {
			if err == io.EOF && n < skip {
				r.closeBody()
				r.eof = true
				return nil
			}
			err = r.netError(err)
			r.closeBody()
			return err
		}
	}
	return nil
}

// abort releases the current request's context and timer.
func (r *rangeSource) abort() {
	if r.cancel != nil {
		r.idle.Stop()
		r.cancel(nil)
		r.cancel, r.reqCtx = nil, nil
	}
}

// closeBody ends the current response, if any.
func (r *rangeSource) closeBody() {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
	r.abort()
}

// contentRangeStart returns the first byte of a Content-Range header
// "bytes A-B/N".
func contentRangeStart(h string) (int64, bool) {
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, false
	}
	a, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(a, 10, 64)
	return n, err == nil && n >= 0
}

// statusError builds the error of a failed request from its response.
func statusError(op string, resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var msg struct {
		Error string `json:"error"`
	}
	e := &StatusError{Op: op, StatusCode: resp.StatusCode}
	if json.Unmarshal(bytes.TrimSpace(body), &msg) == nil {
		e.Message = printable(msg.Error)
	}
	return e
}

// printable strips control and format characters from a string the server
// sent, so that it cannot drive the terminal it is printed on, and shortens
// it.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, s)
	if r := []rune(s); len(r) > maxMessage {
		s = string(r[:maxMessage]) + "..."
	}
	return strings.TrimSpace(s)
}
