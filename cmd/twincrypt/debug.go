package main

import (
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/twincrypt/twincrypt/backends/replica"
)

// startDebug serves runtime profiles (/debug/pprof/) and counters
// (/debug/vars: the expvar variables and the replicated set's traffic) on
// addr. It is off unless serve is given --debug-addr; the listener has no
// authentication, so addr should be a loopback address.
func startDebug(addr string, log *slog.Logger, traffic func() replica.Traffic) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen debug: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/vars", varsHandler(traffic))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("debug listener stopped", "err", err)
		}
	}()
	log.Info("debug endpoints (pprof, expvar)", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}

// varsHandler answers with the expvar variables (command line, memory
// statistics) and the replicated set's traffic counters, as one JSON object.
func varsHandler(traffic func() replica.Traffic) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vars := make(map[string]json.RawMessage)
		expvar.Do(func(kv expvar.KeyValue) { vars[kv.Key] = json.RawMessage(kv.Value.String()) })
		t := traffic()
		for k, v := range map[string]int64{
			"twincrypt_backend_reads":           t.Reads,
			"twincrypt_backend_requested_bytes": t.RequestedBytes,
			"twincrypt_backend_read_bytes":      t.ReadBytes,
			"twincrypt_backend_written_bytes":   t.WrittenBytes,
		} {
			vars[k] = json.RawMessage(fmt.Sprint(v))
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(vars)
	})
}
