package net

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openTapInNetns creates a network namespace and opens a tap device in it.
func openTapInNetns(t *testing.T, ns, name string) *Tap {
	t.Helper()
	type result struct {
		tap *Tap
		err error
	}
	ch := make(chan result)
	go func() {
		// The thread joins the namespace and is never returned to the
		// scheduler's pool: it ends with this goroutine.
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("setns: %w", err)}
			return
		}
		tap, err := OpenTap(name, quiet())
		ch <- result{tap, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.tap
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

// icmpEcho builds an ICMP echo message (typ 8 request, 0 reply).
func icmpEcho(typ byte, id, seq uint16, data []byte) []byte {
	m := make([]byte, 8+len(data))
	m[0] = typ
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	copy(m[8:], data)
	binary.BigEndian.PutUint16(m[2:], ipChecksum(m))
	return m
}

func TestTapPing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("tap test needs root (CAP_NET_ADMIN) to create a network namespace and a tap device")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("tap test needs /dev/net/tun: %v", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("tap test needs the ip command (iproute2)")
	}
	ns := fmt.Sprintf("juice-nettest-%d", os.Getpid())
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })

	tap := openTapInNetns(t, ns, "jtap0")
	hostMAC := [6]byte{0x02, 0, 0, 0, 0, 1}
	run(t, "ip", "-n", ns, "link", "set", "jtap0", "address", "02:00:00:00:00:01")
	run(t, "ip", "-n", ns, "link", "set", "jtap0", "up")
	run(t, "ip", "-n", ns, "addr", "add", "10.99.0.1/24", "dev", "jtap0")
	run(t, "ip", "-n", ns, "neigh", "replace", "10.99.0.2", "lladdr", "52:54:00:12:34:56", "dev", "jtap0", "nud", "permanent")

	r := newRig(t, tap, allFeatures)
	var addrs []uint64
	for i := 0; i < 32; i++ {
		addrs = append(addrs, r.postRx(2048))
	}
	guestIP, hostIP := [4]byte{10, 99, 0, 2}, [4]byte{10, 99, 0, 1}
	payload := []byte("juice ping across a tap")
	seq := uint16(0)
	send := func() {
		seq++
		r.transmit(nil, ipv4Frame(hostMAC, DefaultMAC, guestIP, hostIP, 1, icmpEcho(8, 0x4a55, seq, payload)), 1)
		if _, _, ok := r.txq().Get(); !ok {
			t.Fatal("transmit chain not returned")
		}
	}
	send()
	deadline := time.Now().Add(5 * time.Second)
	resend := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		select {
		case <-r.dev.Wake():
		case <-time.After(50 * time.Millisecond):
		}
		r.dev.Poll()
		for {
			head, length, ok := r.rxq().Get()
			if !ok {
				break
			}
			f := r.mem.At(addrs[head], uint64(length))[HeaderSize:]
			r.rxq().Add(buf(addrs[head], 2048, true))
			r.rxq().Kick()
			if len(f) < 34+8 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[23] != 1 {
				continue // IPv6 neighbour discovery and the like
			}
			icmp := f[14+int(f[14]&0xf)*4:]
			if icmp[0] == 0 && binary.BigEndian.Uint16(icmp[4:]) == 0x4a55 && bytes.Equal(icmp[8:], payload) {
				if !bytes.Equal(f[26:30], hostIP[:]) || !bytes.Equal(f[0:6], DefaultMAC[:]) {
					t.Fatalf("echo reply from %v to % x", f[26:30], f[0:6])
				}
				return
			}
		}
		if time.Now().After(resend) {
			send()
			resend = time.Now().Add(500 * time.Millisecond)
		}
	}
	t.Fatalf("no echo reply from the host side of the tap (stats %+v, tap drops %d)", r.dev.Stats(), tap.Dropped())
}
