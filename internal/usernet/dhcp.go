package usernet

import (
	"encoding/binary"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// The DHCP server (RFC 2131, 2132) is a small responder on the frame path:
// there is one guest and one address to give, 10.0.2.15, so it keeps no
// lease table. It answers DISCOVER with OFFER, REQUEST for 10.0.2.15 with
// ACK (anything else with NAK), INFORM with ACK, and ignores the rest.

const (
	dhcpServerPort = 67
	dhcpClientPort = 68

	dhcpFixedLen  = 236 // BOOTP header up to the options
	dhcpMinReply  = 300 // BOOTP's minimum message size; some clients insist
	dhcpLeaseSecs = 24 * 60 * 60

	bootRequest = 1
	bootReply   = 2

	dhcpDiscover = 1
	dhcpOffer    = 2
	dhcpRequest  = 3
	dhcpDecline  = 4
	dhcpAck      = 5
	dhcpNak      = 6
	dhcpRelease  = 7
	dhcpInform   = 8

	optPad         = 0
	optSubnetMask  = 1
	optRouter      = 3
	optDNS         = 6
	optBroadcast   = 28
	optRequestedIP = 50
	optLeaseTime   = 51
	optMsgType     = 53
	optServerID    = 54
	optEnd         = 255
)

var dhcpMagic = [4]byte{99, 130, 83, 99}

// dhcpMsg is the part of a client message the server needs.
type dhcpMsg struct {
	raw         []byte
	msgType     byte
	flags       uint16
	ciaddr      tcpip.Address
	chaddr      tcpip.LinkAddress
	requestedIP tcpip.Address
	serverID    tcpip.Address
}

// parseDHCP parses a BOOTREQUEST from an Ethernet client.
func parseDHCP(b []byte) (dhcpMsg, bool) {
	if len(b) < dhcpFixedLen+4 || b[0] != bootRequest || b[1] != 1 || b[2] != 6 {
		return dhcpMsg{}, false
	}
	if [4]byte(b[dhcpFixedLen:dhcpFixedLen+4]) != dhcpMagic {
		return dhcpMsg{}, false
	}
	m := dhcpMsg{
		raw:    b,
		flags:  binary.BigEndian.Uint16(b[10:12]),
		ciaddr: tcpip.AddrFrom4Slice(b[12:16]),
		chaddr: tcpip.LinkAddress(b[28:34]),
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
			return dhcpMsg{}, false
		}
		val := opts[2 : 2+int(opts[1])]
		switch code {
		case optMsgType:
			if len(val) == 1 {
				m.msgType = val[0]
			}
		case optRequestedIP:
			if len(val) == 4 {
				m.requestedIP = tcpip.AddrFrom4Slice(val)
			}
		case optServerID:
			if len(val) == 4 {
				m.serverID = tcpip.AddrFrom4Slice(val)
			}
		}
		opts = opts[2+len(val):]
	}
	return m, m.msgType != 0
}

// handleDHCP answers a DHCP message the guest sent to port 67.
func (n *Network) handleDHCP(srcMAC tcpip.LinkAddress, payload []byte) {
	m, ok := parseDHCP(payload)
	if !ok {
		n.droppedFromGuest.Add(1)
		return
	}
	var reply byte
	yiaddr := n.guestAddr
	switch m.msgType {
	case dhcpDiscover:
		reply = dhcpOffer
	case dhcpRequest:
		if m.serverID.Len() == 4 && m.serverID != n.gwAddr {
			return // the client chose another server
		}
		want := m.requestedIP
		if want.Len() != 4 {
			want = m.ciaddr
		}
		reply = dhcpAck
		if want != n.guestAddr {
			reply, yiaddr = dhcpNak, tcpip.AddrFrom4([4]byte{})
		}
	case dhcpInform:
		reply, yiaddr = dhcpAck, tcpip.AddrFrom4([4]byte{})
	case dhcpDecline, dhcpRelease:
		n.log.Debug("DHCP", "message", m.msgType, "mac", m.chaddr)
		return
	default:
		return
	}
	if reply != dhcpNak {
		n.setGuestMAC(n.guestAddr, m.chaddr)
	}
	n.log.Debug("DHCP", "request", m.msgType, "reply", reply, "mac", m.chaddr, "addr", yiaddr)

	out := make([]byte, dhcpFixedLen+4, dhcpMinReply)
	out[0], out[1], out[2] = bootReply, 1, 6
	copy(out[4:8], m.raw[4:8])     // xid
	copy(out[10:12], m.raw[10:12]) // flags
	copy(out[12:16], m.raw[12:16]) // ciaddr
	if reply != dhcpNak {
		y := yiaddr.As4()
		copy(out[16:20], y[:])
		gw := n.gwAddr.As4()
		copy(out[20:24], gw[:]) // siaddr
	}
	copy(out[24:28], m.raw[24:28]) // giaddr
	copy(out[28:44], m.raw[28:44]) // chaddr
	copy(out[dhcpFixedLen:], dhcpMagic[:])
	gw, dns := n.gwAddr.As4(), n.dnsAddr.As4()
	out = append(out, optMsgType, 1, reply)
	out = append(out, optServerID, 4)
	out = append(out, gw[:]...)
	if reply != dhcpNak {
		bcast := n.subnet.Broadcast().As4()
		if m.msgType != dhcpInform {
			out = append(out, optLeaseTime, 4)
			out = binary.BigEndian.AppendUint32(out, dhcpLeaseSecs)
		}
		out = append(out, optSubnetMask, 4)
		out = binary.BigEndian.AppendUint32(out, ^uint32(0)<<(32-n.subnet.Prefix()))
		out = append(out, optRouter, 4)
		out = append(out, gw[:]...)
		out = append(out, optDNS, 4)
		out = append(out, dns[:]...)
		out = append(out, optBroadcast, 4)
		out = append(out, bcast[:]...)
	}
	out = append(out, optEnd)
	for len(out) < dhcpMinReply {
		out = append(out, optPad)
	}

	// RFC 2131 4.1: to ciaddr if the client has one; broadcast if it asks
	// or the reply is a NAK; else to yiaddr at the client's MAC address.
	dstMAC, dstIP := m.chaddr, yiaddr
	switch {
	case reply == dhcpNak || m.flags&0x8000 != 0:
		dstMAC, dstIP = header.EthernetBroadcastAddress, header.IPv4Broadcast
	case m.ciaddr != tcpip.AddrFrom4([4]byte{}):
		dstMAC, dstIP = srcMAC, m.ciaddr
	}
	n.q.push(n.udpFrame(dstMAC, n.gwAddr, dstIP, dhcpServerPort, dhcpClientPort, out))
}
