package console

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"github.com/juicevm/juice/internal/virtio"
	"github.com/juicevm/juice/internal/virtio/virtiotest"
)

func setup(t testing.TB) (*Device, *virtiotest.Driver, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	dev := New(&out, slog.New(slog.DiscardHandler))
	d := virtiotest.NewDriver(dev, virtiotest.NewMemory(0x8000_0000, 1<<20))
	return dev, d, &out
}

func start(t testing.TB, d *virtiotest.Driver) (rx, tx *virtiotest.DriverQueue) {
	t.Helper()
	if err := d.Init(^uint64(0), 64); err != nil {
		t.Fatal(err)
	}
	return d.Queues[0], d.Queues[1]
}

func TestTransmit(t *testing.T) {
	_, d, out := setup(t)
	if d.Read32(virtio.RegDeviceID) != 3 {
		t.Fatal("wrong device ID")
	}
	_, tx := start(t, d)
	tx.Add(virtiotest.Buf{Addr: d.Put([]byte("hello ")), Len: 6}, virtiotest.Buf{Addr: d.Put([]byte("world\n")), Len: 6})
	tx.AddIndirect(virtiotest.Buf{Addr: d.Put([]byte("again")), Len: 5})
	tx.Kick()
	if out.String() != "hello world\nagain" {
		t.Errorf("output %q", out.String())
	}
	if _, n, ok := tx.Get(); !ok || n != 0 {
		t.Errorf("used %d %v", n, ok)
	}
}

func TestReceive(t *testing.T) {
	dev, d, _ := setup(t)
	// Input before the driver is ready is held.
	if n := dev.Deliver([]byte("early ")); n != 6 || dev.Pending() != 6 {
		t.Fatalf("Deliver = %d, pending %d", n, dev.Pending())
	}
	rx, _ := start(t, d)
	b1 := d.Alloc(4, 1)
	rx.Add(virtiotest.Buf{Addr: b1, Len: 4, Write: true})
	rx.Kick()
	if _, n, ok := rx.Get(); !ok || n != 4 || string(d.Mem.At(b1, 4)) != "earl" {
		t.Fatalf("first buffer: %d %v %q", n, ok, d.Mem.At(b1, 4))
	}
	b2 := d.Alloc(64, 1)
	rx.Add(virtiotest.Buf{Addr: b2, Len: 64, Write: true})
	rx.Kick()
	if _, n, ok := rx.Get(); !ok || n != 2 || string(d.Mem.At(b2, 2)) != "y " {
		t.Fatalf("second buffer: %d %v", n, ok)
	}
	// With a buffer waiting, Deliver copies straight into it.
	b3 := d.Alloc(64, 1)
	rx.Add(virtiotest.Buf{Addr: b3, Len: 64, Write: true})
	rx.Kick()
	d.Ack()
	if n := dev.Deliver([]byte("typed")); n != 5 || dev.Pending() != 0 {
		t.Fatalf("Deliver = %d, pending %d", n, dev.Pending())
	}
	if _, n, ok := rx.Get(); !ok || n != 5 || string(d.Mem.At(b3, 5)) != "typed" || !d.IRQ {
		t.Fatalf("third buffer: %d %v irq %v", n, ok, d.IRQ)
	}
}

