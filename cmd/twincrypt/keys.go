package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/twincrypt/twincrypt/config"
	"github.com/twincrypt/twincrypt/keyring"
)

// keysCommand is one "twincrypt keys" subcommand.
type keysCommand struct {
	name, summary string
	run           func(ctx context.Context, c *cli, args []string) error
}

func keysCommands() []keysCommand {
	return []keysCommand{
		{"passwd", "change the keyring passphrase (rewraps only the master key)", runKeysPasswd},
		{"rotate", "add a new key-encryption key and make it current", runKeysRotate},
		{"export-recovery", "print the recovery key to stdout", runKeysExportRecovery},
		{"import-recovery", "recreate the keyring from a recovery key", runKeysImportRecovery},
		{"rewrap", "put every object's data keys under the current key-encryption key", runKeysRewrap},
	}
}

// runKeys implements "twincrypt keys <subcommand>".
func runKeys(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 {
		keysUsage(c.stderr)
		return fmt.Errorf("%w: missing subcommand", errUsage)
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		keysUsage(c.stdout)
		return flag.ErrHelp
	}
	for _, cmd := range keysCommands() {
		if cmd.name == name {
			return cmd.run(ctx, c, args[1:])
		}
	}
	keysUsage(c.stderr)
	return fmt.Errorf("%w: unknown subcommand %q", errUsage, name)
}

func keysUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: twincrypt keys <subcommand> -c FILE [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "subcommands:")
	for _, cmd := range keysCommands() {
		fmt.Fprintf(w, "  %-16s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Passphrases come from "+envPassphrase+" (and "+envNewPassphrase+" for the new one")
	fmt.Fprintln(w, "of passwd), else from a prompt on the terminal.")
	fmt.Fprintln(w, "Run 'twincrypt keys <subcommand> --help' for its flags.")
}

// keysFlags parses the flags every keys subcommand shares and returns the
// loaded config. extra defines further flags before parsing.
func keysFlags(c *cli, name, synopsis string, args []string, extra func(*flag.FlagSet)) (*config.Config, error) {
	flags := newFlagSet(c, "keys "+name, "-c FILE [flags]\n\n"+synopsis+"\n\nflags:")
	cfgPath := flags.String("c", "", "config `FILE` (required)")
	if extra != nil {
		extra(flags)
	}
	if err := parseFlags(flags, args); err != nil {
		return nil, err
	}
	if *cfgPath == "" {
		return nil, fmt.Errorf("%w: -c FILE is required", errUsage)
	}
	return config.LoadWithEnv(*cfgPath, c.getenv)
}

// unlockKeyring asks for the passphrase and opens the keyring cfg names.
func unlockKeyring(ctx context.Context, c *cli, cfg *config.Config) (*keyring.Keyring, error) {
	if c.running != nil {
		// Inside the gateway: its keyring, after checking the
		// passphrase the caller sent, if any (keys rotate and passwd
		// require one: see runRemote).
		if c.getenv(envPassphrase) != "" {
			if _, err := keyring.Open(cfg.Keyring, []byte(c.getenv(envPassphrase))); err != nil {
				return nil, err
			}
		}
		return c.running.keys, nil
	}
	if c.unlocked != nil && c.unlockedPath == cfg.Keyring {
		return c.unlocked, nil
	}
	if _, err := os.Stat(cfg.Keyring); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no keyring at %s: run 'twincrypt init' first", cfg.Keyring)
	}
	pass, err := readPassphrase(c, envPassphrase, "Passphrase: ", false)
	if err != nil {
		return nil, err
	}
	defer clear(pass)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return keyring.Open(cfg.Keyring, pass)
}

func runKeysPasswd(ctx context.Context, c *cli, args []string) error {
	var kdf *kdfFlags
	cfg, err := keysFlags(c, "passwd", "Changes the keyring passphrase: the master key is rewrapped under the new\n"+
		"passphrase with a fresh salt; every derived key stays the same. The current\n"+
		"passphrase comes from "+envPassphrase+", the new one from "+envNewPassphrase+",\n"+
		"else both from prompts. The -kdf flags change the Argon2id parameters.",
		args, func(f *flag.FlagSet) { kdf = addKDFFlags(f) })
	if err != nil {
		return err
	}
	k, err := unlockKeyring(ctx, c, cfg)
	if err != nil {
		return err
	}
	params, err := kdf.params(k.Params())
	if err != nil {
		return err
	}
	newPass, err := readNewPassphrase(c, envNewPassphrase, "New passphrase: ")
	if err != nil {
		return err
	}
	defer clear(newPass)
	if err := ctx.Err(); err != nil {
		return err
	}
	if kdf.set() {
		err = k.Rewrap(newPass, params)
	} else {
		err = k.ChangePassphrase(newPass)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "passphrase of %s changed\n", k.Path())
	return nil
}

