// Package kernel builds Juice's JeOS guest kernel: a small RV64GC Linux
// Image made from Debian's linux-source-6.1 package with the Debian RISC-V
// cross-compiler, configured from tinyconfig plus an embedded fragment
// (jeos.config) and any extra fragments.
//
// Builds are cached under the Juice cache directory, keyed by a hash of
// every input (source tarball, fragments, compiler versions, recipe
// version); a cached build is returned at once. Builds happen in a
// temporary directory and are renamed into place, under a file lock, so an
// interrupted or concurrent build never leaves a broken cache entry.
package kernel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// RecipeVersion identifies the build steps. Bump it whenever the way the
// kernel is built changes, so that cached kernels are rebuilt.
const RecipeVersion = "jeos-recipe-2"

// DefaultSourceTarball is where Debian's linux-source-6.1 package puts the
// kernel source.
const DefaultSourceTarball = "/usr/src/linux-source-6.1.tar.xz"

// CrossCompile is the prefix of the Debian RISC-V cross toolchain.
const CrossCompile = "riscv64-linux-gnu-"

// ErrNoCacheDir is returned when no cache folder is given: the caller
// (the juice command) resolves it, the library never guesses.
var ErrNoCacheDir = errors.New("no cache folder given")

// BuildOptions configures Build. With only CacheDir set it builds the
// JeOS kernel there, quietly.
type BuildOptions struct {
	// Fragments are paths of extra configuration fragments, merged after
	// the embedded JeOS fragment in the order given.
	Fragments []string
	// CacheDir is the Juice cache directory; kernels go in its "kernel"
	// subdirectory. It must be given (ErrNoCacheDir otherwise).
	CacheDir string
	// SourceTarball is the Linux source tarball. Empty means
	// DefaultSourceTarball.
	SourceTarball string
	// Progress receives the status line when ShowProgress is set, and the
	// final one-line summary. Nil means os.Stderr.
	Progress io.Writer
	// ShowProgress draws one updating status line on Progress (phase, files
	// compiled, elapsed time). Set it only when Progress is a terminal.
	ShowProgress bool
	// Jobs is make's -j; zero means the number of CPUs.
	Jobs int
	// NoInstall stops Build from installing missing Debian packages even
	// when running as root; it reports them instead.
	NoInstall bool
	// Logger receives debug and info logs. Nil discards them.
	Logger *slog.Logger
}

// builder carries the state of one Build call.
type builder struct {
	opts     BuildOptions
	log      *slog.Logger
	kdir     string // <cache>/kernel
	tarball  string
	progress *progress
}

// Build returns the path of a JeOS kernel Image built with opts, building
// it first unless an identical build is already cached.
func Build(ctx context.Context, opts BuildOptions) (string, error) {
	b, err := newBuilder(opts)
	if err != nil {
		return "", err
	}
	start := time.Now()
	b.progress.start()
	defer b.progress.stop()
	if err := b.ensurePackages(ctx); err != nil {
		return "", err
	}
	key, err := b.cacheKey(ctx)
	if err != nil {
		return "", err
	}
	entry := filepath.Join(b.kdir, key)
	image := filepath.Join(entry, "Image")
	if _, err := os.Stat(image); err == nil {
		b.log.Debug("kernel cache hit", "image", image)
		return image, nil
	}

	b.progress.phase("wait for another build")
	unlock, err := lockFile(ctx, filepath.Join(b.kdir, ".lock"), b.log)
	if err != nil {
		return "", err
	}
	defer unlock()
	// Another process may have finished the same build while we waited.
	if _, err := os.Stat(image); err == nil {
		return image, nil
	}
	b.removeStale()

	if err := b.build(ctx, key, entry); err != nil {
		return "", err
	}
	st, err := os.Stat(image)
	if err != nil {
		return "", fmt.Errorf("kernel build: %w", err)
	}
	elapsed := time.Since(start).Round(time.Second)
	b.log.Info("built kernel", "image", image, "bytes", st.Size(), "elapsed", elapsed)
	if b.opts.ShowProgress {
		b.progress.stop()
		fmt.Fprintf(b.progress.w, "juice: kernel built in %s: %s (%.1f MiB)\n", elapsed, image, float64(st.Size())/(1<<20))
	}
	return image, nil
}

