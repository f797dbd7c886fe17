// Package config reads, validates and writes twincrypt's configuration file.
//
// The file is YAML (see docs/CONFIG.md for every key). Unknown keys are an
// error, so a misspelt key never silently falls back to a default. Relative
// paths in the file (keyring, catalog.path and the path of local backends) are
// relative to the directory that holds the config file and are absolute after
// Load or Parse. A handful of TWINCRYPT_* environment variables override
// individual keys; Load applies them, Parse does not.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Catalog types.
const (
	CatalogBolt  = "bolt"  // embedded bbolt file
	CatalogRedis = "redis" // shared Redis server
)

// Backend types.
const (
	BackendLocal = "local" // a directory on a local file system
	BackendS3    = "s3"    // an S3-compatible object store
)

// DefaultRegion is the region of an s3 backend whose config names none.
const DefaultRegion = "us-east-1"

// Environment variables that override keys of the config file.
const (
	EnvListenS3      = "TWINCRYPT_LISTEN_S3"      // listen.s3
	EnvListenWebDAV  = "TWINCRYPT_LISTEN_WEBDAV"  // listen.webdav
	EnvListenShare   = "TWINCRYPT_LISTEN_SHARE"   // listen.share
	EnvListenAdmin   = "TWINCRYPT_LISTEN_ADMIN"   // listen.admin
	EnvPublicURL     = "TWINCRYPT_SHARE_URL"      // share.public_url
	EnvCatalogURL    = "TWINCRYPT_CATALOG_URL"    // catalog.url, and catalog.type: redis
	EnvMinWrites     = "TWINCRYPT_MIN_WRITES"     // replication.min_writes
	EnvCheckInterval = "TWINCRYPT_CHECK_INTERVAL" // replication.check_interval
	EnvTLSCert       = "TWINCRYPT_TLS_CERT"       // tls.cert
	EnvTLSKey        = "TWINCRYPT_TLS_KEY"        // tls.key
	// EnvAllowPlaintext sets listen.allow_plaintext: true, 1, false or 0.
	EnvAllowPlaintext = "TWINCRYPT_LISTEN_ALLOW_PLAINTEXT"
)

// Bounds of replication.check_interval.
const (
	// DefaultCheckInterval is the check interval when the config sets
	// none.
	DefaultCheckInterval = time.Minute
	// MinCheckInterval is the shortest check interval accepted.
	MinCheckInterval = time.Second
)

// ErrInvalid is wrapped by every validation problem, so callers can tell a
// bad config (errors.Is(err, ErrInvalid)) from a file that cannot be read.
var ErrInvalid = errors.New("invalid config")

// Config is the whole configuration file.
type Config struct {
	// Path is the absolute path the config was loaded from; empty when it
	// was parsed from memory.
	Path        string      `yaml:"-"`
	Listen      Listen      `yaml:"listen"`
	TLS         TLS         `yaml:"tls,omitempty"`
	Share       Share       `yaml:"share,omitempty"`
	Keyring     string      `yaml:"keyring"`
	Catalog     Catalog     `yaml:"catalog"`
	Users       []User      `yaml:"users"`
	Backends    []Backend   `yaml:"backends"`
	Replication Replication `yaml:"replication"`
	Limits      Limits      `yaml:"limits"`
	Log         Log         `yaml:"log,omitempty"`

	// dir is the directory relative paths are resolved against.
	dir string
	// secretErrs are the problems found reading secret_key_file files,
	// which Validate reports.
	secretErrs []error

	// ShutdownTimeout is how long serve lets in-flight requests run
	// after SIGINT or SIGTERM before it closes their connections. 0
	// means DefaultShutdownTimeout. Written as a Go duration ("30s").
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout,omitempty"`
}

// Bounds of shutdown_timeout.
const (
	DefaultShutdownTimeout = 30 * time.Second
	MinShutdownTimeout     = time.Second
	MaxShutdownTimeout     = time.Hour
)

