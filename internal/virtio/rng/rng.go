// Package rng is Juice's virtio-rng (entropy) device.
//
// The device fills the driver's buffers from an Entropy source the board
// provides, synchronously inside Notify. Host entropy is input from outside
// the machine, so the board logs what the source returns (for record and
// replay); the device itself reads nothing else.
package rng

import (
	"fmt"
	"log/slog"

	"github.com/juicevm/juice/internal/virtio"
)

// Entropy is the source of random bytes; the board provides (and logs) it.
type Entropy interface {
	Read(p []byte) (int, error)
}

const (
	// QueueSize is the size of the request queue.
	QueueSize = 64
	// MaxRequest caps the bytes supplied for one buffer chain.
	MaxRequest = 64 << 10
	// maxEmptyReads bounds retries of a source returning (0, nil).
	maxEmptyReads = 4
)

// Device is a virtio-rng device.
type Device struct {
	src    Entropy
	log    *slog.Logger
	q      *virtio.Queue
	chain  virtio.Chain
	failed bool // a source error was logged
}

// New returns a virtio-rng device reading from src; log receives source
// errors (nil discards them).
func New(src Entropy, log *slog.Logger) *Device {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Device{src: src, log: log}
}

// Type implements virtio.Device.
func (d *Device) Type() uint32 { return virtio.IDRNG }

// Features implements virtio.Device; virtio-rng has no feature bits.
func (d *Device) Features() uint64 { return 0 }

// QueueSizes implements virtio.Device.
func (d *Device) QueueSizes() []uint16 { return []uint16{QueueSize} }

// ReadConfig implements virtio.Device; there is no configuration space.
func (d *Device) ReadConfig(off uint64, p []byte) {}

// WriteConfig implements virtio.Device.
func (d *Device) WriteConfig(off uint64, p []byte) {}

// Activate implements virtio.Device.
func (d *Device) Activate(q []*virtio.Queue, features uint64) error {
	d.q = q[0]
	d.Notify(0)
	return nil
}

// Reset implements virtio.Device.
func (d *Device) Reset() { d.q = nil }

// Notify implements virtio.Device: it fills every available buffer chain.
func (d *Device) Notify(int) {
	if d.q == nil {
		return
	}
	for d.q.Pop(&d.chain) {
		if d.chain.ReadableLen > 0 {
			d.q.Fail(fmt.Errorf("%w: virtio-rng buffer is device-readable", virtio.ErrDevice))
			return
		}
		d.q.Push(&d.chain, d.fill(&d.chain))
	}
	d.q.Signal()
}

// fill reads entropy into the chain's buffers, at most MaxRequest bytes,
// and returns how many it wrote.
func (d *Device) fill(c *virtio.Chain) uint32 {
	var n uint32
	empty := 0
	for _, b := range c.Writable {
		b = b[:min(len(b), MaxRequest-int(n))]
		for len(b) > 0 {
			k, err := d.src.Read(b)
			k = max(0, min(k, len(b)))
			b, n = b[k:], n+uint32(k)
			if err != nil {
				if !d.failed {
					d.failed = true
					d.log.Error("virtio-rng: entropy source failed; returning short buffers (logged once)", "err", err)
				}
				return n
			}
			if k == 0 {
				if empty++; empty >= maxEmptyReads {
					return n
				}
			}
		}
		if n >= MaxRequest {
			break
		}
	}
	return n
}
