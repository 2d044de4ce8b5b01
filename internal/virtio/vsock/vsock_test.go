package vsock

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func dialHost(t *testing.T, path string, port uint32) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := fmt.Fprintf(c, "CONNECT %d\n", port); err != nil {
		t.Fatal(err)
	}
	return c
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*13+i>>8)
	}
	return b
}

func TestConfig(t *testing.T) {
	g := newGuest(t, Config{GuestCID: 42})
	if v, _ := g.drv.T.Load(0x100, 8); v != 42 {
		t.Fatalf("guest_cid = %d", v)
	}
	if g.drv.Read32(0x008) != 19 {
		t.Fatal("device ID")
	}
	if _, err := New(Config{GuestCID: 2}); err == nil {
		t.Fatal("CID 2 accepted")
	}
}

func TestHostToGuest(t *testing.T) {
	path := testPath(t)
	g := newGuest(t, Config{UnixPath: path})
	g.listen[1234] = true
	host := dialHost(t, path, 1234)
	g.until("guest connection", func() bool { return g.findConn(1234) != nil })
	c := g.findConn(1234)
	// The device answers OK <hostport> once the guest accepted.
	host.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(host)
	var line string
	done := make(chan error, 1)
	go func() {
		var err error
		line, err = r.ReadString('\n')
		done <- err
	}()
	g.until("OK line", func() bool {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return true
		default:
			return false
		}
	})
	if want := fmt.Sprintf("OK %d\n", c.remote); line != want {
		t.Fatalf("host got %q, want %q", line, want)
	}

	// Host to guest, 1 MiB with credit updates.
	big := pattern(1<<20, 1)
	go host.Write(big)
	g.until("host data", func() bool { return c.recv.Len() >= len(big) })
	if !bytes.Equal(c.recv.Next(len(big)), big) {
		t.Fatal("host to guest data differs")
	}

	// Guest to host, 1 MiB within the device's credit.
	big2 := pattern(1<<20, 2)
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, len(big2))
		_, err := io.ReadFull(r, b)
		if err != nil {
			b = nil
		}
		got <- b
	}()
	for off := 0; off < len(big2); {
		n := g.write(c, big2[off:])
		off += n
		if n == 0 {
			g.step()
		}
	}
	var b []byte
	g.until("guest data at the host", func() bool {
		select {
		case b = <-got:
			return true
		default:
			return false
		}
	})
	if sha256.Sum256(b) != sha256.Sum256(big2) {
		t.Fatal("guest to host data differs")
	}

	// The host closes: the guest sees SHUTDOWN(SEND); the guest closes and
	// the device answers RST.
	host.Close()
	g.until("shutdown", func() bool { return c.peerShutdown&ShutdownSend != 0 })
	g.send(Header{SrcPort: c.local, DstPort: c.remote, Op: OpShutdown, Flags: ShutdownRcv | ShutdownSend, BufAlloc: c.bufAlloc, FwdCnt: c.fwdCnt}, nil)
	g.until("reset after close", func() bool { return c.reset })
	if len(g.dev.conns) != 0 {
		t.Fatalf("%d connections left", len(g.dev.conns))
	}
}

func TestGuestToHost(t *testing.T) {
	path := testPath(t)
	ln, err := net.Listen("unix", path+"_5000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	g := newGuest(t, Config{UnixPath: path})
	c := g.connect(40000, 5000)
	g.until("response", func() bool { return c.established || c.reset })
	if c.reset {
		t.Fatal("connection refused")
	}
	hc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	hc.SetDeadline(time.Now().Add(5 * time.Second))
	g.write(c, []byte("hello host"))
	buf := make([]byte, 10)
	readDone := make(chan error, 1)
	go func() { _, err := io.ReadFull(hc, buf); readDone <- err }()
	g.until("host read", func() bool {
		select {
		case err := <-readDone:
			if err != nil {
				t.Fatal(err)
			}
			return true
		default:
			return false
		}
	})
	if string(buf) != "hello host" {
		t.Fatalf("host read %q", buf)
	}
	hc.Write([]byte("hello guest"))
	g.until("guest read", func() bool { return c.recv.Len() >= 11 })
	if s := c.recv.String(); s != "hello guest" {
		t.Fatalf("guest read %q", s)
	}
	// The guest resets: the host sees EOF.
	g.send(Header{SrcPort: c.local, DstPort: c.remote, Op: OpRst}, nil)
	if n, err := hc.Read(buf); err != io.EOF {
		t.Fatalf("host read after RST: %d, %v", n, err)
	}
}

func TestRstOnClosedPort(t *testing.T) {
	path := testPath(t)
	g := newGuest(t, Config{UnixPath: path})
	c := g.connect(40001, 5001) // nothing listens on path_5001
	g.until("reset", func() bool { return c.reset })
	if c.established {
		t.Fatal("connection established")
	}
	// A host connection to a guest port nobody listens on: the guest
	// resets and the host socket is closed.
	host := dialHost(t, path, 999)
	host.SetDeadline(time.Now().Add(5 * time.Second))
	done := make(chan error, 1)
	go func() { _, err := host.Read(make([]byte, 10)); done <- err }()
	g.until("host socket closed", func() bool {
		select {
		case err := <-done:
			if err != io.EOF {
				t.Fatalf("host read: %v", err)
			}
			return true
		default:
			return false
		}
	})
	// Malformed host requests are closed without reaching the guest.
	bad, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	bad.Write([]byte("HELLO\n"))
	bad.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := bad.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("bad request: %v", err)
	}
}

