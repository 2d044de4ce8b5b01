package guestinit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	juice "github.com/juicevm/juice"
)

// moduleRoot is the root of the source tree the tests run in.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	return root
}

// needGo skips the test without a Go toolchain in PATH.
func needGo(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go in PATH")
	}
}

// listedPackage is what the tests read of `go list -json`.
type listedPackage struct {
	ImportPath                                                string
	Dir                                                       string
	Standard                                                  bool
	GoFiles, CgoFiles, SFiles, HFiles, SysoFiles, EmbedFiles  []string
	CFiles, CXXFiles, MFiles, FFiles, SwigFiles, SwigCXXFiles []string
	Module                                                    *struct{ Path, Version string }
}

// TestEmbeddedSourcesComplete fails when guest/init is built from a
// package of this module, or a file, that package juice (sources.go) does
// not embed, or from a module that the init's minimal go.mod does not
// require: add the package's folder to the go:embed lines of sources.go.
func TestEmbeddedSourcesComplete(t *testing.T) {
	needGo(t)
	root := moduleRoot(t)
	cmd := exec.Command("go", "list", "-deps", "-json", "./"+Dir)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=riscv64", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	tr, err := sourceTree(juice.InitSources)
	if err != nil {
		t.Fatal(err)
	}
	_, reqs, err := parseGoMod(tr["go.mod"])
	if err != nil {
		t.Fatal(err)
	}
	required := map[string]string{}
	for _, r := range reqs {
		required[r.path] = r.version
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	own := 0
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Standard {
			continue
		}
		if p.Module == nil {
			t.Errorf("package %s is in no module", p.ImportPath)
			continue
		}
		if p.Module.Path != Module {
			if v, ok := required[p.Module.Path]; !ok || v != p.Module.Version {
				t.Errorf("guest/init uses package %s of module %s %s, which the init's go.mod does not require (it requires %q)",
					p.ImportPath, p.Module.Path, p.Module.Version, v)
			}
			continue
		}
		own++
		rel, err := filepath.Rel(root, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		rel = filepath.ToSlash(rel)
		if len(p.CgoFiles)+len(p.CFiles)+len(p.CXXFiles)+len(p.MFiles)+len(p.FFiles)+len(p.SwigFiles)+len(p.SwigCXXFiles) > 0 {
			t.Errorf("package %s has cgo, C, C++ or other non-Go files: the init must be pure Go", p.ImportPath)
		}
		var files []string
		for _, list := range [][]string{p.GoFiles, p.SFiles, p.HFiles, p.SysoFiles, p.EmbedFiles} {
			files = append(files, list...)
		}
		for _, f := range files {
			name := path.Join(rel, f)
			if _, ok := tr[name]; !ok {
				if _, err := fs.Stat(juice.InitSources, rel); err != nil {
					t.Errorf("guest/init imports %s, whose folder %s package juice does not embed: add //go:embed %s/*.go to sources.go", p.ImportPath, rel, rel)
					break
				}
				t.Errorf("package juice does not embed %s, a file of %s: add it to the go:embed lines of sources.go", name, p.ImportPath)
			}
		}
	}
	if own < 2 {
		t.Fatalf("go list reported %d packages of the module; want guest/init and what it imports", own)
	}
	// The other way round: nothing embedded that the init does not use.
	dirs := map[string]bool{}
	for name := range tr {
		dirs[path.Dir(name)] = true
	}
	delete(dirs, ".")
	dec = json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			break
		}
		if rel, err := filepath.Rel(root, p.Dir); err == nil && !p.Standard {
			delete(dirs, filepath.ToSlash(rel))
		}
	}
	for d := range dirs {
		t.Errorf("package juice embeds %s, which guest/init does not use: drop it from sources.go", d)
	}
}

func TestMinimalModule(t *testing.T) {
	gomod := []byte(`module github.com/juicevm/juice

go 1.26.8

toolchain go1.26.8

require (
	example.com/a v1.2.0
	example.com/a/b v0.1.0 // indirect
	golang.org/x/sys v0.50.0
)

require example.com/unused v1.0.0 // indirect
`)
	gosum := []byte(`example.com/a v1.2.0 h1:AAA=
example.com/a v1.2.0/go.mod h1:AAB=
example.com/a v1.1.0/go.mod h1:OLD=
example.com/a/b v0.1.0 h1:BBB=
example.com/a/b v0.1.0/go.mod h1:BBC=
example.com/unused v1.0.0 h1:UUU=
example.com/unused v1.0.0/go.mod h1:UUV=
golang.org/x/sys v0.50.0 h1:SSS=
golang.org/x/sys v0.50.0/go.mod h1:SST=
`)
	mod, sum, err := minimalModule(gomod, gosum, []string{"fmt", "net/http", Module + "/internal/dhcpmsg", "golang.org/x/sys/unix", "example.com/a/b/c"})
	if err != nil {
		t.Fatal(err)
	}
	wantMod := "module github.com/juicevm/juice\n\ngo 1.26.8\n\nrequire (\n\texample.com/a/b v0.1.0\n\tgolang.org/x/sys v0.50.0\n)\n"
	if string(mod) != wantMod {
		t.Errorf("go.mod:\n%s\nwant:\n%s", mod, wantMod)
	}
	wantSum := "example.com/a/b v0.1.0 h1:BBB=\nexample.com/a/b v0.1.0/go.mod h1:BBC=\ngolang.org/x/sys v0.50.0 h1:SSS=\ngolang.org/x/sys v0.50.0/go.mod h1:SST=\n"
	if string(sum) != wantSum {
		t.Errorf("go.sum:\n%s\nwant:\n%s", sum, wantSum)
	}

	mod, sum, err = minimalModule(gomod, gosum, []string{"os"})
	if err != nil || string(mod) != "module github.com/juicevm/juice\n\ngo 1.26.8\n" || len(sum) != 0 {
		t.Errorf("no requirements: %q %q %v", mod, sum, err)
	}
	if _, _, err := minimalModule(gomod, gosum, []string{"example.org/x"}); err == nil || !strings.Contains(err.Error(), "example.org/x") {
		t.Errorf("an import no requirement provides: %v", err)
	}
	if _, _, err := minimalModule(gomod, []byte("golang.org/x/sys v0.50.0 h1:SSS=\n"), []string{"golang.org/x/sys/unix"}); err == nil || !strings.Contains(err.Error(), "go.sum lacks") {
		t.Errorf("a go.sum without the go.mod line: %v", err)
	}
	for _, bad := range []string{
		"module example.com/other\n\ngo 1.26\n",
		"module github.com/juicevm/juice\n",
		"module github.com/juicevm/juice\n\ngo 1.26\n\nreplace golang.org/x/sys => ../sys\n",
		"module github.com/juicevm/juice\n\ngo 1.26\n\nfrobnicate\n",
	} {
		if _, _, err := minimalModule([]byte(bad), gosum, nil); err == nil {
			t.Errorf("go.mod %q: no error", bad)
		}
	}
}

