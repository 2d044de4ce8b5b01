// Package riscv implements an RV64GC hart (RV64IMAFDC with Zicsr, Zifencei
// and Zicntr): the instruction decoder and interpreter, the control and
// status registers, traps and interrupts with delegation, and the Sv39/Sv48
// memory-management unit.
//
// A Hart executes instructions when its owner calls Run; it never reads the
// host clock and has no goroutines, so a given starting state and the same
// sequence of external events always give the same execution.
package riscv

import "github.com/juicevm/juice/internal/guestram"

// Privilege levels.
const (
	PrivU = 0
	PrivS = 1
	PrivM = 3
)

// Bus is the hart's view of the physical address space outside RAM
// (memory-mapped devices). Accesses are naturally aligned, of size 1, 2, 4
// or 8 bytes. A false ok raises an access fault in the guest.
type Bus interface {
	Load(addr uint64, size int) (val uint64, ok bool)
	Store(addr uint64, size int, val uint64) (ok bool)
}

// Clock gives the hart the machine's time (the value of mtime), for the
// time CSR.
type Clock interface {
	Time() uint64
}

// Firmware is the supervisor binary interface provided by the host in place
// of M-mode firmware. When set, ECALL from S-mode calls Ecall instead of
// trapping; it reads arguments from h.X and writes results to h.X[10:12].
type Firmware interface {
	Ecall(h *Hart)
}

// Config describes the hart's surroundings.
type Config struct {
	HartID   uint64
	RAM      guestram.RAM // guest RAM, shared by all harts of a machine
	Bus      Bus
	Clock    Clock
	Firmware Firmware // nil: M-mode code handles ECALLs itself
	// Dirty, if set, is a bitmap of RAM pages (bit i = the 4 KiB page at
	// RAM offset i<<12), shared by the harts of a machine, in which the
	// hart sets the bit of every page it writes. Writes through the fast
	// path are marked when the page enters the write TLB, so whoever clears
	// bits must flush the harts' TLBs (FlushTLB) at the same time.
	Dirty []uint64
}

const (
	icacheBits = 14
	icacheSize = 1 << icacheBits
	tlbBits    = 8
	tlbSize    = 1 << tlbBits
	noTag      = ^uint64(0)
)

type tlbEntry struct {
	tag uint64 // virtual page number, or noTag
	off uint64 // offset in RAM of the page's first byte
}

// Hart is one RISC-V hardware thread.
type Hart struct {
	// X holds the integer registers; X[0] reads as zero.
	X [32]uint64
	// F holds the floating-point registers (single-precision values are NaN-boxed).
	F [32]uint64
	// PC is the address of the next instruction.
	PC uint64

	priv uint8

	ram      guestram.RAM
	bus      Bus
	clock    Clock
	firmware Firmware
	hartID   uint64
	dirty    []uint64

	// debugWalk makes translate skip permission checks and A/D updates
	// (debugger access).
	debugWalk bool

	// yield asks Run to return after the current instruction, so the
	// machine can service devices and re-evaluate interrupts.
	yield bool
	// waiting is set by WFI until an interrupt is pending.
	waiting bool
	// stopped harts do not execute (SBI HSM).
	stopped bool

	// count is the number of instruction slots executed (retired or
	// trapped); traps counts the ones that trapped.
	count, traps uint64

	// Pending fault recorded by the memory paths.
	faultCause, faultVal uint64

	// LR/SC reservation (physical address).
	resValid bool
	resAddr  uint64

	csr csrFile

	fetchTag uint64 // virtual page of the last instruction fetch
	fetchOff uint64 // its RAM offset
	tlbR     [tlbSize]tlbEntry
	tlbW     [tlbSize]tlbEntry
	icache   [icacheSize]Insn
}

// New returns a hart in its reset state: M-mode, PC 0.
func New(cfg Config) *Hart {
	h := &Hart{
		ram:      cfg.RAM,
		bus:      cfg.Bus,
		clock:    cfg.Clock,
		firmware: cfg.Firmware,
		hartID:   cfg.HartID,
		dirty:    cfg.Dirty,
	}
	h.Reset()
	return h
}

// Reset puts the hart in its reset state: M-mode, all registers zero.
func (h *Hart) Reset() {
	h.X = [32]uint64{}
	h.F = [32]uint64{}
	h.PC = 0
	h.priv = PrivM
	h.csr = csrFile{}
	h.csr.mstatus = mstatusUXL | mstatusSXL
	h.waiting, h.stopped, h.yield = false, false, false
	h.resValid = false
	blank := Decode(0)
	for i := range h.icache {
		h.icache[i] = blank
	}
	h.flushTLB()
}

// HartID returns the hart's mhartid.
func (h *Hart) HartID() uint64 { return h.hartID }

// Priv returns the current privilege level.
func (h *Hart) Priv() uint8 { return h.priv }

// SetPriv sets the privilege level (used to start a kernel in S-mode).
func (h *Hart) SetPriv(p uint8) {
	h.priv = p
	h.flushTLB()
}

// Count returns the number of instructions executed, trapped ones included.
func (h *Hart) Count() uint64 { return h.count }

// Instret returns the number of instructions retired.
func (h *Hart) Instret() uint64 { return h.count - h.traps }

// Waiting reports whether the hart is stalled in WFI with no interrupt
// pending.
func (h *Hart) Waiting() bool { return h.waiting }

// Stopped reports whether the hart is stopped (not started, or stopped
// through the SBI hart state management extension).
func (h *Hart) Stopped() bool { return h.stopped }

// SetStopped stops or starts the hart.
func (h *Hart) SetStopped(s bool) {
	h.stopped = s
	if s {
		h.waiting = false
	}
}

