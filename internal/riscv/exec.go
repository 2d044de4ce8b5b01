package riscv

import (
	"encoding/binary"
	"math/bits"
)

// Run executes up to budget instructions and returns how many it executed
// (retired or trapped). It returns early when an instruction needs the
// machine's attention: an access to a device, a change of interrupt state,
// WFI, or a firmware call.
func (h *Hart) Run(budget uint64) uint64 {
	if h.stopped {
		return 0
	}
	h.yield = false
	if h.takeInterrupt() {
		h.yield = false
	}
	if h.waiting {
		return 0
	}
	var n uint64
	for n < budget && !h.yield {
		pc := h.PC
		var raw uint32
		if pc>>12 == h.fetchTag && pc&0xfff <= 0xffc {
			raw = binary.LittleEndian.Uint32(h.ram.Bytes()[h.fetchOff+pc&0xfff:])
		} else {
			var ok bool
			if raw, ok = h.fetchSlow(pc); !ok {
				n++
				h.exception(pc, h.faultCause, h.faultVal)
				continue
			}
		}
		if raw&3 != 3 {
			raw &= 0xffff
		}
		d := &h.icache[pc>>1&(icacheSize-1)]
		if d.Raw != raw {
			*d = Decode(raw)
		}
		n++
		h.PC = pc + uint64(d.Size)
		x := &h.X
		switch d.Op {
		case opADDI:
			x[d.Rd&31] = x[d.Rs1&31] + uint64(d.Imm)
		case opADD:
			x[d.Rd&31] = x[d.Rs1&31] + x[d.Rs2&31]
		case opLD:
			v, ok := h.load(x[d.Rs1&31]+uint64(d.Imm), 8)
			if !ok {
				h.exception(pc, h.faultCause, h.faultVal)
				continue
			}
			x[d.Rd&31] = v
		case opSD:
			if !h.store(x[d.Rs1&31]+uint64(d.Imm), 8, x[d.Rs2&31]) {
				h.exception(pc, h.faultCause, h.faultVal)
				continue
			}
		case opBEQ:
			if x[d.Rs1&31] == x[d.Rs2&31] {
				h.PC = pc + uint64(d.Imm)
			}
		case opBNE:
			if x[d.Rs1&31] != x[d.Rs2&31] {
				h.PC = pc + uint64(d.Imm)
			}
		case opBLT:
			if int64(x[d.Rs1&31]) < int64(x[d.Rs2&31]) {
				h.PC = pc + uint64(d.Imm)
			}
		case opBGE:
			if int64(x[d.Rs1&31]) >= int64(x[d.Rs2&31]) {
				h.PC = pc + uint64(d.Imm)
			}
		case opBLTU:
			if x[d.Rs1&31] < x[d.Rs2&31] {
				h.PC = pc + uint64(d.Imm)
			}
		case opBGEU:
			if x[d.Rs1&31] >= x[d.Rs2&31] {
				h.PC = pc + uint64(d.Imm)
			}
		case opLUI:
			x[d.Rd&31] = uint64(d.Imm)
		case opAUIPC:
			x[d.Rd&31] = pc + uint64(d.Imm)
		case opJAL:
			x[d.Rd&31] = pc + uint64(d.Size)
			h.PC = pc + uint64(d.Imm)
		case opJALR:
			t := (x[d.Rs1&31] + uint64(d.Imm)) &^ 1
			x[d.Rd&31] = pc + uint64(d.Size)
			h.PC = t
		case opLB, opLH, opLW, opLBU, opLHU, opLWU:
			size := [...]uint64{opLB - opLB: 1, opLH - opLB: 2, opLW - opLB: 4, opLD - opLB: 8, opLBU - opLB: 1, opLHU - opLB: 2, opLWU - opLB: 4}[d.Op-opLB]
			v, ok := h.load(x[d.Rs1&31]+uint64(d.Imm), size)
			if !ok {
				h.exception(pc, h.faultCause, h.faultVal)
				continue
			}
			switch d.Op {
			case opLB:
				v = uint64(int8(v))
			case opLH:
				v = uint64(int16(v))
			case opLW:
				v = uint64(int32(v))
			}
			x[d.Rd&31] = v
		case opSB, opSH, opSW:
			size := uint64(1) << (d.Op - opSB)
			if !h.store(x[d.Rs1&31]+uint64(d.Imm), size, x[d.Rs2&31]) {
				h.exception(pc, h.faultCause, h.faultVal)
				continue
			}
		case opSLTI:
			x[d.Rd&31] = b2u(int64(x[d.Rs1&31]) < d.Imm)
		case opSLTIU:
			x[d.Rd&31] = b2u(x[d.Rs1&31] < uint64(d.Imm))
		case opXORI:
			x[d.Rd&31] = x[d.Rs1&31] ^ uint64(d.Imm)
		case opORI:
			x[d.Rd&31] = x[d.Rs1&31] | uint64(d.Imm)
		case opANDI:
			x[d.Rd&31] = x[d.Rs1&31] & uint64(d.Imm)
		case opSLLI:
			x[d.Rd&31] = x[d.Rs1&31] << (d.Imm & 63)
		case opSRLI:
			x[d.Rd&31] = x[d.Rs1&31] >> (d.Imm & 63)
		case opSRAI:
			x[d.Rd&31] = uint64(int64(x[d.Rs1&31]) >> (d.Imm & 63))
		case opSUB:
			x[d.Rd&31] = x[d.Rs1&31] - x[d.Rs2&31]
		case opSLL:
			x[d.Rd&31] = x[d.Rs1&31] << (x[d.Rs2&31] & 63)
		case opSLT:
			x[d.Rd&31] = b2u(int64(x[d.Rs1&31]) < int64(x[d.Rs2&31]))
		case opSLTU:
			x[d.Rd&31] = b2u(x[d.Rs1&31] < x[d.Rs2&31])
		case opXOR:
			x[d.Rd&31] = x[d.Rs1&31] ^ x[d.Rs2&31]
		case opSRL:
			x[d.Rd&31] = x[d.Rs1&31] >> (x[d.Rs2&31] & 63)
		case opSRA:
			x[d.Rd&31] = uint64(int64(x[d.Rs1&31]) >> (x[d.Rs2&31] & 63))
		case opOR:
			x[d.Rd&31] = x[d.Rs1&31] | x[d.Rs2&31]
		case opAND:
			x[d.Rd&31] = x[d.Rs1&31] & x[d.Rs2&31]
		case opADDIW:
			x[d.Rd&31] = sext32(uint32(x[d.Rs1&31]) + uint32(d.Imm))
		case opSLLIW:
			x[d.Rd&31] = sext32(uint32(x[d.Rs1&31]) << (d.Imm & 31))
		case opSRLIW:
			x[d.Rd&31] = sext32(uint32(x[d.Rs1&31]) >> (d.Imm & 31))
		case opSRAIW:
			x[d.Rd&31] = uint64(int64(int32(x[d.Rs1&31]) >> (d.Imm & 31)))
		case opADDW:
			x[d.Rd&31] = sext32(uint32(x[d.Rs1&31]) + uint32(x[d.Rs2&31]))
		case opSUBW:
			x[d.Rd&31] = sext32(uint32(x[d.Rs1&31]) - uint32(x[d.Rs2&31]))
		case opSLLW:
			x[d.Rd&31] = sext32(uint32(x[d.Rs1&31]) << (x[d.Rs2&31] & 31))
		case opSRLW:
			x[d.Rd&31] = sext32(uint32(x[d.Rs1&31]) >> (x[d.Rs2&31] & 31))
		case opSRAW:
			x[d.Rd&31] = uint64(int64(int32(x[d.Rs1&31]) >> (x[d.Rs2&31] & 31)))
		case opMUL:
			x[d.Rd&31] = x[d.Rs1&31] * x[d.Rs2&31]
		case opMULH:
			x[d.Rd&31] = mulh(x[d.Rs1&31], x[d.Rs2&31])
		case opMULHSU:
			x[d.Rd&31] = mulhsu(x[d.Rs1&31], x[d.Rs2&31])
		case opMULHU:
			hi, _ := bits.Mul64(x[d.Rs1&31], x[d.Rs2&31])
			x[d.Rd&31] = hi
		case opDIV:
			x[d.Rd&31] = div(x[d.Rs1&31], x[d.Rs2&31])
		case opDIVU:
			a, b := x[d.Rs1&31], x[d.Rs2&31]
			if b == 0 {
				x[d.Rd&31] = ^uint64(0)
			} else {
				x[d.Rd&31] = a / b
			}
		case opREM:
			x[d.Rd&31] = rem(x[d.Rs1&31], x[d.Rs2&31])
		case opREMU:
			a, b := x[d.Rs1&31], x[d.Rs2&31]
			if b == 0 {
				x[d.Rd&31] = a
			} else {
				x[d.Rd&31] = a % b
			}
		case opMULW:
			x[d.Rd&31] = sext32(uint32(x[d.Rs1&31]) * uint32(x[d.Rs2&31]))
		case opDIVW:
			x[d.Rd&31] = divw(x[d.Rs1&31], x[d.Rs2&31])
		case opDIVUW:
			a, b := uint32(x[d.Rs1&31]), uint32(x[d.Rs2&31])
			if b == 0 {
				x[d.Rd&31] = ^uint64(0)
			} else {
				x[d.Rd&31] = sext32(a / b)
			}
		case opREMW:
			x[d.Rd&31] = remw(x[d.Rs1&31], x[d.Rs2&31])
		case opREMUW:
			a, b := uint32(x[d.Rs1&31]), uint32(x[d.Rs2&31])
			if b == 0 {
				x[d.Rd&31] = sext32(a)
			} else {
				x[d.Rd&31] = sext32(a % b)
			}
		case opFENCE, opFENCEI:
			// Single-threaded interleaving is sequentially consistent, and
			// the decode cache checks instruction bits on every fetch.
		case opECALL:
			if h.priv == PrivS && h.firmware != nil {
				h.firmware.Ecall(h)
				h.yield = true
				break
			}
			h.exception(pc, [4]uint64{CauseEcallU, CauseEcallS, 0, CauseEcallM}[h.priv&3], 0)
		case opEBREAK:
			h.exception(pc, CauseBreakpoint, pc)
		case opCSRRW, opCSRRS, opCSRRC, opCSRRWI, opCSRRSI, opCSRRCI:
			if !h.execCSR(d, n-1) {
				h.exception(pc, CauseIllegal, uint64(d.Raw))
			}
		case opMRET:
			if !h.mret() {
				h.exception(pc, CauseIllegal, uint64(d.Raw))
			}
		case opSRET:
			if !h.sret() {
				h.exception(pc, CauseIllegal, uint64(d.Raw))
			}
		case opWFI:
			if h.priv == PrivU || h.priv == PrivS && h.csr.mstatus&mstatusTW != 0 {
				h.exception(pc, CauseIllegal, uint64(d.Raw))
				break
			}
			if h.mip()&h.csr.mie == 0 {
				h.waiting = true
			}
			h.yield = true
		case opSFENCEVMA:
			if h.priv == PrivU || h.priv == PrivS && h.csr.mstatus&mstatusTVM != 0 {
				h.exception(pc, CauseIllegal, uint64(d.Raw))
				break
			}
			h.flushTLB()
		case opFLW, opFLD, opFSW, opFSD, opFP:
			if !h.execFP(d, pc) {
				continue
			}
		case opIllegal:
			h.exception(pc, CauseIllegal, uint64(d.Raw))
		default: // A extension
			if !h.execAtomic(d) {
				h.exception(pc, h.faultCause, h.faultVal)
			}
		}
		x[0] = 0
	}
	h.count += n
	return n
}