// TestSourceTree checks what is written to the cache: no test files, the
// minimal go.mod and go.sum, and a name that follows the contents.
func TestSourceTree(t *testing.T) {
	tr, err := sourceTree(juice.InitSources)
	if err != nil {
		t.Fatal(err)
	}
	for name := range tr {
		if strings.HasSuffix(name, "_test.go") {
			t.Errorf("test file %s in the tree", name)
		}
	}
	if _, ok := tr[Dir+"/main.go"]; !ok {
		t.Errorf("no %s/main.go", Dir)
	}
	if !bytes.Contains(tr["go.mod"], []byte("golang.org/x/sys")) || bytes.Contains(tr["go.mod"], []byte("cobra")) {
		t.Errorf("go.mod:\n%s", tr["go.mod"])
	}
	h := tr.hash()
	tr[Dir+"/main.go"] = append([]byte(nil), tr[Dir+"/main.go"]...)
	tr[Dir+"/main.go"][0] ^= 1
	if tr.hash() == h {
		t.Error("the tree's hash does not follow its contents")
	}

	dir := filepath.Join(t.TempDir(), "src")
	if err := tr.writeTo(dir); err != nil {
		t.Fatal(err)
	}
	if !tr.isAt(dir) {
		t.Fatal("written tree not found")
	}
	os.WriteFile(filepath.Join(dir, Dir, "extra.go"), []byte("package main\n"), 0o644)
	if tr.isAt(dir) {
		t.Fatal("a stray .go file went unnoticed")
	}
	if err := tr.writeTo(dir); err != nil || !tr.isAt(dir) {
		t.Fatalf("rewriting a damaged tree: %v", err)
	}

	if _, err := sourceTree(fstest.MapFS{"go.mod": {Data: []byte("module x\n")}}); err == nil {
		t.Error("sources without the init: no error")
	}
}

// TestNoGoInPath: with neither a prebuilt init nor Go, the error says what
// to do.
func TestNoGoInPath(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := fromSources(context.Background(), juice.InitSources, Options{CacheDir: t.TempDir()})
	if !errors.Is(err, ErrNoGo) || !strings.Contains(err.Error(), "needs Go in PATH") {
		t.Fatalf("err = %v", err)
	}
}

// TestBuildFromSources builds the init from the embedded sources in an
// empty cache, as an installed juice does on first use, checks that it is
// the program that building guest/init in the source tree gives, and that
// the second time it comes from the cache.
func TestBuildFromSources(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles guest/init; skipped in -short mode")
	}
	needGo(t)
	ctx := context.Background()
	cache := t.TempDir()
	in, err := fromSources(ctx, juice.InitSources, Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if in.Cached || in.Source != EmbeddedSources || !isRISCV64ELF(in.Binary) {
		t.Fatalf("first build: cached %v, source %s, riscv64 ELF %v", in.Cached, in.Source, isRISCV64ELF(in.Binary))
	}
	again, err := fromSources(ctx, juice.InitSources, Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cached || !bytes.Equal(again.Binary, in.Binary) {
		t.Fatalf("second build: cached %v, same bytes %v", again.Cached, bytes.Equal(again.Binary, in.Binary))
	}

	// The same bytes as guest/init built in the source tree (as make
	// build does for the prebuilt init).
	out := filepath.Join(t.TempDir(), "init")
	cmd := exec.Command("go", "build", "-o", out, "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "./"+Dir)
	cmd.Dir = moduleRoot(t)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=riscv64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build in the tree: %v\n%s", err, b)
	}
	tree, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tree, in.Binary) {
		t.Errorf("the init built from the embedded sources (%d bytes) differs from guest/init built in the tree (%d bytes)", len(in.Binary), len(tree))
	}

	// Which source this binary uses, and Get agrees.
	got, err := Get(ctx, Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if got.Source != Which() || !isRISCV64ELF(got.Binary) {
		t.Fatalf("Get: source %s, Which %s", got.Source, Which())
	}
}
