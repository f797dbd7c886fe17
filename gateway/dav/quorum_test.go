package dav_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway/dav"
	"github.com/twincrypt/twincrypt/internal/testns"
)

// failingStore fails every Put with err once failing is set.
type failingStore struct {
	backends.Backend
	err     error
	failing atomic.Bool
}

func (f *failingStore) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if f.failing.Load() {
		return f.err
	}
	return f.Backend.Put(ctx, name, r, size)
}

// TestWriteWithoutProviders checks that writes too few storage providers
// could take answer 503 Service Unavailable, not 500: a PUT, a MKCOL of a
// directory and of a collection at the root (a bucket).
func TestWriteWithoutProviders(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"quorum not met", fmt.Errorf("%w: backend b: put: %w", backends.ErrQuorum, backends.ErrNotFound)},
		{"providers unreachable", fmt.Errorf("backend b: put: %w", backends.ErrUnavailable)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := &failingStore{err: tc.err}
			te := testns.New(t, testns.Options{Bucket: "bucket", Wrap: func(b backends.Backend) backends.Backend {
				store.Backend = b
				return store
			}})
			srv := httptest.NewServer(dav.New(te.NS, dav.Options{Users: map[string]string{user: pass}}))
			t.Cleanup(srv.Close)
			store.failing.Store(true)
			for _, req := range []struct{ method, path, body string }{
				{"PUT", "/bucket/file.txt", "content"},
				{"PUT", "/bucket/empty.txt", ""},
				{"MKCOL", "/bucket/dir", ""},
				{"MKCOL", "/newbucket", ""},
			} {
				r, err := http.NewRequest(req.method, srv.URL+req.path, strings.NewReader(req.body))
				if err != nil {
					t.Fatal(err)
				}
				r.SetBasicAuth(user, pass)
				resp, err := http.DefaultClient.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusServiceUnavailable {
					t.Errorf("%s %s without providers: status %d, want 503", req.method, req.path, resp.StatusCode)
				}
			}
		})
	}
}
