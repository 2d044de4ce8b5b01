package virtio

import (
	"encoding/binary"
	"fmt"
	"log/slog"
)

// virtio-mmio version 2 register offsets (virtio 1.x, section 4.2.2).
const (
	RegMagicValue        = 0x000
	RegVersion           = 0x004
	RegDeviceID          = 0x008
	RegVendorID          = 0x00c
	RegDeviceFeatures    = 0x010
	RegDeviceFeaturesSel = 0x014
	RegDriverFeatures    = 0x020
	RegDriverFeaturesSel = 0x024
	RegQueueSel          = 0x030
	RegQueueNumMax       = 0x034
	RegQueueNum          = 0x038
	RegQueueReady        = 0x044
	RegQueueNotify       = 0x050
	RegInterruptStatus   = 0x060
	RegInterruptACK      = 0x064
	RegStatus            = 0x070
	RegQueueDescLow      = 0x080
	RegQueueDescHigh     = 0x084
	RegQueueDriverLow    = 0x090
	RegQueueDriverHigh   = 0x094
	RegQueueDeviceLow    = 0x0a0
	RegQueueDeviceHigh   = 0x0a4
	RegSHMSel            = 0x0ac
	RegSHMLenLow         = 0x0b0
	RegSHMLenHigh        = 0x0b4
	RegSHMBaseLow        = 0x0b8
	RegSHMBaseHigh       = 0x0bc
	RegQueueReset        = 0x0c0
	RegConfigGeneration  = 0x0fc
	RegConfig            = 0x100

	// WindowSize is the size of a transport's MMIO window.
	WindowSize = 0x200

	// MagicValue is "virt" in little-endian.
	MagicValue = 0x74726976
	// MMIOVersion is the virtio-mmio version the transport implements.
	MMIOVersion = 2
	// VendorID is Juice's virtio vendor ID ("JUIC").
	VendorID = 0x4a554943
)

// transportFeatures are the feature bits the transport (through Queue)
// implements for every device.
const transportFeatures = FVersion1 | FRingIndirectDesc | FRingEventIdx

// Transport is one virtio-mmio (version 2) slot: the register file a driver
// programs, the device's queues, and its interrupt line.
type Transport struct {
	dev    Device
	mem    Memory
	irq    func(level bool)
	log    *slog.Logger
	queues []*Queue

	devFeatures uint64 // offered: device bits plus transportFeatures
	drvFeatures uint64 // written by the driver
	features    uint64 // negotiated, fixed once FEATURES_OK is accepted
	devFeatSel  uint32
	drvFeatSel  uint32
	queueSel    uint32
	shmSel      uint32
	status      uint32
	intStatus   uint32
	irqLevel    bool
	configGen   uint32
	resetLogged bool // this reset cycle's DEVICE_NEEDS_RESET was logged
	logged      int  // driver errors logged over the transport's life
	configBuf   [8]byte

	// activated: Activate succeeded since the last reset, with actFeatures.
	activated   bool
	actFeatures uint64
	// quiet holds the queues and host callbacks still while RestoreState
	// re-activates the device.
	quiet bool
}

// NewTransport puts dev behind a virtio-mmio slot. mem is guest memory as
// the device sees it and irq drives the slot's (level-triggered) interrupt
// line: high while the interrupt status is non-zero. If dev implements
// Attacher, NewTransport attaches it to the transport.
func NewTransport(dev Device, mem Memory, irq func(level bool)) *Transport {
	if irq == nil {
		irq = func(bool) {}
	}
	t := &Transport{dev: dev, mem: mem, irq: irq, log: slog.New(slog.DiscardHandler)}
	for i, max := range dev.QueueSizes() {
		t.queues = append(t.queues, newQueue(t, i, max))
	}
	t.devFeatures = dev.Features() | transportFeatures
	if a, ok := dev.(Attacher); ok {
		a.Attach(t)
	}
	return t
}

// SetLogger sets the logger for driver errors; nil (the default)
// discards them.
func (t *Transport) SetLogger(l *slog.Logger) {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	t.log = l
}

// Device returns the device behind the transport.
func (t *Transport) Device() Device { return t.dev }

// Status returns the device status register.
func (t *Transport) Status() uint32 { return t.status }

// InterruptStatus returns the interrupt status register.
func (t *Transport) InterruptStatus() uint32 { return t.intStatus }

// Features returns the negotiated features (zero before FEATURES_OK).
func (t *Transport) Features() uint64 { return t.features }

