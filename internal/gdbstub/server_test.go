package gdbstub

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTarget is a two-thread target with 4 KiB of memory at 0x1000.
type fakeTarget struct {
	mu      sync.Mutex
	regs    map[int]*Registers
	mem     [4096]byte
	breaks  []string
	resumes []Resume
	// next is what Resume returns; block makes it wait for ctx instead.
	next  Stop
	block bool
}

func newFake() *fakeTarget {
	f := &fakeTarget{regs: map[int]*Registers{1: {}, 2: {}}}
	for i := range f.regs[1].X {
		f.regs[1].X[i] = uint64(i) * 0x0101010101
		f.regs[2].X[i] = uint64(i) + 0x200
	}
	f.regs[1].PC, f.regs[2].PC = 0x80000000, 0x80001000
	f.regs[1].F[3] = 0x3ff0000000000000
	f.regs[1].Fcsr = 0x61 // frm 3, fflags 1
	for i := range f.mem {
		f.mem[i] = byte(i)
	}
	return f
}

func (f *fakeTarget) Threads() []int { return []int{1, 2} }

func (f *fakeTarget) Registers(t int) (Registers, error) {
	r, ok := f.regs[t]
	if !ok {
		return Registers{}, errors.New("no such thread")
	}
	return *r, nil
}

func (f *fakeTarget) SetRegister(t, n int, v uint64) error {
	return fmt.Errorf("%w: cannot write register %d: the target is a recording", ErrRefused, n)
}

func (f *fakeTarget) ReadMemory(t int, addr uint64, p []byte) (int, error) {
	if addr < 0x1000 || addr >= 0x2000 {
		return 0, errors.New("unmapped")
	}
	n := copy(p, f.mem[addr-0x1000:])
	if n < len(p) {
		return n, errors.New("unmapped")
	}
	return n, nil
}

func (f *fakeTarget) WriteMemory(t int, addr uint64, p []byte) error {
	return fmt.Errorf("%w: cannot write memory during a replay", ErrRefused)
}

func (f *fakeTarget) InsertBreakpoint(k BreakKind, t int, addr, length uint64) error {
	if k == WatchRead || k == WatchAccess {
		return ErrUnsupported
	}
	f.breaks = append(f.breaks, fmt.Sprintf("+%d,%x,%d,t%d", k, addr, length, t))
	return nil
}

func (f *fakeTarget) RemoveBreakpoint(k BreakKind, t int, addr, length uint64) error {
	f.breaks = append(f.breaks, fmt.Sprintf("-%d,%x,%d,t%d", k, addr, length, t))
	return nil
}

func (f *fakeTarget) Resume(ctx context.Context, r Resume) (Stop, error) {
	f.mu.Lock()
	f.resumes = append(f.resumes, r)
	block, next := f.block, f.next
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return Stop{Kind: StopInterrupt, Thread: 2}, nil
	}
	return next, nil
}

func (f *fakeTarget) Monitor(cmd string) (string, error) { return "you said " + cmd + "\n", nil }

// client is the gdb side of a net.Pipe.
type client struct {
	t   *testing.T
	c   net.Conn
	r   *bufio.Reader
	ack bool
	err chan error
}

func startServer(t *testing.T, tgt Target) *client {
	t.Helper()
	a, b := net.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- Serve(context.Background(), a, tgt, io.Discard)
		a.Close()
	}()
	c := &client{t: t, c: b, r: bufio.NewReader(b), ack: true, err: errc}
	t.Cleanup(func() { b.Close() })
	b.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

func (c *client) write(s string) {
	c.t.Helper()
	if _, err := c.c.Write([]byte(s)); err != nil {
		c.t.Fatalf("write %q: %v", s, err)
	}
}

func (c *client) readByte() byte {
	c.t.Helper()
	b, err := c.r.ReadByte()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return b
}

