// Package usernet is Juice's user-mode network for guests, in the spirit of
// QEMU's "-netdev user" (slirp): the guest sees a small private Ethernet
// segment with a gateway, a DHCP server and a DNS server, and its TCP and UDP
// traffic is carried out by ordinary sockets of the host process, so no
// privileges, tap device or bridge are needed.
//
// The segment is QEMU's: network 10.0.2.0/24, gateway (and host) 10.0.2.2,
// DNS server 10.0.2.3, and the guest gets 10.0.2.15 by DHCP. The gateway side
// is a gVisor netstack (gvisor.dev/gvisor/pkg/tcpip) running in promiscuous
// mode: every TCP connection and UDP flow the guest opens, to whatever
// address, ends in that stack and is proxied with a host socket. Connections
// to 10.0.2.2 go to the host's loopback (127.0.0.1, same port). Host forwards
// (hostfwd) listen on a host address and open connections to the guest.
//
// # Frames and determinism
//
// The Network works on whole Ethernet frames (without any virtio-net header).
// The virtio-net device hands frames the guest transmitted to SendFromGuest.
// Frames for the guest travel the other way through a pull API: the Network
// never calls into the machine from its own goroutines. Frames are queued
// (bounded; when the guest does not drain the queue, new frames are dropped
// and counted, as a real NIC does when its receive ring is full), Notify
// signals that the queue became non-empty, and the board takes frames with
// PendingToGuest at its own scheduling boundaries, on its own thread, at an
// instruction count it can record. That call is the single seam through which
// the outside world enters the machine.
//
// SendFromGuest processes the frame synchronously on the caller's goroutine
// (ARP, DHCP and ICMP echo replies are queued before it returns), but never
// blocks on the host: connecting, reading and writing host sockets happens on
// the Network's own goroutines, which only ever touch the queue.
//
// # Limits
//
// IPv4 only. Only the gateway and the DNS server answer pings (the host
// sends no ICMP for the guest), and host-side errors are not turned into ICMP
// for the guest: a refused TCP connection is a reset, a UDP datagram the host
// cannot deliver is lost. There is one guest address (10.0.2.15); DHCP gives
// it to any client.
package usernet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// Addresses of the user-mode network, as QEMU's defaults.
const (
	// NetworkCIDR is the guest's network.
	NetworkCIDR = "10.0.2.0/24"
	// GatewayAddr is the gateway, which also stands for the host: TCP and
	// UDP to it go to the host's 127.0.0.1.
	GatewayAddr = "10.0.2.2"
	// DNSAddr is the DNS server the DHCP server announces.
	DNSAddr = "10.0.2.3"
	// GuestAddr is the address the DHCP server hands out, and the address
	// host forwards connect to.
	GuestAddr = "10.0.2.15"
	// DefaultGuestMAC is the guest's MAC address unless Config.GuestMAC says
	// otherwise (QEMU's default for the first NIC).
	DefaultGuestMAC = "52:54:00:12:34:56"
	// GatewayMAC is the MAC address of the gateway and the DNS server (as
	// slirp: 52:55 followed by the gateway's IPv4 address).
	GatewayMAC = "52:55:0a:00:02:02"
	// MTU is the IP MTU of the segment; frames are at most MTU+14 bytes.
	MTU = 1500
)

// Defaults for the optional Config fields.
const (
	// DefaultQueueLimit is the number of frames held for the guest before
	// new ones are dropped.
	DefaultQueueLimit = 1024
	// DefaultUDPIdleTimeout ends a proxied UDP flow that carried nothing
	// for that long.
	DefaultUDPIdleTimeout = 60 * time.Second
	// DefaultHostsFile is read to answer DNS queries before asking the
	// host's resolver.
	DefaultHostsFile = "/etc/hosts"
	// DefaultResolvConf names the host's nameservers.
	DefaultResolvConf = "/etc/resolv.conf"
)

