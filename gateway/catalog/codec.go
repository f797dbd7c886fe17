package catalog

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"github.com/twincrypt/twincrypt/internal/binfield"
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
type encoder struct{ binfield.Encoder }

func newEncoder() *encoder { return &encoder{binfield.Encoder{B: []byte{codecV1}}} }

func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.Varint(0)
		e.Uvarint(0)
		e.Byte(0)
		return
	}
	e.Varint(t.Unix())
	e.Uvarint(uint64(t.Nanosecond()))
	e.Byte(1)
}

// decoder reads fields; the first error sticks. The errors wrap
// ErrCorrupt and name the value (what, name).
type decoder struct{ *binfield.Decoder }

func newDecoder(b []byte, what, name string) *decoder {
	d := &decoder{binfield.NewDecoder(b, func(why string) error {
		return fmt.Errorf("%w: %s %q: %s", ErrCorrupt, what, name, why)
	})}
	switch {
	case len(b) == 0:
		d.Fail("empty")
	case b[0] != codecV1:
		d.Fail(fmt.Sprintf("unknown version %d", b[0]))
	default:
		d.Byte()
	}
	return d
}

// bytes returns a copy: the input may be memory owned by the database.
func (d *decoder) bytes() []byte {
	p := d.Raw()
	if p == nil {
		return nil
	}
	return bytes.Clone(p)
}

func (d *decoder) time() time.Time {
	sec := d.Varint()
	nsec := d.Uvarint()
	set := d.Byte()
	if d.Err() != nil || set == 0 {
		return time.Time{}
	}
	if nsec >= 1e9 {
		d.Fail("bad nanoseconds")
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func encodeEntry(e *Entry) []byte {
	enc := newEncoder()
	enc.Varint(e.Size)
	enc.String(e.ETag)
	enc.time(e.ModTime)
	enc.Uvarint(e.Generation)
	enc.Bytes(e.Record)
	if e.VersionID != "" {
		// Optional trailing field: entries written before versions
		// existed decode as unversioned.
		enc.String(e.VersionID)
	}
	return enc.B
}

func decodeEntry(bucket, key string, v []byte) (Entry, error) {
	return decodeEntryRecord(bucket, key, v, true)
}

// decodeEntryRecord decodes an entry, with its record only when
// withRecord is set (the record is checked for length either way).
func decodeEntryRecord(bucket, key string, v []byte, withRecord bool) (Entry, error) {
	d := newDecoder(v, "entry", key)
	e := Entry{Bucket: bucket, Key: key}
	e.Size = d.Varint()
	e.ETag = d.String()
	e.ModTime = d.time()
	e.Generation = d.Uvarint()
	if withRecord {
		e.Record = d.bytes()
	} else {
		d.Raw()
	}
	if d.Err() == nil && d.Len() > 0 {
		e.VersionID = d.String()
		if d.Err() == nil && e.VersionID == "" {
			d.Fail("empty version ID")
		}
	}
	return e, d.Done()
}

// Version values hold everything but the names, which are in the bolt
// key.
const (
	versionDeleteMarker = 1 << iota
	versionLegalHold
)

func encodeVersion(v *Version) []byte {
	enc := newEncoder()
	enc.Uvarint(v.Generation)
	var flags uint64
	if v.DeleteMarker {
		flags |= versionDeleteMarker
	}
	if v.LegalHold {
		flags |= versionLegalHold
	}
	enc.Uvarint(flags)
	enc.Varint(v.Size)
	enc.String(v.ETag)
	enc.time(v.ModTime)
	enc.String(v.RetainMode)
	enc.time(v.RetainUntil)
	enc.Bytes(v.Record)
	return enc.B
}

func decodeVersion(bucket, key, id string, seq uint64, b []byte) (Version, error) {
	d := newDecoder(b, "version", key+"?versionId="+id)
	v := Version{Bucket: bucket, Key: key, VersionID: id, Seq: seq}
	v.Generation = d.Uvarint()
	flags := d.Uvarint()
	v.DeleteMarker = flags&versionDeleteMarker != 0
	v.LegalHold = flags&versionLegalHold != 0
	v.Size = d.Varint()
	v.ETag = d.String()
	v.ModTime = d.time()
	v.RetainMode = d.String()
	v.RetainUntil = d.time()
	v.Record = d.bytes()
	if d.Err() == nil && flags&^(versionDeleteMarker|versionLegalHold) != 0 {
		d.Fail("unknown flags")
	}
	return v, d.Done()
}

// encodeBucket writes the creation time and, when the bucket has one, its
// owner: values written before buckets had owners end after the time and
// still decode.
func encodeBucket(b *Bucket) []byte {
	enc := newEncoder()
	enc.time(b.Created)
	if b.Owner != "" {
		enc.String(b.Owner)
	}
	return enc.B
}

func decodeBucket(name string, v []byte) (Bucket, error) {
	d := newDecoder(v, "bucket", name)
	b := Bucket{Name: name, Created: d.time()}
	if d.Err() == nil && d.Len() > 0 {
		b.Owner = d.String()
	}
	return b, d.Done()
}

func encodeUpload(u *Upload) []byte {
	enc := newEncoder()
	enc.String(u.Bucket)
	enc.String(u.Key)
	enc.time(u.Initiated)
	enc.Bytes(u.Record)
	return enc.B
}

func decodeUpload(id string, v []byte) (Upload, error) {
	d := newDecoder(v, "upload", id)
	u := Upload{ID: id}
	u.Bucket = d.String()
	u.Key = d.String()
	u.Initiated = d.time()
	u.Record = d.bytes()
	return u, d.Done()
}

func encodePart(p *Part) []byte {
	enc := newEncoder()
	enc.Varint(p.Size)
	enc.String(p.ETag)
	enc.time(p.Uploaded)
	enc.Bytes(p.Record)
	return enc.B
}

func decodePart(number int, v []byte) (Part, error) {
	d := newDecoder(v, "part", strconv.Itoa(number))
	p := Part{Number: number}
	p.Size = d.Varint()
	p.ETag = d.String()
	p.Uploaded = d.time()
	p.Record = d.bytes()
	return p, d.Done()
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
	enc.String(v.Status)
	var flags uint64
	if v.ObjectLock {
		flags = 1
	}
	enc.Uvarint(flags)
	enc.String(v.DefaultMode)
	enc.Uvarint(uint64(v.DefaultDays))
	enc.Uvarint(uint64(v.DefaultYears))
	enc.Uvarint(v.Generation)
	return enc.B
}

func decodeBucketVersioning(name string, b []byte) (BucketVersioning, error) {
	d := newDecoder(b, "bucket versioning", name)
	var v BucketVersioning
	v.Status = d.String()
	flags := d.Uvarint()
	v.ObjectLock = flags&1 != 0
	v.DefaultMode = d.String()
	days, years := d.Uvarint(), d.Uvarint()
	v.Generation = d.Uvarint()
	if d.Err() == nil && (flags > 1 || days > 1<<31 || years > 1<<31) {
		d.Fail("out of range")
	}
	v.DefaultDays, v.DefaultYears = int(days), int(years)
	return v, d.Done()
}
