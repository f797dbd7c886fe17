package config

import (
	"bytes"
	"crypto/rand"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"text/template"
)

// Values of the embedded default config.
const (
	DefaultListenS3     = "127.0.0.1:8420"
	DefaultListenWebDAV = "127.0.0.1:8421"
	DefaultListenShare  = "127.0.0.1:8422"
	DefaultListenAdmin  = "127.0.0.1:8423"
	DefaultKeyring      = "twincrypt.keyring"
	DefaultCatalogPath  = "twincrypt.db"
)

// Lengths of the credentials generated for the default config.
const (
	GeneratedAccessKeyLen = 16
	GeneratedSecretKeyLen = 40
)

//go:embed default.yaml.tmpl
var defaultTemplateText string

// defaultParams fills default.yaml.tmpl.
type defaultParams struct {
	ListenS3, ListenWebDAV, ListenShare string
	ListenAdmin                         string
	Keyring, CatalogPath                string
	AccessKey, SecretKey                string
	BackendA, BackendB, Jurisdiction    string
	PathA, PathB                        string
}

// Default returns the embedded default config with freshly generated
// credentials: its commented YAML text and the parsed, validated Config
// whose relative paths are resolved against dir. The default stores both
// copies in two local directories (data/a and data/b) under one
// jurisdiction label, "local", with allow_single_jurisdiction set, so
// Warnings reports it.
func Default(dir string) (*Config, []byte, error) {
	access, err := randomString(accessKeyAlphabet, GeneratedAccessKeyLen)
	if err != nil {
		return nil, nil, err
	}
	secret, err := randomString(secretKeyAlphabet, GeneratedSecretKeyLen)
	if err != nil {
		return nil, nil, err
	}
	text, err := renderDefault(defaultParams{
		ListenS3:     DefaultListenS3,
		ListenWebDAV: DefaultListenWebDAV,
		ListenShare:  DefaultListenShare,
		ListenAdmin:  DefaultListenAdmin,
		Keyring:      DefaultKeyring,
		CatalogPath:  DefaultCatalogPath,
		AccessKey:    access,
		SecretKey:    secret,
		BackendA:     "local-a",
		BackendB:     "local-b",
		Jurisdiction: "local",
		PathA:        "data/a",
		PathB:        "data/b",
	})
	if err != nil {
		return nil, nil, err
	}
	c, err := Parse(text, dir)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded default config: %w", err)
	}
	return c, text, nil
}

func renderDefault(p defaultParams) ([]byte, error) {
	t, err := template.New("default.yaml").Option("missingkey=error").Parse(defaultTemplateText)
	if err != nil {
		return nil, fmt.Errorf("embedded default config template: %w", err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		return nil, fmt.Errorf("embedded default config template: %w", err)
	}
	return buf.Bytes(), nil
}

const (
	accessKeyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	secretKeyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// randomString returns n characters drawn uniformly from alphabet (at most
// 256 symbols) with crypto/rand, by rejection sampling.
func randomString(alphabet string, n int) (string, error) {
	limit := 256 - 256%len(alphabet) // bytes at or above limit would bias
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("generate credentials: %w", err)
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			out = append(out, alphabet[int(b)%len(alphabet)])
			if len(out) == n {
				break
			}
		}
	}
	return string(out), nil
}

// WriteDefault writes a fresh default config (see Default) to path with
// mode 0600, creating missing parent directories with mode 0700. The file
// appears atomically and complete; if path already exists WriteDefault
// leaves it untouched and returns an error wrapping fs.ErrExist.
func WriteDefault(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("write default config %s: %w", path, err)
	}
	dir := filepath.Dir(abs)
	if _, err := os.Lstat(abs); err == nil {
		return fmt.Errorf("write default config %s: %w", abs, fs.ErrExist)
	}
	_, text, err := Default(dir)
	if err != nil {
		return fmt.Errorf("write default config %s: %w", abs, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write default config: %w", err)
	}
	if err := writeNew(abs, text); err != nil {
		return fmt.Errorf("write default config %s: %w", abs, err)
	}
	return nil
}

// writeNew writes data to a temporary file next to path, syncs it and
// links it into place, so path either does not exist or is complete; the
// link fails rather than replace an existing path.
func writeNew(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if rmErr := os.Remove(tmp); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) && err == nil {
			err = rmErr
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		return err // an existing path matches fs.ErrExist
	}
	return syncDir(dir)
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}
