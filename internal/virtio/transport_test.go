package virtio_test

import (
	"testing"

	"github.com/juicevm/juice/internal/virtio"
)

const allFeatures = ^uint64(0)

func TestIdentityRegisters(t *testing.T) {
	d, _ := newDriver(8)
	for _, c := range []struct {
		off  uint64
		want uint32
	}{
		{virtio.RegMagicValue, 0x74726976},
		{virtio.RegVersion, 2},
		{virtio.RegDeviceID, 42},
		{virtio.RegVendorID, virtio.VendorID},
		{virtio.RegStatus, 0},
		{virtio.RegInterruptStatus, 0},
		{virtio.RegSHMLenLow, 0xffffffff},
		{virtio.RegSHMLenHigh, 0xffffffff},
		{0x0f8, 0}, // reserved
	} {
		if got := d.Read32(c.off); got != c.want {
			t.Errorf("register %#x = %#x, want %#x", c.off, got, c.want)
		}
	}
}

func TestAccessRules(t *testing.T) {
	d, dev := newDriver(8)
	copy(dev.config[:], []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	// Control registers take aligned 32-bit accesses only.
	for _, a := range []struct {
		off  uint64
		size int
	}{{virtio.RegMagicValue, 1}, {virtio.RegMagicValue, 2}, {virtio.RegMagicValue, 8}, {2, 4}, {virtio.RegStatus + 1, 4}} {
		if _, ok := d.T.Load(a.off, a.size); ok {
			t.Errorf("load %#x size %d accepted", a.off, a.size)
		}
		if d.T.Store(a.off, a.size, 0) {
			t.Errorf("store %#x size %d accepted", a.off, a.size)
		}
	}
	// The configuration space takes 1, 2, 4 and 8 byte accesses, in the window.
	for _, c := range []struct {
		off  uint64
		size int
		want uint64
	}{
		{0x100, 1, 0x01}, {0x101, 2, 0x0302}, {0x100, 4, 0x04030201}, {0x100, 8, 0x0807060504030201},
		{0x10b, 1, 12}, {0x1f8, 8, 0}, {0x1ff, 1, 0},
	} {
		got, ok := d.T.Load(c.off, c.size)
		if !ok || got != c.want {
			t.Errorf("config load %#x size %d = %#x %v, want %#x", c.off, c.size, got, ok, c.want)
		}
	}
	for _, a := range []struct {
		off  uint64
		size int
	}{{0x1fe, 4}, {0x200, 1}, {0x100, 3}, {0x1000, 4}} {
		if _, ok := d.T.Load(a.off, a.size); ok {
			t.Errorf("load %#x size %d accepted", a.off, a.size)
		}
	}
	if !d.T.Store(0x102, 2, 0xbeef) || dev.config[2] != 0xef || dev.config[3] != 0xbe {
		t.Errorf("config store: % x", dev.config[:4])
	}
}

func TestFeatureWindows(t *testing.T) {
	d, _ := newDriver(8)
	d.Write32(virtio.RegDeviceFeaturesSel, 0)
	lo := d.Read32(virtio.RegDeviceFeatures)
	d.Write32(virtio.RegDeviceFeaturesSel, 1)
	hi := d.Read32(virtio.RegDeviceFeatures)
	d.Write32(virtio.RegDeviceFeaturesSel, 2)
	beyond := d.Read32(virtio.RegDeviceFeatures)
	want := uint64(1<<3) | virtio.FRingIndirectDesc | virtio.FRingEventIdx | virtio.FVersion1
	if got := uint64(hi)<<32 | uint64(lo); got != want || beyond != 0 {
		t.Errorf("device features %#x (window 2: %#x), want %#x", got, beyond, want)
	}
}

func TestFeatureNegotiation(t *testing.T) {
	d, dev := newDriver(8)
	// Only offered features, including VERSION_1, are accepted.
	if err := d.Init(allFeatures, 8); err != nil {
		t.Fatal(err)
	}
	if dev.features != d.DeviceFeatures() || d.T.Features() != dev.features {
		t.Errorf("negotiated %#x, device saw %#x, offered %#x", d.T.Features(), dev.features, d.DeviceFeatures())
	}
	if err := d.Init(allFeatures&^virtio.FVersion1, 8); err == nil {
		t.Error("driver without VERSION_1 accepted")
	}
	// Features the device did not offer.
	d.Write32(virtio.RegStatus, 0)
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver)
	d.Write32(virtio.RegDriverFeaturesSel, 1)
	d.Write32(virtio.RegDriverFeatures, 1|1<<7)
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK)
	if d.Read32(virtio.RegStatus)&virtio.StatusFeaturesOK != 0 {
		t.Error("unoffered feature accepted")
	}
	// Driver features are frozen once FEATURES_OK is accepted.
	if err := d.Init(virtio.FVersion1, 8); err != nil {
		t.Fatal(err)
	}
	d.Write32(virtio.RegDriverFeaturesSel, 0)
	d.Write32(virtio.RegDriverFeatures, 0xffffffff)
	if d.T.Features() != virtio.FVersion1 {
		t.Errorf("features changed after FEATURES_OK: %#x", d.T.Features())
	}
}

