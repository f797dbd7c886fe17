package sigv4

import (
	"io"
	"strings"

	"github.com/twincrypt/twincrypt/gateway/checksum"
)

// checksumHeaderPrefix starts the names of the checksum headers and
// trailers, in lower case.
const checksumHeaderPrefix = "x-amz-checksum-"

// checksumName returns the algorithm of a checksum header or trailer
// name (x-amz-checksum-<alg>) in lower case, as the error messages name
// it, and whether it is one this package verifies.
func checksumName(header string) (string, bool) {
	a, ok := checksum.FromHeader(header)
	return strings.ToLower(string(a)), ok
}

// checksumAlg returns the checksum.Algorithm of a lower-case name that
// checksumName accepted.
func checksumAlg(name string) checksum.Algorithm { return checksum.Algorithm(strings.ToUpper(name)) }

// Checksum returns the algorithm of the x-amz-checksum-<alg> checksum
// that body, the body of a request this package's middleware passed on,
// declared in a header or a trailer and verifies, and a function that
// returns its raw value once the body has been read to its end and
// verified (nil before, and nil if verification failed). ok is false when
// body is no such body or declared no checksum. With several checksum
// headers, the first in checksum.Algorithms' order is returned (every one
// is verified).
func Checksum(rb io.Reader) (alg checksum.Algorithm, value func() []byte, ok bool) {
	b, isBody := rb.(*body)
	if !isBody || b.sumAlg == "" {
		return "", nil, false
	}
	return b.sumAlg, func() []byte {
		if !b.done || b.failure() != nil {
			return nil
		}
		return b.sumValue
	}, true
}
