package machine

import (
	"crypto/rand"
	"errors"
	"fmt"

	vnet "github.com/juicevm/juice/internal/virtio/net"
)

// Kinds of input beyond the console's.
const (
	// EventEntropy is host randomness given to virtio-rng.
	EventEntropy EventKind = iota + 3
	// EventNet is a frame a virtio-net interface took; the port is the
	// interface's index.
	EventNet
	// EventVsock is one host event the virtio-vsock device took, in its
	// wire form (vsock.AppendEvent); the port is 0.
	EventVsock
)

// InputLog receives every piece of outside input the machine takes, with
// the clock (see Clock) at which it took it: what a recording writes.
type InputLog interface {
	Input(clock uint64, kind EventKind, port int, data []byte)
}

// Input is one recorded piece of outside input.
type Input struct {
	Clock uint64
	Kind  EventKind
	Port  int
	Data  []byte
}

// InputScript supplies recorded input in place of live input: replay.
type InputScript interface {
	// Peek returns the next recorded input without consuming it; ok is
	// false when there is none left.
	Peek() (in Input, ok bool)
	// Take consumes the input Peek returned.
	Take()
}

// ErrDiverged is wrapped by errors saying that a replay stopped following
// its recording.
var ErrDiverged = errors.New("replay diverged")

func (k EventKind) String() string {
	switch k {
	case EventConsole:
		return "console"
	case EventWake:
		return "wake"
	case EventEntropy:
		return "entropy"
	case EventNet:
		return "net"
	case EventVsock:
		return "vsock"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

func (m *Machine) logInput(kind EventKind, port int, data []byte) {
	if m.cfg.Log != nil && len(data) > 0 {
		m.cfg.Log.Input(m.now, kind, port, data)
	}
}

// scriptAt returns the next scripted input of a kind and port if it is due
// at the current clock.
func (m *Machine) scriptAt(kind EventKind, port int) ([]byte, bool) {
	in, ok := m.cfg.Script.Peek()
	if !ok || in.Clock != m.now || in.Kind != kind || in.Port != port {
		return nil, false
	}
	m.cfg.Script.Take()
	return in.Data, true
}

// applyScript delivers the recorded input due now: console bytes directly,
// frames by letting the devices poll. Entropy is taken later, when the
// guest asks for it during the round. It returns an error when the
// recording and the machine disagree.
func (m *Machine) applyScript() error {
	for {
		in, ok := m.cfg.Script.Peek()
		if !ok || in.Clock > m.now {
			return nil
		}
		if in.Clock < m.now {
			return fmt.Errorf("%w: recorded %v input at clock %d was not taken (now %d)", ErrDiverged, in.Kind, in.Clock, m.now)
		}
		switch in.Kind {
		case EventConsole:
			var n int
			if m.vcon != nil {
				n = m.vcon.Deliver(in.Data)
			} else {
				n = m.uart.receive(in.Data)
			}
			if n != len(in.Data) {
				return fmt.Errorf("%w: the console took %d of %d recorded bytes at clock %d", ErrDiverged, n, len(in.Data), m.now)
			}
			m.cfg.Script.Take()
		case EventNet, EventVsock:
			m.pollDevices()
			if next, ok := m.cfg.Script.Peek(); ok && sameInput(next, in) {
				return nil // not taken now: checked at the next boundary
			}
		default:
			return nil
		}
	}
}

// sameInput reports whether two inputs are the same scripted entry.
func sameInput(a, b Input) bool {
	return a.Clock == b.Clock && a.Kind == b.Kind && a.Port == b.Port && len(a.Data) == len(b.Data) &&
		(len(a.Data) == 0 || &a.Data[0] == &b.Data[0])
}

// nextScripted returns the clock of the next scripted input, if any.
func (m *Machine) nextScripted() (uint64, bool) {
	in, ok := m.cfg.Script.Peek()
	return in.Clock, ok
}

// entropy is virtio-rng's source: host randomness, logged when recording,
// or the recording's bytes when replaying.
type entropy struct{ m *Machine }

func (e entropy) Read(p []byte) (int, error) {
	m := e.m
	if m.cfg.Script != nil {
		data, ok := m.scriptAt(EventEntropy, 0)
		if !ok || len(data) > len(p) {
			m.fail(fmt.Errorf("%w: virtio-rng asked for entropy at clock %d, which the recording does not have", ErrDiverged, m.now))
			return 0, errors.New("no recorded entropy")
		}
		return copy(p, data), nil
	}
	src := m.cfg.Entropy
	if src == nil {
		src = rand.Reader
	}
	n, err := src.Read(p)
	m.logInput(EventEntropy, 0, p[:n])
	return n, err
}

// recordedBackend wraps a virtio-net backend to log the frames the device
// takes.
type recordedBackend struct {
	vnet.Backend
	m    *Machine
	port int
}

func (b recordedBackend) Pending(max int) [][]byte {
	frames := b.Backend.Pending(max)
	for _, f := range frames {
		b.m.logInput(EventNet, b.port, f)
	}
	return frames
}

// scriptedBackend replays the frames a virtio-net device took; what the
// guest sends goes nowhere.
type scriptedBackend struct {
	m      *Machine
	port   int
	notify chan struct{}
}

func (b scriptedBackend) Send([]byte) {}

func (b scriptedBackend) Pending(max int) [][]byte {
	var frames [][]byte
	for len(frames) < max {
		f, ok := b.m.scriptAt(EventNet, b.port)
		if !ok {
			break
		}
		frames = append(frames, f)
	}
	return frames
}

func (b scriptedBackend) Notify() <-chan struct{} { return b.notify }
func (b scriptedBackend) Close() error            { return nil }

// fail stops the machine with an error (a replay divergence).
func (m *Machine) fail(err error) {
	if m.err == nil {
		m.err = err
	}
	m.stop(ExitDiverged, 0)
}
