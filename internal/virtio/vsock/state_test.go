package vsock

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/virtio"
)

// stateBuf is the connection buffer of the devices the state tests build.
const stateBuf = 4096

// hostH is the host-initiated connection the state scenarios open (guest
// port 7); the guest-initiated one is ConnID 1 (guest port 40000 to host
// port 9).
const hostH = AcceptedConn | 1

func saveState(t *virtio.Transport) []byte {
	var e snapshot.Encoder
	t.SaveState(&e)
	return e.Bytes()
}

func restoreState(t *virtio.Transport, b []byte) error {
	d := snapshot.NewDecoder(b)
	if err := t.RestoreState(d); err != nil {
		return err
	}
	return d.Finish("transport")
}

func devState(d *Device) []byte {
	var e snapshot.Encoder
	d.SaveState(&e)
	return e.Bytes()
}

// withDevice returns the transport state ts (of a device whose own state
// is old) with the device state dev instead.
func withDevice(ts, old, dev []byte) []byte {
	s := slices.Clone(ts[:len(ts)-len(old)-4])
	s = append(s, byte(len(dev)), byte(len(dev)>>8), byte(len(dev)>>16), byte(len(dev)>>24))
	return append(s, dev...)
}

// srig is a guest whose vsock device has a scripted host: the host events
// come from the test, and the host calls are logged.
type srig struct {
	g   *guest
	h   *scriptHost
	irq func() bool
}

func newSrig(t testing.TB, memSize, nrx int) *srig {
	h := &scriptHost{wake: make(chan struct{})}
	g := newGuestWith(t, Config{Host: h, ConnBuffer: stateBuf}, memSize, nrx)
	drv := g.drv
	return &srig{g: g, h: h, irq: func() bool { return drv.IRQ }}
}

// poll hands the device one batch of host events (none if evs is empty) and
// lets the guest handle what the device sent.
func (r *srig) poll(evs ...HostEvent) {
	if len(evs) > 0 {
		r.h.batches = append(r.h.batches, evs)
	}
	r.g.dev.Poll()
	r.g.process()
}

// openBoth opens a host-initiated connection (hostH, guest port 7) and a
// guest-initiated one (ConnID 1, guest port 40000 to host port 9), and
// leaves 3000 guest bytes on the second, 1000 of them written by the host.
func openBoth(r *srig) {
	g := r.g
	g.bufAlloc = 3000
	g.autoCredit = false
	g.listen[7] = true
	g.listen[8] = true
	r.poll(HostEvent{Kind: HostAccept, Conn: hostH, Port: 7})
	d := g.connect(40000, 9)
	r.poll(HostEvent{Kind: HostDialed, Conn: 1})
	if !d.established || g.findConn(7) == nil {
		g.t.Fatal("connections not established")
	}
	g.write(d, pattern(3000, 2))
	r.poll(HostEvent{Kind: HostWrote, Conn: 1, Written: 1000})
}

// heldScenario leaves the device holding a receive buffer, with host data
// waiting for guest credit.
func heldScenario(r *srig) {
	openBoth(r)
	r.poll(HostEvent{Kind: HostData, Conn: hostH, Data: pattern(5000, 1)})
	g := r.g
	g.consume(g.findConn(7), 1000) // credit for part of what waits
	g.process()
}

// starvedScenario leaves the device without receive buffers: resets owed
// for stray packets, connections in every state queued to send (and two
// dropped while queued), host data waiting.
func starvedScenario(r *srig) {
	openBoth(r)
	g := r.g
	g.noRepost = true
	r.poll(HostEvent{Kind: HostData, Conn: hostH, Data: pattern(5000, 1)})
	for i := range 12 {
		g.send(Header{DstCID: 7, SrcPort: 100 + uint32(i), DstPort: 200, Op: OpRequest}, nil)
	}
	g.process()
	g.send(g.hdr(g.conns[[2]uint32{40000, 9}], OpCreditRequest), nil)
	r.poll(HostEvent{Kind: HostAccept, Conn: AcceptedConn | 2, Port: 8})
	g.connect(40001, 10)
	g.send(Header{SrcPort: 40000, DstPort: 9, Op: OpRst}, nil)
	g.send(Header{SrcPort: 8, DstPort: firstHostPort + 1, Op: OpRst}, nil)
	r.poll(HostEvent{Kind: HostData, Conn: hostH, Data: pattern(100, 5)})
	r.poll(HostEvent{Kind: HostAccept, Conn: AcceptedConn | 3, Port: 8})
}

