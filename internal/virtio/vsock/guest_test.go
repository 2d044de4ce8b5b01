package vsock

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/virtio"
	"github.com/juicevm/juice/internal/virtio/virtiotest"
)

// A small guest-side vsock implementation driving the device through
// hand-built rings, for the tests.

const rxBufSize = 4096

type gconn struct {
	local, remote uint32
	established   bool
	reset         bool
	peerShutdown  uint32
	recv          bytes.Buffer
	received      uint32 // bytes received in total
	fwdCnt        uint32 // bytes the application consumed
	bufAlloc      uint32
	peerBufAlloc  uint32
	peerFwdCnt    uint32
	txCnt         uint32
}

type guest struct {
	t          testing.TB
	dev        *Device
	drv        *virtiotest.Driver
	mem        *virtiotest.Memory
	rxAddr     map[uint16]uint64
	conns      map[[2]uint32]*gconn // {local, remote}
	listen     map[uint32]bool
	bufAlloc   uint32
	autoCredit bool // consume received bytes into recv and keep crediting
	packets    []Header
	noRepost   bool     // process keeps used receive buffers in spare
	spare      []uint64 // receive buffers process did not post again
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newGuest(t testing.TB, cfg Config) *guest {
	t.Helper()
	return newGuestWith(t, cfg, 8<<20, 32)
}

// newGuestWith is newGuest with memSize bytes of guest memory and nrx
// receive buffers.
func newGuestWith(t testing.TB, cfg Config, memSize, nrx int) *guest {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	dev, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	mem := virtiotest.NewMemory(0x8000_0000, memSize)
	drv := virtiotest.NewDriver(dev, mem)
	drv.T.SetLogger(quiet())
	if err := drv.Init(^uint64(0), 64); err != nil {
		t.Fatal(err)
	}
	g := &guest{t: t, dev: dev, drv: drv, mem: mem, rxAddr: map[uint16]uint64{},
		conns: map[[2]uint32]*gconn{}, listen: map[uint32]bool{}, bufAlloc: 64 << 10, autoCredit: true}
	for i := 0; i < nrx; i++ {
		g.postRx(g.drv.Alloc(HeaderSize+rxBufSize, 8))
	}
	g.drv.Queues[rxQueue].Kick()
	return g
}

func testPath(t testing.TB) string { return filepath.Join(t.TempDir(), "v.sock") }

func (g *guest) postRx(addr uint64) {
	head := g.drv.Queues[rxQueue].Add(virtiotest.Buf{Addr: addr, Len: HeaderSize + rxBufSize, Write: true})
	g.rxAddr[head] = addr
}

// sendRaw queues one tx chain of the given bytes (split after the header).
func (g *guest) sendRaw(b []byte) {
	q := g.drv.Queues[txQueue]
	if len(b) > HeaderSize {
		q.Add(virtiotest.Buf{Addr: g.drv.Put(b[:HeaderSize]), Len: HeaderSize},
			virtiotest.Buf{Addr: g.drv.Put(b[HeaderSize:]), Len: uint32(len(b) - HeaderSize)})
	} else {
		q.Add(virtiotest.Buf{Addr: g.drv.Put(b), Len: uint32(len(b))})
	}
	q.Kick()
	for {
		if _, _, ok := q.Get(); !ok {
			break
		}
	}
}

func (g *guest) send(h Header, payload []byte) {
	if h.SrcCID == 0 {
		h.SrcCID = DefaultGuestCID
	}
	if h.DstCID == 0 {
		h.DstCID = HostCID
	}
	if h.Type == 0 {
		h.Type = TypeStream
	}
	if h.Len == 0 {
		h.Len = uint32(len(payload))
	}
	b := make([]byte, HeaderSize+len(payload))
	h.Encode(b)
	copy(b[HeaderSize:], payload)
	g.sendRaw(b)
}

func (g *guest) hdr(c *gconn, op uint16) Header {
	return Header{SrcPort: c.local, DstPort: c.remote, Op: op, BufAlloc: c.bufAlloc, FwdCnt: c.fwdCnt}
}

// connect starts a guest connection from local to host port remote.
func (g *guest) connect(local, remote uint32) *gconn {
	c := &gconn{local: local, remote: remote, bufAlloc: g.bufAlloc}
	g.conns[[2]uint32{local, remote}] = c
	g.send(g.hdr(c, OpRequest), nil)
	return c
}

// write sends p, respecting the device's credit; it returns how much it
// sent.
func (g *guest) write(c *gconn, p []byte) int {
	credit := c.peerBufAlloc - (c.txCnt - c.peerFwdCnt)
	n := min(uint32(len(p)), credit, rxBufSize)
	if n == 0 {
		return 0
	}
	g.send(g.hdr(c, OpRW), p[:n])
	c.txCnt += n
	return int(n)
}

// consume takes n received bytes out of c (the application read them) and
// tells the device.
func (g *guest) consume(c *gconn, n int) []byte {
	b := c.recv.Next(n)
	c.fwdCnt += uint32(len(b))
	g.send(g.hdr(c, OpCreditUpdate), nil)
	return b
}

// process handles every packet the device delivered.
func (g *guest) process() {
	q := g.drv.Queues[rxQueue]
	for {
		head, n, ok := q.Get()
		if !ok {
			break
		}
		addr := g.rxAddr[head]
		b := g.mem.At(addr, uint64(n))
		if n < HeaderSize {
			g.t.Fatalf("rx packet of %d bytes", n)
		}
		var h Header
		h.Decode(b)
		if h.SrcCID != HostCID || h.DstCID != DefaultGuestCID && h.DstCID != g.dev.GuestCID() || h.Type != TypeStream {
			g.t.Fatalf("bad packet header %+v", h)
		}
		if uint32(n) != HeaderSize+h.Len || h.Len > 0 && h.Op != OpRW {
			g.t.Fatalf("packet %+v in %d bytes", h, n)
		}
		g.packets = append(g.packets, h)
		g.handle(&h, b[HeaderSize:])
		delete(g.rxAddr, head)
		if g.noRepost {
			g.spare = append(g.spare, addr)
		} else {
			g.postRx(addr)
		}
	}
	q.Kick()
}

// repost posts the spare receive buffers again and kicks the queue.
func (g *guest) repost() {
	for _, addr := range g.spare {
		g.postRx(addr)
	}
	g.spare = g.spare[:0]
	g.drv.Queues[rxQueue].Kick()
}

func (g *guest) handle(h *Header, payload []byte) {
	key := [2]uint32{h.DstPort, h.SrcPort}
	c := g.conns[key]
	if c == nil {
		if h.Op == OpRequest && g.listen[h.DstPort] {
			c = &gconn{local: h.DstPort, remote: h.SrcPort, bufAlloc: g.bufAlloc, established: true,
				peerBufAlloc: h.BufAlloc, peerFwdCnt: h.FwdCnt}
			g.conns[key] = c
			g.send(g.hdr(c, OpResponse), nil)
		} else if h.Op != OpRst {
			g.send(Header{SrcPort: h.DstPort, DstPort: h.SrcPort, Op: OpRst}, nil)
		}
		return
	}
	c.peerBufAlloc, c.peerFwdCnt = h.BufAlloc, h.FwdCnt
	switch h.Op {
	case OpResponse:
		c.established = true
	case OpRst:
		c.reset = true
		delete(g.conns, key)
	case OpShutdown:
		c.peerShutdown |= h.Flags
	case OpRW:
		c.received += h.Len
		if c.received-c.fwdCnt > c.bufAlloc {
			g.t.Fatalf("device overran the guest's credit: %d bytes unread, buf_alloc %d", c.received-c.fwdCnt, c.bufAlloc)
		}
		c.recv.Write(payload)
		if g.autoCredit {
			g.consumeQuietly(c)
		}
	case OpCreditRequest:
		g.send(g.hdr(c, OpCreditUpdate), nil)
	}
}

// consumeQuietly marks everything received as consumed (recv keeps the
// bytes) and sends a credit update when a good part of the buffer was
// freed.
func (g *guest) consumeQuietly(c *gconn) {
	old := c.fwdCnt
	c.fwdCnt = c.received
	if c.fwdCnt-old > 0 {
		g.send(g.hdr(c, OpCreditUpdate), nil)
	}
}

// step waits briefly for host input, polls and processes.
func (g *guest) step() {
	select {
	case <-g.dev.Wake():
	case <-time.After(10 * time.Millisecond):
	}
	g.dev.Poll()
	g.process()
}

// until steps until cond holds.
func (g *guest) until(what string, cond func() bool) {
	g.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			g.t.Fatalf("timed out waiting for %s", what)
		}
		g.step()
	}
}

func (g *guest) needsReset() bool {
	return g.drv.Read32(virtio.RegStatus)&virtio.StatusDeviceNeedsReset != 0
}

// findConn returns the guest connection on local port p.
func (g *guest) findConn(p uint32) *gconn {
	for _, c := range g.conns {
		if c.local == p {
			return c
		}
	}
	return nil
}

func bufOf(addr uint64, n uint32, write bool) virtiotest.Buf {
	return virtiotest.Buf{Addr: addr, Len: n, Write: write}
}
