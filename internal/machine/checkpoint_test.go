package machine_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/juicevm/juice/internal/machine"
)

// newBootMachine builds a machine booting the default appliance with no
// outside input, so that it can take checkpoints.
func newBootMachine(t *testing.T, cpus int, out *bytes.Buffer) *machine.Machine {
	t.Helper()
	d := defaultAppliance(t)
	m, err := machine.New(machine.Config{CPUs: cpus, Memory: 256 << 20, Kernel: readFile(t, d.KernelPath),
		Initrd: readFile(t, d.InitrdPath), Cmdline: "console=ttyS0", Console: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func runTo(t *testing.T, m *machine.Machine, n uint64) {
	t.Helper()
	e, err := m.RunTo(context.Background(), n)
	if err != nil || e.Kind != machine.ExitLimit || e.Instructions != n {
		t.Fatalf("RunTo(%d): %+v, %v", n, e, err)
	}
}

// TestRunToPausesWithoutChangingTheRun checks that pausing anywhere —
// including inside a hart's share of a round — and single-stepping under
// a step hook execute exactly what an uninterrupted run executes.
func TestRunToPausesWithoutChangingTheRun(t *testing.T) {
	testRunToPauses(t, newBootMachine)
}

// newMachineFunc makes a machine to test on, with its console on out:
// newBootMachine (Linux) or newBareMachine (a bare-metal program).
type newMachineFunc func(t *testing.T, cpus int, out *bytes.Buffer) *machine.Machine

func testRunToPauses(t *testing.T, newMachine newMachineFunc) {
	const end = 12_000_000
	var out1, out2 bytes.Buffer
	straight := newMachine(t, 2, &out1)
	runTo(t, straight, end)

	paused := newMachine(t, 2, &out2)
	for _, n := range []uint64{1, 4095, 4097, 1_000_003, 5_555_555} {
		runTo(t, paused, n)
	}
	steps := 0
	paused.SetStepHook(func(hart int, pc uint64) bool { steps++; return false })
	runTo(t, paused, 5_600_000)
	paused.SetStepHook(nil)
	runTo(t, paused, end)
	if steps < 44_000 {
		t.Errorf("the step hook ran %d times over 44,445 instructions", steps)
	}
	if straight.Digest() != paused.Digest() {
		t.Fatal("pausing changed the execution: digests differ")
	}
	if out1.String() != out2.String() {
		t.Fatal("pausing changed the console output")
	}

	// A hook that stops at a pc stops before that instruction.
	stopAt := straight.Harts()[1].PC
	var hit int = -1
	paused.SetStepHook(func(hart int, pc uint64) bool {
		if pc == stopAt {
			hit = hart
			return true
		}
		return false
	})
	e, err := paused.RunTo(context.Background(), end+10_000_000)
	if err != nil || e.Kind != machine.ExitBreak {
		t.Fatalf("expected a break at pc %#x: %+v, %v", stopAt, e, err)
	}
	if paused.Harts()[hit].PC != stopAt {
		t.Fatalf("stopped with hart %d at pc %#x, want %#x", hit, paused.Harts()[hit].PC, stopAt)
	}
}

// TestCheckpointRestore takes checkpoints along a boot, returns to them in
// every order and checks that the machine then runs exactly as it did.
func TestCheckpointRestore(t *testing.T) {
	testCheckpointRestore(t, newBootMachine)
}

func testCheckpointRestore(t *testing.T, newMachine newMachineFunc) {
	var out bytes.Buffer
	m := newMachine(t, 2, &out)
	points := []uint64{0, 3_000_000, 9_000_000, 15_000_000}
	var cks []*machine.Checkpoint
	digests := map[uint64][32]byte{}
	for _, n := range points {
		if n > 0 {
			runTo(t, m, n)
		}
		c, err := m.Checkpoint()
		if err != nil {
			t.Fatal(err)
		}
		cks = append(cks, c)
		digests[n] = m.Digest()
	}
	const end = 20_000_000
	runTo(t, m, end)
	want := m.Digest()

	for _, i := range []int{1, 3, 0, 2, 2, 1} {
		c := cks[i]
		if err := m.Restore(c); err != nil {
			t.Fatal(err)
		}
		if m.Instructions() != c.Instructions() || m.Digest() != digests[c.Instructions()] {
			t.Fatalf("restoring the checkpoint at %d: state differs from when it was taken", c.Instructions())
		}
		// Run part of the way, or to the end, before the next restore.
		to := c.Instructions() + 2_500_000
		if i%2 == 1 {
			to = end
		}
		runTo(t, m, to)
		if to == end && m.Digest() != want {
			t.Fatalf("after restoring the checkpoint at %d, the run ended in a different state", c.Instructions())
		}
	}
	// A checkpoint taken between two others, then dropping one.
	if err := m.Restore(cks[1]); err != nil {
		t.Fatal(err)
	}
	runTo(t, m, 6_000_000)
	mid, err := m.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.DropCheckpoint(cks[2]); err != nil {
		t.Fatal(err)
	}
	runTo(t, m, end)
	if err := m.Restore(mid); err != nil {
		t.Fatal(err)
	}
	runTo(t, m, end)
	if m.Digest() != want {
		t.Fatal("after dropping a checkpoint, returning to another gave a different run")
	}
	if err := m.Restore(cks[2]); err == nil {
		t.Fatal("restoring a dropped checkpoint succeeded")
	}
	if err := m.DropCheckpoint(cks[0]); err == nil {
		t.Fatal("dropped the first checkpoint while others exist")
	}
}

func TestReadVirtual(t *testing.T) {
	var out bytes.Buffer
	m := newBootMachine(t, 1, &out)
	runTo(t, m, 30_000_000) // well into the kernel, with paging on
	h := m.Harts()[0]
	var insn [4]byte
	if err := m.ReadVirtual(0, h.PC, insn[:2]); err != nil {
		t.Fatalf("reading the instruction at pc %#x: %v", h.PC, err)
	}
	if err := m.ReadVirtual(0, 0x10, insn[:]); err == nil {
		t.Fatal("reading an unmapped address succeeded")
	}
	if err := m.ReadVirtual(5, h.PC, insn[:]); err == nil {
		t.Fatal("reading through a hart that does not exist succeeded")
	}
}

// TestSummaryNamesWhatDiffers runs two identical machines, disturbs one —
// a RAM page, then a register — and checks that comparing their state
// summaries names the part of RAM and the page, then the hart and the
// register file.
func TestSummaryNamesWhatDiffers(t *testing.T) {
	testSummaryNamesWhatDiffers(t, newBootMachine)
}

func testSummaryNamesWhatDiffers(t *testing.T, newMachine newMachineFunc) {
	var out1, out2 bytes.Buffer
	a, b := newMachine(t, 2, &out1), newMachine(t, 2, &out2)
	runTo(t, a, 8_000_000)
	runTo(t, b, 8_000_000)
	if d := a.Summary().Diff(b.Summary()); d != "" {
		t.Fatalf("identical machines differ: %s", d)
	}
	page := uint64(machine.RAMBase + 0x0a3_1000)
	var old [1]byte
	b.ReadPhysical(page+8, old[:])
	if err := b.WritePhysical(page+8, []byte{old[0] ^ 0x5a}); err != nil {
		t.Fatal(err)
	}
	sa, sb := a.Summary(), b.Summary()
	d := sb.Diff(sa)
	if !strings.Contains(d, "RAM differs in") || !strings.Contains(d, fmt.Sprintf("%#x", page)) {
		t.Fatalf("a changed page is not named: %q", d)
	}
	if strings.Contains(d, "hart") {
		t.Fatalf("registers reported different: %q", d)
	}
	t.Logf("a changed page: %s", d)
	b.Harts()[1].X[10] ^= 1
	d = b.Summary().Diff(a.Summary())
	if !strings.Contains(d, "hart 1 integer registers differ") || strings.Contains(d, "hart 0") {
		t.Fatalf("a changed register is not named: %q", d)
	}
	// The binary form carries the same information.
	enc, _ := sa.AppendBinary(nil)
	back, err := machine.ParseSummary(sa.Clock, enc)
	if err != nil || back.Diff(sa) != "" {
		t.Fatalf("round trip: %v, %q", err, back.Diff(sa))
	}
	if _, err := machine.ParseSummary(0, enc[:len(enc)-1]); err == nil {
		t.Fatal("a short summary was accepted")
	}
}
