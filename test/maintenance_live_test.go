package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

// TestMaintenanceWhileServing runs every maintenance command while the
// gateway serves: each runs inside it through the admin API, says so, and
// exits as it would alone. Without an admin listener the commands say how to
// reach the gateway; a second serve says another one runs. Nothing panics.
func TestMaintenanceWhileServing(t *testing.T) {
	g := StartGateway(t, Setup{Local: 2, Share: true})
	ctx := context.Background()
	c := faultClient(t, g)
	if err := c.MakeBucket(ctx, "live", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	for i, k := range []string{"a", "b", "c"} {
		d := faultData(70_000+i, uint64(i))
		if _, err := c.PutObject(ctx, "live", k, bytes.NewReader(d), int64(len(d)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.RemoveObject(ctx, "live", "c", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"scrub", "--deep"}, 0, "checked 1 buckets, 2 objects, 1 deletions"},
		{[]string{"repair"}, 0, "actions: 0"},
		{[]string{"gc", "--grace", "2h"}, 0, "deleted: 0"},
		{[]string{"gc", "--grace", "0s"}, 2, "--grace must be at least 1h0m0s"},
		{[]string{"rebuild-catalog"}, 0, "0 objects, 0 deletions, 6 skipped"},
		{[]string{"keys", "rotate"}, 0, "current key-encryption key of"},
		{[]string{"keys", "rewrap"}, 0, "2 of 2 objects rewrapped"},
		{[]string{"scrub"}, 0, "problems: 0"},
	} {
		out := g.mustRun(t, tc.code, append(tc.args, "-c", g.Config)...)
		if !strings.Contains(out, "running inside it (admin API http://"+g.AdminAddr+")") || !strings.Contains(out, tc.want) {
			t.Errorf("%s while serving: want %q and a note that it ran inside the gateway:\n%s", strings.Join(tc.args, " "), tc.want, out)
		}
		if strings.Contains(out, "panic") {
			t.Fatalf("%s panicked:\n%s", tc.args[0], out)
		}
	}
	// The gateway still serves, with the rotated key for new writes.
	if _, err := c.PutObject(ctx, "live", "d", bytes.NewReader([]byte("after")), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := getObject(ctx, c, "live", "a"); err != nil || len(got) != 70_000 {
		t.Fatalf("GET after maintenance: %d bytes, %v", len(got), err)
	}
	// A wrong passphrase does not rotate keys through the gateway.
	cmd := exec.Command(g.Bin, "keys", "rotate", "-c", g.Config)
	cmd.Env = append(os.Environ(), "TWINCRYPT_PASSPHRASE=wrong passphrase")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "passphrase") {
		t.Fatalf("keys rotate with a wrong passphrase through the gateway: %v\n%s", err, out)
	}

	// A second serve on the same config says why it cannot start.
	cmd = exec.Command(g.Bin, "serve", "-c", g.Config)
	cmd.Env = append(os.Environ(), "TWINCRYPT_PASSPHRASE="+passphrase)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another twincrypt serve runs on") || strings.Contains(string(out), "panic") {
		t.Fatalf("second serve: %v\n%s", err, out)
	}
}

// TestMaintenanceWithoutAdminListener checks that, with no admin listener,
// maintenance commands on a served config fail with a message that says
// what to do, and never panic.
func TestMaintenanceWithoutAdminListener(t *testing.T) {
	t.Parallel()
	g := StartGateway(t, Setup{Local: 2})
	for _, args := range [][]string{{"scrub"}, {"repair"}, {"gc"}, {"keys", "rewrap"}} {
		out := g.mustRun(t, 1, append(args, "-c", g.Config)...)
		if !strings.Contains(out, "set listen.admin") || strings.Contains(out, "panic") {
			t.Errorf("%s while serving without an admin listener:\n%s", args[0], out)
		}
	}
}
