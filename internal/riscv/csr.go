package riscv

// mstatus fields.
const (
	mstatusSIE  = 1 << 1
	mstatusMIE  = 1 << 3
	mstatusSPIE = 1 << 5
	mstatusMPIE = 1 << 7
	mstatusSPP  = 1 << 8
	mstatusMPP  = 3 << 11
	mstatusFS   = 3 << 13
	mstatusMPRV = 1 << 17
	mstatusSUM  = 1 << 18
	mstatusMXR  = 1 << 19
	mstatusTVM  = 1 << 20
	mstatusTW   = 1 << 21
	mstatusTSR  = 1 << 22
	mstatusUXL  = 2 << 32
	mstatusSXL  = 2 << 34
	mstatusSD   = 1 << 63

	mstatusWritable = mstatusSIE | mstatusMIE | mstatusSPIE | mstatusMPIE | mstatusSPP | mstatusMPP |
		mstatusFS | mstatusMPRV | mstatusSUM | mstatusMXR | mstatusTVM | mstatusTW | mstatusTSR
	sstatusMask = mstatusSIE | mstatusSPIE | mstatusSPP | mstatusFS | mstatusSUM | mstatusMXR |
		mstatusUXL | mstatusSD
)

// Interrupt bits of mip/mie.
const (
	// IrqSSI is the supervisor software interrupt.
	IrqSSI = 1 << 1
	// IrqMSI is the machine software interrupt.
	IrqMSI = 1 << 3
	// IrqSTI is the supervisor timer interrupt.
	IrqSTI = 1 << 5
	// IrqMTI is the machine timer interrupt.
	IrqMTI = 1 << 7
	// IrqSEI is the supervisor external interrupt.
	IrqSEI = 1 << 9
	// IrqMEI is the machine external interrupt.
	IrqMEI = 1 << 11

	sIrqs       = IrqSSI | IrqSTI | IrqSEI
	allIrqs     = sIrqs | IrqMSI | IrqMTI | IrqMEI
	midelegMask = sIrqs
	// medeleg: every exception but ECALL from M-mode can be delegated.
	medelegMask = 0xb3ff
)

// Exception causes.
const (
	CauseInsnMisaligned = 0
	CauseInsnAccess     = 1
	CauseIllegal        = 2
	CauseBreakpoint     = 3
	CauseLoadMisaligned = 4
	CauseLoadAccess     = 5
	CauseStoreMisalign  = 6
	CauseStoreAccess    = 7
	CauseEcallU         = 8
	CauseEcallS         = 9
	CauseEcallM         = 11
	CauseInsnPage       = 12
	CauseLoadPage       = 13
	CauseStorePage      = 15
	interruptBit        = 1 << 63
)

// misa: RV64 with A, C, D, F, I, M, S, U.
const misaValue = 2<<62 | 1<<0 | 1<<2 | 1<<3 | 1<<5 | 1<<8 | 1<<12 | 1<<18 | 1<<20

// ISA is the ISA string the device tree advertises; it names exactly what
// the hart implements.
const ISA = "rv64imafdc_zicntr_zicsr_zifencei"

// CSR numbers.
const (
	csrFflags     = 0x001
	csrFrm        = 0x002
	csrFcsr       = 0x003
	csrCycle      = 0xc00
	csrTime       = 0xc01
	csrInstret    = 0xc02
	csrSstatus    = 0x100
	csrSie        = 0x104
	csrStvec      = 0x105
	csrScounteren = 0x106
	csrSenvcfg    = 0x10a
	csrSscratch   = 0x140
	csrSepc       = 0x141
	csrScause     = 0x142
	csrStval      = 0x143
	csrSip        = 0x144
	csrSatp       = 0x180
	csrMvendorid  = 0xf11
	csrMarchid    = 0xf12
	csrMimpid     = 0xf13
	csrMhartid    = 0xf14
	csrMconfigptr = 0xf15
	csrMstatus    = 0x300
	csrMisa       = 0x301
	csrMedeleg    = 0x302
	csrMideleg    = 0x303
	csrMie        = 0x304
	csrMtvec      = 0x305
	csrMcounteren = 0x306
	csrMenvcfg    = 0x30a
	csrMcountinh  = 0x320
	csrMscratch   = 0x340
	csrMepc       = 0x341
	csrMcause     = 0x342
	csrMtval      = 0x343
	csrMip        = 0x344
	csrMcycle     = 0xb00
	csrMinstret   = 0xb02
)

