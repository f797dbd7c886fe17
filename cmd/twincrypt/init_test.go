package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/config"
	"github.com/twincrypt/twincrypt/keyring"
)

func TestInitCreatesConfigAndKeyring(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "sub", "twincrypt.yaml")
	r := runCLI(t, "", passEnv("passphrase-one"), false, args("init", "-c", cfgPath)...)
	r.expect(t, 0)
	if !strings.Contains(r.stdout, "wrote default config") || !strings.Contains(r.stdout, "created keyring") {
		t.Errorf("stdout = %q", r.stdout)
	}
	// The default's two local backends get their directories: serve
	// would not create them.
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range cfg.Backends {
		if fi, err := os.Stat(b.Path); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Errorf("directory of backend %s: %v, %v", b.Name, fi, err)
		}
		if !strings.Contains(r.stdout, "created the directory of backend "+b.Name) {
			t.Errorf("stdout does not mention the directory of %s: %q", b.Name, r.stdout)
		}
	}
	krPath := filepath.Join(dir, "sub", config.DefaultKeyring)
	fi, err := os.Stat(krPath)
	if err != nil {
		t.Fatalf("keyring not created: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("keyring mode %o, want 600", fi.Mode().Perm())
	}
	k := openKR(t, krPath, "passphrase-one")
	if k.CurrentKEKID() != 1 {
		t.Errorf("current KEK %d, want 1", k.CurrentKEKID())
	}
	want := (keyring.Params{Time: 1, MemoryKiB: 64, Threads: 1})
	if k.Params() != want {
		t.Errorf("params %+v, want %+v", k.Params(), want)
	}

	// A second init refuses to replace the keyring.
	before := readBytes(t, krPath)
	runCLI(t, "", passEnv("passphrase-two"), false, args("init", "-c", cfgPath)...).expect(t, 1, "already exists")
	if !bytes.Equal(readBytes(t, krPath), before) {
		t.Error("second init changed the keyring")
	}
}

func TestInitExistingConfigRelativeKeyring(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "twincrypt.yaml")
	if err := config.WriteDefault(cfgPath); err != nil {
		t.Fatal(err)
	}
	text := readBytes(t, cfgPath)
	re := regexp.MustCompile(`(?m)^keyring: .*$`)
	if !re.Match(text) {
		t.Fatal("default config has no keyring line")
	}
	text = re.ReplaceAll(text, []byte("keyring: keys/main.keyring"))
	if err := os.WriteFile(cfgPath, text, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", passEnv("passphrase-one"), false, args("init", "-c", cfgPath)...)
	r.expect(t, 0)
	if strings.Contains(r.stdout, "wrote default config") {
		t.Error("init rewrote an existing config")
	}
	if !bytes.Equal(readBytes(t, cfgPath), text) {
		t.Error("init changed an existing config")
	}
	openKR(t, filepath.Join(dir, "keys", "main.keyring"), "passphrase-one")
}
