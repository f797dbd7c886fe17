package backends

import "testing"

func TestCopyBuffer(t *testing.T) {
	for _, tc := range []struct {
		size int64
		max  int
		want int
	}{
		{-1, 4096, 4096},   // unknown size
		{0, 4096, 1},       // empty body: room to see the end
		{100, 4096, 101},   // small body
		{4095, 4096, 4096}, // one byte below max
		{4096, 4096, 4096}, // at max
		{1 << 40, 4096, 4096},
	} {
		if got := len(CopyBuffer(tc.size, tc.max)); got != tc.want {
			t.Errorf("CopyBuffer(%d, %d): %d bytes, want %d", tc.size, tc.max, got, tc.want)
		}
	}
}
