package machine_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/juicevm/juice/guest/devcheck/manifest"
	"github.com/juicevm/juice/guest/devcheck/protocol"
	"github.com/juicevm/juice/internal/diskimage"
	"github.com/juicevm/juice/internal/distkernel"
	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/testenv"
	"github.com/juicevm/juice/internal/vmspec"
)

// liveConsole is a console the test can watch while the machine runs.
type liveConsole struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *liveConsole) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *liveConsole) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// waitFor waits until the console shows s.
func (c *liveConsole) waitFor(t *testing.T, s string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(c.String(), s) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("console never showed %q", s)
	return false
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// runLive boots cfg with a console the test can watch, and returns once
// the machine stops (or fails the test after a timeout).
func runLive(t *testing.T, cfg machine.Config, con *liveConsole) machine.Exit {
	t.Helper()
	cfg.Console = con
	if cfg.Memory == 0 {
		cfg.Memory = 256 << 20
	}
	m, err := machine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e, err := m.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestDevicesWithJeOSKernel boots the JeOS kernel with a disk made by
// diskimage (from a host folder), user-mode networking with a host
// forward, vsock and virtio-rng, and runs devcheck in the guest.
func TestDevicesWithJeOSKernel(t *testing.T) {
	d := defaultAppliance(t)
	devcheckGuest(t, readFile(t, d.KernelPath), 256<<20, nil, "")
}

// TestDevicesWithDebianKernel does the same with Debian's kernel, whose
// virtio drivers and ext4 are modules: init loads them from the initramfs.
func TestDevicesWithDebianKernel(t *testing.T) {
	defaultAppliance(t)
	k, err := distkernel.Fetch(context.Background(), distkernel.Options{CacheDir: testenv.CacheDir(t)})
	if errors.Is(err, distkernel.ErrUnavailable) || errors.Is(err, distkernel.ErrUnverified) {
		t.Skipf("Debian's kernel cannot be had verified: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	mods := []string{"virtio_mmio", "virtio_blk", "virtio_net", "virtio_rng", "vmw_vsock_virtio_transport", "crc32c_generic", "ext4"}
	files := moduleFiles(t, k.ModulesDir, k.Version, mods)
	devcheckGuest(t, readFile(t, k.ImagePath), 512<<20, files, " juice.modules="+strings.Join(mods, ","))
}

// moduleFiles returns the initramfs files for some modules and everything
// they depend on, with modules.dep.
func moduleFiles(t *testing.T, dir, release string, names []string) map[string][]byte {
	t.Helper()
	dep := readFile(t, filepath.Join(dir, "modules.dep"))
	deps := map[string][]string{}
	byName := map[string]string{}
	for _, line := range strings.Split(string(dep), "\n") {
		mod, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		deps[mod] = strings.Fields(rest)
		n := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(mod), ".xz"), ".ko")
		byName[strings.ReplaceAll(n, "-", "_")] = mod
	}
	root := "/lib/modules/" + release + "/"
	files := map[string][]byte{root + "modules.dep": dep}
	for _, n := range names {
		mod, ok := byName[n]
		if !ok {
			t.Fatalf("module %s is not in %s", n, dir)
		}
		for _, p := range append([]string{mod}, deps[mod]...) {
			files[root+p] = readFile(t, filepath.Join(dir, p))
		}
	}
	return files
}

// devcheckGuest runs devcheck's disk, rng, network and vsock steps in a
// guest booted from kernel, then checks the disk on the host and boots a
// second time to see that the data survived the power cycle.
func devcheckGuest(t *testing.T, kernel []byte, mem uint64, extraFiles map[string][]byte, extraCmdline string) {
	t.Helper()
	dir := t.TempDir()

	// A disk filled from a host folder, with a manifest of checksums.
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "hello.txt"), []byte("hello, disk\n"), 0o644)
	os.WriteFile(filepath.Join(src, "sub", "random.bin"), manifest.PseudoRandom(7, 300_000), 0o644)
	if _, err := manifest.WriteFile(src); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "disk.img")
	if err := diskimage.Create(context.Background(), img, diskimage.Options{Size: 32 << 20, From: src}); err != nil {
		t.Fatal(err)
	}

	// A page on the host's loopback for the guest to fetch.
	page := bytes.Repeat([]byte("juice page "), 5000)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(page) }))
	defer web.Close()
	webPort := web.Listener.Addr().(*net.TCPAddr).Port

	// vsock: the guest listens on 5000 (the host connects through the
	// Unix socket) and dials host port 6000 (U_6000, an echo server here).
	uds := filepath.Join(dir, "v.sock")
	echo, err := net.Listen("unix", uds+"_6000")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()

	fwd := freePort(t)
	guestBin := crossCompile(t, "./guest/devcheck")
	files := map[string][]byte{"/devcheck": guestBin}
	for k, v := range extraFiles {
		files[k] = v
	}
	initrd := initrdWith(t, files)
	cmdline := fmt.Sprintf("console=ttyS0 quiet juice.selfcheck=0 juice.exec=/devcheck devcheck.disk=/dev/vda devcheck.rng=1 "+
		"devcheck.fetch=http://10.0.2.2:%d/page devcheck.serve=80 devcheck.vsock=5000 devcheck.vsockdial=6000", webPort) + extraCmdline
	cfg := machine.Config{
		CPUs: 2, Memory: mem, Kernel: kernel, Initrd: initrd, Cmdline: cmdline, RNG: true,
	}
	host := hostSides{
		disks: []vmspec.Disk{{Path: img}},
		nets:  []vmspec.Net{{Mode: vmspec.NetUser, Forwards: []vmspec.Forward{{Protocol: "tcp", Host: fmt.Sprintf("127.0.0.1:%d", fwd), GuestPort: 80}}}},
		vsock: uds,
	}
	con := &liveConsole{}
	hostSide := make(chan error, 1)
	go func() { hostSide <- drive(t, con, fwd, uds) }()
	e := runLive(t, host.attach(t, cfg), con)
	if err := <-hostSide; err != nil {
		t.Errorf("host side: %v", err)
	}
	results, allOK := protocol.Parse(con.String())
	if e.Kind != machine.ExitPowerOff || !allOK {
		t.Fatalf("exit %v, devcheck all ok %v; console:\n%s", e.Kind, allOK, con.String())
	}
	sum := sha256.Sum256(page)
	if f := results["fetch"]; f == nil || !strings.Contains(strings.Join(f.Info, " "), fmt.Sprintf("%x", sum)) {
		t.Errorf("fetch did not report the page's sha256 %x: %+v", sum, f)
	}

	// What the guest wrote is on the image, and it is a clean file system.
	if err := diskimage.Check(context.Background(), img); err != nil {
		t.Fatalf("e2fsck after the guest wrote: %v", err)
	}
	got, err := diskimage.ReadFile(context.Background(), img, "/out/data")
	if err != nil || !bytes.Equal(got, manifest.PseudoRandom(1, 65536)) {
		t.Fatalf("/out/data on the image: %d bytes, %v", len(got), err)
	}

	// A second boot (a power cycle) finds what the first one wrote.
	cfg2 := hostSides{disks: host.disks}.attach(t, cfg)
	cfg2.Cmdline = "console=ttyS0 quiet juice.selfcheck=0 juice.exec=/devcheck devcheck.disk=/dev/vda devcheck.verify=1" + extraCmdline
	con2 := &liveConsole{}
	if e := runLive(t, cfg2, con2); e.Kind != machine.ExitPowerOff || !strings.Contains(con2.String(), protocol.AllOK) {
		t.Fatalf("second boot: exit %v; console:\n%s", e.Kind, con2.String())
	}
}

