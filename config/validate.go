package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// FieldError is one validation problem: the config key it concerns, in
// dotted form with list indexes (for example "backends[1].jurisdiction"),
// and what is wrong with it. It wraps ErrInvalid.
type FieldError struct {
	Field   string
	Problem string
}

// Error returns "field: problem".
func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// MinSecretLen is the shortest accepted user secret key.
const MinSecretLen = 8

// ReservedBackendName is the name no backend may have: scrub and repair
// report the problems of the catalog itself as those of a source with
// this name, and would take a backend's problems for the catalog's.
const ReservedBackendName = "catalog"

// maxNameLen bounds backend names, which appear in file names and logs.
const maxNameLen = 63

var backendName = regexp.MustCompile(`^[a-z0-9-]+$`)

// Validate checks the whole config and returns every problem found, joined
// with errors.Join; each is a *FieldError naming its key. It returns nil for
// a valid config.
func (c *Config) Validate() error {
	var v validator
	c.validateListen(&v)
	c.validateShare(&v)
	c.validateTLS(&v)
	if c.Keyring == "" {
		v.add("keyring", "required")
	}
	c.validateCatalog(&v)
	c.validateUsers(&v)
	c.validateBackends(&v)
	c.validateReplication(&v)
	c.validateLimits(&v)
	v.errs = append(v.errs, c.secretErrs...)
	if d := c.ShutdownTimeout; d < 0 || (d > 0 && d < MinShutdownTimeout) || d > MaxShutdownTimeout {
		v.add("shutdown_timeout", "%v is not between %v and %v (0 or left out: %v)", d, MinShutdownTimeout, MaxShutdownTimeout, DefaultShutdownTimeout)
	}
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

func (c *Config) validateListen(v *validator) {
	addrs := []struct {
		field, addr string
		required    bool
	}{
		{"listen.s3", c.Listen.S3, true},
		{"listen.webdav", c.Listen.WebDAV, true},
		{"listen.share", c.Listen.Share, false},
		{"listen.admin", c.Listen.Admin, false},
	}
	seen := make(map[string]string)
	for _, a := range addrs {
		if a.addr == "" {
			if a.required {
				v.add(a.field, "required")
			}
			continue
		}
		if err := checkHostPort(a.addr); err != nil {
			v.add(a.field, "%q is not host:port: %v", a.addr, err)
			continue
		}
		if _, port, _ := net.SplitHostPort(a.addr); port == "0" {
			continue // any free port; never a clash
		}
		if other, ok := seen[a.addr]; ok {
			v.add(a.field, "%q is already used by %s", a.addr, other)
			continue
		}
		seen[a.addr] = a.field
	}
}

func (c *Config) validateTLS(v *validator) {
	pair := func(prefix string, p TLSPair) {
		switch {
		case p.Cert != "" && p.Key == "":
			v.add(prefix+"key", "required with %scert", prefix)
		case p.Key != "" && p.Cert == "":
			v.add(prefix+"cert", "required with %skey", prefix)
		case p.Cert == "" && p.Key == "" && prefix != "tls.":
			v.add(prefix+"cert", "required")
		}
	}
	pair("tls.", TLSPair{Cert: c.TLS.Cert, Key: c.TLS.Key})
	if len(c.TLS.Listeners) == 0 {
		return
	}
	if !c.TLS.Enabled() {
		v.add("tls.listeners", "needs tls.cert and tls.key: every listener speaks TLS, or none")
	}
	addrs := make(map[string]string)
	for _, l := range c.listeners() {
		addrs[l.name] = l.addr
	}
	names := make([]string, 0, len(c.TLS.Listeners))
	for name := range c.TLS.Listeners {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		addr, known := addrs[name]
		switch {
		case !known:
			v.add("tls.listeners."+name, "not a listener (s3, webdav, share, admin)")
			continue
		case addr == "":
			v.add("tls.listeners."+name, "listen.%s is not set", name)
		}
		pair("tls.listeners."+name+".", c.TLS.Listeners[name])
	}
}

func (c *Config) validateShare(v *validator) {
	u := c.Share.PublicURL
	if u == "" {
		return
	}
	p, err := url.Parse(u)
	switch {
	case err != nil:
		v.add("share.public_url", "%q is not a URL: %v", u, err)
	case p.Scheme != "http" && p.Scheme != "https":
		v.add("share.public_url", "%q must start with http:// or https://", u)
	case p.Host == "":
		v.add("share.public_url", "%q names no host", u)
	case p.RawQuery != "" || p.Fragment != "" || p.User != nil:
		v.add("share.public_url", "%q must not hold a query, a fragment or a user", u)
	}
}

// checkHostPort accepts "host:port", "[v6]:port" and ":port" with a numeric
// port in 0..65535.
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number in 0..65535", port)
	}
	return nil
}

