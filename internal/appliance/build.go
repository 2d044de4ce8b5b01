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
	"slices"
	"sort"
	"strings"

	"github.com/juicevm/juice/internal/appliance/spec"
	"github.com/juicevm/juice/internal/bytesize"
	"github.com/juicevm/juice/internal/diskimage"
	"github.com/juicevm/juice/internal/guestconfig"
	"github.com/juicevm/juice/internal/guestinit"
	"github.com/juicevm/juice/internal/initramfs"
	"github.com/juicevm/juice/internal/kernel"
	"github.com/juicevm/juice/internal/outfile"
	"github.com/klauspost/compress/zstd"
)

// BuildOptions configures Build.
type BuildOptions struct {
	// Out is the appliance folder to write. Empty means NAME.appliance in
	// the current folder. An existing folder is replaced only if it is
	// empty or holds an earlier appliance and nothing else (the files its
	// manifest.json lists); anything else there, a symbolic link, or a
	// folder that is or holds an input of the build (the spec, the build
	// context, a host path of the spec) is an error.
	Out string
	// Context is the build context: the folder every host path of the
	// spec must lie in, symbolic links followed (see spec.Spec.Confine).
	// Empty means the spec's folder.
	Context string
	// FreshDisks makes new disk images for every disk. Without it, the
	// disk images of an earlier appliance at Out are kept (moved into the
	// new folder, never copied), since the guest's data lives there; and a
	// disk of the earlier appliance that the spec no longer has is an
	// error rather than lost.
	FreshDisks bool
	// Notices, if not nil, receives the lines a user must see even when
	// not on a terminal: what became of each disk image. Nil means
	// Progress.
	Notices io.Writer
	// CacheDir is the Juice cache directory (the kernel, Go builds,
	// libraries). It must be given (kernel.ErrNoCacheDir otherwise).
	CacheDir string
	// Progress, if not nil, receives a line per step and the kernel
	// build's status line. Meant for terminals.
	Progress io.Writer
	// GoTool is the go command. Empty means "go" from $PATH, else
	// /usr/local/go/bin/go, for an app.go; and "go" from $PATH for the
	// guest init when juice holds its sources rather than a prebuilt one
	// (see internal/guestinit).
	GoTool string
	// Init, if not nil, is used as /init instead of Juice's guest init
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
	// Disks says what became of each disk image, in the spec's order.
	Disks []DiskResult
}

// DiskResult is what a build did with one disk image.
type DiskResult struct {
	// Name is the disk's name; File its image's file name in Dir.
	Name, File string
	// Kept is set when the earlier appliance's image was kept.
	Kept bool
	// Size is the image's size in bytes.
	Size int64
}

// build carries the state of one Build.
type build struct {
	s       *spec.Spec
	opts    BuildOptions
	log     *slog.Logger
	res     *Result
	sizes   Sizes
	owners  map[string]string // guest path → what put it there
	context string            // the build context, absolute
	out     string            // the output folder, absolute, its folder's links resolved
	tmp     string            // the new folder being written beside out
	kept    []*keptDisk       // images taken from the earlier appliance
}

// Build builds the appliance described by s into an appliance folder:
// manifest.json, the kernel, initrd.cpio.zst and a NAME.img per disk (see
// docs/appliance-spec.md). The same spec and inputs give the same bytes.
// Errors about the spec's contents name its file, line and key.
//
// The folder is written beside opts.Out and swapped into its place when
// complete; a failed build leaves what was there as it was. See
// BuildOptions for what may be replaced, and for the disk images of an
// earlier appliance, which are kept.
func Build(ctx context.Context, s *spec.Spec, opts BuildOptions) (*Result, error) {
	b := &build{s: s, opts: opts, log: opts.Logger, res: &Result{}, owners: map[string]string{}}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.opts.CacheDir == "" {
		return nil, fmt.Errorf("appliance: %w", kernel.ErrNoCacheDir)
	}
	if b.opts.Out == "" {
		b.opts.Out = s.Name + ".appliance"
	}
	out, err := filepath.Abs(b.opts.Out)
	if err != nil {
		return nil, err
	}
	if err := b.setContext(); err != nil {
		return nil, err
	}
	inputs, err := b.inputs()
	if err != nil {
		return nil, err
	}
	old, err := checkOut(out, b.opts.Out, inputs)
	if err != nil {
		return nil, err
	}
	if err := b.checkOldDisks(old); err != nil {
		return nil, err
	}
	b.out = realParent(out)
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
	b.out = realParent(out)
	tmp, err := os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("creating the appliance folder: %w", err)
	}
	b.tmp = tmp
	done := false
	defer func() {
		if !done {
			for _, k := range b.kept {
				k.undo()
			}
			os.RemoveAll(tmp)
		}
	}()
	mode := fs.FileMode(0o755) // or that of the folder it replaces
	if st, err := os.Lstat(out); err == nil && st.IsDir() {
		mode = st.Mode().Perm()
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return nil, err
	}
	m, err := b.write(ctx, tmp, kern, ird, old)
	if err != nil {
		return nil, err
	}
	// What is at the output must still be what it was.
	now, err := checkOut(out, b.opts.Out, inputs)
	if err != nil {
		return nil, err
	}
	if (old == nil) != (now == nil) || old != nil && !slices.Equal(old.files, now.files) {
		return nil, fmt.Errorf("output %s changed while the appliance was built: not replacing it", b.opts.Out)
	}
	if err := b.keepDisks(tmp, m, old); err != nil {
		return nil, err
	}
	if err := b.writeManifest(tmp, m); err != nil {
		return nil, err
	}
	_, statErr := os.Lstat(out)
	moved, err := swapIn(tmp, out, statErr == nil)
	if err != nil {
		return nil, err
	}
	done = true
	outfile.SyncDir(filepath.Dir(out))
	if moved != "" && !removeOld(moved, old) {
		b.notice("left %s: the earlier folder at %s gained files while the appliance was built", moved, b.opts.Out)
	}
	b.res.Manifest = m
	b.step("wrote %s", out)
	return b.res, nil
}