// drive plays the host side of devcheck's serve and vsock steps.
func drive(t *testing.T, con *liveConsole, fwd int, uds string) error {
	if !con.waitFor(t, protocol.ServeReady(80), 2*time.Minute) {
		return fmt.Errorf("guest HTTP server never became ready")
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", fwd)
	resp, err := http.Get(base + "/")
	if err != nil {
		return fmt.Errorf("GET / through the host forward: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != protocol.ServeBody {
		return fmt.Errorf("GET / = %q", body)
	}
	resp, err = http.Post(base+protocol.EchoPath, "text/plain", strings.NewReader("ping through hostfwd"))
	if err != nil {
		return err
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ping through hostfwd" {
		return fmt.Errorf("POST /echo = %q", body)
	}
	if resp, err := http.Get(base + protocol.QuitPath); err == nil {
		resp.Body.Close()
	}

	if !con.waitFor(t, protocol.VsockReady(5000), 2*time.Minute) {
		return fmt.Errorf("guest vsock listener never became ready")
	}
	c, err := net.Dial("unix", uds)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(c, "CONNECT 5000\n")
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "OK ") {
		return fmt.Errorf("CONNECT 5000: %q %v", line, err)
	}
	msg := "echo me over vsock\n"
	fmt.Fprint(c, msg)
	back, err := r.ReadString('\n')
	if err != nil || back != msg {
		return fmt.Errorf("vsock echo: %q %v", back, err)
	}
	c.(*net.UnixConn).CloseWrite()
	return nil
}
