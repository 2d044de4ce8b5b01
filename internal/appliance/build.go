package appliance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/juicevm/juice/internal/appliance/spec"
	"github.com/juicevm/juice/internal/bytesize"
	"github.com/juicevm/juice/internal/diskimage"
	"github.com/juicevm/juice/internal/initramfs"
	"github.com/juicevm/juice/internal/kernel"
	"github.com/klauspost/compress/zstd"
)

// BuildOptions configures Build.
type BuildOptions struct {
	// Out is the appliance folder to write. Empty means NAME.appliance in
	// the current folder. An existing folder is replaced if it is empty or
	// an appliance (it has a manifest.json); anything else there is an
	// error.
	Out string
	// CacheDir is the Juice cache directory. Empty means
	// kernel.DefaultCacheDir().
	CacheDir string
	// Progress, if not nil, receives a line per step and the kernel
	// build's status line. Meant for terminals.
	Progress io.Writer
	// GoTool is the go command. Empty means "go" from $PATH, else
	// /usr/local/go/bin/go.
	GoTool string
	// ModuleRoot is the Juice source tree, for building guest/init. Empty
	// means the one found from the current folder, the spec's folder or
	// the running executable (see FindJuiceRoot).
	ModuleRoot string
	// Init, if not nil, is used as /init instead of building guest/init
	// (for tests).
	Init []byte
	// LibraryPath is where a dynamic app's libraries are looked for. Nil
	// means DefaultLibraryPath.
	LibraryPath []string
	// Kernel holds further options of the JeOS kernel build (such as
	// SourceTarball, Jobs, NoInstall). Build sets its Fragments, CacheDir,
	// Progress, ShowProgress and Logger.
	Kernel kernel.BuildOptions
	// Logger receives logs. Nil discards them.
	Logger *slog.Logger
}

// Result describes a built appliance.
type Result struct {
	// Dir is the appliance folder.
	Dir string
	// Manifest is what Dir/manifest.json holds.
	Manifest *Manifest
	// Cached lists the parts taken from the cache rather than rebuilt:
	// "init", "app", "libraries".
	Cached []string
	// Libraries are the shared objects included for a dynamic app.
	Libraries []Library
}

// build carries the state of one Build.
type build struct {
	s      *spec.Spec
	opts   BuildOptions
	log    *slog.Logger
	res    *Result
	sizes  Sizes
	owners map[string]string // guest path → what put it there
}

