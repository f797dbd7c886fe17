package sigv4

import (
	"crypto/sha1"
	"crypto/sha256"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"strings"
)

// crc64NVME is the CRC-64/NVME polynomial in the reversed form that
// hash/crc64 takes.
const crc64NVME = 0x9a6c9329ac4bc9b5

// checksumAlgorithms are the x-amz-checksum-<name> algorithms verified,
// by lower-case name.
var checksumAlgorithms = map[string]func() hash.Hash{
	"crc32":     func() hash.Hash { return crc32.NewIEEE() },
	"crc32c":    func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) },
	"crc64nvme": func() hash.Hash { return crc64.New(crc64.MakeTable(crc64NVME)) },
	"sha1":      sha1.New,
	"sha256":    sha256.New,
}

// checksumHeaderPrefix starts the names of the checksum headers and
// trailers, in lower case.
const checksumHeaderPrefix = "x-amz-checksum-"

// checksumName returns the algorithm of a checksum header or trailer
// name, and whether it is one this package verifies.
func checksumName(header string) (string, bool) {
	header = strings.ToLower(header)
	if !strings.HasPrefix(header, checksumHeaderPrefix) {
		return "", false
	}
	alg := header[len(checksumHeaderPrefix):]
	if _, ok := checksumAlgorithms[alg]; !ok {
		return "", false
	}
	return alg, true
}
