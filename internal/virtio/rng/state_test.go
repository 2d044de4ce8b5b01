package rng

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/virtio"
	"github.com/juicevm/juice/internal/virtio/virtiotest"
)

// TestStateRoundTrip: virtio-rng holds nothing beyond its queue, so the
// transport's state is all there is to save; a request published before
// the checkpoint is filled the same way after a restore into a fresh
// device.
func TestStateRoundTrip(t *testing.T) {
	if _, ok := virtio.Device(New(nil, nil)).(virtio.Stateful); ok {
		t.Fatal("rng became Stateful: test its state")
	}
	asrc, bsrc := &counter{chunk: 7, limit: 1 << 30}, &counter{chunk: 7, limit: 1 << 30}
	a, aq := setup(t, asrc)
	b, bq := setup(t, bsrc)
	for _, x := range []struct {
		d *virtiotest.Driver
		q *virtiotest.DriverQueue
	}{{a, aq}, {b, bq}} {
		x.q.Add(virtiotest.Buf{Addr: x.d.Alloc(32, 8), Len: 32, Write: true})
		x.q.Kick()
		x.q.Add(virtiotest.Buf{Addr: x.d.Alloc(32, 8), Len: 32, Write: true}) // not kicked
	}
	var e snapshot.Encoder
	a.T.SaveState(&e)
	b.IRQ = false
	b.T = virtio.NewTransport(New(bsrc, slog.New(slog.DiscardHandler)), b.Mem, func(level bool) { b.IRQ = level })
	dec := snapshot.NewDecoder(e.Bytes())
	if err := b.T.RestoreState(dec); err != nil {
		t.Fatal(err)
	}
	if err := dec.Finish("transport"); err != nil {
		t.Fatal(err)
	}
	if !b.IRQ {
		t.Error("interrupt line not restored")
	}
	for _, x := range []*virtiotest.DriverQueue{aq, bq} {
		x.Kick()
	}
	if !bytes.Equal(a.Mem.Bytes, b.Mem.Bytes) || a.IRQ != b.IRQ {
		t.Fatal("guest memory or irq differ after the restore")
	}
	if _, n, ok := bq.Get(); !ok || n != 32 {
		t.Fatalf("restored device: %d %v", n, ok)
	}
}
