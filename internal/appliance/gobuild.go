package appliance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"

	"github.com/juicevm/juice/internal/outfile"
)

// goCacheVersion is part of every cached Go build's key; bump it when the
// way CrossCompile builds changes.
const goCacheVersion = "gobuild-1"

// crossEnv is the environment of Go builds for the guest.
func crossEnv() []string {
	return append(os.Environ(), "GOOS=linux", "GOARCH=riscv64", "CGO_ENABLED=0")
}

// goTool returns the go command: "go" from $PATH, else Go's default
// install location.
func goTool() string {
	if _, err := exec.LookPath("go"); err == nil {
		return "go"
	}
	if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
		return "/usr/local/go/bin/go"
	}
	return "go"
}

// cachedGoBuild cross-compiles the main package pkg in dir with
// CrossCompile, keeping the binary in cacheDir under a hash of every input
// of the build: the Go toolchain and build environment, and the name and
// contents of every file of every non-standard package the program is
// made of (as `go list -deps` reports them for linux/riscv64), with each
// module's go.mod. A program whose inputs are unchanged is not rebuilt.
// notMain, if not nil, makes the error for a package that is not a main
// package.
func cachedGoBuild(ctx context.Context, goTool, dir, pkg, cacheDir string, notMain func(name string) error) (bin []byte, cached bool, err error) {
	key, err := goBuildKey(ctx, goTool, dir, pkg, notMain)
	var nm *notMainError
	if errors.As(err, &nm) {
		return nil, false, nm.err
	}
	if err != nil {
		// go list failed: let go build say what is wrong, in its words.
		bin, berr := CrossCompile(ctx, goTool, dir, pkg)
		if berr != nil {
			return nil, false, berr
		}
		return bin, false, nil
	}
	file := filepath.Join(cacheDir, "appliance", "go", key)
	if data, err := os.ReadFile(file); err == nil && len(data) > 0 {
		return data, true, nil
	}
	bin, err = CrossCompile(ctx, goTool, dir, pkg)
	if err != nil {
		return nil, false, err
	}
	_ = writeAtomic(file, bin, 0o755) // a cache: failing to keep it is no error
	return bin, false, nil
}

// notMainError reports a package that is not a main package.
type notMainError struct{ err error }

func (e *notMainError) Error() string { return e.err.Error() }

// listedPackage is what goBuildKey reads of `go list -json`.
type listedPackage struct {
	ImportPath string
	Name       string
	Dir        string
	Standard   bool
	DepOnly    bool
	GoFiles    []string
	SFiles     []string
	HFiles     []string
	SysoFiles  []string
	EmbedFiles []string
	Module     *struct {
		Path      string
		Version   string
		GoMod     string
		GoVersion string
	}
}

// goBuildKey hashes the inputs of a build of pkg in dir.
func goBuildKey(ctx context.Context, goTool, dir, pkg string, notMain func(string) error) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\npkg %s\n", goCacheVersion, pkg)
	envCmd := exec.CommandContext(ctx, goTool, "env", "GOVERSION", "GOROOT", "GOFLAGS", "GOEXPERIMENT", "GORISCV64", "GOAMD64")
	envCmd.Dir, envCmd.Env = dir, crossEnv()
	env, err := envCmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env: %w", err)
	}
	fmt.Fprintf(h, "env %q\n", env)

	cmd := exec.CommandContext(ctx, goTool, "list", "-deps",
		"-json=ImportPath,Name,Dir,Standard,DepOnly,GoFiles,SFiles,HFiles,SysoFiles,EmbedFiles,Module", pkg)
	cmd.Dir, cmd.Env = dir, crossEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list: %w: %s", err, stderr.String())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	gomods := map[string]bool{}
	var target *listedPackage
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("go list output: %w", err)
		}
		if !p.DepOnly {
			q := p
			target = &q
		}
		if p.Standard {
			continue // covered by GOVERSION and GOROOT
		}
		fmt.Fprintf(h, "package %s %s\n", p.ImportPath, p.Name)
		if m := p.Module; m != nil {
			fmt.Fprintf(h, "module %s %s %s\n", m.Path, m.Version, m.GoVersion)
			if m.GoMod != "" && !gomods[m.GoMod] {
				gomods[m.GoMod] = true
				if err := hashFile(h, "go.mod", m.GoMod); err != nil {
					return "", err
				}
			}
		}
		var files []string
		for _, list := range [][]string{p.GoFiles, p.SFiles, p.HFiles, p.SysoFiles, p.EmbedFiles} {
			files = append(files, list...)
		}
		sort.Strings(files)
		for _, f := range files {
			if err := hashFile(h, f, filepath.Join(p.Dir, f)); err != nil {
				return "", err
			}
		}
	}
	if target == nil {
		return "", errors.New("go list reported no package")
	}
	if target.Name != "main" {
		err := fmt.Errorf("package %s is not a main package (it is package %s)", target.ImportPath, target.Name)
		if notMain != nil {
			err = notMain(target.Name)
		}
		return "", &notMainError{err}
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// hashFile writes a file's name, size and contents into h.
func hashFile(h io.Writer, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	fmt.Fprintf(h, "file %q %d\n", name, st.Size())
	_, err = io.Copy(h, f)
	return err
}

// writeAtomic writes data to path through a temporary file and a rename,
// creating path's folder.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return outfile.WriteFile(path, data, outfile.Options{Perm: perm})
}
