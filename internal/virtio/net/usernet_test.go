package net

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/usernet"
)

// ipChecksum is the Internet checksum of b.
func ipChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// ipv4Frame wraps an IPv4 payload of protocol proto in an Ethernet frame.
func ipv4Frame(dstMAC, srcMAC [6]byte, src, dst [4]byte, proto byte, payload []byte) []byte {
	f := make([]byte, 14+20+len(payload))
	copy(f[0:6], dstMAC[:])
	copy(f[6:12], srcMAC[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(ip[4:], 1)
	ip[8] = 64
	ip[9] = proto
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
	copy(f[34:], payload)
	return f
}

// dhcpDiscover builds a broadcast DHCPDISCOVER from mac.
func dhcpDiscover(mac [6]byte, xid uint32) []byte {
	bootp := make([]byte, 300)
	bootp[0], bootp[1], bootp[2] = 1, 1, 6 // BOOTREQUEST, Ethernet, 6-byte address
	binary.BigEndian.PutUint32(bootp[4:], xid)
	binary.BigEndian.PutUint16(bootp[10:], 0x8000) // broadcast reply
	copy(bootp[28:], mac[:])
	copy(bootp[236:], []byte{99, 130, 83, 99, 53, 1, 1, 255})
	udp := make([]byte, 8+len(bootp))
	binary.BigEndian.PutUint16(udp[0:], 68)
	binary.BigEndian.PutUint16(udp[2:], 67)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], bootp)
	bcast := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	return ipv4Frame(bcast, mac, [4]byte{}, [4]byte{255, 255, 255, 255}, 17, udp)
}

// dhcpType returns the message type and yiaddr of a DHCP reply frame.
func dhcpType(f []byte) (byte, netip.Addr, bool) {
	if len(f) < 14+20+8+240 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[23] != 17 {
		return 0, netip.Addr{}, false
	}
	ihl := int(f[14]&0xf) * 4
	udp := f[14+ihl:]
	if binary.BigEndian.Uint16(udp[2:]) != 68 {
		return 0, netip.Addr{}, false
	}
	b := udp[8:]
	if b[0] != 2 || len(b) < 240 {
		return 0, netip.Addr{}, false
	}
	yi := netip.AddrFrom4([4]byte(b[16:20]))
	for o := b[240:]; len(o) >= 2 && o[0] != 255; {
		if o[0] == 0 {
			o = o[1:]
			continue
		}
		if len(o) < 2+int(o[1]) {
			break
		}
		if o[0] == 53 && o[1] == 1 {
			return o[2], yi, true
		}
		o = o[2+int(o[1]):]
	}
	return 0, netip.Addr{}, false
}

func TestUsernetDHCP(t *testing.T) {
	n, err := usernet.New(usernet.Config{Logger: quiet(), DNSServers: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, Usernet(n), allFeatures)
	var addrs []uint64
	for i := 0; i < 8; i++ {
		addrs = append(addrs, r.postRx(2048))
	}
	r.transmit(nil, dhcpDiscover(DefaultMAC, 0x1234abcd), 2)
	if st := r.dev.Stats(); st.TxFrames != 1 {
		t.Fatalf("stats %+v", st)
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case <-r.dev.Wake():
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatal("no DHCPOFFER")
		}
		r.dev.Poll()
		for {
			head, length, ok := r.rxq().Get()
			if !ok {
				break
			}
			b := r.mem.At(addrs[head], uint64(length))
			if typ, yi, ok := dhcpType(b[HeaderSize:]); ok {
				if typ != 2 {
					t.Fatalf("DHCP reply of type %d, want OFFER (2)", typ)
				}
				if yi != netip.MustParseAddr(usernet.GuestAddr) {
					t.Fatalf("offered %v", yi)
				}
				return
			}
		}
	}
}
