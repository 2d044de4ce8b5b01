package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// gdbGuest is a bare-metal program for the gdb test: hart 0 sums squares
// (storing each partial sum in counter, with a delay between), other harts
// spin. It reports through HTIF tohost, so the machine powers off after it.
const gdbGuest = `#define N 10

volatile unsigned long tohost __attribute__((section(".tohost"), aligned(64)));
volatile unsigned long fromhost __attribute__((section(".tohost"), aligned(64)));
unsigned long counter;
volatile unsigned long ticks;
unsigned long stack[2048] __attribute__((aligned(16)));

__attribute__((noinline)) unsigned long square(unsigned long x)
{
	return x * x;
}

__attribute__((noinline)) void delay(unsigned long n)
{
	for (volatile unsigned long j = 0; j < n; j++)
		;
}

__attribute__((noinline)) unsigned long work(void)
{
	unsigned long sum = 0;
	for (unsigned long i = 1; i <= N; i++) { /* LOOP */
		sum += square(i); /* CALL */
		counter = sum; /* STORE */
		delay(400); /* DELAY */
	}
	return sum;
}

void spin(void)
{
	for (;;)
		ticks++;
}

void start(void)
{
	unsigned long s = work();
	tohost = s == 385 ? 1 : 3;
	for (;;)
		;
}

__asm__(
	".section .text.init, \"ax\"\n"
	".globl _start\n"
	"_start:\n"
	"	csrr t0, mhartid\n"
	"	la sp, stack + 8192\n"
	"	bnez t0, 1f\n"
	"	call start\n"
	"1:	la sp, stack + 4096\n"
	"	call spin\n");
`

const gdbGuestLD = `OUTPUT_ARCH(riscv)
ENTRY(_start)
SECTIONS
{
  . = 0x80000000;
  .text.init : { *(.text.init) }
  .text : { *(.text) *(.text.*) }
  . = ALIGN(0x1000);
  .tohost : { *(.tohost) }
  .data : { *(.data) *(.data.*) *(.sdata) *(.sdata.*) *(.rodata) *(.rodata.*) *(.srodata*) }
  .bss : { *(.bss) *(.bss.*) *(.sbss*) *(COMMON) }
}
`

// gdbLine returns the line of gdbGuest that carries a marker comment.
func gdbLine(t *testing.T, marker string) int {
	for i, l := range strings.Split(gdbGuest, "\n") {
		if strings.Contains(l, "/* "+marker+" */") {
			return i + 1
		}
	}
	t.Fatalf("no line marked %s", marker)
	return 0
}

// buildGDBGuest compiles gdbGuest with debug information.
func buildGDBGuest(t *testing.T, dir string) string {
	t.Helper()
	src, ld, elf := filepath.Join(dir, "guest.c"), filepath.Join(dir, "guest.ld"), filepath.Join(dir, "guest.elf")
	if err := os.WriteFile(src, []byte(gdbGuest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ld, []byte(gdbGuestLD), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("riscv64-linux-gnu-gcc", "-march=rv64gc", "-mabi=lp64d", "-mcmodel=medany",
		"-ffreestanding", "-fno-pic", "-nostdlib", "-nostartfiles", "-static", "-O0", "-g",
		"-T", ld, "-Wl,--build-id=none", "-Wl,--no-warn-rwx-segments", "-o", elf, src).CombinedOutput()
	if err != nil {
		t.Fatalf("compiling the guest: %v\n%s", err, out)
	}
	return elf
}

// gdbSession runs gdb-multiarch in batch mode against juice replay --gdb
// and returns the output of each command by its name.
type gdbStep struct{ name, cmd string }

func runGDB(t *testing.T, rec, elf string, steps []gdbStep) (map[string]string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	srv := exec.CommandContext(ctx, juice(t), "replay", rec, "--gdb", "127.0.0.1:0")
	var srvOut bytes.Buffer
	srv.Stdout = &srvOut
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	var srvErr strings.Builder
	addr := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			srvErr.WriteString(line + "\n")
			if a, ok := strings.CutPrefix(line, "juice: gdb server listening on "); ok {
				addr <- a
			}
		}
	}()
	var a string
	select {
	case a = <-addr:
	case <-time.After(time.Minute):
		srv.Process.Kill()
		<-copied
		t.Fatalf("juice replay --gdb did not start listening:\n%s", srvErr.String())
	}

	args := []string{"-batch", "-nx", "-ex", "set architecture riscv:rv64", "-ex", "file " + elf,
		"-ex", "set pagination off", "-ex", "set confirm off", "-ex", "target remote " + a}
	for _, s := range steps {
		args = append(args, "-ex", "echo \\n@@"+s.name+"@@\\n", "-ex", s.cmd)
	}
	args = append(args, "-ex", "echo \\n@@end@@\\n", "-ex", "detach")
	gdb := exec.CommandContext(ctx, "gdb-multiarch", args...)
	var out bytes.Buffer
	gdb.Stdout, gdb.Stderr = &out, &out
	start := time.Now()
	gdbErr := gdb.Run()
	srvWait := srv.Wait()
	<-copied
	t.Logf("gdb session: %d commands in %v", len(steps), time.Since(start).Round(time.Millisecond))
	log := "gdb output:\n" + out.String() + "\njuice stderr:\n" + srvErr.String()
	if gdbErr != nil || srvWait != nil {
		t.Fatalf("gdb: %v, juice: %v\n%s", gdbErr, srvWait, log)
	}
	res := map[string]string{}
	parts := regexp.MustCompile(`(?m)^@@(\w+)@@\n`).Split(out.String(), -1)
	names := regexp.MustCompile(`(?m)^@@(\w+)@@\n`).FindAllStringSubmatch(out.String(), -1)
	if len(names) != len(steps)+1 {
		t.Fatalf("gdb ran %d of %d commands\n%s", len(names)-1, len(steps), log)
	}
	for i, n := range names {
		res[n[1]] = parts[i+1]
	}
	return res, log
}

