package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/gateway/checksum"
	"github.com/twincrypt/twincrypt/gateway/seal"
)

// inlineVector is the test vector of docs/FORMAT.md, "Inline objects".
type inlineVector struct {
	Plaintext string `json:"plaintext"` // the object's content
	Part      string `json:"part"`      // the part of its record, as JSON
}

// vectorKeySource holds the KEK of the object-format vectors: id 7,
// bytes a0..bf.
type vectorKeySource struct{ kek [32]byte }

func (k *vectorKeySource) CurrentKEK() (uint32, *[32]byte) { return 7, &k.kek }
func (k *vectorKeySource) KEK(id uint32) (*[32]byte, error) {
	if id != 7 {
		return nil, fmt.Errorf("%w: KEK %d", seal.ErrKeyUnknown, id)
	}
	return &k.kek, nil
}
func (k *vectorKeySource) NameKey() *[32]byte { return new([32]byte) }

// CatalogKey is the catalog key of the catalog-record vector: bytes d0..ef.
func (k *vectorKeySource) CatalogKey() *[32]byte {
	var c [32]byte
	for i := range c {
		c[i] = 0xd0 + byte(i)
	}
	return &c
}

// vectorNamespace returns a namespace that seals with the inputs of the
// object-format vectors: blob id c0..cf, data key 00..1f, salt 20..3f,
// wrap nonce 40..4b.
func vectorNamespace() *Namespace {
	var keys vectorKeySource
	for i := range keys.kek {
		keys.kek[i] = 0xa0 + byte(i)
	}
	var rnd []byte
	for i := range 16 {
		rnd = append(rnd, 0xc0+byte(i))
	}
	for i := range seal.KeySize + seal.SaltSize + seal.NonceSize {
		rnd = append(rnd, byte(i))
	}
	return &Namespace{keys: &keys, rand: bytes.NewReader(rnd)}
}

// TestInlineVector checks testdata/inline-vector.json (and so
// docs/FORMAT.md) against the package: the part a PUT of the vector's
// content makes, that its hdr followed by its data is, byte for byte, the
// object-format vector of the same content and inputs, and that it reads
// back.
func TestInlineVector(t *testing.T) {
	path := filepath.Join("testdata", "inline-vector.json")
	make := func(plain string) inlineVector {
		p, _, _, err := vectorNamespace().writeBlob(context.Background(), strings.NewReader(plain), int64(len(plain)), checksum.Default, true)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return inlineVector{Plaintext: plain, Part: string(b)}
	}
	var want inlineVector
	vectorFile(t, path, make("\x00"), &want)
	if got := make(want.Plaintext); got != want {
		t.Errorf("vector differs from the package:\n got %+v\nwant %+v", got, want)
	}
	var p partRecord
	if err := json.Unmarshal([]byte(want.Part), &p); err != nil {
		t.Fatal(err)
	}
	if !p.inline() || p.Size != int64(len(want.Plaintext)) {
		t.Fatalf("vector part is not inline, or of size %d: %+v", p.Size, p)
	}
	// The blob the part holds is the object-format vector.
	blob, err := os.ReadFile(filepath.Join("seal", "testdata", "vectors", fmt.Sprintf("plain-%d.blob", len(want.Plaintext))))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(bytes.Clone(p.Header), p.Data...), blob) {
		t.Error("hdr || data differs from the object-format vector")
	}
	ns := vectorNamespace()
	rd, c, err := ns.openBlobRange(context.Background(), p, 0, p.Size)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := io.ReadAll(rd); err != nil || string(got) != want.Plaintext {
		t.Errorf("read back %q, %v; want %q", got, err, want.Plaintext)
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "FORMAT.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), want.Part) {
		t.Errorf("docs/FORMAT.md lacks the part %s", want.Part)
	}
}
