package main

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/twincrypt/twincrypt/backends/replica"
)

func TestVarsHandler(t *testing.T) {
	traffic := replica.Traffic{Reads: 3, RequestedBytes: 65552, ReadBytes: 65552, WrittenBytes: 9}
	rec := httptest.NewRecorder()
	varsHandler(func() replica.Traffic { return traffic }).ServeHTTP(rec, httptest.NewRequest("GET", "/debug/vars", nil))
	var vars map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &vars); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	for k, want := range map[string]string{
		"twincrypt_backend_reads":           "3",
		"twincrypt_backend_requested_bytes": "65552",
		"twincrypt_backend_read_bytes":      "65552",
		"twincrypt_backend_written_bytes":   "9",
	} {
		if got := string(vars[k]); got != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
	if _, ok := vars["memstats"]; !ok {
		t.Error("the runtime's memstats are missing")
	}
}
