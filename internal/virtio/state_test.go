package virtio_test

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/virtio"
	"github.com/juicevm/juice/internal/virtio/virtiotest"
)

// holder is an echo device with state of its own: chains kicked on queue
// 1 are held until a second one arrives, then both are completed (the
// later first) with a running count written into them.
type holder struct {
	*echo
	held  []*virtio.Chain
	count uint32
}

func newHolder() *holder {
	h := &holder{echo: newEcho(8, 4)}
	h.noRecord = true
	return h
}

func (h *holder) Reset() { h.echo.Reset(); h.held = nil }

func (h *holder) Notify(i int) {
	if i == 0 {
		h.echo.Notify(0)
		return
	}
	q := h.queues[1]
	for {
		c := new(virtio.Chain)
		if !q.Pop(c) {
			break
		}
		h.held = append(h.held, c)
		if len(h.held) == 2 {
			for j := len(h.held) - 1; j >= 0; j-- {
				h.count++
				var b [4]byte
				binary.LittleEndian.PutUint32(b[:], h.count)
				q.Push(h.held[j], uint32(h.held[j].WriteAt(b[:], 0)))
			}
			h.held = h.held[:0]
		}
	}
	q.Signal()
}

func (h *holder) SaveState(e *snapshot.Encoder) {
	e.Uint32(h.count)
	e.Blob(h.config[:])
	e.Count(len(h.held))
	for _, c := range h.held {
		h.queues[1].SaveChain(e, c)
	}
}

func (h *holder) RestoreState(d *snapshot.Decoder) error {
	h.count = d.Uint32("count")
	if cfg := d.Blob("config", len(h.config)); d.Err() == nil && len(cfg) != len(h.config) {
		d.Failf("config: %d bytes", len(cfg))
	} else {
		copy(h.config[:], cfg)
	}
	n := d.Count("held chains", 1)
	if n > 0 && h.queues == nil {
		d.Failf("held chains without queues")
	}
	h.held = nil
	for i := 0; i < n && d.Err() == nil; i++ {
		c := new(virtio.Chain)
		if h.queues[1].RestoreChain(d, c) == nil {
			h.held = append(h.held, c)
		}
	}
	return d.Err()
}

// newHolderDriver is a holder behind a driver with 64 KiB of RAM.
func newHolderDriver() (*virtiotest.Driver, *holder) {
	h := newHolder()
	d := virtiotest.NewDriver(h, virtiotest.NewMemory(ramBase, 64<<10))
	d.T.SetLogger(slog.New(slog.DiscardHandler))
	return d, h
}

// rebind puts a fresh holder behind a fresh transport for d, as a machine
// rebuilt from its configuration has.
func rebind(d *virtiotest.Driver) *holder {
	h := newHolder()
	d.T = virtio.NewTransport(h, d.Mem, func(level bool) {
		if level && !d.IRQ {
			d.Raised++
		}
		d.IRQ = level
	})
	d.T.SetLogger(slog.New(slog.DiscardHandler))
	return h
}

// observe reads what a driver can see: every register (through each queue
// select), the configuration space, the interrupt line (irq) and guest
// memory.
// It writes QueueSel and DeviceFeaturesSel, identically on every driver.
func observe(d *virtiotest.Driver, irq bool) []byte {
	var out []byte
	add := func(v uint64) { out = binary.LittleEndian.AppendUint64(out, v) }
	for _, off := range []uint64{virtio.RegMagicValue, virtio.RegVersion, virtio.RegDeviceID, virtio.RegVendorID,
		virtio.RegInterruptStatus, virtio.RegStatus, virtio.RegConfigGeneration, virtio.RegSHMLenLow} {
		add(uint64(d.Read32(off)))
	}
	for off := uint64(virtio.RegConfig); off < virtio.RegConfig+16; off += 8 {
		v, _ := d.T.Load(off, 8)
		add(v)
	}
	for i := range 3 {
		d.Write32(virtio.RegQueueSel, uint32(i))
		add(uint64(d.Read32(virtio.RegQueueNumMax)))
		add(uint64(d.Read32(virtio.RegQueueReady)))
	}
	add(d.DeviceFeatures())
	add(d.T.Features())
	if irq {
		add(1)
	} else {
		add(0)
	}
	return append(out, d.Mem.Bytes...)
}