var whenRE = regexp.MustCompile(`instruction (\d+)`)

func position(t *testing.T, out, log string) uint64 {
	t.Helper()
	m := whenRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no position in %q\n%s", out, log)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// TestReplayGDB records a bare-metal program on two harts and debugs the
// replay with gdb-multiarch: a breakpoint, registers and memory, a step, a
// watchpoint, then reverse-stepi, reverse-continue back to an earlier
// breakpoint hit (with the very registers the forward run showed there),
// reverse-next over a call, running to the end of the recording and back
// to its start, and a refused write.
func TestReplayGDB(t *testing.T) {
	for _, tool := range []string{"gdb-multiarch", "riscv64-linux-gnu-gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found (scripts/install-deps.sh installs it)", tool)
		}
	}
	dir := t.TempDir()
	elf := buildGDBGuest(t, dir)
	rec := filepath.Join(dir, "guest.jrr")
	if _, errs, code := runJuice(t, "record", "-o", rec, "--bare", elf, "--cpus", "2", "--memory", "16M"); code != 0 {
		t.Fatalf("record: status %d\n%s", code, errs)
	}
	call, store, loop, delay := gdbLine(t, "CALL"), gdbLine(t, "STORE"), gdbLine(t, "LOOP"), gdbLine(t, "DELAY")
	steps := []gdbStep{
		{"threads", "info threads"},
		{"break", "break square"},
		{"cont1", "continue"},
		{"regs1", "info registers"},
		{"when1", "monitor when"},
		{"mem1", "x/2gx &counter"},
		{"a0", "p/x $a0"},
		{"pc1", "p/x $pc"},
		{"stepi", "stepi"},
		{"pc2", "p/x $pc"},
		{"watch", "watch counter"},
		{"cont2", "continue"},
		{"counter2", "p counter"},
		{"when2", "monitor when"},
		{"insn2", "x/i $pc"},
		{"cont3", "continue"},
		{"when3", "monitor when"},
		{"pc3", "p/x $pc"},
		{"rstepi", "reverse-stepi"},
		{"when4", "monitor when"},
		{"pc4", "p/x $pc"},
		{"rcont1", "reverse-continue"},
		{"counter5", "p counter"},
		{"when5", "monitor when"},
		{"insn5", "x/i $pc"},
		{"rcont2", "reverse-continue"},
		{"when6", "monitor when"},
		{"regs6", "info registers"},
		{"write", "set var counter = 7"},
		{"del1", "delete"},
		{"break2", fmt.Sprintf("break guest.c:%d", store)},
		{"cont7", "continue"},
		{"cont8", "continue"},
		{"i8", "p i"},
		{"regs8", "info registers"},
		{"rnext1", "reverse-next"},
		{"pc9", "p $pc"},
		{"sum9", "p sum"},
		{"rnext2", "reverse-next"},
		{"rnext3", "reverse-next"},
		{"i10", "p i"},
		{"next1", "next"},
		{"next2", "next"},
		{"next3", "next"},
		{"regs11", "info registers"},
		{"del2", "delete"},
		{"cont12", "continue"},
		{"counter12", "p counter"},
		{"when12", "monitor when"},
		{"threads12", "info threads"},
		{"rstepi13", "reverse-stepi"},
		{"when13", "monitor when"},
		{"rcont14", "reverse-continue"},
		{"when14", "monitor when"},
	}
	res, log := runGDB(t, rec, elf, steps)
	expect := func(name string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(res[name], w) {
				t.Errorf("%s: output lacks %q:\n%s", name, w, res[name])
			}
		}
	}
	expect("threads", "Thread 1 (hart 0, M-mode)", "Thread 2 (hart 1, M-mode)")
	expect("cont1", "Breakpoint 1, square (x=1)")
	expect("mem1", "<counter>:\t0x0000000000000000\t")
	expect("a0", "= 0x1")
	pc1 := strings.TrimSpace(res["pc1"][strings.Index(res["pc1"], "0x"):])
	pc2 := strings.TrimSpace(res["pc2"][strings.Index(res["pc2"], "0x"):])
	p1, _ := strconv.ParseUint(pc1, 0, 64)
	p2, _ := strconv.ParseUint(pc2, 0, 64)
	if p2 != p1+2 && p2 != p1+4 {
		t.Errorf("stepi went from pc %s to %s", pc1, pc2)
	}
	expect("cont2", "Hardware watchpoint 2: counter", "Old value = 0", "New value = 1")
	expect("counter2", "= 1")
	expect("cont3", "Breakpoint 1, square (x=2)")
	when3, when4 := position(t, res["when3"], log), position(t, res["when4"], log)
	if when4 >= when3 {
		t.Errorf("reverse-stepi went from instruction %d to %d", when3, when4)
	}
	if res["pc4"] == res["pc3"] {
		t.Errorf("reverse-stepi left pc at %s", res["pc3"])
	}
	// Backwards over the write to counter: gdb shows the value before it.
	expect("rcont1", "Hardware watchpoint 2: counter", "Old value = 1", "New value = 0")
	expect("counter5", "= 0")
	// Forwards gdb stops right after the store, backwards right before it.
	expect("insn5", "sd\t")
	if w2, w5 := position(t, res["when2"], log), position(t, res["when5"], log); w5+1 != w2 {
		t.Errorf("the watchpoint stopped after the write at instruction %d, before it at %d", w2, w5)
	}
	if strings.Contains(res["insn2"], "sd\t") {
		t.Errorf("forwards, the watchpoint stopped before the store:\n%s", res["insn2"])
	}
	expect("rcont2", "Breakpoint 1, square (x=1)")
	if w1, w6 := position(t, res["when1"], log), position(t, res["when6"], log); w1 != w6 {
		t.Errorf("reverse-continue to the first hit: instruction %d, the forward run hit it at %d", w6, w1)
	}
	if res["regs6"] != res["regs1"] {
		t.Errorf("registers at the first hit, reached backwards:\n%s\nforwards:\n%s", res["regs6"], res["regs1"])
	}
	if !strings.Contains(res["write"], "replay") && !strings.Contains(res["write"], "Cannot access memory") &&
		!strings.Contains(res["write"], "Could not write") {
		t.Errorf("writing memory during a replay: %q", res["write"])
	}
	if !strings.Contains(log, "refused") {
		t.Errorf("the stub did not log the refused write")
	}
	expect("cont7", fmt.Sprintf("guest.c:%d", store))
	expect("cont8", fmt.Sprintf("guest.c:%d", store))
	expect("i8", "= 2")
	// reverse-next from the store goes back over the call to square.
	expect("rnext1", fmt.Sprintf("%d\t", call))
	expect("pc9", "<work+")
	expect("sum9", "= 1")
	expect("rnext2", fmt.Sprintf("%d\t", loop))
	expect("rnext3", fmt.Sprintf("%d\t", delay))
	expect("i10", "= 1")
	expect("next1", fmt.Sprintf("%d\t", loop))
	expect("next2", fmt.Sprintf("%d\t", call))
	expect("next3", fmt.Sprintf("%d\t", store))
	if res["regs11"] != res["regs8"] {
		t.Errorf("registers at the store after reverse-next and next:\n%s\nwhen first there:\n%s", res["regs11"], res["regs8"])
	}
	expect("cont12", "No more reverse-execution history.")
	expect("counter12", "= 385")
	expect("threads12", "spin")
	end := position(t, res["when12"], log)
	if w := position(t, res["when13"], log); w >= end {
		t.Errorf("reverse-stepi from the end (%d) went to %d", end, w)
	}
	expect("rcont14", "No more reverse-execution history.")
	if w := position(t, res["when14"], log); w != 0 {
		t.Errorf("reverse-continue with no breakpoints stopped at instruction %d, not at the start", w)
	}
	if t.Failed() || os.Getenv("GDBTEST_LOG") != "" {
		t.Log(log)
	}

	// The state gdb showed at the first hit is the one a plain replay
	// reaches at that instruction count.
	w1 := position(t, res["when1"], log)
	out, errs, code := runJuice(t, "replay", rec, "--until", strconv.FormatUint(w1, 10), "--json")
	if code != 0 {
		t.Fatalf("replay --until %d: status %d\n%s", w1, code, errs)
	}
	var st struct {
		Harts []struct {
			PC uint64     `json:"pc"`
			X  [32]uint64 `json:"x"`
		} `json:"harts"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Harts) != 2 {
		t.Fatalf("replay --until --json: %v\n%s", err, out)
	}
	if st.Harts[0].PC != p1 || st.Harts[0].X[10] != 1 {
		t.Errorf("replay --until %d: hart 0 at pc %#x with a0 %#x; gdb showed pc %#x, a0 1", w1, st.Harts[0].PC, st.Harts[0].X[10], p1)
	}
	if sp := regexp.MustCompile(`(?m)^sp\s+(0x[0-9a-f]+)`).FindStringSubmatch(res["regs1"]); sp == nil ||
		fmt.Sprintf("%#x", st.Harts[0].X[2]) != sp[1] {
		t.Errorf("replay --until %d: sp %#x; gdb showed %v", w1, st.Harts[0].X[2], sp)
	}
}
