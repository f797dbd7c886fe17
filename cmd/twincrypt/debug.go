package main

import (
	"encoding/json"
	"expvar"
	"fmt"
	"net/http"
	"net/http/pprof"

	"github.com/twincrypt/twincrypt/backends/replica"
)

// debugHandler serves runtime profiles (/debug/pprof/) and counters
// (/debug/vars: the expvar variables and the replicated set's traffic). The
// admin listener serves it behind SigV4 (docs/OPERATIONS.md).
func debugHandler(traffic func() replica.Traffic) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/vars", varsHandler(traffic))
	return mux
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