// A scenario drives a holder driver; the same steps on two drivers do the
// same things.
type scenario struct {
	name       string
	before     func(t testing.TB, d *virtiotest.Driver, h *holder)
	after      func(t testing.TB, d *virtiotest.Driver)
	wantIRQ    bool
	wantStatus uint32
}

func addHeld(d *virtiotest.Driver) {
	q := d.Queues[1]
	q.Add(virtiotestBuf(d.Alloc(4, 4), 4, true))
	q.Kick()
}

// drain consumes every used entry of every queue and acknowledges the
// interrupt.
func drain(d *virtiotest.Driver) {
	for _, q := range d.Queues {
		for {
			if _, _, ok := q.Get(); !ok {
				break
			}
		}
	}
	d.Ack()
}

var scenarios = []scenario{
	{
		name: "running with chains held and pending, interrupt raised",
		before: func(t testing.TB, d *virtiotest.Driver, h *holder) {
			if err := d.Init(allFeatures, 8); err != nil {
				t.Fatal(err)
			}
			copy(h.config[:], "holder config!!!")
			q := d.Queues[0]
			q.Add(virtiotestBuf(d.Put([]byte("abc")), 3, false), virtiotestBuf(d.Alloc(8, 8), 8, true))
			q.Kick()
			addHeld(d)
			// Published, not kicked: the restored device finds it on the
			// next kick.
			q.AddIndirect(virtiotestBuf(d.Alloc(16, 8), 16, true))
			h.host.ConfigChanged()
			d.Write32(virtio.RegDeviceFeaturesSel, 1)
			d.Write32(virtio.RegDriverFeaturesSel, 1)
		},
		after: func(t testing.TB, d *virtiotest.Driver) {
			d.Queues[0].Kick()
			addHeld(d)
			drain(d)
			addHeld(d)
			d.Queues[0].Add(virtiotestBuf(d.Alloc(8, 8), 8, true))
			d.Queues[0].Kick()
		},
		wantIRQ:    true,
		wantStatus: 0xf,
	},
	{
		name: "without event index or indirect descriptors, notifications off",
		before: func(t testing.TB, d *virtiotest.Driver, h *holder) {
			if err := d.Init(virtio.FVersion1, 4); err != nil {
				t.Fatal(err)
			}
			d.Queues[0].SetAvailFlags(1)
			addHeld(d)
			d.Queues[0].Add(virtiotestBuf(d.Alloc(8, 8), 8, true))
			d.Queues[0].Kick()
		},
		after: func(t testing.TB, d *virtiotest.Driver) {
			d.Queues[0].Add(virtiotestBuf(d.Alloc(8, 8), 8, true))
			d.Queues[0].Kick()
			d.Queues[0].SetAvailFlags(0)
			addHeld(d)
		},
		wantStatus: 0xf,
	},
	{
		name: "device needs reset",
		before: func(t testing.TB, d *virtiotest.Driver, h *holder) {
			if err := d.Init(allFeatures, 8); err != nil {
				t.Fatal(err)
			}
			addHeld(d)
			q := d.Queues[0]
			q.SetDesc(0, ramBase, 16, virtiotest.FNext, 0) // a loop
			q.Publish(0)
			q.Kick()
		},
		after: func(t testing.TB, d *virtiotest.Driver) {
			d.Queues[0].Kick()
			drain(d)
			if err := d.Init(allFeatures, 8); err != nil {
				t.Fatal(err)
			}
			addHeld(d)
			addHeld(d)
		},
		wantIRQ:    true,
		wantStatus: 0xf | virtio.StatusDeviceNeedsReset,
	},
	{
		name: "halfway through initialization",
		before: func(t testing.TB, d *virtiotest.Driver, h *holder) {
			d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver)
			d.Write32(virtio.RegDriverFeaturesSel, 1)
			d.Write32(virtio.RegDriverFeatures, 1)
			d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK)
			d.Write32(virtio.RegQueueSel, 1)
			d.Write32(virtio.RegQueueNum, 2)
			d.Write32(virtio.RegQueueDescLow, ramBase+0x1000)
		},
		after: func(t testing.TB, d *virtiotest.Driver) {
			d.Write32(virtio.RegQueueSel, 1)
			d.Write32(virtio.RegQueueDriverLow, ramBase+0x2000)
			d.Write32(virtio.RegQueueDeviceLow, ramBase+0x3000)
			d.Write32(virtio.RegQueueReady, 1)
			d.Write32(virtio.RegStatus, 0xf)
			d.Write32(virtio.RegQueueNotify, 1)
		},
		wantStatus: 0xb,
	},
	{
		name: "driver cleared DRIVER_OK after activation",
		before: func(t testing.TB, d *virtiotest.Driver, h *holder) {
			if err := d.Init(allFeatures, 8); err != nil {
				t.Fatal(err)
			}
			addHeld(d)
			d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK)
		},
		after: func(t testing.TB, d *virtiotest.Driver) {
			addHeld(d) // ignored: not running
			d.Write32(virtio.RegStatus, 0xf)
			d.Queues[1].Kick()
		},
		wantStatus: 0xb,
	},
}

