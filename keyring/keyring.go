// Package keyring holds twincrypt's key hierarchy.
//
// A random 256-bit master key is kept in a keyring file, wrapped under a key
// derived from the owner's passphrase with Argon2id and sealed with
// AES-256-GCM. Every other key is derived from the master key with
// HKDF-SHA-256 and a fixed label: the name key (keyed hashes of meta record
// names), the catalog key, and the key-encryption keys (KEKs) that wrap the
// per-object data keys. KEKs are numbered with uint32 ids; rotation adds a new
// id and makes it current, and every id can still be derived afterwards.
//
// The master key can be exported as a printable recovery key with a checksum
// and later restored into a new keyring file under a new passphrase.
//
// docs/KEYRING.md specifies the file format, the derivation labels and the
// recovery key format byte by byte.
package keyring

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"sync"
)

// Errors callers may branch on. Returned errors wrap one of these.
var (
	// ErrWrongPassphrase means the passphrase does not open the keyring.
	ErrWrongPassphrase = errors.New("wrong passphrase")
	// ErrCorrupt means the keyring file is malformed or was altered.
	ErrCorrupt = errors.New("keyring file is damaged or was altered")
	// ErrUnsupported means the keyring file uses a format version or
	// algorithm this build does not know.
	ErrUnsupported = errors.New("unsupported keyring format")
	// ErrExists means a keyring file is already present where a new one
	// was to be created.
	ErrExists = errors.New("keyring file already exists")
	// ErrUnknownKey means a key id cannot be resolved.
	ErrUnknownKey = errors.New("unknown key id")
	// ErrInvalidParams means Argon2id parameters are out of range.
	ErrInvalidParams = errors.New("invalid Argon2id parameters")
	// ErrEmptyPassphrase means an empty passphrase was given.
	ErrEmptyPassphrase = errors.New("empty passphrase")
	// ErrBadRecoveryKey means a recovery key could not be parsed: wrong
	// length, a character outside the alphabet, or a checksum mismatch
	// (a typo).
	ErrBadRecoveryKey = errors.New("invalid recovery key")
	// ErrKEKExhausted means the current KEK id is already the largest
	// possible id, so no further rotation is possible.
	ErrKEKExhausted = errors.New("no key-encryption key ids left")
)

// KeySize is the size in bytes of the master key and of every derived key.
const KeySize = 32

// HKDF labels (the HKDF info strings) of the fixed subkeys. KEK labels are
// LabelKEKPrefix followed by the id in decimal without leading zeros.
const (
	LabelName      = "twincrypt/v1/name"
	LabelCatalog   = "twincrypt/v1/catalog"
	LabelKEKPrefix = "twincrypt/v1/kek/"
)

// Keyring is an open keyring: the master key and the KEK state, bound to the
// file it was read from. All methods are safe for concurrent use.
type Keyring struct {
	path string

	mu      sync.RWMutex
	master  [KeySize]byte
	current uint32
	w       wrapping // passphrase-derived wrapping state of the file
}

// KeySource is the view of a keyring that the object format consumes.
// *Keyring satisfies it.
type KeySource interface {
	// CurrentKEK returns the id and key of the KEK that wraps new data keys.
	CurrentKEK() (id uint32, key *[32]byte)
	// KEK returns the KEK with the given id; an id that cannot be resolved
	// yields an error wrapping ErrUnknownKey.
	KEK(id uint32) (*[32]byte, error)
}

var _ KeySource = (*Keyring)(nil)

// Create generates a fresh master key and writes a new keyring file at path,
// wrapped under passphrase with parameters p. The current KEK id is 1. It
// fails with ErrExists if the file is already present; it never overwrites.
func Create(path string, passphrase []byte, p Params) (*Keyring, error) {
	var master [KeySize]byte
	if _, err := rand.Read(master[:]); err != nil {
		return nil, fmt.Errorf("keyring: generate master key: %w", err)
	}
	defer clear(master[:])
	return create(path, &master, 1, passphrase, p, false)
}

// RestoreOption adjusts Restore.
type RestoreOption func(*restoreOptions)

type restoreOptions struct {
	overwrite bool
	current   uint32
}

// WithOverwrite lets Restore atomically replace an existing keyring file.
func WithOverwrite() RestoreOption {
	return func(o *restoreOptions) { o.overwrite = true }
}

// WithCurrentKEK sets the current KEK id of the restored keyring (default 1),
// for example to the id the lost keyring had reached. Id 0 is invalid.
func WithCurrentKEK(id uint32) RestoreOption {
	return func(o *restoreOptions) { o.current = id }
}

// Restore writes a new keyring file at path that holds the given master key
// (typically from ParseRecoveryKey), wrapped under passphrase with parameters
// p. The current KEK id is 1 unless WithCurrentKEK says otherwise; since KEKs
// are derived from the master key, every KEK the lost keyring ever used
// resolves again. Without WithOverwrite it fails with ErrExists if the file is
// present.
func Restore(path string, master [32]byte, passphrase []byte, p Params, opts ...RestoreOption) (*Keyring, error) {
	defer clear(master[:])
	o := restoreOptions{current: 1}
	for _, opt := range opts {
		opt(&o)
	}
	if o.current == 0 {
		return nil, fmt.Errorf("keyring: restore: KEK id 0: %w", ErrUnknownKey)
	}
	return create(path, &master, o.current, passphrase, p, o.overwrite)
}

