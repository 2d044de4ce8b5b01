package netconf

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// Static is an interface configuration: an address with its network
// length, a default gateway (optional) and name servers.
type Static struct {
	Address netip.Prefix
	Gateway netip.Addr
	DNS     []netip.Addr
}

// Static returns the configuration the lease gives.
func (l Lease) Static() Static {
	return Static{Address: l.Address, Gateway: l.Router, DNS: l.DNS}
}

// Link is a network interface.
type Link struct {
	Name  string
	Index int
	// MAC is the Ethernet address, 6 bytes (none for lo).
	MAC []byte
}

// LinkByName looks an interface up in /sys/class/net (it does the job of
// net.InterfaceByName without the weight of package net).
func LinkByName(name string) (Link, error) {
	dir := "/sys/class/net/" + name
	b, err := os.ReadFile(dir + "/ifindex")
	if err != nil {
		return Link{}, fmt.Errorf("interface %s: %w", name, err)
	}
	index, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return Link{}, fmt.Errorf("interface %s: ifindex %q", name, b)
	}
	l := Link{Name: name, Index: index}
	if b, err := os.ReadFile(dir + "/address"); err == nil {
		l.MAC, _ = parseMAC(strings.TrimSpace(string(b)))
	}
	return l, nil
}

// parseMAC parses "52:54:00:12:34:56".
func parseMAC(s string) ([]byte, bool) {
	if len(s) != 17 {
		return nil, false
	}
	mac := make([]byte, 6)
	for i := range mac {
		if i > 0 && s[3*i-1] != ':' {
			return nil, false
		}
		v, err := strconv.ParseUint(s[3*i:3*i+2], 16, 8)
		if err != nil {
			return nil, false
		}
		mac[i] = byte(v)
	}
	return mac, true
}

// DHCP obtains a lease for an interface that is up, over a packet socket,
// waiting up to wait for each answer and trying up to attempts times.
// It configures nothing. Closing the packet socket makes the kernel wait
// for an RCU grace period (synchronize_net); to avoid that wait, open a
// PacketConn, use a Client and close the socket later.
func DHCP(ctx context.Context, link Link, wait time.Duration, attempts int) (Lease, error) {
	if len(link.MAC) != 6 {
		return Lease{}, fmt.Errorf("interface %s has no Ethernet address", link.Name)
	}
	conn, err := OpenPacketConn(link.Index)
	if err != nil {
		return Lease{}, err
	}
	defer conn.Close()
	return NewClient(conn, link.MAC, wait, attempts).Acquire(ctx)
}

// Apply adds the address and, if there is one, the default route to an
// interface. Name servers are for WriteResolvConf.
func (r *Rtnl) Apply(ifindex int, s Static) error {
	if err := r.AddAddress(ifindex, s.Address); err != nil {
		return err
	}
	if s.Gateway.IsValid() {
		return r.AddDefaultRoute(ifindex, s.Gateway)
	}
	return nil
}

// ResolvConf returns the text of a resolv.conf naming the servers.
func ResolvConf(dns []netip.Addr) string {
	var b strings.Builder
	for _, d := range dns {
		fmt.Fprintf(&b, "nameserver %s\n", d)
	}
	return b.String()
}

// WriteResolvConf writes the name servers to path (normally
// /etc/resolv.conf). It does nothing when there are none.
func WriteResolvConf(path string, dns []netip.Addr) error {
	if len(dns) == 0 {
		return nil
	}
	if err := os.WriteFile(path, []byte(ResolvConf(dns)), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
