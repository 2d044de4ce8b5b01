package vsock

import (
	"bytes"
	"slices"
	"testing"

	"github.com/juicevm/juice/internal/virtio/virtiotest"
)

// FuzzVsockTx fuzzes the guest packet parser and connection state machine:
// each input is a sequence of tx chains, each prefixed by a control byte
// (bit 0: split after the header; bit 1: add a writable descriptor, which
// must need a reset) and a 16-bit length. Resets the device sends are
// drained through a small rx ring.
func FuzzVsockTx(f *testing.F) {
	enc := func(ctl byte, h Header, payload []byte) []byte {
		b := make([]byte, HeaderSize+len(payload))
		h.Encode(b)
		copy(b[HeaderSize:], payload)
		return append([]byte{ctl, byte(len(b)), byte(len(b) >> 8)}, b...)
	}
	req := Header{SrcCID: 3, DstCID: 2, SrcPort: 5, DstPort: 6, Type: TypeStream, Op: OpRequest, BufAlloc: 4096}
	rw := req
	rw.Op, rw.Len = OpRW, 3
	f.Add(enc(0, req, nil))
	f.Add(append(enc(1, req, nil), enc(1, rw, []byte("abc"))...))
	f.Add(enc(2, req, nil))
	f.Add(enc(0, Header{SrcCID: 3, DstCID: 2, Op: 42, Type: 1}, nil))
	f.Add([]byte{0, 5, 0, 1, 2, 3, 4, 5})

	dir := f.TempDir()
	dev, err := New(Config{UnixPath: dir + "/v.sock", Logger: quiet()})
	if err != nil {
		f.Fatal(err)
	}
	defer dev.Close()
	mem := virtiotest.NewMemory(0x8000_0000, 1<<20)
	f.Fuzz(func(t *testing.T, data []byte) {
		drv := virtiotest.NewDriver(dev, mem)
		drv.T.SetLogger(quiet())
		if err := drv.Init(^uint64(0), 16); err != nil {
			t.Fatal(err)
		}
		rx, tx := drv.Queues[rxQueue], drv.Queues[txQueue]
		bufs := make([]uint64, 4)
		for i := range bufs {
			bufs[i] = drv.Alloc(256, 8)
			rx.Add(virtiotest.Buf{Addr: bufs[i], Len: 256, Write: true})
		}
		rx.Kick()
		post := func() {
			for {
				if _, _, ok := rx.Get(); !ok {
					break
				}
				rx.Add(virtiotest.Buf{Addr: bufs[0], Len: 256, Write: true})
			}
			rx.Kick()
		}
		for n := 0; len(data) >= 3 && n < 8; n++ {
			ctl, size := data[0], int(data[1])|int(data[2])<<8
			data = data[3:]
			size = min(size, len(data))
			pkt := data[:size]
			data = data[size:]
			var bufs []virtiotest.Buf
			if ctl&1 != 0 && len(pkt) > HeaderSize {
				bufs = append(bufs, virtiotest.Buf{Addr: drv.Put(pkt[:HeaderSize]), Len: HeaderSize},
					virtiotest.Buf{Addr: drv.Put(pkt[HeaderSize:]), Len: uint32(len(pkt) - HeaderSize)})
			} else if len(pkt) > 0 {
				bufs = append(bufs, virtiotest.Buf{Addr: drv.Put(pkt), Len: uint32(len(pkt))})
			}
			if ctl&2 != 0 || len(bufs) == 0 {
				bufs = append(bufs, virtiotest.Buf{Addr: drv.Alloc(8, 8), Len: 8, Write: ctl&2 != 0})
			}
			tx.Add(bufs...)
			tx.Kick()
			reset := drv.T.Status()&64 != 0
			if ctl&2 != 0 && !reset {
				t.Fatal("writable tx descriptor without a reset")
			}
			if reset {
				break
			}
			for {
				if _, _, ok := tx.Get(); !ok {
					break
				}
			}
			dev.Poll()
			post()
		}
		if len(dev.conns) > DefaultMaxConns || len(dev.control) > maxControl {
			t.Fatal("unbounded state")
		}
		drv.T.Reset()
		if len(dev.conns) != 0 {
			t.Fatal("connections survive a reset")
		}
	})
}

// FuzzVsockRestore feeds device states to RestoreState through a transport
// whose device is active. A state must be refused (leaving the device
// reset) or restored; a restored one must save back to the same bytes, and
// the device must then survive host events, kicks and a reset.
func FuzzVsockRestore(f *testing.F) {
	a := newSrig(f, 1<<20, 8)
	heldScenario(a)
	b := newSrig(f, 1<<20, 8)
	starvedScenario(b)
	ts, old := virtiotest.SaveState(a.g.drv.T), devState(a.g.dev)
	mem0 := bytes.Clone(a.g.mem.Bytes)
	starved := devState(b.g.dev)
	for _, s := range [][]byte{old, starved, goodState().encode(),
		goodStateOnly(func(s *savedState) { s.conns, s.ready, s.control, s.held = nil, nil, nil, nil })} {
		if err := virtiotest.RestoreState(a.g.drv.T, withDevice(ts, old, s)); err != nil {
			f.Fatalf("seed refused: %v", err)
		}
		f.Add(s)
	}
	f.Add(old[:len(old)/2])
	f.Add(starved[:len(starved)-5])
	f.Add([]byte{})

	d, tr := a.g.dev, a.g.drv.T
	f.Fuzz(func(t *testing.T, state []byte) {
		copy(a.g.mem.Bytes, mem0)
		a.h.calls, a.h.batches = a.h.calls[:0], nil
		err := virtiotest.RestoreState(tr, withDevice(ts, old, state))
		if len(a.h.calls) != 0 {
			t.Fatalf("restore called the host: %q", a.h.calls)
		}
		if err != nil {
			if len(d.conns) != 0 || len(d.byHost) != 0 || len(d.ready) != 0 || len(d.control) != 0 || d.haveRx {
				t.Fatalf("refused state (%v) left the device holding something", err)
			}
			return
		}
		if got := devState(d); !bytes.Equal(got, state) {
			t.Fatalf("restored state saves as %x, not %x", got, state)
		}
		conns := make([]*conn, 0, len(d.conns))
		for _, c := range d.conns {
			conns = append(conns, c)
		}
		slices.SortFunc(conns, func(x, y *conn) int { return cmpKey(x.key, y.key) })
		var evs []HostEvent
		for _, c := range conns {
			evs = append(evs, HostEvent{Kind: HostDialed, Conn: c.id},
				HostEvent{Kind: HostData, Conn: c.id, Data: []byte("data")},
				HostEvent{Kind: HostWrote, Conn: c.id, Written: uint64(c.rxCnt)},
				HostEvent{Kind: HostEOF, Conn: c.id})
		}
		evs = append(evs, HostEvent{Kind: HostAccept, Conn: AcceptedConn | 77, Port: 9})
		a.h.batches = [][]HostEvent{evs}
		d.Poll()
		d.Notify(rxQueue)
		d.Notify(txQueue)
		d.Poll()
		tr.Reset()
		d.Poll()
		if len(d.conns) != 0 || len(d.byHost) != 0 || len(d.orphans) != 0 {
			t.Fatal("connections survive a reset")
		}
	})
}