func (h *Hart) execCSR(d *Insn, n uint64) bool {
	csr := uint32(d.Imm)
	var src uint64
	if d.Op >= opCSRRWI {
		src = uint64(d.Rs1)
	} else {
		src = h.X[d.Rs1&31]
	}
	write := true
	if (d.Op == opCSRRS || d.Op == opCSRRC || d.Op == opCSRRSI || d.Op == opCSRRCI) && d.Rs1 == 0 {
		write = false
	}
	var old uint64
	if d.Op == opCSRRW || d.Op == opCSRRWI {
		// The read is skipped for rd == x0, but access checks still apply.
		if uint8(csr>>8&3) > h.priv {
			return false
		}
		if d.Rd != 0 || csr == csrSatp || csr <= csrFcsr {
			v, ok := h.csrRead(csr, n)
			if !ok {
				return false
			}
			old = v
		}
	} else {
		v, ok := h.csrRead(csr, n)
		if !ok {
			return false
		}
		old = v
	}
	if write {
		nv := src
		switch d.Op {
		case opCSRRS, opCSRRSI:
			nv = old | src
		case opCSRRC, opCSRRCI:
			nv = old &^ src
		}
		if !h.csrWrite(csr, nv, n) {
			return false
		}
		h.yield = true
	}
	h.X[d.Rd&31] = old
	return true
}

