package fpu

import "math"

// fclass result bits (RISC-V fclass.s / fclass.d).
const (
	classNegInf       = 1 << 0
	classNegNormal    = 1 << 1
	classNegSubnormal = 1 << 2
	classNegZero      = 1 << 3
	classPosZero      = 1 << 4
	classPosSubnormal = 1 << 5
	classPosNormal    = 1 << 6
	classPosInf       = 1 << 7
	classSNaN         = 1 << 8
	classQNaN         = 1 << 9
)

// Min64 returns the smaller of a and b (RISC-V fmin.d, IEEE 754-2019
// minimumNumber): -0 is less than +0, a single NaN operand is ignored, two
// NaNs give the canonical NaN, and a signalling NaN operand raises NV.
func Min64(a, b uint64) (uint64, Flags) {
	return minMax64(a, b, true)
}

// Max64 returns the larger of a and b (RISC-V fmax.d, IEEE 754-2019
// maximumNumber), with the same NaN and signed-zero rules as Min64.
func Max64(a, b uint64) (uint64, Flags) {
	return minMax64(a, b, false)
}

func minMax64(a, b uint64, min bool) (uint64, Flags) {
	var fl Flags
	if isSNaN64(a) || isSNaN64(b) {
		fl = NV
	}
	an, bn := isNaN64(a), isNaN64(b)
	switch {
	case an && bn:
		return CanonicalNaN64, fl
	case an:
		return b, fl
	case bn:
		return a, fl
	}
	x, y := math.Float64frombits(a), math.Float64frombits(b)
	// aLess: a < b, with -0 < +0.
	aLess := x < y || (x == y && a>>63 > b>>63)
	if aLess == min {
		return a, fl
	}
	return b, fl
}

// Eq64 reports whether a == b (RISC-V feq.d, a quiet comparison: NV only for
// signalling NaN operands).
func Eq64(a, b uint64) (bool, Flags) {
	if isNaN64(a) || isNaN64(b) {
		if isSNaN64(a) || isSNaN64(b) {
			return false, NV
		}
		return false, 0
	}
	return math.Float64frombits(a) == math.Float64frombits(b), 0
}

// Lt64 reports whether a < b (RISC-V flt.d, a signalling comparison: NV for
// any NaN operand).
func Lt64(a, b uint64) (bool, Flags) {
	if isNaN64(a) || isNaN64(b) {
		return false, NV
	}
	return math.Float64frombits(a) < math.Float64frombits(b), 0
}

// Le64 reports whether a <= b (RISC-V fle.d, a signalling comparison: NV for
// any NaN operand).
func Le64(a, b uint64) (bool, Flags) {
	if isNaN64(a) || isNaN64(b) {
		return false, NV
	}
	return math.Float64frombits(a) <= math.Float64frombits(b), 0
}

// Class64 returns the RISC-V fclass.d mask of a: exactly one of bits 0-9 is
// set (0 -inf, 1 negative normal, 2 negative subnormal, 3 -0, 4 +0,
// 5 positive subnormal, 6 positive normal, 7 +inf, 8 signalling NaN,
// 9 quiet NaN).
func Class64(a uint64) uint64 {
	neg := a>>63 != 0
	exp := a & expMask64
	frac := a & fracMask64
	switch {
	case exp == expMask64 && frac != 0:
		if frac&quiet64 != 0 {
			return classQNaN
		}
		return classSNaN
	case exp == expMask64:
		return pick(neg, classNegInf, classPosInf)
	case exp != 0:
		return pick(neg, classNegNormal, classPosNormal)
	case frac != 0:
		return pick(neg, classNegSubnormal, classPosSubnormal)
	default:
		return pick(neg, classNegZero, classPosZero)
	}
}

func pick(neg bool, n, p uint64) uint64 {
	if neg {
		return n
	}
	return p
}

// Min32 returns the smaller of a and b (RISC-V fmin.s); see Min64.
func Min32(a, b uint32) (uint32, Flags) {
	return minMax32(a, b, true)
}

// Max32 returns the larger of a and b (RISC-V fmax.s); see Max64.
func Max32(a, b uint32) (uint32, Flags) {
	return minMax32(a, b, false)
}

func minMax32(a, b uint32, min bool) (uint32, Flags) {
	var fl Flags
	if isSNaN32(a) || isSNaN32(b) {
		fl = NV
	}
	an, bn := isNaN32(a), isNaN32(b)
	switch {
	case an && bn:
		return CanonicalNaN32, fl
	case an:
		return b, fl
	case bn:
		return a, fl
	}
	x, y := math.Float32frombits(a), math.Float32frombits(b)
	aLess := x < y || (x == y && a>>31 > b>>31)
	if aLess == min {
		return a, fl
	}
	return b, fl
}

// Eq32 reports whether a == b (RISC-V feq.s, quiet); see Eq64.
func Eq32(a, b uint32) (bool, Flags) {
	if isNaN32(a) || isNaN32(b) {
		if isSNaN32(a) || isSNaN32(b) {
			return false, NV
		}
		return false, 0
	}
	return math.Float32frombits(a) == math.Float32frombits(b), 0
}

// Lt32 reports whether a < b (RISC-V flt.s, signalling); see Lt64.
func Lt32(a, b uint32) (bool, Flags) {
	if isNaN32(a) || isNaN32(b) {
		return false, NV
	}
	return math.Float32frombits(a) < math.Float32frombits(b), 0
}

// Le32 reports whether a <= b (RISC-V fle.s, signalling); see Le64.
func Le32(a, b uint32) (bool, Flags) {
	if isNaN32(a) || isNaN32(b) {
		return false, NV
	}
	return math.Float32frombits(a) <= math.Float32frombits(b), 0
}

// Class32 returns the RISC-V fclass.s mask of a, with the bit assignment
// described at Class64.
func Class32(a uint32) uint64 {
	neg := a>>31 != 0
	exp := a & expMask32
	frac := a & fracMask32
	switch {
	case exp == expMask32 && frac != 0:
		if frac&quiet32 != 0 {
			return classQNaN
		}
		return classSNaN
	case exp == expMask32:
		return pick(neg, classNegInf, classPosInf)
	case exp != 0:
		return pick(neg, classNegNormal, classPosNormal)
	case frac != 0:
		return pick(neg, classNegSubnormal, classPosSubnormal)
	default:
		return pick(neg, classNegZero, classPosZero)
	}
}
