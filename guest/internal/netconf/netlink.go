package netconf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Interface configuration through rtnetlink: link up, an IPv4 address, a
// default route. The guest has no iproute2, so this is `ip link set up`,
// `ip addr add` and `ip route add default` in a few bytes each.

// nlAlign rounds n up to netlink's 4-byte alignment.
func nlAlign(n int) int { return (n + 3) &^ 3 }

// rtAttr encodes one route attribute.
func rtAttr(typ uint16, data []byte) []byte {
	b := make([]byte, nlAlign(unix.SizeofRtAttr+len(data)))
	binary.NativeEndian.PutUint16(b[0:], uint16(unix.SizeofRtAttr+len(data)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[unix.SizeofRtAttr:], data)
	return b
}

// nlMessage encodes a netlink message: header, then body.
func nlMessage(typ, flags uint16, seq uint32, body ...[]byte) []byte {
	n := unix.SizeofNlMsghdr
	for _, b := range body {
		n += len(b)
	}
	m := make([]byte, unix.SizeofNlMsghdr, n)
	binary.NativeEndian.PutUint32(m[0:], uint32(n))
	binary.NativeEndian.PutUint16(m[4:], typ)
	binary.NativeEndian.PutUint16(m[6:], flags)
	binary.NativeEndian.PutUint32(m[8:], seq)
	for _, b := range body {
		m = append(m, b...)
	}
	return m
}

// asBytes returns the memory of a fixed-size kernel structure.
func asBytes[T any](v *T) []byte {
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))...)
}

// linkUpMessage is RTM_NEWLINK setting IFF_UP on an interface.
func linkUpMessage(seq uint32, ifindex int) []byte {
	info := unix.IfInfomsg{Family: unix.AF_UNSPEC, Index: int32(ifindex), Flags: unix.IFF_UP, Change: unix.IFF_UP}
	return nlMessage(unix.RTM_NEWLINK, unix.NLM_F_REQUEST|unix.NLM_F_ACK, seq, asBytes(&info))
}

// addrMessage is RTM_NEWADDR adding addr/prefix (with its broadcast
// address) to an interface.
func addrMessage(seq uint32, ifindex int, addr netip.Addr, prefix int) []byte {
	a := addr.As4()
	bcast := a
	if prefix < 32 {
		mask := ^uint32(0) >> prefix
		v := binary.BigEndian.Uint32(a[:]) | mask
		binary.BigEndian.PutUint32(bcast[:], v)
	}
	msg := unix.IfAddrmsg{Family: unix.AF_INET, Prefixlen: uint8(prefix), Scope: unix.RT_SCOPE_UNIVERSE, Index: uint32(ifindex)}
	return nlMessage(unix.RTM_NEWADDR, unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_REPLACE, seq,
		asBytes(&msg), rtAttr(unix.IFA_LOCAL, a[:]), rtAttr(unix.IFA_ADDRESS, a[:]), rtAttr(unix.IFA_BROADCAST, bcast[:]))
}

// defaultRouteMessage is RTM_NEWROUTE adding a default route through gw
// on an interface.
func defaultRouteMessage(seq uint32, ifindex int, gw netip.Addr) []byte {
	g := gw.As4()
	rt := unix.RtMsg{Family: unix.AF_INET, Table: unix.RT_TABLE_MAIN, Protocol: unix.RTPROT_BOOT,
		Scope: unix.RT_SCOPE_UNIVERSE, Type: unix.RTN_UNICAST}
	oif := make([]byte, 4)
	binary.NativeEndian.PutUint32(oif, uint32(ifindex))
	return nlMessage(unix.RTM_NEWROUTE, unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_REPLACE, seq,
		asBytes(&rt), rtAttr(unix.RTA_GATEWAY, g[:]), rtAttr(unix.RTA_OIF, oif))
}

// parseAck finds the NLMSG_ERROR answering seq in a buffer of netlink
// messages and returns its error (nil for an acknowledgement). found is
// false when the buffer holds no answer to seq.
func parseAck(buf []byte, seq uint32) (found bool, err error) {
	for len(buf) >= unix.SizeofNlMsghdr {
		n := int(binary.NativeEndian.Uint32(buf[0:]))
		typ := binary.NativeEndian.Uint16(buf[4:])
		mseq := binary.NativeEndian.Uint32(buf[8:])
		if n < unix.SizeofNlMsghdr || n > len(buf) {
			return false, errors.New("malformed netlink message")
		}
		if mseq == seq && typ == unix.NLMSG_ERROR {
			if n < unix.SizeofNlMsghdr+4 {
				return true, errors.New("short netlink error message")
			}
			if code := int32(binary.NativeEndian.Uint32(buf[unix.SizeofNlMsghdr:])); code != 0 {
				return true, syscall.Errno(-code)
			}
			return true, nil
		}
		buf = buf[min(nlAlign(n), len(buf)):]
	}
	return false, nil
}

// Rtnl is an rtnetlink socket.
type Rtnl struct {
	fd  int
	seq uint32
}

// OpenRtnl opens an rtnetlink socket.
func OpenRtnl() (*Rtnl, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	return &Rtnl{fd: fd}, nil
}

// Close closes the socket.
func (r *Rtnl) Close() error { return unix.Close(r.fd) }

// Do sends a request built by build for the next sequence number and
// waits for the kernel's acknowledgement. Errors start with what.
func (r *Rtnl) Do(what string, build func(seq uint32) []byte) error {
	r.seq++
	if err := unix.Sendto(r.fd, build(r.seq), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("%s: sending: %w", what, err)
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(r.fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: receiving: %w", what, err)
		}
		found, err := parseAck(buf[:n], r.seq)
		if found {
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
}

// LinkUp sets IFF_UP on an interface.
func (r *Rtnl) LinkUp(ifname string, ifindex int) error {
	return r.Do("bringing "+ifname+" up", func(seq uint32) []byte { return linkUpMessage(seq, ifindex) })
}

// AddAddress adds an IPv4 address with its network length (and the
// broadcast address) to an interface, replacing an equal one.
func (r *Rtnl) AddAddress(ifindex int, addr netip.Prefix) error {
	if !addr.Addr().Is4() {
		return fmt.Errorf("adding %s: not an IPv4 address", addr)
	}
	return r.Do("adding "+addr.Addr().String(), func(seq uint32) []byte {
		return addrMessage(seq, ifindex, addr.Addr(), addr.Bits())
	})
}

// AddDefaultRoute adds (or replaces) the IPv4 default route through gw on
// an interface.
func (r *Rtnl) AddDefaultRoute(ifindex int, gw netip.Addr) error {
	if !gw.Is4() {
		return fmt.Errorf("adding the default route via %s: not an IPv4 address", gw)
	}
	return r.Do("adding the default route via "+gw.String(), func(seq uint32) []byte {
		return defaultRouteMessage(seq, ifindex, gw)
	})
}
