package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/twincrypt/twincrypt/backends"
)

func TestMapErr(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error // nil: no sentinel
	}{
		{"no such key", minio.ErrorResponse{Code: "NoSuchKey", StatusCode: 404}, backends.ErrNotFound},
		{"head 404", minio.ErrorResponse{Code: "NotFound", StatusCode: 404}, backends.ErrNotFound},
		{"invalid range", minio.ErrorResponse{Code: "InvalidRange", StatusCode: 416}, backends.ErrPrecondition},
		{"no such bucket", minio.ErrorResponse{Code: "NoSuchBucket", StatusCode: 404}, backends.ErrUnavailable},
		{"slow down", minio.ErrorResponse{Code: "SlowDown", StatusCode: 503}, backends.ErrUnavailable},
		{"500", minio.ErrorResponse{Code: "Whatever", StatusCode: 500}, backends.ErrUnavailable},
		{"429", minio.ErrorResponse{Code: "TooMany", StatusCode: 429}, backends.ErrUnavailable},
		{"wrapped 502", fmt.Errorf("x: %w", minio.ErrorResponse{StatusCode: 502}), backends.ErrUnavailable},
		{"network", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, backends.ErrUnavailable},
		{"truncated body", io.ErrUnexpectedEOF, backends.ErrUnavailable},
		{"access denied", minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403}, nil},
	}
	sentinels := []error{backends.ErrNotFound, backends.ErrUnavailable, backends.ErrPrecondition, backends.ErrInvalidName}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mapErr(context.Background(), tc.err)
			if !errors.Is(got, tc.err) {
				t.Errorf("mapErr(%v) = %v does not wrap the original", tc.err, got)
			}
			for _, s := range sentinels {
				if errors.Is(got, s) != (s == tc.want) {
					t.Errorf("mapErr(%v) = %v; errors.Is(%v) = %v", tc.err, got, s, errors.Is(got, s))
				}
			}
		})
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, err := range []error{context.Canceled, fmt.Errorf("x: %w", context.Canceled)} {
		if got := mapErr(canceled, err); got != err {
			t.Errorf("mapErr(canceled ctx, %v) = %v, want it unchanged", err, got)
		}
	}
	// A transport timeout while the caller's context is live is an outage.
	if got := mapErr(context.Background(), fmt.Errorf("x: %w", context.DeadlineExceeded)); !errors.Is(got, backends.ErrUnavailable) {
		t.Errorf("transport timeout mapped to %v, want ErrUnavailable", got)
	}
	if mapErr(context.Background(), nil) != nil {
		t.Error("mapErr(nil) != nil")
	}
}

func TestFill(t *testing.T) {
	tests := []struct {
		name    string
		in, lim int
		cap     int
		wantLen int
		wantEOF bool
	}{
		{"empty", 0, 100, 0, 0, true},
		{"short", 10, 100, 0, 10, true},
		{"exact", 100, 100, 0, 100, false},
		{"long", 300 << 10, 200 << 10, 0, 200 << 10, false},
		{"prealloc", 50, 100, 50, 50, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf, eof, err := fill(io.LimitReader(zeros{}, int64(tc.in)), make([]byte, 0, tc.cap), tc.lim)
			if err != nil || len(buf) != tc.wantLen || eof != tc.wantEOF {
				t.Fatalf("fill = %d bytes, eof %v, %v; want %d, %v", len(buf), eof, err, tc.wantLen, tc.wantEOF)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