// recvPacket reads one packet and checks its checksum; it acks it in ack mode.
func (c *client) recvPacket() string {
	c.t.Helper()
	for b := c.readByte(); b != '$'; b = c.readByte() {
		if b != '+' {
			c.t.Fatalf("unexpected byte %q before a packet", b)
		}
	}
	var data []byte
	for b := c.readByte(); b != '#'; b = c.readByte() {
		data = append(data, b)
	}
	cs := string([]byte{c.readByte(), c.readByte()})
	if want := string(frame(data)[len(data)+2:]); cs != want {
		c.t.Fatalf("packet %q: checksum %s, want %s", data, cs, want)
	}
	if c.ack {
		c.write("+")
	}
	return string(data)
}

// do sends a packet (expecting its ack in ack mode) and returns the reply.
func (c *client) do(pkt string) string {
	c.t.Helper()
	c.write(string(frame([]byte(pkt))))
	if c.ack {
		if b := c.readByte(); b != '+' {
			c.t.Fatalf("%q: got %q, want the ack", pkt, b)
		}
	}
	return c.recvPacket()
}

func (c *client) expect(pkt, want string) {
	c.t.Helper()
	if got := c.do(pkt); got != want {
		c.t.Errorf("%q: got %q, want %q", pkt, got, want)
	}
}

