package vsock

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/virtio"
	"github.com/juicevm/juice/internal/virtio/virtiotest"
)

// stateBuf is the connection buffer of the devices the state tests build.
const stateBuf = 4096

// hostH is the host-initiated connection the state scenarios open (guest
// port 7); the guest-initiated one is ConnID 1 (guest port 40000 to host
// port 9).
const hostH = AcceptedConn | 1

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
			state := virtiotest.SaveState(orig.g.drv.T)
			for _, r := range []*srig{ref, twin, fresh} {
				if !bytes.Equal(virtiotest.SaveState(r.g.drv.T), state) {
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
			if err := virtiotest.RestoreState(drv.T, state); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(fresh.g.mem.Bytes, mem) || fresh.irq() != ref.irq() {
				t.Fatal("restore changed guest memory or left the irq line wrong")
			}
			if !bytes.Equal(virtiotest.SaveState(drv.T), state) {
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
			if bytes.Equal(virtiotest.SaveState(orig.g.drv.T), state) {
				t.Fatal("driving did not change the original")
			}
			origCalls := len(orig.h.calls)
			copy(orig.g.mem.Bytes, twin.g.mem.Bytes)
			if err := virtiotest.RestoreState(orig.g.drv.T, state); err != nil {
				t.Fatal(err)
			}
			if len(orig.h.calls) != origCalls {
				t.Errorf("restore called the host: %q", orig.h.calls[origCalls:])
			}
			if !bytes.Equal(virtiotest.SaveState(orig.g.drv.T), state) || orig.irq() != ref.irq() {
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
				if !bytes.Equal(virtiotest.SaveState(r.g.drv.T), virtiotest.SaveState(ref.g.drv.T)) {
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

// TestResetAbortsHostSide checks that a reset by the driver still closes
// every connection's host side, before anything else the device tells
// its host, and that the next Poll does it at the latest.
func TestResetAbortsHostSide(t *testing.T) {
	r := newSrig(t, 8<<20, 32)
	heldScenario(r)
	before := len(r.h.calls)
	r.g.drv.Write32(virtio.RegStatus, 0)
	if len(r.g.dev.conns) != 0 || r.g.dev.haveRx {
		t.Fatal("connections survive a reset")
	}
	r.g.dev.Poll()
	got := slices.Clone(r.h.calls[before:])
	slices.Sort(got)
	if want := []string{"abort 1", fmt.Sprintf("abort %d", hostH)}; !slices.Equal(got, want) {
		t.Fatalf("host calls after a reset and a Poll: %q, want %q", got, want)
	}

	// Without a Poll, the aborts come before the next call.
	r = newSrig(t, 8<<20, 32)
	heldScenario(r)
	before = len(r.h.calls)
	r.g.drv.Write32(virtio.RegStatus, 0)
	if err := r.g.drv.Init(^uint64(0), 64); err != nil {
		t.Fatal(err)
	}
	r.g.connect(50000, 5)
	got = r.h.calls[before:]
	if len(got) != 3 || !strings.HasPrefix(got[0], "abort ") || !strings.HasPrefix(got[1], "abort ") || got[2] != "dial 2 5" {
		t.Fatalf("host calls after a reset and a connection: %q", got)
	}
}

// savedConn, savedChain and savedState build device states field by field,
// in SaveState's layout, for the tests of hostile states.
type savedConn struct {
	guestPort, hostPort uint32
	id                  ConnID
	state               uint8
	flags               uint16
	peerShutdown        uint32
	pending             []byte
	// tx_cnt, peer buf_alloc, peer fwd_cnt, rx_cnt, fwd_cnt, advertised fwd_cnt
	counts [6]uint32
}

type savedChain struct {
	head               uint16
	readable, writable []uint64 // addresses; each buffer is length bytes
	length             uint32
}

type savedState struct {
	version  uint32
	cid      uint64
	buf      uint32
	maxConns uint64
	nextPort uint32
	nextDial uint64
	conns    []savedConn
	ready    []uint32
	control  []Header
	held     *savedChain
}

func (s *savedState) encode() []byte {
	var e snapshot.Encoder
	e.Uint32(s.version)
	e.Uint64(s.cid)
	e.Uint32(s.buf)
	e.Uint64(s.maxConns)
	e.Uint32(s.nextPort)
	e.Uint64(s.nextDial)
	e.Count(len(s.conns))
	for _, c := range s.conns {
		e.Uint32(c.guestPort)
		e.Uint32(c.hostPort)
		e.Uint64(uint64(c.id))
		e.Uint8(c.state)
		e.Uint16(c.flags)
		e.Uint32(c.peerShutdown)
		e.Blob(c.pending)
		for _, n := range c.counts {
			e.Uint32(n)
		}
	}
	e.Count(len(s.ready))
	for _, i := range s.ready {
		e.Uint32(i)
	}
	e.Count(len(s.control))
	for _, h := range s.control {
		e.Uint64(h.SrcCID)
		e.Uint64(h.DstCID)
		e.Uint32(h.SrcPort)
		e.Uint32(h.DstPort)
		e.Uint32(h.Len)
		e.Uint16(h.Type)
		e.Uint16(h.Op)
		e.Uint32(h.Flags)
		e.Uint32(h.BufAlloc)
		e.Uint32(h.FwdCnt)
	}
	e.Bool(s.held != nil)
	if c := s.held; c != nil {
		e.Uint16(c.head)
		e.Count(len(c.readable))
		e.Count(len(c.writable))
		for _, a := range append(slices.Clone(c.readable), c.writable...) {
			e.Uint64(a)
			e.Uint32(c.length)
		}
	}
	return e.Bytes()
}

// goodState is a valid state for a device of newSrig, active, with the
// guest memory of newGuestWith (at 0x8000_0000).
func goodState() *savedState {
	return &savedState{
		version: stateVersion, cid: DefaultGuestCID, buf: stateBuf, maxConns: DefaultMaxConns,
		nextPort: firstHostPort + 1, nextDial: 1,
		conns: []savedConn{
			{guestPort: 7, hostPort: firstHostPort, id: hostH, state: uint8(stEstablished),
				flags: flagCreditRequested, pending: []byte("waiting"), counts: [6]uint32{3000, 3000, 0, 0, 0, 0}},
			{guestPort: 40000, hostPort: 9, id: 1, state: uint8(stEstablished),
				flags: flagHostEOF | flagSendCreditUpdate, peerShutdown: ShutdownSend, counts: [6]uint32{0, 3000, 0, 3000, 1000, 500}},
		},
		ready:   []uint32{1, droppedEntry, 0},
		control: []Header{{SrcCID: 2, DstCID: 3, SrcPort: 200, DstPort: 100, Type: TypeStream, Op: OpRst}},
		held:    &savedChain{head: 3, writable: []uint64{0x8001_0000}, length: HeaderSize + 100},
	}
}

func TestRestoreStateRejects(t *testing.T) {
	r := newSrig(t, 8<<20, 32)
	heldScenario(r)
	dev := r.g.dev
	ts, old := virtiotest.SaveState(r.g.drv.T), devState(dev)

	// The builder agrees with SaveState.
	x := newSrig(t, 8<<20, 32)
	good := goodState().encode()
	if err := virtiotest.RestoreState(x.g.drv.T, withDevice(ts, old, good)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(devState(x.g.dev), good) {
		t.Fatal("a restored state saves differently")
	}

	try := func(name string, b []byte, want string) {
		t.Helper()
		// Straight into a device that holds connections: it must not
		// change.
		d := snapshot.NewDecoder(b)
		err := dev.RestoreState(d)
		if err == nil {
			err = d.Finish("device")
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error about %q", name, err, want)
		}
		if !bytes.Equal(devState(dev), old) {
			t.Fatalf("%s: a failed restore changed the device", name)
		}
		// Through a transport: the device ends reset, without host calls.
		y := newSrig(t, 1<<20, 4)
		openBoth(y)
		calls := len(y.h.calls)
		if err := virtiotest.RestoreState(y.g.drv.T, withDevice(ts, old, b)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: through the transport: got %v, want an error about %q", name, err, want)
		}
		if len(y.g.dev.conns) != 0 || y.g.dev.haveRx || len(y.h.calls) != calls {
			t.Errorf("%s: after a failed restore: %d connections, held buffer %v, host calls %q", name, len(y.g.dev.conns), y.g.dev.haveRx, y.h.calls[calls:])
		}
	}
	for _, c := range []struct {
		name string
		mod  func(s *savedState)
		want string
	}{
		{"version", func(s *savedState) { s.version = 2 }, "version"},
		{"guest CID", func(s *savedState) { s.cid = 4 }, "guest CID"},
		{"buffer", func(s *savedState) { s.buf = 1 << 20 }, "connection buffer"},
		{"limit", func(s *savedState) { s.maxConns = 2 }, "connection limit"},
		{"next port", func(s *savedState) { s.nextPort = 80 }, "next host port"},
		{"dial ID", func(s *savedState) { s.nextDial = uint64(AcceptedConn | 3) }, "last dial ID"},
		{"too many connections", func(s *savedState) {
			for i := range DefaultMaxConns {
				s.conns = append(s.conns, savedConn{guestPort: 50000, hostPort: uint32(i), id: ConnID(10 + i), state: uint8(stEstablished)})
			}
			s.ready, s.control, s.held = nil, nil, nil
		}, "connections: count 258 exceeds 256"},
		{"order", func(s *savedState) { s.conns[0], s.conns[1] = s.conns[1], s.conns[0] }, "out of order"},
		{"same ports", func(s *savedState) { s.conns[1].guestPort, s.conns[1].hostPort = 7, firstHostPort }, "out of order or repeated"},
		{"same ID", func(s *savedState) { s.conns[1].id = hostH }, "repeated"},
		{"state 0", func(s *savedState) { s.conns[0].state = 0 }, "state 0"},
		{"state 4", func(s *savedState) { s.conns[0].state = 4 }, "state 4"},
		{"flags", func(s *savedState) { s.conns[0].flags |= 1 << 8 }, "flags"},
		{"ID 0", func(s *savedState) { s.conns[1].id = 0 }, "ID 0"},
		{"accepted low port", func(s *savedState) { s.conns[0].hostPort = 5 }, "host port 5"},
		{"connecting accepted", func(s *savedState) { s.conns[0].state, s.conns[0].pending = uint8(stConnecting), nil }, "connecting"},
		{"requesting dialed", func(s *savedState) { s.conns[1].state = uint8(stRequesting) }, "requesting"},
		{"request owed on dialed", func(s *savedState) { s.conns[1].flags |= flagSendRequest }, "request owed"},
		{"response owed on accepted", func(s *savedState) { s.conns[0].flags |= flagSendResponse }, "response owed"},
		{"graceful without reset", func(s *savedState) { s.conns[1].flags |= flagGracefulClose }, "graceful"},
		{"shutdown without EOF", func(s *savedState) { s.conns[0].flags |= flagShutdownSent }, "shutdown sent"},
		{"peer shutdown bits", func(s *savedState) { s.conns[1].peerShutdown = 4 }, "peer shutdown 0x4"},
		{"pending while requesting", func(s *savedState) { s.conns[0].state = uint8(stRequesting) }, "pending bytes"},
		{"pending after receive shutdown", func(s *savedState) { s.conns[0].peerShutdown = ShutdownRcv }, "pending bytes"},
		{"rx window", func(s *savedState) { s.conns[1].counts[3] = 1000 + stateBuf + 1 }, "apart"},
		{"ready index", func(s *savedState) { s.ready[0] = 2 }, "connection 2 of 2"},
		{"ready twice", func(s *savedState) { s.ready[2] = 1 }, "queued twice"},
		{"dropped twice in a row", func(s *savedState) { s.ready = []uint32{droppedEntry, droppedEntry} }, "in a row"},
		{"ready too long", func(s *savedState) { s.ready = []uint32{0, droppedEntry, 1, droppedEntry, 0, 1} }, "ready connections: count 6 exceeds 5"},
		{"control not a reset", func(s *savedState) { s.control[0].Op = OpRW }, "not a reset"},
		{"control with length", func(s *savedState) { s.control[0].Len = 5 }, "not a reset"},
		{"too many controls", func(s *savedState) { s.control = make([]Header, maxControl+1) }, "control packets: count 65"},
		{"held readable", func(s *savedState) { s.held.readable = []uint64{0x8002_0000} }, "readable"},
		{"held short", func(s *savedState) { s.held.length = HeaderSize - 1 }, "writable bytes"},
		{"held outside RAM", func(s *savedState) { s.held.writable[0] = 0x1000 }, "outside RAM"},
		{"held empty buffer", func(s *savedState) { s.held.length = 0 }, "empty"},
		{"held too many buffers", func(s *savedState) {
			s.held.writable = make([]uint64, QueueSize+virtio.MaxIndirect+1)
		}, "chain"},
	} {
		s := goodState()
		c.mod(s)
		try(c.name, s.encode(), c.want)
	}
	bad := slices.Clone(good)
	bad[len(bad)-23] = 2 // the held-buffer flag, before a chain of one buffer
	try("bad boolean", bad, "not a boolean")
	for n := range len(good) {
		try(fmt.Sprintf("cut at %d", n), good[:n], "truncated")
	}
	if err := virtiotest.RestoreState(x.g.drv.T, withDevice(ts, old, append(slices.Clone(good), 0))); err == nil || !strings.Contains(err.Error(), "left over") {
		t.Errorf("trailing bytes: %v", err)
	}

	// A device that is not active holds nothing.
	s := goodState()
	s.ready, s.control, s.held = nil, nil, nil
	inactive := s.encode()
	r.g.drv.Write32(virtio.RegStatus, 0)
	for name, b := range map[string][]byte{"connections": inactive, "held buffer": goodStateOnly(func(s *savedState) {
		s.conns, s.ready, s.control = nil, nil, nil
	})} {
		d := snapshot.NewDecoder(b)
		if err := dev.RestoreState(d); err == nil || !strings.Contains(err.Error(), "not active") {
			t.Errorf("inactive device took %s: %v", name, err)
		}
	}
	if err := dev.RestoreState(snapshot.NewDecoder(goodStateOnly(func(s *savedState) {
		s.conns, s.ready, s.control, s.held = nil, nil, nil, nil
	}))); err != nil {
		t.Errorf("inactive device refused an empty state: %v", err)
	}
}

func goodStateOnly(mod func(*savedState)) []byte {
	s := goodState()
	mod(s)
	return s.encode()
}
