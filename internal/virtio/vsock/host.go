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

	"github.com/juicevm/juice/internal/unixsock"
)

// The host side over Unix sockets, as Firecracker's: goroutines that
// accept, dial, read and write host Unix sockets. They never touch the
// device's state or guest memory; they post events to the inbox, which the
// device drains in Poll (Host.Take).

const (
	handshakeTimeout = 10 * time.Second
	dialTimeout      = 5 * time.Second
	maxConnectLine   = 64
	readChunk        = 64 << 10
)

// errHostClosed fails dials asked for while the host side closes.
var errHostClosed = errors.New("the host side is closing")

// event is a HostEvent as queued, with its connection.
type event struct {
	HostEvent
	hc *hostConn
}

// inbox queues events for Take.
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

// hostSide owns the listener and every host connection's goroutines. It
// is the Host of a device made with Config.UnixPath (NewUnixHost).
type hostSide struct {
	log   *slog.Logger
	in    inbox
	path  string
	limit int // bytes read ahead per connection
	ln    *unixsock.Listener

	maxPending int
	pending    atomic.Int64  // accepted connections not yet taken
	nextID     atomic.Uint64 // for accepted connections' ConnIDs

	mu     sync.Mutex
	closed bool
	conns  map[ConnID]*hostConn
	// greeting holds the accepted connections whose CONNECT line is
	// still being read, for close to cut short.
	greeting map[net.Conn]struct{}
	stop     chan struct{} // closed by close
	wg       sync.WaitGroup
}

// NewUnixHost returns the Host that Firecracker-style Unix sockets carry
// (see the package comment), listening on cfg.UnixPath (see unixsock.Listen
// for what may be there already). An empty UnixPath gives a host side that takes no
// connections either way. Only UnixPath, ConnBuffer, MaxConns and Logger
// matter here.
func NewUnixHost(cfg Config) (Host, error) {
	h, err := newHostSide(cfg)
	if err != nil {
		return nil, err // not a nil *hostSide in a Host
	}
	return h, nil
}

func newHostSide(cfg Config) (*hostSide, error) {
	cfg.defaults()
	h := &hostSide{
		log:        cfg.Logger,
		path:       cfg.UnixPath,
		limit:      int(cfg.ConnBuffer),
		maxPending: cfg.MaxConns,
		conns:      map[ConnID]*hostConn{},
		greeting:   map[net.Conn]struct{}{},
		stop:       make(chan struct{}),
	}
	h.in.wake = make(chan struct{}, 1)
	if h.path != "" {
		ln, err := unixsock.Listen(h.path, 0)
		if err != nil {
			return nil, fmt.Errorf("vsock: host socket %w", err)
		}
		h.ln = ln
		h.goTracked(h.accept)
	}
	return h, nil
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

func (h *hostSide) newConn(id ConnID, c net.Conn) *hostConn {
	hc := &hostConn{h: h, id: id, conn: c, limit: h.limit}
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
	h.conns[id] = hc
	h.mu.Unlock()
	return hc
}

func (h *hostSide) forget(hc *hostConn) {
	h.mu.Lock()
	if h.conns[hc.id] == hc {
		delete(h.conns, hc.id)
	}
	h.mu.Unlock()
}

// lookup returns the live connection id, or nil.
func (h *hostSide) lookup(id ConnID) *hostConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns[id]
}

// Wake implements Host.
func (h *hostSide) Wake() <-chan struct{} { return h.in.wake }

// Take implements Host. A HostWrote carries the count written as of now,
// so that writes after it post a new event.
func (h *hostSide) Take() []HostEvent {
	evs := h.in.take()
	if len(evs) == 0 {
		return nil
	}
	out := make([]HostEvent, len(evs))
	for i := range evs {
		ev := &evs[i]
		switch ev.Kind {
		case HostAccept:
			h.pending.Add(-1)
		case HostWrote:
			ev.hc.progress.Store(false)
			ev.Written = ev.hc.written.Load()
		}
		out[i] = ev.HostEvent
	}
	return out
}

// Dial implements Host: a guest connection to host port port goes to the
// Unix socket U_port.
func (h *hostSide) Dial(id ConnID, port uint32) bool {
	if h.path == "" {
		return false
	}
	hc := h.newConn(id, nil)
	path := h.path + "_" + strconv.FormatUint(uint64(port), 10)
	if !h.goTracked(func() { h.dial(hc, path) }) {
		h.in.post(event{HostEvent{Kind: HostDialed, Conn: id, Err: errHostClosed}, hc})
	}
	return true
}

