package machine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// mapped reports whether /proc/self/maps has mappings over [start, end)
// (the kernel may have merged the range with a neighbour), and whether any
// of it is mapped at all.
func mapped(t *testing.T, start, end uintptr) (all, any bool) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		var lo, hi uintptr
		if _, err := fmt.Sscanf(line, "%x-%x ", &lo, &hi); err != nil {
			continue
		}
		if lo <= start && end <= hi {
			all = true
		}
		if lo < end && start < hi {
			any = true
		}
	}
	return all, any
}

// TestClosedMachine checks that a closed machine has unmapped its RAM and
// that running it, or taking checkpoints or touching its memory, fails
// with an error rather than a fault.
func TestClosedMachine(t *testing.T) {
	m, err := New(Config{Memory: 64 << 20, Kernel: fakeImage(4096, 4096)})
	if err != nil {
		t.Fatal(err)
	}
	start := uintptr(unsafeAddr(m.ram.Bytes()))
	end := start + uintptr(m.ram.Size())
	if all, _ := mapped(t, start, end); !all {
		t.Fatalf("guest RAM %#x-%#x is not mapped", start, end)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, any := mapped(t, start, end); any {
		t.Fatal("Close left guest RAM mapped")
	}
	if err := m.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	if _, err := m.Run(t.Context()); !errors.Is(err, errClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
	if _, err := m.RunTo(t.Context(), 10); !errors.Is(err, errClosed) {
		t.Fatalf("RunTo after Close: %v", err)
	}
	if _, err := m.Checkpoint(); !errors.Is(err, errClosed) {
		t.Fatalf("Checkpoint after Close: %v", err)
	}
	var b [8]byte
	if err := m.ReadPhysical(RAMBase, b[:]); !errors.Is(err, errClosed) {
		t.Fatalf("ReadPhysical after Close: %v", err)
	}
	if err := m.WriteVirtual(0, RAMBase, b[:]); !errors.Is(err, errClosed) {
		t.Fatalf("WriteVirtual after Close: %v", err)
	}
	if err := m.LoadPages([]SavedPage{{0, make([]byte, pageSize)}}, true); !errors.Is(err, errClosed) {
		t.Fatalf("LoadPages after Close: %v", err)
	}
	// A hart run directly finds no RAM: an access fault, not a crash.
	h := m.harts[0]
	h.Run(10)
	m.Summary()
	m.Digest()
}

// TestDroppedMachineUnmapsRAM checks that the RAM of a machine that is
// never closed is unmapped once the machine is unreachable, even while
// its console reader waits for input that never comes.
func TestDroppedMachineUnmapsRAM(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	start, end := func() (uintptr, uintptr) {
		m, err := New(Config{Memory: 64 << 20, Kernel: fakeImage(4096, 4096), ConsoleIn: r})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.RunTo(t.Context(), 1000); err != nil {
			t.Fatal(err)
		}
		s := uintptr(unsafeAddr(m.ram.Bytes()))
		return s, s + uintptr(m.ram.Size())
	}()
	if all, _ := mapped(t, start, end); !all {
		t.Fatal("guest RAM is not mapped")
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, any := mapped(t, start, end); !any {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the RAM of an unreachable machine is still mapped")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLargeRAMIsLazy builds a machine with more RAM than the test could
// afford to touch, runs it a little, and checks that the process's
// resident memory grew by far less than the RAM's size.
func TestLargeRAMIsLazy(t *testing.T) {
	const size = 8 << 30
	for _, l := range hostMemoryLimits("/") {
		if l.bytes < size {
			t.Skipf("the host allows less than 8 GiB: %s", l.what)
		}
	}
	before := rss(t)
	m, err := New(Config{Memory: size, Kernel: fakeImage(4096, 4096)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.RunTo(t.Context(), 10_000); err != nil {
		t.Fatal(err)
	}
	m.Summary()
	m.Digest()
	if _, err := m.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if grew := rss(t) - before; grew > 64<<20 {
		t.Fatalf("an 8 GiB machine made the process %d MiB larger", grew>>20)
	}
}

// rss returns the process's resident set size.
func rss(t *testing.T) int64 {
	t.Helper()
	st := procStatus("/proc/self/status")
	if _, ok := st["VmRSS"]; !ok {
		t.Skip("no VmRSS in /proc/self/status")
	}
	return int64(st["VmRSS"])
}

// TestCgroupMemoryLimit reads cgroup limits from trees laid out as the
// kernel lays out /proc and /sys (v2, v1, and v1 seen from inside a cgroup
// namespace, where the process's path is outside the mount's root).
func TestCgroupMemoryLimit(t *testing.T) {
	write := func(root, path, s string) {
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		swap  uint64
		want  uint64
		where string
	}{
		{"v2", map[string]string{
			"proc/self/cgroup":                        "0::/user.slice/app\n",
			"proc/self/mountinfo":                     "30 22 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n",
			"sys/fs/cgroup/user.slice/memory.max":     "8589934592\n",
			"sys/fs/cgroup/user.slice/app/memory.max": "max\n",
		}, 0, 8 << 30, "sys/fs/cgroup/user.slice/memory.max"},
		{"v2 with swap", map[string]string{
			"proc/self/cgroup":                  "0::/app\n",
			"proc/self/mountinfo":               "30 22 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
			"sys/fs/cgroup/app/memory.max":      "4294967296\n",
			"sys/fs/cgroup/app/memory.swap.max": "1073741824\n",
		}, 2 << 30, 5 << 30, "sys/fs/cgroup/app/memory.max"},
		{"v1 hybrid", map[string]string{
			"proc/self/cgroup": "4:memory:/jobs/42\n0::/\n",
			"proc/self/mountinfo": "34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" +
				"40 30 0:37 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes":         "9223372036854771712\n",
			"sys/fs/cgroup/memory/jobs/42/memory.limit_in_bytes": "2147483648\n",
		}, 0, 2 << 30, "sys/fs/cgroup/memory/jobs/42/memory.limit_in_bytes"},
		{"v1 namespaced", map[string]string{
			"proc/self/cgroup":                           "4:memory:/outside/ns\n",
			"proc/self/mountinfo":                        "34 30 0:31 /inside /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "1073741824\n",
		}, 0, 1 << 30, "sys/fs/cgroup/memory/memory.limit_in_bytes"},
		{"no limit", map[string]string{
			"proc/self/cgroup":             "0::/app\n",
			"proc/self/mountinfo":          "30 22 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
			"sys/fs/cgroup/app/memory.max": "max\n",
		}, 0, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for p, s := range tc.files {
				write(root, p, s)
			}
			l, ok := cgroupMemoryLimit(root, tc.swap)
			if tc.where == "" {
				if ok {
					t.Fatalf("a limit where there is none: %+v", l)
				}
				return
			}
			if !ok || l.bytes != tc.want || !strings.Contains(l.what, filepath.Join(root, tc.where)) {
				t.Fatalf("limit %+v (found %v), want %d bytes in %s", l, ok, tc.want, tc.where)
			}
		})
	}
}

func unsafeAddr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// TestRAMBounds checks the edges of RAM as the devices, the debugger's
// memory access and checkpoint pages meet them: all go through one check
// (guestram.RAM), in which an empty range at the very end is in RAM and
// one past it is not.
func TestRAMBounds(t *testing.T) {
	const size = 64 << 20
	m, err := New(Config{Memory: size, Kernel: fakeImage(4096, 4096)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	end := uint64(RAMBase + size)
	dev := ramMemory{m}
	for _, c := range []struct {
		addr, n uint64
		ok      bool
	}{
		{RAMBase, 0, true}, {RAMBase, size, true}, {RAMBase, size + 1, false},
		{end - 8, 8, true}, {end - 7, 8, false}, {end, 0, true}, {end, 1, false}, {end + 1, 0, false},
		{RAMBase - 1, 1, false}, {RAMBase - 1, 0, false}, {end - 8, ^uint64(0) - 3, false},
	} {
		b, ok := dev.Slice(c.addr, c.n)
		if ok != c.ok || ok && uint64(len(b)) != c.n {
			t.Errorf("device Slice(%#x, %#x) = %d bytes, %v; want %v", c.addr, c.n, len(b), ok, c.ok)
		}
		if c.n > 0 && c.n <= 8 {
			if err := m.ReadPhysical(c.addr, make([]byte, c.n)); (err == nil) != c.ok {
				t.Errorf("ReadPhysical(%#x, %d bytes): %v", c.addr, c.n, err)
			}
		}
	}
	// A device's slice marks its pages written.
	m.pages.drain()
	zeroBits(m.pages.sum)
	dev.Slice(end-8, 8)
	m.pages.drain()
	last := uint32(size/pageSize - 1)
	if m.pages.sum[last/64]>>(last%64)&1 == 0 {
		t.Error("the last page handed to a device is not marked written")
	}
	page := make([]byte, pageSize)
	if err := m.LoadPages([]SavedPage{{Index: last, Data: page}}, false); err != nil {
		t.Errorf("the last page: %v", err)
	}
	for _, pg := range []SavedPage{{Index: last + 1, Data: page}, {Index: ^uint32(0), Data: page}, {Index: 0, Data: page[1:]}} {
		if err := m.LoadPages([]SavedPage{pg}, false); err == nil {
			t.Errorf("page %d (%d bytes) loaded", pg.Index, len(pg.Data))
		}
	}
}
