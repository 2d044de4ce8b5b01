package machine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/appliance"
	"github.com/juicevm/juice/internal/distkernel"
	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/testenv"
)

// The boot tests build the JeOS kernel (cached in the Juice cache) and boot
// it with Juice's own init.

var (
	applianceOnce sync.Once
	applianceDef  appliance.Default
	applianceErr  error
)

func defaultAppliance(t *testing.T) appliance.Default {
	t.Helper()
	if testing.Short() {
		t.Skip("boots Linux; skipped in -short mode")
	}
	applianceOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		applianceDef, applianceErr = appliance.BuildDefault(ctx, appliance.Options{CacheDir: testenv.CacheDir(t)})
	})
	if applianceErr != nil {
		t.Fatalf("building the default appliance: %v", applianceErr)
	}
	return applianceDef
}

type bootResult struct {
	exit    machine.Exit
	console string
}

func boot(t *testing.T, cfg machine.Config) bootResult {
	t.Helper()
	r, _ := bootDigest(t, cfg)
	return r
}

// bootDigest boots and also returns the machine's final state digest.
func bootDigest(t *testing.T, cfg machine.Config) (bootResult, [32]byte) {
	t.Helper()
	var out bytes.Buffer
	cfg.Console = &out
	if cfg.Memory == 0 {
		cfg.Memory = 256 << 20
	}
	if cfg.MaxInstructions == 0 {
		cfg.MaxInstructions = 5_000_000_000
	}
	m, err := machine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e, err := m.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return bootResult{e, out.String()}, m.Digest()
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// initrdWith returns the default appliance's initramfs with extra files.
func initrdWith(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	path, err := appliance.InitramfsWith(context.Background(), appliance.Options{CacheDir: testenv.CacheDir(t)}, t.TempDir(), files)
	if err != nil {
		t.Fatal(err)
	}
	return readFile(t, path)
}

func TestBootDefaultAppliance(t *testing.T) {
	d := defaultAppliance(t)
	for _, cpus := range []int{1, 4} {
		t.Run(fmt.Sprintf("cpus=%d", cpus), func(t *testing.T) {
			r := boot(t, machine.Config{CPUs: cpus, Kernel: readFile(t, d.KernelPath), Initrd: readFile(t, d.InitrdPath), Cmdline: "console=ttyS0"})
			if r.exit.Kind != machine.ExitPowerOff {
				t.Fatalf("exit %v; console:\n%s", r.exit.Kind, r.console)
			}
			for _, want := range []string{fmt.Sprintf("on %d CPUs", cpus), "juice: self-check ok", "reboot: Power down"} {
				if !strings.Contains(r.console, want) {
					t.Fatalf("console lacks %q:\n%s", want, r.console)
				}
			}
			t.Logf("%d instructions", r.exit.Instructions)
		})
	}
}

// TestVirtioConsole boots with the console on virtio-console (hvc0).
func TestVirtioConsole(t *testing.T) {
	d := defaultAppliance(t)
	r := boot(t, machine.Config{VirtioConsole: true, Kernel: readFile(t, d.KernelPath), Initrd: readFile(t, d.InitrdPath), Cmdline: "earlycon=sbi console=hvc0"})
	// (The kernel resets virtio devices before its last "Power down" line.)
	for _, want := range []string{"printk: console [hvc0] enabled", "Run /init as init process", "juice: self-check ok"} {
		if !strings.Contains(r.console, want) {
			t.Fatalf("console lacks %q:\n%s", want, r.console)
		}
	}
}

// TestBootELFKernel boots the same kernel from its ELF file (vmlinux).
func TestBootELFKernel(t *testing.T) {
	d := defaultAppliance(t)
	vmlinux := filepath.Join(filepath.Dir(d.KernelPath), "vmlinux")
	r := boot(t, machine.Config{Kernel: readFile(t, vmlinux), Initrd: readFile(t, d.InitrdPath), Cmdline: "console=ttyS0"})
	if r.exit.Kind != machine.ExitPowerOff || !strings.Contains(r.console, "juice: self-check ok") {
		t.Fatalf("exit %v; console:\n%s", r.exit.Kind, r.console)
	}
}

// TestBootDebianKernel boots Debian's own riscv64 kernel (verified from the
// archive's signed index) with Juice's init.
func TestBootDebianKernel(t *testing.T) {
	d := defaultAppliance(t)
	k, err := distkernel.Fetch(context.Background(), distkernel.Options{CacheDir: testenv.CacheDir(t)})
	if errors.Is(err, distkernel.ErrUnavailable) || errors.Is(err, distkernel.ErrUnverified) {
		t.Skipf("Debian's kernel cannot be had verified: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	r := boot(t, machine.Config{CPUs: 2, Memory: 512 << 20, Kernel: readFile(t, k.ImagePath), Initrd: readFile(t, d.InitrdPath), Cmdline: "console=ttyS0"})
	for _, want := range []string{"Linux " + k.Version + " on 2 CPUs", "juice: self-check ok", "reboot: Power down"} {
		if !strings.Contains(r.console, want) {
			t.Fatalf("console lacks %q:\n%s", want, r.console)
		}
	}
	t.Logf("%s: %d instructions", k.Version, r.exit.Instructions)
}

func TestBootIsDeterministic(t *testing.T) {
	d := defaultAppliance(t)
	cfg := machine.Config{CPUs: 4, Kernel: readFile(t, d.KernelPath), Initrd: readFile(t, d.InitrdPath), Cmdline: "console=ttyS0"}
	a, da := bootDigest(t, cfg)
	b, db := bootDigest(t, cfg)
	if da != db {
		t.Fatalf("final state digests differ: %x vs %x", da, db)
	}
	other := cfg
	other.Cmdline += " quiet"
	if _, dc := bootDigest(t, other); dc == da {
		t.Fatalf("a different command line gave the same digest %x", dc)
	}
	if a.console != b.console {
		t.Fatalf("console output differs:\n--- first\n%s\n--- second\n%s", a.console, b.console)
	}
	if a.exit != b.exit {
		t.Fatalf("exits differ: %+v vs %+v", a.exit, b.exit)
	}
	if !strings.Contains(a.console, "self-check ok") {
		t.Fatalf("boot failed:\n%s", a.console)
	}
}

// crossCompile builds a Go package for linux/riscv64.
func crossCompile(t *testing.T, pkg string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "prog")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=riscv64", "CGO_ENABLED=0")
	cmd.Dir = moduleRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cross-compiling %s: %v\n%s", pkg, err, b)
	}
	return readFile(t, out)
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := appliance.ModuleRoot(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// programOutput extracts what a juice.exec program printed: the lines
// between the self-check line and the exit status line, without kernel
// messages.
func programOutput(t *testing.T, console string) (string, string) {
	t.Helper()
	console = strings.ReplaceAll(console, "\r\n", "\n") // the tty's ONLCR
	start := strings.Index(console, "juice: self-check skipped\n")
	end := strings.Index(console, "juice: exit status ")
	if start < 0 || end < start {
		t.Fatalf("no program output in console:\n%s", console)
	}
	var keep []string
	for _, l := range strings.SplitAfter(console[start+len("juice: self-check skipped\n"):end], "\n") {
		if !strings.HasPrefix(l, "[") {
			keep = append(keep, l)
		}
	}
	status := console[end+len("juice: exit status "):]
	status = status[:strings.IndexByte(status, '\n')]
	return strings.Join(keep, ""), status
}

func TestGoProgramMatchesHost(t *testing.T) {
	d := defaultAppliance(t)
	guestBin := crossCompile(t, "./guest/gocheck")
	hostCmd := exec.Command("go", "run", "./guest/gocheck")
	hostCmd.Dir = moduleRoot(t)
	want, err := hostCmd.Output()
	if err != nil {
		t.Fatalf("running gocheck on the host: %v", err)
	}
	initrd := initrdWith(t, map[string][]byte{"/gocheck": guestBin})
	r := boot(t, machine.Config{CPUs: 2, Kernel: readFile(t, d.KernelPath), Initrd: initrd,
		Cmdline: "console=ttyS0 quiet juice.selfcheck=0 juice.exec=/gocheck"})
	got, status := programOutput(t, r.console)
	if status != "0" || got != string(want) {
		t.Fatalf("guest output (status %s):\n%s\nhost output:\n%s", status, got, want)
	}
	t.Logf("%d instructions", r.exit.Instructions)
}

// TestGoProgramMatchesQEMU compares every bit of the math library's results
// with the same riscv64 binary under QEMU's user-mode emulator.
func TestGoProgramMatchesQEMU(t *testing.T) {
	qemu, err := exec.LookPath("qemu-riscv64")
	if err != nil {
		t.Skip("qemu-riscv64 (Debian's qemu-user) is not installed")
	}
	d := defaultAppliance(t)
	guestBin := crossCompile(t, "./guest/gocheck")
	bin := filepath.Join(t.TempDir(), "gocheck")
	if err := os.WriteFile(bin, guestBin, 0o755); err != nil {
		t.Fatal(err)
	}
	want, err := exec.Command(qemu, bin, "-bits").Output()
	if err != nil {
		t.Fatalf("qemu-riscv64: %v", err)
	}
	initrd := initrdWith(t, map[string][]byte{"/gocheck-bits": guestBin})
	r := boot(t, machine.Config{Kernel: readFile(t, d.KernelPath), Initrd: initrd,
		Cmdline: "console=ttyS0 quiet juice.selfcheck=0 juice.exec=/gocheck-bits"})
	got, status := programOutput(t, r.console)
	if status != "0" || got != string(want) {
		t.Fatalf("guest output (status %s):\n%s\nqemu-riscv64 output:\n%s", status, got, want)
	}
}

func TestKernelPanicIsDetected(t *testing.T) {
	d := defaultAppliance(t)
	// No initramfs and no root file system: the kernel panics.
	r := boot(t, machine.Config{Kernel: readFile(t, d.KernelPath), Cmdline: "console=ttyS0"})
	if r.exit.Kind != machine.ExitPanic {
		t.Fatalf("exit %v, want panic; console:\n%s", r.exit.Kind, r.console)
	}
}

func TestOpenSBIFirmware(t *testing.T) {
	const fw = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf"
	if _, err := os.Stat(fw); err != nil {
		t.Skipf("Debian's opensbi package is not installed: %v", err)
	}
	d := defaultAppliance(t)
	r := boot(t, machine.Config{CPUs: 2, Firmware: readFile(t, fw), Kernel: readFile(t, d.KernelPath), Initrd: readFile(t, d.InitrdPath), Cmdline: "console=ttyS0"})
	for _, want := range []string{"OpenSBI v", "juice: self-check ok", "reboot: Power down"} {
		if !strings.Contains(r.console, want) {
			t.Fatalf("console lacks %q:\n%s", want, r.console)
		}
	}
	if r.exit.Kind != machine.ExitPowerOff {
		t.Fatalf("exit %v", r.exit.Kind)
	}
}

// TestGoStandardLibraryTests runs Go standard-library test binaries, built
// for riscv64, inside the guest.
func TestGoStandardLibraryTests(t *testing.T) {
	d := defaultAppliance(t)
	files := map[string][]byte{"/runtests": crossCompile(t, "./internal/machine/testdata/runtests")}
	pkgs := []string{"strconv", "sort", "math", "math/bits", "encoding/binary", "container/heap",
		"unicode/utf8", "crypto/sha256", "hash/crc32", "errors", "path", "bufio"}
	for _, pkg := range pkgs {
		out := filepath.Join(t.TempDir(), "t.test")
		cmd := exec.Command("go", "test", "-c", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=riscv64", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go test -c %s: %v\n%s", pkg, err, b)
		}
		files["/tests/"+strings.ReplaceAll(pkg, "/", "_")+".test"] = readFile(t, out)
	}
	r := boot(t, machine.Config{CPUs: 2, Memory: 512 << 20, Kernel: readFile(t, d.KernelPath), Initrd: initrdWith(t, files),
		Cmdline: "console=ttyS0 quiet juice.selfcheck=0 juice.exec=/runtests", MaxInstructions: 50_000_000_000})
	got, status := programOutput(t, r.console)
	want := fmt.Sprintf("%d passed, 0 failed", len(pkgs))
	if status != "0" || !strings.Contains(got, want) {
		t.Fatalf("status %s, output:\n%s", status, got)
	}
	t.Logf("%s in %d instructions", want, r.exit.Instructions)
}
