package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/backends/local"
	"github.com/twincrypt/twincrypt/config"
)

// TestOpenStoreBackends opens the store of an initialized config whose
// second backend's directory is broken in different ways: a maintenance
// command creates a missing directory and fails on a path that cannot be
// one; serve starts with a missing directory (and does not create it) and
// fails only on a path that cannot be one.
func TestOpenStoreBackends(t *testing.T) {
	tests := []struct {
		name      string
		damage    func(t *testing.T, dir string)
		serve     bool
		wantErr   bool
		wantDown  bool // serve: the backend starts unreachable
		wantExist bool // the directory exists afterwards
	}{
		{"maintenance, directory missing", removeDir, false, false, false, true},
		{"maintenance, a file in the way", fileInTheWay, false, true, false, false},
		{"serve, directory missing", removeDir, true, false, true, false},
		{"serve, a file in the way", fileInTheWay, true, true, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfgPath, _ := initialized(t)
			cfg, err := config.LoadWithEnv(cfgPath, nil)
			if err != nil {
				t.Fatal(err)
			}
			dir := cfg.Backends[1].Path
			tc.damage(t, dir)
			var logs bytes.Buffer
			c := &cli{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: func(k string) string { return passEnv("passphrase-one")[k] }}
			log := slog.New(slog.NewTextHandler(&logs, nil))
			open := openStore
			if tc.serve {
				open = openServeStore
			}
			st, err := open(context.Background(), c, cfg, log)
			if (err != nil) != tc.wantErr {
				t.Fatalf("open: %v, want error %v", err, tc.wantErr)
			}
			if err == nil {
				defer st.Close()
				if down := st.members[1].Unreachable != nil; down != tc.wantDown {
					t.Errorf("backend unreachable at start: %v, want %v (%v)", down, tc.wantDown, st.members[1].Unreachable)
				}
				if tc.wantDown && !strings.Contains(logs.String(), "backend unreachable at start") {
					t.Errorf("log:\n%s", logs.String())
				}
				if _, ok := st.members[1].Backend.(*local.Backend); !ok {
					t.Errorf("backend %T", st.members[1].Backend)
				}
			}
			fi, serr := os.Stat(dir)
			if exists := serr == nil && fi.IsDir(); exists != tc.wantExist {
				t.Errorf("directory exists afterwards: %v, want %v", exists, tc.wantExist)
			}
		})
	}
}

func removeDir(t *testing.T, dir string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
}

func fileInTheWay(t *testing.T, dir string) {
	t.Helper()
	removeDir(t, dir)
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}
