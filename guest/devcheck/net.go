package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Expected DHCP results on Juice's (and QEMU's) user-mode network.
const (
	defaultIfname = "eth0"
	defaultIP     = "10.0.2.15/24"
	defaultRouter = "10.0.2.2"
	defaultDNS    = "10.0.2.3"
)

// network brings the interface up, configures it by DHCP, checks the
// lease against devcheck.ip, .router and .dns ("any" skips a check), and
// adds the address, the default route and /etc/resolv.conf.
func (r *runner) network() error {
	ifname := r.opts.str("ifname", defaultIfname)
	timeout, err := r.timeout()
	if err != nil {
		return err
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return fmt.Errorf("interface %s (virtio-net, CONFIG_VIRTIO_NET): %w", ifname, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return fmt.Errorf("interface %s has no Ethernet address", ifname)
	}
	nl, err := openRtnl()
	if err != nil {
		return err
	}
	defer nl.Close()
	if lo, err := net.InterfaceByName("lo"); err == nil {
		if err := nl.do("bringing lo up", func(seq uint32) []byte { return linkUpMessage(seq, lo.Index) }); err != nil {
			return err
		}
	}
	if err := nl.do("bringing "+ifname+" up", func(seq uint32) []byte { return linkUpMessage(seq, ifi.Index) }); err != nil {
		return err
	}
	waitCarrier(ifname, 2*time.Second)

	conn, err := openPacketConn(ifi.Index)
	if err != nil {
		return err
	}
	defer conn.Close()
	const attempts = 4
	client := newDHCPClient(conn, ifi.HardwareAddr, max(timeout/attempts, time.Second), attempts)
	lease, err := client.acquire(r.ctx)
	if err != nil {
		return err
	}
	r.infof("net", "lease %s", lease)
	if err := checkLease(lease, r.opts.str("ip", defaultIP), r.opts.str("router", defaultRouter), r.opts.str("dns", defaultDNS)); err != nil {
		return err
	}
	if err := nl.do("adding "+lease.addr.String(), func(seq uint32) []byte {
		return addrMessage(seq, ifi.Index, lease.addr, lease.prefix)
	}); err != nil {
		return err
	}
	if lease.router.IsValid() {
		if err := nl.do("adding the default route via "+lease.router.String(), func(seq uint32) []byte {
			return defaultRouteMessage(seq, ifi.Index, lease.router)
		}); err != nil {
			return err
		}
	}
	if len(lease.dns) > 0 {
		var b strings.Builder
		for _, d := range lease.dns {
			fmt.Fprintf(&b, "nameserver %s\n", d)
		}
		if err := os.WriteFile("/etc/resolv.conf", []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("writing /etc/resolv.conf: %w", err)
		}
	}
	return nil
}

// checkLease compares a lease with the expected address (with prefix),
// router and first name server; "any" accepts anything.
func checkLease(l dhcpLease, ip, router, dns string) error {
	if ip != "any" {
		want, err := netip.ParsePrefix(ip)
		if err != nil {
			return fmt.Errorf("option devcheck.ip=%s: %w", ip, err)
		}
		if got := netip.PrefixFrom(l.addr, l.prefix); got != want {
			return fmt.Errorf("DHCP gave %s, want %s", got, want)
		}
	}
	for _, c := range []struct {
		what, want string
		got        netip.Addr
	}{
		{"router", router, l.router},
		{"dns", dns, func() netip.Addr {
			if len(l.dns) > 0 {
				return l.dns[0]
			}
			return netip.Addr{}
		}()},
	} {
		if c.want == "any" {
			continue
		}
		want, err := netip.ParseAddr(c.want)
		if err != nil {
			return fmt.Errorf("option devcheck.%s=%s: %w", c.what, c.want, err)
		}
		if c.got != want {
			return fmt.Errorf("DHCP gave %s %v, want %s", c.what, c.got, want)
		}
	}
	return nil
}

// waitCarrier waits until the interface reports a carrier, or the
// timeout passes (DHCP retries cover a late link).
func waitCarrier(ifname string, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile("/sys/class/net/" + ifname + "/carrier"); err == nil && strings.TrimSpace(string(b)) == "1" {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// htons converts a 16-bit value to network byte order, as the packet
// socket calls want their protocol numbers.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// packetConn is an AF_PACKET socket bound to one interface, carrying
// whole IPv4 Ethernet frames (CONFIG_PACKET).
type packetConn struct {
	fd      int
	ifindex int
}

// openPacketConn opens a packet socket for IPv4 frames on an interface.
func openPacketConn(ifindex int) (*packetConn, error) {
	proto := htons(unix.ETH_P_IP)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		return nil, fmt.Errorf("packet socket (CONFIG_PACKET): %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding the packet socket: %w", err)
	}
	return &packetConn{fd: fd, ifindex: ifindex}, nil
}

// Close closes the socket.
func (c *packetConn) Close() error { return unix.Close(c.fd) }

// WriteFrame sends a whole Ethernet frame.
func (c *packetConn) WriteFrame(frame []byte) error {
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: c.ifindex, Halen: 6}
	copy(to.Addr[:], frame[0:6])
	return unix.Sendto(c.fd, frame, 0, to)
}

// ReadFrame returns the next frame received (not sent) on the interface.
func (c *packetConn) ReadFrame(timeout time.Duration) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 65536)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, errTimeout
		}
		tv := unix.NsecToTimeval(max(left, time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return nil, fmt.Errorf("setting the receive timeout: %w", err)
		}
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		switch {
		case err == unix.EAGAIN || err == unix.EWOULDBLOCK:
			return nil, errTimeout
		case err == unix.EINTR:
			continue
		case err != nil:
			return nil, fmt.Errorf("receiving: %w", err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		return append([]byte(nil), buf[:n]...), nil
	}
}
