// Package distkernel fetches and verifies an unmodified distribution kernel
// for Juice's RV64GC machine: Debian's linux-image-<release>-riscv64 from
// trixie (bookworm has no riscv64 port).
//
// Every byte is checked before use, as apt does. The Release file of the
// distribution (dists/<dist>/InRelease, or Release with Release.gpg) must
// carry a good signature, checked with gpgv against Debian's archive
// keyring. The Packages index for main/binary-riscv64 must match the size
// and SHA-256 that the Release file signs. The kernel package must match
// the size and SHA-256 in that index. A mirror can be caught between two
// updates, serving an index that no longer matches the newest signed
// Release: Fetch then tries the index under by-hash/SHA256/<hash>, and
// Release files signed for the same codename under the other name that the
// signed Suite field gives (such as dists/stable for trixie), newest
// first. When nothing verifies, Fetch fails with an error that wraps
// ErrUnverified and says what did not match.
//
// From the verified package it takes the kernel (boot/vmlinux-<release>;
// a gzip or EFI zboot kernel is decompressed to the flat Image) and the
// module tree (usr/lib/modules/<release>/ or lib/modules/<release>/),
// indexed with depmod when it is installed since Debian's package ships no
// modules.dep. They are cached under the Juice cache directory, in
// distkernel/<package>_<version>/, built in a temporary directory and
// renamed into place, so that a later Fetch returns at once without the
// network.
package distkernel

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/juicevm/juice/internal/kernel"
)

// DefaultMirror is the Debian archive Fetch uses when Options.Mirror is
// empty. Plain HTTP is fine: everything fetched is verified.
const DefaultMirror = "http://deb.debian.org/debian"

// DefaultDist is the distribution Fetch uses when Options.Dist is empty.
const DefaultDist = "trixie"

// Arch is the Debian architecture of the kernels fetched.
const Arch = "riscv64"

// Component is the archive component searched.
const Component = "main"

// metaPackage is the package that depends on the current kernel.
const metaPackage = "linux-image-" + Arch

// ErrUnverified is wrapped by errors saying that something could not be
// verified: a bad or missing signature, or a file that does not match its
// signed hash. Callers (and tests) may skip on it, but must not use
// anything unverified.
var ErrUnverified = errors.New("could not verify")

// ErrUnavailable is wrapped by errors saying that the mirror could not be
// reached or did not serve a file.
var ErrUnavailable = errors.New("mirror unavailable")

// Options configures Fetch. With only CacheDir set it fetches trixie's
// kernel from DefaultMirror into that cache, quietly.
type Options struct {
	// CacheDir is the Juice cache directory; kernels go in its
	// "distkernel" subdirectory. It must be given (kernel.ErrNoCacheDir
	// otherwise).
	CacheDir string
	// Progress receives download progress when ShowProgress is set. Nil
	// means os.Stderr.
	Progress io.Writer
	// ShowProgress draws an updating line per download (percentage and
	// size) on Progress, and a line for each step. Set it only when
	// Progress is a terminal.
	ShowProgress bool
	// Mirror is the Debian archive's base URL. Empty means DefaultMirror.
	Mirror string
	// Dist is the distribution, a codename or suite. Empty means
	// DefaultDist.
	Dist string
	// Keyrings are the OpenPGP keyrings trusted for Release signatures.
	// Empty means DefaultKeyring (or, when it is missing, the
	// debian-archive-*.gpg keyrings of /usr/share/keyrings).
	Keyrings []string
	// Refresh makes Fetch ask the mirror for the newest kernel even when
	// one is cached; otherwise a cached kernel is returned without the
	// network.
	Refresh bool
	// NoInstall stops Fetch from installing gpgv with apt-get when it is
	// missing and Fetch runs as root.
	NoInstall bool
	// HTTPClient is used for downloads. Nil means a default client.
	HTTPClient *http.Client
	// Logger receives debug and info logs. Nil discards them.
	Logger *slog.Logger
}

