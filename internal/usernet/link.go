package usernet

import (
	"log/slog"
	"sync"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// linkEndpoint is the gateway stack's Ethernet NIC. Frames from the guest
// enter through deliver; frames the stack sends go to the guest queue.
type linkEndpoint struct {
	mac tcpip.LinkAddress
	q   *guestQueue

	mu         sync.RWMutex
	dispatcher stack.NetworkDispatcher
}

var _ stack.LinkEndpoint = (*linkEndpoint)(nil)

// deliver hands a guest frame to the stack, on the caller's goroutine.
func (e *linkEndpoint) deliver(frame []byte) {
	e.mu.RLock()
	d := e.dispatcher
	e.mu.RUnlock()
	if d == nil || len(frame) < header.EthernetMinimumSize {
		return
	}
	eth := header.Ethernet(frame)
	proto := eth.Type()
	dst := eth.DestinationAddress()
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
	defer pkt.DecRef()
	if !e.ParseHeader(pkt) {
		return
	}
	switch {
	case dst == header.EthernetBroadcastAddress:
		pkt.PktType = tcpip.PacketBroadcast
	case header.IsMulticastEthernetAddress(dst):
		pkt.PktType = tcpip.PacketMulticast
	default:
		pkt.PktType = tcpip.PacketHost
	}
	d.DeliverNetworkPacket(proto, pkt)
}

// MTU implements stack.LinkEndpoint.
func (*linkEndpoint) MTU() uint32 { return MTU }

// SetMTU implements stack.LinkEndpoint; the MTU is fixed.
func (*linkEndpoint) SetMTU(uint32) {}

// MaxHeaderLength implements stack.LinkEndpoint.
func (*linkEndpoint) MaxHeaderLength() uint16 { return header.EthernetMinimumSize }

// LinkAddress implements stack.LinkEndpoint.
func (e *linkEndpoint) LinkAddress() tcpip.LinkAddress { return e.mac }

// SetLinkAddress implements stack.LinkEndpoint; the address is fixed.
func (*linkEndpoint) SetLinkAddress(tcpip.LinkAddress) {}

// Capabilities implements stack.LinkEndpoint.
func (*linkEndpoint) Capabilities() stack.LinkEndpointCapabilities {
	return stack.CapabilityResolutionRequired
}

// Attach implements stack.LinkEndpoint.
func (e *linkEndpoint) Attach(d stack.NetworkDispatcher) {
	e.mu.Lock()
	e.dispatcher = d
	e.mu.Unlock()
}

// IsAttached implements stack.LinkEndpoint.
func (e *linkEndpoint) IsAttached() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.dispatcher != nil
}

// Wait implements stack.LinkEndpoint; the endpoint has no goroutines.
func (*linkEndpoint) Wait() {}

// ARPHardwareType implements stack.LinkEndpoint.
func (*linkEndpoint) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareEther }

// AddHeader implements stack.LinkEndpoint.
func (e *linkEndpoint) AddHeader(pkt *stack.PacketBuffer) {
	eth := header.Ethernet(pkt.LinkHeader().Push(header.EthernetMinimumSize))
	src := pkt.EgressRoute.LocalLinkAddress
	if src == "" {
		src = e.mac
	}
	eth.Encode(&header.EthernetFields{SrcAddr: src, DstAddr: pkt.EgressRoute.RemoteLinkAddress, Type: pkt.NetworkProtocolNumber})
}

// ParseHeader implements stack.LinkEndpoint.
func (*linkEndpoint) ParseHeader(pkt *stack.PacketBuffer) bool {
	_, ok := pkt.LinkHeader().Consume(header.EthernetMinimumSize)
	return ok
}

// Close implements stack.LinkEndpoint.
func (*linkEndpoint) Close() {}

// SetOnCloseAction implements stack.LinkEndpoint.
func (*linkEndpoint) SetOnCloseAction(func()) {}

// WritePackets implements stack.LinkEndpoint: each packet becomes one frame
// in the guest queue. A full queue drops the frame, as a NIC whose receive
// ring is full; the stack sees it as sent.
func (e *linkEndpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	n := 0
	for _, pkt := range pkts.AsSlice() {
		frame := make([]byte, 0, pkt.Size())
		for _, s := range pkt.AsSlices() {
			frame = append(frame, s...)
		}
		e.q.push(frame)
		n++
	}
	return n, nil
}

// guestQueue holds frames for the guest until the board takes them.
type guestQueue struct {
	log    *slog.Logger
	limit  int
	notify chan struct{}

	mu       sync.Mutex
	frames   [][]byte
	closed   bool
	toGuest  uint64
	dropped  uint64
	dropping bool   // the last push was dropped
	run      uint64 // frames dropped since dropping began
}

func newGuestQueue(limit int, log *slog.Logger) *guestQueue {
	return &guestQueue{log: log, limit: limit, notify: make(chan struct{}, 1)}
}

// push queues frame, or drops it when the queue is full.
func (q *guestQueue) push(frame []byte) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	if len(q.frames) >= q.limit {
		q.dropped++
		q.run++
		first := !q.dropping
		q.dropping = true
		q.mu.Unlock()
		if first {
			q.log.Warn("queue to the guest is full: dropping frames until the guest takes some", "limit", q.limit)
		}
		return
	}
	q.frames = append(q.frames, frame)
	resumed := uint64(0)
	if q.dropping {
		resumed, q.dropping, q.run = q.run, false, 0
	}
	q.mu.Unlock()
	if resumed > 0 {
		q.log.Info("queue to the guest accepts frames again", "dropped", resumed)
	}
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// pop removes up to max frames (all when max <= 0).
func (q *guestQueue) pop(max int) [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := len(q.frames)
	if k == 0 {
		return nil
	}
	if max > 0 && max < k {
		k = max
	}
	out := make([][]byte, k)
	copy(out, q.frames)
	rest := copy(q.frames, q.frames[k:])
	clear(q.frames[rest:])
	q.frames = q.frames[:rest]
	q.toGuest += uint64(k)
	return out
}

func (q *guestQueue) stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return Stats{ToGuest: q.toGuest, Queued: len(q.frames), DroppedToGuest: q.dropped}
}

func (q *guestQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.frames = nil
	q.mu.Unlock()
}
