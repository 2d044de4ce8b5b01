package fpu

import (
	"math"
	"math/rand/v2"
)

// opGen generates biased operands for the differential and consistency tests.
type opGen struct {
	r *rand.Rand
}

func newGen(seed uint64) *opGen {
	return &opGen{r: rand.New(rand.NewPCG(seed, 0x6a75696365))}
}

// fmtSpec describes a binary floating-point format for the generator.
type fmtSpec struct {
	ebits, fbits uint
}

var (
	spec64 = fmtSpec{11, 52}
	spec32 = fmtSpec{8, 23}
)

func (f fmtSpec) emax() uint64 { return 1<<f.ebits - 1 }
func (f fmtSpec) bias() int    { return 1<<(f.ebits-1) - 1 }

func (f fmtSpec) make(neg bool, exp uint64, frac uint64) uint64 {
	v := exp<<f.fbits | frac&(1<<f.fbits-1)
	if neg {
		v |= 1 << (f.ebits + f.fbits)
	}
	return v
}

func (f fmtSpec) expOf(v uint64) int   { return int(v >> f.fbits & f.emax()) }
func (f fmtSpec) signOf(v uint64) bool { return v>>(f.ebits+f.fbits)&1 != 0 }

// frac returns a random fraction field with a bias towards sparse patterns,
// all-ones tails and near-halfway tails.
func (g *opGen) frac(f fmtSpec) uint64 {
	mask := uint64(1)<<f.fbits - 1
	x := g.r.Uint64() & mask
	switch g.r.IntN(8) {
	case 0: // few leading bits, rest zero
		k := uint(g.r.IntN(int(f.fbits) + 1))
		x &^= mask >> k
	case 1: // long tail of ones
		k := uint(g.r.IntN(int(f.fbits) + 1))
		x |= mask >> k
	case 2: // 0 or all ones
		if g.r.IntN(2) == 0 {
			x = 0
		} else {
			x = mask
		}
	case 3: // tail of zeros then a single one
		k := uint(g.r.IntN(int(f.fbits)))
		x = x&^(1<<(k+1)-1) | 1<<k
	}
	return x
}

// special returns one of the interesting fixed values of the format.
func (g *opGen) special(f fmtSpec) uint64 {
	mask := uint64(1)<<f.fbits - 1
	vals := []uint64{
		0,                                                 // +0
		f.make(false, f.emax(), 0),                        // inf
		f.make(false, f.emax(), 1<<(f.fbits-1)),           // qNaN
		f.make(false, f.emax(), 1),                        // sNaN
		f.make(false, f.emax(), mask),                     // qNaN with payload
		f.make(false, f.emax(), 1<<(f.fbits-2)),           // sNaN with payload
		f.make(false, f.emax()-1, mask),                   // max
		f.make(false, 1, 0),                               // min normal
		f.make(false, 0, 1),                               // min subnormal
		f.make(false, 0, mask),                            // max subnormal
		f.make(false, uint64(f.bias()), 0),                // 1
		f.make(false, uint64(f.bias()), 1),                // 1+ulp
		f.make(false, uint64(f.bias())-1, mask),           // 1-ulp/2
		f.make(false, uint64(f.bias())+1, 1<<(f.fbits-1)), // 3
	}
	return vals[g.r.IntN(len(vals))] | g.sign(f)
}

func (g *opGen) sign(f fmtSpec) uint64 {
	if g.r.IntN(2) == 0 {
		return 1 << (f.ebits + f.fbits)
	}
	return 0
}

// float returns a random float biased towards edge cases.
func (g *opGen) float(f fmtSpec) uint64 {
	s := g.r.IntN(2) == 0
	em := int(f.emax())
	switch g.r.IntN(13) {
	case 0, 12:
		return g.special(f)
	case 1: // subnormal
		return f.make(s, 0, g.frac(f))
	case 2: // near overflow
		return f.make(s, uint64(em-1-g.r.IntN(3)), g.frac(f))
	case 3: // smallest normals
		return f.make(s, uint64(1+g.r.IntN(3)), g.frac(f))
	case 4, 5: // moderate exponents around 1
		return f.make(s, uint64(f.bias()-8+g.r.IntN(17)), g.frac(f))
	default:
		return f.make(s, uint64(1+g.r.IntN(em-1)), g.frac(f))
	}
}

// withExp returns a float of format f with the given biased exponent,
// clamped to the finite range (exp <= 0 gives a subnormal).
func (g *opGen) withExp(f fmtSpec, exp int) uint64 {
	s := g.r.IntN(2) == 0
	if exp <= 0 {
		fr := g.frac(f) | 1<<(f.fbits-1)
		sh := 1 - exp
		if sh > int(f.fbits) {
			return f.make(s, 0, 1)
		}
		return f.make(s, 0, fr>>uint(sh))
	}
	if exp >= int(f.emax()) {
		exp = int(f.emax()) - 1
	}
	return f.make(s, uint64(exp), g.frac(f))
}

