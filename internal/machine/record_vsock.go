package machine

import (
	"errors"
	"fmt"

	"github.com/juicevm/juice/internal/virtio/vsock"
)

// Recording virtio-vsock. The device takes host input only through
// vsock.Host.Take, in its Poll at a round boundary; a recording logs every
// event Take returned, at that clock, as one EventVsock input each, and a
// replay hands them back from the script, with no host socket at all.
//
// An event's data (EventVsock, port 0) is its wire form, vsock.AppendEvent's,
// with the mark of the last event of one Take.

// vsockHost returns the host side of the vsock device: the Unix sockets,
// logged when recording, or the recording when replaying.
func (m *Machine) vsockHost(v *VsockConfig) (vsock.Host, error) {
	switch {
	case m.cfg.Script != nil:
		if v.Host != nil {
			v.Host.Close()
			v.Host = nil
		}
		return &scriptedVsock{m: m, dials: true, wake: make(chan struct{})}, nil
	case v.Host == nil:
		return nil, errors.New("vsock: no host side")
	case m.cfg.Log != nil:
		return &recordedVsock{Host: v.Host, m: m}, nil
	}
	return v.Host, nil
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
		r.buf = vsock.AppendEvent(r.buf[:0], &evs[i], i == len(evs)-1)
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
		ev, last, err := vsock.DecodeEvent(data)
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
