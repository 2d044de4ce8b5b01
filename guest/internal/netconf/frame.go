package netconf

import (
	"encoding/binary"
)

// Ethernet, IPv4 and UDP, just enough for DHCP.

const (
	ethHeaderLen  = 14
	ipv4HeaderLen = 20
	udpHeaderLen  = 8
	etherTypeIPv4 = 0x0800
	protoUDP      = 17
)

// BroadcastMAC is the Ethernet broadcast address.
var BroadcastMAC = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// Checksum is the Internet checksum (RFC 1071) of b, starting from sum.
func Checksum(sum uint32, b []byte) uint16 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// UDPFrame builds an Ethernet frame holding an IPv4 UDP datagram, with
// both checksums.
func UDPFrame(srcMAC, dstMAC []byte, srcIP, dstIP [4]byte, srcPort, dstPort uint16, payload []byte) []byte {
	f := make([]byte, ethHeaderLen+ipv4HeaderLen+udpHeaderLen+len(payload))
	copy(f[0:6], dstMAC)
	copy(f[6:12], srcMAC)
	binary.BigEndian.PutUint16(f[12:], etherTypeIPv4)

	ip := f[ethHeaderLen:]
	ip[0] = 0x45 // version 4, 5 words
	binary.BigEndian.PutUint16(ip[2:], uint16(ipv4HeaderLen+udpHeaderLen+len(payload)))
	ip[8] = 64 // TTL
	ip[9] = protoUDP
	copy(ip[12:16], srcIP[:])
	copy(ip[16:20], dstIP[:])
	binary.BigEndian.PutUint16(ip[10:], Checksum(0, ip[:ipv4HeaderLen]))

	udp := ip[ipv4HeaderLen:]
	binary.BigEndian.PutUint16(udp[0:], srcPort)
	binary.BigEndian.PutUint16(udp[2:], dstPort)
	binary.BigEndian.PutUint16(udp[4:], uint16(udpHeaderLen+len(payload)))
	copy(udp[udpHeaderLen:], payload)
	binary.BigEndian.PutUint16(udp[6:], udpChecksum(srcIP, dstIP, udp))
	return f
}

// pseudoSum is the partial sum of UDP's IPv4 pseudo-header.
func pseudoSum(src, dst [4]byte, udpLen int) uint32 {
	var sum uint32
	sum += uint32(src[0])<<8 | uint32(src[1])
	sum += uint32(src[2])<<8 | uint32(src[3])
	sum += uint32(dst[0])<<8 | uint32(dst[1])
	sum += uint32(dst[2])<<8 | uint32(dst[3])
	return sum + protoUDP + uint32(udpLen)
}

// udpChecksum computes the checksum of a UDP datagram (whose checksum
// field is zero) with its IPv4 pseudo-header; 0 is sent as 0xffff.
func udpChecksum(src, dst [4]byte, udp []byte) uint16 {
	c := Checksum(pseudoSum(src, dst, len(udp)), udp)
	if c == 0 {
		c = 0xffff
	}
	return c
}

// UDPPacket is a UDP datagram taken out of a frame.
type UDPPacket struct {
	SrcMAC, DstMAC   []byte
	SrcIP, DstIP     [4]byte
	SrcPort, DstPort uint16
	Payload          []byte
}

// ParseUDPFrame takes an IPv4 UDP datagram out of an Ethernet frame,
// checking lengths and the IPv4 header checksum (and the UDP checksum
// when present). ok is false for anything else.
func ParseUDPFrame(f []byte) (p UDPPacket, ok bool) {
	if len(f) < ethHeaderLen+ipv4HeaderLen+udpHeaderLen || binary.BigEndian.Uint16(f[12:]) != etherTypeIPv4 {
		return p, false
	}
	p.DstMAC, p.SrcMAC = f[0:6], f[6:12]
	ip := f[ethHeaderLen:]
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ip[0]>>4 != 4 || ihl < ipv4HeaderLen || total < ihl+udpHeaderLen || total > len(ip) || ip[9] != protoUDP {
		return p, false
	}
	if Checksum(0, ip[:ihl]) != 0 {
		return p, false
	}
	if frag := binary.BigEndian.Uint16(ip[6:]); frag&0x3fff != 0 {
		return p, false // a fragment: DHCP replies never are
	}
	copy(p.SrcIP[:], ip[12:16])
	copy(p.DstIP[:], ip[16:20])
	udp := ip[ihl:total]
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if ulen < udpHeaderLen || ulen > len(udp) {
		return p, false
	}
	udp = udp[:ulen]
	if binary.BigEndian.Uint16(udp[6:]) != 0 && Checksum(pseudoSum(p.SrcIP, p.DstIP, ulen), udp) != 0 {
		return p, false
	}
	p.SrcPort = binary.BigEndian.Uint16(udp[0:])
	p.DstPort = binary.BigEndian.Uint16(udp[2:])
	p.Payload = udp[udpHeaderLen:]
	return p, true
}
