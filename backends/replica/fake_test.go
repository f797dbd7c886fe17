package replica

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twincrypt/twincrypt/backends"
)

// fake is an in-memory, faultable backend.
type fake struct {
	name string

	mu    sync.Mutex
	objs  map[string][]byte
	calls map[string]int
	gets  []int64 // offsets of Get calls

	// Faults, changed with set.
	down         bool  // every call fails with ErrUnavailable
	putFailAfter int64 // Put fails after reading this many bytes; -1 off
	putHang      bool  // Put blocks without reading until its ctx ends
	putHangHard  chan struct{}
	getFailAfter int64 // a Get stream fails after this many bytes; -1 off
	getHang      bool  // Get blocks until its ctx ends
	getCorrupt   bool  // Get streams have every byte flipped
	getHangAfter int64 // a Get stream blocks after this many bytes until its ctx ends; -1 off
	statFail     bool  // Stat fails with ErrUnavailable
}

func newFake(name string) *fake {
	return &fake{name: name, objs: map[string][]byte{}, calls: map[string]int{}, putFailAfter: -1, getFailAfter: -1, getHangAfter: -1}
}

func (f *fake) set(fn func(f *fake)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fake) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fake) getOffsets() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.gets)
}

func (f *fake) object(name string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.objs[name]
	return b, ok
}

func (f *fake) store(name string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objs[name] = slices.Clone(data)
}

func (f *fake) err(op, name string, err error) error {
	return &backends.Error{Backend: f.name, Op: op, Name: name, Err: err}
}

func (f *fake) enter(op string) (down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	return f.down
}

func (f *fake) Name() string { return f.name }

func (f *fake) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if f.enter("put") {
		return f.err("put", name, backends.ErrUnavailable)
	}
	f.mu.Lock()
	failAfter, hang, hard := f.putFailAfter, f.putHang, f.putHangHard
	f.mu.Unlock()
	if hard != nil {
		<-hard
		return f.err("put", name, backends.ErrUnavailable)
	}
	if hang {
		<-ctx.Done()
		return f.err("put", name, fmt.Errorf("%w: %w", backends.ErrUnavailable, ctx.Err()))
	}
	var buf bytes.Buffer
	var src io.Reader = r
	if failAfter >= 0 {
		src = io.LimitReader(r, failAfter)
	}
	if _, err := io.Copy(&buf, src); err != nil {
		return f.err("put", name, err)
	}
	if failAfter >= 0 {
		return f.err("put", name, fmt.Errorf("%w: injected failure after %d bytes", backends.ErrUnavailable, failAfter))
	}
	if size >= 0 && int64(buf.Len()) != size {
		return f.err("put", name, backends.ErrPrecondition)
	}
	if err := ctx.Err(); err != nil {
		return f.err("put", name, err)
	}
	f.store(name, buf.Bytes())
	return nil
}

func (f *fake) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if f.enter("get") {
		return nil, f.err("get", name, backends.ErrUnavailable)
	}
	f.mu.Lock()
	f.gets = append(f.gets, offset)
	data, ok := f.objs[name]
	hang, failAfter, corrupt, hangAfter := f.getHang, f.getFailAfter, f.getCorrupt, f.getHangAfter
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
		return nil, f.err("get", name, fmt.Errorf("%w: %w", backends.ErrUnavailable, ctx.Err()))
	}
	if !ok {
		return nil, f.err("get", name, backends.ErrNotFound)
	}
	if offset > int64(len(data)) {
		return nil, f.err("get", name, backends.ErrPrecondition)
	}
	end := int64(len(data))
	if length >= 0 && offset+length < end {
		end = offset + length
	}
	part := slices.Clone(data[offset:end])
	if corrupt {
		for i := range part {
			part[i] ^= 0xff
		}
	}
	return &fakeStream{ctx: ctx, data: part, failAt: failAfter, hangAt: hangAfter, name: f.name}, nil
}

type fakeStream struct {
	ctx    context.Context
	data   []byte
	pos    int64
	failAt int64
	hangAt int64
	name   string
}

func (s *fakeStream) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	if s.hangAt >= 0 && s.pos >= s.hangAt {
		<-s.ctx.Done()
		return 0, s.ctx.Err()
	}
	if s.failAt >= 0 && s.pos >= s.failAt {
		return 0, fmt.Errorf("%s: injected stream failure: %w", s.name, backends.ErrUnavailable)
	}
	if s.pos >= int64(len(s.data)) {
		return 0, io.EOF
	}
	rest := s.data[s.pos:]
	for _, lim := range []int64{s.failAt, s.hangAt} {
		if lim >= 0 && int64(len(rest)) > lim-s.pos {
			rest = rest[:lim-s.pos]
		}
	}
	n := copy(p, rest)
	s.pos += int64(n)
	return n, nil
}

func (s *fakeStream) Close() error { return nil }

func (f *fake) Stat(ctx context.Context, name string) (backends.Info, error) {
	if f.enter("stat") {
		return backends.Info{}, f.err("stat", name, backends.ErrUnavailable)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.statFail {
		return backends.Info{}, f.err("stat", name, backends.ErrUnavailable)
	}
	d, ok := f.objs[name]
	if !ok {
		return backends.Info{}, f.err("stat", name, backends.ErrNotFound)
	}
	return backends.Info{Name: name, Size: int64(len(d))}, nil
}

func (f *fake) Delete(ctx context.Context, name string) error {
	if f.enter("delete") {
		return f.err("delete", name, backends.ErrUnavailable)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.objs, name)
	return nil
}

func (f *fake) List(ctx context.Context, prefix, startAfter string, limit int) (backends.ListPage, error) {
	if f.enter("list") {
		return backends.ListPage{}, f.err("list", "", backends.ErrUnavailable)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for n := range f.objs {
		if strings.HasPrefix(n, prefix) && n > startAfter {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	if limit <= 0 {
		limit = 1000
	}
	var page backends.ListPage
	for i, n := range names {
		if i == limit {
			page.Next = page.Items[len(page.Items)-1].Name
			break
		}
		page.Items = append(page.Items, backends.Info{Name: n, Size: int64(len(f.objs[n]))})
	}
	return page, nil
}

func (f *fake) Close() error { return nil }

// discard is a backend whose Put reads and drops its input through a fixed
// buffer, for memory measurements.
type discard struct {
	name string
	mu   sync.Mutex
	n    int64
}

func (d *discard) Name() string { return d.name }
func (d *discard) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return &backends.Error{Backend: d.name, Op: "put", Name: name, Err: err}
		}
	}
	if size >= 0 && n != size {
		return &backends.Error{Backend: d.name, Op: "put", Name: name, Err: backends.ErrPrecondition}
	}
	d.mu.Lock()
	d.n = n
	d.mu.Unlock()
	return nil
}
func (d *discard) Get(context.Context, string, int64, int64) (io.ReadCloser, error) {
	return nil, backends.ErrNotFound
}
func (d *discard) Stat(context.Context, string) (backends.Info, error) {
	return backends.Info{}, backends.ErrNotFound
}
func (d *discard) Delete(context.Context, string) error { return nil }
func (d *discard) List(context.Context, string, string, int) (backends.ListPage, error) {
	return backends.ListPage{}, nil
}
func (d *discard) Close() error { return nil }

// testClock is an injectable clock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// pattern returns n deterministic pseudo-random bytes.
func pattern(seed uint64, n int) []byte {
	b := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}
