// Command delayproxy is a TCP proxy that adds a fixed one-way delay to
// every byte it forwards, in both directions, for the benchmark's latency
// mode (test/bench/run with BENCH_LATENCY_MS): a provider behind it answers
// as if it were that far away.
//
// Each direction of each connection is a pipeline: a reader stamps every
// chunk it receives with the time it may leave (arrival + delay) and a
// writer forwards it at that time. Throughput is not limited: a chunk
// does not wait for the one before it to be delivered, only for its own
// delay, so a stream of data pays the delay once, as over a long link.
// At most -buffer bytes per direction wait in the proxy; beyond that the
// reader stops reading and TCP's flow control slows the sender, as a full
// link would.
//
//	delayproxy -listen 127.0.0.1:9001 -target 127.0.0.1:7070 -delay 25ms
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sync"
	"time"
)

// chunkSize is the most one read takes from a connection; buffers of this
// size are reused.
const chunkSize = 256 << 10

var buffers = sync.Pool{New: func() any { return new([chunkSize]byte) }}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	target := flag.String("target", "", "address to forward to (host:port)")
	delay := flag.Duration("delay", 25*time.Millisecond, "one-way delay added in each direction")
	buffer := flag.Int("buffer", 16<<20, "bytes per direction and connection that may wait in the proxy")
	flag.Parse()
	if *target == "" {
		fmt.Fprintln(os.Stderr, "delayproxy: -target is required")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("delayproxy: %v", err)
	}
	fmt.Println(ln.Addr().String())
	limit := max(chunkSize, *buffer)
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatalf("delayproxy: accept: %v", err)
		}
		go serve(c.(*net.TCPConn), *target, *delay, limit)
	}
}

// serve connects c to target and pipes both directions through delay.
func serve(c *net.TCPConn, target string, delay time.Duration, limit int) {
	t, err := net.Dial("tcp", target)
	if err != nil {
		log.Printf("delayproxy: dial %s: %v", target, err)
		c.Close()
		return
	}
	tc := t.(*net.TCPConn)
	c.SetNoDelay(true)
	tc.SetNoDelay(true)
	done := make(chan struct{}, 2)
	go func() { pipe(tc, c, delay, limit); done <- struct{}{} }()
	go func() { pipe(c, tc, delay, limit); done <- struct{}{} }()
	<-done
	<-done
	c.Close()
	tc.Close()
}

type chunk struct {
	buf *[chunkSize]byte // nil: the source failed; reset the destination
	n   int
	at  time.Time // when it may be forwarded
}

// window counts the bytes waiting in one direction of a connection.
type window struct {
	mu    sync.Mutex
	cond  *sync.Cond
	held  int
	limit int
}

// take waits until n more bytes fit.
func (w *window) take(n int) {
	w.mu.Lock()
	for w.held > 0 && w.held+n > w.limit {
		w.cond.Wait()
	}
	w.held += n
	w.mu.Unlock()
}

func (w *window) give(n int) {
	w.mu.Lock()
	w.held -= n
	w.cond.Broadcast()
	w.mu.Unlock()
}

// pipe copies src to dst, each chunk delay after it arrived, and closes
// dst's write side after src's end. At most limit bytes wait at a time.
func pipe(dst, src *net.TCPConn, delay time.Duration, limit int) {
	w := &window{limit: limit}
	w.cond = sync.NewCond(&w.mu)
	ch := make(chan chunk, limit/1024+1)
	go func() {
		defer close(ch)
		for {
			w.take(chunkSize) // room for a whole read; the unused part is given back
			b := buffers.Get().(*[chunkSize]byte)
			n, err := src.Read(b[:])
			w.give(chunkSize - n)
			if n > 0 {
				ch <- chunk{buf: b, n: n, at: time.Now().Add(delay)}
			} else {
				buffers.Put(b)
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					ch <- chunk{at: time.Now().Add(delay)}
				}
				return
			}
		}
	}()
	for c := range ch {
		if d := time.Until(c.at); d > 0 {
			time.Sleep(d)
		}
		if c.buf == nil {
			dst.SetLinger(0)
			dst.Close()
			break
		}
		_, err := dst.Write(c.buf[:c.n])
		buffers.Put(c.buf)
		w.give(c.n)
		if err != nil {
			src.Close()
			break
		}
	}
	for c := range ch {
		if c.buf != nil {
			buffers.Put(c.buf)
			w.give(c.n)
		}
	}
	dst.CloseWrite()
}
