package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/twincrypt/twincrypt/config"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/admin"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/dav"
	"github.com/twincrypt/twincrypt/gateway/guard"
	"github.com/twincrypt/twincrypt/gateway/s3api"
	"github.com/twincrypt/twincrypt/gateway/sharepage"
	"github.com/twincrypt/twincrypt/gateway/tlscert"
	"github.com/twincrypt/twincrypt/keyring"
)

// Timings of the background work serve does.
const (
	repairInterval = 30 * time.Second
	// scrubInterval is the time between light background scrubs (meta
	// records against the catalog, blobs present with the right size);
	// `twincrypt scrub --deep` authenticates every chunk.
	scrubInterval    = 24 * time.Hour
	uploadSweepEvery = time.Hour
	// lifecycleEvery is the time between applications of the buckets'
	// lifecycle rules (noncurrent versions); serve applies them at start
	// too.
	lifecycleEvery = time.Hour
	// staleUploadAge is how long a multipart upload may stay incomplete
	// before it is aborted and its parts deleted.
	staleUploadAge = 7 * 24 * time.Hour
)

func runServe(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "serve", "[-c FILE]")
	cfgPath := fs.String("c", "", "config `file`; without it, serve the embedded default from $TWINCRYPT_HOME (default ~/.local/share/twincrypt)")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	logFormat := fs.String("log-format", "auto", "log `format`: text, json, or auto (text on a terminal, JSON otherwise)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("%w: -log-level: %v", errUsage, err)
	}
	log, err := newLogger(c.stderr, *logFormat, level)
	if err != nil {
		return err
	}
	embedded := *cfgPath == ""
	var cfg *config.Config
	generated := false
	if embedded {
		cfg, generated, err = prepareDefault(c)
	} else {
		cfg, err = config.LoadWithEnv(*cfgPath, c.getenv)
	}
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	if w := configModeWarning(cfg.Path); w != "" {
		log.Warn(w)
	}
	if err := cfg.CheckPlaintext(); err != nil {
		return err
	}
	// SIGHUP reloads the certificates; caught from here on, so that it
	// never ends serve.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	certs, err := loadCerts(cfg, log)
	if err != nil {
		return err
	}
	var setRedactKey func(*[32]byte)
	if cfg.Log.RedactNames {
		// Every line of the log, also of the namespace and the
		// replicated set (docs/OPERATIONS.md); the key comes from the
		// keyring.
		var h slog.Handler
		h, setRedactKey = redactNamesLater(log.Handler())
		log = slog.New(h)
	}
	st, err := openServeStore(ctx, c, cfg, log)
	if errors.Is(err, catalog.ErrInUse) {
		return fmt.Errorf("%w: another twincrypt serve runs on %s", err, cfg.Path)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	if setRedactKey != nil {
		setRedactKey(st.keys.Derive(redactLabel))
	}
	// Unlocking the keyring ran Argon2id over 64 MiB: give it back, and
	// set the collector for serving.
	tuneHeap(os.Getenv, serveGCPercent, serveMemoryLimit)

	users := make(map[string]string, len(cfg.Users))
	for _, u := range cfg.Users {
		users[u.AccessKey] = u.SecretKey
	}
	lim := cfg.Limits
	// With a Redis catalog, the instances sharing it share their WebDAV
	// locks, login throttling and background leases there too, on the
	// catalog's client (closed with the store, after the workers stop).
	shared, err := newSharedState(st.rdb, st.keys, lim, log)
	if err != nil {
		return err
	}
	// One throttle for the S3 and WebDAV front ends and the admin API:
	// they share the users.
	throttle := shared.throttle
	var downloads atomic.Int64
	mx := newMetrics(st, throttle, &downloads)
	access := &accessLog{log: log, users: users}
	// wrap gives a listener's requests an id, counts them and logs them
	// (docs/OPERATIONS.md).
	wrap := func(name string, h http.Handler) http.Handler {
		return withRequestID(mx.Wrap(name, operation(name), h, access.observe))
	}
	s3ln, err := net.Listen("tcp", cfg.Listen.S3)
	if err != nil {
		return fmt.Errorf("listen s3: %w", err)
	}
	s3srv := newServer(wrap("s3", s3api.New(st.ns, s3api.Options{
		Users: users, Logger: log, Throttle: throttle, MaxRequests: lim.MaxRequests, BodyTimeout: lim.BodyTimeout,
	})), lim, log)
	davln, err := net.Listen("tcp", cfg.Listen.WebDAV)
	if err != nil {
		s3ln.Close()
		return fmt.Errorf("listen webdav: %w", err)
	}
	davsrv := newServer(wrap("webdav", dav.New(st.ns, dav.Options{
		Users: users, Logger: log, Throttle: throttle, Locks: shared.locks, MaxRequests: lim.MaxRequests, BodyTimeout: lim.BodyTimeout,
	})), lim, log)
	s3ln, davln = guard.Listener(s3ln, lim.MaxConnections), guard.Listener(davln, lim.MaxConnections)

	servers := []*namedServer{{name: "s3", srv: s3srv, ln: s3ln}, {name: "webdav", srv: davsrv, ln: davln}}
	closeAll := func() {
		for _, ns := range servers {
			ns.ln.Close()
		}
	}
	var shareBase string
	if cfg.Listen.Share != "" || cfg.Listen.Admin != "" {
		svc, err := st.shareService(log, &downloads)
		if err != nil && cfg.Listen.Share != "" {
			closeAll()
			return err
		}
		if cfg.Listen.Share != "" {
			shareBase = cfg.LinkBase()
			assets, err := shareAssets()
			if err != nil {
				closeAll()
				return err
			}
			h, err := svc.Handler(assets)
			if err != nil {
				closeAll()
				return err
			}
			srv, err := listenServer("share", cfg.Listen.Share, h, lim, log, wrap)
			if err != nil {
				closeAll()
				return err
			}
			servers = append(servers, srv)
		}
		if cfg.Listen.Admin != "" {
			run := func(ctx context.Context, req admin.RunRequest, out io.Writer) int {
				return serveRemote(ctx, st, cfg.Path, req, out)
			}
			h := admin.New(admin.Options{
				Shares: svc, Run: run, Users: users, Throttle: throttle, Access: st.ns, Admins: admins(cfg), Logger: log,
				Metrics: mx.Handler(), Ready: readiness(st), Debug: debugHandler(st.set.Traffic),
			})
			srv, err := listenServer("admin", cfg.Listen.Admin, h, lim, log, wrap)
			if err != nil {
				closeAll()
				return err
			}
			servers = append(servers, srv)
		}
	}

	scheme := cfg.Scheme()
	fmt.Fprintf(c.stdout, "twincrypt serving (config %s)\n", cfg.Path)
	fmt.Fprintf(c.stdout, "  S3 endpoint:  %s://%s\n", scheme, s3ln.Addr())
	fmt.Fprintf(c.stdout, "  WebDAV endpoint: %s://%s\n", scheme, davln.Addr())
	for _, srv := range servers[2:] {
		switch srv.name {
		case "share":
			fmt.Fprintf(c.stdout, "  share links:  %s://%s (links start with %s/s/)\n", scheme, srv.ln.Addr(), shareBase)
		case "admin":
			fmt.Fprintf(c.stdout, "  admin API:    %s://%s\n", scheme, srv.ln.Addr())
		}
	}
	if certs != nil {
		for _, tc := range certs.all {
			var names []string
			for _, srv := range servers {
				if certs.byListener[srv.name] == tc {
					names = append(names, srv.name)
				}
			}
			if len(names) > 0 {
				certFile, _ := tc.Files()
				fmt.Fprintf(c.stdout, "  TLS:          %s (%s; SIGHUP reloads it)\n", certFile, strings.Join(names, ", "))
			}
		}
		for _, srv := range servers {
			registerCertMetrics(mx.Registry(), srv.name, certs.byListener[srv.name])
		}
	}
	if embedded {
		// The secret key is printed once, when it was generated;
		// later starts say where it is.
		for _, u := range cfg.Users {
			fmt.Fprintf(c.stdout, "  access key:   %s\n", u.AccessKey)
			if generated {
				fmt.Fprintf(c.stdout, "  secret key:   %s\n", u.SecretKey)
			} else {
				fmt.Fprintf(c.stdout, "  secret key:   in %s (printed only when it was generated)\n", cfg.Path)
			}
		}
	}
	for _, b := range cfg.Backends {
		fmt.Fprintf(c.stdout, "  backend:      %s (%s, %s)\n", b.Name, b.Type, b.Jurisdiction)
	}

	// Background work stops, and is waited for, before the catalog and
	// the backends close (deferred above).
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	defer func() {
		stopBG()
		workers.Wait()
	}()
	workers.Go(func() { st.set.RunRepairer(bg, repairInterval) })
	workers.Go(func() { shared.run(bg) })
	workers.Go(func() {
		st.ns.RunScrubber(bg, gateway.ScrubberOptions{Members: st.backendList(), Interval: scrubInterval, Logger: log, Lease: shared.lease})
	})
	workers.Go(func() { sweepUploads(bg, st, log) })
	workers.Go(func() { applyLifecycle(bg, st, log) })
	workers.Go(func() { keepEpoch(bg, st, log) })
	workers.Go(func() { reloadOnHangup(bg, hup, certs.list(), log) })
	workers.Go(func() {
		st.ns.WatchProviders(bg, gateway.WatchOptions{
			Members:  st.backendList(),
			Interval: cfg.ProviderCheckInterval(),
			Logger:   log,
			// A provider that answers the check is taken back at
			// once, whatever the cooldown of its breaker.
			Reachable: func(ctx context.Context, name string) {
				if _, err := st.set.Probe(ctx, name); err != nil {
					log.Warn("probe of a provider", "backend", name, "err", err)
				}
			},
			// A refill adopts no meta record whose delete is queued.
			Deleting: func(ctx context.Context) (func(string) bool, error) {
				return queuedDeletes(ctx, st.set.Queue())
			},
		})
	})

	for _, ns := range servers {
		ns.conns = &connCounter{}
		ns.srv.ConnState = ns.conns.track
	}
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		ln := srv.ln
		if certs != nil {
			// TLS inside the connection limit: a connection
			// counts from its first byte, handshake included.
			ln = tls.NewListener(ln, certs.byListener[srv.name].ServerConfig())
		}
		go func() {
			if err := srv.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s: %w", srv.name, err)
			}
		}()
	}
	select {
	case err := <-errc:
		for _, srv := range servers {
			srv.srv.Close()
		}
		return err
	case <-ctx.Done():
	}
	if err := shutdown(servers, cfg.ShutdownGrace(), c.again, log); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// shareAssets returns the share page's files.