type csrFile struct {
	mstatus    uint64
	medeleg    uint64
	mideleg    uint64
	mie        uint64
	mip        uint64 // software-writable bits
	irq        uint64 // lines driven by devices
	mtvec      uint64
	mcounteren uint64
	menvcfg    uint64
	mcountinh  uint64
	mscratch   uint64
	mepc       uint64
	mcause     uint64
	mtval      uint64
	stvec      uint64
	scounteren uint64
	senvcfg    uint64
	sscratch   uint64
	sepc       uint64
	scause     uint64
	stval      uint64
	satp       uint64
	fflags     uint8
	frm        uint8
	cycleOff   uint64 // mcycle = instret + cycleOff
	instretOff uint64
	pmpcfg     [8]uint64 // even-numbered pmpcfg registers
	pmpaddr    [64]uint64
}

func (h *Hart) mip() uint64 { return h.csr.mip | h.csr.irq }

// csrRead reads a CSR; ok is false when the access is illegal. n is the
// number of instructions executed so far in the current Run call.
func (h *Hart) csrRead(csr uint32, n uint64) (uint64, bool) {
	if uint8(csr>>8&3) > h.priv {
		return 0, false
	}
	c := &h.csr
	switch csr {
	case csrFflags, csrFrm, csrFcsr:
		if c.mstatus&mstatusFS == 0 {
			return 0, false
		}
		switch csr {
		case csrFflags:
			return uint64(c.fflags), true
		case csrFrm:
			return uint64(c.frm), true
		}
		return uint64(c.frm)<<5 | uint64(c.fflags), true
	case csrSstatus:
		return h.status() & sstatusMask, true
	case csrSie:
		return c.mie & c.mideleg, true
	case csrStvec:
		return c.stvec, true
	case csrScounteren:
		return c.scounteren, true
	case csrSenvcfg:
		return c.senvcfg, true
	case csrSscratch:
		return c.sscratch, true
	case csrSepc:
		return c.sepc, true
	case csrScause:
		return c.scause, true
	case csrStval:
		return c.stval, true
	case csrSip:
		return h.mip() & c.mideleg, true
	case csrSatp:
		if h.priv == PrivS && c.mstatus&mstatusTVM != 0 {
			return 0, false
		}
		return c.satp, true
	case csrMvendorid, csrMarchid, csrMimpid, csrMconfigptr:
		return 0, true
	case csrMhartid:
		return h.hartID, true
	case csrMstatus:
		return h.status(), true
	case csrMisa:
		return misaValue, true
	case csrMedeleg:
		return c.medeleg, true
	case csrMideleg:
		return c.mideleg, true
	case csrMie:
		return c.mie, true
	case csrMtvec:
		return c.mtvec, true
	case csrMcounteren:
		return c.mcounteren, true
	case csrMenvcfg:
		return c.menvcfg, true
	case csrMcountinh:
		return c.mcountinh, true
	case csrMscratch:
		return c.mscratch, true
	case csrMepc:
		return c.mepc, true
	case csrMcause:
		return c.mcause, true
	case csrMtval:
		return c.mtval, true
	case csrMip:
		return h.mip(), true
	case csrMcycle:
		return h.count - h.traps + n + c.cycleOff, true
	case csrMinstret:
		return h.count - h.traps + n + c.instretOff, true
	}
	switch {
	case csr >= csrCycle && csr <= csrCycle+31: // cycle, time, instret, hpmcounter3..31
		idx := csr - csrCycle
		if !h.counterAllowed(idx) {
			return 0, false
		}
		switch idx {
		case 0:
			return h.count - h.traps + n + c.cycleOff, true
		case 1:
			return h.clock.Time(), true
		case 2:
			return h.count - h.traps + n + c.instretOff, true
		}
		return 0, true
	case csr >= 0xb03 && csr <= 0xb1f, csr >= 0x323 && csr <= 0x33f: // mhpmcounter/mhpmevent: hardwired zero
		return 0, true
	case csr >= 0x3a0 && csr <= 0x3af:
		if csr&1 != 0 {
			return 0, false
		}
		return c.pmpcfg[(csr-0x3a0)/2], true
	case csr >= 0x3b0 && csr <= 0x3ef:
		return c.pmpaddr[csr-0x3b0], true
	}
	return 0, false
}

