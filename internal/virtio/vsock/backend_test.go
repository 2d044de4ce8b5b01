package vsock

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"
)

// logHost records what each Take of a Host returned.
type logHost struct {
	Host
	batches [][]HostEvent
}

func (l *logHost) Take() []HostEvent {
	evs := l.Host.Take()
	b := make([]HostEvent, len(evs))
	for i, ev := range evs {
		ev.Data = bytes.Clone(ev.Data)
		b[i] = ev
	}
	l.batches = append(l.batches, b)
	return evs
}

// scriptHost returns recorded batches, one per Take, and does nothing else.
type scriptHost struct {
	batches [][]HostEvent
	calls   []string
	wake    chan struct{}
}

func (s *scriptHost) Wake() <-chan struct{} { return s.wake }
func (s *scriptHost) Take() []HostEvent {
	if len(s.batches) == 0 {
		return nil
	}
	b := s.batches[0]
	s.batches = s.batches[1:]
	return b
}
func (s *scriptHost) Dial(id ConnID, port uint32) bool {
	s.calls = append(s.calls, fmt.Sprintf("dial %d %d", id, port))
	return true
}
func (s *scriptHost) Start(id ConnID, hello []byte) {
	s.calls = append(s.calls, fmt.Sprintf("start %d %q", id, hello))
}
func (s *scriptHost) Push(id ConnID, p []byte) {
	s.calls = append(s.calls, fmt.Sprintf("push %d %q", id, p))
}
func (s *scriptHost) Release(id ConnID, n int) {}
func (s *scriptHost) ShutdownWrite(id ConnID) {
	s.calls = append(s.calls, fmt.Sprintf("shutdown %d", id))
}
func (s *scriptHost) CloseGracefully(id ConnID) {
	s.calls = append(s.calls, fmt.Sprintf("close %d", id))
}
func (s *scriptHost) Abort(id ConnID) { s.calls = append(s.calls, fmt.Sprintf("abort %d", id)) }
func (s *scriptHost) Close() error    { return nil }

// seamScenario drives a guest through a host-initiated echo and a
// guest-initiated one. Its decisions depend only on what the guest
// received, so replaying the host's events replays it.
func seamScenario(g *guest) {
	g.listen[7] = true
	g.until("host connection", func() bool { return g.findConn(7) != nil })
	c := g.findConn(7)
	g.until("host data", func() bool { return bytes.HasSuffix(c.recv.Bytes(), []byte("\n")) })
	g.write(c, c.recv.Bytes())
	g.until("host close", func() bool { return c.peerShutdown&ShutdownSend != 0 })
	g.send(Header{SrcPort: c.local, DstPort: c.remote, Op: OpShutdown, Flags: ShutdownRcv | ShutdownSend, BufAlloc: c.bufAlloc, FwdCnt: c.fwdCnt}, nil)
	g.until("reset after close", func() bool { return c.reset })

	d := g.connect(40000, 9)
	g.until("response", func() bool { return d.established || d.reset })
	g.write(d, []byte("hello echo\n"))
	g.until("echo", func() bool { return d.recv.Len() >= 11 })
	g.send(Header{SrcPort: d.local, DstPort: d.remote, Op: OpRst}, nil)
	g.process()
}

// TestHostSeamReplays records the events a Unix-socket host gave the
// device in a session, replays them into a fresh device through a Host
// with no sockets, and checks that the guest sees the same packets.
func TestHostSeamReplays(t *testing.T) {
	path := testPath(t)
	ln, err := net.Listen("unix", path+"_9")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	real, err := NewUnixHost(Config{UnixPath: path, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	rec := &logHost{Host: real}
	g1 := newGuest(t, Config{Host: rec, Logger: quiet()})
	hostDone := make(chan error, 1)
	go func() {
		c, err := net.Dial("unix", path)
		if err != nil {
			hostDone <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "CONNECT 7\n")
		r := bufio.NewReader(c)
		if line, err := r.ReadString('\n'); err != nil || line[:3] != "OK " {
			hostDone <- fmt.Errorf("OK line %q: %v", line, err)
			return
		}
		fmt.Fprintf(c, "ping\n")
		back, err := r.ReadString('\n')
		if err == nil && back != "ping\n" {
			err = fmt.Errorf("echo %q", back)
		}
		hostDone <- err
	}()
	seamScenario(g1)
	if err := <-hostDone; err != nil {
		t.Fatalf("host program: %v", err)
	}
	kinds := map[HostEventKind]int{}
	for _, b := range rec.batches {
		for _, ev := range b {
			kinds[ev.Kind]++
		}
	}
	for _, k := range []HostEventKind{HostAccept, HostDialed, HostData, HostEOF, HostWrote} {
		if kinds[k] == 0 {
			t.Errorf("no %v event was recorded: %v", k, kinds)
		}
	}

	play := &scriptHost{batches: rec.batches, wake: make(chan struct{})}
	g2 := newGuest(t, Config{Host: play, Logger: quiet()})
	seamScenario(g2)
	if !slices.Equal(g1.packets, g2.packets) {
		t.Fatalf("the replayed guest saw other packets:\n%+v\n%+v", g1.packets, g2.packets)
	}
	if len(play.batches) != 0 {
		t.Fatalf("%d recorded batches were not taken", len(play.batches))
	}
	if want := []string{`start 9223372036854775809 "OK 1073741824\n"`, `push 9223372036854775809 "ping\n"`,
		`close 9223372036854775809`, "dial 1 9", `start 1 ""`, `push 1 "hello echo\n"`, "abort 1"}; !slices.Equal(play.calls, want) {
		t.Fatalf("host calls %q, want %q", play.calls, want)
	}
}
