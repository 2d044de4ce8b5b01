package vsock

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The host side: goroutines that accept, dial, read and write host Unix
// sockets. They never touch the device's state or guest memory; they post
// events to the inbox, which the device drains in Poll.

const (
	handshakeTimeout = 10 * time.Second
	dialTimeout      = 5 * time.Second
	maxConnectLine   = 64
	readChunk        = 64 << 10
)

type eventKind uint8

const (
	evAccept eventKind = iota + 1 // a host program asked for a guest port
	evDialed                      // a dial for a guest connection finished
	evData                        // bytes read from a host socket
	evEOF                         // a host socket's read side ended
	evWrote                       // a writer made progress (see hostConn.written)
	evError                       // writing to a host socket failed
)

// event is one piece of input from the host side.
type event struct {
	kind eventKind
	hc   *hostConn
	port uint32 // evAccept: the guest port asked for
	data []byte // evData
	err  error  // evDialed, evError
}

// inbox queues events for Poll.
type inbox struct {
	mu   sync.Mutex
	evs  []event
	wake chan struct{}
}

func (in *inbox) post(ev event) {
	in.mu.Lock()
	in.evs = append(in.evs, ev)
	in.mu.Unlock()
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

func (in *inbox) take() []event {
	in.mu.Lock()
	defer in.mu.Unlock()
	evs := in.evs
	in.evs = nil
	return evs
}

// hostSide owns the listener and every host connection's goroutines.
type hostSide struct {
	log   *slog.Logger
	in    inbox
	path  string
	limit int // bytes read ahead per connection
	ln    net.Listener

	maxPending int
	pending    atomic.Int64 // accepted connections not yet taken by Poll

	mu     sync.Mutex
	closed bool
	conns  map[*hostConn]struct{}
	wg     sync.WaitGroup
}

// goTracked runs f on a goroutine Close waits for; false once closing.
func (h *hostSide) goTracked(f func()) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		f()
	}()
	return true
}

func (h *hostSide) newConn(c net.Conn) *hostConn {
	hc := &hostConn{h: h, conn: c, limit: h.limit}
	hc.cond = sync.NewCond(&hc.mu)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		if c != nil {
			c.Close()
		}
		hc.closed = true
		return hc
	}
	h.conns[hc] = struct{}{}
	h.mu.Unlock()
	return hc
}

func (h *hostSide) forget(hc *hostConn) {
	h.mu.Lock()
	delete(h.conns, hc)
	h.mu.Unlock()
}

// accept serves the host socket: each connection must say CONNECT <port>.
func (h *hostSide) accept() {
	for {
		c, err := h.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				h.log.Error("vsock: accepting on the host socket failed; no more host connections", "path", h.path, "err", err)
			}
			return
		}
		if h.pending.Add(1) > int64(h.maxPending) {
			h.pending.Add(-1)
			c.Close()
			continue
		}
		if !h.goTracked(func() { h.handshake(c) }) {
			h.pending.Add(-1)
			c.Close()
			return
		}
	}
}

// handshake reads "CONNECT <port>\n" and posts the request.
func (h *hostSide) handshake(c net.Conn) {
	port, err := readConnect(c)
	if err != nil {
		h.pending.Add(-1)
		h.log.Debug("vsock: bad host connection request", "err", err)
		c.Close()
		return
	}
	hc := h.newConn(c)
	if hc.closed {
		h.pending.Add(-1)
		return
	}
	h.in.post(event{kind: evAccept, hc: hc, port: port})
}

// readConnect reads the request line byte by byte, so that data the host
// program sends after it stays in the socket.
func readConnect(c net.Conn) (uint32, error) {
	c.SetReadDeadline(time.Now().Add(handshakeTimeout))
	defer c.SetReadDeadline(time.Time{})
	var line []byte
	b := make([]byte, 1)
	for {
		if _, err := io.ReadFull(c, b); err != nil {
			return 0, fmt.Errorf("reading the CONNECT line: %w", err)
		}
		if b[0] == '\n' {
			break
		}
		if len(line) >= maxConnectLine {
			return 0, fmt.Errorf("CONNECT line longer than %d bytes", maxConnectLine)
		}
		line = append(line, b[0])
	}
	line = bytes.TrimSuffix(line, []byte("\r"))
	rest, ok := bytes.CutPrefix(line, []byte("CONNECT "))
	if !ok {
		return 0, fmt.Errorf("request %q is not CONNECT <port>", line)
	}
	port, err := strconv.ParseUint(string(bytes.TrimSpace(rest)), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("request %q: bad port: %w", line, err)
	}
	return uint32(port), nil
}

// dial connects a guest-initiated connection to path and posts the result.
func (h *hostSide) dial(hc *hostConn, path string) {
	c, err := net.DialTimeout("unix", path, dialTimeout)
	if err == nil {
		hc.mu.Lock()
		if hc.closed {
			c.Close()
		} else {
			hc.conn = c
		}
		hc.mu.Unlock()
	}
	h.in.post(event{kind: evDialed, hc: hc, err: err})
}

