package replica

import (
	"bytes"
	"context"
	"testing"
)

func TestMemberByteCounters(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	s, _ := newTestSet(t, Options{}, a, b)
	data := pattern(7, 3*testBuf+5)
	if err := s.Put(context.Background(), "b/obj", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	readAll(t, s, "b/obj", 0, -1)
	readAll(t, s, "b/obj", 10, 100)
	var read, written int64
	for _, h := range s.Health() {
		if h.WrittenBytes != int64(len(data)) {
			t.Errorf("%s: %d bytes written, want %d", h.Name, h.WrittenBytes, len(data))
		}
		read += h.ReadBytes
		written += h.WrittenBytes
	}
	tr := s.Traffic()
	if read != int64(len(data))+100 || read != tr.ReadBytes || written != tr.WrittenBytes {
		t.Errorf("members read %d and wrote %d; the set's traffic: %+v", read, written, tr)
	}
}
