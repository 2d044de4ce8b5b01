package machine

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/juicevm/juice/internal/virtio/vsock"
)

// Recording virtio-vsock. The device takes host input only through
// vsock.Host.Take, in its Poll at a round boundary; a recording logs every
// event Take returned, at that clock, as one EventVsock input each, and a
// replay hands them back from the script, with no host socket at all.
//
// An event's data (EventVsock, port 0):
//
//	u8       kind (vsock.HostEventKind, 1 to 6), plus 0x80 on the last
//	         event of one Take
//	uvarint  connection (vsock.ConnID)
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
// taken at the same clock (a Poll, an idle round, another Poll) differ from
// one batch of both.

// vsockLast marks the last event of one Take.
const vsockLast = 0x80

// appendVsockEvent appends ev's encoding to b.
func appendVsockEvent(b []byte, ev *vsock.HostEvent, last bool) []byte {
	k := byte(ev.Kind)
	if last {
		k |= vsockLast
	}
	b = append(b, k)
	b = binary.AppendUvarint(b, uint64(ev.Conn))
	switch ev.Kind {
	case vsock.HostAccept:
		b = binary.AppendUvarint(b, uint64(ev.Port))
	case vsock.HostDialed:
		if ev.Err == nil {
			b = append(b, 0)
		} else {
			b = append(append(b, 1), ev.Err.Error()...)
		}
	case vsock.HostData:
		b = append(b, ev.Data...)
	case vsock.HostWrote:
		b = binary.AppendUvarint(b, ev.Written)
	case vsock.HostError:
		if ev.Err != nil {
			b = append(b, ev.Err.Error()...)
		}
	}
	return b
}

// decodeVsockEvent decodes what appendVsockEvent wrote. The event's Data
// aliases b.
func decodeVsockEvent(b []byte) (ev vsock.HostEvent, last bool, err error) {
	if len(b) == 0 {
		return ev, false, errors.New("empty")
	}
	ev.Kind, last = vsock.HostEventKind(b[0]&^vsockLast), b[0]&vsockLast != 0
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
	ev.Conn = vsock.ConnID(conn)
	switch ev.Kind {
	case vsock.HostAccept:
		port, err := uv("port")
		if err != nil {
			return ev, false, err
		}
		if port > 1<<32-1 {
			return ev, false, fmt.Errorf("accept event: port %d", port)
		}
		ev.Port = uint32(port)
	case vsock.HostDialed:
		switch {
		case len(b) == 1 && b[0] == 0:
		case len(b) >= 1 && b[0] == 1:
			ev.Err = errors.New(string(b[1:]))
		default:
			return ev, false, errors.New("dialed event: bad status")
		}
		b = nil
	case vsock.HostData:
		if len(b) == 0 {
			return ev, false, errors.New("data event without data")
		}
		ev.Data, b = b, nil
	case vsock.HostEOF:
	case vsock.HostWrote:
		if ev.Written, err = uv("count"); err != nil {
			return ev, false, err
		}
	case vsock.HostError:
		ev.Err, b = errors.New(string(b)), nil
	default:
		return ev, false, fmt.Errorf("unknown event kind %d", ev.Kind)
	}
	if len(b) != 0 {
		return ev, false, fmt.Errorf("%v event: %d bytes too many", ev.Kind, len(b))
	}
	return ev, last, nil
}

// vsockHost returns the host side of the vsock device: the Unix sockets,
// logged when recording, or the recording when replaying.
func (m *Machine) vsockHost(v *VsockConfig) (vsock.Host, error) {
	if m.cfg.Script != nil {
		return &scriptedVsock{m: m, dials: v.Path != "", wake: make(chan struct{})}, nil
	}
	h, err := vsock.NewUnixHost(vsock.Config{UnixPath: v.Path, Logger: m.cfg.Logger})
	if err != nil {
		return nil, err
	}
	if m.cfg.Log != nil {
		return &recordedVsock{Host: h, m: m}, nil
	}
	return h, nil
}

// recordedVsock logs the events the vsock device takes.
type recordedVsock struct {
	vsock.Host
	m   *Machine
	buf []byte
}

func (r *recordedVsock) Take() []vsock.HostEvent {
	evs := r.Host.Take()
	for i := range evs {
		r.buf = appendVsockEvent(r.buf[:0], &evs[i], i == len(evs)-1)
		r.m.logInput(EventVsock, 0, r.buf)
	}
	return evs
}

// scriptedVsock replays the events the vsock device took; what the guest
// sends the host goes nowhere, and there is no host socket.
type scriptedVsock struct {
	m     *Machine
	dials bool // the recording's device took guest connections
	wake  chan struct{}
}

func (s *scriptedVsock) Wake() <-chan struct{} { return s.wake }

// Take returns the next recorded batch if it is due now.
func (s *scriptedVsock) Take() []vsock.HostEvent {
	var evs []vsock.HostEvent
	for {
		data, ok := s.m.scriptAt(EventVsock, 0)
		if !ok {
			return evs
		}
		ev, last, err := decodeVsockEvent(data)
		if err != nil {
			s.m.fail(fmt.Errorf("%w: the recorded vsock event at clock %d is malformed: %v", ErrDiverged, s.m.now, err))
			return nil
		}
		evs = append(evs, ev)
		if last {
			return evs
		}
	}
}

func (s *scriptedVsock) Dial(vsock.ConnID, uint32) bool { return s.dials }
func (s *scriptedVsock) Start(vsock.ConnID, []byte)     {}
func (s *scriptedVsock) Push(vsock.ConnID, []byte)      {}
func (s *scriptedVsock) Release(vsock.ConnID, int)      {}
func (s *scriptedVsock) ShutdownWrite(vsock.ConnID)     {}
func (s *scriptedVsock) CloseGracefully(vsock.ConnID)   {}
func (s *scriptedVsock) Abort(vsock.ConnID)             {}
func (s *scriptedVsock) Close() error                   { return nil }
