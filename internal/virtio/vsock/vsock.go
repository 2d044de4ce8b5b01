// Package vsock is Juice's virtio-vsock device: stream sockets between the
// guest (CID 3 by default) and host programs (CID 2), carried over host Unix
// sockets the way Firecracker does it.
//
// # Host side
//
// The device listens on a Unix socket path U (Config.UnixPath).
//
//   - Host-initiated: a host program connects to U and writes
//     "CONNECT <port>\n". The device opens a connection to that guest port;
//     when the guest accepts it, the device answers "OK <hostport>\n" on the
//     Unix socket (hostport is the device-chosen source port) and relays
//     bytes both ways. If the guest refuses, the Unix socket is closed.
//   - Guest-initiated: a guest connection to CID 2 port P connects to the
//     Unix socket U_P (U, "_", then P in decimal). If nothing listens there
//     the guest gets a reset (ECONNRESET / ECONNREFUSED).
//
// # Protocol
//
// Stream sockets only (no VIRTIO_VSOCK_F_SEQPACKET). Flow control is
// credit-based both ways: the device never sends the guest more than the
// guest's buf_alloc minus what is in flight (tx_cnt - fwd_cnt), asks for
// credit with CREDIT_REQUEST when it has data and none, and advertises
// Config.ConnBuffer bytes of its own per connection, resetting a guest that
// sends more than that. Buffers are bounded: a connection holds at most
// ConnBuffer bytes each way, so a guest that never reads stalls only its
// own connection (the host program's writes block).
//
// # Determinism
//
// Packets the guest transmits are handled synchronously in Notify. The
// device reaches its host side only through the Host interface: host
// goroutines (accept, dial, read, write) never touch guest memory or the
// device's state; they queue HostEvents that the device takes only in Poll
// (Host.Take), which the board calls between scheduling rounds at an
// instruction count it records. Wake signals that a Poll has something to
// take. Every connection-visible change (new connections, dial results,
// host data, host EOF, credit freed by host writes, host errors) enters the
// guest there, and nothing the device tells its Host returns host state.
// So a Host that logs what Take returned, and one that returns the logged
// events again and drops everything else, record and replay the device
// (Config.Host).
package vsock

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/juicevm/juice/internal/virtio"
)

// Addresses and sizes.
const (
	// HostCID is the host's context ID.
	HostCID = 2
	// DefaultGuestCID is the guest's context ID unless Config.GuestCID
	// says otherwise.
	DefaultGuestCID = 3
	// HeaderSize is the size of struct virtio_vsock_hdr.
	HeaderSize = 44
	// QueueSize is the maximum size of each queue.
	QueueSize = 128
	// DefaultConnBuffer is the per-connection buffer (each way) unless
	// Config.ConnBuffer says otherwise.
	DefaultConnBuffer = 256 << 10
	// DefaultMaxConns bounds the open connections unless Config.MaxConns
	// says otherwise.
	DefaultMaxConns = 256
	// MaxPacket is the largest payload the device puts in one packet.
	MaxPacket = 64 << 10
	// firstHostPort is the first source port the device gives
	// host-initiated connections.
	firstHostPort = 1 << 30
	// maxControl bounds resets queued for packets that belong to no
	// connection.
	maxControl = 64

	rxQueue    = 0
	txQueue    = 1
	eventQueue = 2
)

// Packet types and operations (virtio 1.x, section 5.10.6).
const (
	// TypeStream is the stream socket type, the only one supported.
	TypeStream = 1

	// OpInvalid is never valid.
	OpInvalid = 0
	// OpRequest asks for a connection.
	OpRequest = 1
	// OpResponse accepts a connection.
	OpResponse = 2
	// OpRst resets (refuses or ends) a connection.
	OpRst = 3
	// OpShutdown says the sender will send or receive no more (Flags).
	OpShutdown = 4
	// OpRW carries Len bytes of stream data.
	OpRW = 5
	// OpCreditUpdate reports the sender's buf_alloc and fwd_cnt.
	OpCreditUpdate = 6
	// OpCreditRequest asks the receiver for a credit update.
	OpCreditRequest = 7

	// ShutdownRcv: the sender will receive no more data.
	ShutdownRcv = 1
	// ShutdownSend: the sender will send no more data.
	ShutdownSend = 2
)

// Header is struct virtio_vsock_hdr.
type Header struct {
	SrcCID, DstCID   uint64
	SrcPort, DstPort uint32
	Len              uint32
	Type, Op         uint16
	Flags            uint32
	BufAlloc, FwdCnt uint32
}

// Decode reads a header from b (at least HeaderSize bytes).
func (h *Header) Decode(b []byte) {
	le := binary.LittleEndian
	h.SrcCID, h.DstCID = le.Uint64(b[0:]), le.Uint64(b[8:])
	h.SrcPort, h.DstPort = le.Uint32(b[16:]), le.Uint32(b[20:])
	h.Len = le.Uint32(b[24:])
	h.Type, h.Op = le.Uint16(b[28:]), le.Uint16(b[30:])
	h.Flags = le.Uint32(b[32:])
	h.BufAlloc, h.FwdCnt = le.Uint32(b[36:]), le.Uint32(b[40:])
}

