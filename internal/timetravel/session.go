package timetravel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/juicevm/juice/internal/machine"
)

// Options configure a Session.
type Options struct {
	// Interval is the distance in instructions between checkpoints taken
	// as execution moves forward (0: DefaultInterval).
	Interval uint64
	// Budget bounds the memory held by the checkpoints after the first
	// (which holds all of RAM), in bytes (0: DefaultBudget). Older
	// checkpoints are thinned out to stay within it.
	Budget int64
	// MaxCheckpoints bounds their number (0: DefaultMaxCheckpoints).
	MaxCheckpoints int
	// End, if not zero, is the instruction count where the recording
	// ends: execution never goes past it.
	End uint64
	// Log, if set, receives a line for each notable event.
	Log io.Writer
}

// Defaults for Options.
const (
	DefaultInterval       = 1 << 20
	DefaultBudget         = 512 << 20
	DefaultMaxCheckpoints = 1024
)

// Reason says why a Session stopped.
type Reason int

// Reasons.
const (
	ReasonStep       Reason = iota // a step finished
	ReasonBreakpoint               // a hart is about to execute a breakpoint's instruction
	ReasonWatch                    // a watched range changed
	ReasonInterrupt                // the context was canceled
	ReasonBegin                    // reverse execution reached the start of the history
	ReasonEnd                      // forward execution reached the end of the recording
)

func (r Reason) String() string {
	return [...]string{"step", "breakpoint", "watchpoint", "interrupt", "begin", "end"}[r]
}

// Stop says where and why a Session stopped.
type Stop struct {
	Reason Reason
	// Hart is the hart the stop concerns: the one about to execute at a
	// breakpoint or after a step, the one whose write changed a watched
	// range.
	Hart int
	// Addr is the start of the watched range that changed (ReasonWatch).
	Addr uint64
	// Position is the instruction count where the session stopped.
	Position uint64
}

type watch struct {
	hart         int
	addr, length uint64
	old          []byte
	valid        bool // old holds the bytes (they were readable)
	buf          []byte
}

// Session drives a replaying machine forwards and backwards.
type Session struct {
	m      Machine
	opts   Options
	nharts int

	bps     map[uint64]int
	watches []*watch

	cps   []Checkpoint // by instruction count; cps[0] is the first
	focus uint64       // where the user is, for thinning checkpoints

	// stopped is set while the machine has stopped (it ran to its end);
	// endPos is then where.
	stopped  bool
	endPos   uint64
	endKnown bool
	// next is the hart about to execute the next instruction (after a
	// settle).
	next int
}

