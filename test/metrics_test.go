package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

// TestMetricsPrometheus has a real Prometheus scrape the admin listener
// while the gateway serves a known workload, and checks what Prometheus
// stored, and the exposition with promtool.
func TestMetricsPrometheus(t *testing.T) {
	promBin := testenv.Tool(t, "prometheus", "/usr/bin/prometheus")
	promtool := testenv.Tool(t, "promtool", "/usr/bin/promtool")
	g := StartGateway(t, Setup{Local: 2, Share: true})
	admin := "http://" + g.AdminAddr

	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := httpGet(t, admin+p); code != 200 {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	// The debug endpoints answer only a signed request.
	if code, _ := httpGet(t, admin+"/debug/pprof/"); code == 200 {
		t.Error("/debug/pprof/ answered an unsigned request")
	}
	curl := testenv.Tool(t, "curl", "/usr/bin/curl")
	vars := run(t, cleanEnv(), "", curl, "-sf", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user", g.AccessKey+":"+g.SecretKey,
		admin+"/debug/vars").must(t, "signed GET /debug/vars")
	if !strings.Contains(vars.Stdout, `"twincrypt_backend_written_bytes"`) || !strings.Contains(vars.Stdout, `"memstats"`) {
		t.Errorf("/debug/vars: %s", vars.Stdout)
	}

	// The workload: 7 PUTs and 5 GETs of 10 KiB each.
	ctx := context.Background()
	c, err := minio.New(g.Addr, &minio.Options{Creds: credentials.NewStaticV4(g.AccessKey, g.SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MakeBucket(ctx, "metrics", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	const size = 10 << 10
	body := bytes.Repeat([]byte("m"), size)
	for i := range 7 {
		if _, err := c.PutObject(ctx, "metrics", fmt.Sprintf("obj-%d", i), bytes.NewReader(body), size, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		o, err := c.GetObject(ctx, "metrics", fmt.Sprintf("obj-%d", i), minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(o)
		o.Close()
		if err != nil || len(got) != size {
			t.Fatalf("GET obj-%d: %d bytes, %v", i, len(got), err)
		}
	}

	// A Prometheus of the test's own, scraping the admin listener every
	// second.
	dir := t.TempDir()
	promAddr := testenv.FreeAddr(t)
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: twincrypt\n    static_configs:\n      - targets: [%q]\n", g.AdminAddr)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var promOut lockedBuffer
	prom := exec.Command(promBin, "--config.file="+cfgPath, "--web.listen-address="+promAddr,
		"--storage.tsdb.path="+filepath.Join(dir, "data"))
	prom.Stdout, prom.Stderr = &promOut, &promOut
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { prom.Wait(); close(exited) }()
	t.Cleanup(func() {
		prom.Process.Kill()
		<-exited
	})

	// query polls Prometheus until expr has one sample that cond accepts,
	// and returns its value.
	query := func(expr string, cond func(float64) bool) float64 {
		t.Helper()
		last := "no answer"
		for range 600 {
			select {
			case <-exited:
				t.Fatalf("prometheus exited:\n%s", promOut.String())
			default:
			}
			code, body := httpGet(t, "http://"+promAddr+"/api/v1/query?query="+url.QueryEscape(expr))
			if code == 200 {
				var r struct {
					Data struct {
						Result []struct {
							Value [2]any `json:"value"`
						} `json:"result"`
					} `json:"data"`
				}
				if err := json.Unmarshal([]byte(body), &r); err == nil && len(r.Data.Result) == 1 {
					s, _ := r.Data.Result[0].Value[1].(string)
					v, err := strconv.ParseFloat(s, 64)
					if err == nil && cond(v) {
						return v
					}
				}
			}
			last = fmt.Sprintf("%d %s", code, body)
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: last answer %s\nprometheus:\n%s", expr, last, promOut.String())
		return 0
	}
	eq := func(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
	atLeast := func(want float64) func(float64) bool { return func(v float64) bool { return v >= want } }

	query(`twincrypt_http_requests_total{protocol="s3",operation="PutObject",code="200"}`, eq(7))
	query(`twincrypt_http_requests_total{protocol="s3",operation="GetObject",code="200"}`, eq(5))
	query(`twincrypt_http_requests_total{protocol="s3",operation="CreateBucket",code="200"}`, eq(1))
	query(`sum(twincrypt_http_request_duration_seconds_count{protocol="s3",operation=~"PutObject|GetObject"})`, eq(12))
	query(`twincrypt_http_request_bytes_total{protocol="s3"}`, atLeast(7*size))
	query(`twincrypt_http_response_bytes_total{protocol="s3"}`, atLeast(5*size))
	query(`sum(twincrypt_provider_up)`, eq(2))
	query(`count(twincrypt_provider_latency_seconds)`, eq(2))
	query(`sum(twincrypt_provider_errors_total)`, eq(0))
	// Each object is stored on both providers.
	query(`min(twincrypt_provider_written_bytes_total)`, atLeast(7*size))
	query(`sum(twincrypt_provider_read_bytes_total)`, atLeast(5*size))
	query(`twincrypt_stored_objects`, eq(7))
	query(`twincrypt_stored_bytes`, eq(7*size))
	query(`twincrypt_repair_queue_tasks`, eq(0))
	query(`twincrypt_share_downloads_total`, eq(0))
	query(`twincrypt_login_refused_total`, eq(0))
	// Prometheus's own scrapes are counted on the admin listener.
	query(`twincrypt_http_requests_total{protocol="admin",operation="metrics",code="200"}`, atLeast(1))

	// The exposition passes promtool's checks.
	code, exposition := httpGet(t, admin+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(exposition)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// httpGet returns the status and body of a GET.
func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// lockedBuffer is a bytes.Buffer a process writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestReadyz takes one of two providers away from a gateway that needs
// both for a write: /readyz answers 503 with the reason while /healthz
// stays 200, twincrypt_provider_up shows it, and both come back with the
// provider.
func TestReadyz(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2, Share: true, CheckInterval: time.Second})
	admin := "http://" + g.AdminAddr
	poll := func(what string, cond func() bool) {
		t.Helper()
		for range 300 {
			if cond() {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: not after 300 polls\n%s", what, g.Output())
	}
	poll("ready at start", func() bool { code, _ := httpGet(t, admin+"/readyz"); return code == 200 })

	g.Stop()
	away := g.LocalDirs[1] + ".away"
	if err := os.Rename(g.LocalDirs[1], away); err != nil {
		t.Fatal(err)
	}
	g.Start()
	var body string
	poll("not ready without local1", func() bool {
		var code int
		code, body = httpGet(t, admin+"/readyz")
		return code == 503
	})
	if !strings.Contains(body, "1 providers up, 2 needed for a write") || !strings.Contains(body, "local1") {
		t.Errorf("/readyz: %q", body)
	}
	if code, _ := httpGet(t, admin+"/healthz"); code != 200 {
		t.Errorf("/healthz while not ready: %d", code)
	}
	_, exposition := httpGet(t, admin+"/metrics")
	if !strings.Contains(exposition, `twincrypt_provider_up{provider="local1"} 0`) || !strings.Contains(exposition, `twincrypt_provider_up{provider="local0"} 1`) {
		t.Errorf("provider_up while local1 is away:\n%s", exposition)
	}

	if err := os.Rename(away, g.LocalDirs[1]); err != nil {
		t.Fatal(err)
	}
	poll("ready with local1 back", func() bool { code, _ := httpGet(t, admin+"/readyz"); return code == 200 })
}
