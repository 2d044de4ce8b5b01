package appliance

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// DefaultLibraryPath lists the host folders searched, in order, for the
// shared libraries of a dynamically linked app: Debian's riscv64 cross
// sysroot (package libc6-riscv64-cross and the other *-riscv64-cross
// library packages), then the multiarch folders of riscv64 packages
// installed on the host (e.g. libssl3:riscv64).
var DefaultLibraryPath = []string{
	"/usr/riscv64-linux-gnu/lib",
	"/usr/lib/riscv64-linux-gnu",
	"/lib/riscv64-linux-gnu",
}

// GuestLibDir is where the app's shared libraries go in the guest. glibc's
// loader searches it first, with no /etc/ld.so.cache: Debian builds
// ld-linux-riscv64-lp64d.so.1 with the system search path
// /lib/riscv64-linux-gnu, /usr/lib/riscv64-linux-gnu, /lib, /usr/lib.
// The loader itself goes at the path in the app's PT_INTERP
// (/lib/ld-linux-riscv64-lp64d.so.1).
const GuestLibDir = "/lib/riscv64-linux-gnu"

// Library is a shared object an app needs.
type Library struct {
	// Name is the name it is needed by (its DT_NEEDED entry, or the
	// PT_INTERP path for the loader).
	Name string `json:"name"`
	// Guest is its path in the guest.
	Guest string `json:"guest"`
	// Host is the host file it is copied from (symlinks resolved).
	Host string `json:"host"`
	// Size is the host file's size, and MTimeNS its modification time
	// (for checking a cached resolution).
	Size    int64 `json:"size"`
	MTimeNS int64 `json:"mtime_ns"`
}

// elfInfo is what the builder needs to know of an ELF file.
type elfInfo struct {
	interp string   // PT_INTERP, "" for none
	needed []string // DT_NEEDED, in order
}

// machineName names the architecture of an ELF file for messages.
func machineName(f *elf.File) string {
	switch f.Machine {
	case elf.EM_X86_64:
		return "x86-64"
	case elf.EM_386:
		return "i386"
	case elf.EM_AARCH64:
		return "aarch64"
	case elf.EM_ARM:
		return "arm"
	case elf.EM_RISCV:
		if f.Class == elf.ELFCLASS32 {
			return "riscv32"
		}
		return "riscv64"
	case elf.EM_PPC64:
		return "ppc64"
	case elf.EM_S390:
		return "s390x"
	case elf.EM_MIPS:
		return "mips"
	}
	return strings.ToLower(strings.TrimPrefix(f.Machine.String(), "EM_"))
}

// readELF opens path as a 64-bit RISC-V ELF file; what names it in errors.
func readELF(path, what string) (*elfInfo, error) {
	f, err := elf.Open(path)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%s is not an ELF file", what)
		}
		return nil, fmt.Errorf("%s: %w", what, unwrapPathErr(err))
	}
	defer f.Close()
	if f.Machine != elf.EM_RISCV || f.Class != elf.ELFCLASS64 {
		m := machineName(f)
		return nil, fmt.Errorf("%s is %s %s ELF, not riscv64", what, an(m), m)
	}
	info := &elfInfo{}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			data, err := io.ReadAll(p.Open())
			if err != nil {
				return nil, fmt.Errorf("%s: reading PT_INTERP: %w", what, err)
			}
			info.interp = strings.TrimRight(string(data), "\x00")
		}
	}
	info.needed, err = f.ImportedLibraries()
	if err != nil {
		return nil, fmt.Errorf("%s: reading DT_NEEDED: %w", what, err)
	}
	return info, nil
}

// an is "an" or "a" for the word w.
func an(w string) string {
	if w != "" && strings.ContainsRune("aeiouAEIOU", rune(w[0])) || strings.HasPrefix(w, "x86") {
		return "an"
	}
	return "a"
}

// checkExecutable checks that path (called what in errors) is a riscv64
// ELF executable and returns its ELF information.
func checkExecutable(path, what string) (*elfInfo, error) {
	f, err := elf.Open(path)
	if err == nil {
		defer f.Close()
		if f.Machine == elf.EM_RISCV && f.Class == elf.ELFCLASS64 && f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
			return nil, fmt.Errorf("%s is a riscv64 ELF %s, not an executable", what, strings.ToLower(strings.TrimPrefix(f.Type.String(), "ET_")))
		}
	}
	info, err := readELF(path, what)
	if err != nil {
		return nil, err
	}
	if info.interp == "" && len(info.needed) > 0 {
		return nil, fmt.Errorf("%s needs shared libraries (%s) but has no program interpreter (PT_INTERP): it is a library, not a program", what, strings.Join(info.needed, ", "))
	}
	return info, nil
}