func create(path string, master *[KeySize]byte, current uint32, passphrase []byte, p Params, overwrite bool) (*Keyring, error) {
	if len(passphrase) == 0 {
		return nil, fmt.Errorf("keyring: %w", ErrEmptyPassphrase)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if !overwrite {
		if _, err := os.Lstat(path); err == nil {
			return nil, fmt.Errorf("keyring: %s: %w", path, ErrExists)
		}
	}
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("keyring: generate salt: %w", err)
	}
	k := &Keyring{path: path, master: *master, current: current}
	k.w = newWrapping(passphrase, salt, p)
	data, err := k.marshalLocked(k.w, k.current)
	if err != nil {
		k.wipe()
		return nil, err
	}
	if err := writeFileAtomic(path, data, overwrite); err != nil {
		k.wipe()
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return k, nil
}

// Open reads the keyring file at path and unwraps its master key with
// passphrase. A passphrase that does not match yields an error wrapping
// ErrWrongPassphrase; a damaged or altered file yields ErrCorrupt or
// ErrUnsupported. Open never writes.
func Open(path string, passphrase []byte) (*Keyring, error) {
	if len(passphrase) == 0 {
		return nil, fmt.Errorf("keyring: %w", ErrEmptyPassphrase)
	}
	data, err := readFileLimited(path, maxFileSize)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	k, err := unmarshal(data, passphrase)
	if err != nil {
		return nil, fmt.Errorf("keyring: %s: %w", path, err)
	}
	k.path = path
	return k, nil
}

// Path returns the file the keyring is stored in.
func (k *Keyring) Path() string { return k.path }

// Params returns the Argon2id parameters the file is currently wrapped with.
func (k *Keyring) Params() Params {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.w.params
}

// Derive returns the HKDF-SHA-256 subkey of the master key for label (the
// HKDF info; the salt is empty). Labels must be distinct per purpose; the
// labels used inside twincrypt all start with "twincrypt/v1/". NameKey,
// CatalogKey and KEK are Derive with the fixed labels LabelName, LabelCatalog
// and LabelKEKPrefix+id.
func (k *Keyring) Derive(label string) *[32]byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return deriveKey(&k.master, label)
}

// NameKey returns the key for keyed hashes of meta record names.
func (k *Keyring) NameKey() *[32]byte { return k.Derive(LabelName) }

// CatalogKey returns the key that protects the catalog.
func (k *Keyring) CatalogKey() *[32]byte { return k.Derive(LabelCatalog) }

// CurrentKEK returns the id and key of the KEK that wraps new data keys.
func (k *Keyring) CurrentKEK() (uint32, *[32]byte) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current, deriveKey(&k.master, kekLabel(k.current))
}

// CurrentKEKID returns the id of the current KEK. The keyring knows the ids
// 1 through CurrentKEKID.
func (k *Keyring) CurrentKEKID() uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current
}

// KEK returns the KEK with the given id. Because KEKs are derived from the
// master key, any id from 1 to math.MaxUint32 resolves, including ids above
// the current one: a keyring restored from an older recovery key still reads
// data wrapped under KEKs added after that key was exported. Id 0 is never
// used and yields an error wrapping ErrUnknownKey.
func (k *Keyring) KEK(id uint32) (*[32]byte, error) {
	if id == 0 {
		return nil, fmt.Errorf("keyring: KEK id 0: %w", ErrUnknownKey)
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	return deriveKey(&k.master, kekLabel(id)), nil
}

// Rotate adds the next KEK id, makes it current and persists the keyring
// file. Older KEKs still resolve. It returns the new current id. On error the
// keyring and its file are unchanged.
func (k *Keyring) Rotate() (uint32, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.current == math.MaxUint32 {
		return 0, fmt.Errorf("keyring: rotate: %w", ErrKEKExhausted)
	}
	next := k.current + 1
	data, err := k.marshalLocked(k.w, next)
	if err != nil {
		return 0, err
	}
	if err := writeFileAtomic(k.path, data, true); err != nil {
		return 0, fmt.Errorf("keyring: rotate: %w", err)
	}
	k.current = next
	return next, nil
}

// ChangePassphrase rewraps the master key under newPassphrase with a fresh
// salt and the current Argon2id parameters, and persists the file. Derived
// keys do not change. On error the keyring and its file are unchanged.
func (k *Keyring) ChangePassphrase(newPassphrase []byte) error {
	return k.Rewrap(newPassphrase, k.Params())
}

// Rewrap is ChangePassphrase with new Argon2id parameters.
func (k *Keyring) Rewrap(newPassphrase []byte, p Params) error {
	if len(newPassphrase) == 0 {
		return fmt.Errorf("keyring: %w", ErrEmptyPassphrase)
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return fmt.Errorf("keyring: generate salt: %w", err)
	}
	w := newWrapping(newPassphrase, salt, p)
	k.mu.Lock()
	defer k.mu.Unlock()
	data, err := k.marshalLocked(w, k.current)
	if err != nil {
		w.wipe()
		return err
	}
	if err := writeFileAtomic(k.path, data, true); err != nil {
		w.wipe()
		return fmt.Errorf("keyring: change passphrase: %w", err)
	}
	k.w.wipe()
	k.w = w
	return nil
}

// RecoveryKey returns the master key as a printable recovery key (see
// ParseRecoveryKey). Anyone holding it can read all data: show it only when
// the owner asks for it.
func (k *Keyring) RecoveryKey() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return encodeRecoveryKey(&k.master)
}

// marshalLocked seals the master key with a fresh nonce. k.mu must be held.
func (k *Keyring) marshalLocked(w wrapping, current uint32) ([]byte, error) {
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("keyring: generate nonce: %w", err)
	}
	return marshal(w, nonce, current, &k.master)
}

func (k *Keyring) wipe() {
	clear(k.master[:])
	k.w.wipe()
}

func kekLabel(id uint32) string {
	return LabelKEKPrefix + strconv.FormatUint(uint64(id), 10)
}
