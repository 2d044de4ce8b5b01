package vsock

import (
	"cmp"
	"slices"

	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/virtio"
)

// Saving and restoring the device (virtio.Stateful), for checkpoints.
//
// The saved state is the device's alone: the connection table and what it
// owes the guest. The Host's state is not in it, so a checkpoint restores
// the machine exactly only with a Host that holds none beyond the position
// in its input, which the machine rewinds with the rest of its input: the
// replaying host, which returns recorded events and ignores what the
// device tells it. (A machine with the live Unix-socket host takes live
// input and refuses checkpoints altogether.)

const (
	// stateVersion is the first field of the saved state.
	stateVersion = 1
	// maxSavedPending bounds the host bytes one restored connection holds
	// for the guest. The Unix-socket host never gives a connection more
	// than ConnBuffer; a replayed host is bounded only by its recording,
	// so this is as loose as the transport's own bound on device state.
	maxSavedPending = 64 << 20
	// droppedEntry stands, in the saved ready list, for connections that
	// were dropped while queued for pump.
	droppedEntry = ^uint32(0)
)

// Connection flags, as saved.
const (
	flagSendRequest = 1 << iota
	flagSendResponse
	flagSendCreditUpdate
	flagCreditRequested
	flagSendRst
	flagGracefulClose
	flagHostEOF
	flagShutdownSent
	allFlags = 1<<iota - 1
)

func (c *conn) flags() uint16 {
	var f uint16
	for _, b := range []struct {
		on   bool
		flag uint16
	}{
		{c.sendRequest, flagSendRequest}, {c.sendResponse, flagSendResponse},
		{c.sendCreditUpdate, flagSendCreditUpdate}, {c.creditRequested, flagCreditRequested},
		{c.sendRst, flagSendRst}, {c.gracefulClose, flagGracefulClose},
		{c.hostEOF, flagHostEOF}, {c.shutdownSent, flagShutdownSent},
	} {
		if b.on {
			f |= b.flag
		}
	}
	return f
}

func (c *conn) setFlags(f uint16) {
	c.sendRequest = f&flagSendRequest != 0
	c.sendResponse = f&flagSendResponse != 0
	c.sendCreditUpdate = f&flagSendCreditUpdate != 0
	c.creditRequested = f&flagCreditRequested != 0
	c.sendRst = f&flagSendRst != 0
	c.gracefulClose = f&flagGracefulClose != 0
	c.hostEOF = f&flagHostEOF != 0
	c.shutdownSent = f&flagShutdownSent != 0
}

// SaveState implements virtio.Stateful. It writes the configuration the
// state belongs to (guest CID, connection buffer, connection limit), the
// next host port and the last dial ID, every connection (ports, host
// connection ID, state, the packets it owes the guest, the peer's shutdown
// bits, the host bytes waiting for the guest, and the credit counters both
// ways: tx_cnt, the guest's buf_alloc and fwd_cnt, rx_cnt, fwd_cnt and the
// fwd_cnt last advertised), the round-robin order of connections with
// packets to send, the resets owed for packets of no connection, and the
// receive buffer popped and not yet filled (Queue.SaveChain). The event
// queue holds nothing of the device's: its buffers stay with the driver,
// as the device sends no events. The Stats counters are not saved.
func (d *Device) SaveState(e *snapshot.Encoder) {
	e.Uint32(stateVersion)
	e.Uint64(d.guestCID)
	e.Uint32(d.bufSize)
	e.Uint64(uint64(d.maxConns))
	e.Uint32(d.nextPort)
	e.Uint64(uint64(d.nextDial))

	conns := make([]*conn, 0, len(d.conns))
	for _, c := range d.conns {
		conns = append(conns, c)
	}
	slices.SortFunc(conns, func(a, b *conn) int { return cmpKey(a.key, b.key) })
	index := make(map[*conn]uint32, len(conns))
	e.Count(len(conns))
	var pending []byte
	for i, c := range conns {
		index[c] = uint32(i)
		e.Uint32(c.key.guestPort)
		e.Uint32(c.key.hostPort)
		e.Uint64(uint64(c.id))
		e.Uint8(uint8(c.state))
		e.Uint16(c.flags())
		e.Uint32(c.peerShutdown)
		pending = pending[:0]
		for _, b := range c.toGuest {
			pending = append(pending, b...)
		}
		e.Blob(pending)
		e.Uint32(c.txCnt)
		e.Uint32(c.peerBufAlloc)
		e.Uint32(c.peerFwdCnt)
		e.Uint32(c.rxCnt)
		e.Uint32(c.fwdCnt)
		e.Uint32(c.advFwdCnt)
	}

	// Dropped connections still queued only make pump take a receive
	// buffer and skip them; a run of them acts as one.
	ready := make([]uint32, 0, len(d.ready))
	for _, c := range d.ready {
		i, ok := index[c]
		if c.dead || !ok {
			if len(ready) > 0 && ready[len(ready)-1] == droppedEntry {
				continue
			}
			i = droppedEntry
		}
		ready = append(ready, i)
	}
	e.Count(len(ready))
	for _, i := range ready {
		e.Uint32(i)
	}

	e.Count(len(d.control))
	for i := range d.control {
		h := &d.control[i]
		e.Uint64(h.SrcCID)
		e.Uint64(h.DstCID)
		e.Uint32(h.SrcPort)
		e.Uint32(h.DstPort)
		e.Uint32(h.Len)
		e.Uint16(h.Type)
		e.Uint16(h.Op)
		e.Uint32(h.Flags)
		e.Uint32(h.BufAlloc)
		e.Uint32(h.FwdCnt)
	}

	e.Bool(d.haveRx)
	if d.haveRx {
		d.rx.SaveChain(e, &d.rxc)
	}
}

