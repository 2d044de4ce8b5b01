// Package net is Juice's virtio-net device: one receive queue and one
// transmit queue, no control queue, no offloads. The 12-byte
// virtio_net_hdr of VIRTIO_F_VERSION_1 (with num_buffers) precedes every
// frame; VIRTIO_NET_F_MRG_RXBUF is offered and, when negotiated, a large
// frame is spread over several receive buffers.
//
// # Determinism
//
// Frames the guest transmits are handed to the Backend synchronously inside
// Notify (an MMIO write by a hart). Frames for the guest come from outside
// the machine, so the device takes them from the Backend only inside Poll,
// which the board calls between scheduling rounds, at an instruction count
// it can record. Wake returns a channel that fires when a Poll may take
// something: the backend has queued frames, or the guest has
// just posted receive buffers after a Poll found none (the method is named
// Wake, as Notify is virtio.Device's). The device never
// touches guest memory from a goroutine of its own.
//
// # Hostile guests
//
// A transmit chain with device-writable buffers or a receive chain with
// device-readable ones (or one too small for the header) breaks the
// virtio-net rules: the device needs a reset. A transmit chain whose header
// asks for offloads that were not negotiated, or whose frame is shorter
// than an Ethernet header or longer than MaxFrame, is dropped and counted.
package net

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/virtio"
)

// Feature bits (virtio 1.x, section 5.1.3).
const (
	// FMTU: the configuration space holds the link MTU.
	FMTU = 1 << 3
	// FMAC: the configuration space holds the MAC address.
	FMAC = 1 << 5
	// FMrgRxBuf: the driver can merge receive buffers.
	FMrgRxBuf = 1 << 15
	// FStatus: the configuration status field is valid.
	FStatus = 1 << 16
)

const (
	// HeaderSize is the size of struct virtio_net_hdr with num_buffers, as
	// used with VIRTIO_F_VERSION_1.
	HeaderSize = 12
	// MaxFrame is the largest Ethernet frame (without the virtio-net
	// header) the device transmits or receives: 64 KiB of IP plus an
	// Ethernet header with a VLAN tag.
	MaxFrame = 65550
	// MinFrame is the smallest frame: an Ethernet header.
	MinFrame = 14
	// QueueSize is the maximum size of each queue.
	QueueSize = 256
	// DefaultMTU is the MTU the configuration space reports unless
	// Config.MTU says otherwise.
	DefaultMTU = 1500

	// StatusLinkUp is VIRTIO_NET_S_LINK_UP in the status field.
	StatusLinkUp = 1

	// pollBudget bounds the frames one Poll delivers.
	pollBudget = QueueSize

	rxQueue = 0
	txQueue = 1

	hdrFNeedsCsum = 1
	gsoNone       = 0
)

