package timetravel

import (
	"context"
	"encoding/binary"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/juicevm/juice/internal/machine"
)

// twoHarts is a bare-metal program in which both harts count in a loop,
// storing their counters in data; hart 0 powers off when it is done.
const twoHarts = `
	.section .text.init, "ax"
	.globl _start
_start:
	csrr a0, mhartid
	la t1, data
	slli t2, a0, 3
	add t1, t1, t2
	li t0, 0
	li t6, 3000
loop:
	addi t0, t0, 1
	mul t3, t0, t0
	xor t4, t3, a0
	andi t5, t0, 7
	bnez t5, skip
	sd t0, 0(t1)
skip:
	c.addi t4, 1
	blt t0, t6, loop
	bnez a0, loop
	la t1, tohost
	li t2, 1
	sd t2, 0(t1)
1:	j 1b

	.section .tohost, "aw"
	.align 6
	.globl tohost
tohost: .dword 0
	.align 6
	.globl fromhost
fromhost: .dword 0

	.data
	.align 3
data: .dword 0, 0
`

const twoHartsLD = `OUTPUT_ARCH(riscv)
ENTRY(_start)
SECTIONS
{
  . = 0x80000000;
  .text.init : { *(.text.init) }
  . = ALIGN(0x1000);
  .tohost : { *(.tohost) }
  . = ALIGN(0x1000);
  .data : { *(.data) }
}
`

