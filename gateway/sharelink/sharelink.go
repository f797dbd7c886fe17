// Package sharelink is the cryptography of share links: the link's form, the
// keys derived from its secret (and an optional password), the download
// token whose hash the gateway keeps, and the sealed entries that carry each
// shared file's name, size and data keys to the link's holder.
//
// A link is <public URL>/s/<id>#<secret>. The id names the share to the
// gateway; the 256-bit secret lives in the URL fragment, which browsers never
// send, so neither the gateway nor anything between it and the recipient
// learns it. From the secret the recipient derives
//
//   - the token, which the gateway checks against a stored SHA-256 hash
//     before it hands out any ciphertext, so that an id seen in a log or a
//     proxy opens nothing;
//   - the entry key, which opens the sealed entries (AES-256-GCM, associated
//     data binding the share id and the entry's index);
//   - the commitment, a value stored beside every sealed entry that only
//     the right key material reproduces, so an entry opens under one key
//     only (AES-GCM alone is not key-committing).
//
// With a password, the password is stretched with PBKDF2-HMAC-SHA-256 (which
// WebCrypto offers, so the share page can run it) and mixed into the entry
// key and the commitment, not into the token: the gateway learns nothing
// about the password, and a wrong password is told apart from a wrong link.
//
// The byte-level specification, with test vectors, is the section "Share
// links" of docs/FORMAT.md; this package and the share page's JavaScript
// (gateway/sharepage) both implement it.
package sharelink

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Sizes of the values of the scheme.
const (
	IDSize         = 16
	SecretSize     = 32
	TokenSize      = 32
	KeySize        = 32
	CommitmentSize = 32
	NonceSize      = 12
	TagSize        = 16
	// Overhead is the size of a sealed entry minus its plaintext.
	Overhead = CommitmentSize + NonceSize + TagSize
	// DefaultIterations is the PBKDF2-HMAC-SHA-256 iteration count of new
	// password-protected links (the OWASP recommendation of 2023).
	DefaultIterations = 600_000
	// MinIterations is the lowest iteration count a reader accepts, so a
	// hostile server cannot make a recipient derive a cheap key.
	MinIterations = 100_000
	// MaxIterations bounds the work a record can ask a reader to do.
	MaxIterations = 10_000_000
)

// Labels of the derivations (HKDF info strings and the PBKDF2 salt prefix).
const (
	labelToken      = "twincrypt share v1 token"
	labelEntryKey   = "twincrypt share v1 entry key"
	labelCommitment = "twincrypt share v1 commitment"
	labelPassword   = "twincrypt share v1 password"
	labelPassKey    = "twincrypt share v1 password key"
	labelEntryAD    = "twincrypt share v1 entry"
)

// ErrOpen is the one error of a sealed entry that does not open: a wrong
// secret, a wrong password, a tampered or truncated entry, an entry moved to
// another share or index. Test with errors.Is.
var ErrOpen = errors.New("share entry does not authenticate (wrong link, wrong password, or tampered)")

// ErrLink means a string is not a share link.
var ErrLink = errors.New("not a share link")

// ID names a share.
type ID [IDSize]byte

