// Package appliance assembles bootable Juice guests: a JeOS kernel from
// internal/kernel plus an initramfs whose /init is Juice's own PID 1
// (guest/init) for linux/riscv64, which internal/guestinit takes from the
// juice binary (prebuilt, or built from the sources it embeds).
//
// Everything lands in the Juice cache: the kernel under its input hash, the
// initramfs under the hash of its own bytes, so repeated builds are quick
// and give identical files.
package appliance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/juicevm/juice/internal/guestinit"
	"github.com/juicevm/juice/internal/initramfs"
	"github.com/juicevm/juice/internal/kernel"
)

// InitPackage is the import path, relative to the module root, of Juice's
// guest init.
const InitPackage = "./" + guestinit.Dir

// Options configures BuildDefault.
type Options struct {
	// CacheDir is the Juice cache directory. BuildDefault needs it
	// (kernel.ErrNoCacheDir otherwise); BuildInit and InitramfsWith do not
	// use it.
	CacheDir string
	// Kernel configures the kernel build. Its CacheDir and Logger default
	// to those of Options.
	Kernel kernel.BuildOptions
	// Gzip compresses the initramfs. Uncompressed boots faster on an
	// emulated CPU, so it is the default.
	Gzip bool
	// GoTool is the go command that builds the guest init when juice holds
	// its sources rather than a prebuilt init (see internal/guestinit).
	// Empty means "go" from $PATH.
	GoTool string
	// Logger receives logs. Nil discards them.
	Logger *slog.Logger
}

// Default is a bootable appliance: a kernel Image and an initramfs.
type Default struct {
	// KernelPath is the kernel Image (RISC-V flat image).
	KernelPath string
	// InitrdPath is the initramfs (newc cpio, gzip-compressed if asked).
	InitrdPath string
}

// resolved fills in defaults.
func (o Options) resolved(ctx context.Context) (Options, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Kernel.CacheDir == "" {
		o.Kernel.CacheDir = o.CacheDir
	}
	if o.Kernel.Logger == nil {
		o.Kernel.Logger = o.Logger
	}
	return o, nil
}

// BuildDefault builds (or finds in the cache) the default appliance: the
// JeOS kernel and an initramfs holding /init (guest/init), /dev/console
// and the standard directories.
func BuildDefault(ctx context.Context, opts Options) (Default, error) {
	if opts.CacheDir == "" {
		return Default{}, fmt.Errorf("appliance: %w", kernel.ErrNoCacheDir)
	}
	opts, err := opts.resolved(ctx)
	if err != nil {
		return Default{}, fmt.Errorf("appliance: %w", err)
	}
	// The init binary is quick to build; do it first so that a Go error
	// shows up before a long kernel build.
	initBin, err := BuildInit(ctx, opts)
	if err != nil {
		return Default{}, err
	}
	b, err := NewInitramfs(initBin)
	if err != nil {
		return Default{}, err
	}
	initrd, err := WriteInitramfs(b, filepath.Join(opts.CacheDir, "initramfs"), opts.Gzip)
	if err != nil {
		return Default{}, err
	}
	img, err := kernel.Build(ctx, opts.Kernel)
	if err != nil {
		return Default{}, fmt.Errorf("appliance: %w", err)
	}
	opts.Logger.Info("default appliance ready", "kernel", img, "initrd", initrd)
	return Default{KernelPath: img, InitrdPath: initrd}, nil
}

// BuildInit returns Juice's guest init (guest/init) for linux/riscv64,
// from the juice binary: see internal/guestinit. It needs no source tree.
func BuildInit(ctx context.Context, opts Options) ([]byte, error) {
	opts, err := opts.resolved(ctx)
	if err != nil {
		return nil, fmt.Errorf("appliance: %w", err)
	}
	return guestinit.Binary(ctx, guestinit.Options{CacheDir: opts.CacheDir, GoTool: opts.GoTool, Logger: opts.Logger})
}

