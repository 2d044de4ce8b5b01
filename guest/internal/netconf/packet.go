package netconf

import (
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// htons converts a 16-bit value to network byte order, as the packet
// socket calls want their protocol numbers.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// PacketConn is an AF_PACKET socket bound to one interface, carrying
// whole IPv4 Ethernet frames (CONFIG_PACKET). It is a FrameConn.
type PacketConn struct {
	fd      int
	ifindex int
	buf     []byte
}

// OpenPacketConn opens a packet socket for IPv4 frames on an interface.
// The socket starts with protocol 0, receiving nothing until bind gives it
// the protocol and the interface: rebinding a socket that already
// receives waits for an RCU grace period (synchronize_net), several
// milliseconds of guest time.
func OpenPacketConn(ifindex int) (*PacketConn, error) {
	proto := htons(unix.ETH_P_IP)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("packet socket (CONFIG_PACKET): %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding the packet socket: %w", err)
	}
	return &PacketConn{fd: fd, ifindex: ifindex}, nil
}

// Close closes the socket. The kernel waits for an RCU grace period
// (synchronize_net) before close returns.
func (c *PacketConn) Close() error { return unix.Close(c.fd) }

// WriteFrame sends a whole Ethernet frame.
func (c *PacketConn) WriteFrame(frame []byte) error {
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: c.ifindex, Halen: 6}
	copy(to.Addr[:], frame[0:6])
	return unix.Sendto(c.fd, frame, 0, to)
}

// ReadFrame returns the next frame received (not sent) on the interface.
func (c *PacketConn) ReadFrame(timeout time.Duration) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	if c.buf == nil {
		c.buf = make([]byte, 65536)
	}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, ErrTimeout
		}
		tv := unix.NsecToTimeval(max(left, time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return nil, fmt.Errorf("setting the receive timeout: %w", err)
		}
		n, from, err := unix.Recvfrom(c.fd, c.buf, 0)
		switch {
		case err == unix.EAGAIN || err == unix.EWOULDBLOCK:
			return nil, ErrTimeout
		case err == unix.EINTR:
			continue
		case err != nil:
			return nil, fmt.Errorf("receiving: %w", err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		return append([]byte(nil), c.buf[:n]...), nil
	}
}

// WaitCarrier waits until the interface reports a carrier, or the
// timeout passes (DHCP retries cover a late link). It reports whether
// the carrier is up.
func WaitCarrier(ifname string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile("/sys/class/net/" + ifname + "/carrier"); err == nil && strings.TrimSpace(string(b)) == "1" {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}
