package keyring

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fastParams keeps Argon2id cheap in tests; DefaultParams is exercised by
// TestDefaultParams.
var fastParams = Params{Time: 1, MemoryKiB: 64, Threads: 1}

var (
	pass1 = []byte("correct horse battery staple")
	pass2 = []byte("another passphrase, longer")
)

// derived is every derived key of a keyring, to compare keyrings.
type derived struct {
	name, catalog, kek1, kek2, kek3, custom [32]byte
}

func derivedKeys(t *testing.T, k *Keyring) derived {
	t.Helper()
	var d derived
	d.name = *k.NameKey()
	d.catalog = *k.CatalogKey()
	for id, dst := range map[uint32]*[32]byte{1: &d.kek1, 2: &d.kek2, 3: &d.kek3} {
		key, err := k.KEK(id)
		if err != nil {
			t.Fatalf("KEK(%d): %v", id, err)
		}
		*dst = *key
	}
	d.custom = *k.Derive("twincrypt/v1/test")
	return d
}

func newKeyring(t *testing.T) (*Keyring, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "twincrypt.keyring")
	k, err := Create(path, pass1, fastParams)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return k, path
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func assertMode0600(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode of %s = %o, want 600", path, got)
	}
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestCreateOpenRoundTrip(t *testing.T) {
	k, path := newKeyring(t)
	assertMode0600(t, path)
	assertNoTempFiles(t, filepath.Dir(path))
	if got := len(readFile(t, path)); got != fixedSize+saltSize {
		t.Errorf("file size = %d, want %d", got, fixedSize+saltSize)
	}
	if id, _ := k.CurrentKEK(); id != 1 {
		t.Errorf("new keyring current KEK = %d, want 1", id)
	}
	want := derivedKeys(t, k)
	if want.name == want.catalog || want.kek1 == want.kek2 || want.name == want.kek1 || want.custom == want.name {
		t.Fatal("derived keys are not distinct")
	}

	k2, err := Open(path, pass1)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if got := derivedKeys(t, k2); got != want {
		t.Error("reopened keyring derives different keys")
	}
	if k2.Params() != fastParams {
		t.Errorf("Params = %+v, want %+v", k2.Params(), fastParams)
	}
	if k2.Path() != path {
		t.Errorf("Path = %q, want %q", k2.Path(), path)
	}

	// Two keyrings have different master keys.
	other, _ := newKeyring(t)
	if derivedKeys(t, other) == want {
		t.Error("two new keyrings share keys")
	}
}

func TestCreateRefusesExisting(t *testing.T) {
	_, path := newKeyring(t)
	before := readFile(t, path)
	_, err := Create(path, pass2, fastParams)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("Create over existing file: err = %v, want ErrExists", err)
	}
	if !bytes.Equal(readFile(t, path), before) {
		t.Error("Create changed an existing keyring file")
	}
	assertNoTempFiles(t, filepath.Dir(path))
}

func TestCreateBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		pass []byte
		p    Params
		want error
	}{
		{"empty passphrase", nil, fastParams, ErrEmptyPassphrase},
		{"zero params", pass1, Params{}, ErrInvalidParams},
		{"too little memory", pass1, Params{Time: 1, MemoryKiB: 31, Threads: 4}, ErrInvalidParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			_, err := Create(path, tt.pass, tt.p)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("file written despite error (stat: %v)", err)
			}
		})
	}
	if _, err := Create(filepath.Join(dir, "missing", "k"), pass1, fastParams); err == nil {
		t.Error("Create in a missing directory succeeded")
	}
}

