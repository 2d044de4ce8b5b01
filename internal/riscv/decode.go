package riscv

// op identifies a decoded instruction. Compressed instructions decode to the
// same ops as their 32-bit expansions; only Insn.Size differs.
type op uint8

const (
	opIllegal op = iota
	// RV64I
	opLUI
	opAUIPC
	opJAL
	opJALR
	opBEQ
	opBNE
	opBLT
	opBGE
	opBLTU
	opBGEU
	opLB
	opLH
	opLW
	opLD
	opLBU
	opLHU
	opLWU
	opSB
	opSH
	opSW
	opSD
	opADDI
	opSLTI
	opSLTIU
	opXORI
	opORI
	opANDI
	opSLLI
	opSRLI
	opSRAI
	opADD
	opSUB
	opSLL
	opSLT
	opSLTU
	opXOR
	opSRL
	opSRA
	opOR
	opAND
	opADDIW
	opSLLIW
	opSRLIW
	opSRAIW
	opADDW
	opSUBW
	opSLLW
	opSRLW
	opSRAW
	opFENCE
	opFENCEI
	opECALL
	opEBREAK
	// Privileged
	opMRET
	opSRET
	opWFI
	opSFENCEVMA
	// Zicsr
	opCSRRW
	opCSRRS
	opCSRRC
	opCSRRWI
	opCSRRSI
	opCSRRCI
	// M
	opMUL
	opMULH
	opMULHSU
	opMULHU
	opDIV
	opDIVU
	opREM
	opREMU
	opMULW
	opDIVW
	opDIVUW
	opREMW
	opREMUW
	// A
	opLRW
	opSCW
	opAMOSWAPW
	opAMOADDW
	opAMOXORW
	opAMOANDW
	opAMOORW
	opAMOMINW
	opAMOMAXW
	opAMOMINUW
	opAMOMAXUW
	opLRD
	opSCD
	opAMOSWAPD
	opAMOADDD
	opAMOXORD
	opAMOANDD
	opAMOORD
	opAMOMIND
	opAMOMAXD
	opAMOMINUD
	opAMOMAXUD
	// F and D: every FP op is handled by execFP; opFP marks the group.
	opFLW
	opFSW
	opFLD
	opFSD
	opFP // all other F/D instructions; Insn.Fop says which
)

// fop identifies a floating-point operation within opFP.
type fop uint8

const (
	fopMADD fop = iota
	fopMSUB
	fopNMSUB
	fopNMADD
	fopADD
	fopSUB
	fopMUL
	fopDIV
	fopSQRT
	fopSGNJ
	fopSGNJN
	fopSGNJX
	fopMIN
	fopMAX
	fopCVTWF  // fcvt.w.{s,d}
	fopCVTWUF // fcvt.wu.{s,d}
	fopCVTLF  // fcvt.l.{s,d}
	fopCVTLUF // fcvt.lu.{s,d}
	fopCVTFW  // fcvt.{s,d}.w
	fopCVTFWU // fcvt.{s,d}.wu
	fopCVTFL  // fcvt.{s,d}.l
	fopCVTFLU // fcvt.{s,d}.lu
	fopMVXF   // fmv.x.{w,d}
	fopMVFX   // fmv.{w,d}.x
	fopEQ
	fopLT
	fopLE
	fopCLASS
	fopCVTSD // fcvt.s.d
	fopCVTDS // fcvt.d.s
)

// Insn is a decoded instruction. It is a pure function of the instruction
// bits, so a cache of decoded instructions needs no invalidation beyond
// comparing Raw.
type Insn struct {
	Imm  int64  // immediate, sign-extended; CSR number for Zicsr
	Raw  uint32 // instruction bits (low 16 only for compressed)
	Op   op
	Rd   uint8
	Rs1  uint8
	Rs2  uint8
	Rs3  uint8
	Rm   uint8 // FP rounding mode field
	Fop  fop
	Dbl  bool  // FP op on double precision
	Size uint8 // 2 or 4
}

func field(x uint32, hi, lo uint) uint32 { return (x >> lo) & (1<<(hi-lo+1) - 1) }

