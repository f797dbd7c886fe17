package redisconn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twincrypt/twincrypt/internal/redisconn"
	"github.com/twincrypt/twincrypt/internal/testenv"
)

func TestOpenRefuses(t *testing.T) {
	for _, raw := range []string{
		"http://127.0.0.1:6379",
		"redis://127.0.0.1:6379/3?cluster=true",
		"redis://127.0.0.1:6379/0?no_such_option=1",
		"://",
	} {
		if c, err := redisconn.Open(raw, redisconn.Options{}); !errors.Is(err, redisconn.ErrURL) {
			if c != nil {
				c.Close()
			}
			t.Errorf("Open(%q) = %v, want ErrURL", raw, err)
		}
	}
}

func TestOpenServerAndCluster(t *testing.T) {
	t.Parallel()
	single := testenv.StartRedis(t)
	cluster := testenv.StartRedisCluster(t)
	for _, tc := range []struct {
		name, url   string
		wantCluster bool
	}{
		{"single", single.URL(), false},
		{"cluster", cluster.URL(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := redisconn.Open(tc.url, redisconn.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, ok := c.(*redis.ClusterClient); ok != tc.wantCluster {
				t.Fatalf("client %T, want cluster %v", c, tc.wantCluster)
			}
			ctx := context.Background()
			if err := redisconn.Ping(ctx, c, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			// Keys in every slot range: a cluster client must route them.
			for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
				if err := c.Set(ctx, k, k+"-v", 0).Err(); err != nil {
					t.Fatalf("SET %s: %v", k, err)
				}
				if v, err := c.Get(ctx, k).Result(); err != nil || v != k+"-v" {
					t.Fatalf("GET %s = %q, %v", k, v, err)
				}
			}
		})
	}
}

func TestDownServer(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	c, err := redisconn.Open(r.URL(), redisconn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r.Stop()
	if err := redisconn.Ping(context.Background(), c, 2*time.Second); err == nil {
		t.Fatal("Ping of a stopped server succeeded")
	}
	r.Start()
	if err := redisconn.Ping(context.Background(), c, 5*time.Second); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
}
