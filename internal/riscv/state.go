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

// StatePart names one part of a hart's saved state. SaveState writes the
// parts in this order; a state summary fingerprints them one by one.
type StatePart int

// The parts of a hart's saved state.
const (
	StateX       StatePart = iota // the integer registers
	StateF                        // the floating-point registers
	StatePC                       // the pc
	StateControl                  // privilege, WFI and stop, counters, the LR reservation, CSRs
	numStateParts
)

// SaveState appends the hart's whole state to e, every part in order:
// registers, privilege, CSRs, counters and the LR reservation. Caches are
// not saved. It is the one encoding of the hart's state: checkpoints store
// it and digests hash it.
func (h *Hart) SaveState(e *snapshot.Encoder) {
	for p := range numStateParts {
		h.SaveStatePart(e, p)
	}
}

// SaveStatePart appends part p of the hart's saved state to e.
func (h *Hart) SaveStatePart(e *snapshot.Encoder, p StatePart) { h.stateFields(p, encodeFields{e}) }

// RestoreState reads a state written by SaveState. Values the hart could
// not have reached by itself (an unknown privilege level, an unsupported
// translation mode, a reservation outside RAM...) are errors, recorded in
// d too, and the hart is left unchanged.
func (h *Hart) RestoreState(d *snapshot.Decoder) error {
	var before snapshot.Encoder
	h.SaveState(&before)
	for p := range numStateParts {
		h.stateFields(p, decodeFields{d})
	}
	if d.Err() == nil {
		h.checkState(d)
	}
	if err := d.Err(); err != nil {
		back := snapshot.NewDecoder(before.Bytes())
		for p := range numStateParts {
			h.stateFields(p, decodeFields{back})
		}
		return err
	}
	h.yield = false
	h.flushTLB()
	return nil
}

// stateFields is the one list of the fields of the hart's saved state:
// it hands those of part p, in their saved order, to f, which encodes or
// decodes them.
func (h *Hart) stateFields(p StatePart, f fields) {
	switch p {
	case StateX:
		for i := range h.X {
			f.u64(&h.X[i], "x")
		}
	case StateF:
		for i := range h.F {
			f.u64(&h.F[i], "f")
		}
	case StatePC:
		f.u64(&h.PC, "pc")
	case StateControl:
		f.u8(&h.priv, "priv")
		f.flag(&h.waiting, "waiting")
		f.flag(&h.stopped, "stopped")
		f.u64(&h.count, "count")
		f.u64(&h.traps, "traps")
		f.flag(&h.resValid, "reservation valid")
		f.u64(&h.resAddr, "reservation")
		c := &h.csr
		for _, v := range []*uint64{&c.mstatus, &c.medeleg, &c.mideleg, &c.mie, &c.mip, &c.irq, &c.mtvec,
			&c.mcounteren, &c.menvcfg, &c.mcountinh, &c.mscratch, &c.mepc, &c.mcause, &c.mtval, &c.stvec,
			&c.scounteren, &c.senvcfg, &c.sscratch, &c.sepc, &c.scause, &c.stval, &c.satp, &c.cycleOff, &c.instretOff} {
			f.u64(v, "csr")
		}
		f.u8(&c.fflags, "fflags")
		f.u8(&c.frm, "frm")
		for i := range c.pmpcfg {
			f.u64(&c.pmpcfg[i], "pmpcfg")
		}
		for i := range c.pmpaddr {
			f.u64(&c.pmpaddr[i], "pmpaddr")
		}
	}
}

// fields encodes or decodes the fields stateFields lists; each is named
// for the error a decoder reports.
type fields interface {
	u64(v *uint64, name string)
	u8(v *uint8, name string)
	flag(v *bool, name string)
}

type encodeFields struct{ e *snapshot.Encoder }

func (f encodeFields) u64(v *uint64, _ string) { f.e.Uint64(*v) }
func (f encodeFields) u8(v *uint8, _ string)   { f.e.Uint8(*v) }
func (f encodeFields) flag(v *bool, _ string)  { f.e.Bool(*v) }

type decodeFields struct{ d *snapshot.Decoder }

func (f decodeFields) u64(v *uint64, name string) { *v = f.d.Uint64(name) }
func (f decodeFields) u8(v *uint8, name string)   { *v = f.d.Uint8(name) }
func (f decodeFields) flag(v *bool, name string)  { *v = f.d.Bool(name) }

// checkState fails d if the hart's state, just decoded, is one the hart
// could not have reached by itself.
func (h *Hart) checkState(d *snapshot.Decoder) {
	c := &h.csr
	switch {
	case h.X[0] != 0:
		d.Failf("x0 is %#x, not zero", h.X[0])
	case h.priv != PrivU && h.priv != PrivS && h.priv != PrivM:
		d.Failf("priv: %d is not a privilege level", h.priv)
	case h.traps > h.count:
		d.Failf("traps: %d exceeds the instruction count %d", h.traps, h.count)
	case h.resValid && (h.resAddr >= h.ram.Size() || h.resAddr&3 != 0):
		d.Failf("reservation: offset %#x is not in RAM", h.resAddr)
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
}
