package gateway

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRecordClass checks the size classes: never smaller than the record,
// powers of two up to 16 KiB, at most 12% more beyond.
func TestRecordClass(t *testing.T) {
	for _, tt := range []struct{ n, want int }{
		{0, 1024}, {1, 1024}, {1024, 1024}, {1025, 2048}, {4096, 4096}, {16384, 16384}, {16385, 17408}, {65537, 67584}, {1 << 20, 1 << 20},
	} {
		if got := recordClass(tt.n); got != tt.want {
			t.Errorf("recordClass(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
	classes := map[int]bool{}
	for n := 0; n <= 1<<20; n++ {
		c := recordClass(n)
		if c < n || (n > maxPow2Class && float64(c) > float64(n)*1.12) {
			t.Fatalf("recordClass(%d) = %d", n, c)
		}
		if n <= maxPow2Class {
			classes[c] = true
		}
	}
	if len(classes) != 5 {
		t.Errorf("%d classes up to 16 KiB, want 5", len(classes))
	}
	// Padded records decode as the unpadded ones do.
	plain, _ := json.Marshal(record{Version: recordVersion, Kind: kindObject, Bucket: "b", Key: "k"})
	var r record
	if err := json.Unmarshal(padRecord(plain), &r); err != nil || r.Key != "k" {
		t.Fatalf("padded record: %+v, %v", r, err)
	}
}

// TestRecordWithoutTags checks that records written before tags existed
// read as records without tags, and that tags survive a round trip.
func TestRecordWithoutTags(t *testing.T) {
	for _, tt := range []struct {
		name, json string
		want       map[string]string
	}{
		{"old record", `{"v":1,"kind":"object","bucket":"b","key":"k","size":1,"mtime":"2026-01-01T00:00:00Z","gen":3,"meta":{"Content-Type":"a/b"}}`, nil},
		{"tagged record", `{"v":1,"kind":"object","bucket":"b","key":"k","size":1,"mtime":"2026-01-01T00:00:00Z","gen":3,"tags":{"a":"b"}}`, map[string]string{"a": "b"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var r record
			if err := json.Unmarshal(padRecord([]byte(tt.json)), &r); err != nil {
				t.Fatal(err)
			}
			if len(r.Tags) != len(tt.want) || r.Tags["a"] != tt.want["a"] || r.Generation != 3 {
				t.Errorf("decoded %+v", r)
			}
			out, _ := json.Marshal(&r)
			if strings.Contains(string(out), `"tags"`) != (tt.want != nil) {
				t.Errorf("encoded %s", out)
			}
		})
	}
}
