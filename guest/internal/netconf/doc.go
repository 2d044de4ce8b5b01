// Package netconf configures a guest's network without any tools in the
// image: a small DHCP client (RFC 2131, 2132) that speaks whole Ethernet
// frames through an AF_PACKET socket, so that it works on an interface
// that has no address yet, and rtnetlink requests that do the work of
// `ip link set up`, `ip addr add` and `ip route add default` in a few
// bytes each.
//
// Juice's init (guest/init) uses it for an appliance's network, and
// guest/devcheck for the device tests. Everything but the sockets is
// plain data, so the message code is tested on the host, and the DHCP
// client runs against Juice's user-mode network (internal/usernet) in
// the tests.
package netconf
