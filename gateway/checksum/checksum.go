// Package checksum holds the object checksums of the S3 API: the five
// algorithms (CRC32, CRC32C, CRC64NVME, SHA1, SHA256), their wire form
// (base64 of the big-endian digest), the composite checksum of a multipart
// object (the checksum of the parts' checksums, "-N" appended) and the
// full-object CRC of a multipart object combined from its parts' CRCs.
package checksum

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/minio/crc64nvme"
)

// Algorithm is a checksum algorithm, named as S3 names it in
// x-amz-checksum-algorithm and in XML (upper case).
type Algorithm string

// The algorithms of the S3 API.
const (
	CRC32     Algorithm = "CRC32"
	CRC32C    Algorithm = "CRC32C"
	CRC64NVME Algorithm = "CRC64NVME"
	SHA1      Algorithm = "SHA1"
	SHA256    Algorithm = "SHA256"
)

// Algorithms lists every algorithm.
var Algorithms = []Algorithm{CRC32, CRC32C, CRC64NVME, SHA1, SHA256}

// Default is the algorithm of the checksum the gateway computes for an
// object whose writer asked for none, as S3 does for new objects.
const Default = CRC64NVME

// crc64NVMEPoly is the CRC-64/NVME polynomial in reversed (LSB-first)
// form, as hash/crc64 takes it.
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

var crc32cTable = crc32.MakeTable(crc32.Castagnoli)

// Errors that callers branch on. Both wrap into an *Error that carries the
// message S3 answers with.
var (
	// ErrMismatch: a checksum the client sent does not match the data
	// (S3: 400 BadDigest, or InvalidPart for a part list).
	ErrMismatch = errors.New("checksum mismatch")
	// ErrInvalid: a checksum, algorithm or type the client sent is
	// malformed or cannot be used (S3: 400 InvalidRequest).
	ErrInvalid = errors.New("invalid checksum request")
)

