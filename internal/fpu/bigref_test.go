package fpu

import (
	"math"
	"math/big"
	"testing"
)

// This file holds an independent, slow reference implementation built on
// math/big: the exact result of add/mul/div/fma is a big.Rat, square roots are
// handled with integer square roots, and rounding to the target format
// (subnormals, overflow, tininess after rounding) is done directly from the
// definitions.

type refFormat struct {
	prec, emin, emax int
	single           bool
}

var (
	ref64 = refFormat{53, -1022, 1023, false}
	ref32 = refFormat{24, -126, 127, true}
)

// exactVal is a nonzero real number: |v| = r, or |v| = sqrt(r) if sqrt.
type exactVal struct {
	neg  bool
	r    *big.Rat
	sqrt bool
}

// scaled returns numerator and denominator of r * 2^-k.
func scaledRat(r *big.Rat, k int) (*big.Int, *big.Int) {
	num := new(big.Int).Set(r.Num())
	den := new(big.Int).Set(r.Denom())
	num.Abs(num)
	if k < 0 {
		num.Lsh(num, uint(-k))
	} else {
		den.Lsh(den, uint(k))
	}
	return num, den
}

// floorScaled returns floor(|v| / 2^q) and the class of the remainder:
// 0 exact, 1 below half, 2 exactly half, 3 above half.
func (v exactVal) floorScaled(q int) (*big.Int, int) {
	if !v.sqrt {
		num, den := scaledRat(v.r, q)
		n, rem := new(big.Int).QuoRem(num, den, new(big.Int))
		if rem.Sign() == 0 {
			return n, 0
		}
		return n, 2 + new(big.Int).Lsh(rem, 1).Cmp(den)
	}
	num, den := scaledRat(v.r, 2*q) // |v|/2^q = sqrt(num/den)
	fl := new(big.Int).Quo(num, den)
	n := new(big.Int).Sqrt(fl)
	sq := new(big.Int).Mul(n, n)
	if sq.Mul(sq, den).Cmp(num) == 0 {
		return n, 0
	}
	// Compare sqrt(num/den) with n + 1/2: 4*num vs (2n+1)^2 * den.
	l := new(big.Int).Lsh(num, 2)
	m := new(big.Int).Lsh(n, 1)
	m.Add(m, big.NewInt(1))
	m.Mul(m, m).Mul(m, den)
	return n, 2 + l.Cmp(m)
}

// ilog2 returns floor(log2 |v|).
func (v exactVal) ilog2() int {
	e := v.r.Num().BitLen() - v.r.Denom().BitLen()
	// Ensure 2^e <= r < 2^(e+1).
	for {
		n2, d2 := scaledRat(v.r, e)
		if n2.Cmp(d2) < 0 {
			e--
			continue
		}
		n3, d3 := scaledRat(v.r, e+1)
		if n3.Cmp(d3) >= 0 {
			e++
			continue
		}
		break
	}
	if v.sqrt {
		if e < 0 {
			return -((-e + 1) / 2)
		}
		return e / 2
	}
	return e
}

func refRoundInt(n *big.Int, class int, neg bool, rm RoundingMode) *big.Int {
	inc := false
	switch rm {
	case RNE:
		inc = class == 3 || (class == 2 && n.Bit(0) == 1)
	case RMM:
		inc = class >= 2
	case RDN:
		inc = class != 0 && neg
	case RUP:
		inc = class != 0 && !neg
	}
	if inc {
		return new(big.Int).Add(n, big.NewInt(1))
	}
	return n
}

// refRound rounds the exact value v to format f with mode rm, returning the
// encoded result and the flags NX, UF, OF.
func refRound(v exactVal, f refFormat, rm RoundingMode) (uint64, Flags) {
	e := v.ilog2()
	p := f.prec
	// Tininess after rounding: round to p bits with unbounded exponent.
	q1 := e - (p - 1)
	n1, c1 := v.floorScaled(q1)
	n1 = refRoundInt(n1, c1, v.neg, rm)
	tiny := n1.BitLen()-1+q1 < f.emin

	q := max(e-(p-1), f.emin-(p-1))
	n, c := v.floorScaled(q)
	n = refRoundInt(n, c, v.neg, rm)
	var fl Flags
	if c != 0 {
		fl |= NX
		if tiny {
			fl |= UF
		}
	}
	if n.BitLen() > 0 && n.BitLen()-1+q > f.emax {
		return overflowRef(v.neg, rm, f), OF | NX
	}
	bf := new(big.Float).SetInt(n)
	bf.SetMantExp(bf, q)
	if v.neg {
		bf.Neg(bf)
	}
	if f.single {
		x, acc := bf.Float32()
		if acc != big.Exact {
			panic("reference: inexact float32 encoding")
		}
		r := uint64(math.Float32bits(x))
		if v.neg {
			r |= 1 << 31 // -0 after underflow
		}
		return r, fl
	}
	x, acc := bf.Float64()
	if acc != big.Exact {
		panic("reference: inexact float64 encoding")
	}
	r := math.Float64bits(x)
	if v.neg {
		r |= 1 << 63
	}
	return r, fl
}

