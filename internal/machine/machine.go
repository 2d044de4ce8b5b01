// Package machine is the Juice board: harts, RAM and devices laid out like
// QEMU's virt machine (CLINT, PLIC, ns16550a UART, power-off device,
// virtio-mmio slots), the device tree, the SBI firmware Juice provides, the
// kernel loaders, and the deterministic scheduler that interleaves harts on
// one host thread.
//
// Guest time is derived from the instruction count only. Everything that
// comes from outside enters the machine through one path (see inbox), at
// the boundary of a scheduling round, at a known instruction count.
package machine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/juicevm/juice/internal/guestram"
	"github.com/juicevm/juice/internal/riscv"
	"github.com/juicevm/juice/internal/virtio/blk"
	"github.com/juicevm/juice/internal/virtio/console"
	vnet "github.com/juicevm/juice/internal/virtio/net"
)

// ExitKind says why a machine stopped.
type ExitKind int

// Exit kinds.
const (
	ExitPowerOff ExitKind = iota // the guest powered off
	ExitReboot                   // the guest asked for a reboot
	ExitPanic                    // the guest kernel panicked
	ExitHalted                   // every hart idle with nothing that could wake it
	ExitLimit                    // the instruction limit was reached
	ExitCanceled                 // the context was canceled (user quit)
	ExitBareFail                 // a bare-metal program reported failure through HTIF
	ExitDiverged                 // a replay stopped following its recording
	ExitBreak                    // the step hook paused the machine (RunTo)
)

func (k ExitKind) String() string {
	switch k {
	case ExitPowerOff:
		return "poweroff"
	case ExitReboot:
		return "reboot"
	case ExitPanic:
		return "panic"
	case ExitHalted:
		return "halted"
	case ExitLimit:
		return "limit"
	case ExitCanceled:
		return "canceled"
	case ExitBareFail:
		return "fail"
	case ExitDiverged:
		return "diverged"
	case ExitBreak:
		return "break"
	}
	return fmt.Sprintf("exit(%d)", int(k))
}

// Exit describes how a run ended.
type Exit struct {
	Kind ExitKind
	// Code is the guest's status for a power-off (0 when none is given) or
	// the failing test number of a bare-metal program.
	Code int
	// Instructions is the total number of instructions executed by all harts.
	Instructions uint64
}

// Config is the machine's configuration.
type Config struct {
	// CPUs is the number of harts (1 to MaxCPUs).
	CPUs int
	// Memory is the RAM size in bytes.
	Memory uint64
	// Kernel is a RISC-V Linux Image or an ELF kernel.
	Kernel []byte
	// Initrd is an optional initial RAM file system.
	Initrd []byte
	// Cmdline is the kernel command line.
	Cmdline string
	// Firmware, if set, is an M-mode firmware ELF (e.g. OpenSBI fw_jump)
	// started in place of Juice's own SBI.
	Firmware []byte
	// Bare, if set, is a bare-metal ELF run from its entry in M-mode;
	// Kernel, Initrd and Firmware must be empty.
	Bare []byte
	// Console receives the guest's console output.
	Console io.Writer
	// ConsoleIn, if set, supplies console input.
	ConsoleIn io.Reader
	// Disks are virtio-blk disks, in slot order, opened by the caller.
	Disks []*blk.Device
	// RNG attaches a virtio-rng device fed from Entropy (nil: the host's
	// cryptographic randomness, crypto/rand).
	RNG     bool
	Entropy io.Reader
	// Net are virtio-net interfaces, in slot order: each one's host side
	// (a user network, a tap device), opened by the caller. With Script
	// set the entries must be nil: the recording supplies what the host
	// sides delivered.
	Net []vnet.Backend
	// Vsock, if set, attaches a virtio-vsock device.
	Vsock *VsockConfig
	// VirtioConsole attaches a virtio console (hvc0); console input then
	// goes to it rather than to the UART.
	VirtioConsole bool
	// Log, if set, receives every outside input the machine takes
	// (recording).
	Log InputLog `json:"-"`
	// Script, if set, supplies recorded input in place of live input
	// (replay): ConsoleIn is ignored, network interfaces are detached from
	// the host, and virtio-rng's entropy comes from the script.
	Script InputScript `json:"-"`
	// DigestInterval, if not zero, makes the machine take a Summary of its
	// state each time its clock passes a multiple of it and hand it to
	// OnDigest; an error from OnDigest stops the machine (a replay
	// divergence).
	DigestInterval uint64              `json:"-"`
	OnDigest       func(Summary) error `json:"-"`
	// Restore, if set, builds the machine in the state a snapshot saved
	// instead of booting it: Kernel, Initrd, Firmware and Bare are not
	// used (whether the machine has Juice's SBI follows from the saved
	// sections).
	Restore *Restored `json:"-"`
	// MaxInstructions stops the machine after that many instructions (0: no limit).
	MaxInstructions uint64
	// Quantum is the number of instructions each hart runs per scheduling
	// round (0: DefaultQuantum).
	Quantum uint64
	// Logger receives the log lines of every device and virtio transport
	// the machine creates (host I/O faults, driver errors, the user
	// network's events). Nil discards them.
	Logger *slog.Logger `json:"-"`
}

