package vsock

import (
	"fmt"
	"strconv"

	"github.com/juicevm/juice/internal/virtio"
)

// connKey names a connection by its guest and host ports.
type connKey struct{ guestPort, hostPort uint32 }

type connState uint8

const (
	stConnecting  connState = iota + 1 // guest REQUEST, host dial in progress
	stRequesting                       // host-initiated, waiting for the guest's RESPONSE
	stEstablished                      // data flows
)

// conn is the device's (board-thread) state of one connection.
type conn struct {
	key   connKey
	id    ConnID // the host connection
	state connState
	dead  bool
	queue bool // in d.ready

	// Control packets owed to the guest.
	sendRequest, sendResponse, sendCreditUpdate bool
	creditRequested                             bool
	sendRst                                     bool
	gracefulClose                               bool // with sendRst: flush guest bytes to the host first
	hostEOF, shutdownSent                       bool
	peerShutdown                                uint32

	// Host to guest.
	toGuest      [][]byte
	toGuestBytes int
	txCnt        uint32 // bytes sent to the guest
	peerBufAlloc uint32
	peerFwdCnt   uint32

	// Guest to host.
	rxCnt     uint32 // bytes received from the guest
	fwdCnt    uint32 // of those, written to the host socket (as of Poll)
	advFwdCnt uint32 // fwd_cnt last told to the guest
}

// peerCredit is how many bytes the guest can take now.
func (c *conn) peerCredit() uint32 {
	inFlight := c.txCnt - c.peerFwdCnt
	if inFlight >= c.peerBufAlloc {
		return 0
	}
	return c.peerBufAlloc - inFlight
}

// markReady queues c for pump.
func (d *Device) markReady(c *conn) {
	if !c.queue && !c.dead {
		c.queue = true
		d.ready = append(d.ready, c)
	}
}

// reset schedules an RST for c; the connection ends when it is sent.
func (d *Device) reset(c *conn, graceful bool) {
	if !c.sendRst {
		d.resets.Add(1)
	}
	c.sendRst = true
	c.gracefulClose = c.gracefulClose || graceful
	d.markReady(c)
}

// forget removes c from the connection table; it sends nothing more.
func (d *Device) forget(c *conn) {
	c.dead = true
	delete(d.conns, c.key)
	delete(d.byHost, c.id)
}

// drop forgets c and closes its host socket.
func (d *Device) drop(c *conn, graceful bool) {
	if c.dead {
		return
	}
	d.forget(c)
	if graceful && c.state == stEstablished {
		d.hostNow().CloseGracefully(c.id)
	} else {
		d.hostNow().Abort(c.id)
	}
	if c.toGuestBytes > 0 {
		d.hostNow().Release(c.id, c.toGuestBytes)
	}
	c.toGuest, c.toGuestBytes = nil, 0
}

// controlRst queues a reset answering h, which belongs to no connection.
func (d *Device) controlRst(h *Header) {
	if h.Op == OpRst {
		return
	}
	d.resets.Add(1)
	if len(d.control) >= maxControl {
		return
	}
	d.control = append(d.control, Header{
		SrcCID: h.DstCID, DstCID: h.SrcCID, SrcPort: h.DstPort, DstPort: h.SrcPort,
		Type: TypeStream, Op: OpRst,
	})
}

// apply handles one host event (in Poll). Events that make no sense for
// the connection's state are ignored: a replayed log is input too.
func (d *Device) apply(ev *HostEvent) {
	id := ev.Conn
	if ev.Kind == HostAccept {
		if id&AcceptedConn == 0 || d.byHost[id] != nil {
			return
		}
		if d.rx == nil || len(d.conns) >= d.maxConns {
			d.hostNow().Abort(id)
			return
		}
		key := connKey{guestPort: ev.Port}
		for {
			key.hostPort = d.nextPort
			d.nextPort++
			if d.nextPort == 0 {
				d.nextPort = firstHostPort
			}
			if d.conns[key] == nil {
				break
			}
		}
		c := &conn{key: key, id: id, state: stRequesting, sendRequest: true}
		d.conns[key] = c
		d.byHost[id] = c
		d.markReady(c)
		return
	}
	c := d.byHost[id]
	if c == nil {
		// The connection is gone: drop the input.
		switch ev.Kind {
		case HostDialed:
			d.hostNow().Abort(id)
		case HostData:
			d.hostNow().Release(id, len(ev.Data))
		}
		return
	}
	switch ev.Kind {
	case HostDialed:
		if c.state != stConnecting {
			return
		}
		if ev.Err != nil {
			d.log.Debug("vsock: guest connection to the host refused", "port", c.key.hostPort, "err", ev.Err)
			d.reset(c, false)
			return
		}
		c.state = stEstablished
		c.sendResponse = true
		d.hostNow().Start(id, nil)
	case HostData:
		if c.peerShutdown&ShutdownRcv != 0 || c.sendRst || c.state != stEstablished {
			d.hostNow().Release(id, len(ev.Data))
			return
		}
		c.toGuest = append(c.toGuest, ev.Data)
		c.toGuestBytes += len(ev.Data)
	case HostEOF:
		c.hostEOF = true
	case HostWrote:
		// Only bytes the guest sent can have been written.
		if w := uint32(ev.Written); w-c.fwdCnt <= c.rxCnt-c.fwdCnt {
			c.fwdCnt = w
		}
		// Tell the guest when its view of our free space is low.
		if c.fwdCnt != c.advFwdCnt && d.bufSize-(c.rxCnt-c.advFwdCnt) < d.bufSize/2 {
			c.sendCreditUpdate = true
		}
	case HostError:
		d.log.Debug("vsock: writing to the host socket failed", "port", c.key.hostPort, "err", ev.Err)
		d.reset(c, false)
	default:
		return
	}
	d.markReady(c)
}