// driveAfter is what the guest and the host do after the checkpoint.
func driveAfter(r *srig) {
	g := r.g
	g.noRepost = false
	g.repost()
	g.process()
	r.poll(HostEvent{Kind: HostData, Conn: hostH, Data: pattern(700, 3)},
		HostEvent{Kind: HostDialed, Conn: 2},
		HostEvent{Kind: HostWrote, Conn: 1, Written: 3000})
	if c := g.findConn(7); c != nil {
		g.consume(c, c.recv.Len())
		g.process()
	}
	for range 3 {
		r.poll()
	}
	if c := g.conns[[2]uint32{40000, 9}]; c != nil && !c.reset {
		g.write(c, pattern(600, 4))
		g.process()
	}
	if c := g.conns[[2]uint32{40001, 10}]; c != nil && c.established {
		g.write(c, []byte("late"))
		g.process()
	}
	r.poll(HostEvent{Kind: HostEOF, Conn: hostH})
	if c := g.findConn(7); c != nil {
		g.consume(c, c.recv.Len())
		g.process()
		g.send(Header{SrcPort: c.local, DstPort: c.remote, Op: OpShutdown, Flags: ShutdownRcv | ShutdownSend, BufAlloc: c.bufAlloc, FwdCnt: c.fwdCnt}, nil)
		g.process()
	}
	r.poll(HostEvent{Kind: HostAccept, Conn: AcceptedConn | 9, Port: 8})
	g.connect(40002, 11)
	if c := g.dev.conns[connKey{40002, 11}]; c != nil {
		r.poll(HostEvent{Kind: HostDialed, Conn: c.id})
	}
	if c := g.conns[[2]uint32{40002, 11}]; c != nil && c.established {
		g.write(c, []byte("new"))
		g.send(g.hdr(c, OpRst), nil)
	}
	for range 3 {
		r.poll()
	}
}

// guestView summarizes what the guest's sockets received.
func guestView(g *guest) string {
	var keys [][2]uint32
	for k := range g.conns {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]uint32) int { return cmpKey(connKey{a[0], a[1]}, connKey{b[0], b[1]}) })
	var b strings.Builder
	for _, k := range keys {
		c := g.conns[k]
		fmt.Fprintf(&b, "%v est=%v rst=%v shut=%d recv=%d fwd=%d data=%x\n", k, c.established, c.reset, c.peerShutdown, c.received, c.fwdCnt, c.recv.Bytes())
	}
	return b.String()
}

