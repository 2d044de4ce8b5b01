package virtio

import (
	"encoding/binary"
	"fmt"
)

// Split-virtqueue layout (virtio 1.x, section 2.7).
const (
	descSize = 16

	descFNext     = 1
	descFWrite    = 2
	descFIndirect = 4

	availFNoInterrupt = 1

	// MaxIndirect is the largest indirect descriptor table a Queue accepts,
	// in descriptors. A driver may build indirect tables longer than the
	// queue (Linux does, up to the device's segment limit); this bounds
	// them.
	MaxIndirect = 1024
)

// Chain is a descriptor chain popped from a Queue: the driver's buffers as
// slices of guest memory, device-readable ones first, device-writable ones
// after, each list in chain order. Zero-length descriptors are left out.
//
// A Chain's slices are reused by the next Pop into the same Chain, so a
// device that keeps chains in flight uses one Chain value per chain.
type Chain struct {
	// Head is the index of the chain's first descriptor: the id pushed to
	// the used ring.
	Head uint16
	// Readable holds the device-readable buffers.
	Readable [][]byte
	// Writable holds the device-writable buffers.
	Writable [][]byte
	// ReadableLen and WritableLen are the total sizes of the two lists.
	ReadableLen, WritableLen uint64

	// addrs holds the guest address of each buffer, readable ones first,
	// for Queue.SaveChain.
	addrs []uint64
}

func (c *Chain) reset() {
	clear(c.Readable)
	clear(c.Writable)
	c.Readable = c.Readable[:0]
	c.Writable = c.Writable[:0]
	c.addrs = c.addrs[:0]
	c.ReadableLen, c.WritableLen = 0, 0
}

// ReadAt copies device-readable bytes starting at byte offset off of the
// chain's readable area into p and returns how many it copied (fewer than
// len(p) only at the end of the area).
func (c *Chain) ReadAt(p []byte, off uint64) int {
	n := 0
	for _, b := range c.Readable {
		if len(p) == n {
			break
		}
		if off >= uint64(len(b)) {
			off -= uint64(len(b))
			continue
		}
		n += copy(p[n:], b[off:])
		off = 0
	}
	return n
}

// WriteAt copies p into the chain's device-writable area starting at byte
// offset off and returns how many bytes it copied (fewer than len(p) only
// at the end of the area).
func (c *Chain) WriteAt(p []byte, off uint64) int {
	n := 0
	for _, b := range c.Writable {
		if len(p) == n {
			break
		}
		if off >= uint64(len(b)) {
			off -= uint64(len(b))
			continue
		}
		n += copy(b[off:], p[n:])
		off = 0
	}
	return n
}

// Queue is one split virtqueue of a Transport. A device uses it from
// Activate, Notify and the board-driven methods of its own: Pop the next
// available chain, complete it with Push, and call Signal once a batch is
// done so the driver is interrupted if it asked to be.
type Queue struct {
	t     *Transport
	index int
	max   uint16

	// Registers programmed by the driver.
	size                 uint16
	desc, avail, used    uint64
	ready                bool
	eventIdx, indirectOK bool

	lastAvail uint16 // next avail ring slot to pop
	usedIdx   uint16 // next used ring slot to fill
	signalled uint16 // usedIdx when Signal last ran
	batch     int    // chains popped since Signal last ran
}

func newQueue(t *Transport, index int, max uint16) *Queue {
	q := &Queue{t: t, index: index, max: max}
	q.reset()
	return q
}

func (q *Queue) reset() {
	q.size = q.max
	q.desc, q.avail, q.used = 0, 0, 0
	q.ready = false
	q.eventIdx, q.indirectOK = false, false
	q.lastAvail, q.usedIdx, q.signalled, q.batch = 0, 0, 0, 0
}

// Index returns the queue's number within its device.
func (q *Queue) Index() int { return q.index }

// Size returns the queue size the driver chose.
func (q *Queue) Size() uint16 { return q.size }

// Ready reports whether the driver enabled the queue.
func (q *Queue) Ready() bool { return q.ready }

// EventIdx reports whether VIRTIO_F_RING_EVENT_IDX was negotiated.
func (q *Queue) EventIdx() bool { return q.eventIdx }

// active reports whether the device may use the queue now.
func (q *Queue) active() bool {
	return q.ready && q.t.status&(StatusDriverOK|StatusDeviceNeedsReset) == StatusDriverOK && !q.t.quiet
}

