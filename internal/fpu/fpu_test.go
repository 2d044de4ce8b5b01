package fpu

import (
	"math"
	"testing"
)

// Frequently used bit patterns.
const (
	one64b    = 0x3ff0000000000000
	negOne64  = 0xbff0000000000000
	three64   = 0x4008000000000000
	max64     = 0x7fefffffffffffff
	minNorm64 = 0x0010000000000000
	pInf64    = 0x7ff0000000000000
	nInf64    = 0xfff0000000000000
	qNaN64    = 0x7ff8000000000000
	sNaN64    = 0x7ff0000000000001
	nZero64   = 0x8000000000000000
	halfUlp1  = 0x3ca0000000000000 // 2^-53

	one32   = 0x3f800000
	three32 = 0x40400000
	pInf32  = 0x7f800000
	nInf32  = 0xff800000
	qNaN32  = 0x7fc00000
	sNaN32  = 0x7f800001
	nZero32 = 0x80000000
	max32   = 0x7f7fffff
)

type unitCase struct {
	op      string // RISC-V mnemonic, see allTestOps
	rm      RoundingMode
	a, b, c uint64
	want    uint64
	flags   Flags
}

// perMode expands one operation into five cases, one per rounding mode, with
// the expected results given in RNE, RTZ, RDN, RUP, RMM order.
func perMode(op string, a, b, c uint64, fl Flags, want ...uint64) []unitCase {
	var cs []unitCase
	for rm, w := range want {
		cs = append(cs, unitCase{op, RoundingMode(rm), a, b, c, w, fl})
	}
	return cs
}

