package usernet

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
)

// The DNS server at 10.0.2.3:53 (UDP and TCP) answers a query for a name
// from the hosts file itself (and "localhost" and "*.localhost" always, as
// RFC 6761 asks: 127.0.0.1 and ::1, which in the guest are the guest's own
// loopback). Every other query is relayed unchanged to the host's
// nameservers, first to last, over the same transport; the answer comes back
// unchanged. When none answers, the guest gets SERVFAIL.

const (
	dnsPort          = 53
	dnsHeaderLen     = 12
	dnsTypeA         = 1
	dnsTypeAAAA      = 28
	dnsTypeANY       = 255
	dnsClassIN       = 1
	dnsRcodeFormErr  = 1
	dnsRcodeServFail = 2
	dnsHostsTTL      = 60
	// dnsUpstreamTimeout bounds waiting for one upstream nameserver.
	dnsUpstreamTimeout = 3 * time.Second
	// dnsTCPIdle ends a guest's idle DNS-over-TCP connection.
	dnsTCPIdle = 30 * time.Second
	// dnsMaxInFlight bounds the UDP queries being answered at once; more
	// are dropped (the guest's resolver retries).
	dnsMaxInFlight = 64
)

// upstreamServers returns the configured nameservers as host:port, or those
// of resolvConf.
func upstreamServers(cfg []string, resolvConf string) ([]string, error) {
	var out []string
	for _, s := range cfg {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			out = append(out, ap.String())
		} else if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.AddrPortFrom(a, dnsPort).String())
		} else {
			return nil, fmt.Errorf("usernet: DNS server %q is neither an IP address nor IP:port", s)
		}
	}
	if len(cfg) > 0 {
		return out, nil
	}
	f, err := os.Open(resolvConf)
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "nameserver" {
				// A zone (fe80::1%eth0) is kept: the host can use it.
				if a, err := netip.ParseAddr(fields[1]); err == nil {
					out = append(out, netip.AddrPortFrom(a, dnsPort).String())
				}
			}
		}
	}
	if len(out) == 0 {
		out = []string{"127.0.0.1:53"}
	}
	return out, nil
}

// startDNS starts the DNS server's UDP and TCP endpoints in the gateway
// stack.
func (n *Network) startDNS() error {
	addr := tcpip.FullAddress{NIC: nicID, Addr: n.dnsAddr, Port: dnsPort}
	uc, err := gonet.DialUDP(n.stack, &addr, nil, ipv4.ProtocolNumber)
	if err != nil {
		return fmt.Errorf("usernet: DNS server: %w", err)
	}
	if !n.track(uc) {
		return errors.New("usernet: DNS server: network closed")
	}
	ln, err := gonet.ListenTCP(n.stack, addr, ipv4.ProtocolNumber)
	if err != nil {
		return fmt.Errorf("usernet: DNS server: %w", err)
	}
	if !n.track(ln) {
		return errors.New("usernet: DNS server: network closed")
	}
	n.goTracked(func() {
		buf := make([]byte, maxDatagram)
		inFlight := make(chan struct{}, dnsMaxInFlight)
		for {
			k, from, err := uc.ReadFrom(buf)
			if err != nil {
				return // closed
			}
			select {
			case inFlight <- struct{}{}:
			default:
				n.log.Debug("DNS query dropped: too many in flight")
				continue
			}
			q := append([]byte(nil), buf[:k]...)
			if !n.goTracked(func() {
				defer func() { <-inFlight }()
				if resp := n.resolve(q, false); resp != nil {
					uc.WriteTo(resp, from)
				}
			}) {
				return
			}
		}
	})
	n.goTracked(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed
			}
			if !n.track(c) {
				return
			}
			if !n.goTracked(func() {
				defer n.untrack(c)
				n.serveDNSTCP(c)
			}) {
				n.untrack(c)
			}
		}
	})
	return nil
}

// serveDNSTCP answers length-prefixed queries on one guest TCP connection.
func (n *Network) serveDNSTCP(c net.Conn) {
	for {
		c.SetReadDeadline(time.Now().Add(dnsTCPIdle))
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		resp := n.resolve(q, true)
		if resp == nil {
			return
		}
		if _, err := c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(resp)))); err != nil {
			return
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// dnsQuestion is a query's single question.
type dnsQuestion struct {
	name  string // lower case, no trailing dot
	qtype uint16
	raw   []byte // the question as sent, name through class
}

// parseQuestion parses the query's header and its only question.
func parseQuestion(q []byte) (dnsQuestion, bool) {
	if len(q) < dnsHeaderLen || q[2]&0x80 != 0 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return dnsQuestion{}, false
	}
	var labels []string
	i := dnsHeaderLen
	for {
		if i >= len(q) {
			return dnsQuestion{}, false
		}
		l := int(q[i])
		i++
		if l == 0 {
			break
		}
		if l&0xc0 != 0 || i+l > len(q) {
			return dnsQuestion{}, false // no compression in a question
		}
		labels = append(labels, strings.ToLower(string(q[i:i+l])))
		i += l
	}
	if i+4 > len(q) {
		return dnsQuestion{}, false
	}
	return dnsQuestion{
		name:  strings.Join(labels, "."),
		qtype: binary.BigEndian.Uint16(q[i : i+2]),
		raw:   q[dnsHeaderLen : i+4],
	}, true
}

