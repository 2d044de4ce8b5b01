// Package virtiotest is a test harness for virtio devices: guest memory
// backed by a byte slice and a minimal virtio-mmio driver that builds split
// virtqueues by hand, the way a guest kernel would.
package virtiotest

import (
	"encoding/binary"
	"fmt"

	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/virtio"
)

// Memory is guest RAM for tests: Bytes mapped at guest physical address Base.
type Memory struct {
	Base  uint64
	Bytes []byte
}

// NewMemory returns size bytes of zeroed RAM at base.
func NewMemory(base uint64, size int) *Memory {
	return &Memory{Base: base, Bytes: make([]byte, size)}
}

// Slice implements virtio.Memory.
func (m *Memory) Slice(addr, n uint64) ([]byte, bool) {
	off := addr - m.Base
	if addr < m.Base || off > uint64(len(m.Bytes)) || n > uint64(len(m.Bytes))-off {
		return nil, false
	}
	return m.Bytes[off : off+n : off+n], true
}

// At returns the n bytes at guest address addr; it panics outside RAM.
func (m *Memory) At(addr, n uint64) []byte {
	b, ok := m.Slice(addr, n)
	if !ok {
		panic(fmt.Sprintf("virtiotest: [%#x, +%d) outside RAM", addr, n))
	}
	return b
}

// Buf is one buffer of a chain a Driver queues.
type Buf struct {
	Addr  uint64
	Len   uint32
	Write bool // device-writable
}

// Driver is a minimal virtio-mmio driver.
type Driver struct {
	T      *virtio.Transport
	Mem    *Memory
	IRQ    bool // the interrupt line's level
	Raised int  // how many times the line went high
	next   uint64
	Queues []*DriverQueue
}

// NewDriver puts dev behind a new transport over mem. Allocations by Alloc
// start at the beginning of mem.
func NewDriver(dev virtio.Device, mem *Memory) *Driver {
	d := &Driver{Mem: mem, next: mem.Base}
	d.T = virtio.NewTransport(dev, mem, func(level bool) {
		if level && !d.IRQ {
			d.Raised++
		}
		d.IRQ = level
	})
	return d
}

// Read32 reads a transport register.
func (d *Driver) Read32(off uint64) uint32 {
	v, ok := d.T.Load(off, 4)
	if !ok {
		panic(fmt.Sprintf("virtiotest: load %#x refused", off))
	}
	return uint32(v)
}

// Write32 writes a transport register.
func (d *Driver) Write32(off uint64, v uint32) {
	if !d.T.Store(off, 4, uint64(v)) {
		panic(fmt.Sprintf("virtiotest: store %#x refused", off))
	}
}

// Alloc returns n zeroed bytes of guest memory aligned to align.
func (d *Driver) Alloc(n, align uint64) uint64 {
	a := (d.next + align - 1) &^ (align - 1)
	if a+n > d.Mem.Base+uint64(len(d.Mem.Bytes)) {
		panic("virtiotest: out of guest memory")
	}
	d.next = a + n
	clear(d.Mem.At(a, n))
	return a
}

// Put copies p into fresh guest memory and returns its address.
func (d *Driver) Put(p []byte) uint64 {
	a := d.Alloc(uint64(len(p)), 8)
	copy(d.Mem.At(a, uint64(len(p))), p)
	return a
}

// DeviceFeatures reads the 64 feature bits the device offers.
func (d *Driver) DeviceFeatures() uint64 {
	d.Write32(virtio.RegDeviceFeaturesSel, 0)
	lo := d.Read32(virtio.RegDeviceFeatures)
	d.Write32(virtio.RegDeviceFeaturesSel, 1)
	hi := d.Read32(virtio.RegDeviceFeatures)
	return uint64(hi)<<32 | uint64(lo)
}

