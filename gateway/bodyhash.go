package gateway

import (
	"context"

	"github.com/twincrypt/twincrypt/gateway/checksum"
)

type bodyMD5Key struct{}

// WithBodyMD5 returns a context that tells PutObject and UploadPart, called
// with it, that the caller already has the MD5 of the body: sum is called
// once the body has been read to io.EOF and must return the MD5 of every
// byte the body yielded. The namespace then uses it for the ETag instead of
// hashing the body a second time. A front end sets it when its own layer
// hashes the body anyway, for example to verify a Content-MD5 header whose
// mismatch fails the body's final read.
func WithBodyMD5(ctx context.Context, sum func() []byte) context.Context {
	return context.WithValue(ctx, bodyMD5Key{}, sum)
}

func bodyMD5From(ctx context.Context) func() []byte {
	f, _ := ctx.Value(bodyMD5Key{}).(func() []byte)
	return f
}

type bodyChecksumKey struct{}

// bodyChecksum is what WithBodyChecksum attaches to a context.
type bodyChecksum struct {
	alg checksum.Algorithm
	sum func() []byte
}

// WithBodyChecksum returns a context that tells PutObject and UploadPart,
// called with it, that the caller already has the checksum of algorithm
// alg of the body: sum is called once the body has been read to io.EOF
// and must return it (the raw digest of every byte the body yielded). The
// namespace then stores it, when it stores a checksum of alg, instead of
// hashing the body once more. A front end sets it when its own layer
// verifies a checksum the client sent (a mismatch fails the body's final
// read).
func WithBodyChecksum(ctx context.Context, alg checksum.Algorithm, sum func() []byte) context.Context {
	return context.WithValue(ctx, bodyChecksumKey{}, bodyChecksum{alg: alg, sum: sum})
}

// bodyChecksumFrom returns the caller's checksum function for alg, or nil.
func bodyChecksumFrom(ctx context.Context, alg checksum.Algorithm) func() []byte {
	c, ok := ctx.Value(bodyChecksumKey{}).(bodyChecksum)
	if !ok || c.alg != alg {
		return nil
	}
	return c.sum
}
