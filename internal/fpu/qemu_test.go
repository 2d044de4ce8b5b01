package fpu

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// casesPerOp is the number of random cases per (instruction, rounding mode),
// scaled by the instruction's weight.
const casesPerOp = 2000

type refCase struct {
	op      *testOp
	rm      RoundingMode
	a, b, c uint64
}

// buildRef compiles testdata/fpref.c for RISC-V, or skips the test when the
// cross toolchain or QEMU user-mode emulator is not installed.
func buildRef(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"riscv64-linux-gnu-gcc", "qemu-riscv64"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("differential test needs %s (apt-get install gcc-riscv64-linux-gnu qemu-user): %v", tool, err)
		}
	}
	bin := filepath.Join(t.TempDir(), "fpref")
	cmd := exec.Command("riscv64-linux-gnu-gcc", "-static", "-O1", "-Wall", "-o", bin, filepath.Join("testdata", "fpref.c"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("compiling fpref.c: %v\n%s", err, out)
	}
	return bin
}

// runRef runs the cases through the reference program under qemu-riscv64 and
// returns its result and flags for each.
func runRef(t *testing.T, bin string, cases []refCase) ([]uint64, []Flags) {
	t.Helper()
	var in bytes.Buffer
	in.Grow(len(cases) * 64)
	for _, c := range cases {
		fmt.Fprintf(&in, "%s %d %x %x %x\n", c.op.name, c.rm, c.a, c.b, c.c)
	}
	cmd := exec.Command("qemu-riscv64", bin)
	cmd.Stdin = &in
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("qemu-riscv64 fpref: %v\n%s", err, stderr.String())
	}
	res := make([]uint64, 0, len(cases))
	fls := make([]Flags, 0, len(cases))
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || f[0] == "?" {
			t.Fatalf("reference output line %d: %q", len(res)+1, sc.Text())
		}
		r, err1 := strconv.ParseUint(f[0], 16, 64)
		fl, err2 := strconv.ParseUint(f[1], 16, 8)
		if err1 != nil || err2 != nil {
			t.Fatalf("reference output line %d: %q", len(res)+1, sc.Text())
		}
		res = append(res, r)
		fls = append(fls, Flags(fl))
	}
	if len(res) != len(cases) {
		t.Fatalf("reference produced %d results for %d cases", len(res), len(cases))
	}
	return res, fls
}

func genCases(ops []testOp, n int, seed uint64) []refCase {
	g := newGen(seed)
	var cases []refCase
	for i := range ops {
		op := &ops[i]
		rms := []RoundingMode{RNE}
		if op.hasRM {
			rms = []RoundingMode{RNE, RTZ, RDN, RUP, RMM}
		}
		for _, rm := range rms {
			for j := 0; j < n*op.weight; j++ {
				a, b, c := op.gen(g)
				cases = append(cases, refCase{op, rm, a, b, c})
			}
		}
	}
	return cases
}

// TestAgainstQEMU compares every operation, in both precisions and all
// rounding modes, bit for bit (result and fflags) against real RISC-V
// instructions executed by qemu-riscv64.
func TestAgainstQEMU(t *testing.T) {
	bin := buildRef(t)
	ops := allTestOps()
	n := casesPerOp
	if testing.Short() {
		n /= 8
	}
	if s := os.Getenv("FPU_QEMU_CASES"); s != "" {
		if v, err := strconv.Atoi(s); err == nil {
			n = v
		}
	}
	cases := genCases(ops, n, 20240601)
	start := time.Now()
	want, wantFl := runRef(t, bin, cases)
	t.Logf("%d cases through qemu-riscv64 in %v", len(cases), time.Since(start).Round(time.Millisecond))

	fails := map[string]int{}
	total := 0
	for i, c := range cases {
		got, gotFl := c.op.eval(c.a, c.b, c.c, c.rm)
		got &= c.op.mask
		w := want[i] & c.op.mask
		if got == w && gotFl == wantFl[i] {
			continue
		}
		total++
		key := fmt.Sprintf("%s/rm%d", c.op.name, c.rm)
		fails[key]++
		if fails[key] <= 3 {
			t.Errorf("%s rm=%d a=%#x b=%#x c=%#x: got %#x flags %#x, want %#x flags %#x",
				c.op.name, c.rm, c.a, c.b, c.c, got, gotFl, w, wantFl[i])
		}
	}
	if total > 0 {
		t.Errorf("%d of %d cases differ from the reference: %v", total, len(cases), fails)
	}
}

// TestQEMUFlagStats is a diagnostic (run with -v and FPU_QEMU_STATS=1) that
// shows how often each flag occurs per instruction in the generated cases.
func TestQEMUFlagStats(t *testing.T) {
	if os.Getenv("FPU_QEMU_STATS") == "" {
		t.Skip("set FPU_QEMU_STATS=1 to print flag statistics")
	}
	bin := buildRef(t)
	ops := allTestOps()
	cases := genCases(ops, casesPerOp, 20240601)
	_, fl := runRef(t, bin, cases)
	stats := map[string]*[6]int{}
	for i, c := range cases {
		s := stats[c.op.name]
		if s == nil {
			s = new([6]int)
			stats[c.op.name] = s
		}
		s[5]++
		for b := 0; b < 5; b++ {
			if fl[i]&(1<<b) != 0 {
				s[b]++
			}
		}
	}
	for _, op := range ops {
		s := stats[op.name]
		t.Logf("%-10s n=%6d NX=%6d UF=%5d OF=%5d DZ=%5d NV=%5d", op.name, s[5], s[0], s[1], s[2], s[3], s[4])
	}
}
