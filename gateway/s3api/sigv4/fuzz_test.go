package sigv4

import (
	"bytes"
	"io"
	"testing"
)

// FuzzChunkedReader feeds arbitrary aws-chunked bodies to the decoder: it
// must never panic, and whenever it reports success it must have produced
// exactly the declared number of bytes.
func FuzzChunkedReader(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"), uint16(5), false)
	f.Add([]byte("3\r\nabc\r\n0\r\n\r\n"), uint16(3), false)
	f.Add(streamBody()[:200], uint16(100), true)
	f.Add([]byte("0;chunk-signature="+streamSig3+"\r\n\r\n"), uint16(0), true)
	f.Fuzz(func(t *testing.T, body []byte, decoded uint16, signed bool) {
		var s *chunkSigner
		var trailers []string
		if signed {
			s = &chunkSigner{key: signingKey(exampleSecret, scope{"20130524", "us-east-1"}), t: exampleTime,
				sc: scope{"20130524", "us-east-1"}, prev: streamSeed}
		} else {
			trailers = []string{"x-amz-checksum-crc32"}
		}
		c, e := newChunkedReader(bytes.NewReader(body), int64(decoded), s, !signed, trailers, 4096)
		if e != nil {
			t.Fatal(e)
		}
		out, err := io.ReadAll(c)
		if err == nil && len(out) != int(decoded) {
			t.Fatalf("decoded %d bytes without error, declared %d", len(out), decoded)
		}
		if err != nil {
			if _, ok := AsError(err); !ok {
				t.Fatalf("error is not an *Error: %v", err)
			}
		}
	})
}
