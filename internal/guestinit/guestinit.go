// Package guestinit provides Juice's guest init (guest/init, PID 1 of every
// appliance) as a linux/riscv64 binary, from the juice binary itself rather
// than from a source tree:
//
//   - Built with the build tag juice_prebuilt_init (make build, make
//     install), the binary embeds an init cross-compiled beforehand (the
//     gitignored prebuilt/init-riscv64, which the Makefile writes), so no
//     Go toolchain is needed at run time.
//   - Otherwise (go install, go build, go test), the binary embeds the
//     init's Go sources (package github.com/juicevm/juice, sources.go). On
//     first use they are written to a folder of the Juice cache named by
//     their hash, with a go.mod and go.sum holding only what the init
//     needs, and cross-compiled there with the Go toolchain found in PATH;
//     the binary is cached under a hash of the sources and the toolchain.
//
// Either way the init is the one of the juice binary's own version: editing
// guest/init takes effect when juice (or a test binary) is rebuilt.
package guestinit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/juicevm/juice/internal/kernel"
	"github.com/juicevm/juice/internal/outfile"
)

// Module is the module path of Juice.
const Module = "github.com/juicevm/juice"

// Dir is the folder of the init's main package in the module.
const Dir = "guest/init"

// cacheVersion is part of every cached build's key: bump it when the way
// the sources are laid out or built changes.
const cacheVersion = "guestinit-1"

// Source says where the init comes from.
type Source string

const (
	// Prebuilt is an init cross-compiled when juice was built (the build
	// tag juice_prebuilt_init) and embedded in it.
	Prebuilt Source = "prebuilt"
	// EmbeddedSources is an init cross-compiled, on first use, from the Go
	// sources embedded in juice, with the Go toolchain in PATH.
	EmbeddedSources Source = "embedded-sources"
)

// Describe says in a few words where the init comes from.
func (s Source) Describe() string {
	switch s {
	case Prebuilt:
		return "prebuilt, embedded in juice"
	case EmbeddedSources:
		return "built on first use from the Go sources embedded in juice, with the Go in PATH, then cached"
	}
	return string(s)
}

// Which reports where Binary gets the init in this juice binary.
func Which() Source {
	if hasPrebuilt {
		return Prebuilt
	}
	return EmbeddedSources
}

// ErrNoGo is returned (wrapped) when the init must be built from the
// embedded sources and no Go toolchain is found.
var ErrNoGo = errors.New("juice was built without a prebuilt init (go install); building the guest init needs Go in PATH; or build juice with make install")

// Options configures Binary.
type Options struct {
	// CacheDir is the Juice cache directory (required to build the init
	// from its sources).
	CacheDir string
	// GoTool is the go command that builds the init from the embedded
	// sources. Empty means "go" found in PATH.
	GoTool string
	// Logger receives logs. Nil discards them.
	Logger *slog.Logger
}

// Init is the guest init and where it came from.
type Init struct {
	// Binary is the static linux/riscv64 executable.
	Binary []byte
	// Source says where it came from.
	Source Source
	// Cached is set when it was taken from the Juice cache rather than
	// built.
	Cached bool
}

// Binary returns the guest init's linux/riscv64 executable.
func Binary(ctx context.Context, opts Options) ([]byte, error) {
	in, err := Get(ctx, opts)
	return in.Binary, err
}

// Get returns the guest init, with where it came from.
func Get(ctx context.Context, opts Options) (Init, error) {
	if hasPrebuilt {
		if !isRISCV64ELF(prebuilt) {
			return Init{}, errors.New("guest init: the prebuilt init embedded in juice is not a riscv64 ELF executable (rebuild juice with make build)")
		}
		return Init{Binary: prebuilt, Source: Prebuilt}, nil
	}
	return fromSources(ctx, sources, opts)
}

// isRISCV64ELF reports whether b starts like a 64-bit little-endian RISC-V
// ELF file.
func isRISCV64ELF(b []byte) bool {
	return len(b) > 20 && bytes.HasPrefix(b, []byte("\x7fELF\x02\x01")) && b[18] == 243 && b[19] == 0 // EM_RISCV
}