// Kernel is a verified distribution kernel in the cache.
type Kernel struct {
	// ImagePath is the flat, uncompressed RISC-V Image, for -kernel.
	ImagePath string
	// ModulesDir is the module tree, <entry>/lib/modules/<Version>: load
	// modules from it (kernel/drivers/virtio/virtio_mmio.ko.xz, ...;
	// Debian compresses them with xz). Debian's package ships
	// modules.order and modules.builtin but no modules.dep; Fetch makes it
	// (and the other indexes) with depmod when depmod is installed
	// (package kmod), as installing the package would. See ModulesDep.
	ModulesDir string
	// ModulesDep says ModulesDir has a modules.dep.
	ModulesDep bool
	// Version is the kernel release, as uname -r prints it and as the
	// modules directory is named, such as "6.12.107+deb13-riscv64".
	Version string
	// Package is the Debian package, such as
	// "linux-image-6.12.107+deb13-riscv64".
	Package string
	// PackageVersion is the Debian version of Package, such as "6.12.107-1".
	PackageVersion string
	// ImageFormat describes the kernel as packaged, such as "flat RISC-V
	// Image with an EFI (PE/COFF) stub, uncompressed".
	ImageFormat string
	// ConfigPath is the kernel's configuration (boot/config-<Version>).
	ConfigPath string
	// Dir is the cache entry holding all of the above.
	Dir string
	// Verified says how the package was verified: the signed Release, its
	// signers, the index and the package hash.
	Verified string
}

// manifest is the record kept in each cache entry, manifest.json.
type manifest struct {
	Package        string    `json:"package"`
	PackageVersion string    `json:"package_version"`
	KernelRelease  string    `json:"kernel_release"`
	DebURL         string    `json:"deb_url"`
	DebSize        int64     `json:"deb_size"`
	DebSHA256      string    `json:"deb_sha256"`
	PackagedImage  string    `json:"packaged_image"`
	ImageFormat    string    `json:"image_format"`
	ImageSize      int64     `json:"image_size"`
	ImageSHA256    string    `json:"image_sha256"`
	Modules        int       `json:"modules"`
	ModulesPrefix  string    `json:"modules_prefix"`
	ModulesDep     bool      `json:"modules_dep"`
	Release        string    `json:"release"`
	Signers        []string  `json:"signers"`
	IndexURL       string    `json:"index_url"`
	IndexSHA256    string    `json:"index_sha256"`
	Fetched        time.Time `json:"fetched"`
}

const (
	manifestName = "manifest.json"
	imageName    = "Image"
	configName   = "config"
)

// fetcher carries the state of one Fetch call.
type fetcher struct {
	opts     Options
	mirror   string
	dist     string
	root     string // <cache>/distkernel
	client   *http.Client
	log      *slog.Logger
	progress *progress
	verifier *verifier
}

// Fetch returns Debian's riscv64 kernel of opts.Dist, verified and cached.
// A kernel already in the cache is returned at once unless opts.Refresh is
// set. Errors wrap ErrUnverified when something did not verify and
// ErrUnavailable when the mirror failed.
func Fetch(ctx context.Context, opts Options) (Kernel, error) {
	f, err := newFetcher(opts)
	if err != nil {
		return Kernel{}, err
	}
	if !opts.Refresh {
		if k, ok := f.cachedCurrent(); ok {
			f.log.Debug("cached distribution kernel", "dir", k.Dir)
			return k, nil
		}
	}
	k, err := f.fetch(ctx)
	if err != nil {
		return Kernel{}, fmt.Errorf("distkernel: %s %s kernel: %w", f.dist, Arch, err)
	}
	return k, nil
}