// Listen holds the host:port addresses the front ends listen on.
type Listen struct {
	S3     string `yaml:"s3"`
	WebDAV string `yaml:"webdav"`
	// Share is optional; empty disables the share-link pages.
	Share string `yaml:"share,omitempty"`
	// Admin is optional; empty disables the admin API, through which
	// the command line reaches a running gateway (docs/SHARING.md).
	Admin string `yaml:"admin,omitempty"`
	// AllowPlaintext lets serve offer WebDAV, share pages and the admin
	// API without TLS on addresses other than loopback ones, which it
	// otherwise refuses (CheckPlaintext).
	AllowPlaintext bool `yaml:"allow_plaintext,omitempty"`
}

// TLS names the certificate every listener presents. Both keys or neither:
// without them every listener speaks plain HTTP.
type TLS struct {
	// Cert is the PEM file of the certificate, followed by its chain.
	Cert string `yaml:"cert,omitempty"`
	// Key is the PEM file of its private key.
	Key string `yaml:"key,omitempty"`
	// Listeners gives single listeners, by name (s3, webdav, share,
	// admin), a certificate of their own instead of Cert and Key.
	Listeners map[string]TLSPair `yaml:"listeners,omitempty"`
}

// TLSPair is a certificate file and the file of its private key.
type TLSPair struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Enabled reports whether the listeners speak TLS.
func (t TLS) Enabled() bool { return t.Cert != "" && t.Key != "" }

// For returns the pair the listener called name presents:
// tls.listeners.NAME, else tls.cert and tls.key; empty without TLS.
func (t TLS) For(name string) TLSPair {
	if !t.Enabled() {
		return TLSPair{}
	}
	if p, ok := t.Listeners[name]; ok {
		return p
	}
	return TLSPair{Cert: t.Cert, Key: t.Key}
}

// Scheme returns the URL scheme of the listeners: https with TLS, http
// without.
func (c *Config) Scheme() string {
	if c.TLS.Enabled() {
		return "https"
	}
	return "http"
}

// Log configures serve's log.
type Log struct {
	// RedactNames replaces bucket names, object keys and WebDAV paths
	// in the access log with a keyed hash (docs/OPERATIONS.md).
	RedactNames bool `yaml:"redact_names,omitempty"`
}

// Share configures share links.
type Share struct {
	// PublicURL is what links start with, before "/s/ID": the share
	// listener's address as recipients reach it. Default
	// http://<listen.share>, or https:// with TLS.
	PublicURL string `yaml:"public_url,omitempty"`
}

// LinkBase returns what share links start with: share.public_url, else
// http://<listen.share> (https:// with TLS); empty when neither is set.
func (c *Config) LinkBase() string {
	if c.Share.PublicURL != "" {
		return strings.TrimRight(c.Share.PublicURL, "/")
	}
	if c.Listen.Share != "" {
		return c.Scheme() + "://" + c.Listen.Share
	}
	return ""
}

// Catalog selects and locates the catalog.
type Catalog struct {
	// Type is CatalogBolt (the default when empty) or CatalogRedis.
	Type string `yaml:"type"`
	// Path is the bbolt file (type bolt).
	Path string `yaml:"path,omitempty"`
	// URL is the Redis URL, redis:// or rediss:// (type redis). A
	// username and password may be in it, or the password in
	// PasswordFile or PasswordEnv.
	URL string `yaml:"url,omitempty"`
	// PasswordFile names a file that holds the Redis password (type
	// redis), read as secret_key_file is; it replaces one in the URL.
	PasswordFile string `yaml:"password_file,omitempty"`
	// PasswordEnv names an environment variable that holds the Redis
	// password instead (read by Load).
	PasswordEnv string `yaml:"password_env,omitempty"`
	// Password is the password read from PasswordFile or PasswordEnv.
	Password string `yaml:"-"`
	// InlineCacheMB bounds, in MiB, the cache serve keeps of the sealed
	// records of small (inline) objects, whose bytes the catalog does not
	// hold, so that a GET of one it wrote or read recently needs no
	// provider request (docs/FORMAT.md, "Inline blobs"). 0:
	// DefaultInlineCacheMB; -1: no cache.
	InlineCacheMB int `yaml:"inline_cache_mb,omitempty"`
}

// DefaultInlineCacheMB is the inline cache when the config sets none.
const DefaultInlineCacheMB = 32