func immI(x uint32) int64 { return int64(int32(x) >> 20) }
func immS(x uint32) int64 {
	return int64(int32(x)>>25)<<5 | int64(field(x, 11, 7))
}
func immB(x uint32) int64 {
	return int64(int32(x)>>31)<<12 | int64(field(x, 7, 7))<<11 | int64(field(x, 30, 25))<<5 | int64(field(x, 11, 8))<<1
}
func immU(x uint32) int64 { return int64(int32(x & 0xfffff000)) }
func immJ(x uint32) int64 {
	return int64(int32(x)>>31)<<20 | int64(field(x, 19, 12))<<12 | int64(field(x, 20, 20))<<11 | int64(field(x, 30, 21))<<1
}

// Decode decodes one instruction. For a compressed instruction only the low
// 16 bits of raw are used. Unknown or reserved encodings decode to an
// illegal instruction (Op == opIllegal) with the right Size.
func Decode(raw uint32) Insn {
	if raw&3 != 3 {
		d := decodeCompressed(uint16(raw))
		d.Raw = raw & 0xffff
		d.Size = 2
		return d
	}
	d := decode32(raw)
	d.Raw = raw
	d.Size = 4
	return d
}

func decode32(x uint32) Insn {
	rd := uint8(field(x, 11, 7))
	rs1 := uint8(field(x, 19, 15))
	rs2 := uint8(field(x, 24, 20))
	f3 := field(x, 14, 12)
	f7 := field(x, 31, 25)
	d := Insn{Rd: rd, Rs1: rs1, Rs2: rs2}
	switch field(x, 6, 0) {
	case 0x37:
		d.Op, d.Imm = opLUI, immU(x)
	case 0x17:
		d.Op, d.Imm = opAUIPC, immU(x)
	case 0x6f:
		d.Op, d.Imm = opJAL, immJ(x)
	case 0x67:
		if f3 == 0 {
			d.Op, d.Imm = opJALR, immI(x)
		}
	case 0x63:
		d.Imm = immB(x)
		d.Op = [8]op{opBEQ, opBNE, opIllegal, opIllegal, opBLT, opBGE, opBLTU, opBGEU}[f3]
	case 0x03:
		d.Imm = immI(x)
		d.Op = [8]op{opLB, opLH, opLW, opLD, opLBU, opLHU, opLWU, opIllegal}[f3]
	case 0x23:
		d.Imm = immS(x)
		d.Op = [8]op{opSB, opSH, opSW, opSD, opIllegal, opIllegal, opIllegal, opIllegal}[f3]
	case 0x13:
		d.Imm = immI(x)
		switch f3 {
		case 0:
			d.Op = opADDI
		case 2:
			d.Op = opSLTI
		case 3:
			d.Op = opSLTIU
		case 4:
			d.Op = opXORI
		case 6:
			d.Op = opORI
		case 7:
			d.Op = opANDI
		case 1:
			if field(x, 31, 26) == 0 {
				d.Op, d.Imm = opSLLI, int64(field(x, 25, 20))
			}
		case 5:
			switch field(x, 31, 26) {
			case 0:
				d.Op, d.Imm = opSRLI, int64(field(x, 25, 20))
			case 0x10:
				d.Op, d.Imm = opSRAI, int64(field(x, 25, 20))
			}
		}
	case 0x1b:
		d.Imm = immI(x)
		switch f3 {
		case 0:
			d.Op = opADDIW
		case 1:
			if f7 == 0 {
				d.Op, d.Imm = opSLLIW, int64(rs2)
			}
		case 5:
			switch f7 {
			case 0:
				d.Op, d.Imm = opSRLIW, int64(rs2)
			case 0x20:
				d.Op, d.Imm = opSRAIW, int64(rs2)
			}
		}
	case 0x33:
		switch f7 {
		case 0:
			d.Op = [8]op{opADD, opSLL, opSLT, opSLTU, opXOR, opSRL, opOR, opAND}[f3]
		case 0x20:
			switch f3 {
			case 0:
				d.Op = opSUB
			case 5:
				d.Op = opSRA
			}
		case 1:
			d.Op = [8]op{opMUL, opMULH, opMULHSU, opMULHU, opDIV, opDIVU, opREM, opREMU}[f3]
		}
	case 0x3b:
		switch f7 {
		case 0:
			switch f3 {
			case 0:
				d.Op = opADDW
			case 1:
				d.Op = opSLLW
			case 5:
				d.Op = opSRLW
			}
		case 0x20:
			switch f3 {
			case 0:
				d.Op = opSUBW
			case 5:
				d.Op = opSRAW
			}
		case 1:
			d.Op = [8]op{opMULW, opIllegal, opIllegal, opIllegal, opDIVW, opDIVUW, opREMW, opREMUW}[f3]
		}
	case 0x0f:
		switch f3 {
		case 0:
			d.Op = opFENCE
		case 1:
			d.Op = opFENCEI
		}
	case 0x73:
		decodeSystem(x, &d, f3, f7)
	case 0x2f:
		decodeAtomic(x, &d, f3)
	case 0x07:
		d.Imm = immI(x)
		switch f3 {
		case 2:
			d.Op = opFLW
		case 3:
			d.Op = opFLD
		}
	case 0x27:
		d.Imm = immS(x)
		switch f3 {
		case 2:
			d.Op = opFSW
		case 3:
			d.Op = opFSD
		}
	case 0x43, 0x47, 0x4b, 0x4f:
		fmt := field(x, 26, 25)
		if fmt > 1 {
			break
		}
		d.Op, d.Dbl, d.Rm = opFP, fmt == 1, uint8(f3)
		d.Rs3 = uint8(field(x, 31, 27))
		d.Fop = [4]fop{fopMADD, fopMSUB, fopNMSUB, fopNMADD}[field(x, 3, 2)]
	case 0x53:
		decodeFP(x, &d, f3, f7)
	}
	return d
}