func unitCases() []unitCase {
	var cs []unitCase
	add := func(c ...unitCase) { cs = append(cs, c...) }

	// Every rounding mode on known inexact results.
	add(perMode("fdiv.d", one64b, three64, 0, NX, 0x3fd5555555555555, 0x3fd5555555555555, 0x3fd5555555555555, 0x3fd5555555555556, 0x3fd5555555555555)...)
	add(perMode("fdiv.d", negOne64, three64, 0, NX, 0xbfd5555555555555, 0xbfd5555555555555, 0xbfd5555555555556, 0xbfd5555555555555, 0xbfd5555555555555)...)
	add(perMode("fdiv.s", one32, three32, 0, NX, 0x3eaaaaab, 0x3eaaaaaa, 0x3eaaaaaa, 0x3eaaaaab, 0x3eaaaaab)...)
	add(perMode("fsqrt.d", 0x4000000000000000, 0, 0, NX, 0x3ff6a09e667f3bcd, 0x3ff6a09e667f3bcc, 0x3ff6a09e667f3bcc, 0x3ff6a09e667f3bcd, 0x3ff6a09e667f3bcd)...)
	add(perMode("fsqrt.s", 0x40000000, 0, 0, NX, 0x3fb504f3, 0x3fb504f3, 0x3fb504f3, 0x3fb504f4, 0x3fb504f3)...)
	add(perMode("fcvt.s.d", 0x3fd5555555555555, 0, 0, NX, 0x3eaaaaab, 0x3eaaaaaa, 0x3eaaaaaa, 0x3eaaaaab, 0x3eaaaaab)...)

	// Ties: RNE goes to even, RMM away from zero.
	add(perMode("fadd.d", one64b, halfUlp1, 0, NX, one64b, one64b, one64b, 0x3ff0000000000001, 0x3ff0000000000001)...)
	add(perMode("fadd.d", 0x3ff0000000000001, halfUlp1, 0, NX, 0x3ff0000000000002, 0x3ff0000000000001, 0x3ff0000000000001, 0x3ff0000000000002, 0x3ff0000000000002)...)
	add(perMode("fsub.d", negOne64, halfUlp1, 0, NX, negOne64, negOne64, 0xbff0000000000001, negOne64, 0xbff0000000000001)...)
	add(perMode("fadd.s", one32, 0x33800000, 0, NX, one32, one32, one32, 0x3f800001, 0x3f800001)...)
	add(perMode("fcvt.d.l", 1<<53+1, 0, 0, NX, 0x4340000000000000, 0x4340000000000000, 0x4340000000000000, 0x4340000000000001, 0x4340000000000001)...)
	add(perMode("fcvt.s.w", 1<<24+1, 0, 0, NX, 0x4b800000, 0x4b800000, 0x4b800000, 0x4b800001, 0x4b800001)...)
	add(perMode("fcvt.w.d", 0x4004000000000000, 0, 0, NX, 2, 2, 2, 3, 3)...)                                              // 2.5
	add(perMode("fcvt.w.d", 0xc004000000000000, 0, 0, NX, 0xfffffffe, 0xfffffffe, 0xfffffffd, 0xfffffffe, 0xfffffffd)...) // -2.5
	add(perMode("fcvt.l.s", 0x3fc00000, 0, 0, NX, 2, 1, 1, 2, 2)...)                                                      // 1.5
	// Single-precision FMA: the double sum lands exactly on a single
	// midpoint although the exact value is above it (double-rounding trap).
	add(unitCase{"fmadd.s", RNE, 0x3f800001, 0x3f7fffff, 0x28000001, 0x3f800001, NX})
	add(unitCase{"fmadd.s", RNE, 0x3f800001, 0x3f7fffff, 0x28000000, 0x3f800000, NX}) // genuine tie

	// Overflow depends on the mode; OF implies NX.
	add(perMode("fmul.d", max64, 0x4000000000000000, 0, OF|NX, pInf64, max64, max64, pInf64, pInf64)...)
	add(perMode("fmul.d", max64|sign64, 0x4000000000000000, 0, OF|NX, nInf64, max64|sign64, nInf64, max64|sign64, nInf64)...)
	add(perMode("fadd.s", max32, max32, 0, OF|NX, pInf32, max32, max32, pInf32, pInf32)...)
	add(perMode("fcvt.s.d", max64, 0, 0, OF|NX, pInf32, max32, max32, pInf32, pInf32)...)
	// MAX + ulp/2: overflows only in the modes that round it up.
	add(unitCase{"fadd.d", RNE, max64, 0x7c90000000000000, 0, pInf64, OF | NX})
	add(unitCase{"fadd.d", RTZ, max64, 0x7c90000000000000, 0, max64, NX})
	add(unitCase{"fadd.d", RUP, max64, 0x7c90000000000000, 0, pInf64, OF | NX})
	add(unitCase{"fadd.d", RDN, max64 | sign64, 0xfc90000000000000, 0, nInf64, OF | NX})
	add(unitCase{"fadd.d", RUP, max64 | sign64, 0xfc90000000000000, 0, max64 | sign64, NX})
	// Just above MAX (less than ulp/2): RUP overflows, RNE does not.
	add(unitCase{"fadd.d", RNE, max64, 0x7c80000000000000, 0, max64, NX})
	add(unitCase{"fadd.d", RUP, max64, 0x7c80000000000000, 0, pInf64, OF | NX})
	// Division by zero.
	add(unitCase{"fdiv.d", RNE, one64b, 0, 0, pInf64, DZ})
	add(unitCase{"fdiv.d", RNE, negOne64, 0, 0, nInf64, DZ})
	add(unitCase{"fdiv.s", RTZ, one32, nZero32, 0, nInf32, DZ})
	add(unitCase{"fdiv.d", RNE, pInf64, 0, 0, pInf64, 0})

	// Underflow: tiny but exact raises nothing; tininess is after rounding.
	add(unitCase{"fmul.d", RNE, minNorm64, 0x3fe0000000000000, 0, 0x0008000000000000, 0})
	add(perMode("fmul.d", 0x0010000000000001, 0x3fe0000000000000, 0, UF|NX, 0x0008000000000000, 0x0008000000000000, 0x0008000000000000, 0x0008000000000001, 0x0008000000000001)...)
	// 2^-1022 - 2^-1075 rounds to the smallest normal, but is tiny after
	// rounding to 53 bits with an unbounded exponent: UF.
	add(unitCase{"fmul.d", RNE, minNorm64, 0x3fefffffffffffff, 0, minNorm64, UF | NX})
	// 2^-1022 * (1 - 2^-104) rounds to 2^-1022 even with an unbounded
	// exponent: not tiny, no UF (except RTZ, which rounds it down).
	add(unitCase{"fmul.d", RNE, 0x3feffffffffffffe, 0x0010000000000001, 0, minNorm64, NX})
	add(unitCase{"fmul.d", RUP, 0x3feffffffffffffe, 0x0010000000000001, 0, minNorm64, NX})
	add(unitCase{"fmul.d", RTZ, 0x3feffffffffffffe, 0x0010000000000001, 0, 0x000fffffffffffff, UF | NX})
	add(perMode("fmul.s", 0x00000001, 0x3f000000, 0, UF|NX, 0, 0, 0, 1, 1)...)
	add(perMode("fmul.d", 0x8000000000000001, 0x3f00000000000000, 0, UF|NX, nZero64, nZero64, 0x8000000000000001, nZero64, nZero64)...)
	add(perMode("fcvt.s.d", 0x01a56e1fc2f8f359, 0, 0, UF|NX, 0, 0, 0, 1, 0)...) // 1e-300
	add(unitCase{"fadd.d", RNE, 0x0000000000000001, 0x0000000000000001, 0, 0x0000000000000002, 0})
	add(unitCase{"fsqrt.d", RDN, 0x0000000000000002, 0, 0, 0x1e66a09e667f3bcc, NX}) // sqrt(2^-1073)

	// Signed zeros.
	add(perMode("fsub.d", three64, three64, 0, 0, 0, 0, nZero64, 0, 0)...)
	add(perMode("fadd.d", 0, nZero64, 0, 0, 0, 0, nZero64, 0, 0)...)
	add(perMode("fadd.d", nZero64, nZero64, 0, 0, nZero64, nZero64, nZero64, nZero64, nZero64)...)
	add(perMode("fadd.d", 0, 0, 0, 0, 0, 0, 0, 0, 0)...)
	add(perMode("fsub.s", three32, three32, 0, 0, 0, 0, nZero32, 0, 0)...)
	add(perMode("fmadd.d", one64b, one64b, negOne64, 0, 0, 0, nZero64, 0, 0)...)
	add(perMode("fmadd.s", one32, one32, 0xbf800000, 0, 0, 0, nZero32, 0, 0)...)
	add(unitCase{"fmul.d", RNE, nZero64, three64, 0, nZero64, 0})
	add(unitCase{"fnmadd.d", RNE, 0, one64b, nZero64, 0, 0}) // -(+0) - (-0) = -0 + +0 = +0
	add(unitCase{"fnmadd.d", RNE, 0, one64b, 0, nZero64, 0}) // -(+0) - (+0) = -0
	add(unitCase{"fsqrt.d", RNE, nZero64, 0, 0, nZero64, 0})
	add(unitCase{"fsqrt.s", RNE, nZero32, 0, 0, nZero32, 0})

	// NaN canonicalisation and signalling NaNs.
	add(unitCase{"fadd.d", RNE, 0xfff8000000000123, one64b, 0, qNaN64, 0})
	add(unitCase{"fadd.d", RNE, sNaN64, one64b, 0, qNaN64, NV})
	add(unitCase{"fmul.d", RNE, one64b, 0xfff0000000000abc, 0, qNaN64, NV})
	add(unitCase{"fadd.s", RNE, 0xffc00123, one32, 0, qNaN32, 0})
	add(unitCase{"fadd.s", RNE, sNaN32, one32, 0, qNaN32, NV})
	add(unitCase{"fsqrt.d", RNE, sNaN64, 0, 0, qNaN64, NV})
	add(unitCase{"fsqrt.s", RNE, 0x7fc00001, 0, 0, qNaN32, 0})
	add(unitCase{"fmadd.d", RNE, one64b, one64b, sNaN64, qNaN64, NV})
	add(unitCase{"fcvt.s.d", RNE, 0x7ff8000000000001, 0, 0, qNaN32, 0})
	add(unitCase{"fcvt.s.d", RNE, sNaN64, 0, 0, qNaN32, NV})
	add(unitCase{"fcvt.d.s", RNE, 0x7fc00001, 0, 0, qNaN64, 0})
	add(unitCase{"fcvt.d.s", RNE, sNaN32, 0, 0, qNaN64, NV})
	add(unitCase{"fcvt.d.s", RNE, 0x3fc00000, 0, 0, 0x3ff8000000000000, 0})

	// Invalid operations.
	add(unitCase{"fsub.d", RNE, pInf64, pInf64, 0, qNaN64, NV})
	add(unitCase{"fadd.s", RNE, pInf32, nInf32, 0, qNaN32, NV})
	add(unitCase{"fmul.d", RNE, 0, nInf64, 0, qNaN64, NV})
	add(unitCase{"fmul.s", RNE, nInf32, nZero32, 0, qNaN32, NV})
	add(unitCase{"fdiv.d", RNE, 0, nZero64, 0, qNaN64, NV})
	add(unitCase{"fdiv.s", RNE, pInf32, nInf32, 0, qNaN32, NV})
	add(unitCase{"fsqrt.d", RNE, negOne64, 0, 0, qNaN64, NV})
	add(unitCase{"fsqrt.s", RNE, nInf32, 0, 0, qNaN32, NV})
	add(unitCase{"fmadd.d", RNE, 0, pInf64, qNaN64, qNaN64, NV}) // 0*inf + qNaN
	add(unitCase{"fmadd.s", RNE, pInf32, 0, qNaN32, qNaN32, NV})
	add(unitCase{"fmadd.d", RNE, pInf64, one64b, nInf64, qNaN64, NV})
	add(unitCase{"fmsub.d", RNE, pInf64, one64b, pInf64, qNaN64, NV})
	add(unitCase{"fmadd.d", RNE, pInf64, one64b, pInf64, pInf64, 0})
	add(unitCase{"fnmadd.s", RNE, pInf32, one32, 0, nInf32, 0})

	// Min/max: -0 < +0, NaNs.
	add(unitCase{"fmin.d", RNE, 0, nZero64, 0, nZero64, 0})
	add(unitCase{"fmax.d", RNE, nZero64, 0, 0, 0, 0})
	add(unitCase{"fmin.d", RNE, qNaN64, three64, 0, three64, 0})
	add(unitCase{"fmax.d", RNE, three64, sNaN64, 0, three64, NV})
	add(unitCase{"fmin.d", RNE, qNaN64, 0xfff8000000000001, 0, qNaN64, 0})
	add(unitCase{"fmax.d", RNE, sNaN64, qNaN64, 0, qNaN64, NV})
	add(unitCase{"fmin.s", RNE, nZero32, 0, 0, nZero32, 0})
	add(unitCase{"fmax.s", RNE, 0, nZero32, 0, 0, 0})
	add(unitCase{"fmin.s", RNE, sNaN32, one32, 0, one32, NV})
	add(unitCase{"fmax.s", RNE, 0xffc00000, 0xffc00000, 0, qNaN32, 0})
	add(unitCase{"fmin.s", RNE, nInf32, one32, 0, nInf32, 0})

	// Comparisons: feq is quiet, flt/fle are signalling.
	add(unitCase{"feq.d", RNE, 0, nZero64, 0, 1, 0})
	add(unitCase{"flt.d", RNE, nZero64, 0, 0, 0, 0})
	add(unitCase{"fle.d", RNE, nZero64, 0, 0, 1, 0})
	add(unitCase{"feq.d", RNE, qNaN64, qNaN64, 0, 0, 0})
	add(unitCase{"feq.d", RNE, sNaN64, one64b, 0, 0, NV})
	add(unitCase{"flt.d", RNE, qNaN64, one64b, 0, 0, NV})
	add(unitCase{"fle.d", RNE, one64b, qNaN64, 0, 0, NV})
	add(unitCase{"flt.d", RNE, negOne64, one64b, 0, 1, 0})
	add(unitCase{"feq.s", RNE, qNaN32, one32, 0, 0, 0})
	add(unitCase{"feq.s", RNE, sNaN32, one32, 0, 0, NV})
	add(unitCase{"flt.s", RNE, one32, qNaN32, 0, 0, NV})
	add(unitCase{"fle.s", RNE, three32, three32, 0, 1, 0})

	// Conversions to integers: saturation and flags.
	add(unitCase{"fcvt.w.d", RNE, qNaN64, 0, 0, 0x7fffffff, NV})
	add(unitCase{"fcvt.w.d", RNE, 0xfff8000000000000, 0, 0, 0x7fffffff, NV}) // negative NaN
	add(unitCase{"fcvt.w.d", RNE, pInf64, 0, 0, 0x7fffffff, NV})
	add(unitCase{"fcvt.w.d", RNE, nInf64, 0, 0, 0x80000000, NV})
	add(unitCase{"fcvt.w.d", RNE, 0x41e0000000000000, 0, 0, 0x7fffffff, NV}) // 2^31
	add(unitCase{"fcvt.w.d", RNE, 0xc1e0000000000000, 0, 0, 0x80000000, 0})  // -2^31
	add(unitCase{"fcvt.w.d", RTZ, 0xc1e0000000100000, 0, 0, 0x80000000, NX}) // -2^31-0.5
	add(unitCase{"fcvt.w.d", RNE, 0x41dfffffffe00000, 0, 0, 0x7fffffff, NV}) // 2^31-0.5 -> 2^31
	add(unitCase{"fcvt.w.d", RTZ, 0x41dfffffffe00000, 0, 0, 0x7fffffff, NX})
	add(unitCase{"fcvt.wu.d", RNE, qNaN64, 0, 0, 0xffffffff, NV})
	add(unitCase{"fcvt.wu.d", RNE, nInf64, 0, 0, 0, NV})
	add(unitCase{"fcvt.wu.d", RNE, negOne64, 0, 0, 0, NV})
	add(unitCase{"fcvt.wu.d", RTZ, 0xbfd3333333333333, 0, 0, 0, NX}) // -0.3
	add(unitCase{"fcvt.wu.d", RNE, 0xbfe0000000000000, 0, 0, 0, NX}) // -0.5 -> -0
	add(unitCase{"fcvt.wu.d", RMM, 0xbfe0000000000000, 0, 0, 0, NV}) // -0.5 -> -1
	add(unitCase{"fcvt.wu.d", RNE, nZero64, 0, 0, 0, 0})
	add(unitCase{"fcvt.wu.d", RNE, 0x41efffffffe00000, 0, 0, 0xffffffff, 0}) // 2^32-1
	add(unitCase{"fcvt.l.d", RNE, 0x43e0000000000000, 0, 0, 0x7fffffffffffffff, NV})
	add(unitCase{"fcvt.l.d", RNE, 0xc3e0000000000000, 0, 0, 0x8000000000000000, 0})
	add(unitCase{"fcvt.l.d", RNE, qNaN64, 0, 0, 0x7fffffffffffffff, NV})
	add(unitCase{"fcvt.lu.d", RNE, 0x43f0000000000000, 0, 0, 0xffffffffffffffff, NV}) // 2^64
	add(unitCase{"fcvt.lu.d", RNE, 0x43efffffffffffff, 0, 0, 0xfffffffffffff800, 0})
	add(unitCase{"fcvt.lu.d", RUP, 0xbfe0000000000000, 0, 0, 0, NX})
	add(unitCase{"fcvt.lu.d", RDN, 0xbfe0000000000000, 0, 0, 0, NV})
	add(unitCase{"fcvt.w.s", RNE, sNaN32, 0, 0, 0x7fffffff, NV})
	add(unitCase{"fcvt.wu.s", RNE, nInf32, 0, 0, 0, NV})
	add(unitCase{"fcvt.lu.s", RNE, pInf32, 0, 0, 0xffffffffffffffff, NV})
	add(unitCase{"fcvt.l.s", RNE, 0xdf000000, 0, 0, 0x8000000000000000, 0}) // -2^63

	// Conversions from integers.
	add(unitCase{"fcvt.d.w", RNE, 0xffffffff, 0, 0, negOne64, 0})
	add(unitCase{"fcvt.d.wu", RNE, 0xffffffff, 0, 0, 0x41efffffffe00000, 0})
	add(perMode("fcvt.d.lu", 0xffffffffffffffff, 0, 0, NX, 0x43f0000000000000, 0x43efffffffffffff, 0x43efffffffffffff, 0x43f0000000000000, 0x43f0000000000000)...)
	add(unitCase{"fcvt.d.l", RNE, 0x8000000000000000, 0, 0, 0xc3e0000000000000, 0})
	add(perMode("fcvt.s.l", 0xffffffffffffffff, 0, 0, 0, 0xbf800000, 0xbf800000, 0xbf800000, 0xbf800000, 0xbf800000)...)
	add(perMode("fcvt.s.wu", 0xffffffff, 0, 0, NX, 0x4f800000, 0x4f7fffff, 0x4f7fffff, 0x4f800000, 0x4f800000)...)
	add(perMode("fcvt.s.w", 0x80000001, 0, 0, NX, 0xcf000000, 0xceffffff, 0xcf000000, 0xceffffff, 0xcf000000)...) // -(2^31-1)
	return cs
}

