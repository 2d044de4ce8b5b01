package fpu

import "math"

// roundInt rounds x to an integral value according to rm. NaNs and
// infinities are returned unchanged.
func roundInt(x float64, rm RoundingMode) float64 {
	switch rm {
	case RTZ:
		return math.Trunc(x)
	case RDN:
		return math.Floor(x)
	case RUP:
		return math.Ceil(x)
	case RMM:
		return math.Round(x)
	}
	return math.RoundToEven(x)
}

// Conversions to integers follow the RISC-V rules: the value is rounded to an
// integer according to rm; if the rounded value is out of range, or the input
// is a NaN, the result saturates (NaN and too-large values give the maximum,
// too-small values the minimum, which is 0 for unsigned types) and only NV is
// raised; otherwise NX is raised if the rounded value differs from the input.
// A negative input that rounds to zero converts to unsigned 0 with NX only.

func toInt32(x float64, rm RoundingMode) (int32, Flags) {
	r := roundInt(x, rm)
	if r >= -0x1p31 && r < 0x1p31 { // false for NaN
		if r != x {
			return int32(r), NX
		}
		return int32(r), 0
	}
	if x < 0 {
		return math.MinInt32, NV
	}
	return math.MaxInt32, NV
}

func toUint32(x float64, rm RoundingMode) (uint32, Flags) {
	r := roundInt(x, rm)
	if r >= 0 && r < 0x1p32 {
		if r != x {
			return uint32(r), NX
		}
		return uint32(r), 0
	}
	if x < 0 {
		return 0, NV
	}
	return math.MaxUint32, NV
}

func toInt64(x float64, rm RoundingMode) (int64, Flags) {
	r := roundInt(x, rm)
	if r >= -0x1p63 && r < 0x1p63 {
		if r != x {
			return int64(r), NX
		}
		return int64(r), 0
	}
	if x < 0 {
		return math.MinInt64, NV
	}
	return math.MaxInt64, NV
}

func toUint64(x float64, rm RoundingMode) (uint64, Flags) {
	r := roundInt(x, rm)
	if r >= 0 && r < 0x1p64 {
		if r != x {
			return uint64(r), NX
		}
		return uint64(r), 0
	}
	if x < 0 {
		return 0, NV
	}
	return math.MaxUint64, NV
}

// ToInt32From64 converts a double to int32 (RISC-V fcvt.w.d). On RV64 the
// hart sign-extends the result into the destination register.
func ToInt32From64(a uint64, rm RoundingMode) (int32, Flags) {
	return toInt32(math.Float64frombits(a), rm)
}

// ToUint32From64 converts a double to uint32 (RISC-V fcvt.wu.d). On RV64 the
// hart sign-extends the 32-bit result into the destination register.
func ToUint32From64(a uint64, rm RoundingMode) (uint32, Flags) {
	return toUint32(math.Float64frombits(a), rm)
}

// ToInt64From64 converts a double to int64 (RISC-V fcvt.l.d).
func ToInt64From64(a uint64, rm RoundingMode) (int64, Flags) {
	return toInt64(math.Float64frombits(a), rm)
}

// ToUint64From64 converts a double to uint64 (RISC-V fcvt.lu.d).
func ToUint64From64(a uint64, rm RoundingMode) (uint64, Flags) {
	return toUint64(math.Float64frombits(a), rm)
}

// ToInt32From32 converts a single to int32 (RISC-V fcvt.w.s).
func ToInt32From32(a uint32, rm RoundingMode) (int32, Flags) {
	return toInt32(f32(a), rm)
}

// ToUint32From32 converts a single to uint32 (RISC-V fcvt.wu.s).
func ToUint32From32(a uint32, rm RoundingMode) (uint32, Flags) {
	return toUint32(f32(a), rm)
}

// ToInt64From32 converts a single to int64 (RISC-V fcvt.l.s).
func ToInt64From32(a uint32, rm RoundingMode) (int64, Flags) {
	return toInt64(f32(a), rm)
}

