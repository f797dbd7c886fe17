package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twincrypt/twincrypt/internal/redisconn"
)

// RedisServer is a redis-server on a loopback port, started by StartRedis or
// as one node of StartRedisCluster, and killed when the test ends. It keeps
// nothing on disk between starts unless the test restarts it (Stop, Start),
// which keeps its in-memory data only as far as Redis itself would: with no
// persistence configured, a restart starts empty.
type RedisServer struct {
	Addr string // host:port
	Dir  string // working directory: log, cluster config

	t     testing.TB
	bin   string
	args  []string
	mu    sync.Mutex
	cmd   *exec.Cmd
	exitc chan struct{}
}

// StartRedis starts a redis-server on a free loopback port with no
// persistence. A missing redis-server is reported with Unavailable.
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	return startRedis(t, "")
}

// durable are the arguments that make a server keep every acknowledged
// write across a crash: an append-only file fsynced on every write.
var durable = []string{"--appendonly", "yes", "--appendfsync", "always"}

// StartRedisDurable is StartRedis with persistence (an append-only file
// fsynced on every write), so that data survives Stop and Start.
func StartRedisDurable(t testing.TB) *RedisServer {
	t.Helper()
	return startRedis(t, "", durable...)
}

// URL is the server's redis:// URL for database 0.
func (r *RedisServer) URL() string { return "redis://" + r.Addr + "/0" }

func startRedis(t testing.TB, dir string, extra ...string) *RedisServer {
	t.Helper()
	bin := Tool(t, "redis-server")
	if dir == "" {
		dir = t.TempDir()
	}
	addr := freeRedisAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	r := &RedisServer{Addr: addr, Dir: dir, t: t, bin: bin}
	r.args = append([]string{
		"--bind", host, "--port", port,
		"--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"),
		"--protected-mode", "no",
	}, extra...)
	t.Cleanup(r.Stop)
	r.Start()
	return r
}

// freeRedisAddr returns a free loopback port low enough that port+10000 (the
// cluster bus port) is a valid port too.
func freeRedisAddr(t testing.TB) string {
	t.Helper()
	for range 100 {
		addr := FreeAddr(t)
		_, p, _ := net.SplitHostPort(addr)
		var port int
		fmt.Sscan(p, &port)
		if port+10000 > 65535 {
			continue
		}
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+10000)); err == nil {
			l.Close()
			return addr
		}
	}
	t.Fatalf("redis: no free port pair found")
	return ""
}

// Start starts the server, or restarts it after Stop on the same address,
// and waits until it answers PING. Starting a running server does nothing.
func (r *RedisServer) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return
	}
	cmd := exec.Command(r.bin, r.args...)
	cmd.Dir = r.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("redis-server: start: %v", err)
	}
	exitc := make(chan struct{})
	go func() { cmd.Wait(); close(exitc) }()
	r.cmd, r.exitc = cmd, exitc
	for range readyTries {
		select {
		case <-exitc:
			r.cmd = nil
			r.t.Fatalf("redis-server exited during startup: %v\n%s", cmd.ProcessState, r.log())
		default:
		}
		if reply, err := r.command("PING"); err == nil && strings.HasPrefix(reply, "+PONG") {
			return
		}
		time.Sleep(readyPause)
	}
	r.killLocked()
	r.t.Fatalf("redis-server did not answer on %s\n%s", r.Addr, r.log())
}

// Stop kills the server with SIGKILL, as a crash would. Stopping a stopped
// server does nothing.
func (r *RedisServer) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.killLocked()
}

func (r *RedisServer) killLocked() {
	if r.cmd == nil {
		return
	}
	syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	<-r.exitc
	r.cmd, r.exitc = nil, nil
}

func (r *RedisServer) log() string {
	b, err := os.ReadFile(filepath.Join(r.Dir, "redis.log"))
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// command sends one inline command and returns the first line of the reply.
func (r *RedisServer) command(cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", r.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if n == 0 {
		return "", err
	}
	return string(buf[:n]), nil
}

// RedisCluster is a Redis Cluster of three masters without replicas on
// loopback, started by StartRedisCluster.
type RedisCluster struct {
	Nodes []*RedisServer
}

// StartRedisCluster starts three redis-server nodes in cluster mode, joins
// them with `redis-cli --cluster create` and waits until the cluster state
// is ok. A missing redis-server or redis-cli is reported with Unavailable.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	return startRedisCluster(t)
}

// StartRedisClusterDurable is StartRedisCluster with persistence on every
// node (see StartRedisDurable): the cluster comes back with its data after
// Stop and Start of its nodes.
func StartRedisClusterDurable(t testing.TB) *RedisCluster {
	t.Helper()
	return startRedisCluster(t, durable...)
}

func startRedisCluster(t testing.TB, extra ...string) *RedisCluster {
	t.Helper()
	cli := Tool(t, "redis-cli")
	c := &RedisCluster{}
	addrs := make([]string, 3)
	for i := range 3 {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("node%d", i))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		n := startRedis(t, dir, append([]string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000"}, extra...)...)
		c.Nodes = append(c.Nodes, n)
		addrs[i] = n.Addr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitOK(t)
	return c
}

// URL is the cluster's redis:// URL as twincrypt's config takes it: the
// first node as the host and the others as addr= seeds.
func (c *RedisCluster) URL() string {
	u := "redis://" + c.Nodes[0].Addr + "/0?cluster=true"
	for _, n := range c.Nodes[1:] {
		u += "&addr=" + n.Addr
	}
	return u
}

// Stop kills every node, as a crash of the whole cluster would.
func (c *RedisCluster) Stop() {
	for _, n := range c.Nodes {
		n.Stop()
	}
}

// Start starts every node again after Stop and waits until the cluster
// state is ok (a durable cluster then has its data back).
func (c *RedisCluster) Start() {
	for _, n := range c.Nodes {
		n.Start()
	}
	c.waitOK(c.Nodes[0].t)
}

// waitOK waits until every node reports cluster_state:ok.
func (c *RedisCluster) waitOK(t testing.TB) {
	t.Helper()
	for range readyTries {
		ok := true
		for _, n := range c.Nodes {
			reply, err := n.command("CLUSTER INFO")
			if err != nil || !strings.Contains(reply, "cluster_state:ok") {
				ok = false
				break
			}
		}
		if ok {
			return
		}
		time.Sleep(readyPause)
	}
	t.Fatalf("redis cluster did not reach cluster_state:ok")
}

// RedisClient opens a go-redis client for url (a Redis URL as
// redisconn.Open takes it, e.g. a RedisServer's or RedisCluster's URL),
// closed when the test ends.
func RedisClient(t testing.TB, url string) redis.UniversalClient {
	t.Helper()
	c, err := redisconn.Open(url, redisconn.Options{})
	if err != nil {
		t.Fatalf("open a Redis client for %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
