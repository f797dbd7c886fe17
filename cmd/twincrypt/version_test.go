package main

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestPrintVersion(t *testing.T) {
	for _, tt := range []struct {
		name string
		info *debug.BuildInfo
		want []string
	}{
		{"no build info", nil, []string{"twincrypt unknown\n", "commit:     unknown\n", "go version: " + runtime.Version() + "\n"}},
		{"no vcs (-buildvcs=false)", &debug.BuildInfo{GoVersion: "go1.26.11", Main: debug.Module{Path: "github.com/twincrypt/twincrypt", Version: "(devel)"}},
			[]string{"twincrypt (devel)\n", "commit:     unknown\n", "go version: go1.26.11\n"}},
		{"release with vcs", &debug.BuildInfo{GoVersion: "go1.26.11", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "4ecf85f0123456789"}, {Key: "vcs.time", Value: "2026-11-29T12:00:00Z"}, {Key: "vcs.modified", Value: "true"},
		}}, []string{"twincrypt v1.2.3\n", "commit:     4ecf85f0123456789 2026-11-29T12:00:00Z (with uncommitted changes)\n"}},
	} {
		var b bytes.Buffer
		printVersion(&b, tt.info)
		for _, w := range tt.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: output %q lacks %q", tt.name, b.String(), w)
			}
		}
	}
}

func TestVersionCommand(t *testing.T) {
	for _, a := range [][]string{{"version"}, {"--version"}} {
		r := runCLI(t, "", nil, false, a...)
		r.expect(t, 0)
		if !strings.HasPrefix(r.stdout, "twincrypt ") || !strings.Contains(r.stdout, "commit:") || !strings.Contains(r.stdout, "go version: go") {
			t.Errorf("%v: %q", a, r.stdout)
		}
	}
	runCLI(t, "", nil, false, "version", "extra").expect(t, 2, "unexpected argument")
	if r := runCLI(t, "", nil, false, "help"); !strings.Contains(r.stdout, "version") {
		t.Errorf("help does not list version: %q", r.stdout)
	}
}
