package fpu

// testOp describes one RISC-V instruction for the table-driven differential
// test: how to generate its operands and how to evaluate it with this
// package. Results are compared after masking to the instruction's result
// width.
type testOp struct {
	name   string // RISC-V mnemonic
	hasRM  bool
	mask   uint64
	gen    func(g *opGen) (a, b, c uint64)
	eval   func(a, b, c uint64, rm RoundingMode) (uint64, Flags)
	weight int // relative number of cases
}

const (
	m32 = 0xffffffff
	m64 = ^uint64(0)
)

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func genUnary(f fmtSpec) func(g *opGen) (uint64, uint64, uint64) {
	return func(g *opGen) (uint64, uint64, uint64) { return g.float(f), 0, 0 }
}

func genBinary(f fmtSpec, class byte) func(g *opGen) (uint64, uint64, uint64) {
	return func(g *opGen) (uint64, uint64, uint64) {
		a := g.float(f)
		b := g.pair(f, a, class)
		if g.r.IntN(2) == 0 {
			a, b = b, a
		}
		return a, b, 0
	}
}

func genTernary(f fmtSpec) func(g *opGen) (uint64, uint64, uint64) {
	return func(g *opGen) (uint64, uint64, uint64) {
		a := g.float(f)
		b := g.pair(f, a, 'm')
		return a, b, g.addend(f, a, b)
	}
}

func genSqrt(f fmtSpec) func(g *opGen) (uint64, uint64, uint64) {
	return func(g *opGen) (uint64, uint64, uint64) {
		a := g.float(f)
		if g.r.IntN(4) != 0 {
			a &^= 1 << (f.ebits + f.fbits) // mostly positive
		}
		return a, 0, 0
	}
}

func genIntFloat(f fmtSpec) func(g *opGen) (uint64, uint64, uint64) {
	return func(g *opGen) (uint64, uint64, uint64) { return g.intFloat(f), 0, 0 }
}

func genInt(g *opGen) (uint64, uint64, uint64) { return g.integer(), 0, 0 }

func genF64ForF32(g *opGen) (uint64, uint64, uint64) {
	if g.r.IntN(2) == 0 {
		return g.float(spec64), 0, 0
	}
	// Doubles in and around the single-precision range, with
	// near-midpoint tails.
	exp := 1023 - 160 + g.r.IntN(300)
	if g.r.IntN(3) == 0 {
		exp = 1023 - 127 + g.r.IntN(2) // just below the single normal range
	}
	return g.withExp(spec64, exp), 0, 0
}