// fromSources builds the init from fsys, which holds go.mod, go.sum and
// the .go files of the init's packages laid out as in the module.
func fromSources(ctx context.Context, fsys fs.FS, opts Options) (Init, error) {
	fail := func(err error) (Init, error) { return Init{}, fmt.Errorf("guest init: %w", err) }
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cacheDir := opts.CacheDir
	if cacheDir == "" {
		return fail(kernel.ErrNoCacheDir)
	}
	tree, err := sourceTree(fsys)
	if err != nil {
		return fail(err)
	}
	goTool := opts.GoTool
	if goTool == "" {
		p, err := exec.LookPath("go")
		if err != nil {
			return Init{}, ErrNoGo
		}
		goTool = p
	}

	srcKey := tree.hash()
	src := filepath.Join(cacheDir, "guestinit", "src", srcKey)
	if err := tree.writeTo(src); err != nil {
		return fail(fmt.Errorf("writing the init's sources to %s: %w", src, err))
	}
	env := buildEnv()
	envCmd := exec.CommandContext(ctx, goTool, "env", "GOVERSION", "GOROOT", "GOEXPERIMENT", "GORISCV64", "GOFLAGS")
	envCmd.Dir, envCmd.Env = src, env
	var stderr bytes.Buffer
	envCmd.Stderr = &stderr
	goEnv, err := envCmd.Output()
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return Init{}, fmt.Errorf("%w (%s: %v)", ErrNoGo, goTool, err)
		}
		return fail(fmt.Errorf("%s env: %v: %s", goTool, err, strings.TrimSpace(stderr.String())))
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\nsources %s\nenv %q\n", cacheVersion, srcKey, goEnv)
	binFile := filepath.Join(cacheDir, "guestinit", "bin", hex.EncodeToString(h.Sum(nil)[:16]))
	if b, err := os.ReadFile(binFile); err == nil && isRISCV64ELF(b) {
		log.Debug("guest init from the cache", "file", binFile)
		return Init{Binary: b, Source: EmbeddedSources, Cached: true}, nil
	}

	log.Info("building the guest init from the sources embedded in juice", "go", goTool, "dir", src)
	tmp, err := os.MkdirTemp("", "juice-guestinit-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "init")
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", out,
		"-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "./"+Dir)
	cmd.Dir, cmd.Env = src, env
	stderr.Reset()
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fail(fmt.Errorf("cross-compiling %s in %s with %s: %v\n%s", Dir, src, goTool, err, strings.TrimSpace(stderr.String())))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return fail(err)
	}
	if !isRISCV64ELF(b) {
		return fail(fmt.Errorf("%s build gave no riscv64 ELF executable", goTool))
	}
	if err := writeAtomic(binFile, b, 0o755); err != nil {
		log.Warn("could not keep the guest init in the cache", "err", err) // a cache: no error
	}
	return Init{Binary: b, Source: EmbeddedSources}, nil
}

// buildEnv is the environment of the init's build: the caller's, for a
// static linux/riscv64 binary, with the module as the cache folder lays it
// out (no workspace, go.mod and go.sum as they are).
func buildEnv() []string {
	return append(os.Environ(), "GOOS=linux", "GOARCH=riscv64", "CGO_ENABLED=0",
		"GOWORK=off", "GOFLAGS=-mod=readonly")
}

// tree is the set of files of a module folder: slash path → contents.
type tree map[string][]byte

// sourceTree returns the files to build the init from: the .go files of
// fsys but its _test.go files, with a go.mod that requires only the
// modules they import (from fsys's go.mod) and a go.sum of only those
// modules' lines (from fsys's go.sum).
func sourceTree(fsys fs.FS) (tree, error) {
	if fsys == nil {
		return nil, errors.New("juice holds neither a prebuilt init nor the init's sources")
	}
	t := tree{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || p == "go.mod" || p == "go.sum" || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		t[p] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(t) == 0 {
		return nil, errors.New("juice holds no sources of the init")
	}
	if _, ok := t[Dir+"/main.go"]; !ok {
		return nil, fmt.Errorf("the embedded sources lack %s/main.go", Dir)
	}
	gomod, err := fs.ReadFile(fsys, "go.mod")
	if err != nil {
		return nil, err
	}
	gosum, err := fs.ReadFile(fsys, "go.sum")
	if err != nil {
		return nil, err
	}
	imports, err := t.imports()
	if err != nil {
		return nil, err
	}
	mod, sum, err := minimalModule(gomod, gosum, imports)
	if err != nil {
		return nil, err
	}
	t["go.mod"], t["go.sum"] = mod, sum
	return t, nil
}

// imports returns the import paths of the tree's .go files, sorted.
func (t tree) imports() ([]string, error) {
	seen := map[string]bool{}
	fset := token.NewFileSet()
	for name, src := range t {
		if !strings.HasSuffix(name, ".go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
		if err != nil {
			return nil, err
		}
		for _, im := range f.Imports {
			p, err := strconv.Unquote(im.Path.Value)
			if err != nil {
				return nil, fmt.Errorf("%s: import %s: %w", name, im.Path.Value, err)
			}
			seen[p] = true
		}
	}
	list := make([]string, 0, len(seen))
	for p := range seen {
		list = append(list, p)
	}
	sort.Strings(list)
	return list, nil
}

// requirement is one require line of a go.mod.
type requirement struct{ path, version string }

// minimalModule returns a go.mod for module Module with gomod's go
// version and only the requirements of gomod that provide the imports
// outside the standard library and Module, and the lines of gosum for
// those modules.
func minimalModule(gomod, gosum []byte, imports []string) (mod, sum []byte, err error) {
	goVersion, reqs, err := parseGoMod(gomod)
	if err != nil {
		return nil, nil, err
	}
	needed := map[requirement]bool{}
	for _, im := range imports {
		first, _, _ := strings.Cut(im, "/")
		if !strings.Contains(first, ".") || im == Module || strings.HasPrefix(im, Module+"/") {
			continue // the standard library, or Juice itself
		}
		var best requirement
		for _, r := range reqs {
			if (im == r.path || strings.HasPrefix(im, r.path+"/")) && len(r.path) > len(best.path) {
				best = r
			}
		}
		if best.path == "" {
			return nil, nil, fmt.Errorf("the init imports %s, which no requirement of go.mod provides", im)
		}
		needed[best] = true
	}
	list := make([]requirement, 0, len(needed))
	for r := range needed {
		list = append(list, r)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].path < list[j].path })

	var m bytes.Buffer
	fmt.Fprintf(&m, "module %s\n\ngo %s\n", Module, goVersion)
	if len(list) > 0 {
		m.WriteString("\nrequire (\n")
		for _, r := range list {
			fmt.Fprintf(&m, "\t%s %s\n", r.path, r.version)
		}
		m.WriteString(")\n")
	}
	var s bytes.Buffer
	for _, r := range list {
		var found [2]bool
		sc := bufio.NewScanner(bytes.NewReader(gosum))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 3 || f[0] != r.path {
				continue
			}
			switch f[1] {
			case r.version:
				found[0] = true
			case r.version + "/go.mod":
				found[1] = true
			default:
				continue
			}
			s.WriteString(strings.Join(f, " ") + "\n")
		}
		if !found[0] || !found[1] {
			return nil, nil, fmt.Errorf("go.sum lacks the lines of %s %s", r.path, r.version)
		}
	}
	return m.Bytes(), s.Bytes(), nil
}

