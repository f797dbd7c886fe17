package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// getURL returns the status and body of a GET.
func getURL(t testing.TB, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestShareCommands runs `twincrypt share create|list|revoke` against a
// running gateway (through its admin API), then with the gateway stopped
// (opening the store itself), drives the admin API with curl's SigV4
// signing, checks what anonymous clients get, and scans the providers, the
// logs and the catalog for link secrets and names.
func TestShareCommands(t *testing.T) {
	curl := testenv.Tool(t, "curl", "/usr/bin/curl")
	// The access log names buckets and keys unless they are redacted.
	g := StartGateway(t, Setup{Local: 2, Share: true, Extra: "log:\n  redact_names: true\n"})
	aws := NewAWS(t, g)
	src := t.TempDir()
	const key = "reports/quarterly-results-2026.pdf"
	writeFile(t, filepath.Join(src, "f"), 300_000, 11)
	aws.Must("s3", "mb", "s3://shared")
	aws.Must("s3", "cp", filepath.Join(src, "f"), "s3://shared/"+key)
	aws.Must("s3", "cp", filepath.Join(src, "f"), "s3://shared/reports/appendix-confidential.txt")

	// While serve runs: create goes through the admin API.
	out, err := g.Run("share", "create", "-c", g.Config, "shared/"+key, "--max-downloads", "3", "--expires", "7d")
	if err != nil {
		t.Fatalf("share create while serving: %v\n%s", err, out)
	}
	fileLink := linkOf(t, out)
	if !strings.HasPrefix(fileLink, g.ShareURL()+"/s/") {
		t.Fatalf("link %q does not start with the share listener's URL %s", fileLink, g.ShareURL())
	}
	out, err = g.Run("share", "create", "-c", g.Config, "shared/reports/")
	if err != nil {
		t.Fatalf("share create of a folder: %v\n%s", err, out)
	}
	folderLink := linkOf(t, out)
	if linkID(folderLink) == linkID(fileLink) {
		t.Fatal("two links share an id")
	}
	// Errors are clear and non-zero.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"share", "create", "-c", g.Config, "shared/missing"}, "no such key"},
		{[]string{"share", "create", "-c", g.Config, "nobucket/x"}, "no such bucket"},
		{[]string{"share", "create", "-c", g.Config, "justabucket"}, "share target must be"},
		{[]string{"share", "revoke", "-c", g.Config, "AAAAAAAAAAAAAAAAAAAAAA"}, "no such share"},
		{[]string{"share", "create", "-c", g.Config, "shared/" + key, "--expires", "soon"}, "bad duration"},
	} {
		if out, err := g.Run(tt.args...); err == nil || !strings.Contains(out, tt.want) {
			t.Errorf("%s: %v, output %q; want a failure saying %q", strings.Join(tt.args[:2], " "), err, out, tt.want)
		}
	}

	// The page opens for anyone; the protocol needs the token.
	status, hdr, body := getURL(t, strings.Split(fileLink, "#")[0])
	if status != http.StatusOK || !strings.Contains(hdr.Get("Content-Security-Policy"), "script-src 'self'") ||
		!strings.Contains(body, "<script") {
		t.Fatalf("page: %d %q", status, hdr.Get("Content-Security-Policy"))
	}
	resp, err := http.Post(strings.Split(fileLink, "#")[0]+"/open", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("open without a token: %d, want 403", resp.StatusCode)
	}

	// The admin API with curl's own SigV4 signing; unsigned and wrongly
	// signed requests are refused.
	api := "http://" + g.AdminAddr + "/api/v1/shares"
	sign := []string{"--aws-sigv4", "aws:amz:us-east-1:s3", "--user", g.AccessKey + ":" + g.SecretKey}
	r := run(t, cleanEnv(), "", curl, append([]string{"-sS", "--fail-with-body", api}, sign...)...).must(t, "curl list")
	var list struct {
		Shares []struct {
			ID, Target, State string
			Downloads         int64
			MaxDownloads      int64 `json:"max_downloads"`
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil || len(list.Shares) != 2 {
		t.Fatalf("admin list: %v\n%s", err, r.Stdout)
	}
	if s := list.Shares[0]; s.ID != linkID(fileLink) || s.Target != "shared/"+key || s.State != "active" || s.MaxDownloads != 3 {
		t.Fatalf("admin list first share: %+v", s)
	}
	r = run(t, cleanEnv(), "", curl, append([]string{"-sS", "--fail-with-body", "-X", "POST", api, "-H", "Content-Type: application/json",
		"-d", `{"target": "shared/reports/appendix-confidential.txt", "max_downloads": 1}`}, sign...)...).must(t, "curl create")
	var created struct{ Link string }
	if err := json.Unmarshal([]byte(r.Stdout), &created); err != nil || !strings.HasPrefix(created.Link, g.ShareURL()+"/s/") {
		t.Fatalf("admin create: %v\n%s", err, r.Stdout)
	}
	for name, args := range map[string][]string{
		"unsigned":     {"-s", "-o", "/dev/null", "-w", "%{http_code}", api},
		"wrong secret": append([]string{"-s", "-o", "/dev/null", "-w", "%{http_code}", api}, "--aws-sigv4", "aws:amz:us-east-1:s3", "--user", g.AccessKey+":wrong-secret"),
	} {
		if r := run(t, cleanEnv(), "", curl, args...); r.Stdout != "403" {
			t.Errorf("admin API %s: HTTP %s, want 403", name, r.Stdout)
		}
	}

	// List and revoke through the running gateway.
	out, err = g.Run("share", "list", "-c", g.Config)
	if err != nil || !strings.Contains(out, linkID(fileLink)) || !strings.Contains(out, "0/3") || !strings.Contains(out, "active") {
		t.Fatalf("share list while serving: %v\n%s", err, out)
	}
	if out, err := g.Run("share", "revoke", "-c", g.Config, linkID(fileLink)); err != nil || !strings.Contains(out, "revoked share "+linkID(fileLink)) {
		t.Fatalf("share revoke while serving: %v\n%s", err, out)
	}
	status, _, body = getURL(t, strings.Split(fileLink, "#")[0])
	if status != http.StatusGone || !strings.Contains(body, "The owner revoked this link.") {
		t.Fatalf("revoked link's page: %d\n%s", status, body)
	}
	if status, _, _ := getURL(t, strings.Split(folderLink, "#")[0]); status != http.StatusOK {
		t.Fatalf("the folder link after the file link was revoked: %d", status)
	}

	// Without a running gateway the commands open the store themselves.
	g.Stop()
	out, err = g.Run("share", "list", "-c", g.Config)
	if err != nil || !strings.Contains(out, "revoked") || strings.Count(out, "\n") != 4 {
		t.Fatalf("share list without serve: %v\n%s", err, out)
	}
	out, err = g.Run("share", "revoke", "-c", g.Config, linkID(folderLink))
	if err != nil {
		t.Fatalf("share revoke without serve: %v\n%s", err, out)
	}
	out, err = g.Run("share", "create", "-c", g.Config, "shared/"+key)
	if err != nil {
		t.Fatalf("share create without serve: %v\n%s", err, out)
	}
	offline := linkOf(t, out)

	// Nothing of a link's secret, and no name, reached the providers or
	// the logs; no secret reached the catalog.
	secrets := []string{}
	for _, l := range []string{fileLink, folderLink, created.Link, offline} {
		secrets = append(secrets, l[strings.IndexByte(l, '#')+1:])
	}
	scanForPlaintext(t, g.LocalDirs, append([]string{key, "appendix-confidential.txt", "quarterly-results"}, secrets...)...)
	logs := g.Output()
	for _, s := range append(secrets, key, "appendix-confidential") {
		if strings.Contains(logs, s) {
			t.Errorf("the gateway's log holds %q", s)
		}
	}
	db, err := os.ReadFile(filepath.Join(g.Dir, "twincrypt.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(string(db), s) {
			t.Errorf("the catalog holds the link secret %q", s)
		}
	}
}
