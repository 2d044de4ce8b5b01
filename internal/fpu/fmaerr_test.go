package fpu

import (
	"math"
	"math/big"
	"testing"
)

// TestFMAErrExact checks the error-free transformation behind the MulAdd64
// fast path: whenever the fast path applies, x*y + z == r + r2 + r3 exactly
// and r2 == RN(r2 + r3).
func TestFMAErrExact(t *testing.T) {
	n := 200000
	if testing.Short() {
		n = 20000
	}
	g := newGen(99)
	checked := 0
	for i := 0; i < n; i++ {
		a := g.float(spec64)
		b := g.pair(spec64, a, 'm')
		c := g.addend(spec64, a, b)
		x, y, z := math.Float64frombits(a), math.Float64frombits(b), math.Float64frombits(c)
		p := x * y
		r := math.FMA(x, y, z)
		in := func(v float64) bool {
			u := math.Float64bits(v) &^ sign64
			return u-fmaLo < fmaHi-fmaLo
		}
		if !in(p) || !in(z) || !in(r) {
			continue
		}
		checked++
		r2, r3 := fmaErr(x, y, z, p, r)
		exact := new(big.Rat).Mul(new(big.Rat).SetFloat64(x), new(big.Rat).SetFloat64(y))
		exact.Add(exact, new(big.Rat).SetFloat64(z))
		sum := new(big.Rat).SetFloat64(r)
		sum.Add(sum, new(big.Rat).SetFloat64(r2))
		sum.Add(sum, new(big.Rat).SetFloat64(r3))
		if exact.Cmp(sum) != 0 || r2+r3 != r2 {
			t.Fatalf("fmaErr(%#x, %#x, %#x): r=%#x r2=%#x r3=%#x do not sum to the exact value",
				a, b, c, math.Float64bits(r), math.Float64bits(r2), math.Float64bits(r3))
		}
	}
	if checked < n/10 {
		t.Fatalf("only %d of %d cases reached the fast path", checked, n)
	}
	t.Logf("%d fast-path cases checked", checked)
}
