// Package redisconn opens the Redis connection that twincrypt's shared state
// (the Redis catalog and everything that makes several gateway instances act
// as one) runs on, from the URL in the config: a single server or a Redis
// Cluster, with or without TLS.
//
// URL forms:
//
//	redis://[user:password@]host:port[/db]             one server
//	rediss://...                                        the same over TLS
//	redis://[user:password@]host:port?cluster=true[&addr=host:port...]
//	                                                    a Redis Cluster; host and every
//	                                                    addr= are seed nodes; db must be 0
//
// Other query parameters are go-redis's (dial_timeout, read_timeout,
// pool_size, ...).
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrURL means the Redis URL cannot be used.
var ErrURL = errors.New("redis URL")

// Options tunes Open beyond what the URL says.
type Options struct {
	// Password, when not empty, replaces the URL's password (for a
	// password kept in a file or the environment).
	Password string
}

// Open returns a client for the URL without contacting Redis: a client
// whose server is down is still returned, and its commands fail until the
// server is back. The caller closes it.
func Open(raw string, o Options) (redis.UniversalClient, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrURL, err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("%w: %q must start with redis:// or rediss://", ErrURL, u.Redacted())
	}
	q := u.Query()
	cluster := q.Get("cluster") == "true" || len(q["addr"]) > 0
	q.Del("cluster")
	u.RawQuery = q.Encode()
	if !cluster {
		opt, err := redis.ParseURL(u.String())
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrURL, u.Redacted(), err)
		}
		if o.Password != "" {
			opt.Password = o.Password
		}
		return redis.NewClient(opt), nil
	}
	if p := u.Path; p != "" && p != "/" && p != "/0" {
		return nil, fmt.Errorf("%w: %q: a Redis Cluster has only database 0", ErrURL, u.Redacted())
	}
	u.Path = ""
	opt, err := redis.ParseClusterURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrURL, u.Redacted(), err)
	}
	if o.Password != "" {
		opt.Password = o.Password
	}
	return redis.NewClusterClient(opt), nil
}

// Ping checks that Redis answers within timeout.
func Ping(ctx context.Context, c redis.UniversalClient, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.Ping(ctx).Err()
}

// slogLogger passes go-redis's own messages (a pool that cannot dial, a
// cluster slot refresh that failed) to a slog.Logger.
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}

// LogTo sends go-redis's messages, which it otherwise prints to stderr in
// its own format, to log at level Warn. go-redis keeps one logger per
// process: the command that opens Redis calls LogTo once.
func LogTo(log *slog.Logger) { redis.SetLogger(slogLogger{log}) }