func cmpKey(a, b connKey) int {
	if c := cmp.Compare(a.guestPort, b.guestPort); c != 0 {
		return c
	}
	return cmp.Compare(a.hostPort, b.hostPort)
}

// RestoreState implements virtio.Stateful. The state must come from a
// device with the same configuration. Everything is checked before the
// device changes: counts and lengths are bounded, connections must be in
// states the device can reach, and a device that is not active holds no
// connections and no buffers.
//
// The Host is not called: the host sides of the connections the transport's
// reset just dropped are forgotten, not aborted (see Reset), and the
// restored connections are not announced to it.
func (d *Device) RestoreState(dec *snapshot.Decoder) error {
	if d.resetMark < len(d.orphans) {
		clear(d.orphans[d.resetMark:])
		d.orphans = d.orphans[:d.resetMark]
	}

	if v := dec.Uint32("vsock state version"); dec.Err() == nil && v != stateVersion {
		dec.Failf("vsock state version: %d, want %d", v, stateVersion)
	}
	if v := dec.Uint64("vsock guest CID"); dec.Err() == nil && v != d.guestCID {
		dec.Failf("vsock guest CID: saved %d, this device has %d", v, d.guestCID)
	}
	if v := dec.Uint32("vsock connection buffer"); dec.Err() == nil && v != d.bufSize {
		dec.Failf("vsock connection buffer: saved %d, this device has %d", v, d.bufSize)
	}
	if v := dec.Uint64("vsock connection limit"); dec.Err() == nil && v != uint64(d.maxConns) {
		dec.Failf("vsock connection limit: saved %d, this device has %d", v, d.maxConns)
	}
	nextPort := dec.Uint32("vsock next host port")
	if dec.Err() == nil && nextPort < firstHostPort {
		dec.Failf("vsock next host port: %d is below %d", nextPort, firstHostPort)
	}
	nextDial := ConnID(dec.Uint64("vsock last dial ID"))
	if dec.Err() == nil && nextDial&AcceptedConn != 0 {
		dec.Failf("vsock last dial ID: %#x has the accepted bit", uint64(nextDial))
	}
	active := d.rx != nil

	n := dec.Count("vsock connections", d.maxConns)
	if dec.Err() == nil && n > 0 && !active {
		dec.Failf("vsock connections: %d on a device that is not active", n)
	}
	conns := make([]*conn, 0, n)
	byHost := make(map[ConnID]*conn, n)
	for i := 0; i < n && dec.Err() == nil; i++ {
		c := &conn{}
		c.key.guestPort = dec.Uint32("vsock connection guest port")
		c.key.hostPort = dec.Uint32("vsock connection host port")
		c.id = ConnID(dec.Uint64("vsock connection ID"))
		c.state = connState(dec.Uint8("vsock connection state"))
		flags := dec.Uint16("vsock connection flags")
		c.peerShutdown = dec.Uint32("vsock connection peer shutdown")
		pending := dec.Blob("vsock connection pending bytes", maxSavedPending)
		c.txCnt = dec.Uint32("vsock connection tx_cnt")
		c.peerBufAlloc = dec.Uint32("vsock connection peer buf_alloc")
		c.peerFwdCnt = dec.Uint32("vsock connection peer fwd_cnt")
		c.rxCnt = dec.Uint32("vsock connection rx_cnt")
		c.fwdCnt = dec.Uint32("vsock connection fwd_cnt")
		c.advFwdCnt = dec.Uint32("vsock connection advertised fwd_cnt")
		if dec.Err() != nil {
			break
		}
		c.setFlags(flags)
		if len(pending) > 0 {
			c.toGuest, c.toGuestBytes = [][]byte{pending}, len(pending)
		}
		accepted := c.id&AcceptedConn != 0
		switch {
		case i > 0 && cmpKey(conns[i-1].key, c.key) >= 0:
			dec.Failf("vsock connection %d: ports %d:%d out of order or repeated", i, c.key.guestPort, c.key.hostPort)
		case byHost[c.id] != nil:
			dec.Failf("vsock connection %d: ID %#x repeated", i, uint64(c.id))
		case c.state < stConnecting || c.state > stEstablished:
			dec.Failf("vsock connection %d: state %d", i, c.state)
		case flags&^allFlags != 0:
			dec.Failf("vsock connection %d: flags %#x", i, flags)
		case !accepted && c.id == 0:
			dec.Failf("vsock connection %d: ID 0", i)
		case accepted && c.key.hostPort < firstHostPort:
			dec.Failf("vsock connection %d: host-initiated, with host port %d", i, c.key.hostPort)
		case c.state == stConnecting && accepted:
			dec.Failf("vsock connection %d: connecting, with the ID %#x of a host-initiated connection", i, uint64(c.id))
		case c.state == stRequesting && !accepted:
			dec.Failf("vsock connection %d: requesting, with the ID %#x of a guest-initiated connection", i, uint64(c.id))
		case c.sendRequest && !accepted:
			dec.Failf("vsock connection %d: a request owed on a guest-initiated connection", i)
		case c.sendResponse && (accepted || c.state != stEstablished):
			dec.Failf("vsock connection %d: a response owed in state %d", i, c.state)
		case c.gracefulClose && !c.sendRst:
			dec.Failf("vsock connection %d: graceful close without a reset", i)
		case c.shutdownSent && !c.hostEOF:
			dec.Failf("vsock connection %d: shutdown sent without host EOF", i)
		case c.peerShutdown&^(ShutdownRcv|ShutdownSend) != 0:
			dec.Failf("vsock connection %d: peer shutdown %#x", i, c.peerShutdown)
		case len(pending) > 0 && (c.state != stEstablished || c.peerShutdown&ShutdownRcv != 0):
			dec.Failf("vsock connection %d: %d pending bytes in state %d, peer shutdown %#x", i, len(pending), c.state, c.peerShutdown)
		case c.rxCnt-c.fwdCnt > d.bufSize:
			dec.Failf("vsock connection %d: rx_cnt %d and fwd_cnt %d are more than %d apart", i, c.rxCnt, c.fwdCnt, d.bufSize)
		}
		conns = append(conns, c)
		byHost[c.id] = c
	}

	m := dec.Count("vsock ready connections", 2*n+1)
	if dec.Err() == nil && m > 0 && !active {
		dec.Failf("vsock ready connections: %d on a device that is not active", m)
	}
	ready := make([]*conn, 0, m)
	queued := make([]bool, n)
	for j := 0; j < m && dec.Err() == nil; j++ {
		i := dec.Uint32("vsock ready connection")
		switch {
		case dec.Err() != nil:
		case i == droppedEntry:
			if j > 0 && ready[j-1].dead {
				dec.Failf("vsock ready connection %d: a second dropped connection in a row", j)
			}
			ready = append(ready, &conn{dead: true})
		case uint64(i) >= uint64(n):
			dec.Failf("vsock ready connection %d: connection %d of %d", j, i, n)
		case queued[i]:
			dec.Failf("vsock ready connection %d: connection %d queued twice", j, i)
		default:
			queued[i] = true
			ready = append(ready, conns[i])
		}
	}

	k := dec.Count("vsock control packets", maxControl)
	if dec.Err() == nil && k > 0 && !active {
		dec.Failf("vsock control packets: %d on a device that is not active", k)
	}
	control := make([]Header, k)
	for j := 0; j < k && dec.Err() == nil; j++ {
		h := &control[j]
		h.SrcCID = dec.Uint64("vsock control packet src_cid")
		h.DstCID = dec.Uint64("vsock control packet dst_cid")
		h.SrcPort = dec.Uint32("vsock control packet src_port")
		h.DstPort = dec.Uint32("vsock control packet dst_port")
		h.Len = dec.Uint32("vsock control packet len")
		h.Type = dec.Uint16("vsock control packet type")
		h.Op = dec.Uint16("vsock control packet op")
		h.Flags = dec.Uint32("vsock control packet flags")
		h.BufAlloc = dec.Uint32("vsock control packet buf_alloc")
		h.FwdCnt = dec.Uint32("vsock control packet fwd_cnt")
		if dec.Err() == nil && (h.Op != OpRst || h.Type != TypeStream || h.Len != 0 || h.Flags != 0 || h.BufAlloc != 0 || h.FwdCnt != 0) {
			dec.Failf("vsock control packet %d: %+v is not a reset", j, *h)
		}
	}

	var rxc virtio.Chain
	haveRx := dec.Bool("vsock receive buffer held")
	if dec.Err() == nil && haveRx {
		if !active {
			dec.Failf("vsock receive buffer held: by a device that is not active")
		} else if d.rx.RestoreChain(dec, &rxc) == nil && (rxc.ReadableLen > 0 || rxc.WritableLen < HeaderSize) {
			dec.Failf("vsock receive buffer held: %d readable and %d writable bytes", rxc.ReadableLen, rxc.WritableLen)
		}
	}
	if err := dec.Err(); err != nil {
		return err
	}

	for _, c := range conns {
		c.queue = false
	}
	for _, c := range ready {
		c.queue = !c.dead
	}
	clear(d.conns)
	clear(d.byHost)
	for _, c := range conns {
		d.conns[c.key] = c
		d.byHost[c.id] = c
	}
	clear(d.ready)
	d.ready = append(d.ready[:0], ready...)
	d.control = append(d.control[:0], control...)
	d.nextPort, d.nextDial = nextPort, nextDial
	d.rxc, d.haveRx = rxc, haveRx
	return nil
}

var _ virtio.Stateful = (*Device)(nil)