// Config configures a Network. The zero value is a working network with no
// host forwards that logs nothing.
type Config struct {
	// HostForwards lists host ports forwarded into the guest, like QEMU's
	// hostfwd=tcp:127.0.0.1:8080-:80. See ParseForward.
	HostForwards []Forward
	// Logger receives the Network's log lines; nil discards them.
	Logger *slog.Logger

	// GuestMAC is the guest NIC's MAC address, used to reach the guest
	// before it has sent anything (for host forwards); nil means
	// DefaultGuestMAC. The Network also learns the MAC from the guest's
	// DHCP requests and IPv4 frames.
	GuestMAC net.HardwareAddr
	// QueueLimit bounds the frames waiting for the guest; 0 means
	// DefaultQueueLimit.
	QueueLimit int
	// UDPIdleTimeout ends proxied UDP flows (outbound and forwarded) that
	// carried nothing for that long; 0 means DefaultUDPIdleTimeout.
	UDPIdleTimeout time.Duration
	// DNSServers are the upstream nameservers ("ip" or "ip:port") that DNS
	// queries not answered from HostsFile are forwarded to; empty means the
	// nameservers of /etc/resolv.conf, read once by New (127.0.0.1 when it
	// names none, as glibc does).
	DNSServers []string
	// HostsFile is consulted first for DNS queries; "" means
	// DefaultHostsFile. It is read on each query, so edits show at once.
	HostsFile string
}

// Forward is one host forward: connections (TCP) or datagrams (UDP) reaching
// HostAddr on the host are carried to GuestPort of the guest (10.0.2.15).
type Forward struct {
	// Proto is "tcp" or "udp".
	Proto string
	// HostAddr is the host address to listen on, such as "127.0.0.1:8080";
	// port 0 picks a free port (see Network.ForwardAddrs).
	HostAddr string
	// GuestPort is the port in the guest.
	GuestPort uint16
}

// String returns f in QEMU's hostfwd syntax, as ParseForward accepts it.
func (f Forward) String() string {
	return fmt.Sprintf("%s:%s-:%d", f.Proto, f.HostAddr, f.GuestPort)
}

// ParseForward parses a host forward in QEMU's hostfwd syntax:
//
//	[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport
//
// such as "tcp:127.0.0.1:8080-:80" or "udp::5353-:53". The protocol defaults
// to tcp and the host address to 127.0.0.1 (QEMU's default is every address;
// Juice keeps forwards local unless asked). A leading "hostfwd=" is
// accepted. The guest address may be omitted or be 10.0.2.15, the only guest.
func ParseForward(s string) (Forward, error) {
	orig := s
	s = strings.TrimPrefix(s, "hostfwd=")
	bad := func(format string, args ...any) (Forward, error) {
		return Forward{}, fmt.Errorf("usernet: host forward %q: %s", orig, fmt.Sprintf(format, args...))
	}
	proto, rest, ok := strings.Cut(s, ":")
	if !ok {
		return bad("want [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport")
	}
	switch proto {
	case "":
		proto = "tcp"
	case "tcp", "udp":
	default:
		return bad("protocol %q is neither tcp nor udp", proto)
	}
	hostPart, guestPart, ok := strings.Cut(rest, "-")
	if !ok {
		return bad("missing '-' between the host part %q and the guest part", rest)
	}
	hostAddr, hostPort, err := splitAddrPort(hostPart)
	if err != nil {
		return bad("host part %q: %v", hostPart, err)
	}
	if hostAddr == "" {
		hostAddr = "127.0.0.1"
	} else if _, err := netip.ParseAddr(hostAddr); err != nil {
		return bad("host address %q is not an IP address", hostAddr)
	}
	guestAddr, guestPort, err := splitAddrPort(guestPart)
	if err != nil {
		return bad("guest part %q: %v", guestPart, err)
	}
	if guestAddr != "" && guestAddr != GuestAddr {
		return bad("guest address %q: the guest is %s", guestAddr, GuestAddr)
	}
	if guestPort == 0 {
		return bad("guest port 0 in %q: want 1-65535", guestPart)
	}
	return Forward{Proto: proto, HostAddr: net.JoinHostPort(hostAddr, strconv.Itoa(int(hostPort))), GuestPort: guestPort}, nil
}

