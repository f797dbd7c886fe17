package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/twincrypt/twincrypt/config"
	"github.com/twincrypt/twincrypt/gateway/admin"
	"github.com/twincrypt/twincrypt/gateway/tlscert"
)

// Maintenance commands that, while a gateway serves their config, run inside
// it through its admin API: the embedded catalog admits one process, and the
// gateway already holds the keys. Share commands go through the API as well
// (share.go), with calls of their own.
//
// The command line finds the gateway through listen.admin in the config,
// sends the command's arguments (without -c: the gateway uses its own
// config), streams the output, and exits with the command's status.

// remoteCommand reports whether args name a command that runs inside a
// serving gateway, and whether it needs the keyring passphrase there.
func remoteCommand(args []string) (ok, passphrase bool) {
	if len(args) == 0 {
		return false, false
	}
	switch args[0] {
	case "scrub", "repair", "gc", "rebuild-catalog":
		return true, false
	case "keys":
		if len(args) > 1 {
			switch args[1] {
			case "rewrap":
				return true, false
			case "rotate", "passwd":
				return true, true
			}
		}
	}
	return false, false
}

// configArg splits the -c FILE flag off args.
func configArg(args []string) (path string, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case (a == "-c" || a == "--c") && i+1 < len(args):
			path = args[i+1]
			i++
		case strings.HasPrefix(a, "-c=") || strings.HasPrefix(a, "--c="):
			path = a[strings.IndexByte(a, '=')+1:]
		default:
			rest = append(rest, a)
		}
	}
	return path, rest
}

// runRemote runs args inside the gateway that serves their config, if one
// does, and returns its exit code; ok is false when the command is to run
// here.
func runRemote(ctx context.Context, c *cli, args []string) (code int, ok bool) {
	remote, needPass := remoteCommand(args)
	if !remote || c.running != nil {
		return 0, false
	}
	path, rest := configArg(args)
	for _, a := range rest {
		if a == "-h" || a == "-help" || a == "--help" {
			return 0, false
		}
	}
	if path == "" {
		return 0, false
	}
	cfg, err := config.LoadWithEnv(path, c.getenv)
	if err != nil {
		return 0, false // the command reports it
	}
	ac, err := newAdminClient(cfg)
	if err != nil {
		fmt.Fprintf(c.stderr, "twincrypt %s: %v\n", args[0], err)
		return 1, true
	}
	if ac == nil {
		return 0, false
	}
	if err := ac.alive(ctx); err != nil {
		if errors.Is(err, tlscert.ErrUnpinned) {
			fmt.Fprintf(c.stderr, "twincrypt %s: %v\n", args[0], err)
			return 1, true
		}
		return 0, false
	}
	name := strings.Join(args[:min(2, len(args))], " ")
	if args[0] != "keys" {
		name = args[0]
	}
	fmt.Fprintf(c.stderr, "twincrypt %s: a gateway serves %s; running inside it (admin API %s)\n", name, cfg.Path, ac.base)
	req := admin.RunRequest{Args: rest, Env: map[string]string{}}
	if needPass {
		pass, err := readPassphrase(c, envPassphrase, "Passphrase: ", false)
		if err != nil {
			fmt.Fprintf(c.stderr, "twincrypt %s: %v\n", name, err)
			return 1, true
		}
		req.Env[envPassphrase] = string(pass)
		clear(pass)
		if args[1] == "passwd" {
			np, err := readNewPassphrase(c, envNewPassphrase, "New passphrase: ")
			if err != nil {
				fmt.Fprintf(c.stderr, "twincrypt %s: %v\n", name, err)
				return 1, true
			}
			req.Env[envNewPassphrase] = string(np)
			clear(np)
		}
	}
	code, err = ac.run(ctx, req, c.stdout)
	if err != nil {
		fmt.Fprintf(c.stderr, "twincrypt %s: %v\n", name, err)
		return 1, true
	}
	return code, true
}

// run posts a command to the admin API, copies its output to out and returns
// its exit code.
func (a *adminClient) run(ctx context.Context, req admin.RunRequest, out io.Writer) (int, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"/api/v1/run", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	sum := sha256.Sum256(body)
	r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	r.Header.Set("Content-Type", "application/json")
	r = signer.SignV4(*r, a.access, a.secret, "", config.DefaultRegion)
	resp, err := a.http.Do(r)
	if err != nil {
		return 0, fmt.Errorf("admin API at %s: %w", a.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e admin.ErrorResponse
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return 0, fmt.Errorf("%s (HTTP %d from the running gateway)", e.Error, resp.StatusCode)
		}
		return 0, fmt.Errorf("admin API at %s: HTTP %d: %s", a.base, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		return 0, fmt.Errorf("admin API at %s: the output was cut off: %w", a.base, err)
	}
	code, err := strconv.Atoi(resp.Trailer.Get(admin.ExitTrailer))
	if err != nil {
		return 0, fmt.Errorf("admin API at %s: the command ended without an exit status", a.base)
	}
	return code, nil
}

// serveRemote runs a command for the admin API inside the gateway whose
// store is st and whose config is cfgPath, writing its output to out.
func serveRemote(ctx context.Context, st *store, cfgPath string, req admin.RunRequest, out io.Writer) int {
	remote, needPass := remoteCommand(req.Args)
	if !remote {
		fmt.Fprintf(out, "twincrypt: %q does not run through the admin API\n", strings.Join(req.Args, " "))
		return 2
	}
	if path, _ := configArg(req.Args); path != "" {
		fmt.Fprintln(out, "twincrypt: -c is not accepted through the admin API: the gateway uses its own config")
		return 2
	}
	if needPass && req.Env[envPassphrase] == "" {
		fmt.Fprintf(out, "twincrypt: %s needs the keyring passphrase\n", strings.Join(req.Args[:2], " "))
		return 2
	}
	env := func(k string) string {
		switch k {
		case envPassphrase, envNewPassphrase:
			return req.Env[k]
		}
		return ""
	}
	c := &cli{stdin: strings.NewReader(""), stdout: out, stderr: out, getenv: env, running: st}
	return run(ctx, c, append(append([]string{}, req.Args...), "-c", cfgPath))
}
