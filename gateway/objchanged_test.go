package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway"
)

// TestReadRacesOverwrite: a GET of an inline object whose catalog read
// came before an overwrite, and whose record the overwrite deleted before
// the GET loaded it, fails as ErrObjectChanged (a failure to try again,
// backends.ErrUnavailable), never with bytes; read again it returns the
// new object.
func TestReadRacesOverwrite(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "k", []byte("old"))
	reader, err := gateway.New(gateway.Options{Keys: e.keys, Store: e.set, Catalog: e.cat})
	if err != nil {
		t.Fatal(err)
	}
	o, err := reader.Object(ctx, "bucket", "k")
	if err != nil {
		t.Fatal(err)
	}
	e.put(t, "k", []byte("new"))
	r, err := o.NewReader(ctx, 0, -1)
	if !errors.Is(err, gateway.ErrObjectChanged) || !errors.Is(err, backends.ErrUnavailable) || r != nil {
		t.Fatalf("GET across an overwrite: %v, want ErrObjectChanged", err)
	}
	if got := read(t, reader, "k"); !bytes.Equal(got, []byte("new")) {
		t.Errorf("read again: %q, want new", got)
	}
	// Both copies of the record the catalog names gone: not a change, a
	// loss, which scrub reports.
	for i := range e.members {
		if err := e.members[i].Delete(ctx, e.recordName(t, "bucket", "k", "")); err != nil {
			t.Fatal(err)
		}
	}
	o, err = reader.Object(ctx, "bucket", "k")
	if err == nil {
		var rc io.ReadCloser
		if rc, err = o.NewReader(ctx, 0, -1); rc != nil {
			rc.Close()
		}
	}
	if !errors.Is(err, gateway.ErrIntegrity) || errors.Is(err, gateway.ErrObjectChanged) {
		t.Errorf("GET with the record lost: %v, want ErrIntegrity", err)
	}
}