// InlineCacheBytes returns the bound of the inline cache in bytes; 0 for
// none.
func (c Catalog) InlineCacheBytes() int64 {
	switch {
	case c.InlineCacheMB < 0:
		return 0
	case c.InlineCacheMB == 0:
		return DefaultInlineCacheMB << 20
	}
	return int64(c.InlineCacheMB) << 20
}

// User is one S3 credential pair; the same pair is the WebDAV basic-auth
// login.
type User struct {
	AccessKey string `yaml:"access_key"`
	// SecretKey is the secret, from the file or, after Load or Parse,
	// read from SecretKeyFile.
	SecretKey string `yaml:"secret_key,omitempty"`
	// SecretKeyFile names a file that holds the secret key instead
	// (see Backend.SecretKeyFile).
	SecretKeyFile string `yaml:"secret_key_file,omitempty"`
	// SecretKeyEnv names an environment variable that holds the secret
	// key instead (read by Load).
	SecretKeyEnv string `yaml:"secret_key_env,omitempty"`
	// ID is the user's owner id, as S3 shows it in Owner and ACL grants
	// (canonical user id): 64 lower-case hex digits. Empty: OwnerID
	// derives it from the access key. Buckets belong to an owner id, so
	// changing it (or, without it, the access key) hands the user's
	// buckets to nobody.
	ID string `yaml:"id,omitempty"`
	// DisplayName is the name S3 shows beside the owner id. Empty: the
	// access key.
	DisplayName string `yaml:"display_name,omitempty"`
	// Grants give this user access to buckets other users own.
	Grants []Grant `yaml:"grants,omitempty"`
	// Admin lets the user run maintenance commands through the admin API,
	// reach /debug/ and manage every share link. When no user sets it,
	// the first user is the administrator (see Config.IsAdmin).
	Admin bool `yaml:"admin,omitempty"`
}

// IsAdmin reports whether users[i] is an administrator: it sets admin, or
// no user does and it is the first.
func (c *Config) IsAdmin(i int) bool {
	if c.Users[i].Admin {
		return true
	}
	for _, u := range c.Users {
		if u.Admin {
			return false
		}
	}
	return i == 0
}

// AdminUser returns the first administrator, whose key pair the command
// line signs admin API requests with; nil without users.
func (c *Config) AdminUser() *User {
	for i := range c.Users {
		if c.IsAdmin(i) {
			return &c.Users[i]
		}
	}
	return nil
}

// Bucket access levels of a Grant.
const (
	// AccessRead allows reading and listing a bucket's objects.
	AccessRead = "read"
	// AccessReadWrite also allows writing and deleting its objects.
	AccessReadWrite = "read-write"
)

// Grant gives a user access to a bucket another user owns.
type Grant struct {
	// Bucket names the bucket; it need not exist yet.
	Bucket string `yaml:"bucket"`
	// Access is AccessRead or AccessReadWrite.
	Access string `yaml:"access"`
}

// OwnerID returns u's owner id: ID when set, otherwise the hex SHA-256 of
// "twincrypt owner id v1", a NUL byte and the access key.
func (u *User) OwnerID() string {
	if u.ID != "" {
		return u.ID
	}
	h := sha256.Sum256([]byte("twincrypt owner id v1\x00" + u.AccessKey))
	return hex.EncodeToString(h[:])
}

// Name returns u's display name: DisplayName when set, otherwise the
// access key.
func (u *User) Name() string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.AccessKey
}

