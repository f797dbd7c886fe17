package backends

import (
	"context"
	"fmt"
	"io"
)

// ExactReader returns a reader that passes r through, enforcing the declared
// size (size < 0: unknown) and the context; backends wrap Put bodies with it.
// It never returns data together with an error, and it reports a body longer
// than declared (ErrPrecondition) before handing over the last declared
// byte, so a consumer cannot mistake a bad body for a good one. A body
// shorter than declared is ErrPrecondition too.
func ExactReader(ctx context.Context, r io.Reader, size int64) io.Reader {
	return &exactReader{ctx: ctx, r: r, remaining: size}
}

type exactReader struct {
	ctx       context.Context
	r         io.Reader
	remaining int64
	err       error
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if err := e.ctx.Err(); err != nil {
		e.err = err
		return 0, err
	}
	if e.remaining < 0 {
		n, err := e.r.Read(p)
		if err != nil && err != io.EOF {
			e.err = err
			return 0, err
		}
		return n, err
	}
	if e.remaining == 0 {
		var probe [1]byte
		for {
			n, err := e.r.Read(probe[:])
			if n > 0 {
				e.err = fmt.Errorf("%w: body longer than its declared size", ErrPrecondition)
				return 0, e.err
			}
			if err == io.EOF {
				return 0, io.EOF
			}
			if err != nil {
				e.err = err
				return 0, err
			}
		}
	}
	if int64(len(p)) > e.remaining {
		p = p[:e.remaining]
	}
	n, err := e.r.Read(p)
	e.remaining -= int64(n)
	switch {
	case err == io.EOF && e.remaining > 0:
		e.err = fmt.Errorf("%w: body %d bytes shorter than its declared size", ErrPrecondition, e.remaining)
		return 0, e.err
	case err != nil && err != io.EOF:
		e.err = err
		return 0, err
	}
	return n, nil
}

// CopyBuffer returns a buffer to copy a Put body of the declared size
// through: max bytes, or for a smaller body of known size one byte more
// than the body (enough to see its end in the same read), so that small
// objects do not pay for a large buffer.
func CopyBuffer(size int64, max int) []byte {
	if size >= 0 && size < int64(max) {
		return make([]byte, size+1)
	}
	return make([]byte, max)
}