// Start implements Host.
func (h *hostSide) Start(id ConnID, hello []byte) {
	if hc := h.lookup(id); hc != nil {
		hc.start(hello)
	}
}

// Push implements Host.
func (h *hostSide) Push(id ConnID, p []byte) {
	if hc := h.lookup(id); hc != nil {
		hc.push(p)
	}
}

// Release implements Host.
func (h *hostSide) Release(id ConnID, n int) {
	if hc := h.lookup(id); hc != nil {
		hc.release(n)
	}
}

// ShutdownWrite implements Host.
func (h *hostSide) ShutdownWrite(id ConnID) {
	if hc := h.lookup(id); hc != nil {
		hc.shutdownWrite()
	}
}

// CloseGracefully implements Host.
func (h *hostSide) CloseGracefully(id ConnID) {
	if hc := h.lookup(id); hc != nil {
		hc.closeGracefully()
	}
}

// Abort implements Host.
func (h *hostSide) Abort(id ConnID) {
	if hc := h.lookup(id); hc != nil {
		hc.abort()
	}
}

// Close implements Host: it stops listening, closes every host connection,
// waits for the goroutines and removes the host socket if it is still the
// one it made.
func (h *hostSide) Close() error {
	h.close()
	return nil
}

// accept serves the host socket: each connection must say CONNECT <port>.
//
// A failed accept is retried, after a pause that grows to a second: most
// failures pass (the process's open files reach RLIMIT_NOFILE, and
// connections closing free them), and giving up would leave the socket
// listening with nobody accepting.
func (h *hostSide) accept() {
	var pause time.Duration
	for {
		c, err := h.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			h.log.Warn("vsock: accepting on the host socket failed; retrying", "path", h.path, "err", err, "pause", pause)
			select {
			case <-h.stop:
				return
			case <-time.After(pause):
			}
			continue
		}
		pause = 0
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
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.pending.Add(-1)
		c.Close()
		return
	}
	h.greeting[c] = struct{}{}
	h.mu.Unlock()
	port, err := readConnect(c)
	h.mu.Lock()
	delete(h.greeting, c)
	closed := h.closed
	h.mu.Unlock()
	if closed && err == nil {
		err = errHostClosed
	}
	if err != nil {
		h.pending.Add(-1)
		h.log.Debug("vsock: bad host connection request", "err", err)
		c.Close()
		return
	}
	id := AcceptedConn | ConnID(h.nextID.Add(1))
	hc := h.newConn(id, c)
	if hc.closed {
		h.pending.Add(-1)
		return
	}
	h.in.post(event{HostEvent{Kind: HostAccept, Conn: id, Port: port}, hc})
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
	h.in.post(event{HostEvent{Kind: HostDialed, Conn: hc.id, Err: err}, hc})
}

// close stops the listener and every connection and waits for the
// goroutines.
func (h *hostSide) close() {
	h.mu.Lock()
	if !h.closed {
		close(h.stop)
	}
	h.closed = true
	conns := h.conns
	h.conns = nil
	// A connection still saying CONNECT is cut short rather than waited
	// for (up to handshakeTimeout).
	for c := range h.greeting {
		c.Close()
	}
	h.mu.Unlock()
	if h.ln != nil {
		h.ln.Close()
	}
	for _, hc := range conns {
		hc.abort()
	}
	h.wg.Wait()
}

// hostConn is the host socket of one connection and its reader and writer.
// The device talks to it (through hostSide's Host methods) only with start,
// push, release, shutdownWrite, closeGracefully and abort, none of which
// blocks.
type hostConn struct {
	h    *hostSide
	id   ConnID
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
	progress atomic.Bool   // a HostWrote is queued
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
			hc.h.in.post(event{HostEvent{Kind: HostData, Conn: hc.id, Data: bytes.Clone(buf[:n])}, hc})
		}
		if err != nil {
			hc.mu.Lock()
			closed := hc.closed
			hc.mu.Unlock()
			if !closed {
				hc.h.in.post(event{HostEvent{Kind: HostEOF, Conn: hc.id}, hc})
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
				hc.h.in.post(event{HostEvent{Kind: HostWrote, Conn: hc.id}, hc})
			}
		}
		if err != nil {
			hc.mu.Lock()
			closed := hc.closed
			hc.mu.Unlock()
			if !closed {
				hc.h.in.post(event{HostEvent{Kind: HostError, Conn: hc.id, Err: err}, hc})
			}
			return
		}
	}
}

// pendingBytes is the number of data bytes queued for Take.
func (in *inbox) pendingBytes() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for _, ev := range in.evs {
		n += len(ev.Data)
	}
	return n
}