func newBuilder(opts BuildOptions) (*builder, error) {
	b := &builder{opts: opts, log: opts.Logger, tarball: opts.SourceTarball}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.tarball == "" {
		b.tarball = DefaultSourceTarball
	}
	cache := opts.CacheDir
	if cache == "" {
		return nil, fmt.Errorf("kernel build: %w", ErrNoCacheDir)
	}
	b.kdir = filepath.Join(cache, "kernel")
	if err := os.MkdirAll(filepath.Join(b.kdir, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("creating kernel cache: %w", err)
	}
	w := opts.Progress
	if w == nil {
		w = os.Stderr
	}
	b.progress = newProgress(w, opts.ShowProgress)
	return b, nil
}

// removeStale deletes temporary directories left by interrupted builds. It
// must be called with the lock held.
func (b *builder) removeStale() {
	stale, _ := filepath.Glob(filepath.Join(b.kdir, "tmp-*"))
	for _, d := range stale {
		b.log.Debug("removing an interrupted build", "dir", d)
		if err := os.RemoveAll(d); err != nil {
			b.log.Warn("cannot remove an interrupted build", "dir", d, "err", err)
		}
	}
}

// build runs the whole recipe in a temporary directory and renames the
// result to entry.
func (b *builder) build(ctx context.Context, key, entry string) (err error) {
	tmp, err := os.MkdirTemp(b.kdir, "tmp-")
	if err != nil {
		return fmt.Errorf("kernel build: %w", err)
	}
	defer func() {
		if rerr := os.RemoveAll(tmp); rerr != nil && err == nil {
			b.log.Warn("cannot remove the build tree", "dir", tmp, "err", rerr)
		}
	}()
	logPath := filepath.Join(b.kdir, "logs", key+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("kernel build: creating log: %w", err)
	}
	defer logf.Close()
	r := &runner{log: logf, progress: b.progress, slog: b.log}
	fail := func(phase string, err error) error {
		logf.Sync()
		return &BuildError{Phase: phase, Log: logPath, Tail: tailLines(logPath, 20), Err: err}
	}

	src := filepath.Join(tmp, "linux")
	if err := os.Mkdir(src, 0o755); err != nil {
		return fmt.Errorf("kernel build: %w", err)
	}
	b.progress.phase("extract")
	if err := r.run(ctx, "", "tar", "-xJf", b.tarball, "-C", src, "--strip-components=1"); err != nil {
		return fail("extract", err)
	}

	b.progress.phase("configure")
	if err := b.configure(ctx, r, src, tmp); err != nil {
		return fail("configure", err)
	}

	b.progress.phase("compile")
	jobs := b.opts.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	r.countCompiles = true
	if err := r.run(ctx, src, "make", append(makeArgs(), fmt.Sprintf("-j%d", jobs), "Image")...); err != nil {
		return fail("compile", err)
	}
	r.countCompiles = false

	out := filepath.Join(tmp, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		return fmt.Errorf("kernel build: %w", err)
	}
	if err := os.Rename(filepath.Join(src, "arch/riscv/boot/Image"), filepath.Join(out, "Image")); err != nil {
		return fail("install", err)
	}
	// The ELF kernel too: Juice's loader boots it as well as the Image.
	if err := os.Rename(filepath.Join(src, "vmlinux"), filepath.Join(out, "vmlinux")); err != nil {
		return fail("install", err)
	}
	if err := copyFile(filepath.Join(src, ".config"), filepath.Join(out, "config")); err != nil {
		return fail("install", err)
	}
	logf.Sync()
	if err := copyFile(logPath, filepath.Join(out, "build.log")); err != nil {
		return fail("install", err)
	}
	if err := os.Rename(out, entry); err != nil {
		return fail("install", fmt.Errorf("moving the build into the cache: %w", err))
	}
	return nil
}

// makeArgs are the arguments every make call of the recipe starts with.
func makeArgs() []string {
	return []string{"ARCH=riscv", "CROSS_COMPILE=" + CrossCompile}
}

// configure makes .config: tinyconfig, the fragments merged in, olddefconfig,
// then checks that the fragments and Juice's requirements hold.
func (b *builder) configure(ctx context.Context, r *runner, src, tmp string) error {
	if err := r.run(ctx, src, "make", append(makeArgs(), "tinyconfig")...); err != nil {
		return err
	}
	frags, err := b.fragments()
	if err != nil {
		return err
	}
	mergeArgs := []string{"-m", ".config"}
	for i, f := range frags {
		p := filepath.Join(tmp, fmt.Sprintf("fragment-%02d.config", i))
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return fmt.Errorf("writing fragment: %w", err)
		}
		mergeArgs = append(mergeArgs, p)
	}
	if err := r.run(ctx, src, "scripts/kconfig/merge_config.sh", mergeArgs...); err != nil {
		return err
	}
	if err := r.run(ctx, src, "make", append(makeArgs(), "olddefconfig")...); err != nil {
		return err
	}
	final, err := os.ReadFile(filepath.Join(src, ".config"))
	if err != nil {
		return fmt.Errorf("reading .config: %w", err)
	}
	var errs []error
	for _, f := range frags {
		if err := CheckFragment(f.name, f.data, final); err != nil {
			errs = append(errs, err)
		}
	}
	if err := CheckRequired(final); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(r.log, "juice: configuration check failed:\n%v\n", err)
		return err
	}
	return nil
}

