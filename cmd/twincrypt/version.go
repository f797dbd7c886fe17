package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// runVersion implements "twincrypt version": the module version, the VCS
// commit the binary was built from and the Go version.
func runVersion(_ context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "version", "")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	info, _ := debug.ReadBuildInfo()
	printVersion(c.stdout, info)
	return nil
}

// printVersion writes what info says about the build; "unknown" stands for
// what it does not say (a binary built with -buildvcs=false has no commit,
// one built from a work tree has module version "(devel)").
func printVersion(w io.Writer, info *debug.BuildInfo) {
	version, commit, modified, date := "unknown", "unknown", "", ""
	goVersion := runtime.Version()
	if info != nil {
		if v := info.Main.Version; v != "" {
			version = v
		}
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = " (with uncommitted changes)"
				}
			case "vcs.time":
				date = " " + s.Value
			}
		}
	}
	fmt.Fprintf(w, "twincrypt %s\n", version)
	fmt.Fprintf(w, "commit:     %s%s%s\n", commit, date, modified)
	fmt.Fprintf(w, "go version: %s\n", goVersion)
}