// validate checks the queue configuration when the driver enables it.
func (q *Queue) validate() error {
	n := uint64(q.size)
	switch {
	case q.size == 0 || q.size&(q.size-1) != 0:
		return fmt.Errorf("%w: queue %d size %d is not a power of two", ErrQueueConfig, q.index, q.size)
	case q.size > q.max:
		return fmt.Errorf("%w: queue %d size %d exceeds maximum %d", ErrQueueConfig, q.index, q.size, q.max)
	case q.desc%16 != 0 || q.avail%2 != 0 || q.used%4 != 0:
		return fmt.Errorf("%w: queue %d rings misaligned (desc %#x, driver %#x, device %#x)",
			ErrQueueConfig, q.index, q.desc, q.avail, q.used)
	}
	if _, ok := q.t.mem.Slice(q.desc, descSize*n); !ok {
		return fmt.Errorf("%w: queue %d descriptor table %#x outside RAM", ErrQueueConfig, q.index, q.desc)
	}
	if _, ok := q.t.mem.Slice(q.avail, 6+2*n); !ok {
		return fmt.Errorf("%w: queue %d driver area %#x outside RAM", ErrQueueConfig, q.index, q.avail)
	}
	if _, ok := q.t.mem.Slice(q.used, 6+8*n); !ok {
		return fmt.Errorf("%w: queue %d device area %#x outside RAM", ErrQueueConfig, q.index, q.used)
	}
	return nil
}

// rings returns the driver (avail) and device (used) areas, including the
// event fields.
func (q *Queue) rings() (avail, used []byte, ok bool) {
	n := uint64(q.size)
	avail, ok1 := q.t.mem.Slice(q.avail, 6+2*n)
	used, ok2 := q.t.mem.Slice(q.used, 6+8*n)
	if !ok1 || !ok2 {
		q.Fail(fmt.Errorf("%w: queue %d rings left RAM", ErrRing, q.index))
		return nil, nil, false
	}
	return avail, used, true
}

// pending returns how many chains the driver made available and the device
// has not popped, after checking the avail index.
func (q *Queue) pending(avail []byte) (uint16, bool) {
	n := binary.LittleEndian.Uint16(avail[2:]) - q.lastAvail
	if n > q.size {
		q.Fail(fmt.Errorf("%w: queue %d avail idx %d is %d ahead of %d (size %d)",
			ErrRing, q.index, binary.LittleEndian.Uint16(avail[2:]), n, q.lastAvail, q.size))
		return 0, false
	}
	return n, true
}

// Available reports whether the driver has made a chain available that the
// device has not popped yet.
func (q *Queue) Available() bool {
	if !q.active() {
		return false
	}
	avail, _, ok := q.rings()
	if !ok {
		return false
	}
	n, ok := q.pending(avail)
	return ok && n > 0
}

// Pop takes the next available descriptor chain into c. It returns false
// when the queue is empty, not running, or broken: a malformed ring or
// chain sets DEVICE_NEEDS_RESET (see Transport) and stops the queue. With
// VIRTIO_F_RING_EVENT_IDX, Pop also publishes avail_event so the driver
// notifies the device for the next chain.
//
// A device calls Signal after each batch of chains. Pop returns false after
// twice the queue size of chains without a Signal: only a driver whose
// rings are rewritten by the device's own writes can offer that many in one
// batch, and the bound keeps such a guest from livelocking the device.
func (q *Queue) Pop(c *Chain) bool {
	c.reset()
	if !q.active() || q.batch >= 2*int(q.size) {
		return false
	}
	avail, used, ok := q.rings()
	if !ok {
		return false
	}
	n, ok := q.pending(avail)
	if !ok {
		return false
	}
	if n == 0 {
		if q.eventIdx {
			binary.LittleEndian.PutUint16(used[4+8*uint64(q.size):], q.lastAvail)
		}
		return false
	}
	head := binary.LittleEndian.Uint16(avail[4+2*uint64(q.lastAvail%q.size):])
	if err := q.walk(c, head); err != nil {
		c.reset()
		q.Fail(err)
		return false
	}
	q.lastAvail++
	q.batch++
	if q.eventIdx {
		binary.LittleEndian.PutUint16(used[4+8*uint64(q.size):], q.lastAvail)
	}
	return true
}