func TestCreditLimits(t *testing.T) {
	path := testPath(t)
	g := newGuest(t, Config{UnixPath: path, ConnBuffer: 4096})
	g.bufAlloc = 1000
	g.autoCredit = false
	g.listen[7] = true
	host := dialHost(t, path, 7)
	g.until("connection", func() bool { c := g.findConn(7); return c != nil })
	c := g.findConn(7)
	data := pattern(10000, 3)
	go host.Write(data)
	// The device sends no more than the guest's 1000 bytes of credit
	// (process fails the test otherwise) and then asks for credit.
	g.until("credit exhausted", func() bool { return c.received == 1000 })
	for i := 0; i < 20; i++ {
		g.step()
	}
	if c.received != 1000 {
		t.Fatalf("received %d bytes with 1000 of credit", c.received)
	}
	sawRequest := false
	for _, h := range g.packets {
		sawRequest = sawRequest || h.Op == OpCreditRequest
	}
	if !sawRequest {
		t.Error("no CREDIT_REQUEST when out of credit")
	}
	var got []byte
	for len(got) < len(data) {
		if c.recv.Len() > 0 {
			got = append(got, g.consume(c, c.recv.Len())...)
		}
		g.step()
	}
	if !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}

	// The guest ignores the device's 4096 bytes of credit: reset.
	c.peerBufAlloc = 1 << 20
	g.send(g.hdr(c, OpRW), pattern(5000, 4))
	g.until("reset", func() bool { return c.reset })
}

// A guest that never reads one connection stalls it alone.
func TestStalledConnection(t *testing.T) {
	path := testPath(t)
	g := newGuest(t, Config{UnixPath: path, ConnBuffer: 8192})
	g.listen[1] = true
	g.listen[2] = true
	slow := dialHost(t, path, 1)
	g.until("slow connection", func() bool { return g.findConn(1) != nil })
	cs := g.findConn(1)
	cs.bufAlloc = 2000 // and the guest never consumes
	g.send(g.hdr(cs, OpCreditUpdate), nil)
	g.autoCredit = false
	writeDone := make(chan struct{})
	go func() {
		slow.Write(pattern(4<<20, 5)) // blocks: nobody reads
		close(writeDone)
	}()
	fast := dialHost(t, path, 2)
	g.until("fast connection", func() bool { return g.findConn(2) != nil })
	cf := g.findConn(2)
	fr := bufio.NewReader(fast)
	fast.SetDeadline(time.Now().Add(5 * time.Second))
	if line, err := fr.ReadString('\n'); err != nil || !strings.HasPrefix(line, "OK ") {
		t.Fatalf("fast OK line %q, %v", line, err)
	}
	for i := 0; i < 5; i++ {
		msg := []byte(fmt.Sprintf("message %d", i))
		fast.Write(msg)
		g.until("fast data", func() bool { return cf.recv.Len() >= len(msg) })
		b := g.consume(cf, cf.recv.Len())
		if !bytes.Equal(b, msg) {
			t.Fatalf("fast got %q", b)
		}
	}
	if cs.received > 2000 {
		t.Fatalf("slow connection got %d bytes", cs.received)
	}
	select {
	case <-writeDone:
		t.Fatal("host write to a stalled connection completed")
	default:
	}
	if n := g.dev.host.(*hostSide).in.pendingBytes(); n > 64<<10 {
		t.Fatalf("%d bytes queued for Poll", n)
	}
}

func TestHostileHeaders(t *testing.T) {
	path := testPath(t)
	g := newGuest(t, Config{UnixPath: path})
	before := len(g.packets)
	g.sendRaw(make([]byte, 10)) // short
	h := Header{SrcCID: 3, DstCID: 2, SrcPort: 1, DstPort: 2, Type: TypeStream, Op: OpRW, Len: 5000}
	b := make([]byte, HeaderSize+10)
	h.Encode(b)
	g.sendRaw(b)                                                          // len beyond the chain
	g.send(Header{SrcCID: 9, SrcPort: 1, DstPort: 2, Op: OpRequest}, nil) // spoofed source
	if st := g.dev.Stats(); st.TxDropped != 3 {
		t.Fatalf("stats %+v", st)
	}
	g.send(Header{SrcPort: 1, DstPort: 2, Op: 99}, nil)                   // bad op
	g.send(Header{SrcPort: 1, DstPort: 2, Op: OpInvalid}, nil)            // invalid op
	g.send(Header{DstCID: 7, SrcPort: 1, DstPort: 2, Op: OpRequest}, nil) // unknown CID
	g.send(Header{SrcPort: 1, DstPort: 2, Type: 2, Op: OpRequest}, nil)   // seqpacket
	g.send(Header{SrcPort: 1, DstPort: 2, Op: OpRW}, []byte("x"))         // no connection
	g.send(Header{SrcPort: 1, DstPort: 2, Op: OpRst}, nil)                // RST: no answer
	g.process()
	rsts := 0
	for _, h := range g.packets[before:] {
		if h.Op != OpRst || h.DstPort != 1 || h.SrcPort != 2 {
			t.Fatalf("unexpected packet %+v", h)
		}
		rsts++
	}
	if rsts != 5 {
		t.Fatalf("%d resets, want 5", rsts)
	}
	if g.needsReset() {
		t.Fatal("device needs reset")
	}
	// Protocol violation: a writable descriptor in a tx chain.
	q := g.drv.Queues[txQueue]
	q.Add(bufOf(g.drv.Put(make([]byte, HeaderSize)), HeaderSize, false), bufOf(g.drv.Alloc(16, 8), 16, true))
	q.Kick()
	if !g.needsReset() {
		t.Fatal("writable tx descriptor did not need a reset")
	}
}