// Init runs the driver initialization sequence: it accepts the offered
// features in mask, sets up every queue with size min(size, max) and sets
// DRIVER_OK. It fails if the device refuses the features or needs a reset.
func (d *Driver) Init(mask uint64, size uint16) error {
	d.Write32(virtio.RegStatus, 0)
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge)
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver)
	f := d.DeviceFeatures() & mask
	d.Write32(virtio.RegDriverFeaturesSel, 0)
	d.Write32(virtio.RegDriverFeatures, uint32(f))
	d.Write32(virtio.RegDriverFeaturesSel, 1)
	d.Write32(virtio.RegDriverFeatures, uint32(f>>32))
	st := uint32(virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusFeaturesOK)
	d.Write32(virtio.RegStatus, st)
	if d.Read32(virtio.RegStatus)&virtio.StatusFeaturesOK == 0 {
		return fmt.Errorf("virtiotest: device refused features %#x", f)
	}
	d.Queues = d.Queues[:0]
	for i := 0; ; i++ {
		d.Write32(virtio.RegQueueSel, uint32(i))
		max := uint16(d.Read32(virtio.RegQueueNumMax))
		if max == 0 {
			break
		}
		n := min(size, max)
		q := &DriverQueue{d: d, Index: i, Size: n, EventIdx: f&virtio.FRingEventIdx != 0}
		q.Desc = d.Alloc(16*uint64(n), 16)
		q.Avail = d.Alloc(6+2*uint64(n), 2)
		q.Used = d.Alloc(6+8*uint64(n), 4)
		for j := int(n) - 1; j >= 0; j-- {
			q.free = append(q.free, uint16(j))
		}
		d.Write32(virtio.RegQueueNum, uint32(n))
		d.Write32(virtio.RegQueueDescLow, uint32(q.Desc))
		d.Write32(virtio.RegQueueDescHigh, uint32(q.Desc>>32))
		d.Write32(virtio.RegQueueDriverLow, uint32(q.Avail))
		d.Write32(virtio.RegQueueDriverHigh, uint32(q.Avail>>32))
		d.Write32(virtio.RegQueueDeviceLow, uint32(q.Used))
		d.Write32(virtio.RegQueueDeviceHigh, uint32(q.Used>>32))
		d.Write32(virtio.RegQueueReady, 1)
		d.Queues = append(d.Queues, q)
	}
	d.Write32(virtio.RegStatus, st|virtio.StatusDriverOK)
	if s := d.Read32(virtio.RegStatus); s&virtio.StatusDeviceNeedsReset != 0 {
		return fmt.Errorf("virtiotest: device needs reset after DRIVER_OK (status %#x)", s)
	}
	return nil
}

// Ack reads and acknowledges the interrupt status, as an interrupt handler
// does, and returns it.
func (d *Driver) Ack() uint32 {
	s := d.Read32(virtio.RegInterruptStatus)
	d.Write32(virtio.RegInterruptACK, s)
	return s
}

// DriverQueue is the driver's side of one split virtqueue.
type DriverQueue struct {
	d                 *Driver
	Index             int
	Size              uint16
	EventIdx          bool
	Desc, Avail, Used uint64
	AvailIdx          uint16 // next avail index the driver publishes
	LastUsed          uint16 // used entries consumed
	free              []uint16
	inflight          map[uint16][]uint16
}

func (q *DriverQueue) mem(addr, n uint64) []byte { return q.d.Mem.At(addr, n) }

// SetDesc writes descriptor i of the queue's table.
func (q *DriverQueue) SetDesc(i uint16, addr uint64, length uint32, flags, next uint16) {
	WriteDesc(q.mem(q.Desc+16*uint64(i), 16), addr, length, flags, next)
}

// WriteDesc encodes one descriptor into b.
func WriteDesc(b []byte, addr uint64, length uint32, flags, next uint16) {
	binary.LittleEndian.PutUint64(b[0:], addr)
	binary.LittleEndian.PutUint32(b[8:], length)
	binary.LittleEndian.PutUint16(b[12:], flags)
	binary.LittleEndian.PutUint16(b[14:], next)
}

// Descriptor flags.
const (
	FNext     = 1
	FWrite    = 2
	FIndirect = 4
)

// Publish puts head in the next avail slot and bumps the avail index.
func (q *DriverQueue) Publish(head uint16) {
	slot := q.AvailIdx % q.Size
	binary.LittleEndian.PutUint16(q.mem(q.Avail+4+2*uint64(slot), 2), head)
	q.AvailIdx++
	binary.LittleEndian.PutUint16(q.mem(q.Avail+2, 2), q.AvailIdx)
}

