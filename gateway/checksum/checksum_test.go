package checksum

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc64"
	"math/rand/v2"
	"testing"
)

// TestCheckValues checks every algorithm against the standard check value
// of "123456789" (the CRC catalogue's "check", the SHA digests of the same
// string).
func TestCheckValues(t *testing.T) {
	for _, tc := range []struct {
		a    Algorithm
		want string
	}{
		{CRC32, "cbf43926"},
		{CRC32C, "e3069283"},
		{CRC64NVME, "ae8b14860a799888"},
		{SHA1, "f7c3bc1d808e04732adf679965ccc34ca7ae3441"},
		{SHA256, "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"},
	} {
		got := tc.a.Sum([]byte("123456789"))
		if hex.EncodeToString(got) != tc.want {
			t.Errorf("%s: %x, want %s", tc.a, got, tc.want)
		}
		if len(got) != tc.a.Size() {
			t.Errorf("%s: %d bytes, Size says %d", tc.a, len(got), tc.a.Size())
		}
	}
}

// TestComposite checks composite checksums against values computed with
// Python's zlib and hashlib.
func TestComposite(t *testing.T) {
	a, b := []byte("hello, "), []byte("composite world")
	for _, tc := range []struct {
		alg  Algorithm
		want string
	}{
		{CRC32, "0/au/g==-2"},
		{SHA256, "5iWOeIET6DjY9RAOrO5Dkg6sL5ALdOx5uGJjqz+NXDs=-2"},
	} {
		c := CompositeOf(tc.alg, [][]byte{tc.alg.Sum(a), tc.alg.Sum(b)})
		if c.String() != tc.want {
			t.Errorf("%s composite: %s, want %s", tc.alg, c, tc.want)
		}
		sum, parts, err := Decode(tc.alg, tc.want)
		if err != nil || parts != 2 || !bytes.Equal(sum, c.Sum) {
			t.Errorf("Decode(%s): %x %d %v", tc.want, sum, parts, err)
		}
	}
	full, err := FullObjectOf(CRC32, [][]byte{CRC32.Sum(a), CRC32.Sum(b)}, []int64{int64(len(a)), int64(len(b))})
	if err != nil || full.String() != "t5aY4A==" {
		t.Errorf("CRC32 full object: %s %v, want t5aY4A==", full, err)
	}
}

// TestFullObjectCombine checks that the CRC combined from parts is the CRC
// of the concatenation, for parts of many lengths including empty ones.
func TestFullObjectCombine(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, a := range []Algorithm{CRC32, CRC32C, CRC64NVME} {
		for _, lens := range [][]int{{0}, {1}, {5, 0, 7}, {1 << 16, 3, 1<<20 + 1}, {0, 0}, {100, 200, 300, 400}} {
			var all []byte
			var sums [][]byte
			var sizes []int64
			for _, n := range lens {
				p := make([]byte, n)
				for i := range p {
					p[i] = byte(rng.Uint32())
				}
				all = append(all, p...)
				sums = append(sums, a.Sum(p))
				sizes = append(sizes, int64(n))
			}
			got, err := FullObjectOf(a, sums, sizes)
			if err != nil {
				t.Fatal(err)
			}
			if want := a.Sum(all); !bytes.Equal(got.Sum, want) || got.Type != FullObject {
				t.Errorf("%s %v: combined %x, want %x", a, lens, got.Sum, want)
			}
		}
	}
	for _, a := range []Algorithm{SHA1, SHA256} {
		if _, err := FullObjectOf(a, [][]byte{a.Sum(nil)}, []int64{0}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s full object: %v, want ErrInvalid", a, err)
		}
	}
}

func TestParseAndDecode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Algorithm
		ok   bool
	}{
		{"crc32", CRC32, true}, {"CRC32C", CRC32C, true}, {"Crc64Nvme", CRC64NVME, true},
		{"sha1", SHA1, true}, {"SHA256", SHA256, true}, {"md5", "", false}, {"", "", false},
	} {
		got, err := Parse(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Parse(%q) = %q, %v", tc.in, got, err)
		}
	}
	if a, ok := FromHeader("X-Amz-Checksum-Crc64nvme"); !ok || a != CRC64NVME {
		t.Errorf("FromHeader: %q %v", a, ok)
	}
	for _, h := range []string{"x-amz-checksum-type", "x-amz-checksum-mode", "x-amz-checksum-algorithm", "content-md5"} {
		if _, ok := FromHeader(h); ok {
			t.Errorf("FromHeader(%q) took it for a checksum", h)
		}
	}
	for _, tc := range []struct {
		a  Algorithm
		in string
		ok bool
	}{
		{CRC32, "AAAAAA==", true}, {CRC32, "AAAAAAA=", false}, {CRC32, "!!!!", false},
		{SHA1, Encode(SHA1.Sum(nil)), true}, {SHA256, Encode(SHA1.Sum(nil)), false},
		{CRC32, "AAAAAA==-0", false}, {CRC32, "AAAAAA==-x", false}, {CRC32, "AAAAAA==-3", true},
	} {
		_, _, err := Decode(tc.a, tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("Decode(%s, %q): %v", tc.a, tc.in, err)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Decode(%s, %q): %v is not ErrInvalid", tc.a, tc.in, err)
		}
	}
	for _, tc := range []struct {
		a  Algorithm
		t  Type
		ok bool
	}{
		{CRC32, FullObject, true}, {CRC32, Composite, true}, {CRC64NVME, FullObject, true},
		{CRC64NVME, Composite, false}, {SHA256, FullObject, false}, {SHA1, Composite, true},
	} {
		if err := CheckType(tc.a, tc.t); (err == nil) != tc.ok {
			t.Errorf("CheckType(%s, %s): %v", tc.a, tc.t, err)
		}
	}
}

// TestCRC64NVMEAgainstHashCRC64 checks the CRC64NVME implementation
// against hash/crc64 with the NVMe polynomial, on lengths around its
// block sizes.
func TestCRC64NVMEAgainstHashCRC64(t *testing.T) {
	table := crc64.MakeTable(crc64NVMEPoly)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 7, 8, 15, 16, 63, 64, 127, 128, 255, 256, 1023, 4096, 65537, 1<<20 + 3} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		want := binary.BigEndian.AppendUint64(nil, crc64.Checksum(p, table))
		if got := CRC64NVME.Sum(p); !bytes.Equal(got, want) {
			t.Errorf("%d bytes: %x, hash/crc64 %x", n, got, want)
		}
	}
}