// String returns the id in unpadded base64url, as it appears in links.
func (id ID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// ParseID parses the base64url form of an id.
func ParseID(s string) (ID, error) {
	var id ID
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != IDSize {
		return id, fmt.Errorf("%w: bad share id", ErrLink)
	}
	copy(id[:], b)
	return id, nil
}

// Secret is the 256-bit secret a link carries in its fragment.
type Secret [SecretSize]byte

// String returns the secret in unpadded base64url.
func (s Secret) String() string { return base64.RawURLEncoding.EncodeToString(s[:]) }

// New draws a fresh id and secret from rand.
func New(rand io.Reader) (ID, Secret, error) {
	var id ID
	var s Secret
	if _, err := io.ReadFull(rand, id[:]); err != nil {
		return id, s, fmt.Errorf("share id: %w", err)
	}
	if _, err := io.ReadFull(rand, s[:]); err != nil {
		return id, s, fmt.Errorf("share secret: %w", err)
	}
	return id, s, nil
}

// Link is a parsed share link.
type Link struct {
	// Base is everything before "/s/<id>": the share listener's public URL.
	Base   string
	ID     ID
	Secret Secret
}

// String formats the link as <Base>/s/<id>#<secret>.
func (l Link) String() string {
	return strings.TrimRight(l.Base, "/") + "/s/" + l.ID.String() + "#" + l.Secret.String()
}

// PageURL is the link without its fragment: what a client may send.
func (l Link) PageURL() string { return strings.TrimRight(l.Base, "/") + "/s/" + l.ID.String() }

// Parse parses a link of the form <base>/s/<id>#<secret>.
func Parse(s string) (Link, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Link{}, fmt.Errorf("%w: want http(s)://HOST/s/ID#SECRET", ErrLink)
	}
	if u.Fragment == "" {
		return Link{}, fmt.Errorf("%w: the part after '#' is missing (copy the whole link)", ErrLink)
	}
	i := strings.LastIndex(u.Path, "/s/")
	if i < 0 {
		return Link{}, fmt.Errorf("%w: no /s/ID in the path", ErrLink)
	}
	id, err := ParseID(strings.TrimSuffix(u.Path[i+3:], "/"))
	if err != nil {
		return Link{}, err
	}
	sb, err := base64.RawURLEncoding.DecodeString(u.Fragment)
	if err != nil || len(sb) != SecretSize {
		return Link{}, fmt.Errorf("%w: the part after '#' is damaged", ErrLink)
	}
	l := Link{ID: id}
	copy(l.Secret[:], sb)
	base := *u
	base.Path, base.RawPath, base.Fragment, base.RawQuery = u.Path[:i], "", "", ""
	l.Base = base.String()
	return l, nil
}

// Token is the download token derived from a link's secret.
type Token [TokenSize]byte

// String returns the token in unpadded base64url, as sent in requests.
func (t Token) String() string { return base64.RawURLEncoding.EncodeToString(t[:]) }

// ParseToken parses the base64url form of a token.
func ParseToken(s string) (Token, error) {
	var t Token
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != TokenSize {
		return t, errors.New("bad share token")
	}
	copy(t[:], b)
	return t, nil
}

// Hash returns SHA-256 of the token: what the gateway stores.
func (t Token) Hash() [sha256.Size]byte { return sha256.Sum256(t[:]) }

// Matches reports, in constant time, whether t hashes to stored.
func (t Token) Matches(stored [sha256.Size]byte) bool {
	h := t.Hash()
	return subtle.ConstantTimeCompare(h[:], stored[:]) == 1
}

// DeriveToken returns the download token of a share.
func DeriveToken(id ID, s Secret) Token {
	var t Token
	copy(t[:], mustHKDF(s[:], id[:], labelToken, TokenSize))
	return t
}

// Keys are the keys that open a share's entries.
type Keys struct {
	id         ID
	aead       cipher.AEAD
	commitment [CommitmentSize]byte
}

// DeriveKeys derives the entry key and commitment of a share. A nil password
// means the link has none; otherwise iterations is its PBKDF2 count, which
// must lie in [MinIterations, MaxIterations].
func DeriveKeys(id ID, s Secret, password []byte, iterations int) (*Keys, error) {
	ikm := s[:]
	if password != nil {
		if iterations < MinIterations || iterations > MaxIterations {
			return nil, fmt.Errorf("share password: %d iterations outside [%d, %d]", iterations, MinIterations, MaxIterations)
		}
		if !utf8.Valid(password) {
			return nil, errors.New("share password: not valid UTF-8")
		}
		salt := append([]byte(labelPassword), id[:]...)
		pw, err := pbkdf2.Key(sha256.New, string(password), salt, iterations, KeySize)
		if err != nil {
			return nil, fmt.Errorf("share password: %w", err)
		}
		info := binary.BigEndian.AppendUint32([]byte(labelPassKey), uint32(iterations))
		ikm = mustHKDF(append(append([]byte{}, s[:]...), pw...), id[:], string(info), KeySize)
	}
	k := &Keys{id: id}
	block, err := aes.NewCipher(mustHKDF(ikm, id[:], labelEntryKey, KeySize))
	if err != nil {
		return nil, err
	}
	if k.aead, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	copy(k.commitment[:], mustHKDF(ikm, id[:], labelCommitment, CommitmentSize))
	return k, nil
}

// entryAD is the associated data of entry index of share id.
func entryAD(id ID, index uint32) []byte {
	ad := append([]byte(labelEntryAD), id[:]...)
	return binary.BigEndian.AppendUint32(ad, index)
}

