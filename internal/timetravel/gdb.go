package timetravel

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/juicevm/juice/internal/gdbstub"
)

// Target serves a Session to gdb: thread N is hart N-1.
type Target struct {
	S *Session
	// Log, if set, receives why requests were refused.
	Log io.Writer
}

var _ gdbstub.Target = (*Target)(nil)

func (t *Target) hart(thread int) (int, error) {
	if thread < 1 || thread > t.S.NumHarts() {
		return 0, fmt.Errorf("no thread %d", thread)
	}
	return thread - 1, nil
}

// Threads implements gdbstub.Target.
func (t *Target) Threads() []int {
	ts := make([]int, t.S.NumHarts())
	for i := range ts {
		ts[i] = i + 1
	}
	return ts
}

// Registers implements gdbstub.Target.
func (t *Target) Registers(thread int) (gdbstub.Registers, error) {
	h, err := t.hart(thread)
	if err != nil {
		return gdbstub.Registers{}, err
	}
	r := t.S.Registers(h)
	return gdbstub.Registers{X: r.X, PC: r.PC, F: r.F, Fcsr: r.Fcsr}, nil
}

func (t *Target) refuse(what string) error {
	return fmt.Errorf("%w: gdb asked to %s, but this is a replay: changing the guest would make it leave its recording", gdbstub.ErrRefused, what)
}

// SetRegister implements gdbstub.Target: writes are refused.
func (t *Target) SetRegister(thread, n int, val uint64) error {
	return t.refuse(fmt.Sprintf("write register %d of thread %d", n, thread))
}

// ReadMemory implements gdbstub.Target.
func (t *Target) ReadMemory(thread int, addr uint64, p []byte) (int, error) {
	h, err := t.hart(thread)
	if err != nil {
		return 0, err
	}
	return t.S.ReadMemory(h, addr, p)
}

// WriteMemory implements gdbstub.Target: writes are refused.
func (t *Target) WriteMemory(thread int, addr uint64, p []byte) error {
	return t.refuse(fmt.Sprintf("write %d bytes of memory at %#x", len(p), addr))
}

// InsertBreakpoint implements gdbstub.Target.
func (t *Target) InsertBreakpoint(kind gdbstub.BreakKind, thread int, addr, length uint64) error {
	switch kind {
	case gdbstub.BreakSoftware, gdbstub.BreakHardware:
		t.S.AddBreakpoint(addr)
		return nil
	case gdbstub.WatchWrite:
		h, err := t.hart(thread)
		if err != nil {
			h = 0
		}
		return t.S.AddWatch(h, addr, length)
	}
	return gdbstub.ErrUnsupported
}

// RemoveBreakpoint implements gdbstub.Target.
func (t *Target) RemoveBreakpoint(kind gdbstub.BreakKind, thread int, addr, length uint64) error {
	switch kind {
	case gdbstub.BreakSoftware, gdbstub.BreakHardware:
		t.S.RemoveBreakpoint(addr)
		return nil
	case gdbstub.WatchWrite:
		return t.S.RemoveWatch(addr, length)
	}
	return gdbstub.ErrUnsupported
}

// Resume implements gdbstub.Target.
func (t *Target) Resume(ctx context.Context, r gdbstub.Resume) (gdbstub.Stop, error) {
	h, err := t.hart(r.Thread)
	if err != nil {
		h = t.S.NextHart()
	}
	var st Stop
	switch {
	case r.Action == gdbstub.Continue && !r.Reverse && r.Only:
		st, err = t.S.ContinueHart(ctx, h)
	case r.Action == gdbstub.Continue && !r.Reverse:
		st, err = t.S.Continue(ctx)
	case r.Action == gdbstub.Continue:
		st, err = t.S.ReverseContinue(ctx)
	case !r.Reverse:
		st, err = t.S.Step(ctx, h)
	default:
		st, err = t.S.ReverseStep(ctx, h)
	}
	if err != nil {
		return gdbstub.Stop{}, err
	}
	if st.Reason == ReasonWatch {
		// gdb's RISC-V watchpoints are "nonsteppable": a hit is reported
		// before the writing instruction executes, and gdb itself steps
		// over it (with the watchpoint removed) to show the new value;
		// going backwards, after the instruction, and gdb steps back over
		// it. So stop on the side of the write gdb expects.
		to := st.Position + 1
		if !r.Reverse {
			to = st.Position - 1
		}
		if _, err := t.S.Seek(context.Background(), to); err != nil {
			return gdbstub.Stop{}, err
		}
	}
	out := gdbstub.Stop{Thread: st.Hart + 1, Addr: st.Addr}
	switch st.Reason {
	case ReasonStep:
		out.Kind = gdbstub.StopTrap
	case ReasonBreakpoint:
		out.Kind, out.SWBreak = gdbstub.StopTrap, true
	case ReasonWatch:
		out.Kind = gdbstub.StopWatch
	case ReasonInterrupt:
		out.Kind = gdbstub.StopInterrupt
	case ReasonBegin:
		// Where history begins, the thread gdb ran stays selected.
		out.Kind, out.Thread = gdbstub.StopHistoryBegin, h+1
	case ReasonEnd:
		out.Kind = gdbstub.StopHistoryEnd
	}
	return out, nil
}

// ThreadInfo implements gdbstub.ThreadNamer.
func (t *Target) ThreadInfo(thread int) string {
	h, err := t.hart(thread)
	if err != nil {
		return ""
	}
	r := t.S.Registers(h)
	state := ""
	switch {
	case r.Stopped:
		state = ", stopped"
	case r.Waiting:
		state = ", in WFI"
	}
	return fmt.Sprintf("hart %d, %s-mode%s", h, map[uint8]string{0: "U", 1: "S", 3: "M"}[r.Priv], state)
}

const monitorHelp = `monitor commands:
  when          the current instruction count (position in the recording)
  seek N        go to instruction count N (forwards or backwards)
  checkpoints   the checkpoints held and their memory
`

// Monitor implements gdbstub.Monitor ("monitor CMD" in gdb).
func (t *Target) Monitor(cmd string) (string, error) {
	f := strings.Fields(cmd)
	if len(f) == 0 {
		return monitorHelp, nil
	}
	switch {
	case f[0] == "when" && len(f) == 1:
		return fmt.Sprintf("instruction %d\n", t.S.Position()), nil
	case f[0] == "seek" && len(f) == 2:
		n, err := strconv.ParseUint(f[1], 0, 64)
		if err != nil {
			return "", fmt.Errorf("seek: %q is not an instruction count", f[1])
		}
		st, err := t.S.Seek(context.Background(), n)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("instruction %d (%v); gdb's view of registers is stale until the next stop: use stepi and reverse-stepi, or flushregs\n", st.Position, st.Reason), nil
	case f[0] == "checkpoints" && len(f) == 1:
		at, size := t.S.Checkpoints()
		return fmt.Sprintf("%d checkpoints, %d MiB, at %v\n", len(at), size>>20, at), nil
	}
	return monitorHelp, fmt.Errorf("unknown monitor command %q", cmd)
}