func TestQueueSetupAndReset(t *testing.T) {
	d, dev := newDriver(8, 4)
	d.Write32(virtio.RegQueueSel, 1)
	if got := d.Read32(virtio.RegQueueNumMax); got != 4 {
		t.Errorf("QueueNumMax(1) = %d", got)
	}
	d.Write32(virtio.RegQueueSel, 2)
	if got := d.Read32(virtio.RegQueueNumMax); got != 0 {
		t.Errorf("QueueNumMax(2) = %d", got)
	}
	d.Write32(virtio.RegQueueReady, 1) // no such queue: ignored
	if err := d.Init(allFeatures, 8); err != nil {
		t.Fatal(err)
	}
	if len(d.Queues) != 2 || d.Queues[0].Size != 8 || d.Queues[1].Size != 4 {
		t.Fatalf("queues %+v", d.Queues)
	}
	d.Write32(virtio.RegQueueSel, 0)
	if d.Read32(virtio.RegQueueReady) != 1 {
		t.Error("queue 0 not ready")
	}
	// Queue registers are frozen while the queue is ready.
	q0 := d.T.Queue(0)
	d.Write32(virtio.RegQueueNum, 2)
	d.Write32(virtio.RegQueueDescLow, 0x1234)
	if q0.Size() != 8 {
		t.Errorf("size changed while ready: %d", q0.Size())
	}
	// Requests work.
	buf := d.Alloc(16, 8)
	d.Queues[0].Add(virtiotestBuf(buf, 16, true))
	d.Queues[0].Kick()
	if _, n, ok := d.Queues[0].Get(); !ok || n != 16 {
		t.Fatalf("used: %d %v", n, ok)
	}
	if !d.IRQ || d.Read32(virtio.RegInterruptStatus) != virtio.IntUsedBuffer {
		t.Fatalf("irq %v status %#x", d.IRQ, d.Read32(virtio.RegInterruptStatus))
	}
	// Writing 0 to status resets everything.
	d.Write32(virtio.RegStatus, 0)
	if dev.resets == 0 || d.IRQ || d.Read32(virtio.RegInterruptStatus) != 0 || d.Read32(virtio.RegStatus) != 0 {
		t.Errorf("after reset: resets %d irq %v int %#x status %#x", dev.resets, d.IRQ,
			d.Read32(virtio.RegInterruptStatus), d.Read32(virtio.RegStatus))
	}
	for i := range 2 {
		d.Write32(virtio.RegQueueSel, uint32(i))
		if d.Read32(virtio.RegQueueReady) != 0 {
			t.Errorf("queue %d still ready after reset", i)
		}
	}
	if d.T.Features() != 0 {
		t.Errorf("features survive reset: %#x", d.T.Features())
	}
	// Kicks before DRIVER_OK are ignored.
	n := len(dev.chains)
	d.Write32(virtio.RegQueueNotify, 0)
	if len(dev.chains) != n {
		t.Error("kick before DRIVER_OK processed")
	}
	// And the device comes back after a fresh initialization.
	if err := d.Init(allFeatures, 8); err != nil {
		t.Fatal(err)
	}
	d.Queues[0].Add(virtiotestBuf(buf, 16, true))
	d.Queues[0].Kick()
	if _, _, ok := d.Queues[0].Get(); !ok {
		t.Fatal("no completion after re-initialization")
	}
}

