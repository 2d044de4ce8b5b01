package vsock

import (
	"bytes"
	"errors"
	"testing"
)

// sameEvent reports whether two events say the same (errors by their text).
func sameEvent(a, b HostEvent) bool {
	return a.Kind == b.Kind && a.Conn == b.Conn && a.Port == b.Port && a.Written == b.Written &&
		bytes.Equal(a.Data, b.Data) && (a.Err == nil) == (b.Err == nil) &&
		(a.Err == nil || a.Err.Error() == b.Err.Error())
}

func TestEventEncoding(t *testing.T) {
	acc := AcceptedConn | 5
	evs := []HostEvent{
		{Kind: HostAccept, Conn: acc, Port: 1<<32 - 1},
		{Kind: HostDialed, Conn: 1},
		{Kind: HostDialed, Conn: 2, Err: errors.New("connection refused")},
		{Kind: HostData, Conn: acc, Data: []byte("some bytes")},
		{Kind: HostEOF, Conn: acc},
		{Kind: HostWrote, Conn: 1, Written: 1 << 40},
		{Kind: HostError, Conn: 1, Err: errors.New("broken pipe")},
	}
	for i, ev := range evs {
		last := i%2 == 0
		b := AppendEvent(nil, &ev, last)
		got, gotLast, err := DecodeEvent(b)
		if err != nil || gotLast != last || !sameEvent(got, ev) {
			t.Errorf("%v: decoded %+v, %v, %v from %x", ev.Kind, got, gotLast, err, b)
		}
	}
	// AppendEvent appends.
	one := AppendEvent(nil, &evs[0], true)
	if b := AppendEvent([]byte("x"), &evs[0], true); !bytes.Equal(b, append([]byte("x"), one...)) {
		t.Errorf("AppendEvent to %q gave %x", "x", b)
	}
	for _, b := range [][]byte{
		nil,
		{7, 1},                               // unknown kind
		{0x80, 1},                            // kind 0, last
		{1, 1},                               // accept without a port
		{1, 1, 0x80, 0x80, 0x80, 0x80, 0x10}, // port beyond 32 bits
		{2, 1},                               // dialed without a status
		{2, 1, 0, 0},                         // connected, with trailing bytes
		{2, 1, 2},                            // bad status
		{3, 1},                               // data without data
		{4, 1, 0},                            // eof with trailing bytes
		{5, 1},                               // wrote without a count
		{5, 1, 1, 0},                         // wrote, with trailing bytes
		{0x85, 0x80},                         // truncated connection
		{0x84, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, // connection beyond 64 bits
	} {
		if ev, _, err := DecodeEvent(b); err == nil {
			t.Errorf("%x decoded as %+v", b, ev)
		}
	}
}

// FuzzDecodeEvent checks that decoding recorded vsock events never panics
// and that whatever decodes encodes back to an encoding of the same event
// (the same bytes, but for uvarints, which have more than one encoding).
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte{0x81, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x88, 0x27})
	f.Add([]byte{0x02, 0x01, 0x01, 'n', 'o'})
	f.Add([]byte{0x82, 0x01, 0x00})
	f.Add([]byte{0x83, 0x01, 'x', 'y'})
	f.Add([]byte{0x04, 0x07})
	f.Add([]byte{0x05, 0x02, 0x90, 0x4e})
	f.Add([]byte{0x86, 0x03, 'e'})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, last, err := DecodeEvent(b)
		if err != nil {
			return
		}
		again := AppendEvent(nil, &ev, last)
		if bytes.Equal(again, b) {
			return
		}
		ev2, last2, err := DecodeEvent(again)
		if err != nil || last2 != last || !sameEvent(ev2, ev) {
			t.Fatalf("%x decodes to %+v, which encodes to %x, which decodes to %+v (%v)", b, ev, again, ev2, err)
		}
	})
}