// splitAddrPort splits "addr:port", ":port" or "port" ("[v6]:port" too).
func splitAddrPort(s string) (string, uint16, error) {
	addr, portStr := "", s
	if strings.Contains(s, ":") {
		var err error
		addr, portStr, err = net.SplitHostPort(s)
		if err != nil {
			return "", 0, errors.New("want [addr]:port")
		}
	}
	if portStr == "" {
		return "", 0, errors.New("missing port")
	}
	p, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number in 0-65535", portStr)
	}
	return addr, uint16(p), nil
}

// Stats counts a Network's frames.
type Stats struct {
	// FromGuest counts frames passed to SendFromGuest.
	FromGuest uint64
	// ToGuest counts frames handed out by PendingToGuest.
	ToGuest uint64
	// Queued is the number of frames waiting for the guest now.
	Queued int
	// DroppedToGuest counts frames for the guest dropped because the queue
	// was full.
	DroppedToGuest uint64
	// DroppedFromGuest counts guest frames that were malformed, addressed to
	// nobody on the segment, or not served (such as pings to addresses other
	// than the gateway and the DNS server).
	DroppedFromGuest uint64
}

const nicID tcpip.NICID = 1

// Network is one user-mode network with one guest. Its methods are safe for
// concurrent use. Two Networks in one process share nothing.
type Network struct {
	log *slog.Logger

	subnet    tcpip.Subnet
	gwAddr    tcpip.Address
	dnsAddr   tcpip.Address
	guestAddr tcpip.Address
	gwMAC     tcpip.LinkAddress

	udpIdle    time.Duration
	dnsServers []string
	hostsFile  string

	stack *stack.Stack
	link  *linkEndpoint
	q     *guestQueue

	ctx    context.Context
	cancel context.CancelFunc

	// sendMu orders SendFromGuest against Close.
	sendMu sync.RWMutex

	mu       sync.Mutex
	closed   bool
	closers  map[io.Closer]struct{}
	wg       sync.WaitGroup
	guestMAC tcpip.LinkAddress

	fwdAddrs []net.Addr

	fromGuest        atomic.Uint64
	droppedFromGuest atomic.Uint64
}

// New starts a Network: its gateway stack and, for each host forward, a
// listener on the host. A forward whose host address cannot be listened on
// (such as a port in use) is an error naming it, and nothing is left running.
func New(cfg Config) (*Network, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	guestMAC := cfg.GuestMAC
	if guestMAC == nil {
		guestMAC, _ = net.ParseMAC(DefaultGuestMAC)
	}
	if len(guestMAC) != 6 {
		return nil, fmt.Errorf("usernet: guest MAC %v is not an Ethernet address", guestMAC)
	}
	gwMAC, _ := net.ParseMAC(GatewayMAC)
	n := &Network{
		log:       log.With("component", "usernet"),
		gwAddr:    addrFrom(GatewayAddr),
		dnsAddr:   addrFrom(DNSAddr),
		guestAddr: addrFrom(GuestAddr),
		gwMAC:     tcpip.LinkAddress(gwMAC),
		guestMAC:  tcpip.LinkAddress(guestMAC),
		udpIdle:   cfg.UDPIdleTimeout,
		hostsFile: cfg.HostsFile,
		closers:   make(map[io.Closer]struct{}),
	}
	prefix := netip.MustParsePrefix(NetworkCIDR)
	n.subnet = tcpip.AddressWithPrefix{Address: addrFrom(prefix.Addr().String()), PrefixLen: prefix.Bits()}.Subnet()
	if n.udpIdle <= 0 {
		n.udpIdle = DefaultUDPIdleTimeout
	}
	if n.hostsFile == "" {
		n.hostsFile = DefaultHostsFile
	}
	var err error
	n.dnsServers, err = upstreamServers(cfg.DNSServers, DefaultResolvConf)
	if err != nil {
		return nil, err
	}
	limit := cfg.QueueLimit
	if limit <= 0 {
		limit = DefaultQueueLimit
	}
	for _, f := range cfg.HostForwards {
		if f.Proto != "tcp" && f.Proto != "udp" {
			return nil, fmt.Errorf("usernet: host forward %v: protocol %q is neither tcp nor udp", f, f.Proto)
		}
		if f.GuestPort == 0 {
			return nil, fmt.Errorf("usernet: host forward %v: guest port 0", f)
		}
	}
	n.q = newGuestQueue(limit, n.log)
	n.ctx, n.cancel = context.WithCancel(context.Background())

	if err := n.startStack(); err != nil {
		n.cancel()
		return nil, err
	}
	if err := n.startForwards(cfg.HostForwards); err != nil {
		n.Close()
		return nil, err
	}
	if err := n.startDNS(); err != nil {
		n.Close()
		return nil, err
	}
	n.log.Debug("user-mode network up", "gateway", GatewayAddr, "dns", DNSAddr, "guest", GuestAddr,
		"forwards", len(cfg.HostForwards), "nameservers", n.dnsServers)
	return n, nil
}