func newFetcher(opts Options) (*fetcher, error) {
	f := &fetcher{opts: opts, mirror: strings.TrimRight(opts.Mirror, "/"), dist: opts.Dist}
	if f.mirror == "" {
		f.mirror = DefaultMirror
	}
	if f.dist == "" {
		f.dist = DefaultDist
	}
	if !validName(f.dist) {
		return nil, fmt.Errorf("distkernel: bad distribution name %q", f.dist)
	}
	cache := opts.CacheDir
	if cache == "" {
		return nil, fmt.Errorf("distkernel: %w", kernel.ErrNoCacheDir)
	}
	f.root = filepath.Join(cache, "distkernel")
	f.client = opts.HTTPClient
	if f.client == nil {
		f.client = &http.Client{}
	}
	f.log = opts.Logger
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	w := opts.Progress
	if w == nil {
		w = os.Stderr
	}
	f.progress = &progress{w: w, enabled: opts.ShowProgress}
	return f, nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.+~_-]*$`)

// validName reports whether s is safe as a distribution name or a single
// path element made from package data.
func validName(s string) bool { return nameRE.MatchString(s) && !strings.Contains(s, "..") }

// pointerPath is the file naming the current cache entry for the dist.
func (f *fetcher) pointerPath() string {
	return filepath.Join(f.root, f.dist+"-"+Arch+".current")
}

// cachedCurrent returns the kernel the pointer file names, if it is whole.
func (f *fetcher) cachedCurrent() (Kernel, bool) {
	data, err := os.ReadFile(f.pointerPath())
	if err != nil {
		return Kernel{}, false
	}
	name := strings.TrimSpace(string(data))
	if name == "" || strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
		return Kernel{}, false
	}
	return f.loadEntry(filepath.Join(f.root, name))
}

// loadEntry reads a cache entry and checks that its files are there (the
// Image by size: entries are only ever renamed into place whole).
func (f *fetcher) loadEntry(dir string) (Kernel, bool) {
	data, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return Kernel{}, false
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		f.log.Warn("unreadable cache manifest", "dir", dir, "err", err)
		return Kernel{}, false
	}
	img := filepath.Join(dir, imageName)
	st, err := os.Stat(img)
	if err != nil || st.Size() != m.ImageSize {
		return Kernel{}, false
	}
	mods := filepath.Join(dir, "lib", "modules", m.KernelRelease)
	if st, err := os.Stat(mods); err != nil || !st.IsDir() || !validName(m.KernelRelease) {
		return Kernel{}, false
	}
	return Kernel{
		ImagePath:      img,
		ModulesDir:     mods,
		Version:        m.KernelRelease,
		Package:        m.Package,
		PackageVersion: m.PackageVersion,
		ImageFormat:    m.ImageFormat,
		ModulesDep:     m.ModulesDep,
		ConfigPath:     filepath.Join(dir, configName),
		Dir:            dir,
		Verified: fmt.Sprintf("%s: sha256 %s, listed in %s (sha256 %s), signed by %s in %s",
			path.Base(m.DebURL), m.DebSHA256, m.IndexURL, m.IndexSHA256, strings.Join(m.Signers, ", "), m.Release),
	}, true
}

// fetch does the whole job with the network.
func (f *fetcher) fetch(ctx context.Context) (Kernel, error) {
	if err := os.MkdirAll(f.root, 0o755); err != nil {
		return Kernel{}, fmt.Errorf("creating the cache: %w", err)
	}
	f.removeStale()
	gpgv, err := findTool(ctx, f.log, "gpgv", "gpgv", !f.opts.NoInstall)
	if err != nil {
		return Kernel{}, fmt.Errorf("%w (%w)", err, ErrUnverified)
	}
	keyrings := f.opts.Keyrings
	if len(keyrings) == 0 {
		if keyrings, err = defaultKeyrings(); err != nil {
			return Kernel{}, err
		}
	}
	f.verifier = &verifier{gpgv: gpgv, keyrings: keyrings, log: f.log}

	work, err := os.MkdirTemp(f.root, ".tmp-")
	if err != nil {
		return Kernel{}, fmt.Errorf("creating a work directory: %w", err)
	}
	defer os.RemoveAll(work)

	idx, err := f.verifiedIndex(ctx, work)
	if err != nil {
		return Kernel{}, err
	}
	pkg, err := f.selectKernel(ctx, idx)
	if err != nil {
		return Kernel{}, err
	}
	f.log.Info("selected kernel package", "package", pkg.Package, "version", pkg.Version, "release", idx.rel.describe())

	// Pool file names drop the epoch's colon too.
	entryName := pkg.Package + "_" + strings.ReplaceAll(pkg.Version, ":", "_")
	if !validName(entryName) {
		return Kernel{}, fmt.Errorf("unsafe package name or version %q", entryName)
	}
	final := filepath.Join(f.root, entryName)
	if k, ok := f.loadEntry(final); ok {
		f.log.Debug("kernel package already cached", "dir", final)
		return k, f.setCurrent(entryName)
	}
	k, err := f.fetchPackage(ctx, work, idx, pkg, entryName)
	if err != nil {
		return Kernel{}, err
	}
	return k, f.setCurrent(entryName)
}

// depmod builds modules.dep and the other module indexes in
// dir/lib/modules/<release>, as installing the package would, and reports
// whether it did. Without depmod the tree is still usable, by loading
// modules in dependency order by hand.
func (f *fetcher) depmod(ctx context.Context, dir, release string) bool {
	prog, err := exec.LookPath("depmod")
	if err != nil {
		for _, p := range []string{"/usr/sbin/depmod", "/sbin/depmod"} {
			if _, serr := os.Stat(p); serr == nil {
				prog, err = p, nil
				break
			}
		}
	}
	if err != nil {
		f.log.Warn("depmod not found (package kmod): the modules have no modules.dep")
		return false
	}
	f.progress.note("indexing the modules with depmod")
	out, err := exec.CommandContext(ctx, prog, "-b", dir, release).CombinedOutput()
	if err != nil {
		f.log.Warn("depmod failed: the modules have no modules.dep", "err", err, "output", lastLines(string(out), 3))
		return false
	}
	if _, err := os.Stat(filepath.Join(dir, "lib", "modules", release, "modules.dep")); err != nil {
		f.log.Warn("depmod made no modules.dep", "err", err)
		return false
	}
	return true
}

// removeStale deletes work directories left by interrupted fetches.
func (f *fetcher) removeStale() {
	entries, err := os.ReadDir(f.root)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".tmp-") {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
			p := filepath.Join(f.root, e.Name())
			f.log.Debug("removing a stale work directory", "dir", p)
			_ = os.RemoveAll(p)
		}
	}
}

// setCurrent atomically points the dist's pointer file at entry.
func (f *fetcher) setCurrent(entry string) error {
	tmp, err := os.CreateTemp(f.root, ".tmp-current-")
	if err != nil {
		return fmt.Errorf("recording the current kernel: %w", err)
	}
	_, werr := tmp.WriteString(entry + "\n")
	if err := tmp.Chmod(0o644); err != nil && werr == nil {
		werr = err
	}
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("recording the current kernel: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.pointerPath()); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("recording the current kernel: %w", err)
	}
	return nil
}

// verifiedRelease fetches and verifies dists/<dist>/InRelease, falling back
// to Release with Release.gpg.
func (f *fetcher) verifiedRelease(ctx context.Context, dist string) (*release, error) {
	base := f.mirror + "/dists/" + dist + "/"
	const limit = 64 << 20
	var errs []error
	name := "dists/" + dist + "/InRelease"
	if data, err := f.getBytes(ctx, base+"InRelease", limit); err != nil {
		errs = append(errs, err)
	} else if text, signers, err := f.verifier.verifyClearsigned(ctx, name, data); err != nil {
		errs = append(errs, err)
	} else if rel, err := parseRelease(text); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	} else {
		rel.Dist, rel.URL, rel.Signers = dist, base+"InRelease", signers
		return rel, nil
	}
	name = "dists/" + dist + "/Release"
	data, err := f.getBytes(ctx, base+"Release", limit)
	if err != nil {
		return nil, errors.Join(append(errs, err)...)
	}
	sig, err := f.getBytes(ctx, base+"Release.gpg", 1<<20)
	if err != nil {
		return nil, errors.Join(append(errs, err)...)
	}
	signers, err := f.verifier.verifyDetached(ctx, name, data, sig)
	if err != nil {
		return nil, errors.Join(append(errs, err)...)
	}
	rel, err := parseRelease(data)
	if err != nil {
		return nil, errors.Join(append(errs, fmt.Errorf("%s: %w", name, err))...)
	}
	rel.Dist, rel.URL, rel.Signers = dist, base+"Release", signers
	return rel, nil
}

// releases returns the verified Release files for f.dist, newest first:
// the dist's own, and the one under the other name (suite or codename) that
// its signed fields give, when that one is signed for the same codename.
func (f *fetcher) releases(ctx context.Context) ([]*release, error) {
	f.progress.note("verifying the %s Release file", f.dist)
	primary, err := f.verifiedRelease(ctx, f.dist)
	if err != nil {
		return nil, err
	}
	if primary.Codename != f.dist && primary.Suite != f.dist {
		return nil, fmt.Errorf("dists/%s is signed for %q (%s), not %q: %w",
			f.dist, primary.Codename, primary.Suite, f.dist, ErrUnverified)
	}
	out := []*release{primary}
	for _, alias := range []string{primary.Suite, primary.Codename} {
		if alias == "" || alias == f.dist || !validName(alias) {
			continue
		}
		rel, err := f.verifiedRelease(ctx, alias)
		if err != nil {
			f.log.Debug("alias Release unusable", "dist", alias, "err", err)
			continue
		}
		if rel.Codename != primary.Codename {
			f.log.Debug("alias Release is for another codename", "dist", alias, "codename", rel.Codename)
			continue
		}
		if string(rel.Text) == string(primary.Text) {
			continue
		}
		out = append(out, rel)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Date.After(out[j].Date) })
	now := time.Now()
	var valid []*release
	var errs []error
	for _, r := range out {
		if !r.ValidUntil.IsZero() && now.After(r.ValidUntil) {
			errs = append(errs, fmt.Errorf("%s expired on %s: %w", r.URL, r.ValidUntil.Format(time.RFC3339), ErrUnverified))
			continue
		}
		valid = append(valid, r)
	}
	if len(valid) == 0 {
		return nil, errors.Join(errs...)
	}
	return valid, nil
}

// index is a verified Packages index, downloaded to a local file as served
// (compressed or not).
type index struct {
	rel         *release
	path        string // local file
	compression string // "gzip", "xz" or ""
	url         string
	sum         fileSum
}

// indexName is the Release path of a Packages index.
func indexName(ext string) string {
	return Component + "/binary-" + Arch + "/Packages" + ext
}

// verifiedIndex finds a Packages index whose size and SHA-256 match a
// verified Release: for each Release (newest first) and each compression,
// the canonical path and then by-hash.
func (f *fetcher) verifiedIndex(ctx context.Context, work string) (*index, error) {
	rels, err := f.releases(ctx)
	if err != nil {
		return nil, err
	}
	type got struct {
		path string
		sum  fileSum
		err  error
	}
	fetched := map[string]got{} // by URL: the same file is listed by several Releases
	maxSize := map[string]int64{}
	for _, rel := range rels {
		for name, sum := range rel.Files {
			maxSize[name] = max(maxSize[name], sum.Size)
		}
	}
	var failures []error
	n := 0
	for _, rel := range rels {
		for _, c := range []struct{ ext, compression string }{{".xz", "xz"}, {".gz", "gzip"}, {"", ""}} {
			name := indexName(c.ext)
			want, ok := rel.Files[name]
			if !ok {
				continue
			}
			if c.compression == "xz" {
				if _, err := exec.LookPath("xz"); err != nil {
					continue
				}
			}
			base := f.mirror + "/dists/" + rel.Dist + "/"
			urls := []string{base + name}
			if rel.AcquireByHash {
				urls = append(urls, base+path.Dir(name)+"/by-hash/SHA256/"+want.SHA256)
			}
			for _, u := range urls {
				g, ok := fetched[u]
				if !ok {
					n++
					p := filepath.Join(work, fmt.Sprintf("index-%d", n))
					s, err := f.download(ctx, u, p, path.Base(name), maxSize[name])
					g = got{path: p, sum: s, err: err}
					fetched[u] = g
				}
				if g.err != nil {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					failures = append(failures, fmt.Errorf("%s (signed in %s): %w", name, rel.describe(), g.err))
					continue
				}
				if err := checkSum(name, u, want, g.sum); err != nil {
					failures = append(failures, fmt.Errorf("%w (signed in %s)", err, rel.describe()))
					continue
				}
				if rel != rels[0] {
					f.progress.note("the mirror's index does not match %s; verified it against %s instead", rels[0].URL, rel.URL)
					f.log.Warn("the newest signed Release does not match the mirror's index; using an older signed Release of the same codename",
						"newest", rels[0].describe(), "used", rel.describe())
				}
				f.log.Info("verified package index", "url", u, "sha256", g.sum.SHA256, "release", rel.describe())
				return &index{rel: rel, path: g.path, compression: c.compression, url: u, sum: g.sum}, nil
			}
		}
	}
	return nil, fmt.Errorf("no %s index matched a signed Release (nothing was used): %w: %w",
		indexName(""), ErrUnverified, errors.Join(failures...))
}

// open returns the decompressed content of the index.
func (ix *index) open(ctx context.Context) (io.ReadCloser, error) {
	file, err := os.Open(ix.path)
	if err != nil {
		return nil, fmt.Errorf("opening the index: %w", err)
	}
	switch ix.compression {
	case "":
		return file, nil
	case "gzip":
		zr, err := gzip.NewReader(file)
		if err != nil {
			file.Close()
			return nil, fmt.Errorf("decompressing the index: %w", err)
		}
		return struct {
			io.Reader
			io.Closer
		}{zr, file}, nil
	case "xz":
		cmd := exec.CommandContext(ctx, "xz", "-dc")
		cmd.Stdin = file
		out, err := cmd.StdoutPipe()
		if err != nil {
			file.Close()
			return nil, fmt.Errorf("decompressing the index: %w", err)
		}
		if err := cmd.Start(); err != nil {
			file.Close()
			return nil, fmt.Errorf("decompressing the index: starting xz: %w", err)
		}
		return &cmdReader{Reader: out, cmd: cmd, file: file}, nil
	}
	file.Close()
	return nil, fmt.Errorf("unknown index compression %q", ix.compression)
}

// cmdReader reads a command's output and waits for it on Close.
type cmdReader struct {
	io.Reader
	cmd  *exec.Cmd
	file *os.File
}

// Close drains the output, waits for the command and closes its input.
func (c *cmdReader) Close() error {
	_, _ = io.Copy(io.Discard, c.Reader)
	err := c.cmd.Wait()
	c.file.Close()
	if err != nil {
		return fmt.Errorf("xz: %w", err)
	}
	return nil
}

// kernelPackageRE matches a versioned kernel image package, such as
// linux-image-6.12.107+deb13-riscv64 (not the meta package, not -dbg).
var kernelPackageRE = regexp.MustCompile(`^linux-image-[0-9][a-z0-9.+~-]*-` + Arch + `$`)

// selectKernel finds the kernel package in the index: the versioned package
// that the newest meta package linux-image-riscv64 depends on, or, without
// a meta package, the newest versioned kernel package.
func (f *fetcher) selectKernel(ctx context.Context, ix *index) (pkgEntry, error) {
	r, err := ix.open(ctx)
	if err != nil {
		return pkgEntry{}, err
	}
	entries, perr := parsePackages(r, func(name string) bool { return strings.HasPrefix(name, "linux-image-") })
	cerr := r.Close()
	if perr != nil {
		return pkgEntry{}, fmt.Errorf("%s: %w", ix.url, perr)
	}
	if cerr != nil {
		return pkgEntry{}, fmt.Errorf("%s: %w", ix.url, cerr)
	}
	return chooseKernel(entries)
}

// chooseKernel implements selectKernel on parsed entries.
func chooseKernel(entries []pkgEntry) (pkgEntry, error) {
	newest := func(match func(pkgEntry) bool) (pkgEntry, bool) {
		var best pkgEntry
		found := false
		for _, e := range entries {
			if e.Architecture != Arch || !match(e) {
				continue
			}
			if !found || compareVersions(e.Version, best.Version) > 0 ||
				(compareVersions(e.Version, best.Version) == 0 && compareVersions(e.Package, best.Package) > 0) {
				best, found = e, true
			}
		}
		return best, found
	}
	var chosen pkgEntry
	meta, ok := newest(func(e pkgEntry) bool { return e.Package == metaPackage })
	if ok {
		groups, err := parseDepends(meta.Depends)
		if err != nil {
			return pkgEntry{}, fmt.Errorf("%s %s Depends: %w", meta.Package, meta.Version, err)
		}
		var dep *dependency
		for _, g := range groups {
			for i := range g {
				if kernelPackageRE.MatchString(g[i].Name) {
					dep = &g[i]
					break
				}
			}
			if dep != nil {
				break
			}
		}
		if dep == nil {
			return pkgEntry{}, fmt.Errorf("%s %s depends on no kernel package (Depends: %s)", meta.Package, meta.Version, meta.Depends)
		}
		chosen, ok = newest(func(e pkgEntry) bool {
			return e.Package == dep.Name && (dep.Op != "=" || compareVersions(e.Version, dep.Version) == 0)
		})
		if !ok {
			return pkgEntry{}, fmt.Errorf("%s %s depends on %s (%s %s), which is not in the index", meta.Package, meta.Version, dep.Name, dep.Op, dep.Version)
		}
	} else {
		chosen, ok = newest(func(e pkgEntry) bool { return kernelPackageRE.MatchString(e.Package) })
		if !ok {
			return pkgEntry{}, fmt.Errorf("no %s kernel package in the index", Arch)
		}
	}
	if err := checkEntry(chosen); err != nil {
		return pkgEntry{}, err
	}
	return chosen, nil
}

// checkEntry rejects a package entry that cannot be fetched safely.
func checkEntry(e pkgEntry) error {
	switch {
	case !hexSHA256.MatchString(e.SHA256):
		return fmt.Errorf("package %s %s has no valid SHA256 in the index: %w", e.Package, e.Version, ErrUnverified)
	case e.Size <= 0:
		return fmt.Errorf("package %s %s has no Size in the index", e.Package, e.Version)
	case !strings.HasPrefix(e.Filename, "pool/") || path.Clean(e.Filename) != e.Filename || strings.Contains(e.Filename, "..") || !strings.HasSuffix(e.Filename, ".deb"):
		return fmt.Errorf("package %s %s has an unexpected Filename %q", e.Package, e.Version, e.Filename)
	case !validName(strings.ReplaceAll(e.Version, ":", "_")):
		return fmt.Errorf("package %s has an unexpected Version %q", e.Package, e.Version)
	}
	return nil
}

// fetchPackage downloads, verifies and unpacks the kernel package into a
// new cache entry.
func (f *fetcher) fetchPackage(ctx context.Context, work string, ix *index, pkg pkgEntry, entryName string) (Kernel, error) {
	dpkgDeb, err := exec.LookPath("dpkg-deb")
	if err != nil {
		return Kernel{}, fmt.Errorf("dpkg-deb (package dpkg) is needed to unpack the kernel: %w", err)
	}
	url := f.mirror + "/" + pkg.Filename
	deb := filepath.Join(work, "kernel.deb")
	f.log.Info("downloading kernel package", "url", url, "size", pkg.Size)
	got, err := f.download(ctx, url, deb, pkg.Package, pkg.Size)
	if err != nil {
		return Kernel{}, err
	}
	if err := checkSum(path.Base(pkg.Filename), url, fileSum{Size: pkg.Size, SHA256: pkg.SHA256}, got); err != nil {
		return Kernel{}, err
	}
	f.log.Info("verified kernel package", "package", pkg.Package, "sha256", got.SHA256)
	f.progress.note("verified %s %s; unpacking", pkg.Package, pkg.Version)

	stage := filepath.Join(work, "entry")
	if err := os.Mkdir(stage, 0o755); err != nil {
		return Kernel{}, fmt.Errorf("creating the cache entry: %w", err)
	}
	ex, err := extractDeb(ctx, dpkgDeb, deb, stage)
	if err != nil {
		return Kernel{}, err
	}
	if !validName(ex.Release) {
		return Kernel{}, fmt.Errorf("unexpected kernel release %q in %s", ex.Release, ex.RawImageName)
	}
	depmod := f.depmod(ctx, stage, ex.Release)
	desc, err := rawImage(ctx, filepath.Join(stage, "vmlinuz.raw"), filepath.Join(stage, imageName))
	if err != nil {
		return Kernel{}, fmt.Errorf("%s in %s: %w", ex.RawImageName, pkg.Package, err)
	}
	imgSum, err := sumFile(filepath.Join(stage, imageName))
	if err != nil {
		return Kernel{}, err
	}
	m := manifest{
		Package: pkg.Package, PackageVersion: pkg.Version, KernelRelease: ex.Release,
		DebURL: url, DebSize: got.Size, DebSHA256: got.SHA256,
		PackagedImage: ex.RawImageName, ImageFormat: desc,
		ImageSize: imgSum.Size, ImageSHA256: imgSum.SHA256,
		Modules: ex.Modules, ModulesPrefix: ex.ModulesPrefix, ModulesDep: depmod,
		Release: ix.rel.describe(), Signers: ix.rel.Signers,
		IndexURL: ix.url, IndexSHA256: ix.sum.SHA256,
		Fetched: time.Now().UTC(),
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Kernel{}, fmt.Errorf("writing the manifest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(stage, manifestName), append(data, '\n'), 0o644); err != nil {
		return Kernel{}, fmt.Errorf("writing the manifest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(stage, "Release.verified"), ix.rel.Text, 0o644); err != nil {
		return Kernel{}, fmt.Errorf("keeping the Release file: %w", err)
	}
	final := filepath.Join(f.root, entryName)
	if err := os.Rename(stage, final); err != nil {
		// Another Fetch may have finished the same entry first.
		if k, ok := f.loadEntry(final); ok {
			return k, nil
		}
		return Kernel{}, fmt.Errorf("installing the cache entry: %w", err)
	}
	k, ok := f.loadEntry(final)
	if !ok {
		return Kernel{}, fmt.Errorf("the new cache entry %s is incomplete", final)
	}
	f.log.Info("cached distribution kernel", "dir", final, "format", desc, "modules", ex.Modules)
	f.progress.note("%s %s ready: %s", pkg.Package, pkg.Version, final)
	return k, nil
}
