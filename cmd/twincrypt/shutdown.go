package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// shutdownReportEvery is how often serve says what it still waits for while
// it shuts down.
const shutdownReportEvery = 3 * time.Second

// errSecondSignal ends serve when a second SIGINT or SIGTERM arrives while it
// waits for in-flight requests.
var errSecondSignal = errors.New("stopped at once by a second signal: in-flight requests were cut off")

// connCounter follows the connections of one server through
// http.Server.ConnState.
type connCounter struct {
	mu    sync.Mutex
	state map[net.Conn]http.ConnState
}

// track is an http.Server.ConnState hook.
func (cc *connCounter) track(c net.Conn, s http.ConnState) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.state == nil {
		cc.state = make(map[net.Conn]http.ConnState)
	}
	switch s {
	case http.StateClosed, http.StateHijacked:
		delete(cc.state, c)
	default:
		cc.state[c] = s
	}
}

// counts returns the connections that carry a request and all open ones.
func (cc *connCounter) counts() (active, open int) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for _, s := range cc.state {
		if s == http.StateActive {
			active++
		}
	}
	return active, len(cc.state)
}

// inFlight sums counts over servers.
func inFlight(servers []*namedServer) (requests, conns int) {
	for _, ns := range servers {
		if ns.conns == nil {
			continue
		}
		a, o := ns.conns.counts()
		requests += a
		conns += o
	}
	return requests, conns
}

// shutdown stops servers gracefully: they accept no new connections, close
// idle ones, and let in-flight requests finish for up to grace, saying
// every shutdownReportEvery how many are left. At the deadline the
// connections still open are closed. A signal on again closes them at once
// and returns errSecondSignal. Nothing acknowledged is lost either way: a
// write is acknowledged only once it is stored.
func shutdown(servers []*namedServer, grace time.Duration, again <-chan os.Signal, log *slog.Logger) error {
	reqs, conns := inFlight(servers)
	log.Info("shutting down: accepting no new connections, waiting for in-flight requests",
		"requests", reqs, "connections", conns, "deadline", grace)
	deadline := time.Now().Add(grace)
	sctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	done := make(chan bool, 1)
	go func() {
		var wg sync.WaitGroup
		var mu sync.Mutex
		cut := false
		for _, ns := range servers {
			wg.Go(func() {
				if err := ns.srv.Shutdown(sctx); err != nil {
					mu.Lock()
					cut = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		done <- cut
	}()
	tick := time.NewTicker(shutdownReportEvery)
	defer tick.Stop()
	for {
		select {
		case cut := <-done:
			if cut {
				reqs, conns := inFlight(servers)
				log.Warn("shutdown deadline passed: closing the connections of unfinished requests (none of them was acknowledged)",
					"requests", reqs, "connections", conns, "deadline", grace)
				for _, ns := range servers {
					ns.srv.Close()
				}
			}
			return nil
		case <-tick.C:
			reqs, conns := inFlight(servers)
			log.Info("shutting down: waiting for in-flight requests",
				"requests", reqs, "connections", conns, "left", time.Until(deadline).Round(time.Second))
		case s := <-again:
			reqs, conns := inFlight(servers)
			log.Error("second signal: exiting at once, cutting off in-flight requests (none of them was acknowledged)",
				"signal", s.String(), "requests", reqs, "connections", conns)
			for _, ns := range servers {
				ns.srv.Close()
			}
			return errSecondSignal
		}
	}
}
