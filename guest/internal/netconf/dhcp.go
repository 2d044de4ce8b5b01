package netconf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/bits"
	"net/netip"
	"strings"
	"time"
)

// A small DHCP client (RFC 2131, 2132): DISCOVER, OFFER, REQUEST, ACK,
// carried in whole Ethernet frames so that it works on an interface that
// has no address yet, through an AF_PACKET socket in the guest and
// through any frame pipe in tests.

// DHCP message and option codes.
const (
	bootRequest = 1
	bootReply   = 2

	dhcpDiscover = 1
	dhcpOffer    = 2
	dhcpRequest  = 3
	dhcpAck      = 5
	dhcpNak      = 6

	optPad         = 0
	optSubnetMask  = 1
	optRouter      = 3
	optDNS         = 6
	optBroadcast   = 28
	optRequestedIP = 50
	optLeaseTime   = 51
	optMsgType     = 53
	optServerID    = 54
	optParamList   = 55
	optClientID    = 61
	optEnd         = 255

	dhcpFixedLen  = 236 // the BOOTP header before the magic cookie
	dhcpMinLen    = 300 // BOOTP's minimum message size
	dhcpFlagBcast = 0x8000

	dhcpServerPort = 67
	dhcpClientPort = 68
)

// dhcpMagic is the cookie that starts the options.
var dhcpMagic = [4]byte{99, 130, 83, 99}

// dhcpOption is one option of a message, in wire order.
type dhcpOption struct {
	code byte
	data []byte
}

// dhcpMsg is a DHCP message.
type dhcpMsg struct {
	op                             byte
	xid                            uint32
	secs, flags                    uint16
	ciaddr, yiaddr, siaddr, giaddr [4]byte
	chaddr                         []byte
	options                        []dhcpOption
}

// marshal encodes m, padded to the BOOTP minimum size.
func (m *dhcpMsg) marshal() []byte {
	b := make([]byte, dhcpFixedLen, dhcpMinLen)
	b[0], b[1], b[2] = m.op, 1, 6 // Ethernet, 6-byte addresses
	binary.BigEndian.PutUint32(b[4:], m.xid)
	binary.BigEndian.PutUint16(b[8:], m.secs)
	binary.BigEndian.PutUint16(b[10:], m.flags)
	copy(b[12:], m.ciaddr[:])
	copy(b[16:], m.yiaddr[:])
	copy(b[20:], m.siaddr[:])
	copy(b[24:], m.giaddr[:])
	copy(b[28:44], m.chaddr)
	b = append(b, dhcpMagic[:]...)
	for _, o := range m.options {
		b = append(b, o.code, byte(len(o.data)))
		b = append(b, o.data...)
	}
	b = append(b, optEnd)
	for len(b) < dhcpMinLen {
		b = append(b, optPad)
	}
	return b
}

// parseDHCP decodes a DHCP message.
func parseDHCP(b []byte) (*dhcpMsg, error) {
	if len(b) < dhcpFixedLen+4 {
		return nil, fmt.Errorf("DHCP message of %d bytes is too short", len(b))
	}
	if b[1] != 1 || b[2] != 6 {
		return nil, fmt.Errorf("DHCP message for hardware type %d, length %d; want Ethernet", b[1], b[2])
	}
	if [4]byte(b[dhcpFixedLen:]) != dhcpMagic {
		return nil, errors.New("DHCP message without the magic cookie")
	}
	m := &dhcpMsg{
		op:     b[0],
		xid:    binary.BigEndian.Uint32(b[4:]),
		secs:   binary.BigEndian.Uint16(b[8:]),
		flags:  binary.BigEndian.Uint16(b[10:]),
		ciaddr: [4]byte(b[12:16]),
		yiaddr: [4]byte(b[16:20]),
		siaddr: [4]byte(b[20:24]),
		giaddr: [4]byte(b[24:28]),
		chaddr: append([]byte(nil), b[28:34]...),
	}
	opts := b[dhcpFixedLen+4:]
	for len(opts) > 0 {
		code := opts[0]
		if code == optEnd {
			break
		}
		if code == optPad {
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || len(opts) < 2+int(opts[1]) {
			return nil, fmt.Errorf("DHCP option %d runs past the end of the message", code)
		}
		m.options = append(m.options, dhcpOption{code, append([]byte(nil), opts[2:2+int(opts[1])]...)})
		opts = opts[2+int(opts[1]):]
	}
	return m, nil
}

// option returns the data of the first option with the code.
func (m *dhcpMsg) option(code byte) ([]byte, bool) {
	for _, o := range m.options {
		if o.code == code {
			return o.data, true
		}
	}
	return nil, false
}

// msgType returns the DHCP message type, or 0.
func (m *dhcpMsg) msgType() byte {
	if v, ok := m.option(optMsgType); ok && len(v) == 1 {
		return v[0]
	}
	return 0
}

// addrOption returns a 4-byte address option.
func (m *dhcpMsg) addrOption(code byte) (netip.Addr, bool) {
	v, ok := m.option(code)
	if !ok || len(v) < 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(v[:4])), true
}

