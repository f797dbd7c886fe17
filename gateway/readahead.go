package gateway

import (
	"errors"
	"fmt"
	"io"
)

// Read-ahead of an upload body: up to readAheadDepth blocks of
// readAheadBlock bytes (1 MiB) read before the sealer asks for them.
const (
	readAheadBlock = 256 << 10
	readAheadDepth = 4
)

// readAhead reads its source in a second goroutine, up to readAheadDepth
// blocks ahead of its reader. Reading an upload body is the costly half of
// a PUT: the socket, the SigV4 payload hash and the MD5 of the ETag, all
// sequential; the other half is encryption and the writes to the backends.
// With the body read ahead the two halves run at the same time on two
// cores instead of taking turns.
//
// The source is read only by the goroutine, which has returned once Read
// has returned the source's final error or Close has returned; only then
// may the caller look at state that reading the source changes.
type readAhead struct {
	full chan readBlock
	free chan []byte
	stop chan struct{}
	cur  readBlock // the block being read; cur.b shrinks as it is read
	buf  []byte    // cur's whole buffer, to give back once read
	err  error     // the source's final error, once cur is used up
	done bool      // full has been closed and drained
}

// readBlock is a block of the source and the error that ended it, if any.
type readBlock struct {
	b   []byte
	err error
}

func newReadAhead(src io.Reader) *readAhead {
	r := &readAhead{
		full: make(chan readBlock, readAheadDepth),
		free: make(chan []byte, readAheadDepth),
		stop: make(chan struct{}),
	}
	for range readAheadDepth {
		r.free <- make([]byte, readAheadBlock)
	}
	go r.fill(src)
	return r
}

func (r *readAhead) fill(src io.Reader) {
	defer func() {
		// A panic in the source would otherwise end the process: net/http
		// recovers the handler's goroutine only. The reader gets an error.
		// full has room: the buffer being filled was never sent.
		if p := recover(); p != nil {
			r.full <- readBlock{nil, fmt.Errorf("gateway: reading the body: panic: %v", p)}
		}
		close(r.full)
	}()
	for {
		select { // stopping comes first, even with a buffer free
		case <-r.stop:
			return
		default:
		}
		var b []byte
		select {
		case b = <-r.free:
		case <-r.stop:
			return
		}
		n, err := io.ReadFull(src, b)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		r.full <- readBlock{b[:n], err}
		if err != nil {
			return
		}
	}
}

func (r *readAhead) Read(p []byte) (int, error) {
	for len(r.cur.b) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.cur.err != nil {
			r.err = r.cur.err
			r.drain() // the goroutine has sent its last block
			continue
		}
		if r.buf != nil {
			r.free <- r.buf
			r.buf = nil
		}
		blk, ok := <-r.full
		if !ok { // cannot happen: full closes after the final block
			r.err = errReadAfterClose
			continue
		}
		r.cur, r.buf = blk, blk.b[:cap(blk.b)]
	}
	n := copy(p, r.cur.b)
	r.cur.b = r.cur.b[n:]
	return n, nil
}

// errReadAfterClose is what Read returns once Close has been called.
var errReadAfterClose = errors.New("gateway: read-ahead body read after Close")

// Close stops reading the source and waits for the goroutine to return:
// for at most the one read of the source it is in. Later Reads fail.
func (r *readAhead) Close() {
	select {
	case <-r.stop:
		return
	default:
	}
	close(r.stop)
	r.drain()
	r.cur = readBlock{}
	r.err = errReadAfterClose
}

// drain takes blocks until the goroutine has closed full.
func (r *readAhead) drain() {
	if r.done {
		return
	}
	for range r.full {
	}
	r.done = true
}
