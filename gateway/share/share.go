// Package share makes, lists, revokes and serves share links: a link hands
// one object, or a snapshot of the objects under a prefix, to someone without
// an account, and carries the key of what it opens and nothing else.
//
// The Service works on a narrow view of the namespace (Namespace): it asks
// for the data keys of the objects it shares, seals them under keys derived
// from a fresh link secret (gateway/sharelink), hands the secret to the
// caller inside the link, and forgets it. The namespace stores the resulting
// record, sealed, on the providers and in the catalog. Handler serves the
// share listener: the page, the link's manifest for a holder of the download
// token, and the ciphertext, authenticated chunk by chunk, for a holder of a
// ticket. docs/SHARING.md describes the protocol, docs/FORMAT.md the bytes,
// docs/THREAT-MODEL.md what each party can learn.
package share

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/sharelink"
)

// Errors callers branch on. Test with errors.Is; the namespace's
// gateway.ErrNoSuchShare, gateway.ErrShareGone, gateway.ErrBlobGone,
// gateway.ErrNoSuchBucket and gateway.ErrNoSuchKey pass through wrapped.
var (
	// ErrBadTarget means a target is not BUCKET/KEY or BUCKET/PREFIX/.
	ErrBadTarget = errors.New("share target must be BUCKET/KEY, or BUCKET/PREFIX/ for a folder")
	// ErrBadToken means a download token or ticket is missing, malformed
	// or wrong.
	ErrBadToken = errors.New("wrong or missing share token")
	// ErrBadRequest means other arguments are unacceptable.
	ErrBadRequest = errors.New("bad share request")
)

// TicketLifetime is how long a ticket from opening a link fetches
// ciphertext: one download session.
const TicketLifetime = 24 * time.Hour

// TicketKeyLabel is the keyring label of the ticket key: every gateway
// instance on one keyring derives the same key and accepts the others'
// tickets.
const TicketKeyLabel = "twincrypt/v1/share-ticket"

// Namespace is the view of the namespace a Service needs.
type Namespace interface {
	SharedFiles(ctx context.Context, bucket, key string, folder bool) ([]gateway.SharedFile, error)
	PutShare(ctx context.Context, r *gateway.ShareRecord) error
	Share(ctx context.Context, id string) (*gateway.ShareRecord, error)
	Shares(ctx context.Context) ([]*gateway.ShareRecord, error)
	CountShareDownload(ctx context.Context, id string) (*gateway.ShareRecord, error)
	OpenSharedBlob(ctx context.Context, p *gateway.SharedPart, off, length int64) (io.ReadCloser, error)
}

// Options configure a Service.
type Options struct {
	Namespace Namespace
	// PublicURL is what links start with (before "/s/ID").
	PublicURL string
	// TicketKey authenticates tickets; derive it from the keyring with
	// TicketKeyLabel.
	TicketKey *[32]byte
	// Iterations is the PBKDF2 count of new password links; 0 means
	// sharelink.DefaultIterations.
	Iterations int
	Logger     *slog.Logger     // nil: discard
	Rand       io.Reader        // nil: crypto/rand
	Clock      func() time.Time // nil: time.Now
}

