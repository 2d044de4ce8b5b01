// Package console is Juice's virtio-console device: a single port (no
// VIRTIO_CONSOLE_F_MULTIPORT) with a receive queue and a transmit queue.
//
// Transmitted bytes go to an io.Writer as the driver kicks the transmit
// queue. Host input enters only through Deliver, which the board calls at
// instruction-count boundaries (and logs for record and replay): it is
// buffered up to InputBuffer bytes and copied into the driver's receive
// buffers there and then, or as soon as the driver supplies some.
package console

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/virtio"
)

const (
	// QueueSize is the size of each queue.
	QueueSize = 64
	// InputBuffer is how many bytes of host input the device holds while
	// the driver has no receive buffers.
	InputBuffer = 4096
	// MaxTransmit caps the bytes of one transmit chain.
	MaxTransmit = 1 << 20

	rxQueue = 0
	txQueue = 1
)

// Device is a virtio-console device.
type Device struct {
	out         io.Writer
	log         *slog.Logger
	rx, tx      *virtio.Queue
	chain       virtio.Chain
	in          [InputBuffer]byte // ring of pending input
	head, n     int
	writeFailed bool
}

// New returns a console device writing guest output to out; log receives
// output errors (nil discards them).
func New(out io.Writer, log *slog.Logger) *Device {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Device{out: out, log: log}
}

// Type implements virtio.Device.
func (d *Device) Type() uint32 { return virtio.IDConsole }

// Features implements virtio.Device: no console features are offered.
func (d *Device) Features() uint64 { return 0 }

// QueueSizes implements virtio.Device: receiveq and transmitq of port 0.
func (d *Device) QueueSizes() []uint16 { return []uint16{QueueSize, QueueSize} }

// ReadConfig implements virtio.Device. Without VIRTIO_CONSOLE_F_SIZE and
// F_MULTIPORT every field (cols, rows, max_nr_ports, emerg_wr) reads zero.
func (d *Device) ReadConfig(off uint64, p []byte) {}

// WriteConfig implements virtio.Device; emerg_wr is not offered.
func (d *Device) WriteConfig(off uint64, p []byte) {}

// Activate implements virtio.Device. Input that arrived before the driver
// was ready is delivered now.
func (d *Device) Activate(q []*virtio.Queue, features uint64) error {
	d.rx, d.tx = q[rxQueue], q[txQueue]
	d.Notify(txQueue)
	d.Notify(rxQueue)
	return nil
}

// Reset implements virtio.Device. Buffered host input is kept for the next
// driver.
func (d *Device) Reset() { d.rx, d.tx = nil, nil }

// Notify implements virtio.Device.
func (d *Device) Notify(q int) {
	switch {
	case q == rxQueue && d.rx != nil:
		d.receive()
	case q == txQueue && d.tx != nil:
		d.transmit()
	}
}

// Pending returns how many bytes of host input wait for receive buffers.
func (d *Device) Pending() int { return d.n }

// Deliver offers host input to the guest and returns how many bytes of p
// the device took (the rest is for a later call). The board calls it at an
// instruction-count boundary; the bytes reach guest memory during the call
// if the driver has receive buffers.
func (d *Device) Deliver(p []byte) int {
	d.receive()
	taken := 0
	for taken < len(p) && d.n < InputBuffer {
		tail := (d.head + d.n) % InputBuffer
		k := copy(d.in[tail:min(InputBuffer, tail+InputBuffer-d.n)], p[taken:])
		d.n += k
		taken += k
	}
	d.receive()
	return taken
}

// receive copies pending input into the driver's receive buffers.
func (d *Device) receive() {
	if d.rx == nil {
		return
	}
	for d.n > 0 && d.rx.Pop(&d.chain) {
		if d.chain.ReadableLen > 0 {
			d.rx.Fail(fmt.Errorf("%w: virtio-console receive buffer is device-readable", virtio.ErrDevice))
			return
		}
		var off uint64
		for d.n > 0 && off < d.chain.WritableLen {
			end := min(InputBuffer, d.head+d.n)
			k := d.chain.WriteAt(d.in[d.head:end], off)
			off += uint64(k)
			d.head = (d.head + k) % InputBuffer
			d.n -= k
		}
		if d.n == 0 {
			d.head = 0
		}
		d.rx.Push(&d.chain, uint32(off))
	}
	d.rx.Signal()
}

// transmit writes every available transmit chain to the output.
func (d *Device) transmit() {
	for d.tx.Pop(&d.chain) {
		switch {
		case d.chain.WritableLen > 0:
			d.tx.Fail(fmt.Errorf("%w: virtio-console transmit buffer is device-writable", virtio.ErrDevice))
			return
		case d.chain.ReadableLen > MaxTransmit:
			d.tx.Fail(fmt.Errorf("%w: virtio-console transmit chain of %d bytes", virtio.ErrDevice, d.chain.ReadableLen))
			return
		}
		for _, b := range d.chain.Readable {
			if _, err := d.out.Write(b); err != nil && !d.writeFailed {
				d.writeFailed = true
				d.log.Error("virtio-console: writing guest output failed; output is dropped (logged once)", "err", err)
			}
		}
		d.tx.Push(&d.chain, 0)
	}
	d.tx.Signal()
}

// SaveState implements virtio.Stateful: the host input waiting for receive
// buffers.
func (d *Device) SaveState(e *snapshot.Encoder) {
	var p [InputBuffer]byte
	n := copy(p[:], d.in[d.head:min(InputBuffer, d.head+d.n)])
	copy(p[n:d.n], d.in[:d.n-n])
	e.Blob(p[:d.n])
}

// RestoreState implements virtio.Stateful.
func (d *Device) RestoreState(dec *snapshot.Decoder) error {
	p := dec.Blob("console pending input", InputBuffer)
	if err := dec.Err(); err != nil {
		return err
	}
	d.head, d.n = 0, copy(d.in[:], p)
	return nil
}
