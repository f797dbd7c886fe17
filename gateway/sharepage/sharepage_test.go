package sharepage

import (
	"bytes"
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// TestFilesPresent checks that every file the share listener serves is
// embedded and not empty.
func TestFilesPresent(t *testing.T) {
	for _, name := range []string{PageFile, GoneFile, ScriptFile, StyleFile, WorkerFile} {
		b, err := Static.ReadFile(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(bytes.TrimSpace(b)) == 0 {
			t.Errorf("%s is empty", name)
		}
	}
}

var (
	// scriptTag matches an opening <script> tag and captures its attributes.
	scriptTag = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script\s*>`)
	// styleTag matches a <style> element.
	styleTag = regexp.MustCompile(`(?i)<style\b`)
	// styleAttr and eventAttr match inline style and event-handler attributes.
	styleAttr = regexp.MustCompile(`(?i)<[a-z][^>]*\sstyle\s*=`)
	eventAttr = regexp.MustCompile(`(?i)<[a-z][^>]*\son[a-z]+\s*=`)
	// javascriptURL matches javascript: URLs.
	javascriptURL = regexp.MustCompile(`(?i)javascript:`)
	// anyURL matches absolute and protocol-relative URLs.
	anyURL = regexp.MustCompile(`(?i)(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	// resourceAttr matches the attributes that load something.
	resourceAttr = regexp.MustCompile(`(?i)\s(?:src|href|action|srcset|poster|data)\s*=\s*"([^"]*)"`)
)

// TestNoInlineCode checks the rules the strict Content-Security-Policy
// relies on: no inline script, no inline style, no event-handler
// attributes, and every loaded resource from this server.
func TestNoInlineCode(t *testing.T) {
	for _, name := range []string{PageFile, GoneFile} {
		b, _ := Static.ReadFile(name)
		html := string(b)
		for _, m := range scriptTag.FindAllStringSubmatch(html, -1) {
			if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
				t.Errorf("%s: inline <script> block: %.80q", name, m[0])
			}
		}
		if styleTag.MatchString(html) {
			t.Errorf("%s: <style> element", name)
		}
		if m := styleAttr.FindString(html); m != "" {
			t.Errorf("%s: style attribute in %.80q", name, m)
		}
		if m := eventAttr.FindString(html); m != "" {
			t.Errorf("%s: event-handler attribute in %.80q", name, m)
		}
		if javascriptURL.MatchString(html) {
			t.Errorf("%s: javascript: URL", name)
		}
		for _, m := range resourceAttr.FindAllStringSubmatch(html, -1) {
			if v := m[1]; !strings.HasPrefix(v, "/s/") && v != "data:," {
				t.Errorf("%s: resource %q is not a path on this server", name, v)
			}
		}
	}
	if b, _ := Static.ReadFile(PageFile); strings.Contains(string(b), "{{") {
		t.Errorf("%s has template actions; it must be static", PageFile)
	}
}

// TestNoExternalHosts checks that no file names an external host: the
// page must load and contact nothing but the server it came from.
func TestNoExternalHosts(t *testing.T) {
	err := fs.WalkDir(Static, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := Static.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range anyURL.FindAllString(string(b), -1) {
			t.Errorf("%s: external URL %q", path, m)
		}
		if bytes.Contains(b, []byte("http://")) || bytes.Contains(b, []byte("https://")) {
			// Allowed only as the words "https://" in prose, never followed by a host.
			for _, line := range strings.Split(string(b), "\n") {
				if regexp.MustCompile(`https?://[^\s'"”<)]`).MatchString(line) {
					t.Errorf("%s: URL with a host in %q", path, strings.TrimSpace(line))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGoneTemplate checks that gone.html renders, escapes its fields and
// links the style sheet.
func TestGoneTemplate(t *testing.T) {
	var buf bytes.Buffer
	if err := Gone.Execute(&buf, GoneData{Title: "Link revoked", Message: "<b>revoked</b> by its owner"}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"<title>Link revoked</title>", "&lt;b&gt;revoked&lt;/b&gt; by its owner", `href="/s/static/share.css"`} {
		if !strings.Contains(out, want) {
			t.Errorf("gone page lacks %q:\n%s", want, out)
		}
	}
}