// Build builds the appliance described by s into an appliance folder:
// manifest.json, the kernel, initrd.cpio.zst and a NAME.img per disk (see
// docs/appliance-spec.md). The same spec and inputs give the same bytes.
// Errors about the spec's contents name its file, line and key.
func Build(ctx context.Context, s *spec.Spec, opts BuildOptions) (*Result, error) {
	b := &build{s: s, opts: opts, log: opts.Logger, res: &Result{}, owners: map[string]string{}}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.opts.CacheDir == "" {
		d, err := kernel.DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		b.opts.CacheDir = d
	}
	if b.opts.GoTool == "" {
		b.opts.GoTool = goTool()
	}
	if b.opts.Out == "" {
		b.opts.Out = s.Name + ".appliance"
	}
	out, err := filepath.Abs(b.opts.Out)
	if err != nil {
		return nil, err
	}
	if err := checkOut(out); err != nil {
		return nil, err
	}
	b.res.Dir = out

	// Quick steps first, so that mistakes show before a kernel build.
	initBin, err := b.buildInit(ctx)
	if err != nil {
		return nil, err
	}
	app, libs, err := b.buildApp(ctx)
	if err != nil {
		return nil, err
	}
	ird, err := b.initramfs(initBin, app, libs)
	if err != nil {
		return nil, err
	}
	kern, err := b.kernel(ctx)
	if err != nil {
		return nil, err
	}

	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, fmt.Errorf("creating the appliance folder: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("creating the appliance folder: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	m, err := b.write(ctx, tmp, kern, ird)
	if err != nil {
		return nil, err
	}
	if err := replaceDir(tmp, out); err != nil {
		return nil, err
	}
	b.res.Manifest = m
	b.step("wrote %s", out)
	return b.res, nil
}

// step writes a progress line.
func (b *build) step(format string, args ...any) {
	b.log.Info(fmt.Sprintf(format, args...))
	if b.opts.Progress != nil {
		fmt.Fprintf(b.opts.Progress, "juice: build: "+format+"\n", args...)
	}
}

// cachedNote is " (cached)" for a part taken from the cache.
func (b *build) cachedNote(part string, cached bool) string {
	if cached {
		b.res.Cached = append(b.res.Cached, part)
		return " (cached)"
	}
	return ""
}

// buildInit builds Juice's init.
func (b *build) buildInit(ctx context.Context) ([]byte, error) {
	if b.opts.Init != nil {
		b.sizes.Init = int64(len(b.opts.Init))
		b.step("init: given")
		return b.opts.Init, nil
	}
	root := b.opts.ModuleRoot
	if root == "" {
		cwd, _ := os.Getwd()
		exe, _ := os.Executable()
		if exe != "" {
			exe = filepath.Dir(exe)
		}
		var err error
		if root, err = FindJuiceRoot(cwd, b.s.Dir, exe); err != nil {
			return nil, err
		}
	}
	bin, cached, err := cachedGoBuild(ctx, b.opts.GoTool, root, InitPackage, b.opts.CacheDir, nil)
	if err != nil {
		return nil, fmt.Errorf("building Juice's init: %w", err)
	}
	b.sizes.Init = int64(len(bin))
	b.step("init: %s%s", InitPackage, b.cachedNote("init", cached))
	return bin, nil
}

// buildApp builds or reads the app and resolves its libraries.
func (b *build) buildApp(ctx context.Context) ([]byte, []Library, error) {
	a := b.s.App
	if a.Go != "" {
		dir := b.s.Resolve(a.Go)
		notMain := func(name string) error {
			return b.s.Errorf("app.go", "%s holds package %s, not a main package", a.Go, name)
		}
		bin, cached, err := cachedGoBuild(ctx, b.opts.GoTool, dir, ".", b.opts.CacheDir, notMain)
		if err != nil {
			var se *spec.Error
			if errors.As(err, &se) {
				return nil, nil, err
			}
			msg := strings.TrimPrefix(err.Error(), "cross-compiling . in "+dir+": ")
			return nil, nil, b.s.Errorf("app.go", "go build in %s failed: %s", a.Go, msg)
		}
		b.sizes.App = int64(len(bin))
		b.step("app: go build %s%s", a.Go, b.cachedNote("app", cached))
		return bin, nil, nil
	}
	p := b.s.Resolve(a.Binary)
	bin, err := os.ReadFile(p)
	if err != nil {
		return nil, nil, b.s.Errorf("app.binary", "%s: %v", a.Binary, unwrapPathErr(err))
	}
	libs, cached, err := cachedLibraries(bin, p, a.Binary, b.opts.LibraryPath, b.opts.CacheDir)
	if err != nil {
		return nil, nil, b.s.Errorf("app.binary", "%v", err)
	}
	b.sizes.App = int64(len(bin))
	for _, l := range libs {
		b.sizes.Libraries += l.Size
	}
	b.res.Libraries = libs
	kind := "static"
	if len(libs) > 0 {
		kind = fmt.Sprintf("dynamic, %d libraries", len(libs))
	}
	b.step("app: %s (%s)%s", a.Binary, kind, b.cachedNote("libraries", cached && len(libs) > 0))
	return bin, libs, nil
}

// kernel returns the kernel Image's bytes.
func (b *build) kernel(ctx context.Context) ([]byte, error) {
	if !b.s.IsJeOS() {
		img, err := os.ReadFile(b.s.Resolve(b.s.Kernel.Image))
		if err != nil {
			return nil, b.s.Errorf("kernel.image", "%s: %v", b.s.Kernel.Image, unwrapPathErr(err))
		}
		if err := checkKernelImage(img); err != nil {
			return nil, b.s.Errorf("kernel.image", "%s %v", b.s.Kernel.Image, err)
		}
		b.sizes.Kernel = int64(len(img))
		b.step("kernel: %s", b.s.Kernel.Image)
		return img, nil
	}
	ko := b.opts.Kernel
	ko.Fragments = nil
	for _, c := range b.s.Kernel.Config {
		ko.Fragments = append(ko.Fragments, b.s.Resolve(c))
	}
	ko.CacheDir = b.opts.CacheDir
	if ko.Logger == nil {
		ko.Logger = b.log
	}
	ko.Progress = b.opts.Progress
	ko.ShowProgress = b.opts.Progress != nil
	if ko.Progress == nil {
		ko.Progress = io.Discard
	}
	what := "JeOS"
	if len(b.s.Kernel.Config) > 0 {
		what += " + " + strings.Join(b.s.Kernel.Config, " + ")
	}
	b.step("kernel: %s", what)
	p, err := kernel.Build(ctx, ko)
	if err != nil {
		if len(b.s.Kernel.Config) > 0 {
			return nil, b.s.Errorf("kernel.config", "%v", err)
		}
		return nil, fmt.Errorf("building the JeOS kernel: %w", err)
	}
	img, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	b.sizes.Kernel = int64(len(img))
	return img, nil
}

// checkKernelImage checks that img is a RISC-V Linux Image (the "RSC\x05"
// magic at 0x38) or a riscv64 ELF kernel.
func checkKernelImage(img []byte) error {
	if len(img) >= 0x40 && string(img[0x38:0x3c]) == "RSC\x05" {
		return nil
	}
	if f, err := elf.NewFile(bytes.NewReader(img)); err == nil {
		if f.Machine == elf.EM_RISCV && f.Class == elf.ELFCLASS64 {
			return nil
		}
		m := machineName(f)
		return fmt.Errorf("is %s %s ELF, not a riscv64 kernel", an(m), m)
	}
	return errors.New("is not a RISC-V kernel Image (no RSC\\x05 magic at offset 0x38)")
}

// claim records that what puts a file at guest path p; key is the spec key
// to blame for a clash.
func (b *build) claim(p, what, key string) error {
	if prev, ok := b.owners[p]; ok {
		return b.s.Errorf(key, "%s is already in the appliance (%s)", p, prev)
	}
	b.owners[p] = what
	return nil
}

// initramfs assembles the initramfs.
func (b *build) initramfs(initBin, app []byte, libs []Library) (*initramfs.Builder, error) {
	s := b.s
	ird, err := NewInitramfs(initBin)
	if err != nil {
		return nil, err
	}
	b.owners["/init"] = "Juice's init"
	b.owners["/dev/console"] = "the console device"
	appPath := path.Join(AppDir, s.Name)
	if err := ird.AddFile(appPath, 0o755, app); err != nil {
		return nil, err
	}
	b.owners[appPath] = "the app"
	for _, l := range libs {
		perm := fs.FileMode(0o644)
		if st, err := os.Stat(l.Host); err == nil && st.Mode()&0o111 != 0 {
			perm = 0o755
		}
		if err := ird.AddHostFile(l.Guest, l.Host, perm); err != nil {
			return nil, b.s.Errorf("app.binary", "%v", err)
		}
		b.owners[l.Guest] = "library " + l.Name
	}
	cfg, err := marshalJSON(b.guestConfig(appPath))
	if err != nil {
		return nil, err
	}
	if err := ird.AddFile(GuestConfigPath, 0o644, cfg); err != nil {
		return nil, err
	}
	b.owners[GuestConfigPath] = "Juice's appliance configuration"

	for i, f := range s.Files {
		if err := b.addFiles(ird, i, f); err != nil {
			return nil, err
		}
	}

	// The app's working folder and the disks' mount points, unless the
	// files made them (AddDir would change an existing folder's mode).
	have := map[string]bool{}
	for _, p := range ird.Paths() {
		have["/"+p] = true
	}
	dirs := [][2]string{{"app.workdir", s.App.Workdir}}
	for i, d := range s.Disks {
		dirs = append(dirs, [2]string{fmt.Sprintf("disks[%d].mount", i), d.Mount})
	}
	for _, kd := range dirs {
		key, d := kd[0], kd[1]
		if prev, ok := b.owners[d]; ok {
			return nil, b.s.Errorf(key, "%s is a file in the appliance (%s), not a folder", d, prev)
		}
		if d == "/" || have[d] {
			continue
		}
		if err := ird.AddDir(d, 0o755); err != nil {
			return nil, b.s.Errorf(key, "%s: %v", d, err)
		}
		have[d] = true
	}

	// Defaults for what the files did not provide.
	for _, e := range b.etcFiles() {
		if _, ok := b.owners[e.path]; ok {
			continue
		}
		if err := ird.AddFile(e.path, 0o644, []byte(e.data)); err != nil {
			return nil, err
		}
		b.owners[e.path] = "generated"
	}
	return ird, nil
}

// guestConfig makes /etc/juice/appliance.json.
func (b *build) guestConfig(appPath string) GuestConfig {
	s := b.s
	env := make([]string, 0, len(s.App.Env))
	for k, v := range s.App.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	netMode := "none"
	if s.Network.Mode == spec.NetworkUser {
		netMode = "dhcp"
	}
	disks := make([]GuestDisk, 0, len(s.Disks))
	for i, d := range s.Disks {
		disks = append(disks, GuestDisk{Device: "/dev/vd" + string(rune('a'+i)), Mount: d.Mount, FS: "ext4"})
	}
	return GuestConfig{
		Name:     s.Name,
		Hostname: s.Name,
		App: GuestApp{
			Path:    appPath,
			Args:    append([]string{}, s.App.Args...),
			Env:     env,
			Workdir: s.App.Workdir,
			UID:     s.App.UID,
			GID:     s.App.GID,
		},
		Network: GuestNetwork{Mode: netMode},
		Disks:   disks,
		OnExit:  s.OnExit,
	}
}

// etcFile is a generated file of /etc.
type etcFile struct{ path, data string }

// etcFiles are the minimal /etc files every appliance gets unless its
// files provide them.
func (b *build) etcFiles() []etcFile {
	s := b.s
	passwd := "root:x:0:0:root:/root:/sbin/nologin\n"
	group := "root:x:0:\n"
	if s.App.UID != 0 {
		passwd += fmt.Sprintf("app:x:%d:%d:%s:/:/sbin/nologin\n", s.App.UID, s.App.GID, s.Name)
	}
	if s.App.GID != 0 {
		group += fmt.Sprintf("app:x:%d:\n", s.App.GID)
	}
	return []etcFile{
		{"/etc/hostname", s.Name + "\n"},
		{"/etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\t" + s.Name + "\n"},
		{"/etc/passwd", passwd},
		{"/etc/group", group},
	}
}

// addFiles adds the host file or folder of files[i].
func (b *build) addFiles(ird *initramfs.Builder, i int, f spec.File) error {
	key := fmt.Sprintf("files[%d]", i)
	what := key + " (" + f.From + ")"
	host := b.s.Resolve(f.From)
	st, err := os.Stat(host)
	if err != nil {
		return b.s.Errorf(key+".from", "%s: %v", f.From, unwrapPathErr(err))
	}
	if !st.IsDir() {
		return b.addFile(ird, key, what, host, f.To, st)
	}
	if prev, ok := b.owners[f.To]; ok {
		return b.s.Errorf(key+".to", "%s is already in the appliance (%s)", f.To, prev)
	}
	if err := ird.AddDir(f.To, 0o755); err != nil {
		return b.s.Errorf(key+".to", "%s: %v", f.To, err)
	}
	return filepath.WalkDir(host, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return b.s.Errorf(key+".from", "%v", err)
		}
		rel, err := filepath.Rel(host, p)
		if err != nil || rel == "." {
			return err
		}
		guest := path.Join(f.To, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return b.s.Errorf(key+".from", "%v", err)
		}
		switch {
		case d.IsDir():
			if prev, ok := b.owners[guest]; ok {
				return b.s.Errorf(key+".from", "%s would replace %s (%s) with a folder", filepath.Join(f.From, rel), guest, prev)
			}
			if err := ird.AddDir(guest, 0o755); err != nil {
				return b.s.Errorf(key+".from", "%s: %v", filepath.Join(f.From, rel), err)
			}
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return b.s.Errorf(key+".from", "%v", err)
			}
			if err := b.claim(guest, what, key+".from"); err != nil {
				return err
			}
			if err := ird.AddSymlink(guest, target); err != nil {
				return b.s.Errorf(key+".from", "%s: %v", filepath.Join(f.From, rel), err)
			}
			b.sizes.Files += int64(len(target))
		default:
			return b.addFile(ird, key, what, p, guest, info)
		}
		return nil
	})
}