// resolve answers one DNS query; nil means no answer at all.
func (n *Network) resolve(q []byte, viaTCP bool) []byte {
	if len(q) < dnsHeaderLen {
		return nil
	}
	if q[2]&0x80 != 0 {
		return nil // a response, not a query
	}
	question, ok := parseQuestion(q)
	if !ok {
		if binary.BigEndian.Uint16(q[4:6]) == 0 || q[2]&0x78 != 0 {
			return dnsReply(q, nil, dnsRcodeFormErr, nil)
		}
		return n.forwardDNS(q, viaTCP)
	}
	if v4, v6, found := lookupHosts(n.hostsFile, question.name); found {
		var answers [][]byte
		if question.qtype == dnsTypeA || question.qtype == dnsTypeANY {
			for _, a := range v4 {
				answers = append(answers, a.AsSlice())
			}
		}
		if question.qtype == dnsTypeAAAA || question.qtype == dnsTypeANY {
			for _, a := range v6 {
				answers = append(answers, a.AsSlice())
			}
		}
		n.log.Debug("DNS from hosts", "name", question.name, "type", question.qtype, "answers", len(answers))
		return dnsReply(q, question.raw, 0, answers)
	}
	return n.forwardDNS(q, viaTCP)
}

// dnsReply builds a response to query q with rcode and the given A/AAAA
// records (rdata of 4 or 16 bytes) for the question.
func dnsReply(q, question []byte, rcode byte, answers [][]byte) []byte {
	out := make([]byte, dnsHeaderLen, 512)
	copy(out[0:2], q[0:2])
	out[2] = 0x80 | q[2]&0x79 // QR, opcode and RD from the query
	out[3] = 0x80 | rcode     // RA
	if question != nil {
		binary.BigEndian.PutUint16(out[4:6], 1)
	}
	binary.BigEndian.PutUint16(out[6:8], uint16(len(answers)))
	out = append(out, question...)
	for _, rd := range answers {
		typ := uint16(dnsTypeA)
		if len(rd) == 16 {
			typ = dnsTypeAAAA
		}
		out = append(out, 0xc0, dnsHeaderLen) // the question's name
		out = binary.BigEndian.AppendUint16(out, typ)
		out = binary.BigEndian.AppendUint16(out, dnsClassIN)
		out = binary.BigEndian.AppendUint32(out, dnsHostsTTL)
		out = binary.BigEndian.AppendUint16(out, uint16(len(rd)))
		out = append(out, rd...)
	}
	return out
}

// lookupHosts finds name in the hosts file; "localhost" and its subdomains
// are always found. found is true when the name is known, even with no
// address of a family.
func lookupHosts(path, name string) (v4, v6 []netip.Addr, found bool) {
	add := func(a netip.Addr) {
		a = a.Unmap()
		if a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a.WithZone(""))
		}
	}
	if f, err := os.Open(path); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line, _, _ := strings.Cut(sc.Text(), "#")
			fields := strings.Fields(line)
			if len(fields) < 2 {
				continue
			}
			a, err := netip.ParseAddr(fields[0])
			if err != nil {
				continue
			}
			for _, h := range fields[1:] {
				if strings.EqualFold(strings.TrimSuffix(h, "."), name) {
					add(a)
					found = true
					break
				}
			}
		}
	}
	if !found && (name == "localhost" || strings.HasSuffix(name, ".localhost")) {
		add(netip.AddrFrom4([4]byte{127, 0, 0, 1}))
		add(netip.IPv6Loopback())
		found = true
	}
	return v4, v6, found
}

// forwardDNS relays query q to the upstream nameservers in turn and returns
// the first answer with q's ID, or SERVFAIL.
func (n *Network) forwardDNS(q []byte, viaTCP bool) []byte {
	for _, server := range n.dnsServers {
		resp, err := n.askUpstream(server, q, viaTCP)
		if err == nil {
			return resp
		}
		n.log.Debug("DNS upstream failed", "server", server, "tcp", viaTCP, "err", err)
	}
	question, _ := parseQuestion(q)
	return dnsReply(q, question.raw, dnsRcodeServFail, nil)
}

func (n *Network) askUpstream(server string, q []byte, viaTCP bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(n.ctx, dnsUpstreamTimeout)
	defer cancel()
	network := "udp"
	if viaTCP {
		network = "tcp"
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, server)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if viaTCP {
		msg := binary.BigEndian.AppendUint16(nil, uint16(len(q)))
		if _, err := c.Write(append(msg, q...)); err != nil {
			return nil, fmt.Errorf("send: %w", err)
		}
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return nil, fmt.Errorf("receive: %w", err)
		}
		resp := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, resp); err != nil {
			return nil, fmt.Errorf("receive: %w", err)
		}
		if len(resp) < dnsHeaderLen || resp[0] != q[0] || resp[1] != q[1] {
			return nil, errors.New("answer does not match the query")
		}
		return resp, nil
	}
	if _, err := c.Write(q); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	buf := make([]byte, maxDatagram)
	for {
		k, err := c.Read(buf)
		if err != nil {
			return nil, fmt.Errorf("receive: %w", err)
		}
		if k >= dnsHeaderLen && buf[0] == q[0] && buf[1] == q[1] && buf[2]&0x80 != 0 {
			return append([]byte(nil), buf[:k]...), nil
		}
	}
}