func overflowRef(neg bool, rm RoundingMode, f refFormat) uint64 {
	toInf := rm == RNE || rm == RMM || (rm == RUP && !neg) || (rm == RDN && neg)
	var r uint64
	switch {
	case f.single && toInf:
		r = 0x7f800000
	case f.single:
		r = 0x7f7fffff
	case toInf:
		r = 0x7ff0000000000000
	default:
		r = 0x7fefffffffffffff
	}
	if neg {
		if f.single {
			r |= 1 << 31
		} else {
			r |= 1 << 63
		}
	}
	return r
}

// ratOf returns the exact value of a finite float of format f.
func ratOf(x uint64, f refFormat) *big.Rat {
	var fl float64
	if f.single {
		fl = float64(math.Float32frombits(uint32(x)))
	} else {
		fl = math.Float64frombits(x)
	}
	return new(big.Rat).SetFloat64(fl)
}

func finite(x uint64, f refFormat) bool {
	if f.single {
		return uint32(x)&0x7f800000 != 0x7f800000
	}
	return x&0x7ff0000000000000 != 0x7ff0000000000000
}

// refOp evaluates op ('+', '*', '/', 'q' sqrt, 'f' fma) on finite inputs with
// the big reference. ok is false for cases the reference does not model
// (non-finite inputs, division by zero, square root of a negative number).
func refOp(op byte, a, b, c uint64, negProd, negAdd bool, f refFormat, rm RoundingMode) (r uint64, fl Flags, ok bool) {
	if !finite(a, f) || !finite(b, f) || !finite(c, f) {
		return 0, 0, false
	}
	signBit := uint64(1) << 63
	if f.single {
		signBit = 1 << 31
	}
	ra, rb, rc := ratOf(a, f), ratOf(b, f), ratOf(c, f)
	var v *big.Rat
	// zeroSign gives the sign of an exact zero result.
	zeroSign := func(x, y uint64) uint64 {
		if x&signBit == y&signBit {
			return x & signBit
		}
		if rm == RDN {
			return signBit
		}
		return 0
	}
	switch op {
	case '+':
		v = new(big.Rat).Add(ra, rb)
		if v.Sign() == 0 {
			if ra.Sign() == 0 && rb.Sign() == 0 {
				return zeroSign(a, b), 0, true
			}
			return zeroSign(0, signBit), 0, true
		}
	case '*':
		v = new(big.Rat).Mul(ra, rb)
		if v.Sign() == 0 {
			return (a ^ b) & signBit, 0, true
		}
	case '/':
		if rb.Sign() == 0 {
			return 0, 0, false
		}
		v = new(big.Rat).Quo(ra, rb)
		if v.Sign() == 0 {
			return (a ^ b) & signBit, 0, true
		}
	case 'q':
		if ra.Sign() == 0 {
			return a, 0, true
		}
		if ra.Sign() < 0 {
			return 0, 0, false
		}
		return refRoundOK(exactVal{false, ra, true}, f, rm)
	case 'f':
		p := new(big.Rat).Mul(ra, rb)
		psign := (a ^ b) & signBit
		if negProd {
			p.Neg(p)
			psign ^= signBit
		}
		csign := c & signBit
		if negAdd {
			rc.Neg(rc)
			csign ^= signBit
		}
		v = new(big.Rat).Add(p, rc)
		if v.Sign() == 0 {
			if p.Sign() == 0 && rc.Sign() == 0 {
				return zeroSign(psign, csign), 0, true
			}
			return zeroSign(0, signBit), 0, true
		}
	}
	return refRoundOK(exactVal{v.Sign() < 0, new(big.Rat).Abs(v), false}, f, rm)
}

func refRoundOK(v exactVal, f refFormat, rm RoundingMode) (uint64, Flags, bool) {
	r, fl := refRound(v, f, rm)
	return r, fl, true
}