func shareAssets() (fs.FS, error) { return fs.Sub(sharepage.Static, "static") }

// namedServer is one listener of serve and its server.
type namedServer struct {
	name  string
	srv   *http.Server
	ln    net.Listener
	conns *connCounter
}

// listenServer listens on addr for a listener of serve's other than S3 and
// WebDAV (which apply the limits themselves) and returns its server: h
// behind the request limit and body deadline of lim, the connection limit
// on the listener, the timeouts of newServer; wrap adds the metrics and the
// access log around all of it.
func listenServer(name, addr string, h http.Handler, lim config.Limits, log *slog.Logger, wrap func(string, http.Handler) http.Handler) (*namedServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", name, err)
	}
	h = wrap(name, guard.Protect(h, guard.Options{MaxRequests: lim.MaxRequests, BodyTimeout: lim.BodyTimeout}))
	return &namedServer{name: name, ln: guard.Listener(ln, lim.MaxConnections), srv: newServer(h, lim, log)}, nil
}

// epochInterval is how often serve raises the namespace epoch.
const epochInterval = time.Hour

// keepEpoch raises the namespace epoch at start and every epochInterval,
// after checking that no provider serves an old snapshot of the namespace
// (its epoch below the catalog's, with no repair of it queued). While one
// does, it says so and leaves the epoch as it is, so that the next scrub
// sees the provider's old epoch too; repair brings the provider forward.
func keepEpoch(ctx context.Context, st *store, log *slog.Logger) {
	t := time.NewTicker(epochInterval)
	defer t.Stop()
	for {
		raiseEpoch(ctx, st, log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// raiseEpoch is one round of keepEpoch.
func raiseEpoch(ctx context.Context, st *store, log *slog.Logger) {
	queued := map[string]bool{}
	if tasks, err := st.set.Queue().Pending(ctx, 0); err == nil {
		for _, t := range tasks {
			queued[t.Backend+"\x00"+t.Name] = true
		}
	}
	rep, err := st.ns.CheckEpoch(ctx, st.backendList(), func(b, name string) bool { return queued[b+"\x00"+name] })
	if err != nil {
		log.Warn("check the namespace epoch", "err", err)
		return
	}
	var seen []uint64
	behind := false
	for _, m := range rep.Members {
		seen = append(seen, m.Epoch)
		switch {
		case m.Behind:
			behind = true
			log.Error("a provider serves an old snapshot of the namespace: its epoch is below the catalog's; run 'twincrypt scrub' and 'twincrypt repair'",
				"backend", m.Backend, "epoch", m.Epoch, "catalog", rep.Catalog)
		case m.Err != nil:
			log.Warn("read the namespace epoch", "backend", m.Backend, "err", m.Err)
		}
	}
	if behind {
		return
	}
	if _, err := st.ns.AdvanceEpoch(ctx, seen...); err != nil && ctx.Err() == nil {
		log.Warn("raise the namespace epoch", "err", err)
	}
}

// newServer returns the HTTP server of a front end with the timeouts of
// lim: the request headers must arrive within HeaderTimeout and an idle
// kept-alive connection is closed after IdleTimeout. The body's deadline is
// the front end's (BodyTimeout, per read), so that large uploads are not
// cut off; there is no write timeout, so that large downloads are not
// either.
func newServer(h http.Handler, lim config.Limits, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.HeaderTimeout,
		IdleTimeout:       lim.IdleTimeout,
		ErrorLog:          stdlog.New(serverErrors{log}, "", 0),
	}
}

// serverErrors carries net/http's server errors to the log: as warnings,
// except failed TLS handshakes, which any port scanner or TCP health check
// causes and which are logged at debug level.
type serverErrors struct{ log *slog.Logger }

func (e serverErrors) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := slog.LevelWarn
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		level = slog.LevelDebug
	}
	e.log.Log(context.Background(), level, msg)
	return len(p), nil
}

