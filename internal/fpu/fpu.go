// Package fpu implements IEEE 754-2019 binary32 and binary64 arithmetic with
// the exact semantics required by the RISC-V F and D extensions.
//
// Every function is pure: it takes raw bit patterns (uint32 for single
// precision, uint64 for double precision) and a rounding mode, and returns the
// raw result together with the accrued exception flags (fflags bits). There is
// no global state and no allocation.
//
// RISC-V specifics implemented here:
//   - every NaN result is the canonical NaN (no payload propagation);
//   - a signalling NaN operand to an arithmetic operation raises NV;
//   - tininess is detected after rounding, and UF is only raised when the
//     result is both tiny and inexact;
//   - conversions to integers saturate and raise NV when out of range.
//
// The common round-to-nearest-even path uses the host's hardware float64
// arithmetic; the exact error of that result is recovered with error-free
// transformations (TwoSum, FMA) to produce the flags and to implement the
// directed rounding modes. Rare cases (overflow, underflow, subnormals,
// fused multiply-add) use an exact integer implementation.
//
// Rounding mode values other than RNE, RTZ, RDN, RUP and RMM (the reserved
// frm encodings 5 and 6 and DYN=7) are treated as RNE; the hart must resolve
// DYN and reject reserved encodings before calling into this package.
package fpu

import (
	"math"
	"math/bits"
)

// RoundingMode is a RISC-V rounding mode, using the encoding of the frm CSR
// and of the rm instruction field.
type RoundingMode uint8

// RISC-V rounding modes.
const (
	// RNE rounds to nearest, ties to even.
	RNE RoundingMode = 0
	// RTZ rounds towards zero.
	RTZ RoundingMode = 1
	// RDN rounds down, towards negative infinity.
	RDN RoundingMode = 2
	// RUP rounds up, towards positive infinity.
	RUP RoundingMode = 3
	// RMM rounds to nearest, ties to max magnitude.
	RMM RoundingMode = 4
)

// Flags is a set of RISC-V accrued floating-point exception flags, using the
// bit layout of the fflags CSR.
type Flags uint8

// RISC-V exception flags (fflags bits).
const (
	// NX is the inexact flag.
	NX Flags = 1
	// UF is the underflow flag.
	UF Flags = 2
	// OF is the overflow flag.
	OF Flags = 4
	// DZ is the divide-by-zero flag.
	DZ Flags = 8
	// NV is the invalid-operation flag.
	NV Flags = 16
)

// CanonicalNaN64 is the RISC-V canonical double-precision NaN.
const CanonicalNaN64 uint64 = 0x7ff8000000000000

// CanonicalNaN32 is the RISC-V canonical single-precision NaN.
const CanonicalNaN32 uint32 = 0x7fc00000

// Bit-layout constants.
const (
	sign64     uint64 = 1 << 63
	expMask64  uint64 = 0x7ff << 52
	fracMask64 uint64 = 1<<52 - 1
	quiet64    uint64 = 1 << 51
	inf64      uint64 = expMask64
	maxF64     uint64 = 0x7fefffffffffffff
	one64      uint64 = 0x3ff0000000000000

	sign32     uint32 = 1 << 31
	expMask32  uint32 = 0xff << 23
	fracMask32 uint32 = 1<<23 - 1
	quiet32    uint32 = 1 << 22
	inf32      uint32 = expMask32
	maxF32     uint32 = 0x7f7fffff
	minNorm32  uint32 = 1 << 23

	// fastLo64 is the bit pattern of 2^-960: results at least this large (in
	// magnitude) are far enough from the subnormal range for the error-free
	// transformations used on the fast paths to be exact.
	fastLo64 uint64 = (1023 - 960) << 52
	// divLoX64 is the bit pattern of 2^-900, the smallest dividend magnitude
	// accepted on the division fast path.
	divLoX64 uint64 = (1023 - 900) << 52
)

func isNaN64(a uint64) bool  { return a&^sign64 > inf64 }
func isSNaN64(a uint64) bool { return isNaN64(a) && a&quiet64 == 0 }
func isNaN32(a uint32) bool  { return a&^sign32 > inf32 }
func isSNaN32(a uint32) bool { return isNaN32(a) && a&quiet32 == 0 }

// unpack64 decodes a finite nonzero double into sig*2^(exp-63) with sig
// normalised (bit 63 set).
func unpack64(a uint64) (exp int, sig uint64) {
	e := int(a >> 52 & 0x7ff)
	f := a & fracMask64
	if e == 0 {
		lz := bits.LeadingZeros64(f)
		return -1011 - lz, f << uint(lz)
	}
	return e - 1023, (f | 1<<52) << 11
}

// overflowResult returns the value delivered on overflow for the given sign and
// rounding mode: infinity or the largest finite number.
func overflowResult(neg bool, rm RoundingMode, single bool) uint64 {
	toInf := true
	switch rm {
	case RTZ:
		toInf = false
	case RDN:
		toInf = neg
	case RUP:
		toInf = !neg
	}
	var r uint64
	if single {
		r = uint64(maxF32)
		if toInf {
			r = uint64(inf32)
		}
		if neg {
			r |= uint64(sign32)
		}
		return r
	}
	r = maxF64
	if toInf {
		r = inf64
	}
	if neg {
		r |= sign64
	}
	return r
}

