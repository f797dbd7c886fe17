package keyring

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestRecoveryKeyRoundTrip(t *testing.T) {
	k, _ := newKeyring(t)
	rk := k.RecoveryKey()
	if !regexp.MustCompile(`^[A-Z2-7]{4}(-[A-Z2-7]{4}){14}$`).MatchString(rk) {
		t.Fatalf("recovery key %q is not 15 groups of 4 base32 characters", rk)
	}
	want, err := ParseRecoveryKey(rk)
	if err != nil {
		t.Fatalf("ParseRecoveryKey(%q): %v", rk, err)
	}
	if want != k.master {
		t.Fatal("recovery key does not decode to the master key")
	}
	plain := strings.ReplaceAll(rk, "-", "")
	variants := map[string]string{
		"lowercase":      strings.ToLower(rk),
		"no dashes":      plain,
		"spaces":         strings.ReplaceAll(rk, "-", " "),
		"lines":          "\n  " + plain[:20] + "\r\n" + plain[20:40] + "\n\t" + plain[40:] + "\n",
		"mixed case":     strings.ToLower(rk[:30]) + rk[30:],
		"digit O and I":  strings.NewReplacer("O", "0", "I", "1").Replace(rk),
		"extra dashes":   "--" + strings.ReplaceAll(rk, "-", "--") + "-",
		"groups of five": groups(plain, 5, " "),
	}
	for name, s := range variants {
		got, err := ParseRecoveryKey(s)
		if err != nil {
			t.Errorf("%s: ParseRecoveryKey(%q): %v", name, s, err)
			continue
		}
		if got != want {
			t.Errorf("%s: decoded a different key", name)
		}
	}
}

func groups(s string, n int, sep string) string {
	var parts []string
	for len(s) > n {
		parts = append(parts, s[:n])
		s = s[n:]
	}
	return strings.Join(append(parts, s), sep)
}

// TestRecoveryKeyTypos checks that every single-character substitution and
// every adjacent transposition is caught by the checksum.
func TestRecoveryKeyTypos(t *testing.T) {
	k, _ := newKeyring(t)
	plain := []byte(strings.ReplaceAll(k.RecoveryKey(), "-", ""))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	n := 0
	for i := range plain {
		for _, c := range []byte(alphabet) {
			if c == plain[i] {
				continue
			}
			typo := []byte(string(plain))
			typo[i] = c
			if _, err := ParseRecoveryKey(string(typo)); !errors.Is(err, ErrBadRecoveryKey) {
				t.Fatalf("substitution at %d (%c): err = %v, want ErrBadRecoveryKey", i, c, err)
			}
			n++
		}
		if i+1 < len(plain) && plain[i] != plain[i+1] {
			typo := []byte(string(plain))
			typo[i], typo[i+1] = typo[i+1], typo[i]
			if _, err := ParseRecoveryKey(string(typo)); !errors.Is(err, ErrBadRecoveryKey) {
				t.Fatalf("transposition at %d: err = %v, want ErrBadRecoveryKey", i, err)
			}
			n++
		}
	}
	if n < 60*31 {
		t.Fatalf("only %d typos checked", n)
	}
}

func TestParseRecoveryKeyErrors(t *testing.T) {
	k, _ := newKeyring(t)
	rk := k.RecoveryKey()
	tests := []struct {
		name, in, msg string
	}{
		{"empty", "", "0 characters"},
		{"short", rk[:len(rk)-1], "59 characters"},
		{"long", rk + "A", "61 characters"},
		{"foreign digit", "8" + rk[1:], "not in the alphabet"},
		{"punctuation", rk[:5] + "!" + rk[6:], "not in the alphabet"},
		{"non-ASCII", "Ä" + rk[1:], "not in the alphabet"},
		{"all A", strings.Repeat("A", 60), "checksum"},
		{"trailing bits", rk[:len(rk)-1] + flipLast(rk[len(rk)-1]), "checksum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRecoveryKey(tt.in)
			if !errors.Is(err, ErrBadRecoveryKey) {
				t.Fatalf("err = %v, want ErrBadRecoveryKey", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to mention %q", err, tt.msg)
			}
			if got != [32]byte{} {
				t.Error("key bytes returned with an error")
			}
		})
	}
}

// flipLast changes only the 4 unused low bits of the final character.
func flipLast(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	i := strings.IndexByte(alphabet, c)
	return string(alphabet[i^0x01])
}

func FuzzParseRecoveryKey(f *testing.F) {
	var m [32]byte
	f.Add(encodeRecoveryKey(&m))
	f.Add("")
	f.Add("abcd-efgh")
	f.Fuzz(func(t *testing.T, s string) {
		key, err := ParseRecoveryKey(s)
		if err != nil {
			if !errors.Is(err, ErrBadRecoveryKey) {
				t.Fatalf("error does not wrap ErrBadRecoveryKey: %v", err)
			}
			return
		}
		again, err := ParseRecoveryKey(encodeRecoveryKey(&key))
		if err != nil || again != key {
			t.Fatalf("accepted key does not round-trip: %v", err)
		}
	})
}