// TestUnitCases checks the hand-derived corner cases (each also agrees with
// the QEMU reference).
func TestUnitCases(t *testing.T) {
	ops := map[string]*testOp{}
	all := allTestOps()
	for i := range all {
		ops[all[i].name] = &all[i]
	}
	for _, c := range unitCases() {
		op := ops[c.op]
		if op == nil {
			t.Fatalf("unknown op %q", c.op)
		}
		got, fl := op.eval(c.a, c.b, c.c, c.rm)
		got &= op.mask
		if got != c.want&op.mask || fl != c.flags {
			t.Errorf("%s rm=%d a=%#x b=%#x c=%#x: got %#x flags %#x, want %#x flags %#x",
				c.op, c.rm, c.a, c.b, c.c, got, fl, c.want, c.flags)
		}
	}
}

// TestUnitCasesQEMU runs the unit table through the QEMU reference too, so
// the hand-derived expectations are themselves checked.
func TestUnitCasesQEMU(t *testing.T) {
	bin := buildRef(t)
	ops := map[string]*testOp{}
	all := allTestOps()
	for i := range all {
		ops[all[i].name] = &all[i]
	}
	var cases []refCase
	ucs := unitCases()
	for _, c := range ucs {
		cases = append(cases, refCase{ops[c.op], c.rm, c.a, c.b, c.c})
	}
	want, wantFl := runRef(t, bin, cases)
	for i, c := range ucs {
		m := ops[c.op].mask
		if want[i]&m != c.want&m || wantFl[i] != c.flags {
			t.Errorf("table entry %s rm=%d a=%#x b=%#x c=%#x expects %#x flags %#x, QEMU gives %#x flags %#x",
				c.op, c.rm, c.a, c.b, c.c, c.want, c.flags, want[i]&m, wantFl[i])
		}
	}
}

