package virtio_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/juicevm/juice/internal/virtio"
	"github.com/juicevm/juice/internal/virtio/virtiotest"
)

func started(t *testing.T, mask uint64, sizes ...uint16) (*virtiotest.Driver, *echo) {
	t.Helper()
	d, dev := newDriver(sizes...)
	if err := d.Init(mask, 0xffff); err != nil {
		t.Fatal(err)
	}
	return d, dev
}

func TestDirectChain(t *testing.T) {
	d, dev := started(t, allFeatures, 8)
	q := d.Queues[0]
	a := d.Put([]byte("hello, "))
	b := d.Put([]byte("world"))
	w1, w2 := d.Alloc(3, 1), d.Alloc(5, 1)
	head := q.Add(virtiotestBuf(a, 7, false), virtiotestBuf(b, 5, false),
		virtiotestBuf(w1, 3, true), virtiotestBuf(w2, 5, true))
	q.Kick()
	if len(dev.read) != 1 || string(dev.read[0]) != "hello, world" {
		t.Fatalf("device read %q", dev.read)
	}
	id, n, ok := q.Get()
	if !ok || id != head || n != 8 {
		t.Fatalf("used %d %d %v, want head %d len 8", id, n, ok, head)
	}
	if !bytes.Equal(d.Mem.At(w1, 3), []byte{0xee, 0xee, 0xee}) {
		t.Error("writable buffer not filled")
	}
	if c := dev.chains[0]; c.ReadableLen != 12 || c.WritableLen != 8 {
		t.Errorf("chain lengths %d/%d", c.ReadableLen, c.WritableLen)
	}
}

func TestIndirectChain(t *testing.T) {
	d, dev := started(t, allFeatures, 8)
	q := d.Queues[0]
	a := d.Put([]byte("indirect"))
	w := d.Alloc(4, 1)
	head := q.AddIndirect(virtiotestBuf(a, 8, false), virtiotestBuf(w, 4, true))
	q.Kick()
	if len(dev.read) != 1 || string(dev.read[0]) != "indirect" {
		t.Fatalf("device read %q", dev.read)
	}
	if id, n, ok := q.Get(); !ok || id != head || n != 4 {
		t.Fatalf("used %d %d %v", id, n, ok)
	}
	// A chain of direct descriptors may end in an indirect table.
	tbl := d.Alloc(32, 16)
	virtiotest.WriteDesc(d.Mem.At(tbl, 16), a, 2, 0, 0)
	virtiotest.WriteDesc(d.Mem.At(tbl+16, 16), w, 1, virtiotest.FWrite, 0)
	q.SetDesc(5, a, 3, virtiotest.FNext, 6)
	q.SetDesc(6, tbl, 16, virtiotest.FIndirect, 0)
	q.Publish(5)
	q.Kick()
	if len(dev.read) != 2 || string(dev.read[1]) != "indin" || needsReset(d) {
		t.Fatalf("device read %q, status %#x", dev.read, d.Read32(virtio.RegStatus))
	}
	// An indirect table may be longer than the queue.
	big := make([]virtiotest.Buf, 20)
	for i := range big {
		big[i] = virtiotestBuf(a+uint64(i%8), 1, false)
	}
	q.AddIndirect(big...)
	q.Kick()
	if needsReset(d) || len(dev.read) != 3 || len(dev.read[2]) != 20 {
		t.Fatalf("long indirect table: status %#x", d.Read32(virtio.RegStatus))
	}
}

func TestChainReadWriteAt(t *testing.T) {
	c := virtio.Chain{Readable: [][]byte{[]byte("ab"), []byte("cde"), []byte("f")}}
	p := make([]byte, 4)
	if n := c.ReadAt(p, 1); n != 4 || string(p) != "bcde" {
		t.Errorf("ReadAt = %d %q", n, p)
	}
	if n := c.ReadAt(p, 4); n != 2 || string(p[:2]) != "ef" {
		t.Errorf("ReadAt at end = %d %q", n, p[:n])
	}
	w := [][]byte{make([]byte, 2), make([]byte, 2)}
	c.Writable = w
	if n := c.WriteAt([]byte("xyz!"), 1); n != 3 || string(w[0][1:])+string(w[1]) != "xyz" {
		t.Errorf("WriteAt = %d %q", n, w)
	}
}

