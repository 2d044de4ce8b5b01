package net

import (
	"bytes"
	"testing"

	"github.com/juicevm/juice/internal/virtio/virtiotest"
)

// FuzzNetTx fuzzes the transmit path: one chain per input. data[0]%4+1 is
// the number of readable descriptors the rest of the input is split into;
// bit 2 of data[0] adds a device-writable descriptor (which must need a
// reset); bit 3 uses an indirect table.
func FuzzNetTx(f *testing.F) {
	hdr := make([]byte, HeaderSize)
	f.Add(append([]byte{0}, append(hdr, testFrame(60, 1)...)...))
	f.Add(append([]byte{3}, append(hdr, testFrame(1514, 2)...)...))
	f.Add(append([]byte{8 | 1}, append(hdr, testFrame(14, 3)...)...))
	f.Add(append([]byte{4}, append(hdr, testFrame(60, 1)...)...))
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 0, 4})
	f.Add([]byte{2})

	be := newFake()
	mem := virtiotest.NewMemory(0x8000_0000, 1<<20)
	dev := New(be, Config{Logger: quiet()})
	defer dev.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 || len(data) > 200<<10 {
			return
		}
		ctl, payload := data[0], data[1:]
		drv := virtiotest.NewDriver(dev, mem)
		drv.T.SetLogger(quiet())
		if err := drv.Init(allFeatures, 16); err != nil {
			t.Fatal(err)
		}
		be.mu.Lock()
		be.sent = nil
		be.mu.Unlock()
		pieces := int(ctl%4) + 1
		var bufs []virtiotest.Buf
		step := max(1, (len(payload)+pieces-1)/pieces)
		for off := 0; off < len(payload); off += step {
			end := min(len(payload), off+step)
			bufs = append(bufs, virtiotest.Buf{Addr: drv.Put(payload[off:end]), Len: uint32(end - off)})
		}
		writable := ctl&4 != 0
		if writable || len(bufs) == 0 {
			bufs = append(bufs, virtiotest.Buf{Addr: drv.Alloc(16, 8), Len: 16, Write: writable})
		}
		q := drv.Queues[txQueue]
		if ctl&8 != 0 {
			q.AddIndirect(bufs...)
		} else {
			q.Add(bufs...)
		}
		q.Kick()
		sent := be.sentFrames()
		reset := drv.T.Status()&64 != 0
		switch {
		case writable:
			if !reset || len(sent) != 0 {
				t.Fatalf("writable descriptor: reset %v, sent %d", reset, len(sent))
			}
		case reset:
			t.Fatal("readable-only chain set DEVICE_NEEDS_RESET")
		case len(sent) == 1:
			if !bytes.Equal(sent[0], payload[HeaderSize:]) {
				t.Fatal("frame differs from the chain's bytes")
			}
			if payload[0] != 0 || payload[1] != 0 || len(payload)-HeaderSize < MinFrame || len(payload)-HeaderSize > MaxFrame {
				t.Fatal("invalid chain was sent")
			}
		case len(sent) == 0:
			if len(payload) >= HeaderSize+MinFrame && payload[0] == 0 && payload[1] == 0 && len(payload)-HeaderSize <= MaxFrame {
				t.Fatal("valid chain was dropped")
			}
		default:
			t.Fatalf("%d frames sent", len(sent))
		}
		if !reset {
			if _, _, ok := q.Get(); !ok {
				t.Fatal("chain not returned")
			}
		}
	})
}