// Backend is one storage provider that receives a full copy of the
// ciphertext.
type Backend struct {
	// Name identifies the backend in logs, errors and the repair queue;
	// lower-case letters, digits and '-'.
	Name string `yaml:"name"`
	// Jurisdiction is a free-form label (for example a country code)
	// naming the legal reach the provider is under. Labels are compared
	// case-insensitively.
	Jurisdiction string `yaml:"jurisdiction"`
	// Type is BackendLocal or BackendS3.
	Type string `yaml:"type"`
	// Priority orders reads: backends with lower values are read first;
	// among equal ones the gateway prefers the faster and healthier.
	// Default 0.
	Priority int `yaml:"priority,omitempty"`

	// Path is the directory of a local backend.
	Path string `yaml:"path,omitempty"`

	// Endpoint is the http:// or https:// base URL of an s3 backend.
	Endpoint string `yaml:"endpoint,omitempty"`
	// Region defaults to DefaultRegion.
	Region string `yaml:"region,omitempty"`
	// Bucket is the provider-side bucket that holds the ciphertext.
	Bucket    string `yaml:"bucket,omitempty"`
	AccessKey string `yaml:"access_key,omitempty"`
	SecretKey string `yaml:"secret_key,omitempty"`
	// SecretKeyFile names a file that holds the secret key instead of
	// SecretKey: relative to the config file's directory, with $VAR and
	// ${VAR} taken from the environment (Load) so that, for example,
	// ${CREDENTIALS_DIRECTORY}/name reads a systemd credential. One line;
	// a trailing newline is dropped.
	SecretKeyFile string `yaml:"secret_key_file,omitempty"`
	// SecretKeyEnv names an environment variable that holds the secret
	// key instead of SecretKey (read by Load).
	SecretKeyEnv string `yaml:"secret_key_env,omitempty"`
	// Prefix is prepended to every object name inside Bucket.
	Prefix string `yaml:"prefix,omitempty"`
	// PathStyle forces path-style (true) or virtual-host-style (false)
	// requests; nil lets the client decide from the endpoint.
	PathStyle *bool `yaml:"path_style,omitempty"`
	// SignPayload makes uploads carry SHA-256 payload signatures (over
	// http) instead of a trailing CRC32C checksum, for providers that do
	// not accept trailing checksums.
	SignPayload bool `yaml:"sign_payload,omitempty"`
}

// Replication says how writes fan out over the backends.
type Replication struct {
	// MinWrites is how many backends must hold a write before the client
	// hears success; 0 means all of them.
	MinWrites int `yaml:"min_writes"`
	// AllowSingleJurisdiction permits a config whose backends share one
	// jurisdiction label (Warnings then reports it).
	AllowSingleJurisdiction bool `yaml:"allow_single_jurisdiction"`
	// CheckInterval is how often serve checks every backend: it reads
	// each backend's provider marker, refills a backend that lost its
	// data, and takes back one that was unreachable. 0 means
	// DefaultCheckInterval; otherwise at least MinCheckInterval. Written
	// as a Go duration ("30s", "2m").
	CheckInterval time.Duration `yaml:"check_interval,omitempty"`
}

// ShutdownGrace returns shutdown_timeout, or DefaultShutdownTimeout when it
// is not set.
func (c *Config) ShutdownGrace() time.Duration {
	if c.ShutdownTimeout <= 0 {
		return DefaultShutdownTimeout
	}
	return c.ShutdownTimeout
}

// ProviderCheckInterval returns replication.check_interval, or
// DefaultCheckInterval when it is not set.
func (c *Config) ProviderCheckInterval() time.Duration {
	if c.Replication.CheckInterval <= 0 {
		return DefaultCheckInterval
	}
	return c.Replication.CheckInterval
}

// Limits protect the front ends from clients that hold connections open
// without using them and from password guessing. Each applies to the S3
// and the WebDAV front end separately, except the login throttle, which
// both share. A key left out (or 0) takes its Default* value; after Load
// or Parse every field holds the value in force.
type Limits struct {
	// MaxConnections bounds the connections a front end holds open at
	// once; further clients wait until one closes.
	MaxConnections int `yaml:"max_connections,omitempty"`
	// MaxRequests bounds the requests a front end handles at once;
	// further requests are answered 503 (S3: SlowDown) at once.
	MaxRequests int `yaml:"max_requests,omitempty"`
	// HeaderTimeout is how long a client may take to send a request's
	// headers.
	HeaderTimeout time.Duration `yaml:"header_timeout,omitempty"`
	// BodyTimeout is how long one read of a request body may wait for
	// data before the request fails and its connection is closed.
	BodyTimeout time.Duration `yaml:"body_timeout,omitempty"`
	// IdleTimeout is how long a kept-alive connection may wait for its
	// next request.
	IdleTimeout time.Duration `yaml:"idle_timeout,omitempty"`
	// LoginFailures is how many failed logins in a row a client address
	// may make before its logins are refused (429 over WebDAV, 503
	// SlowDown over S3) without being checked.
	LoginFailures int `yaml:"login_failures,omitempty"`
	// LoginFailureInterval is how often a throttled address earns one
	// more attempt.
	LoginFailureInterval time.Duration `yaml:"login_failure_interval,omitempty"`
}

