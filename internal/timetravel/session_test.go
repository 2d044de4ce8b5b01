package timetravel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/juicevm/juice/internal/machine"
)

// toy is a deterministic stand-in for a machine: harts loop over small
// programs, some instructions write memory, and harts run round-robin with
// a different quantum each, like the real scheduler.
type toy struct {
	st   toyState
	end  uint64 // the machine powers off after this many instructions
	hook func(int, uint64) bool
	cps  []*toyCP
	runs int // RunTo calls, to see that work is bounded
}

type toyState struct {
	pcs, cnt []uint64
	mem      [64]byte
	hart     int
	used     uint64
	total    uint64
	stopped  bool
}

func (s toyState) clone() toyState {
	s.pcs, s.cnt = slices.Clone(s.pcs), slices.Clone(s.cnt)
	return s
}

type toyCP struct {
	st      toyState
	dropped bool
}

func (c *toyCP) Instructions() uint64 { return c.st.total }
func (c *toyCP) Size() int            { return 100 }

func newToy(harts int, end uint64) *toy {
	t := &toy{end: end}
	for h := 0; h < harts; h++ {
		t.st.pcs = append(t.st.pcs, base(h))
		t.st.cnt = append(t.st.cnt, 0)
	}
	return t
}

func base(h int) uint64    { return 0x1000 * uint64(h+1) }
func loopLen(h int) uint64 { return 7 + 3*uint64(h) }
func quantum(h int) uint64 { return 3 + 2*uint64(h) }

func (t *toy) step() {
	s := &t.st
	h := s.hart
	pc := s.pcs[h]
	off := pc - base(h)
	if off%16 == 8 { // every fourth instruction writes memory
		s.mem[(off/4+uint64(h)*5)%64] = byte(s.total)
	}
	s.pcs[h] = base(h) + (off+4)%(4*loopLen(h))
	s.cnt[h]++
	s.total++
	if s.total == t.end {
		s.stopped = true
	}
	s.used++
	if s.used == quantum(h) {
		s.used, s.hart = 0, (h+1)%len(s.pcs)
	}
}

func (t *toy) RunTo(ctx context.Context, n uint64) (machine.Exit, error) {
	t.runs++
	for {
		if t.st.stopped {
			return machine.Exit{Kind: machine.ExitPowerOff, Instructions: t.st.total}, nil
		}
		if t.st.total >= n {
			return machine.Exit{Kind: machine.ExitLimit, Instructions: t.st.total}, nil
		}
		if t.hook != nil && t.hook(t.st.hart, t.st.pcs[t.st.hart]) {
			return machine.Exit{Kind: machine.ExitBreak, Instructions: t.st.total}, nil
		}
		t.step()
	}
}

func (t *toy) SetStepHook(f func(int, uint64) bool) { t.hook = f }

func (t *toy) Checkpoint() (Checkpoint, error) {
	if t.st.stopped {
		return nil, errors.New("stopped")
	}
	for _, c := range t.cps {
		if !c.dropped && c.st.total == t.st.total {
			return c, nil
		}
	}
	c := &toyCP{st: t.st.clone()}
	t.cps = append(t.cps, c)
	return c, nil
}

func (t *toy) Restore(c Checkpoint) error {
	tc := c.(*toyCP)
	if tc.dropped {
		return errors.New("restore of a dropped checkpoint")
	}
	t.st = tc.st.clone()
	return nil
}

func (t *toy) DropCheckpoint(c Checkpoint) error {
	c.(*toyCP).dropped = true
	return nil
}

func (t *toy) Instructions() uint64 { return t.st.total }
func (t *toy) NumHarts() int        { return len(t.st.pcs) }

func (t *toy) Registers(h int) Registers {
	var r Registers
	r.PC, r.X[1], r.X[2] = t.st.pcs[h], t.st.cnt[h], t.st.total
	return r
}

func (t *toy) ReadVirtual(h int, va uint64, p []byte) error {
	if va >= 64 || va+uint64(len(p)) > 64 {
		return fmt.Errorf("%#x is not mapped", va)
	}
	copy(p, t.st.mem[va:])
	return nil
}

// trace is what the toy does: at each position, the hart about to run and
// its pc, and the state.
type trace struct {
	hart []int
	pc   []uint64
	st   []toyState
}

func record(harts int, end uint64) trace {
	t := newToy(harts, end)
	var tr trace
	for {
		tr.st = append(tr.st, t.st.clone())
		if t.st.stopped {
			return tr
		}
		tr.hart = append(tr.hart, t.st.hart)
		tr.pc = append(tr.pc, t.st.pcs[t.st.hart])
		t.step()
	}
}