// Queue returns queue i, or nil.
func (t *Transport) Queue(i int) *Queue {
	if i < 0 || i >= len(t.queues) {
		return nil
	}
	return t.queues[i]
}

// Reset resets the device and the transport as a driver write of 0 to the
// status register does; the board calls it on a system reset.
func (t *Transport) Reset() {
	t.dev.Reset()
	for _, q := range t.queues {
		q.reset()
	}
	t.drvFeatures, t.features = 0, 0
	t.devFeatSel, t.drvFeatSel, t.queueSel, t.shmSel = 0, 0, 0, 0
	t.status = 0
	t.intStatus = 0
	t.resetLogged = false
	t.activated, t.actFeatures = false, 0
	t.updateIRQ()
}

// ConfigChanged implements Host.
func (t *Transport) ConfigChanged() {
	if t.quiet {
		return
	}
	t.configGen++
	if t.status&StatusDriverOK != 0 {
		t.interrupt(IntConfigChange)
	}
}

// NeedsReset implements Host.
func (t *Transport) NeedsReset(err error) {
	if t.quiet || t.status&StatusDeviceNeedsReset != 0 {
		return
	}
	t.status |= StatusDeviceNeedsReset
	if !t.resetLogged {
		t.resetLogged = true
		t.warn("virtio: device needs reset", err)
	}
	if t.status&StatusDriverOK != 0 {
		t.interrupt(IntConfigChange)
	}
}

// maxLogged bounds the driver errors a transport logs, so that a guest
// breaking and resetting a device in a loop cannot flood the host's log.
const maxLogged = 16

func (t *Transport) warn(msg string, err error) {
	t.logged++
	switch {
	case t.logged < maxLogged:
		t.log.Warn(msg, "device", t.dev.Type(), "err", err)
	case t.logged == maxLogged:
		t.log.Warn(msg+" (further driver errors are not logged)", "device", t.dev.Type(), "err", err)
	}
}

func (t *Transport) interrupt(bits uint32) {
	t.intStatus |= bits
	t.updateIRQ()
}

func (t *Transport) updateIRQ() {
	level := t.intStatus != 0
	if level != t.irqLevel {
		t.irqLevel = level
		t.irq(level)
	}
}

func (t *Transport) selected() *Queue {
	if int(t.queueSel) < len(t.queues) {
		return t.queues[t.queueSel]
	}
	return nil
}

// Load is an MMIO read of size bytes at offset off in the window. Control
// registers take aligned 32-bit reads; the configuration space takes 1-,
// 2-, 4- and 8-byte reads. It returns false for any other access.
func (t *Transport) Load(off uint64, size int) (uint64, bool) {
	if off >= RegConfig {
		if !configAccess(off, size) {
			return 0, false
		}
		p := t.configBuf[:size]
		clear(p)
		t.dev.ReadConfig(off-RegConfig, p)
		return leUint(p), true
	}
	if size != 4 || off%4 != 0 {
		return 0, false
	}
	q := t.selected()
	switch off {
	case RegMagicValue:
		return MagicValue, true
	case RegVersion:
		return MMIOVersion, true
	case RegDeviceID:
		return uint64(t.dev.Type()), true
	case RegVendorID:
		return VendorID, true
	case RegDeviceFeatures:
		switch t.devFeatSel {
		case 0:
			return t.devFeatures & 0xffffffff, true
		case 1:
			return t.devFeatures >> 32, true
		}
		return 0, true
	case RegQueueNumMax:
		if q != nil {
			return uint64(q.max), true
		}
	case RegQueueReady:
		if q != nil && q.ready {
			return 1, true
		}
	case RegInterruptStatus:
		return uint64(t.intStatus), true
	case RegStatus:
		return uint64(t.status), true
	case RegSHMLenLow, RegSHMLenHigh, RegSHMBaseLow, RegSHMBaseHigh:
		return 0xffffffff, true // no shared memory regions
	case RegConfigGeneration:
		return uint64(t.configGen), true
	}
	return 0, true
}

