package fpu

import (
	"math"
	"math/bits"
)

// Add64 returns a+b rounded according to rm (RISC-V fadd.d).
func Add64(a, b uint64, rm RoundingMode) (uint64, Flags) {
	x, y := math.Float64frombits(a), math.Float64frombits(b)
	r := x + y
	rb := math.Float64bits(r)
	if rb&expMask64 == expMask64 {
		// NaN or infinity: NaN/infinite operands or overflow.
		return addSpecial64(a, b, rb, rm)
	}
	e := twoSumErr(x, y, r)
	if e == 0 {
		if r == 0 && rm == RDN && (a|b) != 0 {
			// An exact zero sum is -0 when rounding down, unless both
			// operands are +0.
			return sign64, 0
		}
		return rb, 0
	}
	if e-e != 0 {
		// TwoSum overflowed (should not happen): use the exact path.
		return mulAddSlow64(a, one64, b, rm)
	}
	if rm == RNE {
		return rb, NX
	}
	// An inexact sum is at least 2^-1021 in magnitude, so the result is
	// normal and stepping it by one ulp cannot create a tiny result.
	return adjust64(rb, e < 0, rm == RMM && isHalfUlp64(rb, e), rm)
}

// Sub64 returns a-b rounded according to rm (RISC-V fsub.d).
func Sub64(a, b uint64, rm RoundingMode) (uint64, Flags) {
	return Add64(a, b^sign64, rm)
}

func addSpecial64(a, b, rb uint64, rm RoundingMode) (uint64, Flags) {
	if rb&fracMask64 != 0 {
		return nanResult64(a, b)
	}
	if a&^sign64 == inf64 || b&^sign64 == inf64 {
		return rb, 0 // exact infinity
	}
	// The round-to-nearest sum overflowed. In the other modes the exact sum
	// may still round to a finite value without overflow (for example RTZ
	// with an exact sum in [MAX+ulp/2, 2^1024)), so use the exact path.
	if rm == RNE {
		return rb, OF | NX
	}
	return mulAddSlow64(a, one64, b, rm)
}

// Mul64 returns a*b rounded according to rm (RISC-V fmul.d).
func Mul64(a, b uint64, rm RoundingMode) (uint64, Flags) {
	x, y := math.Float64frombits(a), math.Float64frombits(b)
	p := x * y
	pb := math.Float64bits(p)
	if pb&^sign64-fastLo64 < inf64-fastLo64 {
		e := math.FMA(x, y, -p)
		if e == 0 {
			return pb, 0
		}
		if rm == RNE {
			return pb, NX
		}
		return adjust64(pb, e < 0, rm == RMM && isHalfUlp64(pb, e), rm)
	}
	return mulSlow64(a, b, rm)
}

func mulSlow64(a, b uint64, rm RoundingMode) (uint64, Flags) {
	if isNaN64(a) || isNaN64(b) {
		return nanResult64(a, b)
	}
	neg := (a^b)>>63 != 0
	s := (a ^ b) & sign64
	aa, ba := a&^sign64, b&^sign64
	if aa == inf64 || ba == inf64 {
		if aa == 0 || ba == 0 {
			return CanonicalNaN64, NV
		}
		return s | inf64, 0
	}
	if aa == 0 || ba == 0 {
		return s, 0
	}
	ea, sa := unpack64(a)
	eb, sb := unpack64(b)
	hi, lo := bits.Mul64(sa, sb)
	exp := ea + eb + 1
	if hi>>63 == 0 {
		hi = hi<<1 | lo>>63
		lo <<= 1
		exp--
	}
	if lo != 0 {
		hi |= 1
	}
	return roundPack(neg, exp, hi, rm, false)
}

// Div64 returns a/b rounded according to rm (RISC-V fdiv.d).
func Div64(a, b uint64, rm RoundingMode) (uint64, Flags) {
	x, y := math.Float64frombits(a), math.Float64frombits(b)
	q := x / y
	qb := math.Float64bits(q)
	// Fast path: dividend normal and >= 2^-900, divisor normal, quotient in
	// [2^-960, inf). Then the remainder x - q*y is exactly representable and
	// the exact quotient is never a midpoint.
	if qb&^sign64-fastLo64 < inf64-fastLo64 &&
		a&^sign64-divLoX64 < inf64-divLoX64 &&
		(b&expMask64)-(1<<52) < expMask64-(1<<52) {
		rem := math.FMA(-q, y, x)
		if rem == 0 {
			return qb, 0
		}
		if rm == RNE {
			return qb, NX
		}
		return adjust64(qb, (rem < 0) != (y < 0), false, rm)
	}
	return divSlow64(a, b, rm)
}

