package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/juicevm/juice/guest/devcheck/manifest"
	"github.com/juicevm/juice/guest/devcheck/protocol"
	"github.com/juicevm/juice/internal/usernet"
)

func TestParseCmdline(t *testing.T) {
	o := parseCmdline(`console=ttyS0 devcheck.disk=/dev/vda  devcheck.rng=1 juice.exec=/devcheck devcheck.fetch="http://10.0.2.2:80/a b" devcheck.net devcheck.rng=0` + "\n")
	want := options{"disk": "/dev/vda", "rng": "0", "fetch": "http://10.0.2.2:80/a b", "net": ""}
	if len(o) != len(want) {
		t.Fatalf("got %v, want %v", o, want)
	}
	for k, v := range want {
		if o[k] != v {
			t.Errorf("%s = %q, want %q", k, o[k], v)
		}
	}
	if o.enabled("rng") || !o.enabled("net") || !o.enabled("disk") || o.enabled("serve") {
		t.Error("enabled() wrong")
	}
	if n, err := (options{"size": "0x10"}).int("size", 1); err != nil || n != 16 {
		t.Errorf("int: %d, %v", n, err)
	}
	for _, bad := range []options{{"size": "-1"}, {"size": "big"}} {
		if _, err := bad.int("size", 1); err == nil {
			t.Errorf("int(%v) accepted", bad)
		}
	}
	if _, err := (options{"verify": "maybe"}).flag("verify", false); err == nil {
		t.Error("flag(maybe) accepted")
	}
}

// fakeSystem mounts nothing: the "mount point" is a host directory.
func fakeSystem(mounts *int) system {
	return system{
		mount:   func(dev, dir string) error { *mounts++; return nil },
		unmount: func(dir string) error { return nil },
		sync:    func() {},
	}
}

// runOut runs devcheck with a command line and returns status and output.
func runOut(cmdline string, sys system) (int, string) {
	var out bytes.Buffer
	code := run(context.Background(), cmdline, &out, sys)
	return code, out.String()
}

