package binfield

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

var errTest = errors.New("bad value")

func wrap(why string) error { return errors.Join(errTest, errors.New(why)) }

func TestRoundTrip(t *testing.T) {
	var e Encoder
	e.Uvarint(0)
	e.Uvarint(math.MaxUint64)
	e.Varint(math.MinInt64)
	e.Varint(-1)
	e.Bytes(nil)
	e.Bytes([]byte{0, 1, 2})
	e.String("héllo")
	e.Byte(0xfe)
	e.Bool(true)
	e.Bool(false)

	d := NewDecoder(e.B, wrap)
	if v := d.Uvarint(); v != 0 {
		t.Errorf("Uvarint = %d", v)
	}
	if v := d.Uvarint(); v != math.MaxUint64 {
		t.Errorf("Uvarint = %d", v)
	}
	if v := d.Varint(); v != math.MinInt64 {
		t.Errorf("Varint = %d", v)
	}
	if v := d.Varint(); v != -1 {
		t.Errorf("Varint = %d", v)
	}
	if p := d.Raw(); len(p) != 0 {
		t.Errorf("Raw = %x", p)
	}
	if p := d.Raw(); !bytes.Equal(p, []byte{0, 1, 2}) || cap(p) != 3 {
		t.Errorf("Raw = %x (cap %d)", p, cap(p))
	}
	if s := d.String(); s != "héllo" {
		t.Errorf("String = %q", s)
	}
	if c := d.Byte(); c != 0xfe {
		t.Errorf("Byte = %x", c)
	}
	if !d.Bool() || d.Bool() {
		t.Error("Bool")
	}
	if err := d.Done(); err != nil {
		t.Fatal(err)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		read func(d *Decoder)
		why  string
	}{
		{"empty uvarint", nil, func(d *Decoder) { d.Uvarint() }, "bad uvarint"},
		{"overlong uvarint", bytes.Repeat([]byte{0xff}, 11), func(d *Decoder) { d.Uvarint() }, "bad uvarint"},
		{"empty varint", nil, func(d *Decoder) { d.Varint() }, "bad varint"},
		{"short string", []byte{5, 'a'}, func(d *Decoder) { _ = d.String() }, "truncated"},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, func(d *Decoder) { d.Raw() }, "truncated"},
		{"no byte", nil, func(d *Decoder) { d.Byte() }, "truncated"},
		{"bad flag", []byte{2}, func(d *Decoder) { d.Bool() }, "bad flag"},
		{"trailing", []byte{1, 2}, func(d *Decoder) { d.Uvarint() }, "trailing bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(tt.in, wrap)
			tt.read(d)
			// Every read after the first error is a zero value.
			if d.Err() != nil && (d.Uvarint() != 0 || d.Raw() != nil || d.Byte() != 0 || d.Len() != 0) {
				t.Error("a read after an error returned something")
			}
			err := d.Done()
			if !errors.Is(err, errTest) || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("error %v, want one wrapping errTest with %q", err, tt.why)
			}
		})
	}
}

// FuzzDecoder reads arbitrary input with every reader: no panic, and an
// error sticks.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte{3, 'a', 'b', 'c', 1, 0x80})
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDecoder(in, wrap)
		for i := 0; d.Err() == nil && d.Len() > 0 && i < 64; i++ {
			switch i % 6 {
			case 0:
				d.Uvarint()
			case 1:
				d.Varint()
			case 2:
				d.Raw()
			case 3:
				_ = d.String()
			case 4:
				d.Byte()
			case 5:
				d.Bool()
			}
		}
		if err := d.Err(); err != nil && !errors.Is(err, errTest) {
			t.Fatalf("error %v does not wrap the owner's", err)
		}
	})
}
