package main

import (
	"bytes"
	"context"
	"crypto/sha256"
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
	"github.com/juicevm/juice/guest/internal/netconf"
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

func TestCheckLease(t *testing.T) {
	l := netconf.Lease{Address: netip.MustParsePrefix("10.0.2.15/24"), Router: netip.MustParseAddr("10.0.2.2"),
		DNS: []netip.Addr{netip.MustParseAddr("10.0.2.3"), netip.MustParseAddr("8.8.8.8")}}
	if err := checkLease(l, defaultIP, defaultRouter, defaultDNS); err != nil {
		t.Error(err)
	}
	if err := checkLease(l, "10.0.2.16/24", "any", "any"); err == nil {
		t.Error("wrong address accepted")
	}
	if err := checkLease(l, "10.0.2.15/16", "any", "any"); err == nil {
		t.Error("wrong prefix accepted")
	}
	if err := checkLease(l, "any", "10.0.2.1", "any"); err == nil {
		t.Error("wrong router accepted")
	}
	if err := checkLease(netconf.Lease{Address: l.Address}, "any", "any", "10.0.2.3"); err == nil {
		t.Error("missing name server accepted")
	}
	if err := checkLease(l, "any", "any", "any"); err != nil {
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
