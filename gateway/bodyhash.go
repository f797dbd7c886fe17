package gateway

import "context"

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