func buildTwoHarts(t *testing.T) []byte {
	cc, err := exec.LookPath("riscv64-linux-gnu-gcc")
	if err != nil {
		t.Skip("riscv64-linux-gnu-gcc not found: install gcc-riscv64-linux-gnu to run the machine tests")
	}
	dir := t.TempDir()
	src, ld, out := filepath.Join(dir, "p.S"), filepath.Join(dir, "p.ld"), filepath.Join(dir, "p.elf")
	os.WriteFile(src, []byte(twoHarts), 0o644)
	os.WriteFile(ld, []byte(twoHartsLD), 0o644)
	if b, err := exec.Command(cc, "-march=rv64gc", "-mabi=lp64d", "-nostdlib", "-nostartfiles", "-static",
		"-T", ld, "-Wl,--build-id=none", "-Wl,--no-warn-rwx-segments", "-o", out, src).CombinedOutput(); err != nil {
		t.Fatalf("building the program: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newTwoHarts(t *testing.T, elf []byte) *machine.Machine {
	m, err := machine.New(machine.Config{CPUs: 2, Memory: machine.MinMemory, Bare: elf, Quantum: 7})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// realTrace is a forward run seen through the step hook: before each
// instruction, the hart about to execute it, every hart's registers and
// hart 1's stored counter.
type realTrace struct {
	hart    []int
	pc      []uint64
	regs    [][2][32]uint64
	counter []uint64
	end     uint64
}

const dataAddr = 0x80002000 // data, per the linker script

func recordReal(t *testing.T, elf []byte) realTrace {
	m := newTwoHarts(t, elf)
	var tr realTrace
	buf := make([]byte, 8)
	m.SetStepHook(func(hart int, pc uint64) bool {
		tr.hart = append(tr.hart, hart)
		tr.pc = append(tr.pc, pc)
		hs := m.Harts()
		tr.regs = append(tr.regs, [2][32]uint64{hs[0].X, hs[1].X})
		if err := m.ReadVirtual(1, dataAddr+8, buf); err != nil {
			t.Fatal(err)
		}
		tr.counter = append(tr.counter, binary.LittleEndian.Uint64(buf))
		return false
	})
	e, err := m.RunTo(context.Background(), 0)
	if err != nil || e.Kind != machine.ExitPowerOff {
		t.Fatalf("run: %+v, %v", e, err)
	}
	if uint64(len(tr.hart)) != e.Instructions {
		t.Fatalf("the hook saw %d instructions of %d", len(tr.hart), e.Instructions)
	}
	tr.end = e.Instructions
	return tr
}

// TestRealMachine runs a session over Juice's machine (two harts
// interleaved every 7 instructions, checkpoints every 1000 instructions,
// at most 6 kept) and checks every stop against a forward run seen through
// the step hook: seeks, steps and reverse steps per hart, breakpoints and
// a watchpoint both ways.
func TestRealMachine(t *testing.T) {
	elf := buildTwoHarts(t)
	tr := recordReal(t, elf)
	m := newTwoHarts(t, elf)
	s, err := New(FromMachine(m), Options{Interval: 1000, MaxCheckpoints: 6, End: tr.end})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(what string, p uint64) {
		t.Helper()
		if s.Position() != p {
			t.Fatalf("%s: at instruction %d, want %d", what, s.Position(), p)
		}
		if p >= tr.end {
			return
		}
		for h := 0; h < 2; h++ {
			if r := s.Registers(h); r.X != tr.regs[p][h] {
				t.Fatalf("%s: hart %d's registers at instruction %d differ from the forward run's", what, h, p)
			}
		}
		if s.NextHart() != tr.hart[p] || s.Registers(tr.hart[p]).PC != tr.pc[p] {
			t.Fatalf("%s: at %d hart %d is next at pc %#x; the forward run had hart %d at %#x", what, p,
				s.NextHart(), s.Registers(s.NextHart()).PC, tr.hart[p], tr.pc[p])
		}
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 20; i++ {
		p := uint64(rng.Int63n(int64(tr.end)))
		if _, err := s.Seek(ctx, p); err != nil {
			t.Fatal(err)
		}
		check("seek", p)
		h := rng.Intn(2)
		// Reverse step: the hart's previous instruction.
		want := int64(p) - 1
		for want >= 0 && tr.hart[want] != h {
			want--
		}
		st, err := s.ReverseStep(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		if want < 0 {
			if st.Reason != ReasonBegin {
				t.Fatalf("reverse step of hart %d from %d: %+v, want the beginning", h, p, st)
			}
			continue
		}
		check("reverse step", uint64(want))
		// Step: back to after that instruction, before the hart's next.
		next := want + 1
		for next < int64(tr.end) && tr.hart[next] != h {
			next++
		}
		if _, err := s.Step(ctx, h); err != nil {
			t.Fatal(err)
		}
		check("step", uint64(next))
	}
	at, _ := s.Checkpoints()
	if len(at) > 6 {
		t.Fatalf("%d checkpoints kept: %v", len(at), at)
	}

	// A breakpoint on the store, both ways.
	bp := tr.pc[0]
	for i := len(tr.pc) / 2; i < len(tr.pc); i++ {
		if tr.hart[i] == 1 {
			bp = tr.pc[i] // somewhere in hart 1's loop
			break
		}
	}
	var hits []uint64
	for i, pc := range tr.pc {
		if pc == bp && i > 0 {
			hits = append(hits, uint64(i))
		}
	}
	if _, err := s.Seek(ctx, 0); err != nil {
		t.Fatal(err)
	}
	s.AddBreakpoint(bp)
	for _, h := range hits[:5] {
		if st, err := s.Continue(ctx); err != nil || st.Reason != ReasonBreakpoint {
			t.Fatalf("continue: %+v, %v", st, err)
		}
		check("breakpoint", h)
	}
	if _, err := s.Seek(ctx, hits[len(hits)-1]+500); err != nil {
		t.Fatal(err)
	}
	for i := len(hits) - 1; i >= len(hits)-5; i-- {
		if st, err := s.ReverseContinue(ctx); err != nil || st.Reason != ReasonBreakpoint {
			t.Fatalf("reverse-continue: %+v, %v", st, err)
		}
		check("reverse breakpoint", hits[i])
	}
	// Only hart 1's hits, as gdb's software single-step asks.
	if _, err := s.Seek(ctx, 0); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, h := range hits {
		if tr.hart[h] != 1 {
			continue
		}
		if st, err := s.ContinueHart(ctx, 1); err != nil || st.Reason != ReasonBreakpoint || st.Hart != 1 {
			t.Fatalf("continue hart 1: %+v, %v", st, err)
		}
		check("hart 1's breakpoint", h)
		if n++; n == 3 {
			break
		}
	}
	s.RemoveBreakpoint(bp)

	// A watchpoint on hart 1's counter: where it changes.
	var writes []uint64
	for i := 1; i < len(tr.counter); i++ {
		if tr.counter[i] != tr.counter[i-1] {
			writes = append(writes, uint64(i-1))
		}
	}
	if err := s.AddWatch(0, dataAddr+8, 8); err != nil {
		t.Fatal(err)
	}
	mid := len(writes) / 2
	if _, err := s.Seek(ctx, writes[mid]-3); err != nil {
		t.Fatal(err)
	}
	for _, w := range writes[mid : mid+3] {
		st, err := s.Continue(ctx)
		if err != nil || st.Reason != ReasonWatch || st.Hart != 1 || st.Addr != dataAddr+8 {
			t.Fatalf("continue to the write at %d: %+v, %v", w, st, err)
		}
		check("watch", w+1)
	}
	for i := mid + 2; i >= mid-2; i-- {
		st, err := s.ReverseContinue(ctx)
		if err != nil || st.Reason != ReasonWatch || st.Hart != 1 {
			t.Fatalf("reverse-continue to the write at %d: %+v, %v", writes[i], st, err)
		}
		check("reverse watch", writes[i])
	}
	at, _ = s.Checkpoints()
	if len(at) > 6 || !slices.IsSorted(at) {
		t.Fatalf("checkpoints: %v", at)
	}
	// The end, and back.
	if err := s.RemoveWatch(dataAddr+8, 8); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Continue(ctx); err != nil || st.Reason != ReasonEnd || st.Position != tr.end {
		t.Fatalf("continue to the end: %+v, %v", st, err)
	}
	if _, err := s.ReverseStep(ctx, 0); err != nil {
		t.Fatal(err)
	}
	want := tr.end - 1
	for tr.hart[want] != 0 {
		want--
	}
	check("reverse step from the end", want)
}
