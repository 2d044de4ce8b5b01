package fpu

import "math"

// Single-precision arithmetic is computed in double precision: the double
// result d is either exact (products of two singles) or accompanied by the
// sign of its exact error e (from TwoSum or an FMA residual), which is all
// round32 needs to round the exact value correctly to single precision in any
// mode, without double-rounding errors.

func f32(a uint32) float64 { return float64(math.Float32frombits(a)) }

// round32 rounds the exact value d + e to single precision, where d is a
// double and only the sign of e (and whether it is zero) is significant: e
// is the sign of the error exact - d, and |exact - d| < ulp(d)/2.
func round32(d, e float64, rm RoundingMode) (uint32, Flags) {
	if rm == RNE {
		f := float32(d)
		fb := math.Float32bits(f)
		if abs := fb &^ sign32; abs > minNorm32 && abs < inf32 {
			if float64(f) == d {
				if e == 0 {
					return fb, 0
				}
				return fb, NX
			}
			// Double rounding is only wrong when d is exactly a midpoint
			// between two singles and the exact value is not.
			if e == 0 || math.Float64bits(d)&(1<<29-1) != 1<<28 {
				return fb, NX
			}
		}
	}
	return round32Slow(d, e, rm)
}

func round32Slow(d, e float64, rm RoundingMode) (uint32, Flags) {
	db := math.Float64bits(d)
	neg := db>>63 != 0
	switch {
	case db&^sign64 == 0:
		return uint32(db >> 32), 0 // signed zero (e is zero too)
	case db&^sign64 == inf64:
		return uint32(db>>32) & (sign32 | inf32), 0
	}
	exp, sig := unpack64(db)
	if e != 0 {
		if (e < 0) != neg {
			// Exact magnitude slightly below |d|: the low 11 bits of sig
			// are zero, so sig-1 is strictly between |d| and the midpoint
			// below it.
			sig--
		} else {
			sig |= 1
		}
	}
	r, fl := roundPack(neg, exp, sig, rm, true)
	return uint32(r), fl
}

// Add32 returns a+b rounded according to rm (RISC-V fadd.s).
func Add32(a, b uint32, rm RoundingMode) (uint32, Flags) {
	x, y := f32(a), f32(b)
	d := x + y
	if d != d {
		return nanResult32(a, b)
	}
	if d == 0 {
		// Exact zero sum: -0 in RDN unless both operands are +0.
		if rm == RDN && (a|b) != 0 {
			return sign32, 0
		}
		return uint32(math.Float64bits(d) >> 32), 0
	}
	return round32(d, twoSumErr(x, y, d), rm)
}

// Sub32 returns a-b rounded according to rm (RISC-V fsub.s).
func Sub32(a, b uint32, rm RoundingMode) (uint32, Flags) {
	return Add32(a, b^sign32, rm)
}

// Mul32 returns a*b rounded according to rm (RISC-V fmul.s).
func Mul32(a, b uint32, rm RoundingMode) (uint32, Flags) {
	d := f32(a) * f32(b) // exact: 48-bit significand, no double underflow
	if d != d {
		return nanResult32(a, b)
	}
	return round32(d, 0, rm)
}

// Div32 returns a/b rounded according to rm (RISC-V fdiv.s).
func Div32(a, b uint32, rm RoundingMode) (uint32, Flags) {
	x, y := f32(a), f32(b)
	d := x / y
	if d != d {
		return nanResult32(a, b)
	}
	aa, ba := a&^sign32, b&^sign32
	if ba == 0 {
		if aa == inf32 {
			return (a^b)&sign32 | inf32, 0
		}
		return (a^b)&sign32 | inf32, DZ
	}
	if aa == inf32 {
		return (a^b)&sign32 | inf32, 0
	}
	if aa == 0 || ba == inf32 {
		return (a ^ b) & sign32, 0
	}
	rem := math.FMA(-d, y, x) // exact remainder x - d*y
	if y < 0 {
		rem = -rem
	}
	return round32(d, rem, rm)
}

// Sqrt32 returns the square root of a rounded according to rm (RISC-V
// fsqrt.s).
func Sqrt32(a uint32, rm RoundingMode) (uint32, Flags) {
	switch {
	case isNaN32(a):
		return nanResult32(a, a)
	case a&^sign32 == 0, a == inf32:
		return a, 0
	case a>>31 != 0:
		return CanonicalNaN32, NV
	}
	x := f32(a)
	d := math.Sqrt(x)
	return round32(d, math.FMA(-d, d, x), rm)
}

// MulAdd32 computes (a*b)+c with a single rounding according to rm; negProd
// and negAdd select FMADD.S, FMSUB.S, FNMSUB.S and FNMADD.S as for MulAdd64.
func MulAdd32(a, b, c uint32, negProd, negAdd bool, rm RoundingMode) (uint32, Flags) {
	if negProd {
		a ^= sign32
	}
	if negAdd {
		c ^= sign32
	}
	aa, ba, ca := a&^sign32, b&^sign32, c&^sign32
	if aa > inf32 || ba > inf32 || ca > inf32 {
		if (aa == inf32 && ba == 0) || (aa == 0 && ba == inf32) ||
			isSNaN32(a) || isSNaN32(b) || isSNaN32(c) {
			return CanonicalNaN32, NV
		}
		return CanonicalNaN32, 0
	}
	p := f32(a) * f32(b) // exact
	z := f32(c)
	s := p + z
	if s != s {
		return CanonicalNaN32, NV // inf*0 or inf-inf
	}
	if s == 0 {
		if rm == RDN && (math.Float64bits(p)|uint64(c)) != 0 {
			return sign32, 0
		}
		return uint32(math.Float64bits(s) >> 32), 0
	}
	if aa == inf32 || ba == inf32 || ca == inf32 {
		return uint32(math.Float64bits(s)>>32) & (sign32 | inf32), 0
	}
	return round32(s, twoSumErr(p, z, s), rm)
}
