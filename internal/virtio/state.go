package virtio

import (
	"errors"
	"fmt"

	"github.com/juicevm/juice/internal/snapshot"
)

// stateVersion is the version of the transport's saved state; it is the
// first field, so a change of layout is caught as such.
const stateVersion = 1

// maxDeviceState bounds the device state a transport accepts on restore.
const maxDeviceState = 64 << 20

// queueState is one queue's saved registers and ring positions.
type queueState struct {
	size                          uint16
	desc, avail, used             uint64
	ready                         bool
	lastAvail, usedIdx, signalled uint16
	batch                         int
}

// transportState is everything SaveState writes, decoded and validated
// before any of it is applied.
type transportState struct {
	drvFeatures, features                    uint64
	devFeatSel, drvFeatSel, queueSel, shmSel uint32
	status, intStatus, configGen             uint32
	activated                                bool
	actFeatures                              uint64
	queues                                   []queueState
	hasDevice                                bool
	device                                   []byte
}

// SaveState writes the transport's guest-visible state to e: the device
// status, the feature words and selectors, the interrupt status, the
// configuration generation, whether and with which features the device was
// activated, each queue's registers and ring positions, and then the
// device's own state if it implements Stateful. Guest memory (the rings
// themselves) is not included: the board saves RAM separately.
func (t *Transport) SaveState(e *snapshot.Encoder) {
	e.Uint32(stateVersion)
	e.Uint32(t.dev.Type())
	e.Uint64(t.devFeatures)
	e.Count(len(t.queues))
	for _, q := range t.queues {
		e.Uint16(q.max)
	}
	e.Uint64(t.drvFeatures)
	e.Uint64(t.features)
	e.Uint32(t.devFeatSel)
	e.Uint32(t.drvFeatSel)
	e.Uint32(t.queueSel)
	e.Uint32(t.shmSel)
	e.Uint32(t.status)
	e.Uint32(t.intStatus)
	e.Uint32(t.configGen)
	e.Bool(t.activated)
	e.Uint64(t.actFeatures)
	for _, q := range t.queues {
		e.Uint16(q.size)
		e.Uint64(q.desc)
		e.Uint64(q.avail)
		e.Uint64(q.used)
		e.Bool(q.ready)
		e.Uint16(q.lastAvail)
		e.Uint16(q.usedIdx)
		e.Uint16(q.signalled)
		e.Uint32(uint32(q.batch))
	}
	s, ok := t.dev.(Stateful)
	e.Bool(ok)
	if ok {
		var de snapshot.Encoder
		s.SaveState(&de)
		e.Blob(de.Bytes())
	}
}

// RestoreState reads a state written by SaveState and makes the transport
// and its device behave from now on exactly as the saved ones would: the
// same register reads, the same completions, the same interrupt line (the
// irq callback is called with the restored level). The transport must have
// been built for the same device model with the same configuration (same
// device type, features and queue sizes), and guest memory must already
// hold its saved contents: restoring a device's held buffers checks that
// they lie in RAM.
//
// The state is untrusted input. It is checked in full before the transport
// changes; an error names the bad field, is also recorded in d, and leaves
// the transport as it was, unless the device's own state is what fails,
// in which case the transport and device are reset (as a driver write of
// 0 to the status register does).
func (t *Transport) RestoreState(d *snapshot.Decoder) error {
	s, err := t.decodeState(d)
	if err != nil {
		err = fmt.Errorf("virtio transport (device %d): %w", t.dev.Type(), err)
		d.Fail(err)
		return err
	}
	if err := t.apply(s); err != nil {
		err = fmt.Errorf("virtio transport (device %d): %w", t.dev.Type(), err)
		d.Fail(err)
		t.Reset()
		return err
	}
	return nil
}

