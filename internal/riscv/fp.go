package riscv

import "github.com/juicevm/juice/internal/fpu"

const boxMask = 0xffffffff_00000000

// unbox returns the single-precision value held in a NaN-boxed register; an
// improperly boxed value reads as the canonical NaN.
func unbox(v uint64) uint32 {
	if v&boxMask != boxMask {
		return fpu.CanonicalNaN32
	}
	return uint32(v)
}

func box(v uint32) uint64 { return boxMask | uint64(v) }

// execFP executes a floating-point instruction. It returns false when the
// instruction trapped.
func (h *Hart) execFP(d *Insn, pc uint64) bool {
	if h.csr.mstatus&mstatusFS == 0 {
		h.exception(pc, CauseIllegal, uint64(d.Raw))
		return false
	}
	x, f := &h.X, &h.F
	switch d.Op {
	case opFLW, opFLD:
		size := uint64(4)
		if d.Op == opFLD {
			size = 8
		}
		v, ok := h.load(x[d.Rs1&31]+uint64(d.Imm), size)
		if !ok {
			h.exception(pc, h.faultCause, h.faultVal)
			return false
		}
		if size == 4 {
			v = box(uint32(v))
		}
		f[d.Rd&31] = v
		h.csr.mstatus |= mstatusFS
		return true
	case opFSW, opFSD:
		size := uint64(4)
		if d.Op == opFSD {
			size = 8
		}
		if !h.store(x[d.Rs1&31]+uint64(d.Imm), size, f[d.Rs2&31]) {
			h.exception(pc, h.faultCause, h.faultVal)
			return false
		}
		return true
	}

	rm := fpu.RoundingMode(d.Rm)
	if rm == 7 {
		rm = fpu.RoundingMode(h.csr.frm)
	}
	if rm > fpu.RMM && usesRM(d.Fop) {
		h.exception(pc, CauseIllegal, uint64(d.Raw))
		return false
	}
	var fl fpu.Flags
	a, b := f[d.Rs1&31], f[d.Rs2&31]
	rd := d.Rd & 31
	if d.Dbl {
		switch d.Fop {
		case fopADD:
			f[rd], fl = fpu.Add64(a, b, rm)
		case fopSUB:
			f[rd], fl = fpu.Sub64(a, b, rm)
		case fopMUL:
			f[rd], fl = fpu.Mul64(a, b, rm)
		case fopDIV:
			f[rd], fl = fpu.Div64(a, b, rm)
		case fopSQRT:
			f[rd], fl = fpu.Sqrt64(a, rm)
		case fopMADD, fopMSUB, fopNMSUB, fopNMADD:
			f[rd], fl = fpu.MulAdd64(a, b, f[d.Rs3&31], d.Fop == fopNMSUB || d.Fop == fopNMADD, d.Fop == fopMSUB || d.Fop == fopNMADD, rm)
		case fopSGNJ:
			f[rd] = a&^(1<<63) | b&(1<<63)
		case fopSGNJN:
			f[rd] = a&^(1<<63) | ^b&(1<<63)
		case fopSGNJX:
			f[rd] = a ^ b&(1<<63)
		case fopMIN:
			f[rd], fl = fpu.Min64(a, b)
		case fopMAX:
			f[rd], fl = fpu.Max64(a, b)
		case fopCVTWF:
			var v int32
			v, fl = fpu.ToInt32From64(a, rm)
			x[rd] = uint64(int64(v))
		case fopCVTWUF:
			var v uint32
			v, fl = fpu.ToUint32From64(a, rm)
			x[rd] = sext32(v)
		case fopCVTLF:
			var v int64
			v, fl = fpu.ToInt64From64(a, rm)
			x[rd] = uint64(v)
		case fopCVTLUF:
			x[rd], fl = fpu.ToUint64From64(a, rm)
		case fopCVTFW:
			f[rd], fl = fpu.FromInt32To64(int32(x[d.Rs1&31]), rm)
		case fopCVTFWU:
			f[rd], fl = fpu.FromUint32To64(uint32(x[d.Rs1&31]), rm)
		case fopCVTFL:
			f[rd], fl = fpu.FromInt64To64(int64(x[d.Rs1&31]), rm)
		case fopCVTFLU:
			f[rd], fl = fpu.FromUint64To64(x[d.Rs1&31], rm)
		case fopMVXF:
			x[rd] = a
		case fopMVFX:
			f[rd] = x[d.Rs1&31]
		case fopEQ:
			var r bool
			r, fl = fpu.Eq64(a, b)
			x[rd] = b2u(r)
		case fopLT:
			var r bool
			r, fl = fpu.Lt64(a, b)
			x[rd] = b2u(r)
		case fopLE:
			var r bool
			r, fl = fpu.Le64(a, b)
			x[rd] = b2u(r)
		case fopCLASS:
			x[rd] = fpu.Class64(a)
		case fopCVTDS:
			f[rd], fl = fpu.F32ToF64(unbox(a))
		}
	} else {
		a32, b32 := unbox(a), unbox(b)
		var r32 uint32
		writeF := true
		switch d.Fop {
		case fopADD:
			r32, fl = fpu.Add32(a32, b32, rm)
		case fopSUB:
			r32, fl = fpu.Sub32(a32, b32, rm)
		case fopMUL:
			r32, fl = fpu.Mul32(a32, b32, rm)
		case fopDIV:
			r32, fl = fpu.Div32(a32, b32, rm)
		case fopSQRT:
			r32, fl = fpu.Sqrt32(a32, rm)
		case fopMADD, fopMSUB, fopNMSUB, fopNMADD:
			r32, fl = fpu.MulAdd32(a32, b32, unbox(f[d.Rs3&31]), d.Fop == fopNMSUB || d.Fop == fopNMADD, d.Fop == fopMSUB || d.Fop == fopNMADD, rm)
		case fopSGNJ:
			r32 = a32&^(1<<31) | b32&(1<<31)
		case fopSGNJN:
			r32 = a32&^(1<<31) | ^b32&(1<<31)
		case fopSGNJX:
			r32 = a32 ^ b32&(1<<31)
		case fopMIN:
			r32, fl = fpu.Min32(a32, b32)
		case fopMAX:
			r32, fl = fpu.Max32(a32, b32)
		case fopCVTFW:
			r32, fl = fpu.FromInt32To32(int32(x[d.Rs1&31]), rm)
		case fopCVTFWU:
			r32, fl = fpu.FromUint32To32(uint32(x[d.Rs1&31]), rm)
		case fopCVTFL:
			r32, fl = fpu.FromInt64To32(int64(x[d.Rs1&31]), rm)
		case fopCVTFLU:
			r32, fl = fpu.FromUint64To32(x[d.Rs1&31], rm)
		case fopMVFX:
			r32 = uint32(x[d.Rs1&31])
		case fopCVTSD:
			r32, fl = fpu.F64ToF32(a, rm)
		default:
			writeF = false
			switch d.Fop {
			case fopCVTWF:
				var v int32
				v, fl = fpu.ToInt32From32(a32, rm)
				x[rd] = uint64(int64(v))
			case fopCVTWUF:
				var v uint32
				v, fl = fpu.ToUint32From32(a32, rm)
				x[rd] = sext32(v)
			case fopCVTLF:
				var v int64
				v, fl = fpu.ToInt64From32(a32, rm)
				x[rd] = uint64(v)
			case fopCVTLUF:
				x[rd], fl = fpu.ToUint64From32(a32, rm)
			case fopMVXF:
				x[rd] = sext32(uint32(a))
			case fopEQ:
				var r bool
				r, fl = fpu.Eq32(a32, b32)
				x[rd] = b2u(r)
			case fopLT:
				var r bool
				r, fl = fpu.Lt32(a32, b32)
				x[rd] = b2u(r)
			case fopLE:
				var r bool
				r, fl = fpu.Le32(a32, b32)
				x[rd] = b2u(r)
			case fopCLASS:
				x[rd] = fpu.Class32(a32)
			}
		}
		if writeF {
			f[rd] = box(r32)
		}
	}
	if fl != 0 {
		h.csr.fflags |= uint8(fl)
	}
	if writesF(d.Fop) || fl != 0 {
		h.csr.mstatus |= mstatusFS
	}
	return true
}

func usesRM(o fop) bool {
	switch o {
	case fopSGNJ, fopSGNJN, fopSGNJX, fopMIN, fopMAX, fopMVXF, fopMVFX, fopEQ, fopLT, fopLE, fopCLASS:
		return false
	}
	return true
}

// writesF reports whether an op writes a floating-point register.
func writesF(o fop) bool {
	switch o {
	case fopCVTWF, fopCVTWUF, fopCVTLF, fopCVTLUF, fopMVXF, fopEQ, fopLT, fopLE, fopCLASS:
		return false
	}
	return true
}
