package usernet

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// testGuest is an independent gVisor stack standing for the guest: its NIC's
// frames go to SendFromGuest, and a pump plays the board, draining
// PendingToGuest when Notify fires.
type testGuest struct {
	s      *stack.Stack
	ch     *channel.Endpoint
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newTestGuest starts a guest on n with the address 10.0.2.15/24 configured
// statically (DHCP has its own test) and a default route via the gateway.
func newTestGuest(t *testing.T, n *Network) *testGuest {
	t.Helper()
	mac, _ := net.ParseMAC(DefaultGuestMAC)
	ch := channel.New(1024, MTU+header.EthernetMinimumSize, tcpip.LinkAddress(mac))
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4},
	})
	if err := s.CreateNIC(1, ethernet.New(ch)); err != nil {
		t.Fatalf("guest NIC: %s", err)
	}
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: addrFrom(GuestAddr), PrefixLen: 24}}
	if err := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
		t.Fatalf("guest address: %s", err)
	}
	s.SetRouteTable([]tcpip.Route{
		{Destination: pa.AddressWithPrefix.Subnet(), NIC: 1},
		{Destination: header.IPv4EmptySubnet, Gateway: addrFrom(GatewayAddr), NIC: 1},
	})
	ctx, cancel := context.WithCancel(context.Background())
	g := &testGuest{s: s, ch: ch, cancel: cancel}
	g.wg.Add(2)
	go func() { // guest transmits
		defer g.wg.Done()
		for {
			pkt := ch.ReadContext(ctx)
			if pkt == nil {
				return
			}
			b := pkt.ToBuffer()
			pkt.DecRef()
			n.SendFromGuest(b.Flatten())
			b.Release()
		}
	}()
	go func() { // the board: drain at "scheduling boundaries"
		defer g.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-n.Notify():
			}
			for {
				frames := n.PendingToGuest(64)
				if len(frames) == 0 {
					break
				}
				for _, f := range frames {
					pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(f)})
					ch.InjectInbound(0, pkt)
					pkt.DecRef()
				}
			}
		}
	}()
	t.Cleanup(g.close)
	return g
}

func (g *testGuest) close() {
	g.cancel()
	g.wg.Wait()
	g.s.Close()
	g.s.Wait()
	g.ch.Close()
}

func fullAddr(addr string, port uint16) tcpip.FullAddress {
	return tcpip.FullAddress{NIC: 1, Addr: addrFrom(addr), Port: port}
}

// newNetwork starts a Network that logs into the test and closes at the end.
func newNetwork(t *testing.T, cfg Config) *Network {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

type testWriter struct {
	t  *testing.T
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	return len(p), nil
}

func (w *testWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("usernet log:\n%s", w.String())
		}
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// checkNoLeaks fails the test if, at its end, more goroutines run than at
// its start.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			now := runtime.NumGoroutine()
			if now <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutines: %d before, %d after:\n%s", before, now, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// Raw frames, for the tests that play the guest byte by byte.

func guestMAC() tcpip.LinkAddress {
	mac, _ := net.ParseMAC(DefaultGuestMAC)
	return tcpip.LinkAddress(mac)
}

func gatewayMAC() tcpip.LinkAddress {
	mac, _ := net.ParseMAC(GatewayMAC)
	return tcpip.LinkAddress(mac)
}

func ipv4Frame(dstMAC tcpip.LinkAddress, src, dst tcpip.Address, proto tcpip.TransportProtocolNumber, body []byte) []byte {
	frame := make([]byte, header.EthernetMinimumSize+header.IPv4MinimumSize+len(body))
	header.Ethernet(frame).Encode(&header.EthernetFields{SrcAddr: guestMAC(), DstAddr: dstMAC, Type: header.IPv4ProtocolNumber})
	ip := header.IPv4(frame[header.EthernetMinimumSize:])
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(header.IPv4MinimumSize + len(body)), TTL: 64, Protocol: uint8(proto), SrcAddr: src, DstAddr: dst})
	ip.SetChecksum(^ip.CalculateChecksum())
	copy(ip.Payload(), body)
	return frame
}

func udpFrameFromGuest(dstMAC tcpip.LinkAddress, src, dst tcpip.Address, srcPort, dstPort uint16, payload []byte) []byte {
	body := make([]byte, header.UDPMinimumSize+len(payload))
	u := header.UDP(body)
	u.Encode(&header.UDPFields{SrcPort: srcPort, DstPort: dstPort, Length: uint16(len(body))})
	copy(u.Payload(), payload)
	xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, src, dst, uint16(len(body)))
	u.SetChecksum(^u.CalculateChecksum(checksum.Checksum(payload, xsum)))
	return ipv4Frame(dstMAC, src, dst, header.UDPProtocolNumber, body)
}

func arpRequestFrame(target string) []byte {
	frame := make([]byte, header.EthernetMinimumSize+header.ARPSize)
	header.Ethernet(frame).Encode(&header.EthernetFields{SrcAddr: guestMAC(), DstAddr: header.EthernetBroadcastAddress, Type: header.ARPProtocolNumber})
	a := header.ARP(frame[header.EthernetMinimumSize:])
	a.SetIPv4OverEthernet()
	a.SetOp(header.ARPRequest)
	copy(a.HardwareAddressSender(), guestMAC())
	g := addrFrom(GuestAddr).As4()
	copy(a.ProtocolAddressSender(), g[:])
	tg := addrFrom(target).As4()
	copy(a.ProtocolAddressTarget(), tg[:])
	return frame
}

// waitFrames polls the queue until pred accepts a frame or time runs out.
func waitFrame(t *testing.T, n *Network, what string, pred func([]byte) bool) []byte {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, f := range n.PendingToGuest(0) {
			if pred(f) {
				return f
			}
		}
		select {
		case <-n.Notify():
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("no %s from the network", what)
	return nil
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func slogText(w *testWriter) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
