package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/gateway/metrics"
)

func TestNewLoggerFormats(t *testing.T) {
	for format, want := range map[string]string{"auto": `{"time":`, "json": `{"time":`, "text": "time="} {
		var buf bytes.Buffer
		log, err := newLogger(&buf, format, slog.LevelInfo)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("hello")
		if !strings.HasPrefix(buf.String(), want) {
			t.Errorf("%s: %q", format, buf.String())
		}
	}
	if _, err := newLogger(io.Discard, "xml", slog.LevelInfo); err == nil {
		t.Error("format xml accepted")
	}
}

func TestAccessLog(t *testing.T) {
	const ak, sk = "AKIDLOG", "secretsecretsecret"
	var buf bytes.Buffer
	key := [32]byte{1}
	for _, redact := range []bool{false, true} {
		buf.Reset()
		lh := slog.Handler(slog.NewJSONHandler(&buf, nil))
		if redact {
			lh = redactNames(lh, &key)
		}
		a := &accessLog{log: slog.New(lh), users: map[string]string{ak: sk}}
		m := metrics.New(metrics.Sources{})
		h := withRequestID(m.Wrap(metrics.S3, metrics.S3Operation, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			if r.Header.Get("Authorization") == "" && r.URL.Query().Get("X-Amz-Credential") == "" {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			io.WriteString(w, "abc")
		}), a.observe))
		srv := httptest.NewServer(h)
		req, _ := http.NewRequest("PUT", srv.URL+"/mybucket/dir/photo.jpg", strings.NewReader("12345"))
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+ak+"/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=deadbeefsig")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Request-Id") == "" {
			t.Error("no X-Request-Id")
		}
		// A presigned GET, and an anonymous one that is refused.
		for _, u := range []string{"/mybucket/dir/photo.jpg?X-Amz-Credential=" + ak + "%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=cafebabesig", "/mybucket"} {
			resp, err := srv.Client().Get(srv.URL + u)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		srv.Close()
		out := buf.String()
		for _, secret := range []string{sk, "deadbeefsig", "cafebabesig"} {
			if strings.Contains(out, secret) {
				t.Errorf("the log holds %q:\n%s", secret, out)
			}
		}
		for _, name := range []string{"mybucket", "photo.jpg"} {
			if strings.Contains(out, name) == redact {
				t.Errorf("redact %v: the log holds %q: %v\n%s", redact, name, !redact, out)
			}
		}
		var lines []map[string]any
		for l := range strings.Lines(out) {
			var v map[string]any
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, v)
		}
		if len(lines) != 3 {
			t.Fatalf("%d lines:\n%s", len(lines), out)
		}
		put, get, anon := lines[0], lines[1], lines[2]
		if put["msg"] != "request" || put["operation"] != "PutObject" || put["status"] != 200.0 || put["bytes_in"] != 5.0 ||
			put["bytes_out"] != 3.0 || put["user"] != ak || put["protocol"] != "s3" || put["id"] == "" {
			t.Errorf("PUT: %v", put)
		}
		if get["operation"] != "GetObject" || get["user"] != ak {
			t.Errorf("presigned GET: %v", get)
		}
		if anon["operation"] != "ListObjects" || anon["status"] != 403.0 || anon["user"] != nil {
			t.Errorf("refused GET: %v", anon)
		}
		if redact && put["bucket"] != hashName(&key, "mybucket") || !redact && put["key"] != "dir/photo.jpg" {
			t.Errorf("names: %v", put)
		}
	}
}

func TestRedactNamesEveryLine(t *testing.T) {
	var buf bytes.Buffer
	key := [32]byte{2}
	log := slog.New(redactNames(slog.NewTextHandler(&buf, nil), &key))
	log.With("bucket", "b1").Warn("webdav login failed", "path", "/b1/secret-plan.txt", "client", "127.0.0.1")
	log.WithGroup("g").Info("x", "key", "k1", "n", 3)
	out := buf.String()
	for _, name := range []string{"b1", "secret-plan", "k1"} {
		if strings.Contains(out, name) {
			t.Errorf("the log holds %q:\n%s", name, out)
		}
	}
	for _, want := range []string{"path=" + hashName(&key, "/b1/secret-plan.txt"), "bucket=" + hashName(&key, "b1"), "g.key=" + hashName(&key, "k1"), "client=127.0.0.1", "g.n=3"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
}

func TestAccessLogProbesAtDebug(t *testing.T) {
	var buf bytes.Buffer
	a := &accessLog{log: slog.New(slog.NewTextHandler(&buf, nil))}
	for _, p := range []string{"/metrics", "/healthz", "/readyz", "/api/v1/shares"} {
		r := httptest.NewRequest("GET", p, nil)
		a.observe(r, metrics.Info{Protocol: metrics.Admin, Operation: metrics.AdminOperation(r), Status: 200})
	}
	if out := buf.String(); strings.Count(out, "msg=request") != 1 || !strings.Contains(out, "operation=shares") {
		t.Errorf("at level info:\n%s", out)
	}
}

func TestRedactNamesBeforeTheKey(t *testing.T) {
	var buf bytes.Buffer
	h, setKey := redactNamesLater(slog.NewTextHandler(&buf, nil))
	log := slog.New(h).With("bucket", "early-bucket")
	log.Info("before", "key", "early-key")
	key := [32]byte{3}
	setKey(&key)
	log.Info("after", "key", "late-key")
	out := buf.String()
	if strings.Contains(out, "early") || strings.Contains(out, "late-key") {
		t.Errorf("names in the log:\n%s", out)
	}
	if !strings.Contains(out, "msg=before bucket=h:? key=h:?") || !strings.Contains(out, "msg=after bucket=h:? key="+hashName(&key, "late-key")) {
		t.Errorf("log:\n%s", out)
	}
}