// roundSig drops the low drop bits of sig, rounding according to rm. It
// reports whether any nonzero bit was dropped. drop must be at least 1.
func roundSig(sig uint64, drop uint, neg bool, rm RoundingMode) (uint64, bool) {
	var kept, rest, half uint64
	switch {
	case drop < 64:
		kept = sig >> drop
		rest = sig & (1<<drop - 1)
		half = 1 << (drop - 1)
	case drop == 64:
		kept, rest, half = 0, sig, 1<<63
	default:
		// Everything is below the rounding bit: nonzero but less than half.
		kept, rest, half = 0, 1, 2
		if sig == 0 {
			rest = 0
		}
	}
	if rest == 0 {
		return kept, false
	}
	switch rm {
	case RTZ:
	case RDN:
		if neg {
			kept++
		}
	case RUP:
		if !neg {
			kept++
		}
	case RMM:
		if rest >= half {
			kept++
		}
	default: // RNE
		if rest > half || (rest == half && kept&1 != 0) {
			kept++
		}
	}
	return kept, true
}

// roundPack rounds the value (-1)^neg * sig * 2^(exp-63) to single or double
// precision according to rm, and returns the encoded result and the flags.
//
// If sig carries a sticky bit (bit 0 standing for "some nonzero bits below"),
// it must have at most 8 leading zeros so that the sticky bit stays below the
// rounding position after normalisation. Without a sticky bit sig may be any
// exact value.
func roundPack(neg bool, exp int, sig uint64, rm RoundingMode, single bool) (uint64, Flags) {
	var prec uint
	var emin, emax int
	var s uint64
	if single {
		prec, emin, emax = 24, -126, 127
		if neg {
			s = uint64(sign32)
		}
	} else {
		prec, emin, emax = 53, -1022, 1023
		if neg {
			s = sign64
		}
	}
	if sig == 0 {
		return s, 0
	}
	lz := bits.LeadingZeros64(sig)
	sig <<= uint(lz)
	exp -= lz
	drop := 64 - prec
	if exp >= emin {
		m, inexact := roundSig(sig, drop, neg, rm)
		if m>>prec != 0 {
			m >>= 1
			exp++
		}
		if exp > emax {
			return overflowResult(neg, rm, single), OF | NX
		}
		var fl Flags
		if inexact {
			fl = NX
		}
		// m has its implicit bit (prec-1) set; adding it bumps the exponent
		// field by one, hence the -1 on the biased exponent.
		return s | (uint64(exp-emin)<<(prec-1) + m), fl
	}
	// Below the normal range before rounding. Tininess is detected after
	// rounding: the result is tiny unless rounding to prec bits with an
	// unbounded exponent carries up to 2^emin.
	tiny := true
	if exp == emin-1 {
		if m, _ := roundSig(sig, drop, neg, rm); m>>prec != 0 {
			tiny = false
		}
	}
	m, inexact := roundSig(sig, drop+uint(emin-exp), neg, rm)
	var fl Flags
	if inexact {
		fl = NX
		if tiny {
			fl |= UF
		}
	}
	// A carry into bit prec-1 yields the smallest normal number, which the
	// encoding handles naturally.
	return s | m, fl
}

// twoSumErr returns the exact rounding error of s = x + y (Knuth's TwoSum):
// x + y == s + err exactly, provided nothing overflows.
func twoSumErr(x, y, s float64) float64 {
	bv := s - x
	av := s - bv
	return (x - av) + (y - bv)
}

// isHalfUlp64 reports whether |e| is exactly half an ulp of the positive or
// negative double rb, which must be at least 2^-1021 in magnitude.
func isHalfUlp64(rb uint64, e float64) bool {
	eb := math.Float64bits(e) &^ sign64
	exp := int(rb >> 52 & 0x7ff)
	if t := exp - 53; t >= 1 {
		return eb == uint64(t)<<52
	}
	return eb == 1<<uint(exp-2)
}

// adjust64 applies a directed (or RMM) rounding mode to the round-to-nearest
// result rb whose exact error (exact - rb) is nonzero with sign eNeg. tie
// reports that the exact value lies exactly halfway between rb and the
// neighbour of larger magnitude. rb must be finite and nonzero.
func adjust64(rb uint64, eNeg, tie bool, rm RoundingMode) (uint64, Flags) {
	neg := rb>>63 != 0
	switch rm {
	case RTZ:
		if eNeg != neg {
			rb--
		}
	case RDN:
		if eNeg {
			if neg {
				rb++
			} else {
				rb--
			}
		}
	case RUP:
		if !eNeg {
			if neg {
				rb--
			} else {
				rb++
			}
		}
	case RMM:
		if tie && eNeg == neg {
			rb++
		}
	}
	if rb&^sign64 == inf64 {
		return rb, NX | OF
	}
	return rb, NX
}

// nanResult64 returns the canonical NaN with NV if either input is a signalling
// NaN or if neither input is a NaN (so the NaN came from an invalid operation).
func nanResult64(a, b uint64) (uint64, Flags) {
	if isSNaN64(a) || isSNaN64(b) || (!isNaN64(a) && !isNaN64(b)) {
		return CanonicalNaN64, NV
	}
	return CanonicalNaN64, 0
}

// nanResult32 is the single-precision counterpart of nanResult64.
func nanResult32(a, b uint32) (uint32, Flags) {
	if isSNaN32(a) || isSNaN32(b) || (!isNaN32(a) && !isNaN32(b)) {
		return CanonicalNaN32, NV
	}
	return CanonicalNaN32, 0
}
