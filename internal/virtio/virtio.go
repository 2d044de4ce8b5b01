// Package virtio is Juice's virtio device layer: the virtio-mmio (version 2)
// transport, split virtqueues and the interfaces device models implement.
//
// Everything here is synchronous. A device processes its queues inside
// Notify (an MMIO write by a hart) or inside methods the board calls at
// instruction-count boundaries, never on goroutines of its own, so requests
// complete at points fixed by the guest's instruction count. Nothing in the
// package is safe for concurrent use: the board drives every transport and
// device from its scheduler thread.
//
// The guest controls every ring and descriptor. Malformed rings never panic
// or allocate without bound: the transport sets DEVICE_NEEDS_RESET in the
// device status and raises a configuration-change interrupt, and the broken
// device stays silent until the driver resets it.
package virtio

import (
	"errors"

	"github.com/juicevm/juice/internal/snapshot"
)

// Memory is guest physical memory as devices see it (bounds-checked by the
// implementation).
//
// Devices write guest memory only through slices Slice returned: the
// rings, and the buffers of a chain, which a device writes in the call
// that pushes the chain (a chain popped earlier and held may be filled
// later, but is then pushed in the same call). Queue.Push calls Slice
// again for every device-writable buffer of the chain it completes, so an
// implementation can track the pages devices write by marking what Slice
// hands out, even for chains held across checkpoints.
type Memory interface {
	// Slice returns the guest bytes [addr, addr+n) if they lie entirely in RAM.
	Slice(addr, n uint64) ([]byte, bool)
}

// Device is a virtio device model behind a Transport.
type Device interface {
	// Type returns the virtio device ID (2 blk, 3 console, 4 rng, 1 net, 19 vsock).
	Type() uint32
	// Features returns the device-specific feature bits. The transport adds
	// VIRTIO_F_VERSION_1, VIRTIO_F_RING_INDIRECT_DESC and
	// VIRTIO_F_RING_EVENT_IDX, which Queue implements for every device.
	Features() uint64
	// QueueSizes returns the maximum size of each virtqueue.
	QueueSizes() []uint16
	// ReadConfig fills p from the device configuration space at offset off;
	// bytes beyond the configuration structure read as zero.
	ReadConfig(off uint64, p []byte)
	// WriteConfig writes p to the device configuration space at offset off.
	WriteConfig(off uint64, p []byte)
	// Activate is called when the driver sets DRIVER_OK, with the device's
	// queues and the negotiated features. An error sets DEVICE_NEEDS_RESET.
	Activate(q []*Queue, features uint64) error
	// Notify is called when the driver kicks queue q: the device processes
	// it now, synchronously.
	Notify(q int)
	// Reset returns the device to its initial state (the driver wrote 0 to
	// the status register or the device was reset by the board).
	Reset()
}

// Host is what a transport offers the device behind it besides its queues.
type Host interface {
	// ConfigChanged bumps the configuration generation and raises a
	// configuration-change interrupt (interrupt status bit 1) once the
	// driver is running.
	ConfigChanged()
	// NeedsReset sets DEVICE_NEEDS_RESET in the device status because of
	// err, raises a configuration-change interrupt and stops the device's
	// queues until the driver resets it.
	NeedsReset(err error)
}

// Attacher is implemented by devices that want their Host: NewTransport
// calls Attach once, before any other method.
type Attacher interface {
	Attach(h Host)
}

// Stateful is implemented by device models that hold guest-visible state
// of their own beyond their queues (input waiting for the driver, buffers
// popped and not yet used), so that Transport.SaveState and
// Transport.RestoreState can checkpoint them. A device that holds no such
// state need not implement it.
//
// The device's queues and the features it was activated with are the
// transport's state, not the device's: before RestoreState, the transport
// resets the device and, if the saved device was active, activates it
// again with its queues held quiet (Pop finds nothing, Push, Signal and
// Fail do nothing), so an Activate that processes its queues touches
// neither guest memory nor the interrupt line. RestoreState then replaces
// whatever else Activate changed.
type Stateful interface {
	// SaveState writes the device's state to e.
	SaveState(e *snapshot.Encoder)
	// RestoreState reads the state SaveState wrote, validating every value
	// (it is untrusted input), and applies it. It returns an error naming
	// the bad field instead of applying a state it cannot honor; d holds
	// exactly what SaveState wrote, and the transport reports bytes left
	// over.
	RestoreState(d *snapshot.Decoder) error
}

// Device IDs.
const (
	IDNet     = 1
	IDBlock   = 2
	IDConsole = 3
	IDRNG     = 4
	IDVsock   = 19
)

// Transport-level feature bits (virtio 1.x, section 6).
const (
	FRingIndirectDesc = 1 << 28
	FRingEventIdx     = 1 << 29
	FVersion1         = 1 << 32
)

// Device status bits.
const (
	StatusAcknowledge      = 1
	StatusDriver           = 2
	StatusDriverOK         = 4
	StatusFeaturesOK       = 8
	StatusDeviceNeedsReset = 64
	StatusFailed           = 128
)

// Interrupt status bits.
const (
	// IntUsedBuffer reports that a queue's used ring was updated.
	IntUsedBuffer = 1
	// IntConfigChange reports a configuration change (or DEVICE_NEEDS_RESET).
	IntConfigChange = 2
)

// Errors a Queue reports (wrapped, with the details) when the driver breaks
// the virtqueue rules.
var (
	// ErrFeatures is a feature negotiation the device refuses.
	ErrFeatures = errors.New("virtio: bad feature negotiation")
	// ErrQueueConfig is a queue set up with a bad size or ring address.
	ErrQueueConfig = errors.New("virtio: bad queue configuration")
	// ErrRing is a malformed ring or descriptor chain.
	ErrRing = errors.New("virtio: malformed virtqueue")
	// ErrDevice is a request a device cannot complete, not even with an
	// error status (for example a block request without a status byte).
	ErrDevice = errors.New("virtio: malformed request")
)
