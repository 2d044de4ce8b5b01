package gdbstub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxMemRead bounds one m packet's reply (hex doubles it).
const maxMemRead = (PacketSize - 16) / 2

// maxRetransmit bounds how often a reply is sent again after a '-'.
const maxRetransmit = 8

// errEnd ends a session: the client killed or detached, or the
// connection closed.
var errEnd = errors.New("session ended")

// Serve serves one gdb client on conn until it detaches, kills the target
// or closes the connection, or ctx is canceled. Log, if not nil, receives
// one line per notable event (refused requests, protocol errors).
func Serve(ctx context.Context, conn io.ReadWriter, t Target, log io.Writer) error {
	s := newSession(ctx, conn, t, log)
	defer close(s.quit)
	go readEvents(conn, s.events, s.quit)
	return s.loop()
}

type session struct {
	ctx    context.Context
	conn   io.Writer
	t      Target
	log    io.Writer
	events chan event
	quit   chan struct{}
	queued []event // events read ahead (while running or waiting for an ack)

	ack bool
	// Features the client announced in qSupported.
	swbreak, hwbreak, errText bool

	gThread, cThread int // Hg and Hc (0: the last stop's thread)
	last             Stop
	threadList       []int // kept for qsThreadInfo
	threadPos        int
	exited           bool
}

func newSession(ctx context.Context, conn io.Writer, t Target, log io.Writer) *session {
	s := &session{ctx: ctx, conn: conn, t: t, log: log, events: make(chan event, 16),
		quit: make(chan struct{}), ack: true}
	s.last = Stop{Kind: StopTrap, Thread: s.firstThread()}
	return s
}

func (s *session) logf(format string, args ...any) {
	if s.log != nil {
		fmt.Fprintf(s.log, "gdbstub: "+format+"\n", args...)
	}
}

func (s *session) firstThread() int {
	if ts := s.t.Threads(); len(ts) > 0 {
		return ts[0]
	}
	return 1
}

// next returns the next event from the client.
func (s *session) next() event {
	if len(s.queued) > 0 {
		e := s.queued[0]
		s.queued = s.queued[1:]
		return e
	}
	select {
	case e := <-s.events:
		return e
	case <-s.ctx.Done():
		return event{kind: evEOF, err: s.ctx.Err()}
	}
}

func (s *session) loop() error {
	for {
		e := s.next()
		switch e.kind {
		case evEOF:
			if e.err == io.EOF {
				return nil
			}
			return e.err
		case evPacket:
			if s.ack {
				if !e.sumOK {
					s.logf("bad checksum on a packet of %d bytes: asked for it again", len(e.data))
					if _, err := s.conn.Write([]byte{'-'}); err != nil {
						return err
					}
					continue
				}
				if _, err := s.conn.Write([]byte{'+'}); err != nil {
					return err
				}
			}
			var reply []byte
			if e.tooLong {
				s.logf("a packet longer than %d bytes was dropped", maxRaw)
				reply = []byte("E01")
			} else {
				var err error
				reply, err = s.dispatch(e.data)
				if err == errEnd {
					return nil
				}
				if err != nil {
					return err
				}
			}
			if reply == nil {
				continue // no reply (k)
			}
			if err := s.send(reply); err != nil {
				if err == errEnd {
					return nil
				}
				return err
			}
			if bytes.Equal(e.data, []byte("QStartNoAckMode")) {
				s.ack = false
			}
			if (len(e.data) > 0 && e.data[0] == 'D') || bytes.HasPrefix(e.data, []byte("vKill")) {
				return nil
			}
		}
		// Acks outside a reply and interrupts while stopped are ignored.
	}
}

// send writes a reply and, in ack mode, waits for the client's '+'.
func (s *session) send(data []byte) error {
	pkt := frame(data)
	for tries := 0; ; tries++ {
		if _, err := s.conn.Write(pkt); err != nil {
			return err
		}
		if !s.ack {
			return nil
		}
	wait:
		for {
			e := s.next()
			switch e.kind {
			case evAck:
				return nil
			case evNack:
				if tries >= maxRetransmit {
					s.logf("the client refused a reply %d times: giving up on it", tries+1)
					return nil
				}
				break wait
			case evEOF:
				s.queued = append(s.queued, e)
				return errEnd
			case evPacket:
				// The client moved on without acknowledging.
				s.queued = append(s.queued, e)
				return nil
			}
		}
	}
}

