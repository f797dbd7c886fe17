package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/config"
)

func TestInitPassphraseSources(t *testing.T) {
	tests := []struct {
		name      string
		stdin     string
		env       map[string]string
		term      bool
		code      int
		stderrHas string
		pass      string
	}{
		{"env", "", passEnv("from-the-environment"), false, 0, "", "from-the-environment"},
		{"env wins over terminal", "typed-at-a-prompt\ntyped-at-a-prompt\n", passEnv("from-the-environment"), true, 0, "", "from-the-environment"},
		{"prompt", "typed-at-a-prompt\ntyped-at-a-prompt\n", nil, true, 0, "New passphrase: ", "typed-at-a-prompt"},
		{"prompt CRLF", "typed-at-a-prompt\r\ntyped-at-a-prompt\r\n", nil, true, 0, "Repeat new passphrase: ", "typed-at-a-prompt"},
		{"neither", "", nil, false, 1, "no passphrase: set TWINCRYPT_PASSPHRASE or run on a terminal", ""},
		{"mismatch", "typed\ntypo\n", nil, true, 1, "passphrases do not match", ""},
		{"empty", "\n\n", nil, true, 1, "empty passphrase refused", ""},
		{"eof", "", nil, true, 1, "no input", ""},
		{"no repeat", "typed\n", nil, true, 1, "no input", ""},
		{"short in env", "", passEnv("elevenchars"), false, 1, "has 11 characters, fewer than the 12 required", ""},
		{"short typed", "short\nshort\n", nil, true, 1, "has 5 characters, fewer than the 12 required", ""},
		{"twelve characters of UTF-8", "", passEnv("ääääääääääää"), false, 0, "", "ääääääääääää"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfgPath := filepath.Join(dir, "c.yaml")
			runCLI(t, tt.stdin, tt.env, tt.term, args("init", "-c", cfgPath)...).expect(t, tt.code, tt.stderrHas)
			krPath := filepath.Join(dir, config.DefaultKeyring)
			if tt.code != 0 {
				for _, p := range []string{krPath, cfgPath} {
					if _, err := os.Stat(p); !os.IsNotExist(err) {
						t.Errorf("%s exists after failed init (stat: %v)", p, err)
					}
				}
				return
			}
			openKR(t, krPath, tt.pass)
		})
	}
}

func TestReadLine(t *testing.T) {
	tests := []struct {
		in, want, rest string
		err            bool
	}{
		{"abc\ndef", "abc", "def", false},
		{"abc\r\n", "abc", "", false},
		{"abc", "abc", "", false},
		{"\n", "", "", false},
		{"", "", "", true},
		{strings.Repeat("x", maxLine+10) + "\n", "", "", true},
	}
	for _, tt := range tests {
		r := strings.NewReader(tt.in)
		got, err := readLine(r)
		if (err != nil) != tt.err {
			t.Errorf("readLine(%.10q): err = %v", tt.in, err)
			continue
		}
		if tt.err {
			continue
		}
		rest, _ := io.ReadAll(r)
		if string(got) != tt.want || string(rest) != tt.rest {
			t.Errorf("readLine(%q) = %q, rest %q; want %q, rest %q", tt.in, got, rest, tt.want, tt.rest)
		}
	}
}
