package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/backends/local"
	"github.com/twincrypt/twincrypt/backends/replica"
	"github.com/twincrypt/twincrypt/backends/s3"
	"github.com/twincrypt/twincrypt/config"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/keylock"
	"github.com/twincrypt/twincrypt/internal/redisconn"
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
		lb, err := local.New(b.Name, b.Path)
		if err != nil {
			return nil, err // not a non-nil interface around a nil *local.Backend
		}
		return lb, nil
	case "s3":
		sb, err := s3.New(ctx, s3Config(b))
		if err != nil {
			return nil, err
		}
		return sb, nil
	}
	return nil, fmt.Errorf("backend %s: unknown type %q", b.Name, b.Type)
}

// s3Config returns the configuration of an s3 backend.
func s3Config(b config.Backend) s3.Config {
	lookup := s3.LookupAuto
	if b.PathStyle != nil {
		lookup = s3.LookupVirtualHost
		if *b.PathStyle {
			lookup = s3.LookupPath
		}
	}
	return s3.Config{
		Name: b.Name, Endpoint: b.Endpoint, Region: b.Region, Bucket: b.Bucket,
		AccessKey: b.AccessKey, SecretKey: b.SecretKey, Prefix: b.Prefix, Lookup: lookup,
		SignPayload: b.SignPayload,
	}
}

// startCheckTimeout bounds how long serve waits at start for a provider
// to answer; one that does not answer in time is served as down.
const startCheckTimeout = 10 * time.Second

// openServedBackend opens one configured backend for serve, which must
// start while a provider is out: a provider that cannot be reached is
// returned together with the error that says why (unreachable), so that
// the replicated set starts with it marked down. A local directory is
// never created here (see local.Open): a missing one is unreachable until
// it appears. Errors of the configuration itself (a bucket that does not
// exist, credentials the provider refuses) are returned as err.
func openServedBackend(ctx context.Context, b config.Backend) (be backends.Backend, unreachable, err error) {
	switch b.Type {
	case "local":
		lb, err := local.Open(b.Name, b.Path)
		if err != nil {
			return nil, nil, err
		}
		return lb, lb.Check(ctx), nil
	case "s3":
		cfg := s3Config(b)
		cctx, cancel := context.WithTimeout(ctx, startCheckTimeout)
		defer cancel()
		sb, err := s3.New(cctx, cfg)
		if err == nil {
			return sb, nil, nil
		}
		timedOut := cctx.Err() != nil && ctx.Err() == nil
		if !errors.Is(err, backends.ErrUnavailable) && !timedOut {
			return nil, nil, err
		}
		if !errors.Is(err, backends.ErrUnavailable) {
			err = fmt.Errorf("%w: no answer within %v: %w", backends.ErrUnavailable, startCheckTimeout, err)
		}
		cfg.SkipBucketCheck = true
		sb, oerr := s3.New(ctx, cfg)
		if oerr != nil {
			return nil, nil, oerr
		}
		return sb, err, nil
	}
	return nil, nil, fmt.Errorf("backend %s: unknown type %q", b.Name, b.Type)
}

// openRedis returns the Redis client of cfg's catalog, or nil for an
// embedded catalog. The client is made once per process and shared by
// everything kept in Redis; the caller closes it. go-redis's own messages
// go to log, when there is one.
func openRedis(cfg *config.Config, log *slog.Logger) (redis.UniversalClient, error) {
	if cfg.Catalog.Type != config.CatalogRedis {
		return nil, nil
	}
	if log != nil {
		redisconn.LogTo(log)
	}
	rdb, err := redisconn.Open(cfg.Catalog.URL, redisconn.Options{Password: cfg.Catalog.Password})
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return rdb, nil
}