func addrFrom(s string) tcpip.Address {
	return tcpip.AddrFrom4(netip.MustParseAddr(s).As4())
}

func (n *Network) startStack() error {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4},
	})
	n.stack = s
	n.link = &linkEndpoint{mac: n.gwMAC, q: n.q}
	sack := tcpip.TCPSACKEnabled(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	if err := s.CreateNICWithOptions(nicID, n.link, stack.NICOptions{Name: "usernet0"}); err != nil {
		return fmt.Errorf("usernet: create NIC: %s", err)
	}
	for _, a := range []tcpip.Address{n.gwAddr, n.dnsAddr} {
		pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: a, PrefixLen: n.subnet.Prefix()}}
		if err := s.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
			return fmt.Errorf("usernet: add address %s: %s", a, err)
		}
	}
	// Promiscuous mode accepts packets to any address (the guest's
	// connections to the world end here); spoofing lets the proxied
	// endpoints answer from those addresses.
	if err := s.SetPromiscuousMode(nicID, true); err != nil {
		return fmt.Errorf("usernet: promiscuous mode: %s", err)
	}
	if err := s.SetSpoofing(nicID, true); err != nil {
		return fmt.Errorf("usernet: spoofing: %s", err)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: nicID}})
	if err := s.AddStaticNeighbor(nicID, ipv4.ProtocolNumber, n.guestAddr, n.guestMAC); err != nil {
		return fmt.Errorf("usernet: guest neighbor: %s", err)
	}
	s.SetTransportProtocolHandler(tcp.ProtocolNumber, tcp.NewForwarder(s, 0, 256, n.handleTCP).HandlePacket)
	s.SetTransportProtocolHandler(udp.ProtocolNumber, udp.NewForwarder(s, n.handleUDP).HandlePacket)
	return nil
}

// ForwardAddrs returns the host addresses the host forwards listen on, in
// the order of Config.HostForwards (useful with port 0).
func (n *Network) ForwardAddrs() []net.Addr {
	return append([]net.Addr(nil), n.fwdAddrs...)
}

// SendFromGuest takes a frame the guest transmitted: an Ethernet frame
// without the virtio-net header. The frame is not retained after the call.
// SendFromGuest does not block on the host; it is a no-op after Close.
func (n *Network) SendFromGuest(frame []byte) {
	n.sendMu.RLock()
	defer n.sendMu.RUnlock()
	if n.closed {
		return
	}
	n.fromGuest.Add(1)
	if !n.filterFromGuest(frame) {
		n.droppedFromGuest.Add(1)
		return
	}
	n.link.deliver(frame)
}

// PendingToGuest removes and returns up to max frames waiting for the guest,
// oldest first (all of them when max <= 0). Each is a whole Ethernet frame of
// at most MTU+14 bytes, owned by the caller. The board calls it at its
// scheduling boundaries, typically with the number of receive buffers the
// guest has posted; frames it does not take stay queued. It never blocks.
func (n *Network) PendingToGuest(max int) [][]byte {
	return n.q.pop(max)
}