// Lease is the configuration a DHCP server gave.
type Lease struct {
	// Address is the interface address with its network length.
	Address netip.Prefix
	// Router is the default gateway (invalid when none was given).
	Router netip.Addr
	// DNS are the name servers.
	DNS []netip.Addr
	// Server is the DHCP server's identifier.
	Server netip.Addr
	// Time is the lease time.
	Time time.Duration
}

// String formats the lease as "10.0.2.15/24 router 10.0.2.2 dns 10.0.2.3".
func (l Lease) String() string {
	dns := make([]string, len(l.DNS))
	for i, d := range l.DNS {
		dns[i] = d.String()
	}
	return fmt.Sprintf("%s router %s dns %s", l.Address, l.Router, strings.Join(dns, ","))
}

// leaseFrom reads the configuration out of an ACK.
func leaseFrom(m *dhcpMsg) (Lease, error) {
	addr := netip.AddrFrom4(m.yiaddr)
	if addr.IsUnspecified() {
		return Lease{}, errors.New("the DHCP server gave no address")
	}
	mask, ok := m.option(optSubnetMask)
	if !ok || len(mask) != 4 {
		return Lease{}, errors.New("the DHCP server gave no subnet mask")
	}
	ones, ok := maskBits([4]byte(mask))
	if !ok {
		return Lease{}, fmt.Errorf("subnet mask %v is not contiguous", netip.AddrFrom4([4]byte(mask)))
	}
	l := Lease{Address: netip.PrefixFrom(addr, ones)}
	l.Router, _ = m.addrOption(optRouter)
	l.Server, _ = m.addrOption(optServerID)
	if v, ok := m.option(optDNS); ok {
		for i := 0; i+4 <= len(v); i += 4 {
			l.DNS = append(l.DNS, netip.AddrFrom4([4]byte(v[i:i+4])))
		}
	}
	if v, ok := m.option(optLeaseTime); ok && len(v) == 4 {
		l.Time = time.Duration(binary.BigEndian.Uint32(v)) * time.Second
	}
	return l, nil
}

// FrameConn carries whole Ethernet frames to and from the network.
type FrameConn interface {
	// WriteFrame sends one frame.
	WriteFrame(frame []byte) error
	// ReadFrame returns the next frame, or ErrTimeout when none arrived
	// within timeout.
	ReadFrame(timeout time.Duration) ([]byte, error)
}

// ErrTimeout is returned by FrameConn.ReadFrame when nothing arrived.
var ErrTimeout = errors.New("timed out")

// Client obtains a lease over a FrameConn.
type Client struct {
	conn FrameConn
	mac  []byte
	xid  uint32
	// wait is how long to wait for each answer; attempts is how many
	// times to start over.
	wait     time.Duration
	attempts int
}

// NewClient returns a client for the interface with the given MAC
// address that waits up to wait for each answer and starts over up to
// attempts times. Its transaction ID is derived from the MAC, so runs
// repeat.
func NewClient(conn FrameConn, mac []byte, wait time.Duration, attempts int) *Client {
	h := fnv.New32a()
	h.Write([]byte("juice"))
	h.Write(mac)
	return &Client{conn: conn, mac: mac, xid: h.Sum32(), wait: wait, attempts: max(attempts, 1)}
}

