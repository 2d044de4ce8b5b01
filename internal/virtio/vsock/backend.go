package vsock

import "strconv"

// The seam between the device and its host side. The device (on the
// board's thread) takes host events only through Host.Take, in Poll, and
// tells the host side what to do only through Host's other methods, none of
// which returns anything that depends on the host (Dial's answer depends on
// the configuration alone). So a Host that logs what Take returns, and one
// that returns the logged events again and does nothing else, record and
// replay the device exactly.

// ConnID names one host connection between the device and its Host. The
// device names the connections it dials (guest-initiated) with
// AcceptedConn clear; a Host names the connections it accepts
// (host-initiated) with AcceptedConn set.
type ConnID uint64

// AcceptedConn is set in the ConnID of every host-initiated connection.
const AcceptedConn ConnID = 1 << 63

// HostEventKind says what a HostEvent is.
type HostEventKind uint8

// Kinds of host events.
const (
	// HostAccept: a host program asked for guest port Port on a new
	// connection Conn (host-initiated).
	HostAccept HostEventKind = iota + 1
	// HostDialed: the dial the device asked for (Host.Dial) finished; Err
	// is nil if it connected.
	HostDialed
	// HostData: Data was read from Conn's host socket. The device gives
	// the bytes back with Host.Release once it delivered or dropped them.
	HostData
	// HostEOF: Conn's host socket will send no more.
	HostEOF
	// HostWrote: Written guest bytes in all have now been written to Conn's
	// host socket (the guest's credit grows by what this adds).
	HostWrote
	// HostError: writing to Conn's host socket failed with Err.
	HostError
)

func (k HostEventKind) String() string {
	switch k {
	case HostAccept:
		return "accept"
	case HostDialed:
		return "dialed"
	case HostData:
		return "data"
	case HostEOF:
		return "eof"
	case HostWrote:
		return "wrote"
	case HostError:
		return "error"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// HostEvent is one piece of input from the host side.
type HostEvent struct {
	Kind HostEventKind
	// Conn is the connection the event is about.
	Conn ConnID
	// Port is the guest port a HostAccept asks for.
	Port uint32
	// Written is, for HostWrote, the total of guest bytes written to the
	// host socket as of Take.
	Written uint64
	// Data is the bytes of a HostData; the device keeps them until it
	// has delivered them.
	Data []byte
	// Err is why a HostDialed failed (nil: connected), or a HostError's
	// cause.
	Err error
}

// Host is the device's host side. The device calls its methods from the
// board's thread only (Wake's channel may be read anywhere), and owns it:
// Device.Close closes it.
type Host interface {
	// Wake returns a channel that receives a value (it holds at most one)
	// when events are waiting for Take.
	Wake() <-chan struct{}
	// Take returns the events that arrived since the last call, in order;
	// the device calls it once per Poll and applies all of them there.
	Take() []HostEvent
	// Dial starts a connection, named id, to the host's port port; its
	// result comes as a HostDialed event. It returns false, and starts
	// nothing, if the host takes no guest connections at all (which must
	// depend on the configuration only): the guest is refused at once.
	Dial(id ConnID, port uint32) bool
	// Start begins relaying data on an established connection (after a
	// successful dial, or once the guest accepted a host-initiated one);
	// hello is written to the host socket first.
	Start(id ConnID, hello []byte)
	// Push queues guest bytes for the connection's host socket.
	Push(id ConnID, p []byte)
	// Release gives back n bytes of HostData the device delivered to the
	// guest or dropped, so that the host side reads more.
	Release(id ConnID, n int)
	// ShutdownWrite half-closes the host socket once pushed bytes are
	// written.
	ShutdownWrite(id ConnID)
	// CloseGracefully closes the host socket once pushed bytes are written.
	CloseGracefully(id ConnID)
	// Abort closes the host socket now. The device sends nothing about id
	// afterwards (but may Abort or Release it again) and ignores its
	// events.
	Abort(id ConnID)
	// Close ends every connection and releases the host side.
	Close() error
}