// decodeState reads and validates a saved state without changing t.
func (t *Transport) decodeState(d *snapshot.Decoder) (*transportState, error) {
	if v := d.Uint32("version"); d.Err() == nil && v != stateVersion {
		return nil, fmt.Errorf("version: %d, want %d", v, stateVersion)
	}
	if typ := d.Uint32("device type"); d.Err() == nil && typ != t.dev.Type() {
		return nil, fmt.Errorf("device type: saved %d, this transport has %d", typ, t.dev.Type())
	}
	if f := d.Uint64("device features"); d.Err() == nil && f != t.devFeatures {
		return nil, fmt.Errorf("device features: saved %#x, this device offers %#x", f, t.devFeatures)
	}
	if n := d.Count("queue count", len(t.queues)); d.Err() == nil && n != len(t.queues) {
		return nil, fmt.Errorf("queue count: saved %d, this device has %d", n, len(t.queues))
	}
	for i, q := range t.queues {
		if m := d.Uint16(fmt.Sprintf("queue %d maximum size", i)); d.Err() == nil && m != q.max {
			return nil, fmt.Errorf("queue %d maximum size: saved %d, this device has %d", i, m, q.max)
		}
	}
	if d.Err() != nil {
		return nil, d.Err()
	}
	s := &transportState{
		drvFeatures: d.Uint64("driver features"),
		features:    d.Uint64("negotiated features"),
		devFeatSel:  d.Uint32("device features select"),
		drvFeatSel:  d.Uint32("driver features select"),
		queueSel:    d.Uint32("queue select"),
		shmSel:      d.Uint32("shared memory select"),
		status:      d.Uint32("status"),
		intStatus:   d.Uint32("interrupt status"),
		configGen:   d.Uint32("config generation"),
		activated:   d.Bool("activated"),
		actFeatures: d.Uint64("activation features"),
	}
	s.queues = make([]queueState, len(t.queues))
	for i := range s.queues {
		qs := &s.queues[i]
		qs.size = d.Uint16(fmt.Sprintf("queue %d size", i))
		qs.desc = d.Uint64(fmt.Sprintf("queue %d descriptor area", i))
		qs.avail = d.Uint64(fmt.Sprintf("queue %d driver area", i))
		qs.used = d.Uint64(fmt.Sprintf("queue %d device area", i))
		qs.ready = d.Bool(fmt.Sprintf("queue %d ready", i))
		qs.lastAvail = d.Uint16(fmt.Sprintf("queue %d last avail", i))
		qs.usedIdx = d.Uint16(fmt.Sprintf("queue %d used idx", i))
		qs.signalled = d.Uint16(fmt.Sprintf("queue %d signalled", i))
		qs.batch = int(d.Uint32(fmt.Sprintf("queue %d batch", i)))
	}
	s.hasDevice = d.Bool("device state present")
	if s.hasDevice {
		s.device = d.Blob("device state", maxDeviceState)
	}
	if d.Err() != nil {
		return nil, d.Err()
	}
	if err := t.check(s); err != nil {
		return nil, err
	}
	return s, nil
}

// check validates a decoded state against the invariants the transport
// keeps, so that a restored transport is one a driver could have produced.
func (t *Transport) check(s *transportState) error {
	const allInts = IntUsedBuffer | IntConfigChange
	switch {
	case s.features&^t.devFeatures != 0:
		return fmt.Errorf("negotiated features: %#x not offered", s.features&^t.devFeatures)
	case s.features != 0 && s.features&FVersion1 == 0:
		return fmt.Errorf("negotiated features: %#x lack VIRTIO_F_VERSION_1", s.features)
	case s.status > 0xff:
		return fmt.Errorf("status: %#x is not a byte", s.status)
	case s.status&StatusFeaturesOK != 0 && (s.features == 0 || s.drvFeatures != s.features):
		return fmt.Errorf("status: FEATURES_OK with driver features %#x, negotiated %#x", s.drvFeatures, s.features)
	case s.status == 0 && (s.features != 0 || s.activated):
		return errors.New("status: 0 after negotiation or activation")
	case s.status&(StatusDriverOK|StatusDeviceNeedsReset) == StatusDriverOK && !s.activated:
		return errors.New("status: DRIVER_OK on a device that was not activated")
	case s.intStatus&^allInts != 0:
		return fmt.Errorf("interrupt status: %#x has unknown bits", s.intStatus)
	case s.activated && (s.actFeatures&^t.devFeatures != 0 || s.actFeatures&FVersion1 == 0):
		return fmt.Errorf("activation features: %#x", s.actFeatures)
	case !s.activated && s.actFeatures != 0:
		return fmt.Errorf("activation features: %#x without activation", s.actFeatures)
	}
	for i, qs := range s.queues {
		q := t.queues[i]
		if qs.batch > 2*int(q.max) {
			return fmt.Errorf("queue %d batch: %d exceeds %d", i, qs.batch, 2*int(q.max))
		}
		if qs.ready {
			probe := Queue{t: t, index: i, max: q.max, size: qs.size, desc: qs.desc, avail: qs.avail, used: qs.used}
			if err := probe.validate(); err != nil {
				return fmt.Errorf("queue %d: %w", i, err)
			}
		}
	}
	if _, ok := t.dev.(Stateful); ok != s.hasDevice {
		if ok {
			return errors.New("device state: missing")
		}
		return errors.New("device state: present for a device that keeps none")
	}
	return nil
}