// pair returns a second operand correlated with a in a way that is
// interesting for the given operation class ('a' add, 'm' mul, 'd' div).
func (g *opGen) pair(f fmtSpec, a uint64, class byte) uint64 {
	ea := f.expOf(a)
	bias := f.bias()
	emax := int(f.emax())
	switch g.r.IntN(6) {
	case 0, 1:
		return g.float(f)
	case 2: // nearby magnitude (cancellation, alignment)
		b := g.withExp(f, ea-g.r.IntN(int(f.fbits)+4)+g.r.IntN(3))
		if g.r.IntN(3) == 0 {
			b = a ^ 1<<(f.ebits+f.fbits) // exact negation
			b ^= uint64(g.r.IntN(4))     // perturb the last bits
		}
		return b
	case 3: // result near the bottom of the range
		if g.r.IntN(2) == 0 {
			// Right at the normal/subnormal boundary, where tininess
			// after rounding differs from tininess before rounding.
			t := g.r.IntN(2)
			switch class {
			case 'm':
				return g.withExp(f, t+bias-ea-g.r.IntN(2))
			case 'd':
				return g.withExp(f, ea+bias-t-g.r.IntN(2))
			}
		}
		switch class {
		case 'm':
			return g.withExp(f, 2*bias-ea-int(f.fbits)-g.r.IntN(int(f.fbits)/2+4)+g.r.IntN(4))
		case 'd':
			return g.withExp(f, ea+bias-1+g.r.IntN(int(f.fbits)+3))
		default:
			return g.withExp(f, g.r.IntN(int(f.fbits)/2))
		}
	case 4: // result near overflow
		switch class {
		case 'm':
			return g.withExp(f, emax+bias-ea-2+g.r.IntN(3))
		case 'd':
			return g.withExp(f, ea-emax+bias+1+g.r.IntN(3))
		default:
			if g.r.IntN(2) == 0 {
				// Around half an ulp of the largest finite number.
				return g.withExp(f, emax-2-int(f.fbits)-g.r.IntN(2))
			}
			return g.withExp(f, emax-1-g.r.IntN(2))
		}
	default: // sparse significand, exponent near a
		return f.make(g.r.IntN(2) == 0, uint64(max(1, min(emax-1, ea+g.r.IntN(5)-2))), g.frac(f)&^(uint64(1)<<(f.fbits-6)-1))
	}
}

// addend returns a third FMA operand correlated with the product a*b.
func (g *opGen) addend(f fmtSpec, a, b uint64) uint64 {
	switch g.r.IntN(5) {
	case 0:
		return g.float(f)
	case 4:
		return g.special(f)
	case 1, 2:
		// Near the negated product: massive cancellation or ties.
		var p uint64
		if f == spec64 {
			p = math.Float64bits(math.Float64frombits(a) * math.Float64frombits(b))
		} else {
			p = uint64(math.Float32bits(math.Float32frombits(uint32(a)) * math.Float32frombits(uint32(b))))
		}
		if f.expOf(p) == int(f.emax()) {
			return g.float(f)
		}
		if g.r.IntN(2) == 0 {
			p ^= 1 << (f.ebits + f.fbits)
		}
		return p + uint64(g.r.IntN(5)) - 2
	default:
		ea, eb := f.expOf(a), f.expOf(b)
		ep := ea + eb - f.bias()
		return g.withExp(f, ep-g.r.IntN(2*int(f.fbits)+8)+int(f.fbits)/2)
	}
}

// intFloat returns a float near integer conversion boundaries.
func (g *opGen) intFloat(f fmtSpec) uint64 {
	if g.r.IntN(3) == 0 {
		return g.float(f)
	}
	bounds := []float64{0, 1, 0x1p31, 0x1p32, 0x1p63, 0x1p64, 0x1p24, 0x1p53, 100}
	base := bounds[g.r.IntN(len(bounds))]
	var off float64
	switch g.r.IntN(4) {
	case 0:
		off = float64(g.r.IntN(5) - 2)
	case 1:
		off = float64(g.r.IntN(9)-4) * 0.25
	case 2:
		off = float64(g.r.IntN(9)-4) * 0.5
	default:
		off = (g.r.Float64() - 0.5) * 4
	}
	x := base + off
	if g.r.IntN(2) == 0 {
		x = -x
	}
	var v uint64
	if f == spec64 {
		v = math.Float64bits(x)
		if base >= 0x1p53 {
			v += uint64(g.r.IntN(5)) - 2 // neighbours of the boundary
		}
	} else {
		v = uint64(math.Float32bits(float32(x)))
		if base >= 0x1p24 {
			v += uint64(g.r.IntN(5)) - 2
		}
	}
	return v
}

// integer returns a random 64-bit integer biased towards rounding
// boundaries of single and double precision.
func (g *opGen) integer() uint64 {
	switch g.r.IntN(6) {
	case 0:
		return g.r.Uint64()
	case 1:
		return uint64(g.r.IntN(2000)) - 1000
	case 2: // power of two plus small offset
		return uint64(1)<<uint(g.r.IntN(64)) + uint64(g.r.IntN(9)) - 4
	case 3: // sparse: a run of bits, possibly a tie pattern
		k := uint(g.r.IntN(64))
		v := g.r.Uint64() >> k
		return v << uint(g.r.IntN(int(k)+1))
	case 4: // negative power of two plus offset
		return -(uint64(1) << uint(g.r.IntN(64))) + uint64(g.r.IntN(9)) - 4
	default:
		return g.r.Uint64() >> uint(g.r.IntN(64))
	}
}
