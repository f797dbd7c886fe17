package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testdataDir returns the absolute path of testdata.
func testdataDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// noEnv is an empty environment.
func noEnv(string) string { return "" }

// envMap returns a getenv over m.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadTestdata(t *testing.T) {
	tests := []struct {
		file string
		// want lists substrings that must all occur in the error; empty
		// means the file is valid.
		want []string
		// parse marks errors from the YAML decoder rather than Validate.
		parse bool
	}{
		{file: "valid-full.yaml"},
		{file: "valid-minimal.yaml"},
		{file: "valid-redis.yaml"},
		{file: "unknown-key.yaml", parse: true, want: []string{"line 4: field ftp not found"}},
		{file: "unknown-top-key.yaml", parse: true, want: []string{"field replicaton not found"}},
		{file: "wrong-type.yaml", parse: true, want: []string{"cannot unmarshal !!str `two` into int"}},
		{file: "empty.yaml", parse: true, want: []string{"the file is empty"}},
		{file: "two-documents.yaml", parse: true, want: []string{"more than one YAML document"}},
		{file: "bad-listen.yaml", want: []string{
			`listen.s3: "localhost" is not host:port`,
			`listen.webdav: "127.0.0.1:http" is not host:port: port "http" is not a number`,
			`listen.share: "127.0.0.1:70000" is not host:port`,
			`listen.admin: "127.0.0.1:8420x" is not host:port`,
			`share.public_url: "ftp://files.example.org" must start with http:// or https://`,
		}},
		{file: "dup-listen.yaml", want: []string{`listen.webdav: "127.0.0.1:8420" is already used by listen.s3`}},
		{file: "missing-required.yaml", want: []string{
			"listen.s3: required",
			"listen.webdav: required",
			"keyring: required",
			"catalog.path: required for type bolt",
			"users: at least one user is required",
			"backends: at least one backend is required",
		}},
		{file: "bad-users.yaml", want: []string{
			"users[0].secret_key: must be at least 8 characters",
			"users[1].access_key: duplicate of users[0].access_key",
			"users[2].access_key: required",
			"users[2].secret_key: required",
			"users[3].access_key: must be printable and contain no whitespace, '/' or ':'",
		}},
		{file: "bad-grants.yaml", want: []string{
			"users[0].id: must be 64 lower-case hex digits",
			"users[0].display_name: must be at most 128 printable characters",
			`users[0].grants[0].bucket: "Bad_Name" is not a valid bucket name`,
			`users[0].grants[1].access: must be "read" or "read-write", not "write"`,
			"users[0].grants[2].bucket: duplicate of users[0].grants[1]",
			"users[2].id: same owner id as users[1]",
		}},
		{file: "bad-catalog-type.yaml", want: []string{`catalog.type: "etcd" is not one of bolt, redis`}},
		{file: "bad-inline-cache.yaml", want: []string{"catalog.inline_cache_mb: -2 is not -1 (no cache), 0 (the default, 32) or a size in MiB up to 1048576"}},
		{file: "bad-redis.yaml", want: []string{
			`catalog.url: "http://:xxxxx@127.0.0.1:6379" must start with redis:// or rediss://`,
			"catalog.path: only used with type bolt",
		}},
		{file: "redis-no-url.yaml", want: []string{"catalog.url: required for type redis"}},
		{file: "bad-backends.yaml", want: []string{
			`backends[0].name: "Frankfurt" must be 1 to 63 of a-z, 0-9 and '-'`,
			"backends[0].priority: must not be negative",
			"backends[0].path: required for type local",
			"backends[1].jurisdiction: required",
			"backends[1].path: only used with type local",
			`backends[1].endpoint: "ftp://x" must start with http:// or https://`,
			"backends[1].bucket: required for type s3",
			"backends[1].access_key: required for type s3",
			"backends[1].secret_key: required for type s3",
			`backends[2].name: "zurich" is already used by backends[1]`,
			`backends[2].type: "ftp" is not one of local, s3`,
			"backends[3].name: required",
			"backends[3].type: required (local or s3)",
			"backends[4].endpoint: only used with type s3",
			"backends[4].bucket: only used with type s3",
			"backends[4].sign_payload: only used with type s3",
			`backends[5].endpoint: "https://e.example/some/path" must have no path, query or fragment`,
			`backends[5].prefix: "/p" must not start with '/'`,
			`backends[6].name: "catalog" is reserved: scrub and repair report the catalog's own problems under that name`,
		}},
		{file: "no-backends.yaml", want: []string{"backends: at least one backend is required"}},
		{file: "single-jurisdiction.yaml", want: []string{
			`backends: all backends are in jurisdiction "de"; at least two distinct jurisdictions are required`,
		}},
		{file: "min-writes-high.yaml", want: []string{"replication.min_writes: 3 is more than the 2 configured backends"}},
		{file: "min-writes-negative.yaml", want: []string{"replication.min_writes: -1 is negative"}},
		{file: "check-interval-short.yaml", want: []string{"replication.check_interval: 100ms is shorter than 1s"}},
		// A bare number would be nanoseconds: the decoder refuses it.
		{file: "check-interval-number.yaml", parse: true, want: []string{"cannot unmarshal !!int `60` into time.Duration"}},
		{file: "bad-limits.yaml", want: []string{
			"limits.max_connections: -1 is not between 1 and 1048576",
			"limits.max_requests: 2000000 is not between 1 and 1048576",
			"limits.login_failures: -5 is not between 1 and 1048576",
			"limits.header_timeout: 10ms is not between 1s and 24h0m0s",
			"limits.body_timeout: -1s is not between 1s and 24h0m0s",
			"limits.idle_timeout: 48h0m0s is not between 1s and 24h0m0s",
		}},
		{file: "limits-duration-int.yaml", parse: true, want: []string{"cannot unmarshal !!int `10` into time.Duration"}},
		{file: "valid-tls.yaml"},
		{file: "tls-cert-only.yaml", want: []string{"tls.key: required with tls.cert"}},
		{file: "tls-key-only.yaml", want: []string{"tls.cert: required with tls.key"}},
		{file: "tls-unknown-key.yaml", parse: true, want: []string{"field ca not found"}},
		{file: "valid-tls-listeners.yaml"},
		{file: "bad-tls-listeners.yaml", want: []string{
			"tls.listeners.admin: listen.admin is not set",
			"tls.listeners.ftp: not a listener (s3, webdav, share, admin)",
			"tls.listeners.share.key: required with tls.listeners.share.cert",
			"tls.listeners.webdav.cert: required",
		}},
		{file: "tls-listeners-only.yaml", want: []string{"tls.listeners: needs tls.cert and tls.key: every listener speaks TLS, or none"}},
	}
	dir := testdataDir(t)
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			c, err := LoadWithEnv(path, noEnv)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("LoadWithEnv: %v", err)
				}
				if c.Path != path {
					t.Errorf("Path = %q, want %q", c.Path, path)
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadWithEnv succeeded, want errors %q", tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q; got:\n%v", w, err)
				}
			}
			var fe *FieldError
			if got := errors.As(err, &fe); got == tt.parse {
				t.Errorf("errors.As(*FieldError) = %v, want %v", got, !tt.parse)
			}
			if !tt.parse {
				// Every line is one field problem, and all are listed.
				if n := len(strings.Split(err.Error(), "\n")); n != len(tt.want) {
					t.Errorf("%d problems reported, want %d:\n%v", n, len(tt.want), err)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := LoadWithEnv(filepath.Join(t.TempDir(), "nope.yaml"), noEnv)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
	if errors.Is(err, ErrInvalid) {
		t.Errorf("a missing file must not be ErrInvalid")
	}
}

func TestRedisPasswordNotInError(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testdataDir(t), "bad-redis.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(data, t.TempDir())
	if err == nil || strings.Contains(err.Error(), "secretpw") {
		t.Fatalf("error must exist and hide the password: %v", err)
	}
}

func TestRelativePaths(t *testing.T) {
	dir := testdataDir(t)
	c, err := LoadWithEnv(filepath.Join("testdata", "valid-full.yaml"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, got, want string }{
		{"Path", c.Path, filepath.Join(dir, "valid-full.yaml")},
		{"keyring (relative)", c.Keyring, filepath.Join(dir, "keys", "twincrypt.keyring")},
		{"catalog.path (absolute)", c.Catalog.Path, "/var/lib/twincrypt/catalog.db"},
		{"backends[0].path (relative)", c.Backends[0].Path, filepath.Join(dir, "data", "frankfurt")},
		{"backends[1].path (s3, unset)", c.Backends[1].Path, ""},
		{"backends[1].region (default)", c.Backends[1].Region, DefaultRegion},
		{"backends[0].priority", fmt.Sprint(c.Backends[0].Priority), "1"},
		{"backends[1].priority (default)", fmt.Sprint(c.Backends[1].Priority), "0"},
		{"replication.check_interval", c.ProviderCheckInterval().String(), "1m30s"},
		{"users[0] display name (default)", c.Users[0].Name(), "alice"},
		{"users[1] display name", c.Users[1].Name(), "Bob"},
		// The derived owner id is part of the contract: buckets belong to it.
		{"users[0] owner id (derived)", c.Users[0].OwnerID(), "6b222c2224ac1010ecc972e0f3a095f35641b0e7a2c956141988d98c59451b22"},
		{"users[1].grants", fmt.Sprint(c.Users[1].Grants), "[{alice-photos read} {team read-write}]"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	if ps := c.Backends[1].PathStyle; ps == nil || !*ps {
		t.Errorf("path_style = %v, want true", ps)
	}
	if c.Backends[0].PathStyle != nil {
		t.Errorf("unset path_style must stay nil")
	}
	if !c.Backends[1].SignPayload || c.Backends[0].SignPayload {
		t.Errorf("sign_payload = %t, %t; want false (unset), true", c.Backends[0].SignPayload, c.Backends[1].SignPayload)
	}
}

func TestParseDirIsMadeAbsolute(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testdataDir(t), "valid-minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data, "some/rel")
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(wd, "some", "rel", "k"); c.Keyring != want {
		t.Errorf("Keyring = %q, want %q", c.Keyring, want)
	}
	if c.Catalog.Type != CatalogBolt {
		t.Errorf("catalog.type default = %q, want bolt", c.Catalog.Type)
	}
	if c.Path != "" {
		t.Errorf("Parse set Path = %q", c.Path)
	}
}

func TestEnvOverrides(t *testing.T) {
	path := filepath.Join(testdataDir(t), "valid-full.yaml")
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c *Config)
		wantErr string
	}{
		{
			name: "none",
			env:  nil,
			check: func(t *testing.T, c *Config) {
				if c.Listen.S3 != "127.0.0.1:9000" || c.Catalog.Type != CatalogBolt || c.Replication.MinWrites != 1 {
					t.Errorf("unexpected change: %+v", c)
				}
			},
		},
		{
			name: "listen",
			env:  map[string]string{EnvListenS3: "127.0.0.1:1", EnvListenWebDAV: "127.0.0.1:2", EnvListenShare: "127.0.0.1:3", EnvListenAdmin: "127.0.0.1:4"},
			check: func(t *testing.T, c *Config) {
				if got := (Listen{S3: "127.0.0.1:1", WebDAV: "127.0.0.1:2", Share: "127.0.0.1:3", Admin: "127.0.0.1:4"}); c.Listen != got {
					t.Errorf("Listen = %+v, want %+v", c.Listen, got)
				}
			},
		},
		{
			name: "share url",
			env:  map[string]string{EnvPublicURL: "https://files.example.org/"},
			check: func(t *testing.T, c *Config) {
				if got := c.LinkBase(); got != "https://files.example.org" {
					t.Errorf("LinkBase = %q", got)
				}
			},
		},
		{
			name: "catalog url switches to redis",
			env:  map[string]string{EnvCatalogURL: "redis://127.0.0.1:6379/0"},
			check: func(t *testing.T, c *Config) {
				want := Catalog{Type: CatalogRedis, URL: "redis://127.0.0.1:6379/0"}
				if c.Catalog != want {
					t.Errorf("Catalog = %+v, want %+v", c.Catalog, want)
				}
			},
		},
		{
			name: "min writes",
			env:  map[string]string{EnvMinWrites: " 2 "},
			check: func(t *testing.T, c *Config) {
				if c.Replication.MinWrites != 2 || c.WriteQuorum() != 2 {
					t.Errorf("MinWrites = %d", c.Replication.MinWrites)
				}
			},
		},
		{name: "min writes not a number", env: map[string]string{EnvMinWrites: "all"}, wantErr: `TWINCRYPT_MIN_WRITES="all": invalid config: not an integer`},
		{
			name: "check interval",
			env:  map[string]string{EnvCheckInterval: "2s"},
			check: func(t *testing.T, c *Config) {
				if c.ProviderCheckInterval() != 2*time.Second {
					t.Errorf("ProviderCheckInterval = %v", c.ProviderCheckInterval())
				}
			},
		},
		{
			name: "check interval from the file",
			env:  map[string]string{},
			check: func(t *testing.T, c *Config) {
				if c.ProviderCheckInterval() != 90*time.Second {
					t.Errorf("ProviderCheckInterval = %v", c.ProviderCheckInterval())
				}
				if d := (&Config{}).ProviderCheckInterval(); d != DefaultCheckInterval {
					t.Errorf("ProviderCheckInterval of an empty config = %v", d)
				}
			},
		},
		{name: "check interval not a duration", env: map[string]string{EnvCheckInterval: "5"}, wantErr: `TWINCRYPT_CHECK_INTERVAL="5": invalid config: not a duration`},
		{name: "check interval too short", env: map[string]string{EnvCheckInterval: "10ms"}, wantErr: "replication.check_interval: 10ms is shorter than 1s"},
		{name: "min writes too high", env: map[string]string{EnvMinWrites: "5"}, wantErr: "replication.min_writes: 5 is more than the 2 configured backends"},
		{name: "bad listen", env: map[string]string{EnvListenS3: "nope"}, wantErr: `listen.s3: "nope" is not host:port`},
		{name: "bad catalog url", env: map[string]string{EnvCatalogURL: "mysql://x"}, wantErr: "catalog.url: \"mysql://x\" must start with redis:// or rediss://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadWithEnv(path, envMap(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestWriteQuorumAndWarnings(t *testing.T) {
	two := []Backend{{Name: "a", Jurisdiction: "DE"}, {Name: "b", Jurisdiction: "CH"}}
	same := []Backend{{Name: "a", Jurisdiction: "DE"}, {Name: "b", Jurisdiction: "de"}}
	tests := []struct {
		name       string
		c          Config
		quorum     int
		warning    string // substring; empty means no warnings
		jurisdicts []string
	}{
		{"all by default", Config{Backends: two}, 2, "", []string{"de", "ch"}},
		{"explicit", Config{Backends: two, Replication: Replication{MinWrites: 1}}, 1, "", []string{"de", "ch"}},
		{"one jurisdiction", Config{Backends: same, Replication: Replication{AllowSingleJurisdiction: true}}, 2, "all backends are in one jurisdiction (de)", []string{"de"}},
		{"one backend", Config{Backends: two[:1], Replication: Replication{AllowSingleJurisdiction: true}}, 1, "only one backend (a)", []string{"de"}},
		{"share on every address", Config{Backends: two, Listen: Listen{Share: ":8422"}}, 2, "share links would start with http://:8422, which names no host", []string{"de", "ch"}},
		{"share on every address with a public URL", Config{Backends: two, Listen: Listen{Share: ":8422"}, Share: Share{PublicURL: "https://x.example"}}, 2, "", []string{"de", "ch"}},
		{"share on loopback", Config{Backends: two, Listen: Listen{Share: "127.0.0.1:8422"}}, 2, "", []string{"de", "ch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.WriteQuorum(); got != tt.quorum {
				t.Errorf("WriteQuorum = %d, want %d", got, tt.quorum)
			}
			if got := tt.c.Jurisdictions(); strings.Join(got, ",") != strings.Join(tt.jurisdicts, ",") {
				t.Errorf("Jurisdictions = %q, want %q", got, tt.jurisdicts)
			}
			w := tt.c.Warnings()
			if tt.warning == "" {
				if len(w) != 0 {
					t.Errorf("Warnings = %q, want none", w)
				}
				return
			}
			if len(w) != 1 || !strings.Contains(w[0], tt.warning) {
				t.Errorf("Warnings = %q, want one containing %q", w, tt.warning)
			}
		})
	}
}

var (
	accessKeyRE = regexp.MustCompile(`^[A-Z0-9]{16}$`)
	secretKeyRE = regexp.MustCompile(`^[A-Za-z0-9]{40}$`)
)

func TestDefault(t *testing.T) {
	dir := t.TempDir()
	c, text, err := Default(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The text round-trips through Parse to the same config.
	c2, err := Parse(text, dir)
	if err != nil {
		t.Fatalf("Parse(default text): %v\n%s", err, text)
	}
	if !reflect.DeepEqual(c.Users[0], c2.Users[0]) || c.Keyring != c2.Keyring || len(c2.Backends) != 2 {
		t.Errorf("round trip differs: %+v vs %+v", c, c2)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("default does not validate: %v", err)
	}
	checks := []struct{ name, got, want string }{
		{"listen.s3", c.Listen.S3, DefaultListenS3},
		{"listen.webdav", c.Listen.WebDAV, DefaultListenWebDAV},
		{"listen.share", c.Listen.Share, DefaultListenShare},
		{"keyring", c.Keyring, filepath.Join(dir, DefaultKeyring)},
		{"catalog.type", c.Catalog.Type, CatalogBolt},
		{"catalog.path", c.Catalog.Path, filepath.Join(dir, DefaultCatalogPath)},
		{"backends[0].path", c.Backends[0].Path, filepath.Join(dir, "data", "a")},
		{"backends[1].path", c.Backends[1].Path, filepath.Join(dir, "data", "b")},
		{"backends[0].jurisdiction", c.Backends[0].Jurisdiction, "local"},
		{"backends[1].jurisdiction", c.Backends[1].Jurisdiction, "local"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	if !c.Replication.AllowSingleJurisdiction {
		t.Error("default must allow a single jurisdiction")
	}
	if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], "all backends are in one jurisdiction (local)") {
		t.Errorf("Warnings = %q", w)
	}
	if u := c.Users[0]; !accessKeyRE.MatchString(u.AccessKey) || !secretKeyRE.MatchString(u.SecretKey) {
		t.Errorf("generated credentials %q / %q have the wrong shape", u.AccessKey, u.SecretKey)
	}
	if !strings.Contains(string(text), "# ") {
		t.Error("default text carries no comments")
	}
	// Fresh credentials every time.
	c3, _, err := Default(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c3.Users[0].AccessKey == c.Users[0].AccessKey || c3.Users[0].SecretKey == c.Users[0].SecretKey {
		t.Error("two defaults share credentials")
	}
}

func TestWriteDefault(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "twincrypt.yaml")
	if err := WriteDefault(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("mode = %o, want 600", mode)
	}
	c, err := LoadWithEnv(path, noEnv)
	if err != nil {
		t.Fatalf("load written default: %v", err)
	}
	if want := filepath.Join(dir, "sub", DefaultKeyring); c.Keyring != want {
		t.Errorf("Keyring = %q, want %q", c.Keyring, want)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	// A second write refuses and leaves the file as it was.
	err = WriteDefault(path)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second WriteDefault: err = %v, want fs.ErrExist", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("WriteDefault changed an existing file")
	}
	// No temporary files are left behind.
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want 1", len(ents))
	}
}

func TestWriteNewRefusesExisting(t *testing.T) {
	// writeNew itself must not clobber, even when the existence check in
	// WriteDefault raced with another writer.
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeNew(path, []byte("theirs")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("err = %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "mine" {
		t.Errorf("file clobbered: %q", b)
	}
}

func TestRandomString(t *testing.T) {
	const alphabet = "ab"
	s, err := randomString(alphabet, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 1000 {
		t.Fatalf("len = %d", len(s))
	}
	if n := strings.Count(s, "a"); n < 400 || n > 600 {
		t.Errorf("%d a's in 1000 draws over {a,b}: not uniform", n)
	}
}

func TestLimits(t *testing.T) {
	full, err := LoadWithEnv(filepath.Join("testdata", "valid-full.yaml"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	minimal, err := LoadWithEnv(filepath.Join("testdata", "valid-minimal.yaml"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  Limits
		want Limits
	}{
		{"every key set", full.Limits, Limits{
			MaxConnections: 4096, MaxRequests: 512, HeaderTimeout: 5 * time.Second, BodyTimeout: 90 * time.Second,
			IdleTimeout: time.Minute, LoginFailures: 20, LoginFailureInterval: 30 * time.Second,
		}},
		{"defaults", minimal.Limits, Limits{
			MaxConnections: DefaultMaxConnections, MaxRequests: DefaultMaxRequests, HeaderTimeout: DefaultHeaderTimeout,
			BodyTimeout: DefaultBodyTimeout, IdleTimeout: DefaultIdleTimeout, LoginFailures: DefaultLoginFailures,
			LoginFailureInterval: DefaultLoginFailureInterval,
		}},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, tt.got, tt.want)
		}
	}
}

func TestShutdownTimeout(t *testing.T) {
	base := "listen: {s3: \"127.0.0.1:8420\", webdav: \"127.0.0.1:8421\"}\nkeyring: k\ncatalog: {path: c.db}\n" +
		"users: [{access_key: demo, secret_key: 12345678}]\nbackends:\n" +
		"  - {name: a, jurisdiction: US, type: local, path: a}\n  - {name: b, jurisdiction: EU, type: local, path: b}\n"
	for _, tt := range []struct {
		line string
		want time.Duration
		err  string
	}{
		{"", DefaultShutdownTimeout, ""},
		{"shutdown_timeout: 2s\n", 2 * time.Second, ""},
		{"shutdown_timeout: 0s\n", DefaultShutdownTimeout, ""},
		{"shutdown_timeout: 500ms\n", 0, "shutdown_timeout: 500ms is not between 1s and 1h0m0s"},
		{"shutdown_timeout: 2h\n", 0, "shutdown_timeout: 2h0m0s is not between 1s and 1h0m0s"},
		{"shutdown_timeout: -1s\n", 0, "shutdown_timeout: -1s is not between"},
		{"shutdown_timeout: 30\n", 0, "cannot unmarshal"},
	} {
		c, err := Parse([]byte(base+tt.line), t.TempDir())
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.line, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.line, err)
			continue
		}
		if got := c.ShutdownGrace(); got != tt.want {
			t.Errorf("%q: %v, want %v", tt.line, got, tt.want)
		}
	}
}

func TestSecretKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("user.secret", "user-secret-from-a-file\n")
	os.Mkdir(filepath.Join(dir, "creds"), 0o700)
	write("creds/s3", "provider-secret\r\n")
	write("empty", "\n")
	write("two-lines", "a\nb\n")
	cfg := func(user, backend string) string {
		return "listen: {s3: \"127.0.0.1:8420\", webdav: \"127.0.0.1:8421\"}\nkeyring: k\ncatalog: {path: c.db}\n" +
			"users: [{access_key: demo, " + user + "}]\nbackends:\n" +
			"  - {name: a, jurisdiction: US, type: local, path: a}\n" +
			"  - {name: b, jurisdiction: EU, type: s3, endpoint: \"https://s3.example\", bucket: x, access_key: y, " + backend + "}\n"
	}
	path := filepath.Join(dir, "twincrypt.yaml")
	load := func(text string, env map[string]string) (*Config, error) {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return LoadWithEnv(path, func(k string) string { return env[k] })
	}

	c, err := load(cfg("secret_key_file: user.secret", "secret_key_file: \"${CREDS}/s3\""), map[string]string{"CREDS": filepath.Join(dir, "creds")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Users[0].SecretKey != "user-secret-from-a-file" || c.Backends[1].SecretKey != "provider-secret" {
		t.Errorf("secrets %q, %q", c.Users[0].SecretKey, c.Backends[1].SecretKey)
	}
	// Relative to the config file, not the working directory.
	c, err = load(cfg("secret_key_file: user.secret", "secret_key_file: creds/s3"), nil)
	if err != nil || c.Backends[1].SecretKey != "provider-secret" {
		t.Fatalf("relative path: %v", err)
	}

	for _, tt := range []struct {
		user, backend string
		want          []string
	}{
		{"secret_key: 12345678, secret_key_file: user.secret", "secret_key: s", []string{"users[0].secret_key: set only one of secret_key, secret_key_file and secret_key_env"}},
		{"secret_key_file: missing", "secret_key: s", []string{"users[0].secret_key_file: open ", "no such file"}},
		{"secret_key_file: empty", "secret_key_file: two-lines", []string{"users[0].secret_key_file: " + filepath.Join(dir, "empty") + " is empty", "backends[1].secret_key_file: ", "more than one line"}},
		{"secret_key: 12345678", "region: r", []string{"backends[1].secret_key: required for type s3 (or secret_key_file, or secret_key_env)"}},
	} {
		_, err := load(cfg(tt.user, tt.backend), nil)
		if err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s / %s: %v", tt.user, tt.backend, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s / %s: %v, want %q", tt.user, tt.backend, err, w)
			}
		}
		if strings.Contains(err.Error(), "user-secret-from-a-file") {
			t.Errorf("an error shows a secret: %v", err)
		}
	}

	// From the environment.
	c, err = load(cfg("secret_key_env: USER_SECRET", "secret_key_env: S3_SECRET"), map[string]string{"USER_SECRET": "user-secret-from-env", "S3_SECRET": "s3-secret-from-env"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Users[0].SecretKey != "user-secret-from-env" || c.Backends[1].SecretKey != "s3-secret-from-env" {
		t.Errorf("secrets %q, %q", c.Users[0].SecretKey, c.Backends[1].SecretKey)
	}
	for _, tt := range []struct{ user, backend, want string }{
		{"secret_key_env: UNSET", "secret_key: s", "users[0].secret_key_env: the environment variable UNSET is not set or empty"},
		{"secret_key_env: USER_SECRET, secret_key_file: user.secret", "secret_key: s", "users[0].secret_key: set only one of"},
		{"secret_key: 12345678", "secret_key: s, secret_key_env: S3_SECRET", "backends[1].secret_key: set only one of"},
	} {
		_, err := load(cfg(tt.user, tt.backend), map[string]string{"USER_SECRET": "user-secret-from-env", "S3_SECRET": "x"})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s / %s: %v, want %q", tt.user, tt.backend, err, tt.want)
		}
	}

	// A local backend takes no secret_key_file.
	text := strings.Replace(cfg("secret_key: 12345678", "secret_key: s"), "path: a}", "path: a, secret_key_file: creds/s3}", 1)
	if _, err := load(text, nil); err == nil || !strings.Contains(err.Error(), "backends[0].secret_key_file: only used with type s3") {
		t.Errorf("local backend with secret_key_file: %v", err)
	}
}

func TestTLS(t *testing.T) {
	dir := testdataDir(t)
	t.Run("paths and link base", func(t *testing.T) {
		c, err := LoadWithEnv(filepath.Join(dir, "valid-tls.yaml"), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(dir, "certs", "fullchain.pem"); c.TLS.Cert != want {
			t.Errorf("tls.cert = %q, want %q", c.TLS.Cert, want)
		}
		if c.TLS.Key != "/etc/twincrypt/privkey.pem" {
			t.Errorf("tls.key = %q", c.TLS.Key)
		}
		if !c.TLS.Enabled() || c.Scheme() != "https" {
			t.Errorf("Enabled %t, Scheme %q", c.TLS.Enabled(), c.Scheme())
		}
		if got := c.LinkBase(); got != "https://:8422" {
			t.Errorf("LinkBase = %q, want https://:8422", got)
		}
	})
	t.Run("per listener", func(t *testing.T) {
		c, err := LoadWithEnv(filepath.Join(dir, "valid-tls-listeners.yaml"), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		internal := TLSPair{Cert: filepath.Join(dir, "internal.pem"), Key: filepath.Join(dir, "internal-key.pem")}
		for _, tt := range []struct {
			name string
			want TLSPair
		}{
			{"s3", internal},
			{"webdav", internal},
			{"admin", internal},
			{"share", TLSPair{Cert: filepath.Join(dir, "public", "fullchain.pem"), Key: "/etc/twincrypt/public-key.pem"}},
		} {
			if got := c.TLS.For(tt.name); got != tt.want {
				t.Errorf("For(%s) = %+v, want %+v", tt.name, got, tt.want)
			}
		}
		plain, err := LoadWithEnv(filepath.Join(dir, "valid-minimal.yaml"), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		if got := plain.TLS.For("s3"); got != (TLSPair{}) {
			t.Errorf("For(s3) without TLS = %+v", got)
		}
	})
	t.Run("environment", func(t *testing.T) {
		c, err := LoadWithEnv(filepath.Join(dir, "valid-minimal.yaml"), envMap(map[string]string{
			EnvTLSCert: "tls/cert.pem", EnvTLSKey: "/run/credentials/key.pem", EnvListenShare: "127.0.0.1:8422",
		}))
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(dir, "tls", "cert.pem"); c.TLS.Cert != want || c.TLS.Key != "/run/credentials/key.pem" {
			t.Errorf("tls = %+v, want cert %q", c.TLS, want)
		}
		if got := c.LinkBase(); got != "https://127.0.0.1:8422" {
			t.Errorf("LinkBase = %q", got)
		}
		c, err = LoadWithEnv(filepath.Join(dir, "valid-minimal.yaml"), envMap(map[string]string{EnvTLSCert: "cert.pem"}))
		if err == nil || !strings.Contains(err.Error(), "tls.key: required with tls.cert") {
			t.Errorf("only %s set: %v", EnvTLSCert, err)
		}
	})
	t.Run("plain", func(t *testing.T) {
		c, err := LoadWithEnv(filepath.Join(dir, "valid-minimal.yaml"), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		if c.TLS.Enabled() || c.Scheme() != "http" {
			t.Errorf("Enabled %t, Scheme %q", c.TLS.Enabled(), c.Scheme())
		}
	})
}

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:8420", true},
		{"127.255.0.9:1", true},
		{"[::1]:8420", true},
		{"localhost:8420", true},
		{"LocalHost:8420", true},
		{"0.0.0.0:8420", false},
		{"[::]:8420", false},
		{":8420", false},
		{"10.0.0.1:8420", false},
		{"[::ffff:10.0.0.1]:8420", false},
		{"files.example.org:443", false},
		{"localhost.example.org:443", false},
		{"127.0.0.1", false}, // no port: not an address serve listens on
	}
	for _, tt := range tests {
		if got := IsLoopback(tt.addr); got != tt.want {
			t.Errorf("IsLoopback(%q) = %t, want %t", tt.addr, got, tt.want)
		}
	}
}

func TestCheckPlaintext(t *testing.T) {
	tests := []struct {
		file string
		env  map[string]string
		// refused lists the listeners CheckPlaintext names; none: nil.
		refused []string
		// warn is a substring of the plaintext warning; empty: none.
		warn string
	}{
		{file: "plaintext-public.yaml", refused: []string{"listen.webdav 0.0.0.0:8421", "listen.share :8422", "listen.admin [::]:8423"},
			warn: "listen.s3 0.0.0.0:8420: not loopback and TLS is off"},
		{file: "plaintext-public.yaml", env: map[string]string{EnvAllowPlaintext: "true"},
			warn: "listen.s3 0.0.0.0:8420, listen.webdav 0.0.0.0:8421, listen.share :8422, listen.admin [::]:8423: not loopback and TLS is off"},
		{file: "plaintext-public.yaml", env: map[string]string{EnvTLSCert: "c.pem", EnvTLSKey: "k.pem"}},
		{file: "plaintext-allowed.yaml", warn: "listen.s3 0.0.0.0:8420, listen.webdav 10.0.0.5:8421: not loopback"},
		{file: "plaintext-allowed.yaml", env: map[string]string{EnvAllowPlaintext: "false"}, refused: []string{"listen.webdav 10.0.0.5:8421"},
			warn: "listen.s3 0.0.0.0:8420: not loopback"},
		{file: "plaintext-loopback.yaml"},
		{file: "plaintext-s3-public.yaml", warn: "listen.s3 0.0.0.0:8420: not loopback"},
		{file: "valid-tls.yaml"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.file, tt.env), func(t *testing.T) {
			c, err := LoadWithEnv(filepath.Join(testdataDir(t), tt.file), envMap(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			err = c.CheckPlaintext()
			if len(tt.refused) == 0 {
				if err != nil {
					t.Errorf("CheckPlaintext: %v", err)
				}
			} else {
				if !errors.Is(err, ErrPlaintext) {
					t.Fatalf("CheckPlaintext = %v, want ErrPlaintext", err)
				}
				lines := strings.Split(err.Error(), "\n")
				if len(lines) != len(tt.refused) {
					t.Errorf("%d refusals, want %d:\n%v", len(lines), len(tt.refused), err)
				}
				for i, want := range tt.refused {
					if i < len(lines) && (!strings.HasPrefix(lines[i], want+": ") || !strings.Contains(lines[i], "listen.allow_plaintext: true")) {
						t.Errorf("refusal %d = %q, want it to start with %q and name listen.allow_plaintext", i, lines[i], want)
					}
				}
			}
			var got []string
			for _, w := range c.Warnings() {
				if strings.Contains(w, "TLS is off") {
					got = append(got, w)
				}
			}
			switch {
			case tt.warn == "" && len(got) > 0:
				t.Errorf("unexpected warnings %q", got)
			case tt.warn != "" && (len(got) != 1 || !strings.Contains(got[0], tt.warn)):
				t.Errorf("warnings %q, want one with %q", got, tt.warn)
			}
		})
	}
	if _, err := LoadWithEnv(filepath.Join(testdataDir(t), "plaintext-public.yaml"), envMap(map[string]string{EnvAllowPlaintext: "yes please"})); err == nil || !strings.Contains(err.Error(), EnvAllowPlaintext) {
		t.Errorf("%s=yes please: %v", EnvAllowPlaintext, err)
	}
}

// TestCatalogPassword reads the Redis password from a file or the
// environment, relative to the config file, and refuses it for bolt.
func TestCatalogPassword(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "redis.pw"), []byte("pw-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "twincrypt.yaml")
	load := func(catalog string, env map[string]string) (*Config, error) {
		text := "listen: {s3: \"127.0.0.1:8420\", webdav: \"127.0.0.1:8421\"}\nkeyring: k\ncatalog: {" + catalog + "}\n" +
			"users: [{access_key: demo, secret_key: 12345678}]\nbackends:\n" +
			"  - {name: a, jurisdiction: US, type: local, path: a}\n  - {name: b, jurisdiction: EU, type: local, path: b}\n"
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return LoadWithEnv(path, func(k string) string { return env[k] })
	}
	tests := []struct {
		name, catalog string
		env           map[string]string
		password      string
		err           string
	}{
		{"file", "type: redis, url: \"redis://u@127.0.0.1:6379/0\", password_file: redis.pw", nil, "pw-from-file", ""},
		{"env", "type: redis, url: \"redis://127.0.0.1:6379/0\", password_env: RPW", map[string]string{"RPW": "pw-from-env"}, "pw-from-env", ""},
		{"none", "type: redis, url: \"redis://127.0.0.1:6379/0\"", nil, "", ""},
		{"both", "type: redis, url: \"redis://h:1\", password_env: RPW, password_file: redis.pw", map[string]string{"RPW": "x"}, "", "catalog.password: set only one of password, password_file and password_env"},
		{"unset env", "type: redis, url: \"redis://h:1\", password_env: NOPE", nil, "", "catalog.password_env: the environment variable NOPE is not set or empty"},
		{"missing file", "type: redis, url: \"redis://h:1\", password_file: nope", nil, "", "catalog.password_file: open "},
		{"bolt", "type: bolt, path: c.db, password_file: redis.pw", nil, "", "catalog.password_file: only used with type redis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(tt.catalog, tt.env)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "pw-from") {
					t.Errorf("an error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Catalog.Password != tt.password {
				t.Errorf("password %q, want %q", c.Catalog.Password, tt.password)
			}
		})
	}
}

func TestInlineCacheBytes(t *testing.T) {
	for _, tt := range []struct {
		mb   int
		want int64
	}{{-1, 0}, {0, DefaultInlineCacheMB << 20}, {1, 1 << 20}, {256, 256 << 20}} {
		if got := (Catalog{InlineCacheMB: tt.mb}).InlineCacheBytes(); got != tt.want {
			t.Errorf("inline_cache_mb %d: %d bytes, want %d", tt.mb, got, tt.want)
		}
	}
}