// Yield makes Run return after the current instruction.
func (h *Hart) Yield() { h.yield = true }

// SetIRQ raises or lowers interrupt lines (mip bits driven by devices: MSIP,
// MTIP, MEIP, SEIP, and STIP/SSIP when the host provides the SBI).
func (h *Hart) SetIRQ(mask uint64, on bool) {
	if on {
		h.csr.irq |= mask
	} else {
		h.csr.irq &^= mask
	}
	if h.waiting && h.csr.mie&h.mip() != 0 {
		h.waiting = false
	}
}

// SetMedeleg and SetMideleg set the delegation registers (used when the host
// acts as M-mode firmware).
func (h *Hart) SetMedeleg(v uint64) { h.csr.medeleg = v & medelegMask }

// SetMideleg sets mideleg.
func (h *Hart) SetMideleg(v uint64) { h.csr.mideleg = v & midelegMask }

// SetCounteren sets mcounteren and scounteren, as firmware does to let
// lower privilege levels read the counters (the vDSO reads time directly).
func (h *Hart) SetCounteren(m, s uint64) {
	h.csr.mcounteren, h.csr.scounteren = m&0xffffffff, s&0xffffffff
}

// DetachRAM takes RAM away from the hart, as its machine does before it
// unmaps it: from then on every access to RAM faults (the hart must not
// run again).
func (h *Hart) DetachRAM() {
	h.ram = guestram.RAM{}
	h.flushTLB()
}

// FlushTLB drops all cached address translations (remote SFENCE.VMA).
func (h *Hart) FlushTLB() { h.flushTLB() }

func (h *Hart) flushTLB() {
	h.fetchTag = noTag
	for i := range h.tlbR {
		h.tlbR[i].tag = noTag
		h.tlbW[i].tag = noTag
	}
}

// ClearReservation drops the hart's LR reservation; the machine calls it
// when another hart or a device may have written memory.
func (h *Hart) ClearReservation() { h.resValid = false }

// SetSoftwarePending sets or clears software-writable mip bits, as M-mode
// firmware does to deliver an IPI to S-mode (IrqSSI).
func (h *Hart) SetSoftwarePending(mask uint64, on bool) {
	if on {
		h.csr.mip |= mask & sIrqs
	} else {
		h.csr.mip &^= mask & sIrqs
	}
	if h.waiting && h.csr.mie&h.mip() != 0 {
		h.waiting = false
	}
}

// Suspend stalls the hart, as WFI does, until an interrupt is pending.
func (h *Hart) Suspend() {
	if h.mip()&h.csr.mie == 0 {
		h.waiting = true
	}
	h.yield = true
}

// Start starts a stopped hart at pc in the given privilege level with
// a0 and a1 set, translation off and interrupts disabled, as SBI HSM and
// boot loaders do.
func (h *Hart) Start(pc uint64, priv uint8, a0, a1 uint64) {
	h.stopped, h.waiting = false, false
	h.PC = pc
	h.X[10], h.X[11] = a0, a1
	h.csr.satp = 0
	h.csr.mstatus &^= mstatusSIE | mstatusMIE
	h.priv = priv
	h.flushTLB()
}

// LoadVirtual reads size bytes (1, 2, 4 or 8) at a virtual address with the
// hart's current translation, as the hart itself would.
func (h *Hart) LoadVirtual(va uint64, size uint64) (uint64, bool) {
	return h.load(va, size)
}

// State is a view of a hart's architectural state, for people and
// debuggers: the registers printed, written as JSON, read by gdb. CSRs
// appear by number, with the values the guest reads. It is not what
// checkpoints or digests use: SaveState is the one encoding of the hart.
type State struct {
	X       [32]uint64 `json:"x"`
	F       [32]uint64 `json:"f"`
	PC      uint64     `json:"pc"`
	Priv    uint8      `json:"priv"`
	Waiting bool       `json:"waiting,omitempty"`
	Stopped bool       `json:"stopped,omitempty"`
	// CSRs holds the control and status registers by number.
	CSRs map[uint32]uint64 `json:"csrs"`
	// Instret and Count are the retired and executed instruction counts.
	Instret uint64 `json:"instret"`
	Count   uint64 `json:"count"`
	// Reservation is the LR reservation's RAM offset, when valid.
	Reservation *uint64 `json:"reservation,omitempty"`
}

// stateCSRs lists the CSRs State reports, in a fixed order.
var stateCSRs = []uint32{
	csrMstatus, csrMisa, csrMedeleg, csrMideleg, csrMie, csrMip, csrMtvec, csrMcounteren, csrMenvcfg,
	csrMscratch, csrMepc, csrMcause, csrMtval, csrStvec, csrScounteren, csrSenvcfg, csrSscratch,
	csrSepc, csrScause, csrStval, csrSatp, csrFcsr,
}

// State returns the hart's architectural state.
func (h *Hart) State() State {
	c := &h.csr
	vals := []uint64{
		h.status(), misaValue, c.medeleg, c.mideleg, c.mie, h.mip(), c.mtvec, c.mcounteren, c.menvcfg,
		c.mscratch, c.mepc, c.mcause, c.mtval, c.stvec, c.scounteren, c.senvcfg, c.sscratch,
		c.sepc, c.scause, c.stval, c.satp, uint64(c.frm)<<5 | uint64(c.fflags),
	}
	s := State{X: h.X, F: h.F, PC: h.PC, Priv: h.priv, Waiting: h.waiting, Stopped: h.stopped,
		CSRs: make(map[uint32]uint64, len(stateCSRs)), Instret: h.Instret(), Count: h.count}
	for i, n := range stateCSRs {
		s.CSRs[n] = vals[i]
	}
	if h.resValid {
		r := h.resAddr
		s.Reservation = &r
	}
	return s
}