// CrossCompile builds the Go main package pkg (a path such as
// "./guest/init", relative to moduleRoot) as a static, stripped,
// reproducible linux/riscv64 binary and returns its bytes.
func CrossCompile(ctx context.Context, goTool, moduleRoot, pkg string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "juice-gobuild-")
	if err != nil {
		return nil, fmt.Errorf("cross-compiling %s: %w", pkg, err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "bin")
	cmd := exec.CommandContext(ctx, goTool, "build",
		"-o", out,
		"-trimpath",
		"-buildvcs=false",
		"-ldflags=-s -w -buildid=",
		pkg)
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=riscv64", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("cross-compiling %s in %s: %w\n%s", pkg, moduleRoot, err, strings.TrimSpace(stderr.String()))
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("cross-compiling %s: %w", pkg, err)
	}
	return data, nil
}

// ModuleRoot returns the directory of the main module's go.mod, as
// reported by `go env GOMOD` in the current directory. Juice itself does
// not use it (its init needs no source tree); tests and tools that
// cross-compile programs of the source tree with CrossCompile do.
func ModuleRoot(ctx context.Context, goTool string) (string, error) {
	if goTool == "" {
		goTool = "go"
	}
	out, err := exec.CommandContext(ctx, goTool, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the Juice module root with go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}

// StandardDirs returns the directories every Juice initramfs has, with
// their permissions.
func StandardDirs() map[string]os.FileMode {
	return map[string]os.FileMode{
		"/bin": 0o755, "/dev": 0o755, "/etc": 0o755, "/proc": 0o555,
		"/sys": 0o555, "/tmp": 0o1777, "/run": 0o755, "/root": 0o700,
		"/var": 0o755, "/mnt": 0o755, "/usr/bin": 0o755,
	}
}

// NewInitramfs returns an initramfs Builder holding init as /init, the
// console device /dev/console (5, 1) that the kernel needs to give init
// its standard streams, and the standard directories. Callers may add
// more before writing it.
func NewInitramfs(init []byte) (*initramfs.Builder, error) {
	b := initramfs.New()
	for dir, perm := range StandardDirs() {
		if err := b.AddDir(dir, perm); err != nil {
			return nil, fmt.Errorf("appliance initramfs: %w", err)
		}
	}
	if err := b.AddFile("/init", 0o755, init); err != nil {
		return nil, fmt.Errorf("appliance initramfs: %w", err)
	}
	if err := b.AddCharDev("/dev/console", 0o600, 5, 1); err != nil {
		return nil, fmt.Errorf("appliance initramfs: %w", err)
	}
	return b, nil
}

// WriteInitramfs writes b into dir under a name derived from the SHA-256
// of its bytes (".cpio", or ".cpio.gz" when gzip is set) and returns the
// path. An existing file of that name is reused; new files are written to
// a temporary name and renamed, so readers never see a partial archive.
func WriteInitramfs(b *initramfs.Builder, dir string, gzip bool) (string, error) {
	data, err := b.Bytes(gzip)
	if err != nil {
		return "", fmt.Errorf("appliance: %w", err)
	}
	sum := sha256.Sum256(data)
	name := hex.EncodeToString(sum[:16]) + ".cpio"
	if gzip {
		name += ".gz"
	}
	path := filepath.Join(dir, name)
	if st, err := os.Stat(path); err == nil && st.Size() == int64(len(data)) {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("appliance: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-"+name+"-")
	if err != nil {
		return "", fmt.Errorf("appliance: writing initramfs: %w", err)
	}
	_, werr := f.Write(data)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(f.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("appliance: writing initramfs %s: %w", path, werr)
	}
	return path, nil
}

// InitramfsWith writes, in dir, an initramfs holding Juice's init plus
// extra files (guest path → contents, made executable), and returns its
// path. Tests and benchmarks use it to run their own programs in a guest.
func InitramfsWith(ctx context.Context, opts Options, dir string, files map[string][]byte) (string, error) {
	init, err := BuildInit(ctx, opts)
	if err != nil {
		return "", err
	}
	b, err := NewInitramfs(init)
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := b.AddFile(name, 0o755, files[name]); err != nil {
			return "", fmt.Errorf("initramfs: %s: %w", name, err)
		}
	}
	return WriteInitramfs(b, dir, false)
}
