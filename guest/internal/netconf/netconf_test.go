package netconf

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/juicevm/juice/internal/dhcpmsg"
	"github.com/juicevm/juice/internal/usernet"
)

func TestDHCPMessageRoundTrip(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	c := NewClient(nil, mac, time.Second, 1)
	m := c.message(dhcpmsg.Request, dhcpmsg.Option{Code: dhcpmsg.OptRequestedIP, Data: []byte{10, 0, 2, 15}})
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != dhcpmsg.MinLen {
		t.Errorf("message of %d bytes, want %d", len(b), dhcpmsg.MinLen)
	}
	if b[0] != dhcpmsg.BootRequest || binary.BigEndian.Uint16(b[10:]) != dhcpmsg.FlagBroadcast || binary.BigEndian.Uint32(b[236:240]) != dhcpmsg.MagicCookie {
		t.Errorf("header % x", b[:12])
	}
	if !bytes.Equal(b[28:44], append(append([]byte{}, mac...), make([]byte, 10)...)) {
		t.Errorf("chaddr % x", b[28:44])
	}
	back, err := dhcpmsg.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.XID != c.xid || back.Type() != dhcpmsg.Request || !bytes.Equal(back.CHAddr[:6], mac) {
		t.Errorf("round trip: %+v", back)
	}
	if ip, ok := back.Addr(dhcpmsg.OptRequestedIP); !ok || ip != netip.MustParseAddr("10.0.2.15") {
		t.Errorf("requested IP %v %v", ip, ok)
	}
	if c2 := NewClient(nil, mac, time.Second, 1); c2.xid != c.xid {
		t.Error("the transaction ID is not deterministic")
	}

	ack := &dhcpmsg.Message{Op: dhcpmsg.BootReply, YIAddr: [4]byte{10, 0, 2, 15}, Options: []dhcpmsg.Option{
		{Code: dhcpmsg.OptMsgType, Data: []byte{dhcpmsg.Ack}}, {Code: dhcpmsg.OptSubnetMask, Data: []byte{255, 255, 255, 0}},
		{Code: dhcpmsg.OptRouter, Data: []byte{10, 0, 2, 2}}, {Code: dhcpmsg.OptDNS, Data: []byte{10, 0, 2, 3, 8, 8, 8, 8}},
		{Code: dhcpmsg.OptLeaseTime, Data: []byte{0, 1, 0x51, 0x80}}, {Code: dhcpmsg.OptServerID, Data: []byte{10, 0, 2, 2}},
	}}
	copy(ack.CHAddr[:], mac)
	ab, err := ack.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := dhcpmsg.Parse(ab)
	if err != nil {
		t.Fatal(err)
	}
	l, err := leaseFrom(parsed)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.String(); got != "10.0.2.15/24 router 10.0.2.2 dns 10.0.2.3,8.8.8.8" || l.Time != 24*time.Hour {
		t.Errorf("lease %s, %v", got, l.Time)
	}
	if s := l.Static(); s.Address != netip.MustParsePrefix("10.0.2.15/24") || s.Gateway != netip.MustParseAddr("10.0.2.2") || len(s.DNS) != 2 {
		t.Errorf("static %+v", s)
	}
	if got := ResolvConf(l.DNS); got != "nameserver 10.0.2.3\nnameserver 8.8.8.8\n" {
		t.Errorf("resolv.conf %q", got)
	}
	parsed.Options[1].Data = []byte{255, 0, 255, 0}
	if _, err := leaseFrom(parsed); err == nil {
		t.Error("non-contiguous mask accepted")
	}
}

