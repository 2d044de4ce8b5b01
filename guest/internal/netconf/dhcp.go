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

	"github.com/juicevm/juice/internal/dhcpmsg"
)

// A small DHCP client (RFC 2131, 2132): DISCOVER, OFFER, REQUEST, ACK,
// carried in whole Ethernet frames so that it works on an interface that
// has no address yet, through an AF_PACKET socket in the guest and
// through any frame pipe in tests.

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
func leaseFrom(m *dhcpmsg.Message) (Lease, error) {
	addr := netip.AddrFrom4(m.YIAddr)
	if addr.IsUnspecified() {
		return Lease{}, errors.New("the DHCP server gave no address")
	}
	mask, ok := m.Option(dhcpmsg.OptSubnetMask)
	if !ok || len(mask) != 4 {
		return Lease{}, errors.New("the DHCP server gave no subnet mask")
	}
	ones, ok := maskBits([4]byte(mask))
	if !ok {
		return Lease{}, fmt.Errorf("subnet mask %v is not contiguous", netip.AddrFrom4([4]byte(mask)))
	}
	l := Lease{Address: netip.PrefixFrom(addr, ones)}
	l.Router, _ = m.Addr(dhcpmsg.OptRouter)
	l.Server, _ = m.Addr(dhcpmsg.OptServerID)
	if v, ok := m.Option(dhcpmsg.OptDNS); ok {
		for i := 0; i+4 <= len(v); i += 4 {
			l.DNS = append(l.DNS, netip.AddrFrom4([4]byte(v[i:i+4])))
		}
	}
	if v, ok := m.Option(dhcpmsg.OptLeaseTime); ok && len(v) == 4 {
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
func (c *Client) message(typ byte, extra ...dhcpmsg.Option) *dhcpmsg.Message {
	m := &dhcpmsg.Message{Op: dhcpmsg.BootRequest, XID: c.xid, Flags: dhcpmsg.FlagBroadcast}
	copy(m.CHAddr[:], c.mac)
	m.Options = append(m.Options,
		dhcpmsg.Option{Code: dhcpmsg.OptMsgType, Data: []byte{typ}},
		dhcpmsg.Option{Code: dhcpmsg.OptClientID, Data: append([]byte{1}, c.mac...)},
		dhcpmsg.Option{Code: dhcpmsg.OptParamList, Data: []byte{dhcpmsg.OptSubnetMask, dhcpmsg.OptRouter,
			dhcpmsg.OptDNS, dhcpmsg.OptBroadcast, dhcpmsg.OptLeaseTime, dhcpmsg.OptServerID}},
	)
	m.Options = append(m.Options, extra...)
	return m
}

// send broadcasts a client message.
func (c *Client) send(m *dhcpmsg.Message) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	frame := UDPFrame(c.mac, BroadcastMAC, [4]byte{}, [4]byte{255, 255, 255, 255},
		dhcpmsg.ClientPort, dhcpmsg.ServerPort, b)
	return c.conn.WriteFrame(frame)
}

// receive waits for a reply of one of the wanted types to this client's
// transaction, ignoring every other frame.
func (c *Client) receive(ctx context.Context, want ...byte) (*dhcpmsg.Message, error) {
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
		if !ok || u.DstPort != dhcpmsg.ClientPort || u.SrcPort != dhcpmsg.ServerPort {
			continue
		}
		m, err := dhcpmsg.Parse(u.Payload)
		if err != nil || m.Op != dhcpmsg.BootReply || m.XID != c.xid || string(m.CHAddr[:6]) != string(c.mac) {
			continue
		}
		for _, w := range want {
			if m.Type() == w {
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
	if err := c.send(c.message(dhcpmsg.Discover)); err != nil {
		return Lease{}, fmt.Errorf("sending DISCOVER: %w", err)
	}
	offer, err := c.receive(ctx, dhcpmsg.Offer)
	if err != nil {
		return Lease{}, fmt.Errorf("waiting for an OFFER: %w", err)
	}
	server, ok := offer.Addr(dhcpmsg.OptServerID)
	if !ok {
		return Lease{}, errors.New("OFFER without a server identifier")
	}
	req := c.message(dhcpmsg.Request,
		dhcpmsg.Option{Code: dhcpmsg.OptRequestedIP, Data: offer.YIAddr[:]},
		dhcpmsg.Option{Code: dhcpmsg.OptServerID, Data: server.AsSlice()})
	if err := c.send(req); err != nil {
		return Lease{}, fmt.Errorf("sending REQUEST: %w", err)
	}
	ack, err := c.receive(ctx, dhcpmsg.Ack, dhcpmsg.Nak)
	if err != nil {
		return Lease{}, fmt.Errorf("waiting for an ACK: %w", err)
	}
	if ack.Type() == dhcpmsg.Nak {
		return Lease{}, fmt.Errorf("the server refused %v (NAK)", netip.AddrFrom4(offer.YIAddr))
	}
	return leaseFrom(ack)
}

// maskBits returns the length of a contiguous IPv4 network mask.
func maskBits(mask [4]byte) (int, bool) {
	m := binary.BigEndian.Uint32(mask[:])
	ones := bits.LeadingZeros32(^m)
	return ones, ones == 32 || m<<ones == 0
}
