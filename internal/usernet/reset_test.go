package usernet

import (
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestUnknownConnectionIsReset: a network made anew (a restored or
// migrated VM's) knows none of the guest's TCP connections; a segment of
// one is answered with a RST, as a real network's peer that lost its
// state answers, and the guest's connection ends instead of hanging.
func TestUnknownConnectionIsReset(t *testing.T) {
	n := newNetwork(t, Config{})
	guest, gw := addrFrom(GuestAddr), addrFrom(GatewayAddr)
	body := make([]byte, header.TCPMinimumSize+5)
	tcp := header.TCP(body)
	tcp.Encode(&header.TCPFields{SrcPort: 40000, DstPort: 22, SeqNum: 1000, AckNum: 5000,
		DataOffset: header.TCPMinimumSize, Flags: header.TCPFlagAck | header.TCPFlagPsh, WindowSize: 65535})
	copy(body[header.TCPMinimumSize:], "hello")
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, guest, gw, uint16(len(body)))
	tcp.SetChecksum(^tcp.CalculateChecksum(checksum.Checksum(body[header.TCPMinimumSize:], xsum)))
	n.SendFromGuest(ipv4Frame(gatewayMAC(), guest, gw, header.TCPProtocolNumber, body))
	waitFrame(t, n, "RST for the unknown connection", func(f []byte) bool {
		eth := header.Ethernet(f)
		if eth.Type() != header.IPv4ProtocolNumber {
			return false
		}
		ip := header.IPv4(f[header.EthernetMinimumSize:])
		if ip.TransportProtocol() != header.TCPProtocolNumber || ip.DestinationAddress() != guest {
			return false
		}
		r := header.TCP(ip.Payload())
		return r.DestinationPort() == 40000 && r.Flags()&header.TCPFlagRst != 0
	})
}