// TestStateRoundTrip saves a transport mid-activity and restores the
// state into a fresh transport and device, and into a transport that went
// on past the checkpoint (a rewind), then drives the original and the
// copies identically: everything the driver sees must stay the same.
func TestStateRoundTrip(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			// a is the original; b and c repeat its steps so that their
			// driver-side bookkeeping matches a's at the checkpoint.
			a, ah := newHolderDriver()
			b, bh := newHolderDriver()
			c, ch := newHolderDriver()
			sc.before(t, a, ah)
			sc.before(t, b, bh)
			sc.before(t, c, ch)
			if got := a.Read32(virtio.RegStatus); got != sc.wantStatus || a.IRQ != sc.wantIRQ {
				t.Fatalf("scenario reached status %#x irq %v, want %#x %v", got, a.IRQ, sc.wantStatus, sc.wantIRQ)
			}
			state := virtiotest.SaveState(a.T)
			mem := append([]byte(nil), a.Mem.Bytes...)

			// b: a fresh transport and device.
			b.IRQ = false // the restore must raise it again
			rebind(b)
			if err := virtiotest.RestoreState(b.T, state); err != nil {
				t.Fatal(err)
			}
			if b.IRQ != a.IRQ {
				t.Errorf("restored irq line %v, want %v", b.IRQ, a.IRQ)
			}
			if !bytes.Equal(b.Mem.Bytes, mem) {
				t.Error("restoring changed guest memory")
			}
			if again := virtiotest.SaveState(b.T); !bytes.Equal(again, state) {
				t.Error("the restored transport saves a different state")
			}

			// c: the transport and device of x, which went on past the
			// checkpoint, rewound (x's memory too) and driven by c.
			x, xh := newHolderDriver()
			sc.before(t, x, xh)
			sc.after(t, x)
			c.T, c.Mem = x.T, x.Mem
			copy(c.Mem.Bytes, mem)
			if err := virtiotest.RestoreState(c.T, state); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(virtiotest.SaveState(c.T), state) {
				t.Error("the rewound transport saves a different state")
			}
			if x.IRQ != a.IRQ {
				t.Errorf("rewound irq line %v, want %v", x.IRQ, a.IRQ)
			}

			check := func(when string) {
				t.Helper()
				want := observe(a, a.IRQ)
				if !bytes.Equal(observe(b, b.IRQ), want) {
					t.Fatalf("restored transport differs %s", when)
				}
				if !bytes.Equal(observe(c, x.IRQ), want) {
					t.Fatalf("rewound transport differs %s", when)
				}
			}
			check("right after the restore")
			sc.after(t, a)
			sc.after(t, b)
			sc.after(t, c)
			check("after driving")
			if !bytes.Equal(virtiotest.SaveState(b.T), virtiotest.SaveState(a.T)) || !bytes.Equal(virtiotest.SaveState(c.T), virtiotest.SaveState(a.T)) {
				t.Error("states differ after driving")
			}
		})
	}
}