func decodeSystem(x uint32, d *Insn, f3, f7 uint32) {
	switch f3 {
	case 0:
		if d.Rd != 0 {
			return
		}
		switch {
		case x == 0x00000073:
			d.Op = opECALL
		case x == 0x00100073:
			d.Op = opEBREAK
		case x == 0x30200073:
			d.Op = opMRET
		case x == 0x10200073:
			d.Op = opSRET
		case x == 0x10500073:
			d.Op = opWFI
		case f7 == 0x09:
			d.Op = opSFENCEVMA
		}
	case 1, 2, 3, 5, 6, 7:
		d.Imm = int64(field(x, 31, 20))
		d.Op = [8]op{opIllegal, opCSRRW, opCSRRS, opCSRRC, opIllegal, opCSRRWI, opCSRRSI, opCSRRCI}[f3]
	}
}

func decodeAtomic(x uint32, d *Insn, f3 uint32) {
	f5 := field(x, 31, 27)
	var w, dw op
	switch f5 {
	case 0x02:
		if d.Rs2 != 0 {
			return
		}
		w, dw = opLRW, opLRD
	case 0x03:
		w, dw = opSCW, opSCD
	case 0x01:
		w, dw = opAMOSWAPW, opAMOSWAPD
	case 0x00:
		w, dw = opAMOADDW, opAMOADDD
	case 0x04:
		w, dw = opAMOXORW, opAMOXORD
	case 0x0c:
		w, dw = opAMOANDW, opAMOANDD
	case 0x08:
		w, dw = opAMOORW, opAMOORD
	case 0x10:
		w, dw = opAMOMINW, opAMOMIND
	case 0x14:
		w, dw = opAMOMAXW, opAMOMAXD
	case 0x18:
		w, dw = opAMOMINUW, opAMOMINUD
	case 0x1c:
		w, dw = opAMOMAXUW, opAMOMAXUD
	default:
		return
	}
	switch f3 {
	case 2:
		d.Op = w
	case 3:
		d.Op = dw
	}
}

