package vsock

import (
	"encoding/binary"
	"testing"
)

// TestTransportReset: a device restored onto a new host side drops its
// connections and sends the driver VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on
// the event queue; one with no connections sends nothing.
func TestTransportReset(t *testing.T) {
	r := newSrig(t, 8<<20, 32)
	g := r.g
	evq := g.drv.Queues[eventQueue]
	ev := g.drv.Alloc(4, 4)
	g.mem.At(ev, 4)[0] = 0xff
	evq.Add(bufOf(ev, 4, true))
	evq.Kick()

	g.dev.TransportReset()
	if _, _, ok := evq.Get(); ok {
		t.Fatal("a device with no connections sent an event")
	}
	openBoth(r)
	if len(g.dev.conns) == 0 {
		t.Fatal("no connections to reset")
	}
	resets := g.dev.Stats().Resets
	g.dev.TransportReset()
	if len(g.dev.conns) != 0 || len(g.dev.byHost) != 0 {
		t.Fatalf("%d connections left after a transport reset", len(g.dev.conns))
	}
	if g.dev.Stats().Resets == resets {
		t.Error("the reset connections are not counted")
	}
	id, n, ok := evq.Get()
	if !ok || n != 4 || id != 0 {
		t.Fatalf("event queue: id %d, %d bytes, ok %v", id, n, ok)
	}
	if got := binary.LittleEndian.Uint32(g.mem.At(ev, 4)); got != 0 {
		t.Fatalf("event id %d, want 0 (TRANSPORT_RESET)", got)
	}
}
