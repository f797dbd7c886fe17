package gateway

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/twincrypt/twincrypt/gateway/checksum"
)

// TestRecordChecksumCompatible checks that records written before
// checksums were kept still decode, without a checksum, and that one with
// a checksum keeps it through its JSON encoding.
func TestRecordChecksumCompatible(t *testing.T) {
	old := `{"v":1,"kind":"object","bucket":"b","key":"k","size":3,"etag":"900150983cd24fb0d6963f7d28e17f72-1",` +
		`"mtime":"2026-01-02T03:04:05Z","gen":7,"parts":[{"blob":"00112233445566778899aabbccddeeff","size":3,"etag":"900150983cd24fb0d6963f7d28e17f72","hdr":""}]}`
	var r record
	if err := json.Unmarshal([]byte(old), &r); err != nil {
		t.Fatal(err)
	}
	if info := r.info(); info.Checksum != nil || info.PartChecksums != nil || info.Size != 3 {
		t.Errorf("old record: checksum %+v, parts %x, size %d", info.Checksum, info.PartChecksums, info.Size)
	}
	sum := checksum.SHA256.Sum([]byte("abc"))
	r.Checksum = newChecksumRecord(checksum.CompositeOf(checksum.SHA256, [][]byte{sum}))
	r.Parts[0].Sum = sum
	b, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	var back record
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	info := back.info()
	if c := info.Checksum; c == nil || c.Type != checksum.Composite || c.Parts != 1 || c.String() != r.Checksum.checksum().String() {
		t.Errorf("checksum after a round trip: %+v", c)
	}
	if len(info.PartChecksums) != 1 || !bytes.Equal(info.PartChecksums[0], sum) {
		t.Errorf("part checksums after a round trip: %x", info.PartChecksums)
	}
	// A record whose checksum does not fit its algorithm has none.
	back.Checksum.Sum = back.Checksum.Sum[:3]
	if back.info().Checksum != nil {
		t.Error("checksum of the wrong length returned")
	}
}