func decodeFP(x uint32, d *Insn, f3, f7 uint32) {
	fmt := f7 & 3
	if fmt > 1 {
		return
	}
	d.Dbl, d.Rm = fmt == 1, uint8(f3)
	ok := true
	switch f7 >> 2 {
	case 0x00:
		d.Fop = fopADD
	case 0x01:
		d.Fop = fopSUB
	case 0x02:
		d.Fop = fopMUL
	case 0x03:
		d.Fop = fopDIV
	case 0x0b:
		d.Fop, ok = fopSQRT, d.Rs2 == 0
	case 0x04:
		switch f3 {
		case 0:
			d.Fop = fopSGNJ
		case 1:
			d.Fop = fopSGNJN
		case 2:
			d.Fop = fopSGNJX
		default:
			ok = false
		}
	case 0x05:
		switch f3 {
		case 0:
			d.Fop = fopMIN
		case 1:
			d.Fop = fopMAX
		default:
			ok = false
		}
	case 0x08: // fcvt.s.d (fmt=S, rs2=1) / fcvt.d.s (fmt=D, rs2=0)
		switch {
		case fmt == 0 && d.Rs2 == 1:
			d.Fop = fopCVTSD
		case fmt == 1 && d.Rs2 == 0:
			d.Fop = fopCVTDS
		default:
			ok = false
		}
	case 0x18:
		if d.Rs2 > 3 {
			ok = false
		}
		d.Fop = [4]fop{fopCVTWF, fopCVTWUF, fopCVTLF, fopCVTLUF}[d.Rs2&3]
	case 0x1a:
		if d.Rs2 > 3 {
			ok = false
		}
		d.Fop = [4]fop{fopCVTFW, fopCVTFWU, fopCVTFL, fopCVTFLU}[d.Rs2&3]
	case 0x1c:
		switch {
		case d.Rs2 == 0 && f3 == 0:
			d.Fop = fopMVXF
		case d.Rs2 == 0 && f3 == 1:
			d.Fop = fopCLASS
		default:
			ok = false
		}
	case 0x1e:
		if d.Rs2 != 0 || f3 != 0 {
			ok = false
		}
		d.Fop = fopMVFX
	case 0x14:
		switch f3 {
		case 0:
			d.Fop = fopLE
		case 1:
			d.Fop = fopLT
		case 2:
			d.Fop = fopEQ
		default:
			ok = false
		}
	default:
		ok = false
	}
	if ok {
		d.Op = opFP
	}
}

// Compressed register fields name x8..x15.
func cr(x uint16, lo uint) uint8 { return uint8(8 + (x>>lo)&7) }

func cbit(x uint16, from, to uint) int64 { return int64((x>>from)&1) << to }

