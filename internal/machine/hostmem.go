package machine

import (
	"bufio"
	"cmp"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/juicevm/juice/internal/bytesize"
)

// A machine's RAM costs the host only what the guest touches, but a guest
// may touch all of it: New refuses RAM larger than the host could ever
// give this process, naming the limit, rather than let the host kill it
// (or Go's runtime abort) halfway through a run.

// memLimit is one bound on the memory this process can have.
type memLimit struct {
	bytes uint64
	what  string // what the bound is, for an error message
}

// checkHostMemory refuses a RAM size larger than the lowest of the host's
// memory (RAM plus swap), the memory cgroup's limit and the process's
// RLIMIT_AS and RLIMIT_DATA (less what the process uses already).
func checkHostMemory(size uint64) error {
	for _, l := range hostMemoryLimits("/") {
		if size > l.bytes {
			return fmt.Errorf("memory: %s is more than %s", bytesize.Format(int64(size)), l.what)
		}
	}
	return nil
}

// hostMemoryLimits returns the bounds that apply, lowest first; root is
// where /proc and /sys are found (/ but in tests).
func hostMemoryLimits(root string) []memLimit {
	var ls []memLimit
	mem, swap, ok := meminfo(filepath.Join(root, "proc/meminfo"))
	if ok {
		what := fmt.Sprintf("this host has (%s of RAM and no swap)", bytesize.Format(int64(mem)))
		if swap > 0 {
			what = fmt.Sprintf("this host has (%s of RAM and %s of swap)", bytesize.Format(int64(mem)), bytesize.Format(int64(swap)))
		}
		ls = append(ls, memLimit{mem + swap, what})
	}
	if l, ok := cgroupMemoryLimit(root, swap); ok {
		ls = append(ls, l)
	}
	status := procStatus(filepath.Join(root, "proc/self/status"))
	for _, r := range []struct {
		res        int
		name, used string
	}{
		{unix.RLIMIT_AS, "the address-space limit (RLIMIT_AS, ulimit -v)", "VmSize"},
		{unix.RLIMIT_DATA, "the data-size limit (RLIMIT_DATA, ulimit -d)", "VmData"},
	} {
		var lim unix.Rlimit
		if unix.Getrlimit(r.res, &lim) != nil || lim.Cur == unix.RLIM_INFINITY {
			continue
		}
		used := status[r.used]
		left := uint64(0)
		if lim.Cur > used {
			left = lim.Cur - used
		}
		ls = append(ls, memLimit{left, fmt.Sprintf("%s leaves (it is %s, and the process uses %s of it already)",
			r.name, bytesize.Format(int64(min(lim.Cur, math.MaxInt64))), bytesize.Format(int64(used)))})
	}
	// Lowest first, so that the error names the limit that binds.
	slices.SortStableFunc(ls, func(a, b memLimit) int { return cmp.Compare(a.bytes, b.bytes) })
	return ls
}

// mapFailureHint says why mapping RAM may have failed with ENOMEM when no
// limit New checks was exceeded.
func mapFailureHint() string {
	b, err := os.ReadFile("/proc/sys/vm/overcommit_memory")
	if err == nil && strings.TrimSpace(string(b)) == "2" {
		return " (the host does not overcommit memory: vm.overcommit_memory is 2, so all of guest RAM must be free to commit)"
	}
	return " (the host refused the mapping; is its address space or memory limited?)"
}

// meminfo returns MemTotal and SwapTotal from /proc/meminfo.
func meminfo(path string) (mem, swap uint64, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var seen int
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "MemTotal":
			mem, seen = n<<10, seen|1
		case "SwapTotal":
			swap, seen = n<<10, seen|2
		}
	}
	return mem, swap, seen&1 != 0
}

// procStatus returns the sizes (in bytes) of /proc/self/status.
func procStatus(path string) map[string]uint64 {
	out := map[string]uint64{}
	b, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		v, isKB := strings.CutSuffix(strings.TrimSpace(v), " kB")
		if n, err := strconv.ParseUint(v, 10, 64); err == nil && isKB {
			out[k] = n << 10
		}
	}
	return out
}