// close stops the listener and every connection and waits for the
// goroutines.
func (h *hostSide) close() {
	h.mu.Lock()
	h.closed = true
	conns := h.conns
	h.conns = nil
	h.mu.Unlock()
	if h.ln != nil {
		h.ln.Close()
	}
	for hc := range conns {
		hc.abort()
	}
	h.wg.Wait()
}

// hostConn is the host socket of one connection and its reader and writer.
// The device talks to it only through start, push, release, finish and
// abort, none of which blocks.
type hostConn struct {
	h    *hostSide
	conn net.Conn // nil until a guest-initiated dial succeeds

	mu       sync.Mutex
	cond     *sync.Cond
	out      []byte // guest bytes waiting for the writer
	hello    []byte // written before out ("OK <port>\n")
	finish   bool   // close the socket once out is written
	shutWr   bool   // half-close the socket once out is written
	closed   bool
	inflight int // bytes read from the host and not yet released by the device
	limit    int

	written  atomic.Uint64 // guest bytes written to the host socket
	progress atomic.Bool   // an evWrote is queued
}

// start launches the reader and writer; hello is written first.
func (hc *hostConn) start(hello []byte) {
	hc.mu.Lock()
	if hc.closed || hc.conn == nil {
		hc.mu.Unlock()
		return
	}
	hc.hello = hello
	hc.mu.Unlock()
	if !hc.h.goTracked(hc.read) || !hc.h.goTracked(hc.write) {
		hc.abort()
	}
}

// push queues guest bytes for the host socket.
func (hc *hostConn) push(p []byte) {
	hc.mu.Lock()
	hc.out = append(hc.out, p...)
	hc.mu.Unlock()
	hc.cond.Broadcast()
}

// release gives back n bytes of read-ahead (delivered to or discarded for
// the guest).
func (hc *hostConn) release(n int) {
	hc.mu.Lock()
	hc.inflight -= n
	hc.mu.Unlock()
	hc.cond.Broadcast()
}

// shutdownWrite half-closes the socket once pending bytes are written.
func (hc *hostConn) shutdownWrite() {
	hc.mu.Lock()
	hc.shutWr = true
	hc.mu.Unlock()
	hc.cond.Broadcast()
}

// close closes the socket once pending bytes are written.
func (hc *hostConn) closeGracefully() {
	hc.mu.Lock()
	hc.finish = true
	hc.mu.Unlock()
	hc.cond.Broadcast()
}

// abort closes the socket now.
func (hc *hostConn) abort() {
	hc.mu.Lock()
	already := hc.closed
	hc.closed = true
	c := hc.conn
	hc.mu.Unlock()
	hc.cond.Broadcast()
	if !already {
		if c != nil {
			c.Close()
		}
		hc.h.forget(hc)
	}
}

func (hc *hostConn) read() {
	buf := make([]byte, readChunk)
	for {
		hc.mu.Lock()
		for !hc.closed && hc.inflight >= hc.limit {
			hc.cond.Wait()
		}
		if hc.closed {
			hc.mu.Unlock()
			return
		}
		room := min(hc.limit-hc.inflight, readChunk)
		hc.mu.Unlock()
		n, err := hc.conn.Read(buf[:room])
		if n > 0 {
			hc.mu.Lock()
			hc.inflight += n
			hc.mu.Unlock()
			hc.h.in.post(event{kind: evData, hc: hc, data: bytes.Clone(buf[:n])})
		}
		if err != nil {
			hc.mu.Lock()
			closed := hc.closed
			hc.mu.Unlock()
			if !closed {
				hc.h.in.post(event{kind: evEOF, hc: hc})
			}
			return
		}
	}
}

func (hc *hostConn) write() {
	didShut := false
	for {
		hc.mu.Lock()
		for !hc.closed && hc.hello == nil && len(hc.out) == 0 && !hc.finish && (!hc.shutWr || didShut) {
			hc.cond.Wait()
		}
		if hc.closed {
			hc.mu.Unlock()
			return
		}
		var b []byte
		counted := true
		switch {
		case hc.hello != nil:
			b, hc.hello, counted = hc.hello, nil, false
		case len(hc.out) > 0:
			b, hc.out = hc.out, nil
		case hc.finish:
			hc.mu.Unlock()
			hc.abort()
			return
		default: // shutWr
			hc.mu.Unlock()
			didShut = true
			if cw, ok := hc.conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			continue
		}
		hc.mu.Unlock()
		n, err := hc.conn.Write(b)
		if counted && n > 0 {
			hc.written.Add(uint64(n))
			if !hc.progress.Swap(true) {
				hc.h.in.post(event{kind: evWrote, hc: hc})
			}
		}
		if err != nil {
			hc.mu.Lock()
			closed := hc.closed
			hc.mu.Unlock()
			if !closed {
				hc.h.in.post(event{kind: evError, hc: hc, err: err})
			}
			return
		}
	}
}

// pendingBytes is the number of data bytes queued for Poll.
func (in *inbox) pendingBytes() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for _, ev := range in.evs {
		n += len(ev.data)
	}
	return n
}
