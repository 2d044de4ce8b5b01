package main

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/juicevm/juice/guest/internal/netconf"
)

// Expected DHCP results on Juice's (and QEMU's) user-mode network.
const (
	defaultIfname = "eth0"
	defaultIP     = "10.0.2.15/24"
	defaultRouter = "10.0.2.2"
	defaultDNS    = "10.0.2.3"
)

// network brings the interface up, configures it by DHCP, checks the
// lease against devcheck.ip, .router and .dns ("any" skips a check), and
// adds the address, the default route and /etc/resolv.conf.
func (r *runner) network() error {
	ifname := r.opts.str("ifname", defaultIfname)
	timeout, err := r.timeout()
	if err != nil {
		return err
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return fmt.Errorf("interface %s (virtio-net, CONFIG_VIRTIO_NET): %w", ifname, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return fmt.Errorf("interface %s has no Ethernet address", ifname)
	}
	nl, err := netconf.OpenRtnl()
	if err != nil {
		return err
	}
	defer nl.Close()
	if lo, err := net.InterfaceByName("lo"); err == nil {
		if err := nl.LinkUp("lo", lo.Index); err != nil {
			return err
		}
	}
	if err := nl.LinkUp(ifname, ifi.Index); err != nil {
		return err
	}
	netconf.WaitCarrier(ifname, 2*time.Second)

	const attempts = 4
	link := netconf.Link{Name: ifname, Index: ifi.Index, MAC: ifi.HardwareAddr}
	lease, err := netconf.DHCP(r.ctx, link, max(timeout/attempts, time.Second), attempts)
	if err != nil {
		return err
	}
	r.infof("net", "lease %s", lease)
	if err := checkLease(lease, r.opts.str("ip", defaultIP), r.opts.str("router", defaultRouter), r.opts.str("dns", defaultDNS)); err != nil {
		return err
	}
	if err := nl.Apply(ifi.Index, lease.Static()); err != nil {
		return err
	}
	return netconf.WriteResolvConf("/etc/resolv.conf", lease.DNS)
}

// checkLease compares a lease with the expected address (with prefix),
// router and first name server; "any" accepts anything.
func checkLease(l netconf.Lease, ip, router, dns string) error {
	if ip != "any" {
		want, err := netip.ParsePrefix(ip)
		if err != nil {
			return fmt.Errorf("option devcheck.ip=%s: %w", ip, err)
		}
		if l.Address != want {
			return fmt.Errorf("DHCP gave %s, want %s", l.Address, want)
		}
	}
	for _, c := range []struct {
		what, want string
		got        netip.Addr
	}{
		{"router", router, l.Router},
		{"dns", dns, func() netip.Addr {
			if len(l.DNS) > 0 {
				return l.DNS[0]
			}
			return netip.Addr{}
		}()},
	} {
		if c.want == "any" {
			continue
		}
		want, err := netip.ParseAddr(c.want)
		if err != nil {
			return fmt.Errorf("option devcheck.%s=%s: %w", c.what, c.want, err)
		}
		if c.got != want {
			return fmt.Errorf("DHCP gave %s %v, want %s", c.what, c.got, want)
		}
	}
	return nil
}
