package pid1

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ModulesDir returns the module tree of a kernel release.
func ModulesDir(release string) string { return filepath.Join("/lib/modules", release) }

// moduleName turns a module file path or name into the kernel's module
// name: the base name without .ko and compression suffixes, '-' as '_'.
func moduleName(p string) string {
	n := filepath.Base(p)
	for _, suf := range []string{".xz", ".gz", ".zst"} {
		n = strings.TrimSuffix(n, suf)
	}
	n = strings.TrimSuffix(n, ".ko")
	return strings.ReplaceAll(n, "-", "_")
}

// modulesDep is modules.dep: each module's path (relative to the module
// tree) and the paths of the modules it needs.
type modulesDep struct {
	path map[string]string   // module name -> path
	deps map[string][]string // path -> dependency paths
}

func readModulesDep(file string) (modulesDep, error) {
	md := modulesDep{path: map[string]string{}, deps: map[string][]string{}}
	f, err := os.Open(file)
	if err != nil {
		return md, fmt.Errorf("modules: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		mod, deps, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		md.path[moduleName(mod)] = mod
		md.deps[mod] = strings.Fields(deps)
	}
	if err := sc.Err(); err != nil {
		return md, fmt.Errorf("modules: reading %s: %w", file, err)
	}
	return md, nil
}

// LoadModules loads the named kernel modules from the module tree dir,
// each after the modules it depends on (from modules.dep). Modules already
// loaded are skipped; compressed modules are handed to the kernel to
// decompress.
func LoadModules(dir string, names []string) error {
	md, err := readModulesDep(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return err
	}
	done := map[string]bool{}
	var load func(path string, depth int) error
	load = func(path string, depth int) error {
		if done[path] {
			return nil
		}
		if depth > 64 {
			return fmt.Errorf("modules: dependency chain through %s is too deep", path)
		}
		done[path] = true
		// modules.dep lists every dependency, transitively, deepest last.
		deps := md.deps[path]
		for i := len(deps) - 1; i >= 0; i-- {
			if err := load(deps[i], depth+1); err != nil {
				return err
			}
		}
		return insmod(filepath.Join(dir, path))
	}
	var errs []error
	for _, n := range names {
		p, ok := md.path[moduleName(n)]
		if !ok {
			errs = append(errs, fmt.Errorf("modules: %s is not in %s/modules.dep", n, dir))
			continue
		}
		if err := load(p, 0); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func insmod(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("modules: %w", err)
	}
	defer f.Close()
	flags := 0
	if ext := filepath.Ext(path); ext == ".xz" || ext == ".gz" || ext == ".zst" {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	if err := unix.FinitModule(int(f.Fd()), "", flags); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("modules: loading %s: %w", path, err)
	}
	return nil
}
