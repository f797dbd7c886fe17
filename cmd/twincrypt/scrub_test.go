package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends/s3"
	"github.com/twincrypt/twincrypt/config"
	"github.com/twincrypt/twincrypt/gateway"
)

// populated returns an initialized config whose store holds the given
// objects in bucket "photos" and an empty bucket "empty".
func populated(t *testing.T, objects map[string][]byte) (*config.Config, string) {
	t.Helper()
	cfgPath, _ := initialized(t)
	cfg, err := config.LoadWithEnv(cfgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := &cli{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: func(k string) string { return passEnv("passphrase-one")[k] }}
	st, err := openStore(ctx, c, cfg, maintenanceLogger(c))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, b := range []string{"photos", "empty"} {
		if err := st.ns.CreateBucket(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range objects {
		if _, err := st.ns.PutObject(ctx, "photos", k, bytes.NewReader(v), int64(len(v)), gateway.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return cfg, cfgPath
}

// blobFiles lists the blob files of a local backend directory.
func blobFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	// Blob names are kept in fan-out directories (b/3f2+/3f2a...).
	err := filepath.WalkDir(filepath.Join(dir, "b"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// number extracts the integer after label in out.
func number(t *testing.T, out, label string) int {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(label) + ` (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in output:\n%s", label, out)
	}
	var n int
	fmt.Sscan(m[1], &n)
	return n
}

func TestMaintenanceCommands(t *testing.T) {
	objects := map[string][]byte{
		"a.jpg":         bytes.Repeat([]byte("a"), 100000),
		"dir/b.jpg":     []byte("b"),
		"dir/sub/c.txt": []byte("hello"),
		"empty":         nil,
		"folder/":       nil,
	}
	cfg, cfgPath := populated(t, objects)
	env := passEnv("passphrase-one")

	r := runCLI(t, "", env, false, "scrub", "-c", cfgPath)
	r.expect(t, 0)
	// Only a.jpg has blobs (one per backend): the small objects are inline.
	if !strings.Contains(r.stdout, "checked 2 buckets, 5 objects, 0 deletions, 2 blobs") || number(t, r.stdout, "problems:") != 0 {
		t.Errorf("scrub of a clean store:\n%s", r.stdout)
	}

	// One replica of one blob gets a flipped byte: only --deep sees it.
	victim := ""
	for _, f := range blobFiles(t, cfg.Backends[0].Path) {
		if st, _ := os.Stat(f); st.Size() > 1000 {
			victim = f
		}
	}
	data, _ := os.ReadFile(victim)
	data[len(data)/2] ^= 1
	os.WriteFile(victim, data, 0o600)
	runCLI(t, "", env, false, "scrub", "-c", cfgPath).expect(t, 0)
	r = runCLI(t, "", env, false, "scrub", "-c", cfgPath, "--deep")
	r.expect(t, 1, "1 problem(s) found")
	if number(t, r.stdout, "problems:") != 1 || !strings.Contains(r.stdout, "backend "+cfg.Backends[0].Name+": missing 0, corrupt 1") {
		t.Errorf("deep scrub:\n%s", r.stdout)
	}

	r = runCLI(t, "", env, false, "repair", "-c", cfgPath)
	r.expect(t, 0)
	if number(t, r.stdout, "actions:") != 1 || number(t, r.stdout, "unrepaired:") != 0 {
		t.Errorf("repair:\n%s", r.stdout)
	}
	r = runCLI(t, "", env, false, "repair", "-c", cfgPath)
	r.expect(t, 0)
	if number(t, r.stdout, "actions:") != 0 {
		t.Errorf("second repair is not idempotent:\n%s", r.stdout)
	}
	runCLI(t, "", env, false, "scrub", "-c", cfgPath, "--deep").expect(t, 0)

	// Blobs a crash left behind.
	for _, b := range cfg.Backends {
		for i := range 2 {
			os.WriteFile(filepath.Join(b.Path, "b", fmt.Sprintf("%032x", i+1)), []byte("orphan"), 0o600)
		}
	}
	r = runCLI(t, "", env, false, "gc", "-c", cfgPath)
	r.expect(t, 0)
	if number(t, r.stdout, "deleted:") != 0 {
		t.Errorf("gc deleted young blobs:\n%s", r.stdout)
	}
	r = runCLI(t, "", env, false, "gc", "-c", cfgPath, "--grace", "0", "--dry-run")
	r.expect(t, 0)
	if number(t, r.stdout, "would delete:") != 4 || number(t, r.stdout, "referenced blobs:") != 1 || len(blobFiles(t, cfg.Backends[0].Path)) != 3 ||
		!strings.Contains(r.stdout, "superseded meta records (older than the catalog's): 0 would delete, 0 within the grace period, 0 failed\n") {
		t.Errorf("gc --dry-run:\n%s", r.stdout)
	}
	r = runCLI(t, "", env, false, "gc", "-c", cfgPath, "--grace", "0")
	r.expect(t, 0)
	if number(t, r.stdout, "deleted:") != 4 || len(blobFiles(t, cfg.Backends[0].Path)) != 1 {
		t.Errorf("gc:\n%s", r.stdout)
	}

	// Rebuild the catalog from the second backend.
	runCLI(t, "", env, false, "rebuild-catalog", "-c", cfgPath).expect(t, 1, "exists")
	r = runCLI(t, "", env, false, "rebuild-catalog", "-c", cfgPath, "--from", cfg.Backends[1].Name, "--force")
	r.expect(t, 0)
	if !strings.Contains(r.stdout, "2 buckets (0 implied by their objects), 5 objects") {
		t.Errorf("rebuild-catalog:\n%s", r.stdout)
	}
	// The rebuilt file is compacted in place, and nothing is left beside it.
	var before, after int64
	line := r.stdout[max(0, strings.Index(r.stdout, "compacted the catalog: ")):]
	if _, err := fmt.Sscanf(line, "compacted the catalog: %d -> %d bytes", &before, &after); err != nil || after > before {
		t.Errorf("rebuild-catalog did not compact the catalog (%v):\n%s", err, r.stdout)
	}
	if fi, err := os.Stat(cfg.Catalog.Path); err != nil || fi.Size() != after {
		t.Errorf("catalog file after compaction: %v, %v; want %d bytes", fi, err, after)
	}
	if _, err := os.Stat(cfg.Catalog.Path + ".compacting"); !os.IsNotExist(err) {
		t.Errorf("compaction left its temporary file: %v", err)
	}
	if old, _ := filepath.Glob(cfg.Catalog.Path + ".old-*"); len(old) != 1 || !strings.Contains(r.stdout, "moved the old catalog to "+old[0]+"\n") {
		t.Errorf("old catalog not moved aside, or not to the name printed: %v\n%s", old, r.stdout)
	}
	r = runCLI(t, "", env, false, "scrub", "-c", cfgPath, "--deep")
	r.expect(t, 0)
	if !strings.Contains(r.stdout, "checked 2 buckets, 5 objects") {
		t.Errorf("scrub after rebuild:\n%s", r.stdout)
	}

	// Recover from the first backend alone.
	out := filepath.Join(t.TempDir(), "restored")
	r = runCLI(t, "", env, false, "recover", "--keyring", cfg.Keyring, "--backend", cfg.Backends[0].Path, "--to", out)
	r.expect(t, 0)
	for k, want := range objects {
		p := filepath.Join(out, "photos", filepath.FromSlash(k))
		if strings.HasSuffix(k, "/") {
			if st, err := os.Stat(p); err != nil || !st.IsDir() {
				t.Errorf("%s: not a directory", k)
			}
			continue
		}
		if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: recovered %d bytes, %v", k, len(got), err)
		}
	}
	if st, err := os.Stat(filepath.Join(out, "empty")); err != nil || !st.IsDir() {
		t.Errorf("empty bucket not recovered: %v", err)
	}
}

func TestMaintenanceUsage(t *testing.T) {
	env := passEnv("passphrase-one")
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"scrub"}, 2, "-c FILE is required"},
		{[]string{"repair", "extra"}, 2, "unexpected argument"},
		{[]string{"gc", "-c", "x.yaml", "--grace", "-1s"}, 2, "must not be negative"},
		{[]string{"recover", "--keyring", "k"}, 2, "required"},
		{[]string{"recover", "--keyring", "k", "--backend", "/does/not/exist", "--to", "d"}, 1, "backend directory"},
		{[]string{"recover", "--keyring", "k", "--backend", "ftp://h/b", "--to", "d"}, 2, "scheme"},
		{[]string{"rebuild-catalog"}, 2, "-c FILE is required"},
		{[]string{"scrub", "--help"}, 0, "--deep"},
		{[]string{"gc", "--help"}, 0, "--grace"},
		{[]string{"recover", "--help"}, 0, "s3://"},
	}
	for _, c := range cases {
		runCLI(t, "", env, false, c.args...).expect(t, c.code, c.msg)
	}
}

func TestParseS3URL(t *testing.T) {
	env := map[string]string{"AWS_ACCESS_KEY_ID": "envkey", "AWS_SECRET_ACCESS_KEY": "envsecret"}
	getenv := func(k string) string { return env[k] }
	cases := []struct {
		url  string
		want s3.Config // Name and zero fields ignored when err is set
		err  string
	}{
		{"s3://AK:S%2Fk@127.0.0.1:7070/bkt?insecure=true", s3.Config{Endpoint: "http://127.0.0.1:7070", Region: "us-east-1", Bucket: "bkt", AccessKey: "AK", SecretKey: "S/k", Lookup: s3.LookupPath}, ""},
		{"s3://AK:SK@s3.example.com/bkt/some/prefix?region=eu-central-1&lookup=dns", s3.Config{Endpoint: "https://s3.example.com", Region: "eu-central-1", Bucket: "bkt", Prefix: "some/prefix/", AccessKey: "AK", SecretKey: "SK", Lookup: s3.LookupVirtualHost}, ""},
		{"s3://host:1/bkt", s3.Config{Endpoint: "https://host:1", Region: "us-east-1", Bucket: "bkt", AccessKey: "envkey", SecretKey: "envsecret", Lookup: s3.LookupPath}, ""},
		{"s3://AK:SK@host/", s3.Config{}, "no bucket"},
		{"s3://AK:SK@/bkt", s3.Config{}, "no host"},
		{"s3://AK:SK@host/bkt?insecure=maybe", s3.Config{}, "not a boolean"},
		{"s3://AK:SK@host/bkt?color=red", s3.Config{}, "unknown parameter"},
		{"s3://AK:SK@host/bkt?lookup=x", s3.Config{}, "lookup"},
		{"http://AK:SK@host/bkt", s3.Config{}, "scheme"},
	}
	for _, c := range cases {
		got, err := parseS3URL(c.url, getenv)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.url, err, c.err)
			}
			if err != nil && strings.Contains(err.Error(), "SK") {
				t.Errorf("%s: error shows the secret: %v", c.url, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		got.Name = ""
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.url, got, c.want)
		}
	}
	if _, err := parseS3URL("s3://host/bkt", nil); err == nil || !strings.Contains(err.Error(), "no credentials") {
		t.Errorf("no credentials: %v", err)
	}
}

func TestProgressLines(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &progress{w: &out, label: "scrub", unit: "objects", now: func() time.Time { return now }, start: now, last: now}
	for i := 1; i <= 2500; i++ {
		p.update(i, 2500, int64(i)<<20)
	}
	// Plain output: one line per progressLineItems items.
	if lines := strings.Count(out.String(), "\n"); lines != 2 {
		t.Errorf("%d lines for 2500 items without time passing, want 2:\n%s", lines, out.String())
	}
	out.Reset()
	now = now.Add(progressLineEvery)
	p.update(2500, 2500, 2500<<20)
	want := "scrub: 2500/2500 objects, 2.4 GiB, 250.0 MiB/s\n"
	if out.String() != want {
		t.Errorf("line %q, want %q", out.String(), want)
	}

	out.Reset()
	term := &progress{w: &out, term: true, label: "scrub", unit: "objects", now: func() time.Time { return now }, start: now.Add(-10 * time.Second), last: now.Add(-time.Second)}
	term.update(50, 100, 100<<20)
	term.finish()
	if want := "\r\033[Kscrub [############------------]  50% 50/100 objects, 100.0 MiB, 10.0 MiB/s, ETA 10s\n"; out.String() != want {
		t.Errorf("bar %q, want %q", out.String(), want)
	}

	// Counts only (gc's phases): items and their rate, no bytes.
	out.Reset()
	counts := &progress{w: &out, label: "gc blobs", unit: "names", counts: true, now: func() time.Time { return now }, start: now.Add(-10 * time.Second), last: now.Add(-progressLineEvery)}
	counts.update(5000, 0, 0)
	if want := "gc blobs: 5000 names, 500/s\n"; out.String() != want {
		t.Errorf("counts %q, want %q", out.String(), want)
	}
}

func TestKeysRewrap(t *testing.T) {
	_, cfgPath := populated(t, map[string][]byte{"a": []byte("alpha"), "b": bytes.Repeat([]byte("b"), 70000)})
	env := passEnv("passphrase-one")
	runCLI(t, "", env, false, "keys", "rotate", "-c", cfgPath).expect(t, 0)
	r := runCLI(t, "", env, false, "keys", "rewrap", "-c", cfgPath)
	r.expect(t, 0)
	if !strings.Contains(r.stdout, "key-encryption key 2: 2 of 2 objects rewrapped, 2 of 2 bucket records resealed, 0 failed") {
		t.Errorf("rewrap:\n%s", r.stdout)
	}
	r = runCLI(t, "", env, false, "keys", "rewrap", "-c", cfgPath)
	r.expect(t, 0)
	if !strings.Contains(r.stdout, ": 0 of 2 objects rewrapped, 0 of 2 bucket records resealed") {
		t.Errorf("second rewrap:\n%s", r.stdout)
	}
	r = runCLI(t, "", env, false, "scrub", "-c", cfgPath, "--deep")
	r.expect(t, 0)
	runCLI(t, "", env, false, "keys", "rewrap").expect(t, 2, "-c FILE is required")
}

func TestPrintScrubSaysWhatItLeavesOut(t *testing.T) {
	listed := []gateway.Problem{
		{Backend: "b1", Kind: gateway.ProblemMissing, Name: "m/aa", Bucket: "bucket", Key: "k1"},
		{Backend: "b1", Kind: gateway.ProblemMissing, Name: "b/bb", Bucket: "bucket", Key: "k1"},
	}
	head := "checked 1 buckets, 9 objects, 0 deletions, 18 blobs, 1.0 KiB (presence and size)\n" +
		"backend b0: missing 0, corrupt 0, stale 0, ahead 0, unavailable 0, uncataloged 0, foreign 0, superseded 0\n"
	cases := []struct {
		name    string
		missing int
		omitted int
		want    string
	}{
		{"all listed", 2, 0, head +
			"backend b1: missing 2, corrupt 0, stale 0, ahead 0, unavailable 0, uncataloged 0, foreign 0, superseded 0\n" +
			"problems: 2\n" +
			"  b1: missing m/aa (bucket/k1)\n" +
			"  b1: missing b/bb (bucket/k1)\n"},
		{"some left out", 18, 16, head +
			"backend b1: missing 18, corrupt 0, stale 0, ahead 0, unavailable 0, uncataloged 0, foreign 0, superseded 0\n" +
			"problems: 18\n" +
			"  b1: missing m/aa (bucket/k1)\n" +
			"  b1: missing b/bb (bucket/k1)\n" +
			fmt.Sprintf("  ... 16 more not listed (a report lists the first %d)\n", gateway.DefaultMaxProblems)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := &gateway.ScrubReport{Buckets: 1, Objects: 9, Blobs: 18, Bytes: 1024,
				Backends: []gateway.BackendCounts{{Name: "b0"}, {Name: "b1", Missing: c.missing}},
				Problems: listed, ProblemsOmitted: c.omitted}
			var out bytes.Buffer
			printScrub(&out, rep, false)
			if out.String() != c.want {
				t.Errorf("printed\n%s\nwant\n%s", out.String(), c.want)
			}
		})
	}
}
