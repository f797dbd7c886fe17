package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/config"
	"github.com/twincrypt/twincrypt/keyring"
)

// fastKDF keeps Argon2id cheap in CLI tests.
var fastKDF = []string{"-kdf-time", "1", "-kdf-memory", "64", "-kdf-threads", "1"}

// result is what one in-process run produced.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs one command line in-process with the given stdin, environment
// and terminal flag.
func runCLI(t *testing.T, stdin string, env map[string]string, term bool, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli{
		stdin:  strings.NewReader(stdin),
		stdout: &out,
		stderr: &errb,
		getenv: func(k string) string { return env[k] },
		term:   term,
	}
	code := run(context.Background(), c, args)
	return result{code, out.String(), errb.String()}
}

func (r result) expect(t *testing.T, code int, stderrHas ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range stderrHas {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr %q does not contain %q", r.stderr, s)
		}
	}
}

func args(a ...string) []string { return append(a, fastKDF...) }

func passEnv(p string) map[string]string { return map[string]string{envPassphrase: p} }

// initialized returns a config file path whose keyring was created with
// passphrase "passphrase-one".
func initialized(t *testing.T) (cfgPath, keyringPath string) {
	t.Helper()
	cfgPath = filepath.Join(t.TempDir(), "twincrypt.yaml")
	runCLI(t, "", passEnv("passphrase-one"), false, args("init", "-c", cfgPath)...).expect(t, 0)
	cfg, err := config.LoadWithEnv(cfgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfgPath, cfg.Keyring
}

func openKR(t *testing.T, path, pass string) *keyring.Keyring {
	t.Helper()
	k, err := keyring.Open(path, []byte(pass))
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return k
}

func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKeysWrongPassphrase(t *testing.T) {
	cfgPath, krPath := initialized(t)
	before := readBytes(t, krPath)
	for _, sub := range []string{"rotate", "export-recovery", "passwd"} {
		env := map[string]string{envPassphrase: "passphrase-wrong", envNewPassphrase: "passphrase-new"}
		r := runCLI(t, "", env, false, "keys", sub, "-c", cfgPath)
		r.expect(t, 1, "wrong passphrase")
		if r.stdout != "" {
			t.Errorf("%s printed %q on a wrong passphrase", sub, r.stdout)
		}
	}
	runCLI(t, "", nil, false, "keys", "rotate", "-c", cfgPath).expect(t, 1, "no passphrase: set TWINCRYPT_PASSPHRASE")
	if !bytes.Equal(readBytes(t, krPath), before) {
		t.Error("keyring file changed after wrong passphrases")
	}
}

func TestKeysMissingKeyring(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "c.yaml")
	if err := config.WriteDefault(cfgPath); err != nil {
		t.Fatal(err)
	}
	runCLI(t, "", passEnv("pw"), false, "keys", "rotate", "-c", cfgPath).expect(t, 1, "twincrypt init")
}

func TestKeysRotate(t *testing.T) {
	cfgPath, krPath := initialized(t)
	k1, _ := openKR(t, krPath, "passphrase-one").KEK(1)
	for _, want := range []string{"2", "3"} {
		r := runCLI(t, "", passEnv("passphrase-one"), false, "keys", "rotate", "-c", cfgPath)
		r.expect(t, 0)
		if !strings.HasSuffix(strings.TrimSpace(r.stdout), "is now "+want) {
			t.Errorf("stdout = %q, want current %s", r.stdout, want)
		}
	}
	k := openKR(t, krPath, "passphrase-one")
	id, _ := k.CurrentKEK()
	if id != 3 {
		t.Errorf("current KEK %d, want 3", id)
	}
	if old, _ := k.KEK(1); *old != *k1 {
		t.Error("KEK 1 changed by rotation")
	}
}

