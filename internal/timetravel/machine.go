// Package timetravel runs a replaying machine forwards and backwards:
// breakpoints, write watchpoints and single steps in both directions, over
// in-memory checkpoints taken as execution moves forward and re-execution
// from them. A position is the machine's instruction count (the total over
// its harts), which a replay reaches with the same state every time.
package timetravel

import (
	"context"

	"github.com/juicevm/juice/internal/machine"
)

// Machine is what a Session drives: a *machine.Machine (see FromMachine),
// or a stand-in in tests.
type Machine interface {
	// RunTo runs until Instructions() == n, the step hook stops it
	// (ExitBreak) or the machine stops (any other kind).
	RunTo(ctx context.Context, n uint64) (machine.Exit, error)
	// SetStepHook installs f, called before each instruction with the
	// index of the hart about to execute it and its pc; true pauses the
	// machine there. nil removes it.
	SetStepHook(f func(hart int, pc uint64) bool)
	Checkpoint() (Checkpoint, error)
	Restore(Checkpoint) error
	DropCheckpoint(Checkpoint) error
	Instructions() uint64
	NumHarts() int
	Registers(hart int) Registers
	// ReadVirtual reads memory as a hart sees it now, without side effects.
	ReadVirtual(hart int, va uint64, p []byte) error
}

// Checkpoint is a saved machine state.
type Checkpoint interface {
	Instructions() uint64
	// Size is the memory the checkpoint holds itself, in bytes.
	Size() int
}

// Registers is one hart's state as a debugger shows it.
type Registers struct {
	X    [32]uint64
	F    [32]uint64
	PC   uint64
	Fcsr uint64
	// Priv is the privilege level; Waiting and Stopped say whether the
	// hart waits in WFI or is stopped (not started).
	Priv             uint8
	Waiting, Stopped bool
}

// FromMachine adapts a machine for a Session.
func FromMachine(m *machine.Machine) Machine { return realMachine{m} }

type realMachine struct{ m *machine.Machine }

func (r realMachine) RunTo(ctx context.Context, n uint64) (machine.Exit, error) {
	return r.m.RunTo(ctx, n)
}

func (r realMachine) SetStepHook(f func(int, uint64) bool) { r.m.SetStepHook(f) }

func (r realMachine) Checkpoint() (Checkpoint, error) {
	c, err := r.m.Checkpoint()
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (r realMachine) Restore(c Checkpoint) error {
	return r.m.Restore(c.(*machine.Checkpoint))
}

func (r realMachine) DropCheckpoint(c Checkpoint) error {
	return r.m.DropCheckpoint(c.(*machine.Checkpoint))
}

func (r realMachine) Instructions() uint64 { return r.m.Instructions() }
func (r realMachine) NumHarts() int        { return len(r.m.Harts()) }

// csrFcsr is fcsr's CSR number, the key of riscv.State.CSRs.
const csrFcsr = 0x003

func (r realMachine) Registers(i int) Registers {
	h := r.m.Harts()[i]
	st := h.State()
	return Registers{X: h.X, F: h.F, PC: h.PC, Fcsr: st.CSRs[csrFcsr], Priv: st.Priv, Waiting: st.Waiting, Stopped: st.Stopped}
}

func (r realMachine) ReadVirtual(hart int, va uint64, p []byte) error {
	return r.m.ReadVirtual(hart, va, p)
}