func divSlow64(a, b uint64, rm RoundingMode) (uint64, Flags) {
	if isNaN64(a) || isNaN64(b) {
		return nanResult64(a, b)
	}
	neg := (a^b)>>63 != 0
	s := (a ^ b) & sign64
	aa, ba := a&^sign64, b&^sign64
	switch {
	case aa == inf64 && ba == inf64, aa == 0 && ba == 0:
		return CanonicalNaN64, NV
	case aa == inf64:
		return s | inf64, 0
	case ba == inf64:
		return s, 0
	case ba == 0:
		return s | inf64, DZ
	case aa == 0:
		return s, 0
	}
	ea, sa := unpack64(a)
	eb, sb := unpack64(b)
	// (sa * 2^63) / sb lies in (2^62, 2^64).
	q, r := bits.Div64(sa>>1, sa<<63, sb)
	if r != 0 {
		q |= 1
	}
	return roundPack(neg, ea-eb, q, rm, false)
}

// Sqrt64 returns the square root of a rounded according to rm (RISC-V
// fsqrt.d).
func Sqrt64(a uint64, rm RoundingMode) (uint64, Flags) {
	scaled := false
	if a-fastLo64 >= inf64-fastLo64 {
		// Not a positive finite number >= 2^-960.
		switch {
		case isNaN64(a):
			return nanResult64(a, a)
		case a&^sign64 == 0, a == inf64:
			return a, 0 // sqrt(+-0) = +-0, sqrt(+inf) = +inf
		case a>>63 != 0:
			return CanonicalNaN64, NV
		}
		// Tiny positive input: scale by 2^128 (exact) so the residual
		// below is exact, and scale the result back by 2^-64.
		a = math.Float64bits(math.Float64frombits(a) * 0x1p128)
		scaled = true
	}
	x := math.Float64frombits(a)
	r := math.Sqrt(x)
	rb := math.Float64bits(r)
	// The residual x - r*r is exactly representable; its sign gives the
	// direction of the exact root from r. A square root is never a midpoint.
	rho := math.FMA(-r, r, x)
	var fl Flags
	if rho != 0 {
		fl = NX
		switch rm {
		case RUP:
			if rho > 0 {
				rb++
			}
		case RDN, RTZ:
			if rho < 0 {
				rb--
			}
		}
	}
	if scaled {
		rb -= 64 << 52
	}
	return rb, fl
}

// MulAdd64 computes (a*b)+c with a single rounding according to rm. negProd
// negates the product and negAdd negates c, giving the four RISC-V fused
// operations: FMADD.D (false, false), FMSUB.D (false, true), FNMSUB.D
// (true, false) and FNMADD.D (true, true).
func MulAdd64(a, b, c uint64, negProd, negAdd bool, rm RoundingMode) (uint64, Flags) {
	if negProd {
		a ^= sign64
	}
	if negAdd {
		c ^= sign64
	}
	x, y, z := math.Float64frombits(a), math.Float64frombits(b), math.Float64frombits(c)
	p := x * y
	r := math.FMA(x, y, z)
	pb, rb := math.Float64bits(p), math.Float64bits(r)
	// Fast path: product, addend and result all in [2^-900, 2^1000], far
	// from underflow and overflow, so that every error term below is exact.
	if pb&^sign64-fmaLo < fmaHi-fmaLo && c&^sign64-fmaLo < fmaHi-fmaLo &&
		rb&^sign64-fmaLo < fmaHi-fmaLo {
		r2, r3 := fmaErr(x, y, z, p, r)
		if r2 == 0 {
			return rb, 0
		}
		if rm == RNE {
			return rb, NX
		}
		tie := rm == RMM && r3 == 0 && isHalfUlp64(rb, r2)
		return adjust64(rb, r2 < 0, tie, rm)
	}
	return mulAddSlow64(a, b, c, rm)
}

const (
	fmaLo uint64 = (1023 - 900) << 52  // 2^-900
	fmaHi uint64 = (1023 + 1000) << 52 // 2^1000
)

// fmaErr returns the exact error of r = RN(x*y+z) as an unevaluated sum
// x*y + z - r = r2 + r3 with r2 = RN(r2 + r3), following the error-free
// transformation for the FMA of Boldo and Muller ("Exact and approximated
// error of the FMA", IEEE TC 2011): with p + pe = x*y (exact product),
// a1 + a2 = z + pe and b1 + b2 = p + a1 (TwoSum), the sum
// (b1 - r) + b2 is computed exactly, and adding a2 gives the error.
// Requires all magnitudes to stay well inside the normal range.
func fmaErr(x, y, z, p, r float64) (r2, r3 float64) {
	pe := math.FMA(x, y, -p)
	a1 := z + pe
	a2 := twoSumErr(z, pe, a1)
	b1 := p + a1
	b2 := twoSumErr(p, a1, b1)
	g := (b1 - r) + b2
	r2 = g + a2
	r3 = twoSumErr(g, a2, r2)
	return r2, r3
}

