package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/twincrypt/twincrypt/config"
	"github.com/twincrypt/twincrypt/keyring"
)

// Environment variables the key commands read.
const (
	envPassphrase    = "TWINCRYPT_PASSPHRASE"
	envNewPassphrase = "TWINCRYPT_NEW_PASSPHRASE"
	envRecoveryKey   = "TWINCRYPT_RECOVERY_KEY"
)

// runInit implements "twincrypt init": it writes a default config file if
// there is none, creates the keyring the config names and the directories
// of its local backends. It is all or nothing up to the keyring: a config
// file it wrote is removed again if the keyring cannot be created.
func runInit(ctx context.Context, c *cli, args []string) (err error) {
	flags := newFlagSet(c, "init", "-c FILE [flags]\n\n"+
		"Creates the keyring named by the config file's keyring: key, the config\n"+
		"file itself with defaults if it does not exist, and the directories of\n"+
		"local backends (serve never creates them). The passphrase comes from\n"+
		envPassphrase+", else from a prompt on the terminal.\n\nflags:")
	cfgPath := flags.String("c", "", "config `FILE` (required)")
	kdf := addKDFFlags(flags)
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return fmt.Errorf("%w: -c FILE is required", errUsage)
	}
	params, err := kdf.params(keyring.DefaultParams())
	if err != nil {
		return err
	}

	_, statErr := os.Stat(*cfgPath)
	wroteConfig := errors.Is(statErr, fs.ErrNotExist)
	switch {
	case wroteConfig:
		if err := config.WriteDefault(*cfgPath); err != nil {
			return err
		}
		defer func() {
			if err != nil {
				if rmErr := os.Remove(*cfgPath); rmErr != nil {
					err = fmt.Errorf("%w (and removing the new config: %w)", err, rmErr)
				}
			}
		}()
	case statErr != nil:
		return fmt.Errorf("config: %w", statErr)
	}
	cfg, err := config.LoadWithEnv(*cfgPath, c.getenv)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(cfg.Keyring); err == nil {
		return fmt.Errorf("%s: %w (use 'twincrypt keys' to manage it)", cfg.Keyring, keyring.ErrExists)
	}

	pass, err := readNewPassphrase(c, envPassphrase, "New passphrase: ")
	if err != nil {
		return err
	}
	defer clear(pass)
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Keyring), 0o700); err != nil {
		return fmt.Errorf("keyring directory: %w", err)
	}
	k, err := keyring.Create(cfg.Keyring, pass, params)
	if err != nil {
		return err
	}
	if wroteConfig {
		fmt.Fprintf(c.stdout, "wrote default config %s\n", *cfgPath)
	}
	fmt.Fprintf(c.stdout, "created keyring %s (current key-encryption key %d)\n", k.Path(), k.CurrentKEKID())
	if err := makeBackendDirs(c, cfg); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "Keep a copy of the recovery key offline: twincrypt keys export-recovery -c %s\n", *cfgPath)
	return nil
}

// parseFlags parses args into flags and refuses positional arguments.
func parseFlags(flags *flag.FlagSet, args []string) error {
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, flags.Arg(0))
	}
	return nil
}

// kdfFlags are the optional Argon2id parameter flags of the commands that
// wrap the master key under a passphrase.
type kdfFlags struct {
	flags                    *flag.FlagSet
	time, memoryKiB, threads *uint
}

// addKDFFlags defines -kdf-time, -kdf-memory and -kdf-threads on flags.
func addKDFFlags(flags *flag.FlagSet) *kdfFlags {
	d := keyring.DefaultParams()
	return &kdfFlags{
		flags:     flags,
		time:      flags.Uint("kdf-time", uint(d.Time), "Argon2id passes (t)"),
		memoryKiB: flags.Uint("kdf-memory", uint(d.MemoryKiB), "Argon2id memory in `KiB` (m)"),
		threads:   flags.Uint("kdf-threads", uint(d.Threads), "Argon2id parallelism (p)"),
	}
}

// set reports whether any KDF flag was given.
func (f *kdfFlags) set() bool {
	given := false
	f.flags.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "kdf-time", "kdf-memory", "kdf-threads":
			given = true
		}
	})
	return given
}

// params returns base with the flags that were given applied, validated.
func (f *kdfFlags) params(base keyring.Params) (keyring.Params, error) {
	p := base
	var err error
	f.flags.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "kdf-time":
			p.Time, err = toUint32(*f.time, fl.Name, err)
		case "kdf-memory":
			p.MemoryKiB, err = toUint32(*f.memoryKiB, fl.Name, err)
		case "kdf-threads":
			var t uint32
			t, err = toUint32(*f.threads, fl.Name, err)
			if err == nil && t > 255 {
				err = fmt.Errorf("%w: -kdf-threads %d exceeds 255", errUsage, t)
			}
			if err == nil {
				p.Threads = uint8(t)
			}
		}
	})
	if err != nil {
		return p, err
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("%w: %w", errUsage, err)
	}
	return p, nil
}

func toUint32(v uint, name string, prev error) (uint32, error) {
	if prev != nil {
		return 0, prev
	}
	if uint64(v) > 1<<32-1 {
		return 0, fmt.Errorf("%w: -%s %d is too large", errUsage, name, v)
	}
	return uint32(v), nil
}

// makeBackendDirs creates the directories of cfg's local backends that do
// not exist yet. serve never creates them (a directory missing because its
// file system is not mounted must not be recreated on the wrong disk), so
// init, acting on the operator's request, does.
func makeBackendDirs(c *cli, cfg *config.Config) error {
	for _, b := range cfg.Backends {
		if b.Type != config.BackendLocal {
			continue
		}
		if _, err := os.Stat(b.Path); err == nil {
			continue
		}
		if err := os.MkdirAll(b.Path, 0o700); err != nil {
			return fmt.Errorf("backend %s: %w", b.Name, err)
		}
		fmt.Fprintf(c.stdout, "created the directory of backend %s: %s\n", b.Name, b.Path)
	}
	return nil
}