func TestUDPFrame(t *testing.T) {
	src := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	payload := []byte("some payload!") // odd length exercises the checksum tail
	f := UDPFrame(src, BroadcastMAC, [4]byte{10, 0, 2, 15}, [4]byte{10, 0, 2, 2}, 1234, 80, payload)
	p, ok := ParseUDPFrame(f)
	if !ok || p.SrcPort != 1234 || p.DstPort != 80 || !bytes.Equal(p.Payload, payload) || !bytes.Equal(p.SrcMAC, src) {
		t.Fatalf("parse: %+v %v", p, ok)
	}
	// The IPv4 header checksum of a known header (RFC 1071 example data).
	hdr := []byte{0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7}
	if c := Checksum(0, hdr); c != 0xb861 {
		t.Errorf("checksum %#x, want 0xb861", c)
	}
	for i := range f {
		if i < ethHeaderLen {
			continue
		}
		bad := append([]byte(nil), f...)
		bad[i] ^= 0x01
		if q, ok := ParseUDPFrame(bad); ok && bytes.Equal(q.Payload, payload) && q.SrcPort == 1234 && q.DstPort == 80 {
			t.Errorf("a flipped bit at byte %d went unnoticed", i)
		}
	}
	if _, ok := ParseUDPFrame(f[:30]); ok {
		t.Error("short frame accepted")
	}
}

// usernetConn connects the DHCP client to Juice's user-mode network, frame
// for frame, as virtio-net would.
type usernetConn struct{ n *usernet.Network }

func (c usernetConn) WriteFrame(f []byte) error {
	c.n.SendFromGuest(f)
	return nil
}

func (c usernetConn) ReadFrame(timeout time.Duration) ([]byte, error) {
	deadline := time.After(timeout)
	for {
		if frames := c.n.PendingToGuest(1); len(frames) > 0 {
			return frames[0], nil
		}
		select {
		case <-c.n.Notify():
		case <-deadline:
			return nil, ErrTimeout
		}
	}
}