// Notify returns a channel that receives a value when frames for the guest
// are queued. It holds at most one wake-up; after it fires, the board should
// drain with PendingToGuest at its next boundary. The Network only ever
// signals the channel; it never calls the board. Close does not close it.
func (n *Network) Notify() <-chan struct{} {
	return n.q.notify
}

// Stats returns the Network's counters.
func (n *Network) Stats() Stats {
	st := n.q.stats()
	st.FromGuest = n.fromGuest.Load()
	st.DroppedFromGuest = n.droppedFromGuest.Load()
	return st
}

// Close stops the Network: host listeners, proxied connections and flows,
// and the gateway stack. When it returns, every goroutine the Network started
// has ended. Frames still queued for the guest are discarded.
func (n *Network) Close() error {
	n.sendMu.Lock()
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		n.sendMu.Unlock()
		return nil
	}
	n.closed = true
	closers := n.closers
	n.closers = nil
	n.mu.Unlock()
	n.sendMu.Unlock()

	n.cancel()
	for c := range closers {
		c.Close()
	}
	n.stack.Close()
	n.wg.Wait()
	n.stack.Wait()
	n.q.close()
	return nil
}

// goTracked runs f on a new goroutine that Close waits for. It returns false
// (and does not run f) once the Network is closing.
func (n *Network) goTracked(f func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

// track registers c to be closed by Close. It returns false, having closed
// c, once the Network is closing.
func (n *Network) track(c io.Closer) bool {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		c.Close()
		return false
	}
	n.closers[c] = struct{}{}
	n.mu.Unlock()
	return true
}

// untrack closes c and forgets it.
func (n *Network) untrack(c io.Closer) {
	n.forget(c)
	c.Close()
}

// forget stops tracking c without closing it.
func (n *Network) forget(c io.Closer) {
	n.mu.Lock()
	if n.closers != nil {
		delete(n.closers, c)
	}
	n.mu.Unlock()
}

// isGatewayAddr reports whether a is one of the addresses the gateway
// stack owns on the segment.
func (n *Network) isGatewayAddr(a tcpip.Address) bool {
	return a == n.gwAddr || a == n.dnsAddr
}

// outboundTarget maps the destination of a guest connection to the host
// address to connect to: the gateway means the host's loopback, any address
// off the segment is itself, and the rest of the segment (and broadcast,
// multicast, loopback) reaches nothing.
func (n *Network) outboundTarget(dst tcpip.Address, port uint16) (netip.AddrPort, bool) {
	if dst.Len() != 4 || port == 0 {
		return netip.AddrPort{}, false
	}
	if dst == n.gwAddr {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port), true
	}
	if n.subnet.Contains(dst) {
		return netip.AddrPort{}, false
	}
	a := netip.AddrFrom4(dst.As4())
	if a.IsLoopback() || a.IsMulticast() || a.IsUnspecified() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, port), true
}

// setGuestMAC records the guest's MAC address for addr as learnt from its
// frames, so the gateway reaches it without ARP.
func (n *Network) setGuestMAC(addr tcpip.Address, mac tcpip.LinkAddress) {
	if addr != n.guestAddr || mac == n.gwMAC || header.IsMulticastEthernetAddress(mac) || mac == header.EthernetBroadcastAddress {
		return
	}
	n.mu.Lock()
	changed := n.guestMAC != mac
	n.guestMAC = mac
	n.mu.Unlock()
	if changed {
		n.stack.RemoveNeighbor(nicID, ipv4.ProtocolNumber, addr)
		if err := n.stack.AddStaticNeighbor(nicID, ipv4.ProtocolNumber, addr, mac); err != nil {
			n.log.Warn("cannot record the guest's MAC address", "addr", addr, "mac", mac, "err", err)
			return
		}
		n.log.Debug("guest MAC address", "addr", addr, "mac", mac)
	}
}
