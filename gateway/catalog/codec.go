package catalog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"
)

// Stored values are versioned binary records:
//
//	version byte | fields...
//
// Integers are varints, strings and byte slices are uvarint-length-prefixed,
// times are a varint of Unix seconds and a uvarint of nanoseconds. A decoder
// rejects an unknown version, a truncated value and trailing bytes with
// ErrCorrupt. Version 1 is the only one so far.
const codecV1 = 1

// encoder appends fields to a buffer.
type encoder struct{ b []byte }

func newEncoder() *encoder { return &encoder{b: []byte{codecV1}} }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) bytes(p []byte) {
	e.uvarint(uint64(len(p)))
	e.b = append(e.b, p...)
}
func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}
func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.varint(0)
		e.uvarint(0)
		e.b = append(e.b, 0)
		return
	}
	e.varint(t.Unix())
	e.uvarint(uint64(t.Nanosecond()))
	e.b = append(e.b, 1)
}

// decoder reads fields; the first error sticks. what and name describe
// the value in errors; they are joined only when decoding fails.
type decoder struct {
	b          []byte
	what, name string
	err        error
}

func newDecoder(b []byte, what, name string) *decoder {
	d := &decoder{b: b, what: what, name: name}
	if len(b) == 0 {
		d.fail("empty")
		return d
	}
	if b[0] != codecV1 {
		d.fail(fmt.Sprintf("unknown version %d", b[0]))
		return d
	}
	d.b = b[1:]
	return d
}

func (d *decoder) fail(why string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s %q: %s", ErrCorrupt, d.what, d.name, why)
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) raw() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("truncated")
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

// bytes returns a copy: the input may be memory owned by the database.
func (d *decoder) bytes() []byte {
	p := d.raw()
	if p == nil {
		return nil
	}
	return bytes.Clone(p)
}

func (d *decoder) str() string { return string(d.raw()) }

func (d *decoder) time() time.Time {
	sec := d.varint()
	nsec := d.uvarint()
	if d.err != nil {
		return time.Time{}
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return time.Time{}
	}
	set := d.b[0]
	d.b = d.b[1:]
	if set == 0 {
		return time.Time{}
	}
	if nsec >= 1e9 {
		d.fail("bad nanoseconds")
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// done reports the sticky error, or trailing bytes.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return d.err
}

func encodeEntry(e *Entry) []byte {
	enc := newEncoder()
	enc.varint(e.Size)
	enc.str(e.ETag)
	enc.time(e.ModTime)
	enc.uvarint(e.Generation)
	enc.bytes(e.Record)
	if e.VersionID != "" {
		// Optional trailing field: entries written before versions
		// existed decode as unversioned.
		enc.str(e.VersionID)
	}
	return enc.b
}

func decodeEntry(bucket, key string, v []byte) (Entry, error) {
	return decodeEntryRecord(bucket, key, v, true)
}

// decodeEntryRecord decodes an entry, with its record only when
// withRecord is set (the record is checked for length either way).
func decodeEntryRecord(bucket, key string, v []byte, withRecord bool) (Entry, error) {
	d := newDecoder(v, "entry", key)
	e := Entry{Bucket: bucket, Key: key}
	e.Size = d.varint()
	e.ETag = d.str()
	e.ModTime = d.time()
	e.Generation = d.uvarint()
	if withRecord {
		e.Record = d.bytes()
	} else {
		d.raw()
	}
	if d.err == nil && len(d.b) > 0 {
		e.VersionID = d.str()
		if d.err == nil && e.VersionID == "" {
			d.fail("empty version ID")
		}
	}
	return e, d.done()
}

// Version values hold everything but the names, which are in the bolt
// key.
const (
	versionDeleteMarker = 1 << iota
	versionLegalHold
)

func encodeVersion(v *Version) []byte {
	enc := newEncoder()
	enc.uvarint(v.Generation)
	var flags uint64
	if v.DeleteMarker {
		flags |= versionDeleteMarker
	}
	if v.LegalHold {
		flags |= versionLegalHold
	}
	enc.uvarint(flags)
	enc.varint(v.Size)
	enc.str(v.ETag)
	enc.time(v.ModTime)
	enc.str(v.RetainMode)
	enc.time(v.RetainUntil)
	enc.bytes(v.Record)
	return enc.b
}

func decodeVersion(bucket, key, id string, seq uint64, b []byte) (Version, error) {
	d := newDecoder(b, "version", key+"?versionId="+id)
	v := Version{Bucket: bucket, Key: key, VersionID: id, Seq: seq}
	v.Generation = d.uvarint()
	flags := d.uvarint()
	v.DeleteMarker = flags&versionDeleteMarker != 0
	v.LegalHold = flags&versionLegalHold != 0
	v.Size = d.varint()
	v.ETag = d.str()
	v.ModTime = d.time()
	v.RetainMode = d.str()
	v.RetainUntil = d.time()
	v.Record = d.bytes()
	if d.err == nil && flags&^(versionDeleteMarker|versionLegalHold) != 0 {
		d.fail("unknown flags")
	}
	return v, d.done()
}

// encodeBucket writes the creation time and, when the bucket has one, its
// owner: values written before buckets had owners end after the time and
// still decode.
func encodeBucket(b *Bucket) []byte {
	enc := newEncoder()
	enc.time(b.Created)
	if b.Owner != "" {
		enc.str(b.Owner)
	}
	return enc.b
}

func decodeBucket(name string, v []byte) (Bucket, error) {
	d := newDecoder(v, "bucket", name)
	b := Bucket{Name: name, Created: d.time()}
	if d.err == nil && len(d.b) > 0 {
		b.Owner = d.str()
	}
	return b, d.done()
}

func encodeUpload(u *Upload) []byte {
	enc := newEncoder()
	enc.str(u.Bucket)
	enc.str(u.Key)
	enc.time(u.Initiated)
	enc.bytes(u.Record)
	return enc.b
}

func decodeUpload(id string, v []byte) (Upload, error) {
	d := newDecoder(v, "upload", id)
	u := Upload{ID: id}
	u.Bucket = d.str()
	u.Key = d.str()
	u.Initiated = d.time()
	u.Record = d.bytes()
	return u, d.done()
}

func encodePart(p *Part) []byte {
	enc := newEncoder()
	enc.varint(p.Size)
	enc.str(p.ETag)
	enc.time(p.Uploaded)
	enc.bytes(p.Record)
	return enc.b
}

func decodePart(number int, v []byte) (Part, error) {
	d := newDecoder(v, "part", strconv.Itoa(number))
	p := Part{Number: number}
	p.Size = d.varint()
	p.ETag = d.str()
	p.Uploaded = d.time()
	p.Record = d.bytes()
	return p, d.done()
}

// Order-preserving key encodings for composite bolt keys.
//
// escape maps a byte string to one that contains no 0x00 except as the pair
// 0x00 0xFF (for a 0x00 byte), and appends the terminator 0x00 0x01. The
// result orders exactly as the input does, and no encoding is a prefix of
// another, so escape(a)+x < escape(b)+y whenever a < b.
func escape(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			dst = append(dst, 0, 0xff)
		} else {
			dst = append(dst, s[i])
		}
	}
	return append(dst, 0, 1)
}

