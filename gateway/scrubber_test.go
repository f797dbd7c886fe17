package gateway_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/lease"
	"github.com/twincrypt/twincrypt/internal/testenv"
	"github.com/twincrypt/twincrypt/internal/testlog"
)

// TestRunScrubberWaitsForTheLease: while another instance holds the scrub
// lease, no pass runs; once it is released, one does.
func TestRunScrubberWaitsForTheLease(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := testenv.RedisClient(t, srv.URL())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	other, ok, err := lease.NewRedis(c, "").Acquire(ctx, gateway.ScrubLease, time.Hour)
	if !ok || err != nil {
		t.Fatal(ok, err)
	}

	e := newEnv(t)
	e.put(t, "obj", payload(1000, 1))
	meta := e.recordName(t, "bucket", "obj", "")
	if err := os.Remove(e.file(1, meta)); err != nil {
		t.Fatal(err)
	}
	var logs testlog.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	done := make(chan error, 1)
	go func() {
		done <- e.ns.RunScrubber(ctx, gateway.ScrubberOptions{
			Members: e.backendsOf(), Interval: time.Millisecond, Logger: log, Lease: lease.NewRedis(c, ""),
		})
	}()
	for strings.Count(logs.String(), "another instance holds the scrub lease") < 3 {
		time.Sleep(time.Millisecond)
	}
	if _, err := os.Stat(e.file(1, meta)); !os.IsNotExist(err) {
		t.Fatalf("a pass ran under another instance's lease: %v", err)
	}
	if err := other.Release(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(e.file(1, meta)); err == nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("RunScrubber returned %v, want context.Canceled", err)
	}
}