func TestEventIdxSuppression(t *testing.T) {
	d, dev := started(t, allFeatures, 8)
	q := d.Queues[0]
	if !d.T.Queue(0).EventIdx() {
		t.Fatal("EVENT_IDX not negotiated")
	}
	buf := d.Alloc(8, 8)
	// used_event = 0: the first completion (used idx 0 -> 1) interrupts.
	q.Add(virtiotestBuf(buf, 8, true))
	q.Kick()
	if !d.IRQ {
		t.Fatal("no interrupt for the first completion")
	}
	if got := q.AvailEvent(); got != 1 {
		t.Errorf("avail_event = %d, want 1", got)
	}
	d.Ack()
	q.Get()
	// The driver asks for an interrupt only when used idx passes 3.
	q.SetUsedEvent(3)
	for i := 0; i < 2; i++ {
		q.Add(virtiotestBuf(buf, 8, true))
		q.Kick()
		if d.IRQ {
			t.Fatalf("interrupt at completion %d despite used_event 3", i+2)
		}
	}
	q.Add(virtiotestBuf(buf, 8, true))
	q.Add(virtiotestBuf(buf, 8, true))
	q.Kick()
	if !d.IRQ {
		t.Fatal("no interrupt when used idx passed used_event")
	}
	if got := q.AvailEvent(); got != 5 {
		t.Errorf("avail_event = %d, want 5", got)
	}
	if len(dev.chains) != 5 {
		t.Errorf("%d chains processed", len(dev.chains))
	}
}

func TestNoInterruptFlag(t *testing.T) {
	d, _ := started(t, allFeatures&^virtio.FRingEventIdx, 8)
	q := d.Queues[0]
	q.SetAvailFlags(1)
	q.Add(virtiotestBuf(d.Alloc(8, 8), 8, true))
	q.Kick()
	if d.IRQ {
		t.Fatal("interrupt despite VIRTQ_AVAIL_F_NO_INTERRUPT")
	}
	q.SetAvailFlags(0)
	q.Add(virtiotestBuf(d.Alloc(8, 8), 8, true))
	q.Kick()
	if !d.IRQ {
		t.Fatal("no interrupt")
	}
	// A Signal with nothing new pushed does not interrupt.
	d.Ack()
	q.Kick()
	if d.IRQ {
		t.Fatal("interrupt with nothing used")
	}
}

// hostile runs one malformed-ring scenario and checks the device reports
// DEVICE_NEEDS_RESET with a configuration interrupt, then recovers after a
// reset.
func hostile(t *testing.T, name string, mask uint64, setup func(d *virtiotest.Driver, q *virtiotest.DriverQueue)) {
	t.Run(name, func(t *testing.T) {
		d, dev := started(t, mask, 8)
		q := d.Queues[0]
		setup(d, q)
		q.Kick()
		if !needsReset(d) {
			t.Fatalf("status %#x: no DEVICE_NEEDS_RESET", d.Read32(virtio.RegStatus))
		}
		if d.Read32(virtio.RegInterruptStatus)&virtio.IntConfigChange == 0 || !d.IRQ {
			t.Fatalf("no configuration interrupt")
		}
		// Kicks are ignored until the reset.
		n := len(dev.chains)
		q.Add(virtiotestBuf(d.Alloc(1, 1), 1, true))
		q.Kick()
		if len(dev.chains) != n {
			t.Fatal("device processed a kick while it needs a reset")
		}
		if err := d.Init(mask, 8); err != nil {
			t.Fatal(err)
		}
		d.Queues[0].Add(virtiotestBuf(d.Alloc(1, 1), 1, true))
		d.Queues[0].Kick()
		if _, _, ok := d.Queues[0].Get(); !ok || needsReset(d) {
			t.Fatal("device did not recover after reset")
		}
	})
}

