package checksum

import "encoding/binary"

// crcGF computes in GF(2)[x] modulo the polynomial of a reflected CRC of
// width bits whose initial value and final XOR are both all ones (CRC-32,
// CRC-32C, CRC-64/NVME). For such a CRC,
//
//	crc(A || B) = crc(A) * x^(8*len(B)) mod P  XOR  crc(B)
//
// (zlib's crc32_combine, generalised to 64 bits): the CRC of a whole
// multipart object follows from its parts' CRCs and lengths.
type crcGF struct {
	width int
	poly  uint64 // reflected polynomial
}

func crcParams(a Algorithm) crcGF {
	switch a {
	case CRC32:
		return crcGF{32, 0xedb88320}
	case CRC32C:
		return crcGF{32, 0x82f63b78}
	default:
		return crcGF{64, crc64NVMEPoly}
	}
}

// one is the polynomial 1 (x^0) in reflected representation.
func (g crcGF) one() uint64 { return 1 << (g.width - 1) }

// mul returns a*b mod P.
func (g crcGF) mul(a, b uint64) uint64 {
	m := g.one()
	var p uint64
	for {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				break
			}
		}
		m >>= 1
		if b&1 != 0 {
			b = b>>1 ^ g.poly
		} else {
			b >>= 1
		}
	}
	return p
}

// xpow8n returns x^(8n) mod P.
func (g crcGF) xpow8n(n int64) uint64 {
	p := g.one()
	base := g.one() >> 8 // x^8
	for n > 0 {
		if n&1 != 0 {
			p = g.mul(base, p)
		}
		base = g.mul(base, base)
		n >>= 1
	}
	return p
}

// combine returns the CRC of A || B from crc(A), crc(B) and len(B).
func (g crcGF) combine(crcA, crcB uint64, lenB int64) uint64 {
	if crcA == 0 {
		return crcB
	}
	return g.mul(g.xpow8n(lenB), crcA) ^ crcB
}

func (g crcGF) load(b []byte) uint64 {
	if g.width == 32 {
		return uint64(binary.BigEndian.Uint32(b))
	}
	return binary.BigEndian.Uint64(b)
}

func (g crcGF) store(v uint64) []byte {
	if g.width == 32 {
		return binary.BigEndian.AppendUint32(nil, uint32(v))
	}
	return binary.BigEndian.AppendUint64(nil, v)
}
