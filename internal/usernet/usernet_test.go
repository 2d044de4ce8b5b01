package usernet

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/juicevm/juice/internal/dhcpmsg"
)

func TestParseForward(t *testing.T) {
	good := []struct {
		in   string
		want Forward
	}{
		{"tcp:127.0.0.1:8080-:80", Forward{"tcp", "127.0.0.1:8080", 80}},
		{"udp::5353-:53", Forward{"udp", "127.0.0.1:5353", 53}},
		{"hostfwd=tcp::2222-10.0.2.15:22", Forward{"tcp", "127.0.0.1:2222", 22}},
		{":0-:80", Forward{"tcp", "127.0.0.1:0", 80}},
		{"tcp:0.0.0.0:8080-:8080", Forward{"tcp", "0.0.0.0:8080", 8080}},
		{"tcp:[::1]:8080-:80", Forward{"tcp", "[::1]:8080", 80}},
	}
	for _, c := range good {
		got, err := ParseForward(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseForward(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
		if again, err := ParseForward(got.String()); err != nil || again != got {
			t.Errorf("ParseForward(%q) (String of %q) = %+v, %v", got.String(), c.in, again, err)
		}
	}
	bad := []struct{ in, mention string }{
		{"sctp:127.0.0.1:80-:80", `protocol "sctp"`},
		{"tcp:127.0.0.1:8080", "missing '-'"},
		{"tcp:127.0.0.1:http-:80", `port "http"`},
		{"tcp:127.0.0.1:70000-:80", `port "70000"`},
		{"tcp:localhost:8080-:80", `host address "localhost"`},
		{"tcp:127.0.0.1:8080-:0", "guest port 0"},
		{"tcp:127.0.0.1:8080-10.0.2.16:80", `guest address "10.0.2.16"`},
		{"tcp:127.0.0.1:8080-:", "missing port"},
		{"nonsense", "want [tcp|udp]"},
	}
	for _, c := range bad {
		_, err := ParseForward(c.in)
		if err == nil || !strings.Contains(err.Error(), c.mention) || !strings.Contains(err.Error(), c.in) {
			t.Errorf("ParseForward(%q) error = %v; want it to name %q and the input", c.in, err, c.mention)
		}
	}
}

// dhcpClientMsg builds a DHCP client message with the given options.
func dhcpClientMsg(msgType byte, xid uint32, opts ...byte) []byte {
	b := make([]byte, dhcpmsg.HeaderLen)
	b[0], b[1], b[2] = dhcpmsg.BootRequest, 1, 6
	binary.BigEndian.PutUint32(b[4:8], xid)
	copy(b[28:], guestMAC())
	b = binary.BigEndian.AppendUint32(b, dhcpmsg.MagicCookie)
	b = append(b, dhcpmsg.OptMsgType, 1, msgType)
	b = append(b, opts...)
	return append(b, dhcpmsg.OptEnd)
}

type dhcpReplyInfo struct {
	msgType                   byte
	xid                       uint32
	yiaddr, router, dns, mask tcpip.Address
	serverID                  tcpip.Address
	lease                     uint32
	ethDst                    tcpip.LinkAddress
	ipDst                     tcpip.Address
}

func parseDHCPReplyFrame(f []byte) (dhcpReplyInfo, bool) {
	eth := header.Ethernet(f)
	if len(f) < header.EthernetMinimumSize+header.IPv4MinimumSize+header.UDPMinimumSize || eth.Type() != header.IPv4ProtocolNumber {
		return dhcpReplyInfo{}, false
	}
	ip := header.IPv4(f[header.EthernetMinimumSize:])
	if ip.Protocol() != uint8(header.UDPProtocolNumber) || ip.CalculateChecksum() != 0xffff {
		return dhcpReplyInfo{}, false
	}
	u := header.UDP(ip.Payload())
	if u.SourcePort() != 67 || u.DestinationPort() != 68 || !u.IsChecksumValid(ip.SourceAddress(), ip.DestinationAddress(), checksumOf(u.Payload())) {
		return dhcpReplyInfo{}, false
	}
	b := u.Payload()
	if len(b) < dhcpmsg.HeaderLen+4 || b[0] != dhcpmsg.BootReply {
		return dhcpReplyInfo{}, false
	}
	r := dhcpReplyInfo{xid: binary.BigEndian.Uint32(b[4:8]), yiaddr: tcpip.AddrFrom4Slice(b[16:20]), ethDst: eth.DestinationAddress(), ipDst: ip.DestinationAddress()}
	opts := b[dhcpmsg.HeaderLen+4:]
	for len(opts) >= 2 && opts[0] != dhcpmsg.OptEnd {
		if opts[0] == dhcpmsg.OptPad {
			opts = opts[1:]
			continue
		}
		v := opts[2 : 2+int(opts[1])]
		switch opts[0] {
		case dhcpmsg.OptMsgType:
			r.msgType = v[0]
		case dhcpmsg.OptRouter:
			r.router = tcpip.AddrFrom4Slice(v[:4])
		case dhcpmsg.OptDNS:
			r.dns = tcpip.AddrFrom4Slice(v[:4])
		case dhcpmsg.OptSubnetMask:
			r.mask = tcpip.AddrFrom4Slice(v[:4])
		case dhcpmsg.OptServerID:
			r.serverID = tcpip.AddrFrom4Slice(v[:4])
		case dhcpmsg.OptLeaseTime:
			r.lease = binary.BigEndian.Uint32(v)
		}
		opts = opts[2+len(v):]
	}
	return r, true
}

func TestDHCP(t *testing.T) {
	n := newNetwork(t, Config{})
	zero := tcpip.AddrFrom4([4]byte{})
	exchange := func(msg []byte, xid uint32) dhcpReplyInfo {
		t.Helper()
		n.SendFromGuest(udpFrameFromGuest(header.EthernetBroadcastAddress, zero, header.IPv4Broadcast, 68, 67, msg))
		var r dhcpReplyInfo
		waitFrame(t, n, "DHCP reply", func(f []byte) bool {
			var ok bool
			r, ok = parseDHCPReplyFrame(f)
			return ok && r.xid == xid
		})
		return r
	}

	offer := exchange(dhcpClientMsg(dhcpmsg.Discover, 0x1234), 0x1234)
	if offer.msgType != dhcpmsg.Offer || offer.yiaddr != addrFrom(GuestAddr) || offer.router != addrFrom(GatewayAddr) ||
		offer.dns != addrFrom(DNSAddr) || offer.mask != addrFrom("255.255.255.0") || offer.serverID != addrFrom(GatewayAddr) || offer.lease == 0 {
		t.Fatalf("offer = %+v", offer)
	}
	if offer.ethDst != guestMAC() || offer.ipDst != addrFrom(GuestAddr) {
		t.Errorf("offer sent to %v %v; want the client's MAC and the offered address", offer.ethDst, offer.ipDst)
	}

	gw := addrFrom(GatewayAddr).As4()
	want := addrFrom(GuestAddr).As4()
	ack := exchange(dhcpClientMsg(dhcpmsg.Request, 0x1235, append([]byte{dhcpmsg.OptRequestedIP, 4}, append(want[:], append([]byte{dhcpmsg.OptServerID, 4}, gw[:]...)...)...)...), 0x1235)
	if ack.msgType != dhcpmsg.Ack || ack.yiaddr != addrFrom(GuestAddr) || ack.router != addrFrom(GatewayAddr) || ack.dns != addrFrom(DNSAddr) {
		t.Fatalf("ack = %+v", ack)
	}

	other := addrFrom("10.0.2.99").As4()
	nak := exchange(dhcpClientMsg(dhcpmsg.Request, 0x1236, append([]byte{dhcpmsg.OptRequestedIP, 4}, other[:]...)...), 0x1236)
	if nak.msgType != dhcpmsg.Nak || nak.ethDst != header.EthernetBroadcastAddress {
		t.Fatalf("request for another address: %+v; want a broadcast NAK", nak)
	}
}

func checksumOf(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

func TestARPAndPingGateway(t *testing.T) {
	n := newNetwork(t, Config{})
	n.SendFromGuest(arpRequestFrame(GatewayAddr))
	waitFrame(t, n, "ARP reply", func(f []byte) bool {
		if header.Ethernet(f).Type() != header.ARPProtocolNumber {
			return false
		}
		a := header.ARP(f[header.EthernetMinimumSize:])
		return a.Op() == header.ARPReply && tcpip.LinkAddress(a.HardwareAddressSender()) == gatewayMAC() &&
			tcpip.AddrFrom4Slice(a.ProtocolAddressSender()) == addrFrom(GatewayAddr)
	})

	n.SendFromGuest(arpRequestFrame(DNSAddr))
	waitFrame(t, n, "ARP reply for the DNS server", func(f []byte) bool {
		return header.Ethernet(f).Type() == header.ARPProtocolNumber &&
			tcpip.AddrFrom4Slice(header.ARP(f[header.EthernetMinimumSize:]).ProtocolAddressSender()) == addrFrom(DNSAddr)
	})
	// Nobody else answers: not for other addresses of the segment, and
	// above all not for the guest's own (its duplicate address probe).
	// ARP is answered synchronously, so the queue tells at once.
	for _, a := range []string{GuestAddr, "10.0.2.4", "192.0.2.1"} {
		n.SendFromGuest(arpRequestFrame(a))
		if f := n.PendingToGuest(0); len(f) != 0 {
			t.Errorf("ARP request for %s answered: %x", a, f)
		}
	}

	echo := func(dst string, seq uint16) []byte {
		body := make([]byte, header.ICMPv4MinimumSize+8)
		ic := header.ICMPv4(body)
		ic.SetType(header.ICMPv4Echo)
		ic.SetIdent(0x4a75)
		ic.SetSequence(seq)
		copy(ic.Payload(), "juice!!!")
		ic.SetChecksum(^checksumOf(body))
		return ipv4Frame(gatewayMAC(), addrFrom(GuestAddr), addrFrom(dst), header.ICMPv4ProtocolNumber, body)
	}
	isReply := func(seq uint16) func([]byte) bool {
		return func(f []byte) bool {
			if header.Ethernet(f).Type() != header.IPv4ProtocolNumber {
				return false
			}
			ip := header.IPv4(f[header.EthernetMinimumSize:])
			if ip.Protocol() != uint8(header.ICMPv4ProtocolNumber) || ip.SourceAddress() != addrFrom(GatewayAddr) {
				return false
			}
			ic := header.ICMPv4(ip.Payload())
			return ic.Type() == header.ICMPv4EchoReply && ic.Sequence() == seq && string(ic.Payload()) == "juice!!!"
		}
	}
	n.SendFromGuest(echo(GatewayAddr, 1))
	waitFrame(t, n, "echo reply from the gateway", isReply(1))

	// Pings elsewhere are not answered (TEST-NET-1; dropped in process).
	before := n.Stats().DroppedFromGuest
	n.SendFromGuest(echo("192.0.2.1", 2))
	if got := n.Stats().DroppedFromGuest; got != before+1 {
		t.Errorf("ping to 192.0.2.1: DroppedFromGuest %d -> %d; want it dropped", before, got)
	}
}

func TestGuestFetchesHostPage(t *testing.T) {
	checkNoLeaks(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from the host, %s", r.URL.Path)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	n, _ := New(Config{Logger: testLogger(t)})
	defer n.Close()
	g := newTestGuest(t, n)
	defer g.close()

	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var p uint16
		fmt.Sscan(addr[strings.LastIndex(addr, ":")+1:], &p)
		return gonet.DialContextTCP(ctx, g.s, fullAddr(GatewayAddr, p), ipv4.ProtocolNumber)
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + GatewayAddr + ":" + port + "/page")
	if err != nil {
		t.Fatalf("guest GET: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello from the host, /page" {
		t.Fatalf("guest got %q", body)
	}
	// A big body crosses many segments and windows.
	big := strings.Repeat("0123456789abcdef", 1<<14)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big) })
	resp, err = client.Get("http://" + GatewayAddr + ":" + port + "/big")
	if err != nil {
		t.Fatalf("guest GET big: %v", err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != big {
		t.Fatalf("guest got %d bytes; want %d", len(body), len(big))
	}
}

func TestGuestConnectionRefused(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	n := newNetwork(t, Config{})
	g := newTestGuest(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := gonet.DialContextTCP(ctx, g.s, fullAddr(GatewayAddr, uint16(port)), ipv4.ProtocolNumber)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("dial to a closed host port: %v (ctx %v); want a prompt refusal", err, ctx.Err())
	}
}

func TestHostForwardTCP(t *testing.T) {
	n := newNetwork(t, Config{HostForwards: []Forward{{"tcp", "127.0.0.1:0", 80}}})
	g := newTestGuest(t, n)
	ln, err := gonet.ListenTCP(g.s, fullAddr(GuestAddr, 80), ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from the guest, %s (you are %s)", r.URL.Path, r.RemoteAddr)
	})}
	go srv.Serve(ln)
	defer srv.Close()

	addr := n.ForwardAddrs()[0].String()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("http://" + addr + "/x")
	if err != nil {
		t.Fatalf("host GET through the forward: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(body), "hello from the guest, /x (you are "+GatewayAddr+":") {
		t.Fatalf("host got %q", body)
	}
}

// TestHalfClose sends a request, shuts the sending side, and expects the
// answer after the peer saw EOF, in both directions.
func TestHalfClose(t *testing.T) {
	// reverse reads to EOF, then writes the bytes reversed and closes.
	reverse := func(c net.Conn) {
		defer c.Close()
		b, _ := io.ReadAll(c)
		for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
		c.Write(b)
	}
	hostLn, _ := net.Listen("tcp", "127.0.0.1:0")
	defer hostLn.Close()
	go func() {
		for {
			c, err := hostLn.Accept()
			if err != nil {
				return
			}
			go reverse(c)
		}
	}()
	n := newNetwork(t, Config{HostForwards: []Forward{{"tcp", "127.0.0.1:0", 7}}})
	g := newTestGuest(t, n)
	guestLn, err := gonet.ListenTCP(g.s, fullAddr(GuestAddr, 7), ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer guestLn.Close()
	go func() {
		for {
			c, err := guestLn.Accept()
			if err != nil {
				return
			}
			go reverse(c)
		}
	}()
	check := func(name string, c interface {
		net.Conn
		CloseWrite() error
	}) {
		t.Helper()
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "juice"); err != nil {
			t.Fatalf("%s: write: %v", name, err)
		}
		if err := c.CloseWrite(); err != nil {
			t.Fatalf("%s: CloseWrite: %v", name, err)
		}
		b, err := io.ReadAll(c)
		if err != nil || string(b) != "eciuj" {
			t.Fatalf("%s: read %q, %v; want %q", name, b, err, "eciuj")
		}
	}
	gc, err := gonet.DialTCP(g.s, fullAddr(GatewayAddr, uint16(hostLn.Addr().(*net.TCPAddr).Port)), ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	check("guest to host", gc)
	hc, err := net.Dial("tcp", n.ForwardAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	check("host to guest", hc.(*net.TCPConn))
}

func TestUDPBothWays(t *testing.T) {
	// Host echo server, reached by the guest at 10.0.2.2.
	hostPC, _ := net.ListenPacket("udp", "127.0.0.1:0")
	defer hostPC.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			k, from, err := hostPC.ReadFrom(buf)
			if err != nil {
				return
			}
			hostPC.WriteTo(append([]byte("host:"), buf[:k]...), from)
		}
	}()
	n := newNetwork(t, Config{HostForwards: []Forward{{"udp", "127.0.0.1:0", 7}}, UDPIdleTimeout: 2 * time.Second})
	g := newTestGuest(t, n)

	gc, err := gonet.DialUDP(g.s, nil, &tcpip.FullAddress{NIC: 1, Addr: addrFrom(GatewayAddr), Port: uint16(hostPC.LocalAddr().(*net.UDPAddr).Port)}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	for i := range 3 {
		msg := fmt.Sprintf("ping %d", i)
		gc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := gc.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2048)
		k, err := gc.Read(buf)
		if err != nil || string(buf[:k]) != "host:"+msg {
			t.Fatalf("guest to host UDP: %q, %v", buf[:k], err)
		}
	}

	// Guest echo server on port 7, reached through the forward.
	gpc, err := gonet.DialUDP(g.s, &tcpip.FullAddress{NIC: 1, Addr: addrFrom(GuestAddr), Port: 7}, nil, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer gpc.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			k, from, err := gpc.ReadFrom(buf)
			if err != nil {
				return
			}
			gpc.WriteTo(append([]byte("guest:"), buf[:k]...), from)
		}
	}()
	for _, name := range []string{"a", "b"} { // two host clients, two flows
		hc, err := net.Dial("udp", n.ForwardAddrs()[0].String())
		if err != nil {
			t.Fatal(err)
		}
		defer hc.Close()
		hc.SetDeadline(time.Now().Add(5 * time.Second))
		hc.Write([]byte("hello " + name))
		buf := make([]byte, 2048)
		k, err := hc.Read(buf)
		if err != nil || string(buf[:k]) != "guest:hello "+name {
			t.Fatalf("host to guest UDP: %q, %v", buf[:k], err)
		}
	}
}

// dnsQuery builds a query for name and type.
func dnsQuery(id uint16, name string, qtype uint16) []byte {
	q := binary.BigEndian.AppendUint16(nil, id)
	q = append(q, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0) // RD, one question
	for _, l := range strings.Split(name, ".") {
		q = append(q, byte(len(l)))
		q = append(q, l...)
	}
	q = append(q, 0)
	q = binary.BigEndian.AppendUint16(q, qtype)
	return binary.BigEndian.AppendUint16(q, dnsClassIN)
}

// dnsAnswers returns the rcode and the A/AAAA addresses of a response.
func dnsAnswers(t *testing.T, resp []byte, id uint16) (int, []string) {
	t.Helper()
	if len(resp) < dnsHeaderLen || binary.BigEndian.Uint16(resp) != id || resp[2]&0x80 == 0 {
		t.Fatalf("bad DNS response %x", resp)
	}
	rcode := int(resp[3] & 0xf)
	an := int(binary.BigEndian.Uint16(resp[6:8]))
	i := dnsHeaderLen
	for qd := binary.BigEndian.Uint16(resp[4:6]); qd > 0; qd-- {
		for resp[i] != 0 {
			i += int(resp[i]) + 1
		}
		i += 5
	}
	var addrs []string
	for ; an > 0; an-- {
		if resp[i]&0xc0 == 0xc0 {
			i += 2
		} else {
			for resp[i] != 0 {
				i += int(resp[i]) + 1
			}
			i++
		}
		rdlen := int(binary.BigEndian.Uint16(resp[i+8 : i+10]))
		rd := resp[i+10 : i+10+rdlen]
		a, _ := netipAddrFromSlice(rd)
		addrs = append(addrs, a)
		i += 10 + rdlen
	}
	return rcode, addrs
}

func netipAddrFromSlice(b []byte) (string, bool) {
	ip := net.IP(b)
	return ip.String(), len(b) == 4 || len(b) == 16
}

func TestDNS(t *testing.T) {
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, []byte("# test hosts\n127.0.0.1 localhost\n::1 localhost ip6-localhost\n192.0.2.7 build.juice.test build # the build box\n"), 0o644)

	// A fake upstream nameserver on loopback: answers every A query with
	// 198.51.100.1 (over UDP and TCP).
	answer := func(q []byte) []byte {
		qq, _ := parseQuestion(q)
		return dnsReply(q, qq.raw, 0, [][]byte{{198, 51, 100, 1}})
	}
	upPC, _ := net.ListenPacket("udp", "127.0.0.1:0")
	defer upPC.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			k, from, err := upPC.ReadFrom(buf)
			if err != nil {
				return
			}
			upPC.WriteTo(answer(buf[:k]), from)
		}
	}()
	upPort := upPC.LocalAddr().(*net.UDPAddr).Port
	upLn, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", upPort))
	if err != nil {
		t.Skipf("TCP port %d taken: %v", upPort, err)
	}
	defer upLn.Close()
	go func() {
		for {
			c, err := upLn.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var l [2]byte
				io.ReadFull(c, l[:])
				q := make([]byte, binary.BigEndian.Uint16(l[:]))
				io.ReadFull(c, q)
				a := answer(q)
				c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(a))), a...))
			}()
		}
	}()

	n := newNetwork(t, Config{HostsFile: hosts, DNSServers: []string{upPC.LocalAddr().String()}})
	g := newTestGuest(t, n)
	dns, err := gonet.DialUDP(g.s, nil, &tcpip.FullAddress{NIC: 1, Addr: addrFrom(DNSAddr), Port: 53}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	ask := func(id uint16, name string, qtype uint16) (int, []string) {
		t.Helper()
		dns.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := dns.Write(dnsQuery(id, name, qtype)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2048)
		k, err := dns.Read(buf)
		if err != nil {
			t.Fatalf("DNS %s: %v", name, err)
		}
		return dnsAnswers(t, buf[:k], id)
	}
	cases := []struct {
		name  string
		qtype uint16
		want  string
	}{
		{"localhost", dnsTypeA, "[127.0.0.1]"},
		{"LocalHost.", dnsTypeAAAA, "[::1]"},
		{"build", dnsTypeA, "[192.0.2.7]"},
		{"build.juice.test", dnsTypeAAAA, "[]"}, // known, no IPv6: NODATA, not forwarded
		{"foo.localhost", dnsTypeA, "[127.0.0.1]"},
		{"elsewhere.test", dnsTypeA, "[198.51.100.1]"}, // upstream
	}
	for i, c := range cases {
		rcode, addrs := ask(uint16(100+i), strings.TrimSuffix(c.name, "."), c.qtype)
		if rcode != 0 || fmt.Sprint(addrs) != c.want {
			t.Errorf("%s type %d: rcode %d, %v; want %s", c.name, c.qtype, rcode, addrs, c.want)
		}
	}

	// DNS over TCP, answered upstream over TCP.
	tc, err := gonet.DialTCP(g.s, fullAddr(DNSAddr, 53), ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	for i, name := range []string{"localhost", "tcp.elsewhere.test"} {
		q := dnsQuery(uint16(200+i), name, dnsTypeA)
		tc.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...))
		r := bufio.NewReader(tc)
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			t.Fatalf("DNS over TCP: %v", err)
		}
		resp := make([]byte, binary.BigEndian.Uint16(l[:]))
		io.ReadFull(r, resp)
		_, addrs := dnsAnswers(t, resp, uint16(200+i))
		if want := map[int]string{0: "[127.0.0.1]", 1: "[198.51.100.1]"}[i]; fmt.Sprint(addrs) != want {
			t.Errorf("DNS over TCP %s: %v; want %s", name, addrs, want)
		}
	}
}