// DefaultMAC is the guest's MAC address unless Config.MAC says otherwise
// (QEMU's default for the first NIC).
var DefaultMAC = [6]byte{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

// Backend carries Ethernet frames (without the virtio-net header) between
// the device and the outside world.
type Backend interface {
	// Send takes a frame the guest transmitted. It must not block on the
	// host for long and must not retain frame after it returns.
	Send(frame []byte)
	// Pending removes and returns up to max (at least 1) frames waiting for
	// the guest, oldest first, without blocking. The frames belong to the
	// caller.
	Pending(max int) [][]byte
	// Notify returns a channel that receives a value (it holds at most one)
	// when frames for the guest are queued.
	Notify() <-chan struct{}
	// Close releases the backend.
	Close() error
}

// Config configures a Device. The zero value is usable.
type Config struct {
	// MAC is the guest's MAC address; the zero value means DefaultMAC.
	MAC [6]byte
	// MTU is the MTU the configuration space reports; 0 means DefaultMTU.
	MTU uint16
	// Logger receives the device's log lines; nil discards them.
	Logger *slog.Logger
}

// Stats counts a Device's frames.
type Stats struct {
	// TxFrames counts frames handed to the backend.
	TxFrames uint64
	// TxDropped counts transmit chains dropped as malformed.
	TxDropped uint64
	// RxFrames counts frames written to receive buffers.
	RxFrames uint64
	// RxDropped counts frames from the backend that were dropped: too
	// short, too long, larger than the guest's receive buffer, or lost in
	// a reset.
	RxDropped uint64
}

// Device is a virtio-net device. Apart from Wake, Stats and
// Close, its methods are for the board's scheduler thread only.
type Device struct {
	be     Backend
	log    *slog.Logger
	config [12]byte

	rx, tx *virtio.Queue
	mrg    bool

	txChain virtio.Chain
	txBuf   []byte

	// Receive buffers popped but not yet filled, in pop order, and the
	// frame taken from the backend that waits for them.
	rxChains []*virtio.Chain
	rxFree   []*virtio.Chain
	held     []byte
	starved  bool // a Poll stopped for want of receive buffers
	warned   bool // the drop of an oversized rx frame was logged

	wake      chan struct{}
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once

	txFrames, txDropped, rxFrames, rxDropped atomic.Uint64
}

// New returns a virtio-net device in front of be. The device owns be from
// now on: Close closes it.
func New(be Backend, cfg Config) *Device {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mac := cfg.MAC
	if mac == [6]byte{} {
		mac = DefaultMAC
	}
	mtu := cfg.MTU
	if mtu == 0 {
		mtu = DefaultMTU
	}
	d := &Device{
		be:    be,
		log:   log,
		txBuf: make([]byte, MaxFrame),
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	// struct virtio_net_config: mac[6], status, max_virtqueue_pairs, mtu.
	copy(d.config[0:6], mac[:])
	binary.LittleEndian.PutUint16(d.config[6:], StatusLinkUp)
	binary.LittleEndian.PutUint16(d.config[8:], 1)
	binary.LittleEndian.PutUint16(d.config[10:], mtu)
	d.wg.Add(1)
	go d.forward(be.Notify())
	return d
}

// forward turns backend wake-ups into device wake-ups. It only signals a
// channel; it never touches the device's state.
func (d *Device) forward(ch <-chan struct{}) {
	defer d.wg.Done()
	for {
		select {
		case <-ch:
			d.signal()
		case <-d.done:
			return
		}
	}
}

func (d *Device) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Wake returns a channel that receives a value (it holds at most one) when
// a Poll may take input: the backend queued frames, or the guest posted
// receive buffers after a Poll found none. The board then calls Poll at its
// next scheduling boundary. (The name is not Notify because the device's
// Notify is virtio.Device's queue notification.)
func (d *Device) Wake() <-chan struct{} { return d.wake }

// Close stops the device's goroutine and closes the backend. The device
// must not be used afterwards.
func (d *Device) Close() error {
	var err error
	d.closeOnce.Do(func() {
		close(d.done)
		d.wg.Wait()
		if e := d.be.Close(); e != nil {
			err = fmt.Errorf("virtio-net: closing backend: %w", e)
		}
	})
	return err
}

// Stats returns the device's counters; it is safe for concurrent use.
func (d *Device) Stats() Stats {
	return Stats{
		TxFrames:  d.txFrames.Load(),
		TxDropped: d.txDropped.Load(),
		RxFrames:  d.rxFrames.Load(),
		RxDropped: d.rxDropped.Load(),
	}
}

// Type implements virtio.Device.
func (d *Device) Type() uint32 { return virtio.IDNet }

// Features implements virtio.Device.
func (d *Device) Features() uint64 { return FMAC | FStatus | FMTU | FMrgRxBuf }

// QueueSizes implements virtio.Device: receiveq1 and transmitq1.
func (d *Device) QueueSizes() []uint16 { return []uint16{QueueSize, QueueSize} }

// ReadConfig implements virtio.Device.
func (d *Device) ReadConfig(off uint64, p []byte) {
	if off < uint64(len(d.config)) {
		copy(p, d.config[off:])
	}
}

// WriteConfig implements virtio.Device; the configuration is read-only.
func (d *Device) WriteConfig(off uint64, p []byte) {}

// Activate implements virtio.Device.
func (d *Device) Activate(q []*virtio.Queue, features uint64) error {
	d.rx, d.tx = q[rxQueue], q[txQueue]
	d.mrg = features&FMrgRxBuf != 0
	d.transmit()
	d.receive(false)
	if d.starved {
		d.starved = false
		d.signal()
	}
	return nil
}

// Reset implements virtio.Device. Popped receive buffers are forgotten
// (the driver reclaims them) and a frame waiting for them is dropped.
func (d *Device) Reset() {
	d.rx, d.tx = nil, nil
	d.dropRxChains()
	if d.held != nil {
		d.held = nil
		d.rxDropped.Add(1)
	}
	d.starved = false
}

func (d *Device) dropRxChains() {
	for _, c := range d.rxChains {
		d.rxFree = append(d.rxFree, c)
	}
	clear(d.rxChains)
	d.rxChains = d.rxChains[:0]
}

// Notify implements virtio.Device: the driver kicked queue q.
func (d *Device) Notify(q int) {
	switch {
	case q == txQueue && d.tx != nil:
		d.transmit()
	case q == rxQueue && d.rx != nil:
		// New receive buffers: finish the frame that waited for them,
		// and let the board Poll for more if the last Poll went short.
		d.receive(false)
		if d.starved && d.held == nil {
			d.starved = false
			d.signal()
		}
	}
}

// Poll takes frames waiting in the backend and writes them into the
// driver's receive buffers, as many as there are buffers for (at most
// QueueSize frames per call). It reports whether it took any frame from the
// backend. The board calls it between scheduling rounds, at an instruction
// count it records; it is the only point where received frames enter the
// machine.
func (d *Device) Poll() (took bool) {
	if d.rx == nil {
		return false
	}
	return d.receive(true)
}

// receive delivers the held frame and, if takeNew, new frames from the
// backend, while the driver has receive buffers.
func (d *Device) receive(takeNew bool) (took bool) {
	if d.rx == nil {
		return false
	}
	defer d.rx.Signal()
	for n := 0; n < pollBudget; n++ {
		if d.held == nil {
			if !takeNew {
				return took
			}
			// Take a frame only when there is a buffer to put it in.
			if len(d.rxChains) == 0 && !d.popRx() {
				d.starved = true
				return took
			}
			frames := d.be.Pending(1)
			if len(frames) == 0 {
				return took
			}
			took = true
			f := frames[0]
			if len(f) < MinFrame || len(f) > MaxFrame {
				d.rxDropped.Add(1)
				continue
			}
			d.held = f
		}
		if !d.place() {
			d.starved = true
			return took
		}
	}
	// Budget spent: more may be waiting.
	d.starved = true
	if takeNew {
		d.signal()
	}
	return took
}

// popRx pops one receive chain into d.rxChains. It returns false when the
// queue has none (or broke).
func (d *Device) popRx() bool {
	var c *virtio.Chain
	if n := len(d.rxFree); n > 0 {
		c, d.rxFree = d.rxFree[n-1], d.rxFree[:n-1]
	} else {
		c = new(virtio.Chain)
	}
	if !d.rx.Pop(c) {
		d.rxFree = append(d.rxFree, c)
		return false
	}
	if c.ReadableLen > 0 || c.WritableLen < HeaderSize {
		d.rx.Fail(fmt.Errorf("%w: virtio-net receive buffer with %d readable and %d writable bytes",
			virtio.ErrDevice, c.ReadableLen, c.WritableLen))
		d.rxFree = append(d.rxFree, c)
		return false
	}
	d.rxChains = append(d.rxChains, c)
	return true
}

// place writes the held frame into receive buffers. It returns false when
// the driver has too few buffers for it now; the frame stays held.
func (d *Device) place() bool {
	f := d.held
	need := uint64(HeaderSize + len(f))
	if !d.mrg {
		if len(d.rxChains) == 0 && !d.popRx() {
			return false
		}
		c := d.rxChains[0]
		if c.WritableLen < need {
			// The buffer is too small for this frame (the guest sized
			// its buffers for a smaller MTU): drop the frame, keep the
			// buffer for the next one.
			d.dropHeld(c.WritableLen)
			return true
		}
		d.fill([]*virtio.Chain{c}, f)
		d.rxChains = d.rxChains[:copy(d.rxChains, d.rxChains[1:])]
		d.rxFree = append(d.rxFree, c)
		return true
	}
	var have uint64
	k := 0
	for ; have < need; k++ {
		if k == len(d.rxChains) && !d.popRx() {
			return false
		}
		have += d.rxChains[k].WritableLen
	}
	used := d.rxChains[:k]
	d.fill(used, f)
	d.rxFree = append(d.rxFree, used...)
	d.rxChains = d.rxChains[:copy(d.rxChains, d.rxChains[k:])]
	return true
}

func (d *Device) dropHeld(room uint64) {
	if !d.warned {
		d.warned = true
		d.log.Warn("virtio-net: dropping a received frame larger than the guest's receive buffer (logged once)",
			"frame", len(d.held), "buffer", room)
	}
	d.held = nil
	d.rxDropped.Add(1)
}

// fill writes the header and frame f across chains and pushes them.
func (d *Device) fill(chains []*virtio.Chain, f []byte) {
	var hdr [HeaderSize]byte
	binary.LittleEndian.PutUint16(hdr[10:], uint16(len(chains)))
	for i, c := range chains {
		var off uint64
		if i == 0 {
			off = uint64(c.WriteAt(hdr[:], 0))
		}
		k := c.WriteAt(f, off)
		f = f[k:]
		d.rx.Push(c, uint32(off)+uint32(k))
	}
	d.held = nil
	d.rxFrames.Add(1)
}

// transmit hands every available transmit chain's frame to the backend.
func (d *Device) transmit() {
	for d.tx.Pop(&d.txChain) {
		c := &d.txChain
		if c.WritableLen > 0 {
			d.tx.Fail(fmt.Errorf("%w: virtio-net transmit chain has %d device-writable bytes", virtio.ErrDevice, c.WritableLen))
			return
		}
		frame, err := ParseTx(c, d.txBuf)
		d.tx.Push(c, 0)
		if err != nil {
			d.txDropped.Add(1)
			d.log.Debug("virtio-net: dropping transmit chain", "err", err)
			continue
		}
		d.be.Send(frame)
		d.txFrames.Add(1)
	}
	d.tx.Signal()
}

// ParseTx checks the virtio-net header of a transmit chain's readable
// bytes and copies the frame after it into buf (which must hold MaxFrame
// bytes), returning the frame. It fails, with an error wrapping
// virtio.ErrDevice, for a chain shorter than the header, a header asking
// for checksum or segmentation offload (neither is offered), and a frame
// shorter than MinFrame or longer than MaxFrame.
func ParseTx(c *virtio.Chain, buf []byte) ([]byte, error) {
	if c.ReadableLen < HeaderSize {
		return nil, fmt.Errorf("%w: virtio-net transmit chain of %d bytes has no header", virtio.ErrDevice, c.ReadableLen)
	}
	n := c.ReadableLen - HeaderSize
	if n < MinFrame || n > MaxFrame || n > uint64(len(buf)) {
		return nil, fmt.Errorf("%w: virtio-net frame of %d bytes", virtio.ErrDevice, n)
	}
	var hdr [HeaderSize]byte
	c.ReadAt(hdr[:], 0)
	if hdr[0] != 0 {
		return nil, fmt.Errorf("%w: virtio-net header flags %#x without offloads", virtio.ErrDevice, hdr[0])
	}
	if hdr[1] != gsoNone {
		return nil, fmt.Errorf("%w: virtio-net header gso_type %d without offloads", virtio.ErrDevice, hdr[1])
	}
	frame := buf[:n]
	c.ReadAt(frame, HeaderSize)
	return frame, nil
}

// SaveState implements virtio.Stateful: the receive buffers popped and not
// yet filled (as the guest addresses of their buffers), the frame taken
// from the backend that waits for them, and whether the last Poll went
// short. The counters of Stats are not saved: they count traffic with the
// outside, which a restore does not undo. Frames still queued in the
// backend are the backend's.
func (d *Device) SaveState(e *snapshot.Encoder) {
	e.Bool(d.starved)
	e.Bool(d.held != nil)
	if d.held != nil {
		e.Blob(d.held)
	}
	e.Count(len(d.rxChains))
	for _, c := range d.rxChains {
		d.rx.SaveChain(e, c)
	}
}

// RestoreState implements virtio.Stateful.
func (d *Device) RestoreState(dec *snapshot.Decoder) error {
	starved := dec.Bool("net starved")
	var held []byte
	if dec.Bool("net held frame present") {
		held = dec.Blob("net held frame", MaxFrame)
		if dec.Err() == nil && len(held) < MinFrame {
			dec.Failf("net held frame: %d bytes", len(held))
		}
	}
	n := dec.Count("net receive chains", QueueSize)
	if dec.Err() == nil && (n > 0 || held != nil) && d.rx == nil {
		dec.Failf("net receive chains: %d held (and a frame: %v) by a device that is not active", n, held != nil)
	}
	chains := make([]*virtio.Chain, 0, n)
	for i := 0; i < n && dec.Err() == nil; i++ {
		c := new(virtio.Chain)
		if d.rx.RestoreChain(dec, c) != nil {
			break
		}
		if c.ReadableLen > 0 || c.WritableLen < HeaderSize {
			dec.Failf("net receive chain %d: %d readable and %d writable bytes", i, c.ReadableLen, c.WritableLen)
		}
		chains = append(chains, c)
	}
	if err := dec.Err(); err != nil {
		return err
	}
	d.dropRxChains()
	d.rxChains = append(d.rxChains, chains...)
	d.held, d.starved = held, starved
	return nil
}