func (h *Hart) execAtomic(d *Insn) bool {
	x := &h.X
	addr := x[d.Rs1&31]
	src := x[d.Rs2&31]
	var size uint64 = 4
	if d.Op >= opLRD {
		size = 8
	}
	switch d.Op {
	case opLRW, opLRD:
		off, ok := h.amoAddr(addr, size, accessRead)
		if !ok {
			return false
		}
		v := readLE(h.ram.Bytes()[off:], size)
		if size == 4 {
			v = uint64(int32(v))
		}
		h.resValid, h.resAddr = true, off
		x[d.Rd&31] = v
		return true
	case opSCW, opSCD:
		off, ok := h.amoAddr(addr, size, accessWrite)
		if !ok {
			return false
		}
		if h.resValid && h.resAddr == off {
			writeLE(h.ram.Bytes()[off:], size, src)
			x[d.Rd&31] = 0
		} else {
			x[d.Rd&31] = 1
		}
		h.resValid = false
		return true
	}
	off, ok := h.amoAddr(addr, size, accessWrite)
	if !ok {
		return false
	}
	old := readLE(h.ram.Bytes()[off:], size)
	var nv uint64
	if size == 4 {
		o, s := int32(old), int32(src)
		var r int32
		switch d.Op {
		case opAMOSWAPW:
			r = s
		case opAMOADDW:
			r = o + s
		case opAMOXORW:
			r = o ^ s
		case opAMOANDW:
			r = o & s
		case opAMOORW:
			r = o | s
		case opAMOMINW:
			r = min(o, s)
		case opAMOMAXW:
			r = max(o, s)
		case opAMOMINUW:
			r = int32(min(uint32(o), uint32(s)))
		case opAMOMAXUW:
			r = int32(max(uint32(o), uint32(s)))
		}
		nv = uint64(uint32(r))
		old = uint64(int64(o))
	} else {
		switch d.Op {
		case opAMOSWAPD:
			nv = src
		case opAMOADDD:
			nv = old + src
		case opAMOXORD:
			nv = old ^ src
		case opAMOANDD:
			nv = old & src
		case opAMOORD:
			nv = old | src
		case opAMOMIND:
			nv = uint64(min(int64(old), int64(src)))
		case opAMOMAXD:
			nv = uint64(max(int64(old), int64(src)))
		case opAMOMINUD:
			nv = min(old, src)
		case opAMOMAXUD:
			nv = max(old, src)
		}
	}
	writeLE(h.ram.Bytes()[off:], size, nv)
	x[d.Rd&31] = old
	return true
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func sext32(v uint32) uint64 { return uint64(int64(int32(v))) }

func mulh(a, b uint64) uint64 {
	hi, _ := bits.Mul64(a, b)
	if int64(a) < 0 {
		hi -= b
	}
	if int64(b) < 0 {
		hi -= a
	}
	return hi
}

func mulhsu(a, b uint64) uint64 {
	hi, _ := bits.Mul64(a, b)
	if int64(a) < 0 {
		hi -= b
	}
	return hi
}

func div(a, b uint64) uint64 {
	switch {
	case b == 0:
		return ^uint64(0)
	case int64(a) == -1<<63 && int64(b) == -1:
		return a
	}
	return uint64(int64(a) / int64(b))
}

func rem(a, b uint64) uint64 {
	switch {
	case b == 0:
		return a
	case int64(a) == -1<<63 && int64(b) == -1:
		return 0
	}
	return uint64(int64(a) % int64(b))
}

func divw(a, b uint64) uint64 {
	x, y := int32(a), int32(b)
	switch {
	case y == 0:
		return ^uint64(0)
	case x == -1<<31 && y == -1:
		return uint64(int64(x))
	}
	return uint64(int64(x / y))
}

func remw(a, b uint64) uint64 {
	x, y := int32(a), int32(b)
	switch {
	case y == 0:
		return uint64(int64(x))
	case x == -1<<31 && y == -1:
		return 0
	}
	return uint64(int64(x % y))
}