// Encode writes the header into b (at least HeaderSize bytes).
func (h *Header) Encode(b []byte) {
	le := binary.LittleEndian
	le.PutUint64(b[0:], h.SrcCID)
	le.PutUint64(b[8:], h.DstCID)
	le.PutUint32(b[16:], h.SrcPort)
	le.PutUint32(b[20:], h.DstPort)
	le.PutUint32(b[24:], h.Len)
	le.PutUint16(b[28:], h.Type)
	le.PutUint16(b[30:], h.Op)
	le.PutUint32(b[32:], h.Flags)
	le.PutUint32(b[36:], h.BufAlloc)
	le.PutUint32(b[40:], h.FwdCnt)
}

// Config configures a Device.
type Config struct {
	// GuestCID is the guest's context ID; 0 means DefaultGuestCID.
	GuestCID uint64
	// UnixPath is the host Unix socket U the device listens on; guest
	// connections to host port P go to U_P. Empty means no host
	// connections: the guest's are all reset. It is not used when Host is
	// set.
	UnixPath string
	// Host, if set, is the device's host side (the device closes it);
	// otherwise the device makes one on UnixPath (NewUnixHost).
	Host Host
	// ConnBuffer is the per-connection buffer each way, advertised to the
	// guest as buf_alloc; 0 means DefaultConnBuffer.
	ConnBuffer uint32
	// MaxConns bounds the open connections; 0 means DefaultMaxConns.
	MaxConns int
	// Logger receives the device's log lines; nil discards them.
	Logger *slog.Logger
}

// defaults fills in the defaults.
func (cfg *Config) defaults() {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.GuestCID == 0 {
		cfg.GuestCID = DefaultGuestCID
	}
	if cfg.ConnBuffer == 0 {
		cfg.ConnBuffer = DefaultConnBuffer
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
}

// Stats counts a Device's packets.
type Stats struct {
	// TxPackets counts packets the guest transmitted.
	TxPackets uint64
	// TxDropped counts guest packets dropped as malformed (short chain,
	// len beyond the chain, wrong source CID).
	TxDropped uint64
	// RxPackets counts packets delivered to the guest.
	RxPackets uint64
	// Resets counts connections reset by the device, and resets sent for
	// packets that belong to no connection.
	Resets uint64
}

// Device is a virtio-vsock device. Apart from Wake, Stats and Close its
// methods are for the board's scheduler thread only.
type Device struct {
	log      *slog.Logger
	guestCID uint64
	bufSize  uint32
	maxConns int
	host     Host

	rx, tx *virtio.Queue
	ev     *virtio.Queue
	txc    virtio.Chain
	rxc    virtio.Chain
	haveRx bool // rxc holds a popped receive buffer
	hdrBuf [HeaderSize]byte
	data   []byte

	conns    map[connKey]*conn
	byHost   map[ConnID]*conn
	ready    []*conn // connections that may have a packet to send, FIFO
	control  []Header
	nextPort uint32
	nextDial ConnID // the last ConnID given to a guest connection

	// The host sides of connections Reset dropped, not closed yet (see
	// Reset), and where the last Reset's start in orphans.
	orphans   []orphan
	resetMark int

	closeOnce sync.Once

	txPackets, txDropped, rxPackets, resets atomic.Uint64
}

// New returns a virtio-vsock device. Without cfg.Host it starts listening
// on cfg.UnixPath (a stale socket there is replaced; see NewUnixHost).
func New(cfg Config) (*Device, error) {
	cfg.defaults()
	if cfg.GuestCID <= HostCID || cfg.GuestCID >= 0xffffffff {
		if cfg.Host != nil {
			cfg.Host.Close()
		}
		return nil, fmt.Errorf("vsock: guest CID %d is reserved", cfg.GuestCID)
	}
	d := &Device{
		log:      cfg.Logger,
		guestCID: cfg.GuestCID,
		bufSize:  cfg.ConnBuffer,
		maxConns: cfg.MaxConns,
		host:     cfg.Host,
		conns:    map[connKey]*conn{},
		byHost:   map[ConnID]*conn{},
		nextPort: firstHostPort,
		data:     make([]byte, MaxPacket),
	}
	if d.host == nil {
		h, err := newHostSide(cfg)
		if err != nil {
			return nil, err
		}
		d.host = h
	}
	return d, nil
}

// Close closes the host side: with the Unix-socket host, it stops
// listening, closes every host connection, waits for the host goroutines
// and removes the host socket. The device must not be used afterwards.
func (d *Device) Close() error {
	var err error
	d.closeOnce.Do(func() { err = d.host.Close() })
	return err
}

// Wake returns a channel that receives a value (it holds at most one) when
// host input is waiting for Poll. (Notify is virtio.Device's.)
func (d *Device) Wake() <-chan struct{} { return d.host.Wake() }

// Stats returns the device's counters; it is safe for concurrent use.
func (d *Device) Stats() Stats {
	return Stats{
		TxPackets: d.txPackets.Load(),
		TxDropped: d.txDropped.Load(),
		RxPackets: d.rxPackets.Load(),
		Resets:    d.resets.Load(),
	}
}

// GuestCID returns the guest's context ID.
func (d *Device) GuestCID() uint64 { return d.guestCID }

// Type implements virtio.Device.
func (d *Device) Type() uint32 { return virtio.IDVsock }

// Features implements virtio.Device: stream sockets only.
func (d *Device) Features() uint64 { return 0 }

// QueueSizes implements virtio.Device: rx, tx and event queues.
func (d *Device) QueueSizes() []uint16 { return []uint16{QueueSize, QueueSize, QueueSize} }

// ReadConfig implements virtio.Device: struct virtio_vsock_config holds
// the 64-bit guest CID.
func (d *Device) ReadConfig(off uint64, p []byte) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], d.guestCID)
	if off < 8 {
		copy(p, b[off:])
	}
}

