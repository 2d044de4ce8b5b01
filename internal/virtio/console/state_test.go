package console

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/virtio"
	"github.com/juicevm/juice/internal/virtio/virtiotest"
)

// TestStateRoundTrip checkpoints a console holding wrapped-around input,
// with output and an interrupt pending, restores it into a fresh device
// and checks that the guest sees the same from then on.
func TestStateRoundTrip(t *testing.T) {
	steps := func(dev *Device, d *virtiotest.Driver) {
		rx, tx := start(t, d)
		big := bytes.Repeat([]byte("0123456789abcdef"), 200) // 3200 bytes
		dev.Deliver(big)
		rx.Add(virtiotest.Buf{Addr: d.Alloc(3000, 8), Len: 3000, Write: true})
		rx.Kick()
		dev.Deliver([]byte(strings.Repeat("wrapped around ", 200))) // 3000 bytes: the ring wraps
		tx.Add(virtiotest.Buf{Addr: d.Put([]byte("out")), Len: 3})
		tx.Kick()
	}
	a, ad, aout := setup(t)
	b, bd, _ := setup(t)
	steps(a, ad)
	steps(b, bd)
	if a.Pending() != 3200 || !ad.IRQ {
		t.Fatalf("pending %d irq %v", a.Pending(), ad.IRQ)
	}
	state := virtiotest.SaveState(ad.T)

	var bout bytes.Buffer
	fresh := New(&bout, slog.New(slog.DiscardHandler))
	bd.IRQ = false
	bd.T = virtio.NewTransport(fresh, bd.Mem, func(level bool) { bd.IRQ = level })
	if err := virtiotest.RestoreState(bd.T, state); err != nil {
		t.Fatal(err)
	}
	if fresh.Pending() != a.Pending() || !bd.IRQ {
		t.Fatalf("restored: pending %d irq %v", fresh.Pending(), bd.IRQ)
	}
	if !bytes.Equal(virtiotest.SaveState(bd.T), state) {
		t.Error("restored console saves a different state")
	}
	aout.Reset()
	for _, x := range []*virtiotest.Driver{ad, bd} {
		dev := x.T.Device().(*Device)
		x.Ack()
		x.Queues[0].Add(virtiotest.Buf{Addr: x.Alloc(1000, 8), Len: 1000, Write: true})
		x.Queues[0].Add(virtiotest.Buf{Addr: x.Alloc(4000, 8), Len: 4000, Write: true})
		x.Queues[0].Kick()
		dev.Deliver([]byte("more input"))
		x.Queues[1].Add(virtiotest.Buf{Addr: x.Put([]byte("after")), Len: 5})
		x.Queues[1].Kick()
	}
	if !bytes.Equal(ad.Mem.Bytes, bd.Mem.Bytes) || ad.IRQ != bd.IRQ || a.Pending() != fresh.Pending() {
		t.Error("guest memory, irq or pending input differ after the restore")
	}
	if aout.String() != "after" || bout.String() != "after" {
		t.Errorf("output %q and %q", aout.String(), bout.String())
	}
	if !bytes.Equal(virtiotest.SaveState(ad.T), virtiotest.SaveState(bd.T)) {
		t.Error("states differ after driving")
	}
}

func TestRestoreStateRejects(t *testing.T) {
	var e snapshot.Encoder
	e.Blob(make([]byte, InputBuffer+1))
	dev, _, _ := setup(t)
	d := snapshot.NewDecoder(e.Bytes())
	if err := dev.RestoreState(d); err == nil || !strings.Contains(err.Error(), "pending input") {
		t.Errorf("oversized input accepted: %v", err)
	}
	// Garbage through the transport: errors, no panic.
	_, x, _ := setup(t)
	good := virtiotest.SaveState(x.T)
	for n := range len(good) {
		_, y, _ := setup(t)
		if virtiotest.RestoreState(y.T, good[:n]) == nil {
			t.Fatalf("prefix of %d bytes accepted", n)
		}
	}
}