func TestDNSUpstreamDown(t *testing.T) {
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	dead := pc.LocalAddr().String()
	pc.Close()
	n := newNetwork(t, Config{DNSServers: []string{dead}, HostsFile: filepath.Join(t.TempDir(), "none")})
	resp := n.resolve(dnsQuery(7, "nowhere.test", dnsTypeA), false)
	if rcode, _ := dnsAnswers(t, resp, 7); rcode != dnsRcodeServFail {
		t.Fatalf("rcode %d; want SERVFAIL", rcode)
	}
	// localhost still works with no hosts file and no upstream.
	if _, addrs := dnsAnswers(t, n.resolve(dnsQuery(8, "localhost", dnsTypeA), false), 8); fmt.Sprint(addrs) != "[127.0.0.1]" {
		t.Fatalf("localhost: %v", addrs)
	}
}

func TestForwardPortInUse(t *testing.T) {
	checkNoLeaks(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	busy := ln.Addr().String()
	_, err := New(Config{Logger: testLogger(t), HostForwards: []Forward{{"udp", "127.0.0.1:0", 53}, {"tcp", busy, 80}}})
	if err == nil || !containsAll(err.Error(), busy, "tcp:"+busy+"-:80", "address already in use") {
		t.Fatalf("New with a forward on a busy port: %v; want an error naming %s", err, busy)
	}
}

func TestQueueBoundedDrop(t *testing.T) {
	w := &testWriter{t: t}
	n := newNetwork(t, Config{QueueLimit: 4, Logger: slogText(w)})
	for range 10 {
		n.SendFromGuest(arpRequestFrame(GatewayAddr))
	}
	st := n.Stats()
	if st.Queued != 4 || st.DroppedToGuest != 6 || st.FromGuest != 10 {
		t.Fatalf("stats %+v; want 4 queued and 6 dropped", st)
	}
	if !strings.Contains(w.String(), "queue to the guest is full") || strings.Count(w.String(), "is full") != 1 {
		t.Errorf("want one log line about the full queue, got:\n%s", w.String())
	}
	if got := n.PendingToGuest(3); len(got) != 3 {
		t.Fatalf("PendingToGuest(3) = %d frames", len(got))
	}
	n.SendFromGuest(arpRequestFrame(DNSAddr))
	if !strings.Contains(w.String(), "accepts frames again") || !strings.Contains(w.String(), "dropped=6") {
		t.Errorf("want a log line when the queue accepts again, got:\n%s", w.String())
	}
	frames := n.PendingToGuest(0)
	if len(frames) != 2 {
		t.Fatalf("left %d frames; want 2", len(frames))
	}
	last := header.ARP(frames[1][header.EthernetMinimumSize:])
	if tcpip.AddrFrom4Slice(last.ProtocolAddressSender()) != addrFrom(DNSAddr) {
		t.Errorf("frames out of order")
	}
	if st := n.Stats(); st.ToGuest != 5 || st.Queued != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestCloseNoLeaks(t *testing.T) {
	checkNoLeaks(t)
	hostLn, _ := net.Listen("tcp", "127.0.0.1:0")
	defer hostLn.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := hostLn.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	udpPC, _ := net.ListenPacket("udp", "127.0.0.1:0")
	defer udpPC.Close()

	n, err := New(Config{Logger: testLogger(t), HostForwards: []Forward{{"tcp", "127.0.0.1:0", 80}, {"udp", "127.0.0.1:0", 53}}})
	if err != nil {
		t.Fatal(err)
	}
	g := newTestGuest(t, n)
	// Leave connections open across Close: a guest TCP connection to the
	// host, a host connection waiting on a guest that does not answer, and
	// UDP flows both ways.
	gc, err := gonet.DialTCP(g.s, fullAddr(GatewayAddr, uint16(hostLn.Addr().(*net.TCPAddr).Port)), ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	hc := <-accepted
	defer hc.Close()
	fc, err := net.Dial("tcp", n.ForwardAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	uc, _ := gonet.DialUDP(g.s, nil, &tcpip.FullAddress{NIC: 1, Addr: addrFrom(GatewayAddr), Port: uint16(udpPC.LocalAddr().(*net.UDPAddr).Port)}, ipv4.ProtocolNumber)
	defer uc.Close()
	uc.Write([]byte("x"))
	hu, _ := net.Dial("udp", n.ForwardAddrs()[1].String())
	defer hu.Close()
	hu.Write([]byte("y"))
	udpPC.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := udpPC.ReadFrom(make([]byte, 10)); err != nil {
		t.Fatalf("UDP flow did not reach the host: %v", err)
	}
	time.Sleep(100 * time.Millisecond)

	done := make(chan struct{})
	go func() { n.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs")
	}
	n.Close() // twice is fine
	n.SendFromGuest(arpRequestFrame(GatewayAddr))
	if f := n.PendingToGuest(0); f != nil {
		t.Errorf("frames after Close")
	}
	// The host sees the proxied connection end.
	hc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := hc.Read(make([]byte, 1)); err == nil {
		t.Errorf("host side of a proxied connection still open after Close")
	}
	g.close()
}

func TestTwoNetworksIsolated(t *testing.T) {
	var addrs []string
	for i := range 2 {
		n := newNetwork(t, Config{HostForwards: []Forward{{"tcp", "127.0.0.1:0", 80}}})
		g := newTestGuest(t, n)
		ln, err := gonet.ListenTCP(g.s, fullAddr(GuestAddr, 80), ipv4.ProtocolNumber)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fmt.Fprintf(c, "guest %d", i)
				c.Close()
			}
		}()
		addrs = append(addrs, n.ForwardAddrs()[0].String())
	}
	for i, a := range addrs {
		c, err := net.Dial("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		c.Close()
		if string(b) != fmt.Sprintf("guest %d", i) {
			t.Errorf("forward %d reached %q", i, b)
		}
	}
}

func TestDHCPThenTrafficLearnsMAC(t *testing.T) {
	// A guest with another MAC: the network learns it from DHCP, so host
	// forwards reach it.
	n := newNetwork(t, Config{})
	other := tcpip.LinkAddress("\x52\x54\x00\xaa\xbb\xcc")
	msg := dhcpClientMsg(dhcpmsg.Discover, 9)
	copy(msg[28:], other)
	n.SendFromGuest(udpFrameFromGuest(header.EthernetBroadcastAddress, tcpip.AddrFrom4([4]byte{}), header.IPv4Broadcast, 68, 67, msg))
	f := waitFrame(t, n, "offer", func(f []byte) bool { _, ok := parseDHCPReplyFrame(f); return ok })
	if header.Ethernet(f).DestinationAddress() != other {
		t.Fatalf("offer to %v", header.Ethernet(f).DestinationAddress())
	}
	n.mu.Lock()
	got := n.guestMAC
	n.mu.Unlock()
	if got != other {
		t.Fatalf("guest MAC %v; want %v", got, other)
	}
}

func TestUDPIdleTimeout(t *testing.T) {
	hostPC, _ := net.ListenPacket("udp", "127.0.0.1:0")
	defer hostPC.Close()
	n := newNetwork(t, Config{UDPIdleTimeout: 200 * time.Millisecond})
	g := newTestGuest(t, n)
	tracked := func() int {
		n.mu.Lock()
		defer n.mu.Unlock()
		return len(n.closers)
	}
	idle := tracked()
	gc, err := gonet.DialUDP(g.s, nil, &tcpip.FullAddress{NIC: 1, Addr: addrFrom(GatewayAddr), Port: uint16(hostPC.LocalAddr().(*net.UDPAddr).Port)}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	gc.Write([]byte("x"))
	hostPC.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := hostPC.ReadFrom(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if got := tracked(); got != idle+2 {
		t.Fatalf("tracked sockets with a flow: %d; want %d", got, idle+2)
	}
	deadline := time.Now().Add(5 * time.Second)
	for tracked() != idle {
		if time.Now().After(deadline) {
			t.Fatalf("UDP flow not ended after the idle timeout: %d tracked", tracked())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A new datagram opens a new flow.
	gc.Write([]byte("y"))
	buf := make([]byte, 10)
	if k, _, err := hostPC.ReadFrom(buf); err != nil || string(buf[:k]) != "y" {
		t.Fatalf("after idle: %q, %v", buf[:k], err)
	}
}
