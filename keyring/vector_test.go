package keyring

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/vector.json and testdata/vector.keyring from the inputs in vector.json")

// vector is the layout of testdata/vector.json: fixed inputs, the keyring
// file they produce (also in testdata/vector.keyring), and the keys derived
// from the master key.
type vector struct {
	Comment    string            `json:"comment"`
	Passphrase string            `json:"passphrase"`
	Time       uint32            `json:"argon2_time"`
	MemoryKiB  uint32            `json:"argon2_memory_kib"`
	Threads    uint8             `json:"argon2_threads"`
	Salt       string            `json:"salt_hex"`
	Nonce      string            `json:"nonce_hex"`
	Master     string            `json:"master_key_hex"`
	CurrentKEK uint32            `json:"current_kek_id"`
	File       string            `json:"file_hex"`
	Recovery   string            `json:"recovery_key"`
	Derived    map[string]string `json:"derived_hex"`
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func vectorLabels() []string {
	return []string{LabelName, LabelCatalog, LabelKEKPrefix + "1", LabelKEKPrefix + "3", "twincrypt/v1/share/example"}
}

func TestVector(t *testing.T) {
	jsonPath := filepath.Join("testdata", "vector.json")
	filePath := filepath.Join("testdata", "vector.keyring")
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", jsonPath, err)
	}
	p := Params{Time: v.Time, MemoryKiB: v.MemoryKiB, Threads: v.Threads}
	var master [KeySize]byte
	if n := copy(master[:], mustHex(t, v.Master)); n != KeySize {
		t.Fatalf("master key is %d bytes", n)
	}
	w := newWrapping([]byte(v.Passphrase), mustHex(t, v.Salt), p)
	got, err := marshal(w, mustHex(t, v.Nonce), v.CurrentKEK, &master)
	if err != nil {
		t.Fatal(err)
	}

	if *update {
		v.File = hex.EncodeToString(got)
		v.Recovery = encodeRecoveryKey(&master)
		v.Derived = map[string]string{}
		for _, l := range vectorLabels() {
			v.Derived[l] = hex.EncodeToString(deriveKey(&master, l)[:])
		}
		out, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(jsonPath, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filePath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	want := mustHex(t, v.File)
	if !bytes.Equal(got, want) {
		t.Fatalf("marshal:\n got %x\nwant %x", got, want)
	}
	onDisk, err := os.ReadFile(filePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, want) {
		t.Fatalf("%s differs from file_hex in %s", filePath, jsonPath)
	}

	// Open the vector file the public way and check every derived key.
	k, err := Open(filePath, []byte(v.Passphrase))
	if err != nil {
		t.Fatalf("Open vector: %v", err)
	}
	if k.Params() != p || k.CurrentKEKID() != v.CurrentKEK {
		t.Errorf("vector opened with params %+v current %d", k.Params(), k.CurrentKEKID())
	}
	if len(v.Derived) != len(vectorLabels()) {
		t.Fatalf("vector has %d derived keys, want %d", len(v.Derived), len(vectorLabels()))
	}
	for _, l := range vectorLabels() {
		if got := hex.EncodeToString(k.Derive(l)[:]); got != v.Derived[l] {
			t.Errorf("Derive(%q) = %s, want %s", l, got, v.Derived[l])
		}
	}
	if got := hex.EncodeToString(k.NameKey()[:]); got != v.Derived[LabelName] {
		t.Errorf("NameKey = %s", got)
	}
	if got := hex.EncodeToString(k.CatalogKey()[:]); got != v.Derived[LabelCatalog] {
		t.Errorf("CatalogKey = %s", got)
	}
	id, cur := k.CurrentKEK()
	if hex.EncodeToString(cur[:]) != v.Derived[LabelKEKPrefix+strconv.Itoa(int(id))] {
		t.Errorf("CurrentKEK %d = %x", id, cur[:])
	}
	if got := k.RecoveryKey(); got != v.Recovery {
		t.Errorf("RecoveryKey = %s, want %s", got, v.Recovery)
	}
	if m, err := ParseRecoveryKey(v.Recovery); err != nil || m != master {
		t.Errorf("ParseRecoveryKey(vector): %v", err)
	}
	if _, err := Open(filePath, []byte(v.Passphrase+"x")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("vector with wrong passphrase: err = %v", err)
	}
}

func FuzzUnmarshal(f *testing.F) {
	if seed, err := os.ReadFile(filepath.Join("testdata", "vector.keyring")); err == nil {
		f.Add(seed)
	}
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 20 {
			// Keep Argon2id cheap: force small parameters.
			copy(data[10:19], []byte{0, 0, 0, 1, 0, 0, 0, 8, 1})
		}
		k, err := unmarshal(data, []byte("correct horse battery staple"))
		if err == nil && k.CurrentKEKID() == 0 {
			t.Fatal("accepted a keyring with KEK id 0")
		}
	})
}
