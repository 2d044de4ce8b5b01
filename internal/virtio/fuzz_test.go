package virtio_test

import (
	"encoding/binary"
	"log/slog"
	"testing"

	"github.com/juicevm/juice/internal/virtio"
	"github.com/juicevm/juice/internal/virtio/virtiotest"
)

// Layout of the fuzzed guest: the fuzz input (after two control bytes) is
// the first bytes of a 4 KiB RAM at fuzzBase holding the descriptor table
// (up to 16 entries), the rings, indirect tables and buffers. Inputs stay
// small so the fuzzer's minimization is quick.
const (
	fuzzBase    = 0x10000
	fuzzRAM     = 0x1000
	fuzzDesc    = fuzzBase
	fuzzAvail   = fuzzBase + 0x100
	fuzzUsed    = fuzzBase + 0x140
	fuzzBufs    = fuzzBase + 0x200
	fuzzMaxSize = 16
)

// fuzzQueueRun sets up queue 0 over data and kicks it a few times. data[0]
// selects the features (bit 0 EVENT_IDX, bit 1 INDIRECT_DESC) and how far
// the avail index moves between kicks (bits 4-7); data[1] the queue size.
func fuzzQueueRun(t testing.TB, data []byte) {
	if len(data) < 2 {
		return
	}
	ctl, sz := data[0], data[1]
	mem := virtiotest.NewMemory(fuzzBase, fuzzRAM)
	copy(mem.Bytes, data[2:])
	dev := newEcho(fuzzMaxSize)
	dev.fill = 0x5a
	dev.noRecord = true
	d := virtiotest.NewDriver(dev, mem)
	d.T.SetLogger(slog.New(slog.DiscardHandler))
	f := uint64(virtio.FVersion1)
	if ctl&1 != 0 {
		f |= virtio.FRingEventIdx
	}
	if ctl&2 != 0 {
		f |= virtio.FRingIndirectDesc
	}
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver)
	d.Write32(virtio.RegDriverFeaturesSel, 0)
	d.Write32(virtio.RegDriverFeatures, uint32(f))
	d.Write32(virtio.RegDriverFeaturesSel, 1)
	d.Write32(virtio.RegDriverFeatures, uint32(f>>32))
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK)
	size := uint32(1) << (sz % 6) // 1..32: 32 is above the maximum
	if sz&0x80 != 0 {
		size = uint32(sz & 0x7f) // usually not a power of two
	}
	d.Write32(virtio.RegQueueNum, size)
	d.Write32(virtio.RegQueueDescLow, fuzzDesc)
	d.Write32(virtio.RegQueueDriverLow, fuzzAvail)
	d.Write32(virtio.RegQueueDeviceLow, fuzzUsed)
	d.Write32(virtio.RegQueueReady, 1)
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK|virtio.StatusDriverOK)
	for kick := 0; kick < 3; kick++ {
		if kick > 0 {
			idx := mem.At(fuzzAvail+2, 2)
			binary.LittleEndian.PutUint16(idx, binary.LittleEndian.Uint16(idx)+uint16(ctl>>4))
		}
		d.Write32(virtio.RegQueueNotify, 0)
	}
	st := d.Read32(virtio.RegStatus)
	if st&virtio.StatusDeviceNeedsReset != 0 && d.Read32(virtio.RegInterruptStatus)&virtio.IntConfigChange == 0 {
		t.Fatalf("DEVICE_NEEDS_RESET without a configuration interrupt")
	}
	if len(dev.chains) > 3*2*fuzzMaxSize {
		t.Fatalf("%d chains from 3 kicks", len(dev.chains))
	}
	for _, c := range dev.chains {
		if c.ReadableLen+c.WritableLen > fuzzRAM*uint64(size+virtio.MaxIndirect) {
			t.Fatalf("chain of %d bytes", c.ReadableLen+c.WritableLen)
		}
	}
	// Reset always brings the transport back to a clean state.
	d.Write32(virtio.RegStatus, 0)
	if d.Read32(virtio.RegStatus) != 0 || d.IRQ {
		t.Fatal("reset left state behind")
	}
}

// queueSeed builds a well-formed guest image for FuzzQueue: a chain of one
// readable and one writable buffer, an indirect chain, and the avail ring
// offering both.
func queueSeed(ctl byte) []byte {
	img := make([]byte, 0x260)
	desc := func(i int, addr uint64, n uint32, flags, next uint16) {
		virtiotest.WriteDesc(img[16*i:], addr, n, flags, next)
	}
	desc(0, fuzzBufs, 16, virtiotest.FNext, 1)
	desc(1, fuzzBufs+16, 16, virtiotest.FWrite, 0)
	desc(2, fuzzBufs+64, 32, virtiotest.FIndirect, 0)
	// The indirect table at fuzzBufs+64.
	virtiotest.WriteDesc(img[0x240:], fuzzBufs+32, 8, virtiotest.FNext, 1)
	virtiotest.WriteDesc(img[0x250:], fuzzBufs+40, 8, virtiotest.FWrite, 0)
	avail := img[fuzzAvail-fuzzBase:]
	binary.LittleEndian.PutUint16(avail[2:], 2)
	binary.LittleEndian.PutUint16(avail[4:], 0)
	binary.LittleEndian.PutUint16(avail[6:], 2)
	return append([]byte{ctl, 3}, img...)
}

func FuzzQueue(f *testing.F) {
	f.Add(queueSeed(0x03))
	f.Add(queueSeed(0x13))
	f.Add(queueSeed(0x01))
	f.Add(queueSeed(0x02))
	f.Add([]byte{0xff, 0x86})
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzQueueRun(t, data)
	})
}

func TestQueueSeedIsWellFormed(t *testing.T) {
	// The seed's two chains complete without DEVICE_NEEDS_RESET.
	data := queueSeed(0x03)
	mem := virtiotest.NewMemory(fuzzBase, fuzzRAM)
	copy(mem.Bytes, data[2:])
	dev := newEcho(fuzzMaxSize)
	d := virtiotest.NewDriver(dev, mem)
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver)
	d.Write32(virtio.RegDriverFeaturesSel, 1)
	d.Write32(virtio.RegDriverFeatures, 1)
	d.Write32(virtio.RegDriverFeaturesSel, 0)
	d.Write32(virtio.RegDriverFeatures, uint32(virtio.FRingEventIdx|virtio.FRingIndirectDesc))
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK)
	d.Write32(virtio.RegQueueNum, 8)
	d.Write32(virtio.RegQueueDescLow, fuzzDesc)
	d.Write32(virtio.RegQueueDriverLow, fuzzAvail)
	d.Write32(virtio.RegQueueDeviceLow, fuzzUsed)
	d.Write32(virtio.RegQueueReady, 1)
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK|virtio.StatusDriverOK)
	d.Write32(virtio.RegQueueNotify, 0)
	if needsReset(d) || len(dev.chains) != 2 {
		t.Fatalf("status %#x, %d chains", d.Read32(virtio.RegStatus), len(dev.chains))
	}
	if c := dev.chains[1]; c.ReadableLen != 8 || c.WritableLen != 8 {
		t.Errorf("indirect chain %+v", c)
	}
}
