package e2e

import (
	"bufio"
	"context"
	"debug/elf"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/twincrypt/twincrypt/internal/testenv"
	"github.com/twincrypt/twincrypt/internal/testlog"
)

// imageUID is the user the container image runs as (distroless "nonroot").
const imageUID = 65532

// dockerfile is what TestImageBinary reads of the repository's Dockerfile:
// the go build flags of the build stage and the environment of the image.
type dockerfile struct {
	buildArgs []string          // between "go build" and "-o"
	env       map[string]string // ENV of the final stage
	cmd       []string          // ENTRYPOINT's arguments: CMD
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines.
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	d := dockerfile{env: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "RUN ") && strings.Contains(line, "go build"):
			args := shellWords(line[strings.Index(line, "go build")+len("go build"):])
			for i, a := range args {
				if a == "-o" {
					args = args[:i]
					break
				}
			}
			d.buildArgs = args
		case strings.HasPrefix(line, "ENV "):
			for _, kv := range strings.Fields(line[len("ENV "):]) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("Dockerfile: ENV %q is not KEY=VALUE", kv)
				}
				d.env[k] = v
			}
		case strings.HasPrefix(line, "CMD "):
			d.cmd = regexp.MustCompile(`"([^"]*)"`).FindAllString(line, -1)
			for i := range d.cmd {
				d.cmd[i] = strings.Trim(d.cmd[i], `"`)
			}
		}
	}
	if len(d.buildArgs) == 0 || len(d.env) == 0 || len(d.cmd) == 0 {
		t.Fatalf("Dockerfile: build flags %q, env %v, cmd %q: not all found", d.buildArgs, d.env, d.cmd)
	}
	return d
}

// shellWords splits s into words as sh does for words without variables:
// on spaces, with single-quoted parts kept whole.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted, inWord = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// TestImageBinary runs twincrypt the way the container image does, since no
// container engine runs here: built with the Dockerfile's flags and
// CGO_ENABLED=0 (a static binary), started with the image's CMD and ENV
// (state in TWINCRYPT_HOME, listeners on 0.0.0.0 without TLS by the
// image's explicit opt-out) as the image's non-root user when the test runs
// as root; reached on 127.0.0.1 with minio-go; stopped with the image's
// STOPSIGNAL.
func TestImageBinary(t *testing.T) {
	t.Parallel()
	d := readDockerfile(t)
	root, err := os.MkdirTemp("", "twincrypt-image-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "twincrypt")
	build := exec.Command("go", append(append([]string{"build"}, d.buildArgs...), "-o", bin, "./cmd/twincrypt")...)
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %q: %v\n%s", d.buildArgs, err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary has a dynamic loader: it would not run on a distroless static image")
		}
	}
	f.Close()

	data := filepath.Join(root, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	asRoot := os.Geteuid() == 0
	if asRoot {
		if err := os.Chown(data, imageUID, imageUID); err != nil {
			t.Fatal(err)
		}
	}
	// The image's environment, with its ports moved to free ones.
	ports := map[string]string{}
	env := []string{"PATH=/usr/bin:/bin", "TWINCRYPT_PASSPHRASE=image test passphrase"}
	for k, v := range d.env {
		switch {
		case k == "TWINCRYPT_HOME":
			v = data
		case strings.HasPrefix(k, "TWINCRYPT_LISTEN_") && strings.HasPrefix(v, "0.0.0.0:"):
			_, port, _ := net.SplitHostPort(testenv.FreeAddr(t))
			ports[k] = port
			v = "0.0.0.0:" + port
		}
		env = append(env, k+"="+v)
	}
	if ports["TWINCRYPT_LISTEN_S3"] == "" {
		t.Fatalf("the image's environment has no TWINCRYPT_LISTEN_S3 on 0.0.0.0: %v", d.env)
	}
	var out testlog.Buffer
	cmd := exec.Command(bin, d.cmd...)
	cmd.Env = env
	cmd.Dir = data
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if asRoot {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: imageUID, Gid: imageUID}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	keyRE := regexp.MustCompile(`(?m)^\s*access key:\s+(\S+)\n\s*secret key:\s+(\S+)`)
	var m []string
	for range 600 {
		if m = keyRE.FindStringSubmatch(out.String()); m != nil {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("serve exited (%v):\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if m == nil {
		t.Fatalf("serve printed no generated credentials:\n%s", out.String())
	}
	addr := "127.0.0.1:" + ports["TWINCRYPT_LISTEN_S3"]
	c, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(m[1], m[2], ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var mkErr error
	for range 100 {
		if mkErr = c.MakeBucket(ctx, "image", minio.MakeBucketOptions{}); mkErr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if mkErr != nil {
		t.Fatalf("MakeBucket: %v\n%s", mkErr, out.String())
	}
	body := faultData(3<<20, 7)
	mustPut(t, c, "image", "in/the/volume.bin", body)
	mustGet(t, c, "image", "in/the/volume.bin", body)

	// Everything it keeps is in the volume, owned by the image's user.
	if asRoot {
		err := filepath.Walk(data, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != imageUID {
				t.Errorf("%s is owned by uid %d, not the image's user %d", p, st.Uid, imageUID)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"twincrypt.yaml", "twincrypt.keyring"} {
		if _, err := os.Stat(filepath.Join(data, want)); err != nil {
			t.Errorf("the volume lacks %s: %v", want, err)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, out.String())
	}
	exited <- nil // for the cleanup
	if !strings.Contains(out.String(), "stopped") {
		t.Errorf("no \"stopped\" in the log:\n%s", out.String())
	}
}