// sweepUploads aborts abandoned multipart uploads: at start and then
// periodically, those begun more than staleUploadAge ago. Uploads live in
// the catalog, so one begun before a restart is continued after it.
func sweepUploads(ctx context.Context, st *store, log *slog.Logger) {
	t := time.NewTicker(uploadSweepEvery)
	defer t.Stop()
	for {
		n, err := st.ns.AbortStaleUploads(ctx, time.Now().Add(-staleUploadAge))
		if err != nil && ctx.Err() == nil {
			log.Warn("sweep abandoned uploads", "err", err)
		}
		if n > 0 {
			log.Info("aborted abandoned uploads", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// applyLifecycle applies the buckets' lifecycle rules at start and then
// every lifecycleEvery: noncurrent versions past their rules are deleted.
func applyLifecycle(ctx context.Context, st *store, log *slog.Logger) {
	t := time.NewTicker(lifecycleEvery)
	defer t.Stop()
	for {
		rep, err := st.ns.ApplyLifecycle(ctx, time.Now())
		if err != nil && ctx.Err() == nil {
			log.Warn("apply lifecycle rules", "err", err)
		}
		if rep != nil && (rep.Expired > 0 || rep.Locked > 0) {
			log.Info("lifecycle rules applied", "expired_versions", rep.Expired, "locked_kept", rep.Locked)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// prepareDefault makes sure the embedded default configuration and its
// keyring exist in the default home and returns the loaded configuration,
// and whether it wrote the configuration (and so generated its
// credentials) now.
func prepareDefault(c *cli) (cfg *config.Config, created bool, err error) {
	home, err := defaultHome(c)
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, false, err
	}
	path := filepath.Join(home, "twincrypt.yaml")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := config.WriteDefault(path); err != nil {
			return nil, false, err
		}
		created = true
		fmt.Fprintf(c.stdout, "created the default configuration %s\n", path)
	}
	cfg, err = config.LoadWithEnv(path, c.getenv)
	if err != nil {
		return nil, false, err
	}
	if created {
		// What init does for a config of one's own: serve never
		// creates a backend's directory.
		if err := makeBackendDirs(c, cfg); err != nil {
			return nil, false, err
		}
	}
	if _, err := os.Stat(cfg.Keyring); errors.Is(err, os.ErrNotExist) {
		pass, err := readNewPassphrase(c, envPassphrase, "New passphrase for "+cfg.Keyring+": ")
		if err != nil {
			return nil, false, err
		}
		_, err = keyring.Create(cfg.Keyring, pass, keyring.DefaultParams())
		clear(pass)
		if err != nil {
			return nil, false, err
		}
		fmt.Fprintf(c.stdout, "created the keyring %s\n  keep the passphrase safe; 'twincrypt keys export-recovery -c %s' prints a recovery key\n",
			cfg.Keyring, strings.ReplaceAll(path, " ", `\ `))
	}
	return cfg, created, nil
}

// configModeWarning returns a warning when the config file at path (which
// holds secrets) may be read by its group or by others, and "" otherwise.
func configModeWarning(path string) string {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o044 == 0 {
		return ""
	}
	return fmt.Sprintf("the config file %s holds secrets and is readable by others than its owner (mode %04o): chmod 600 %s, or keep the secrets in secret_key_file files",
		path, fi.Mode().Perm(), path)
}

// serveCerts are the certificates serve's listeners present: one
// tlscert.Cert per distinct pair of files, shared by the listeners that
// present it.
type serveCerts struct {
	byListener map[string]*tlscert.Cert
	all        []*tlscert.Cert
}

// list returns the distinct certificates; none for a nil serveCerts.
func (sc *serveCerts) list() []*tlscert.Cert {
	if sc == nil {
		return nil
	}
	return sc.all
}

// loadCerts loads the certificates of tls.cert and tls.key and of
// tls.listeners, or returns nil when the config has none. A certificate
// outside its validity period is served all the same, with a warning:
// clients will say why they refuse it.
func loadCerts(cfg *config.Config, log *slog.Logger) (*serveCerts, error) {
	if !cfg.TLS.Enabled() {
		return nil, nil
	}
	sc := &serveCerts{byListener: make(map[string]*tlscert.Cert)}
	loaded := make(map[config.TLSPair]*tlscert.Cert)
	for _, name := range []string{"s3", "webdav", "share", "admin"} {
		p := cfg.TLS.For(name)
		tc, ok := loaded[p]
		if !ok {
			var err error
			if tc, err = tlscert.Load(p.Cert, p.Key); err != nil {
				return nil, err // names both files
			}
			loaded[p] = tc
			sc.all = append(sc.all, tc)
			logCert(log, "TLS certificate loaded", tc)
		}
		sc.byListener[name] = tc
	}
	return sc, nil
}

// logCert logs the current certificate of cert: its subject, names, serial
// number and expiry, and a warning when it is not valid now.
func logCert(log *slog.Logger, msg string, cert *tlscert.Cert) {
	leaf := cert.Current().Leaf
	notAfter, problem := cert.Validity(time.Now())
	names := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	certFile, _ := cert.Files()
	log.Info(msg, "file", certFile, "subject", leaf.Subject.String(), "names", strings.Join(names, ","),
		"serial", leaf.SerialNumber.Text(16), "not_after", notAfter.UTC().Format(time.RFC3339))
	if problem != nil {
		log.Warn(problem.Error())
	}
}

// reloadOnHangup reloads certs on every signal on hup until ctx ends. A
// certificate that does not load leaves its old one in use. Without
// certificates, it says there is nothing to reload.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, certs []*tlscert.Cert, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if len(certs) == 0 {
			log.Info("SIGHUP: no TLS certificate to reload (tls.cert and tls.key are not set)")
			continue
		}
		for _, cert := range certs {
			if err := cert.Reload(); err != nil {
				log.Error("SIGHUP: the TLS certificate did not load; keeping the current one", "err", err)
				continue
			}
			logCert(log, "SIGHUP: TLS certificate reloaded; new connections get it", cert)
		}
	}
}

// registerCertMetrics adds the reload counters and the expiry of the
// certificate the listener called name presents to reg.
func registerCertMetrics(reg *prometheus.Registry, name string, cert *tlscert.Cert) {
	l := prometheus.Labels{"listener": name}
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "twincrypt_tls_reloads_total",
			Help:        "Reloads (SIGHUP) of the listener's TLS certificate that put a new certificate in use.",
			ConstLabels: l,
		}, func() float64 { return float64(cert.Reloads()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "twincrypt_tls_reload_failures_total",
			Help:        "Reloads (SIGHUP) of the listener's TLS certificate that failed and kept the old certificate.",
			ConstLabels: l,
		}, func() float64 { return float64(cert.Failures()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "twincrypt_tls_certificate_expiry_timestamp_seconds",
			Help:        "When the listener's TLS certificate expires, in seconds since the Unix epoch.",
			ConstLabels: l,
		}, func() float64 { return float64(cert.Current().Leaf.NotAfter.Unix()) }),
	)
}