// errorReply answers a failed request: E.text when the client understands
// it, else a numbered error.
func (s *session) errorReply(code int, err error) []byte {
	if errors.Is(err, ErrRefused) {
		s.logf("%v", err)
	}
	if s.errText && err != nil {
		msg := strings.Map(func(r rune) rune {
			if r < 0x20 || r > 0x7e || r == '$' || r == '#' || r == '*' || r == '}' {
				return ' '
			}
			return r
		}, err.Error())
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return []byte("E." + msg)
	}
	return []byte(fmt.Sprintf("E%02x", code&0xff))
}

// dispatch handles one packet and returns the reply (nil: none).
func (s *session) dispatch(p []byte) ([]byte, error) {
	if len(p) == 0 {
		return []byte{}, nil
	}
	switch p[0] {
	case '?':
		return s.stopReply(s.last), nil
	case 'g':
		return s.readRegisters()
	case 'G':
		return s.writeRegisters(p[1:]), nil
	case 'p':
		return s.readRegister(p[1:]), nil
	case 'P':
		return s.writeRegister(p[1:]), nil
	case 'm':
		return s.readMemory(p[1:]), nil
	case 'M':
		return s.writeMemory(p[1:], false), nil
	case 'X':
		return s.writeMemory(p[1:], true), nil
	case 'c', 's':
		// An address argument (resume elsewhere) is not supported.
		if len(p) > 1 {
			return s.errorReply(0x16, errors.New("resuming at another address is not supported")), nil
		}
		a := Continue
		if p[0] == 's' {
			a = Step
		}
		return s.resume(Resume{Action: a, Thread: s.resumeThread(s.cThread)})
	case 'C', 'S':
		// The signal is dropped: nothing can be injected into a replay.
		if bytes.IndexByte(p, ';') >= 0 {
			return s.errorReply(0x16, errors.New("resuming at another address is not supported")), nil
		}
		a := Continue
		if p[0] == 'S' {
			a = Step
		}
		return s.resume(Resume{Action: a, Thread: s.resumeThread(s.cThread)})
	case 'b':
		switch string(p) {
		case "bc":
			return s.resume(Resume{Action: Continue, Reverse: true, Thread: s.resumeThread(s.cThread)})
		case "bs":
			return s.resume(Resume{Action: Step, Reverse: true, Thread: s.resumeThread(s.cThread)})
		}
		return []byte{}, nil
	case 'H':
		return s.setThread(p[1:]), nil
	case 'T':
		tid, ok := parseThread(p[1:])
		if !ok || !s.validThread(tid) {
			return []byte("E01"), nil
		}
		return []byte("OK"), nil
	case 'Z', 'z':
		return s.breakpoint(p[0] == 'Z', p[1:]), nil
	case 'k':
		s.logf("the client killed the session")
		return nil, errEnd
	case 'D':
		s.logf("the client detached")
		return []byte("OK"), nil
	case 'q':
		return s.query(p[1:]), nil
	case 'Q':
		return s.set(p[1:]), nil
	case 'v':
		return s.vPacket(p[1:])
	}
	return []byte{}, nil
}

// resumeThread picks the thread a resume applies to: the given one, or
// for "any" and "all" the one gdb has selected (Hg), which follows the
// last stop. gdb sends Hc0 before bs, whatever thread it steps.
func (s *session) resumeThread(tid int) int {
	if tid > 0 && s.validThread(tid) {
		return tid
	}
	return s.regThread()
}

// regThread is the thread register and memory accesses apply to.
func (s *session) regThread() int {
	if s.gThread > 0 && s.validThread(s.gThread) {
		return s.gThread
	}
	if s.validThread(s.last.Thread) {
		return s.last.Thread
	}
	return s.firstThread()
}

func (s *session) validThread(tid int) bool {
	for _, t := range s.t.Threads() {
		if t == tid {
			return true
		}
	}
	return false
}

// parseThread parses a thread id: hex, 0 (any) or -1 (all).
func parseThread(b []byte) (int, bool) {
	if string(b) == "-1" {
		return -1, true
	}
	v, ok := parseHex(b)
	if !ok || v > 1<<30 {
		return 0, false
	}
	return int(v), true
}