func TestDHCPAgainstUsernet(t *testing.T) {
	n, err := usernet.New(usernet.Config{DNSServers: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	mac, _ := net.ParseMAC(usernet.DefaultGuestMAC)
	lease, err := NewClient(usernetConn{n}, mac, 5*time.Second, 2).Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := lease.String(); got != "10.0.2.15/24 router 10.0.2.2 dns 10.0.2.3" {
		t.Errorf("lease %s", got)
	}
	if lease.Server != netip.MustParseAddr("10.0.2.2") {
		t.Errorf("server %v", lease.Server)
	}
}

// silentConn never answers.
type silentConn struct{ sent int }

func (c *silentConn) WriteFrame([]byte) error { c.sent++; return nil }
func (c *silentConn) ReadFrame(time.Duration) ([]byte, error) {
	return nil, ErrTimeout
}

func TestDHCPTimeout(t *testing.T) {
	c := &silentConn{}
	_, err := NewClient(c, net.HardwareAddr{2, 0, 0, 0, 0, 1}, time.Millisecond, 3).Acquire(context.Background())
	if err == nil || !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "no lease after 3 attempts") {
		t.Errorf("error %v", err)
	}
	if c.sent != 3 {
		t.Errorf("%d DISCOVERs sent, want 3", c.sent)
	}
}

func TestNetlinkMessages(t *testing.T) {
	m := addrMessage(7, 2, netip.MustParseAddr("10.0.2.15"), 24)
	if int(binary.NativeEndian.Uint32(m)) != len(m) || binary.NativeEndian.Uint16(m[4:]) != unix.RTM_NEWADDR || binary.NativeEndian.Uint32(m[8:]) != 7 {
		t.Fatalf("header % x", m[:16])
	}
	// IFA_LOCAL, IFA_ADDRESS, IFA_BROADCAST follow the ifaddrmsg.
	attrs := m[unix.SizeofNlMsghdr+unix.SizeofIfAddrmsg:]
	want := []struct {
		typ  uint16
		data []byte
	}{{unix.IFA_LOCAL, []byte{10, 0, 2, 15}}, {unix.IFA_ADDRESS, []byte{10, 0, 2, 15}}, {unix.IFA_BROADCAST, []byte{10, 0, 2, 255}}}
	for _, w := range want {
		l := int(binary.NativeEndian.Uint16(attrs))
		if binary.NativeEndian.Uint16(attrs[2:]) != w.typ || !bytes.Equal(attrs[4:l], w.data) {
			t.Errorf("attribute % x, want type %d data % x", attrs[:l], w.typ, w.data)
		}
		attrs = attrs[nlAlign(l):]
	}
	if len(attrs) != 0 {
		t.Errorf("%d trailing bytes", len(attrs))
	}
	r := defaultRouteMessage(8, 2, netip.MustParseAddr("10.0.2.2"))
	if len(r) != unix.SizeofNlMsghdr+unix.SizeofRtMsg+8+8 {
		t.Errorf("route message of %d bytes", len(r))
	}
	if l := linkUpMessage(9, 2); len(l) != unix.SizeofNlMsghdr+unix.SizeofIfInfomsg {
		t.Errorf("link message of %d bytes", len(l))
	}

	ack := func(seq uint32, code int32) []byte {
		body := make([]byte, 4+unix.SizeofNlMsghdr)
		binary.NativeEndian.PutUint32(body, uint32(code))
		return nlMessage(unix.NLMSG_ERROR, 0, seq, body)
	}
	buf := append(ack(3, 0), ack(4, -int32(unix.EEXIST))...)
	if found, err := parseAck(buf, 3); !found || err != nil {
		t.Errorf("ack 3: %v %v", found, err)
	}
	if found, err := parseAck(buf, 4); !found || !errors.Is(err, unix.EEXIST) {
		t.Errorf("ack 4: %v %v", found, err)
	}
	if found, _ := parseAck(buf, 5); found {
		t.Error("found an answer to 5")
	}
}

// TestNetlinkOnHost sends a harmless request to the host kernel: bringing
// up the loopback interface, which is already up.
func TestNetlinkOnHost(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil || lo.Flags&net.FlagUp == 0 {
		t.Skip("no loopback interface that is up")
	}
	nl, err := OpenRtnl()
	if err != nil {
		t.Skip(err)
	}
	defer nl.Close()
	err = nl.Do("lo up", func(seq uint32) []byte { return linkUpMessage(seq, lo.Index) })
	if err != nil && !errors.Is(err, unix.EPERM) {
		t.Error(err)
	}
}

func TestMaskAndMAC(t *testing.T) {
	for _, c := range []struct {
		mask [4]byte
		bits int
		ok   bool
	}{
		{[4]byte{255, 255, 255, 0}, 24, true}, {[4]byte{255, 255, 255, 255}, 32, true}, {[4]byte{0, 0, 0, 0}, 0, true},
		{[4]byte{255, 255, 128, 0}, 17, true}, {[4]byte{255, 0, 255, 0}, 8, false}, {[4]byte{0, 0, 0, 1}, 0, false},
	} {
		if bits, ok := maskBits(c.mask); ok != c.ok || ok && bits != c.bits {
			t.Errorf("maskBits(%v) = %d, %v", c.mask, bits, ok)
		}
	}
	if mac, ok := parseMAC("52:54:00:12:34:5f"); !ok || !bytes.Equal(mac, []byte{0x52, 0x54, 0, 0x12, 0x34, 0x5f}) {
		t.Errorf("parseMAC: % x %v", mac, ok)
	}
	for _, bad := range []string{"", "52:54:00:12:34", "52-54-00-12-34-56", "52:54:00:12:34:zz"} {
		if _, ok := parseMAC(bad); ok {
			t.Errorf("parseMAC(%q) accepted", bad)
		}
	}
}

func TestLinkByName(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skip("no lo")
	}
	l, err := LinkByName("lo")
	if err != nil || l.Index != lo.Index || l.Name != "lo" {
		t.Errorf("LinkByName(lo) = %+v, %v; want index %d", l, err, lo.Index)
	}
	if _, err := LinkByName("juice-none0"); err == nil {
		t.Error("a missing interface was found")
	}
}
