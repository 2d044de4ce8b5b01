package usernet

import (
	"encoding/binary"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/juicevm/juice/internal/dhcpmsg"
)

// The DHCP server (RFC 2131, 2132) is a small responder on the frame path:
// there is one guest and one address to give, 10.0.2.15, so it keeps no
// lease table. It answers DISCOVER with OFFER, REQUEST for 10.0.2.15 with
// ACK (anything else with NAK), INFORM with ACK, and ignores the rest.

const (
	dhcpServerPort = dhcpmsg.ServerPort // the port the frame path diverts here
	dhcpLeaseSecs  = 24 * 60 * 60
)

// dhcpMsg is the part of a client message the server needs.
type dhcpMsg struct {
	msg         *dhcpmsg.Message
	msgType     byte
	ciaddr      tcpip.Address
	chaddr      tcpip.LinkAddress
	requestedIP tcpip.Address
	serverID    tcpip.Address
}

// parseDHCP parses a BOOTREQUEST from an Ethernet client. Of repeated
// options, the last well-formed one counts.
func parseDHCP(b []byte) (dhcpMsg, bool) {
	msg, err := dhcpmsg.Parse(b)
	if err != nil || msg.Op != dhcpmsg.BootRequest {
		return dhcpMsg{}, false
	}
	m := dhcpMsg{
		msg:    msg,
		ciaddr: tcpip.AddrFrom4(msg.CIAddr),
		chaddr: tcpip.LinkAddress(msg.CHAddr[:6]),
	}
	for _, o := range msg.Options {
		switch {
		case o.Code == dhcpmsg.OptMsgType && len(o.Data) == 1:
			m.msgType = o.Data[0]
		case o.Code == dhcpmsg.OptRequestedIP && len(o.Data) == 4:
			m.requestedIP = tcpip.AddrFrom4Slice(o.Data)
		case o.Code == dhcpmsg.OptServerID && len(o.Data) == 4:
			m.serverID = tcpip.AddrFrom4Slice(o.Data)
		}
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
	case dhcpmsg.Discover:
		reply = dhcpmsg.Offer
	case dhcpmsg.Request:
		if m.serverID.Len() == 4 && m.serverID != n.gwAddr {
			return // the client chose another server
		}
		want := m.requestedIP
		if want.Len() != 4 {
			want = m.ciaddr
		}
		reply = dhcpmsg.Ack
		if want != n.guestAddr {
			reply, yiaddr = dhcpmsg.Nak, tcpip.AddrFrom4([4]byte{})
		}
	case dhcpmsg.Inform:
		reply, yiaddr = dhcpmsg.Ack, tcpip.AddrFrom4([4]byte{})
	case dhcpmsg.Decline, dhcpmsg.Release:
		n.log.Debug("DHCP", "message", m.msgType, "mac", m.chaddr)
		return
	default:
		return
	}
	if reply != dhcpmsg.Nak {
		n.setGuestMAC(n.guestAddr, m.chaddr)
	}
	n.log.Debug("DHCP", "request", m.msgType, "reply", reply, "mac", m.chaddr, "addr", yiaddr)

	gw, dns := n.gwAddr.As4(), n.dnsAddr.As4()
	out := dhcpmsg.Message{
		Op:     dhcpmsg.BootReply,
		XID:    m.msg.XID,
		Flags:  m.msg.Flags,
		CIAddr: m.msg.CIAddr,
		GIAddr: m.msg.GIAddr,
		CHAddr: m.msg.CHAddr,
		Options: []dhcpmsg.Option{
			{Code: dhcpmsg.OptMsgType, Data: []byte{reply}},
			{Code: dhcpmsg.OptServerID, Data: gw[:]},
		},
	}
	if reply != dhcpmsg.Nak {
		out.YIAddr, out.SIAddr = yiaddr.As4(), gw
		bcast := n.subnet.Broadcast().As4()
		if m.msgType != dhcpmsg.Inform {
			out.Options = append(out.Options, dhcpmsg.Option{Code: dhcpmsg.OptLeaseTime,
				Data: binary.BigEndian.AppendUint32(nil, dhcpLeaseSecs)})
		}
		out.Options = append(out.Options,
			dhcpmsg.Option{Code: dhcpmsg.OptSubnetMask, Data: binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-n.subnet.Prefix()))},
			dhcpmsg.Option{Code: dhcpmsg.OptRouter, Data: gw[:]},
			dhcpmsg.Option{Code: dhcpmsg.OptDNS, Data: dns[:]},
			dhcpmsg.Option{Code: dhcpmsg.OptBroadcast, Data: bcast[:]})
	}
	b, err := out.Marshal()
	if err != nil {
		n.log.Debug("DHCP", "error", err)
		return
	}

	// RFC 2131 4.1: to ciaddr if the client has one; broadcast if it asks
	// or the reply is a NAK; else to yiaddr at the client's MAC address.
	dstMAC, dstIP := m.chaddr, yiaddr
	switch {
	case reply == dhcpmsg.Nak || m.msg.Flags&dhcpmsg.FlagBroadcast != 0:
		dstMAC, dstIP = header.EthernetBroadcastAddress, header.IPv4Broadcast
	case m.ciaddr != tcpip.AddrFrom4([4]byte{}):
		dstMAC, dstIP = srcMAC, m.ciaddr
	}
	n.q.push(n.udpFrame(dstMAC, n.gwAddr, dstIP, dhcpServerPort, dhcpmsg.ClientPort, b))
}