// message builds a client message of the given type.
func (c *Client) message(typ byte, extra ...dhcpOption) *dhcpMsg {
	m := &dhcpMsg{op: bootRequest, xid: c.xid, flags: dhcpFlagBcast, chaddr: c.mac}
	m.options = append(m.options,
		dhcpOption{optMsgType, []byte{typ}},
		dhcpOption{optClientID, append([]byte{1}, c.mac...)},
		dhcpOption{optParamList, []byte{optSubnetMask, optRouter, optDNS, optBroadcast, optLeaseTime, optServerID}},
	)
	return m.withOptions(extra...)
}

// withOptions appends options and returns m.
func (m *dhcpMsg) withOptions(opts ...dhcpOption) *dhcpMsg {
	m.options = append(m.options, opts...)
	return m
}

// send broadcasts a client message.
func (c *Client) send(m *dhcpMsg) error {
	frame := UDPFrame(c.mac, BroadcastMAC, [4]byte{}, [4]byte{255, 255, 255, 255},
		dhcpClientPort, dhcpServerPort, m.marshal())
	return c.conn.WriteFrame(frame)
}

// receive waits for a reply of one of the wanted types to this client's
// transaction, ignoring every other frame.
func (c *Client) receive(ctx context.Context, want ...byte) (*dhcpMsg, error) {
	deadline := time.Now().Add(c.wait)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, ErrTimeout
		}
		frame, err := c.conn.ReadFrame(left)
		if err != nil {
			return nil, err
		}
		u, ok := ParseUDPFrame(frame)
		if !ok || u.DstPort != dhcpClientPort || u.SrcPort != dhcpServerPort {
			continue
		}
		m, err := parseDHCP(u.Payload)
		if err != nil || m.op != bootReply || m.xid != c.xid || string(m.chaddr) != string(c.mac) {
			continue
		}
		for _, w := range want {
			if m.msgType() == w {
				return m, nil
			}
		}
	}
}

// Acquire runs DISCOVER-OFFER-REQUEST-ACK, starting over after a timeout
// or a NAK, up to the client's number of attempts.
func (c *Client) Acquire(ctx context.Context) (Lease, error) {
	var last error
	for attempt := 0; attempt < c.attempts; attempt++ {
		l, err := c.exchange(ctx)
		if err == nil {
			return l, nil
		}
		if ctx.Err() != nil {
			return l, ctx.Err()
		}
		last = err
	}
	return Lease{}, fmt.Errorf("DHCP: no lease after %d attempts: %w", c.attempts, last)
}

// exchange is one DISCOVER-OFFER-REQUEST-ACK round.
func (c *Client) exchange(ctx context.Context) (Lease, error) {
	if err := c.send(c.message(dhcpDiscover)); err != nil {
		return Lease{}, fmt.Errorf("sending DISCOVER: %w", err)
	}
	offer, err := c.receive(ctx, dhcpOffer)
	if err != nil {
		return Lease{}, fmt.Errorf("waiting for an OFFER: %w", err)
	}
	server, ok := offer.addrOption(optServerID)
	if !ok {
		return Lease{}, errors.New("OFFER without a server identifier")
	}
	req := c.message(dhcpRequest,
		dhcpOption{optRequestedIP, offer.yiaddr[:]},
		dhcpOption{optServerID, server.AsSlice()})
	if err := c.send(req); err != nil {
		return Lease{}, fmt.Errorf("sending REQUEST: %w", err)
	}
	ack, err := c.receive(ctx, dhcpAck, dhcpNak)
	if err != nil {
		return Lease{}, fmt.Errorf("waiting for an ACK: %w", err)
	}
	if ack.msgType() == dhcpNak {
		return Lease{}, fmt.Errorf("the server refused %v (NAK)", netip.AddrFrom4(offer.yiaddr))
	}
	return leaseFrom(ack)
}

// maskBits returns the length of a contiguous IPv4 network mask.
func maskBits(mask [4]byte) (int, bool) {
	m := binary.BigEndian.Uint32(mask[:])
	ones := bits.LeadingZeros32(^m)
	return ones, ones == 32 || m<<ones == 0
}