// cgroupMemoryLimit returns the memory limit of the process's cgroup (v2
// memory.max, or v1 memory.limit_in_bytes), the lowest along its path up
// to the root of the hierarchy, plus the swap the cgroup may use.
func cgroupMemoryLimit(root string, hostSwap uint64) (memLimit, bool) {
	cg, err := os.ReadFile(filepath.Join(root, "proc/self/cgroup"))
	if err != nil {
		return memLimit{}, false
	}
	mi, err := os.ReadFile(filepath.Join(root, "proc/self/mountinfo"))
	if err != nil {
		return memLimit{}, false
	}
	// The cgroup path of the process: the v1 memory controller's, or v2's.
	var v1Path, v2Path string
	var hasV1, hasV2 bool
	for _, line := range strings.Split(string(cg), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2Path, hasV2 = parts[2], true
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				v1Path, hasV1 = parts[2], true
			}
		}
	}
	for _, line := range strings.Split(string(mi), "\n") {
		// id parent dev root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(line)
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || len(fields) < sep+4 {
			continue
		}
		mroot, mpoint, fstype := unescapeMount(fields[3]), unescapeMount(fields[4]), fields[sep+1]
		supers := strings.Split(fields[sep+3], ",")
		var l memLimit
		var ok bool
		switch {
		case fstype == "cgroup2" && hasV2:
			// (Without the memory controller there are no memory.max
			// files, and the walk finds none.)
			l, ok = cgroupWalk(filepath.Join(root, mpoint), relCgroup(v2Path, mroot), "memory.max", "memory.swap.max", hostSwap)
		case fstype == "cgroup" && hasV1 && slices.Contains(supers, "memory"):
			l, ok = cgroupWalk(filepath.Join(root, mpoint), relCgroup(v1Path, mroot), "memory.limit_in_bytes", "memory.memsw.limit_in_bytes", hostSwap)
		}
		if ok {
			return l, true
		}
	}
	return memLimit{}, false
}

// cgroupWalk reads the limit file in each cgroup from mount/rel up to
// mount and returns the lowest. For v2, swapFile is memory.swap.max, swap
// the cgroup may use beside memory.max; for v1 it is memsw.limit_in_bytes,
// a limit of memory and swap together.
func cgroupWalk(mount, rel, file, swapFile string, hostSwap uint64) (memLimit, bool) {
	lim, swapLim := uint64(math.MaxUint64), uint64(math.MaxUint64)
	var where string
	dir := filepath.Join(mount, rel)
	for {
		if n, ok := readLimit(filepath.Join(dir, file)); ok && n < lim {
			lim, where = n, filepath.Join(dir, file)
		}
		if n, ok := readLimit(filepath.Join(dir, swapFile)); ok && n < swapLim {
			swapLim = n
		}
		if dir == mount || !strings.HasPrefix(dir, mount) {
			break
		}
		dir = filepath.Dir(dir)
	}
	if where == "" {
		return memLimit{}, false
	}
	total, what := lim, fmt.Sprintf("the memory cgroup's limit (%s in %s)", bytesize.Format(int64(lim)), where)
	if file == "memory.max" {
		if s := min(swapLim, hostSwap); s > 0 {
			total += s
			what = fmt.Sprintf("the memory cgroup's limit (%s in %s, and %s of swap)", bytesize.Format(int64(lim)), where, bytesize.Format(int64(s)))
		}
	} else {
		total = min(lim+hostSwap, swapLim)
	}
	return memLimit{total, what}, true
}

// readLimit reads a cgroup limit file: a number of bytes, or none ("max",
// or v1's page-rounded maximum).
func readLimit(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n >= 1<<62 {
		return 0, false
	}
	return n, true
}

// relCgroup returns the cgroup path p relative to a mount of the hierarchy
// at mroot; a cgroup outside the mount (another cgroup namespace) is taken
// to be the mount's root.
func relCgroup(p, mroot string) string {
	if mroot == "/" {
		return p
	}
	if rel, ok := strings.CutPrefix(p, mroot); ok && (rel == "" || rel[0] == '/') {
		return rel
	}
	return "/"
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