func TestInterruptAck(t *testing.T) {
	d, dev := newDriver(8)
	if err := d.Init(allFeatures, 8); err != nil {
		t.Fatal(err)
	}
	dev.host.ConfigChanged()
	d.Queues[0].Add(virtiotestBuf(d.Alloc(8, 8), 8, true))
	d.Queues[0].Kick()
	if got := d.Read32(virtio.RegInterruptStatus); got != 3 || !d.IRQ {
		t.Fatalf("status %#x irq %v", got, d.IRQ)
	}
	d.Write32(virtio.RegInterruptACK, 1)
	if got := d.Read32(virtio.RegInterruptStatus); got != 2 || !d.IRQ {
		t.Fatalf("after ack 1: status %#x irq %v", got, d.IRQ)
	}
	d.Write32(virtio.RegInterruptACK, 2)
	if d.IRQ {
		t.Fatal("irq still high")
	}
	if d.Raised != 1 {
		t.Errorf("line raised %d times", d.Raised)
	}
}

func TestConfigGeneration(t *testing.T) {
	d, dev := newDriver(8)
	g0 := d.Read32(virtio.RegConfigGeneration)
	dev.host.ConfigChanged() // before DRIVER_OK: no interrupt
	if d.Read32(virtio.RegConfigGeneration) == g0 || d.IRQ {
		t.Errorf("generation %d -> %d, irq %v", g0, d.Read32(virtio.RegConfigGeneration), d.IRQ)
	}
	if err := d.Init(allFeatures, 8); err != nil {
		t.Fatal(err)
	}
	g1 := d.Read32(virtio.RegConfigGeneration)
	dev.host.ConfigChanged()
	if d.Read32(virtio.RegConfigGeneration) == g1 || !d.IRQ || d.Read32(virtio.RegInterruptStatus) != virtio.IntConfigChange {
		t.Errorf("after change: irq %v status %#x", d.IRQ, d.Read32(virtio.RegInterruptStatus))
	}
}

func TestActivateFailure(t *testing.T) {
	d, dev := newDriver(8)
	dev.activateErr = errActivate
	if err := d.Init(allFeatures, 8); err == nil {
		t.Fatal("activation error not reported")
	}
	if !needsReset(d) || d.Read32(virtio.RegInterruptStatus)&virtio.IntConfigChange == 0 {
		t.Errorf("status %#x int %#x", d.Read32(virtio.RegStatus), d.Read32(virtio.RegInterruptStatus))
	}
	// DEVICE_NEEDS_RESET is sticky until a reset.
	d.Write32(virtio.RegStatus, 0xf)
	if !needsReset(d) {
		t.Error("NEEDS_RESET cleared by a status write")
	}
	dev.activateErr = nil
	if err := d.Init(allFeatures, 8); err != nil || needsReset(d) {
		t.Errorf("after reset: %v, status %#x", err, d.Read32(virtio.RegStatus))
	}
}

func TestDriverOKWithoutFeaturesOK(t *testing.T) {
	d, dev := newDriver(8)
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusDriverOK)
	if !needsReset(d) || dev.queues != nil {
		t.Errorf("status %#x, activated %v", d.Read32(virtio.RegStatus), dev.queues != nil)
	}
}