func TestClass(t *testing.T) {
	cases64 := []struct {
		a    uint64
		want uint64
	}{
		{nInf64, 1 << 0}, {negOne64, 1 << 1}, {0x800fffffffffffff, 1 << 2}, {nZero64, 1 << 3},
		{0, 1 << 4}, {1, 1 << 5}, {max64, 1 << 6}, {pInf64, 1 << 7}, {sNaN64, 1 << 8}, {qNaN64, 1 << 9},
		{0xfff0000000000001, 1 << 8}, {0xffffffffffffffff, 1 << 9},
	}
	for _, c := range cases64 {
		if got := Class64(c.a); got != c.want {
			t.Errorf("Class64(%#x) = %#x, want %#x", c.a, got, c.want)
		}
	}
	cases32 := []struct {
		a    uint32
		want uint64
	}{
		{nInf32, 1 << 0}, {0xbf800000, 1 << 1}, {0x807fffff, 1 << 2}, {nZero32, 1 << 3},
		{0, 1 << 4}, {1, 1 << 5}, {max32, 1 << 6}, {pInf32, 1 << 7}, {sNaN32, 1 << 8}, {qNaN32, 1 << 9},
	}
	for _, c := range cases32 {
		if got := Class32(c.a); got != c.want {
			t.Errorf("Class32(%#x) = %#x, want %#x", c.a, got, c.want)
		}
	}
}

// TestNoAllocs checks that the hot functions do not allocate, including on
// the slow paths.
func TestNoAllocs(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		Add64(one64b, halfUlp1, RMM)
		Mul64(minNorm64, 0x3fefffffffffffff, RUP)
		Div64(1, three64, RDN)
		Sqrt64(3, RUP)
		MulAdd64(one64b, three64, 0x8000000000000001, true, false, RTZ)
		MulAdd32(one32, three32, 1, false, true, RMM)
		F64ToF32(0x01a56e1fc2f8f359, RUP)
		FromUint64To32(math.MaxUint64, RDN)
	})
	if n != 0 {
		t.Errorf("allocations per run = %v, want 0", n)
	}
}