func (s *session) setThread(p []byte) []byte {
	if len(p) < 2 {
		return []byte("E01")
	}
	tid, ok := parseThread(p[1:])
	if !ok || (tid > 0 && !s.validThread(tid)) {
		return []byte("E01")
	}
	switch p[0] {
	case 'g':
		if tid < 0 {
			return []byte("E01")
		}
		s.gThread = tid
	case 'c':
		s.cThread = tid
	default:
		return []byte("E01")
	}
	return []byte("OK")
}

func (s *session) readRegisters() ([]byte, error) {
	r, err := s.t.Registers(s.regThread())
	if err != nil {
		return s.errorReply(1, err), nil
	}
	out := make([]byte, 0, 2*(65*8+3*4))
	for n := 0; n < NumRegs; n++ {
		v, size, _ := r.Get(n)
		out = appendLE(out, v, size)
	}
	return out, nil
}

func (s *session) writeRegisters(p []byte) []byte {
	r, err := s.t.Registers(s.regThread())
	if err != nil {
		return s.errorReply(1, err)
	}
	for n := 0; n < NumRegs && len(p) > 0; n++ {
		old, size, _ := r.Get(n)
		if len(p) < 2*size {
			return []byte("E01")
		}
		v, ok := parseLE(p[:2*size], size)
		if !ok {
			return []byte("E01")
		}
		p = p[2*size:]
		if v != old {
			if err := s.t.SetRegister(s.regThread(), n, v); err != nil {
				return s.errorReply(1, err)
			}
		}
	}
	if len(p) > 0 {
		return []byte("E01")
	}
	return []byte("OK")
}

func (s *session) readRegister(p []byte) []byte {
	n, ok := parseHex(p)
	if !ok {
		return []byte("E01")
	}
	r, err := s.t.Registers(s.regThread())
	if err != nil {
		return s.errorReply(1, err)
	}
	v, size, ok := r.Get(int(min(n, 1<<20)))
	if !ok {
		return []byte("E01")
	}
	return appendLE(nil, v, size)
}

func (s *session) writeRegister(p []byte) []byte {
	ns, vs, found := bytes.Cut(p, []byte("="))
	n, ok := parseHex(ns)
	if !found || !ok {
		return []byte("E01")
	}
	var r Registers
	_, size, ok := r.Get(int(min(n, 1<<20)))
	if !ok {
		return []byte("E01")
	}
	v, ok := parseLE(vs, size)
	if !ok {
		return []byte("E01")
	}
	if err := s.t.SetRegister(s.regThread(), int(n), v); err != nil {
		return s.errorReply(1, err)
	}
	return []byte("OK")
}

// parseAddrLen parses "addr,length".
func parseAddrLen(p []byte) (addr, length uint64, ok bool) {
	as, ls, found := bytes.Cut(p, []byte(","))
	if !found {
		return 0, 0, false
	}
	addr, ok1 := parseHex(as)
	length, ok2 := parseHex(ls)
	return addr, length, ok1 && ok2
}

func (s *session) readMemory(p []byte) []byte {
	addr, length, ok := parseAddrLen(p)
	if !ok {
		return []byte("E01")
	}
	length = min(length, maxMemRead)
	if length == 0 {
		return []byte{}
	}
	buf := make([]byte, length)
	n, err := s.t.ReadMemory(s.regThread(), addr, buf)
	n = max(0, min(n, len(buf)))
	if n == 0 && err != nil {
		return []byte("E14") // EFAULT: gdb says it cannot access the memory
	}
	return appendHex(nil, buf[:n])
}

func (s *session) writeMemory(p []byte, binary bool) []byte {
	head, data, found := bytes.Cut(p, []byte(":"))
	addr, length, ok := parseAddrLen(head)
	if !found || !ok || length > PacketSize {
		return []byte("E01")
	}
	var buf []byte
	if binary {
		buf, ok = unescapeBinary(data)
	} else {
		buf, ok = decodeHex(data)
	}
	if !ok || uint64(len(buf)) != length {
		return []byte("E01")
	}
	if length == 0 {
		return []byte("OK") // gdb's probe for X
	}
	if err := s.t.WriteMemory(s.regThread(), addr, buf); err != nil {
		return s.errorReply(0x0e, err)
	}
	return []byte("OK")
}

