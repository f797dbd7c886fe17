package redisconn

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestSlogLogger(t *testing.T) {
	var buf bytes.Buffer
	l := slogLogger{slog.New(slog.NewTextHandler(&buf, nil))}
	l.Printf(context.Background(), "connection pool: failed to dial after %d attempts: %v", 5, "refused")
	got := buf.String()
	for _, want := range []string{"level=WARN", `msg="redis client: connection pool: failed to dial after 5 attempts: refused"`} {
		if !strings.Contains(got, want) {
			t.Errorf("log %q lacks %q", got, want)
		}
	}
}