// pkgOp evaluates the same operation with this package.
func pkgOp(op byte, a, b, c uint64, negProd, negAdd bool, single bool, rm RoundingMode) (uint64, Flags) {
	if single {
		x, y, z := uint32(a), uint32(b), uint32(c)
		var r uint32
		var fl Flags
		switch op {
		case '+':
			r, fl = Add32(x, y, rm)
		case '*':
			r, fl = Mul32(x, y, rm)
		case '/':
			r, fl = Div32(x, y, rm)
		case 'q':
			r, fl = Sqrt32(x, rm)
		case 'f':
			r, fl = MulAdd32(x, y, z, negProd, negAdd, rm)
		}
		return uint64(r), fl
	}
	switch op {
	case '+':
		return Add64(a, b, rm)
	case '*':
		return Mul64(a, b, rm)
	case '/':
		return Div64(a, b, rm)
	case 'q':
		return Sqrt64(a, rm)
	default:
		return MulAdd64(a, b, c, negProd, negAdd, rm)
	}
}

var fuzzOps = []byte{'+', '*', '/', 'q', 'f'}

// checkAgainstBig compares one operation with the big reference.
func checkAgainstBig(t *testing.T, sel uint8, rmSel uint8, a, b, c uint64) {
	t.Helper()
	op := fuzzOps[int(sel)%len(fuzzOps)]
	single := sel&0x10 != 0
	negProd, negAdd := sel&0x20 != 0, sel&0x40 != 0
	rm := RoundingMode(rmSel % 5)
	f := ref64
	if single {
		f = ref32
		a, b, c = a&m32, b&m32, c&m32
	}
	if op == 'f' && sel&0x80 != 0 {
		// Derive the addend from the negated product plus a small offset
		// taken from c, to reach massive cancellation and near-ties.
		off := c&0xff - 0x80
		if single {
			p := math.Float32frombits(uint32(a)) * math.Float32frombits(uint32(b))
			c = uint64(math.Float32bits(-p)) + off&m32
			c &= m32
		} else {
			p := math.Float64frombits(a) * math.Float64frombits(b)
			c = math.Float64bits(-p) + off
		}
	}
	want, wantFl, ok := refOp(op, a, b, c, negProd, negAdd, f, rm)
	if !ok {
		return
	}
	got, gotFl := pkgOp(op, a, b, c, negProd, negAdd, single, rm)
	if got != want || gotFl != wantFl {
		t.Errorf("op %c single=%v neg=%v/%v rm=%d a=%#x b=%#x c=%#x: got %#x flags %#x, want %#x flags %#x",
			op, single, negProd, negAdd, rm, a, b, c, got, gotFl, want, wantFl)
	}
}

// FuzzAgainstBig compares add, mul, div, sqrt and fma in both precisions and
// all rounding modes with the exact math/big reference. sel chooses the
// operation (low bits), the precision (0x10), the FMA negations (0x20,
// 0x40) and, for FMA, an addend derived from the negated product (0x80).
func FuzzAgainstBig(f *testing.F) {
	f.Add(uint8(0), uint8(0), uint64(0x3ff0000000000000), uint64(0x3ca0000000000000), uint64(0))
	f.Add(uint8(4), uint8(4), uint64(0x0010000000000001), uint64(0x3fe0000000000000), uint64(0x8000000000000001))
	f.Add(uint8(0x12), uint8(2), uint64(0x3f800000), uint64(0x40400000), uint64(0))
	f.Fuzz(func(t *testing.T, sel, rm uint8, a, b, c uint64) {
		checkAgainstBig(t, sel, rm, a, b, c)
	})
}

// TestAgainstBig runs generated edge-biased cases through the big reference,
// so that the arithmetic is checked even where QEMU is not installed.
func TestAgainstBig(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 1000
	}
	g := newGen(7)
	for i := 0; i < n; i++ {
		for _, single := range []bool{false, true} {
			fs := spec64
			if single {
				fs = spec32
			}
			for opi, op := range fuzzOps {
				a := g.float(fs)
				var b, c uint64
				switch op {
				case '+':
					b = g.pair(fs, a, 'a')
				case '*', 'f':
					b = g.pair(fs, a, 'm')
					c = g.addend(fs, a, b)
				case '/':
					b = g.pair(fs, a, 'd')
				}
				sel := uint8(opi) | uint8(g.r.IntN(8))<<5
				if single {
					sel |= 0x10
				}
				checkAgainstBig(t, sel, uint8(g.r.IntN(5)), a, b, c)
			}
		}
		if t.Failed() {
			return
		}
	}
}
