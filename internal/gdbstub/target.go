// Package gdbstub serves the gdb remote serial protocol for a RISC-V (RV64)
// target: packet framing with checksums and acknowledgements (and
// QStartNoAckMode), the interrupt byte, registers in gdb's RISC-V numbering
// with a target description, memory, breakpoints and write watchpoints,
// threads, and forward and reverse execution (bc, bs).
//
// The server knows nothing about Juice's machine: it drives a Target.
// Everything that comes from the client is untrusted: packet sizes, hex
// lengths, addresses and thread ids are bounded and checked, and a
// malformed packet gets an error reply, never a panic.
package gdbstub

import (
	"context"
	"errors"
)

// Register numbers in gdb's RISC-V layout, as the target description
// served by the stub numbers them.
const (
	RegX0     = 0  // x0..x31 are 0..31
	RegPC     = 32 // the program counter
	RegF0     = 33 // f0..f31 are 33..64
	RegFflags = 65
	RegFrm    = 66
	RegFcsr   = 67
	NumRegs   = 68
)

// Registers is one thread's register file.
type Registers struct {
	X  [32]uint64
	PC uint64
	F  [32]uint64
	// Fcsr holds fflags (bits 0-4) and frm (bits 5-7).
	Fcsr uint64
}

// Get returns register n (a Reg* number) and its size in bytes.
func (r *Registers) Get(n int) (val uint64, size int, ok bool) {
	switch {
	case n >= RegX0 && n < RegX0+32:
		return r.X[n-RegX0], 8, true
	case n == RegPC:
		return r.PC, 8, true
	case n >= RegF0 && n < RegF0+32:
		return r.F[n-RegF0], 8, true
	case n == RegFflags:
		return r.Fcsr & 0x1f, 4, true
	case n == RegFrm:
		return r.Fcsr >> 5 & 7, 4, true
	case n == RegFcsr:
		return r.Fcsr & 0xff, 4, true
	}
	return 0, 0, false
}

// Action is what a resume asks for.
type Action int

// Actions.
const (
	Continue Action = iota
	Step
)

// Resume asks the target to run.
type Resume struct {
	Action Action
	// Reverse runs backwards through the execution history.
	Reverse bool
	// Thread is the thread to step (Step), or the thread gdb last selected
	// with Hc (Continue); always one of Threads().
	Thread int
	// Only says gdb resumed Thread alone (vCont;c:TID, as it does to
	// single-step in software with a breakpoint at the next pc): the
	// other threads' breakpoints should not stop the target.
	Only bool
}

// StopKind says why the target stopped.
type StopKind int

// Stop kinds.
const (
	// StopTrap: a step finished or a breakpoint was hit (SIGTRAP).
	StopTrap StopKind = iota
	// StopInterrupt: the client interrupted the run (SIGINT).
	StopInterrupt
	// StopWatch: a write watchpoint triggered at Addr (SIGTRAP).
	StopWatch
	// StopHistoryBegin: reverse execution reached the start of the
	// history (replaylog:begin).
	StopHistoryBegin
	// StopHistoryEnd: forward execution reached the end of the history
	// (replaylog:end).
	StopHistoryEnd
	// StopExited: the target is gone; Code is its exit status (W).
	StopExited
)

// Stop describes where and why a resume ended.
type Stop struct {
	Kind StopKind
	// Thread is the thread that stopped (it becomes gdb's current thread).
	Thread int
	// Addr is the watched address that was written (StopWatch).
	Addr uint64
	// SWBreak and HWBreak say the thread stopped at a software or a
	// hardware breakpoint (StopTrap).
	SWBreak, HWBreak bool
	// Code is the exit status (StopExited).
	Code int
}

// BreakKind is the kind of a Z/z packet.
type BreakKind int

// Breakpoint and watchpoint kinds, numbered as in Z packets.
const (
	BreakSoftware BreakKind = iota // Z0
	BreakHardware                  // Z1
	WatchWrite                     // Z2
	WatchRead                      // Z3
	WatchAccess                    // Z4
)

// ErrUnsupported is returned by a Target for something it does not do; the
// stub answers with an empty reply (gdb then knows the feature is absent).
var ErrUnsupported = errors.New("not supported by this target")

// ErrRefused wraps errors for requests the target refuses on purpose (for
// instance a register write during a replay); the stub logs why.
var ErrRefused = errors.New("refused")

// Target is what the stub debugs. Thread ids are positive. The stub calls
// the methods from one goroutine, and never while Resume runs.
type Target interface {
	// Threads lists the thread ids, in order.
	Threads() []int
	// Registers returns a thread's registers.
	Registers(thread int) (Registers, error)
	// SetRegister writes register n (a Reg* number) of a thread.
	SetRegister(thread, n int, val uint64) error
	// ReadMemory reads len(p) bytes at addr as the thread sees memory; it
	// returns how many it could read (a prefix) and an error if not all.
	ReadMemory(thread int, addr uint64, p []byte) (int, error)
	// WriteMemory writes p at addr as the thread sees memory.
	WriteMemory(thread int, addr uint64, p []byte) error
	// InsertBreakpoint and RemoveBreakpoint manage breakpoints (length is
	// the instruction size gdb gives) and watchpoints (length in bytes,
	// at most MaxWatchLength); thread is gdb's current general thread,
	// whose address translation the address is meant in.
	InsertBreakpoint(kind BreakKind, thread int, addr, length uint64) error
	RemoveBreakpoint(kind BreakKind, thread int, addr, length uint64) error
	// Resume runs the target until it stops. Canceling ctx (the client's
	// interrupt) must make it return promptly with StopInterrupt.
	Resume(ctx context.Context, r Resume) (Stop, error)
}

// ThreadNamer is an optional Target interface: a description of a thread
// for "info threads" (qThreadExtraInfo).
type ThreadNamer interface {
	ThreadInfo(thread int) string
}

// Monitor is an optional Target interface: gdb's "monitor CMD" (qRcmd).
type Monitor interface {
	Monitor(cmd string) (string, error)
}

// MaxWatchLength bounds the length of a watchpoint.
const MaxWatchLength = 64