// Seal seals plaintext as entry index, with a nonce read from rand:
// commitment || nonce || AES-256-GCM(entry key, nonce, plaintext, AD).
func (k *Keys) Seal(rand io.Reader, index uint32, plaintext []byte) ([]byte, error) {
	out := make([]byte, CommitmentSize+NonceSize, Overhead+len(plaintext))
	copy(out, k.commitment[:])
	if _, err := io.ReadFull(rand, out[CommitmentSize:]); err != nil {
		return nil, fmt.Errorf("share entry nonce: %w", err)
	}
	return k.aead.Seal(out, out[CommitmentSize:], plaintext, entryAD(k.id, index)), nil
}

// Open authenticates and returns the plaintext of entry index. Every failure
// is ErrOpen.
func (k *Keys) Open(index uint32, sealed []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, ErrOpen
	}
	if subtle.ConstantTimeCompare(sealed[:CommitmentSize], k.commitment[:]) != 1 {
		return nil, ErrOpen
	}
	nonce := sealed[CommitmentSize : CommitmentSize+NonceSize]
	plain, err := k.aead.Open(nil, nonce, sealed[CommitmentSize+NonceSize:], entryAD(k.id, index))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// Entry is one shared file as its recipient sees it.
type Entry struct {
	// Name is the file's name: the last segment of the key for a file
	// link, the key below the shared prefix for a folder link.
	Name        string    `json:"name"`
	Size        int64     `json:"size"`
	ContentType string    `json:"type,omitempty"`
	ModTime     time.Time `json:"mtime"`
	ETag        string    `json:"etag,omitempty"`
	Parts       []Part    `json:"parts"`
}

// Part is one blob of a shared file: what a recipient needs to decrypt its
// chunks (docs/FORMAT.md, "Payload chunks").
type Part struct {
	Size     int64    `json:"size"` // plaintext bytes
	ObjectID HexBytes `json:"id"`   // 16 bytes: the chunk AD
	Salt     HexBytes `json:"salt"` // 32 bytes
	DataKey  HexBytes `json:"key"`  // 32 bytes
}

// HexBytes marshals as a lower-case hex string.
type HexBytes []byte

// MarshalText implements encoding.TextMarshaler.
func (h HexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *HexBytes) UnmarshalText(b []byte) error {
	out, err := hex.DecodeString(string(b))
	*h = out
	return err
}

// SealEntry encodes e as JSON and seals it as entry index.
func (k *Keys) SealEntry(rand io.Reader, index uint32, e *Entry) ([]byte, error) {
	plain, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	return k.Seal(rand, index, plain)
}

// OpenEntry opens entry index and checks that it is well formed: a name a
// file system can hold below a download folder, parts whose sizes add up.
func (k *Keys) OpenEntry(index uint32, sealed []byte) (*Entry, error) {
	plain, err := k.Open(index, sealed)
	if err != nil {
		return nil, err
	}
	var e Entry
	if err := json.Unmarshal(plain, &e); err != nil {
		return nil, fmt.Errorf("%w: entry %d: %v", ErrOpen, index, err)
	}
	if err := e.check(); err != nil {
		return nil, fmt.Errorf("%w: entry %d: %v", ErrOpen, index, err)
	}
	return &e, nil
}

// check validates an opened entry.
func (e *Entry) check() error {
	if err := CheckName(e.Name); err != nil {
		return err
	}
	var total int64
	for i, p := range e.Parts {
		if p.Size < 0 || len(p.ObjectID) != 16 || len(p.Salt) != 32 || len(p.DataKey) != 32 {
			return fmt.Errorf("part %d malformed", i)
		}
		total += p.Size
	}
	if total != e.Size || e.Size < 0 {
		return fmt.Errorf("parts add up to %d bytes, entry says %d", total, e.Size)
	}
	return nil
}

// CheckName reports whether name is safe to create below a download folder:
// relative, '/'-separated, with no empty, "." or ".." segment, no NUL or
// backslash, valid UTF-8, each segment at most 255 bytes.
func CheckName(name string) error {
	if name == "" || !utf8.ValidString(name) || strings.ContainsAny(name, "\x00\\") {
		return fmt.Errorf("unsafe file name %q", name)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." || len(seg) > 255 {
			return fmt.Errorf("unsafe file name %q", name)
		}
	}
	return nil
}

// mustHKDF is HKDF-SHA-256; it fails only for lengths beyond 255*32.
func mustHKDF(secret, salt []byte, info string, n int) []byte {
	k, err := hkdf.Key(sha256.New, secret, salt, info, n)
	if err != nil {
		panic(err)
	}
	return k
}