// escapePrefix is escape without the terminator: every escape(s) with
// prefix p starts with escapePrefix(p).
func escapePrefix(p string) []byte {
	e := escape(nil, p)
	return e[:len(e)-2]
}

// unescape splits an escaped string off the front of b and returns it and
// the rest.
func unescape(b []byte) (string, []byte, error) {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != 0 {
			out = append(out, b[i])
			continue
		}
		if i+1 >= len(b) {
			break
		}
		switch b[i+1] {
		case 0xff:
			out = append(out, 0)
			i++
		case 1:
			return string(out), b[i+2:], nil
		default:
			return "", nil, fmt.Errorf("%w: bad escape in composite key", ErrCorrupt)
		}
	}
	return "", nil, fmt.Errorf("%w: unterminated composite key", ErrCorrupt)
}

// successor returns the smallest byte string greater than every string
// with prefix p, or nil if there is none (p is empty or all 0xFF).
func successor(p []byte) []byte {
	s := bytes.Clone(p)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] < 0xff {
			s[i]++
			return s[:i+1]
		}
	}
	return nil
}

func encodeBucketVersioning(v *BucketVersioning) []byte {
	enc := newEncoder()
	enc.str(v.Status)
	var flags uint64
	if v.ObjectLock {
		flags = 1
	}
	enc.uvarint(flags)
	enc.str(v.DefaultMode)
	enc.uvarint(uint64(v.DefaultDays))
	enc.uvarint(uint64(v.DefaultYears))
	enc.uvarint(v.Generation)
	return enc.b
}

func decodeBucketVersioning(name string, b []byte) (BucketVersioning, error) {
	d := newDecoder(b, "bucket versioning", name)
	var v BucketVersioning
	v.Status = d.str()
	flags := d.uvarint()
	v.ObjectLock = flags&1 != 0
	v.DefaultMode = d.str()
	days, years := d.uvarint(), d.uvarint()
	v.Generation = d.uvarint()
	if d.err == nil && (flags > 1 || days > 1<<31 || years > 1<<31) {
		d.fail("out of range")
	}
	v.DefaultDays, v.DefaultYears = int(days), int(years)
	return v, d.done()
}
