package main

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"unicode/utf8"

	"golang.org/x/term"
)

// maxLine bounds one line of terminal input (a passphrase or recovery key).
const maxLine = 4096

// errNoInput means a prompt got end of input before anything was typed.
var errNoInput = errors.New("no input")

// isTerminal reports whether f is an interactive terminal.
func isTerminal(f *os.File) bool {
	return term.IsTerminal(int(f.Fd()))
}

// readPassphrase returns the passphrase held in the environment variable
// envVar or, failing that, asks for it on the terminal with prompt, written
// as is to stderr (twice when confirm is set, for a new passphrase: the
// second time as "Repeat " and the prompt). With neither, and for an empty
// passphrase, it returns an error. The caller should clear the result after
// use.
func readPassphrase(c *cli, envVar, prompt string, confirm bool) ([]byte, error) {
	if v := c.getenv(envVar); v != "" {
		return []byte(v), nil
	}
	if !c.term {
		return nil, fmt.Errorf("no passphrase: set %s or run on a terminal", envVar)
	}
	p, err := promptSecret(c, prompt)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if len(p) == 0 {
		return nil, errors.New("empty passphrase refused")
	}
	if confirm {
		again, err := promptSecret(c, "Repeat "+lowerFirst(prompt))
		if err != nil {
			clear(p)
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		same := subtle.ConstantTimeCompare(p, again) == 1
		clear(again)
		if !same {
			clear(p)
			return nil, errors.New("passphrases do not match")
		}
	}
	return p, nil
}

// minPassphraseLen is the fewest characters a new keyring passphrase may
// have. Keyrings made earlier with shorter ones still open.
const minPassphraseLen = 12

// readNewPassphrase is readPassphrase for a new keyring passphrase, asked
// for twice at a prompt, which must have at least minPassphraseLen
// characters.
func readNewPassphrase(c *cli, envVar, prompt string) ([]byte, error) {
	p, err := readPassphrase(c, envVar, prompt, true)
	if err != nil {
		return nil, err
	}
	if err := checkNewPassphrase(p, envVar); err != nil {
		clear(p)
		return nil, err
	}
	return p, nil
}

// checkNewPassphrase refuses a passphrase of fewer than minPassphraseLen
// characters; envVar names where it may have come from.
func checkNewPassphrase(p []byte, envVar string) error {
	if n := utf8.RuneCount(p); n < minPassphraseLen {
		return fmt.Errorf("the new passphrase (%s or typed) has %d characters, fewer than the %d required: choose a longer one", envVar, n, minPassphraseLen)
	}
	return nil
}

// promptSecret writes prompt to stderr and reads one line from stdin,
// without echo when stdin is a real terminal.
func promptSecret(c *cli, prompt string) ([]byte, error) {
	fmt.Fprint(c.stderr, prompt)
	if f, ok := c.stdin.(*os.File); ok && isTerminal(f) {
		p, err := readNoEcho(int(f.Fd()))
		fmt.Fprintln(c.stderr)
		return p, err
	}
	return readLine(c.stdin)
}

// errInterrupted means the user pressed Ctrl-C at a prompt.
var errInterrupted = errors.New("interrupted")

// readNoEcho reads a line from the terminal fd without echo. An interrupt
// (Ctrl-C) restores the terminal and returns errInterrupted at once, since
// the command's own signal handling would otherwise only see it after Enter.
func readNoEcho(fd int) ([]byte, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return nil, err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	type result struct {
		p   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := term.ReadPassword(fd)
		done <- result{p, err}
	}()
	select {
	case r := <-done:
		return r.p, r.err
	case <-sig:
		// The reader goroutine stays blocked until the process exits.
		_ = term.Restore(fd, state)
		return nil, errInterrupted
	}
}

// readLine reads up to a newline, one byte at a time so that nothing after
// the line is consumed, and strips the line ending.
func readLine(r io.Reader) ([]byte, error) {
	// Room for the longest line up front, so that no copy of a secret is
	// left behind by a growing slice.
	line := make([]byte, 0, maxLine+1)
	var b [1]byte
	for len(line) <= maxLine {
		n, err := r.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				return bytes.TrimSuffix(line, []byte("\r")), nil
			}
			line = append(line, b[0])
			continue
		}
		if errors.Is(err, io.EOF) {
			if len(line) == 0 {
				return nil, errNoInput
			}
			return bytes.TrimSuffix(line, []byte("\r")), nil
		}
		if err != nil {
			clear(line)
			return nil, err
		}
	}
	clear(line)
	return nil, fmt.Errorf("input line longer than %d bytes", maxLine)
}

func lowerFirst(s string) string {
	if s != "" && s[0] >= 'A' && s[0] <= 'Z' {
		return string(s[0]+'a'-'A') + s[1:]
	}
	return s
}
