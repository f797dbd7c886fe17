package sharelink

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

// seq returns n bytes counting up from first.
func seq(first byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = first + byte(i)
	}
	return b
}

// vector is one test vector of docs/FORMAT.md, "Share links".
type vector struct {
	Name       string `json:"name"`
	ID         string `json:"id"`     // hex
	Secret     string `json:"secret"` // hex
	Password   string `json:"password,omitempty"`
	Iterations int    `json:"iterations,omitempty"`
	Index      uint32 `json:"index"`
	Nonce      string `json:"nonce"`     // hex
	Plaintext  string `json:"plaintext"` // the entry JSON
	Link       string `json:"link"`      // with base https://files.example.org
	Token      string `json:"token"`     // base64url
	TokenHash  string `json:"token_hash"`
	EntryKey   string `json:"entry_key"`
	Commitment string `json:"commitment"`
	Sealed     string `json:"sealed"` // hex
}

// fixedReader returns the same bytes for every read.
type fixedReader []byte

func (f fixedReader) Read(p []byte) (int, error) { return copy(p, f), nil }

func makeVectors(t *testing.T) []vector {
	t.Helper()
	entry := Entry{Name: "report.pdf", Size: 65537, ContentType: "application/pdf",
		ModTime: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC), ETag: "0123456789abcdef0123456789abcdef",
		Parts: []Part{{Size: 65537, ObjectID: seq(0xc0, 16), Salt: seq(0x20, 32), DataKey: seq(0x00, 32)}}}
	plain, err := json.Marshal(&entry)
	if err != nil {
		t.Fatal(err)
	}
	var out []vector
	for _, v := range []vector{
		{Name: "no password", Index: 0},
		{Name: "password", Password: "correct horse battery staple", Iterations: MinIterations, Index: 3},
	} {
		var id ID
		var s Secret
		copy(id[:], seq(0x80, IDSize))
		copy(s[:], seq(0xa0, SecretSize))
		nonce := seq(0x40, NonceSize)
		var pw []byte
		if v.Password != "" {
			pw = []byte(v.Password)
		}
		k, err := DeriveKeys(id, s, pw, v.Iterations)
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := k.Seal(fixedReader(nonce), v.Index, plain)
		if err != nil {
			t.Fatal(err)
		}
		tok := DeriveToken(id, s)
		th := tok.Hash()
		v.ID, v.Secret, v.Nonce, v.Plaintext = hex.EncodeToString(id[:]), hex.EncodeToString(s[:]), hex.EncodeToString(nonce), string(plain)
		v.Link = Link{Base: "https://files.example.org", ID: id, Secret: s}.String()
		v.Token, v.TokenHash = tok.String(), hex.EncodeToString(th[:])
		v.EntryKey = hex.EncodeToString(independentKeys(t, id[:], s[:], pw, v.Iterations, labelEntryKey))
		v.Commitment = hex.EncodeToString(k.commitment[:])
		v.Sealed = hex.EncodeToString(sealed)
		out = append(out, v)
	}
	return out
}