// dialID names a new guest-initiated connection: the next ConnID without
// AcceptedConn that no live connection has.
func (d *Device) dialID() ConnID {
	for {
		d.nextDial++
		if d.nextDial&AcceptedConn != 0 {
			d.nextDial = 1
		}
		if d.byHost[d.nextDial] == nil {
			return d.nextDial
		}
	}
}

// transmit handles every packet the guest queued.
func (d *Device) transmit() {
	for d.tx.Pop(&d.txc) {
		c := &d.txc
		if c.WritableLen > 0 {
			d.tx.Fail(fmt.Errorf("%w: virtio-vsock transmit chain has %d device-writable bytes", virtio.ErrDevice, c.WritableLen))
			return
		}
		d.txPackets.Add(1)
		if c.ReadableLen < HeaderSize {
			d.txDropped.Add(1)
			d.tx.Push(c, 0)
			continue
		}
		c.ReadAt(d.hdrBuf[:], 0)
		var h Header
		h.Decode(d.hdrBuf[:])
		if uint64(h.Len) > c.ReadableLen-HeaderSize || h.SrcCID != d.guestCID {
			d.txDropped.Add(1)
			d.tx.Push(c, 0)
			continue
		}
		d.handle(&h, c)
		d.tx.Push(c, 0)
	}
	d.tx.Signal()
}

// handle processes one guest packet; its payload is in chain ch after the
// header.
func (d *Device) handle(h *Header, ch *virtio.Chain) {
	if h.DstCID != HostCID || h.Type != TypeStream {
		d.controlRst(h)
		return
	}
	key := connKey{guestPort: h.SrcPort, hostPort: h.DstPort}
	c := d.conns[key]
	if c == nil {
		if h.Op == OpRequest && len(d.conns) < d.maxConns {
			id := d.dialID()
			if d.hostNow().Dial(id, h.DstPort) {
				c = &conn{key: key, id: id, state: stConnecting, peerBufAlloc: h.BufAlloc, peerFwdCnt: h.FwdCnt}
				d.conns[key] = c
				d.byHost[id] = c
				return
			}
		}
		d.controlRst(h)
		return
	}
	if c.sendRst {
		return // already being reset
	}
	c.peerBufAlloc, c.peerFwdCnt = h.BufAlloc, h.FwdCnt
	if c.peerCredit() > 0 {
		c.creditRequested = false
	}
	switch h.Op {
	case OpRequest:
		// A second request for a live connection.
		d.reset(c, false)
	case OpResponse:
		if c.state != stRequesting {
			d.reset(c, false)
			return
		}
		c.state = stEstablished
		d.hostNow().Start(c.id, []byte("OK "+strconv.FormatUint(uint64(c.key.hostPort), 10)+"\n"))
	case OpRst:
		d.drop(c, false)
		return
	case OpShutdown:
		c.peerShutdown |= h.Flags & (ShutdownRcv | ShutdownSend)
		if c.peerShutdown&ShutdownRcv != 0 && c.toGuestBytes > 0 {
			d.hostNow().Release(c.id, c.toGuestBytes)
			c.toGuest, c.toGuestBytes = nil, 0
		}
		if c.peerShutdown == ShutdownRcv|ShutdownSend {
			d.reset(c, true)
			return
		}
		if c.peerShutdown&ShutdownSend != 0 && c.state == stEstablished {
			d.hostNow().ShutdownWrite(c.id)
		}
	case OpRW:
		free := d.bufSize - (c.rxCnt - c.fwdCnt)
		if c.state != stEstablished || c.peerShutdown&ShutdownSend != 0 || h.Len > free {
			d.reset(c, false)
			return
		}
		for off := uint32(0); off < h.Len; {
			n := min(h.Len-off, uint32(len(d.data)))
			ch.ReadAt(d.data[:n], uint64(HeaderSize+off))
			d.hostNow().Push(c.id, d.data[:n])
			off += n
		}
		c.rxCnt += h.Len
	case OpCreditUpdate:
	case OpCreditRequest:
		c.sendCreditUpdate = true
	default:
		d.reset(c, false)
		return
	}
	d.markReady(c)
}