// New starts a session on a machine that has not run past its current
// position; it takes the first checkpoint there.
func New(m Machine, opts Options) (*Session, error) {
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Budget == 0 {
		opts.Budget = DefaultBudget
	}
	if opts.MaxCheckpoints == 0 {
		opts.MaxCheckpoints = DefaultMaxCheckpoints
	}
	s := &Session{m: m, opts: opts, nharts: m.NumHarts(), bps: map[uint64]int{}}
	c, err := m.Checkpoint()
	if err != nil {
		return nil, err
	}
	s.cps = []Checkpoint{c}
	s.focus = c.Instructions()
	if err := s.settle(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Session) logf(format string, args ...any) {
	if s.opts.Log != nil {
		fmt.Fprintf(s.opts.Log, "timetravel: "+format+"\n", args...)
	}
}

// Position returns the current instruction count.
func (s *Session) Position() uint64 { return s.m.Instructions() }

// Start returns the first position of the history.
func (s *Session) Start() uint64 { return s.cps[0].Instructions() }

// NumHarts returns the number of harts.
func (s *Session) NumHarts() int { return s.nharts }

// NextHart returns the hart that executes the next instruction.
func (s *Session) NextHart() int { return s.next }

// Registers returns a hart's registers at the current position.
func (s *Session) Registers(hart int) Registers { return s.m.Registers(hart) }

// ReadMemory reads memory as a hart sees it at the current position. It
// returns how many bytes it could read, a prefix of p, stopping at the
// first page it cannot read.
func (s *Session) ReadMemory(hart int, addr uint64, p []byte) (int, error) {
	if hart < 0 || hart >= s.nharts {
		return 0, fmt.Errorf("no hart %d", hart)
	}
	n := 0
	for n < len(p) {
		a := addr + uint64(n)
		chunk := min(len(p)-n, int(0x1000-a%0x1000))
		if err := s.m.ReadVirtual(hart, a, p[n:n+chunk]); err != nil {
			return n, err
		}
		n += chunk
	}
	return n, nil
}

// Checkpoints returns the instruction counts of the checkpoints held now
// and the memory they hold.
func (s *Session) Checkpoints() (at []uint64, bytes int64) {
	for _, c := range s.cps {
		at = append(at, c.Instructions())
		bytes += int64(c.Size())
	}
	return at, bytes
}

// AddBreakpoint makes execution stop before any hart executes the
// instruction at pc (a virtual address). Breakpoints nest.
func (s *Session) AddBreakpoint(pc uint64) { s.bps[pc]++ }

// RemoveBreakpoint undoes one AddBreakpoint.
func (s *Session) RemoveBreakpoint(pc uint64) {
	if s.bps[pc] <= 1 {
		delete(s.bps, pc)
	} else {
		s.bps[pc]--
	}
}

// MaxWatch bounds a watched range.
const MaxWatch = 64

// AddWatch makes execution stop when the bytes [addr, addr+length) seen
// through hart's address translation change.
func (s *Session) AddWatch(hart int, addr, length uint64) error {
	if hart < 0 || hart >= s.nharts {
		return fmt.Errorf("no hart %d", hart)
	}
	if length == 0 || length > MaxWatch {
		return fmt.Errorf("watch: a length of %d bytes is not supported (1 to %d)", length, MaxWatch)
	}
	s.watches = append(s.watches, &watch{hart: hart, addr: addr, length: length,
		old: make([]byte, length), buf: make([]byte, length)})
	return nil
}

// RemoveWatch undoes one AddWatch with the same range.
func (s *Session) RemoveWatch(addr, length uint64) error {
	for i, w := range s.watches {
		if w.addr == addr && w.length == length {
			s.watches = slices.Delete(s.watches, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("watch: none at %#x (%d bytes)", addr, length)
}

// armWatches reads the watched bytes as they are now.
func (s *Session) armWatches() {
	for _, w := range s.watches {
		w.valid = s.m.ReadVirtual(w.hart, w.addr, w.old) == nil
	}
}

// changedWatch returns the first watch whose bytes differ from when they
// were last read, and reads them all again.
func (s *Session) changedWatch() *watch {
	var hit *watch
	for _, w := range s.watches {
		if s.m.ReadVirtual(w.hart, w.addr, w.buf) != nil {
			continue // unreadable now: not a write
		}
		if w.valid && string(w.buf) != string(w.old) && hit == nil {
			hit = w
		}
		copy(w.old, w.buf)
		w.valid = true
	}
	return hit
}

// atEnd reports whether pos is the end of the recording.
func (s *Session) atEnd(pos uint64) bool {
	return (s.opts.End != 0 && pos >= s.opts.End) || (s.endKnown && pos >= s.endPos)
}

type outcome int

const (
	reached outcome = iota
	hooked
	ended
	interrupted
)

// hookFunc sees each instruction before it executes: the hart, its pc and
// the position (instruction count) it has.
type hookFunc func(hart int, pc uint64, pos uint64) bool

// run executes forward to target (or until hook returns true, the
// recording ends, or ctx is canceled), taking checkpoints every Interval
// instructions on the way.
func (s *Session) run(ctx context.Context, target uint64, hook hookFunc) (outcome, error) {
	if s.stopped {
		return ended, nil
	}
	canceled := false
	if hook != nil {
		calls := 0
		s.m.SetStepHook(func(hart int, pc uint64) bool {
			calls++
			if calls&1023 == 0 && ctx.Err() != nil {
				canceled = true
				s.next = hart
				return true
			}
			if hook(hart, pc, s.m.Instructions()) {
				s.next = hart
				return true
			}
			return false
		})
		defer s.m.SetStepHook(nil)
	}
	k := s.opts.Interval
	for {
		pos := s.m.Instructions()
		switch {
		case pos >= target:
			return reached, nil
		case s.atEnd(pos):
			return ended, nil
		case ctx.Err() != nil:
			return interrupted, nil
		}
		next := min(target, (pos/k+1)*k)
		if s.opts.End != 0 {
			next = min(next, s.opts.End)
		}
		// The context is checked here and in the hook: canceling RunTo's
		// would stop the machine for good.
		e, err := s.m.RunTo(context.Background(), next)
		switch e.Kind {
		case machine.ExitLimit:
			if err != nil {
				return ended, err
			}
			if p := s.m.Instructions(); p%k == 0 {
				if err := s.checkpoint(); err != nil {
					return reached, err
				}
			}
		case machine.ExitBreak:
			if canceled {
				return interrupted, nil
			}
			return hooked, nil
		default:
			s.stopped = true
			s.machineEnded(e, err)
			if s.m.Instructions() >= target {
				return reached, nil
			}
			return ended, nil
		}
	}
}

// checkpoint takes a checkpoint here (or finds the one taken here before)
// and keeps the set within its bounds.
func (s *Session) checkpoint() error {
	c, err := s.m.Checkpoint()
	if err != nil {
		return err
	}
	n := c.Instructions()
	i, found := slices.BinarySearchFunc(s.cps, n, func(c Checkpoint, n uint64) int {
		return cmp(c.Instructions(), n)
	})
	if !found {
		s.cps = slices.Insert(s.cps, i, c)
	}
	return s.thin()
}

func cmp(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// thin drops checkpoints until they fit the budget: those whose removal
// leaves the smallest gap, weighted by their distance from where the user
// is, so that checkpoints are dense near the focus and sparse far away.
func (s *Session) thin() error {
	cur := s.m.Instructions()
	k := float64(s.opts.Interval)
	for len(s.cps) > 2 {
		var total int64
		for _, c := range s.cps[1:] {
			total += int64(c.Size())
		}
		if total <= s.opts.Budget && len(s.cps) <= s.opts.MaxCheckpoints {
			return nil
		}
		best, bestScore := -1, 0.0
		for i := 1; i < len(s.cps); i++ {
			pos := s.cps[i].Instructions()
			if pos <= cur && (i+1 == len(s.cps) || s.cps[i+1].Instructions() > cur) {
				continue // the one to return to from here
			}
			next := max(cur, pos+s.opts.Interval)
			if i+1 < len(s.cps) {
				next = s.cps[i+1].Instructions()
			}
			gap := float64(next - s.cps[i-1].Instructions())
			dist := float64(max(pos, s.focus) - min(pos, s.focus))
			score := gap / (1 + dist/k)
			if best < 0 || score < bestScore {
				best, bestScore = i, score
			}
		}
		if best < 0 {
			return nil
		}
		if err := s.m.DropCheckpoint(s.cps[best]); err != nil {
			return err
		}
		s.cps = slices.Delete(s.cps, best, best+1)
	}
	return nil
}

// before returns the latest checkpoint at or before pos.
func (s *Session) before(pos uint64) Checkpoint {
	i, found := slices.BinarySearchFunc(s.cps, pos, func(c Checkpoint, n uint64) int {
		return cmp(c.Instructions(), n)
	})
	if found {
		return s.cps[i]
	}
	return s.cps[max(i-1, 0)]
}

func (s *Session) restore(c Checkpoint) error {
	if err := s.m.Restore(c); err != nil {
		return err
	}
	s.stopped = false
	return nil
}

// settle makes the machine ready to execute the next instruction (a
// pending interrupt taken), as it is when the step hook stops it, so that
// a position looks the same however it was reached. It sets s.next.
func (s *Session) settle() error {
	if s.stopped || s.atEnd(s.m.Instructions()) {
		return nil
	}
	pos := s.m.Instructions()
	s.m.SetStepHook(func(hart int, pc uint64) bool {
		s.next = hart
		return true
	})
	defer s.m.SetStepHook(nil)
	e, err := s.m.RunTo(context.Background(), pos+1)
	switch e.Kind {
	case machine.ExitBreak:
		return nil
	case machine.ExitLimit:
		return fmt.Errorf("timetravel: the machine ran past instruction %d without asking the step hook", pos)
	}
	s.stopped = true
	s.machineEnded(e, err)
	return nil
}

// machineEnded notes where the machine stopped by itself: the end of the
// history.
func (s *Session) machineEnded(e machine.Exit, err error) {
	if s.endKnown {
		return
	}
	s.endKnown, s.endPos = true, s.m.Instructions()
	if err != nil {
		s.logf("the machine stopped at instruction %d (%v): %v", s.endPos, e.Kind, err)
	} else if s.opts.End == 0 || s.endPos != s.opts.End {
		s.logf("the machine stopped at instruction %d (%v)", s.endPos, e.Kind)
	}
}

// seek goes to position pos, which execution has reached before.
func (s *Session) seek(pos uint64) error {
	cur := s.m.Instructions()
	if c := s.before(pos); pos < cur || s.stopped || c.Instructions() > cur {
		if err := s.restore(c); err != nil {
			return err
		}
	}
	out, err := s.run(context.Background(), pos, nil)
	if err != nil {
		return err
	}
	if out != reached && s.m.Instructions() != pos {
		return fmt.Errorf("timetravel: re-execution stopped at instruction %d, short of %d", s.m.Instructions(), pos)
	}
	return s.settle()
}

// Seek goes to an instruction count within the history (up to the end of
// the recording), forwards or backwards, ignoring breakpoints.
func (s *Session) Seek(ctx context.Context, pos uint64) (Stop, error) {
	s.focus = pos
	if pos < s.Start() {
		pos = s.Start()
	}
	cur := s.m.Instructions()
	if pos > cur {
		out, err := s.run(ctx, pos, nil)
		if err != nil {
			return Stop{}, err
		}
		if err := s.settle(); err != nil {
			return Stop{}, err
		}
		return s.stopHere(map[outcome]Reason{reached: ReasonStep, ended: ReasonEnd, interrupted: ReasonInterrupt}[out], s.next), nil
	}
	if err := s.seek(pos); err != nil {
		return Stop{}, err
	}
	return s.stopHere(ReasonStep, s.next), nil
}

func (s *Session) stopHere(r Reason, hart int) Stop {
	return Stop{Reason: r, Hart: hart, Position: s.m.Instructions()}
}

// Continue runs forward to the next breakpoint or watchpoint, or to the
// end of the recording. A breakpoint at the current position does not
// stop it.
func (s *Session) Continue(ctx context.Context) (Stop, error) {
	return s.forward(ctx, -1, -1)
}

// ContinueHart is Continue for one hart: only its breakpoints stop it
// (the other harts still run as scheduled; watchpoints stop it whichever
// hart writes).
func (s *Session) ContinueHart(ctx context.Context, hart int) (Stop, error) {
	if hart < 0 || hart >= s.nharts {
		return Stop{}, fmt.Errorf("no hart %d", hart)
	}
	return s.forward(ctx, -1, hart)
}

// Step runs forward until hart has executed one instruction (other harts
// run meanwhile, as scheduled); breakpoints other harts reach and
// watchpoints stop it earlier.
func (s *Session) Step(ctx context.Context, hart int) (Stop, error) {
	if hart < 0 || hart >= s.nharts {
		return Stop{}, fmt.Errorf("no hart %d", hart)
	}
	return s.forward(ctx, hart, -1)
}

// forward runs forward: until stepHart (if not -1) has executed an
// instruction, a breakpoint of onlyHart (-1: any hart) is reached, or a
// watched range changes.
func (s *Session) forward(ctx context.Context, stepHart, onlyHart int) (Stop, error) {
	start := s.m.Instructions()
	s.focus = start
	if s.stopped || s.atEnd(start) {
		return s.stopHere(ReasonEnd, s.next), nil
	}
	var stop Stop
	var hook hookFunc
	prev := s.next
	if stepHart >= 0 || len(s.bps) > 0 || len(s.watches) > 0 {
		s.armWatches()
		stepped := false
		hook = func(hart int, pc uint64, pos uint64) bool {
			if len(s.watches) > 0 {
				if w := s.changedWatch(); w != nil {
					stop = Stop{Reason: ReasonWatch, Hart: prev, Addr: w.addr}
					return true
				}
			}
			prev = hart
			if hart == stepHart {
				if stepped {
					stop = Stop{Reason: ReasonStep, Hart: hart}
					return true
				}
				stepped = true
				return false
			}
			if pos != start && s.bps[pc] > 0 && (onlyHart < 0 || hart == onlyHart) {
				stop = Stop{Reason: ReasonBreakpoint, Hart: hart}
				return true
			}
			return false
		}
	}
	out, err := s.run(ctx, ^uint64(0), hook)
	if err != nil {
		return Stop{}, err
	}
	switch out {
	case hooked:
		stop.Position = s.m.Instructions()
		return stop, nil
	case interrupted:
		if err := s.settle(); err != nil {
			return Stop{}, err
		}
		return s.stopHere(ReasonInterrupt, s.next), nil
	}
	// The end: the last instruction may have written a watched range.
	if len(s.watches) > 0 {
		if w := s.changedWatch(); w != nil {
			return Stop{Reason: ReasonWatch, Hart: prev, Addr: w.addr, Position: s.m.Instructions()}, nil
		}
	}
	return s.stopHere(ReasonEnd, prev), nil
}

// hit is a place a reverse search found.
type hit struct {
	pos    uint64
	reason Reason
	hart   int
	addr   uint64
}

var errInterrupted = errors.New("interrupted")

// lastBefore finds the last place before position end that match (for an
// instruction about to execute) or a watched range changing (for the
// instruction that wrote it) selects, scanning the history from the
// checkpoints, segment by segment, going backwards.
func (s *Session) lastBefore(ctx context.Context, end uint64, match func(hart int, pc uint64) (Reason, bool)) (hit, bool, error) {
	for end > s.Start() {
		if ctx.Err() != nil {
			return hit{}, false, errInterrupted
		}
		c := s.before(end - 1)
		from := c.Instructions()
		if err := s.restore(c); err != nil {
			return hit{}, false, err
		}
		s.armWatches()
		var last hit
		found := false
		prev := -1
		out, err := s.run(ctx, end, func(hart int, pc uint64, pos uint64) bool {
			if len(s.watches) > 0 {
				if w := s.changedWatch(); w != nil && pos > from && prev >= 0 {
					last, found = hit{pos: pos - 1, reason: ReasonWatch, hart: prev, addr: w.addr}, true
				}
			}
			if r, ok := match(hart, pc); ok {
				last, found = hit{pos: pos, reason: r, hart: hart}, true
			}
			prev = hart
			return false
		})
		if err != nil {
			return hit{}, false, err
		}
		switch out {
		case interrupted:
			return hit{}, false, errInterrupted
		case reached:
			if len(s.watches) > 0 && prev >= 0 {
				if w := s.changedWatch(); w != nil {
					last, found = hit{pos: end - 1, reason: ReasonWatch, hart: prev, addr: w.addr}, true
				}
			}
		case ended, hooked:
			// Only the segment's end stops the run; an early end means the
			// history is shorter than thought.
			s.logf("re-execution from instruction %d stopped at %d, short of %d", from, s.m.Instructions(), end)
		}
		if found {
			return last, true, nil
		}
		end = from
	}
	return hit{}, false, nil
}

// reverse runs backwards to the last place match or a watchpoint selects;
// at the start of the history it reports hart.
func (s *Session) reverse(ctx context.Context, hart int, match func(hart int, pc uint64) (Reason, bool)) (Stop, error) {
	origin := s.m.Instructions()
	s.focus = origin
	h, found, err := s.lastBefore(ctx, origin, match)
	if err == errInterrupted {
		if err := s.seek(origin); err != nil {
			return Stop{}, err
		}
		return s.stopHere(ReasonInterrupt, s.next), nil
	}
	if err != nil {
		return Stop{}, err
	}
	if !found {
		if err := s.seek(s.Start()); err != nil {
			return Stop{}, err
		}
		return s.stopHere(ReasonBegin, hart), nil
	}
	s.focus = h.pos
	if err := s.seek(h.pos); err != nil {
		return Stop{}, err
	}
	return Stop{Reason: h.reason, Hart: h.hart, Addr: h.addr, Position: h.pos}, nil
}

// ReverseContinue runs backwards to the last breakpoint or watchpoint hit
// before the current position, or to the start of the history. At a
// watchpoint it stops before the instruction that wrote the range.
func (s *Session) ReverseContinue(ctx context.Context) (Stop, error) {
	return s.reverse(ctx, s.next, func(hart int, pc uint64) (Reason, bool) {
		return ReasonBreakpoint, s.bps[pc] > 0
	})
}

// ReverseStep runs backwards to before the last instruction hart executed,
// or to the last breakpoint another hart reached or watchpoint hit after
// it.
func (s *Session) ReverseStep(ctx context.Context, hart int) (Stop, error) {
	if hart < 0 || hart >= s.nharts {
		return Stop{}, fmt.Errorf("no hart %d", hart)
	}
	pos := s.m.Instructions()
	if s.nharts == 1 && len(s.watches) == 0 && pos > s.Start() {
		// The instruction before this one is the hart's.
		s.focus = pos - 1
		if err := s.seek(pos - 1); err != nil {
			return Stop{}, err
		}
		return s.stopHere(ReasonStep, 0), nil
	}
	return s.reverse(ctx, hart, func(h int, pc uint64) (Reason, bool) {
		if h == hart {
			return ReasonStep, true
		}
		return ReasonBreakpoint, s.bps[pc] > 0
	})
}
