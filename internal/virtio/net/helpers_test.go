package net

import (
	"encoding/binary"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/virtio"
	"github.com/juicevm/juice/internal/virtio/virtiotest"
)

// fakeBackend records sent frames and hands out queued ones.
type fakeBackend struct {
	mu     sync.Mutex
	sent   [][]byte
	queue  [][]byte
	notify chan struct{}
	closed bool
}

func newFake() *fakeBackend { return &fakeBackend{notify: make(chan struct{}, 1)} }

func (b *fakeBackend) Send(f []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent = append(b.sent, append([]byte(nil), f...))
}

func (b *fakeBackend) Pending(limit int) [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(max(limit, 1), len(b.queue))
	out := b.queue[:n:n]
	b.queue = b.queue[n:]
	return out
}

func (b *fakeBackend) Notify() <-chan struct{} { return b.notify }

func (b *fakeBackend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

func (b *fakeBackend) push(frames ...[]byte) {
	b.mu.Lock()
	b.queue = append(b.queue, frames...)
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

func (b *fakeBackend) sentFrames() [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]byte(nil), b.sent...)
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// rig is a device behind a test driver.
type rig struct {
	t   testing.TB
	dev *Device
	drv *virtiotest.Driver
	mem *virtiotest.Memory
}

const allFeatures = ^uint64(0)

func newRig(t testing.TB, be Backend, mask uint64) *rig {
	t.Helper()
	mem := virtiotest.NewMemory(0x8000_0000, 4<<20)
	dev := New(be, Config{Logger: quiet()})
	drv := virtiotest.NewDriver(dev, mem)
	drv.T.SetLogger(quiet())
	if err := drv.Init(mask, 64); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	return &rig{t: t, dev: dev, drv: drv, mem: mem}
}

func (r *rig) rxq() *virtiotest.DriverQueue { return r.drv.Queues[rxQueue] }
func (r *rig) txq() *virtiotest.DriverQueue { return r.drv.Queues[txQueue] }

// postRx posts a receive buffer of n bytes and returns its address.
func (r *rig) postRx(n uint32) uint64 {
	a := r.drv.Alloc(uint64(n), 8)
	r.rxq().Add(virtiotest.Buf{Addr: a, Len: n, Write: true})
	return a
}

// transmit queues frame behind hdr (a zero header if nil) in one chain,
// split into pieces descriptors, and kicks the transmit queue.
func (r *rig) transmit(hdr []byte, frame []byte, pieces int) {
	if hdr == nil {
		hdr = make([]byte, HeaderSize)
	}
	all := append(append([]byte(nil), hdr...), frame...)
	var bufs []virtiotest.Buf
	step := max(1, (len(all)+pieces-1)/pieces)
	for off := 0; off < len(all); off += step {
		end := min(len(all), off+step)
		bufs = append(bufs, virtiotest.Buf{Addr: r.drv.Put(all[off:end]), Len: uint32(end - off)})
	}
	r.txq().Add(bufs...)
	r.txq().Kick()
}

func (r *rig) needsReset() bool {
	return r.drv.Read32(virtio.RegStatus)&virtio.StatusDeviceNeedsReset != 0
}

// waitWake waits for the device's wake channel.
func waitWake(t testing.TB, d *Device, timeout time.Duration) bool {
	t.Helper()
	select {
	case <-d.Wake():
		return true
	case <-time.After(timeout):
		return false
	}
}

func testFrame(n int, seed byte) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = seed + byte(i*7)
	}
	return f
}

func numBuffers(hdr []byte) uint16 { return binary.LittleEndian.Uint16(hdr[10:]) }

// buf is a virtiotest.Buf.
func buf(addr uint64, n uint32, write bool) virtiotest.Buf {
	return virtiotest.Buf{Addr: addr, Len: n, Write: write}
}
