package s3api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/s3api"
	"github.com/twincrypt/twincrypt/internal/testns"
)

// quorumStore fails every Put with err once failing is set, as a
// replicated set does when too few of its providers take a write.
type quorumStore struct {
	backends.Backend
	err     error
	failing atomic.Bool
}

func (q *quorumStore) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if q.failing.Load() {
		return q.err
	}
	return q.Backend.Put(ctx, name, r, size)
}

// TestQuorumFailure checks that a write fewer providers than the quorum
// could take answers 503 ServiceUnavailable with a message that says so,
// whatever the providers' own errors were; never 500.
func TestQuorumFailure(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"providers unreachable", fmt.Errorf("%w: backend b: put: %w", backends.ErrQuorum, backends.ErrUnavailable)},
		{"provider directory gone", fmt.Errorf("%w: backend b: put: %w", backends.ErrQuorum, backends.ErrNotFound)},
		{"provider disk full", fmt.Errorf("%w: backend b: put: no space left on device", backends.ErrQuorum)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := &quorumStore{err: tc.err}
			c, _ := newServerWith(t, testns.Options{Wrap: func(b backends.Backend) backends.Backend {
				store.Backend = b
				return store
			}})
			store.failing.Store(true)
			_, err := c.PutObject(context.Background(), "unit", "k", strings.NewReader("data"), 4, minio.PutObjectOptions{})
			r := minio.ToErrorResponse(err)
			if r.StatusCode != http.StatusServiceUnavailable || r.Code != "ServiceUnavailable" || r.Message != s3api.QuorumMessage {
				t.Fatalf("PUT without quorum: %d %s %q (%v)", r.StatusCode, r.Code, r.Message, err)
			}
		})
	}
}