// Defaults of the limits section.
const (
	DefaultMaxConnections       = 1024
	DefaultMaxRequests          = 128
	DefaultHeaderTimeout        = 10 * time.Second
	DefaultBodyTimeout          = time.Minute
	DefaultIdleTimeout          = 2 * time.Minute
	DefaultLoginFailures        = 10
	DefaultLoginFailureInterval = time.Minute
)

// Load reads the config file at path, parses it, applies the TWINCRYPT_*
// environment overrides from the process environment, resolves relative
// paths against the file's directory and validates the result.
func Load(path string) (*Config, error) {
	return LoadWithEnv(path, os.Getenv)
}

// LoadWithEnv is Load with the environment read through getenv instead of
// os.Getenv; a nil getenv applies no overrides.
func LoadWithEnv(path string, getenv func(string) string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := decode(data, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", abs, err)
	}
	c.Path = abs
	if err := c.ApplyEnv(getenv); err != nil {
		return nil, fmt.Errorf("config %s: %w", abs, err)
	}
	c.readSecretFiles(getenv)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", abs, err)
	}
	return c, nil
}

// Parse parses and validates a config held in memory. Relative paths are
// resolved against dir (itself made absolute against the working
// directory). Parse applies no environment overrides; call ApplyEnv and
// Validate for that.
func Parse(data []byte, dir string) (*Config, error) {
	c, err := decode(data, dir)
	if err != nil {
		return nil, err
	}
	c.readSecretFiles(nil)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// decode parses data strictly, fills in defaults and resolves relative
// paths against dir. It does not validate.
func decode(data []byte, dir string) (*Config, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("config directory %q: %w", dir, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the file is empty", ErrInvalid)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: more than one YAML document", ErrInvalid)
	}
	c.applyDefaults()
	c.dir = absDir
	c.resolvePaths(absDir)
	return &c, nil
}

// applyDefaults fills in the values an omitted key stands for.
func (c *Config) applyDefaults() {
	if c.Catalog.Type == "" {
		c.Catalog.Type = CatalogBolt
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	for i := range c.Backends {
		b := &c.Backends[i]
		if b.Type == BackendS3 && b.Region == "" {
			b.Region = DefaultRegion
		}
	}
	l := &c.Limits
	for _, d := range []struct {
		v   *int
		def int
	}{
		{&l.MaxConnections, DefaultMaxConnections},
		{&l.MaxRequests, DefaultMaxRequests},
		{&l.LoginFailures, DefaultLoginFailures},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&l.HeaderTimeout, DefaultHeaderTimeout},
		{&l.BodyTimeout, DefaultBodyTimeout},
		{&l.IdleTimeout, DefaultIdleTimeout},
		{&l.LoginFailureInterval, DefaultLoginFailureInterval},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
}

// resolve makes a relative path absolute against the config file's
// directory.
func (c *Config) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// resolvePaths makes every relative path absolute against dir.
func (c *Config) resolvePaths(dir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.Keyring = abs(c.Keyring)
	c.Catalog.Path = abs(c.Catalog.Path)
	c.TLS.Cert = abs(c.TLS.Cert)
	c.TLS.Key = abs(c.TLS.Key)
	for name, p := range c.TLS.Listeners {
		c.TLS.Listeners[name] = TLSPair{Cert: abs(p.Cert), Key: abs(p.Key)}
	}
	for i := range c.Backends {
		c.Backends[i].Path = abs(c.Backends[i].Path)
	}
}

// ApplyEnv overrides keys from the environment read through getenv (see
// the Env* constants); an unset or empty variable changes nothing. Setting
// TWINCRYPT_CATALOG_URL also switches the catalog to type redis. ApplyEnv
// does not validate; call Validate afterwards.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	if getenv == nil {
		return nil
	}
	if v := getenv(EnvListenS3); v != "" {
		c.Listen.S3 = v
	}
	if v := getenv(EnvListenWebDAV); v != "" {
		c.Listen.WebDAV = v
	}
	if v := getenv(EnvListenAdmin); v != "" {
		c.Listen.Admin = v
	}
	if v := getenv(EnvPublicURL); v != "" {
		c.Share.PublicURL = v
	}
	if v := getenv(EnvListenShare); v != "" {
		c.Listen.Share = v
	}
	if v := getenv(EnvTLSCert); v != "" {
		c.TLS.Cert = c.resolve(v)
	}
	if v := getenv(EnvTLSKey); v != "" {
		c.TLS.Key = c.resolve(v)
	}
	if v := getenv(EnvAllowPlaintext); v != "" {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%s=%q: %w: not true or false", EnvAllowPlaintext, v, ErrInvalid)
		}
		c.Listen.AllowPlaintext = b
	}
	if v := getenv(EnvCatalogURL); v != "" {
		c.Catalog = Catalog{Type: CatalogRedis, URL: v, InlineCacheMB: c.Catalog.InlineCacheMB}
	}
	if v := getenv(EnvMinWrites); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%s=%q: %w: not an integer", EnvMinWrites, v, ErrInvalid)
		}
		c.Replication.MinWrites = n
	}
	if v := getenv(EnvCheckInterval); v != "" {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%s=%q: %w: not a duration such as 30s or 2m", EnvCheckInterval, v, ErrInvalid)
		}
		c.Replication.CheckInterval = d
	}
	return nil
}

