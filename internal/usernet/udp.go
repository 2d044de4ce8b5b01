package usernet

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// maxDatagram is the largest UDP payload carried.
const maxDatagram = 65535

// handleUDP serves the first datagram of a guest UDP flow (to any address
// and port that has no endpoint in the gateway stack yet): it opens a
// connected host socket to the mapped address and relays both ways until
// the flow is idle. It runs on the goroutine that called SendFromGuest, so
// it must not block. Returning false lets the stack answer "port
// unreachable".
func (n *Network) handleUDP(r *udp.ForwarderRequest) bool {
	id := r.ID()
	target, ok := n.outboundTarget(id.LocalAddress, id.LocalPort)
	if !ok {
		return false
	}
	hc, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(target))
	if err != nil {
		n.log.Debug("guest UDP flow: host socket", "target", target, "err", err)
		return false
	}
	var wq waiter.Queue
	ep, terr := r.CreateEndpoint(&wq)
	if terr != nil {
		n.log.Debug("guest UDP flow: endpoint", "target", target, "err", terr)
		hc.Close()
		return true
	}
	gc := gonet.NewUDPConn(&wq, ep)
	if !n.track(gc) {
		hc.Close()
		return true
	}
	if !n.track(hc) {
		n.untrack(gc)
		return true
	}
	n.log.Debug("guest UDP flow", "guest", fmt.Sprintf("%s:%d", id.RemoteAddress, id.RemotePort), "target", target)
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	var once sync.Once
	end := func() {
		once.Do(func() {
			n.untrack(gc)
			n.untrack(hc)
		})
	}
	for _, dir := range []struct {
		src net.Conn
		dst func([]byte) error
	}{
		{gc, func(b []byte) error { _, err := hc.Write(b); return err }},
		{hc, func(b []byte) error { _, err := gc.Write(b); return err }},
	} {
		if !n.goTracked(func() {
			defer end()
			n.pumpUDP(dir.src, dir.dst, &last)
		}) {
			end()
		}
	}
	return true
}

// pumpUDP relays datagrams read from src to dst until src fails or nothing
// moved either way (last) for the idle timeout. A failed write drops the
// datagram, as UDP does.
func (n *Network) pumpUDP(src net.Conn, dst func([]byte) error, last *atomic.Int64) {
	buf := make([]byte, maxDatagram)
	for {
		deadline := time.Unix(0, last.Load()).Add(n.udpIdle)
		if !time.Now().Before(deadline) {
			return
		}
		src.SetReadDeadline(deadline)
		k, err := src.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || isTimeout(err) {
				continue // re-checked against last at the top
			}
			return
		}
		last.Store(time.Now().UnixNano())
		if err := dst(buf[:k]); err != nil {
			n.log.Debug("UDP relay: datagram dropped", "err", err)
		}
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// startUDPForward listens on the host for a UDP host forward. Each host
// client address gets its own flow to the guest, from the gateway's
// address, which ends after the idle timeout.
func (n *Network) startUDPForward(f Forward) (net.Addr, error) {
	pc, err := net.ListenPacket("udp", f.HostAddr)
	if err != nil {
		return nil, fmt.Errorf("usernet: host forward %v: %w", f, err)
	}
	if !n.track(pc) {
		return nil, fmt.Errorf("usernet: host forward %v: network closed", f)
	}
	type flow struct {
		gc   *gonet.UDPConn
		last atomic.Int64
	}
	var mu sync.Mutex
	flows := make(map[string]*flow)
	n.goTracked(func() {
		buf := make([]byte, maxDatagram)
		for {
			k, client, err := pc.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) || n.ctx.Err() != nil {
					return
				}
				n.log.Debug("host forward: read", "forward", f.String(), "err", err)
				continue
			}
			key := client.String()
			mu.Lock()
			fl := flows[key]
			if fl == nil {
				gc, err := gonet.DialUDP(n.stack,
					&tcpip.FullAddress{NIC: nicID, Addr: n.gwAddr},
					&tcpip.FullAddress{NIC: nicID, Addr: n.guestAddr, Port: f.GuestPort},
					ipv4.ProtocolNumber)
				if err != nil {
					mu.Unlock()
					n.log.Warn("host forward: cannot open a flow to the guest", "forward", f.String(), "err", err)
					continue
				}
				if !n.track(gc) {
					mu.Unlock()
					return
				}
				fl = &flow{gc: gc}
				fl.last.Store(time.Now().UnixNano())
				flows[key] = fl
				n.log.Debug("host forward UDP flow", "forward", f.String(), "client", key)
				ok := n.goTracked(func() {
					defer func() {
						mu.Lock()
						delete(flows, key)
						mu.Unlock()
						n.untrack(gc)
					}()
					n.pumpUDP(gc, func(b []byte) error { _, err := pc.WriteTo(b, client); return err }, &fl.last)
				})
				if !ok {
					mu.Unlock()
					return
				}
			}
			mu.Unlock()
			fl.last.Store(time.Now().UnixNano())
			if _, err := fl.gc.Write(buf[:k]); err != nil {
				n.log.Debug("host forward: datagram to the guest dropped", "forward", f.String(), "err", err)
			}
		}
	})
	return pc.LocalAddr(), nil
}

// startForwards starts the host forwards.
func (n *Network) startForwards(fwds []Forward) error {
	for _, f := range fwds {
		var addr net.Addr
		var err error
		if f.Proto == "tcp" {
			addr, err = n.startTCPForward(f)
		} else {
			addr, err = n.startUDPForward(f)
		}
		if err != nil {
			return err
		}
		n.fwdAddrs = append(n.fwdAddrs, addr)
	}
	return nil
}