// Error is a checksum error with the message S3 answers it with.
type Error struct {
	Kind    error // ErrMismatch or ErrInvalid
	Message string
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns e's kind, for errors.Is.
func (e *Error) Unwrap() error { return e.Kind }

// Invalidf returns an ErrInvalid error with the formatted message.
func Invalidf(format string, args ...any) error {
	return &Error{Kind: ErrInvalid, Message: fmt.Sprintf(format, args...)}
}

// MismatchError returns the ErrMismatch error S3 answers a body whose
// checksum of algorithm a is not the one sent with it.
func MismatchError(a Algorithm) error {
	return &Error{Kind: ErrMismatch, Message: fmt.Sprintf("The %s you specified did not match the calculated checksum.", a)}
}

// Parse returns the algorithm named s, in any case.
func Parse(s string) (Algorithm, error) {
	a := Algorithm(strings.ToUpper(strings.TrimSpace(s)))
	if !a.Valid() {
		return "", Invalidf("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
	}
	return a, nil
}

// FromHeader returns the algorithm of a header or trailer named
// x-amz-checksum-<alg> (any case), and whether name is one.
func FromHeader(name string) (Algorithm, bool) {
	const prefix = "x-amz-checksum-"
	name = strings.ToLower(name)
	if !strings.HasPrefix(name, prefix) {
		return "", false
	}
	a := Algorithm(strings.ToUpper(name[len(prefix):]))
	return a, a.Valid()
}

// Valid reports whether a is one of Algorithms.
func (a Algorithm) Valid() bool {
	switch a {
	case CRC32, CRC32C, CRC64NVME, SHA1, SHA256:
		return true
	}
	return false
}

// New returns a hash computing a's checksum; a must be valid.
func (a Algorithm) New() hash.Hash {
	switch a {
	case CRC32:
		return crc32.NewIEEE()
	case CRC32C:
		return crc32.New(crc32cTable)
	case CRC64NVME:
		// github.com/minio/crc64nvme computes CRC-64/NVME with
		// carry-less multiplication where the CPU has it (tens of
		// GB/s); hash/crc64 with this polynomial has only its plain
		// table (about 300 MB/s here), which would make the default
		// checksum of every write slower than its encryption.
		return crc64nvme.New()
	case SHA1:
		return sha1.New()
	case SHA256:
		return sha256.New()
	}
	panic("checksum: unknown algorithm " + string(a))
}

// Size returns the length of a's digest in bytes (0 for an invalid a).
func (a Algorithm) Size() int {
	switch a {
	case CRC32, CRC32C:
		return 4
	case CRC64NVME:
		return 8
	case SHA1:
		return sha1.Size
	case SHA256:
		return sha256.Size
	}
	return 0
}

// Header returns the name of a's checksum header, x-amz-checksum-<alg>,
// in lower case.
func (a Algorithm) Header() string { return "x-amz-checksum-" + strings.ToLower(string(a)) }

// IsCRC reports whether a is a CRC, whose full-object checksum can be
// combined from those of the parts.
func (a Algorithm) IsCRC() bool { return a == CRC32 || a == CRC32C || a == CRC64NVME }

// Sum returns a's checksum of data.
func (a Algorithm) Sum(data []byte) []byte {
	h := a.New()
	h.Write(data)
	return h.Sum(nil)
}

// Type is how a multipart object's checksum is computed.
type Type string

// The checksum types of the S3 API.
const (
	// FullObject: the checksum of the whole object's bytes.
	FullObject Type = "FULL_OBJECT"
	// Composite: the checksum of the parts' checksums.
	Composite Type = "COMPOSITE"
)

// ParseType returns the type named s ("" for an empty s).
func ParseType(s string) (Type, error) {
	switch t := Type(strings.ToUpper(strings.TrimSpace(s))); t {
	case "", FullObject, Composite:
		return t, nil
	}
	return "", Invalidf("Value for x-amz-checksum-type header is invalid.")
}

// DefaultType returns the type of a multipart upload of algorithm a that
// names none: FULL_OBJECT for CRC64NVME, which has no composite form,
// COMPOSITE for the others, as on S3.
func DefaultType(a Algorithm) Type {
	if a == CRC64NVME {
		return FullObject
	}
	return Composite
}

// CheckType returns an ErrInvalid error when a multipart upload cannot use
// type t with algorithm a.
func CheckType(a Algorithm, t Type) error {
	switch {
	case t == FullObject && !a.IsCRC():
		return Invalidf("The FULL_OBJECT checksum type cannot be used with the %s checksum algorithm.", strings.ToLower(string(a)))
	case t == Composite && a == CRC64NVME:
		return Invalidf("The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.")
	}
	return nil
}

// Checksum is the checksum of an object or part.
type Checksum struct {
	Algorithm Algorithm
	Type      Type
	Sum       []byte // the raw digest
	Parts     int    // Composite: the number of parts
}

// String returns c in its wire form: the base64 of the digest, and for a
// composite checksum "-" and the number of parts.
func (c Checksum) String() string {
	s := Encode(c.Sum)
	if c.Type == Composite && c.Parts > 0 {
		s += "-" + strconv.Itoa(c.Parts)
	}
	return s
}

// Encode returns the wire form of a raw digest (standard base64).
func Encode(sum []byte) string { return base64.StdEncoding.EncodeToString(sum) }

// Decode parses the wire form of a checksum of algorithm a; a composite
// value's "-N" suffix is returned as parts (0 without one).
func Decode(a Algorithm, s string) (sum []byte, parts int, err error) {
	v := s
	if i := strings.LastIndexByte(s, '-'); i > 0 {
		n, err := strconv.Atoi(s[i+1:])
		if err != nil || n < 1 || n > 10000 {
			return nil, 0, Invalidf("Value for %s header is invalid.", a.Header())
		}
		v, parts = s[:i], n
	}
	sum, err = base64.StdEncoding.DecodeString(v)
	if err != nil || len(sum) != a.Size() {
		return nil, 0, Invalidf("Value for %s header is invalid.", a.Header())
	}
	return sum, parts, nil
}

// CompositeOf returns the composite checksum of parts, the raw digests of
// algorithm a of each part in order: a's checksum of their concatenation,
// with the number of parts.
func CompositeOf(a Algorithm, parts [][]byte) Checksum {
	h := a.New()
	for _, p := range parts {
		h.Write(p)
	}
	return Checksum{Algorithm: a, Type: Composite, Sum: h.Sum(nil), Parts: len(parts)}
}

// FullObjectOf returns the full-object CRC of algorithm a of the
// concatenation of parts, given each part's raw CRC and its length in
// bytes, without the data. It is an ErrInvalid error for a non-CRC a.
func FullObjectOf(a Algorithm, parts [][]byte, sizes []int64) (Checksum, error) {
	if !a.IsCRC() {
		return Checksum{}, CheckType(a, FullObject)
	}
	if len(parts) != len(sizes) {
		return Checksum{}, fmt.Errorf("checksum: %d part checksums for %d sizes", len(parts), len(sizes))
	}
	g := crcParams(a)
	var crc uint64
	for i, p := range parts {
		if len(p) != a.Size() {
			return Checksum{}, fmt.Errorf("checksum: part %d: %d-byte %s", i+1, len(p), a)
		}
		crc = g.combine(crc, g.load(p), sizes[i])
	}
	return Checksum{Algorithm: a, Type: FullObject, Sum: g.store(crc)}, nil
}