func (c *Config) validateCatalog(v *validator) {
	switch c.Catalog.Type {
	case CatalogBolt:
		if c.Catalog.Path == "" {
			v.add("catalog.path", "required for type bolt")
		}
		if c.Catalog.URL != "" {
			v.add("catalog.url", "only used with type redis")
		}
		if c.Catalog.PasswordFile != "" || c.Catalog.PasswordEnv != "" {
			v.add("catalog.password_file", "only used with type redis")
		}
	case CatalogRedis:
		if c.Catalog.URL == "" {
			v.add("catalog.url", "required for type redis")
		} else if err := checkRedisURL(c.Catalog.URL); err != nil {
			v.add("catalog.url", "%v", err)
		}
		if c.Catalog.Path != "" {
			v.add("catalog.path", "only used with type bolt")
		}
	default:
		v.add("catalog.type", "%q is not one of bolt, redis", c.Catalog.Type)
	}
	if n := c.Catalog.InlineCacheMB; n < -1 || n > 1<<20 {
		v.add("catalog.inline_cache_mb", "%d is not -1 (no cache), 0 (the default, %d) or a size in MiB up to %d", n, DefaultInlineCacheMB, 1<<20)
	}
}

func checkRedisURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return fmt.Errorf("%q must start with redis:// or rediss://", redactURL(u))
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", redactURL(u))
	}
	return nil
}

// redactURL hides a password so that errors never print it.
func redactURL(u *url.URL) string { return u.Redacted() }

func (c *Config) validateUsers(v *validator) {
	if len(c.Users) == 0 {
		v.add("users", "at least one user is required")
		return
	}
	seen := make(map[string]int)
	ids := make(map[string]int)
	for i, u := range c.Users {
		f := fmt.Sprintf("users[%d]", i)
		switch {
		case u.AccessKey == "":
			v.add(f+".access_key", "required")
		case !validAccessKey(u.AccessKey):
			v.add(f+".access_key", "must be printable and contain no whitespace, '/' or ':'")
		default:
			if j, ok := seen[u.AccessKey]; ok {
				v.add(f+".access_key", "duplicate of users[%d].access_key", j)
			} else {
				seen[u.AccessKey] = i
			}
		}
		switch {
		case u.SecretKey == "" && u.SecretKeyFile == "" && u.SecretKeyEnv == "":
			v.add(f+".secret_key", "required (or secret_key_file, or secret_key_env)")
		case u.SecretKey == "":
			// secret_key_file or secret_key_env could not be read:
			// reported with the others.
		case len(u.SecretKey) < MinSecretLen:
			v.add(f+".secret_key", "must be at least %d characters", MinSecretLen)
		}
		if u.ID != "" && !ownerIDRE.MatchString(u.ID) {
			v.add(f+".id", "must be 64 lower-case hex digits")
		}
		if u.ID != "" || seen[u.AccessKey] == i {
			id := u.OwnerID()
			if j, ok := ids[id]; ok {
				v.add(f+".id", "same owner id as users[%d]", j)
			} else {
				ids[id] = i
			}
		}
		if len(u.DisplayName) > maxDisplayName || strings.IndexFunc(u.DisplayName, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
			v.add(f+".display_name", "must be at most %d printable characters", maxDisplayName)
		}
		granted := make(map[string]int)
		for k, g := range u.Grants {
			gf := fmt.Sprintf("%s.grants[%d]", f, k)
			if !bucketNameRE.MatchString(g.Bucket) {
				v.add(gf+".bucket", "%q is not a valid bucket name", g.Bucket)
			} else if j, ok := granted[g.Bucket]; ok {
				v.add(gf+".bucket", "duplicate of %s.grants[%d]", f, j)
			} else {
				granted[g.Bucket] = k
			}
			if g.Access != AccessRead && g.Access != AccessReadWrite {
				v.add(gf+".access", "must be %q or %q, not %q", AccessRead, AccessReadWrite, g.Access)
			}
		}
	}
}

// ownerIDRE is the form of a user's owner id (an S3 canonical user id).
var ownerIDRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// bucketNameRE is the form of a bucket name (gateway.ValidBucketName
// checks the finer rules when a bucket is made).
var bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// maxDisplayName bounds a user's display name, in bytes.
const maxDisplayName = 128