func TestInputBound(t *testing.T) {
	dev, d, _ := setup(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	if n := dev.Deliver(big); n != InputBuffer {
		t.Fatalf("Deliver took %d of %d", n, len(big))
	}
	if n := dev.Deliver(big); n != 0 {
		t.Fatalf("full buffer took %d", n)
	}
	rx, _ := start(t, d)
	// Drain in odd-sized pieces so the ring wraps while refilling.
	var got []byte
	taken := InputBuffer
	for i := 0; len(got) < len(big) && i < 10000; i++ {
		b := d.Alloc(1000, 1)
		rx.Add(virtiotest.Buf{Addr: b, Len: 1000, Write: true})
		rx.Kick()
		for {
			_, n, ok := rx.Get()
			if !ok {
				break
			}
			got = append(got, d.Mem.At(b, uint64(n))...)
		}
		taken += dev.Deliver(big[taken:])
		if d.Alloc(0, 1) > 0x8000_0000+(1<<20)-4096 {
			t.Fatal("out of memory")
		}
	}
	if !bytes.Equal(got, big) {
		t.Fatalf("received %d bytes, mismatch", len(got))
	}
}

func TestResetKeepsInput(t *testing.T) {
	dev, d, _ := setup(t)
	start(t, d)
	dev.Deliver([]byte("abc"))
	d.Write32(virtio.RegStatus, 0)
	rx, _ := start(t, d)
	b := d.Alloc(8, 1)
	rx.Add(virtiotest.Buf{Addr: b, Len: 8, Write: true})
	rx.Kick()
	if _, n, _ := rx.Get(); n != 3 {
		t.Errorf("after reset: %d bytes", n)
	}
}

func TestWrongDirections(t *testing.T) {
	_, d, _ := setup(t)
	_, tx := start(t, d)
	tx.Add(virtiotest.Buf{Addr: d.Alloc(4, 1), Len: 4, Write: true})
	tx.Kick()
	if d.Read32(virtio.RegStatus)&virtio.StatusDeviceNeedsReset == 0 {
		t.Error("writable transmit buffer accepted")
	}
	dev, d, _ := setup(t)
	rx, _ := start(t, d)
	dev.Deliver([]byte("x"))
	rx.Add(virtiotest.Buf{Addr: d.Alloc(4, 1), Len: 4})
	rx.Kick()
	if d.Read32(virtio.RegStatus)&virtio.StatusDeviceNeedsReset == 0 {
		t.Error("readable receive buffer accepted")
	}
	_, d, _ = setup(t)
	_, tx = start(t, d)
	a := d.Alloc(1<<19, 1)
	tx.AddIndirect(virtiotest.Buf{Addr: a, Len: 1 << 19}, virtiotest.Buf{Addr: a, Len: 1 << 19}, virtiotest.Buf{Addr: a, Len: 1})
	tx.Kick()
	if d.Read32(virtio.RegStatus)&virtio.StatusDeviceNeedsReset == 0 {
		t.Error("oversized transmit chain accepted")
	}
}

type failWriter struct{ calls int }

func (w *failWriter) Write(p []byte) (int, error) { w.calls++; return 0, errors.New("closed") }

func TestOutputError(t *testing.T) {
	w := &failWriter{}
	d := virtiotest.NewDriver(New(w, slog.New(slog.DiscardHandler)), virtiotest.NewMemory(0x8000_0000, 1<<20))
	_, tx := start(t, d)
	for range 3 {
		tx.Add(virtiotest.Buf{Addr: d.Put([]byte("x")), Len: 1})
	}
	tx.Kick()
	for range 3 {
		if _, _, ok := tx.Get(); !ok {
			t.Fatal("transmit not completed after an output error")
		}
	}
}

// FuzzConsole runs a sequence of operations, one per input byte: the top
// two bits choose Deliver (of the low six bits' worth of bytes), a receive
// buffer, a transmit buffer, or a device-direction violation.
func FuzzConsole(f *testing.F) {
	f.Add([]byte{0x05, 0x48, 0x8a, 0x3f, 0x41})
	f.Add([]byte{0xc1})
	f.Fuzz(func(t *testing.T, data []byte) {
		dev, d, out := setup(t)
		d.T.SetLogger(slog.New(slog.DiscardHandler))
		rx, tx := start(t, d)
		var delivered, received int
		for i, b := range data {
			if d.Alloc(0, 1) > 0x8000_0000+(1<<20)-4096 {
				break
			}
			n := int(b & 0x3f)
			switch b >> 6 {
			case 0:
				delivered += dev.Deliver(bytes.Repeat([]byte{byte(i)}, n))
			case 1:
				if rx.Free() > 0 {
					rx.Add(virtiotest.Buf{Addr: d.Alloc(uint64(n), 1), Len: uint32(n), Write: true})
					rx.Kick()
				}
			case 2:
				if tx.Free() > 0 {
					tx.Add(virtiotest.Buf{Addr: d.Alloc(uint64(n), 1), Len: uint32(n)})
					tx.Kick()
				}
			case 3:
				if rx.Free() == 0 || tx.Free() == 0 {
					return
				}
				rx.Add(virtiotest.Buf{Addr: d.Alloc(uint64(n), 1), Len: uint32(n)})
				rx.Kick()
				tx.Add(virtiotest.Buf{Addr: d.Alloc(uint64(n), 1), Len: uint32(n), Write: true})
				tx.Kick()
				return
			}
			for {
				_, n, ok := rx.Get()
				if !ok {
					break
				}
				received += int(n)
			}
			for {
				if _, _, ok := tx.Get(); !ok {
					break
				}
			}
			if received+dev.Pending() != delivered || dev.Pending() > InputBuffer {
				t.Fatalf("delivered %d, received %d, pending %d", delivered, received, dev.Pending())
			}
		}
		_ = out
	})
}