// WriteConfig implements virtio.Device; the configuration is read-only.
func (d *Device) WriteConfig(off uint64, p []byte) {}

// Activate implements virtio.Device.
func (d *Device) Activate(q []*virtio.Queue, features uint64) error {
	d.rx, d.tx, d.ev = q[rxQueue], q[txQueue], q[eventQueue]
	d.transmit()
	d.pump()
	return nil
}

// Reset implements virtio.Device: every connection is dropped, as the
// guest's sockets are gone, and its host socket is aborted just before the
// device next talks to its Host (at the latest in the next Poll, at the
// round boundary), unless a RestoreState comes first.
//
// The delay is what lets a restore reset the device without touching the
// outside: Transport.RestoreState resets the device, activates it again
// with quiet queues (which makes no Host calls) and then calls
// RestoreState, which forgets the host sides the reset dropped. A Reset
// the driver or the board asks for tells the Host the same things as
// before, in the same order relative to everything else the device tells
// it; the guest sees no difference.
func (d *Device) Reset() {
	d.rx, d.tx, d.ev = nil, nil, nil
	d.haveRx = false
	d.resetMark = len(d.orphans)
	for _, c := range d.conns {
		d.forget(c)
		d.orphans = append(d.orphans, orphan{id: c.id, release: c.toGuestBytes})
		c.toGuest, c.toGuestBytes = nil, 0
	}
	clear(d.ready)
	d.ready = d.ready[:0]
	d.control = d.control[:0]
}

// orphan is the host side of a connection Reset dropped: Abort it and give
// back release bytes of its host data.
type orphan struct {
	id      ConnID
	release int
}

// hostNow returns the device's Host for a call, after telling it to abort
// the connections a Reset dropped. Every Host call of the device but Wake
// and Close goes through it.
func (d *Device) hostNow() Host {
	if len(d.orphans) > 0 {
		orphans := d.orphans
		d.orphans, d.resetMark = nil, 0
		for _, o := range orphans {
			d.host.Abort(o.id)
			if o.release > 0 {
				d.host.Release(o.id, o.release)
			}
		}
	}
	return d.host
}

// Notify implements virtio.Device.
func (d *Device) Notify(q int) {
	switch {
	case q == txQueue && d.tx != nil:
		d.transmit()
		d.pump()
	case q == rxQueue && d.rx != nil:
		d.pump()
	}
	// The event queue's buffers are kept for transport-reset events, which
	// the device never sends.
}

// TransportReset drops every connection, as a restore onto a new host
// side does (the host sockets of the snapshot's connections are gone),
// and sends the driver VIRTIO_VSOCK_EVENT_TRANSPORT_RESET, after which
// the guest resets its sockets. With no connections it does nothing, so
// that a restored guest without any goes on exactly as the original.
func (d *Device) TransportReset() {
	if len(d.conns) == 0 {
		return
	}
	for _, c := range d.conns {
		d.forget(c)
		d.resets.Add(1)
	}
	clear(d.ready)
	d.ready = d.ready[:0]
	d.control = d.control[:0]
	if d.ev == nil {
		return
	}
	var c virtio.Chain
	if !d.ev.Pop(&c) {
		return
	}
	var ev [4]byte // the event id: 0, VIRTIO_VSOCK_EVENT_TRANSPORT_RESET
	d.ev.Push(&c, uint32(c.WriteAt(ev[:], 0)))
	d.ev.Signal()
}

// Poll takes the host input that has arrived (new host connections, dial
// results, data, EOFs, write progress, errors), applies it to the
// connections and sends the guest what it can. It reports whether there was
// any input. The board calls it between scheduling rounds, at an
// instruction count it records: it is the only point where host input
// enters the machine.
func (d *Device) Poll() (took bool) {
	evs := d.hostNow().Take()
	for i := range evs {
		d.apply(&evs[i])
		evs[i] = HostEvent{}
	}
	d.pump()
	return len(evs) > 0
}