// corrupt returns a copy of b with the 32-bit value at offset off set to v.
func corrupt(b []byte, off int, v uint32) []byte {
	c := append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(c[off:], v)
	return c
}

func TestRestoreStateRejects(t *testing.T) {
	a, ah := newHolderDriver()
	scenarios[0].before(t, a, ah)
	good := virtiotest.SaveState(a.T)
	// Offsets of the fixed header: version 0, type 4, device features 8,
	// queue count 16, maxima 20 and 22, driver features 24, features 32,
	// selectors 40..55, status 56, interrupt status 60, generation 64,
	// activated 68, activation features 69, queue 0 at 77.
	const q0 = 77
	for _, c := range []struct {
		name  string
		state []byte
		want  string
	}{
		{"empty", nil, "version: truncated"},
		{"version", corrupt(good, 0, 2), "version"},
		{"device type", corrupt(good, 4, 2), "device type"},
		{"queue count", corrupt(good, 16, 3), "queue count"},
		{"status", corrupt(good, 56, 0x100), "status"},
		{"feature mismatch", corrupt(good, 24, 0), "FEATURES_OK"},
		{"interrupt status", corrupt(good, 60, 4), "interrupt status"},
		{"activated flag", append(append(append([]byte(nil), good[:68]...), 2), good[69:]...), "activated"},
		{"queue size", append(append(append([]byte(nil), good[:q0]...), 3, 0), good[q0+2:]...), "queue 0"},
		{"ring outside RAM", corrupt(good, q0+2+4, 0xffff), "queue 0"},
		{"truncated device state", good[:len(good)-1], "device state"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, _ := newHolderDriver()
			before := virtiotest.SaveState(b.T)
			err := virtiotest.RestoreState(b.T, c.state)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error about %q", err, c.want)
			}
			if !bytes.Equal(virtiotest.SaveState(b.T), before) {
				t.Error("a rejected state changed the transport")
			}
		})
	}
	// A device state the device rejects resets the transport.
	b, _ := newHolderDriver()
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 0xff // the held chain's last buffer length
	if err := virtiotest.RestoreState(b.T, bad); err == nil {
		t.Fatal("bad chain accepted")
	}
	if b.Read32(virtio.RegStatus) != 0 || b.IRQ {
		t.Error("failed device restore left the transport running")
	}
	// A device without state refuses a state that has one, and the reverse.
	e, _ := newDriver(8, 4)
	if err := virtiotest.RestoreState(e.T, good); err == nil || !strings.Contains(err.Error(), "device state") {
		t.Errorf("echo accepted a holder's state: %v", err)
	}
	if err := virtiotest.RestoreState(b.T, virtiotest.SaveState(e.T)); err == nil || !strings.Contains(err.Error(), "device state") {
		t.Errorf("holder accepted an echo's state: %v", err)
	}
	// The error is also the decoder's.
	dec := snapshot.NewDecoder(corrupt(good, 0, 9))
	if err := b.T.RestoreState(dec); err == nil || dec.Err() == nil {
		t.Error("decoder error not set")
	}
}