// Add queues a chain of direct descriptors and returns its head. It panics
// when the queue has too few free descriptors.
func (q *DriverQueue) Add(bufs ...Buf) uint16 {
	if len(bufs) == 0 || len(bufs) > len(q.free) {
		panic("virtiotest: no room for chain")
	}
	idx := q.free[len(q.free)-len(bufs):]
	q.free = q.free[:len(q.free)-len(bufs)]
	for i, b := range bufs {
		var flags, next uint16
		if b.Write {
			flags |= FWrite
		}
		if i+1 < len(bufs) {
			flags |= FNext
			next = idx[i+1]
		}
		q.SetDesc(idx[i], b.Addr, b.Len, flags, next)
	}
	head := idx[0]
	q.freeList(head, idx)
	q.Publish(head)
	return head
}

// chains remembers the descriptors of each in-flight head.
func (q *DriverQueue) freeList(head uint16, idx []uint16) {
	if q.inflight == nil {
		q.inflight = map[uint16][]uint16{}
	}
	q.inflight[head] = append([]uint16(nil), idx...)
}

// AddIndirect queues bufs through one indirect table and returns the head.
func (q *DriverQueue) AddIndirect(bufs ...Buf) uint16 {
	table := q.d.Alloc(16*uint64(len(bufs)), 16)
	for i, b := range bufs {
		var flags, next uint16
		if b.Write {
			flags |= FWrite
		}
		if i+1 < len(bufs) {
			flags |= FNext
			next = uint16(i + 1)
		}
		WriteDesc(q.mem(table+16*uint64(i), 16), b.Addr, b.Len, flags, next)
	}
	if len(q.free) == 0 {
		panic("virtiotest: no room for chain")
	}
	head := q.free[len(q.free)-1]
	q.free = q.free[:len(q.free)-1]
	q.SetDesc(head, table, uint32(16*len(bufs)), FIndirect, 0)
	q.freeList(head, []uint16{head})
	q.Publish(head)
	return head
}

// Free returns how many descriptors are free for new chains.
func (q *DriverQueue) Free() int { return len(q.free) }

// Kick notifies the device about the queue.
func (q *DriverQueue) Kick() { q.d.Write32(virtio.RegQueueNotify, uint32(q.Index)) }

// UsedIdx reads the device's used index.
func (q *DriverQueue) UsedIdx() uint16 {
	return binary.LittleEndian.Uint16(q.mem(q.Used+2, 2))
}

// Get consumes the next used element, freeing its descriptors.
func (q *DriverQueue) Get() (id uint16, length uint32, ok bool) {
	if q.UsedIdx() == q.LastUsed {
		return 0, 0, false
	}
	e := q.mem(q.Used+4+8*uint64(q.LastUsed%q.Size), 8)
	q.LastUsed++
	id = uint16(binary.LittleEndian.Uint32(e[0:]))
	length = binary.LittleEndian.Uint32(e[4:])
	if idx, found := q.inflight[id]; found {
		q.free = append(q.free, idx...)
		delete(q.inflight, id)
	}
	if q.EventIdx {
		q.SetUsedEvent(q.LastUsed)
	}
	return id, length, true
}

// SetUsedEvent writes used_event (VIRTIO_F_RING_EVENT_IDX).
func (q *DriverQueue) SetUsedEvent(v uint16) {
	binary.LittleEndian.PutUint16(q.mem(q.Avail+4+2*uint64(q.Size), 2), v)
}

// AvailEvent reads avail_event (VIRTIO_F_RING_EVENT_IDX).
func (q *DriverQueue) AvailEvent() uint16 {
	return binary.LittleEndian.Uint16(q.mem(q.Used+4+8*uint64(q.Size), 2))
}

// SetAvailFlags writes the avail ring's flags.
func (q *DriverQueue) SetAvailFlags(v uint16) {
	binary.LittleEndian.PutUint16(q.mem(q.Avail, 2), v)
}

// SaveState returns the transport's saved state (Transport.SaveState).
func SaveState(t *virtio.Transport) []byte {
	var e snapshot.Encoder
	t.SaveState(&e)
	return e.Bytes()
}

// RestoreState restores a state SaveState returned, and checks that all
// of it was read.
func RestoreState(t *virtio.Transport, b []byte) error {
	d := snapshot.NewDecoder(b)
	if err := t.RestoreState(d); err != nil {
		return err
	}
	return d.Finish("transport")
}