// WriteQuorum is the number of backends that must hold a write before it
// succeeds: replication.min_writes, or every backend when that is 0.
func (c *Config) WriteQuorum() int {
	if c.Replication.MinWrites <= 0 {
		return len(c.Backends)
	}
	return c.Replication.MinWrites
}

// Jurisdictions returns the distinct jurisdiction labels of the backends,
// in lower case and in config order.
func (c *Config) Jurisdictions() []string {
	var out []string
	seen := make(map[string]bool)
	for _, b := range c.Backends {
		j := normJurisdiction(b.Jurisdiction)
		if j == "" || seen[j] {
			continue
		}
		seen[j] = true
		out = append(out, j)
	}
	return out
}

func normJurisdiction(j string) string { return strings.ToLower(strings.TrimSpace(j)) }

// Warnings returns the problems in a valid config that do not stop the
// gateway but weaken what it promises, one human-readable line each, for
// the caller to print at startup.
func (c *Config) Warnings() []string {
	var w []string
	js := c.Jurisdictions()
	switch {
	case len(c.Backends) == 1:
		w = append(w, fmt.Sprintf("only one backend (%s): there is no second copy, and losing that provider loses the data", c.Backends[0].Name))
	case len(js) == 1:
		w = append(w, fmt.Sprintf("all backends are in one jurisdiction (%s): a single seizure, outage or legal order reaches every copy; use backends in two jurisdictions for real protection", js[0]))
	}
	if !c.TLS.Enabled() {
		var open []string
		for _, l := range c.listeners() {
			if l.addr != "" && !IsLoopback(l.addr) && (l.name == "s3" || c.Listen.AllowPlaintext) {
				open = append(open, fmt.Sprintf("listen.%s %s", l.name, l.addr))
			}
		}
		if len(open) > 0 {
			w = append(w, fmt.Sprintf("%s: not loopback and TLS is off, so requests and object data cross the network in plaintext (S3 signatures keep the secret key off the wire); set tls.cert and tls.key", strings.Join(open, ", ")))
		}
	}
	if c.Listen.Share != "" && c.Share.PublicURL == "" {
		if host, _, err := net.SplitHostPort(c.Listen.Share); err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
			w = append(w, fmt.Sprintf("share links would start with %s, which names no host: set share.public_url", c.LinkBase()))
		}
	}
	return w
}

// maxSecretFile bounds the size of a secret_key_file.
const maxSecretFile = 4096