func TestKeysPasswd(t *testing.T) {
	cfgPath, krPath := initialized(t)
	name := *openKR(t, krPath, "passphrase-one").NameKey()

	env := map[string]string{envPassphrase: "passphrase-one", envNewPassphrase: "passphrase-two"}
	runCLI(t, "", env, false, "keys", "passwd", "-c", cfgPath).expect(t, 0)
	if _, err := keyring.Open(krPath, []byte("passphrase-one")); err == nil {
		t.Error("old passphrase still opens the keyring")
	}
	k := openKR(t, krPath, "passphrase-two")
	if *k.NameKey() != name {
		t.Error("passwd changed derived keys")
	}
	if k.Params() != (keyring.Params{Time: 1, MemoryKiB: 64, Threads: 1}) {
		t.Errorf("passwd without -kdf flags changed params to %+v", k.Params())
	}

	// New passphrase typed at a prompt, with new Argon2id parameters.
	r := runCLI(t, "passphrase-three\npassphrase-three\n", passEnv("passphrase-two"), true,
		"keys", "passwd", "-c", cfgPath, "-kdf-memory", "128", "-kdf-threads", "2")
	r.expect(t, 0, "New passphrase: ", "Repeat new passphrase: ")
	k = openKR(t, krPath, "passphrase-three")
	if want := (keyring.Params{Time: 1, MemoryKiB: 128, Threads: 2}); k.Params() != want {
		t.Errorf("params %+v, want %+v", k.Params(), want)
	}
	if *k.NameKey() != name {
		t.Error("passwd changed derived keys")
	}

	// No new passphrase available: nothing changes.
	before := readBytes(t, krPath)
	runCLI(t, "", passEnv("passphrase-three"), false, "keys", "passwd", "-c", cfgPath).expect(t, 1, "set TWINCRYPT_NEW_PASSPHRASE")
	if !bytes.Equal(readBytes(t, krPath), before) {
		t.Error("failed passwd changed the keyring")
	}
}

func TestKeysExportImportRecovery(t *testing.T) {
	cfgPath, krPath := initialized(t)
	runCLI(t, "", passEnv("passphrase-one"), false, "keys", "rotate", "-c", cfgPath).expect(t, 0)
	orig := openKR(t, krPath, "passphrase-one")
	wantKEK2, _ := orig.KEK(2)

	r := runCLI(t, "", passEnv("passphrase-one"), false, "keys", "export-recovery", "-c", cfgPath)
	r.expect(t, 0, "keep it offline", "current key-encryption key is 2")
	rk := strings.TrimSpace(r.stdout)
	if rk != orig.RecoveryKey() || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("export-recovery stdout = %q", r.stdout)
	}

	// Import refuses to overwrite without -force, and leaves the file alone.
	before := readBytes(t, krPath)
	runCLI(t, rk+"\n", passEnv("passphrase-new"), false, args("keys", "import-recovery", "-c", cfgPath)...).expect(t, 1, "already exists", "-force")
	if !bytes.Equal(readBytes(t, krPath), before) {
		t.Fatal("import without -force changed the keyring")
	}

	tests := []struct {
		name  string
		stdin string
		env   map[string]string
		term  bool
		extra []string
		kek   uint32
	}{
		{"stdin", rk + "\n", passEnv("passphrase-new"), false, nil, 1},
		{"env lowercase", "", map[string]string{envRecoveryKey: strings.ToLower(rk), envPassphrase: "passphrase-new"}, false, []string{"-kek-id", "2"}, 2},
		{"terminal", strings.ReplaceAll(rk, "-", " ") + "\npassphrase-new\npassphrase-new\n", nil, true, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.Remove(krPath); err != nil {
				t.Fatal(err)
			}
			a := append(args("keys", "import-recovery", "-c", cfgPath), tt.extra...)
			r := runCLI(t, tt.stdin, tt.env, tt.term, a...)
			r.expect(t, 0)
			if !strings.Contains(r.stdout, "restored keyring") {
				t.Errorf("stdout = %q", r.stdout)
			}
			k := openKR(t, krPath, "passphrase-new")
			if k.CurrentKEKID() != tt.kek {
				t.Errorf("current KEK %d, want %d", k.CurrentKEKID(), tt.kek)
			}
			if got, _ := k.KEK(2); *got != *wantKEK2 {
				t.Error("restored keyring derives a different KEK 2")
			}
			if *k.NameKey() != *orig.NameKey() || *k.CatalogKey() != *orig.CatalogKey() {
				t.Error("restored keyring derives different keys")
			}
		})
	}

	// -force replaces the keyring.
	runCLI(t, rk, passEnv("passphrase-forced"), false, args("keys", "import-recovery", "-c", cfgPath, "-force")...).expect(t, 0)
	openKR(t, krPath, "passphrase-forced")

	// A typo is caught and nothing is written.
	if err := os.Remove(krPath); err != nil {
		t.Fatal(err)
	}
	typo := []byte(rk)
	if typo[0] == 'A' {
		typo[0] = 'B'
	} else {
		typo[0] = 'A'
	}
	runCLI(t, string(typo), passEnv("passphrase-new"), false, args("keys", "import-recovery", "-c", cfgPath)...).expect(t, 1, "checksum mismatch")
	runCLI(t, "", passEnv("passphrase-new"), false, args("keys", "import-recovery", "-c", cfgPath)...).expect(t, 1, "no recovery key")
	runCLI(t, rk, nil, false, args("keys", "import-recovery", "-c", cfgPath)...).expect(t, 1, "no passphrase")
	if _, err := os.Stat(krPath); !os.IsNotExist(err) {
		t.Errorf("failed imports wrote a keyring (stat: %v)", err)
	}
}