func decodeCompressed(x uint16) Insn {
	var d Insn
	f3 := x >> 13
	switch x & 3 {
	case 0:
		rdp, rs1p := cr(x, 2), cr(x, 7)
		// offsets for word and doubleword accesses
		offW := int64((x>>10)&7)<<3 | cbit(x, 6, 2) | cbit(x, 5, 6)
		offD := int64((x>>10)&7)<<3 | int64((x>>5)&3)<<6
		switch f3 {
		case 0: // C.ADDI4SPN
			imm := int64((x>>11)&3)<<4 | int64((x>>7)&15)<<6 | cbit(x, 6, 2) | cbit(x, 5, 3)
			if imm != 0 {
				d = Insn{Op: opADDI, Rd: rdp, Rs1: 2, Imm: imm}
			}
		case 1:
			d = Insn{Op: opFLD, Rd: rdp, Rs1: rs1p, Imm: offD}
		case 2:
			d = Insn{Op: opLW, Rd: rdp, Rs1: rs1p, Imm: offW}
		case 3:
			d = Insn{Op: opLD, Rd: rdp, Rs1: rs1p, Imm: offD}
		case 5:
			d = Insn{Op: opFSD, Rs1: rs1p, Rs2: rdp, Imm: offD}
		case 6:
			d = Insn{Op: opSW, Rs1: rs1p, Rs2: rdp, Imm: offW}
		case 7:
			d = Insn{Op: opSD, Rs1: rs1p, Rs2: rdp, Imm: offD}
		}
	case 1:
		rd := uint8((x >> 7) & 31)
		imm6 := int64(int8(uint8((x>>12)&1)<<7|uint8((x>>2)&31)<<2) >> 2) // sign-extended imm[5:0]
		switch f3 {
		case 0: // C.ADDI / C.NOP
			d = Insn{Op: opADDI, Rd: rd, Rs1: rd, Imm: imm6}
		case 1: // C.ADDIW
			if rd != 0 {
				d = Insn{Op: opADDIW, Rd: rd, Rs1: rd, Imm: imm6}
			}
		case 2: // C.LI
			d = Insn{Op: opADDI, Rd: rd, Rs1: 0, Imm: imm6}
		case 3:
			if rd == 2 { // C.ADDI16SP
				imm := cbit(x, 6, 4) | cbit(x, 5, 6) | int64((x>>3)&3)<<7 | cbit(x, 2, 5)
				if x&(1<<12) != 0 {
					imm |= int64(-1) << 9
				}
				if imm != 0 {
					d = Insn{Op: opADDI, Rd: 2, Rs1: 2, Imm: imm}
				}
			} else if imm6 != 0 { // C.LUI
				d = Insn{Op: opLUI, Rd: rd, Imm: imm6 << 12}
			}
		case 4:
			rdp := cr(x, 7)
			rs2p := cr(x, 2)
			shamt := int64((x>>12)&1)<<5 | int64((x>>2)&31)
			switch (x >> 10) & 3 {
			case 0:
				d = Insn{Op: opSRLI, Rd: rdp, Rs1: rdp, Imm: shamt}
			case 1:
				d = Insn{Op: opSRAI, Rd: rdp, Rs1: rdp, Imm: shamt}
			case 2:
				d = Insn{Op: opANDI, Rd: rdp, Rs1: rdp, Imm: imm6}
			case 3:
				var o op
				if x&(1<<12) == 0 {
					o = [4]op{opSUB, opXOR, opOR, opAND}[(x>>5)&3]
				} else {
					o = [4]op{opSUBW, opADDW, opIllegal, opIllegal}[(x>>5)&3]
				}
				if o != opIllegal {
					d = Insn{Op: o, Rd: rdp, Rs1: rdp, Rs2: rs2p}
				}
			}
		case 5: // C.J
			d = Insn{Op: opJAL, Rd: 0, Imm: cjImm(x)}
		case 6, 7: // C.BEQZ, C.BNEZ
			imm := cbit(x, 12, 8) | int64((x>>10)&3)<<3 | int64((x>>5)&3)<<6 | int64((x>>3)&3)<<1 | cbit(x, 2, 5)
			if x&(1<<12) != 0 {
				imm |= int64(-1) << 8
			}
			o := opBEQ
			if f3 == 7 {
				o = opBNE
			}
			d = Insn{Op: o, Rs1: cr(x, 7), Rs2: 0, Imm: imm}
		}
	case 2:
		rd := uint8((x >> 7) & 31)
		rs2 := uint8((x >> 2) & 31)
		switch f3 {
		case 0: // C.SLLI
			d = Insn{Op: opSLLI, Rd: rd, Rs1: rd, Imm: int64((x>>12)&1)<<5 | int64(rs2)}
		case 1: // C.FLDSP
			d = Insn{Op: opFLD, Rd: rd, Rs1: 2, Imm: ldspImm(x)}
		case 2: // C.LWSP
			if rd != 0 {
				imm := cbit(x, 12, 5) | int64((x>>4)&7)<<2 | int64((x>>2)&3)<<6
				d = Insn{Op: opLW, Rd: rd, Rs1: 2, Imm: imm}
			}
		case 3: // C.LDSP
			if rd != 0 {
				d = Insn{Op: opLD, Rd: rd, Rs1: 2, Imm: ldspImm(x)}
			}
		case 4:
			switch {
			case x&(1<<12) == 0 && rs2 == 0: // C.JR
				if rd != 0 {
					d = Insn{Op: opJALR, Rd: 0, Rs1: rd}
				}
			case x&(1<<12) == 0: // C.MV
				d = Insn{Op: opADD, Rd: rd, Rs1: 0, Rs2: rs2}
			case rd == 0 && rs2 == 0:
				d = Insn{Op: opEBREAK}
			case rs2 == 0: // C.JALR
				d = Insn{Op: opJALR, Rd: 1, Rs1: rd}
			default: // C.ADD
				d = Insn{Op: opADD, Rd: rd, Rs1: rd, Rs2: rs2}
			}
		case 5: // C.FSDSP
			d = Insn{Op: opFSD, Rs1: 2, Rs2: rs2, Imm: sdspImm(x)}
		case 6: // C.SWSP
			d = Insn{Op: opSW, Rs1: 2, Rs2: rs2, Imm: int64((x>>9)&15)<<2 | int64((x>>7)&3)<<6}
		case 7: // C.SDSP
			d = Insn{Op: opSD, Rs1: 2, Rs2: rs2, Imm: sdspImm(x)}
		}
	}
	return d
}

func cjImm(x uint16) int64 {
	imm := cbit(x, 11, 4) | int64((x>>9)&3)<<8 | cbit(x, 8, 10) | cbit(x, 7, 6) | cbit(x, 6, 7) | int64((x>>3)&7)<<1 | cbit(x, 2, 5)
	if x&(1<<12) != 0 {
		imm |= int64(-1) << 11
	}
	return imm
}

func ldspImm(x uint16) int64 {
	return cbit(x, 12, 5) | int64((x>>5)&3)<<3 | int64((x>>2)&7)<<6
}

func sdspImm(x uint16) int64 {
	return int64((x>>10)&7)<<3 | int64((x>>7)&7)<<6
}
