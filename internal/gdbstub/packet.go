package gdbstub

import (
	"bufio"
	"io"
	"strconv"
)

// PacketSize is the largest packet the stub accepts (advertised in
// qSupported), data only.
const PacketSize = 0x4000

// maxRaw bounds a packet's bytes as received, before unescaping; anything
// longer is read to its end and answered with an error.
const maxRaw = 2 * PacketSize

// evKind is what the reader saw on the wire.
type evKind int

const (
	evPacket    evKind = iota // a $...#xx packet
	evAck                     // +
	evNack                    // -
	evInterrupt               // 0x03 outside a packet
	evEOF                     // the connection ended
)

type event struct {
	kind    evKind
	data    []byte
	sumOK   bool // the checksum matched
	tooLong bool // the packet was longer than maxRaw (data is truncated)
	err     error
}

// readEvents turns the byte stream from the client into events until it
// ends or quit is closed.
func readEvents(r io.Reader, out chan<- event, quit <-chan struct{}) {
	br := bufio.NewReaderSize(r, 4096)
	emit := func(e event) bool {
		select {
		case out <- e:
			return true
		case <-quit:
			return false
		}
	}
	for {
		b, err := br.ReadByte()
		if err != nil {
			emit(event{kind: evEOF, err: err})
			return
		}
		var e event
		switch b {
		case '+':
			e.kind = evAck
		case '-':
			e.kind = evNack
		case 0x03:
			e.kind = evInterrupt
		case '$':
			e, err = readPacket(br)
			if err != nil {
				emit(event{kind: evEOF, err: err})
				return
			}
		default:
			continue // noise between packets
		}
		if !emit(e) {
			return
		}
	}
}

// readPacket reads a packet's body after its '$': data up to '#', then two
// hex digits of checksum. A '$' inside a packet starts it over (binary data
// always escapes it).
func readPacket(br *bufio.Reader) (event, error) {
	e := event{kind: evPacket}
	var sum byte
	for {
		b, err := br.ReadByte()
		if err != nil {
			return e, err
		}
		if b == '#' {
			break
		}
		if b == '$' {
			e.data, e.tooLong, sum = e.data[:0], false, 0
			continue
		}
		sum += b
		if len(e.data) < maxRaw {
			e.data = append(e.data, b)
		} else {
			e.tooLong = true
		}
	}
	var cs [2]byte
	for i := range cs {
		b, err := br.ReadByte()
		if err != nil {
			return e, err
		}
		cs[i] = b
	}
	v, err := strconv.ParseUint(string(cs[:]), 16, 8)
	e.sumOK = err == nil && byte(v) == sum
	return e, nil
}

const hexDigits = "0123456789abcdef"

// frame wraps data into a packet: $data#checksum. Data must already be
// escaped where the protocol needs it.
func frame(data []byte) []byte {
	out := make([]byte, 0, len(data)+4)
	out = append(out, '$')
	var sum byte
	for _, b := range data {
		sum += b
	}
	out = append(out, data...)
	return append(out, '#', hexDigits[sum>>4], hexDigits[sum&15])
}

// escapeBinary escapes the bytes a packet cannot carry raw: $, #, } and *.
func escapeBinary(dst, src []byte) []byte {
	for _, b := range src {
		switch b {
		case '$', '#', '}', '*':
			dst = append(dst, '}', b^0x20)
		default:
			dst = append(dst, b)
		}
	}
	return dst
}

// unescapeBinary undoes escapeBinary; ok is false for a trailing '}'.
func unescapeBinary(src []byte) (out []byte, ok bool) {
	out = make([]byte, 0, len(src))
	for i := 0; i < len(src); i++ {
		b := src[i]
		if b == '}' {
			i++
			if i == len(src) {
				return nil, false
			}
			b = src[i] ^ 0x20
		}
		out = append(out, b)
	}
	return out, true
}

// parseHex parses a hexadecimal number of at most 16 digits.
func parseHex(s []byte) (uint64, bool) {
	if len(s) == 0 || len(s) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range s {
		d, ok := hexVal(c)
		if !ok {
			return 0, false
		}
		v = v<<4 | uint64(d)
	}
	return v, true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodeHex decodes hex digit pairs; ok is false for an odd length or a
// bad digit.
func decodeHex(s []byte) ([]byte, bool) {
	if len(s)%2 != 0 {
		return nil, false
	}
	out := make([]byte, len(s)/2)
	for i := range out {
		hi, ok1 := hexVal(s[2*i])
		lo, ok2 := hexVal(s[2*i+1])
		if !ok1 || !ok2 {
			return nil, false
		}
		out[i] = hi<<4 | lo
	}
	return out, true
}

func appendHex(dst, src []byte) []byte {
	for _, b := range src {
		dst = append(dst, hexDigits[b>>4], hexDigits[b&15])
	}
	return dst
}

// appendLE appends v as size little-endian bytes in hex (the target's byte
// order, as register packets carry them).
func appendLE(dst []byte, v uint64, size int) []byte {
	for i := 0; i < size; i++ {
		b := byte(v >> (8 * i))
		dst = append(dst, hexDigits[b>>4], hexDigits[b&15])
	}
	return dst
}

// parseLE parses size little-endian bytes in hex.
func parseLE(s []byte, size int) (uint64, bool) {
	if len(s) != 2*size {
		return 0, false
	}
	b, ok := decodeHex(s)
	if !ok {
		return 0, false
	}
	var v uint64
	for i := size - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, true
}
