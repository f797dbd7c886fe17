package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/backends/local"
	"github.com/twincrypt/twincrypt/backends/s3"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/keyring"
)

// recoverBackendName names the backend recover reads from in messages.
const recoverBackendName = "source"

func runRecover(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "recover", "--keyring FILE --backend DIR|URL --to DIR [--all-versions]\n\n"+
		"Restores every bucket and object as plain files DIR/<bucket>/<key> from one\n"+
		"backend and the keyring alone: no config, no catalog. The passphrase comes\n"+
		"from "+envPassphrase+", else from a prompt. In buckets with versioning it\n"+
		"restores the current versions; --all-versions also writes every version to\n"+
		"DIR/"+gateway.VersionsDir+"/<bucket>/<key>/<time>-<version id>, listed in\n"+
		"DIR/"+gateway.VersionsDir+"/"+gateway.VersionsManifest+".\n\n"+
		"The backend is a local backend directory, or an S3 bucket given as\n"+
		"  s3://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX][?region=R&insecure=true&lookup=path|dns]\n"+
		"insecure=true speaks plain http; the credentials may instead come from\n"+
		"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Keys that would leave DIR\n"+
		"(absolute, \"..\") are refused. Exits 1 if any object was not restored.\n\nflags:")
	keyPath := fs.String("keyring", "", "keyring `FILE` (required)")
	spec := fs.String("backend", "", "backend `DIR or URL` to read (required)")
	to := fs.String("to", "", "`DIR` to restore into (required)")
	allVersions := fs.Bool("all-versions", false, "also restore every version of every key of a bucket with versioning")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *keyPath == "" || *spec == "" || *to == "" {
		return fmt.Errorf("%w: --keyring, --backend and --to are required", errUsage)
	}
	be, err := openBackendSpec(ctx, *spec, c.getenv)
	if err != nil {
		return err
	}
	defer be.Close()
	pass, err := readPassphrase(c, envPassphrase, "Passphrase: ", false)
	if err != nil {
		return err
	}
	keys, err := keyring.Open(*keyPath, pass)
	clear(pass)
	if err != nil {
		return err
	}
	maintenanceGC(c.getenv)
	return recoverFrom(ctx, c, keys, be, *to, *allVersions)
}

// recoverFrom restores what be holds into the directory to with keys and
// prints the report. The total of its progress is counted beforehand; a
// count that fails leaves the progress without a total and an ETA, and
// the recovery goes on.
func recoverFrom(ctx context.Context, c *cli, keys gateway.Keys, be backends.Backend, to string, allVersions bool) error {
	prog := newProgress(c, "recover", "records")
	// The total of the progress: the names under m/, each of which the
	// recovery goes through. A backend that cannot be listed has the
	// recovery report it.
	n, err := gateway.CountMetaRecords(ctx, be, "", func(n gateway.MetaCount) { prog.counting(n.Names) })
	if ctx.Err() != nil {
		prog.finish()
		return ctx.Err()
	}
	total := 0
	if err == nil {
		total = n.Names
	}
	prog.restart()
	rep, err := gateway.Recover(ctx, gateway.RecoverOptions{
		Keys: keys, Backend: be, Dir: to, Logger: maintenanceLogger(c), AllVersions: allVersions,
		Progress: func(p gateway.RecoverProgress) { prog.update(p.Records, total, p.Bytes) },
	})
	prog.finish()
	if rep != nil {
		fmt.Fprintf(c.stdout, "recovered %d buckets, %d objects, %d directories, %s into %s\n",
			rep.Buckets, rep.Objects, rep.Dirs, humanBytes(rep.Bytes), to)
		if allVersions {
			fmt.Fprintf(c.stdout, "%d versions restored under %s\n", rep.Versions, filepath.Join(to, gateway.VersionsDir))
		}
		if rep.RenamedCount > 0 {
			fmt.Fprintf(c.stdout, "%d objects restored under other names (keys a file system cannot hold as they are); see %s\n",
				rep.RenamedCount, filepath.Join(to, gateway.RenamesFile))
		}
		if rep.Deleted > 0 {
			fmt.Fprintf(c.stdout, "%d deleted objects and buckets skipped\n", rep.Deleted)
		}
		fmt.Fprintf(c.stdout, "failed: %d\n", rep.FailedCount)
		for _, f := range rep.Failed {
			fmt.Fprintf(c.stdout, "  %s %s/%s: %v\n", f.Name, f.Bucket, f.Key, f.Err)
		}
		if more := rep.FailedCount - len(rep.Failed); more > 0 {
			fmt.Fprintf(c.stdout, "  ... and %d more, each logged on stderr\n", more)
		}
	}
	if err != nil {
		return err
	}
	if rep.FailedCount > 0 {
		return fmt.Errorf("%w: %d object(s) not recovered", errProblems, rep.FailedCount)
	}
	return nil
}

// openBackendSpec opens the backend named by a --backend argument: a
// directory, a file:// URL, or an s3:// URL (see runRecover).
func openBackendSpec(ctx context.Context, spec string, getenv func(string) string) (backends.Backend, error) {
	if !strings.Contains(spec, "://") || strings.HasPrefix(spec, "file://") {
		dir := strings.TrimPrefix(spec, "file://")
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("backend directory: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("backend %s is not a directory", dir)
		}
		return local.New(recoverBackendName, dir)
	}
	cfg, err := parseS3URL(spec, getenv)
	if err != nil {
		return nil, err
	}
	return s3.New(ctx, cfg)
}

// parseS3URL parses s3://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX]?query.
func parseS3URL(spec string, getenv func(string) string) (s3.Config, error) {
	bad := func(format string, args ...any) (s3.Config, error) {
		return s3.Config{}, fmt.Errorf("%w: backend URL: "+format, append([]any{errUsage}, args...)...)
	}
	u, err := url.Parse(spec)
	if err != nil {
		// Never echo the URL: it may hold a secret key.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return bad("%v", err)
	}
	if u.Scheme != "s3" {
		return bad("scheme %q, want s3:// or a directory", u.Scheme)
	}
	if u.Host == "" {
		return bad("no host")
	}
	cfg := s3.Config{Name: recoverBackendName, Region: "us-east-1"}
	q := u.Query()
	for k := range q {
		switch k {
		case "region", "insecure", "lookup":
		default:
			return bad("unknown parameter %q", k)
		}
	}
	scheme := "https"
	if v := q.Get("insecure"); v != "" {
		insecure, err := strconv.ParseBool(v)
		if err != nil {
			return bad("insecure=%q is not a boolean", v)
		}
		if insecure {
			scheme = "http"
		}
	}
	cfg.Endpoint = scheme + "://" + u.Host
	if r := q.Get("region"); r != "" {
		cfg.Region = r
	}
	switch q.Get("lookup") {
	case "", "path":
		cfg.Lookup = s3.LookupPath
	case "dns":
		cfg.Lookup = s3.LookupVirtualHost
	default:
		return bad("lookup=%q, want path or dns", q.Get("lookup"))
	}
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if bucket == "" {
		return bad("no bucket")
	}
	cfg.Bucket = bucket
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	cfg.Prefix = prefix
	if u.User != nil {
		cfg.AccessKey = u.User.Username()
		cfg.SecretKey, _ = u.User.Password()
	}
	if cfg.AccessKey == "" && getenv != nil {
		cfg.AccessKey, cfg.SecretKey = getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return bad("no credentials (give ACCESS:SECRET@ or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	}
	return cfg, nil
}