// independentKeys derives a key as docs/FORMAT.md says, with the standard
// library alone.
func independentKeys(t *testing.T, id, secret, password []byte, iterations int, label string) []byte {
	t.Helper()
	ikm := secret
	if password != nil {
		pw, err := pbkdf2.Key(sha256.New, string(password), append([]byte("twincrypt share v1 password"), id...), iterations, 32)
		if err != nil {
			t.Fatal(err)
		}
		info := binary.BigEndian.AppendUint32([]byte("twincrypt share v1 password key"), uint32(iterations))
		if ikm, err = hkdf.Key(sha256.New, append(append([]byte{}, secret...), pw...), id, string(info), 32); err != nil {
			t.Fatal(err)
		}
	}
	k, err := hkdf.Key(sha256.New, ikm, id, label, 32)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestVectors checks the vectors in testdata/vectors.json (and so in
// docs/FORMAT.md) against the package, and every value again against a
// derivation written from the spec with the standard library alone.
func TestVectors(t *testing.T) {
	path := filepath.Join("testdata", "vectors.json")
	got := makeVectors(t)
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []vector
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(got) {
		t.Fatalf("%d vectors on file, %d computed", len(want), len(got))
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "FORMAT.md"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		w, g := want[i], got[i]
		sealedBytes, _ := hex.DecodeString(w.Sealed)
		sum := sha256.Sum256(sealedBytes)
		for _, s := range []string{w.Link, w.Token, w.TokenHash, w.EntryKey, w.Commitment, w.Plaintext, hex.EncodeToString(sum[:])} {
			if !bytes.Contains(doc, []byte(s)) {
				t.Errorf("vector %q: docs/FORMAT.md does not show %s", w.Name, s)
			}
		}
		if w != g {
			t.Errorf("vector %q differs:\n file %+v\n code %+v", w.Name, w, g)
			continue
		}
		// Independent check of every derived value.
		id, _ := hex.DecodeString(w.ID)
		secret, _ := hex.DecodeString(w.Secret)
		var pw []byte
		if w.Password != "" {
			pw = []byte(w.Password)
		}
		tok, err := hkdf.Key(sha256.New, secret, id, "twincrypt share v1 token", 32)
		if err != nil {
			t.Fatal(err)
		}
		th := sha256.Sum256(tok)
		if hex.EncodeToString(th[:]) != w.TokenHash {
			t.Errorf("%s: token hash differs from an independent derivation", w.Name)
		}
		commit := independentKeys(t, id, secret, pw, w.Iterations, "twincrypt share v1 commitment")
		key := independentKeys(t, id, secret, pw, w.Iterations, "twincrypt share v1 entry key")
		sealed, _ := hex.DecodeString(w.Sealed)
		if !bytes.Equal(sealed[:32], commit) {
			t.Errorf("%s: commitment differs from an independent derivation", w.Name)
		}
		block, _ := aes.NewCipher(key)
		aead, _ := cipher.NewGCM(block)
		ad := binary.BigEndian.AppendUint32(append([]byte("twincrypt share v1 entry"), id...), w.Index)
		plain, err := aead.Open(nil, sealed[32:44], sealed[44:], ad)
		if err != nil || string(plain) != w.Plaintext {
			t.Errorf("%s: independent opening failed: %v", w.Name, err)
		}
		// And the package opens its own vector, and parses its link.
		l, err := Parse(w.Link)
		if err != nil || hex.EncodeToString(l.ID[:]) != w.ID || hex.EncodeToString(l.Secret[:]) != w.Secret {
			t.Errorf("%s: Parse(%q) = %+v, %v", w.Name, w.Link, l, err)
		}
		k, err := DeriveKeys(l.ID, l.Secret, pw, w.Iterations)
		if err != nil {
			t.Fatal(err)
		}
		if e, err := k.OpenEntry(w.Index, sealed); err != nil || e.Name != "report.pdf" || e.Size != 65537 {
			t.Errorf("%s: OpenEntry: %+v, %v", w.Name, e, err)
		}
	}
}

// TestOpenFailures checks that every way an entry can be wrong is the one
// error ErrOpen: another secret, password or index, another share, and each
// byte of the sealed entry flipped or cut.
func TestOpenFailures(t *testing.T) {
	var id, otherID ID
	otherID[0] = 1
	var s, otherS Secret
	otherS[31] = 1
	k, _ := DeriveKeys(id, s, []byte("pw"), MinIterations)
	sealed, err := k.SealEntry(fixedReader(seq(1, NonceSize)), 7, &Entry{Name: "f", Size: 0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.OpenEntry(7, sealed); err != nil {
		t.Fatalf("round trip: %v", err)
	}
	mustFail := func(name string, k *Keys, index uint32, b []byte) {
		t.Helper()
		if _, err := k.OpenEntry(index, b); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: %v, want ErrOpen", name, err)
		}
	}
	wrongPW, _ := DeriveKeys(id, s, []byte("pW"), MinIterations)
	noPW, _ := DeriveKeys(id, s, nil, 0)
	fewer, _ := DeriveKeys(id, s, []byte("pw"), MinIterations+1)
	otherSecret, _ := DeriveKeys(id, otherS, []byte("pw"), MinIterations)
	otherShare, _ := DeriveKeys(otherID, s, []byte("pw"), MinIterations)
	mustFail("wrong password", wrongPW, 7, sealed)
	mustFail("no password", noPW, 7, sealed)
	mustFail("other iteration count", fewer, 7, sealed)
	mustFail("other secret", otherSecret, 7, sealed)
	mustFail("other share", otherShare, 7, sealed)
	mustFail("other index", k, 8, sealed)
	for i := range sealed {
		b := bytes.Clone(sealed)
		b[i] ^= 0x80
		mustFail("flipped byte", k, 7, b)
	}
	for n := range sealed {
		mustFail("truncated", k, 7, sealed[:n])
	}
	mustFail("appended", k, 7, append(bytes.Clone(sealed), 0))
	if _, err := DeriveKeys(id, s, []byte("pw"), MinIterations-1); err == nil {
		t.Error("an iteration count below the minimum was accepted")
	}
	if _, err := DeriveKeys(id, s, []byte("pw"), MaxIterations+1); err == nil {
		t.Error("an iteration count above the maximum was accepted")
	}
}

// TestEntryChecks checks that a well-sealed entry with an unsafe name or
// inconsistent sizes is refused.
func TestEntryChecks(t *testing.T) {
	var id ID
	var s Secret
	k, _ := DeriveKeys(id, s, nil, 0)
	part := Part{Size: 3, ObjectID: seq(0, 16), Salt: seq(0, 32), DataKey: seq(0, 32)}
	for _, tt := range []struct {
		e  Entry
		ok bool
	}{
		{Entry{Name: "a/b.txt", Size: 3, Parts: []Part{part}}, true},
		{Entry{Name: "", Size: 3, Parts: []Part{part}}, false},
		{Entry{Name: "../x", Size: 3, Parts: []Part{part}}, false},
		{Entry{Name: "/etc/passwd", Size: 3, Parts: []Part{part}}, false},
		{Entry{Name: "a//b", Size: 3, Parts: []Part{part}}, false},
		{Entry{Name: `a\b`, Size: 3, Parts: []Part{part}}, false},
		{Entry{Name: "a/./b", Size: 3, Parts: []Part{part}}, false},
		{Entry{Name: strings.Repeat("x", 256), Size: 3, Parts: []Part{part}}, false},
		{Entry{Name: "f", Size: 4, Parts: []Part{part}}, false},
		{Entry{Name: "f", Size: 3, Parts: []Part{{Size: 3, ObjectID: seq(0, 15), Salt: seq(0, 32), DataKey: seq(0, 32)}}}, false},
	} {
		sealed, err := k.SealEntry(fixedReader(seq(0, NonceSize)), 0, &tt.e)
		if err != nil {
			t.Fatal(err)
		}
		_, err = k.OpenEntry(0, sealed)
		if (err == nil) != tt.ok {
			t.Errorf("entry %q size %d: %v, want ok=%v", tt.e.Name, tt.e.Size, err, tt.ok)
		}
	}
}

func TestParse(t *testing.T) {
	good := "https://files.example.org/base/s/gIGCg4SFhoeIiYqLjI2Ojw#oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8"
	l, err := Parse(good)
	if err != nil || l.Base != "https://files.example.org/base" || l.String() != good {
		t.Fatalf("Parse(%q) = %+v, %v", good, l, err)
	}
	if l.PageURL() != "https://files.example.org/base/s/gIGCg4SFhoeIiYqLjI2Ojw" {
		t.Errorf("PageURL = %q", l.PageURL())
	}
	for _, bad := range []string{
		"",
		"ftp://files.example.org/s/gIGCg4SFhoeIiYqLjI2Ojw#oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8",
		"https://files.example.org/s/gIGCg4SFhoeIiYqLjI2Ojw",
		"https://files.example.org/s/gIGCg4SFhoeIiYqLjI2Ojw#oKGio6Sl",
		"https://files.example.org/s/short#oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8",
		"https://files.example.org/x/gIGCg4SFhoeIiYqLjI2Ojw#oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8",
	} {
		if _, err := Parse(bad); !errors.Is(err, ErrLink) {
			t.Errorf("Parse(%q): %v, want ErrLink", bad, err)
		}
	}
}