// Store is an MMIO write of size bytes at offset off in the window, with
// the same access rules as Load.
func (t *Transport) Store(off uint64, size int, v uint64) bool {
	if off >= RegConfig {
		if !configAccess(off, size) {
			return false
		}
		p := t.configBuf[:size]
		for i := range p {
			p[i] = byte(v >> (8 * i))
		}
		t.dev.WriteConfig(off-RegConfig, p)
		return true
	}
	if size != 4 || off%4 != 0 {
		return false
	}
	w := uint32(v)
	q := t.selected()
	// Queue registers may change only while the queue is disabled.
	qw := q != nil && !q.ready
	switch off {
	case RegDeviceFeaturesSel:
		t.devFeatSel = w
	case RegDriverFeatures:
		if t.status&StatusFeaturesOK == 0 && t.drvFeatSel < 2 {
			shift := 32 * t.drvFeatSel
			t.drvFeatures = t.drvFeatures&^(0xffffffff<<shift) | uint64(w)<<shift
		}
	case RegDriverFeaturesSel:
		t.drvFeatSel = w
	case RegQueueSel:
		t.queueSel = w
	case RegQueueNum:
		if qw {
			q.size = uint16(w)
			if w > 0xffff {
				q.size = 0 // rejected when the queue is enabled
			}
		}
	case RegQueueReady:
		t.setQueueReady(q, w&1 != 0)
	case RegQueueNotify:
		if t.status&(StatusDriverOK|StatusDeviceNeedsReset) == StatusDriverOK &&
			int(w) < len(t.queues) && t.queues[w].ready {
			t.dev.Notify(int(w))
		}
	case RegInterruptACK:
		t.intStatus &^= w
		t.updateIRQ()
	case RegStatus:
		t.setStatus(w & 0xff)
	case RegQueueDescLow, RegQueueDescHigh:
		if qw {
			q.desc = setHalf(q.desc, off == RegQueueDescHigh, w)
		}
	case RegQueueDriverLow, RegQueueDriverHigh:
		if qw {
			q.avail = setHalf(q.avail, off == RegQueueDriverHigh, w)
		}
	case RegQueueDeviceLow, RegQueueDeviceHigh:
		if qw {
			q.used = setHalf(q.used, off == RegQueueDeviceHigh, w)
		}
	case RegSHMSel:
		t.shmSel = w
	}
	return true
}

func (t *Transport) setQueueReady(q *Queue, ready bool) {
	if q == nil || q.ready == ready {
		return
	}
	if !ready {
		q.ready = false
		return
	}
	if err := q.validate(); err != nil {
		t.NeedsReset(err)
		return
	}
	q.ready = true
	q.lastAvail, q.usedIdx, q.signalled, q.batch = 0, 0, 0, 0
	q.eventIdx = t.features&FRingEventIdx != 0
	q.indirectOK = t.features&FRingIndirectDesc != 0
}

func (t *Transport) setStatus(v uint32) {
	if v == 0 {
		t.Reset()
		return
	}
	old := t.status
	v |= old & StatusDeviceNeedsReset // only a reset clears it
	if v&StatusFeaturesOK != 0 && old&StatusFeaturesOK == 0 {
		if err := t.negotiate(); err != nil {
			t.warn("virtio: refusing driver features", err)
			v &^= StatusFeaturesOK
		}
	}
	t.status = v
	if v&StatusDriverOK != 0 && old&StatusDriverOK == 0 {
		if v&StatusDeviceNeedsReset != 0 {
			// The device broke during setup: tell the now-running driver.
			t.interrupt(IntConfigChange)
			return
		}
		if v&StatusFeaturesOK == 0 {
			t.NeedsReset(fmt.Errorf("%w: DRIVER_OK without FEATURES_OK", ErrFeatures))
			return
		}
		if err := t.dev.Activate(t.queues, t.features); err != nil {
			t.NeedsReset(fmt.Errorf("virtio: activating device %d: %w", t.dev.Type(), err))
			return
		}
		t.activated, t.actFeatures = true, t.features
	}
}

func (t *Transport) negotiate() error {
	if extra := t.drvFeatures &^ t.devFeatures; extra != 0 {
		return fmt.Errorf("%w: driver accepted unoffered features %#x", ErrFeatures, extra)
	}
	if t.drvFeatures&FVersion1 == 0 {
		return fmt.Errorf("%w: driver did not accept VIRTIO_F_VERSION_1", ErrFeatures)
	}
	t.features = t.drvFeatures
	for _, q := range t.queues {
		q.eventIdx = t.features&FRingEventIdx != 0
		q.indirectOK = t.features&FRingIndirectDesc != 0
	}
	return nil
}

func configAccess(off uint64, size int) bool {
	switch size {
	case 1, 2, 4, 8:
		return off+uint64(size) <= WindowSize
	}
	return false
}

func setHalf(reg uint64, high bool, w uint32) uint64 {
	if high {
		return reg&0xffffffff | uint64(w)<<32
	}
	return reg&^0xffffffff | uint64(w)
}

func leUint(p []byte) uint64 {
	var b [8]byte
	copy(b[:], p)
	return binary.LittleEndian.Uint64(b[:])
}