func TestKeysHelpAndUsage(t *testing.T) {
	cfgPath, _ := initialized(t)
	tests := []struct {
		args      []string
		code      int
		stdoutHas string
		stderrHas string
	}{
		{[]string{"keys", "--help"}, 0, "import-recovery", ""},
		{[]string{"keys", "-h"}, 0, "export-recovery", ""},
		{[]string{"keys", "help"}, 0, "passwd", ""},
		{[]string{"init", "--help"}, 0, "", "usage: twincrypt init"},
		{[]string{"keys", "passwd", "--help"}, 0, "", "TWINCRYPT_NEW_PASSPHRASE"},
		{[]string{"keys", "rotate", "--help"}, 0, "", "usage: twincrypt keys rotate"},
		{[]string{"keys", "export-recovery", "-h"}, 0, "", "usage: twincrypt keys export-recovery"},
		{[]string{"keys", "import-recovery", "--help"}, 0, "", "-force"},
		{[]string{"keys"}, 2, "", "missing subcommand"},
		{[]string{"keys", "bogus"}, 2, "", `unknown subcommand "bogus"`},
		{[]string{"keys", "rotate"}, 2, "", "-c FILE is required"},
		{[]string{"init"}, 2, "", "-c FILE is required"},
		{[]string{"keys", "rotate", "-c", cfgPath, "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"keys", "rotate", "-nope"}, 2, "", "flag provided but not defined"},
		{[]string{"init", "-c", cfgPath, "-kdf-time", "0"}, 2, "", "invalid Argon2id parameters"},
		{[]string{"init", "-c", cfgPath, "-kdf-threads", "300"}, 2, "", "exceeds 255"},
		{[]string{"keys", "import-recovery", "-c", cfgPath, "-kek-id", "0"}, 2, "", "-kek-id"},
		{[]string{"keys", "rotate", "-c", filepath.Join(t.TempDir(), "missing.yaml")}, 1, "", "config"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, "", passEnv("passphrase-one"), false, tt.args...)
			r.expect(t, tt.code, tt.stderrHas)
			if !strings.Contains(r.stdout, tt.stdoutHas) {
				t.Errorf("stdout %q does not contain %q", r.stdout, tt.stdoutHas)
			}
		})
	}
}

// TestShortPassphrases: a new passphrase shorter than minPassphraseLen is
// refused by keys passwd and import-recovery, while a keyring made earlier
// with a short passphrase keeps opening and can get a longer one.
func TestShortPassphrases(t *testing.T) {
	cfgPath, krPath := initialized(t)
	env := map[string]string{envPassphrase: "passphrase-one", envNewPassphrase: "too-short"}
	runCLI(t, "", env, false, "keys", "passwd", "-c", cfgPath).expect(t, 1, "has 9 characters, fewer than the 12 required")
	openKR(t, krPath, "passphrase-one")
	runCLI(t, "short\nshort\n", passEnv("passphrase-one"), true, "keys", "passwd", "-c", cfgPath).expect(t, 1, "fewer than the 12 required")
	openKR(t, krPath, "passphrase-one")

	r := runCLI(t, "", passEnv("passphrase-one"), false, "keys", "export-recovery", "-c", cfgPath)
	r.expect(t, 0)
	rk := strings.TrimSpace(r.stdout)
	env = map[string]string{envRecoveryKey: rk, envPassphrase: "short"}
	runCLI(t, "", env, false, args("keys", "import-recovery", "-c", cfgPath, "-force")...).expect(t, 1, "fewer than the 12 required")
	openKR(t, krPath, "passphrase-one")

	// A keyring whose passphrase predates the rule.
	old := filepath.Join(t.TempDir(), "old.yaml")
	runCLI(t, "", passEnv("passphrase-one"), false, args("init", "-c", old)...).expect(t, 0)
	oldCfg, err := config.LoadWithEnv(old, nil)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(oldCfg.Keyring)
	if _, err := keyring.Create(oldCfg.Keyring, []byte("pw"), keyring.Params{Time: 1, MemoryKiB: 64, Threads: 1}); err != nil {
		t.Fatal(err)
	}
	runCLI(t, "", passEnv("pw"), false, "keys", "rotate", "-c", old).expect(t, 0)
	runCLI(t, "", map[string]string{envPassphrase: "pw", envNewPassphrase: "a-longer-passphrase"}, false, "keys", "passwd", "-c", old).expect(t, 0)
	openKR(t, oldCfg.Keyring, "a-longer-passphrase")
}