func TestHostileRings(t *testing.T) {
	w := func(d *virtiotest.Driver) uint64 { return d.Alloc(16, 16) }
	hostile(t, "self-loop", allFeatures, func(d *virtiotest.Driver, q *virtiotest.DriverQueue) {
		q.SetDesc(0, w(d), 4, virtiotest.FNext, 0)
		q.Publish(0)
	})
	hostile(t, "cycle", allFeatures, func(d *virtiotest.Driver, q *virtiotest.DriverQueue) {
		for i := uint16(0); i < 8; i++ {
			q.SetDesc(i, w(d), 4, virtiotest.FNext, (i+1)%8)
		}
		q.Publish(3)
	})
	hostile(t, "next out of range", allFeatures, func(d *virtiotest.Driver, q *virtiotest.DriverQueue) {
		q.SetDesc(0, w(d), 4, virtiotest.FNext, 8)
		q.Publish(0)
	})
	hostile(t, "head out of range", allFeatures, func(d *virtiotest.Driver, q *virtiotest.DriverQueue) {
		q.Publish(0xffff)
	})
	hostile(t, "buffer outside RAM", allFeatures, func(d *virtiotest.Driver, q *virtiotest.DriverQueue) {
		q.SetDesc(0, 0x1000, 4, 0, 0)
		q.Publish(0)
	})
	hostile(t, "buffer straddles end of RAM", allFeatures, func(d *virtiotest.Driver, q *virtiotest.DriverQueue) {
		q.SetDesc(0, ramBase+(1<<20)-2, 4, 0, 0)
		q.Publish(0)
	})
	hostile(t, "address wraps", allFeatures, func(d *virtiotest.Driver, q *virtiotest.DriverQueue) {
		q.SetDesc(0, ^uint64(0)-1, 16, virtiotest.FWrite, 0)
		q.Publish(0)
	})
	hostile(t, "absurd length", allFeatures, func(d *virtiotest.Driver, q *virtiotest.DriverQueue) {
		q.SetDesc(0, w(d), 0xffffffff, virtiotest.FWrite, 0)
		q.Publish(0)
	})
	hostile(t, "readable after writable", allFeatures, func(d *virtiotest.Driver, q *virtiotest.DriverQueue) {
		q.Add(virtiotestBuf(w(d), 4, true), virtiotestBuf(w(d), 4, false))
	})
	hostile(t, "avail idx jump", allFeatures, func(d *virtiotest.Driver, q *virtiotest.DriverQueue) {
		q.Add(virtiotestBuf(w(d), 4, true))
		binary.LittleEndian.PutUint16(d.Mem.At(q.Avail+2, 2), 9)
	})
	hostile(t, "avail idx backwards", allFeatures, func(d *virtiotest.Driver, q *virtiotest.DriverQueue) {
		binary.LittleEndian.PutUint16(d.Mem.At(q.Avail+2, 2), 0xffff)
	})
	hostile(t, "indirect in indirect", allFeatures, func(d *virtiotest.Driver, q *virtiotest.DriverQueue) {
		tbl := d.Alloc(16, 16)
		virtiotest.WriteDesc(d.Mem.At(tbl, 16), tbl, 16, virtiotest.FIndirect, 0)
		q.SetDesc(0, tbl, 16, virtiotest.FIndirect, 0)
		q.Publish(0)
	})
	hostile(t, "indirect with next", allFeatures, func(d *virtiotest.Driver, q *virtiotest.DriverQueue) {
		tbl := d.Alloc(16, 16)
		virtiotest.WriteDesc(d.Mem.At(tbl, 16), w(d), 4, 0, 0)
		q.SetDesc(0, tbl, 16, virtiotest.FIndirect|virtiotest.FNext, 1)
		q.SetDesc(1, w(d), 4, 0, 0)
		q.Publish(0)
	})
	hostile(t, "indirect loop", allFeatures, func(d *virtiotest.Driver, q *virtiotest.DriverQueue) {
		tbl := d.Alloc(32, 16)
		virtiotest.WriteDesc(d.Mem.At(tbl, 16), w(d), 4, virtiotest.FNext, 1)
		virtiotest.WriteDesc(d.Mem.At(tbl+16, 16), w(d), 4, virtiotest.FNext, 0)
		q.SetDesc(0, tbl, 32, virtiotest.FIndirect, 0)
		q.Publish(0)
	})
	hostile(t, "indirect next out of table", allFeatures, func(d *virtiotest.Driver, q *virtiotest.DriverQueue) {
		tbl := d.Alloc(16, 16)
		virtiotest.WriteDesc(d.Mem.At(tbl, 16), w(d), 4, virtiotest.FNext, 1)
		q.SetDesc(0, tbl, 16, virtiotest.FIndirect, 0)
		q.Publish(0)
	})
	hostile(t, "indirect length not a multiple of 16", allFeatures, func(d *virtiotest.Driver, q *virtiotest.DriverQueue) {
		q.SetDesc(0, w(d), 17, virtiotest.FIndirect, 0)
		q.Publish(0)
	})
	hostile(t, "indirect empty", allFeatures, func(d *virtiotest.Driver, q *virtiotest.DriverQueue) {
		q.SetDesc(0, w(d), 0, virtiotest.FIndirect, 0)
		q.Publish(0)
	})
	hostile(t, "indirect table too long", allFeatures, func(d *virtiotest.Driver, q *virtiotest.DriverQueue) {
		n := uint64(virtio.MaxIndirect + 1)
		q.SetDesc(0, d.Alloc(16*n, 16), uint32(16*n), virtiotest.FIndirect, 0)
		q.Publish(0)
	})
	hostile(t, "indirect table outside RAM", allFeatures, func(d *virtiotest.Driver, q *virtiotest.DriverQueue) {
		q.SetDesc(0, 0x10, 64, virtiotest.FIndirect, 0)
		q.Publish(0)
	})
	hostile(t, "indirect not negotiated", allFeatures&^virtio.FRingIndirectDesc, func(d *virtiotest.Driver, q *virtiotest.DriverQueue) {
		q.AddIndirect(virtiotestBuf(w(d), 4, true))
	})
}