// openCatalog opens the catalog cfg names; a Redis catalog runs on rdb
// (from openRedis), which it does not close. An embedded catalog opens
// with opts.
func openCatalog(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, opts ...catalog.BoltOption) (catalog.Catalog, error) {
	switch cfg.Catalog.Type {
	case config.CatalogBolt:
		c, err := catalog.OpenBolt(cfg.Catalog.Path, opts...)
		if err != nil {
			return nil, err // not a non-nil interface around a nil *Bolt
		}
		return c, nil
	case config.CatalogRedis:
		if rdb == nil {
			return nil, errors.New("catalog: no Redis client")
		}
		c, err := catalog.OpenRedis(ctx, rdb)
		if err != nil {
			return nil, fmt.Errorf("catalog %s: %w", redactedURL(cfg.Catalog.URL), err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("catalog type %q is not supported by this build", cfg.Catalog.Type)
}

// redactedURL is raw with any password hidden, for messages.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// store is everything a subcommand needs to reach the encrypted data.
type store struct {
	cfg     *config.Config
	keys    *keyring.Keyring
	members []replica.Member
	set     *replica.Set
	cat     catalog.Catalog
	// rdb is the Redis client of a Redis catalog (nil for an embedded
	// one), shared with everything else the gateway keeps in Redis.
	rdb redis.UniversalClient
	ns  *gateway.Namespace
	// borrowed marks the running gateway's store lent to a command run
	// through the admin API: Close leaves it open.
	borrowed bool
}

// openStore opens the keyring, every backend, the replicated set, the
// catalog and the namespace described by cfg, for a maintenance command:
// every backend must be reachable, and a missing local directory is
// created.
func openStore(ctx context.Context, c *cli, cfg *config.Config, log *slog.Logger) (*store, error) {
	return openStoreWith(ctx, c, cfg, log, 0, func(ctx context.Context, b config.Backend) (backends.Backend, error, error) {
		be, err := openBackend(ctx, b)
		return be, nil, err
	})
}

// openServeStore opens the store for serve: providers that cannot be
// reached do not stop it (see openServedBackend); they start marked down
// and are taken back when they answer again. Its namespace keeps the
// inline cache the config asks for.
func openServeStore(ctx context.Context, c *cli, cfg *config.Config, log *slog.Logger) (*store, error) {
	return openStoreWith(ctx, c, cfg, log, cfg.Catalog.InlineCacheBytes(), func(ctx context.Context, b config.Backend) (backends.Backend, error, error) {
		be, unreachable, err := openServedBackend(ctx, b)
		if unreachable != nil {
			log.Warn("backend unreachable at start; serving without it until it answers again",
				"backend", b.Name, "err", unreachable)
		}
		return be, unreachable, err
	})
}

// backendOpener opens one configured backend and says whether it could be
// reached (unreachable) or why it cannot be used at all (err).
type backendOpener func(ctx context.Context, b config.Backend) (be backends.Backend, unreachable, err error)

// openStoreWith opens the keyring, every backend (at once, with open), the
// replicated set, the catalog and the namespace described by cfg, with an
// inline cache of inlineCache bytes (0: none).
func openStoreWith(ctx context.Context, c *cli, cfg *config.Config, log *slog.Logger, inlineCache int64, open backendOpener) (_ *store, err error) {
	st := &store{cfg: cfg}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	if st.keys, err = unlockKeyring(ctx, c, cfg); err != nil {
		return nil, err
	}
	members := make([]replica.Member, len(cfg.Backends))
	errs := make([]error, len(cfg.Backends))
	var wg sync.WaitGroup
	for i, b := range cfg.Backends {
		wg.Go(func() {
			be, unreachable, err := open(ctx, b)
			members[i] = replica.Member{Backend: be, Jurisdiction: b.Jurisdiction, Priority: b.Priority, Unreachable: unreachable}
			errs[i] = err
		})
	}
	wg.Wait()
	reachable := 0
	for i, m := range members {
		if m.Backend != nil {
			st.members = append(st.members, m)
		}
		if errs[i] == nil && m.Unreachable == nil {
			reachable++
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if reachable < cfg.WriteQuorum() {
		log.Warn("fewer backends reachable than a write needs (replication.min_writes): writes answer 503 until enough are back",
			"reachable", reachable, "needed", cfg.WriteQuorum())
	}
	if st.rdb, err = openRedis(cfg, log); err != nil {
		return nil, err
	}
	if st.cat, err = openCatalog(ctx, cfg, st.rdb); err != nil {
		return nil, err
	}
	queue, ok := st.cat.(replica.Queue)
	if !ok {
		return nil, errors.New("catalog does not provide a repair queue")
	}
	st.set, err = replica.New(st.members, replica.Options{
		Name: "replicas", MinWrites: cfg.Replication.MinWrites, Queue: queue, Logger: log,
		Verify: gateway.StoredVerifier(st.keys),
	})
	if err != nil {
		return nil, err
	}
	// Instances that share a Redis catalog serialise the writers of a
	// name across instances; maintenance commands that run beside them
	// take the same locks.
	var locker keylock.Locker
	if st.rdb != nil {
		if locker, err = keylock.NewRedis(st.rdb, keylock.RedisOptions{Key: st.keys.Derive(keylock.KeyLabel), Logger: log}); err != nil {
			return nil, err
		}
	}
	st.ns, err = gateway.New(gateway.Options{Keys: st.keys, Store: st.set, Catalog: st.cat, Logger: log, Users: users(cfg), Locker: locker,
		InlineCache: inlineCache})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// users converts the configured users for the namespace.
func users(cfg *config.Config) []gateway.User {
	out := make([]gateway.User, len(cfg.Users))
	for i := range cfg.Users {
		u := &cfg.Users[i]
		grants := make(map[string]gateway.Access, len(u.Grants))
		for _, g := range u.Grants {
			grants[g.Bucket] = gateway.AccessRead
			if g.Access == config.AccessReadWrite {
				grants[g.Bucket] = gateway.AccessWrite
			}
		}
		out[i] = gateway.User{AccessKey: u.AccessKey, ID: u.OwnerID(), DisplayName: u.Name(), Grants: grants}
	}
	return out
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
	if st.rdb != nil {
		errs = append(errs, st.rdb.Close())
	}
	for _, m := range st.members {
		errs = append(errs, m.Backend.Close())
	}
	return errors.Join(errs...)
}

// admins returns the access keys of the configured administrators.
func admins(cfg *config.Config) map[string]bool {
	out := make(map[string]bool)
	for i, u := range cfg.Users {
		if cfg.IsAdmin(i) {
			out[u.AccessKey] = true
		}
	}
	return out
}