// addFile adds one regular host file at a guest path.
func (b *build) addFile(ird *initramfs.Builder, key, what, host, guest string, st fs.FileInfo) error {
	rel := host
	if r, err := filepath.Rel(b.s.Dir, host); err == nil && filepath.IsLocal(r) {
		rel = "./" + r
	}
	if !st.Mode().IsRegular() {
		return b.s.Errorf(key+".from", "%s is a %s: only files, folders and symlinks can be copied", rel, fileKind(st.Mode()))
	}
	if err := b.claim(guest, what, key+".to"); err != nil {
		return err
	}
	perm := fs.FileMode(0o644)
	if st.Mode()&0o111 != 0 {
		perm = 0o755
	}
	if err := ird.AddHostFile(guest, host, perm); err != nil {
		return b.s.Errorf(key+".to", "%s: %v", guest, err)
	}
	b.sizes.Files += st.Size()
	return nil
}

// fileKind names a non-regular file's type.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// write writes the appliance's files into dir and returns the manifest.
func (b *build) write(ctx context.Context, dir string, kern []byte, ird *initramfs.Builder) (*Manifest, error) {
	s := b.s
	m := &Manifest{
		Format:  ManifestFormat,
		Name:    s.Name,
		Kernel:  KernelFile,
		Initrd:  InitrdFile,
		Cmdline: Cmdline,
		CPUs:    s.CPUs,
		Memory:  bytesize.String(s.MemoryBytes),
		Network: ManifestNetwork{Mode: s.Network.Mode, Forwards: append([]string{}, s.Network.Forwards...)},
		Disks:   []ManifestDisk{},
		Digests: map[string]string{},
		Spec:    s,
	}
	// The kernel and the initramfs are stored zstd-compressed; Juice
	// expands them as it loads them (faster than gzip by far, on the host,
	// and much faster than the guest expanding its own initramfs).
	kz, err := compress(kern)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, KernelFile), kz, 0o644); err != nil {
		return nil, err
	}
	m.Digests[KernelFile] = digest(kz)
	b.sizes.Kernel = int64(len(kz))

	var cpio bytes.Buffer
	if _, err := ird.WriteTo(&cpio); err != nil {
		return nil, fmt.Errorf("writing the initramfs: %w", err)
	}
	iz, err := compress(cpio.Bytes())
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, InitrdFile), iz, 0o644); err != nil {
		return nil, fmt.Errorf("writing the initramfs: %w", err)
	}
	m.Digests[InitrdFile] = digest(iz)
	n := int64(len(iz))
	b.sizes.Initrd = n
	b.step("initrd: %s", bytesize.Format(n))

	for i, d := range s.Disks {
		file := d.Name + DiskSuffix
		opts := diskimage.Options{Size: d.SizeBytes, From: s.Resolve(d.From)}
		from := ""
		if d.From != "" {
			from = " from " + d.From
		}
		b.step("disk %s: %s ext4%s", file, bytesize.Format(d.SizeBytes), from)
		if err := diskimage.Create(ctx, filepath.Join(dir, file), opts); err != nil {
			var tooSmall *diskimage.TooSmallError
			if errors.As(err, &tooSmall) {
				return nil, s.Errorf(fmt.Sprintf("disks[%d].size", i), "%s is too small for %s: it needs about %s",
					d.Size, d.From, bytesize.Format(tooSmall.Needed))
			}
			return nil, s.Errorf(fmt.Sprintf("disks[%d]", i), "%v", err)
		}
		sum, err := fileDigest(filepath.Join(dir, file))
		if err != nil {
			return nil, err
		}
		m.Digests[file] = sum
		m.Disks = append(m.Disks, ManifestDisk{Name: d.Name, File: file, Serial: d.Name})
	}
	m.Sizes = b.sizes
	data, err := marshalJSON(m)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), data, 0o644); err != nil {
		return nil, err
	}
	return m, nil
}