func (tr trace) check(t *testing.T, s *Session, m *toy, what string) {
	t.Helper()
	p := s.Position()
	want := tr.st[p]
	if !slices.Equal(m.st.pcs, want.pcs) || !slices.Equal(m.st.cnt, want.cnt) || m.st.mem != want.mem {
		t.Fatalf("%s: the state at position %d differs from the forward run's", what, p)
	}
}

func newSession(t *testing.T, harts int, end uint64, opts Options) (*Session, *toy) {
	m := newToy(harts, end)
	opts.End = end
	s, err := New(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, m
}

func TestBreakpointsBothWays(t *testing.T) {
	const end = 2000
	for _, harts := range []int{1, 3} {
		t.Run(fmt.Sprint(harts, "harts"), func(t *testing.T) {
			tr := record(harts, end)
			s, m := newSession(t, harts, end, Options{Interval: 64})
			ctx := context.Background()
			bp := base(harts-1) + 8 // on the last hart's loop
			s.AddBreakpoint(bp)
			var hits []uint64
			for {
				st, err := s.Continue(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if st.Reason == ReasonEnd {
					break
				}
				if st.Reason != ReasonBreakpoint || st.Hart != harts-1 || m.Registers(st.Hart).PC != bp {
					t.Fatalf("stop %+v at pc %#x", st, m.Registers(st.Hart).PC)
				}
				tr.check(t, s, m, "continue")
				hits = append(hits, st.Position)
			}
			var want []uint64
			for p, pc := range tr.pc {
				if pc == bp && p > 0 {
					want = append(want, uint64(p))
				}
			}
			if !slices.Equal(hits, want) {
				t.Fatalf("forward hits %v, want %v", hits, want)
			}
			if s.Position() != end {
				t.Fatalf("at the end: position %d", s.Position())
			}
			// Backwards, every hit again in reverse order, then the start.
			for i := len(want) - 1; i >= 0; i-- {
				st, err := s.ReverseContinue(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if st.Reason != ReasonBreakpoint || st.Position != want[i] || st.Hart != harts-1 {
					t.Fatalf("reverse-continue: %+v, want a breakpoint at %d", st, want[i])
				}
				tr.check(t, s, m, "reverse-continue")
			}
			st, err := s.ReverseContinue(ctx)
			if err != nil || st.Reason != ReasonBegin || st.Position != 0 {
				t.Fatalf("reverse-continue at the first hit: %+v, %v", st, err)
			}
			tr.check(t, s, m, "begin")
			at, _ := s.Checkpoints()
			if len(at) < 2 || at[0] != 0 {
				t.Errorf("checkpoints at %v", at)
			}
		})
	}
}

func TestStepsBothWays(t *testing.T) {
	const end = 300
	const harts = 3
	tr := record(harts, end)
	s, m := newSession(t, harts, end, Options{Interval: 16})
	ctx := context.Background()
	// Forward: step hart 1 through its instructions.
	var positions []uint64
	for i := 0; i < 40; i++ {
		st, err := s.Step(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if st.Reason != ReasonStep || st.Hart != 1 || tr.hart[st.Position] != 1 {
			t.Fatalf("step %d: %+v (the hart at that position is %d)", i, st, tr.hart[st.Position])
		}
		tr.check(t, s, m, "step")
		positions = append(positions, st.Position)
	}
	for i := len(positions) - 2; i >= 0; i-- {
		st, err := s.ReverseStep(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if st.Reason != ReasonStep || st.Position != positions[i] || st.Hart != 1 {
			t.Fatalf("reverse step to %d: %+v", positions[i], st)
		}
		tr.check(t, s, m, "reverse step")
	}
	// Single hart: reverse steps go back one instruction each.
	tr1 := record(1, end)
	s1, m1 := newSession(t, 1, end, Options{Interval: 16})
	if _, err := s1.Seek(ctx, 100); err != nil {
		t.Fatal(err)
	}
	for p := uint64(99); p > 80; p-- {
		st, err := s1.ReverseStep(ctx, 0)
		if err != nil || st.Position != p {
			t.Fatalf("reverse step: %+v, %v; want position %d", st, err, p)
		}
		tr1.check(t, s1, m1, "reverse step")
	}
	if _, err := s1.Seek(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if st, _ := s1.ReverseStep(ctx, 0); st.Reason != ReasonBegin {
		t.Fatalf("reverse step at 0: %+v", st)
	}
	st, err := s1.Seek(ctx, end+50)
	if err != nil || st.Reason != ReasonEnd || st.Position != end {
		t.Fatalf("seek past the end: %+v, %v", st, err)
	}
	if st, _ := s1.Step(ctx, 0); st.Reason != ReasonEnd {
		t.Fatalf("step at the end: %+v", st)
	}
	if st, _ := s1.ReverseStep(ctx, 0); st.Position != end-1 {
		t.Fatalf("reverse step from the end: %+v", st)
	}
	tr1.check(t, s1, m1, "reverse step from the end")
}

func TestWatchpoints(t *testing.T) {
	const end = 1500
	const harts = 2
	tr := record(harts, end)
	// Positions whose instruction changes mem[2:4].
	var writes []uint64
	for p := 0; p+1 < len(tr.st); p++ {
		if string(tr.st[p].mem[2:4]) != string(tr.st[p+1].mem[2:4]) {
			writes = append(writes, uint64(p))
		}
	}
	if len(writes) < 3 {
		t.Fatalf("the toy writes the range only %d times", len(writes))
	}
	s, m := newSession(t, harts, end, Options{Interval: 100})
	ctx := context.Background()
	if err := s.AddWatch(0, 2, 2); err != nil {
		t.Fatal(err)
	}
	for _, w := range writes {
		st, err := s.Continue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Reason != ReasonWatch || st.Addr != 2 || st.Position != w+1 || st.Hart != tr.hart[w] {
			t.Fatalf("continue: %+v, want a watchpoint right after instruction %d of hart %d", st, w, tr.hart[w])
		}
		tr.check(t, s, m, "watch")
	}
	if st, _ := s.Continue(ctx); st.Reason != ReasonEnd {
		t.Fatalf("after the last write: %+v", st)
	}
	for i := len(writes) - 1; i >= 0; i-- {
		st, err := s.ReverseContinue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Reason != ReasonWatch || st.Position != writes[i] || st.Hart != tr.hart[writes[i]] {
			t.Fatalf("reverse-continue: %+v, want a watchpoint before instruction %d", st, writes[i])
		}
		tr.check(t, s, m, "reverse watch")
	}
	if err := s.RemoveWatch(2, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveWatch(2, 2); err == nil {
		t.Fatal("removed a watch twice")
	}
	if err := s.AddWatch(0, 0, 100); err == nil {
		t.Fatal("a 100-byte watch was accepted")
	}
}

func TestCheckpointsStayBounded(t *testing.T) {
	const end = 20000
	tr := record(2, end)
	s, m := newSession(t, 2, end, Options{Interval: 50, MaxCheckpoints: 12})
	ctx := context.Background()
	if st, err := s.Continue(ctx); err != nil || st.Reason != ReasonEnd {
		t.Fatalf("continue: %+v, %v", st, err)
	}
	at, _ := s.Checkpoints()
	if len(at) > 12 || at[0] != 0 {
		t.Fatalf("checkpoints at %v", at)
	}
	// Far back, then step around: the session re-executes from what it kept.
	for _, p := range []uint64{5000, 17, 19999, 12345, 12344} {
		if _, err := s.Seek(ctx, p); err != nil {
			t.Fatal(err)
		}
		tr.check(t, s, m, fmt.Sprint("seek ", p))
		for i := 0; i < 3; i++ {
			if _, err := s.ReverseStep(ctx, i%2); err != nil {
				t.Fatal(err)
			}
			tr.check(t, s, m, "reverse step")
		}
	}
	at, _ = s.Checkpoints()
	if len(at) > 12 {
		t.Fatalf("%d checkpoints: %v", len(at), at)
	}
	// Near the focus they are dense.
	near := 0
	for _, a := range at {
		if a+500 >= 12344 && a <= 12344+500 {
			near++
		}
	}
	if near < 3 {
		t.Errorf("only %d checkpoints near the focus: %v", near, at)
	}
}

func TestInterrupt(t *testing.T) {
	s, _ := newSession(t, 2, 1<<40, Options{Interval: 1000})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	st, err := s.Continue(ctx)
	if err != nil || st.Reason != ReasonInterrupt {
		t.Fatalf("canceled continue: %+v, %v", st, err)
	}
	s.AddBreakpoint(0x9999)
	st, err = s.Continue(ctx)
	if err != nil || st.Reason != ReasonInterrupt {
		t.Fatalf("canceled continue with a breakpoint: %+v, %v", st, err)
	}
	if _, err := s.Seek(context.Background(), 5000); err != nil {
		t.Fatal(err)
	}
	st, err = s.ReverseContinue(ctx)
	if err != nil || st.Reason != ReasonInterrupt || st.Position != 5000 {
		t.Fatalf("canceled reverse-continue: %+v, %v", st, err)
	}
}