// walk follows the chain starting at head into c.
func (q *Queue) walk(c *Chain, head uint16) error {
	table, ok := q.t.mem.Slice(q.desc, descSize*uint64(q.size))
	if !ok {
		return fmt.Errorf("%w: queue %d descriptor table left RAM", ErrRing, q.index)
	}
	c.Head = head
	n := uint32(q.size) // entries in the current table
	i := uint32(head)
	indirect := false
	writing := false
	for count := uint32(1); ; count++ {
		if i >= n {
			return fmt.Errorf("%w: queue %d descriptor index %d out of range (table of %d)", ErrRing, q.index, i, n)
		}
		if count > n {
			return fmt.Errorf("%w: queue %d chain from head %d loops or exceeds %d descriptors", ErrRing, q.index, head, n)
		}
		d := table[descSize*i : descSize*i+descSize]
		addr := binary.LittleEndian.Uint64(d[0:])
		length := binary.LittleEndian.Uint32(d[8:])
		flags := binary.LittleEndian.Uint16(d[12:])
		next := binary.LittleEndian.Uint16(d[14:])
		if flags&descFIndirect != 0 {
			switch {
			case !q.indirectOK:
				return fmt.Errorf("%w: queue %d indirect descriptor without VIRTIO_F_RING_INDIRECT_DESC", ErrRing, q.index)
			case indirect:
				return fmt.Errorf("%w: queue %d indirect table inside an indirect table", ErrRing, q.index)
			case flags&descFNext != 0:
				return fmt.Errorf("%w: queue %d indirect descriptor with NEXT", ErrRing, q.index)
			case length == 0 || length%descSize != 0 || length/descSize > MaxIndirect:
				return fmt.Errorf("%w: queue %d indirect table of %d bytes", ErrRing, q.index, length)
			}
			table, ok = q.t.mem.Slice(addr, uint64(length))
			if !ok {
				return fmt.Errorf("%w: queue %d indirect table [%#x, +%d) outside RAM", ErrRing, q.index, addr, length)
			}
			indirect = true
			n, i, count = length/descSize, 0, 0
			continue
		}
		if flags&descFWrite != 0 {
			writing = true
		} else if writing {
			return fmt.Errorf("%w: queue %d readable descriptor after a writable one", ErrRing, q.index)
		}
		if length > 0 {
			b, ok := q.t.mem.Slice(addr, uint64(length))
			if !ok {
				return fmt.Errorf("%w: queue %d buffer [%#x, +%d) outside RAM", ErrRing, q.index, addr, length)
			}
			c.addrs = append(c.addrs, addr)
			if writing {
				c.Writable = append(c.Writable, b)
				c.WritableLen += uint64(length)
			} else {
				c.Readable = append(c.Readable, b)
				c.ReadableLen += uint64(length)
			}
		}
		if flags&descFNext == 0 {
			return nil
		}
		i = uint32(next)
	}
}

// Push returns chain c to the driver with written bytes written into its
// device-writable buffers (clamped to their total size).
func (q *Queue) Push(c *Chain, written uint32) {
	if !q.active() {
		return
	}
	_, used, ok := q.rings()
	if !ok {
		return
	}
	if uint64(written) > c.WritableLen {
		written = uint32(c.WritableLen)
	}
	// Hand the writable buffers out again: a Memory that tracks the pages
	// devices write sees writes to a chain held since an earlier call.
	if nr := len(c.Readable); len(c.addrs) == nr+len(c.Writable) {
		for i, b := range c.Writable {
			q.t.mem.Slice(c.addrs[nr+i], uint64(len(b)))
		}
	}
	e := used[4+8*uint64(q.usedIdx%q.size):]
	binary.LittleEndian.PutUint32(e[0:], uint32(c.Head))
	binary.LittleEndian.PutUint32(e[4:], written)
	q.usedIdx++
	binary.LittleEndian.PutUint16(used[2:], q.usedIdx)
}

// Signal interrupts the driver if chains were pushed since the last Signal
// and the driver wants to hear about them: with VIRTIO_F_RING_EVENT_IDX when
// the used index passed used_event, otherwise unless the driver set
// VIRTQ_AVAIL_F_NO_INTERRUPT.
func (q *Queue) Signal() {
	q.batch = 0
	if !q.active() {
		return
	}
	avail, _, ok := q.rings()
	if !ok {
		return
	}
	old, now := q.signalled, q.usedIdx
	q.signalled = now
	if old == now {
		return
	}
	if q.eventIdx {
		event := binary.LittleEndian.Uint16(avail[4+2*uint64(q.size):])
		if now-event-1 >= now-old {
			return
		}
	} else if binary.LittleEndian.Uint16(avail[0:])&availFNoInterrupt != 0 {
		return
	}
	q.t.interrupt(IntUsedBuffer)
}

// Fail reports a driver error the device cannot answer with a status of
// its own (for example a request with no room for its status byte): the
// transport sets DEVICE_NEEDS_RESET and the queues stop.
func (q *Queue) Fail(err error) {
	q.t.NeedsReset(err)
}