func TestHandshakeAndNoAck(t *testing.T) {
	c := startServer(t, newFake())
	got := c.do("qSupported:multiprocess+;swbreak+;hwbreak+;error-message+")
	for _, f := range []string{"PacketSize=4000", "qXfer:features:read+", "ReverseContinue+", "ReverseStep+", "QStartNoAckMode+"} {
		if !strings.Contains(got, f) {
			t.Errorf("qSupported reply %q lacks %s", got, f)
		}
	}
	c.expect("QStartNoAckMode", "OK")
	c.ack = false
	c.expect("?", "T05thread:1;")
	c.expect("qAttached", "1")
	c.expect("vMustReplyEmpty", "")
	c.expect("qC", "QC1")
	c.expect("D", "OK")
	if err := <-c.err; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestChecksumAndRetransmit(t *testing.T) {
	c := startServer(t, newFake())
	c.write("$qAttached#00") // bad checksum
	if b := c.readByte(); b != '-' {
		t.Fatalf("bad checksum: got %q, want '-'", b)
	}
	c.write(string(frame([]byte("qAttached"))))
	if b := c.readByte(); b != '+' {
		t.Fatalf("got %q, want '+'", b)
	}
	c.ack = false // read by hand
	if p := c.recvPacket(); p != "1" {
		t.Fatalf("reply %q", p)
	}
	c.write("-") // ask for it again
	if p := c.recvPacket(); p != "1" {
		t.Fatalf("retransmitted reply %q", p)
	}
	c.write("+")
	c.ack = true
	c.expect("qC", "QC1")
}

func TestRegisters(t *testing.T) {
	c := startServer(t, newFake())
	g := c.do("g")
	if len(g) != 65*16+3*8 {
		t.Fatalf("g reply has %d hex digits, want %d", len(g), 65*16+3*8)
	}
	// x1 of thread 1 is 0x0101010101, little-endian.
	if x1 := g[16:32]; x1 != "0101010101000000" {
		t.Errorf("x1 = %s", x1)
	}
	if pc := g[32*16 : 33*16]; pc != "0000008000000000" {
		t.Errorf("pc = %s", pc)
	}
	c.expect("p20", "0000008000000000")
	c.expect("p24", "000000000000f03f") // f3
	c.expect("p41", "01000000")         // fflags
	c.expect("p42", "03000000")         // frm
	c.expect("p43", "61000000")         // fcsr
	c.expect("p44", "E01")
	c.expect("pzz", "E01")
	c.expect("Hg2", "OK")
	c.expect("p20", "0010008000000000")
	c.expect("Hg9", "E01")
	c.expect("Hgq", "E01")
	c.expect("Hc-1", "OK")
	c.expect("P20=0000000000000000", "E01") // no error-message+ from the client
	c.do("qSupported:error-message+")
	if got := c.do("P20=0000000000000000"); !strings.HasPrefix(got, "E.refused: cannot write register 32") {
		t.Errorf("P reply %q", got)
	}
	c.expect("P20=00", "E01")
	// G with unchanged values is accepted; a change is refused.
	c.expect("Hg1", "OK")
	g = c.do("g")
	c.expect("G"+g, "OK")
	if got := c.do("G" + strings.Repeat("1", len(g))); !strings.HasPrefix(got, "E.") {
		t.Errorf("G reply %q", got)
	}
	c.expect("G123", "E01")
}

func TestMemory(t *testing.T) {
	c := startServer(t, newFake())
	c.expect("m1000,4", "00010203")
	c.expect("m1ffe,4", "feff") // partial
	c.expect("m3000,4", "E14")
	c.expect("m1000,0", "")
	c.expect("m1000", "E01")
	c.expect("mffffffffffffffffff,1", "E01")
	if got := c.do("m1000,ffffffffffffffff"); len(got) != 2*4096 {
		t.Errorf("a huge read returned %d hex digits, want %d (what is mapped)", len(got), 2*4096)
	}
	c.expect("M1000,2:abcd", "E0e")
	c.expect("M1000,2:abc", "E01")
	c.expect("X1000,0:", "OK")
	c.expect("X1000,2:}]", "E01") // one byte after unescaping
	c.expect("X1000,1:}", "E01")
}

func TestBreakpointsAndResume(t *testing.T) {
	f := newFake()
	c := startServer(t, f)
	c.do("qSupported:swbreak+;hwbreak+")
	c.expect("Z0,80000010,4", "OK")
	c.expect("Z1,80000020,2", "OK")
	c.expect("Z2,1000,8", "OK")
	c.expect("Z3,1000,8", "")
	c.expect("Z2,1000,1000", "E01")
	c.expect("Z9,1000,4", "")
	c.expect("Z0,80000010", "E01")
	c.expect("z0,80000010,4", "OK")
	want := []string{"+0,80000010,4,t1", "+1,80000020,2,t1", "+2,1000,8,t1", "-0,80000010,4,t1"}
	if fmt.Sprint(f.breaks) != fmt.Sprint(want) {
		t.Errorf("breakpoints %v, want %v", f.breaks, want)
	}

	f.next = Stop{Kind: StopTrap, Thread: 2, SWBreak: true}
	c.expect("c", "T05thread:2;swbreak:;")
	c.expect("qC", "QC2")
	f.next = Stop{Kind: StopWatch, Thread: 1, Addr: 0x1008}
	c.expect("vCont;s:2;c", "T05thread:1;watch:1008;")
	f.next = Stop{Kind: StopHistoryBegin, Thread: 1}
	c.expect("bc", "T05thread:1;replaylog:begin;")
	f.next = Stop{Kind: StopHistoryEnd, Thread: 1, HWBreak: true}
	c.expect("Hc2", "OK")
	c.expect("bs", "T05thread:1;replaylog:end;")
	c.expect("s", "T05thread:1;replaylog:end;")
	c.expect("vCont;c:2", "T05thread:1;replaylog:end;")
	c.expect("vCont;c:2;c", "T05thread:1;replaylog:end;")
	c.expect("vCont;q", "E01")
	c.expect("vCont;s:7", "E01")
	c.expect("c80000000", "E16")
	want2 := []Resume{
		{Action: Continue, Thread: 1},
		{Action: Step, Thread: 2},
		{Action: Continue, Reverse: true, Thread: 1},
		{Action: Step, Reverse: true, Thread: 2},
		{Action: Step, Thread: 2},
		{Action: Continue, Thread: 2, Only: true},
		{Action: Continue, Thread: 2},
	}
	if fmt.Sprint(f.resumes) != fmt.Sprint(want2) {
		t.Errorf("resumes %v, want %v", f.resumes, want2)
	}
	c.expect("vCont?", "vCont;c;C;s;S")
	f.next = Stop{Kind: StopExited, Code: 3}
	c.expect("c", "W03")
}

func TestInterrupt(t *testing.T) {
	f := newFake()
	f.block = true
	c := startServer(t, f)
	c.write(string(frame([]byte("c"))))
	if b := c.readByte(); b != '+' {
		t.Fatalf("got %q", b)
	}
	time.Sleep(10 * time.Millisecond)
	c.write("\x03")
	if got := c.recvPacket(); got != "T02thread:2;" {
		t.Errorf("stop after the interrupt: %q", got)
	}
	c.expect("qC", "QC2")
}

func TestThreadsAndQueries(t *testing.T) {
	c := startServer(t, newFake())
	c.expect("qfThreadInfo", "m1,2")
	c.expect("qsThreadInfo", "l")
	c.expect("T2", "OK")
	c.expect("T5", "E01")
	c.expect("qThreadExtraInfo,2", fmt.Sprintf("%x", "thread 2"))
	c.expect("qRcmd,"+fmt.Sprintf("%x", "when"), fmt.Sprintf("%x", "you said when\n"))
	c.expect("qSymbol::", "OK")
	c.expect("qXfer:features:read:other.xml:0,100", "E00")
	c.expect("QNonStop:1", "E01")
	// Reassemble the target description.
	var doc strings.Builder
	for off := 0; ; {
		r := c.do(fmt.Sprintf("qXfer:features:read:target.xml:%x,%x", off, 300))
		if r == "" || (r[0] != 'm' && r[0] != 'l') {
			t.Fatalf("qXfer reply %q", r)
		}
		doc.WriteString(r[1:])
		off += len(r) - 1
		if r[0] == 'l' {
			break
		}
	}
	if doc.String() != targetXML {
		t.Fatalf("reassembled target.xml differs")
	}
	var tgt struct {
		Arch     string `xml:"architecture"`
		Features []struct {
			Name string `xml:"name,attr"`
			Regs []struct {
				Name    string `xml:"name,attr"`
				Bitsize int    `xml:"bitsize,attr"`
				Regnum  int    `xml:"regnum,attr"`
			} `xml:"reg"`
		} `xml:"feature"`
	}
	if err := xml.Unmarshal([]byte(targetXML), &tgt); err != nil {
		t.Fatal(err)
	}
	if tgt.Arch != "riscv:rv64" || len(tgt.Features) != 2 || tgt.Features[0].Name != "org.gnu.gdb.riscv.cpu" ||
		tgt.Features[1].Name != "org.gnu.gdb.riscv.fpu" || len(tgt.Features[0].Regs) != 33 || len(tgt.Features[1].Regs) != 35 {
		t.Fatalf("target.xml: %+v", tgt)
	}
	n := 0
	for _, f := range tgt.Features {
		for _, r := range f.Regs {
			if r.Regnum != n {
				t.Errorf("register %s has regnum %d, want %d", r.Name, r.Regnum, n)
			}
			var regs Registers
			if _, size, _ := regs.Get(n); size*8 != r.Bitsize {
				t.Errorf("register %s: %d bits, packets carry %d", r.Name, r.Bitsize, size*8)
			}
			n++
		}
	}
	c.expect("qXfer:features:read:target.xml:ffffff,10", "l")
}

func TestTooLongPacket(t *testing.T) {
	c := startServer(t, newFake())
	c.expect("m"+strings.Repeat("0", maxRaw+10), "E01")
	c.expect("qAttached", "1")
	c.expect("", "")
	c.write("$junk$qAttached#" + string(frame([]byte("qAttached"))[11:]))
	if b := c.readByte(); b != '+' {
		t.Fatalf("got %q", b)
	}
	if got := c.recvPacket(); got != "1" {
		t.Fatalf("restarted packet: %q", got)
	}
	c.write(string(frame([]byte("k"))))
	if b := c.readByte(); b != '+' {
		t.Fatalf("got %q", b)
	}
	if err := <-c.err; err != nil {
		t.Fatal(err)
	}
}
