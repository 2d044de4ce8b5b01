// Package dhcpmsg encodes and decodes DHCP messages (RFC 2131, 2132): the
// BOOTP header, the magic cookie and the options that follow it, for
// Ethernet clients only.
//
// Both ends of Juice's DHCP use it: the user-mode network's server and the
// guest's client. Each treats the other's messages as hostile, so Parse
// checks every length against the message before reading and never
// panics. It does not import package net, to keep the guest's binaries
// small.
package dhcpmsg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// UDP ports.
const (
	// ServerPort is the port DHCP servers listen on.
	ServerPort = 67
	// ClientPort is the port DHCP clients listen on.
	ClientPort = 68
)

// BOOTP operations, the first byte of a message.
const (
	// BootRequest is the op of a message from a client.
	BootRequest = 1
	// BootReply is the op of a message from a server.
	BootReply = 2
)

// Sizes, flags and the magic cookie.
const (
	// HeaderLen is the length of the fixed BOOTP header, up to the magic
	// cookie.
	HeaderLen = 236
	// MinLen is BOOTP's minimum message size; Marshal pads to it, since
	// some clients insist.
	MinLen = 300
	// MaxOptions is the most options Parse accepts in one message: far
	// more than any real message carries, and a bound on what a hostile
	// one can make Parse allocate.
	MaxOptions = 255
	// MaxOptionLen is the most data one option carries: its length is
	// one byte.
	MaxOptionLen = 255
	// FlagBroadcast is the flags bit by which a client asks for its
	// replies to be broadcast.
	FlagBroadcast = 0x8000
	// MagicCookie marks the start of the options, after the header.
	MagicCookie = 0x63825363
)

// The hardware type and address length of Ethernet, the only kind of
// client Marshal writes and Parse accepts.
const (
	htypeEthernet = 1
	hlenEthernet  = 6
)

// DHCP message types, the value of OptMsgType.
const (
	// Discover is a client's broadcast to find servers.
	Discover = 1
	// Offer is a server's answer to Discover, offering an address.
	Offer = 2
	// Request is a client's request for the offered (or its current)
	// address.
	Request = 3
	// Decline is a client's report that the address is already in use.
	Decline = 4
	// Ack is a server's acknowledgement of Request or Inform, with the
	// configuration.
	Ack = 5
	// Nak is a server's refusal of Request.
	Nak = 6
	// Release is a client's release of its address.
	Release = 7
	// Inform is a client's request for configuration only, for an
	// address it already has.
	Inform = 8
)

// Option codes (RFC 2132).
const (
	// OptPad is a one-byte padding option without a length.
	OptPad = 0
	// OptSubnetMask is the subnet mask, 4 bytes.
	OptSubnetMask = 1
	// OptRouter lists routers, 4 bytes each.
	OptRouter = 3
	// OptDNS lists DNS servers, 4 bytes each.
	OptDNS = 6
	// OptBroadcast is the broadcast address, 4 bytes.
	OptBroadcast = 28
	// OptRequestedIP is the address a client requests, 4 bytes.
	OptRequestedIP = 50
	// OptLeaseTime is the lease time in seconds, 4 bytes big-endian.
	OptLeaseTime = 51
	// OptMsgType is the DHCP message type, 1 byte.
	OptMsgType = 53
	// OptServerID is the server identifier, 4 bytes.
	OptServerID = 54
	// OptParamList lists the option codes a client asks for.
	OptParamList = 55
	// OptClientID is the client identifier.
	OptClientID = 61
	// OptEnd ends the options; it has no length.
	OptEnd = 255
)

// Option is one option of a message.
type Option struct {
	// Code is the option code, neither OptPad nor OptEnd.
	Code byte
	// Data is the option's value, at most MaxOptionLen bytes.
	Data []byte
}

// Message is a DHCP message. The server name and boot file fields are
// always zero when marshalled and ignored when parsed, and so is hops;
// option overloading (option 52) is not supported.
type Message struct {
	// Op is BootRequest or BootReply.
	Op byte
	// XID is the transaction ID.
	XID uint32
	// Secs is the number of seconds since the client began.
	Secs uint16
	// Flags holds FlagBroadcast.
	Flags uint16
	// CIAddr is the client's address, when it already has one.
	CIAddr [4]byte
	// YIAddr is the address the server gives the client.
	YIAddr [4]byte
	// SIAddr is the address of the next server (the DHCP server's).
	SIAddr [4]byte
	// GIAddr is the relay agent's address.
	GIAddr [4]byte
	// CHAddr is the client's hardware address field; its first 6 bytes
	// are the client's MAC address.
	CHAddr [16]byte
	// Options are the options in wire order, without pads or the end.
	Options []Option
}