// ResolveLibraries returns the shared objects the riscv64 executable at
// binary needs, recursively: its program interpreter (at its PT_INTERP
// path) and every DT_NEEDED library, found by name in searchPath (nil
// means DefaultLibraryPath) and placed in GuestLibDir. A static binary
// needs none. what names the binary in errors. Libraries come sorted by
// guest path.
func ResolveLibraries(binary, what string, searchPath []string) ([]Library, error) {
	if searchPath == nil {
		searchPath = DefaultLibraryPath
	}
	info, err := checkExecutable(binary, what)
	if err != nil {
		return nil, err
	}
	if info.interp == "" {
		return nil, nil
	}
	r := &resolver{search: searchPath, byName: map[string]*Library{}}
	interp, err := r.find(path.Base(info.interp), what)
	if err != nil {
		return nil, err
	}
	if !path.IsAbs(info.interp) || path.Clean(info.interp) != info.interp {
		return nil, fmt.Errorf("%s: program interpreter %q is not a clean absolute path", what, info.interp)
	}
	interp.Name, interp.Guest = info.interp, info.interp
	// The loader is known to itself by its file name (its SONAME).
	r.byName[path.Base(info.interp)] = interp
	libs := []*Library{interp}
	type job struct{ name, by string }
	queue := []job{}
	for _, n := range info.needed {
		queue = append(queue, job{n, what})
	}
	for len(queue) > 0 {
		j := queue[0]
		queue = queue[1:]
		if _, done := r.byName[j.name]; done {
			continue
		}
		if strings.Contains(j.name, "/") {
			return nil, fmt.Errorf("%s needs the library %q by path; only library names are supported", j.by, j.name)
		}
		lib, err := r.find(j.name, j.by)
		if err != nil {
			return nil, err
		}
		lib.Guest = path.Join(GuestLibDir, j.name)
		r.byName[j.name] = lib
		libs = append(libs, lib)
		li, err := readELF(lib.Host, lib.Host)
		if err != nil {
			return nil, err
		}
		for _, n := range li.needed {
			queue = append(queue, job{n, j.name})
		}
	}
	out := make([]Library, len(libs))
	for i, l := range libs {
		out[i] = *l
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Guest < out[j].Guest })
	return out, nil
}

// resolver finds libraries in a search path.
type resolver struct {
	search []string
	byName map[string]*Library
}

// find looks for the library name, needed by by, as the loader would:
// the first riscv64 ELF of that name in the search path.
func (r *resolver) find(name, by string) (*Library, error) {
	var searched, wrong []string
	seen := map[string]bool{}
	for _, dir := range r.search {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		// /lib/riscv64-linux-gnu is /usr/lib/riscv64-linux-gnu on
		// merged-/usr systems: search each folder once.
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			if seen[real] {
				continue
			}
			seen[real] = true
		}
		searched = append(searched, dir)
		p := filepath.Join(dir, name)
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			continue
		}
		st, err := os.Stat(real)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		if _, err := readELF(real, p); err != nil {
			wrong = append(wrong, err.Error())
			continue
		}
		return &Library{Name: name, Host: real, Size: st.Size(), MTimeNS: st.ModTime().UnixNano()}, nil
	}
	switch {
	case len(searched) == 0:
		return nil, fmt.Errorf("library %s needed by %s: the riscv64 glibc is not installed (none of %s exists; apt-get install libc6-riscv64-cross)",
			name, by, strings.Join(r.search, ", "))
	case len(wrong) > 0:
		return nil, fmt.Errorf("library %s needed by %s: no riscv64 build of it in %s (%s)", name, by, strings.Join(searched, ", "), strings.Join(wrong, "; "))
	}
	return nil, fmt.Errorf("library %s needed by %s not found in %s (install the Debian package that has it for riscv64: a *-riscv64-cross package, or PACKAGE:riscv64)",
		name, by, strings.Join(searched, ", "))
}

// libraryCacheVersion is part of every library resolution's cache key.
const libraryCacheVersion = "libs-1"

// cachedLibraries is ResolveLibraries with its result kept in cacheDir
// under the hash of the binary and the search path, and reused while every
// library file still has the size and modification time it had.
func cachedLibraries(binary []byte, binPath, what string, searchPath []string, cacheDir string) (libs []Library, cached bool, err error) {
	if searchPath == nil {
		searchPath = DefaultLibraryPath
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%q\n", libraryCacheVersion, searchPath)
	h.Write(binary)
	file := filepath.Join(cacheDir, "appliance", "libs", hex.EncodeToString(h.Sum(nil)[:16])+".json")
	if data, err := os.ReadFile(file); err == nil {
		var c []Library
		if json.Unmarshal(data, &c) == nil && librariesUnchanged(c) {
			return c, true, nil
		}
	}
	libs, err = ResolveLibraries(binPath, what, searchPath)
	if err != nil {
		return nil, false, err
	}
	if libs == nil {
		libs = []Library{}
	}
	if data, err := json.Marshal(libs); err == nil {
		_ = writeAtomic(file, data, 0o644) // a cache: failing to keep it is no error
	}
	return libs, false, nil
}

// librariesUnchanged reports whether every library file still has the
// size and modification time recorded.
func librariesUnchanged(libs []Library) bool {
	for _, l := range libs {
		st, err := os.Stat(l.Host)
		if err != nil || st.Size() != l.Size || st.ModTime().UnixNano() != l.MTimeNS {
			return false
		}
	}
	return true
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
