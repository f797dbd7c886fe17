package s3api

import (
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twincrypt/twincrypt/gateway"
)

// TestNamespaceErrorAnswers: namespace errors a GET can meet come back with
// the status, code and message a client acts on: a small object replaced
// while it was read is a 503 to try again, never a 500.
func TestNamespaceErrorAnswers(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
		msg    string
	}{
		{fmt.Errorf("bucket/k: %w", gateway.ErrObjectChanged), http.StatusServiceUnavailable, "ServiceUnavailable", "The object changed while it was read; try again."},
		{fmt.Errorf("bucket/k: %w", gateway.ErrCatalogUnavailable), http.StatusServiceUnavailable, "ServiceUnavailable", CatalogMessage},
		{fmt.Errorf("bucket/k: %w", gateway.ErrIntegrity), http.StatusInternalServerError, "InternalError", ""},
	}
	for _, tt := range tests {
		h := withState(slog.New(slog.DiscardHandler), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeNSError(w, r, tt.err, "bucket", "k")
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/bucket/k", nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != tt.status || !strings.Contains(string(body), "<Code>"+tt.code+"</Code>") || !strings.Contains(string(body), html.EscapeString(tt.msg)) {
			t.Errorf("%v: %d %s, want %d %s %q", tt.err, rec.Code, body, tt.status, tt.code, tt.msg)
		}
	}
}
