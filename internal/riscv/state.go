package riscv

import "github.com/juicevm/juice/internal/snapshot"

// PrepareStep does what Run does before its first instruction — it takes a
// pending, enabled interrupt — and reports the pc of the instruction the
// next Run would execute. ok is false when the hart would execute nothing
// (stopped, or waiting for an interrupt). A debugger calls it to check
// breakpoints one instruction at a time; it changes nothing Run would not.
func (h *Hart) PrepareStep() (pc uint64, ok bool) {
	if h.stopped {
		return 0, false
	}
	h.takeInterrupt()
	h.yield = false
	if h.waiting {
		return 0, false
	}
	return h.PC, true
}

// SaveState appends the hart's whole state to e: registers, privilege,
// CSRs, counters and the LR reservation. Caches are not saved.
func (h *Hart) SaveState(e *snapshot.Encoder) {
	for _, v := range h.X {
		e.Uint64(v)
	}
	for _, v := range h.F {
		e.Uint64(v)
	}
	e.Uint64(h.PC)
	e.Uint8(h.priv)
	e.Bool(h.waiting)
	e.Bool(h.stopped)
	e.Uint64(h.count)
	e.Uint64(h.traps)
	e.Bool(h.resValid)
	e.Uint64(h.resAddr)
	c := &h.csr
	for _, v := range []uint64{c.mstatus, c.medeleg, c.mideleg, c.mie, c.mip, c.irq, c.mtvec,
		c.mcounteren, c.menvcfg, c.mcountinh, c.mscratch, c.mepc, c.mcause, c.mtval, c.stvec,
		c.scounteren, c.senvcfg, c.sscratch, c.sepc, c.scause, c.stval, c.satp, c.cycleOff, c.instretOff} {
		e.Uint64(v)
	}
	e.Uint8(c.fflags)
	e.Uint8(c.frm)
	for _, v := range c.pmpcfg {
		e.Uint64(v)
	}
	for _, v := range c.pmpaddr {
		e.Uint64(v)
	}
}

// RestoreState reads a state written by SaveState. Values the hart could
// not have reached by itself (an unknown privilege level, an unsupported
// translation mode, a reservation outside RAM...) are errors, and the hart
// is left unchanged.
func (h *Hart) RestoreState(d *snapshot.Decoder) error {
	var n Hart
	for i := range n.X {
		n.X[i] = d.Uint64("x")
	}
	for i := range n.F {
		n.F[i] = d.Uint64("f")
	}
	n.PC = d.Uint64("pc")
	n.priv = d.Uint8("priv")
	n.waiting = d.Bool("waiting")
	n.stopped = d.Bool("stopped")
	n.count = d.Uint64("count")
	n.traps = d.Uint64("traps")
	n.resValid = d.Bool("reservation valid")
	n.resAddr = d.Uint64("reservation")
	c := &n.csr
	for _, p := range []*uint64{&c.mstatus, &c.medeleg, &c.mideleg, &c.mie, &c.mip, &c.irq, &c.mtvec,
		&c.mcounteren, &c.menvcfg, &c.mcountinh, &c.mscratch, &c.mepc, &c.mcause, &c.mtval, &c.stvec,
		&c.scounteren, &c.senvcfg, &c.sscratch, &c.sepc, &c.scause, &c.stval, &c.satp, &c.cycleOff, &c.instretOff} {
		*p = d.Uint64("csr")
	}
	c.fflags = d.Uint8("fflags")
	c.frm = d.Uint8("frm")
	for i := range c.pmpcfg {
		c.pmpcfg[i] = d.Uint64("pmpcfg")
	}
	for i := range c.pmpaddr {
		c.pmpaddr[i] = d.Uint64("pmpaddr")
	}
	switch {
	case d.Err() != nil:
	case n.X[0] != 0:
		d.Failf("x0 is %#x, not zero", n.X[0])
	case n.priv != PrivU && n.priv != PrivS && n.priv != PrivM:
		d.Failf("priv: %d is not a privilege level", n.priv)
	case n.traps > n.count:
		d.Failf("traps: %d exceeds the instruction count %d", n.traps, n.count)
	case n.resValid && (n.resAddr >= h.ram.Size() || n.resAddr&3 != 0):
		d.Failf("reservation: offset %#x is not in RAM", n.resAddr)
	case c.satp>>60 != 0 && c.satp>>60 != 8 && c.satp>>60 != 9:
		d.Failf("satp: translation mode %d is not supported", c.satp>>60)
	case c.satp&^(0xf<<60|1<<44-1) != 0:
		d.Failf("satp: %#x has bits set that the hart keeps zero", c.satp)
	case c.mstatus&^(mstatusWritable|mstatusUXL|mstatusSXL|mstatusSD) != 0 || c.mstatus&mstatusMPP == 2<<11:
		d.Failf("mstatus: %#x is not a value the hart can hold", c.mstatus)
	case c.medeleg&^medelegMask != 0 || c.mideleg&^midelegMask != 0:
		d.Failf("medeleg/mideleg: %#x/%#x have bits the hart keeps zero", c.medeleg, c.mideleg)
	case c.fflags > 0x1f || c.frm > 7:
		d.Failf("fcsr: fflags %#x frm %d out of range", c.fflags, c.frm)
	}
	if err := d.Err(); err != nil {
		return err
	}
	h.X, h.F, h.PC, h.priv = n.X, n.F, n.PC, n.priv
	h.waiting, h.stopped, h.count, h.traps = n.waiting, n.stopped, n.count, n.traps
	h.resValid, h.resAddr = n.resValid, n.resAddr
	h.csr = n.csr
	h.yield = false
	h.flushTLB()
	return nil
}
