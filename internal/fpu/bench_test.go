package fpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

var (
	benchA, benchB, benchC       [256]uint64
	benchA32, benchB32, benchC32 [256]uint32
	sink64                       uint64
	sink32                       uint32
	sinkFl                       Flags
)

func init() {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range benchA {
		// Ordinary normal-range operands, the common case.
		benchA[i] = math.Float64bits((r.Float64() + 0.5) * math.Ldexp(1, r.IntN(40)-20))
		benchB[i] = math.Float64bits((r.Float64() - 0.5) * math.Ldexp(1, r.IntN(40)-20))
		benchC[i] = math.Float64bits((r.Float64() + 0.1) * math.Ldexp(1, r.IntN(40)-20))
		benchA32[i] = math.Float32bits(float32(math.Float64frombits(benchA[i])))
		benchB32[i] = math.Float32bits(float32(math.Float64frombits(benchB[i])))
		benchC32[i] = math.Float32bits(float32(math.Float64frombits(benchC[i])))
	}
}

func bench2(b *testing.B, f func(a, b uint64, rm RoundingMode) (uint64, Flags), rm RoundingMode) {
	var acc uint64
	var fl Flags
	for i := 0; i < b.N; i++ {
		r, f := f(benchA[i&255], benchB[i&255], rm)
		acc ^= r
		fl |= f
	}
	sink64, sinkFl = acc, fl
}

func bench2s(b *testing.B, f func(a, b uint32, rm RoundingMode) (uint32, Flags), rm RoundingMode) {
	var acc uint32
	var fl Flags
	for i := 0; i < b.N; i++ {
		r, f := f(benchA32[i&255], benchB32[i&255], rm)
		acc ^= r
		fl |= f
	}
	sink32, sinkFl = acc, fl
}

func BenchmarkAdd64(b *testing.B)    { bench2(b, Add64, RNE) }
func BenchmarkAdd64RUP(b *testing.B) { bench2(b, Add64, RUP) }
func BenchmarkMul64(b *testing.B)    { bench2(b, Mul64, RNE) }
func BenchmarkMul64RTZ(b *testing.B) { bench2(b, Mul64, RTZ) }
func BenchmarkDiv64(b *testing.B)    { bench2(b, Div64, RNE) }
func BenchmarkAdd32(b *testing.B)    { bench2s(b, Add32, RNE) }
func BenchmarkMul32(b *testing.B)    { bench2s(b, Mul32, RNE) }
func BenchmarkDiv32(b *testing.B)    { bench2s(b, Div32, RNE) }

func BenchmarkSqrt64(b *testing.B) {
	var acc uint64
	for i := 0; i < b.N; i++ {
		r, _ := Sqrt64(benchA[i&255], RNE)
		acc ^= r
	}
	sink64 = acc
}

func BenchmarkMulAdd64(b *testing.B) {
	var acc uint64
	var fl Flags
	for i := 0; i < b.N; i++ {
		r, f := MulAdd64(benchA[i&255], benchB[i&255], benchC[i&255], false, false, RNE)
		acc ^= r
		fl |= f
	}
	sink64, sinkFl = acc, fl
}

func BenchmarkMulAdd32(b *testing.B) {
	var acc uint32
	var fl Flags
	for i := 0; i < b.N; i++ {
		r, f := MulAdd32(benchA32[i&255], benchB32[i&255], benchC32[i&255], false, false, RNE)
		acc ^= r
		fl |= f
	}
	sink32, sinkFl = acc, fl
}