func (h *Hart) counterAllowed(idx uint32) bool {
	bit := uint64(1) << idx
	if h.priv < PrivM && h.csr.mcounteren&bit == 0 {
		return false
	}
	if h.priv < PrivS && h.csr.scounteren&bit == 0 {
		return false
	}
	return true
}

func (h *Hart) status() uint64 {
	s := h.csr.mstatus
	if s&mstatusFS == mstatusFS {
		s |= mstatusSD
	}
	return s
}

// csrWrite writes a CSR whose read was already allowed; ok is false for a
// read-only CSR. n is as for csrRead.
func (h *Hart) csrWrite(csr uint32, v uint64, n uint64) bool {
	if csr>>10 == 3 {
		return false // read-only space
	}
	c := &h.csr
	switch csr {
	case csrFflags:
		c.fflags = uint8(v & 0x1f)
		c.mstatus |= mstatusFS
	case csrFrm:
		c.frm = uint8(v & 7)
		c.mstatus |= mstatusFS
	case csrFcsr:
		c.fflags, c.frm = uint8(v&0x1f), uint8(v>>5&7)
		c.mstatus |= mstatusFS
	case csrSstatus:
		h.setMstatus(c.mstatus&^sstatusMask | v&sstatusMask&mstatusWritable)
	case csrSie:
		c.mie = c.mie&^c.mideleg | v&c.mideleg
	case csrStvec:
		c.stvec = v &^ 2
	case csrScounteren:
		c.scounteren = v & 0xffffffff
	case csrSenvcfg:
		c.senvcfg = 0 // no optional features
	case csrSscratch:
		c.sscratch = v
	case csrSepc:
		c.sepc = v &^ 1
	case csrScause:
		c.scause = v
	case csrStval:
		c.stval = v
	case csrSip:
		mask := c.mideleg & IrqSSI
		c.mip = c.mip&^mask | v&mask
	case csrSatp:
		h.setSatp(v)
	case csrMstatus:
		h.setMstatus(v)
	case csrMisa:
		// WARL, fixed.
	case csrMedeleg:
		c.medeleg = v & medelegMask
	case csrMideleg:
		c.mideleg = v & midelegMask
	case csrMie:
		c.mie = v & allIrqs
	case csrMtvec:
		c.mtvec = v &^ 2
	case csrMcounteren:
		c.mcounteren = v & 0xffffffff
	case csrMenvcfg:
		c.menvcfg = 0
	case csrMcountinh:
		c.mcountinh = v & 0xfffffffd
	case csrMscratch:
		c.mscratch = v
	case csrMepc:
		c.mepc = v &^ 1
	case csrMcause:
		c.mcause = v
	case csrMtval:
		c.mtval = v
	case csrMip:
		mask := uint64(sIrqs)
		c.mip = c.mip&^mask | v&mask
	case csrMcycle:
		c.cycleOff = v - (h.count - h.traps + n + 1) // the write takes effect after this instruction retires
	case csrMinstret:
		c.instretOff = v - (h.count - h.traps + n + 1)
	default:
		switch {
		case csr >= 0xb03 && csr <= 0xb1f, csr >= 0x323 && csr <= 0x33f:
		case csr >= 0x3a0 && csr <= 0x3af:
			c.pmpcfg[(csr-0x3a0)/2] = v
		case csr >= 0x3b0 && csr <= 0x3ef:
			c.pmpaddr[csr-0x3b0] = v & (1<<54 - 1)
		default:
			return false
		}
	}
	return true
}

func (h *Hart) setMstatus(v uint64) {
	old := h.csr.mstatus
	n := old&^mstatusWritable | v&mstatusWritable
	if n&mstatusMPP == 2<<11 { // reserved MPP value: keep the old one
		n = n&^mstatusMPP | old&mstatusMPP
	}
	h.csr.mstatus = n
	if (old^n)&(mstatusMPRV|mstatusSUM|mstatusMXR|mstatusMPP) != 0 {
		h.flushTLB()
	}
}

func (h *Hart) setSatp(v uint64) {
	switch v >> 60 {
	case 0, 8, 9: // Bare, Sv39, Sv48
	default:
		return // unsupported mode: the write is ignored
	}
	h.csr.satp = v & (0xf<<60 | 1<<44 - 1) // no ASIDs
	h.flushTLB()
}