// pump sends the guest every packet it has room and credit for.
func (d *Device) pump() {
	if d.rx == nil {
		return
	}
	defer d.rx.Signal()
	for len(d.control) > 0 || len(d.ready) > 0 {
		if !d.haveRx {
			if !d.rx.Pop(&d.rxc) {
				return
			}
			if d.rxc.ReadableLen > 0 || d.rxc.WritableLen < HeaderSize {
				d.rx.Fail(fmt.Errorf("%w: virtio-vsock receive buffer with %d readable and %d writable bytes",
					virtio.ErrDevice, d.rxc.ReadableLen, d.rxc.WritableLen))
				return
			}
			d.haveRx = true
		}
		if len(d.control) > 0 {
			h := d.control[0]
			d.control = d.control[:copy(d.control, d.control[1:])]
			h.DstCID = d.guestCID
			h.SrcCID = HostCID
			d.deliver(&h, nil)
			continue
		}
		c := d.ready[0]
		d.ready = d.ready[:copy(d.ready, d.ready[1:])]
		c.queue = false
		if c.dead {
			continue
		}
		room := min(uint64(MaxPacket), d.rxc.WritableLen-HeaderSize)
		if !d.sendFrom(c, uint32(room)) {
			continue // nothing to send
		}
		if !c.dead {
			d.markReady(c) // maybe more; round robin
		}
	}
}

// sendFrom sends c's next packet into the held receive buffer; false if c
// has nothing to send.
func (d *Device) sendFrom(c *conn, room uint32) bool {
	h := Header{
		SrcCID: HostCID, DstCID: d.guestCID,
		SrcPort: c.key.hostPort, DstPort: c.key.guestPort,
		Type: TypeStream, BufAlloc: d.bufSize, FwdCnt: c.fwdCnt,
	}
	switch {
	case c.sendRst:
		h.Op = OpRst
		d.deliver(&h, nil)
		d.drop(c, c.gracefulClose)
		return true
	case c.state == stConnecting:
		return false
	case c.sendRequest:
		c.sendRequest = false
		h.Op = OpRequest
	case c.state == stRequesting:
		return false
	case c.sendResponse:
		c.sendResponse = false
		h.Op = OpResponse
	case c.toGuestBytes > 0 && c.peerCredit() > 0 && room > 0:
		n := min(uint32(c.toGuestBytes), c.peerCredit(), room)
		h.Op = OpRW
		h.Len = n
		d.deliver(&h, c)
		c.sendCreditUpdate = false
		return true
	case c.toGuestBytes > 0 && !c.creditRequested && c.peerCredit() == 0:
		c.creditRequested = true
		h.Op = OpCreditRequest
	case c.sendCreditUpdate:
		c.sendCreditUpdate = false
		h.Op = OpCreditUpdate
	case c.hostEOF && c.toGuestBytes == 0 && !c.shutdownSent:
		c.shutdownSent = true
		h.Op = OpShutdown
		h.Flags = ShutdownSend
	default:
		return false
	}
	d.deliver(&h, nil)
	// Every packet carries fwd_cnt: no separate update is owed.
	c.sendCreditUpdate = false
	c.advFwdCnt = c.fwdCnt
	return true
}

// deliver writes h (and, for OpRW, h.Len bytes of c's pending data) into
// the held receive buffer and returns it to the guest.
func (d *Device) deliver(h *Header, c *conn) {
	rc := &d.rxc
	h.Encode(d.hdrBuf[:])
	rc.WriteAt(d.hdrBuf[:], 0)
	off := uint64(HeaderSize)
	if c != nil {
		left := int(h.Len)
		for left > 0 {
			b := c.toGuest[0]
			k := min(left, len(b))
			rc.WriteAt(b[:k], off)
			off += uint64(k)
			left -= k
			if k == len(b) {
				c.toGuest[0] = nil
				c.toGuest = c.toGuest[1:]
			} else {
				c.toGuest[0] = b[k:]
			}
		}
		c.toGuestBytes -= int(h.Len)
		c.txCnt += h.Len
		c.advFwdCnt = c.fwdCnt
		d.hostNow().Release(c.id, int(h.Len))
	}
	d.rx.Push(rc, uint32(off))
	d.haveRx = false
	d.rxPackets.Add(1)
}
