package testenv_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/twincrypt/twincrypt/internal/testenv"
)

func TestVersityGW(t *testing.T) {
	ctx := context.Background()
	s := testenv.StartVersityGW(t)
	if s.Region != "us-east-1" || s.Endpoint != "http://"+s.Addr {
		t.Fatalf("server fields: %+v", s)
	}
	s.Bucket(t, "first")
	s.Bucket(t, "first") // idempotent
	if fi, err := os.Stat(filepath.Join(s.Dir, "first")); err != nil || !fi.IsDir() {
		t.Fatalf("bucket directory: %v", err)
	}
	c := s.Client(t)
	body := []byte("survives a restart")
	if _, err := c.PutObject(ctx, "first", "k", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}

	s.Stop()
	s.Stop() // idempotent
	if _, err := c.StatObject(ctx, "first", "k", minio.StatObjectOptions{}); err == nil {
		t.Fatal("StatObject succeeded against a stopped server")
	}

	s.Start()
	o, err := c.GetObject(ctx, "first", "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("GetObject after restart: %v", err)
	}
	got, err := io.ReadAll(o)
	o.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("object after restart: %q, %v", got, err)
	}
}
