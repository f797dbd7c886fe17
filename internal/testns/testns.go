// Package testns builds real namespaces for tests: a keyring with cheap
// Argon2id parameters, a local-directory backend and a bbolt catalog, all
// under t.TempDir(), removed when the test ends.
package testns

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/backends/local"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/keyring"
)

// Options adjust New.
type Options struct {
	// Bucket is created when not empty.
	Bucket string
	// Wrap, when set, wraps the local backend before the namespace gets
	// it, for example to count or fail calls.
	Wrap func(backends.Backend) backends.Backend
	// Catalog options, for example catalog.WithNoSync() for bulk loads.
	Catalog []catalog.BoltOption
	// Users are the namespace's configured users (gateway.Options.Users).
	Users []gateway.User
	// Clock is the namespace's clock (gateway.Options.Clock; nil: the
	// system clock).
	Clock func() time.Time
	// InlineCache is gateway.Options.InlineCache (0: no cache).
	InlineCache int64
}

// Env is a namespace and what it is made of.
type Env struct {
	Dir     string // the test's temporary directory
	Keys    *keyring.Keyring
	Backend *local.Backend // the local backend, unwrapped
	Store   backends.Backend
	Catalog *catalog.Bolt
	NS      *gateway.Namespace
}

// Keys creates a keyring in dir with Argon2id parameters cheap enough for
// tests.
func Keys(t testing.TB, dir string) *keyring.Keyring {
	t.Helper()
	k, err := keyring.Create(filepath.Join(dir, "keyring"), []byte("pass"), keyring.Params{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// New returns a namespace over one local backend and a bolt catalog.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	e := &Env{Dir: t.TempDir()}
	e.Keys = Keys(t, e.Dir)
	var err error
	if e.Backend, err = local.New("a", filepath.Join(e.Dir, "a")); err != nil {
		t.Fatal(err)
	}
	e.Store = e.Backend
	if o.Wrap != nil {
		e.Store = o.Wrap(e.Backend)
	}
	if e.Catalog, err = catalog.OpenBolt(filepath.Join(e.Dir, "catalog.db"), o.Catalog...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Catalog.Close() })
	if e.NS, err = gateway.New(gateway.Options{Keys: e.Keys, Store: e.Store, Catalog: e.Catalog, Users: o.Users, Clock: o.Clock, InlineCache: o.InlineCache}); err != nil {
		t.Fatal(err)
	}
	if o.Bucket != "" {
		if err := e.NS.CreateBucket(context.Background(), o.Bucket); err != nil {
			t.Fatal(err)
		}
	}
	return e
}