// MaxCPUs is the largest number of harts a machine may have.
const MaxCPUs = 32

// DefaultQuantum is the scheduling round length in instructions per hart.
const DefaultQuantum = 4096

// MinMemory is the smallest RAM size accepted.
const MinMemory = 16 << 20

// MaxMemory is the largest RAM size accepted.
const MaxMemory = 64 << 30

// Machine is a Juice virtual machine.
//
// The machine is the board alone: it opens no file, socket or device of
// the host. Its caller (internal/vmm) opens those and hands them over in
// Config, ready to use; the machine owns them from then on, and Close (or
// a failed New) closes them.
type Machine struct {
	cfg     Config
	log     *slog.Logger
	ram     guestram.RAM // guest RAM, mapped by setRAM; of no bytes once closed
	ramMap  ramMapping
	closed  bool
	harts   []*riscv.Hart
	regions []region
	clint   *clint
	plic    *plic
	uart    *uart
	sbi     *sbi
	slots   []slot
	vcon    *console.Device
	pollers []poller
	// comps lists the harts, devices and bookkeeping whose state
	// checkpoints save, digests hash and summaries fingerprint.
	comps []component

	// now is the machine's instruction clock: the number of instructions
	// each hart has had the opportunity to execute.
	now     uint64
	quantum uint64
	rd      round
	hook    func(hart int, pc uint64) bool

	// pages tracks the RAM pages written; ramSum fingerprints RAM for
	// state summaries; timeline holds the checkpoints in instruction
	// order, base the last one taken or restored.
	pages    pageTracker
	ramSum   ramSummary
	timeline []*Checkpoint
	base     *Checkpoint

	console  *bufio.Writer
	panicDet panicDetector
	in       inbox

	exit       *Exit
	nextDigest uint64
	err        error  // why a run failed (replay divergence)
	tohost     uint64 // physical address of the HTIF tohost word, or 0
	fromhost   uint64
	dtbAddr    uint64
	started    time.Time
	firstInsn  time.Time // when the first instruction this process ran began
	rounds     uint64
	// progress is the instruction count and the clock at the start of
	// the latest round, for other goroutines to read while it runs.
	progress struct{ instructions, clock atomic.Uint64 }
}

// New builds a machine from its configuration: it allocates RAM, loads the
// kernel, initrd or bare-metal program and generates the device tree. It
// takes over the devices in cfg, also when it fails.
func New(cfg Config) (*Machine, error) {
	m, err := newMachine(cfg)
	if err != nil && m == nil {
		cfg.CloseDevices()
	}
	return m, err
}

