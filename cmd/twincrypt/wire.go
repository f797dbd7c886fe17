package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/backends/local"
	"github.com/twincrypt/twincrypt/backends/replica"
	"github.com/twincrypt/twincrypt/backends/s3"
	"github.com/twincrypt/twincrypt/config"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/keyring"
)

// defaultHome is where `serve` without -c keeps the embedded default
// configuration, keyring, catalog and data: $TWINCRYPT_HOME, else
// $XDG_DATA_HOME/twincrypt, else ~/.local/share/twincrypt.
func defaultHome(c *cli) (string, error) {
	if h := c.getenv("TWINCRYPT_HOME"); h != "" {
		return h, nil
	}
	if x := c.getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "twincrypt"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory: set TWINCRYPT_HOME: %w", err)
	}
	return filepath.Join(home, ".local", "share", "twincrypt"), nil
}

// openBackend opens one configured backend.
func openBackend(ctx context.Context, b config.Backend) (backends.Backend, error) {
	switch b.Type {
	case "local":
		return local.New(b.Name, b.Path)
	case "s3":
		lookup := s3.LookupAuto
		if b.PathStyle != nil {
			lookup = s3.LookupVirtualHost
			if *b.PathStyle {
				lookup = s3.LookupPath
			}
		}
		return s3.New(ctx, s3.Config{
			Name: b.Name, Endpoint: b.Endpoint, Region: b.Region, Bucket: b.Bucket,
			AccessKey: b.AccessKey, SecretKey: b.SecretKey, Prefix: b.Prefix, Lookup: lookup,
			SignPayload: b.SignPayload,
		})
	}
	return nil, fmt.Errorf("backend %s: unknown type %q", b.Name, b.Type)
}

// openCatalog opens the catalog cfg names.
func openCatalog(ctx context.Context, cfg *config.Config) (catalog.Catalog, error) {
	switch cfg.Catalog.Type {
	case "bolt":
		c, err := catalog.OpenBolt(cfg.Catalog.Path)
		if err != nil {
			return nil, err // not a non-nil interface around a nil *Bolt
		}
		return c, nil
	}
	return nil, fmt.Errorf("catalog type %q is not supported by this build", cfg.Catalog.Type)
}

// store is everything a subcommand needs to reach the encrypted data.
type store struct {
	cfg     *config.Config
	keys    *keyring.Keyring
	members []replica.Member
	set     *replica.Set
	cat     catalog.Catalog
	ns      *gateway.Namespace
	// borrowed marks the running gateway's store lent to a command run
	// through the admin API: Close leaves it open.
	borrowed bool
}

// openStore opens the keyring, every backend, the replicated set, the
// catalog and the namespace described by cfg.
func openStore(ctx context.Context, c *cli, cfg *config.Config, log *slog.Logger) (_ *store, err error) {
	st := &store{cfg: cfg}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	if st.keys, err = unlockKeyring(ctx, c, cfg); err != nil {
		return nil, err
	}
	for _, b := range cfg.Backends {
		be, err := openBackend(ctx, b)
		if err != nil {
			return nil, err
		}
		st.members = append(st.members, replica.Member{Backend: be, Jurisdiction: b.Jurisdiction, Priority: b.Priority})
	}
	if st.cat, err = openCatalog(ctx, cfg); err != nil {
		return nil, err
	}
	queue, ok := st.cat.(replica.Queue)
	if !ok {
		return nil, errors.New("catalog does not provide a repair queue")
	}
	st.set, err = replica.New(st.members, replica.Options{
		Name: "replicas", MinWrites: cfg.Replication.MinWrites, Queue: queue, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	st.ns, err = gateway.New(gateway.Options{Keys: st.keys, Store: st.set, Catalog: st.cat, Logger: log})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// Close releases the catalog and the backends.
func (st *store) Close() error {
	if st.borrowed {
		return nil
	}
	var errs []error
	if st.cat != nil {
		errs = append(errs, st.cat.Close())
	}
	for _, m := range st.members {
		errs = append(errs, m.Backend.Close())
	}
	return errors.Join(errs...)
}