func allTestOps() []testOp {
	d, s := spec64, spec32
	u := func(a uint64) uint32 { return uint32(a) }
	r32 := func(r uint32, fl Flags) (uint64, Flags) { return uint64(r), fl }
	rb := func(r bool, fl Flags) (uint64, Flags) { return b2u(r), fl }
	ops := []testOp{
		{"fadd.d", true, m64, genBinary(d, 'a'), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return Add64(a, b, rm) }, 2},
		{"fsub.d", true, m64, genBinary(d, 'a'), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return Sub64(a, b, rm) }, 2},
		{"fmul.d", true, m64, genBinary(d, 'm'), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return Mul64(a, b, rm) }, 2},
		{"fdiv.d", true, m64, genBinary(d, 'd'), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return Div64(a, b, rm) }, 2},
		{"fsqrt.d", true, m64, genSqrt(d), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return Sqrt64(a, rm) }, 1},
		{"fmadd.d", true, m64, genTernary(d), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return MulAdd64(a, b, c, false, false, rm) }, 2},
		{"fmsub.d", true, m64, genTernary(d), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return MulAdd64(a, b, c, false, true, rm) }, 1},
		{"fnmsub.d", true, m64, genTernary(d), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return MulAdd64(a, b, c, true, false, rm) }, 1},
		{"fnmadd.d", true, m64, genTernary(d), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return MulAdd64(a, b, c, true, true, rm) }, 1},
		{"fmin.d", false, m64, genBinary(d, 'a'), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return Min64(a, b) }, 1},
		{"fmax.d", false, m64, genBinary(d, 'a'), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return Max64(a, b) }, 1},
		{"feq.d", false, m64, genBinary(d, 'a'), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return rb(Eq64(a, b)) }, 1},
		{"flt.d", false, m64, genBinary(d, 'a'), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return rb(Lt64(a, b)) }, 1},
		{"fle.d", false, m64, genBinary(d, 'a'), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return rb(Le64(a, b)) }, 1},
		{"fclass.d", false, m64, genUnary(d), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return Class64(a), 0 }, 1},
		{"fcvt.w.d", true, m32, genIntFloat(d), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) {
			r, fl := ToInt32From64(a, rm)
			return uint64(uint32(r)), fl
		}, 1},
		{"fcvt.wu.d", true, m32, genIntFloat(d), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return r32(ToUint32From64(a, rm)) }, 1},
		{"fcvt.l.d", true, m64, genIntFloat(d), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) {
			r, fl := ToInt64From64(a, rm)
			return uint64(r), fl
		}, 1},
		{"fcvt.lu.d", true, m64, genIntFloat(d), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return ToUint64From64(a, rm) }, 1},
		{"fcvt.d.w", true, m64, genInt, func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return FromInt32To64(int32(a), rm) }, 1},
		{"fcvt.d.wu", true, m64, genInt, func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return FromUint32To64(uint32(a), rm) }, 1},
		{"fcvt.d.l", true, m64, genInt, func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return FromInt64To64(int64(a), rm) }, 1},
		{"fcvt.d.lu", true, m64, genInt, func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return FromUint64To64(a, rm) }, 1},

		{"fadd.s", true, m32, genBinary(s, 'a'), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return r32(Add32(u(a), u(b), rm)) }, 2},
		{"fsub.s", true, m32, genBinary(s, 'a'), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return r32(Sub32(u(a), u(b), rm)) }, 2},
		{"fmul.s", true, m32, genBinary(s, 'm'), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return r32(Mul32(u(a), u(b), rm)) }, 2},
		{"fdiv.s", true, m32, genBinary(s, 'd'), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return r32(Div32(u(a), u(b), rm)) }, 2},
		{"fsqrt.s", true, m32, genSqrt(s), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return r32(Sqrt32(u(a), rm)) }, 1},
		{"fmadd.s", true, m32, genTernary(s), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) {
			return r32(MulAdd32(u(a), u(b), u(c), false, false, rm))
		}, 2},
		{"fmsub.s", true, m32, genTernary(s), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) {
			return r32(MulAdd32(u(a), u(b), u(c), false, true, rm))
		}, 1},
		{"fnmsub.s", true, m32, genTernary(s), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) {
			return r32(MulAdd32(u(a), u(b), u(c), true, false, rm))
		}, 1},
		{"fnmadd.s", true, m32, genTernary(s), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) {
			return r32(MulAdd32(u(a), u(b), u(c), true, true, rm))
		}, 1},
		{"fmin.s", false, m32, genBinary(s, 'a'), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return r32(Min32(u(a), u(b))) }, 1},
		{"fmax.s", false, m32, genBinary(s, 'a'), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return r32(Max32(u(a), u(b))) }, 1},
		{"feq.s", false, m64, genBinary(s, 'a'), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return rb(Eq32(u(a), u(b))) }, 1},
		{"flt.s", false, m64, genBinary(s, 'a'), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return rb(Lt32(u(a), u(b))) }, 1},
		{"fle.s", false, m64, genBinary(s, 'a'), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return rb(Le32(u(a), u(b))) }, 1},
		{"fclass.s", false, m64, genUnary(s), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return Class32(u(a)), 0 }, 1},
		{"fcvt.w.s", true, m32, genIntFloat(s), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) {
			r, fl := ToInt32From32(u(a), rm)
			return uint64(uint32(r)), fl
		}, 1},
		{"fcvt.wu.s", true, m32, genIntFloat(s), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return r32(ToUint32From32(u(a), rm)) }, 1},
		{"fcvt.l.s", true, m64, genIntFloat(s), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) {
			r, fl := ToInt64From32(u(a), rm)
			return uint64(r), fl
		}, 1},
		{"fcvt.lu.s", true, m64, genIntFloat(s), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return ToUint64From32(u(a), rm) }, 1},
		{"fcvt.s.w", true, m32, genInt, func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return r32(FromInt32To32(int32(a), rm)) }, 1},
		{"fcvt.s.wu", true, m32, genInt, func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return r32(FromUint32To32(uint32(a), rm)) }, 1},
		{"fcvt.s.l", true, m32, genInt, func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return r32(FromInt64To32(int64(a), rm)) }, 1},
		{"fcvt.s.lu", true, m32, genInt, func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return r32(FromUint64To32(a, rm)) }, 1},

		{"fcvt.s.d", true, m32, genF64ForF32, func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return r32(F64ToF32(a, rm)) }, 2},
		{"fcvt.d.s", false, m64, genUnary(s), func(a, b, c uint64, rm RoundingMode) (uint64, Flags) { return F32ToF64(u(a)) }, 1},
	}
	return ops
}