// TestRestoreStateGarbage restores every prefix and many corruptions of a
// real state: errors, never panics, and an accepted state saves back as
// itself.
func TestRestoreStateGarbage(t *testing.T) {
	var seeds [][]byte
	for _, sc := range scenarios {
		d, h := newHolderDriver()
		sc.before(t, d, h)
		seeds = append(seeds, virtiotest.SaveState(d.T))
	}
	for _, s := range seeds {
		for n := range len(s) {
			b, _ := newHolderDriver()
			if virtiotest.RestoreState(b.T, s[:n]) == nil {
				t.Fatalf("prefix of %d bytes accepted", n)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		s := append([]byte(nil), seeds[r.IntN(len(seeds))]...)
		for range 1 + r.IntN(3) {
			s[r.IntN(len(s))] = byte(r.Uint32())
		}
		restoreAndDrive(t, s)
	}
	for range 200 {
		s := make([]byte, r.IntN(200))
		for i := range s {
			s[i] = byte(r.Uint32())
		}
		restoreAndDrive(t, s)
	}
}

// restoreAndDrive restores data into a fresh holder transport; if it is
// accepted, the state must save back as itself and the transport must
// survive a driver poking at it.
func restoreAndDrive(t testing.TB, data []byte) {
	d, _ := newHolderDriver()
	if err := virtiotest.RestoreState(d.T, data); err != nil {
		return
	}
	if !bytes.Equal(virtiotest.SaveState(d.T), data) {
		t.Fatal("accepted state saves back differently")
	}
	if d.IRQ != (d.Read32(virtio.RegInterruptStatus) != 0) {
		t.Fatal("irq line does not follow the interrupt status")
	}
	for i := range 3 {
		d.Write32(virtio.RegQueueNotify, uint32(i))
	}
	observe(d, d.IRQ)
	d.Ack()
	d.Write32(virtio.RegStatus, 0)
	if d.Read32(virtio.RegStatus) != 0 || d.IRQ {
		t.Fatal("reset left state behind")
	}
	if err := d.Init(allFeatures, 8); err != nil {
		t.Fatal(err)
	}
	addHeld(d)
	addHeld(d)
	if _, _, ok := d.Queues[1].Get(); !ok {
		t.Fatal("no completion after re-initialization")
	}
}

func FuzzRestoreState(f *testing.F) {
	for _, sc := range scenarios {
		d, h := newHolderDriver()
		sc.before(f, d, h)
		f.Add(virtiotest.SaveState(d.T))
	}
	fresh, _ := newHolderDriver()
	f.Add(virtiotest.SaveState(fresh.T))
	f.Fuzz(func(t *testing.T, data []byte) {
		restoreAndDrive(t, data)
	})
}

// sliceLog is guest memory that records the addresses handed out.
type sliceLog struct {
	*virtiotest.Memory
	addrs map[uint64]int
}

func (m *sliceLog) Slice(addr, n uint64) ([]byte, bool) {
	m.addrs[addr]++
	return m.Memory.Slice(addr, n)
}

// TestPushHandsOutWritableBuffers: a chain held across calls is written
// when it is pushed; Push hands its writable buffers out again so that a
// Memory tracking written pages sees them then.
func TestPushHandsOutWritableBuffers(t *testing.T) {
	d, _ := newHolderDriver()
	log := &sliceLog{Memory: d.Mem, addrs: map[uint64]int{}}
	d.T = virtio.NewTransport(newHolder(), log, func(level bool) { d.IRQ = level })
	if err := d.Init(allFeatures, 8); err != nil {
		t.Fatal(err)
	}
	first := d.Alloc(4, 4)
	d.Queues[1].Add(virtiotestBuf(first, 4, true))
	d.Queues[1].Kick() // held
	popped := log.addrs[first]
	addHeld(d) // completes both
	if log.addrs[first] != popped+1 {
		t.Errorf("held buffer handed out %d times at push, want once", log.addrs[first]-popped)
	}
}