func TestChainLongerThanQueue(t *testing.T) {
	// Eight descriptors chained in a queue of eight are fine; the ninth
	// step must revisit one.
	d, dev := started(t, allFeatures, 8)
	q := d.Queues[0]
	for i := uint16(0); i < 8; i++ {
		flags := uint16(virtiotest.FNext)
		if i == 7 {
			flags = 0
		}
		q.SetDesc(i, d.Alloc(1, 1), 1, flags, i+1)
	}
	q.Publish(0)
	q.Kick()
	if needsReset(d) || len(dev.chains) != 1 || dev.chains[0].ReadableLen != 8 {
		t.Fatalf("full-length chain: status %#x", d.Read32(virtio.RegStatus))
	}
}

func TestBadQueueConfig(t *testing.T) {
	for _, c := range []struct {
		name              string
		num               uint32
		desc, avail, used uint64
	}{
		{"size not power of two", 6, ramBase, ramBase + 0x1000, ramBase + 0x2000},
		{"size zero", 0, ramBase, ramBase + 0x1000, ramBase + 0x2000},
		{"size above max", 16, ramBase, ramBase + 0x1000, ramBase + 0x2000},
		{"size above 16 bits", 1 << 16, ramBase, ramBase + 0x1000, ramBase + 0x2000},
		{"desc misaligned", 8, ramBase + 8, ramBase + 0x1000, ramBase + 0x2000},
		{"avail misaligned", 8, ramBase, ramBase + 0x1001, ramBase + 0x2000},
		{"used misaligned", 8, ramBase, ramBase + 0x1000, ramBase + 0x2002},
		{"desc outside RAM", 8, 0x1000, ramBase + 0x1000, ramBase + 0x2000},
		{"used straddles end of RAM", 8, ramBase, ramBase + 0x1000, ramBase + (1 << 20) - 8},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, _ := newDriver(8)
			d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver)
			d.Write32(virtio.RegDriverFeaturesSel, 1)
			d.Write32(virtio.RegDriverFeatures, 1)
			d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK)
			d.Write32(virtio.RegQueueSel, 0)
			d.Write32(virtio.RegQueueNum, c.num)
			d.Write32(virtio.RegQueueDescLow, uint32(c.desc))
			d.Write32(virtio.RegQueueDescHigh, uint32(c.desc>>32))
			d.Write32(virtio.RegQueueDriverLow, uint32(c.avail))
			d.Write32(virtio.RegQueueDeviceLow, uint32(c.used))
			d.Write32(virtio.RegQueueReady, 1)
			if !needsReset(d) || d.Read32(virtio.RegQueueReady) != 0 {
				t.Errorf("status %#x ready %d", d.Read32(virtio.RegStatus), d.Read32(virtio.RegQueueReady))
			}
		})
	}
}

func TestBatchBound(t *testing.T) {
	// A device that never signals gets at most twice the queue size of
	// chains per batch.
	d, dev := started(t, allFeatures, 4)
	dev.noSignal = true
	q := d.Queues[0]
	buf := d.Alloc(1, 1)
	for round := 0; round < 3; round++ {
		for i := 0; i < 4; i++ {
			q.Add(virtiotestBuf(buf, 1, true))
		}
		q.Kick()
		for {
			if _, _, ok := q.Get(); !ok {
				break
			}
		}
	}
	if len(dev.chains) != 8 {
		t.Errorf("%d chains popped without a Signal, want 8", len(dev.chains))
	}
}
