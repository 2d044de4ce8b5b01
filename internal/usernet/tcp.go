package usernet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

const (
	// dialTimeout bounds connecting to the host for a guest connection
	// (the guest keeps retransmitting its SYN meanwhile).
	dialTimeout = 20 * time.Second
	// guestDialTimeout bounds connecting to the guest for a host forward.
	guestDialTimeout = 20 * time.Second
)

// handleTCP serves a guest's TCP connection request (a SYN to any address):
// it connects to the mapped host address, and only then completes the
// handshake with the guest, so a refused host connection is a reset, as
// with a real peer. It runs on a goroutine of gVisor's TCP forwarder.
func (n *Network) handleTCP(r *tcp.ForwarderRequest) {
	if !n.goTracked(func() { n.proxyTCP(r) }) {
		r.Complete(true)
	}
}

func (n *Network) proxyTCP(r *tcp.ForwarderRequest) {
	id := r.ID()
	target, ok := n.outboundTarget(id.LocalAddress, id.LocalPort)
	if !ok {
		n.log.Debug("guest TCP connection refused: no such host", "dst", fmt.Sprintf("%s:%d", id.LocalAddress, id.LocalPort))
		r.Complete(true)
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, dialTimeout)
	var d net.Dialer
	hc, err := d.DialContext(ctx, "tcp", target.String())
	cancel()
	if err != nil {
		n.log.Debug("guest TCP connection: host side failed", "guest", fmt.Sprintf("%s:%d", id.RemoteAddress, id.RemotePort), "target", target, "err", err)
		r.Complete(true)
		return
	}
	var wq waiter.Queue
	ep, terr := r.CreateEndpoint(&wq)
	if terr != nil {
		n.log.Debug("guest TCP connection: handshake failed", "target", target, "err", terr)
		r.Complete(true)
		hc.Close()
		return
	}
	r.Complete(false)
	n.log.Debug("guest TCP connection", "guest", fmt.Sprintf("%s:%d", id.RemoteAddress, id.RemotePort), "target", target)
	n.splice(gonet.NewTCPConn(&wq, ep), hc.(*net.TCPConn))
}

// halfCloser is a connection whose sending side can be shut alone.
type halfCloser interface {
	net.Conn
	CloseWrite() error
}

// splice copies a and b both ways until both directions end, passing on
// half-closes, then closes both. An error in either direction aborts both.
// It returns when both are closed; Close interrupts it.
func (n *Network) splice(a, b halfCloser) {
	if !n.track(a) {
		b.Close()
		return
	}
	if !n.track(b) {
		n.untrack(a)
		return
	}
	var wg sync.WaitGroup
	var once sync.Once
	abort := func() {
		once.Do(func() {
			a.Close()
			b.Close()
		})
	}
	pipe := func(dst, src halfCloser) {
		defer wg.Done()
		_, err := io.Copy(dst, src)
		if err != nil && !errors.Is(err, net.ErrClosed) {
			abort()
			return
		}
		dst.CloseWrite()
	}
	wg.Add(1)
	if !n.goTracked(func() { pipe(b, a) }) {
		wg.Done()
		abort()
	}
	wg.Add(1)
	pipe(a, b)
	wg.Wait()
	n.untrack(a)
	n.untrack(b)
}

// startTCPForward listens on the host for a TCP host forward.
func (n *Network) startTCPForward(f Forward) (net.Addr, error) {
	ln, err := net.Listen("tcp", f.HostAddr)
	if err != nil {
		return nil, fmt.Errorf("usernet: host forward %v: %w", f, err)
	}
	if !n.track(ln) {
		return nil, fmt.Errorf("usernet: host forward %v: network closed", f)
	}
	n.goTracked(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				n.log.Warn("host forward: accept", "forward", f.String(), "err", err)
				select {
				case <-n.ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			if !n.goTracked(func() { n.forwardTCP(f, c.(*net.TCPConn)) }) {
				c.Close()
				return
			}
		}
	})
	return ln.Addr(), nil
}

// forwardTCP connects a host connection accepted for f to the guest.
func (n *Network) forwardTCP(f Forward, hc *net.TCPConn) {
	if !n.track(hc) {
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, guestDialTimeout)
	gc, err := gonet.DialTCPWithBind(ctx, n.stack,
		tcpip.FullAddress{NIC: nicID, Addr: n.gwAddr},
		tcpip.FullAddress{NIC: nicID, Addr: n.guestAddr, Port: f.GuestPort},
		ipv4.ProtocolNumber)
	cancel()
	if err != nil {
		n.log.Debug("host forward: guest did not accept", "forward", f.String(), "client", hc.RemoteAddr(), "err", err)
		n.untrack(hc)
		return
	}
	n.log.Debug("host forward connection", "forward", f.String(), "client", hc.RemoteAddr())
	n.forget(hc) // splice tracks it again
	n.splice(gc, hc)
}