func TestRunArgs(t *testing.T) {
	var mounts int
	code, out := runOut("console=ttyS0", fakeSystem(&mounts))
	if code != 2 || !strings.Contains(out, "devcheck: FAILED: no steps requested") {
		t.Errorf("no steps: %d %q", code, out)
	}
	// An interface that does not exist keeps the net step off the
	// host's network.
	code, out = runOut("devcheck.bogus=1 devcheck.fetch=http://x/ devcheck.ifname=devcheck-none", fakeSystem(&mounts))
	if code != 1 || !strings.Contains(out, "devcheck: args FAILED: unknown option devcheck.bogus") {
		t.Errorf("unknown option: %d %q", code, out)
	}
	// fetch without a working net step fails with a reason.
	for _, want := range []string{"devcheck: net FAILED: interface devcheck-none", "devcheck: fetch FAILED: no network", "devcheck: FAILED: 3 of 3 steps"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out = runOut("devcheck.rng=0", fakeSystem(&mounts))
	if code != 2 {
		t.Errorf("rng=0 ran something: %d %q", code, out)
	}
}

func TestDiskStep(t *testing.T) {
	mnt := t.TempDir()
	if err := os.MkdirAll(filepath.Join(mnt, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(mnt, "a"), []byte("alpha"), 0o644)
	os.WriteFile(filepath.Join(mnt, "dir", "b"), []byte("beta"), 0o644)
	if _, err := manifest.WriteFile(mnt); err != nil {
		t.Fatal(err)
	}
	var mounts int
	sys := fakeSystem(&mounts)
	base := "devcheck.disk=/dev/vda devcheck.mnt=" + mnt

	code, out := runOut(base+" devcheck.name=first devcheck.size=1000 devcheck.seed=9", sys)
	if code != 0 || !strings.Contains(out, "devcheck: disk manifest 2 files match") || !strings.Contains(out, protocol.AllOK) {
		t.Fatalf("first run: %d\n%s", code, out)
	}
	got, err := os.ReadFile(filepath.Join(mnt, "out", "first"))
	if err != nil || !bytes.Equal(got, manifest.PseudoRandom(9, 1000)) {
		t.Fatalf("out/first: %v", err)
	}
	wantLine := fmt.Sprintf("devcheck: disk wrote out/first 1000 bytes sha256 %x", sha256.Sum256(got))
	if !strings.Contains(out, wantLine) {
		t.Errorf("output lacks %q:\n%s", wantLine, out)
	}
	// A second file is added to SUMS; both verify.
	if code, out := runOut(base+" devcheck.name=second", sys); code != 0 {
		t.Fatalf("second run: %d\n%s", code, out)
	}
	code, out = runOut(base+" devcheck.verify=1", sys)
	if code != 0 || !strings.Contains(out, "devcheck: disk verified 2 files of out/SUMS") {
		t.Fatalf("verify: %d\n%s", code, out)
	}
	if mounts != 3 {
		t.Errorf("%d mounts, want 3", mounts)
	}
	// Damage is found.
	os.WriteFile(filepath.Join(mnt, "out", "first"), []byte("damaged"), 0o644)
	code, out = runOut(base+" devcheck.verify=1", sys)
	if code != 1 || !strings.Contains(out, "devcheck: disk FAILED: out/SUMS: first: sha256") {
		t.Errorf("damaged out/first: %d\n%s", code, out)
	}
	os.WriteFile(filepath.Join(mnt, "dir", "b"), []byte("BETA"), 0o644)
	code, out = runOut(base, sys)
	if code != 1 || !strings.Contains(out, "devcheck: disk FAILED: MANIFEST: dir/b: sha256") {
		t.Errorf("damaged dir/b: %d\n%s", code, out)
	}
	// Without a manifest, unless told to skip it.
	os.Remove(filepath.Join(mnt, manifest.Name))
	if code, out := runOut(base, sys); code != 1 || !strings.Contains(out, "reading the manifest") {
		t.Errorf("no manifest: %d\n%s", code, out)
	}
	if code, out := runOut(base+" devcheck.manifest=0", sys); code != 0 {
		t.Errorf("manifest=0: %d\n%s", code, out)
	}
	// Mount failures and bad names are reported.
	failing := sys
	failing.mount = func(dev, dir string) error { return syscall.ENODEV }
	if code, out := runOut(base, failing); code != 1 || !strings.Contains(out, "mounting /dev/vda on "+mnt+" as ext4: no such device") {
		t.Errorf("mount failure: %d\n%s", code, out)
	}
	if code, out := runOut(base+" devcheck.name=../x", sys); code != 1 || !strings.Contains(out, "devcheck.name") {
		t.Errorf("bad name: %d\n%s", code, out)
	}
}

func TestDHCPMessageRoundTrip(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	c := newDHCPClient(nil, mac, time.Second, 1)
	m := c.message(dhcpRequest, dhcpOption{optRequestedIP, []byte{10, 0, 2, 15}})
	b := m.marshal()
	if len(b) != dhcpMinLen {
		t.Errorf("message of %d bytes, want %d", len(b), dhcpMinLen)
	}
	if b[0] != bootRequest || binary.BigEndian.Uint16(b[10:]) != dhcpFlagBcast || !bytes.Equal(b[236:240], dhcpMagic[:]) {
		t.Errorf("header % x", b[:12])
	}
	back, err := parseDHCP(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.xid != c.xid || back.msgType() != dhcpRequest || back.chaddr.String() != mac.String() {
		t.Errorf("round trip: %+v", back)
	}
	if ip, ok := back.addrOption(optRequestedIP); !ok || ip != netip.MustParseAddr("10.0.2.15") {
		t.Errorf("requested IP %v %v", ip, ok)
	}
	if c2 := newDHCPClient(nil, mac, time.Second, 1); c2.xid != c.xid {
		t.Error("the transaction ID is not deterministic")
	}
	for _, bad := range [][]byte{b[:100], append(append([]byte{}, b[:236]...), 1, 2, 3, 4), append(append([]byte{}, b[:240]...), optRouter, 8, 1)} {
		if _, err := parseDHCP(bad); err == nil {
			t.Errorf("parsed a bad message of %d bytes", len(bad))
		}
	}

	ack := &dhcpMsg{op: bootReply, yiaddr: [4]byte{10, 0, 2, 15}, chaddr: mac, options: []dhcpOption{
		{optMsgType, []byte{dhcpAck}}, {optSubnetMask, []byte{255, 255, 255, 0}}, {optRouter, []byte{10, 0, 2, 2}},
		{optDNS, []byte{10, 0, 2, 3, 8, 8, 8, 8}}, {optLeaseTime, []byte{0, 1, 0x51, 0x80}}, {optServerID, []byte{10, 0, 2, 2}},
	}}
	parsed, err := parseDHCP(ack.marshal())
	if err != nil {
		t.Fatal(err)
	}
	l, err := leaseFrom(parsed)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.String(); got != "10.0.2.15/24 router 10.0.2.2 dns 10.0.2.3,8.8.8.8" || l.lease != 24*time.Hour {
		t.Errorf("lease %s, %v", got, l.lease)
	}
	if err := checkLease(l, defaultIP, defaultRouter, defaultDNS); err != nil {
		t.Error(err)
	}
	if err := checkLease(l, "10.0.2.16/24", "any", "any"); err == nil {
		t.Error("wrong address accepted")
	}
	if err := checkLease(l, "any", "10.0.2.1", "any"); err == nil {
		t.Error("wrong router accepted")
	}
	if err := checkLease(l, "any", "any", "any"); err != nil {
		t.Error(err)
	}
	parsed.options[1].data = []byte{255, 0, 255, 0}
	if _, err := leaseFrom(parsed); err == nil {
		t.Error("non-contiguous mask accepted")
	}
}

func TestUDPFrame(t *testing.T) {
	src := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	payload := []byte("some payload!") // odd length exercises the checksum tail
	f := udpFrame(src, broadcastMAC, [4]byte{10, 0, 2, 15}, [4]byte{10, 0, 2, 2}, 1234, 80, payload)
	p, ok := parseUDPFrame(f)
	if !ok || p.srcPort != 1234 || p.dstPort != 80 || !bytes.Equal(p.payload, payload) || p.srcMAC.String() != src.String() {
		t.Fatalf("parse: %+v %v", p, ok)
	}
	// The IPv4 header checksum of a known header (RFC 1071 example data).
	hdr := []byte{0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7}
	if c := checksum(0, hdr); c != 0xb861 {
		t.Errorf("checksum %#x, want 0xb861", c)
	}
	for i := range f {
		if i < ethHeaderLen {
			continue
		}
		bad := append([]byte(nil), f...)
		bad[i] ^= 0x01
		if q, ok := parseUDPFrame(bad); ok && bytes.Equal(q.payload, payload) && q.srcPort == 1234 && q.dstPort == 80 {
			t.Errorf("a flipped bit at byte %d went unnoticed", i)
		}
	}
	if _, ok := parseUDPFrame(f[:30]); ok {
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
			return nil, errTimeout
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
	lease, err := newDHCPClient(usernetConn{n}, mac, 5*time.Second, 2).acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := checkLease(lease, defaultIP, defaultRouter, defaultDNS); err != nil {
		t.Errorf("%v (lease %s)", err, lease)
	}
	if lease.server != netip.MustParseAddr(defaultRouter) {
		t.Errorf("server %v", lease.server)
	}
}

// silentConn never answers.
type silentConn struct{ sent int }

func (c *silentConn) WriteFrame([]byte) error { c.sent++; return nil }
func (c *silentConn) ReadFrame(time.Duration) ([]byte, error) {
	return nil, errTimeout
}

func TestDHCPTimeout(t *testing.T) {
	c := &silentConn{}
	_, err := newDHCPClient(c, net.HardwareAddr{2, 0, 0, 0, 0, 1}, time.Millisecond, 3).acquire(context.Background())
	if err == nil || !errors.Is(err, errTimeout) || !strings.Contains(err.Error(), "no lease after 3 attempts") {
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
	nl, err := openRtnl()
	if err != nil {
		t.Skip(err)
	}
	defer nl.Close()
	err = nl.do("lo up", func(seq uint32) []byte { return linkUpMessage(seq, lo.Index) })
	if err != nil && !errors.Is(err, unix.EPERM) {
		t.Error(err)
	}
}

func TestServeUntilQuit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	type result struct {
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := serveUntilQuit(context.Background(), ln)
		done <- result{n, err}
	}()
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/"); code != 200 || body != protocol.ServeBody {
		t.Errorf("GET /: %d %q", code, body)
	}
	if code, _ := get("/nothing"); code != 404 {
		t.Errorf("GET /nothing: %d", code)
	}
	resp, err := http.Post(base+protocol.EchoPath, "application/octet-stream", bytes.NewReader(manifest.PseudoRandom(1, 100_000)))
	if err != nil {
		t.Fatal(err)
	}
	echo, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(echo, manifest.PseudoRandom(1, 100_000)) {
		t.Errorf("echo gave %d bytes", len(echo))
	}
	if code, body := get(protocol.QuitPath); code != 200 || body != "bye\n" {
		t.Errorf("GET /quit: %d %q", code, body)
	}
	select {
	case r := <-done:
		if r.err != nil || r.n != 3 {
			t.Errorf("serveUntilQuit: %d requests, %v", r.n, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not stop after /quit")
	}
}

func TestFetchSum(t *testing.T) {
	page := manifest.PseudoRandom(3, 5000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/page" {
			http.NotFound(w, r)
			return
		}
		w.Write(page)
	}))
	defer srv.Close()
	sum, n, err := fetchSum(context.Background(), srv.URL+"/page", 5*time.Second)
	if err != nil || n != 5000 || sum != sha256.Sum256(page) {
		t.Errorf("fetch: %x %d %v", sum, n, err)
	}
	if _, _, err := fetchSum(context.Background(), srv.URL+"/missing", 5*time.Second); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: %v", err)
	}
	if _, _, err := fetchSum(context.Background(), "::bad", time.Second); err == nil {
		t.Error("bad URL accepted")
	}
}

// echoer echoes writes back to reads, like the host side of vsockdial.
type echoer struct{ bytes.Buffer }

func TestEchoRoundTrip(t *testing.T) {
	var e echoer
	if err := echoRoundTrip(&e, []byte(protocol.VsockHello)); err != nil {
		t.Error(err)
	}
	a, b := net.Pipe()
	go func() {
		buf := make([]byte, 100)
		n, _ := b.Read(buf)
		b.Write(bytes.ToUpper(buf[:n]))
		b.Close()
	}()
	if err := echoRoundTrip(a, []byte("hello\n")); err == nil || !strings.Contains(err.Error(), "HELLO") {
		t.Errorf("wrong echo: %v", err)
	}
}

// TestVsockLoopback runs the vsock steps against each other through the
// host kernel's loopback transport (CID 1), where it exists.
func TestVsockLoopback(t *testing.T) {
	const port = 52731
	fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Skipf("no AF_VSOCK on this host: %v", err)
	}
	// With the loopback transport, a port nobody listens on refuses at once.
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	unix.SetsockoptTimeval(fd, unix.AF_VSOCK, unix.SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv)
	err = unix.Connect(fd, &unix.SockaddrVM{CID: unix.VMADDR_CID_LOCAL, Port: port})
	unix.Close(fd)
	if !errors.Is(err, unix.ECONNRESET) && !errors.Is(err, unix.ECONNREFUSED) {
		t.Skipf("no vsock loopback transport on this host (connect: %v)", err)
	}
	var out bytes.Buffer
	pr, pw := io.Pipe()
	listener := &runner{ctx: context.Background(), opts: options{"vsock": fmt.Sprint(port)}, out: pw}
	done := make(chan error, 1)
	go func() { done <- listener.vsock(); pw.Close() }()
	ready := make([]byte, 200)
	n, _ := pr.Read(ready)
	if !strings.Contains(string(ready[:n]), protocol.VsockReady(port)) {
		t.Skipf("vsock listener: %q", ready[:n])
	}
	go io.Copy(&out, pr)
	dialer := &runner{ctx: context.Background(), opts: options{"vsockdial": fmt.Sprint(port), "vsockcid": "1"}, out: io.Discard}
	if err := dialer.vsockDial(); err != nil {
		t.Fatal(err)
	}
	// vsockDial closes its socket on return: the listener sees EOF.
	if err := <-done; err != nil {
		t.Error(err)
	}
}
