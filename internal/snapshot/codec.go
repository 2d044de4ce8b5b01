// Package snapshot holds the binary encoding of saved machine state: what
// each component (a hart, the board's devices, a virtio transport and its
// device) writes when the machine takes a checkpoint, and reads back when
// it restores one.
//
// The encoding is a flat sequence of little-endian fields with no
// self-description: a component reads its fields in the order it wrote
// them. Restored state is untrusted input (a checkpoint may come from a
// file), so the Decoder bounds every length and reports the first problem
// as a sticky error that names the field; components validate values
// before they use them.
package snapshot

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Encoder appends fields to a byte slice.
type Encoder struct {
	buf []byte
}

// Grow makes room for n more bytes, for a caller that knows the size.
func (e *Encoder) Grow(n int) { e.buf = slices.Grow(e.buf, n) }

// Bytes returns the encoded fields.
func (e *Encoder) Bytes() []byte { return e.buf }

// Uint64 appends a 64-bit value.
func (e *Encoder) Uint64(v uint64) { e.buf = binary.LittleEndian.AppendUint64(e.buf, v) }

// Uint32 appends a 32-bit value.
func (e *Encoder) Uint32(v uint32) { e.buf = binary.LittleEndian.AppendUint32(e.buf, v) }

// Uint16 appends a 16-bit value.
func (e *Encoder) Uint16(v uint16) { e.buf = binary.LittleEndian.AppendUint16(e.buf, v) }

// Uint8 appends a byte.
func (e *Encoder) Uint8(v uint8) { e.buf = append(e.buf, v) }

// Bool appends a boolean as one byte.
func (e *Encoder) Bool(v bool) {
	if v {
		e.buf = append(e.buf, 1)
	} else {
		e.buf = append(e.buf, 0)
	}
}

// Raw appends bytes as they are, without a length.
func (e *Encoder) Raw(p []byte) { e.buf = append(e.buf, p...) }

// Blob appends a length-prefixed byte string.
func (e *Encoder) Blob(p []byte) {
	e.Uint32(uint32(len(p)))
	e.buf = append(e.buf, p...)
}

// Decoder reads fields written by an Encoder. After the first error every
// read returns zero values; Err reports that error.
type Decoder struct {
	buf []byte
	off int
	err error
}

// NewDecoder returns a Decoder over b.
func NewDecoder(b []byte) *Decoder { return &Decoder{buf: b} }

// Err returns the first error met, if any.
func (d *Decoder) Err() error { return d.err }

// Fail records err as the decoder's error unless one is already set; a
// component calls it when a value it read is out of range.
func (d *Decoder) Fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Failf is Fail with a formatted message.
func (d *Decoder) Failf(format string, args ...any) { d.Fail(fmt.Errorf(format, args...)) }

// Finish returns the decoder's error, or an error if bytes are left over.
func (d *Decoder) Finish(what string) error {
	if d.err != nil {
		return fmt.Errorf("%s state: %w", what, d.err)
	}
	if d.off != len(d.buf) {
		return fmt.Errorf("%s state: %d bytes left over at the end", what, len(d.buf)-d.off)
	}
	return nil
}

func (d *Decoder) take(n int, field string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.buf)-d.off < n {
		d.err = fmt.Errorf("%s: truncated at byte %d", field, d.off)
		return nil
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b
}

// Uint64 reads a 64-bit value; field names it in errors.
func (d *Decoder) Uint64(field string) uint64 {
	if b := d.take(8, field); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// Uint32 reads a 32-bit value.
func (d *Decoder) Uint32(field string) uint32 {
	if b := d.take(4, field); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// Uint16 reads a 16-bit value.
func (d *Decoder) Uint16(field string) uint16 {
	if b := d.take(2, field); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

// Uint8 reads a byte.
func (d *Decoder) Uint8(field string) uint8 {
	if b := d.take(1, field); b != nil {
		return b[0]
	}
	return 0
}

// Bool reads a boolean; a byte other than 0 or 1 is an error.
func (d *Decoder) Bool(field string) bool {
	switch v := d.Uint8(field); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.Failf("%s: %d is not a boolean", field, v)
		return false
	}
}

// Blob reads a length-prefixed byte string of at most max bytes. The
// result is a copy.
func (d *Decoder) Blob(field string, max int) []byte {
	n := d.Uint32(field)
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(max) {
		d.Failf("%s: length %d exceeds %d", field, n, max)
		return nil
	}
	b := d.take(int(n), field)
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// Count reads a count of following items and checks it against max.
func (d *Decoder) Count(field string, max int) int {
	n := d.Uint32(field)
	if uint64(n) > uint64(max) {
		d.Failf("%s: count %d exceeds %d", field, n, max)
		return 0
	}
	return int(n)
}

// Count writes a count of following items.
func (e *Encoder) Count(n int) { e.Uint32(uint32(n)) }