// Marshal encodes m, ending the options with OptEnd and padding the
// message to MinLen. It fails if m could not be parsed back: for an op
// other than BootRequest or BootReply, more than MaxOptions options, or
// an option whose code is OptPad or OptEnd or whose data is longer than
// MaxOptionLen.
func (m *Message) Marshal() ([]byte, error) {
	if m.Op != BootRequest && m.Op != BootReply {
		return nil, fmt.Errorf("DHCP message with op %d; want %d or %d", m.Op, BootRequest, BootReply)
	}
	if len(m.Options) > MaxOptions {
		return nil, fmt.Errorf("DHCP message with %d options; the most is %d", len(m.Options), MaxOptions)
	}
	b := make([]byte, HeaderLen, MinLen)
	b[0], b[1], b[2] = m.Op, htypeEthernet, hlenEthernet
	binary.BigEndian.PutUint32(b[4:], m.XID)
	binary.BigEndian.PutUint16(b[8:], m.Secs)
	binary.BigEndian.PutUint16(b[10:], m.Flags)
	copy(b[12:], m.CIAddr[:])
	copy(b[16:], m.YIAddr[:])
	copy(b[20:], m.SIAddr[:])
	copy(b[24:], m.GIAddr[:])
	copy(b[28:], m.CHAddr[:])
	b = binary.BigEndian.AppendUint32(b, MagicCookie)
	for _, o := range m.Options {
		if o.Code == OptPad || o.Code == OptEnd {
			return nil, fmt.Errorf("DHCP option with the reserved code %d", o.Code)
		}
		if len(o.Data) > MaxOptionLen {
			return nil, fmt.Errorf("DHCP option %d of %d bytes; the most is %d", o.Code, len(o.Data), MaxOptionLen)
		}
		b = append(b, o.Code, byte(len(o.Data)))
		b = append(b, o.Data...)
	}
	b = append(b, OptEnd)
	for len(b) < MinLen {
		b = append(b, OptPad)
	}
	return b, nil
}

// Parse decodes a message from an Ethernet client or its server. It
// stops at OptEnd or at the end of b (accepting a message without
// OptEnd); whatever follows OptEnd is ignored. It fails for a message
// shorter than the header and cookie, an op other than BootRequest or
// BootReply, a hardware type other than Ethernet, a missing magic cookie,
// an option that runs past the end of b, or more than MaxOptions options.
// The message does not refer to b.
func Parse(b []byte) (*Message, error) {
	if len(b) < HeaderLen+4 {
		return nil, fmt.Errorf("DHCP message of %d bytes is too short; the least is %d", len(b), HeaderLen+4)
	}
	if b[0] != BootRequest && b[0] != BootReply {
		return nil, fmt.Errorf("DHCP message with op %d; want %d or %d", b[0], BootRequest, BootReply)
	}
	if b[1] != htypeEthernet || b[2] != hlenEthernet {
		return nil, fmt.Errorf("DHCP message for hardware type %d, length %d; want Ethernet", b[1], b[2])
	}
	if binary.BigEndian.Uint32(b[HeaderLen:]) != MagicCookie {
		return nil, errors.New("DHCP message without the magic cookie")
	}
	m := &Message{
		Op:     b[0],
		XID:    binary.BigEndian.Uint32(b[4:]),
		Secs:   binary.BigEndian.Uint16(b[8:]),
		Flags:  binary.BigEndian.Uint16(b[10:]),
		CIAddr: [4]byte(b[12:16]),
		YIAddr: [4]byte(b[16:20]),
		SIAddr: [4]byte(b[20:24]),
		GIAddr: [4]byte(b[24:28]),
		CHAddr: [16]byte(b[28:44]),
	}
	opts := b[HeaderLen+4:]
	var data []byte // one copy of the options, which they slice
	for i := 0; i < len(opts); {
		code := opts[i]
		if code == OptEnd {
			break
		}
		if code == OptPad {
			i++
			continue
		}
		if i+1 >= len(opts) || int(opts[i+1]) > len(opts)-i-2 {
			return nil, fmt.Errorf("DHCP option %d at byte %d runs past the end of the message", code, HeaderLen+4+i)
		}
		if len(m.Options) == MaxOptions {
			return nil, fmt.Errorf("DHCP message with more than %d options", MaxOptions)
		}
		if data == nil {
			data = append([]byte(nil), opts...)
		}
		n := int(opts[i+1])
		m.Options = append(m.Options, Option{code, data[i+2 : i+2+n : i+2+n]})
		i += 2 + n
	}
	return m, nil
}

// Option returns the data of the first option with the code.
func (m *Message) Option(code byte) ([]byte, bool) {
	for _, o := range m.Options {
		if o.Code == code {
			return o.Data, true
		}
	}
	return nil, false
}

// Type returns the DHCP message type (Discover, Offer, ...): the value of
// the first OptMsgType, or 0 when there is none or it is not one byte.
func (m *Message) Type() byte {
	if v, ok := m.Option(OptMsgType); ok && len(v) == 1 {
		return v[0]
	}
	return 0
}

// Addr returns the first address of the first option with the code, such
// as OptServerID or OptRouter; false when there is no such option or it
// is shorter than 4 bytes.
func (m *Message) Addr(code byte) (netip.Addr, bool) {
	v, ok := m.Option(code)
	if !ok || len(v) < 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(v[:4])), true
}