// digest is "sha256:HEX" of data.
func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// fileDigest is "sha256:HEX" of a file's contents.
func fileDigest(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// checkOut checks that the appliance folder out may be written: it does
// not exist, or is an empty folder or an earlier appliance.
func checkOut(out string) error {
	st, err := os.Lstat(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("output %s exists and is not a folder", out)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(out, ManifestFile)); err != nil {
		return fmt.Errorf("output %s exists and is not an appliance folder (it has no %s): remove it or choose another with -o", out, ManifestFile)
	}
	return nil
}

// replaceDir moves the folder tmp to out, replacing out if it exists.
func replaceDir(tmp, out string) error {
	if _, err := os.Lstat(out); err == nil {
		old := tmp + "-old"
		if err := os.Rename(out, old); err != nil {
			return fmt.Errorf("replacing %s: %w", out, err)
		}
		if err := os.Rename(tmp, out); err != nil {
			os.Rename(old, out)
			return fmt.Errorf("replacing %s: %w", out, err)
		}
		return os.RemoveAll(old)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return nil
}

// FormatSizes formats the size breakdown, a line per part, for people.
func FormatSizes(z Sizes) string {
	var b strings.Builder
	row := func(name string, n int64, note string) {
		fmt.Fprintf(&b, "  %-10s %10s%s\n", name, bytesize.Format(n), note)
	}
	row("kernel", z.Kernel, "")
	row("init", z.Init, "")
	row("app", z.App, "")
	row("libraries", z.Libraries, "")
	row("files", z.Files, "")
	row("initrd", z.Initrd, "  (zstd of init, app, libraries, files)")
	row("total", z.Kernel+z.Initrd, "  (kernel + initrd)")
	return b.String()
}

// compress returns b zstd-compressed at the best ratio, the same bytes
// for the same input.
func compress(b []byte) ([]byte, error) {
	zw, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	defer zw.Close()
	return zw.EncodeAll(b, make([]byte, 0, len(b)/2)), nil
}