// newMachine is New; once it has made m, m owns the devices (and closes
// them on failure).
func newMachine(cfg Config) (m *Machine, err error) {
	if cfg.CPUs == 0 {
		cfg.CPUs = 1
	}
	if cfg.CPUs < 1 || cfg.CPUs > MaxCPUs {
		return nil, fmt.Errorf("cpus: %d is out of range (1 to %d)", cfg.CPUs, MaxCPUs)
	}
	if cfg.Memory < MinMemory {
		return nil, fmt.Errorf("memory: %d MiB is too small (at least %d MiB)", cfg.Memory>>20, MinMemory>>20)
	}
	if cfg.Memory > MaxMemory {
		return nil, fmt.Errorf("memory: %d MiB is too large (at most %d GiB)", cfg.Memory>>20, MaxMemory>>30)
	}
	if cfg.Memory&0xfff != 0 {
		return nil, fmt.Errorf("memory: size must be a multiple of 4 KiB")
	}
	if err := checkHostMemory(cfg.Memory); err != nil {
		return nil, err
	}
	if cfg.Console == nil {
		cfg.Console = io.Discard
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m = &Machine{
		cfg:     cfg,
		log:     cfg.Logger,
		quantum: cfg.Quantum,
		console: bufio.NewWriterSize(cfg.Console, 64<<10),
	}
	if cfg.Restore != nil {
		if err := m.mapRestored(cfg.Restore); err != nil {
			m.Close()
			return nil, err
		}
	} else {
		if err := m.setRAM(cfg.Memory); err != nil {
			return nil, err
		}
		m.pages = newPageTracker(m, cfg.Memory/pageSize)
		m.ramSum = newRAMSummary(cfg.Memory / pageSize)
	}
	if m.quantum == 0 {
		m.quantum = DefaultQuantum
	}
	m.in.init()
	m.clint = newCLINT(m, cfg.CPUs)
	m.plic = newPLIC(m, cfg.CPUs)
	m.uart = &uart{m: m}
	m.regions = []region{
		{SysconBase, SysconSize, &syscon{m}},
		{CLINTBase, CLINTSize, m.clint},
		{PLICBase, PLICSize, m.plic},
		{UARTBase, UARTSize, m.uart},
	}
	if err := m.addDevices(); err != nil {
		m.Close()
		return nil, err
	}
	var fw riscv.Firmware
	withSBI := cfg.Firmware == nil && cfg.Bare == nil
	if cfg.Restore != nil {
		withSBI = slices.ContainsFunc(cfg.Restore.State, func(s Section) bool { return s.Name == "sbi" })
	}
	if withSBI {
		m.sbi = newSBI(m)
		fw = m.sbi
	}
	for i := 0; i < cfg.CPUs; i++ {
		m.harts = append(m.harts, riscv.New(riscv.Config{
			HartID:   uint64(i),
			RAM:      m.ram,
			Bus:      m,
			Clock:    m,
			Firmware: fw,
			Dirty:    m.pages.recent,
		}))
	}
	m.comps = m.components()
	if cfg.Restore != nil {
		err = m.loadSections(cfg.Restore.State)
	} else {
		err = m.load()
	}
	if err != nil {
		m.Close()
		return nil, err
	}
	m.progress.instructions.Store(m.Instructions())
	m.progress.clock.Store(m.now)
	if cfg.ConsoleIn != nil && cfg.Script == nil {
		m.in.readFrom(cfg.ConsoleIn, EventConsole)
	}
	return m, nil
}

// Harts returns the machine's harts.
func (m *Machine) Harts() []*riscv.Hart { return m.harts }

// Time returns mtime, derived from the instruction clock.
func (m *Machine) Time() uint64 { return m.now / InstructionsPerTick }

// Instructions returns the total number of instructions executed.
func (m *Machine) Instructions() uint64 {
	var n uint64
	for _, h := range m.harts {
		n += h.Count()
	}
	return n
}

// Load implements riscv.Bus.
func (m *Machine) Load(addr uint64, size int) (uint64, bool) {
	for i := range m.regions {
		r := &m.regions[i]
		if addr-r.base < r.size {
			return r.dev.load(addr-r.base, size)
		}
	}
	return 0, false
}

// Store implements riscv.Bus.
func (m *Machine) Store(addr uint64, size int, v uint64) bool {
	for i := range m.regions {
		r := &m.regions[i]
		if addr-r.base < r.size {
			return r.dev.store(addr-r.base, size, v)
		}
	}
	return false
}

func (m *Machine) stop(kind ExitKind, code int) {
	if m.exit == nil {
		m.exit = &Exit{Kind: kind, Code: code}
	}
	for _, h := range m.harts {
		h.Yield()
	}
}

// consoleOut writes a byte of guest console output. Output is buffered
// and written out at each end of line, so that a line shows as soon as
// the guest has written it.
func (m *Machine) consoleOut(b byte) {
	m.console.WriteByte(b)
	if b == '\n' {
		m.console.Flush()
	}
	if m.panicDet.feed(b) {
		m.stop(ExitPanic, 0)
	}
}

// timerDeadline returns the earliest instruction-clock value at which a
// timer interrupt becomes due for hart i.
func (m *Machine) timerDeadline(i int) uint64 {
	cmp := m.clint.mtimecmp[i]
	if m.sbi != nil {
		cmp = m.sbi.timer[i]
	}
	if cmp >= ^uint64(0)/InstructionsPerTick {
		return ^uint64(0)
	}
	return cmp * InstructionsPerTick
}

// updateTimer drives hart i's timer interrupt line from the time.
func (m *Machine) updateTimer(i int) {
	due := m.now >= m.timerDeadline(i)
	if m.sbi != nil {
		m.harts[i].SetIRQ(riscv.IrqSTI, due)
	} else {
		m.harts[i].SetIRQ(riscv.IrqMTI, due)
	}
}

// ErrPause, as the cause of a run's canceled context
// (context.WithCancelCause), pauses the machine instead of stopping it:
// Run returns an Exit of kind ExitCanceled at the boundary of a
// scheduling round, and a later Run resumes there. A pause changes
// nothing the guest can see.
var ErrPause = errors.New("pause")

// Progress returns the instruction count and the clock at the start of the
// latest scheduling round. Unlike the machine's other methods it may be
// called while the machine runs, from another goroutine.
func (m *Machine) Progress() (instructions, clock uint64) {
	return m.progress.instructions.Load(), m.progress.clock.Load()
}

// Run runs the machine until it stops, the instruction limit is reached or
// ctx is canceled (see ErrPause for a pause instead).
func (m *Machine) Run(ctx context.Context) (Exit, error) {
	e, err := m.run(ctx, m.cfg.MaxInstructions, 0, false)
	if e.Kind == ExitLimit && m.exit == nil {
		m.stop(ExitLimit, 0)
	}
	return e, err
}

// FirstInstruction returns the host time at which the first instruction
// this machine executed in this process began (taken just before the
// hart's run that executed it), or the zero time before any ran. For a
// restored machine it is the first instruction after the restore. Call it
// once Run has returned, or from the goroutine that runs the machine.
func (m *Machine) FirstInstruction() time.Time { return m.firstInsn }

// RunTo runs until the machine has executed exactly n instructions in all
// (see Instructions), following the very schedule an uninterrupted Run
// follows: it may pause in the middle of a hart's share of a scheduling
// round, and a later RunTo resumes there, so pausing never changes the
// execution. It returns an Exit of kind ExitLimit when it reached n,
// ExitBreak when the step hook asked to stop, ExitCanceled when ctx was
// canceled (the machine is paused, not stopped: it can run on), or the
// kind that stopped the machine.
func (m *Machine) RunTo(ctx context.Context, n uint64) (Exit, error) {
	if n == 0 {
		n = ^uint64(0)
	}
	return m.run(ctx, n, 0, true)
}

// RunToClock runs until the machine's clock has reached clock at the
// boundary of a scheduling round, with no recorded input (Config.Script)
// due at or before it, and pauses there with ExitLimit — or until it has
// executed limit instructions (0: no limit), or it stops. It ends a replay
// where a run stopped from outside (Ctrl-C, a signal) ended: such a run
// stops at a round boundary, either before the round starts or, when
// every hart is idle, after the round took its input and before the
// clock moves on.
func (m *Machine) RunToClock(ctx context.Context, clock, limit uint64) (Exit, error) {
	if limit == 0 {
		limit = ^uint64(0)
	}
	return m.run(ctx, limit, max(clock, 1), true)
}

// scriptDue reports whether recorded input is due at or before the clock.
func (m *Machine) scriptDue() bool {
	if m.cfg.Script == nil {
		return false
	}
	in, ok := m.cfg.Script.Peek()
	return ok && in.Clock <= m.now
}

// SetStepHook installs f, which the machine calls before each instruction
// a hart is about to execute (after the hart took any pending interrupt),
// with the hart's index and pc. When f returns true the machine pauses
// before that instruction: RunTo returns ExitBreak. While a hook is set
// the harts run one instruction at a time, which is slower but executes
// the same instructions in the same order; nil removes the hook.
func (m *Machine) SetStepHook(f func(hart int, pc uint64) bool) { m.hook = f }

// round is the progress of the current scheduling round: which hart runs
// and how much of its share it has used. It lets a run pause in the middle
// of a round and resume with the same schedule.
type round struct {
	active bool
	q      uint64 // instructions per hart this round
	next   uint64 // the earliest timer deadline when the round started
	hart   int    // the hart running now
	used   uint64 // instructions it has executed this round
	ran    bool   // some hart executed an instruction
}

// run runs the machine until it stops or has executed limit instructions
// (0: no limit), in which case it pauses with ExitLimit; with clock not 0
// it also pauses at a round boundary once the clock has reached clock (see
// RunToClock). With pause set, a canceled ctx pauses the machine too,
// instead of stopping it.
func (m *Machine) run(ctx context.Context, limit, clock uint64, pause bool) (Exit, error) {
	if err := m.closedErr(); err != nil {
		return Exit{Kind: ExitHalted}, err
	}
	pausing := func() bool { return pause || errors.Is(context.Cause(ctx), ErrPause) }
	if m.started.IsZero() {
		// The wall clock that paces an idle guest starts where the
		// guest's clock is: a machine restored from a snapshot or a
		// checkpoint goes on at once instead of waiting for real time to
		// catch up with the clock it was saved at.
		m.started = time.Now().Add(-guestTime(m.now))
	}
	defer m.console.Flush()
	done := m.Instructions()
	paused := func(kind ExitKind) (Exit, error) {
		m.progress.instructions.Store(done)
		m.progress.clock.Store(m.now)
		return Exit{Kind: kind, Instructions: done}, nil
	}
	for m.exit == nil {
		rd := &m.rd
		if !rd.active {
			if m.rounds&255 == 0 {
				if ctx.Err() != nil {
					if pausing() {
						return paused(ExitCanceled)
					}
					m.stop(ExitCanceled, 0)
					break
				}
				if m.rounds&0xfff == 0 {
					m.console.Flush()
				}
			}
			if clock != 0 && m.now >= clock && !m.scriptDue() {
				return paused(ExitLimit)
			}
			if limit != 0 && done >= limit {
				return paused(ExitLimit)
			}
			if !m.startRound() {
				break
			}
		}
		for rd.hart < len(m.harts) {
			h := m.harts[rd.hart]
			for rd.used < rd.q && m.exit == nil {
				budget := rd.q - rd.used
				if limit != 0 {
					if done >= limit {
						return paused(ExitLimit)
					}
					budget = min(budget, limit-done)
				}
				if m.hook != nil {
					pc, ok := h.PrepareStep()
					if !ok {
						break
					}
					if m.hook(rd.hart, pc) {
						return paused(ExitBreak)
					}
					budget = 1
				}
				var t time.Time
				if m.firstInsn.IsZero() {
					t = time.Now()
				}
				k := h.Run(budget)
				rd.used += k
				done += k
				if k == 0 {
					break
				}
				if m.firstInsn.IsZero() {
					m.firstInsn = t
				}
				rd.ran = true
			}
			if m.tohost != 0 {
				m.checkHTIF()
			}
			if m.exit != nil {
				break
			}
			if len(m.harts) > 1 {
				h.ClearReservation()
			}
			rd.hart++
			rd.used = 0
		}
		if m.exit != nil {
			break
		}
		rd.active = false
		if rd.ran {
			m.now += rd.q
		} else if clock != 0 && m.now >= clock && !m.scriptDue() {
			return paused(ExitLimit) // as a run stopped while idle
		} else if !m.idle(ctx, rd.next, pausing) {
			if m.exit == nil {
				return paused(ExitCanceled) // paused while idle
			}
			// Every hart is idle and nothing can wake them.
			break
		}
		for i := range m.harts {
			m.updateTimer(i)
		}
	}
	e := *m.exit
	e.Instructions = m.Instructions()
	m.progress.instructions.Store(e.Instructions)
	m.progress.clock.Store(m.now)
	return e, m.err
}

// startRound takes the input due at this point of the clock and sets up
// the next scheduling round. It returns false when the machine stopped.
func (m *Machine) startRound() bool {
	m.rounds++
	m.progress.instructions.Store(m.Instructions())
	m.progress.clock.Store(m.now)
	if iv := m.cfg.DigestInterval; iv != 0 && m.cfg.OnDigest != nil && m.now >= max(m.nextDigest, iv) {
		m.nextDigest = (m.now/iv + 1) * iv
		if err := m.cfg.OnDigest(m.Summary()); err != nil {
			m.fail(err)
			return false
		}
	}
	if m.cfg.Script != nil {
		if err := m.applyScript(); err != nil {
			m.fail(err)
			return false
		}
	} else {
		m.in.poll()
		m.applyInput()
	}
	m.pollDevices()

	q := m.quantum
	next := ^uint64(0)
	for i := range m.harts {
		if d := m.timerDeadline(i); d > m.now && d < next {
			next = d
		}
	}
	if next != ^uint64(0) && next-m.now < q {
		q = next - m.now
	}
	m.rd = round{active: true, q: q, next: next}
	return true
}

// idle handles a round in which no hart could run. It advances the clock to
// the next deadline, or waits for input. It returns false when the machine
// stopped.
func (m *Machine) idle(ctx context.Context, next uint64, pausing func() bool) bool {
	m.console.Flush()
	if m.cfg.Script != nil {
		// Replay: recorded input due now is taken in the next round;
		// otherwise time moves on to the next deadline or input.
		if at, ok := m.nextScripted(); ok && at == m.now {
			return true
		} else if ok && at < next {
			next = at
		}
		if next == ^uint64(0) {
			m.stop(ExitHalted, 0)
			return false
		}
		m.now = next
		return true
	}
	if !m.in.open() {
		if next == ^uint64(0) {
			m.stop(ExitHalted, 0)
			return false
		}
		m.now = next
		return true
	}
	// Input may come: wait for it, but while a timer is due, only until
	// real time catches up with the deadline, so an idle guest's clock
	// does not run ahead of the wall clock.
	var timeout <-chan time.Time
	if next != ^uint64(0) {
		wait := guestTime(next) - time.Since(m.started)
		if wait <= 0 {
			m.now = next
			return true
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ctx.Done():
		if !pausing() {
			m.stop(ExitCanceled, 0)
		}
		return false
	case ev := <-m.in.ch:
		m.in.accept(ev)
		m.applyInput()
	case <-timeout:
		m.now = next
	}
	return true
}

// guestTime is the guest time at clock (instructions of one hart).
func guestTime(clock uint64) time.Duration {
	return time.Duration(clock/InstructionsPerTick) * (time.Second / TimebaseHz)
}

// panicDetector watches console output for the Linux panic banner.
type panicDetector struct {
	line []byte
	seen bool
}

func (p *panicDetector) feed(b byte) bool {
	if b != '\n' {
		if len(p.line) < 256 {
			p.line = append(p.line, b)
		}
		return false
	}
	line := string(p.line)
	p.line = p.line[:0]
	if strings.Contains(line, "Kernel panic - not syncing") {
		p.seen = true
	}
	return p.seen && strings.Contains(line, "end Kernel panic")
}
