package net

import (
	"bytes"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/virtio"
)

func TestConfigAndFeatures(t *testing.T) {
	r := newRig(t, newFake(), allFeatures)
	f := r.drv.T.Features()
	for _, bit := range []uint64{FMAC, FStatus, FMTU, FMrgRxBuf, virtio.FVersion1} {
		if f&bit == 0 {
			t.Errorf("feature %#x not negotiated (%#x)", bit, f)
		}
	}
	var mac [6]byte
	for i := range mac {
		v, _ := r.drv.T.Load(virtio.RegConfig+uint64(i), 1)
		mac[i] = byte(v)
	}
	if mac != DefaultMAC {
		t.Errorf("mac = % x, want % x", mac, DefaultMAC)
	}
	if v, _ := r.drv.T.Load(virtio.RegConfig+6, 2); v != StatusLinkUp {
		t.Errorf("status = %#x, want link up", v)
	}
	if v, _ := r.drv.T.Load(virtio.RegConfig+10, 2); v != DefaultMTU {
		t.Errorf("mtu = %d", v)
	}
	if r.drv.Read32(virtio.RegDeviceID) != virtio.IDNet {
		t.Error("wrong device ID")
	}
}

func TestTxReachesBackend(t *testing.T) {
	be := newFake()
	r := newRig(t, be, allFeatures)
	f1, f2 := testFrame(60, 1), testFrame(1514, 2)
	r.transmit(nil, f1, 1)
	r.transmit(nil, f2, 3)
	sent := be.sentFrames()
	if len(sent) != 2 || !bytes.Equal(sent[0], f1) || !bytes.Equal(sent[1], f2) {
		t.Fatalf("backend got %d frames", len(sent))
	}
	for i := 0; i < 2; i++ {
		if _, n, ok := r.txq().Get(); !ok || n != 0 {
			t.Fatalf("tx used element %d: ok %v len %d", i, ok, n)
		}
	}
	if r.drv.Ack()&virtio.IntUsedBuffer == 0 {
		t.Error("no used-buffer interrupt")
	}
	if st := r.dev.Stats(); st.TxFrames != 2 || st.TxDropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestRxFillsBuffers(t *testing.T) {
	be := newFake()
	r := newRig(t, be, allFeatures&^FMrgRxBuf)
	a1, a2 := r.postRx(1526), r.postRx(1526)
	f1, f2, f3 := testFrame(60, 3), testFrame(1514, 4), testFrame(100, 5)
	be.push(f1, f2, f3)
	if !waitWake(t, r.dev, time.Second) {
		t.Fatal("no wake-up for queued frames")
	}
	if !r.dev.Poll() {
		t.Fatal("Poll took nothing")
	}
	for i, want := range []struct {
		addr  uint64
		frame []byte
	}{{a1, f1}, {a2, f2}} {
		_, n, ok := r.rxq().Get()
		if !ok || n != uint32(HeaderSize+len(want.frame)) {
			t.Fatalf("rx %d: ok %v len %d", i, ok, n)
		}
		b := r.mem.At(want.addr, uint64(n))
		if numBuffers(b) != 1 || !bytes.Equal(b[HeaderSize:], want.frame) {
			t.Fatalf("rx %d: bad contents (num_buffers %d)", i, numBuffers(b))
		}
	}
	if _, _, ok := r.rxq().Get(); ok {
		t.Fatal("third frame delivered without a buffer")
	}
	if r.drv.Ack()&virtio.IntUsedBuffer == 0 {
		t.Error("no used-buffer interrupt")
	}
	// Drain any stale wake-up, then post a buffer: the device asks for a Poll.
	select {
	case <-r.dev.Wake():
	default:
	}
	a3 := r.postRx(1526)
	r.rxq().Kick()
	if !waitWake(t, r.dev, time.Second) {
		t.Fatal("no wake-up after posting buffers to a starved device")
	}
	r.dev.Poll()
	_, n, ok := r.rxq().Get()
	if !ok || !bytes.Equal(r.mem.At(a3, uint64(n))[HeaderSize:], f3) {
		t.Fatalf("third frame: ok %v len %d", ok, n)
	}
	if st := r.dev.Stats(); st.RxFrames != 3 || st.RxDropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestRxMergeable(t *testing.T) {
	be := newFake()
	r := newRig(t, be, allFeatures)
	var addrs []uint64
	for i := 0; i < 2; i++ {
		addrs = append(addrs, r.postRx(1000))
	}
	f := testFrame(2500, 6)
	be.push(f)
	// Two buffers are not enough: the frame is held, nothing is used.
	if !r.dev.Poll() {
		t.Fatal("Poll took nothing")
	}
	if _, _, ok := r.rxq().Get(); ok {
		t.Fatal("partial frame delivered")
	}
	addrs = append(addrs, r.postRx(1000))
	r.rxq().Kick() // the held frame completes inside Notify
	var got []byte
	for i, want := range []uint32{1000, 1000, 512} {
		_, n, ok := r.rxq().Get()
		if !ok || n != want {
			t.Fatalf("buffer %d: ok %v len %d, want %d", i, ok, n, want)
		}
		b := r.mem.At(addrs[i], uint64(n))
		if i == 0 {
			if numBuffers(b) != 3 {
				t.Fatalf("num_buffers = %d, want 3", numBuffers(b))
			}
			b = b[HeaderSize:]
		}
		got = append(got, b...)
	}
	if !bytes.Equal(got, f) {
		t.Fatal("merged frame differs")
	}
}

func TestRxOversizedAndRunt(t *testing.T) {
	be := newFake()
	r := newRig(t, be, allFeatures&^FMrgRxBuf)
	a := r.postRx(100)
	small := testFrame(50, 7)
	be.push(testFrame(200, 8), testFrame(10, 9), testFrame(MaxFrame+1, 1), small)
	r.dev.Poll()
	_, n, ok := r.rxq().Get()
	if !ok || !bytes.Equal(r.mem.At(a, uint64(n))[HeaderSize:], small) {
		t.Fatalf("small frame: ok %v len %d", ok, n)
	}
	if st := r.dev.Stats(); st.RxDropped != 3 || st.RxFrames != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestTxHostile(t *testing.T) {
	be := newFake()
	r := newRig(t, be, allFeatures)
	csum := make([]byte, HeaderSize)
	csum[0] = 1
	gso := make([]byte, HeaderSize)
	gso[1] = 1
	r.transmit(make([]byte, 5), nil, 1)          // no room for the header
	r.transmit(nil, testFrame(13, 1), 1)         // runt
	r.transmit(csum, testFrame(60, 1), 2)        // checksum offload not offered
	r.transmit(gso, testFrame(60, 1), 2)         // segmentation not offered
	r.transmit(nil, testFrame(MaxFrame+1, 1), 4) // too long
	r.transmit(nil, testFrame(MaxFrame, 1), 4)   // longest legal frame
	if st := r.dev.Stats(); st.TxDropped != 5 || st.TxFrames != 1 {
		t.Fatalf("stats %+v", st)
	}
	if r.needsReset() {
		t.Fatal("dropped frames set DEVICE_NEEDS_RESET")
	}
	// A device-writable descriptor in a transmit chain breaks the rules.
	wb := r.drv.Alloc(100, 8)
	r.txq().Add(buf(r.drv.Put(make([]byte, HeaderSize+60)), HeaderSize+60, false),
		buf(wb, 100, true))
	r.txq().Kick()
	if !r.needsReset() {
		t.Fatal("writable transmit descriptor did not set DEVICE_NEEDS_RESET")
	}
}

func TestRxReadableBufferNeedsReset(t *testing.T) {
	be := newFake()
	r := newRig(t, be, allFeatures)
	r.rxq().Add(buf(r.drv.Alloc(64, 8), 64, false))
	be.push(testFrame(60, 1))
	r.dev.Poll()
	if !r.needsReset() {
		t.Fatal("readable receive buffer did not set DEVICE_NEEDS_RESET")
	}
	// Reset and start again: the device works.
	if err := r.drv.Init(allFeatures, 64); err != nil {
		t.Fatal(err)
	}
	// The frame stayed in the backend (no buffer was ever usable for it).
	a := r.postRx(1526)
	r.dev.Poll()
	if _, n, ok := r.rxq().Get(); !ok || n != HeaderSize+60 || !bytes.Equal(r.mem.At(a, 72)[HeaderSize:], testFrame(60, 1)) {
		t.Fatalf("after reset: ok %v len %d", ok, n)
	}
}
