package virtio_test

import (
	"errors"

	"github.com/juicevm/juice/internal/virtio"
	"github.com/juicevm/juice/internal/virtio/virtiotest"
)

// echo is a test device: on a kick it pops every chain, records what it
// read, fills the writable buffers with fill and completes the chain with
// the number of bytes it wrote.
type echo struct {
	sizes       []uint16
	config      [16]byte
	queues      []*virtio.Queue
	features    uint64
	activateErr error
	resets      int
	chains      []virtio.Chain // copies of popped chains' shapes
	read        [][]byte
	fill        byte
	host        virtio.Host
	noSignal    bool
	noRecord    bool // keep chain shapes only (fuzzing)
}

func newEcho(sizes ...uint16) *echo { return &echo{sizes: sizes, fill: 0xee} }

func (e *echo) Type() uint32         { return 42 }
func (e *echo) Features() uint64     { return 1 << 3 }
func (e *echo) QueueSizes() []uint16 { return e.sizes }
func (e *echo) Attach(h virtio.Host) { e.host = h }
func (e *echo) Reset()               { e.resets++; e.queues = nil }
func (e *echo) WriteConfig(off uint64, p []byte) {
	if off < uint64(len(e.config)) {
		copy(e.config[off:], p)
	}
}
func (e *echo) ReadConfig(off uint64, p []byte) {
	if off < uint64(len(e.config)) {
		copy(p, e.config[off:])
	}
}

func (e *echo) Activate(q []*virtio.Queue, features uint64) error {
	if e.activateErr != nil {
		return e.activateErr
	}
	e.queues, e.features = q, features
	return nil
}

func (e *echo) Notify(i int) {
	q := e.queues[i]
	var c virtio.Chain
	for q.Pop(&c) {
		if !e.noRecord {
			var r []byte
			for _, b := range c.Readable {
				r = append(r, b...)
			}
			e.read = append(e.read, r)
		}
		e.chains = append(e.chains, virtio.Chain{Head: c.Head, ReadableLen: c.ReadableLen, WritableLen: c.WritableLen})
		for _, b := range c.Writable {
			if e.noRecord && len(b) > 8 {
				b = b[:8] // keep fuzzing fast: chains may alias all of RAM many times
			}
			for j := range b {
				b[j] = e.fill
			}
		}
		q.Push(&c, uint32(c.WritableLen))
	}
	if !e.noSignal {
		q.Signal()
	}
}

var errActivate = errors.New("activate failed")

const ramBase = 0x8000_0000

func newDriver(sizes ...uint16) (*virtiotest.Driver, *echo) {
	dev := newEcho(sizes...)
	d := virtiotest.NewDriver(dev, virtiotest.NewMemory(ramBase, 1<<20))
	return d, dev
}

func needsReset(d *virtiotest.Driver) bool {
	return d.Read32(virtio.RegStatus)&virtio.StatusDeviceNeedsReset != 0
}

func virtiotestBuf(addr uint64, n uint32, write bool) virtiotest.Buf {
	return virtiotest.Buf{Addr: addr, Len: n, Write: write}
}