// Service makes and serves share links. It is safe for concurrent use.
type Service struct {
	ns         Namespace
	publicURL  string
	ticketKey  [32]byte
	iterations int
	log        *slog.Logger
	rand       io.Reader
	now        func() time.Time
}

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.Namespace == nil || o.TicketKey == nil || o.PublicURL == "" {
		return nil, errors.New("share: Namespace, PublicURL and TicketKey are required")
	}
	s := &Service{ns: o.Namespace, publicURL: strings.TrimRight(o.PublicURL, "/"), ticketKey: *o.TicketKey,
		iterations: o.Iterations, log: o.Logger, rand: o.Rand, now: o.Clock}
	if s.iterations == 0 {
		s.iterations = sharelink.DefaultIterations
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// body is the share package's part of a share record (ShareRecord.Body),
// sealed by the namespace under the key-encryption key. It holds what the
// gateway needs to serve the link, never the link's secret.
type body struct {
	Target     string     `json:"target"`
	Folder     bool       `json:"folder,omitempty"`
	TokenHash  []byte     `json:"token"`
	Iterations int        `json:"iter,omitempty"` // PBKDF2 count; 0: no password
	Files      []fileBody `json:"files"`
	Entries    [][]byte   `json:"entries"` // sealed under the link's key
}

// fileBody routes the requests for one shared file to its blobs.
type fileBody struct {
	Size  int64      `json:"size"`
	Parts []partBody `json:"parts"`
}

// partBody is one blob of a shared file: enough to read and authenticate its
// chunks with the gateway's own keys (the header's key slot is wrapped under
// a key-encryption key).
type partBody struct {
	Blob   string `json:"blob"`
	Size   int64  `json:"size"`
	Header []byte `json:"hdr"`
	// Inline parts live in their object's meta record: Key and VID (the
	// version id, empty for an object without versions) name it, in the
	// bucket of the link's target.
	Inline bool   `json:"inline,omitempty"`
	Key    string `json:"key,omitempty"`
	VID    string `json:"vid,omitempty"`
}

// CreateOptions describe a new link.
type CreateOptions struct {
	// Target is BUCKET/KEY for one object, BUCKET/PREFIX/ (or BUCKET/)
	// for a snapshot of the objects under a prefix.
	Target string
	// Expires is how long the link opens; 0 means for ever.
	Expires time.Duration
	// MaxDownloads is how many times it opens; 0 means without limit.
	MaxDownloads int64
	// Password, when not nil, must be typed besides the link.
	Password []byte
}

// Info describes a link to its owner, as `share list` and the admin API
// show it.
type Info struct {
	ID           string    `json:"id"`
	Target       string    `json:"target"`
	Kind         string    `json:"kind"` // "file" or "folder"
	Created      time.Time `json:"created"`
	Expires      time.Time `json:"expires,omitzero"`
	MaxDownloads int64     `json:"max_downloads,omitempty"`
	Downloads    int64     `json:"downloads"`
	State        string    `json:"state"`
	Password     bool      `json:"password"`
	Files        int       `json:"files"`
}

// parseTarget splits BUCKET/KEY or BUCKET/PREFIX/.
func parseTarget(t string) (bucket, key string, folder bool, err error) {
	bucket, key, ok := strings.Cut(t, "/")
	if !ok || bucket == "" {
		return "", "", false, fmt.Errorf("%w: %q", ErrBadTarget, t)
	}
	if !gateway.ValidBucketName(bucket) {
		return "", "", false, fmt.Errorf("%w: %q is not a bucket name", ErrBadTarget, bucket)
	}
	return bucket, key, key == "" || strings.HasSuffix(key, "/"), nil
}

// Create makes a link and returns it; the secret in it exists nowhere else.
func (s *Service) Create(ctx context.Context, o CreateOptions) (sharelink.Link, *Info, error) {
	bucket, key, folder, err := parseTarget(o.Target)
	if err != nil {
		return sharelink.Link{}, nil, err
	}
	if o.Expires < 0 || o.MaxDownloads < 0 {
		return sharelink.Link{}, nil, fmt.Errorf("%w: negative expiry or download limit", ErrBadRequest)
	}
	if o.Password != nil && len(o.Password) == 0 {
		return sharelink.Link{}, nil, fmt.Errorf("%w: empty password", ErrBadRequest)
	}
	files, err := s.ns.SharedFiles(ctx, bucket, key, folder)
	if err != nil {
		return sharelink.Link{}, nil, err
	}
	id, secret, err := sharelink.New(s.rand)
	if err != nil {
		return sharelink.Link{}, nil, err
	}
	iterations := 0
	if o.Password != nil {
		iterations = s.iterations
	}
	keys, err := sharelink.DeriveKeys(id, secret, o.Password, iterations)
	if err != nil {
		return sharelink.Link{}, nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	token := sharelink.DeriveToken(id, secret)
	th := token.Hash()
	b := body{Target: o.Target, Folder: folder, TokenHash: th[:], Iterations: iterations}
	for i, f := range files {
		e := sharelink.Entry{Name: entryName(f.Key, key, folder), Size: f.Size, ContentType: f.ContentType,
			ModTime: f.ModTime, ETag: f.ETag}
		fb := fileBody{Size: f.Size}
		for _, p := range f.Parts {
			e.Parts = append(e.Parts, sharelink.Part{Size: p.Size, ObjectID: p.ObjectID[:],
				Salt: p.Salt[:], DataKey: p.DataKey[:]})
			pb := partBody{Blob: p.Blob, Size: p.Size, Header: p.Header}
			if p.Inline {
				pb.Inline, pb.Key, pb.VID = true, p.Key, p.VersionID
			}
			fb.Parts = append(fb.Parts, pb)
		}
		sealed, err := keys.SealEntry(s.rand, uint32(i), &e)
		for j := range e.Parts {
			clear(e.Parts[j].DataKey)
		}
		if err != nil {
			return sharelink.Link{}, nil, err
		}
		b.Entries = append(b.Entries, sealed)
		b.Files = append(b.Files, fb)
	}
	for i := range files {
		for j := range files[i].Parts {
			clear(files[i].Parts[j].DataKey[:])
		}
	}
	enc, err := json.Marshal(&b)
	if err != nil {
		return sharelink.Link{}, nil, err
	}
	now := s.now().UTC()
	r := &gateway.ShareRecord{ID: id.String(), Created: now, MaxDownloads: o.MaxDownloads, Body: enc}
	if o.Expires > 0 {
		r.Expires = now.Add(o.Expires)
	}
	if err := s.ns.PutShare(ctx, r); err != nil {
		return sharelink.Link{}, nil, err
	}
	s.log.Info("share link created", "share", r.ID, "files", len(files))
	return sharelink.Link{Base: s.publicURL, ID: id, Secret: secret}, s.info(r, &b), nil
}

// entryName is the name a recipient sees: the last segment of key for a
// file link, the key below prefix for a folder link, each segment made safe
// for a file system (sharelink.CheckName).
func entryName(key, prefix string, folder bool) string {
	name := key[strings.LastIndexByte(key, '/')+1:]
	if folder {
		name = strings.TrimPrefix(key, prefix)
	}
	segs := strings.Split(name, "/")
	for i, seg := range segs {
		seg = strings.Map(func(r rune) rune {
			if r == 0 || r == '\\' || r == 0xFFFD {
				return '_'
			}
			return r
		}, seg)
		switch seg {
		case "", ".", "..":
			seg = strings.Repeat("_", max(1, len(seg)))
		}
		for len(seg) > 255 {
			seg = strings.ToValidUTF8(seg[:255], "")
		}
		segs[i] = seg
	}
	return strings.Join(segs, "/")
}

// decode reads a record's body.
func decode(r *gateway.ShareRecord) (*body, error) {
	var b body
	if err := json.Unmarshal(r.Body, &b); err != nil {
		return nil, fmt.Errorf("%w: share %s: %v", gateway.ErrCorruptRecord, r.ID, err)
	}
	if len(b.Files) != len(b.Entries) || len(b.TokenHash) != sha256.Size {
		return nil, fmt.Errorf("%w: share %s: %d files, %d entries", gateway.ErrCorruptRecord, r.ID, len(b.Files), len(b.Entries))
	}
	return &b, nil
}

func (s *Service) info(r *gateway.ShareRecord, b *body) *Info {
	kind := "file"
	if b.Folder {
		kind = "folder"
	}
	return &Info{ID: r.ID, Target: b.Target, Kind: kind, Created: r.Created, Expires: r.Expires,
		MaxDownloads: r.MaxDownloads, Downloads: r.Downloads, State: r.State(s.now()).String(),
		Password: b.Iterations > 0, Files: len(b.Files)}
}

// load reads and decodes the record of link id.
func (s *Service) load(ctx context.Context, id string) (*gateway.ShareRecord, *body, error) {
	r, err := s.ns.Share(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	b, err := decode(r)
	if err != nil {
		return nil, nil, err
	}
	return r, b, nil
}

// Get describes one link.
func (s *Service) Get(ctx context.Context, id string) (*Info, error) {
	r, b, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.info(r, b), nil
}

// List describes every link, oldest first.
func (s *Service) List(ctx context.Context) ([]*Info, error) {
	rs, err := s.ns.Shares(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Info, 0, len(rs))
	for _, r := range rs {
		b, err := decode(r)
		if err != nil {
			return nil, err
		}
		out = append(out, s.info(r, b))
	}
	return out, nil
}

// Revoke revokes a link at once; revoking a revoked link is not an error.
func (s *Service) Revoke(ctx context.Context, id string) (*Info, error) {
	r, b, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if !r.Revoked {
		r.Revoked = true
		if err := s.ns.PutShare(ctx, r); err != nil {
			return nil, err
		}
		s.log.Info("share link revoked", "share", id)
	}
	return s.info(r, b), nil
}

// Manifest is what opening a link answers (docs/SHARING.md).
type Manifest struct {
	Version       int            `json:"v"`
	Kind          string         `json:"kind"`
	Entries       []string       `json:"entries"` // base64url sealed entries
	Files         []ManifestFile `json:"files"`
	Password      *PasswordKDF   `json:"password,omitempty"`
	Ticket        string         `json:"ticket"`
	TicketExpires time.Time      `json:"ticket_expires"`
}

// ManifestFile lists the stored sizes of one file's blobs.
type ManifestFile struct {
	Parts []ManifestPart `json:"parts"`
}

// ManifestPart is one blob of a file.
type ManifestPart struct {
	BlobSize int64 `json:"blob_size"`
}

// PasswordKDF says how a link's password is stretched.
type PasswordKDF struct {
	KDF        string `json:"kdf"` // "pbkdf2-sha256"
	Iterations int    `json:"iterations"`
}

// Open checks a download token, counts one download, and returns the link's
// manifest with a ticket for its ciphertext. A wrong token is ErrBadToken and
// counts nothing.
func (s *Service) Open(ctx context.Context, id, token string) (*Manifest, error) {
	r, b, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	t, err := sharelink.ParseToken(token)
	if err != nil || !t.Matches([sha256.Size]byte(b.TokenHash)) {
		return nil, ErrBadToken
	}
	if st := r.State(s.now()); st != catalog.ShareActive {
		return nil, fmt.Errorf("%w: %s is %s", gateway.ErrShareGone, id, st)
	}
	if r, err = s.ns.CountShareDownload(ctx, id); err != nil {
		return nil, err
	}
	m := &Manifest{Version: 1, Kind: "file"}
	if b.Folder {
		m.Kind = "folder"
	}
	if b.Iterations > 0 {
		m.Password = &PasswordKDF{KDF: "pbkdf2-sha256", Iterations: b.Iterations}
	}
	for i, e := range b.Entries {
		m.Entries = append(m.Entries, base64.RawURLEncoding.EncodeToString(e))
		var mf ManifestFile
		for _, p := range b.Files[i].Parts {
			mf.Parts = append(mf.Parts, ManifestPart{BlobSize: (&gateway.SharedPart{Size: p.Size}).BlobSize()})
		}
		m.Files = append(m.Files, mf)
	}
	m.TicketExpires = s.now().Add(TicketLifetime).UTC().Truncate(time.Second)
	m.Ticket = s.ticket(id, m.TicketExpires)
	s.log.Info("share link opened", "share", id, "downloads", r.Downloads)
	return m, nil
}

// ticket returns "v1." || base64url(expiry (8) || MAC (16)), the MAC being
// HMAC-SHA-256 under the ticket key of a label, the share id and the expiry.
func (s *Service) ticket(id string, exp time.Time) string {
	e := binary.BigEndian.AppendUint64(nil, uint64(exp.Unix()))
	return "v1." + base64.RawURLEncoding.EncodeToString(append(e, s.ticketMAC(id, e)...))
}

func (s *Service) ticketMAC(id string, exp []byte) []byte {
	m := hmac.New(sha256.New, s.ticketKey[:])
	m.Write([]byte("twincrypt share ticket v1\x00"))
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write(exp)
	return m.Sum(nil)[:16]
}

// checkTicket verifies a ticket for share id at the current time.
func (s *Service) checkTicket(id, t string) error {
	raw, ok := strings.CutPrefix(t, "v1.")
	if !ok {
		return ErrBadToken
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(b) != 24 {
		return ErrBadToken
	}
	if subtle.ConstantTimeCompare(b[8:], s.ticketMAC(id, b[:8])) != 1 {
		return ErrBadToken
	}
	if exp := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0); !s.now().Before(exp) {
		return fmt.Errorf("%w: ticket expired; open the link again", ErrBadToken)
	}
	return nil
}

// Blob is one shared blob, resolved for a ticket holder.
type Blob struct {
	s    *Service
	part *gateway.SharedPart
}

// Size is the stored size of the whole blob.
func (b *Blob) Size() int64 { return b.part.BlobSize() }

// Open returns the stored bytes [off, off+length) of the blob, every chunk
// authenticated before it is returned.
func (b *Blob) Open(ctx context.Context, off, length int64) (io.ReadCloser, error) {
	return b.s.ns.OpenSharedBlob(ctx, b.part, off, length)
}

// Blob resolves part part of file file of link id, after checking ticket
// and that the link still opens.
func (s *Service) Blob(ctx context.Context, id, ticket string, file, part int) (*Blob, error) {
	p, err := s.part(ctx, id, ticket, file, part)
	if err != nil {
		return nil, err
	}
	return &Blob{s: s, part: p}, nil
}

// part resolves one blob of a link for a ticket holder.
func (s *Service) part(ctx context.Context, id, ticket string, file, part int) (*gateway.SharedPart, error) {
	if err := s.checkTicket(id, ticket); err != nil {
		return nil, err
	}
	r, b, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if st := r.State(s.now()); st == catalog.ShareRevoked || st == catalog.ShareExpired {
		// A used-up link still serves the downloads it let through.
		return nil, fmt.Errorf("%w: %s is %s", gateway.ErrShareGone, id, st)
	}
	if file < 0 || file >= len(b.Files) || part < 0 || part >= len(b.Files[file].Parts) {
		return nil, fmt.Errorf("%w: no file %d part %d", gateway.ErrNoSuchKey, file, part)
	}
	pb := b.Files[file].Parts[part]
	sp := &gateway.SharedPart{Blob: pb.Blob, Size: pb.Size, Header: pb.Header}
	if pb.Inline {
		bucket, _, _, err := parseTarget(b.Target)
		if err != nil {
			return nil, err
		}
		sp.Inline, sp.Bucket, sp.Key, sp.VersionID = true, bucket, pb.Key, pb.VID
	}
	return sp, nil
}