// apply installs a validated state: the device is reset and, if it was
// active, activated again with its queues held quiet; then the registers,
// the ring positions and the device's own state are restored.
func (t *Transport) apply(s *transportState) error {
	t.quiet = true
	defer func() { t.quiet = false }()
	t.dev.Reset()
	for i, q := range t.queues {
		qs := &s.queues[i]
		q.reset()
		q.size, q.desc, q.avail, q.used, q.ready = qs.size, qs.desc, qs.avail, qs.used, qs.ready
	}
	t.drvFeatures, t.features = s.drvFeatures, s.features
	t.status = s.status
	t.activated, t.actFeatures = false, 0
	for _, q := range t.queues {
		q.eventIdx = t.features&FRingEventIdx != 0
		q.indirectOK = t.features&FRingIndirectDesc != 0
	}
	if s.activated {
		if err := t.dev.Activate(t.queues, s.actFeatures); err != nil {
			return fmt.Errorf("re-activating the device: %w", err)
		}
		t.activated, t.actFeatures = true, s.actFeatures
	}
	// Activate may have moved these; the saved values win.
	for i, q := range t.queues {
		qs := &s.queues[i]
		q.lastAvail, q.usedIdx, q.signalled, q.batch = qs.lastAvail, qs.usedIdx, qs.signalled, qs.batch
	}
	t.devFeatSel, t.drvFeatSel, t.queueSel, t.shmSel = s.devFeatSel, s.drvFeatSel, s.queueSel, s.shmSel
	t.status, t.intStatus, t.configGen = s.status, s.intStatus, s.configGen
	t.resetLogged = t.status&StatusDeviceNeedsReset != 0
	if s.hasDevice {
		dd := snapshot.NewDecoder(s.device)
		if err := t.dev.(Stateful).RestoreState(dd); err != nil {
			return fmt.Errorf("device state: %w", err)
		}
		if err := dd.Finish("device"); err != nil {
			return err
		}
	}
	t.quiet = false
	t.irqLevel = t.intStatus != 0
	t.irq(t.irqLevel)
	return nil
}

// SaveChain writes c, a chain popped from q and not yet pushed, to e: its
// head and the guest address and length of each of its buffers. A device
// that holds chains across calls saves them this way in its SaveState.
func (q *Queue) SaveChain(e *snapshot.Encoder, c *Chain) {
	e.Uint16(c.Head)
	e.Count(len(c.Readable))
	e.Count(len(c.Writable))
	for i, b := range c.Readable {
		e.Uint64(c.addrs[i])
		e.Uint32(uint32(len(b)))
	}
	for i, b := range c.Writable {
		e.Uint64(c.addrs[len(c.Readable)+i])
		e.Uint32(uint32(len(b)))
	}
}

// RestoreChain reads a chain written by SaveChain into c, as Pop would
// have returned it, without reading the descriptor table again (the driver
// may legitimately have reused it). Every buffer must lie in guest memory
// and be non-empty; the number of buffers is bounded by what one chain of
// q can hold. It returns d's error.
func (q *Queue) RestoreChain(d *snapshot.Decoder, c *Chain) error {
	c.reset()
	limit := int(q.max) + MaxIndirect
	c.Head = d.Uint16("chain head")
	nr := d.Count("chain readable buffers", limit)
	nw := d.Count("chain writable buffers", limit)
	if d.Err() == nil && nr+nw > limit {
		d.Failf("chain buffers: %d exceed %d", nr+nw, limit)
	}
	for i := 0; i < nr+nw && d.Err() == nil; i++ {
		addr := d.Uint64("chain buffer address")
		n := d.Uint32("chain buffer length")
		if d.Err() != nil {
			break
		}
		if n == 0 {
			d.Failf("chain buffer %d: empty", i)
			break
		}
		b, ok := q.t.mem.Slice(addr, uint64(n))
		if !ok {
			d.Failf("chain buffer %d: [%#x, +%d) outside RAM", i, addr, n)
			break
		}
		c.addrs = append(c.addrs, addr)
		if i < nr {
			c.Readable = append(c.Readable, b)
			c.ReadableLen += uint64(n)
		} else {
			c.Writable = append(c.Writable, b)
			c.WritableLen += uint64(n)
		}
	}
	if err := d.Err(); err != nil {
		c.reset()
		return err
	}
	return nil
}