// readSecretFiles fills the SecretKey of every user and backend that names
// a secret_key_file from that file, and of those that name a
// secret_key_env from that environment variable, read through getenv
// (unset when getenv is nil). $VAR and ${VAR} in a file's path come from
// getenv too; a relative path is relative to the config file's directory.
// Problems are kept for Validate.
func (c *Config) readSecretFiles(getenv func(string) string) {
	c.secretErrs = nil
	fail := func(field, format string, args ...any) {
		c.secretErrs = append(c.secretErrs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	read := func(prefix, field, inline, path, env string, dst *string) {
		set := 0
		for _, v := range []string{inline, path, env} {
			if v != "" {
				set++
			}
		}
		if set > 1 {
			fail(prefix+"."+field, "set only one of %s, %s_file and %s_env", field, field, field)
			return
		}
		switch {
		case env != "":
			v := ""
			if getenv != nil {
				v = getenv(env)
			}
			if v == "" {
				fail(prefix+"."+field+"_env", "the environment variable %s is not set or empty", env)
				return
			}
			*dst = v
		case path != "":
			if getenv != nil {
				path = os.Expand(path, getenv)
			}
			if !filepath.IsAbs(path) && c.dir != "" {
				path = filepath.Join(c.dir, path)
			}
			secret, err := readSecretFile(path)
			if err != nil {
				fail(prefix+"."+field+"_file", "%v", err)
				return
			}
			*dst = secret
		}
	}
	for i := range c.Users {
		u := &c.Users[i]
		read(fmt.Sprintf("users[%d]", i), "secret_key", u.SecretKey, u.SecretKeyFile, u.SecretKeyEnv, &u.SecretKey)
	}
	for i := range c.Backends {
		b := &c.Backends[i]
		read(fmt.Sprintf("backends[%d]", i), "secret_key", b.SecretKey, b.SecretKeyFile, b.SecretKeyEnv, &b.SecretKey)
	}
	read("catalog", "password", "", c.Catalog.PasswordFile, c.Catalog.PasswordEnv, &c.Catalog.Password)
}

// readSecretFile returns the one line held in the file at path.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("%s: longer than %d bytes", path, maxSecretFile)
	}
	secret := strings.TrimRight(string(b), "\r\n")
	switch {
	case secret == "":
		return "", fmt.Errorf("%s is empty", path)
	case strings.ContainsAny(secret, "\r\n"):
		return "", fmt.Errorf("%s holds more than one line", path)
	}
	return secret, nil
}

// ErrPlaintext is wrapped by the errors of CheckPlaintext.
var ErrPlaintext = errors.New("plaintext HTTP on a non-loopback address")

// listener is one of the listen addresses.
type listener struct{ name, addr string }

// listeners returns the listen addresses by name (s3, webdav, share,
// admin); those not configured are empty.
func (c *Config) listeners() []listener {
	return []listener{{"s3", c.Listen.S3}, {"webdav", c.Listen.WebDAV}, {"share", c.Listen.Share}, {"admin", c.Listen.Admin}}
}

// IsLoopback reports whether the host:port addr is a loopback address:
// 127.0.0.0/8, ::1 or localhost. Wildcards (0.0.0.0, ::, an empty host)
// and every other name are not.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// CheckPlaintext returns an error for every listener that would carry
// passwords in plaintext HTTP on an address other than a loopback one:
// WebDAV (basic-auth logins), share (link passwords) and admin (the keyring
// passphrase of `keys passwd` and `keys rotate`, share passwords). TLS
// (tls.cert and tls.key) or listen.allow_plaintext: true lifts it. The S3
// listener is left out: SigV4 keeps the secret key off the wire (Warnings
// reports it).
func (c *Config) CheckPlaintext() error {
	if c.TLS.Enabled() || c.Listen.AllowPlaintext {
		return nil
	}
	carries := map[string]string{
		"webdav": "WebDAV basic-auth passwords",
		"share":  "share-link passwords and shared files",
		"admin":  "the keyring passphrase (keys passwd, keys rotate) and share passwords",
	}
	var errs []error
	for _, l := range c.listeners() {
		what, ok := carries[l.name]
		if !ok || l.addr == "" || IsLoopback(l.addr) {
			continue
		}
		errs = append(errs, fmt.Errorf("listen.%s %s: %w: it would carry %s unencrypted; set tls.cert and tls.key, or listen.allow_plaintext: true when a TLS proxy or a private network protects the port",
			l.name, l.addr, ErrPlaintext, what))
	}
	return errors.Join(errs...)
}
