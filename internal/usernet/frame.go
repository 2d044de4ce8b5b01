package usernet

import (
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// maxFrame is the largest guest frame accepted: an Ethernet header and a
// whole IPv4 datagram (the device offers no segmentation offload, so frames
// are normally at most MTU+14 bytes).
const maxFrame = header.EthernetMinimumSize + 65535

// filterFromGuest looks at a guest frame before the gateway stack does. It
// learns the guest's MAC address, answers DHCP itself, and turns away what
// the segment does not serve. It returns whether the stack should get the
// frame; a frame that is neither delivered nor consumed counts as dropped.
func (n *Network) filterFromGuest(frame []byte) (deliver bool) {
	if len(frame) < header.EthernetMinimumSize || len(frame) > maxFrame {
		return false
	}
	eth := header.Ethernet(frame)
	dst, src := eth.DestinationAddress(), eth.SourceAddress()
	if dst != n.gwMAC && dst != header.EthernetBroadcastAddress && !header.IsMulticastEthernetAddress(dst) {
		return false // for nobody on this segment
	}
	payload := frame[header.EthernetMinimumSize:]
	switch eth.Type() {
	case header.ARPProtocolNumber:
		a := header.ARP(payload)
		if len(a) < header.ARPSize || !a.IsValid() {
			return false
		}
		n.setGuestMAC(tcpip.AddrFrom4Slice(a.ProtocolAddressSender()), tcpip.LinkAddress(a.HardwareAddressSender()))
		// The stack is promiscuous and would claim every address: only
		// the gateway and the DNS server answer requests. (Above all, a
		// guest probing its own address before using it must hear
		// nothing.)
		if a.Op() == header.ARPRequest && !n.isGatewayAddr(tcpip.AddrFrom4Slice(a.ProtocolAddressTarget())) {
			return false
		}
		return true
	case header.IPv4ProtocolNumber:
		ip := header.IPv4(payload)
		if len(ip) < header.IPv4MinimumSize || !ip.IsValid(len(ip)) {
			return false
		}
		n.setGuestMAC(ip.SourceAddress(), src)
		if ip.More() || ip.FragmentOffset() != 0 {
			return true // fragments are reassembled by the stack
		}
		body := ip.Payload()
		switch tcpip.TransportProtocolNumber(ip.Protocol()) {
		case header.UDPProtocolNumber:
			if len(body) >= header.UDPMinimumSize && header.UDP(body).DestinationPort() == dhcpServerPort {
				u := header.UDP(body)
				if int(u.Length()) < header.UDPMinimumSize || int(u.Length()) > len(body) {
					return false
				}
				n.handleDHCP(src, u.Payload()[:int(u.Length())-header.UDPMinimumSize])
				return false
			}
		case header.ICMPv4ProtocolNumber:
			// Only the gateway and the DNS server answer pings: the
			// host cannot send ICMP for the guest, and answering for
			// the world would lie about reachability.
			if len(body) >= header.ICMPv4MinimumSize && header.ICMPv4(body).Type() == header.ICMPv4Echo && !n.isGatewayAddr(ip.DestinationAddress()) {
				return false
			}
		}
		return true
	default:
		return false // no IPv6 or anything else on this segment
	}
}

// udpFrame builds an Ethernet+IPv4+UDP frame from the gateway.
func (n *Network) udpFrame(dstMAC tcpip.LinkAddress, src, dst tcpip.Address, srcPort, dstPort uint16, payload []byte) []byte {
	const hdr = header.EthernetMinimumSize + header.IPv4MinimumSize + header.UDPMinimumSize
	frame := make([]byte, hdr+len(payload))
	header.Ethernet(frame).Encode(&header.EthernetFields{SrcAddr: n.gwMAC, DstAddr: dstMAC, Type: header.IPv4ProtocolNumber})
	ip := header.IPv4(frame[header.EthernetMinimumSize:])
	ipLen := header.IPv4MinimumSize + header.UDPMinimumSize + len(payload)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(ipLen),
		TTL:         64,
		Protocol:    uint8(header.UDPProtocolNumber),
		SrcAddr:     src,
		DstAddr:     dst,
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	u := header.UDP(frame[header.EthernetMinimumSize+header.IPv4MinimumSize:])
	udpLen := uint16(header.UDPMinimumSize + len(payload))
	u.Encode(&header.UDPFields{SrcPort: srcPort, DstPort: dstPort, Length: udpLen})
	copy(u.Payload(), payload)
	xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, src, dst, udpLen)
	xsum = checksum.Checksum(payload, xsum)
	if c := ^u.CalculateChecksum(xsum); c != 0 {
		u.SetChecksum(c)
	} else {
		u.SetChecksum(0xffff)
	}
	return frame
}