func TestOpenWrongPassphrase(t *testing.T) {
	_, path := newKeyring(t)
	before := readFile(t, path)
	for _, pass := range [][]byte{pass2, []byte("correct horse battery staplE"), pass1[:len(pass1)-1]} {
		k, err := Open(path, pass)
		if !errors.Is(err, ErrWrongPassphrase) {
			t.Errorf("Open(%q): err = %v, want ErrWrongPassphrase", pass, err)
		}
		if k != nil {
			t.Errorf("Open(%q) returned a keyring with an error", pass)
		}
	}
	if _, err := Open(path, nil); !errors.Is(err, ErrEmptyPassphrase) {
		t.Errorf("Open(empty): err = %v, want ErrEmptyPassphrase", err)
	}
	if !bytes.Equal(readFile(t, path), before) {
		t.Error("failed Open changed the keyring file")
	}
	assertNoTempFiles(t, filepath.Dir(path))
}

func TestOpenMissing(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "nope"), pass1)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
}

// TestOpenTampered flips each bit of every byte of the file in turn: every
// change must be refused, and with the right error class.
func TestOpenTampered(t *testing.T) {
	_, path := newKeyring(t)
	orig := readFile(t, path)
	s := saltSize
	// Byte offsets of the fields, by kind of expected error.
	class := func(i int) []error {
		switch {
		case i < 8:
			return []error{ErrCorrupt}
		case i < 10:
			return []error{ErrUnsupported}
		case i < 19:
			// Argon2id parameters: invalid, or a different wrapping key.
			return []error{ErrCorrupt, ErrWrongPassphrase}
		case i == 19:
			return []error{ErrCorrupt}
		case i < 20+s+checkSize:
			return []error{ErrWrongPassphrase} // salt or check value
		case i == 36+s:
			return []error{ErrUnsupported}
		default:
			return []error{ErrCorrupt} // nonce, KEK id, ciphertext, tag
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.keyring")
	for i := range orig {
		for _, bit := range []byte{0x01, 0x80} {
			data := bytes.Clone(orig)
			data[i] ^= bit
			if err := os.WriteFile(bad, data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(bad, pass1)
			if err == nil {
				t.Fatalf("byte %d bit %#x flipped: Open succeeded", i, bit)
			}
			ok := false
			for _, want := range class(i) {
				ok = ok || errors.Is(err, want)
			}
			if !ok {
				t.Errorf("byte %d bit %#x flipped: err = %v, want one of %v", i, bit, err, class(i))
			}
		}
	}

	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"truncated", orig[:len(orig)-1], ErrCorrupt},
		{"header only", orig[:20], ErrCorrupt},
		{"extended", append(bytes.Clone(orig), 0), ErrCorrupt},
		{"huge", make([]byte, 1<<20), ErrCorrupt},
		{"text", []byte("keyring: yes\n"), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(bad, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(bad, pass1); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRotate(t *testing.T) {
	k, path := newKeyring(t)
	before := derivedKeys(t, k)
	_, cur1 := k.CurrentKEK()
	for want := uint32(2); want <= 3; want++ {
		id, err := k.Rotate()
		if err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		if id != want {
			t.Fatalf("Rotate = %d, want %d", id, want)
		}
		cid, ckey := k.CurrentKEK()
		kek, err := k.KEK(id)
		if err != nil {
			t.Fatal(err)
		}
		if cid != id || *ckey != *kek {
			t.Errorf("CurrentKEK = %d after rotating to %d, or key differs from KEK(%d)", cid, id, id)
		}
	}
	if *cur1 != before.kek1 {
		t.Error("CurrentKEK before rotation is not KEK(1)")
	}
	if got := derivedKeys(t, k); got != before {
		t.Error("rotation changed derived keys; old KEKs must keep resolving")
	}
	assertMode0600(t, path)
	assertNoTempFiles(t, filepath.Dir(path))

	k2, err := Open(path, pass1)
	if err != nil {
		t.Fatal(err)
	}
	if k2.CurrentKEKID() != 3 {
		t.Errorf("rotation not persisted: current = %d, want 3", k2.CurrentKEKID())
	}
	if got := derivedKeys(t, k2); got != before {
		t.Error("reopened rotated keyring derives different keys")
	}
}

func TestRotateFailureLeavesState(t *testing.T) {
	k, path := newKeyring(t)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	// A directory where the file was makes the rename fail.
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Rotate(); err == nil {
		t.Fatal("Rotate succeeded although the file cannot be replaced")
	}
	if k.CurrentKEKID() != 1 {
		t.Errorf("failed Rotate changed current to %d", k.CurrentKEKID())
	}
	if err := k.ChangePassphrase(pass2); err == nil {
		t.Fatal("ChangePassphrase succeeded although the file cannot be replaced")
	}
	assertNoTempFiles(t, filepath.Dir(path))
}

func TestKEKIDs(t *testing.T) {
	k, _ := newKeyring(t)
	if _, err := k.KEK(0); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("KEK(0): err = %v, want ErrUnknownKey", err)
	}
	// Ids above the current one resolve: they are derived.
	a, err := k.KEK(1000)
	if err != nil {
		t.Fatalf("KEK(1000): %v", err)
	}
	b, _ := k.KEK(1001)
	if *a == *b {
		t.Error("KEK(1000) == KEK(1001)")
	}
	// Returned keys are copies: changing one does not change the keyring.
	a[0] ^= 0xff
	a2, _ := k.KEK(1000)
	if *a == *a2 {
		t.Error("KEK returns shared storage")
	}
}

func TestDeriveLabels(t *testing.T) {
	k, _ := newKeyring(t)
	if *k.NameKey() != *k.Derive(LabelName) {
		t.Error("NameKey != Derive(LabelName)")
	}
	if *k.CatalogKey() != *k.Derive(LabelCatalog) {
		t.Error("CatalogKey != Derive(LabelCatalog)")
	}
	kek, _ := k.KEK(42)
	if *kek != *k.Derive(LabelKEKPrefix + "42") {
		t.Error("KEK(42) != Derive(LabelKEKPrefix+\"42\")")
	}
}

func TestChangePassphrase(t *testing.T) {
	k, path := newKeyring(t)
	before := derivedKeys(t, k)
	oldFile := readFile(t, path)
	if err := k.ChangePassphrase(pass2); err != nil {
		t.Fatalf("ChangePassphrase: %v", err)
	}
	newFile := readFile(t, path)
	if bytes.Equal(oldFile[20:20+saltSize], newFile[20:20+saltSize]) {
		t.Error("salt unchanged after passphrase change")
	}
	assertMode0600(t, path)
	if got := derivedKeys(t, k); got != before {
		t.Error("ChangePassphrase changed derived keys")
	}
	if _, err := Open(path, pass1); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("old passphrase: err = %v, want ErrWrongPassphrase", err)
	}
	k2, err := Open(path, pass2)
	if err != nil {
		t.Fatalf("Open with new passphrase: %v", err)
	}
	if got := derivedKeys(t, k2); got != before {
		t.Error("keyring under the new passphrase derives different keys")
	}
	if k2.RecoveryKey() != k.RecoveryKey() {
		t.Error("master key changed")
	}

	// Rewrap changes the parameters too, and the file records them.
	p := Params{Time: 2, MemoryKiB: 128, Threads: 2}
	if err := k2.Rewrap(pass1, p); err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	k3, err := Open(path, pass1)
	if err != nil {
		t.Fatal(err)
	}
	if k3.Params() != p {
		t.Errorf("Params after Rewrap = %+v, want %+v", k3.Params(), p)
	}
	if err := k3.ChangePassphrase(nil); !errors.Is(err, ErrEmptyPassphrase) {
		t.Errorf("empty new passphrase: err = %v", err)
	}
	if err := k3.Rewrap(pass2, Params{}); !errors.Is(err, ErrInvalidParams) {
		t.Errorf("invalid params: err = %v", err)
	}
	if _, err := Open(path, pass1); err != nil {
		t.Errorf("failed rewraps changed the file: %v", err)
	}
}

func TestRestore(t *testing.T) {
	k, path := newKeyring(t)
	if _, err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	want := derivedKeys(t, k)
	master, err := ParseRecoveryKey(k.RecoveryKey())
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	rpath := filepath.Join(dir, "restored.keyring")
	r, err := Restore(rpath, master, pass2, fastParams)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	assertMode0600(t, rpath)
	if got := derivedKeys(t, r); got != want {
		t.Error("restored keyring derives different keys")
	}
	if r.CurrentKEKID() != 1 {
		t.Errorf("restored current KEK = %d, want 1", r.CurrentKEKID())
	}
	if _, err := Open(rpath, pass2); err != nil {
		t.Errorf("Open restored: %v", err)
	}

	if _, err := Restore(rpath, master, pass1, fastParams); !errors.Is(err, ErrExists) {
		t.Errorf("Restore over existing: err = %v, want ErrExists", err)
	}
	r2, err := Restore(rpath, master, pass1, fastParams, WithOverwrite(), WithCurrentKEK(7))
	if err != nil {
		t.Fatalf("Restore with overwrite: %v", err)
	}
	if r2.CurrentKEKID() != 7 {
		t.Errorf("current KEK = %d, want 7", r2.CurrentKEKID())
	}
	r3, err := Open(rpath, pass1)
	if err != nil || r3.CurrentKEKID() != 7 {
		t.Fatalf("Open overwritten: %v (current %d)", err, r3.CurrentKEKID())
	}
	if _, err := Restore(filepath.Join(dir, "x"), master, pass1, fastParams, WithCurrentKEK(0)); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("WithCurrentKEK(0): err = %v", err)
	}
	assertNoTempFiles(t, dir)
	_ = path
}

func TestConcurrentUse(t *testing.T) {
	k, _ := newKeyring(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				id, key := k.CurrentKEK()
				kek, err := k.KEK(id)
				if err != nil || *kek != *key {
					t.Errorf("CurrentKEK and KEK(%d) disagree: %v", id, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 3 {
			if _, err := k.Rotate(); err != nil {
				t.Errorf("Rotate: %v", err)
			}
		}
	})
	wg.Wait()
	if k.CurrentKEKID() != 4 {
		t.Errorf("current = %d, want 4", k.CurrentKEKID())
	}
}

func TestParamsValidate(t *testing.T) {
	tests := []struct {
		p  Params
		ok bool
	}{
		{DefaultParams(), true},
		{fastParams, true},
		{Params{Time: 1, MemoryKiB: 8, Threads: 1}, true},
		{Params{Time: MaxTime, MemoryKiB: MaxMemoryKiB, Threads: 255}, true},
		{Params{Time: 0, MemoryKiB: 64, Threads: 1}, false},
		{Params{Time: MaxTime + 1, MemoryKiB: 64, Threads: 1}, false},
		{Params{Time: 1, MemoryKiB: 64, Threads: 0}, false},
		{Params{Time: 1, MemoryKiB: 7, Threads: 1}, false},
		{Params{Time: 1, MemoryKiB: MaxMemoryKiB + 1, Threads: 1}, false},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%+v: err = %v, want ok=%v", tt.p, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidParams) {
			t.Errorf("%+v: err = %v, want ErrInvalidParams", tt.p, err)
		}
	}
	if want := (Params{Time: 3, MemoryKiB: 65536, Threads: 4}); DefaultParams() != want {
		t.Errorf("DefaultParams = %+v, want %+v", DefaultParams(), want)
	}
}

func TestDefaultParams(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB Argon2id run skipped in -short mode")
	}
	path := filepath.Join(t.TempDir(), "k")
	k, err := Create(path, pass1, DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	k2, err := Open(path, pass1)
	if err != nil {
		t.Fatal(err)
	}
	if k2.Params() != DefaultParams() || *k2.NameKey() != *k.NameKey() {
		t.Error("default-parameter keyring does not round-trip")
	}
}
