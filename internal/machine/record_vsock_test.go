package machine

import (
	"bytes"
	"errors"
	"testing"

	"github.com/juicevm/juice/internal/virtio/vsock"
)

func TestVsockEventEncoding(t *testing.T) {
	acc := vsock.AcceptedConn | 5
	evs := []vsock.HostEvent{
		{Kind: vsock.HostAccept, Conn: acc, Port: 1<<32 - 1},
		{Kind: vsock.HostDialed, Conn: 1},
		{Kind: vsock.HostDialed, Conn: 2, Err: errors.New("connection refused")},
		{Kind: vsock.HostData, Conn: acc, Data: []byte("some bytes")},
		{Kind: vsock.HostEOF, Conn: acc},
		{Kind: vsock.HostWrote, Conn: 1, Written: 1 << 40},
		{Kind: vsock.HostError, Conn: 1, Err: errors.New("broken pipe")},
	}
	for i, ev := range evs {
		last := i%2 == 0
		b := appendVsockEvent(nil, &ev, last)
		got, gotLast, err := decodeVsockEvent(b)
		if err != nil || gotLast != last || got.Kind != ev.Kind || got.Conn != ev.Conn || got.Port != ev.Port ||
			got.Written != ev.Written || !bytes.Equal(got.Data, ev.Data) || (got.Err == nil) != (ev.Err == nil) ||
			got.Err != nil && got.Err.Error() != ev.Err.Error() {
			t.Errorf("%v: decoded %+v, %v, %v from %x", ev.Kind, got, gotLast, err, b)
		}
	}
	for _, b := range [][]byte{
		nil,
		{7, 1},                               // unknown kind
		{1, 1},                               // accept without a port
		{1, 1, 0x80, 0x80, 0x80, 0x80, 0x10}, // port beyond 32 bits
		{2, 1},                               // dialed without a status
		{2, 1, 0, 0},                         // connected, with trailing bytes
		{2, 1, 2},                            // bad status
		{3, 1},                               // data without data
		{4, 1, 0},                            // eof with trailing bytes
		{5, 1},                               // wrote without a count
		{0x85, 0x80},                         // truncated connection
	} {
		if ev, _, err := decodeVsockEvent(b); err == nil {
			t.Errorf("%x decoded as %+v", b, ev)
		}
	}
}

// FuzzVsockEvent checks that decoding recorded vsock events never panics
// and that whatever decodes encodes back to the same bytes.
func FuzzVsockEvent(f *testing.F) {
	f.Add([]byte{0x81, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x88, 0x27})
	f.Add([]byte{0x02, 0x01, 0x01, 'n', 'o'})
	f.Add([]byte{0x83, 0x01, 'x', 'y'})
	f.Add([]byte{0x05, 0x02, 0x90, 0x4e})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, last, err := decodeVsockEvent(b)
		if err != nil {
			return
		}
		if again := appendVsockEvent(nil, &ev, last); !bytes.Equal(again, b) {
			// Uvarints have more than one encoding; the canonical one
			// must decode to the same event.
			ev2, last2, err := decodeVsockEvent(again)
			if err != nil || last2 != last || ev2.Kind != ev.Kind || ev2.Conn != ev.Conn || ev2.Port != ev.Port || ev2.Written != ev.Written {
				t.Fatalf("%x decodes to %+v, which encodes to %x", b, ev, again)
			}
		}
	})
}
