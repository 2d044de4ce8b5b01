package net

import (
	"bytes"
	"strings"
	"testing"

	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/virtio"
	"github.com/juicevm/juice/internal/virtio/virtiotest"
)

// fresh puts a new device with a new backend behind a new transport for
// r's driver, as a machine rebuilt from its configuration has.
func (r *rig) fresh() (*Device, *fakeBackend) {
	be := newFake()
	dev := New(be, Config{Logger: quiet()})
	r.t.Cleanup(func() { dev.Close() })
	drv := r.drv
	drv.IRQ = false
	drv.T = virtio.NewTransport(dev, r.mem, func(level bool) { drv.IRQ = level })
	drv.T.SetLogger(quiet())
	r.dev = dev
	return dev, be
}

// TestStateRoundTrip checkpoints devices holding receive buffers (and, with
// mergeable buffers, a frame waiting for more of them), restores them into
// fresh devices and drives original and copy identically.
func TestStateRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name string
		mask uint64
		// before leaves receive buffers popped (and maybe a frame
		// held): held and rxChains say what the device must hold.
		before   func(r *rig, be *fakeBackend)
		held     bool
		rxChains int
	}{
		{
			name: "mergeable, frame waiting for buffers",
			mask: allFeatures,
			before: func(r *rig, be *fakeBackend) {
				r.transmit(nil, testFrame(60, 9), 2)
				r.postRx(1000)
				be.push(testFrame(1500, 1))
				r.dev.Poll()
				r.postRx(256) // published, not kicked
			},
			held: true, rxChains: 1,
		},
		{
			name: "single buffers, popped while the backend was empty",
			mask: allFeatures &^ FMrgRxBuf,
			before: func(r *rig, be *fakeBackend) {
				r.postRx(1526)
				r.postRx(1526)
				be.push(testFrame(100, 2))
				r.dev.Poll() // fills the first, pops the second
			},
			rxChains: 1,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			abe, bbe := newFake(), newFake()
			a, b := newRig(t, abe, c.mask), newRig(t, bbe, c.mask)
			c.before(a, abe)
			c.before(b, bbe)
			if (a.dev.held != nil) != c.held || len(a.dev.rxChains) != c.rxChains {
				t.Fatalf("device holds frame %v, %d chains", a.dev.held != nil, len(a.dev.rxChains))
			}
			state := virtiotest.SaveState(a.drv.T)
			mem := append([]byte(nil), b.mem.Bytes...)
			dev, be := b.fresh()
			if err := virtiotest.RestoreState(b.drv.T, state); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.mem.Bytes, mem) || b.drv.IRQ != a.drv.IRQ {
				t.Fatal("restore changed guest memory or left the irq line wrong")
			}
			if !bytes.Equal(virtiotest.SaveState(b.drv.T), state) {
				t.Error("restored device saves a different state")
			}
			if (dev.held != nil) != c.held || len(dev.rxChains) != c.rxChains {
				t.Fatalf("restored device holds frame %v, %d chains", dev.held != nil, len(dev.rxChains))
			}
			for i, x := range []*rig{a, b} {
				xbe := []*fakeBackend{abe, be}[i]
				x.drv.Ack()
				x.rxq().Kick() // finds the buffer published before the checkpoint
				x.postRx(2000)
				x.postRx(2000)
				xbe.push(testFrame(300, 3), testFrame(1400, 4))
				x.dev.Poll()
				x.transmit(nil, testFrame(80, 5), 1)
				for _, q := range x.drv.Queues {
					for {
						if _, _, ok := q.Get(); !ok {
							break
						}
					}
				}
			}
			if !bytes.Equal(a.mem.Bytes, b.mem.Bytes) || a.drv.IRQ != b.drv.IRQ {
				t.Error("guest memory or irq line differ after the restore")
			}
			if !bytes.Equal(virtiotest.SaveState(a.drv.T), virtiotest.SaveState(b.drv.T)) {
				t.Error("states differ after driving")
			}
			if sa, sb := abe.sentFrames(), be.sentFrames(); len(sb) != 1 || !bytes.Equal(sa[len(sa)-1], sb[0]) {
				t.Errorf("transmitted after the restore: %d frames", len(sb))
			}
			if a.dev.Stats().RxFrames < 2 || dev.Stats().RxFrames < 2 {
				t.Errorf("stats %+v and %+v", a.dev.Stats(), dev.Stats())
			}
		})
	}
}

func TestRestoreStateRejects(t *testing.T) {
	be := newFake()
	r := newRig(t, be, allFeatures)
	r.postRx(1000)
	be.push(testFrame(1500, 1))
	r.dev.Poll()
	good := virtiotest.SaveState(r.drv.T)
	devState := func(s []byte) []byte { // the device's part: after the blob length
		var e snapshot.Encoder
		r.dev.SaveState(&e)
		return s[len(s)-len(e.Bytes()):]
	}(good)
	try := func(name string, dev []byte, want string) {
		t.Helper()
		s := append(append([]byte(nil), good[:len(good)-len(devState)-4]...), 0, 0, 0, 0)
		s[len(s)-4] = byte(len(dev))
		s[len(s)-3] = byte(len(dev) >> 8)
		s[len(s)-2] = byte(len(dev) >> 16)
		s = append(s, dev...)
		x := newRig(t, newFake(), allFeatures)
		err := virtiotest.RestoreState(x.drv.T, s)
		if want == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error about %q", name, err, want)
		}
	}
	try("unchanged", devState, "") // the splicing itself is sound
	var e snapshot.Encoder
	e.Bool(false)
	e.Bool(true)
	e.Blob(make([]byte, 10))
	try("runt held frame", e.Bytes(), "held frame")
	e = snapshot.Encoder{}
	e.Bool(false)
	e.Bool(false)
	e.Count(QueueSize + 1)
	try("too many chains", e.Bytes(), "receive chains")
	e = snapshot.Encoder{}
	e.Bool(false)
	e.Bool(false)
	e.Count(1)
	e.Uint16(0)
	e.Count(1) // a readable buffer
	e.Count(0)
	e.Uint64(0x8000_0000)
	e.Uint32(100)
	try("readable receive chain", e.Bytes(), "readable")
	e = snapshot.Encoder{}
	e.Bool(false)
	e.Bool(false)
	e.Count(1)
	e.Uint16(0)
	e.Count(0)
	e.Count(1)
	e.Uint64(0x1000)
	e.Uint32(100)
	try("buffer outside RAM", e.Bytes(), "outside RAM")
	// The device state of an inactive device holds nothing.
	fresh := newRig(t, newFake(), allFeatures)
	fresh.drv.Write32(virtio.RegStatus, 0)
	var dec = snapshot.NewDecoder(devState)
	if err := fresh.dev.RestoreState(dec); err == nil || !strings.Contains(err.Error(), "not active") {
		t.Errorf("inactive device took chains: %v", err)
	}
}