// fragment is one configuration fragment's name and contents.
type fragment struct {
	name string
	data []byte
}

// fragments returns the embedded fragment followed by the extra ones.
func (b *builder) fragments() ([]fragment, error) {
	frags := []fragment{{name: "jeos.config", data: Fragment()}}
	for _, p := range b.opts.Fragments {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading config fragment: %w", err)
		}
		frags = append(frags, fragment{name: p, data: data})
	}
	return frags, nil
}

// BuildError is returned when a step of the kernel build fails. Its message
// names the build log and quotes its last lines.
type BuildError struct {
	// Phase is the step that failed: extract, configure, compile, install.
	Phase string
	// Log is the path of the full build log.
	Log string
	// Tail holds the last lines of the log.
	Tail []string
	// Err is the underlying error.
	Err error
}

// Error implements error.
func (e *BuildError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kernel build failed during %s: %v\nbuild log: %s", e.Phase, e.Err, e.Log)
	if len(e.Tail) > 0 {
		fmt.Fprintf(&b, "\nlast %d lines:\n%s", len(e.Tail), strings.Join(e.Tail, "\n"))
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *BuildError) Unwrap() error { return e.Err }

// tailLines returns up to n last lines of the file at path.
func tailLines(path string, n int) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// copyFile copies src to dst.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copying: %w", err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("copying: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return nil
}

// runner runs the recipe's commands, logging their output.
type runner struct {
	log           io.Writer
	progress      *progress
	slog          *slog.Logger
	countCompiles bool
}

// run runs name with args in dir, with its output going to the build log.
// On cancellation the whole process group is killed.
func (r *runner) run(ctx context.Context, dir, name string, args ...string) error {
	fmt.Fprintf(r.log, "+ %s %s\n", name, strings.Join(args, " "))
	r.slog.Debug("kernel build step", "cmd", name, "args", args)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"LC_ALL=C",
		"ARCH=riscv",
		"KBUILD_BUILD_USER=juice",
		"KBUILD_BUILD_HOST=juice",
		"KBUILD_BUILD_VERSION=1",
		"KBUILD_BUILD_TIMESTAMP=Thu Jan  1 00:00:00 UTC 1970",
	)
	lw := &lineWriter{w: r.log, onLine: func(line string) {
		if r.countCompiles && (strings.HasPrefix(line, "  CC ") || strings.HasPrefix(line, "  AS ")) {
			r.progress.compiled()
		}
	}}
	cmd.Stdout = lw
	cmd.Stderr = lw
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
	}
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	lw.flush()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", name, ctx.Err())
		}
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// lineWriter copies to w and calls onLine for each complete line.
type lineWriter struct {
	w      io.Writer
	onLine func(string)
	buf    []byte
}

// Write implements io.Writer.
func (l *lineWriter) Write(p []byte) (int, error) {
	if _, err := l.w.Write(p); err != nil {
		return 0, err
	}
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.onLine(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

func (l *lineWriter) flush() {
	if len(l.buf) > 0 {
		l.onLine(string(l.buf))
		l.buf = nil
	}
}
