package vsock

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The wire form of a HostEvent, as a recording logs the events Host.Take
// returned and a replay hands them back (AppendEvent, DecodeEvent):
//
//	u8       kind (HostEventKind, 1 to 6), plus 0x80 on the last event of
//	         one Take
//	uvarint  connection (ConnID)
//	then, by kind:
//	  1 accept   uvarint guest port (at most 2^32-1)
//	  2 dialed   u8 0 (connected), or u8 1 and the error's text
//	  3 data     the bytes read from the host socket (at least one)
//	  4 eof      nothing
//	  5 wrote    uvarint guest bytes written to the host socket in all
//	  6 error    the error's text
//
// The last-event bit keeps the batches of one Take apart: the device
// applies a batch and then sends the guest what it can, so two batches
// taken at the same instruction count differ from one batch of both.
// An event's encoding is not self-delimiting: it ends where its record
// ends.

// eventLast marks the last event of one Take.
const eventLast = 0x80

// AppendEvent appends the wire form of ev to b; last marks the last event
// of one Take.
func AppendEvent(b []byte, ev *HostEvent, last bool) []byte {
	k := byte(ev.Kind)
	if last {
		k |= eventLast
	}
	b = append(b, k)
	b = binary.AppendUvarint(b, uint64(ev.Conn))
	switch ev.Kind {
	case HostAccept:
		b = binary.AppendUvarint(b, uint64(ev.Port))
	case HostDialed:
		if ev.Err == nil {
			b = append(b, 0)
		} else {
			b = append(append(b, 1), ev.Err.Error()...)
		}
	case HostData:
		b = append(b, ev.Data...)
	case HostWrote:
		b = binary.AppendUvarint(b, ev.Written)
	case HostError:
		if ev.Err != nil {
			b = append(b, ev.Err.Error()...)
		}
	}
	return b
}

// DecodeEvent decodes the whole of b, an event AppendEvent wrote, and
// reports whether it was the last of its Take. The event's Data aliases b.
// b is untrusted (it comes from a recording): anything but exactly one
// well-formed event is an error.
func DecodeEvent(b []byte) (ev HostEvent, last bool, err error) {
	if len(b) == 0 {
		return ev, false, errors.New("empty")
	}
	ev.Kind, last = HostEventKind(b[0]&^eventLast), b[0]&eventLast != 0
	b = b[1:]
	uv := func(what string) (uint64, error) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, fmt.Errorf("%v event: bad %s", ev.Kind, what)
		}
		b = b[n:]
		return v, nil
	}
	conn, err := uv("connection")
	if err != nil {
		return ev, false, err
	}
	ev.Conn = ConnID(conn)
	switch ev.Kind {
	case HostAccept:
		port, err := uv("port")
		if err != nil {
			return ev, false, err
		}
		if port > 1<<32-1 {
			return ev, false, fmt.Errorf("accept event: port %d", port)
		}
		ev.Port = uint32(port)
	case HostDialed:
		switch {
		case len(b) == 1 && b[0] == 0:
		case len(b) >= 1 && b[0] == 1:
			ev.Err = errors.New(string(b[1:]))
		default:
			return ev, false, errors.New("dialed event: bad status")
		}
		b = nil
	case HostData:
		if len(b) == 0 {
			return ev, false, errors.New("data event without data")
		}
		ev.Data, b = b, nil
	case HostEOF:
	case HostWrote:
		if ev.Written, err = uv("count"); err != nil {
			return ev, false, err
		}
	case HostError:
		ev.Err, b = errors.New(string(b)), nil
	default:
		return ev, false, fmt.Errorf("unknown event kind %d", ev.Kind)
	}
	if len(b) != 0 {
		return ev, false, fmt.Errorf("%v event: %d bytes too many", ev.Kind, len(b))
	}
	return ev, last, nil
}
