package distkernel

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/initramfs"
	"github.com/juicevm/juice/internal/testenv"
)

// initBanner is what testdata/init prints.
const initBanner = "JUICE-DISTKERNEL-INIT-OK"

// fetchReal fetches Debian's kernel into the default Juice cache, skipping
// the test when the mirror is unreachable or its files cannot be verified.
func fetchReal(t *testing.T) Kernel {
	t.Helper()
	if testing.Short() {
		t.Skip("downloads Debian's riscv64 kernel (~110 MB): skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	opts := Options{CacheDir: testenv.CacheDir(t), Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	start := time.Now()
	k, err := Fetch(ctx, opts)
	if errors.Is(err, ErrUnverified) || errors.Is(err, ErrUnavailable) {
		t.Skipf("Debian's riscv64 kernel is not usable now: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Fetch: %s in %v", k.Dir, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	again, err := Fetch(ctx, opts)
	if err != nil || again != k {
		t.Fatalf("second Fetch = %+v, %v; want the cached %+v", again, err, k)
	}
	t.Logf("cached Fetch: %v", time.Since(start).Round(time.Microsecond))
	return k
}

// testWriter sends log output to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestFetchDebianKernel(t *testing.T) {
	k := fetchReal(t)
	t.Logf("package %s %s, kernel %s", k.Package, k.PackageVersion, k.Version)
	t.Logf("image %s: %s", k.ImagePath, k.ImageFormat)
	t.Logf("verified: %s", k.Verified)

	f, err := os.Open(k.ImagePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 64)
	if _, err := io.ReadFull(f, head); err != nil {
		t.Fatal(err)
	}
	if got := string(head[ImageMagicOffset : ImageMagicOffset+4]); got != riscvImageMagic {
		t.Errorf("Image magic at %d = %q, want %q", ImageMagicOffset, got, riscvImageMagic)
	}
	st, _ := f.Stat()
	t.Logf("Image size %d bytes", st.Size())
	if !strings.HasPrefix(k.Package, "linux-image-") || !strings.HasSuffix(k.Package, "-riscv64") || strings.HasSuffix(k.Package, "-dbg") {
		t.Errorf("package %q is not a versioned riscv64 kernel", k.Package)
	}
	if filepath.Base(k.ModulesDir) != k.Version || filepath.Base(filepath.Dir(k.ModulesDir)) != "modules" {
		t.Errorf("ModulesDir %s does not end in lib/modules/%s", k.ModulesDir, k.Version)
	}
	if k.ModulesDep {
		dep, err := os.ReadFile(filepath.Join(k.ModulesDir, "modules.dep"))
		if err != nil || !strings.Contains(string(dep), "kernel/drivers/virtio/virtio_mmio.ko") {
			t.Errorf("ModulesDep set, but modules.dep lacks virtio_mmio (err %v)", err)
		}
	} else {
		t.Log("no modules.dep (depmod missing)")
	}
	mmio, _ := filepath.Glob(filepath.Join(k.ModulesDir, "kernel/drivers/virtio/virtio_mmio.ko*"))
	if len(mmio) == 0 {
		t.Errorf("no kernel/drivers/virtio/virtio_mmio.ko* in %s", k.ModulesDir)
	} else {
		t.Logf("virtio-mmio module: %s", mmio[0])
	}
}

// TestBootDebianKernelInQEMU proves the kernel usable: QEMU's virt machine
// boots it with a tiny initramfs whose /init prints a line and powers off.
func TestBootDebianKernelInQEMU(t *testing.T) {
	k := fetchReal(t)
	qemu, err := exec.LookPath("qemu-system-riscv64")
	if err != nil {
		t.Skip("qemu-system-riscv64 not installed (Debian package qemu-system-misc)")
	}
	dir := t.TempDir()
	initPath := filepath.Join(dir, "init")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	build := exec.Command(gobin, "build", "-trimpath", "-ldflags=-s -w", "-o", initPath, "./testdata/init")
	build.Env = append(os.Environ(), "GOOS=linux", "GOARCH=riscv64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/init: %v\n%s", err, out)
	}
	b := initramfs.New()
	if err := b.AddHostFile("/init", initPath, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := b.AddDir("/dev", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := b.AddCharDev("/dev/console", 0o600, 5, 1); err != nil {
		t.Fatal(err)
	}
	cpio, err := b.Bytes(true)
	if err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(dir, "initramfs.cpio.gz")
	if err := os.WriteFile(initrd, cpio, 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-M", "virt", "-nographic", "-m", "512M", "-smp", "1",
		"-bios", "default", "-kernel", k.ImagePath, "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1", "-no-reboot")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	console := out.String()
	tail := lastN(console, 12)
	if err != nil {
		t.Fatalf("qemu: %v after %v\n%s", err, elapsed, tail)
	}
	if !strings.Contains(console, initBanner+" kernel="+k.Version) {
		t.Fatalf("no %q from /init in %v; console tail:\n%s", initBanner, elapsed, tail)
	}
	if !strings.Contains(console, "reboot: Power down") {
		t.Errorf("the kernel did not report powering down; console tail:\n%s", tail)
	}
	t.Logf("booted %s to /init and powered off in %v (QEMU TCG); console tail:\n%s", k.Version, elapsed.Round(time.Millisecond), tail)
}

// lastN returns the last n lines of s.
func lastN(s string, n int) string {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(s, "\r", ""), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
