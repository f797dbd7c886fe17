// Package binfield encodes and decodes the fields of twincrypt's compact
// binary values (the catalog's stored values, the catalog form of meta
// records): unsigned integers as uvarints and signed ones as zig-zag
// varints (encoding/binary), byte strings and strings as a uvarint length
// and their bytes, flags as one byte, 0 or 1.
//
// A Decoder's first error sticks: once a field is bad or truncated, every
// later read returns a zero value, and Err (or Done) reports the error as
// the Decoder's owner phrased it. A Decoder never panics on any input.
package binfield

import "encoding/binary"

// Encoder appends fields to B.
type Encoder struct {
	B []byte
}

// Uvarint appends an unsigned integer.
func (e *Encoder) Uvarint(v uint64) { e.B = binary.AppendUvarint(e.B, v) }

// Varint appends a signed integer.
func (e *Encoder) Varint(v int64) { e.B = binary.AppendVarint(e.B, v) }

// Bytes appends a length-prefixed byte string.
func (e *Encoder) Bytes(p []byte) {
	e.Uvarint(uint64(len(p)))
	e.B = append(e.B, p...)
}

// String appends a length-prefixed string.
func (e *Encoder) String(s string) {
	e.Uvarint(uint64(len(s)))
	e.B = append(e.B, s...)
}

// Byte appends one byte.
func (e *Encoder) Byte(c byte) { e.B = append(e.B, c) }

// Bool appends a flag: 1 for true, 0 for false.
func (e *Encoder) Bool(v bool) {
	if v {
		e.Byte(1)
	} else {
		e.Byte(0)
	}
}

// Decoder reads fields from a byte slice.
type Decoder struct {
	b    []byte
	err  error
	wrap func(why string) error
}

// NewDecoder returns a Decoder of b whose errors are wrap(why), why saying
// what was wrong ("truncated", "bad uvarint", ...).
func NewDecoder(b []byte, wrap func(why string) error) *Decoder {
	return &Decoder{b: b, wrap: wrap}
}

// Fail records the error wrap(why) unless an error is already recorded,
// and stops the decoding.
func (d *Decoder) Fail(why string) {
	if d.err == nil {
		d.err = d.wrap(why)
	}
	d.b = nil
}

// Err returns the first error, or nil.
func (d *Decoder) Err() error { return d.err }

// Len returns the number of bytes not read yet.
func (d *Decoder) Len() int { return len(d.b) }

// Done returns the first error, or a "trailing bytes" error when bytes are
// left unread.
func (d *Decoder) Done() error {
	if d.err == nil && len(d.b) != 0 {
		d.Fail("trailing bytes")
	}
	return d.err
}

// Uvarint reads an unsigned integer.
func (d *Decoder) Uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.Fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Varint reads a signed integer.
func (d *Decoder) Varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.Fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Next reads n bytes. The result shares the input's memory (with its
// capacity cut to n); it is nil after an error.
func (d *Decoder) Next(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.Fail("truncated")
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

// Raw reads a length-prefixed byte string, sharing the input's memory.
func (d *Decoder) Raw() []byte { return d.Next(d.Uvarint()) }

// String reads a length-prefixed string.
func (d *Decoder) String() string { return string(d.Raw()) }

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	p := d.Next(1)
	if len(p) == 0 {
		return 0
	}
	return p[0]
}

// Bool reads a flag; a byte other than 0 or 1 is an error.
func (d *Decoder) Bool() bool {
	switch d.Byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.Fail("bad flag")
	return false
}