func (s *session) breakpoint(insert bool, p []byte) []byte {
	parts := bytes.Split(p, []byte(","))
	if len(parts) < 3 || len(parts[0]) != 1 {
		return []byte("E01")
	}
	kind := BreakKind(parts[0][0] - '0')
	if kind < BreakSoftware || kind > WatchAccess {
		return []byte{}
	}
	addr, ok1 := parseHex(parts[1])
	// The kind field may carry conditions after ';' (not advertised).
	ks, _, _ := bytes.Cut(parts[2], []byte(";"))
	length, ok2 := parseHex(ks)
	if !ok1 || !ok2 || length == 0 || (kind >= WatchWrite && length > MaxWatchLength) || length > 64 {
		return []byte("E01")
	}
	var err error
	if insert {
		err = s.t.InsertBreakpoint(kind, s.regThread(), addr, length)
	} else {
		err = s.t.RemoveBreakpoint(kind, s.regThread(), addr, length)
	}
	if errors.Is(err, ErrUnsupported) {
		return []byte{}
	}
	if err != nil {
		return s.errorReply(1, err)
	}
	return []byte("OK")
}

func (s *session) resume(r Resume) ([]byte, error) {
	if s.exited {
		return []byte("W00"), nil
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	done := make(chan struct{})
	watched := make(chan []event)
	// While the target runs, only the interrupt byte matters; anything
	// else is kept for after the stop.
	go func() {
		var held []event
		defer func() { watched <- held }()
		for {
			select {
			case e := <-s.events:
				switch e.kind {
				case evInterrupt:
					cancel()
				case evEOF:
					cancel()
					held = append(held, e)
				case evPacket:
					held = append(held, e)
				}
			case <-done:
				return
			}
		}
	}()
	st, err := s.t.Resume(ctx, r)
	close(done)
	s.queued = append(s.queued, <-watched...)
	if err != nil {
		s.logf("resume failed: %v", err)
		return s.errorReply(1, err), nil
	}
	if !s.validThread(st.Thread) {
		st.Thread = r.Thread
	}
	s.last = st
	s.gThread = st.Thread // gdb assumes the stopped thread is now selected
	if st.Kind == StopExited {
		s.exited = true
	}
	return s.stopReply(st), nil
}

func (s *session) stopReply(st Stop) []byte {
	if st.Kind == StopExited {
		return []byte(fmt.Sprintf("W%02x", st.Code&0xff))
	}
	sig := 5 // SIGTRAP
	if st.Kind == StopInterrupt {
		sig = 2 // SIGINT
	}
	r := fmt.Sprintf("T%02xthread:%x;", sig, max(st.Thread, 1))
	switch st.Kind {
	case StopWatch:
		r += fmt.Sprintf("watch:%x;", st.Addr)
	case StopHistoryBegin:
		r += "replaylog:begin;"
	case StopHistoryEnd:
		r += "replaylog:end;"
	case StopTrap:
		if st.SWBreak && s.swbreak {
			r += "swbreak:;"
		} else if st.HWBreak && s.hwbreak {
			r += "hwbreak:;"
		}
	}
	return []byte(r)
}

func (s *session) query(p []byte) []byte {
	name, args, _ := bytes.Cut(p, []byte(":"))
	switch {
	case string(name) == "Supported":
		for _, f := range bytes.Split(args, []byte(";")) {
			switch string(f) {
			case "swbreak+":
				s.swbreak = true
			case "hwbreak+":
				s.hwbreak = true
			case "error-message+":
				s.errText = true
			}
		}
		return []byte(fmt.Sprintf("PacketSize=%x;qXfer:features:read+;QStartNoAckMode+;ReverseContinue+;ReverseStep+;swbreak+;hwbreak+;vContSupported+;error-message+", PacketSize))
	case string(name) == "Xfer":
		return s.xfer(args)
	case string(p) == "Attached":
		return []byte("1")
	case string(p) == "C":
		return []byte(fmt.Sprintf("QC%x", s.regThread()))
	case string(p) == "fThreadInfo":
		s.threadList, s.threadPos = s.t.Threads(), 0
		fallthrough
	case string(p) == "sThreadInfo":
		if s.threadPos >= len(s.threadList) {
			return []byte("l")
		}
		out := []byte("m")
		for i := 0; i < 64 && s.threadPos < len(s.threadList); i++ {
			if i > 0 {
				out = append(out, ',')
			}
			out = strconv.AppendUint(out, uint64(s.threadList[s.threadPos]), 16)
			s.threadPos++
		}
		return out
	case bytes.HasPrefix(p, []byte("ThreadExtraInfo,")):
		tid, ok := parseThread(p[len("ThreadExtraInfo,"):])
		if !ok || !s.validThread(tid) {
			return []byte("E01")
		}
		info := fmt.Sprintf("thread %d", tid)
		if n, ok := s.t.(ThreadNamer); ok {
			info = n.ThreadInfo(tid)
		}
		return appendHex(nil, []byte(info))
	case bytes.HasPrefix(p, []byte("Rcmd,")):
		cmd, ok := decodeHex(p[len("Rcmd,"):])
		mon, isMon := s.t.(Monitor)
		if !ok || !isMon {
			return []byte{}
		}
		out, err := mon.Monitor(string(cmd))
		if err != nil {
			out += err.Error() + "\n"
		}
		if out == "" {
			return []byte("OK")
		}
		if len(out) > maxMemRead {
			out = out[:maxMemRead]
		}
		return appendHex(nil, []byte(out))
	case string(p) == "Symbol::":
		return []byte("OK")
	}
	return []byte{}
}

// xfer serves qXfer:features:read:target.xml:offset,length.
func (s *session) xfer(args []byte) []byte {
	parts := bytes.SplitN(args, []byte(":"), 4)
	if len(parts) != 4 || string(parts[0]) != "features" || string(parts[1]) != "read" {
		return []byte{}
	}
	if string(parts[2]) != "target.xml" {
		return []byte("E00")
	}
	off, length, ok := parseAddrLen(parts[3])
	if !ok {
		return []byte("E01")
	}
	doc := targetXML
	if off >= uint64(len(doc)) {
		return []byte("l")
	}
	length = min(length, PacketSize/2-1) // room for escapes
	end := min(uint64(len(doc)), off+length)
	kind := byte('m')
	if end == uint64(len(doc)) {
		kind = 'l'
	}
	return escapeBinary([]byte{kind}, []byte(doc[off:end]))
}

func (s *session) set(p []byte) []byte {
	switch {
	case string(p) == "StartNoAckMode":
		return []byte("OK")
	case string(p) == "NonStop:0":
		return []byte("OK")
	case bytes.HasPrefix(p, []byte("NonStop:")):
		return []byte("E01")
	}
	return []byte{}
}

func (s *session) vPacket(p []byte) ([]byte, error) {
	switch {
	case string(p) == "Cont?":
		return []byte("vCont;c;C;s;S"), nil
	case bytes.HasPrefix(p, []byte("Cont;")):
		r, ok := s.parseVCont(p[len("Cont;"):])
		if !ok {
			return []byte("E01"), nil
		}
		return s.resume(r)
	case bytes.HasPrefix(p, []byte("Kill")):
		s.logf("the client killed the session")
		return []byte("OK"), nil
	}
	return []byte{}, nil
}

// parseVCont reads vCont actions. In all-stop mode every thread runs; a
// step action picks the thread whose next instruction ends the resume.
func (s *session) parseVCont(p []byte) (Resume, bool) {
	r := Resume{Action: Continue, Thread: s.resumeThread(s.cThread)}
	stepSeen := false
	var only []int // threads continued by name; -1 for a default action
	for _, a := range bytes.Split(p, []byte(";")) {
		act, tidS, hasTid := bytes.Cut(a, []byte(":"))
		tid := 0
		if hasTid {
			t, ok := parseThread(tidS)
			if !ok || (t > 0 && !s.validThread(t)) {
				return r, false
			}
			tid = t
		}
		if len(act) == 0 {
			return r, false
		}
		switch act[0] {
		case 'c', 'C':
			if act[0] == 'c' && len(act) != 1 {
				return r, false
			}
			if hasTid && tid > 0 {
				only = append(only, tid)
			} else {
				only = append(only, -1)
			}
		case 's', 'S':
			if act[0] == 's' && len(act) != 1 {
				return r, false
			}
			if !stepSeen {
				stepSeen = true
				r.Action, r.Thread = Step, s.resumeThread(tid)
			}
		default:
			return r, false
		}
		if act[0] == 'C' || act[0] == 'S' {
			if _, ok := parseHex(act[1:]); !ok || len(act) > 3 {
				return r, false
			}
		}
	}
	if !stepSeen && len(only) == 1 && only[0] > 0 {
		r.Thread, r.Only = only[0], true
	}
	return r, true
}