// TestStateRoundTrip checkpoints a device in the middle of traffic both
// ways, keeps driving it, restores the checkpoint into a fresh device and
// transport and into the original itself, and checks that both then
// behave exactly like a twin that never stopped: same packets, same guest
// memory (buffers and used rings), same interrupt line, same host calls.
func TestStateRoundTrip(t *testing.T) {
	for _, sc := range []struct {
		name   string
		nrx    int
		before func(*srig)
		// check checks what the scenario left in a device, the original
		// or one restored.
		check func(t *testing.T, d *Device, restored bool)
	}{
		{
			name: "held receive buffer, data waiting for credit", nrx: 32, before: heldScenario,
			check: func(t *testing.T, d *Device, restored bool) {
				h, g := d.byHost[hostH], d.byHost[1]
				if !d.haveRx || len(d.conns) != 2 || h == nil || g == nil {
					t.Fatalf("device holds buffer %v, %d connections", d.haveRx, len(d.conns))
				}
				if h.toGuestBytes == 0 || h.peerCredit() != 0 || h.txCnt == 0 || g.rxCnt == g.fwdCnt || g.fwdCnt == 0 {
					t.Fatalf("connections %+v, %+v", *h, *g)
				}
			},
		},
		{
			name: "receive ring starved", nrx: 8, before: starvedScenario,
			check: func(t *testing.T, d *Device, restored bool) {
				states := map[connState]int{}
				for _, c := range d.conns {
					states[c.state]++
				}
				var ready []string
				for _, c := range d.ready {
					if c.dead {
						ready = append(ready, "dropped")
					} else {
						ready = append(ready, fmt.Sprint(c.key))
					}
				}
				if d.haveRx || len(d.control) == 0 || len(states) != 3 || d.byHost[hostH].toGuestBytes == 0 {
					t.Fatalf("device holds buffer %v, %d resets owed, states %v", d.haveRx, len(d.control), states)
				}
				// The original has two dropped connections queued in a
				// row; the state keeps one, which acts the same.
				if s := strings.Join(ready, " "); strings.Contains(s, "dropped dropped") == restored || !strings.Contains(s, "dropped") {
					t.Fatalf("ready %v", ready)
				}
			},
		},
	} {
		t.Run(sc.name, func(t *testing.T) {
			ref, twin, orig, fresh := newSrig(t, 8<<20, sc.nrx), newSrig(t, 8<<20, sc.nrx), newSrig(t, 8<<20, sc.nrx), newSrig(t, 8<<20, sc.nrx)
			for _, r := range []*srig{ref, twin, orig, fresh} {
				sc.before(r)
			}
			sc.check(t, orig.g.dev, false)
			state := saveState(orig.g.drv.T)
			for _, r := range []*srig{ref, twin, fresh} {
				if !bytes.Equal(saveState(r.g.drv.T), state) {
					t.Fatal("twins saved different states")
				}
			}
			refCalls, refPackets := len(ref.h.calls), len(ref.g.packets)

			// A device and transport built the same way, over the guest
			// memory of the checkpoint.
			fh := &scriptHost{wake: make(chan struct{})}
			fdev, err := New(Config{Host: fh, ConnBuffer: stateBuf, Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { fdev.Close() })
			mem := bytes.Clone(fresh.g.mem.Bytes)
			drv := fresh.g.drv
			drv.IRQ = false
			drv.T = virtio.NewTransport(fdev, fresh.g.mem, func(level bool) { drv.IRQ = level })
			drv.T.SetLogger(quiet())
			fresh.g.dev, fresh.h = fdev, fh
			if err := restoreState(drv.T, state); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(fresh.g.mem.Bytes, mem) || fresh.irq() != ref.irq() {
				t.Fatal("restore changed guest memory or left the irq line wrong")
			}
			if !bytes.Equal(saveState(drv.T), state) {
				t.Error("restored device saves a different state")
			}
			if len(fh.calls) != 0 {
				t.Errorf("restore called the host: %q", fh.calls)
			}
			sc.check(t, fdev, true)

			// The original keeps going, then returns to the checkpoint with
			// its memory (as the machine restores RAM) and the twin's guest
			// side, which stopped there.
			driveAfter(orig)
			if bytes.Equal(saveState(orig.g.drv.T), state) {
				t.Fatal("driving did not change the original")
			}
			origCalls := len(orig.h.calls)
			copy(orig.g.mem.Bytes, twin.g.mem.Bytes)
			if err := restoreState(orig.g.drv.T, state); err != nil {
				t.Fatal(err)
			}
			if len(orig.h.calls) != origCalls {
				t.Errorf("restore called the host: %q", orig.h.calls[origCalls:])
			}
			if !bytes.Equal(saveState(orig.g.drv.T), state) || orig.irq() != ref.irq() {
				t.Error("the restored original saves a different state or has another irq level")
			}
			tg := twin.g
			tg.dev, tg.drv.T, tg.drv.Mem, tg.mem = orig.g.dev, orig.g.drv.T, orig.g.mem, orig.g.mem
			twin.h, twin.irq = orig.h, orig.irq
			for _, r := range []*srig{ref, fresh, twin} {
				driveAfter(r)
			}
			want := guestView(ref.g)
			for i, r := range []*srig{fresh, twin} {
				name := []string{"fresh device", "restored original"}[i]
				if !slices.Equal(r.g.packets, ref.g.packets) {
					t.Errorf("%s: the guest received other packets", name)
				}
				if got := guestView(r.g); got != want {
					t.Errorf("%s: guest sockets\n%s\nwant\n%s", name, got, want)
				}
				if !bytes.Equal(r.g.mem.Bytes, ref.g.mem.Bytes) {
					t.Errorf("%s: guest memory (buffers, used rings) differs", name)
				}
				if r.irq() != ref.irq() || r.g.drv.T.InterruptStatus() != ref.g.drv.T.InterruptStatus() {
					t.Errorf("%s: irq %v, want %v", name, r.irq(), ref.irq())
				}
				if !bytes.Equal(saveState(r.g.drv.T), saveState(ref.g.drv.T)) {
					t.Errorf("%s: states differ after driving", name)
				}
			}
			if want := ref.h.calls[refCalls:]; !slices.Equal(fh.calls, want) || !slices.Equal(orig.h.calls[origCalls:], want) {
				t.Errorf("host calls after the checkpoint:\n%q\n%q\nwant\n%q", fh.calls, orig.h.calls[origCalls:], want)
			}
			if len(ref.h.calls) == refCalls || len(ref.g.packets) < refPackets+3 {
				t.Errorf("driving after the checkpoint did little: %d host calls, %d packets", len(ref.h.calls)-refCalls, len(ref.g.packets)-refPackets)
			}
		})
	}
}