// ToUint64From32 converts a single to uint64 (RISC-V fcvt.lu.s).
func ToUint64From32(a uint32, rm RoundingMode) (uint64, Flags) {
	return toUint64(f32(a), rm)
}

// FromInt32To64 converts an int32 to a double (RISC-V fcvt.d.w). The
// conversion is always exact; rm is accepted for symmetry.
func FromInt32To64(v int32, rm RoundingMode) (uint64, Flags) {
	return math.Float64bits(float64(v)), 0
}

// FromUint32To64 converts a uint32 to a double (RISC-V fcvt.d.wu). The
// conversion is always exact; rm is accepted for symmetry.
func FromUint32To64(v uint32, rm RoundingMode) (uint64, Flags) {
	return math.Float64bits(float64(v)), 0
}

// FromInt64To64 converts an int64 to a double rounded according to rm
// (RISC-V fcvt.d.l).
func FromInt64To64(v int64, rm RoundingMode) (uint64, Flags) {
	if v > -1<<53 && v < 1<<53 {
		return math.Float64bits(float64(v)), 0
	}
	m := uint64(v)
	if v < 0 {
		m = -m
	}
	return roundPack(v < 0, 63, m, rm, false)
}

// FromUint64To64 converts a uint64 to a double rounded according to rm
// (RISC-V fcvt.d.lu).
func FromUint64To64(v uint64, rm RoundingMode) (uint64, Flags) {
	if v < 1<<53 {
		return math.Float64bits(float64(v)), 0
	}
	return roundPack(false, 63, v, rm, false)
}

// FromInt32To32 converts an int32 to a single rounded according to rm
// (RISC-V fcvt.s.w).
func FromInt32To32(v int32, rm RoundingMode) (uint32, Flags) {
	return FromInt64To32(int64(v), rm)
}

// FromUint32To32 converts a uint32 to a single rounded according to rm
// (RISC-V fcvt.s.wu).
func FromUint32To32(v uint32, rm RoundingMode) (uint32, Flags) {
	return FromUint64To32(uint64(v), rm)
}

// FromInt64To32 converts an int64 to a single rounded according to rm
// (RISC-V fcvt.s.l).
func FromInt64To32(v int64, rm RoundingMode) (uint32, Flags) {
	if v > -1<<24 && v < 1<<24 {
		return math.Float32bits(float32(v)), 0
	}
	m := uint64(v)
	if v < 0 {
		m = -m
	}
	r, fl := roundPack(v < 0, 63, m, rm, true)
	return uint32(r), fl
}

// FromUint64To32 converts a uint64 to a single rounded according to rm
// (RISC-V fcvt.s.lu).
func FromUint64To32(v uint64, rm RoundingMode) (uint32, Flags) {
	if v < 1<<24 {
		return math.Float32bits(float32(v)), 0
	}
	r, fl := roundPack(false, 63, v, rm, true)
	return uint32(r), fl
}

// F64ToF32 converts a double to a single rounded according to rm (RISC-V
// fcvt.s.d). NaNs become the canonical NaN; a signalling NaN raises NV.
func F64ToF32(a uint64, rm RoundingMode) (uint32, Flags) {
	if isNaN64(a) {
		if isSNaN64(a) {
			return CanonicalNaN32, NV
		}
		return CanonicalNaN32, 0
	}
	return round32(math.Float64frombits(a), 0, rm)
}

// F32ToF64 converts a single to a double (RISC-V fcvt.d.s). The conversion
// is exact; NaNs become the canonical NaN and a signalling NaN raises NV.
func F32ToF64(a uint32) (uint64, Flags) {
	if isNaN32(a) {
		if isSNaN32(a) {
			return CanonicalNaN64, NV
		}
		return CanonicalNaN64, 0
	}
	return math.Float64bits(f32(a)), 0
}