// validAccessKey rejects characters that break the SigV4 credential scope
// ("/"), the basic-auth login (":") or a header (whitespace, controls).
func validAccessKey(k string) bool {
	for _, r := range k {
		if r == '/' || r == ':' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func (c *Config) validateBackends(v *validator) {
	if len(c.Backends) == 0 {
		v.add("backends", "at least one backend is required")
		return
	}
	names := make(map[string]int)
	for i := range c.Backends {
		b := &c.Backends[i]
		f := fmt.Sprintf("backends[%d]", i)
		switch {
		case b.Name == "":
			v.add(f+".name", "required")
		case len(b.Name) > maxNameLen || !backendName.MatchString(b.Name):
			v.add(f+".name", "%q must be 1 to %d of a-z, 0-9 and '-'", b.Name, maxNameLen)
		case b.Name == ReservedBackendName:
			v.add(f+".name", "%q is reserved: scrub and repair report the catalog's own problems under that name", b.Name)
		default:
			if j, ok := names[b.Name]; ok {
				v.add(f+".name", "%q is already used by backends[%d]", b.Name, j)
			} else {
				names[b.Name] = i
			}
		}
		if normJurisdiction(b.Jurisdiction) == "" {
			v.add(f+".jurisdiction", "required")
		}
		if b.Priority < 0 {
			v.add(f+".priority", "must not be negative")
		}
		switch b.Type {
		case BackendLocal:
			if b.Path == "" {
				v.add(f+".path", "required for type local")
			}
			for _, k := range b.s3Keys() {
				v.add(f+"."+k, "only used with type s3")
			}
		case BackendS3:
			validateS3(v, f, b)
		case "":
			v.add(f+".type", "required (local or s3)")
		default:
			v.add(f+".type", "%q is not one of local, s3", b.Type)
		}
	}
	if js := c.Jurisdictions(); len(js) < 2 && !c.Replication.AllowSingleJurisdiction {
		if len(js) == 1 {
			v.add("backends", "all backends are in jurisdiction %q; at least two distinct jurisdictions are required (or set replication.allow_single_jurisdiction: true)", js[0])
		}
	}
}

// s3Keys names the s3-only keys set on b.
func (b *Backend) s3Keys() []string {
	var ks []string
	for _, kv := range []struct {
		key string
		set bool
	}{
		{"endpoint", b.Endpoint != ""},
		{"region", b.Region != ""},
		{"bucket", b.Bucket != ""},
		{"access_key", b.AccessKey != ""},
		{"secret_key", b.SecretKey != ""},
		{"secret_key_file", b.SecretKeyFile != ""},
		{"secret_key_env", b.SecretKeyEnv != ""},
		{"prefix", b.Prefix != ""},
		{"path_style", b.PathStyle != nil},
		{"sign_payload", b.SignPayload},
	} {
		if kv.set {
			ks = append(ks, kv.key)
		}
	}
	return ks
}

func validateS3(v *validator, f string, b *Backend) {
	if b.Path != "" {
		v.add(f+".path", "only used with type local")
	}
	if b.Endpoint == "" {
		v.add(f+".endpoint", "required for type s3")
	} else if err := checkEndpoint(b.Endpoint); err != nil {
		v.add(f+".endpoint", "%v", err)
	}
	if b.Bucket == "" {
		v.add(f+".bucket", "required for type s3")
	}
	if b.AccessKey == "" {
		v.add(f+".access_key", "required for type s3")
	}
	if b.SecretKey == "" && b.SecretKeyFile == "" && b.SecretKeyEnv == "" {
		v.add(f+".secret_key", "required for type s3 (or secret_key_file, or secret_key_env)")
	}
	if strings.HasPrefix(b.Prefix, "/") {
		v.add(f+".prefix", "%q must not start with '/'", b.Prefix)
	}
}

// checkEndpoint accepts an http or https URL with a host and no path,
// query or fragment (S3 clients address buckets themselves).
func checkEndpoint(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q must start with http:// or https://", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q must not carry credentials; use access_key and secret_key", u.Redacted())
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q must have no path, query or fragment", raw)
	}
	return nil
}

func (c *Config) validateReplication(v *validator) {
	n := c.Replication.MinWrites
	switch {
	case n < 0:
		v.add("replication.min_writes", "%d is negative (0 means all backends)", n)
	case n > len(c.Backends) && len(c.Backends) > 0:
		v.add("replication.min_writes", "%d is more than the %d configured backends", n, len(c.Backends))
	}
	if d := c.Replication.CheckInterval; d != 0 && d < MinCheckInterval {
		v.add("replication.check_interval", "%v is shorter than %v (0 or unset means %v)", d, MinCheckInterval, DefaultCheckInterval)
	}
}

// Bounds of the limits section. Timeouts below MinLimitTimeout are almost
// certainly a unit left out ("10" instead of "10s").
const (
	MinLimitTimeout = time.Second
	MaxLimitTimeout = 24 * time.Hour
	maxLimitCount   = 1 << 20
)

func (c *Config) validateLimits(v *validator) {
	l := c.Limits
	for _, n := range []struct {
		field string
		v     int
	}{
		{"limits.max_connections", l.MaxConnections},
		{"limits.max_requests", l.MaxRequests},
		{"limits.login_failures", l.LoginFailures},
	} {
		if n.v < 0 || n.v > maxLimitCount {
			v.add(n.field, "%d is not between 1 and %d (0 or left out: the default)", n.v, maxLimitCount)
		}
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"limits.header_timeout", l.HeaderTimeout},
		{"limits.body_timeout", l.BodyTimeout},
		{"limits.idle_timeout", l.IdleTimeout},
		{"limits.login_failure_interval", l.LoginFailureInterval},
	} {
		if d.v < 0 || (d.v > 0 && d.v < MinLimitTimeout) || d.v > MaxLimitTimeout {
			v.add(d.field, "%v is not between %v and %v (0 or left out: the default)", d.v, MinLimitTimeout, MaxLimitTimeout)
		}
	}
}