func runKeysRotate(ctx context.Context, c *cli, args []string) error {
	cfg, err := keysFlags(c, "rotate", "Adds a new key-encryption key and makes it current: new objects are wrapped\n"+
		"under it, and objects wrapped under older ones stay readable.", args, nil)
	if err != nil {
		return err
	}
	k, err := unlockKeyring(ctx, c, cfg)
	if err != nil {
		return err
	}
	id, err := k.Rotate()
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "current key-encryption key of %s is now %d\n", k.Path(), id)
	return nil
}

func runKeysExportRecovery(ctx context.Context, c *cli, args []string) error {
	cfg, err := keysFlags(c, "export-recovery", "Prints the recovery key to stdout. It holds the master key: anyone who has it\n"+
		"can read all data. Write it down and keep it offline.", args, nil)
	if err != nil {
		return err
	}
	k, err := unlockKeyring(ctx, c, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "Recovery key of %s: write it down and keep it offline.\n", k.Path())
	fmt.Fprintf(c.stderr, "The current key-encryption key is %d (keys import-recovery -kek-id %d resumes there).\n", k.CurrentKEKID(), k.CurrentKEKID())
	fmt.Fprintln(c.stdout, k.RecoveryKey())
	return nil
}

func runKeysImportRecovery(ctx context.Context, c *cli, args []string) error {
	var (
		kdf   *kdfFlags
		force *bool
		kekID *uint
	)
	cfg, err := keysFlags(c, "import-recovery", "Recreates the keyring from a recovery key, read from "+envRecoveryKey+"\n"+
		"or stdin, under a new passphrase from "+envPassphrase+" or a prompt.\n"+
		"Every key-encryption key ever used resolves again, since all are derived\n"+
		"from the master key. An existing keyring is only replaced with -force.",
		args, func(f *flag.FlagSet) {
			kdf = addKDFFlags(f)
			force = f.Bool("force", false, "replace an existing keyring")
			kekID = f.Uint("kek-id", 1, "current key-encryption key `id` of the restored keyring")
		})
	if err != nil {
		return err
	}
	if *kekID == 0 || uint64(*kekID) > 1<<32-1 {
		return fmt.Errorf("%w: -kek-id must be between 1 and %d", errUsage, uint64(1<<32-1))
	}
	params, err := kdf.params(keyring.DefaultParams())
	if err != nil {
		return err
	}
	if _, err := os.Lstat(cfg.Keyring); err == nil && !*force {
		return fmt.Errorf("%s: %w (use -force to replace it)", cfg.Keyring, keyring.ErrExists)
	}

	text, err := readRecoveryKey(c)
	if err != nil {
		return err
	}
	master, err := keyring.ParseRecoveryKey(text)
	if err != nil {
		return err
	}
	defer clear(master[:])
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
	opts := []keyring.RestoreOption{keyring.WithCurrentKEK(uint32(*kekID))}
	if *force {
		opts = append(opts, keyring.WithOverwrite())
	}
	k, err := keyring.Restore(cfg.Keyring, master, pass, params, opts...)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "restored keyring %s (current key-encryption key %d)\n", k.Path(), k.CurrentKEKID())
	return nil
}

// readRecoveryKey returns the recovery key from the environment, else from
// one line typed on the terminal, else from all of stdin.
func readRecoveryKey(c *cli) (string, error) {
	if v := c.getenv(envRecoveryKey); strings.TrimSpace(v) != "" {
		return v, nil
	}
	if c.term {
		fmt.Fprint(c.stderr, "Recovery key: ")
		line, err := readLine(c.stdin)
		if err != nil {
			return "", fmt.Errorf("read recovery key: %w", err)
		}
		return string(line), nil
	}
	b, err := io.ReadAll(io.LimitReader(c.stdin, maxLine+1))
	if err != nil {
		return "", fmt.Errorf("read recovery key from stdin: %w", err)
	}
	if len(b) > maxLine {
		return "", fmt.Errorf("read recovery key from stdin: more than %d bytes", maxLine)
	}
	if strings.TrimSpace(string(b)) == "" {
		return "", fmt.Errorf("no recovery key: set %s or pipe it to stdin", envRecoveryKey)
	}
	return string(b), nil
}
