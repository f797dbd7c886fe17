package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestMoveAside: moving the catalog aside never replaces a file. Two
// moves within one second (a run that failed quickly, then a retry with
// --force) keep both moved-aside files, each byte for byte as it was, and
// a name taken beforehand is left alone.
func TestMoveAside(t *testing.T) {
	now := time.Date(2026, 11, 30, 6, 9, 44, 0, time.UTC)
	const stamp = ".old-20261130T060944Z"
	for _, tc := range []struct {
		name  string
		taken []string // suffixes of path that exist beforehand
		moves int      // catalogs written at path and moved aside in the same second
		want  []string // the suffixes of the names used, in order
	}{
		{name: "one move", moves: 1, want: []string{stamp}},
		{name: "two moves in one second", moves: 2, want: []string{stamp, stamp + "-2"}},
		{name: "three moves in one second", moves: 3, want: []string{stamp, stamp + "-2", stamp + "-3"}},
		{name: "names taken beforehand", taken: []string{stamp, stamp + "-2"}, moves: 2, want: []string{stamp + "-3", stamp + "-4"}},
		{name: "a gap", taken: []string{stamp + "-2"}, moves: 2, want: []string{stamp, stamp + "-3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "catalog.db")
			files := map[string][]byte{} // every file that must survive, with its bytes
			for i, s := range tc.taken {
				data := []byte("taken beforehand " + string(rune('a'+i)))
				if err := os.WriteFile(path+s, data, 0o600); err != nil {
					t.Fatal(err)
				}
				files[path+s] = data
			}
			for i := range tc.moves {
				data := bytes.Repeat([]byte{byte('0' + i)}, 100+i)
				if err := os.WriteFile(path, data, 0o600); err != nil {
					t.Fatal(err)
				}
				got, err := moveAside(path, now)
				if err != nil {
					t.Fatalf("move %d: %v", i+1, err)
				}
				if want := path + tc.want[i]; got != want {
					t.Errorf("move %d: moved to %s, want %s", i+1, got, want)
				}
				files[got] = data
				if _, err := os.Lstat(path); !os.IsNotExist(err) {
					t.Errorf("move %d: %s still there: %v", i+1, path, err)
				}
			}
			for name, want := range files {
				if got, err := os.ReadFile(name); err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: %q, %v; want %q", name, got, err, want)
				}
			}
			if left, _ := filepath.Glob(path + ".old-*"); len(left) != len(files) {
				t.Errorf("files beside the catalog: %v; want %d", left, len(files))
			}
		})
	}
}

// TestMoveAsideMissing: a path that is not there is an error, and
// nothing is created.
func TestMoveAsideMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	if name, err := moveAside(path, time.Now()); !os.IsNotExist(err) {
		t.Errorf("moveAside of a missing file: %q, %v; want not-exist", name, err)
	}
	if left, _ := filepath.Glob(path + "*"); len(left) != 0 {
		t.Errorf("files left: %v", left)
	}
}
