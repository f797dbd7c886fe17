package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/backends/local"
	"github.com/twincrypt/twincrypt/gateway"
)

// TestRecoverManyFailures recovers a backend with more unreadable records
// than the report lists: the output counts them all, lists the first
// gateway.RecoverListMax and says where the rest are; the log names each.
func TestRecoverManyFailures(t *testing.T) {
	cfg, _ := populated(t, map[string][]byte{"ok.txt": []byte("fine")})
	be, err := local.New("b0", cfg.Backends[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	bad := gateway.RecoverListMax + 2
	for i := range bad {
		name := fmt.Sprintf("m/%064x", i+1)
		junk := []byte("not a sealed record")
		if err := be.Put(context.Background(), name, bytes.NewReader(junk), int64(len(junk))); err != nil {
			t.Fatal(err)
		}
	}
	be.Close()
	out := filepath.Join(t.TempDir(), "restored")
	r := runCLI(t, "", passEnv("passphrase-one"), false, "recover", "--keyring", cfg.Keyring, "--backend", cfg.Backends[0].Path, "--to", out)
	r.expect(t, 1)
	if !strings.Contains(r.stdout, "1 objects") || number(t, r.stdout, "failed:") != bad {
		t.Errorf("stdout:\n%.500s", r.stdout)
	}
	if got := strings.Count(r.stdout, "\n  m/"); got != gateway.RecoverListMax {
		t.Errorf("%d failures listed, want %d", got, gateway.RecoverListMax)
	}
	if !strings.Contains(r.stdout, "... and 2 more, each logged on stderr") {
		t.Errorf("no note of the failures left out:\n%s", r.stdout[max(0, len(r.stdout)-300):])
	}
	if got := strings.Count(r.stderr, `msg="not recovered"`); got != bad {
		t.Errorf("%d failures logged, want %d", got, bad)
	}
}