// mulAddSlow64 is the exact integer implementation of MulAdd64 (operands
// already negated as requested).
func mulAddSlow64(a, b, c uint64, rm RoundingMode) (uint64, Flags) {
	aa, ba, ca := a&^sign64, b&^sign64, c&^sign64
	if aa >= inf64 || ba >= inf64 || ca >= inf64 {
		return mulAddSpecial64(a, b, c)
	}
	ps := (a ^ b) & sign64
	cs := c & sign64
	if aa == 0 || ba == 0 {
		// The product is an exact zero.
		if ca != 0 {
			return c, 0
		}
		if ps == cs {
			return ps, 0
		}
		if rm == RDN {
			return sign64, 0
		}
		return 0, 0
	}
	ea, sa := unpack64(a)
	eb, sb := unpack64(b)
	ph, pl := bits.Mul64(sa, sb)
	pe := ea + eb + 1
	if ph>>63 == 0 {
		ph = ph<<1 | pl>>63
		pl <<= 1
		pe--
	}
	// Product = P * 2^(pe-127) with P in [2^127, 2^128).
	if ca == 0 {
		if pl != 0 {
			ph |= 1
		}
		return roundPack(ps != 0, pe, ph, rm, false)
	}
	ec, sc := unpack64(c)
	// Give both operands two bits of headroom: value = X * 2^(e-125). This
	// drops no bits: P has at least 22 trailing zeros.
	pl = pl>>2 | ph<<62
	ph >>= 2
	ch, cl := sc>>2, sc<<62
	// X is the operand of larger magnitude.
	xh, xl, xe, xs := ph, pl, pe, ps
	yh, yl, ye, ys := ch, cl, ec, cs
	if ec > pe || (ec == pe && (ch > ph || (ch == ph && cl > pl))) {
		xh, xl, xe, xs, yh, yl, ye, ys = yh, yl, ye, ys, xh, xl, xe, xs
	}
	yh, yl = shiftRightJam128(yh, yl, uint(xe-ye))
	var rh, rl uint64
	if xs == ys {
		var carry uint64
		rl, carry = bits.Add64(xl, yl, 0)
		rh, _ = bits.Add64(xh, yh, carry)
	} else {
		var borrow uint64
		rl, borrow = bits.Sub64(xl, yl, 0)
		rh, _ = bits.Sub64(xh, yh, borrow)
		if rh|rl == 0 {
			// Exact cancellation.
			if rm == RDN {
				return sign64, 0
			}
			return 0, 0
		}
	}
	var lz int
	if rh != 0 {
		lz = bits.LeadingZeros64(rh)
	} else {
		lz = 64 + bits.LeadingZeros64(rl)
	}
	switch {
	case lz >= 64:
		rh, rl = rl<<uint(lz-64), 0
	case lz > 0:
		rh = rh<<uint(lz) | rl>>uint(64-lz)
		rl <<= uint(lz)
	}
	if rl != 0 {
		rh |= 1
	}
	return roundPack(xs != 0, xe+2-lz, rh, rm, false)
}

// mulAddSpecial64 handles fused multiply-add when an operand is a NaN or an
// infinity. The signs of a and c already include the requested negations.
func mulAddSpecial64(a, b, c uint64) (uint64, Flags) {
	aa, ba, ca := a&^sign64, b&^sign64, c&^sign64
	invalidProd := (aa == inf64 && ba == 0) || (aa == 0 && ba == inf64)
	if aa > inf64 || ba > inf64 || ca > inf64 {
		if invalidProd || isSNaN64(a) || isSNaN64(b) || isSNaN64(c) {
			return CanonicalNaN64, NV
		}
		return CanonicalNaN64, 0
	}
	if invalidProd {
		return CanonicalNaN64, NV
	}
	if aa == inf64 || ba == inf64 {
		ps := (a ^ b) & sign64
		if ca == inf64 && c&sign64 != ps {
			return CanonicalNaN64, NV
		}
		return ps | inf64, 0
	}
	return c, 0 // c is infinite, the product finite
}

// shiftRightJam128 shifts the 128-bit value h:l right by d bits, ORing any
// bits shifted out into the least significant bit.
func shiftRightJam128(h, l uint64, d uint) (uint64, uint64) {
	switch {
	case d == 0:
		return h, l
	case d < 64:
		sticky := l<<(64-d) != 0
		l = l>>d | h<<(64-d)
		h >>= d
		if sticky {
			l |= 1
		}
		return h, l
	case d < 128:
		sticky := l != 0 || h<<(128-d) != 0
		l = h >> (d - 64)
		if sticky {
			l |= 1
		}
		return 0, l
	default:
		if h|l != 0 {
			return 0, 1
		}
		return 0, 0
	}
}