// parseGoMod reads the go version and the requirements of a go.mod. It
// knows the directives Juice's go.mod uses and refuses replace and
// exclude, whose effect it would lose.
func parseGoMod(data []byte) (goVersion string, reqs []requirement, err error) {
	var block string // the directive of the ( ... ) block we are in
	for n, line := range strings.Split(string(data), "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func() (string, []requirement, error) {
			return "", nil, fmt.Errorf("go.mod:%d: cannot read %q", n+1, strings.TrimSpace(line))
		}
		if block != "" {
			if f[0] == ")" {
				block = ""
				continue
			}
			if block == "require" {
				if len(f) != 2 {
					return bad()
				}
				reqs = append(reqs, requirement{strings.Trim(f[0], `"`), f[1]})
			}
			continue
		}
		switch f[0] {
		case "module":
			if len(f) != 2 || strings.Trim(f[1], `"`) != Module {
				return "", nil, fmt.Errorf("go.mod:%d: module is not %s", n+1, Module)
			}
		case "go":
			if len(f) != 2 {
				return bad()
			}
			goVersion = f[1]
		case "toolchain", "godebug", "tool", "ignore", "retract":
			if len(f) == 2 && f[1] == "(" {
				block = f[0]
			}
		case "require":
			switch {
			case len(f) == 2 && f[1] == "(":
				block = "require"
			case len(f) == 3:
				reqs = append(reqs, requirement{strings.Trim(f[1], `"`), f[2]})
			default:
				return bad()
			}
		case "replace", "exclude":
			return "", nil, fmt.Errorf("go.mod:%d: %s directives are not carried into the init's module", n+1, f[0])
		default:
			return bad()
		}
	}
	if goVersion == "" {
		return "", nil, errors.New("go.mod has no go directive")
	}
	return goVersion, reqs, nil
}

// hash names the tree by the SHA-256 of its file names and contents.
func (t tree) hash() string {
	names := t.names()
	h := sha256.New()
	for _, name := range names {
		fmt.Fprintf(h, "file %q %d\n", name, len(t[name]))
		h.Write(t[name])
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// names returns the tree's file names, sorted.
func (t tree) names() []string {
	names := make([]string, 0, len(t))
	for name := range t {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// writeTo makes dir hold the tree: an existing folder whose files are the
// tree's is kept; otherwise the tree is written beside it and renamed into
// its place, so that a build never sees a partial tree.
func (t tree) writeTo(dir string) error {
	if t.isAt(dir) {
		return nil
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, ".tmp-"+filepath.Base(dir)+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, name := range t.names() {
		p := filepath.Join(tmp, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, t[name], 0o644); err != nil {
			return err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err == nil {
		return nil
	}
	// Another juice may have written it meanwhile; or what is there is
	// damaged and goes.
	if t.isAt(dir) {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// isAt reports whether dir holds the tree's files, and no other .go file.
func (t tree) isAt(dir string) bool {
	for name, want := range t {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil || !bytes.Equal(got, want) {
			return false
		}
	}
	extra := false
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || extra {
			return filepath.SkipAll
		}
		rel, rerr := filepath.Rel(dir, p)
		if rerr == nil && !d.IsDir() && path.Ext(p) == ".go" {
			if _, ok := t[filepath.ToSlash(rel)]; !ok {
				extra = true
			}
		}
		return nil
	})
	return !extra
}

// writeAtomic writes data to p through a temporary file and a rename,
// creating p's folder.
func writeAtomic(p string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return outfile.WriteFile(p, data, outfile.Options{Perm: perm})
}
