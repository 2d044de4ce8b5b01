package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/juicevm/juice/guest/devcheck/manifest"
	"github.com/juicevm/juice/guest/devcheck/protocol"
	"github.com/juicevm/juice/internal/appliance"
	"github.com/juicevm/juice/internal/bytesize"
	"github.com/juicevm/juice/internal/diskimage"
	"github.com/juicevm/juice/internal/testenv"
)

// The QEMU test runs devcheck on QEMU's virt board with QEMU's own virtio
// devices and user-mode network: it checks devcheck itself (and the JeOS
// kernel configuration) independently of Juice's devices, so that a
// failure of the same steps on Juice points at Juice. vsock is not
// covered: QEMU's vhost-vsock needs /dev/vhost-vsock on the host.

// qemuEnv is what the QEMU test boots.
type qemuEnv struct {
	qemu, kernel, initrd string
}

// setupQEMU builds the kernel (or finds it in the Juice cache) and an
// initramfs holding init and devcheck.
func setupQEMU(t *testing.T) qemuEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("boots Linux in QEMU (and may build the kernel first); skipped in -short mode")
	}
	q, err := exec.LookPath("qemu-system-riscv64")
	if err != nil {
		t.Skip("qemu-system-riscv64 not found; install it with: apt-get install -y qemu-system-misc opensbi")
	}
	ctx := context.Background()
	root, err := appliance.ModuleRoot(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	d, err := appliance.BuildDefault(ctx, appliance.Options{CacheDir: testenv.CacheDir(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	initBin, err := appliance.BuildInit(ctx, appliance.Options{CacheDir: testenv.CacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	prog, err := appliance.CrossCompile(ctx, "go", root, "./guest/devcheck")
	if err != nil {
		t.Fatal(err)
	}
	b, err := appliance.NewInitramfs(initBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AddFile("/devcheck", 0o755, prog); err != nil {
		t.Fatal(err)
	}
	initrd, err := appliance.WriteInitramfs(b, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	return qemuEnv{qemu: q, kernel: d.KernelPath, initrd: initrd}
}

// bootQEMU boots with the devcheck options and QEMU arguments, calls
// onLine for every console line as it arrives, and returns the output.
func bootQEMU(t *testing.T, env qemuEnv, devcheckOpts string, extra []string, onLine func(string)) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := append([]string{"-M", "virt", "-nographic", "-m", "256M", "-bios", "default", "-smp", "1",
		"-kernel", env.kernel, "-initrd", env.initrd, "-no-reboot",
		"-append", "console=ttyS0 quiet juice.selfcheck=0 juice.exec=/devcheck " + devcheckOpts}, extra...)
	cmd := exec.CommandContext(ctx, env.qemu, args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			out.WriteString(line + "\n")
			if onLine != nil {
				onLine(line)
			}
		}
		io.Copy(io.Discard, pr)
	}()
	err := cmd.Wait()
	pw.Close()
	<-done
	if ctx.Err() != nil {
		t.Fatalf("guest did not power off in time; output:\n%s", out.String())
	}
	if err != nil {
		t.Fatalf("qemu: %v; output:\n%s", err, out.String())
	}
	return out.String()
}

// freePort returns a free TCP port on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestDevcheckOnQEMU(t *testing.T) {
	env := setupQEMU(t)
	ctx := context.Background()

	// A disk with a few files and their MANIFEST.
	src := t.TempDir()
	for name, data := range map[string][]byte{
		"hello.txt":        []byte("hello from the host\n"),
		"dir/sub/blob.bin": manifest.PseudoRandom(42, 200_000),
		"empty":            nil,
	} {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := manifest.WriteFile(src); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := diskimage.Create(ctx, img, diskimage.Options{Size: 16 * bytesize.MiB, From: src}); err != nil {
		t.Fatal(err)
	}

	// A page on the host for the fetch step (10.0.2.2 is the host's
	// loopback on QEMU's user network).
	page := manifest.PseudoRandom(7, 100_000)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hsrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(page) })}
	go hsrv.Serve(ln)
	defer hsrv.Close()
	fetchPort := ln.Addr().(*net.TCPAddr).Port

	fwdPort := freePort(t)
	devices := []string{
		"-drive", "file=" + img + ",format=raw,if=none,id=d0", "-device", "virtio-blk-device,drive=d0",
		"-device", "virtio-rng-device",
		"-netdev", fmt.Sprintf("user,id=n0,hostfwd=tcp:127.0.0.1:%d-:80", fwdPort), "-device", "virtio-net-device,netdev=n0",
	}
	hostErr := make(chan error, 1)
	onLine := func(line string) {
		if strings.Contains(line, protocol.ServeReady(80)) {
			go func() { hostErr <- talkToServer(fmt.Sprintf("http://127.0.0.1:%d", fwdPort)) }()
		}
	}
	opts := fmt.Sprintf("devcheck.disk=/dev/vda devcheck.size=100000 devcheck.seed=5 devcheck.rng=1 devcheck.fetch=http://10.0.2.2:%d/page devcheck.serve=80", fetchPort)
	out := bootQEMU(t, env, opts, devices, onLine)
	t.Logf("first boot:\n%s", devcheckLines(out))
	res, allOK := protocol.Parse(out)
	if !allOK {
		t.Errorf("devcheck did not pass; output:\n%s", out)
	}
	select {
	case err := <-hostErr:
		if err != nil {
			t.Errorf("host side of the serve step: %v", err)
		}
	default:
		t.Error("the serve step never said it was ready")
	}
	wantFetch := fmt.Sprintf("%x", sha256.Sum256(page))
	if r := res["fetch"]; r == nil || len(r.Info) != 1 || r.Info[0] != wantFetch {
		t.Errorf("fetch result %+v, want sha256 %s", r, wantFetch)
	}
	if r := res["rng"]; r == nil || len(r.Info) != 1 || len(r.Info[0]) != 128 {
		t.Errorf("rng result %+v", r)
	}
	if !strings.Contains(out, "devcheck: net lease 10.0.2.15/24 router 10.0.2.2 dns 10.0.2.3") {
		t.Errorf("no lease line; output:\n%s", out)
	}

	// The host sees what the guest wrote, and the file system is clean.
	got, err := diskimage.ReadFile(ctx, img, "/out/data")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, manifest.PseudoRandom(5, 100_000)) {
		t.Errorf("out/data on the host differs from PseudoRandom(5, 100000)")
	}
	if err := diskimage.Check(ctx, img); err != nil {
		t.Error(err)
	}

	// A second boot finds what the first wrote.
	out = bootQEMU(t, env, "devcheck.disk=/dev/vda devcheck.verify=1", devices[:4], nil)
	t.Logf("second boot:\n%s", devcheckLines(out))
	if _, allOK := protocol.Parse(out); !allOK || !strings.Contains(out, "devcheck: disk verified 1 files of out/SUMS") {
		t.Errorf("second boot; output:\n%s", out)
	}
	if !strings.Contains(out, "juice: exit status 0") {
		t.Errorf("exit status not 0; output:\n%s", out)
	}

	// A failing step gives a FAILED line and exit status 1.
	out = bootQEMU(t, env, "devcheck.rng=1", nil, nil)
	t.Logf("third boot:\n%s", devcheckLines(out))
	if res, _ := protocol.Parse(out); res["rng"] == nil || res["rng"].Err == "" || !strings.Contains(out, "juice: exit status 1") {
		t.Errorf("rng without a device; output:\n%s", out)
	}
}

// talkToServer exercises the serve step's endpoints through the host
// forward and ends it.
func talkToServer(base string) error {
	client := &http.Client{Timeout: 30 * time.Second}
	get := func(path string) (string, error) {
		var lastErr error
		for range 50 { // the forward may race the guest's listen
			resp, err := client.Get(base + path)
			if err != nil {
				lastErr = err
				time.Sleep(100 * time.Millisecond)
				continue
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			return string(b), err
		}
		return "", lastErr
	}
	if body, err := get("/"); err != nil || body != protocol.ServeBody {
		return fmt.Errorf("GET /: %q, %v", body, err)
	}
	msg := strings.Repeat("echo me ", 5000)
	resp, err := client.Post(base+protocol.EchoPath, "text/plain", strings.NewReader(msg))
	if err != nil {
		return fmt.Errorf("POST %s: %w", protocol.EchoPath, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != msg {
		return fmt.Errorf("echo gave %d bytes (%v), want %d", len(b), err, len(msg))
	}
	if body, err := get(protocol.QuitPath); err != nil || body != "bye\n" {
		return fmt.Errorf("GET %s: %q, %v", protocol.QuitPath, body, err)
	}
	return nil
}

// devcheckLines returns the devcheck and juice lines of console output.
func devcheckLines(out string) string {
	var b strings.Builder
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "devcheck: ") || strings.Contains(line, "juice: ") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