// exception takes a synchronous trap for the instruction at pc.
func (h *Hart) exception(pc, cause, tval uint64) {
	h.traps++
	h.trap(cause, tval, pc)
}

// trap enters the trap handler at S or M level according to delegation.
func (h *Hart) trap(cause, tval, epc uint64) {
	c := &h.csr
	code := cause &^ interruptBit
	deleg := c.medeleg
	if cause&interruptBit != 0 {
		deleg = c.mideleg
	}
	h.resValid = false
	h.yield = true
	if h.priv <= PrivS && deleg>>code&1 != 0 {
		c.scause, c.sepc, c.stval = cause, epc, tval
		s := c.mstatus &^ (mstatusSPP | mstatusSPIE | mstatusSIE)
		if c.mstatus&mstatusSIE != 0 {
			s |= mstatusSPIE
		}
		if h.priv == PrivS {
			s |= mstatusSPP
		}
		c.mstatus = s
		h.PC = c.stvec &^ 3
		if cause&interruptBit != 0 && c.stvec&1 != 0 {
			h.PC += 4 * code
		}
		if h.priv != PrivS {
			h.priv = PrivS
			h.flushTLB()
		}
		return
	}
	c.mcause, c.mepc, c.mtval = cause, epc, tval
	s := c.mstatus &^ (mstatusMPP | mstatusMPIE | mstatusMIE)
	if c.mstatus&mstatusMIE != 0 {
		s |= mstatusMPIE
	}
	s |= uint64(h.priv) << 11
	c.mstatus = s
	h.PC = c.mtvec &^ 3
	if cause&interruptBit != 0 && c.mtvec&1 != 0 {
		h.PC += 4 * code
	}
	if h.priv != PrivM {
		h.priv = PrivM
		h.flushTLB()
	}
}

// interruptPriority lists interrupt causes from highest to lowest priority.
var interruptPriority = [...]uint64{11, 3, 7, 9, 1, 5}

// pendingInterrupt returns the cause of the interrupt to take now, if any.
func (h *Hart) pendingInterrupt() (uint64, bool) {
	c := &h.csr
	pend := h.mip() & c.mie
	if pend == 0 {
		return 0, false
	}
	var enabled uint64
	if m := pend &^ c.mideleg; m != 0 && (h.priv < PrivM || c.mstatus&mstatusMIE != 0) {
		enabled = m
	} else if s := pend & c.mideleg; s != 0 && (h.priv < PrivS || h.priv == PrivS && c.mstatus&mstatusSIE != 0) {
		enabled = s
	}
	if enabled == 0 {
		return 0, false
	}
	for _, code := range interruptPriority {
		if enabled>>code&1 != 0 {
			return code, true
		}
	}
	return 0, false
}

// takeInterrupt enters the handler of a pending, enabled interrupt, if any.
func (h *Hart) takeInterrupt() bool {
	code, ok := h.pendingInterrupt()
	if !ok {
		return false
	}
	h.waiting = false
	h.trap(interruptBit|code, 0, h.PC)
	return true
}

func (h *Hart) mret() bool {
	if h.priv != PrivM {
		return false
	}
	c := &h.csr
	mpp := uint8(c.mstatus >> 11 & 3)
	s := c.mstatus &^ (mstatusMIE | mstatusMPP)
	if c.mstatus&mstatusMPIE != 0 {
		s |= mstatusMIE
	}
	s |= mstatusMPIE
	if mpp != PrivM {
		s &^= mstatusMPRV
	}
	c.mstatus = s
	h.PC = c.mepc
	h.setPrivAfterReturn(mpp)
	return true
}

func (h *Hart) sret() bool {
	if h.priv == PrivU || h.priv == PrivS && h.csr.mstatus&mstatusTSR != 0 {
		return false
	}
	c := &h.csr
	spp := uint8(c.mstatus >> 8 & 1)
	s := c.mstatus &^ (mstatusSIE | mstatusSPP | mstatusMPRV)
	if c.mstatus&mstatusSPIE != 0 {
		s |= mstatusSIE
	}
	s |= mstatusSPIE
	c.mstatus = s
	h.PC = c.sepc
	h.setPrivAfterReturn(spp)
	return true
}

func (h *Hart) setPrivAfterReturn(p uint8) {
	h.resValid = false
	h.yield = true
	h.priv = p
	h.flushTLB()
}
