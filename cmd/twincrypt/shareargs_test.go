package main

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

// TestParseInterleavedShareID: a share id that starts with '-' (one in 64
// do: base64url has '-') is an argument, before, after or between flags;
// anything else that starts with '-' is still a flag.
func TestParseInterleavedShareID(t *testing.T) {
	const id = "-mxE8kZwFX7CAw8gk6vYPw"
	tests := []struct {
		args    []string
		wantPos []string
		wantC   string
		wantErr string
	}{
		{args: []string{"-c", "f.yaml", id}, wantPos: []string{id}, wantC: "f.yaml"},
		{args: []string{id, "-c", "f.yaml"}, wantPos: []string{id}, wantC: "f.yaml"},
		{args: []string{"-c", "f.yaml", "--", id}, wantPos: []string{id}, wantC: "f.yaml"},
		{args: []string{"-c", "f.yaml", "AmxE8kZwFX7CAw8gk6vYPw"}, wantPos: []string{"AmxE8kZwFX7CAw8gk6vYPw"}, wantC: "f.yaml"},
		{args: []string{"-c", "f.yaml", "-x"}, wantErr: "flag provided but not defined: -x"},
		{args: []string{"-c", "f.yaml", "-mxE8kZwFX7CAw8gk6vY"}, wantErr: "flag provided but not defined: -mxE8kZwFX7CAw8gk6vY"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fs := flag.NewFlagSet("share revoke", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c := fs.String("c", "", "config")
			pos, err := parseInterleaved(fs, tt.args, isShareID)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(pos, tt.wantPos) || *c != tt.wantC {
				t.Fatalf("positional %q, -c %q, %v; want %q, %q", pos, *c, err, tt.wantPos, tt.wantC)
			}
		})
	}
}