// setContext finds and checks the build context and the spec's paths in
// it.
func (b *build) setContext() error {
	c := b.opts.Context
	if c == "" {
		c = b.s.Dir
	}
	c, err := filepath.Abs(c)
	if err != nil {
		return err
	}
	st, err := os.Stat(c)
	if err != nil {
		return fmt.Errorf("build context %s: %w", b.opts.Context, unwrapPathErr(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("build context %s is not a folder", b.opts.Context)
	}
	b.context = c
	return b.s.Confine(c)
}

// host returns the host path p given for key, resolved in the build
// context.
func (b *build) host(key, p string) (string, error) {
	return b.s.InContext(b.context, key, p)
}

// inputs lists what the build reads, which the output may not be or hold.
func (b *build) inputs() ([]input, error) {
	real := func(p string) string {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return r
		}
		return ""
	}
	specFile, err := filepath.Abs(b.s.File)
	if err != nil {
		return nil, err
	}
	ins := []input{
		{"the spec's folder", b.s.Dir, real(b.s.Dir)},
		{"the build context", b.context, real(b.context)},
		{"the spec file", specFile, real(specFile)},
	}
	for _, hp := range b.s.HostPaths() {
		r, err := b.host(hp.Key, hp.Path)
		if err != nil {
			return nil, err
		}
		ins = append(ins, input{fmt.Sprintf("%s (%s)", hp.Key, hp.Path), filepath.Clean(b.s.Resolve(hp.Path)), r})
	}
	return ins, nil
}

// checkOldDisks refuses to drop, without FreshDisks, a disk image of the
// earlier appliance that the spec no longer has.
func (b *build) checkOldDisks(old *oldAppliance) error {
	if old == nil || b.opts.FreshDisks {
		return nil
	}
	for _, d := range old.m.Disks {
		file, ok := old.disks[d.Name]
		if !ok || slices.ContainsFunc(b.s.Disks, func(sd spec.Disk) bool { return sd.Name == d.Name }) {
			continue
		}
		return fmt.Errorf("output %s holds %s, the image of disk %q, which the spec no longer has: replacing the folder would lose its data; move it away, or pass --fresh-disks to drop it",
			b.opts.Out, file, d.Name)
	}
	return nil
}

// notice writes a line the user must see, even when not on a terminal.
func (b *build) notice(format string, args ...any) {
	b.log.Info(fmt.Sprintf(format, args...))
	w := b.opts.Notices
	if w == nil {
		w = b.opts.Progress
	}
	if w != nil {
		fmt.Fprintf(w, "juice: build: "+format+"\n", args...)
	}
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

// buildInit gets Juice's init from the juice binary (internal/guestinit).
func (b *build) buildInit(ctx context.Context) ([]byte, error) {
	if b.opts.Init != nil {
		b.sizes.Init = int64(len(b.opts.Init))
		b.step("init: given")
		return b.opts.Init, nil
	}
	in, err := guestinit.Get(ctx, guestinit.Options{CacheDir: b.opts.CacheDir, GoTool: b.opts.GoTool, Logger: b.log})
	if err != nil {
		return nil, err
	}
	b.sizes.Init = int64(len(in.Binary))
	what := "prebuilt, from juice"
	if in.Source == guestinit.EmbeddedSources {
		what = "built from the sources in juice"
	}
	b.step("init: %s%s", what, b.cachedNote("init", in.Cached))
	return in.Binary, nil
}

// buildApp builds or reads the app and resolves its libraries.
func (b *build) buildApp(ctx context.Context) ([]byte, []Library, error) {
	a := b.s.App
	if a.Go != "" {
		dir, err := b.host("app.go", a.Go)
		if err != nil {
			return nil, nil, err
		}
		notMain := func(name string) error {
			return b.s.Errorf("app.go", "%s holds package %s, not a main package", a.Go, name)
		}
		gt := b.opts.GoTool
		if gt == "" {
			gt = goTool()
		}
		bin, cached, err := cachedGoBuild(ctx, gt, dir, ".", b.opts.CacheDir, notMain)
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
	p, err := b.host("app.binary", a.Binary)
	if err != nil {
		return nil, nil, err
	}
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
		p, err := b.host("kernel.image", b.s.Kernel.Image)
		if err != nil {
			return nil, err
		}
		img, err := os.ReadFile(p)
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
	for i, c := range b.s.Kernel.Config {
		p, err := b.host(fmt.Sprintf("kernel.config[%d]", i), c)
		if err != nil {
			return nil, err
		}
		ko.Fragments = append(ko.Fragments, p)
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
	// The init refuses a configuration it cannot use, at boot: check it
	// here with the init's own decoder.
	if _, err := guestconfig.Parse(cfg); err != nil {
		return nil, fmt.Errorf("appliance: the configuration made for the init is refused by it: %w", err)
	}
	if err := ird.AddFile(guestconfig.Path, 0o644, cfg); err != nil {
		return nil, err
	}
	b.owners[guestconfig.Path] = "Juice's appliance configuration"

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

// guestConfig makes /etc/juice/appliance.json (guestconfig.Path).
func (b *build) guestConfig(appPath string) guestconfig.Appliance {
	s := b.s
	env := make([]string, 0, len(s.App.Env))
	for k, v := range s.App.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	netMode := guestconfig.NetworkNone
	if s.Network.Mode == spec.NetworkUser {
		netMode = guestconfig.NetworkDHCP
	}
	disks := make([]guestconfig.Disk, 0, len(s.Disks))
	for i, d := range s.Disks {
		disks = append(disks, guestconfig.Disk{Device: "/dev/vd" + string(rune('a'+i)), Mount: d.Mount, FS: "ext4"})
	}
	onExit := guestconfig.OnExitPowerOff
	if s.OnExit == spec.OnExitRestart {
		onExit = guestconfig.OnExitRestart
	}
	return guestconfig.Appliance{
		Name:     s.Name,
		Hostname: s.Name,
		App: guestconfig.App{
			Path:    appPath,
			Args:    append([]string{}, s.App.Args...),
			Env:     env,
			Workdir: s.App.Workdir,
			UID:     s.App.UID,
			GID:     s.App.GID,
		},
		Network: guestconfig.Network{Mode: netMode},
		Disks:   disks,
		OnExit:  onExit,
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

// addFiles adds the host file or folder of files[i]. A folder is copied
// with what it holds, its symbolic links as links; from itself is followed
// if it is a link (within the build context). The output folder, when it
// lies inside, is left out.
func (b *build) addFiles(ird *initramfs.Builder, i int, f spec.File) error {
	key := fmt.Sprintf("files[%d]", i)
	what := key + " (" + f.From + ")"
	host, err := b.host(key+".from", f.From)
	if err != nil {
		return err
	}
	st, err := os.Stat(host)
	if err != nil {
		return b.s.Errorf(key+".from", "%s: %v", f.From, unwrapPathErr(err))
	}
	if !st.IsDir() {
		return b.addFile(ird, key, what, host, f.From, f.To, st)
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
		shown := filepath.Join(f.From, rel)
		if isOutput(b.out, p) {
			b.step("%s: leaving out %s, the output", key, shown)
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		guest := path.Join(f.To, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return b.s.Errorf(key+".from", "%v", err)
		}
		switch {
		case d.IsDir():
			if prev, ok := b.owners[guest]; ok {
				return b.s.Errorf(key+".from", "%s would replace %s (%s) with a folder", shown, guest, prev)
			}
			if err := ird.AddDir(guest, 0o755); err != nil {
				return b.s.Errorf(key+".from", "%s: %v", shown, err)
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
				return b.s.Errorf(key+".from", "%s: %v", shown, err)
			}
			b.sizes.Files += int64(len(target))
		default:
			return b.addFile(ird, key, what, p, shown, guest, info)
		}
		return nil
	})
}

// addFile adds one regular host file at a guest path; shown names it in
// messages.
func (b *build) addFile(ird *initramfs.Builder, key, what, host, shown, guest string, st fs.FileInfo) error {
	if !st.Mode().IsRegular() {
		return b.s.Errorf(key+".from", "%s is a %s: only files, folders and symlinks can be copied", shown, fileKind(st.Mode()))
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

// write writes the appliance's kernel, initramfs and new disk images into
// dir and returns the manifest, to which keepDisks adds the kept images.
func (b *build) write(ctx context.Context, dir string, kern []byte, ird *initramfs.Builder, old *oldAppliance) (*Manifest, error) {
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

	m.Disks = make([]ManifestDisk, len(s.Disks))
	b.res.Disks = make([]DiskResult, len(s.Disks))
	for i, d := range s.Disks {
		file := d.Name + DiskSuffix
		key := fmt.Sprintf("disks[%d]", i)
		m.Disks[i] = ManifestDisk{Name: d.Name, File: file, Serial: d.Name}
		b.res.Disks[i] = DiskResult{Name: d.Name, File: file}
		_, hadOne := old.disk(d.Name)
		if hadOne && !b.opts.FreshDisks {
			continue // keepDisks takes it
		}
		opts := diskimage.Options{Size: d.SizeBytes, Exclude: []string{b.out, dir}}
		from := ""
		if d.From != "" {
			p, err := b.host(key+".from", d.From)
			if err != nil {
				return nil, err
			}
			opts.From = p
			from = " from " + d.From
		}
		note := ""
		if hadOne {
			note = " (--fresh-disks: the earlier image is dropped)"
		}
		b.step("disk %s: making a %s ext4 image%s", file, bytesize.Format(d.SizeBytes), from)
		if err := diskimage.Create(ctx, filepath.Join(dir, file), opts); err != nil {
			var tooSmall *diskimage.TooSmallError
			if errors.As(err, &tooSmall) {
				return nil, s.Errorf(key+".size", "%s is too small for %s: it needs about %s",
					d.Size, d.From, bytesize.Format(tooSmall.Needed))
			}
			return nil, s.Errorf(key, "%v", err)
		}
		sum, size, err := fileDigest(filepath.Join(dir, file))
		if err != nil {
			return nil, err
		}
		m.Digests[file] = sum
		m.Disks[i].Size = size
		b.res.Disks[i].Size = size
		b.notice("disk %s: new %s ext4 image%s%s", file, bytesize.Format(size), from, note)
	}
	m.Sizes = b.sizes
	return m, nil
}

// keepDisks moves the earlier appliance's images of the spec's disks into
// dir (unless FreshDisks) and records their digests and sizes in m.
func (b *build) keepDisks(dir string, m *Manifest, old *oldAppliance) error {
	if b.opts.FreshDisks {
		return nil
	}
	for i, d := range b.s.Disks {
		oldFile, ok := old.disk(d.Name)
		if !ok {
			continue
		}
		file := m.Disks[i].File
		k, err := keep(filepath.Join(old.dir, oldFile), filepath.Join(dir, file))
		if err != nil {
			return err
		}
		b.kept = append(b.kept, k)
		sum, size, err := fileDigest(k.to)
		if err != nil {
			return err
		}
		m.Digests[file] = sum
		m.Disks[i].Size = size
		b.res.Disks[i].Size, b.res.Disks[i].Kept = size, true
		var notes []string
		if size != d.SizeBytes {
			have, want := bytesize.Format(size), d.Size
			if have == bytesize.Format(d.SizeBytes) {
				have, want = fmt.Sprintf("%d bytes", size), fmt.Sprintf("%d", d.SizeBytes)
			}
			notes = append(notes, fmt.Sprintf("it is %s, not the %s of disks[%d].size", have, want, i))
		}
		if d.From != "" {
			notes = append(notes, fmt.Sprintf("disks[%d].from fills new images only", i))
		}
		note := ""
		if len(notes) > 0 {
			note = "; " + strings.Join(notes, "; ")
		}
		b.notice("disk %s: kept the existing image (its data stays; --fresh-disks makes a new one)%s", file, note)
	}
	return nil
}

// writeManifest writes m into dir.
func (b *build) writeManifest(dir string, m *Manifest) error {
	data, err := marshalJSON(m)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), data, 0o644); err != nil {
		return err
	}
	return nil
}

// digest is "sha256:HEX" of data.
func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// fileDigest is "sha256:HEX" of a file's contents, and its size.
func fileDigest(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("reading %s: %w", p, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), n, nil
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
