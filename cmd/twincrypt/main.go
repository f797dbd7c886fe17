// Command twincrypt is the encrypting storage gateway: it serves S3 and WebDAV
// to local programs and stores every object, encrypted, on two providers.
//
// This package holds only the command line: subcommands, flags and wiring.
// Everything else lives in the library packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/twincrypt/twincrypt/keyring"
)

// cli is what a subcommand may touch of the outside world, so that tests can
// run subcommands in-process with their own streams and environment.
type cli struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// term reports whether stdin is an interactive terminal.
	term bool
	// running is the serving gateway's store when the command runs
	// inside it, through the admin API (remote.go); nil otherwise.
	running *store
	// again receives the interrupt signals that arrive after the first
	// one (which cancels the command's context); nil in tests that do
	// not send any. serve stops waiting for in-flight requests on one.
	again <-chan os.Signal
	// unlocked, when not nil, is the keyring a command unlocked already
	// (at unlockedPath): unlockKeyring returns it instead of asking for
	// the passphrase again.
	unlocked     *keyring.Keyring
	unlockedPath string
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, c *cli, args []string) error
}

// commands lists the subcommands in the order help shows them.
func commands() []command {
	return []command{
		{"serve", "serve S3 and WebDAV until SIGINT/SIGTERM (SIGHUP reloads the TLS certificate)", runServe},
		{"init", "create the keyring (and a default config file)", runInit},
		{"keys", "manage keys: passwd, rotate, rewrap, export-recovery, import-recovery", runKeys},
		{"scrub", "check every backend holds every blob and meta record (--deep: authenticate)", runScrub},
		{"repair", "copy missing or corrupt blobs and meta records between backends, delete superseded ones", runRepair},
		{"gc", "delete blobs nothing references and superseded meta records (left by crashes)", runGC},
		{"recover", "restore every object (--all-versions: every version) as plain files from one backend and the keyring", runRecover},
		{"share", "make, list and revoke share links: create, list, revoke", runShare},
		{"get", "download a share link: a file, or a folder's files (no config needed)", runGet},
		{"rebuild-catalog", "rebuild the catalog from the meta records on every backend (--from: one)", runRebuildCatalog},
		{"migrate-catalog", "copy the catalog into Redis or an embedded file, then scrub against it", runMigrateCatalog},
		{"version", "print the version, the commit it was built from and the Go version", runVersion},
	}
}

// errUsage marks an error caused by wrong command-line usage.
var errUsage = errors.New("usage")

func main() {
	ctx, again, stop := notifySignals()
	c := &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, term: isTerminal(os.Stdin), again: again}
	code := run(ctx, c, os.Args[1:])
	stop()
	os.Exit(code)
}

// notifySignals returns a context that SIGINT or SIGTERM cancels, and a
// channel that receives every such signal after the first.
func notifySignals() (context.Context, <-chan os.Signal, func()) {
	sigc := make(chan os.Signal, 4)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	again := make(chan os.Signal, 4)
	done := make(chan struct{})
	go func() {
		first := true
		for {
			select {
			case s := <-sigc:
				if first {
					first = false
					cancel()
					continue
				}
				select {
				case again <- s:
				default:
				}
			case <-done:
				return
			}
		}
	}()
	return ctx, again, func() {
		signal.Stop(sigc)
		close(done)
		cancel()
	}
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, c *cli, args []string) int {
	if len(args) == 0 {
		// With no arguments at all, serve the embedded default.
		args = []string{"serve"}
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "help" {
		usage(c.stdout)
		return 0
	}
	if name == "--version" || name == "-version" {
		name, args = "version", []string{"version"}
	}
	if code, ok := runRemote(ctx, c, args); ok {
		return code
	}
	for _, cmd := range commands() {
		if cmd.name != name {
			continue
		}
		err := cmd.run(ctx, c, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(c.stderr, "twincrypt %s: %v\n", name, err)
			return 2
		default:
			fmt.Fprintf(c.stderr, "twincrypt %s: %v\n", name, err)
			return 1
		}
	}
	fmt.Fprintf(c.stderr, "twincrypt: unknown command %q\n\n", name)
	usage(c.stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: twincrypt <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-16s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'twincrypt <command> --help' for a command's flags.")
}

// newFlagSet returns a flag set for a subcommand that writes its help to
// c.stderr and returns errors instead of exiting.
func newFlagSet(c *cli, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("twincrypt "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "usage: twincrypt %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}
